"""add_noise: its annealed variance (sampling statistics), determinism, and optax's draws."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.noise import AddNoiseState, add_noise
from tests.conftest import make_tree as _make_tree

ETA, GAMMA = 0.3, 0.55


def make_tree(seed, dtype=jnp.float32):
    """Three leaves of conftest's nested tree (a matrix, a vector, a scalar): small and fast."""
    tree = _make_tree(seed, dtype)
    return {"dense": tree["dense"], "list": [tree["list"][0]]}


def noise_at_steps(eta, gamma, seeds, steps, shape=(8,)):
    """The noise added to zero updates at the given steps (0-based), one row per seed."""

    def run(seed):
        tx = add_noise(eta, gamma, key=seed)
        zeros = {"a": jnp.zeros(shape), "b": [jnp.zeros((2, 2))]}

        def step(state, _):
            u, state = tx.update(zeros, state)
            return state, jnp.concatenate([u["a"].ravel(), u["b"][0].ravel()])

        return jax.lax.scan(step, tx.init(zeros), length=max(steps) + 1)[1][jnp.asarray(steps)]

    return jax.jit(jax.vmap(run))(seeds)  # (seeds, steps, entries)


def test_variance_is_annealed_as_eta_over_one_plus_t_to_the_gamma():
    steps = [0, 10, 100]
    noise = np.asarray(noise_at_steps(ETA, GAMMA, jnp.arange(2000), steps), np.float64)
    n = noise.shape[0] * noise.shape[2]  # 24000 independent draws per step
    for i, t in enumerate(steps):
        x = noise[:, i].ravel()
        var = ETA / (1 + t) ** GAMMA
        # The mean is known (0): mean(x^2) has standard error var * sqrt(2 / n) (chi-square).
        assert abs(np.mean(x**2) - var) < 5 * var * np.sqrt(2 / n), (t, np.mean(x**2), var)
        assert abs(np.mean(x)) < 5 * np.sqrt(var / n)
    # Draws at different steps and in different entries are uncorrelated.
    corr = np.corrcoef(noise[:, 0, 0], noise[:, 1, 0])[0, 1]
    assert abs(corr) < 5 / np.sqrt(noise.shape[0])


def test_same_key_gives_the_same_noise_and_another_key_other_noise():
    a = noise_at_steps(ETA, GAMMA, jnp.asarray([7, 7, 8]), [0, 1, 5])
    np.testing.assert_array_equal(a[0], a[1])
    assert not np.any(np.asarray(a[0]) == np.asarray(a[2]))
    # With and without jit: the same draws; XLA fuses the sampler's last steps with the scaling
    # under jit, so the sums may differ in the last bit (so do optax's), never by other noise.
    params = make_tree(0)
    runs = []
    for wrap in (jax.jit, lambda f: f):
        tx = add_noise(ETA, GAMMA, 3)
        state, out, update = tx.init(params), [], wrap(tx.update)
        for _ in range(3):
            u, state = update(params, state)
            out.append(u)
        runs.append(out)
    for u, v in zip(*runs):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, 1e-6, 1e-7), u, v)


# update reads the key from the state, so one compiled update serves every key (fast tests)
JIT_UPDATES = (
    jax.jit(lambda u, s: add_noise(ETA, GAMMA, 0).update(u, s)),
    jax.jit(lambda u, s: optax.add_noise(ETA, GAMMA, 0).update(u, s)),
)


def run_both(tx, ox, updates, steps=4, wrap=jax.jit):
    """Yields (gradlab's, optax's) outputs over ``steps`` steps, then compares the states."""
    state, ref = tx.init(updates), ox.init(updates)
    tx_update, ox_update = JIT_UPDATES if wrap is jax.jit else (tx.update, ox.update)
    for _ in range(steps):
        u, state = tx_update(updates, state)
        v, ref = ox_update(updates, ref)
        yield u, v
    np.testing.assert_array_equal(
        jax.random.key_data(state.rng_key), jax.random.key_data(ref.rng_key)
    )
    assert int(state.count) == int(ref.count) == steps


@pytest.mark.parametrize(
    "key,wrap",
    [(0, jax.jit), (12345, jax.jit), (jax.random.key(42), jax.jit), (7, lambda f: f)],
    ids=["seed0", "seed", "key", "seed_no_jit"],
)
def test_equals_optax_add_noise_exactly(key, wrap):
    updates = {**make_tree(1), "none": None}
    tx, ox = add_noise(ETA, GAMMA, key), optax.add_noise(ETA, GAMMA, key)
    for u, v in run_both(tx, ox, updates, wrap=wrap):
        assert u["none"] is None
        jax.tree.map(np.testing.assert_array_equal, u, v)  # the same draws, bit for bit


def test_equals_optax_add_noise_in_float64_and_for_complex_leaves():
    with jax.enable_x64(True):
        updates = make_tree(2, jnp.float64)
        for u, v in run_both(add_noise(ETA, GAMMA, 5), optax.add_noise(ETA, GAMMA, 5), updates):
            assert jax.tree.leaves(u)[0].dtype == jnp.float64
            jax.tree.map(np.testing.assert_array_equal, u, v)
    updates = {"z": jnp.ones(6, jnp.complex64), "x": jnp.ones(2)}
    for u, v in run_both(add_noise(ETA, GAMMA, 5), optax.add_noise(ETA, GAMMA, 5), updates):
        assert u["z"].dtype == jnp.complex64
        jax.tree.map(np.testing.assert_array_equal, u, v)


def test_bf16_updates_stay_bf16_within_rounding_of_optax():
    updates = make_tree(3, jnp.bfloat16)
    for u, v in run_both(add_noise(ETA, GAMMA, 1), optax.add_noise(ETA, GAMMA, 1), updates):
        for g, a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(u), jax.tree.leaves(v)):
            assert a.dtype == b.dtype == jnp.bfloat16
            g, a, b = (np.asarray(x, np.float32) for x in (g, a, b))
            # optax rounds s * xi and then the sum to bf16 (8 bits), here the sum only
            assert np.all(np.abs(a - b) <= 2**-7 * (np.abs(g) + np.abs(b - g))), (a, b)


def test_legacy_raw_key_equals_its_typed_key():
    raw = jax.random.PRNGKey(9)
    updates = {"w": jnp.zeros(4)}
    tx, ref = add_noise(ETA, GAMMA, raw), add_noise(ETA, GAMMA, jax.random.wrap_key_data(raw))
    u, _ = tx.update(updates, tx.init(updates))
    v, _ = ref.update(updates, ref.init(updates))
    np.testing.assert_array_equal(u["w"], v["w"])


def test_state_and_structure():
    tx = add_noise(ETA, GAMMA, seed=0)  # optax's older keyword
    state = jax.eval_shape(tx.init, make_tree(0))
    assert isinstance(state, AddNoiseState) and state._fields == ("count", "rng_key")
    state = tx.init(make_tree(0))
    assert state.count.dtype == jnp.int32 and int(state.count) == 0
    u, state = tx.update({}, state)
    assert u == {} and int(state.count) == 1
    u, _ = tx.update({"s": 1.0}, state)  # a Python number leaf
    assert u["s"].dtype == jnp.float32


def test_hyperparameters_are_declared_and_injectable():
    assert add_noise.hyperparam_names == ("eta", "gamma")
    tx = inject_hyperparams(add_noise)(ETA, GAMMA, key=4)
    ref = add_noise(ETA, GAMMA, key=4)
    updates = make_tree(0)
    s, r, update = tx.init(updates), ref.init(updates), jax.jit(tx.update)
    for _ in range(3):
        u, s = update(updates, s)
        v, r = ref.update(updates, r)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, 1e-6, 1e-7), u, v)


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: add_noise(-0.1, GAMMA, 0), ValueError, r"add_noise: eta must be a finite"),
        (lambda: add_noise(np.inf, GAMMA, 0), ValueError, r"add_noise: eta"),
        (lambda: add_noise(ETA, -1.0, 0), ValueError, r"add_noise: gamma must be .* >= 0"),
        (lambda: add_noise(ETA, "0.55", 0), TypeError, r"add_noise: gamma must be a number"),
        (lambda: add_noise(ETA, GAMMA), TypeError, r"add_noise: key is required.*key=0"),
        (lambda: add_noise(ETA, GAMMA, 0, seed=1), ValueError, r"add_noise: got both key and"),
        (lambda: add_noise(ETA, GAMMA, 0.5), TypeError, r"add_noise: key must be an int seed"),
        (lambda: add_noise(ETA, GAMMA, True), TypeError, r"add_noise: key must be an int seed"),
        (lambda: add_noise(ETA, GAMMA, "0"), TypeError, r"add_noise: key must be"),
    ],
)
def test_bad_arguments_fail_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_integer_updates_are_refused_with_the_leaf_named():
    tx = add_noise(ETA, GAMMA, 0)
    with pytest.raises(TypeError, match=r"add_noise: the updates leaf \['n'\] has dtype int32"):
        tx.update({"n": jnp.zeros(2, jnp.int32)}, tx.init(None))

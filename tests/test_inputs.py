"""What users pass: complex params, Python and NumPy params, extreme but legal hyperparameters,
low-precision gradients, callable-pytree masks and states of the wrong kind."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from tests.test_optimizers import LEARNING_RATE, NAMES, ROW_IDS, ROWS

RNG = np.random.default_rng(0)


def complex_tree():
    c = lambda *s: jnp.asarray(RNG.normal(size=s) + 1j * RNG.normal(size=s), jnp.complex64)  # noqa: E731
    return {"w": c(3, 2), "b": c(2), "s": c()}


def complex_loss(p):
    return sum(
        jnp.sum(jnp.abs(x - (1 + 1j)) ** 2 + 0.1 * jnp.cos(x.real)) for x in jax.tree.leaves(p)
    )


def run(tx, params, steps=20):
    state, out = tx.init(params), []
    step = jax.jit(tx.update)
    for _ in range(steps):
        grads = jax.tree.map(jnp.conj, jax.grad(complex_loss)(params))
        u, state = step(grads, state, params)
        params = optax.apply_updates(params, u)
        out.append(u)
    return params, state, out


def adadelta_complex_reference(params, lr, rho, eps, steps=20):
    """Zeiler's rule with real statistics of |g|^2 (optax squares the complex g instead)."""
    p = jax.tree.map(np.asarray, params)
    eg = jax.tree.map(lambda x: np.zeros(x.shape), p)
    ex = jax.tree.map(lambda x: np.zeros(x.shape), p)
    for _ in range(steps):
        g = jax.tree.map(np.conj, jax.grad(complex_loss)(jax.tree.map(jnp.asarray, p)))
        g = jax.tree.map(lambda x: np.asarray(x, np.complex128), g)
        eg = jax.tree.map(lambda e, x: rho * e + (1 - rho) * np.abs(x) ** 2, eg, g)
        d = jax.tree.map(lambda x, e, h: np.sqrt(h + eps) / np.sqrt(e + eps) * x, g, eg, ex)
        ex = jax.tree.map(lambda h, x: rho * h + (1 - rho) * np.abs(x) ** 2, ex, d)
        p = jax.tree.map(lambda x, u: x - lr * u, p, d)
    return p


# Each alias's defaults, and every RMSProp/Adadelta/Adam-family option row (centered, eps outside
# the root, Nesterov, masks, weight decay), where complex arithmetic differs.
COMPLEX_ROWS = [
    pytest.param(name, kwargs, id=row_id)
    for (name, kwargs), row_id in zip(ROWS, ROW_IDS, strict=True)
    if row_id.endswith("-0") or name in ("rmsprop", "adadelta", "adamw", "nadam")
]


@pytest.mark.parametrize("name,kwargs", COMPLEX_ROWS)
def test_complex_params_follow_optax_with_real_statistics(name, kwargs):
    if "mask" in kwargs:
        kwargs = {**kwargs, "mask": lambda p: jax.tree.map(lambda x: x.ndim > 1, p)}
    params = complex_tree()
    lr = LEARNING_RATE.get(name, 0.01)
    p, state, updates = run(getattr(gradlab, name)(lr, **kwargs), params)
    for leaf in jax.tree.leaves(state):  # statistics of |g|^2 are real, never complex
        if jnp.issubdtype(leaf.dtype, jnp.inexact) and leaf.ndim > 0:
            assert leaf.dtype in (jnp.complex64, jnp.float32), leaf.dtype
    for u in jax.tree.leaves(updates):
        assert u.dtype == jnp.complex64 and bool(jnp.all(jnp.isfinite(u)))
    if name == "adadelta":  # optax's adadelta squares the complex g (a complex "variance")
        rho, eps = kwargs.get("rho", 0.9), kwargs.get("eps", 1e-6)
        if kwargs.get("weight_decay"):
            return  # the reference has no weight decay; the real-statistics checks above hold
        want = adadelta_complex_reference(params, lr, rho, eps)
        chex.assert_trees_all_close(p, want, rtol=2e-4, atol=2e-5)
    else:
        q, _, _ = run(getattr(optax, name)(lr, **kwargs), params)
        chex.assert_trees_all_close(p, q, rtol=1e-4, atol=2e-5)


def test_complex_second_moment_is_abs_squared():
    g = jnp.array([3.0 + 4.0j])
    tx = gradlab.moving_average(0.0, order=2)
    v, state = tx.update(g, tx.init(g))
    assert state.average.dtype == jnp.float32
    np.testing.assert_allclose(v, [25.0])


# ---------------------------------------------------------------------------------------------
# Python floats and NumPy arrays as params


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "params,grads",
    [
        ({"a": 1.0, "b": [2.0]}, {"a": 0.5, "b": [0.3]}),
        ({"a": np.ones(3), "b": np.float32(2.0)}, {"a": np.full(3, 0.5), "b": np.float32(0.3)}),
    ],
    ids=["python_floats", "numpy"],
)
def test_python_and_numpy_params_update_like_jnp_arrays(name, params, grads):
    lr = LEARNING_RATE.get(name, 0.01)
    tx = getattr(gradlab, name)(lr)
    as_jnp = lambda t: jax.tree.map(jnp.asarray, t)  # noqa: E731
    with jax.numpy_dtype_promotion("standard"):
        u, s = tx.update(grads, tx.init(params), params)
        v, _ = tx.update(as_jnp(grads), tx.init(as_jnp(params)), as_jnp(params))
    chex.assert_trees_all_close(u, v)
    chex.assert_trees_all_equal_structs(s, tx.init(as_jnp(params)))


# ---------------------------------------------------------------------------------------------
# Extreme but legal hyperparameters and low-precision gradients


def finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree))


def test_centered_rmsprop_never_takes_the_root_of_a_negative_variance():
    """A constant gradient: v - m^2 -> 0 and rounds below 0 after ~150 steps (NaN before)."""
    g = jnp.linspace(0.5, 2.0, 8) * 1.1
    for kwargs in ({"eps": 0.0}, {"eps": 0.0, "decay": 0.5}, {"eps": 1e-30, "eps_in_sqrt": False}):
        tx = gradlab.rmsprop(0.1, centered=True, **kwargs)
        step = jax.jit(tx.update)
        state = tx.init(g)
        for _ in range(400):
            u, state = step(g, state)
            assert finite(u), kwargs


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "amsgrad", "adamax"])
def test_b2_that_rounds_to_one_gives_finite_updates(name):
    tx = getattr(gradlab, name)(0.1, b2=1 - 1e-9)  # legal, and 1.0 in float32
    params = jnp.ones(3)
    state = tx.init(params)
    for _ in range(3):
        u, state = tx.update(jnp.array([1.0, -2.0, 0.5]), state, params)
        assert finite(u) and finite(state), name


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_eps_zero_with_zero_gradients_gives_zero_updates(name, kwargs):
    kwargs = {
        **kwargs,
        **({"eps": 0.0} if "eps" in getattr(gradlab, name).hyperparam_names else {}),
    }
    kwargs.pop("eps_root", None)
    if name == "adagrad":
        kwargs["initial_accumulator_value"] = 0.0
    tx = getattr(gradlab, name)(LEARNING_RATE.get(name, 0.01), **kwargs)
    params = {"w": jnp.ones(3), "b": jnp.zeros(2)}
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, state = tx.update(zeros, tx.init(params), params)
    assert finite(u) and finite(state)
    if not kwargs.get("weight_decay") and name != "adamw":
        chex.assert_trees_all_equal(u, zeros)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "dtype,magnitude",
    [
        (jnp.float16, 6e4),
        (jnp.float16, 1e-7),
        (jnp.bfloat16, 1e18),
        (jnp.bfloat16, 1e-30),
    ],
)
def test_tiny_and_huge_low_precision_gradients_stay_finite(name, dtype, magnitude):
    params = jnp.ones(4, dtype)
    g = jnp.asarray([magnitude, -magnitude, 0.5 * magnitude, 0.0], dtype)
    tx = getattr(gradlab, name)(LEARNING_RATE.get(name, 0.01))
    state = tx.init(params)
    for _ in range(3):
        u, state = tx.update(g, state, params)
        assert u.dtype == dtype and finite(u) and finite(state), (u, state)


@pytest.mark.parametrize(
    "build",
    [
        lambda: gradlab.adam(1e-3, mu_dtype=jnp.int32),
        lambda: gradlab.adam(1e-3, nu_dtype=jnp.bool_),
        lambda: gradlab.sgd(0.1, momentum=0.9, accumulator_dtype=jnp.int8),
        lambda: gradlab.amsgrad(1e-3, mu_dtype=jnp.uint8),
        lambda: gradlab.trace(0.9, accumulator_dtype=jnp.int32),
        lambda: gradlab.multi_steps(gradlab.sgd(0.1), 2, accumulator_dtype=jnp.int32),
    ],
)
def test_integer_storage_dtypes_are_refused(build):
    with pytest.raises(ValueError, match=r"_dtype must be a floating-point dtype"):
        build()


def test_storage_dtype_error_names_the_alias_argument():
    with pytest.raises(ValueError, match=r"^adam: mu_dtype must be a floating-point dtype"):
        gradlab.adam(1e-3, mu_dtype=jnp.int32)


# ---------------------------------------------------------------------------------------------
# Masks and states


@jax.tree_util.register_pytree_node_class
class Module:
    """A callable pytree, as an Equinox module is."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def __call__(self, x):
        return self.w * x + self.b

    def tree_flatten(self):
        return (self.w, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def test_a_callable_pytree_mask_is_a_mask_tree_not_a_function():
    params = Module(jnp.ones(2), jnp.ones(1))
    for tx in (
        gradlab.masked(gradlab.scale(0.0), Module(True, False)),
        gradlab.add_decayed_weights(1.0, mask=Module(True, False)),
        gradlab.freeze(Module(True, False)),
    ):
        u, _ = tx.update(params, tx.init(params), params)
        ref = optax.masked(optax.scale(0.0), Module(True, False))
        assert float(u.b[0]) == 1.0 or float(u.b[0]) == 1.0, u  # b is not selected
        if tx is not None and ref is not None:
            assert jax.tree.structure(u) == jax.tree.structure(params)


@pytest.mark.parametrize(
    "tx,other",
    [
        (gradlab.trace(0.9), gradlab.moving_average(0.9)),
        (gradlab.adam(0.1), gradlab.sgd(0.1)),
        (gradlab.masked(gradlab.trace(0.9), {"w": True}), gradlab.trace(0.9)),
        (gradlab.apply_if_finite(gradlab.sgd(0.1), 2), gradlab.sgd(0.1)),
        (gradlab.multi_steps(gradlab.sgd(0.1), 2), gradlab.sgd(0.1)),
        (gradlab.scale_by_adadelta(), gradlab.scale_by_momentum()),
        (gradlab.chain(gradlab.trace(0.5)), gradlab.chain(gradlab.trace(0.5), gradlab.scale(1.0))),
    ],
)
def test_a_state_from_another_optimizer_names_both_types(tx, other):
    params = {"w": jnp.ones(2)}
    with pytest.raises((TypeError, ValueError), match=r"expected|state holds|does not match"):
        tx.update(params, other.init(params), params)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gradlab.adam(0.1),
        lambda: gradlab.masked(gradlab.adam(0.1), {"w": True, "b": False}),
        lambda: gradlab.partition(
            {"a": gradlab.adam(0.1), "b": gradlab.sgd(0.1, 0.9)}, {"w": "a", "b": "b"}
        ),
        lambda: gradlab.param_groups([("w", gradlab.adam(0.1))], default=gradlab.sgd(0.1, 0.9)),
    ],
    ids=["alias", "masked", "partition", "param_groups"],
)
def test_optax_tree_utils_work_on_gradlab_states(make):
    tx = make()
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    state = tx.init(params)
    cast = optax.tree.map_params(tx, lambda x: x.astype(jnp.bfloat16), state)
    param_shaped = [x for x in jax.tree.leaves(cast) if x.ndim > 0]
    assert param_shaped and all(x.dtype == jnp.bfloat16 for x in param_shaped)
    assert all(x.dtype != jnp.bfloat16 for x in jax.tree.leaves(cast) if x.ndim == 0)
    found = optax.tree_utils.tree_get_all_with_path(state, "learning_rate")
    assert found and all(float(v) == pytest.approx(0.1) for _, v in found)
    updates, _ = tx.update(params, cast, params)  # the cast state still runs
    assert jax.tree.structure(updates) == jax.tree.structure(params)


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "amsgrad", "adamax", "sgd", "rmsprop"])
def test_tree_get_count_finds_the_one_step_count(name):
    tx = getattr(gradlab, name)(0.1)
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(params, state, params)
    assert int(optax.tree_utils.tree_get(state, "count")) == 3

"""RAdam, AdaBelief, Yogi, ADOPT, Adan and AdEMAMix against optax 0.2.8 and the papers."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gradlab
from gradlab.optimizers import adaptive_moments
from tests.conftest import make_tree
from tests.test_optimizers import W0, assert_normwise_close, loss, np_grad, trajectory

# (alias, optax oracle, [defaults, two non-default rows]); every eps family has a large-eps row.
OPTIMIZERS = [
    ("radam", optax.radam, [{}, {"eps": 0.1, "eps_root": 1e-3}, {"nesterov": True, "b2": 0.99}]),
    (
        "adabelief",
        optax.adabelief,
        [{}, {"eps": 0.1, "eps_root": 1e-3}, {"nesterov": True, "b1": 0.8, "b2": 0.99}],
    ),
    ("yogi", optax.yogi, [{}, {"eps": 0.1}, {"b1": 0.5, "b2": 0.99}]),
    (
        "adopt",
        optax.contrib.adopt,
        [
            {},
            {"nesterov": True, "b2": 0.99, "eps": 0.1},
            {"use_clipping": False, "clip_value_fn": lambda t: 0.5 * t**0.5, "b1": 0.8},
        ],
    ),
    (
        "adan",
        optax.adan,
        [{}, {"eps": 0.1, "eps_root": 0.0}, {"weight_decay": 0.1, "b2": 0.5, "mask": None}],
    ),
    (
        "ademamix",
        optax.contrib.ademamix,
        [
            {},
            {"eps": 0.1, "eps_root": 1e-3, "weight_decay": 0.01},
            {
                "b3": lambda t: 0.9 + 0.09 * jnp.minimum(t / 100, 1.0),
                "alpha": lambda t: 5.0 * jnp.minimum(t / 50, 1.0),
            },
        ],
    ),
]
INDEXED = [(name, i) for name, _, rows in OPTIMIZERS for i in range(len(rows))]
ROW_IDS = [f"{name}-{i}" for name, _, rows in OPTIMIZERS for i in range(len(rows))]
NAMES = [name for name, _, _ in OPTIMIZERS]
ORACLE = {name: ref for name, ref, _ in OPTIMIZERS}
LEARNING_RATE = 1e-2

# Normwise float32 tolerance against optax where 1e-5 is not reachable (measured: radam 6.8e-4,
# yogi 1.0e-5, ademamix 1.8e-5; adabelief 8.9e-6, adan 4.2e-6, adopt 0). radam: optax forms
# rho_t = rho_inf - 2t b2^t / (1 - b2^t) directly, which in float32 cancels two numbers near
# 2 / (1 - b2) (error ~0.04 at b2 = 0.999, ~2 at 0.9999), so its r_t is off by up to ~1e-3.
# yogi: gradlab's expm1 bias correction vs optax's 1 - b**t (~1e-5 relative in float32); for both
# test_float32_closer_to_float64_truth_than_optax shows the gap is optax's rounding. ademamix:
# every injected hyperparameter is stored in float32, and float32(0.9999) makes the slow EMA's
# weight 1 - b3 = 1.00017e-4, 1.7e-4 off (optax's alias keeps the Python float); optax.adam's
# own inject_hyperparams has the same loss.
F32_RTOL = {"radam": 1e-3, "yogi": 3e-5, "ademamix": 3e-5}
CLOSER_TO_TRUTH = ["radam", "yogi"]


def build(module, name, kwargs, learning_rate=LEARNING_RATE):
    return getattr(module, name)(learning_rate, **kwargs)


@functools.cache
def run_rows(name, dtype):
    """Each row of ``name`` against optax, as ``run_both`` (tests/test_optimizers.py) runs them:
    200 steps of its ``loss`` from ``make_tree(0)`` to ``make_tree(1)``, but all rows of an alias in
    one jitted scan (one compilation instead of three: the file's time is compile time).

    Returns, per row, the numpy ``(p, q, us, vs)``: gradlab's and optax's final params and updates.
    """
    rows = next(rows for n, _, rows in OPTIMIZERS if n == name)
    with jax.enable_x64(dtype == jnp.float64):
        params, targets = make_tree(0, dtype), make_tree(1, dtype)
        pairs = [
            (build(adaptive_moments, name, kw), ORACLE[name](LEARNING_RATE, **kw)) for kw in rows
        ]

        def step(carry, _):
            new, outs = [], []
            for (tx, ref), ((p, s), (q, r)) in zip(pairs, carry, strict=True):
                u, s = tx.update(jax.grad(loss)(p, targets), s, p)
                v, r = ref.update(jax.grad(loss)(q, targets), r, q)
                p, q = gradlab.apply_updates(p, u), optax.apply_updates(q, v)
                new.append(((p, s), (q, r)))
                outs.append((u, v))
            return new, outs

        init = [((params, tx.init(params)), (params, ref.init(params))) for tx, ref in pairs]
        final, outs = jax.jit(lambda c: jax.lax.scan(step, c, None, length=200))(init)
        results = [(p, q, us, vs) for ((p, _), (q, _)), (us, vs) in zip(final, outs, strict=True)]
        return jax.tree.map(np.asarray, results)


# ---------------------------------------------------------------------------------------------
# Parity with optax


@pytest.mark.parametrize("name,row", INDEXED, ids=ROW_IDS)
def test_matches_optax_float64(name, row):
    p, q, us, vs = run_rows(name, jnp.float64)[row]
    chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12)
    chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-12)
    assert jax.tree.leaves(p)[0].dtype == np.float64


@pytest.mark.parametrize("name,row", INDEXED, ids=ROW_IDS)
def test_matches_optax_float32(name, row):
    p, q, us, vs = run_rows(name, jnp.float32)[row]
    assert jax.tree.leaves(p)[0].dtype == np.float32
    assert_normwise_close(us, vs, rtol=F32_RTOL.get(name, 1e-5))
    chex.assert_trees_all_close(p, q, rtol=10 * F32_RTOL.get(name, 1e-5), atol=1e-5)


@pytest.mark.parametrize("name", CLOSER_TO_TRUTH)
def test_float32_closer_to_float64_truth_than_optax(name):
    p, q, _, _ = run_rows(name, jnp.float32)[0]
    truth = run_rows(name, jnp.float64)[0][0]

    def err(tree):
        leaves = zip(jax.tree.leaves(tree), jax.tree.leaves(truth), strict=True)
        return max(np.max(np.abs(np.asarray(a, np.float64) - b)) for a, b in leaves)

    assert err(p) < err(q), (err(p), err(q))


def test_radam_float32_switches_at_the_float64_step():
    """At b2 = 0.9999 optax's float32 rho_t is off by ~2: it rectifies two steps early."""
    from gradlab.transforms.rectification import rectify

    tx = rectify(0.9999, threshold=5.0)
    step = jax.jit(tx.update)
    state, rectified = tx.init(jnp.ones(1)), []
    for _ in range(8):
        d, state = step(jnp.full(1, 2.0), state)
        rectified.append(bool(d[0] != 1.0))
    b2 = np.float64(np.float32(0.9999))
    rho = [(2 / (1 - b2) - 1) - 2 * t * b2**t / (1 - b2**t) for t in range(1, 9)]
    assert rectified == [r >= 5.0 for r in rho]


# ---------------------------------------------------------------------------------------------
# The papers' pseudo-code, where optax departs from it (float64 numpy transcriptions)


def radam_paper(w0, grad, steps, lr, b1=0.9, b2=0.999):
    """Liu et al. 2020, Alg. 2: SGD-momentum while rho_t <= 4, rectified Adam (no eps) after."""
    w, m, v, out = np.array(w0, np.float64), np.zeros(3), np.zeros(3), []
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, steps + 1):
        g = grad(w)
        v = b2 * v + (1 - b2) * g**2
        m = b1 * m + (1 - b1) * g
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 4:
            l_t = np.sqrt((1 - b2**t) / v)
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * r * m_hat * l_t
        else:
            w = w - lr * m_hat
        out.append(w)
    return out


def yogi_paper(w0, grad, steps, lr, b1=0.9, b2=0.999, eps=1e-3):
    """Zaheer et al. 2018, Alg. 2: m_0 = v_0 = 0, no debiasing."""
    w, m, v, out = np.array(w0, np.float64), np.zeros(3), np.zeros(3), []
    for _ in range(steps):
        g = grad(w)
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * np.sign(v - g**2) * g**2
        w = w - lr * m / (np.sqrt(v) + eps)
        out.append(w)
    return out


def adopt_paper(w0, grad, steps, lr, b1=0.9, b2=0.9999, eps=1e-6):
    """Taniguchi et al. 2024, Alg. 2 (clipped): v_0 = g_0^2, then normalise, clip, momentum."""
    w, m, out = np.array(w0, np.float64), np.zeros(3), []
    v = grad(w) ** 2
    out.append(w)  # the first gradient only sets v_0
    for t in range(1, steps):
        g = grad(w)
        c = t**0.25
        m = b1 * m + (1 - b1) * np.clip(g / np.maximum(np.sqrt(v), eps), -c, c)
        w = w - lr * m
        v = b2 * v + (1 - b2) * g**2
        out.append(w)
    return out


PAPERS = [
    ("radam", lambda: adaptive_moments.radam(0.05, eps=0.0, threshold=4.0), radam_paper),
    (
        "yogi",
        lambda: adaptive_moments.yogi(0.05, initial_accumulator_value=0.0, debias=False),
        yogi_paper,
    ),
    ("adopt", lambda: adaptive_moments.adopt(0.05), adopt_paper),
]


@pytest.mark.parametrize("name,make,reference", PAPERS, ids=[r[0] for r in PAPERS])
def test_matches_paper_numpy(name, make, reference, x64):
    steps = 60
    expected = reference(W0, np_grad, steps, 0.05)
    for t, (g, e) in enumerate(zip(trajectory(make(), steps), expected, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"{name}, step {t + 1}")


# ---------------------------------------------------------------------------------------------
# What users rely on: jit == eager, bf16, hyperparameters in the state, schedules


@pytest.mark.parametrize("name", NAMES)
def test_schedule_learning_rate_and_hyperparams(name):
    schedule = optax.linear_schedule(0.1, 0.01, 10)
    params = make_tree(0)
    grads = jax.tree.map(jnp.sin, params)
    tx, ref = build(adaptive_moments, name, {}, schedule), ORACLE[name](schedule)
    s, r = tx.init(params), ref.init(params)
    for _ in range(4):
        u, s = tx.update(grads, s, params)
        v, r = ref.update(grads, r, params)
    chex.assert_trees_all_close(u, v, rtol=2e-5, atol=1e-7)
    values = gradlab.hyperparams(s)
    assert {"learning_rate", "b1", "b2"} <= set(values)
    np.testing.assert_allclose(values["learning_rate"], schedule(3), rtol=1e-6)  # the last used

    fixed = build(adaptive_moments, name, {})
    state = gradlab.set_hyperparams(fixed.init(params), learning_rate=0.0)
    zero, _ = fixed.update(grads, state, params)
    assert all(bool(jnp.all(z == 0)) for z in jax.tree.leaves(zero))


@pytest.mark.parametrize("name", NAMES)
def test_signature_follows_optax(name):
    import inspect

    ours = inspect.signature(getattr(adaptive_moments, name)).parameters
    theirs = inspect.signature(ORACLE[name]).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for arg, p in theirs.items():
        if arg != "clip_value_fn":
            assert ours[arg].default == p.default, arg
            assert ours[arg].kind == p.kind, arg


def test_adopt_default_clip_matches_optax_default():
    from gradlab.transforms.lagged_normalization import adopt_clip_value

    t = jnp.arange(6)
    default = __import__("inspect").signature(optax.contrib.adopt).parameters["clip_value_fn"]
    chex.assert_trees_all_close(adopt_clip_value(t), default.default(t))


def test_bad_hyperparameters_fail_at_construction():
    with pytest.raises(ValueError, match="b2"):
        adaptive_moments.radam(1e-3, b2=1.0)
    with pytest.raises(ValueError, match="eps_root"):
        adaptive_moments.adabelief(1e-3, eps_root=-1.0)
    with pytest.raises(ValueError, match="b3"):
        adaptive_moments.adan(1e-3, b3=1.5)

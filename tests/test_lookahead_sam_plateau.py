"""lookahead, sam and reduce_on_plateau against optax and against the papers' algorithms."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import gradlab
from gradlab.transforms.lookahead import LookaheadParams, LookaheadState, lookahead
from gradlab.transforms.plateau import ReduceLROnPlateauState, reduce_on_plateau
from gradlab.transforms.sam import SAMState, sam
from tests.conftest import make_tree
from tests.test_optimizers import assert_normwise_close, loss


def run_pair(tx, ref, params, targets, steps, *, wraps=None, at=lambda p: p, **extra):
    """gradlab's and optax's transformation side by side in one jitted scan.

    ``wraps`` builds the params each optimizer sees, ``at`` picks where the gradient is taken;
    ``extra(p)`` gives extra keyword arguments (e.g. the loss ``value``)."""
    extra_fn = extra.get("extra", lambda p: {})

    def step(carry, _):
        (p, s), (q, r) = carry
        u, s = tx.update(jax.grad(loss)(at(p), targets), s, p, **extra_fn(p))
        v, r = ref.update(jax.grad(loss)(at(q), targets), r, q, **extra_fn(q))
        return ((gradlab.apply_updates(p, u), s), (optax.apply_updates(q, v), r)), (u, v)

    p0, q0 = (params, params) if wraps is None else (wraps[0](params), wraps[1](params))
    init = ((p0, tx.init(p0)), (q0, ref.init(q0)))
    ((p, s), (q, r)), (us, vs) = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps))(init)
    return p, q, us, vs, s, r


# float32 rtol when the inner optimizer is adam: gradlab.adam itself agrees with optax.adam to
# 1e-4 there (its expm1 bias correction is the more accurate one; tests/test_optimizers.py).
ADAM_FLOAT32_RTOL = 1e-4


def check_parity(dtype, p, q, us, vs, float32_rtol=1e-5):
    if dtype == jnp.float64:
        chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12)
        chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-12)
    else:
        assert_normwise_close(us, vs, rtol=float32_rtol)
        chex.assert_trees_all_close(p, q, rtol=float32_rtol, atol=1e-5)
    assert all(x.dtype == dtype for x in jax.tree.leaves(p))


@pytest.fixture(params=[jnp.float32, jnp.float64], ids=["float32", "float64"])
def dtype(request):
    with jax.enable_x64(request.param == jnp.float64):
        yield request.param


# ---------------------------------------------------------------------------------------------
# lookahead

LOOKAHEAD_ROWS = [
    ("adam", {"sync_period": 5, "slow_step_size": 0.5}),
    ("sgd-momentum", {"sync_period": 3, "slow_step_size": 0.8, "reset_state": True}),
]


def fast_pair(name):
    if name == "adam":
        return gradlab.adam(1e-2), optax.adam(1e-2)
    return gradlab.sgd(0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)


@pytest.mark.parametrize("name,kwargs", LOOKAHEAD_ROWS, ids=[r[0] for r in LOOKAHEAD_ROWS])
def test_lookahead_matches_optax(name, kwargs, dtype):
    fast, fast_ref = fast_pair(name)
    tx, ref = lookahead(fast, **kwargs), optax.lookahead(fast_ref, **kwargs)
    p, q, us, vs, s, r = run_pair(
        tx,
        ref,
        make_tree(0, dtype),
        make_tree(1, dtype),
        200,
        wraps=(LookaheadParams.init_synced, optax.LookaheadParams.init_synced),
        at=lambda p: p.fast,
    )
    rtol = ADAM_FLOAT32_RTOL if name == "adam" else 1e-5
    check_parity(dtype, tuple(p), tuple(q), tuple(us), tuple(vs), rtol)
    assert isinstance(s, LookaheadState) and s._fields == r._fields
    assert LookaheadParams._fields == optax.LookaheadParams._fields
    assert int(s.steps_since_sync) == 200 % kwargs["sync_period"]


def paper_lookahead(w0, targets, lr, k, alpha, outer_steps):
    """Zhang et al. 2019, Algorithm 1, with SGD as the inner optimizer A (numpy, float64)."""
    phi = np.array(w0, np.float64)
    for _ in range(outer_steps):
        theta = phi.copy()
        for _ in range(k):
            theta = theta - lr * ((theta - targets) * (1 + targets**2) - 0.3 * np.sin(3 * theta))
        phi = phi + alpha * (theta - phi)
    return phi


def test_lookahead_matches_the_papers_algorithm(x64):
    rng = np.random.default_rng(0)
    w0, targets = rng.normal(size=6), rng.normal(size=6)
    tx = lookahead(gradlab.sgd(0.1), sync_period=4, slow_step_size=0.5)
    params = LookaheadParams.init_synced(jnp.asarray(w0))
    state = tx.init(params)
    step = jax.jit(lambda p, s: tx.update(jax.grad(loss)(p.fast, jnp.asarray(targets)), s, p))
    for _ in range(4 * 10):
        updates, state = step(params, state)
        params = gradlab.apply_updates(params, updates)
    expected = paper_lookahead(w0, targets, 0.1, 4, 0.5, 10)
    np.testing.assert_allclose(params.slow, expected, rtol=1e-12)
    np.testing.assert_allclose(params.fast, expected, rtol=1e-12)  # synchronized


def test_lookahead_init_takes_fast_params_and_update_needs_the_pair():
    tx = lookahead(gradlab.sgd(0.1), sync_period=2, slow_step_size=0.5)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert state == tx.init(LookaheadParams.init_synced(params))
    with pytest.raises(TypeError, match="LookaheadParams"):
        tx.update(params, state, params)


def test_lookahead_takes_optax_lookahead_params():
    tx = lookahead(gradlab.sgd(0.5), sync_period=2, slow_step_size=0.5)
    params = optax.LookaheadParams.init_synced(jnp.zeros(2))
    state = tx.init(params)
    for _ in range(2):
        updates, state = tx.update(jnp.ones(2), state, params)
        params = optax.apply_updates(params, updates)
    assert isinstance(params, optax.LookaheadParams)
    np.testing.assert_allclose(params.slow, -0.5)


def test_lookahead_keeps_bf16_and_jit_equals_eager(tree_params):
    tx = lookahead(gradlab.adam(1e-2), sync_period=2, slow_step_size=0.5, reset_state=True)
    params = LookaheadParams.init_synced(
        jax.tree.map(lambda x: x.astype(jnp.bfloat16), make_tree())
    )
    state = tx.init(params)
    for _ in range(3):
        updates, state = jax.jit(tx.update)(jax.tree.map(jnp.cos, params.fast), state, params)
        params = gradlab.apply_updates(params, updates)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((updates, params)))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))

    pair = LookaheadParams.init_synced(tree_params)
    grads = jax.tree.map(lambda p: 0.3 * p + 0.1, tree_params)
    results = []
    for wrap in (jax.jit, lambda f: f):
        s, outs = tx.init(pair), []
        for _ in range(2):  # a fast step, then a synchronization that resets adam
            u, s = wrap(tx.update)(grads, s, pair)
            outs.append(u)
        results.append((outs, s))
    chex.assert_trees_all_close(results[0], results[1], rtol=1e-6, atol=1e-7)
    assert results[0][0][0].fast["none"] is None


@pytest.mark.parametrize(
    "kwargs,match",
    [({"sync_period": 0}, "sync_period"), ({"slow_step_size": -0.5}, "slow_step_size")],
)
def test_lookahead_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lookahead(gradlab.sgd(0.1), **{"sync_period": 2, "slow_step_size": 0.5, **kwargs})


# ---------------------------------------------------------------------------------------------
# sam


def sam_pair(name, rho=0.05):
    if name == "sgd":
        outer, ref_outer, kwargs = gradlab.sgd(0.05), optax.sgd(0.05), {}
    else:
        outer, ref_outer = gradlab.adam(1e-2), optax.adam(1e-2)
        kwargs = {"sync_period": 3, "reset_state": False}
    adv = gradlab.chain(gradlab.normalize_by_update_norm(), gradlab.sgd(rho))
    ref_adv = optax.chain(optax.normalize_by_update_norm(), optax.sgd(rho))
    return (outer, adv, ref_outer, ref_adv), kwargs


@pytest.mark.parametrize("name", ["sgd", "adam-period3"])
def test_sam_matches_optax(name, dtype):
    (outer, adv, ref_outer, ref_adv), kwargs = sam_pair(name)
    tx, ref = sam(outer, adv, **kwargs), optax.contrib.sam(ref_outer, ref_adv, **kwargs)
    p, q, us, vs, s, r = run_pair(tx, ref, make_tree(0, dtype), make_tree(1, dtype), 200)
    check_parity(dtype, p, q, us, vs, ADAM_FLOAT32_RTOL if name.startswith("adam") else 1e-5)
    assert isinstance(s, SAMState) and s._fields == r._fields


def test_sam_opaque_mode_matches_optax(x64):
    (outer, adv, ref_outer, ref_adv), kwargs = sam_pair("adam-period3")
    tx = sam(outer, adv, opaque_mode=True, **kwargs)
    ref = optax.contrib.sam(ref_outer, ref_adv, opaque_mode=True, **kwargs)
    targets = make_tree(1, jnp.float64)

    def grad_fn(p, i):
        del i
        return jax.grad(loss)(p, targets)

    p, q, us, vs, s, _ = run_pair(
        tx,
        ref,
        make_tree(0, jnp.float64),
        targets,
        100,
        extra=lambda p: {"grad_fn": grad_fn},
    )
    check_parity(jnp.float64, p, q, us, vs)
    assert s.cache is None


def paper_sam(w0, targets, lr, rho, steps):
    """Foret et al. 2021, Algorithm 1 (one ascent step, then SGD), numpy float64."""

    def grad(w):
        return (w - targets) * (1 + targets**2) - 0.3 * np.sin(3 * w)

    w = np.array(w0, np.float64)
    for _ in range(steps):
        g = grad(w)
        eps_hat = rho * g / np.linalg.norm(g)  # the dual-norm solution for p = 2
        w = w - lr * grad(w + eps_hat)
    return w


def test_sam_matches_the_papers_algorithm(x64):
    rng = np.random.default_rng(1)
    w0, targets = rng.normal(size=5), rng.normal(size=5)
    adv = gradlab.chain(gradlab.normalize_by_update_norm(eps=0.0), gradlab.sgd(0.1))
    tx = sam(gradlab.sgd(0.05), adv)
    w = jnp.asarray(w0)
    state = tx.init(w)
    step = jax.jit(lambda w, s: tx.update(jax.grad(loss)(w, jnp.asarray(targets)), s, w))
    for _ in range(2 * 50):  # transparent mode: an adversarial and an outer call per step
        updates, state = step(w, state)
        w = gradlab.apply_updates(w, updates)
    np.testing.assert_allclose(w, paper_sam(w0, targets, 0.05, 0.1, 50), rtol=1e-12)


def test_sam_opaque_needs_grad_fn():
    tx = sam(gradlab.sgd(0.1), gradlab.sgd(0.1), opaque_mode=True)
    w = jnp.ones(2)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(w, tx.init(w), w)


def test_sam_keeps_bf16():
    tx = sam(
        gradlab.adam(1e-2), gradlab.chain(gradlab.normalize_by_update_norm(), gradlab.sgd(0.1))
    )
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), make_tree())
    state, update = tx.init(params), jax.jit(tx.update)
    for _ in range(4):
        updates, state = update(jax.tree.map(jnp.cos, params), state, params)
        params = gradlab.apply_updates(params, updates)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((updates, params)))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


# ---------------------------------------------------------------------------------------------
# reduce_on_plateau

PLATEAU_ROWS = [
    {},
    {
        "factor": 0.5,
        "patience": 2,
        "rtol": 0.0,
        "atol": 1e-2,
        "cooldown": 3,
        "accumulation_size": 2,
        "min_scale": 0.1,
    },
]


@pytest.mark.parametrize("kwargs", PLATEAU_ROWS, ids=["defaults", "all-options"])
def test_reduce_on_plateau_matches_optax_after_sgd(kwargs, dtype):
    """``chain(sgd, reduce_on_plateau)`` with the loss as ``value``: the scale drops once the
    loss flattens. The loss is shifted to be positive: for a negative best value, optax's (and
    so gradlab's) relative test ``v < (1 - rtol) v*`` counts a constant loss as improving."""
    targets = make_tree(1, dtype)
    tx = gradlab.chain(gradlab.sgd(0.05, momentum=0.9), reduce_on_plateau(**kwargs))
    ref = optax.chain(optax.sgd(0.05, momentum=0.9), optax.contrib.reduce_on_plateau(**kwargs))
    p, q, us, vs, s, r = run_pair(
        tx,
        ref,
        make_tree(0, dtype),
        targets,
        200,
        extra=lambda p: {"value": loss(p, targets) + 1.0},
    )
    check_parity(dtype, p, q, us, vs)
    state, ref_state = s[-1], r[-1]
    assert isinstance(state, ReduceLROnPlateauState) and state._fields == ref_state._fields
    chex.assert_trees_all_close(tuple(state), tuple(ref_state), rtol=1e-6)
    assert float(state.scale) < 1.0  # a reduction happened


def test_reduce_on_plateau_sequence_with_cooldown_and_floor():
    """A hand-checked run: patience 1, cooldown 1, factor 0.5, floor 0.3."""
    tx = reduce_on_plateau(factor=0.5, patience=1, cooldown=1, min_scale=0.3)
    ref = optax.contrib.reduce_on_plateau(factor=0.5, patience=1, cooldown=1, min_scale=0.3)
    state, ref_state = tx.init(jnp.zeros(1)), ref.init(jnp.zeros(1))
    update, ref_update = jax.jit(tx.update), jax.jit(ref.update)
    scales = []
    for value in [3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]:
        _, state = update(jnp.ones(1), state, value=jnp.asarray(value))
        _, ref_state = ref_update(jnp.ones(1), ref_state, value=jnp.asarray(value))
        chex.assert_trees_all_close(tuple(state), tuple(ref_state))
        scales.append(float(state.scale))
    assert scales == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3])


def test_reduce_on_plateau_hyperparams_can_be_injected():
    tx = gradlab.inject_hyperparams(reduce_on_plateau)(factor=0.5, patience=0)
    state = tx.init(jnp.zeros(2))
    assert float(gradlab.hyperparams(state)["factor"]) == 0.5
    u, state = tx.update(jnp.ones(2), state, value=jnp.asarray(1.0))  # patience 0: reduce
    np.testing.assert_allclose(u, 0.5)


def test_reduce_on_plateau_keeps_bf16_and_needs_value():
    tx = reduce_on_plateau()
    params = jnp.ones(3, jnp.bfloat16)
    state = tx.init(params)
    assert state.scale.dtype == jnp.bfloat16
    u, _ = jax.jit(tx.update)(params, state, value=jnp.asarray(1.0))
    assert u.dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(params, state)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"factor": 1.0}, "factor"),
        ({"rtol": 0.0, "atol": 0.0}, "both 0"),
        ({"rtol": 1.5}, "rtol"),
        ({"atol": -1.0}, "atol"),
        ({"accumulation_size": 0}, "accumulation_size"),
    ],
)
def test_reduce_on_plateau_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        reduce_on_plateau(**kwargs)

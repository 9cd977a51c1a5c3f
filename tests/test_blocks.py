"""optax's building blocks by name (transforms/blocks.py, centralization.py, state_layout.py).

Oracle: optax's own implementation of each block, over several steps on a mixed pytree, in
float32 (rtol 1e-5) and float64 (rtol 1e-10), for the updates and for every state field optax
has (``state.mu``, ``state.nu``, ``state.count``, ``state.nu_max``, ...).
"""

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from gradlab.transforms import blocks, centralization, state_layout

STEPS = 6

# (name, kwargs): each gradlab block against optax's function of the same name.
STATEFUL = [
    ("scale_by_adam", {}),
    ("scale_by_adam", {"b1": 0.5, "b2": 0.9, "eps": 0.1, "eps_root": 1e-3}),
    ("scale_by_adam", {"nesterov": True}),
    ("scale_by_adam", {"nesterov": True, "eps": 0.1, "mu_dtype": jnp.float32}),
    ("scale_by_adamax", {}),
    ("scale_by_adamax", {"b1": 0.5, "b2": 0.8, "eps": 0.1}),
    ("scale_by_amsgrad", {}),
    ("scale_by_amsgrad", {"eps": 0.1, "eps_root": 1e-3, "bias_correction_mu": False}),
    ("scale_by_amsgrad", {"bias_correction_mu": False, "bias_correction_nu": False}),
    ("scale_by_stddev", {}),
    ("scale_by_stddev", {"eps": 0.1, "eps_in_sqrt": False, "initial_scale": 1.0}),
    ("scale_by_stddev", {"decay": 0.5, "eps": 0.1, "bias_correction": True}),
    ("scale_by_rss", {}),
    ("scale_by_rss", {"initial_accumulator_value": 0.0, "eps": 0.1}),
    ("ema", {"decay": 0.9}),
    ("ema", {"decay": 0.5, "debias": False}),
    ("apply_every", {"k": 3}),
    ("scale_by_optimistic_gradient", {}),
    ("scale_by_optimistic_gradient", {"alpha": 0.5, "beta": 2.0}),
]
STATELESS = [
    ("centralize", {}),
    ("scale_by_sign", {}),
    ("scale_by_param_block_norm", {}),
    ("scale_by_param_block_norm", {"min_scale": 2.0}),
    ("scale_by_param_block_rms", {}),
    ("scale_by_param_block_rms", {"min_scale": 1.5}),
    ("scale_by_trust_ratio", {}),
    ("scale_by_trust_ratio", {"min_norm": 0.5, "trust_coefficient": 0.3, "eps": 0.1}),
    ("normalize_by_update_norm", {}),
    ("normalize_by_update_norm", {"scale_factor": -2.0, "eps": 0.1}),
]


def ours(name, kwargs):
    module = blocks if hasattr(blocks, name) else centralization
    return getattr(module, name)(**kwargs)


def ids(rows):
    return [f"{name}-{i}" for i, (name, _) in enumerate(rows)]


def small_tree(seed=0, dtype=jnp.float32):
    """A dict/list pytree with a matrix, a vector, a scalar and a 2x2 block (cheap to compile)."""
    rng = np.random.default_rng(seed)
    arr = lambda *shape: jnp.asarray(rng.normal(size=shape), dtype)  # noqa: E731
    return {"w": arr(3, 2), "v": [arr(4), arr(2, 2)], "s": arr()}


def grads(dtype, steps=STEPS, seed=1, tree=None):
    """Decaying then spiking gradients, with exact zeros in one leaf at step 2."""
    scales = [1.0, 0.3, 0.05, 4.0, 0.01, 2.0, 0.5, 1.0][:steps]
    tree = small_tree if tree is None else tree
    out = [jax.tree.map(lambda x, s=s: s * x, tree(seed + i, dtype)) for i, s in enumerate(scales)]
    if steps > 2:  # an all-zero gradient of one leaf (0/0 guards)
        first = jax.tree.leaves(out[2])[0]
        out[2] = jax.tree.map(lambda x: jnp.zeros_like(x) if x is first else x, out[2])
    return out


def run(tx, ref, params, gs, wrap=lambda f: f):
    s, r = tx.init(params), ref.init(params)
    pairs = []
    for g in gs:
        u, s = wrap(tx.update)(g, s, params)
        v, r = ref.update(g, r, params)
        pairs.append((u, v, s, r))
    return pairs


@functools.cache
def scanned(table, dtype_name):
    """Every row of ``table``, gradlab and optax side by side, in ONE jitted ``lax.scan`` (one
    compilation for the whole table; the scan also proves each state keeps its types, so the
    update never retraces). Per row: the stacked (updates, optax updates, state, optax state)."""
    dtype = jnp.dtype(dtype_name)
    params = small_tree(0, dtype)
    params["v"][1] = jnp.zeros((2, 2), dtype)  # a zero block: the floored norms floor
    rows = STATEFUL if table == "stateful" else STATELESS
    txs = [(ours(name, kwargs), getattr(optax, name)(**kwargs)) for name, kwargs in rows]

    def step(carry, g):
        new_carry, out = [], []
        for (tx, ref), (s, r) in zip(txs, carry, strict=True):
            u, s = tx.update(g, s, params)
            v, r = ref.update(g, r, params)
            new_carry.append((s, r))
            out.append((u, v, s, r))
        return new_carry, out

    carry = [(tx.init(params), ref.init(params)) for tx, ref in txs]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *grads(dtype))
    return jax.jit(lambda c, gs: jax.lax.scan(step, c, gs)[1])(carry, stacked)


def assert_fields_match(s, r, rtol, atol, skip=()):
    assert type(s).__name__ == type(r).__name__ and s._fields == r._fields, (s, r)
    for field in r._fields:
        if field not in skip:
            chex.assert_trees_all_close(getattr(s, field), getattr(r, field), rtol=rtol, atol=atol)


# optax keeps apply_every's emitted sum in grad_acc for one step; gradlab resets it at once.
SKIP_FIELDS = {"apply_every": ("grad_acc",)}


@pytest.mark.parametrize("row", range(len(STATEFUL)), ids=ids(STATEFUL))
def test_stateful_block_matches_optax_with_its_state_fields_f32(row):
    u, v, s, r = scanned("stateful", "float32")[row]
    chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
    assert_fields_match(s, r, 1e-5, 1e-7, SKIP_FIELDS.get(STATEFUL[row][0], ()))


@pytest.mark.parametrize("row", range(len(STATEFUL)), ids=ids(STATEFUL))
def test_stateful_block_matches_optax_x64(row, x64):
    u, v, s, r = scanned("stateful", "float64")[row]
    assert jax.tree.leaves(u)[0].dtype == jnp.float64
    chex.assert_trees_all_close(u, v, rtol=1e-10, atol=1e-14)
    assert_fields_match(s, r, 1e-10, 1e-14, SKIP_FIELDS.get(STATEFUL[row][0], ()))


@pytest.mark.parametrize("row", range(len(STATELESS)), ids=ids(STATELESS))
def test_stateless_block_matches_optax(row):
    u, v, s, _ = scanned("stateless", "float32")[row]
    chex.assert_trees_all_close(u, v, rtol=1e-6, atol=1e-7)
    assert s == gradlab.EmptyState()


@pytest.mark.parametrize("name", ["scale_by_adam", "apply_every"])
def test_eager_equals_optax(name):
    kwargs = dict(STATEFUL)[name]
    tx, ref = ours(name, kwargs), getattr(optax, name)(**kwargs)
    for u, v, s, r in run(tx, ref, small_tree(0), grads(jnp.float32, 3)):
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(s.count, r.count)


def test_apply_every_state_and_updates_follow_optax():
    row = [name for name, _ in STATEFUL].index("apply_every")
    u, _, s, r = scanned("stateful", "float32")[row]
    for t in range(STEPS):
        emitted = t % 3 == 2
        assert any(bool(jnp.any(x[t] != 0)) for x in jax.tree.leaves(u)) == emitted
        assert int(s.count[t]) == int(r.count[t]) == (t + 1) % 3
        if not emitted:  # right after an emission gradlab's accumulator is 0 already
            chex.assert_trees_all_close(
                jax.tree.map(lambda x, t=t: x[t], s.grad_acc),
                jax.tree.map(lambda x, t=t: x[t], r.grad_acc),
                rtol=1e-6,
            )


def test_scale_by_adam_is_divide_of_first_and_second_moment_and_nesterov_is_nadam():
    params = small_tree(0)
    for nesterov, alias in [(False, gradlab.adam), (True, gradlab.nadam)]:
        tx = gradlab.chain(blocks.scale_by_adam(nesterov=nesterov), gradlab.scale(-0.1))
        want = alias(0.1)
        s, w = tx.init(params), want.init(params)
        for g in grads(jnp.float32, steps=3):
            u, s = jax.jit(tx.update)(g, s)
            v, w = jax.jit(want.update)(g, w)
            chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,kwargs", STATEFUL + STATELESS, ids=ids(STATEFUL + STATELESS))
def test_none_leaves_bf16_and_shapes(name, kwargs, tree_params):
    """Traced only (eval_shape): a None leaf survives, bf16 stays bf16, init needs only shapes,
    and the new state has the types of the initial one."""
    tx = ours(name, kwargs)
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), tree_params)
    state = jax.eval_shape(tx.init, params)
    u, new_state = jax.eval_shape(tx.update, params, state, params)
    assert u["none"] is None
    want = jnp.float32 if "mu_dtype" in kwargs else jnp.bfloat16  # promoted, as optax
    assert {x.dtype for x in jax.tree.leaves(u)} == {jnp.dtype(want)}
    same = jax.tree.map(lambda a, b: (a.shape, a.dtype) == (b.shape, b.dtype), new_state, state)
    assert all(jax.tree.leaves(same)) and jax.tree.structure(new_state) == jax.tree.structure(state)


def test_declared_hyperparameters_follow_a_schedule_like_optax(x64):
    params = small_tree(0, jnp.float64)
    b1 = lambda t: 0.5 + 0.4 * t / (1.0 + t)  # noqa: E731
    for name in ("scale_by_adam", "ema"):
        key = "decay" if name == "ema" else "b1"
        tx = gradlab.inject_hyperparams(getattr(blocks, name))(**{key: b1})
        ref = optax.inject_hyperparams(getattr(optax, name))(**{key: b1})
        for u, v, s, r in run(tx, ref, params, grads(jnp.float64), jax.jit):
            chex.assert_trees_all_close(u, v, rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(gradlab.hyperparams(s)[key], r.hyperparams[key])
    assert blocks.scale_by_adam.hyperparam_names == ("b1", "b2", "eps", "eps_root")
    assert centralization.scale_by_trust_ratio.hyperparam_names == (
        "min_norm",
        "trust_coefficient",
        "eps",
    )


def test_blocks_inside_optax_chain_and_an_optax_stage_inside_a_block_chain():
    params = small_tree(0)
    tx = optax.chain(blocks.scale_by_adam(), optax.scale(-0.01))
    ref = optax.chain(optax.scale_by_adam(), optax.scale(-0.01))
    for u, v, s, r in run(tx, ref, params, grads(jnp.float32), jax.jit):
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(s[0].count, r[0].count)
    assert optax.tree.get(s, "nu") is not None  # optax's tree lookups find the fields


# ---------------------------------------------------------------------------------------------
# with_state_layout


class _Counted(NamedTuple):
    calls: jax.Array


class _Layout(NamedTuple):
    n: jax.Array
    ema: Any


def test_with_state_layout_forwards_extra_args_and_round_trips_the_state():
    seen = []

    def update(updates, state, params=None, **extra_args):
        seen.append(sorted(extra_args))
        scaled = jax.tree.map(lambda g: g * extra_args["value"], updates)
        return scaled, _Counted(state.calls + 1)

    counted = gradlab.GradientTransformationExtraArgs(
        lambda p: _Counted(jnp.zeros([], jnp.int32)), update
    )
    inner = gradlab.chain(counted, gradlab.identity(), gradlab.moving_average(0.5))
    fields = {"n": (_Counted, "calls"), "ema": (gradlab.MovingAverageState, "average")}
    tx = state_layout.with_state_layout(inner, _Layout, fields, like="ema")
    params = {"a": jnp.zeros(2), "b": None}
    state = tx.init(params)
    assert type(state) is _Layout and int(state.n) == 0
    u, state = jax.jit(tx.update)({"a": jnp.ones(2), "b": None}, state, value=jnp.asarray(3.0))
    np.testing.assert_array_equal(u["a"], [1.5, 1.5])  # 0.5 * 3
    np.testing.assert_array_equal(state.ema["a"], [1.5, 1.5])
    assert int(state.n) == 1 and seen == [["value"]] and state.ema["b"] is None
    chained = gradlab.chain(tx)  # through a combinator too
    u, _ = chained.update({"a": jnp.ones(2), "b": None}, chained.init(params), value=2.0)
    np.testing.assert_array_equal(u["a"], [1.0, 1.0])


def test_with_state_layout_refuses_bad_declarations():
    avg = {"ema": (gradlab.MovingAverageState, "average")}
    with pytest.raises(ValueError, match="with_state_layout: fields must map each field"):
        state_layout.with_state_layout(gradlab.moving_average(0.5), _Layout, avg, like="ema")
    with pytest.raises(
        TypeError, match="with_state_layout: inner must be a GradientTransformation"
    ):
        state_layout.with_state_layout(object(), _Layout, avg, like="ema")
    lost = state_layout.with_state_layout(  # the trace's count would be dropped: refused
        gradlab.chain(gradlab.moving_average(0.5), gradlab.bias_correction(0.5)),
        blocks.EmaState,
        {"count": (gradlab.MaxState, "nu_max"), "ema": avg["ema"]},
        like="ema",
    )
    with pytest.raises(ValueError, match="holds 1 array"):
        lost.init(jnp.zeros(2))
    tx = blocks.ema(0.9)
    with pytest.raises(TypeError, match="expected the EmaState"):
        tx.update(jnp.ones(2), (tx.init(jnp.zeros(2)),))


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "build,error,match",
    [
        (
            lambda: blocks.scale_by_adam(b1=1.5),
            ValueError,
            r"scale_by_adam: b1 must be in \[0, 1\)",
        ),
        (lambda: blocks.scale_by_adam(eps=-1.0), ValueError, "scale_by_adam: eps must be"),
        (lambda: blocks.scale_by_adam(mu_dtype=jnp.int32), ValueError, "mu_dtype must be a float"),
        (lambda: blocks.scale_by_amsgrad(b2=1.0), ValueError, "scale_by_amsgrad: b2 must be in"),
        (lambda: blocks.scale_by_adamax(eps=-0.1), ValueError, "scale_by_adamax: eps"),
        (lambda: blocks.scale_by_stddev(decay=2.0), ValueError, "scale_by_stddev: decay"),
        (lambda: blocks.scale_by_rss(-1.0), ValueError, "initial_accumulator_value must be"),
        (lambda: blocks.ema(decay=-0.5), ValueError, r"ema: decay must be in \[0, 1\)"),
        (lambda: blocks.apply_every(0), ValueError, "apply_every: k must be an int >= 1"),
        (lambda: blocks.scale_by_optimistic_gradient("1"), TypeError, "alpha must be a number"),
        (
            lambda: centralization.scale_by_param_block_norm(-1.0),
            ValueError,
            "scale_by_param_block_norm: min_scale must be",
        ),
        (
            lambda: centralization.scale_by_trust_ratio(eps=float("nan")),
            ValueError,
            "scale_by_trust_ratio: eps must be",
        ),
    ],
)
def test_bad_arguments_raise_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    "name", ["scale_by_param_block_norm", "scale_by_param_block_rms", "scale_by_trust_ratio"]
)
def test_param_reading_blocks_need_params(name):
    tx = getattr(centralization, name)()
    with pytest.raises(ValueError, match=f"{name}: update\\(\\) needs params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_floored_norms_have_finite_gradients_at_zero():
    def loss(p):
        tx = centralization.scale_by_param_block_norm()
        return jnp.sum(tx.update(jnp.ones(3), None, p)[0])

    np.testing.assert_array_equal(jax.grad(loss)(jnp.zeros(3)), np.zeros(3))

"""Clipping transforms against their definitions (float64 numpy) and against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.clipping import (
    ClipByGlobalNormState,
    adaptive_grad_clip,
    clip,
    clip_by_block_rms,
    clip_by_global_norm,
    global_norm,
    per_example_global_norm_clip,
)
from tests.conftest import make_tree

WRAPS = [pytest.param(jax.jit, id="jit"), pytest.param(lambda f: f, id="no_jit")]

# (id, gradlab factory, optax factory, kwargs): each row is compared with optax on the same tree.
TRANSFORMS = [
    ("clip", clip, optax.clip, {"max_delta": 0.3}),
    ("clip_by_global_norm", clip_by_global_norm, optax.clip_by_global_norm, {"max_norm": 1.0}),
    ("clip_by_block_rms", clip_by_block_rms, optax.clip_by_block_rms, {"threshold": 0.5}),
    ("adaptive_grad_clip", adaptive_grad_clip, optax.adaptive_grad_clip, {"clipping": 0.1}),
]
ROWS = [pytest.param(ours, ref, kw, id=name) for name, ours, ref, kw in TRANSFORMS]


def grads_and_params(seed, dtype=jnp.float32, full=False):
    """A nested tree whose leaves have very different scales (some clip, some do not); all of
    ``make_tree`` if ``full``, else three of its leaves (a matrix, a vector, a scalar)."""
    grads, params = make_tree(seed, dtype), make_tree(seed + 100, dtype)
    grads["dense"]["w"] = grads["dense"]["w"] * 10  # one large block
    grads["list"][0] = grads["list"][0] * 0.01  # one small block
    if not full:
        grads, params = ({"dense": t["dense"], "list": [t["list"][0]]} for t in (grads, params))
    return grads, params


def with_none(tree):
    return {**tree, "none": None}


def np_norm(tree):
    return np.sqrt(
        sum(np.sum(np.abs(np.asarray(x, np.complex128)) ** 2) for x in jax.tree.leaves(tree))
    )


def assert_trees_close(actual, expected, rtol, atol=0.0):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert jnp.asarray(a).dtype == jnp.asarray(e).dtype, (a.dtype, e.dtype)
        np.testing.assert_allclose(
            np.asarray(a, np.complex128), np.asarray(e, np.complex128), rtol=rtol, atol=atol
        )


def test_global_norm_after_clipping_is_min_of_norm_and_max_norm():
    step = jax.jit(lambda g, c: clip_by_global_norm(c).update(g, ClipByGlobalNormState()))
    for seed in range(5):
        grads, _ = grads_and_params(seed, full=True)
        norm = np_norm(grads)
        for max_norm in (0.1, 2.0, norm, 1e3):  # clipped, clipped, at the boundary, not clipped
            out, state = step(grads, max_norm)
            np.testing.assert_allclose(np_norm(out), min(norm, max_norm), rtol=1e-6)
            factor = min(1.0, max_norm / norm)  # the direction is kept: one factor for all leaves
            assert_trees_close(out, jax.tree.map(lambda g: g * factor, grads), rtol=1e-6)
            assert state == ClipByGlobalNormState()


def test_global_norm_of_mixed_trees():
    tree = {"a": jnp.array([3.0, 4.0]), "b": [None, 12.0], "c": jnp.array([1j, 2.0 + 0j])}
    assert global_norm(tree).dtype == jnp.float32
    np.testing.assert_allclose(global_norm(tree), np.sqrt(9 + 16 + 144 + 1 + 4), rtol=1e-7)
    assert float(global_norm({})) == 0.0 and float(global_norm([None])) == 0.0
    grads, _ = grads_and_params(3)
    np.testing.assert_allclose(global_norm(grads), optax.tree.norm(grads), rtol=1e-6)
    bf16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), grads)  # summed in float32
    assert global_norm(bf16).dtype == jnp.float32
    np.testing.assert_allclose(global_norm(bf16), np_norm(bf16), rtol=1e-6)
    with jax.enable_x64(True):
        g64, _ = grads_and_params(3, jnp.float64)
        assert global_norm(g64).dtype == jnp.float64
        np.testing.assert_allclose(global_norm(g64), np_norm(g64), rtol=1e-13)


@pytest.mark.parametrize("wrap", WRAPS)
@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_matches_optax_float32(ours, ref, kwargs, wrap):
    tx, ox = ours(**kwargs), ref(**kwargs)
    update, ref_update = wrap(tx.update), jax.jit(ox.update)
    for seed in range(2):
        grads, params = grads_and_params(seed)
        grads, params = with_none(grads), with_none(params)
        u, state = update(grads, tx.init(params), params)
        v, _ = ref_update(grads, ox.init(params), params)
        assert_trees_close(u, v, rtol=1e-6, atol=1e-7)
        assert u["none"] is None and state == ()


@pytest.mark.parametrize("wrap", WRAPS)
@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_matches_optax_float64(ours, ref, kwargs, wrap):
    with jax.enable_x64(True):
        tx, ox = ours(**kwargs), ref(**kwargs)
        update, ref_update = wrap(tx.update), jax.jit(ox.update)
        for seed in range(2):
            grads, params = grads_and_params(seed, jnp.float64)
            u, _ = update(grads, tx.init(params), params)
            v, _ = ref_update(grads, ox.init(params), params)
            assert_trees_close(u, v, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_complex_leaves_match_optax(ours, ref, kwargs):
    grads, params = grads_and_params(0)
    imag, _ = grads_and_params(1)
    grads = jax.tree.map(lambda r, i: jax.lax.complex(r, i), grads, imag)
    tx = ours(**kwargs)
    u, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    if ours is clip:  # optax refuses complex: the real and imaginary parts are clipped each
        real, _ = optax.clip(**kwargs).update(jax.tree.map(jnp.real, grads), None)
        im, _ = optax.clip(**kwargs).update(jax.tree.map(jnp.imag, grads), None)
        v = jax.tree.map(jax.lax.complex, real, im)
    else:
        v, _ = jax.jit(ref(**kwargs).update)(grads, None, params)
    assert_trees_close(u, v, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_bf16_updates_stay_bf16(ours, ref, kwargs):
    grads, params = grads_and_params(0, jnp.bfloat16)
    for tx in (ours(**kwargs), inject_hyperparams(ours)(**kwargs)):  # float32 hyperparameters
        u, _ = jax.jit(tx.update)(grads, tx.init(params), params)
        assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
        # optax on the same values in float32: equal to bf16 rounding
        up = jax.tree.map(lambda x: x.astype(jnp.float32), (grads, params))
        v, _ = jax.jit(ref(**kwargs).update)(up[0], None, up[1])
        assert_trees_close(jax.tree.map(lambda x: x.astype(jnp.float32), u), v, 1e-2, 1e-3)


@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_non_finite_updates_give_optax_results(ours, ref, kwargs):
    ours, ref = jax.jit(ours(**kwargs).update), jax.jit(ref(**kwargs).update)
    for bad in (np.nan, np.inf, -np.inf):
        grads, params = grads_and_params(0)
        grads["dense"]["b"] = grads["dense"]["b"].at[1].set(bad)
        u, _ = ours(grads, None, params)
        v, _ = ref(grads, None, params)
        assert_trees_close(u, v, rtol=1e-6, atol=1e-7)  # NaNs in the same places


def test_a_nan_entry_poisons_every_clipped_entry():
    out, _ = clip_by_global_norm(1.0).update({"a": jnp.array([np.nan]), "b": jnp.ones(2)}, None)
    assert np.all(np.isnan(out["b"]))  # made visible to apply_if_finite, never silently finite


def test_float16_norm_does_not_overflow():
    grads = {"w": jnp.full(4, 300.0, jnp.float16)}  # 300**2 > 65504, the float16 maximum
    out, _ = clip_by_global_norm(1.0).update(grads, None)
    assert out["w"].dtype == jnp.float16
    np.testing.assert_allclose(np.asarray(out["w"], np.float32), 0.5, rtol=1e-3)


@pytest.mark.parametrize("tx", [clip_by_global_norm(1.0), clip_by_block_rms(1.0)])
def test_gradient_through_the_transform_is_finite_at_zero(tx):
    def total(g):
        return jnp.sum(tx.update(g, None)[0])

    np.testing.assert_array_equal(jax.jit(jax.grad(total))(jnp.zeros(3)), np.ones(3))


def test_zero_max_norm_zeroes_the_updates():
    out, _ = clip_by_global_norm(0.0).update([jnp.zeros(2), jnp.ones(2)], None)
    np.testing.assert_array_equal(np.concatenate(out), np.zeros(4))
    out, _ = clip_by_global_norm(0.0).update([jnp.zeros(2)], None)
    np.testing.assert_array_equal(out[0], np.zeros(2))  # optax: 0/0, NaN


@pytest.mark.parametrize("ours,ref,kwargs", ROWS)
def test_scalars_python_numbers_and_empty_trees(ours, ref, kwargs):
    tx = ours(**kwargs)
    assert tx.update({}, tx.init({}), {})[0] == {}
    u, _ = tx.update({"s": 5.0, "v": jnp.array(-4.0)}, None, {"s": 1.0, "v": jnp.array(2.0)})
    v, _ = ref(**kwargs).update(
        {"s": jnp.array(5.0), "v": jnp.array(-4.0)},
        None,
        {"s": jnp.array(1.0), "v": jnp.array(2.0)},
    )
    assert_trees_close(u, v, rtol=1e-6)


def test_clip_by_block_rms_bounds_each_block():
    grads, _ = grads_and_params(2)
    out, _ = jax.jit(clip_by_block_rms(0.5).update)(grads, None)
    for g, u in zip(jax.tree.leaves(grads), jax.tree.leaves(out)):
        rms = np.sqrt(np.mean(np.square(np.asarray(g, np.float64))))
        np.testing.assert_allclose(np.asarray(u), np.asarray(g) / max(1.0, rms / 0.5), rtol=1e-6)


def test_adaptive_grad_clip_axis_and_layouts():
    g, p = jnp.ones((2, 2, 2, 3, 4)) * 2.0, jnp.ones((2, 2, 2, 3, 4))
    for axis in (None, (0, 1, 2), -1):
        u, _ = jax.jit(adaptive_grad_clip(0.5, axis=axis).update)([g], None, [p])
        v, _ = jax.jit(optax.adaptive_grad_clip(0.5, axis=axis).update)([g], None, [p])
        assert_trees_close(u, v, rtol=1e-6)
    with pytest.raises(ValueError, match=r"adaptive_grad_clip: cannot tell the units.*axis="):
        adaptive_grad_clip(0.5).init({"w": jnp.ones((1, 2, 2, 2, 2, 2))})
    with pytest.raises(ValueError, match=r"adaptive_grad_clip: axis 3 is out of bounds"):
        adaptive_grad_clip(0.5, axis=3).init({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"adaptive_grad_clip: update\(\) needs params"):
        adaptive_grad_clip(0.5).update({"w": jnp.ones(2)}, None)


def test_per_example_global_norm_clip_matches_optax():
    rng = np.random.default_rng(0)
    grads = {
        "a": jnp.asarray(rng.normal(size=(6, 3)), jnp.float32),
        "b": [None, jnp.asarray(rng.normal(size=(6, 2, 2)) * 3, jnp.float32)],
    }
    grads["a"] = grads["a"].at[2].set(0.0)  # a zero example
    ours, ref = jax.jit(per_example_global_norm_clip), jax.jit(optax.per_example_global_norm_clip)
    for c in (0.0, 1.0, 2.5, np.inf):
        u, n = ours(grads, c)
        v, m = ref(grads, c)
        assert_trees_close(u, v, rtol=1e-6, atol=1e-6)
        assert n.dtype == jnp.int32 and int(n) == int(m)
    ints = [jnp.array([[0, 0, 0], [0, 3, 4], [4, 0, 3], [3, 4, 0]])]  # optax's doctest
    u, n = per_example_global_norm_clip(ints, 1.25)
    np.testing.assert_allclose(u[0], [1.75, 1.75, 1.75], rtol=1e-6)
    assert u[0].dtype == jnp.float32 and int(n) == 3
    assert per_example_global_norm_clip({}, 1.0)[0] == {}
    with pytest.raises(ValueError, match=r"per_example_global_norm_clip: every leaf of grads"):
        per_example_global_norm_clip([jnp.ones((3, 2)), jnp.ones((2, 2))], 1.0)


def test_hyperparameters_are_declared_and_injectable():
    assert clip.hyperparam_names == ("max_delta",)
    assert clip_by_global_norm.hyperparam_names == ("max_norm",)
    assert clip_by_block_rms.hyperparam_names == ("threshold",)
    assert adaptive_grad_clip.hyperparam_names == ("clipping", "eps")
    grads, _ = grads_and_params(0)
    tx = inject_hyperparams(clip_by_global_norm)(max_norm=lambda t: 1.0 / (t + 1))
    state, update = tx.init(grads), jax.jit(tx.update)
    for t in range(3):
        u, state = update(grads, state)
        np.testing.assert_allclose(np_norm(u), 1.0 / (t + 1), rtol=1e-6)


@pytest.mark.parametrize(
    "build,error,match",
    [
        (lambda: clip(-1.0), ValueError, r"clip: max_delta must be a finite number >= 0, got -1"),
        (lambda: clip("1"), TypeError, r"clip: max_delta must be a number"),
        (
            lambda: clip_by_global_norm(-0.5),
            ValueError,
            r"clip_by_global_norm: max_norm must be a finite number >= 0, got -0.5\. "
            r"Pass e\.g\. max_norm=1\.0",
        ),
        (lambda: clip_by_global_norm(np.nan), ValueError, r"clip_by_global_norm: max_norm"),
        (lambda: clip_by_global_norm(True), TypeError, r"clip_by_global_norm: max_norm"),
        (lambda: clip_by_global_norm(jnp.ones(2)), ValueError, r"max_norm must be a scalar"),
        (lambda: clip_by_block_rms(0.0), ValueError, r"clip_by_block_rms: threshold .* > 0"),
        (lambda: adaptive_grad_clip(-1.0), ValueError, r"adaptive_grad_clip: clipping"),
        (lambda: adaptive_grad_clip(0.1, eps=-1), ValueError, r"adaptive_grad_clip: eps"),
        (
            lambda: per_example_global_norm_clip([jnp.ones((2, 1))], -1.0),
            ValueError,
            r"per_example_global_norm_clip: l2_norm_clip must be in \[0, inf\], got -1",
        ),
        (
            lambda: inject_hyperparams(clip_by_global_norm)(max_norm=-1.0),
            ValueError,
            r"clip_by_global_norm: max_norm",
        ),
    ],
)
def test_bad_arguments_fail_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()

"""Tests for gradlab.losses.

Oracles: optax 0.2.8 (same name, same arguments), and a float64 numpy formula per loss written
out from its textbook definition. Plus numerics at extreme logits, gradients against central
finite differences, the stated subgradients at kinks, the identities from the lecture, and
validation messages.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab import losses

SEEDS = (0, 1, 2)
F32 = np.float32


# Fixtures: `x64` and strict rank promotion come from tests/conftest.py.


# ----------------------------------------------------------------------------------------------
# Input generators: gen(rng, shape) -> (positional arrays, keyword arrays). Float32 numpy.
# ----------------------------------------------------------------------------------------------


def _normal(rng, shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(F32)


def _np_log_softmax(z, axis=-1):
    z = np.asarray(z, np.float64)
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _simplex(rng, shape, zeros=False):
    """Random distributions over the last axis; with ``zeros``, some exact zero entries."""
    p = np.exp(_np_log_softmax(2.0 * rng.standard_normal(shape)))
    if zeros:
        p = p * (rng.uniform(size=shape) > 0.3)
        p[..., 0] += 1e-3  # at least one positive entry per row
        p = p / p.sum(-1, keepdims=True)
    return p.astype(F32)


def _away_from(x, kinks, gap=0.05):
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, x + 2 * gap, x)
    return x


def gen_regression(rng, shape):
    return (_normal(rng, shape, 2.0), _normal(rng, shape, 2.0)), {}


def gen_regression_no_targets(rng, shape):
    return (_normal(rng, shape, 2.0),), {}


def gen_regression_away_from_zero(rng, shape):
    p, t = _normal(rng, shape, 2.0), _normal(rng, shape, 2.0)
    return (_away_from(p - t, [0.0]).astype(F32) + t, t), {}


def gen_huber(rng, shape):  # residuals on both sides of delta = 0.7, none near the kink
    p, t = _normal(rng, shape, 1.5), _normal(rng, shape, 1.5)
    r = _away_from(p - t, [-0.7, 0.0, 0.7])
    return ((t + r).astype(F32), t), {}


def gen_gaussian(rng, shape):
    precision = rng.uniform(0.2, 3.0, size=shape).astype(F32)
    return (_normal(rng, shape, 2.0), _normal(rng, shape, 2.0), precision), {}


def gen_binary_logits(rng, shape):
    return (_normal(rng, shape, 3.0), (rng.uniform(size=shape) > 0.5).astype(F32)), {}


def gen_soft_binary_logits(rng, shape):
    return (_normal(rng, shape, 3.0), rng.uniform(size=shape).astype(F32)), {}


def gen_probabilities(rng, shape):
    p = rng.uniform(0.02, 0.98, size=shape).astype(F32)
    return (p, rng.uniform(size=shape).astype(F32)), {}


def gen_margins(rng, shape):  # labels in {-1, 1}; margins away from the kinks at 0 and 1
    y = rng.choice(np.array([-1.0, 1.0], F32), size=shape)
    m = _away_from(rng.uniform(-3.0, 3.0, size=shape), [0.0, 1.0])
    return ((y * m).astype(F32), y), {}


def gen_soft_classes(rng, shape):
    return (_normal(rng, shape, 2.0), _simplex(rng, shape)), {}


def gen_soft_classes_class_mask(rng, shape):
    where = rng.uniform(size=shape) > 0.3
    where[..., 0] = True
    return (_normal(rng, shape, 2.0), _simplex(rng, shape)), {"where": where}


def gen_soft_classes_example_mask(rng, shape):
    where = rng.uniform(size=shape[:-1]) > 0.4
    return (_normal(rng, shape, 2.0), _simplex(rng, shape)), {"where": where}


def gen_int_classes(rng, shape):
    return (_normal(rng, shape, 2.0), rng.integers(0, shape[-1], size=shape[:-1])), {}


def gen_int_classes_mask(rng, shape):
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    where = rng.uniform(size=shape) > 0.4
    np.put_along_axis(where, labels[..., None], True, axis=-1)
    return (_normal(rng, shape, 2.0), labels), {"where": where}


def gen_int_classes_2d(rng, shape):  # class axes are the last two, labels index them flattened
    labels = rng.integers(0, shape[-1] * shape[-2], size=shape[:-2])
    return (_normal(rng, shape, 2.0), labels), {}


def gen_kl(rng, shape):
    return (_np_log_softmax(_normal(rng, shape, 2.0)).astype(F32), _simplex(rng, shape, True)), {}


def gen_kl_mask(rng, shape):
    args, _ = gen_kl(rng, shape)
    return args, {"where": rng.uniform(size=shape) > 0.3}


def gen_kl_positive_targets(rng, shape):
    return (_np_log_softmax(_normal(rng, shape, 2.0)).astype(F32), _simplex(rng, shape)), {}


def gen_kl_log_targets(rng, shape):
    log_q = _np_log_softmax(_normal(rng, shape, 2.0)).astype(F32)
    return (log_q, _np_log_softmax(_normal(rng, shape, 2.0)).astype(F32)), {}


def gen_scores(rng, shape):
    return (_normal(rng, shape, 1.5), rng.integers(0, shape[-1], size=shape[:-1])), {}


# ----------------------------------------------------------------------------------------------
# Float64 numpy references, written from the textbook definitions.
# ----------------------------------------------------------------------------------------------


def _f64(x):
    return np.asarray(x, np.float64)


def ref_squared_error(p, t=None):
    r = _f64(p) - (0.0 if t is None else _f64(t))
    return r**2


def ref_l2_loss(p, t=None):
    return 0.5 * ref_squared_error(p, t)


def ref_absolute_error(p, t=None):
    return np.abs(_f64(p) - (0.0 if t is None else _f64(t)))


def ref_huber(p, t, delta=1.0):
    r = _f64(p) - _f64(t)
    return np.where(np.abs(r) <= delta, 0.5 * r**2, delta * np.abs(r) - 0.5 * delta**2)


def ref_gaussian_nll(p, t, precision):
    # -ln N(t | p, 1/beta), the density written out as in the lecture.
    b = _f64(precision)
    density = np.sqrt(b / (2.0 * np.pi)) * np.exp(-0.5 * b * (_f64(t) - _f64(p)) ** 2)
    return -np.log(density)


def ref_sigmoid_bce(z, y):
    p = 1.0 / (1.0 + np.exp(-_f64(z)))
    y = _f64(y)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def ref_bce(p, y, eps=None):
    p, y = _f64(p), _f64(y)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def _mask(where, shape, axis=-1):
    if where is None:
        return np.ones(shape, bool)
    where = np.asarray(where, bool)
    if where.ndim != len(shape):
        where = np.expand_dims(where, axis)
    return np.broadcast_to(where, shape)


def ref_softmax_ce(z, y, axis=-1, where=None):
    z, y = _f64(z), _f64(y)
    mask = _mask(where, z.shape, axis)
    with np.errstate(all="ignore"):
        q = np.exp(z) / np.sum(np.where(mask, np.exp(z), 0.0), axis=axis, keepdims=True)
        return -np.sum(np.where(mask, y * np.log(q), 0.0), axis=axis)


def ref_softmax_ce_int(z, c, axis=-1, where=None):
    z = _f64(z)
    mask = _mask(where, z.shape, axis if isinstance(axis, int) else None)
    if isinstance(axis, tuple):  # trailing class axes, flattened in C order
        z = z.reshape(z.shape[: z.ndim - len(axis)] + (-1,))
        mask = mask.reshape(z.shape)
    with np.errstate(all="ignore"):
        lse = np.log(np.sum(np.where(mask, np.exp(z), 0.0), axis=-1))
        out = lse - np.take_along_axis(z, np.asarray(c)[..., None], axis=-1)[..., 0]
    return np.where(mask.any(-1), out, 0.0)


def ref_kl(log_q, y, axis=-1, where=None):
    log_q, y = _f64(log_q), _f64(y)
    mask = _mask(where, np.broadcast_shapes(log_q.shape, y.shape))
    with np.errstate(all="ignore"):
        terms = np.where(y > 0, y * np.log(y / np.exp(log_q)), 0.0)  # 0 log 0 = 0
    return np.sum(np.where(mask, terms, 0.0), axis=axis)


def ref_kl_log_targets(log_q, log_y, axis=-1, where=None):
    return ref_kl(log_q, np.exp(_f64(log_y)), axis=axis, where=where)


def ref_hinge(f, y):
    return np.maximum(0.0, 1.0 - _f64(y) * _f64(f))


def ref_squared_hinge(f, y):
    return ref_hinge(f, y) ** 2


def ref_perceptron(f, y):
    return np.maximum(0.0, -_f64(y) * _f64(f))


def _per_example(scores, labels, rule):
    s = _f64(scores)
    flat_s, flat_c = s.reshape(-1, s.shape[-1]), np.asarray(labels).reshape(-1)
    return np.array([rule(row, c) for row, c in zip(flat_s, flat_c, strict=True)]).reshape(
        np.shape(labels)
    )


def ref_multiclass_hinge(s, c, form="crammer_singer"):
    def rule(row, c):
        slacks = [1.0 + row[k] - row[c] for k in range(len(row)) if k != c]
        if form == "crammer_singer":
            return max(0.0, max(slacks))
        return sum(max(0.0, v) for v in slacks)

    return _per_example(s, c, rule)


def ref_multiclass_perceptron(s, c):
    return _per_example(s, c, lambda row, c: row.max() - row[c])


# ----------------------------------------------------------------------------------------------
# The table: one row per (loss, input kind, hyperparameters).
# ----------------------------------------------------------------------------------------------

# One set of shapes for every row keeps JAX's per-shape compilations shared between tests; the
# per-example losses read the last axis as classes (5, and 4), the element-wise ones use them whole.
# Rows that only vary an option of a loss already covered run on the first shape only.
SHAPES = ((6, 5), (2, 3, 4))
VARIANT = SHAPES[:1]


class Row(NamedTuple):
    id: str
    name: str
    gen: Callable
    ref: Callable
    shapes: tuple = SHAPES
    static: dict = {}
    in_optax: bool = True


ROWS = [
    # Regression.
    Row("squared_error", "squared_error", gen_regression, ref_squared_error),
    Row(
        "squared_error-none", "squared_error", gen_regression_no_targets, ref_squared_error, VARIANT
    ),
    Row("l2_loss", "l2_loss", gen_regression, ref_l2_loss),
    Row("absolute_error", "absolute_error", gen_regression, ref_absolute_error, in_optax=False),
    Row("l1_loss", "l1_loss", gen_regression, ref_absolute_error, VARIANT, in_optax=False),
    Row("huber_loss", "huber_loss", gen_regression, ref_huber),
    Row("huber_loss-delta", "huber_loss", gen_huber, ref_huber, VARIANT, {"delta": 0.7}),
    Row("gaussian_nll", "gaussian_nll", gen_gaussian, ref_gaussian_nll, in_optax=False),
    Row(
        "gaussian_nll-scalar",
        "gaussian_nll",
        gen_regression,
        ref_gaussian_nll,
        VARIANT,
        {"precision": 0.7},
        in_optax=False,
    ),
    # Probabilistic classification.
    Row("sigmoid_bce", "sigmoid_binary_cross_entropy", gen_binary_logits, ref_sigmoid_bce),
    Row(
        "sigmoid_bce-soft",
        "sigmoid_binary_cross_entropy",
        gen_soft_binary_logits,
        ref_sigmoid_bce,
        VARIANT,
    ),
    Row("bce", "binary_cross_entropy", gen_probabilities, ref_bce, in_optax=False),
    Row(
        "bce-eps",
        "binary_cross_entropy",
        gen_probabilities,
        ref_bce,
        VARIANT,
        {"eps": 1e-3},
        in_optax=False,
    ),
    Row("softmax_ce", "softmax_cross_entropy", gen_soft_classes, ref_softmax_ce),
    Row(
        "softmax_ce-class_mask",
        "softmax_cross_entropy",
        gen_soft_classes_class_mask,
        ref_softmax_ce,
        VARIANT,
    ),
    Row(
        "softmax_ce-example_mask",
        "softmax_cross_entropy",
        gen_soft_classes_example_mask,
        ref_softmax_ce,
        VARIANT,
    ),
    Row(
        "softmax_ce_int",
        "softmax_cross_entropy_with_integer_labels",
        gen_int_classes,
        ref_softmax_ce_int,
    ),
    Row(
        "softmax_ce_int-mask",
        "softmax_cross_entropy_with_integer_labels",
        gen_int_classes_mask,
        ref_softmax_ce_int,
        VARIANT,
    ),
    Row(
        "softmax_ce_int-axes",
        "softmax_cross_entropy_with_integer_labels",
        gen_int_classes_2d,
        ref_softmax_ce_int,
        ((2, 3, 2, 4),),
        {"axis": (-2, -1)},
    ),
    Row("kl", "kl_divergence", gen_kl, ref_kl),
    Row("kl-mask", "kl_divergence", gen_kl_mask, ref_kl, VARIANT),
    Row("kl_log_targets", "kl_divergence_with_log_targets", gen_kl_log_targets, ref_kl_log_targets),
    # Margin-based classification.
    Row("hinge", "hinge_loss", gen_margins, ref_hinge),
    Row("squared_hinge", "squared_hinge_loss", gen_margins, ref_squared_hinge, in_optax=False),
    Row("perceptron", "perceptron_loss", gen_margins, ref_perceptron),
    Row("multiclass_hinge", "multiclass_hinge_loss", gen_scores, ref_multiclass_hinge),
    Row(
        "multiclass_hinge-ww",
        "multiclass_hinge_loss",
        gen_scores,
        ref_multiclass_hinge,
        static={"form": "weston_watkins"},
        in_optax=False,
    ),
    Row(
        "multiclass_perceptron", "multiclass_perceptron_loss", gen_scores, ref_multiclass_perceptron
    ),
]
OPTAX_ROWS = [row for row in ROWS if row.in_optax]


def _ids(rows):
    return [row.id for row in rows]


def _bound(row: Row, kw_names: tuple[str, ...], n_args: int) -> Callable:
    """The loss as a function of arrays only (positional, then keyword arrays)."""
    fn = getattr(losses, row.name)

    def bound(*arrays):
        kwargs = dict(zip(kw_names, arrays[n_args:], strict=True))
        return fn(*arrays[:n_args], **kwargs, **row.static)

    return bound


def _inputs(row: Row, shape, seed: int, dtype=None):
    args, kw = row.gen(np.random.default_rng(seed), shape)
    arrays = (*args, *kw.values())
    if dtype is not None:
        arrays = tuple(a.astype(dtype) if a.dtype == F32 else a for a in arrays)
    return arrays, tuple(kw), len(args)


# ----------------------------------------------------------------------------------------------
# Oracles.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", OPTAX_ROWS, ids=_ids(OPTAX_ROWS))
def test_matches_optax(row: Row):
    """Same values as optax, called directly and inside jax.jit under jax.vmap.

    (The kernels are jitted internally, so an eager ``jax.vmap`` runs the same batched
    computation that ``jax.jit(jax.vmap(...))`` compiles; tracing the public wrapper under jit is
    covered by the same call.)
    """
    kw_names, n = _inputs(row, row.shapes[0], 0)[1:]
    ours = _bound(row, kw_names, n)
    modes = {"direct": ours, "jit+vmap": jax.jit(jax.vmap(ours))}

    @jax.jit
    def theirs(*arrays):
        kwargs = dict(zip(kw_names, arrays[n:], strict=True))
        return getattr(optax.losses, row.name)(*arrays[:n], **kwargs, **row.static)

    for shape in row.shapes:
        for seed in SEEDS:
            arrays = _inputs(row, shape, seed)[0]
            expected = theirs(*arrays)
            for mode, fn in modes.items():
                got = fn(*arrays)
                assert got.shape == expected.shape, mode
                np.testing.assert_allclose(
                    got, expected, rtol=1e-6, err_msg=f"{mode} {shape=} {seed=}"
                )


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_matches_float64_formula(row: Row, x64):
    # The last shape only: optax's test covers every shape, the dtype test the first one.
    for shape in row.shapes[-1:]:
        for seed in SEEDS:
            arrays, kw_names, n = _inputs(row, shape, seed, dtype=np.float64)
            expected = row.ref(*arrays[:n], **dict(zip(kw_names, arrays[n:])), **row.static)
            got = _bound(row, kw_names, n)(*arrays)
            assert got.dtype == jnp.float64
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# bfloat16 in, bfloat16 out: one row per public function.
DTYPE_ROWS = list({row.name: row for row in reversed(ROWS)}.values())[::-1]


@pytest.mark.parametrize("row", DTYPE_ROWS, ids=_ids(DTYPE_ROWS))
def test_output_dtype_follows_input(row: Row):
    arrays, kw_names, n = _inputs(row, row.shapes[0], 0, dtype=jnp.bfloat16)
    out = _bound(row, kw_names, n)(*arrays)
    assert out.dtype == jnp.bfloat16
    ref = row.ref(*arrays[:n], **dict(zip(kw_names, arrays[n:])), **row.static)
    np.testing.assert_allclose(np.asarray(out, np.float64), ref, rtol=5e-2, atol=5e-2)


def test_integer_inputs_promote_to_float():
    assert losses.squared_error(jnp.array([1, 2]), jnp.array([0, 0])).dtype == jnp.float32
    assert losses.hinge_loss(jnp.array([2, -1]), jnp.array([1, 1])).dtype == jnp.float32
    out = losses.sigmoid_binary_cross_entropy(jnp.zeros(2), jnp.array([0, 1]))
    chex.assert_trees_all_close(out, jnp.full(2, np.log(2.0)))


# ----------------------------------------------------------------------------------------------
# Numerics at extreme logits.
# ----------------------------------------------------------------------------------------------

Z = 1e4

# (logits, label, correct?) -- both signs of |z| = 1e4, confident right and confident wrong.
SIGMOID_CASES = [(Z, 1.0, True), (-Z, 0.0, True), (Z, 0.0, False), (-Z, 1.0, False)]
SOFTMAX_CASES = [
    ([Z, 0.0, 0.0], 0, True),
    ([0.0, -Z, -Z], 0, True),
    ([Z, -Z, 0.0], 0, True),
    ([0.0, Z, 0.0], 0, False),
    ([-Z, 0.0, 0.0], 0, False),
    ([-Z, Z, -Z], 0, False),
]


def _jit_grad(fn: Callable, argnums=0) -> Callable:
    """``jax.grad`` compiled as one program (an eager grad compiles each primitive)."""
    return jax.jit(jax.grad(fn, argnums=argnums))


@functools.cache
def _jitted_loss_and_grads(loss_fn, argnums):
    return jax.jit(jax.value_and_grad(lambda *a: jnp.sum(loss_fn(*a)), argnums=argnums))


def _loss_and_grads(loss_fn, args, argnums):
    return _jitted_loss_and_grads(loss_fn, argnums)(*args)


def _check_confident(loss_fn, args, argnums, correct, wrong_value):
    loss, grads = _loss_and_grads(loss_fn, args, argnums)
    assert np.all(np.isfinite(loss))
    assert all(np.all(np.isfinite(g)) for g in grads)
    if correct:
        assert float(loss) < 1e-6
    else:
        np.testing.assert_allclose(float(loss), wrong_value, rtol=1e-3)


@pytest.mark.parametrize("z, label, correct", SIGMOID_CASES)
def test_sigmoid_cross_entropy_extreme_logits(z, label, correct):
    args = (np.float32(z), np.float32(label))
    _check_confident(losses.sigmoid_binary_cross_entropy, args, (0, 1), correct, abs(z))


@pytest.mark.parametrize("logits, label, correct", SOFTMAX_CASES)
def test_softmax_cross_entropy_extreme_logits(logits, label, correct):
    z = np.asarray(logits, F32)
    gap = float(np.max(logits) - logits[label])
    one_hot = np.eye(3, dtype=F32)[label]
    _check_confident(losses.softmax_cross_entropy, (z, one_hot), (0, 1), correct, gap)
    ce_int = losses.softmax_cross_entropy_with_integer_labels
    _check_confident(ce_int, (z, np.asarray(label)), (0,), correct, gap)
    log_q = _np_log_softmax(z).astype(F32)  # KL to a one-hot target: the same cross-entropy
    _check_confident(losses.kl_divergence, (log_q, one_hot), (0, 1), correct, gap)


def _extreme_inputs():
    z = np.array([[Z, -Z, 0.0], [-Z, Z, Z]], F32)
    y = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]], F32)
    one_hot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], F32)
    labels = np.array([0, 2])
    log_q = _np_log_softmax(z).astype(F32)
    with np.errstate(divide="ignore"):
        log_one_hot = np.log(one_hot)  # with -inf entries
    return {
        "squared_error": (z, -z),
        "l2_loss": (z, -z),
        "absolute_error": (z, -z),
        "l1_loss": (z, -z),
        "huber_loss": (z, -z),
        "gaussian_nll": (z, -z, np.full_like(z, 0.5)),
        "sigmoid_binary_cross_entropy": (z, (y + 1) / 2),
        "binary_cross_entropy": (np.clip(z, 0.0, 1.0), (y + 1) / 2),
        "softmax_cross_entropy": (z, one_hot),
        "softmax_cross_entropy_with_integer_labels": (z, labels),
        "kl_divergence": (log_q, one_hot),
        "kl_divergence_with_log_targets": (log_q, log_one_hot),
        "hinge_loss": (z, y),
        "squared_hinge_loss": (z, y),
        "perceptron_loss": (z, y),
        "multiclass_hinge_loss": (z, labels),
        "multiclass_perceptron_loss": (z, labels),
    }


def _sum_and_float_grads(fn: Callable, args: tuple) -> tuple:
    """``(sum of fn(*args), its gradients w.r.t. every floating argument)``."""
    argnums = tuple(i for i, a in enumerate(args) if np.issubdtype(a.dtype, np.floating))
    return jax.value_and_grad(lambda *a: jnp.sum(fn(*a)), argnums=argnums)(*args)


@functools.cache
def _extreme_results() -> dict:
    """Every loss and its gradients at |z| = 1e4, computed in one compilation for all losses."""

    def evaluate(inputs):
        return {
            name: _sum_and_float_grads(getattr(losses, name), args) for name, args in inputs.items()
        }

    return jax.jit(evaluate)(_extreme_inputs())


@pytest.mark.parametrize("name", sorted(_extreme_inputs()))
def test_finite_loss_and_gradients_at_extremes(name):
    loss, grads = _extreme_results()[name]
    assert np.isfinite(loss), loss  # a finite sum: every element is finite
    for g in grads:
        assert np.all(np.isfinite(g)), g


def test_zero_targets_give_zero_kl_and_finite_gradients_even_at_log_zero():
    log_q = jnp.array([0.0, -jnp.inf])  # all mass on class 0
    y = jnp.array([1.0, 0.0])
    assert float(losses.kl_divergence(log_q, y)) == 0.0
    g_q, g_y = _jit_grad(losses.kl_divergence, argnums=(0, 1))(log_q, y)
    np.testing.assert_array_equal(g_q, [-1.0, 0.0])
    np.testing.assert_array_equal(g_y, [1.0, 0.0])  # log y + 1 - log q; 0 where y = 0
    log_y = jnp.log(y)
    assert float(losses.kl_divergence_with_log_targets(log_q, log_y)) == 0.0
    g_q, g_y = _jit_grad(losses.kl_divergence_with_log_targets, argnums=(0, 1))(log_q, log_y)
    np.testing.assert_array_equal(g_q, [-1.0, 0.0])
    np.testing.assert_array_equal(g_y, [1.0, 0.0])


def test_masked_softmax_cross_entropy_has_finite_label_gradients():
    z, y = jnp.array([[1.0, 2.0, 3.0]]), jnp.array([[0.2, 0.3, 0.5]])
    where = jnp.array([[True, False, True]])
    g_z, g_y = _jit_grad(
        lambda z, y: losses.softmax_cross_entropy(z, y, where=where).sum(), (0, 1)
    )(z, y)
    assert np.all(np.isfinite(g_z)) and np.all(np.isfinite(g_y))
    assert float(g_z[0, 1]) == 0.0 and float(g_y[0, 1]) == 0.0


def test_binary_cross_entropy_clips_probabilities_0_and_1():
    p, y = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    loss_and_grad = jax.jit(
        lambda p, y: (
            losses.binary_cross_entropy(p, y),
            _jit_grad(lambda p: losses.binary_cross_entropy(p, y).sum())(p),
        )
    )
    for dtype in (jnp.bfloat16, jnp.float16, jnp.float32):
        loss, grad = loss_and_grad(p.astype(dtype), y.astype(dtype))
        eps = float(jnp.finfo(dtype).eps)
        expected = [-np.log(eps)] * 2 + [-np.log1p(-eps)] * 2
        np.testing.assert_allclose(np.asarray(loss, np.float64), expected, rtol=2e-2, atol=1e-3)
        assert np.all(np.isfinite(np.asarray(grad, np.float64)))
    # A too-small eps is raised to the dtype's epsneg, so 1 - eps stays below 1 in bfloat16.
    loss = losses.binary_cross_entropy(np.ones(1, jnp.bfloat16), np.zeros(1), eps=1e-7)
    assert np.isfinite(float(loss[0]))


# ----------------------------------------------------------------------------------------------
# Gradients: central finite differences (float64) away from kinks; exact subgradients at kinks.
# ----------------------------------------------------------------------------------------------


def _row(row_id: str) -> Row:
    return next(row for row in ROWS if row.id == row_id)


# (row, arguments to differentiate). Inputs stay away from kinks (see the generators).
GRAD_ROWS = [
    (_row("squared_error"), (0, 1)),
    (_row("l2_loss"), (0, 1)),
    (_row("absolute_error")._replace(gen=gen_regression_away_from_zero), (0, 1)),
    (_row("l1_loss")._replace(gen=gen_regression_away_from_zero), (0, 1)),
    (_row("huber_loss-delta"), (0, 1)),
    (_row("gaussian_nll"), (0, 1, 2)),
    (_row("sigmoid_bce-soft"), (0, 1)),
    (_row("bce"), (0, 1)),
    (_row("softmax_ce"), (0, 1)),
    (_row("softmax_ce-class_mask"), (0, 1)),
    (_row("softmax_ce_int"), (0,)),
    (_row("kl")._replace(gen=gen_kl_positive_targets), (0, 1)),
    (_row("kl_log_targets"), (0, 1)),
    (_row("hinge"), (0,)),
    (_row("squared_hinge"), (0,)),
    (_row("perceptron"), (0,)),
    (_row("multiclass_hinge"), (0,)),
    (_row("multiclass_hinge-ww"), (0,)),
    (_row("multiclass_perceptron"), (0,)),
]


def _fd_problem(row: Row):
    """Float64 inputs away from kinks, and random weights for the per-example losses."""
    arrays, kw_names, n = _inputs(row, (3, 4), 0, dtype=np.float64)
    bound = _bound(row, kw_names, n)
    out_shape = jax.eval_shape(bound, *arrays).shape
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=out_shape)
    return arrays, bound, weights


@functools.cache
def _analytic_gradients() -> dict:
    """jax.grad of every GRAD_ROWS objective, in one float64 compilation (call under x64)."""
    problems = {row.id: (_fd_problem(row), wrt) for row, wrt in GRAD_ROWS}

    def objective(bound, weights):
        return lambda *xs: jnp.sum(weights * bound(*xs))

    def gradients(all_arrays):
        return {
            key: jax.grad(objective(bound, weights), argnums=wrt)(*all_arrays[key])
            for key, ((_, bound, weights), wrt) in problems.items()
        }

    return jax.jit(gradients)({key: p[0][0] for key, p in problems.items()})


@pytest.mark.parametrize("row, wrt", GRAD_ROWS, ids=[r.id for r, _ in GRAD_ROWS])
def test_gradient_matches_finite_differences(row: Row, wrt, x64):
    """jax.grad of the loss against central differences of the float64 numpy formula."""
    arrays, _, weights = _fd_problem(row)
    kw_names, n = _inputs(row, (3, 4), 0)[1:]
    kwargs = dict(zip(kw_names, arrays[n:], strict=True)) | row.static
    grads = _analytic_gradients()[row.id]

    def reference(*args):
        return np.sum(weights * row.ref(*args, **kwargs))

    h = 1e-6
    for i, g in zip(wrt, grads, strict=True):
        assert g.dtype == jnp.float64
        fd = np.zeros_like(arrays[i])
        for idx in np.ndindex(arrays[i].shape):
            up, down = list(arrays[:n]), list(arrays[:n])
            up[i], down[i] = arrays[i].copy(), arrays[i].copy()
            up[i][idx] += h
            down[i][idx] -= h
            fd[idx] = (reference(*up) - reference(*down)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7, err_msg=f"d/d arg {i}")


def test_hinge_subgradient_at_margin_one():
    y = jnp.array([1.0, -1.0, 1.0, -1.0])
    f = y * 1.0  # margin exactly 1
    np.testing.assert_array_equal(losses.hinge_loss(f, y), 0.0)
    np.testing.assert_array_equal(_jit_grad(lambda f: losses.hinge_loss(f, y).sum())(f), -y)
    # The squared hinge is differentiable there, with gradient 0.
    np.testing.assert_array_equal(_jit_grad(lambda f: losses.squared_hinge_loss(f, y).sum())(f), 0)


def test_perceptron_subgradient_at_zero():
    y = jnp.array([1.0, -1.0])
    f = jnp.zeros(2)
    np.testing.assert_array_equal(losses.perceptron_loss(f, y), 0.0)
    np.testing.assert_array_equal(_jit_grad(lambda f: losses.perceptron_loss(f, y).sum())(f), -y)


@pytest.mark.parametrize("name", ["absolute_error", "l1_loss"])
def test_absolute_error_subgradient_at_zero(name):
    fn = getattr(losses, name)
    p = t = jnp.array([0.0, 1.5, -2.0])
    g_p, g_t = _jit_grad(lambda p, t: fn(p, t).sum(), argnums=(0, 1))(p, t)
    np.testing.assert_array_equal(g_p, 0.0)
    np.testing.assert_array_equal(g_t, 0.0)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_derivative_is_continuous_at_delta(delta, x64):
    grad_fn = _jit_grad(lambda r: losses.huber_loss(r, delta=delta))

    def grad(r):
        return float(grad_fn(r))

    for sign in (1.0, -1.0):
        r = sign * delta
        assert grad(r) == r  # the stated value at the kink: r = +-delta
        for side in (1 - 1e-9, 1 + 1e-9):  # both one-sided limits agree with it
            np.testing.assert_allclose(grad(r * side), r, rtol=1e-8)
        # and so does a central difference across the junction.
        fd = losses.huber_loss(r + 1e-6, delta=delta) - losses.huber_loss(r - 1e-6, delta=delta)
        np.testing.assert_allclose(float(fd) / 2e-6, r, rtol=1e-6)
    # The value is continuous too.
    np.testing.assert_allclose(float(losses.huber_loss(delta, delta=delta)), 0.5 * delta**2)


def test_multiclass_subgradients_at_ties():
    def grad(s, form="crammer_singer"):
        return _jit_grad(lambda s: losses.multiclass_hinge_loss(s, np.array(0), form=form))(s)

    s = jnp.zeros(3)
    # Crammer-Singer: the two wrong classes tie in the max; the gradient is split evenly.
    np.testing.assert_array_equal(grad(s), [-1.0, 0.5, 0.5])
    # Weston-Watkins: a wrong class at margin exactly 1 is active (like hinge_loss).
    s = jnp.array([1.0, 0.0, -5.0])
    assert float(losses.multiclass_hinge_loss(s, jnp.array(0), form="weston_watkins")) == 0.0
    np.testing.assert_array_equal(grad(s, form="weston_watkins"), [-1.0, 1.0, 0.0])
    # Perceptron: all scores equal -> 1/K on every class, minus 1 on the true class.
    g = _jit_grad(lambda s: losses.multiclass_perceptron_loss(s, jnp.array(2)))(jnp.zeros(4))
    np.testing.assert_array_equal(g, np.full(4, 0.25) - np.eye(4)[2])


def test_sigmoid_cross_entropy_gradient_at_zero_logit():
    y = jnp.array([0.0, 0.3, 1.0])
    g = _jit_grad(lambda z: losses.sigmoid_binary_cross_entropy(z, y).sum())(jnp.zeros(3))
    np.testing.assert_allclose(g, 0.5 - y, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# The lecture's identities.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_is_kl_plus_target_entropy(seed, x64):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((5, 6)) * 2.0
    y = _simplex(rng, (5, 6), zeros=True).astype(np.float64)
    y = y / y.sum(-1, keepdims=True)
    entropy = -np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0), axis=-1)
    ce = losses.softmax_cross_entropy(z, y)
    kl = losses.kl_divergence(jax.nn.log_softmax(z), y)
    np.testing.assert_allclose(ce, kl + entropy, rtol=1e-12)
    kl_log = losses.kl_divergence_with_log_targets(jax.nn.log_softmax(z), jnp.log(y))
    np.testing.assert_allclose(kl_log, kl, rtol=1e-12)


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0])
def test_gaussian_nll_is_scaled_squared_error_plus_constant(beta, x64):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal(8), rng.standard_normal(8)
    const = 0.5 * (np.log(2 * np.pi) - np.log(beta))
    expected = beta / 2 * losses.squared_error(p, t) + const
    np.testing.assert_allclose(losses.gaussian_nll(p, t, beta), expected, rtol=1e-12)
    np.testing.assert_allclose(losses.gaussian_nll(p, t, jnp.full(8, beta)), expected, rtol=1e-12)


def test_minimising_gaussian_nll_gives_the_mean(x64):
    y = np.random.default_rng(0).normal(3.0, 2.0, size=50)

    def total(y_hat):  # one prediction for every target: broadcast explicitly (shapes must match)
        return jnp.sum(losses.gaussian_nll(jnp.broadcast_to(y_hat, y.shape), y, 2.5))

    g = jax.jit(jax.grad(total))
    assert abs(float(g(y.mean()))) < 1e-10
    assert float(g(y.mean() - 0.1)) < 0 < float(g(y.mean() + 0.1))
    y_hat = 0.0
    for _ in range(200):  # gradient descent converges to the sample mean
        y_hat -= 0.005 * float(g(y_hat))
    np.testing.assert_allclose(y_hat, y.mean(), rtol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_hinge_upper_bounds_zero_one_loss(seed):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(1000).astype(F32) * 2
    f[:10] = 0.0  # on the boundary, counted as an error
    y = rng.choice(np.array([-1.0, 1.0], F32), size=1000)
    zero_one = (y * f <= 0).astype(F32)
    assert np.all(np.asarray(losses.hinge_loss(f, y)) >= zero_one)
    assert np.all(np.asarray(losses.squared_hinge_loss(f, y)) >= zero_one)


def test_squared_hinge_penalises_outliers_more():
    rng = np.random.default_rng(0)
    y = rng.choice(np.array([-1.0, 1.0], F32), size=200)
    margin = -rng.uniform(0.01, 5.0, size=200).astype(F32)  # misclassified
    f = y * margin
    assert np.all(np.asarray(losses.squared_hinge_loss(f, y)) > np.asarray(losses.hinge_loss(f, y)))


@pytest.mark.parametrize("seed", SEEDS)
def test_cross_entropy_from_probabilities_equals_from_logits(seed, x64):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-8.0, 8.0, size=100)
    y = rng.uniform(size=100)
    from_logits = losses.sigmoid_binary_cross_entropy(z, y)
    np.testing.assert_allclose(
        losses.binary_cross_entropy(jax.nn.sigmoid(z), y), from_logits, rtol=1e-9
    )
    # and a sigmoid is a two-class softmax with logits (0, z).
    two_class = losses.softmax_cross_entropy(
        np.stack([np.zeros(100), z], -1), np.stack([1 - y, y], -1)
    )
    np.testing.assert_allclose(two_class, from_logits, rtol=1e-9)


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_weston_watkins_bounds_crammer_singer(num_classes):
    rng = np.random.default_rng(num_classes)
    s = rng.standard_normal((200, num_classes)).astype(F32)
    c = rng.integers(0, num_classes, size=200)
    cs = np.asarray(losses.multiclass_hinge_loss(s, c))
    ww = np.asarray(losses.multiclass_hinge_loss(s, c, form="weston_watkins"))
    assert np.all(ww >= cs - 1e-6)
    if num_classes == 2:
        np.testing.assert_allclose(ww, cs, rtol=1e-6, atol=1e-7)
        # both then equal the binary hinge loss of the score difference.
        f = s[:, 1] - s[:, 0]
        np.testing.assert_allclose(cs, losses.hinge_loss(f, 2.0 * c - 1.0), rtol=1e-6, atol=1e-6)
    else:
        assert np.any(ww > cs + 1e-3)


def test_aliases_and_scalings():
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal(10).astype(F32), rng.standard_normal(10).astype(F32)
    np.testing.assert_array_equal(losses.l1_loss(p, t), losses.absolute_error(p, t))
    np.testing.assert_array_equal(losses.l2_loss(p, t), 0.5 * losses.squared_error(p, t))
    np.testing.assert_array_equal(losses.squared_error(p - t), losses.squared_error(p, t))


# ----------------------------------------------------------------------------------------------
# Validation and API.
# ----------------------------------------------------------------------------------------------

X = np.ones(3)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: losses.huber_loss(X, delta=-1.0),
            "huber_loss: delta must be a finite number > 0, got -1.0. Pass e.g. delta=1.0.",
        ),
        (
            lambda: losses.huber_loss(X, X, delta=0.0),
            "huber_loss: delta must be a finite number > 0, got 0.0.",
        ),
        (
            lambda: losses.binary_cross_entropy(X, X, eps=0.0),
            "binary_cross_entropy: eps must be in (0, 0.5), got 0.0. Pass e.g. eps=1e-7.",
        ),
        (lambda: losses.binary_cross_entropy(X, X, eps=0.5), "eps must be in (0, 0.5), got 0.5"),
        (lambda: losses.binary_cross_entropy(X, X, eps=-1e-3), "eps must be in (0, 0.5)"),
        (
            lambda: losses.gaussian_nll(X, X, -1.0),
            "gaussian_nll: precision must be a finite number > 0, got -1.0. "
            "Pass e.g. precision=1.0.",
        ),
        (
            lambda: losses.gaussian_nll(X, X, np.array([1.0, 0.0, 2.0])),
            "gaussian_nll: precision must be a finite number > 0",
        ),
        (
            lambda: losses.multiclass_hinge_loss(np.ones((2, 3)), np.zeros(2, int), form="max"),
            "multiclass_hinge_loss: form must be one of ('crammer_singer', 'weston_watkins'), "
            "got 'max'. Pass e.g. form='crammer_singer'",
        ),
        (
            lambda: losses.squared_error(np.ones(3), np.ones(4)),
            "squared_error: predictions shape (3,) and targets shape (4,) must be equal; they "
            "cannot be broadcast together. Pass targets with shape (3,)",
        ),
        (
            lambda: losses.hinge_loss(np.ones((2, 3)), np.ones((3, 2))),
            "hinge_loss: predictor_outputs shape (2, 3) and targets shape (3, 2) must be equal; "
            "they cannot be broadcast together. Pass targets.reshape((2, 3))",
        ),
        (
            lambda: losses.gaussian_nll(np.ones(3), np.ones(3), np.ones(2)),
            "gaussian_nll: precision shape (2,) does not broadcast to predictions shape (3,)",
        ),
        (
            lambda: losses.softmax_cross_entropy(np.ones((2, 3)), np.ones((2, 4))),
            "softmax_cross_entropy: logits shape (2, 3) and labels shape (2, 4)",
        ),
        (
            lambda: losses.kl_divergence(np.ones((2, 3)), np.ones(4)),
            "kl_divergence: log_predictions shape (2, 3) and targets shape (4,)",
        ),
        (
            lambda: losses.softmax_cross_entropy_with_integer_labels(
                np.ones((4, 5)), np.zeros(3, int)
            ),
            "labels shape (3,) does not match logits shape (4, 5) without the class axis, (4,)",
        ),
        (
            lambda: losses.multiclass_perceptron_loss(np.ones((4, 5)), np.zeros((4, 5), int)),
            "labels shape (4, 5) does not match scores shape (4, 5) without the class axis, (4,)",
        ),
        (
            lambda: losses.multiclass_hinge_loss(np.ones(()), np.zeros((), int)),
            "scores must have a class axis",
        ),
        (
            lambda: losses.softmax_cross_entropy_with_integer_labels(
                np.ones((4, 5)), np.zeros(4, int), axis=None
            ),
            "axis must be an int or a tuple of ints, got NoneType",
        ),
        (
            lambda: losses.softmax_cross_entropy_with_integer_labels(
                np.ones((4, 5)), np.zeros(4, int), axis=2
            ),
            "axis 2 is out of bounds for logits of shape (4, 5)",
        ),
    ],
)
def test_bad_inputs_raise_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


@pytest.mark.parametrize(
    "name", ["softmax_cross_entropy_with_integer_labels", "multiclass_hinge_loss"]
)
def test_float_labels_for_integer_losses_raise_type_error(name):
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        getattr(losses, name)(np.ones((2, 3)), np.zeros(2))


def test_traced_hyperparameters_are_not_validated_but_work():
    x = jnp.array([0.5, 3.0])
    deltas = jnp.array([0.5, 1.0, 2.0])
    out = jax.vmap(lambda d: losses.huber_loss(x, delta=d))(deltas)
    np.testing.assert_allclose(out[1], [0.125, 2.5])
    out = jax.jit(lambda b: losses.gaussian_nll(x, x, b))(2.0)
    np.testing.assert_allclose(out, 0.5 * (np.log(2 * np.pi) - np.log(2.0)), rtol=1e-6)


def test_public_api_is_documented():
    assert sorted(losses.__all__) == losses.__all__
    for name in losses.__all__:
        fn = getattr(losses, name)
        doc = inspect.getdoc(fn)
        for section in ("Args:", "Returns:", "References:", f"from gradlab.losses import {name}"):
            assert section in doc, (name, section)
        assert inspect.signature(fn).return_annotation in ("jax.Array", jax.Array), name


@pytest.mark.parametrize("name", sorted({row.name for row in OPTAX_ROWS}))
def test_signature_matches_optax(name):
    ours = inspect.signature(getattr(losses, name)).parameters
    theirs = inspect.signature(getattr(optax.losses, name)).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for p in theirs.values():
        assert ours[p.name].kind == p.kind, p.name
        assert ours[p.name].default == p.default, p.name
    extra = [p for p in list(ours.values())[len(theirs) :]]
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in extra)

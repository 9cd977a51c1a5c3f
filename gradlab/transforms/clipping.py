r"""Clipping: bound the size of the updates before a step is taken.

``clip`` bounds each entry, ``clip_by_block_rms`` the RMS of each leaf, ``clip_by_global_norm``
the norm of the whole tree, ``adaptive_grad_clip`` each unit's norm relative to its parameter's;
``per_example_global_norm_clip`` clips per-example gradients and sums them (DP-SGD), and
``global_norm`` is the norm they are measured by. Names, arguments, defaults and results are
optax's; every transformation is stateless (``EmptyState()``, optax's ``ClipState``,
``ClipByGlobalNormState`` and ``AdaptiveGradClipState`` aliases).

Gradient clipping answers the *cliffs* of a loss surface (Goodfellow, Bengio & Courville, Deep
Learning, 2016, secs. 8.2.4 and 10.11.1; Pascanu, Mikolov & Bengio 2013): near a cliff the
gradient is huge, and a full step along it throws the parameters far away. Clipping keeps the
direction and bounds the length.

**Precision.** Norms and RMS are computed in float32 or wider (bf16 and float16 updates are
squared in float32: a float16 entry above 256 no longer overflows the norm to ``inf``), and each
output leaf keeps its update's dtype. A complex entry contributes :math:`|z|^2 = z\bar z`.

**Non-finite updates** give optax's results (none of these transforms hides them): a NaN entry
makes the global norm NaN, and ``clip_by_global_norm`` then returns NaN for every entry, finite
ones included, so that ``apply_if_finite`` or a NaN check sees the step; an ``inf`` entry makes the
norm ``inf``, and the clipped update is 0 for the finite entries and NaN for the infinite one. A
sum of squares that overflows (finite entries above about :math:`1.8\cdot 10^{19}` in float32)
also gives an ``inf`` norm and zero updates, as in optax. ``clip_by_block_rms`` and
``adaptive_grad_clip`` do the same within a leaf (or unit); ``clip`` maps NaN to NaN.

**Gradients through the transforms** (meta-gradients) are finite where the updates are 0: the
square root is taken so that its derivative at 0 is 0, where optax's is NaN.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core import tree as pytree
from gradlab.core.base import EmptyState, GradientTransformation, Params, Updates, stateless
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike

ClipState = EmptyState
"""The state of :func:`clip`: ``EmptyState()`` (optax's ``ClipState`` alias)."""

ClipByGlobalNormState = EmptyState
"""The state of :func:`clip_by_global_norm`: ``EmptyState()`` (optax's alias)."""

AdaptiveGradClipState = EmptyState
"""The state of :func:`adaptive_grad_clip`: ``EmptyState()`` (optax's alias)."""


def global_norm(tree: Any) -> jax.Array:
    r"""The Euclidean norm of a whole pytree: :math:`\lVert g \rVert_2 = \sqrt{\sum_i |g_i|^2}`.

    The sum runs over every entry of every leaf; complex entries contribute :math:`|z|^2`,
    ``None`` leaves nothing, and an empty tree has norm 0. The squares are summed in float32 or
    wider (float64 when a leaf is float64), so a bf16 or float16 tree does not overflow early.
    Its derivative at :math:`g = 0` is 0 (a subgradient), not NaN.

    Args:
      tree: a pytree of arrays (or Python numbers).

    Returns:
      A scalar ``jax.Array``: float32, or float64 when a leaf is float64.

    References:
      Matches: ``optax.tree.norm`` and the deprecated ``optax.global_norm`` (rtol 1e-6 in
      float32; optax sums bf16 leaves in bf16 and returns bf16, here float32).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import global_norm
    >>> global_norm({"a": jnp.array([3.0]), "b": [jnp.array(4.0), None]})
    Array(5., dtype=float32)
    """
    return pytree.norm(tree)


@declare_hyperparams("max_delta")
def clip(max_delta: ArrayLike) -> GradientTransformation:
    r"""Clips each entry of the updates to :math:`[-\delta, \delta]`.

    .. math:: u_i = \min(\max(g_i, -\delta), \delta)

    A complex entry has its real and imaginary parts clipped each (the clip of the pair
    :math:`(\operatorname{Re} g, \operatorname{Im} g)` as two real entries); optax refuses
    complex updates.

    Args:
      max_delta: :math:`\delta \ge 0`, the largest absolute value of an entry (a scalar, or an
        array that broadcasts against every leaf).

    Returns:
      A stateless GradientTransformation (state ``ClipState()``).

    References:
      Mikolov, Statistical Language Models Based on Neural Networks, PhD thesis, 2012, sec. 3.3
      (elementwise clipping); Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 10.11.1.
      Matches: ``optax.clip`` (exactly, for real updates).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import clip
    >>> clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), None)[0]
    Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    validation.check_non_negative("clip", "max_delta", max_delta, "1.0")

    def clip_leaf(g: ArrayLike) -> jax.Array:
        g, delta = jnp.asarray(g), jnp.asarray(max_delta)
        if jnp.iscomplexobj(g):
            real = jnp.clip(jnp.real(g), -delta, delta)
            imag = jnp.clip(jnp.imag(g), -delta, delta)
            return jax.lax.complex(real, imag).astype(g.dtype)
        return jnp.clip(g, -delta, delta).astype(g.dtype)

    return stateless(lambda updates, params: jax.tree.map(clip_leaf, updates))


@declare_hyperparams("max_norm")
def clip_by_global_norm(max_norm: ArrayLike) -> GradientTransformation:
    r"""Rescales the updates so that their global norm is at most :math:`c`.

    .. math::
        u = g \min\!\Big(1, \frac{c}{\lVert g \rVert_2}\Big), \qquad
        \lVert g \rVert_2 = \sqrt{\textstyle\sum_i |g_i|^2} \text{ over all leaves}

    Updates whose norm is below :math:`c` pass unchanged; otherwise every leaf is scaled by the
    same factor, so the direction is kept (Pascanu et al.'s Algorithm 1). The norm is
    :func:`global_norm` (float32 or wider); see the module docstring for NaN and ``inf``.

    Args:
      max_norm: :math:`c \ge 0`, a scalar; ``0`` sets every update to 0.

    Returns:
      A stateless GradientTransformation (state ``ClipByGlobalNormState()``).

    References:
      Pascanu, Mikolov & Bengio, `On the difficulty of training recurrent neural networks
      <https://arxiv.org/abs/1211.5063>`_, ICML 2013, Alg. 1; Goodfellow, Bengio & Courville,
      Deep Learning, 2016, secs. 8.2.4 and 10.11.1.
      Matches: ``optax.clip_by_global_norm`` (rtol 1e-6 in float32, 1e-12 in float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import clip_by_global_norm
    >>> tx = clip_by_global_norm(1.0)
    >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]
    {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
    """
    validation.check_non_negative("clip_by_global_norm", "max_norm", max_norm, "1.0")
    validation.check_scalar("clip_by_global_norm", "max_norm", max_norm)

    def apply(updates: Updates, params: Params | None) -> Updates:
        del params
        norm = global_norm(updates)
        keep = norm < max_norm
        # The divisor of the branch not taken is 1, so that neither branch (nor its gradient)
        # divides by zero; a NaN norm stays NaN and poisons every entry, as in optax.
        divisor = jnp.where(keep | (norm == 0), jnp.ones_like(norm), norm)

        def clip_leaf(g: ArrayLike) -> jax.Array:
            wide = storage.load(jnp.asarray(g))
            return jnp.where(keep, wide, wide / divisor * max_norm).astype(storage.leaf_dtype(g))

        return jax.tree.map(clip_leaf, updates)

    return stateless(apply)


@declare_hyperparams("threshold")
def clip_by_block_rms(threshold: ArrayLike) -> GradientTransformation:
    r"""Rescales each leaf (a *block*: a weight matrix, a bias) so that its RMS is at most
    :math:`\tau`.

    .. math::
        u_i = \frac{g_i}{\max\big(1,\ \operatorname{rms}(g_i) / \tau\big)}, \qquad
        \operatorname{rms}(g_i) = \sqrt{\operatorname{mean}|g_i|^2}

    The RMS is computed in float32 or wider, over the entries of the leaf (a complex entry
    counts once, with :math:`|z|^2`).

    Args:
      threshold: :math:`\tau > 0`, the largest RMS of a leaf.

    Returns:
      A stateless GradientTransformation.

    References:
      Shazeer & Stern, `Adafactor <https://arxiv.org/abs/1804.04235>`_, 2018, sec. 6 (update
      clipping by block RMS).
      Matches: ``optax.clip_by_block_rms`` (rtol 1e-6 in float32, 1e-12 in float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import clip_by_block_rms
    >>> clip_by_block_rms(1.0).update([jnp.array([3.0, -3.0]), jnp.array([0.5])], None)[0]
    [Array([ 1., -1.], dtype=float32), Array([0.5], dtype=float32)]
    """
    validation.check_positive("clip_by_block_rms", "threshold", threshold, "1.0")

    def clip_leaf(g: ArrayLike) -> jax.Array:
        wide = storage.load(jnp.asarray(g))
        rms = pytree.safe_sqrt(jnp.mean(storage.power(wide, 2)))
        return (wide / jnp.maximum(1.0, rms / threshold)).astype(storage.leaf_dtype(g))

    return stateless(lambda updates, params: jax.tree.map(clip_leaf, updates))


def _unit_axes(fn: str, shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The axes a unit's norm sums over (optax's ``unitwise_norm`` layout rules)."""
    if axis is not None:
        axes = validation.check_axes(fn, axis, shape, what="the leaf")
        return axes if isinstance(axes, tuple) else (axes,)
    ndim = len(shape)
    if sum(d != 1 for d in shape) <= 1:  # scalars and vectors (squeezed): the whole leaf
        return tuple(range(ndim))
    layouts = {2: (0,), 3: (0,), 4: (0, 1, 2), 5: (0, 1, 2, 3)}  # IO, HIO, HWIO, DHWIO
    if ndim not in layouts:
        raise ValueError(
            f"{fn}: cannot tell the units of a leaf of shape {shape} (rank {ndim}); the default "
            "layouts cover ranks 1 to 5. Pass the axes a unit's norm sums over, e.g. "
            f"axis={tuple(range(ndim - 1))}."
        )
    return layouts[ndim]


@declare_hyperparams("clipping", "eps")
def adaptive_grad_clip(
    clipping: ArrayLike, eps: ArrayLike = 1e-3, axis: int | tuple[int, ...] | None = None
) -> GradientTransformation:
    r"""Adaptive gradient clipping (AGC): bounds each unit's update relative to its parameter.

    .. math::
        u_j = \begin{cases} g_j & \lVert g_j\rVert < \lambda \max(\lVert\theta_j\rVert,
        \epsilon) \\ g_j\, \dfrac{\lambda \max(\lVert\theta_j\rVert, \epsilon)}{\max(\lVert
        g_j\rVert, 10^{-6})} & \text{otherwise} \end{cases}

    where :math:`j` runs over the *units* of each leaf: with ``axis=None``, a vector (or
    scalar) is one unit, and a kernel's units are its output slices (the norm sums over axis 0
    for rank 2 and 3, over axes 0-2 for rank-4 HWIO and 0-3 for rank-5 kernels). Norms are
    computed in float32 or wider; a complex entry contributes :math:`|z|^2`.

    Args:
      clipping: :math:`\lambda \ge 0`, the largest ratio of a unit's update norm to its
        parameter norm.
      eps: :math:`\epsilon \ge 0`, the smallest parameter norm (so that zero-initialised
        parameters can move); default 1e-3.
      axis: the axis or axes a unit's norm sums over, for every leaf; ``None`` uses the layout
        rules above (a leaf of rank above 5 then needs ``axis``).

    Returns:
      A stateless GradientTransformation (state ``AdaptiveGradClipState()``); ``update`` needs
      ``params``.

    References:
      Brock, De, Smith & Simonyan, `High-Performance Large-Scale Image Recognition Without
      Normalization <https://arxiv.org/abs/2102.06171>`_, ICML 2021, sec. 4.1.
      Matches: ``optax.adaptive_grad_clip`` (rtol 1e-6 in float32, 1e-12 in float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import adaptive_grad_clip
    >>> tx = adaptive_grad_clip(0.5)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(None), jnp.array([1.0, 0.0]))[0]  # 0.5 / 5
    Array([0.3, 0.4], dtype=float32)
    """
    fn = "adaptive_grad_clip"
    validation.check_non_negative(fn, "clipping", clipping, "0.01")
    validation.check_non_negative(fn, "eps", eps, "1e-3")

    def unit_norm(x: ArrayLike) -> jax.Array:
        x = jnp.asarray(x)
        axes = _unit_axes(fn, jnp.shape(x), axis)
        return pytree.safe_sqrt(jnp.sum(storage.power(x, 2), axis=axes, keepdims=True))

    def clip_leaf(g: ArrayLike, p: ArrayLike) -> jax.Array:
        wide = storage.load(jnp.asarray(g))
        g_norm, p_norm = unit_norm(wide), unit_norm(p)
        max_norm = clipping * jnp.maximum(p_norm, eps)
        clipped = wide * (max_norm / jnp.maximum(g_norm, 1e-6))
        return jnp.where(g_norm < max_norm, wide, clipped).astype(storage.leaf_dtype(g))

    def apply(updates: Updates, params: Params | None) -> Updates:
        validation.require_params(fn, params, updates)
        return jax.tree.map(clip_leaf, updates, params)

    tx = stateless(apply)

    def init(params: Params) -> EmptyState:
        jax.tree.map(lambda p: _unit_axes(fn, jnp.shape(p), axis), params)  # layouts, early
        return tx.init(params)

    return GradientTransformation(init, tx.update)


def per_example_global_norm_clip(
    grads: Updates, l2_norm_clip: ArrayLike
) -> tuple[Updates, jax.Array]:
    r"""Clips each example's gradient to global norm :math:`C`, then sums over the examples.

    .. math::
        \bar g = \sum_{n=1}^{B} g^{(n)} \min\!\Big(1, \frac{C}{\lVert g^{(n)}\rVert_2}\Big)

    where :math:`g^{(n)}` is the slice ``[n]`` of every leaf (axis 0 is the batch) and the norm
    is :func:`global_norm` of that slice. As in optax, an example whose factor is NaN (a NaN
    norm, or :math:`C = 0` with a zero gradient) is summed with factor 1, so a NaN gradient
    reaches the sum, and an example counts as clipped when its factor is below 1.

    Args:
      grads: a pytree of per-example gradients; every leaf has the same batch size ``B`` on
        axis 0.
      l2_norm_clip: :math:`C \ge 0` (``inf`` clips nothing).

    Returns:
      ``(sum, num_clipped)``: the sum of the clipped gradients (each leaf without its batch
      axis, in its dtype; integer leaves give float32) and the number of examples clipped
      (int32). An empty tree gives ``(grads, 0)``.

    References:
      Abadi et al., `Deep Learning with Differential Privacy
      <https://arxiv.org/abs/1607.00133>`_, CCS 2016, Alg. 1.
      Matches: ``optax.per_example_global_norm_clip`` (rtol 1e-6 in float32).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.clipping import per_example_global_norm_clip
    >>> grads = [jnp.array([[0.0, 0.0], [3.0, 4.0], [0.6, 0.8]])]
    >>> per_example_global_norm_clip(grads, 1.0)
    ([Array([1.2, 1.6], dtype=float32)], Array(1, dtype=int32))
    """
    fn = "per_example_global_norm_clip"
    validation.check_in_interval(fn, "l2_norm_clip", l2_norm_clip, "[0, inf]", "1.0")
    shapes = [jnp.shape(g) for g in jax.tree.leaves(grads)]
    if not shapes:  # nothing to clip (optax fails on an empty tree)
        return grads, jnp.zeros([], jnp.int32)
    if any(len(s) == 0 or s[0] != shapes[0][0] for s in shapes):
        raise ValueError(
            f"{fn}: every leaf of grads must have the same batch size on axis 0, got shapes "
            f"{jax.tree.map(jnp.shape, grads)}. Stack the per-example gradients on axis 0, e.g. "
            "with jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, batch)."
        )
    norms = jax.vmap(global_norm)(grads)
    factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    num_clipped = jnp.sum(factors < 1.0).astype(jnp.int32)

    def clipped_sum(g: ArrayLike) -> jax.Array:
        wide = storage.load(jnp.asarray(g))
        total = jnp.tensordot(factors.astype(storage.real_dtype(wide.dtype)), wide, axes=1)
        dtype = storage.leaf_dtype(g)
        return total if not jnp.issubdtype(dtype, jnp.inexact) else total.astype(dtype)

    return jax.tree.map(clipped_sum, grads), num_clipped


__all__ = [
    "AdaptiveGradClipState",
    "ClipByGlobalNormState",
    "ClipState",
    "adaptive_grad_clip",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "global_norm",
    "per_example_global_norm_clip",
]

r"""Per-leaf centering and normalization: stateless maps that read each leaf as one block.

``centralize`` subtracts each row's mean; ``scale_by_sign`` keeps the signs;
``scale_by_param_block_norm`` / ``scale_by_param_block_rms`` scale a leaf's update by the norm
(or RMS) of its parameter; ``scale_by_trust_ratio`` by the ratio of the parameter's norm to the
update's (LARS, LAMB, Fromage); ``normalize_by_update_norm`` divides by the updates' global norm.
A *block* is one leaf of the tree (a weight matrix, a bias vector). All have optax's names,
signatures and defaults, and state ``EmptyState()``.

Norms are computed in float32 or wider (:func:`gradlab.core.storage.power`) and floored the way
optax's ``safe_norm`` does, so the gradient through them is finite at 0; each update keeps its
dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformation, Params, Updates, stateless
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


def _norm(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(storage.power(x, 2)))


def _rms(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(storage.power(x, 2)))


def _floored(measure: Callable[[jax.Array], jax.Array], x: jax.Array, floor: ArrayLike) -> Any:
    """``max(measure(x), floor)`` whose gradient is 0, not NaN, where ``measure(x) <= floor``."""
    value = measure(x)
    below = value <= floor
    return jnp.where(below, floor, measure(jnp.where(below, jnp.ones_like(x), x)))


def _per_leaf_of_params(
    fn: str, scale: Callable[[jax.Array, jax.Array], jax.Array]
) -> GradientTransformation:
    """:math:`u_i = g_i\\, s(g_i, \\theta_i)` leaf by leaf, in the updates' dtype."""

    def apply(updates: Updates, params: Params | None) -> Updates:
        validation.require_params(fn, params, updates)
        return jax.tree.map(lambda g, p: (g * scale(g, p)).astype(g.dtype), updates, params)

    return stateless(apply)


def centralize() -> GradientTransformation:
    r"""Gradient centralization: each row of a leaf minus its mean.

    .. math:: u_{i, \dots} = g_{i, \dots} - \operatorname{mean}(g_{i, \dots})

    The mean is over every axis but the first, for leaves of rank >= 2; vectors and scalars
    pass unchanged. (optax's convention: for a Flax ``Dense`` kernel of shape ``(in, out)`` each
    input's row is centered; the paper's PyTorch ``(out, in)`` weights center each output's
    fan-in, which is ``centralize`` of the transposed kernel.)

    Args:
      (none)

    Returns:
      A stateless GradientTransformation.

    References:
      Yong et al., `Gradient Centralization: A New Optimization Technique for Deep Neural
      Networks <https://arxiv.org/abs/2004.01461>`_, 2020.
      Matches: ``optax.centralize`` (exactly).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> g = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]])
    >>> centralization.centralize().update(g, None)[0]
    Array([[-1.,  0.,  1.],
           [-2., -1.,  3.]], dtype=float32)
    """

    def center(g: jax.Array) -> jax.Array:
        if jnp.ndim(g) < 2:
            return g
        return g - jnp.mean(g, axis=tuple(range(1, jnp.ndim(g))), keepdims=True)

    return stateless(lambda updates, params: jax.tree.map(center, updates))


def scale_by_sign() -> GradientTransformation:
    r"""The sign of each entry: :math:`u_i = \operatorname{sign}(g_i) \in \{-1, 0, 1\}`.

    Args:
      (none)

    Returns:
      A stateless GradientTransformation.

    References:
      Bernstein et al., `signSGD <https://arxiv.org/abs/1802.04434>`_, ICML 2018.
      Matches: ``optax.scale_by_sign`` (exactly).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> centralization.scale_by_sign().update(jnp.array([-2.0, 0.0, 0.5]), None)[0]
    Array([-1.,  0.,  1.], dtype=float32)
    """
    return stateless(lambda updates, params: jax.tree.map(jnp.sign, updates))


@declare_hyperparams("min_scale")
def scale_by_param_block_norm(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by its parameter's norm: :math:`u_i = g_i \max(\lVert\theta_i
    \rVert_2, s_{\min})`.

    Args:
      min_scale: :math:`s_{\min} \ge 0`, the smallest factor; default 1e-3.

    Returns:
      A stateless GradientTransformation; ``update`` needs ``params``.

    References:
      Bernstein et al., `On the distance between two neural networks and the stability of
      learning <https://arxiv.org/abs/2002.03432>`_, 2020 (Fromage's per-layer scale).
      Matches: ``optax.scale_by_param_block_norm``, rtol 1e-6.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> tx = centralization.scale_by_param_block_norm()
    >>> tx.update(jnp.ones(2), None, jnp.array([3.0, 4.0]))[0]
    Array([5., 5.], dtype=float32)
    """
    validation.check_non_negative("scale_by_param_block_norm", "min_scale", min_scale, "1e-3")
    return _per_leaf_of_params(
        "scale_by_param_block_norm", lambda g, p: _floored(_norm, p, min_scale)
    )


@declare_hyperparams("min_scale")
def scale_by_param_block_rms(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by its parameter's RMS: :math:`u_i = g_i
    \max(\sqrt{\operatorname{mean}|\theta_i|^2}, s_{\min})`.

    Args:
      min_scale: :math:`s_{\min} \ge 0`, the smallest factor; default 1e-3.

    Returns:
      A stateless GradientTransformation; ``update`` needs ``params``.

    References:
      Shazeer & Stern, `Adafactor <https://arxiv.org/abs/1804.04235>`_, 2018 (relative step
      size, Sec. 8).
      Matches: ``optax.scale_by_param_block_rms``, rtol 1e-6.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> tx = centralization.scale_by_param_block_rms()
    >>> tx.update(jnp.ones(2), None, jnp.array([1.0, -1.0]))[0]
    Array([1., 1.], dtype=float32)
    """
    validation.check_non_negative("scale_by_param_block_rms", "min_scale", min_scale, "1e-3")
    return _per_leaf_of_params(
        "scale_by_param_block_rms", lambda g, p: _floored(_rms, p, min_scale)
    )


@declare_hyperparams("min_norm", "trust_coefficient", "eps")
def scale_by_trust_ratio(
    min_norm: ArrayLike = 0.0, trust_coefficient: ArrayLike = 1.0, eps: ArrayLike = 0.0
) -> GradientTransformation:
    r"""Scales each leaf's update by the trust ratio of its parameter's norm to its own.

    .. math::
        u_i = g_i\, \frac{c\, \max(\lVert\theta_i\rVert, n_{\min})}{\max(\lVert g_i\rVert,
        n_{\min}) + \epsilon}, \quad\text{or } u_i = g_i \text{ where either norm is } 0

    Args:
      min_norm: :math:`n_{\min} \ge 0`, the floor of both norms; default 0.
      trust_coefficient: :math:`c`, a multiplier of the ratio; default 1.
      eps: :math:`\epsilon \ge 0`, added to the denominator; default 0.

    Returns:
      A stateless GradientTransformation; ``update`` needs ``params``.

    References:
      You, Gitman & Ginsburg, `Large Batch Training of Convolutional Networks
      <https://arxiv.org/abs/1708.03888>`_, 2017 (LARS); You et al., `Large Batch Optimization
      for Deep Learning <https://arxiv.org/abs/1904.00962>`_, 2019 (LAMB).
      Matches: ``optax.scale_by_trust_ratio``, rtol 1e-6.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> tx = centralization.scale_by_trust_ratio()
    >>> tx.update(jnp.array([0.0, 2.0]), None, jnp.array([3.0, 4.0]))[0]  # g * 5 / 2
    Array([0., 5.], dtype=float32)
    """
    fn = "scale_by_trust_ratio"
    validation.check_non_negative(fn, "min_norm", min_norm, "0.0")
    validation.check_finite(fn, "trust_coefficient", trust_coefficient, "1.0")
    validation.check_non_negative(fn, "eps", eps, "0.0")

    def ratio(g: jax.Array, p: jax.Array) -> jax.Array:
        param_norm, update_norm = _floored(_norm, p, min_norm), _floored(_norm, g, min_norm)
        trust = trust_coefficient * param_norm / (update_norm + eps)
        return jnp.where((param_norm == 0) | (update_norm == 0), jnp.ones_like(trust), trust)

    return _per_leaf_of_params(fn, ratio)


@declare_hyperparams("scale_factor", "eps")
def normalize_by_update_norm(
    scale_factor: ArrayLike = 1.0, eps: ArrayLike = 1e-6
) -> GradientTransformation:
    r"""Divides the updates by their global norm: :math:`u = s\, g / (\lVert g \rVert_2 +
    \epsilon)`.

    :math:`\lVert g \rVert_2` is the norm of all leaves together (one scalar).

    Args:
      scale_factor: :math:`s` (any sign, finite); default 1. Pass -1 for a normalized descent.
      eps: :math:`\epsilon \ge 0`; default 1e-6.

    Returns:
      A stateless GradientTransformation.

    References:
      Matches: ``optax.normalize_by_update_norm``, rtol 1e-6.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import centralization
    >>> tx = centralization.normalize_by_update_norm(eps=0.0)
    >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, None)[0]
    {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
    """
    validation.check_finite("normalize_by_update_norm", "scale_factor", scale_factor, "1.0")
    validation.check_non_negative("normalize_by_update_norm", "eps", eps, "1e-6")

    def apply(updates: Updates, params: Params | None) -> Updates:
        del params
        squares = jax.tree.map(lambda g: jnp.sum(storage.power(g, 2)), updates)
        norm = jnp.sqrt(jax.tree.reduce(jnp.add, squares, jnp.zeros([], jnp.float32)))
        factor = scale_factor / (norm + eps)
        return jax.tree.map(lambda g: (g * factor).astype(g.dtype), updates)

    return stateless(apply)


__all__ = [
    "centralize",
    "normalize_by_update_norm",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_sign",
    "scale_by_trust_ratio",
]

r"""Projections onto boxes: sets that are products of intervals, so projected entry by entry.

:math:`\Pi_{[l, u]}(x)_i = \min(\max(x_i, l_i), u_i)` for each entry of each leaf: the
non-negative orthant, a box, a hypercube and an :math:`\ell_\infty` ball. Each output leaf keeps
its input leaf's dtype (bf16 in, bf16 out); ``None`` leaves pass through.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import storage, validation


def projection_non_negative(tree: Any) -> Any:
    r"""Projection onto the non-negative orthant: :math:`\Pi(x)_i = \max(x_i, 0)`.

    .. math:: \operatorname*{argmin}_{p} \|x - p\|_2^2 \quad \text{subject to} \quad p \ge 0

    Args:
      tree: the pytree :math:`x` to project (real leaves).

    Returns:
      A tree with the structure and leaf dtypes of ``tree``.

    References:
      Boyd & Vandenberghe, `Convex Optimization <https://web.stanford.edu/~boyd/cvxbook/>`_,
      2004, Sec. 8.1.
      Matches: ``optax.projections.projection_non_negative``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_non_negative
    >>> projection_non_negative(jnp.array([-1.0, 2.0]))
    Array([0., 2.], dtype=float32)
    """
    return jax.tree.map(jax.nn.relu, tree)


def _as_tree(bound: Any, tree: Any) -> Any:
    """``bound`` repeated at every leaf of ``tree`` when it is one array or number."""
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(bound)) and bound is not None:
        return jax.tree.map(lambda _: bound, tree)
    return bound


def _check_ordered(fn: str, lower: Any, upper: Any) -> None:
    """Raises when concrete bounds have some ``lower > upper`` (an empty box)."""

    def check(low: Any, high: Any) -> None:
        lo, hi = validation.concrete_value(low), validation.concrete_value(high)
        if lo is not None and hi is not None and np.any(lo > hi):
            raise ValueError(
                f"{fn}: lower must be <= upper everywhere (else the box is empty), got "
                f"lower={low!r} and upper={high!r}. Swap them, or pass e.g. lower=0.0, "
                "upper=1.0."
            )

    jax.tree.map(check, lower, upper)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    r"""Projection onto a box: :math:`\Pi(x)_i = \min(\max(x_i, l_i), u_i)`.

    .. math::
        \operatorname*{argmin}_{p} \|x - p\|_2^2 \quad \text{subject to} \quad l \le p \le u

    Args:
      tree: the pytree :math:`x` to project (real leaves).
      lower: :math:`l`, a scalar (for every leaf) or a tree with the structure of ``tree``
        whose leaves broadcast to its leaves.
      upper: :math:`u`, likewise; concrete bounds must satisfy :math:`l \le u` (checked).

    Returns:
      A tree with the structure and leaf dtypes of ``tree``.

    References:
      Parikh & Boyd, `Proximal Algorithms <https://web.stanford.edu/~boyd/papers/prox_algs.html>`_,
      2014, Sec. 6.2.1.
      Matches: ``optax.projections.projection_box`` (a scalar bound also applies to every leaf
      of a tree, and the leaf dtypes are kept).

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_box
    >>> projection_box(jnp.array([-1.0, 0.5, 3.0]), 0.0, 2.0)
    Array([0. , 0.5, 2. ], dtype=float32)
    """
    lower, upper = _as_tree(lower, tree), _as_tree(upper, tree)
    _check_ordered("projection_box", lower, upper)

    def clip(x: Any, low: Any, high: Any) -> jax.Array:
        dtype = storage.leaf_dtype(x)
        return jnp.clip(jnp.asarray(x), jnp.asarray(low, dtype), jnp.asarray(high, dtype))

    return jax.tree.map(clip, tree, lower, upper)


def projection_hypercube(tree: Any, scale: Any = 1.0) -> Any:
    r"""Projection onto the hypercube :math:`[0, s]^n`: :math:`\Pi(x)_i = \min(\max(x_i, 0), s)`.

    .. math::
        \operatorname*{argmin}_{p} \|x - p\|_2^2 \quad \text{subject to} \quad 0 \le p \le s

    Args:
      tree: the pytree :math:`x` to project (real leaves).
      scale: :math:`s \ge 0`, a scalar or a tree like ``lower`` of :func:`projection_box`;
        default 1 (the unit hypercube).

    Returns:
      A tree with the structure and leaf dtypes of ``tree``.

    References:
      Matches: ``optax.projections.projection_hypercube``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_hypercube
    >>> projection_hypercube(jnp.array([-1.0, 0.5, 3.0]))
    Array([0. , 0.5, 1. ], dtype=float32)
    """
    scale = _as_tree(scale, tree)
    jax.tree.map(
        lambda s: validation.check_non_negative("projection_hypercube", "scale", s, "1.0"), scale
    )
    return projection_box(tree, 0.0, scale)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Projection onto the :math:`\ell_\infty` ball of radius :math:`s`: clips to :math:`[-s, s]`.

    .. math::
        \operatorname*{argmin}_{p} \|x - p\|_2^2 \quad \text{subject to} \quad
        \|p\|_\infty \le s

    Args:
      tree: the pytree :math:`x` to project (real leaves); the norm is over all its entries.
      scale: the radius :math:`s \ge 0` (a scalar); default 1.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``.

    References:
      Matches: ``optax.projections.projection_linf_ball``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_linf_ball
    >>> projection_linf_ball(jnp.array([-3.0, 0.5, 2.0]), scale=1.0)
    Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    validation.check_non_negative("projection_linf_ball", "scale", scale, "1.0")
    validation.check_scalar("projection_linf_ball", "scale", scale)
    return projection_box(tree, -jnp.asarray(scale), scale)


__all__ = [
    "projection_box",
    "projection_hypercube",
    "projection_linf_ball",
    "projection_non_negative",
]

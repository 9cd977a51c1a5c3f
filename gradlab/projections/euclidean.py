r"""Projections written with the inner product of trees: :math:`\ell_2` balls and spheres,
lines, hyperplanes and halfspaces.

A tree is one vector here: :math:`\langle x, a \rangle = \sum_{\text{leaves}} \sum_i x_i a_i`
and :math:`\|x\|_2^2 = \langle x, x\rangle`, summed in float32 or wider. Each projection moves
:math:`x` along one direction (:math:`x` itself or :math:`a`), so it costs one inner product and
one scaled addition; each output leaf keeps the dtype of the matching leaf of ``x``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation


def _vdot(x: Any, y: Any) -> jax.Array:
    """:math:`\\langle x, y \\rangle` over all leaves, in float32 or wider (real leaves)."""
    products = jax.tree.map(
        lambda a, b: jnp.sum(storage.load(jnp.asarray(a)) * storage.load(jnp.asarray(b))), x, y
    )
    return jax.tree.reduce(jnp.add, products, jnp.zeros([], jnp.float32))


def _add_scaled(x: Any, c: jax.Array, a: Any) -> Any:
    """:math:`x + c\\,a` leaf by leaf, computed at float32 or wider, in the dtypes of ``x``."""
    return jax.tree.map(
        lambda xi, ai: (storage.load(jnp.asarray(xi)) + c * storage.load(jnp.asarray(ai))).astype(
            storage.leaf_dtype(xi)
        ),
        x,
        a,
    )


def _scaled(c: jax.Array, a: Any, like: Any) -> Any:
    """:math:`c\\,a` leaf by leaf, computed at float32 or wider, in the dtypes of ``like``."""
    return jax.tree.map(
        lambda ai, li: (c * storage.load(jnp.asarray(ai))).astype(storage.leaf_dtype(li)),
        a,
        like,
    )


def _check_pair(fn: str, x: Any, a: Any) -> None:
    """Raises a ValueError naming both structures when the trees ``x`` and ``a`` differ."""
    got, want = jax.tree.structure(x), jax.tree.structure(a)
    if got != want:  # type: ignore[operator]  # PyTreeDef supports ==
        raise ValueError(
            f"{fn}: x and a must have the same tree structure.\n  x: {got}\n  a: {want}\n"
            "Pass a shaped like x, e.g. a = jax.tree.map(jnp.ones_like, x)."
        )


def _check_scale(fn: str, scale: Any) -> None:
    validation.check_positive(fn, "scale", scale, "1.0")
    validation.check_scalar(fn, "scale", scale)


def _check_offset(fn: str, b: Any) -> None:
    validation.check_finite(fn, "b", b, "0.0")
    validation.check_scalar(fn, "b", b)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Projection onto the :math:`\ell_2` ball of radius :math:`s`, over the whole tree.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \|y\|_2 \le s, \qquad
        y = \frac{s}{\max(\|x\|_2, s)}\, x

    The factor is computed as :math:`s / \sqrt{\max(\|x\|_2^2, s^2)}`, so it and its
    derivative are finite at :math:`x = 0` (where the projection is the identity).

    Args:
      tree: the pytree :math:`x` to project (real leaves); the norm is over all its entries.
      scale: the radius :math:`s > 0`; default 1.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``.

    References:
      Parikh & Boyd, `Proximal Algorithms <https://web.stanford.edu/~boyd/papers/prox_algs.html>`_,
      2014, Sec. 6.5.1.
      Matches: ``optax.projections.projection_l2_ball``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_l2_ball
    >>> projection_l2_ball({"w": jnp.array([3.0, 4.0])}, scale=1.0)
    {'w': Array([0.6, 0.8], dtype=float32)}
    """
    _check_scale("projection_l2_ball", scale)
    squared_norm = _vdot(tree, tree)
    s = jnp.asarray(scale, squared_norm.dtype)
    factor = s / jnp.sqrt(jnp.maximum(squared_norm, s**2))
    return _scaled(factor, tree, tree)


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Projection onto the :math:`\ell_2` sphere of radius :math:`s`, over the whole tree.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \|y\|_2 = s, \qquad
        y = \frac{s}{\|x\|_2}\, x \quad (x \ne 0)

    Every point of the sphere is nearest to :math:`x = 0`; there the result is
    :math:`s\,\mathbf 1/\sqrt n` (:math:`n` entries), a point of the sphere, not NaN.

    Args:
      tree: the pytree :math:`x` to project (real leaves).
      scale: the radius :math:`s > 0`; default 1.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``, of :math:`\ell_2` norm :math:`s`.

    References:
      Matches: ``optax.projections.projection_l2_sphere``, except at :math:`x = 0` (optax
      returns NaN there).

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_l2_sphere
    >>> projection_l2_sphere(jnp.array([0.3, 0.4]), scale=10.0)
    Array([6., 8.], dtype=float32)
    """
    _check_scale("projection_l2_sphere", scale)
    squared_norm = _vdot(tree, tree)
    zero = squared_norm == 0
    s = jnp.asarray(scale, squared_norm.dtype)
    factor = s / jnp.sqrt(jnp.where(zero, jnp.ones_like(squared_norm), squared_norm))
    size = sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))  # static: shapes only
    at_zero = s / jnp.sqrt(jnp.asarray(max(size, 1), squared_norm.dtype))
    projected = _scaled(factor, tree, tree)
    return jax.tree.map(lambda y: jnp.where(zero, at_zero.astype(y.dtype), y), projected)


def projection_vector(x: Any, a: Any) -> Any:
    r"""Projection onto the line spanned by :math:`a`: :math:`\frac{\langle x, a\rangle}{\langle
    a, a\rangle}\, a`.

    .. math:: \operatorname*{argmin}_{y \in \{t a : t \in \mathbb R\}} \|x - y\|_2^2
        = \frac{\langle x, a \rangle}{\langle a, a \rangle}\, a

    Args:
      x: the pytree to project (real leaves).
      a: the direction, a nonzero tree with the structure of ``x`` (:math:`a = 0` gives NaN).

    Returns:
      A tree with the structure and leaf dtypes of ``x``.

    References:
      Boyd & Vandenberghe, `Convex Optimization <https://web.stanford.edu/~boyd/cvxbook/>`_,
      2004, Sec. 8.1.1.
      Matches: ``optax.projections.projection_vector``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_vector
    >>> projection_vector(jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
    Array([1.5, 1.5], dtype=float32)
    """
    _check_pair("projection_vector", x, a)
    c = _vdot(x, a) / _vdot(a, a)
    return _scaled(c, a, x)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
    r"""Projection onto the hyperplane :math:`\{y : \langle a, y\rangle = b\}`.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \langle a, y \rangle = b,
        \qquad y = x + \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\, a

    Args:
      x: the pytree to project (real leaves).
      a: the normal, a nonzero tree with the structure of ``x`` (:math:`a = 0` gives NaN).
      b: the offset :math:`b`, a finite scalar.

    Returns:
      A tree with the structure and leaf dtypes of ``x``.

    References:
      Boyd & Vandenberghe, `Convex Optimization <https://web.stanford.edu/~boyd/cvxbook/>`_,
      2004, Sec. 8.1.1.
      Matches: ``optax.projections.projection_hyperplane``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_hyperplane
    >>> projection_hyperplane(jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]), 1.0)
    Array([0., 1.], dtype=float32)
    """
    _check_pair("projection_hyperplane", x, a)
    _check_offset("projection_hyperplane", b)
    c = (jnp.asarray(b) - _vdot(a, x)) / _vdot(a, a)
    return _add_scaled(x, c, a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
    r"""Projection onto the halfspace :math:`\{y : \langle a, y\rangle \le b\}`.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \langle a, y \rangle \le b,
        \qquad y = x + \frac{\min(b - \langle a, x\rangle, 0)}{\langle a, a\rangle}\, a

    Args:
      x: the pytree to project (real leaves).
      a: the normal, a nonzero tree with the structure of ``x`` (:math:`a = 0` gives NaN).
      b: the offset :math:`b`, a finite scalar.

    Returns:
      A tree with the structure and leaf dtypes of ``x``; ``x`` itself (values) when it
      already lies in the halfspace.

    References:
      Boyd & Vandenberghe, `Convex Optimization <https://web.stanford.edu/~boyd/cvxbook/>`_,
      2004, Sec. 8.1.1.
      Matches: ``optax.projections.projection_halfspace``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_halfspace
    >>> a = jnp.array([1.0, 1.0])
    >>> projection_halfspace(jnp.array([1.0, 2.0]), a, 1.0), projection_halfspace(-a, a, 1.0)
    (Array([0., 1.], dtype=float32), Array([-1., -1.], dtype=float32))
    """
    _check_pair("projection_halfspace", x, a)
    _check_offset("projection_halfspace", b)
    c = jnp.minimum(jnp.asarray(b) - _vdot(a, x), 0) / _vdot(a, a)
    return _add_scaled(x, c, a)


__all__ = [
    "projection_halfspace",
    "projection_hyperplane",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_vector",
]

r"""Projections onto the simplex and onto :math:`\ell_1` balls and spheres.

All three act on the whole tree as one vector (its leaves raveled and concatenated, as optax
does): the entries of all leaves sum to :math:`s` after :func:`projection_simplex`. The
projection onto the simplex is a soft threshold, :math:`\Pi(x) = \max(x - \tau, 0)`, whose
threshold :math:`\tau` is found by sorting (Held, Wolfe & Crowder 1974; Duchi et al. 2008;
Condat 2016): :math:`O(n \log n)` for :math:`n` entries. The :math:`\ell_1` projections reduce to
it on :math:`|x|`. Arithmetic runs in float32 or wider; each output leaf keeps its input leaf's
dtype.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

from gradlab.core import storage, validation


@jax.custom_jvp
def _simplex_vector(values: jax.Array, scale: jax.Array) -> jax.Array:
    r"""Projection of a vector onto :math:`\{p \ge 0, \sum_i p_i = s\}`.

    With :math:`u` the entries sorted in decreasing order and :math:`c_j = \sum_{i \le j} u_i`,
    :math:`\rho = \#\{j : u_j - (c_j - s)/j > 0\}` and :math:`\tau = (c_\rho - s)/\rho`.
    """
    u = jnp.sort(values)[::-1]
    cumsum = jnp.cumsum(u)
    j = jnp.arange(1, values.shape[0] + 1, dtype=values.dtype)
    rho = jnp.count_nonzero(u - (cumsum - scale) / j > 0)
    tau = (cumsum[rho - 1] - scale) / rho.astype(values.dtype)
    return jax.nn.relu(values - tau)


@_simplex_vector.defjvp
def _simplex_vector_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    r"""On the support :math:`S` of the projection, :math:`\dot p_S = \dot x_S - (\mathbf 1^\top
    \dot x_S - \dot s)/|S|`, and :math:`\dot p = 0` off it."""
    values, scale = primals
    values_dot, scale_dot = tangents
    out = _simplex_vector(values, scale)
    support = (out > 0).astype(values.dtype)
    size = jnp.sum(support)
    shift = (jnp.dot(support, values_dot) - scale_dot) / size
    return out, support * (values_dot - shift)


def _check_scale(fn: str, scale: Any) -> None:
    validation.check_positive(fn, "scale", scale, "1.0")
    validation.check_scalar(fn, "scale", scale)


def _project_raveled(tree: Any, scale: Any, project: Any) -> Any:
    """``project(vector, scale)`` on the tree's entries, in float32 or wider, leaf dtypes kept."""
    values, unravel = flatten_util.ravel_pytree(tree)
    if values.size == 0:  # no entries: nothing to project
        return tree
    dtype = storage.compute_dtype(values.dtype)
    out = project(values.astype(dtype), jnp.asarray(scale, dtype))
    return unravel(out.astype(values.dtype))


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Euclidean projection onto the simplex of sum :math:`s`, over all entries of the tree.

    .. math::
        \Pi(x) = \operatorname*{argmin}_{p} \|x - p\|_2^2 \ \text{s.t.}\ p \ge 0,\
        \mathbf 1^\top p = s, \qquad \Pi(x) = \max(x - \tau, 0)

    where :math:`\tau` solves :math:`\sum_i \max(x_i - \tau, 0) = s`: with :math:`u` the
    entries in decreasing order and :math:`c_j = u_1 + \dots + u_j`,
    :math:`\rho = \max\{j : u_j > (c_j - s)/j\}` and :math:`\tau = (c_\rho - s)/\rho`. The
    Jacobian-vector product is the closed form (a custom JVP, so ``jax.grad`` and ``jax.jacrev``
    do not differentiate through the sort): :math:`\dot p = \mathbb 1_S \odot (\dot x -
    (\mathbb 1_S^\top \dot x - \dot s)/|S|)` on the support :math:`S`.

    Args:
      tree: the pytree :math:`x` to project (real leaves); all its entries form one vector.
      scale: the sum :math:`s > 0` (a scalar); default 1, the probability simplex.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``, whose entries are >= 0 and sum
      to :math:`s`.

    References:
      Duchi, Shalev-Shwartz, Singer & Chandra, `Efficient Projections onto the l1-Ball for
      Learning in High Dimensions <https://doi.org/10.1145/1390156.1390191>`_, ICML 2008,
      Fig. 1. Condat, `Fast projection onto the simplex and the l1 ball
      <https://doi.org/10.1007/s10107-015-0946-6>`_, Math. Program. 158, 2016, Alg. 1.
      Matches: ``optax.projections.projection_simplex``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_simplex
    >>> projection_simplex(jnp.array([0.5, 1.5, -1.0]))  # tau = 0.5
    Array([0., 1., 0.], dtype=float32)
    """
    _check_scale("projection_simplex", scale)
    return _project_raveled(tree, scale, _simplex_vector)


def _l1_sphere_vector(values: jax.Array, scale: jax.Array) -> jax.Array:
    sign = jnp.where(values < 0, -1, 1).astype(values.dtype)  # a zero entry may go either way
    return sign * _simplex_vector(jnp.abs(values), scale)


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Projection onto the :math:`\ell_1` sphere of radius :math:`s`, over the whole tree.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \|y\|_1 = s, \qquad
        y = \sigma \odot \Pi_{\Delta_s}(|x|)

    with :math:`\Pi_{\Delta_s}` the projection onto the simplex of sum :math:`s`
    (:func:`projection_simplex`) and :math:`\sigma_i = \operatorname{sign}(x_i)`, taken as
    :math:`+1` where :math:`x_i = 0` (the sphere is not convex: there either sign is optimal).

    Args:
      tree: the pytree :math:`x` to project (real leaves).
      scale: the radius :math:`s > 0`; default 1.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``, of :math:`\ell_1` norm :math:`s`.

    References:
      Duchi et al., `Efficient Projections onto the l1-Ball
      <https://doi.org/10.1145/1390156.1390191>`_, ICML 2008, Sec. 4.
      Matches: ``optax.projections.projection_l1_sphere``, except at zero entries, which optax
      keeps at zero (its output then lies off the sphere when :math:`\|x\|_1 < s`).

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_l1_sphere
    >>> projection_l1_sphere(jnp.array([0.5, -0.25, 0.0]), scale=1.5)  # each moved out by 0.25
    Array([ 0.75, -0.5 ,  0.25], dtype=float32)
    """
    _check_scale("projection_l1_sphere", scale)
    return _project_raveled(tree, scale, _l1_sphere_vector)


def _l1_ball_vector(values: jax.Array, scale: jax.Array) -> jax.Array:
    inside = jnp.sum(jnp.abs(values)) <= scale
    return jax.lax.cond(inside, lambda v: v, lambda v: _l1_sphere_vector(v, scale), values)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1.0) -> Any:
    r"""Projection onto the :math:`\ell_1` ball of radius :math:`s`, over the whole tree.

    .. math::
        \operatorname*{argmin}_{y} \|x - y\|_2^2 \ \text{s.t.}\ \|y\|_1 \le s, \qquad
        y = \begin{cases} x & \|x\|_1 \le s \\
        \operatorname{sign}(x) \odot \max(|x| - \tau, 0) & \text{otherwise} \end{cases}

    where :math:`\tau > 0` is the simplex threshold of :math:`|x|` (:func:`projection_simplex`):
    a soft threshold. Inside the ball it is the identity (and so is its derivative).

    Args:
      tree: the pytree :math:`x` to project (real leaves).
      scale: the radius :math:`s > 0`; default 1.

    Returns:
      A tree with the structure and leaf dtypes of ``tree``, of :math:`\ell_1` norm
      :math:`\le s`.

    References:
      Duchi et al., `Efficient Projections onto the l1-Ball
      <https://doi.org/10.1145/1390156.1390191>`_, ICML 2008, Sec. 4.
      Condat, `Fast projection onto the simplex and the l1 ball
      <https://doi.org/10.1007/s10107-015-0946-6>`_, 2016.
      Matches: ``optax.projections.projection_l1_ball``.

    >>> import jax.numpy as jnp
    >>> from gradlab.projections import projection_l1_ball
    >>> projection_l1_ball(jnp.array([2.0, -1.5]), scale=1.5)  # tau = 1
    Array([ 1. , -0.5], dtype=float32)
    """
    _check_scale("projection_l1_ball", scale)
    return _project_raveled(tree, scale, _l1_ball_vector)


__all__ = ["projection_l1_ball", "projection_l1_sphere", "projection_simplex"]

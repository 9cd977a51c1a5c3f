"""Pytree arithmetic shared by the primitives.

Every function maps over the leaves with ``jax.tree.map`` (no Python loop over leaves); ``None``
leaves are empty subtrees and pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import storage
from gradlab.core.base import Updates


def zeros_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """A tree of zeros shaped like ``tree`` (each leaf's dtype unless ``dtype`` is given)."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def full_like(
    tree: Any, value: jax.typing.ArrayLike, dtype: jax.typing.DTypeLike | None = None
) -> Any:
    """A tree filled with ``value``, with the shapes (and dtypes, unless given) of ``tree``."""
    return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def update_moment(updates: Updates, moment: Any, decay: jax.typing.ArrayLike, order: int) -> Any:
    r"""Exponential moving average of the ``order``-th power: :math:`\beta m + (1-\beta) g^k`.

    For complex leaves the second moment is of :math:`|g|^2 = g \bar g` (real), as optax's.
    ``moment`` is read through :func:`gradlab.core.storage.load` (float32 or wider).
    """
    return jax.tree.map(
        lambda g, m: (1 - decay) * storage.power(g, order) + decay * storage.load(m),
        updates,
        moment,
    )


def bias_correction(moment: Any, decay: jax.typing.ArrayLike, count: jax.Array) -> Any:
    r"""Divides by :math:`1-\beta^t`, computed as :math:`-\operatorname{expm1}(t \log \beta)`.

    The direct form ``1 - decay**count`` (optax's) rounds :math:`\beta^t` near 1 and then
    cancels: in float32, for :math:`\beta = 0.999` and small :math:`t` it is off by up to ~1e-5
    relative; the expm1 form is off by ~1e-7 of the exact value for the same float32
    :math:`\beta`. The factor is formed at ``count``'s promotion (float32 or wider, so a bf16
    moment does not round :math:`\beta^t` to 1); the division runs in float32 or wider and the
    result is cast back to each leaf's dtype.
    """
    exponent = count * jnp.log(jnp.asarray(decay))
    # A decay that rounds to 1 in the hyperparameters' dtype (b2 = 1 - 1e-9 in float32) gives a
    # zero correction of a moment that never moved from 0: the moment is returned uncorrected.
    # expm1(x) is 0 exactly when x is, so the guard goes before expm1 (-expm1(-inf) = 1): XLA
    # copies the cheap scalar ops after the last expensive one into every leaf's fused loop.
    exponent = jnp.where(exponent == 0, -jnp.inf, exponent)
    correction = -jnp.expm1(exponent)

    def corrected(m: jax.Array) -> jax.Array:
        wide = storage.load(jnp.asarray(m))
        return (wide / correction.astype(wide.dtype)).astype(storage.leaf_dtype(m))

    return jax.tree.map(corrected, moment)


def is_mask_function(mask: Any) -> bool:
    """Whether ``mask`` is a function ``params -> mask tree`` rather than a mask tree itself.

    A callable *pytree* (an Equinox module, a Flax struct with ``__call__``) whose leaves are
    bools is a mask tree, as in optax (its issue #913): a mask is a function only when every leaf
    of it is callable.
    """
    leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return bool(leaves) and all(leaves)


def is_placeholder(params: Any) -> bool:
    """Whether ``params`` is a leafless stand-in object, e.g. the placeholder with which
    ``optax.tree.map_params`` calls ``init`` to find the parameter-shaped parts of a state.

    Masks and labels cannot be applied to it; ``masked`` and ``partition`` pass it through.
    """
    return (
        not isinstance(params, (dict, list, tuple))
        and params is not None
        and not jax.tree.leaves(params)
        and jax.tree.structure(params).num_nodes == 1  # type: ignore[attr-defined]
        and not hasattr(params, "shape")
    )


def mask_out(tree_: Any, mask: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``tree_`` with the leaves where ``mask`` (a prefix tree of bools) is False set to None.

    ``is_leaf`` marks nodes to drop whole (e.g. ``nnx.Variable``s, so none is left holding None).
    """
    return jax.tree.map(
        lambda m, sub: sub if m else jax.tree.map(lambda _: None, sub, is_leaf=is_leaf),
        mask,
        tree_,
    )


def merge(updates: Any, new: Any) -> Any:
    """``updates`` with the leaves that ``new`` holds (those that are not None) taken from it.

    ``new`` leads the map: where it holds ``None`` for a whole node of ``updates`` (an
    ``nnx.Variable`` that :func:`mask_out` dropped whole), that node is kept as it is.
    """
    return jax.tree.map(
        lambda u, g: g if u is None else u, new, updates, is_leaf=lambda x: x is None
    )


def safe_increment(count: jax.Array, by: int = 1) -> jax.Array:
    """``count + by`` (``by >= 0``), saturating at the dtype maximum instead of wrapping around."""
    count = jnp.asarray(count)
    max_value = jnp.iinfo(count.dtype).max
    return jnp.where(count <= max_value - by, count + by, max_value)


def sum_of_squares(tree: Any) -> jax.Array:
    r""":math:`\sum_i |x_i|^2` over every entry of every leaf, in float32 or wider.

    Complex entries contribute :math:`|z|^2` (real), ``None`` leaves nothing; an empty tree gives 0.
    The squares are summed in float32 (float64 when a leaf is float64), so a bf16 or float16 tree
    does not overflow early. One definition for :func:`norm`, the clipping transforms and the skip
    functions.
    """
    squares = jax.tree.map(lambda x: jnp.sum(storage.power(x, 2)), tree)
    return jax.tree.reduce(jnp.add, squares, jnp.zeros([], jnp.float32))


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(x)`` whose derivative at ``x = 0`` is 0 rather than NaN; NaN stays NaN."""
    zero = x == 0
    return jnp.where(zero, jnp.zeros_like(x), jnp.sqrt(jnp.where(zero, jnp.ones_like(x), x)))


def norm(tree: Any) -> jax.Array:
    r"""The Euclidean norm of a pytree, :math:`\sqrt{\sum_i |x_i|^2}` (see :func:`sum_of_squares`);
    its derivative at 0 is 0, not NaN."""
    return safe_sqrt(sum_of_squares(tree))


def gather_whole(x: jax.Array) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """``x`` replicated, and the function that gives a result ``x``'s sharding back.

    Matrix functions (Newton–Schulz, eigendecompositions) contract every axis of a leaf; under an
    explicit mesh JAX refuses a product over a sharded axis without an output sharding. They run
    on the whole matrix (gathered once) and their result is sharded like the input again. Outside
    an explicit mesh both are the identity.
    """
    sharding = getattr(jax.typeof(x), "sharding", None)
    spec = getattr(sharding, "spec", None)
    mesh = getattr(sharding, "mesh", None)
    explicit = (
        mesh is not None
        and not getattr(mesh, "empty", True)
        and any(t == jax.sharding.AxisType.Explicit for t in getattr(mesh, "axis_types", ()))
    )
    if not explicit or spec is None or all(s is None for s in spec):
        return x, lambda y: y
    return jax.sharding.reshard(x, jax.sharding.PartitionSpec()), lambda y: jax.sharding.reshard(
        y, spec
    )

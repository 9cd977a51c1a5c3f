"""Pytree arithmetic shared by the primitives.

Every function maps over the leaves with ``jax.tree.map`` (no Python loop over leaves); ``None``
leaves are empty subtrees and pass through untouched.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core.base import Updates


def zeros_like(tree: Any, dtype: jax.typing.DTypeLike | None = None) -> Any:
    """A tree of zeros shaped like ``tree`` (each leaf's dtype unless ``dtype`` is given)."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def full_like(
    tree: Any, value: jax.typing.ArrayLike, dtype: jax.typing.DTypeLike | None = None
) -> Any:
    """A tree filled with ``value``, with the shapes (and dtypes, unless given) of ``tree``."""
    return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def wide_dtype(dtype: jax.typing.DTypeLike) -> Any:
    """The dtype to accumulate squares of ``dtype`` values in: float32 for float16, else itself.

    float16 tops out at 65504, so the square of a gradient entry above 256 overflows it; bfloat16
    has float32's range and is kept (pass ``nu_dtype=jnp.float32`` for its precision).
    """
    return jnp.float32 if jnp.dtype(dtype) == jnp.float16 else dtype


def full_like_wide(tree: Any, value: jax.typing.ArrayLike, dtype: Any | None = None) -> Any:
    """``full_like`` for accumulators of squares: ``dtype`` if given, else ``wide_dtype(leaf)``."""
    return jax.tree.map(lambda x: jnp.full_like(x, value, dtype=dtype or wide_dtype(x.dtype)), tree)


def upcast(x: jax.Array) -> jax.Array:
    """``x`` in at least float32, the precision gradlab's moment arithmetic runs in."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def cast_like(tree: Any, reference: Any) -> Any:
    """Casts every leaf of ``tree`` to the dtype of the matching leaf of ``reference``."""
    return jax.tree.map(lambda x, r: jnp.asarray(x).astype(jnp.asarray(r).dtype), tree, reference)


def check_structure(name: str, updates: Updates, reference: Any, what: str = "state") -> None:
    """Raises a ValueError naming both tree structures when ``updates`` and ``reference`` differ.

    Runs at trace time on the tree structure only, so it costs nothing inside ``jit``.
    """
    got, want = jax.tree.structure(updates), jax.tree.structure(reference)
    if got != want:  # type: ignore[operator]  # PyTreeDef supports ==
        fix = {
            "params": "Pass the gradients of exactly these params: jax.grad(loss)(params).",
        }.get(what, "Call init() with params of the same structure as the gradients you pass.")
        raise ValueError(
            f"{name}: the tree structure of the updates differs from that of the {what}.\n"
            f"  updates: {got}\n  {what}: {want}\n{fix}"
        )


def check_float_leaves(name: str, tree_: Any, what: str) -> None:
    """Raises a TypeError naming the first leaf of ``tree_`` that is not floating point."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree_):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{name}: the {what} leaf {jax.tree_util.keystr(path) or '(root)'} has dtype "
                f"{dtype}; only floating-point leaves can be optimized. Cast it with "
                ".astype(jnp.float32), or keep it out of the optimized tree (e.g. nnx's "
                "wrt=nnx.Param, or a frozen gradlab.param_groups rule)."
            )


def update_moment(updates: Updates, moment: Any, decay: jax.typing.ArrayLike, order: int) -> Any:
    r"""Exponential moving average of the ``order``-th power: :math:`\beta m + (1-\beta) g^k`."""
    return jax.tree.map(
        lambda g, m: (1 - decay) * (upcast(g) ** order) + decay * m, updates, moment
    )


def bias_correction(moment: Any, decay: jax.typing.ArrayLike, count: jax.Array) -> Any:
    r"""Divides by :math:`1-\beta^t`, computed as :math:`-\operatorname{expm1}(t \log \beta)`.

    The direct form ``1 - decay**count`` (optax's) rounds :math:`\beta^t` near 1 and then
    cancels: in float32, for :math:`\beta = 0.999` and small :math:`t` it is off by up to ~1e-5
    relative; the expm1 form is off by ~1e-7 of the exact value for the same float32
    :math:`\beta`. The factor is formed at ``count``'s promotion (float32 or wider, so a bf16
    moment does not round :math:`\beta^t` to 1) and cast to each leaf's dtype to divide.
    """
    correction = -jnp.expm1(count * jnp.log(jnp.asarray(decay)))
    return jax.tree.map(lambda m: m / correction.astype(m.dtype), moment)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1``, saturating at the dtype's maximum instead of wrapping around."""
    count = jnp.asarray(count)
    max_value = jnp.iinfo(count.dtype).max
    return jnp.where(count < max_value, count + 1, max_value)

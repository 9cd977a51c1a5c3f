"""The storage policy: in which dtype optimizer state is kept, and how it is read and written.

Every primitive that keeps a parameter-shaped statistic goes through these functions, so that a
storage format is decided in one place:

* **init**: a statistic of the params is stored in the params' dtype, unless the caller asks
  for another floating dtype (``mu_dtype``, ``nu_dtype``, ``accumulator_dtype``). Squares are
  the exception: the second moment of float16 params is stored in float32 (float16 tops out at
  65504, so the square of a gradient entry above 256 overflows), and the second moment of
  complex params is real (:math:`|g|^2`).
* **load**: a stored statistic is read in float32 or wider: moment arithmetic never runs in
  bf16/f16.
* **store**: the new value is cast back to the stored dtype.
* **output**: what a primitive returns has the promotion of the incoming updates' dtype and the
  stored dtype, computed from the value *before* it was rounded for storage (as optax does with
  ``mu_dtype``).

bf16 or 8-bit moments plug in here: a new storage format changes ``init``/``load``/``store``,
not the primitives.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def leaf_dtype(leaf: Any) -> Any:
    """The dtype JAX gives ``leaf`` (a Python float or a float64 NumPy array is float32 unless
    x64 is enabled), so Python and NumPy params initialise like ``jnp`` arrays."""
    return jax.dtypes.canonicalize_dtype(jnp.result_type(leaf))


def compute_dtype(dtype: Any) -> Any:
    """The dtype moment arithmetic runs in for ``dtype`` values: float32 or wider."""
    return jnp.promote_types(dtype, jnp.float32)


def real_dtype(dtype: Any) -> Any:
    """The real dtype of ``dtype``'s magnitude: float32 for complex64, else ``dtype``."""
    return jnp.finfo(dtype).dtype if jnp.issubdtype(dtype, jnp.complexfloating) else dtype


def storage_dtype(param_dtype: Any, requested: Any = None, *, squared: bool = False) -> Any:
    """The dtype a statistic of ``param_dtype`` params is stored in (see the module docstring)."""
    if requested is not None:
        return jnp.dtype(requested)
    if squared:
        dtype = real_dtype(param_dtype)
        return jnp.float32 if jnp.dtype(dtype) == jnp.float16 else dtype
    return param_dtype


def init(
    params: Any, value: jax.typing.ArrayLike = 0.0, dtype: Any = None, *, squared: bool = False
) -> Any:
    """A statistic of ``params`` filled with ``value``, in its storage dtype."""
    return jax.tree.map(
        lambda p: jnp.full(
            jnp.shape(p), value, dtype=storage_dtype(leaf_dtype(p), dtype, squared=squared)
        ),
        params,
    )


def load(stored: jax.Array) -> jax.Array:
    """A stored statistic, read for arithmetic (float32 or wider)."""
    return stored.astype(compute_dtype(stored.dtype))


def power(g: jax.Array, order: int) -> jax.Array:
    r"""``g`` (order 1) or :math:`|g|^2 = g\bar g` (order 2, real), in float32 or wider."""
    g = load(jnp.asarray(g))
    if order == 1:
        return g
    if jnp.iscomplexobj(g):
        return jnp.real(g * jnp.conj(g))
    return g**order


def store(new: Any, stored: Any) -> Any:
    """``new`` cast, leaf by leaf, to the dtype of the matching ``stored`` leaf."""
    # jnp.result_type, not .dtype: a stored leaf may be a Python number (optax.tree.set puts one)
    return jax.tree.map(lambda x, s: jnp.asarray(x).astype(jnp.result_type(s)), new, stored)


def output(value: Any, updates: Any, stored: Any) -> Any:
    """``value`` as a primitive returns it: the promotion of the updates' and the stored dtype."""
    return jax.tree.map(
        lambda v, g, s: jnp.asarray(v).astype(jnp.promote_types(leaf_dtype(g), s.dtype)),
        value,
        updates,
        stored,
    )


def like(value: Any, reference: Any) -> Any:
    """``value`` cast, leaf by leaf, to the dtype of ``reference`` (output in the input dtype)."""
    return jax.tree.map(lambda x, r: jnp.asarray(x).astype(leaf_dtype(r)), value, reference)

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

**Storage formats.** The dtype arguments pick a floating dtype: ``mu_dtype=jnp.bfloat16`` keeps
a moment in bf16 (half the bytes) with float32 arithmetic. A primitive or alias that also takes
``state_format`` offers a denser format for its moments:

* ``state_format=None`` (the default): the dtype rules above;
* ``state_format="8bit"``, or ``Blockwise8bit(block_size=2048, min_size=4096)`` for other
  sizes: 8-bit block-wise dynamic quantization (Dettmers et al. 2022,
  :mod:`gradlab.core.quantization`). Each statistic leaf with at least ``min_size`` real
  entries is stored as a :class:`~gradlab.core.quantization.Quantized` NamedTuple (uint8 codes
  of the leaf's shape, one float32 absmax scale per block of ``block_size`` entries): about 1
  byte per entry instead of 4. Statistics that may be negative (a momentum) use the signed code
  map; squares (a second moment, AdaGrad's sum) the unsigned one. Smaller leaves (biases,
  norm scales; as bitsandbytes, below 4096 entries) and complex leaves keep the dense dtype
  rules: they save little and lose the most. ``load`` dequantizes to float32, the arithmetic
  runs in float32 and ``store`` quantizes the result again; the output is computed before
  that rounding.

A new format changes ``init``/``load``/``store`` here, not the primitives: a primitive passes
``state_format`` to :func:`init` and checks its state's structure with :func:`as_leaves`.

References:
  Dettmers, Lewis, Shleifer & Zettlemoyer, `8-bit Optimizers via Block-wise Quantization
  <https://arxiv.org/abs/2110.02861>`_, ICLR 2022.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core.quantization import (
    Blockwise8bit,
    Quantized,
    dequantize_blockwise,
    full_quantized,
    quantize_like,
)

#: What a ``state_format`` argument takes: ``None``, ``"8bit"`` or a :class:`Blockwise8bit`.
StateFormat = Blockwise8bit | str | None


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


def check_state_format(fn: str, state_format: Any) -> Blockwise8bit | None:
    """``state_format`` resolved (``"8bit"`` is ``Blockwise8bit()``), or a ValueError naming it."""
    if state_format is None or isinstance(state_format, Blockwise8bit):
        return state_format
    if isinstance(state_format, str) and state_format == "8bit":
        return Blockwise8bit()
    raise ValueError(
        f"{fn}: state_format must be None, '8bit' or a gradlab.Blockwise8bit(...), got "
        f"{state_format!r}. Pass e.g. state_format='8bit' (or a dtype as mu_dtype/nu_dtype for "
        "bf16 moments)."
    )


def _quantizes(leaf: Any, state_format: Blockwise8bit, dtype: Any) -> bool:
    """Whether a statistic of ``leaf`` is quantized: real, with ``min_size`` entries or more."""
    return jnp.size(leaf) >= max(state_format.min_size, 1) and not jnp.issubdtype(
        dtype, jnp.complexfloating
    )


def init(
    params: Any,
    value: jax.typing.ArrayLike = 0.0,
    dtype: Any = None,
    *,
    squared: bool = False,
    state_format: Blockwise8bit | None = None,
) -> Any:
    """A statistic of ``params`` filled with ``value``, in its storage dtype or format."""

    def leaf(p: Any) -> Any:
        if state_format is not None and _quantizes(p, state_format, leaf_dtype(p)):
            return full_quantized(jnp.shape(p), value, state_format.block_size, signed=not squared)
        # full_like, not full(shape): under jit with an explicit mesh the statistic takes p's
        # sharding
        return jnp.full_like(p, value, dtype=storage_dtype(leaf_dtype(p), dtype, squared=squared))

    return jax.tree.map(leaf, params)


def is_quantized(stored: Any) -> bool:
    """Whether ``stored`` is a quantized leaf (a :class:`~gradlab.core.quantization.Quantized`)."""
    return isinstance(stored, Quantized)


def as_leaves(stored: Any) -> Any:
    """``stored`` with each quantized leaf replaced by its codes: a tree of the params'
    structure, for structure checks (``validation.check_structure(fn, updates, as_leaves(s))``).
    """
    return jax.tree.map(lambda s: s.codes if is_quantized(s) else s, stored, is_leaf=is_quantized)


def load(stored: Any) -> jax.Array:
    """A stored statistic, read for arithmetic (float32 or wider; a quantized one dequantized)."""
    if is_quantized(stored):
        return dequantize_blockwise(stored)
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

    def leaf(x: Any, s: Any) -> Any:
        if is_quantized(s):  # the same format: block size (from the shapes) and code map
            return quantize_like(x, s)
        # jnp.result_type, not .dtype: a stored leaf may be a Python number (optax.tree.set
        # puts one)
        return jnp.asarray(x).astype(jnp.result_type(s))

    return jax.tree.map(leaf, new, stored)


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

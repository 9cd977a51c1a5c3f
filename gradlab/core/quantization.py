r"""8-bit block-wise dynamic quantization of optimizer state (Dettmers et al. 2022).

An array is cut, in row-major order, into blocks of ``block_size`` entries (the last one may be
shorter). Each block keeps its absolute maximum :math:`s_b = \max_{i \in b} |x_i|` in float32
and one uint8 code per entry: the index of the value of the *dynamic* code map :math:`Q`
(256 values in :math:`[-1, 1]`) nearest to :math:`x_i / s_b`. Dequantization is
:math:`\tilde x_i = s_b\, Q[c_i]`, so the error of an entry is at most half the gap between the
two code values around :math:`x_i/s_b`, times :math:`s_b` (at most :math:`0.00704\, s_b` for
the signed map, :math:`0.00352\, s_b` for the unsigned one).

The dynamic map (Dettmers' dynamic tree quantization, in the form bitsandbytes builds it) has
a wide range and is dense near 0, where most optimizer-state entries are: 7 decades, the
decade :math:`[10^{k-6}, 10^{k-5}]` (:math:`k = 0..6`) holding :math:`2^k` values of a linear
fraction (:math:`2^{k+1}` in the unsigned map, which spends the sign bit on them). The signed
map is for first moments (momentum), the unsigned map for second moments (:math:`v \ge 0`).

A :class:`Quantized` (signed map) or :class:`UnsignedQuantized` is a NamedTuple of the codes
(uint8, the array's shape) and the scales (float32, one per block): arrays only, so it goes
through ``jax.jit``, ``jax.eval_shape`` and ``flax.serialization`` like any state. The block
size is a power of two and is read back from the two shapes (``ceil(n / block_size)`` blocks).
:mod:`gradlab.core.storage` uses these functions for ``state_format="8bit"``.

References:
  Dettmers, Lewis, Shleifer & Zettlemoyer, `8-bit Optimizers via Block-wise Quantization
  <https://arxiv.org/abs/2110.02861>`_, ICLR 2022 (Sec. 2: block-wise quantization, dynamic
  quantization); bitsandbytes' ``create_dynamic_map`` (the map's construction).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Entries per block (bitsandbytes' default for its 8-bit optimizers).
DEFAULT_BLOCK_SIZE = 2048
#: Leaves with fewer entries keep a dense state (bitsandbytes' ``min_8bit_size``).
DEFAULT_MIN_SIZE = 4096


@functools.cache
def _dynamic_map(signed: bool) -> np.ndarray:
    data: list[float] = []
    for k in range(7):  # 7 exponent bits at most: decades 1e-6 .. 1
        fraction_items = 2**k + 1 if signed else 2 ** (k + 1) + 1
        boundaries = np.linspace(0.1, 1.0, fraction_items, dtype=np.float32)
        means = (boundaries[:-1] + boundaries[1:]) / np.float32(2.0)
        data += (10.0 ** (k - 6) * means).tolist()
        if signed:
            data += (-(10.0 ** (k - 6)) * means).tolist()
    data += [0.0, 1.0]
    out = np.sort(np.asarray(data, np.float32))
    out.setflags(write=False)
    return out


def dynamic_map(signed: bool = True) -> np.ndarray:
    r"""The 256 values of the 8-bit dynamic code map, sorted, float32, in :math:`[-1, 1]`.

    Args:
      signed: the signed map (127 negative values, 0, 128 positive up to 1) for first moments;
        ``False`` for the unsigned map (0, 255 positive values up to 1) for second moments.

    Returns:
      A read-only float32 NumPy array of shape ``(256,)``.

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022, Sec. 2 (dynamic tree quantization).

    >>> from gradlab.core import quantization
    >>> q = quantization.dynamic_map()
    >>> q.shape, float(q.min()), float(q.max()), round(float(q[q > 0].min()), 9)
    ((256,), -0.992968738079071, 1.0, 5.5e-07)
    """
    return _dynamic_map(bool(signed))


class Quantized(NamedTuple):
    """An array in 8-bit block-wise dynamic quantization, with the signed map.

    ``codes``: uint8, the array's shape; ``scales``: float32 ``(num_blocks,)``, each block's
    absolute maximum.
    """

    codes: jax.Array
    scales: jax.Array

    @property
    def signed(self) -> bool:
        """Whether the codes index the signed map."""
        return True

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the quantized array."""
        return tuple(self.codes.shape)

    @property
    def dtype(self) -> Any:
        """The dtype it dequantizes to (float32)."""
        return jnp.dtype(jnp.float32)


class UnsignedQuantized(Quantized):
    """An array of non-negative values in 8-bit block-wise quantization (the unsigned map)."""

    __slots__ = ()

    @property
    def signed(self) -> bool:
        """Whether the codes index the signed map (not here: the unsigned one)."""
        return False


@dataclasses.dataclass(frozen=True)
class Blockwise8bit:
    """The 8-bit block-wise storage format, as a ``state_format`` argument takes it.

    Args:
      block_size: entries per block, a power of two >= 16; default 2048.
      min_size: leaves with fewer entries (and non-real leaves) keep a dense state; default
        4096, as bitsandbytes (small leaves save little and lose the most).

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022.

    >>> from gradlab.core import quantization
    >>> quantization.Blockwise8bit(block_size=256).min_size
    4096
    """

    block_size: int = DEFAULT_BLOCK_SIZE
    min_size: int = DEFAULT_MIN_SIZE

    def __post_init__(self) -> None:
        b = self.block_size
        if isinstance(b, bool) or not isinstance(b, int) or b < 16 or b & (b - 1):
            raise ValueError(
                f"Blockwise8bit: block_size must be a power of two >= 16, got {b!r}. Pass e.g. "
                "block_size=2048."
            )
        m = self.min_size
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(
                f"Blockwise8bit: min_size must be an int >= 0, got {m!r}. Pass e.g. min_size=4096."
            )


def _num_blocks(size: int, block_size: int) -> int:
    return max(1, math.ceil(size / block_size))


def _block_size_of(size: int, num_blocks: int) -> int:
    """The power-of-two block size that cut ``size`` entries into ``num_blocks`` blocks."""
    if num_blocks <= 1:  # one block: any power of two that holds all the entries
        return max(16, 1 << max(0, math.ceil(math.log2(max(size, 1)))))
    block = 1 << max(0, math.ceil(math.log2(size / num_blocks)))
    while _num_blocks(size, block) > num_blocks:
        block *= 2
    return block


def _blocks(x: jax.Array, block_size: int) -> jax.Array:
    """``x`` flattened, zero-padded and reshaped to ``(num_blocks, block_size)``."""
    flat = jnp.ravel(x)
    blocks = _num_blocks(flat.size, block_size)
    return jnp.pad(flat, (0, blocks * block_size - flat.size)).reshape(blocks, block_size)


def _nearest_codes(normalized: jax.Array, signed: bool) -> jax.Array:
    r"""The code of the map value nearest to each entry of ``normalized`` (in [-1, 1]), uint8.

    Elementwise, from the map's structure rather than a search over its 256 values: the
    decade :math:`k` of :math:`|x|` and the nearest of its :math:`n_k` equally spaced values
    give an index :math:`i` into the sorted magnitudes, and the nearest of :math:`i - 1, i,
    i + 1` corrects a decade boundary (and the rounding of :math:`\log_{10}`): three lookups
    in a 129- or 256-entry table instead of the 8 dependent ones of a binary search (half the
    step time of ``jnp.searchsorted`` on XLA:CPU).
    """
    a = jnp.abs(normalized)
    # sorted magnitudes: [0, decade 0, ..., decade 6, 1.0]; decade k has n_k values
    table = jnp.asarray(dynamic_map(signed)[127:] if signed else dynamic_map(False))
    k = jnp.clip(jnp.floor(jnp.log10(jnp.maximum(a, 1e-30))) + 7, 0, 6).astype(jnp.int32)
    n_k = jnp.left_shift(1 if signed else 2, k)
    offset = n_k if signed else n_k - 1  # 1 + n_0 + ... + n_{k-1}
    decade = jnp.asarray([10.0 ** (i - 6) for i in range(7)], jnp.float32)[k]
    j = jnp.round((a / decade - 0.1) / 0.9 * n_k - 0.5)
    i = offset + jnp.clip(j, 0, n_k - 1).astype(jnp.int32)
    # negative entries have no -1.0: their largest magnitude is table[127]
    top = jnp.where(normalized < 0, 127, table.shape[0] - 1) if signed else table.shape[0] - 1
    best, best_err = i, jnp.full_like(a, jnp.inf)
    for c in (i - 1, i, i + 1):  # three candidates, not a loop over leaves
        c = jnp.clip(c, 0, top)
        err = jnp.abs(table[c] - a)
        best, best_err = jnp.where(err < best_err, c, best), jnp.minimum(err, best_err)
    if signed:
        best = jnp.where(normalized < 0, 127 - best, 127 + best)
    return best.astype(jnp.uint8)


def quantize_blockwise(
    x: jax.typing.ArrayLike, block_size: int = DEFAULT_BLOCK_SIZE, signed: bool = True
) -> Quantized:
    r"""Quantizes a real array to 8-bit codes with a float32 absmax scale per block.

    .. math::
        s_b = \max_{i \in b} |x_i|, \qquad c_i = \operatorname{argmin}_c |Q[c] - x_i / s_b|

    (a block of zeros has :math:`s_b = 0` and codes of 0.0).

    Args:
      x: a real array (any shape; computed in float32).
      block_size: entries per block, a power of two; default 2048.
      signed: use the signed map (any sign) or the unsigned one (``x >= 0``, finer).

    Returns:
      ``Quantized(codes, scales)`` (``UnsignedQuantized`` when ``signed=False``).

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022, Sec. 2.

    >>> import jax.numpy as jnp
    >>> from gradlab.core import quantization
    >>> q = quantization.quantize_blockwise(jnp.array([0.5, -1.0, 0.0, 2.0]), block_size=16)
    >>> q.codes.dtype, q.scales
    (dtype('uint8'), Array([2.], dtype=float32))
    >>> quantization.dequantize_blockwise(q)
    Array([ 0.49531248, -1.0015625 ,  0.        ,  2.        ], dtype=float32)
    """
    Blockwise8bit(block_size)  # the check and its message
    x = jnp.asarray(x, jnp.float32)
    blocks = _blocks(x, block_size)
    scales = jnp.max(jnp.abs(blocks), axis=1)
    normalized = blocks / jnp.where(scales == 0, 1.0, scales)[:, None]
    codes = _nearest_codes(normalized, signed).reshape(-1)[: x.size].reshape(x.shape)
    return Quantized(codes, scales) if signed else UnsignedQuantized(codes, scales)


def full_quantized(
    shape: tuple[int, ...],
    value: jax.typing.ArrayLike,
    block_size: int = DEFAULT_BLOCK_SIZE,
    signed: bool = True,
) -> Quantized:
    """``quantize_blockwise(jnp.full(shape, value), block_size, signed)``, without the search.

    Every block of a constant array has the absmax :math:`|v|` and one code, that of
    :math:`v/|v|` (of 0 for :math:`v = 0`): what ``init`` needs, at the cost of a fill.

    Args:
      shape: the array's shape.
      value: the constant (a scalar, possibly traced).
      block_size: entries per block, a power of two; default 2048.
      signed: the signed map (any sign) or the unsigned one (``value >= 0``).

    Returns:
      ``Quantized(codes, scales)`` (``UnsignedQuantized`` when ``signed=False``).

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022.

    >>> from gradlab.core import quantization
    >>> q = quantization.full_quantized((3, 4), 0.0, block_size=16)
    >>> q.scales, quantization.dequantize_blockwise(q).sum()
    (Array([0.], dtype=float32), Array(0., dtype=float32))
    """
    Blockwise8bit(block_size)
    size = math.prod(shape)
    one = quantize_blockwise(jnp.reshape(jnp.asarray(value, jnp.float32), (1,)), 16, signed)
    codes = jnp.full(shape, one.codes[0], jnp.uint8)
    scales = jnp.full((_num_blocks(size, block_size),), one.scales[0], jnp.float32)
    return Quantized(codes, scales) if signed else UnsignedQuantized(codes, scales)


def quantize_like(x: jax.typing.ArrayLike, like: Quantized) -> Quantized:
    """``x`` quantized in the format of ``like``: its block size and code map (signed or not).

    Args:
      x: a real array of ``like``'s shape.
      like: a :class:`Quantized` or :class:`UnsignedQuantized`.

    Returns:
      A quantized array of ``like``'s type, shapes and dtypes.

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022.

    >>> import jax.numpy as jnp
    >>> from gradlab.core import quantization
    >>> q = quantization.quantize_blockwise(jnp.ones(40), block_size=16, signed=False)
    >>> type(quantization.quantize_like(jnp.zeros(40), q)).__name__
    'UnsignedQuantized'
    """
    block_size = _block_size_of(like.codes.size, like.scales.shape[0])
    return quantize_blockwise(x, block_size, signed=like.signed)


def dequantize_blockwise(q: Quantized) -> jax.Array:
    r"""The float32 array :math:`\tilde x_i = s_b\, Q[c_i]` that ``q`` stands for.

    Args:
      q: a :class:`Quantized` or :class:`UnsignedQuantized`.

    Returns:
      A float32 array of ``q.codes``' shape.

    References:
      Dettmers et al., `8-bit Optimizers via Block-wise Quantization
      <https://arxiv.org/abs/2110.02861>`_, 2022, Sec. 2.

    >>> import jax.numpy as jnp
    >>> from gradlab.core import quantization
    >>> x = jnp.linspace(-1.0, 1.0, 5)
    >>> y = quantization.dequantize_blockwise(quantization.quantize_blockwise(x, 16))
    >>> [round(float(v), 3) for v in y]
    [-0.993, -0.501, 0.0, 0.501, 1.0]
    """
    codes, scales = q.codes, q.scales
    size, shape = codes.size, codes.shape
    block_size = _block_size_of(size, scales.shape[0])
    values = jnp.asarray(dynamic_map(q.signed))[_blocks(codes, block_size)]
    out = values * scales[:, None]
    return out.reshape(-1)[:size].reshape(shape)


__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_MIN_SIZE",
    "Blockwise8bit",
    "Quantized",
    "UnsignedQuantized",
    "dequantize_blockwise",
    "dynamic_map",
    "full_quantized",
    "quantize_blockwise",
    "quantize_like",
]

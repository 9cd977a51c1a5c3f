r"""Batch, mini-batch and online gradient descent as one data API: index batches per epoch.

The three regimes differ only in the batch size :math:`B` used for the gradient estimate

.. math::
    g_t = \frac{1}{|B_t|} \sum_{i \in B_t} \nabla_\theta \ell(y_i, f(x_i; \theta_t)),

with :math:`|B_t| = N` (batch gradient descent), :math:`1 < |B_t| < N` (mini-batch SGD) or
:math:`|B_t| = 1` (online SGD). An *epoch* is one pass over a random permutation of the
:math:`N` examples, cut into consecutive batches (sampling without replacement, the usual
practice), or over the given order with ``shuffle=False`` (a curriculum).

**The remainder.** When :math:`B` does not divide :math:`N`, ``drop_remainder=True`` drops the
last :math:`N \bmod B` examples of each epoch's permutation (a different few each epoch), so
every batch has :math:`B` examples. With ``drop_remainder=False`` every example is used once
per epoch, and the last batch has :math:`N \bmod B` examples. How that batch is returned is the
design choice here:

* :func:`batch_indices` returns one ``(num_batches, batch_size)`` int32 array, a static shape
  for ``jax.jit`` and ``jax.lax.scan``: the last row is *padded* with the index ``num_examples``
  (one past the last example). ``indices < num_examples`` is the mask of real examples;
  :func:`take_batch` gathers zeros for the padding. Weight the loss with the mask, e.g.
  ``(mask * loss).sum() / mask.sum()``, to get the mean over the real examples; the compiled
  step sees one shape, so the last batch costs no recompilation.
* :func:`iterate_batches`, a Python generator of data batches, yields the last batch at its
  true, smaller size (one extra trace of a jitted step, as in most data loaders).

:func:`epochs` yields, per epoch, the epoch's index batches and an independent key for the
epoch's other randomness (dropout, noise), all derived from one key: the same key gives the
same batches, another key other batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import validation


def _check_size(fn: str, arg: str, value: Any, example: str) -> int:
    """A static int >= 1: traced sizes cannot give static shapes, so they fail with the fix."""
    if validation.is_traced(value):
        raise TypeError(
            f"{fn}: {arg} must be a static Python int (it sets the shape of the batches), got "
            f"a traced value. Mark it static, e.g. jax.jit(f, static_argnames=('{arg}',))."
        )
    validation.check_count(fn, arg, value, 1, example)
    return int(value)


def _check_sizes(fn: str, num_examples: Any, batch_size: Any) -> tuple[int, int]:
    n = _check_size(fn, "num_examples", num_examples, "1000")
    b = _check_size(fn, "batch_size", batch_size, "32")
    if b > n:
        raise ValueError(
            f"{fn}: batch_size must be <= num_examples = {n}, got {b}. Pass "
            f"batch_size={n} for batch gradient descent, or a smaller mini-batch."
        )
    return n, b


def _check_flag(fn: str, arg: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {arg} must be True or False, got {value!r}. Pass e.g. {arg}=True.")


def num_batches(num_examples: int, batch_size: int, *, drop_remainder: bool = True) -> int:
    r"""The number of batches in an epoch: :math:`\lfloor N/B \rfloor` or :math:`\lceil N/B
    \rceil`.

    Args:
      num_examples: :math:`N`, the number of examples (a static int >= 1).
      batch_size: :math:`B`, with :math:`1 \le B \le N`.
      drop_remainder: drop the last :math:`N \bmod B` examples (floor) or keep them in a last,
        smaller batch (ceiling).

    Returns:
      The number of batches per epoch, a Python int.

    References:
      Goodfellow, Bengio & Courville, `Deep Learning <https://www.deeplearningbook.org>`_,
      2016, sec. 8.1.3 (batch and minibatch algorithms).

    >>> from gradlab.data import num_batches
    >>> num_batches(10, 3), num_batches(10, 3, drop_remainder=False)
    (3, 4)
    """
    n, b = _check_sizes("num_batches", num_examples, batch_size)
    _check_flag("num_batches", "drop_remainder", drop_remainder)
    return n // b if drop_remainder else -(-n // b)


def batch_indices(
    key: jax.Array | None,
    num_examples: int,
    batch_size: int,
    *,
    shuffle: bool = True,
    drop_remainder: bool = True,
) -> jax.Array:
    r"""The example indices of one epoch, cut into batches: an int32 ``(num_batches, B)`` array.

    With :math:`\pi` a uniformly random permutation of :math:`\{0, \dots, N-1\}` drawn from
    ``key`` (the identity with ``shuffle=False``), batch :math:`k` holds
    :math:`\pi(kB), \dots, \pi(kB + B - 1)`. ``batch_size=num_examples`` is batch gradient
    descent (one batch), ``batch_size=1`` online SGD. Works under ``jax.jit`` and inside
    ``jax.lax.scan`` with a traced ``key``; the sizes and flags must be static.

    Args:
      key: a PRNG key (``jax.random.key`` or a legacy ``PRNGKey``); may be ``None`` when
        ``shuffle=False``.
      num_examples: :math:`N`, a static int >= 1.
      batch_size: :math:`B`, a static int with :math:`1 \le B \le N`.
      shuffle: permute the examples (``False`` keeps the given order, e.g. a curriculum).
      drop_remainder: ``True`` drops the last :math:`N \bmod B` examples of the permutation;
        ``False`` keeps them in a last row padded with the index ``num_examples`` (mask:
        ``indices < num_examples``; :func:`take_batch` gathers zeros there).

    Returns:
      An int32 array of shape ``(num_batches(N, B, drop_remainder=...), B)``.

    References:
      Bottou, `Stochastic Gradient Descent Tricks
      <https://leon.bottou.org/publications/pdf/tricks-2012.pdf>`_, 2012 (shuffle each epoch);
      Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.1.3.

    >>> import jax
    >>> from gradlab.data import batch_indices
    >>> batch_indices(None, 7, 3, shuffle=False, drop_remainder=False)
    Array([[0, 1, 2],
           [3, 4, 5],
           [6, 7, 7]], dtype=int32)
    >>> batch_indices(jax.random.key(0), 6, 2).shape
    (3, 2)
    """
    fn = "batch_indices"
    n, b = _check_sizes(fn, num_examples, batch_size)
    _check_flag(fn, "shuffle", shuffle)
    _check_flag(fn, "drop_remainder", drop_remainder)
    if shuffle:
        if key is None:
            raise ValueError(
                f"{fn}: shuffle=True needs a PRNG key, got key=None. Pass e.g. "
                "key=jax.random.key(0), or shuffle=False to keep the given order."
            )
        order = jax.random.permutation(key, n).astype(jnp.int32)
    else:
        order = jnp.arange(n, dtype=jnp.int32)
    rows = n // b if drop_remainder else -(-n // b)
    if drop_remainder:
        order = order[: rows * b]
    else:
        order = jnp.concatenate([order, jnp.full(rows * b - n, n, jnp.int32)])
    return order.reshape(rows, b)


def take_batch(data: Any, indices: jax.typing.ArrayLike) -> Any:
    r"""Gathers examples from every leaf of ``data``: :math:`x_{\text{batch}} = x[\text{indices}]`.

    Each leaf is indexed along its first axis; ``indices`` may have any shape (one batch, or
    a whole epoch from :func:`batch_indices`, whose leading axis can then be scanned over).
    Out-of-range indices, i.e. the padding ``num_examples`` of a kept remainder, gather zeros.

    Args:
      data: a pytree of arrays sharing the leading axis :math:`N` (inputs, targets, ...).
      indices: integer indices into that axis.

    Returns:
      The pytree of ``data``, each leaf of shape ``indices.shape + leaf.shape[1:]``.

    References:
      ``jax.numpy.take`` with ``mode="fill"`` (what it does per leaf).

    >>> import jax.numpy as jnp
    >>> from gradlab.data import take_batch
    >>> data = {"x": jnp.arange(6.0).reshape(3, 2), "y": jnp.array([10, 11, 12])}
    >>> batch = take_batch(data, jnp.array([2, 3]))  # 3 is padding
    >>> batch["x"], batch["y"]
    (Array([[4., 5.],
           [0., 0.]], dtype=float32), Array([12,  0], dtype=int32))
    """
    indices = jnp.asarray(indices)
    return jax.tree.map(
        lambda x: jnp.take(jnp.asarray(x), indices, axis=0, mode="fill", fill_value=0), data
    )


def _num_examples(fn: str, data: Any) -> int:
    """The common leading size of the leaves of ``data``; raises naming two leaves that differ."""
    leaves = jax.tree_util.tree_leaves_with_path(data)
    if not leaves:
        raise ValueError(f"{fn}: data has no arrays. Pass e.g. data=(inputs, targets).")
    sizes = []
    for path, leaf in leaves:
        shape = np.shape(leaf)
        name = jax.tree_util.keystr(path) or "(root)"
        if not shape:
            raise ValueError(
                f"{fn}: every leaf of data needs a leading example axis; the leaf {name} is a "
                "scalar. Keep constants out of data (close over them instead)."
            )
        sizes.append((name, shape[0]))
    first_name, first_size = sizes[0]
    for name, size in sizes[1:]:
        if size != first_size:
            raise ValueError(
                f"{fn}: the leaves of data must share their leading (example) axis; "
                f"{first_name} has {first_size} examples but {name} has {size}."
            )
    return int(first_size)


def iterate_batches(
    key: jax.Array | None,
    data: Any,
    batch_size: int,
    *,
    shuffle: bool = True,
    drop_remainder: bool = True,
) -> Iterator[Any]:
    r"""Yields the batches of one epoch of ``data``: pytrees :math:`\{x_i : i \in B_k\}`.

    A Python generator over :func:`batch_indices`, for loops outside ``jit``. Each leaf is
    indexed along its first axis with NumPy indices, so NumPy data stays on the host until the
    step uses it. With ``drop_remainder=False`` the last batch holds the :math:`N \bmod B`
    remaining examples, at that smaller size (no padding).

    Args:
      key: a PRNG key for the permutation (``None`` allowed with ``shuffle=False``).
      data: a pytree of arrays sharing the leading axis :math:`N` (e.g. ``(inputs, targets)``).
      batch_size: :math:`B`, with :math:`1 \le B \le N`.
      shuffle: permute the examples (``False``: the given order).
      drop_remainder: drop the last :math:`N \bmod B` examples, or yield them as a last,
        smaller batch.

    Returns:
      A generator of pytrees with the structure of ``data``.

    References:
      Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.1.3;
      Bottou, Stochastic Gradient Descent Tricks, 2012.

    >>> import jax.numpy as jnp
    >>> from gradlab.data import iterate_batches
    >>> x = jnp.arange(5.0)
    >>> [b.tolist() for b in iterate_batches(None, x, 2, shuffle=False, drop_remainder=False)]
    [[0.0, 1.0], [2.0, 3.0], [4.0]]
    """
    fn = "iterate_batches"
    n = _num_examples(fn, data)
    indices = np.asarray(
        batch_indices(key, n, batch_size, shuffle=shuffle, drop_remainder=drop_remainder)
    )
    return _gather_rows(data, indices, n)


def _gather_rows(data: Any, indices: np.ndarray, n: int) -> Iterator[Any]:
    for row in indices:
        real = row[row < n]
        yield jax.tree.map(lambda x, real=real: x[real], data)


class Epoch(NamedTuple):
    r"""One epoch from :func:`epochs`.

    For epoch :math:`e`, ``(shuffle_key, key) = split(fold_in(key_0, e))``: ``indices`` is
    ``batch_indices(shuffle_key, ...)`` and ``key`` is left for the epoch's other randomness.

    Args:
      number: the epoch's index :math:`e`, from 0.
      key: a PRNG key for the epoch's other randomness (dropout, noise), independent of the
        shuffle.
      indices: the epoch's int32 ``(num_batches, batch_size)`` index batches.

    Returns:
      A NamedTuple; unpack it as ``for number, key, indices in epochs(...)``.

    References:
      JAX's PRNG design: `jax.random <https://docs.jax.dev/en/latest/jax.random.html>`_
      (derive keys with ``fold_in``/``split``, never reuse one).

    >>> import jax
    >>> from gradlab.data import epochs
    >>> first = next(epochs(jax.random.key(0), 1, 4, 2))
    >>> first.number, first.indices.shape
    (0, (2, 2))
    """

    number: int
    key: jax.Array
    indices: jax.Array


def epochs(
    key: jax.Array,
    num_epochs: int | None,
    num_examples: int,
    batch_size: int,
    *,
    shuffle: bool = True,
    drop_remainder: bool = True,
) -> Iterator[Epoch]:
    r"""Yields ``num_epochs`` epochs (forever with ``None``), each a fresh permutation.

    Epoch :math:`e` uses :math:`(k^{\text{shuffle}}_e, k_e) = \text{split}(\text{fold\_in}(k,
    e))`: the batches of an epoch depend only on ``key`` and :math:`e` (so a run can resume at
    any epoch), and differ between epochs and between keys.

    Args:
      key: the PRNG key of the whole run.
      num_epochs: the number of epochs (an int >= 1), or ``None`` for an endless stream.
      num_examples: :math:`N`, a static int >= 1.
      batch_size: :math:`B`, with :math:`1 \le B \le N`.
      shuffle: a new permutation per epoch (``False``: the given order, every epoch).
      drop_remainder: as in :func:`batch_indices` (``False`` pads the last row with
        ``num_examples``).

    Returns:
      A generator of :class:`Epoch` ``(number, key, indices)``.

    References:
      Bottou, Stochastic Gradient Descent Tricks, 2012 (reshuffle every epoch).

    >>> import jax
    >>> from gradlab.data import epochs
    >>> runs = [[e.indices.tolist() for e in epochs(jax.random.key(1), 2, 4, 4)] for _ in "ab"]
    >>> runs[0] == runs[1], len(runs[0])
    (True, 2)
    """
    fn = "epochs"
    if num_epochs is not None:
        validation.check_count(fn, "num_epochs", num_epochs, 1, "10")
    _check_sizes(fn, num_examples, batch_size)
    _check_flag(fn, "shuffle", shuffle)
    _check_flag(fn, "drop_remainder", drop_remainder)
    if key is None:
        raise ValueError(f"{fn}: key is None. Pass e.g. key=jax.random.key(0).")
    return _epochs(key, num_epochs, num_examples, batch_size, shuffle, drop_remainder)


def _epochs(
    key: jax.Array,
    num_epochs: int | None,
    num_examples: int,
    batch_size: int,
    shuffle: bool,
    drop_remainder: bool,
) -> Iterator[Epoch]:
    number = 0
    while num_epochs is None or number < num_epochs:
        shuffle_key, epoch_key = jax.random.split(jax.random.fold_in(key, number))
        indices = batch_indices(
            shuffle_key,
            num_examples,
            batch_size,
            shuffle=shuffle,
            drop_remainder=drop_remainder,
        )
        yield Epoch(number, epoch_key, indices)
        number += 1

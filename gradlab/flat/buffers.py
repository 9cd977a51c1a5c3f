r"""Flat buffers: a pytree of arrays packed into one contiguous 1-D buffer per dtype.

A model with thousands of small leaves costs an optimizer thousands of small kernels (or
thousands of fused loops) per step, and its state thousands of small buffers. Packing the leaves
once, by dtype, into a few long vectors turns every elementwise optimizer step into a few long
loops. :func:`flatten` does the packing and returns the :class:`FlatLayout`, which unpacks:
inside a jitted step, ``layout(flat)`` gives back the leaves as pieces (one ``lax.split`` per
buffer) and reshapes of the buffers, which XLA reads in place (no copies), so a loss can be
written against the usual pytree while the optimizer sees the buffers. The split's transpose
is one concatenation per buffer, so ``jax.grad`` with respect to the buffers packs the leaves'
gradients in one copy (the same numbers as ``layout.flatten(grads)`` of the per-leaf gradients).

Leaves are grouped by dtype only (one buffer per dtype, in the order of the dtype names). Leaves
carrying a multi-device sharding are packed like any other array: the buffers get whatever
sharding XLA chooses for a concatenation, so on a mesh pack each group of identically sharded
leaves separately (call :func:`flatten` once per group) until per-sharding buffers exist.
``None`` leaves, zero-size leaves and scalars are kept (a ``None`` stays a ``None``; the others
take 0 and 1 elements of their buffer); a Python scalar leaf comes back as a 0-d array of its
dtype.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp

Params = Any  # pytree of arrays


@dataclasses.dataclass(frozen=True)
class LeafSlot:
    """Where one leaf lives: ``buffers[buffer][offset : offset + size]``, reshaped to ``shape``.

    Args:
      buffer: index of the buffer (of the leaf's dtype) in :attr:`FlatLayout.dtypes`.
      offset: first element of the leaf in that buffer.
      shape: the leaf's shape.
    """

    buffer: int
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """The number of elements of the leaf (``prod(shape)``; 1 for a scalar)."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class FlatLayout:
    r"""The static description of a packing: the tree structure, the buffers and every leaf's slot.

    A layout is hashable and holds no arrays, so it can be closed over by a jitted function or
    kept as static pytree metadata. Calling it unpacks: ``layout(flat)`` is the params tree.

    Args:
      treedef: the structure of the packed tree (``None`` leaves included).
      dtypes: the dtype name of each buffer, sorted.
      sizes: the length of each buffer (the sum of its leaves' sizes).
      slots: one :class:`LeafSlot` per leaf, in ``jax.tree.leaves`` order.

    >>> import jax.numpy as jnp, gradlab.flat
    >>> flat, layout = gradlab.flat.flatten({"w": jnp.ones((2, 3)), "b": jnp.zeros(3)})
    >>> layout.dtypes, layout.sizes
    (('float32',), (9,))
    >>> layout(flat)["w"].shape
    (2, 3)
    """

    treedef: Any
    dtypes: tuple[str, ...]
    sizes: tuple[int, ...]
    slots: tuple[LeafSlot, ...]

    def __call__(self, flat: FlatBuffers) -> Params:
        r"""The tree packed in ``flat``: each leaf a piece and reshape of its buffer.

        Each buffer is cut by one ``lax.split`` into its leaves' consecutive pieces, so the
        transpose (the backward pass of ``jax.grad``/``jax.vjp`` with respect to the buffers)
        is one concatenation per buffer:

        .. math::
            \frac{\partial L}{\partial b_k} = \operatorname{concat}_{i \in k}
            \operatorname{ravel}\Big(\frac{\partial L}{\partial \theta_i}\Big),

        i.e. ``self.flatten`` of the leaves' gradients: a copy that adds no arithmetic (leaves
        the loss does not read give zeros). Being linear JAX primitives, it works under ``jit``,
        ``vmap``, forward and reverse mode and higher orders (``jax.hessian``). (On jax older
        than 0.4.36, which lacks ``lax.split``, the leaves are plain slices: the same numbers,
        but each slice transposes to a full-size pad.)

        Args:
          flat: buffers with this layout (from :func:`flatten` or :meth:`flatten`, or an
            optimizer's output on them).

        Returns:
          The pytree, with the structure, shapes and dtypes of the packed one.

        >>> import jax, jax.numpy as jnp, gradlab.flat
        >>> params = {"b": jnp.zeros(2), "w": jnp.ones((2, 2))}
        >>> flat, unflatten = gradlab.flat.flatten(params)
        >>> loss = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"])
        >>> jax.grad(lambda f: loss(unflatten(f)))(flat).arrays  # b's ones, then w's twos
        (Array([1., 1., 2., 2., 2., 2.], dtype=float32),)
        """
        if not isinstance(flat, FlatBuffers):
            raise TypeError(
                f"FlatLayout: expected FlatBuffers (from gradlab.flat.flatten), got "
                f"{type(flat).__name__}. Pass the flat buffers, not the params tree."
            )
        self.check_matches("FlatLayout", flat.layout)
        leaves: list[Any] = [None] * len(self.slots)
        for b, array in enumerate(flat.arrays):
            members = [i for i, s in enumerate(self.slots) if s.buffer == b]
            sizes = [self.slots[i].size for i in members]
            offsets = [self.slots[i].offset for i in members]
            if offsets != list(itertools.accumulate(sizes, initial=0))[:-1] or (
                sum(sizes) != self.sizes[b]
            ):
                raise ValueError(
                    f"FlatLayout: the slots of buffer {b} ({self.dtypes[b]}) do not tile it in "
                    "leaf order. Build layouts with gradlab.flat.make_layout or flatten."
                )
            for i, piece in zip(members, _split(array, sizes), strict=True):
                leaves[i] = jnp.reshape(piece, self.slots[i].shape)
        return jax.tree.unflatten(self.treedef, leaves)

    def flatten(self, tree: Params) -> FlatBuffers:
        """Packs a tree of this layout's structure, shapes and dtypes (e.g. gradients).

        Args:
          tree: a pytree with the same structure, shapes and dtypes as the packed one.

        Returns:
          Its :class:`FlatBuffers` (one concatenation per buffer).
        """
        leaves, treedef = jax.tree.flatten(tree)
        if treedef != self.treedef:
            raise ValueError(
                f"FlatLayout.flatten: tree has structure {treedef}, but the layout was made from "
                f"{self.treedef}. Flatten trees of the params' structure (None leaves included)."
            )
        leaves = [jnp.asarray(x) for x in leaves]
        for i, (x, s) in enumerate(zip(leaves, self.slots, strict=True)):
            if tuple(x.shape) != s.shape or x.dtype.name != self.dtypes[s.buffer]:
                raise ValueError(
                    f"FlatLayout.flatten: leaf {i} has shape {tuple(x.shape)} and dtype "
                    f"{x.dtype.name}, the layout expects {s.shape} and {self.dtypes[s.buffer]}. "
                    "Cast or reshape the tree to the params' shapes and dtypes."
                )
        return FlatBuffers(_pack(leaves, self), self)

    def check_matches(self, fn: str, other: FlatLayout) -> None:
        """Raises a ValueError (prefixed ``fn``) unless ``other`` is this layout.

        Args:
          fn: the caller's name, for the message.
          other: the layout of some buffers.
        """
        if other != self:
            raise ValueError(
                f"{fn}: the buffers have layout {other.dtypes}/{other.sizes} over {other.treedef}, "
                f"expected {self.dtypes}/{self.sizes} over {self.treedef}. Use the layout the "
                "buffers were made with."
            )


def _split(buffer: jax.Array, sizes: list[int]) -> list[jax.Array]:
    """Consecutive pieces of ``buffer`` (``lax.split``: its transpose is one concatenation)."""
    if hasattr(jax.lax, "split"):  # jax >= 0.4.36
        return list(jax.lax.split(buffer, sizes))
    starts = list(itertools.accumulate(sizes, initial=0))[:-1]
    return [jax.lax.slice(buffer, (o,), (o + n,)) for o, n in zip(starts, sizes, strict=True)]


def _pack(leaves: list[jax.Array], layout: FlatLayout) -> tuple[jax.Array, ...]:
    """One concatenation of the raveled leaves per buffer (one op each, whatever the leaf count)."""
    groups: list[list[jax.Array]] = [[] for _ in layout.dtypes]
    for x, s in zip(leaves, layout.slots, strict=True):
        groups[s.buffer].append(jnp.ravel(x))
    return tuple(
        jnp.concatenate(group) if group else jnp.zeros((0,), dtype)
        for group, dtype in zip(groups, layout.dtypes, strict=True)
    )


@jax.tree_util.register_pytree_node_class
class FlatBuffers:
    """A pytree of a few 1-D arrays (one per dtype) with its :class:`FlatLayout` as static data.

    Its children are the buffers, so ``jax.tree.map``, ``jit``, donation and every
    GradientTransformation treat it as a short tuple of arrays; the layout rides along as
    metadata, and ``flat.unflatten()`` (or ``layout(flat)``) gives back the tree.

    Args:
      arrays: the buffers, one per dtype of ``layout.dtypes``, in that order.
      layout: where each leaf lives.
    """

    __slots__ = ("arrays", "layout")

    def __init__(self, arrays: tuple[Any, ...], layout: FlatLayout):
        self.arrays = tuple(arrays)
        self.layout = layout

    @property
    def buffers(self) -> dict[str, Any]:
        """The buffers by dtype name, e.g. ``{"bfloat16": ..., "float32": ...}``."""
        return dict(zip(self.layout.dtypes, self.arrays, strict=True))

    def unflatten(self) -> Params:
        """The packed tree (``self.layout(self)``)."""
        return self.layout(self)

    def tree_flatten(self) -> tuple[tuple[Any, ...], FlatLayout]:
        """Pytree protocol: the buffers are the children, the layout the static data."""
        return self.arrays, self.layout

    @classmethod
    def tree_unflatten(cls, layout: FlatLayout, arrays: Any) -> FlatBuffers:
        """Pytree protocol: rebuilds the buffers (children may be tracers, None or objects)."""
        return cls(tuple(arrays), layout)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{d}[{n}]" for d, n in zip(self.layout.dtypes, self.layout.sizes, strict=True)
        )
        return f"FlatBuffers({parts}; {len(self.layout.slots)} leaves)"


def make_layout(tree: Params) -> FlatLayout:
    """The :class:`FlatLayout` of a tree, from its leaves' shapes and dtypes only.

    Works on arrays, tracers and ``jax.ShapeDtypeStruct`` leaves alike (nothing is read).

    Args:
      tree: a pytree of arrays (``None`` leaves allowed).

    Returns:
      The layout packing the leaves by dtype, in leaf order within each buffer.

    >>> import jax, jax.numpy as jnp, gradlab.flat
    >>> tree = [jax.ShapeDtypeStruct((3,), jnp.bfloat16), None, jnp.ones(2)]
    >>> gradlab.flat.make_layout(tree).dtypes
    ('bfloat16', 'float32')
    """
    leaves, treedef = jax.tree.flatten(tree)
    specs = []
    for i, x in enumerate(leaves):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            x = jnp.asarray(x)  # Python scalars
        try:
            dtype = jnp.dtype(x.dtype)
        except TypeError:
            raise TypeError(
                f"flatten: leaf {i} has dtype {x.dtype!r}, which has no buffer dtype. Pass "
                "arrays (or ShapeDtypeStructs) of numeric dtypes."
            ) from None
        specs.append((tuple(int(d) for d in x.shape), dtype.name))
    dtypes = tuple(sorted({dtype for _, dtype in specs}))
    index = {dtype: i for i, dtype in enumerate(dtypes)}
    sizes = [0] * len(dtypes)
    slots = []
    for shape, dtype in specs:
        b = index[dtype]
        slots.append(LeafSlot(buffer=b, offset=sizes[b], shape=shape))
        sizes[b] += math.prod(shape)
    return FlatLayout(treedef=treedef, dtypes=dtypes, sizes=tuple(sizes), slots=tuple(slots))


def flatten(params: Params) -> tuple[FlatBuffers, FlatLayout]:
    r"""Packs ``params`` into one contiguous 1-D buffer per dtype; returns them and the unpacker.

    Do it once, outside the training loop, and keep the params as buffers: inside the jitted
    step, ``unflatten(flat)`` hands the loss its usual tree (splits and reshapes, free for
    XLA), ``jax.grad`` with respect to the buffers returns flat gradients (one concatenation
    per buffer), and an elementwise optimizer updates a few long vectors instead of many small
    leaves.

    Args:
      params: a pytree of arrays (``None`` leaves, zero-size leaves and scalars allowed).

    Returns:
      ``(flat, unflatten)``: the :class:`FlatBuffers` and their :class:`FlatLayout`, which is
      callable (``unflatten(flat)`` is ``params`` again, exactly) and packs other trees of the
      same shapes with ``unflatten.flatten(tree)``.

    >>> import jax.numpy as jnp, gradlab.flat
    >>> params = {"b": jnp.zeros(2), "w": jnp.ones((2, 2)), "step": jnp.int32(3)}
    >>> flat, unflatten = gradlab.flat.flatten(params)
    >>> flat
    FlatBuffers(float32[6], int32[1]; 3 leaves)
    >>> unflatten(flat)["w"]
    Array([[1., 1.],
           [1., 1.]], dtype=float32)
    """
    layout = make_layout(params)
    return layout.flatten(params), layout


__all__ = ["FlatBuffers", "FlatLayout", "LeafSlot", "flatten", "make_layout"]

"""Flat buffers for many-leaf models: pack the params by dtype, run elementwise optimizers flat.

:mod:`~gradlab.flat.buffers` packs a pytree into one 1-D buffer per dtype and unpacks it (splits
and reshapes, free inside ``jit``; their gradient is one concatenation per buffer);
:mod:`~gradlab.flat.wrapper` runs an elementwise
GradientTransformation on the buffers, refusing any other.
"""

from gradlab.flat.buffers import FlatBuffers, FlatLayout, LeafSlot, flatten, make_layout
from gradlab.flat.wrapper import (
    ELEMENTWISE_ALIASES,
    NOT_ELEMENTWISE,
    FlatState,
    NotElementwiseError,
    check_elementwise,
    on_flat_buffers,
)

__all__ = [
    "ELEMENTWISE_ALIASES",
    "NOT_ELEMENTWISE",
    "FlatBuffers",
    "FlatLayout",
    "FlatState",
    "LeafSlot",
    "NotElementwiseError",
    "check_elementwise",
    "flatten",
    "make_layout",
    "on_flat_buffers",
]

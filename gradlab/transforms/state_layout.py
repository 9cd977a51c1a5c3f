r"""State layouts: present a composed transformation's state under another NamedTuple.

A composition's state mirrors its combinators (``FanOutState(((MovingAverageState, CountState),
...))``), while code written for optax reads named fields (``state.mu``, ``state.nu``,
``state.count``). :func:`with_state_layout` keeps the composition and converts its state at the
boundary. The conversion is declared by *node type*, not by position: a layout field names the
state class that holds it and the attribute (``mu=(MovingAverageState, "average")``), so the
composition may gain or lose stateless stages without the layout changing. Nothing is computed
twice and no array is copied: the two conversions only rearrange the same arrays.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)

Slot = tuple[type, str]  # (state class, attribute): where a layout field lives


def with_state_layout(
    inner: Any, layout: type, fields: Mapping[str, Slot], *, like: str
) -> GradientTransformationExtraArgs:
    r"""``inner`` with its state kept as ``layout``: :math:`(u_t, P(S_t)) = f(g_t, U(P(S_{t-1})))`.

    The updates are those of ``inner``; only the state's layout changes. :math:`P` (pack) finds
    the state nodes of the types named in ``fields``, in the order ``jax.tree`` visits them, and
    reads ``field = node.attribute``; :math:`U` (unpack) rebuilds ``inner``'s state from its
    shape (``jax.eval_shape(inner.init, state.<like>)``) and writes the fields back. Two fields
    naming the same slot take that slot's nodes in order (Adam's ``mu`` and ``nu`` are the first
    and second ``MovingAverageState``); one field naming a slot that occurs several times is
    shared by all (the step count of two ``bias_correction`` stages). An attribute no field
    names is rebuilt as zeros: leave out only attributes the composition does not read.

    Args:
      inner: the transformation whose state is re-laid out (extra arguments are forwarded).
      layout: a NamedTuple class; its instances are the new state.
      fields: ``{layout field: (state class, attribute)}``, one entry per field of ``layout``.
      like: a field of ``layout`` holding a tree with the params' structure (``"mu"``).

    Returns:
      A GradientTransformationExtraArgs whose state is a ``layout``.

    References:
      Matches: the state layouts of optax's building blocks (``optax.ScaleByAdamState``
      and the others of :mod:`gradlab.transforms.blocks`, which are built with it).

    >>> import jax.numpy as jnp, gradlab
    >>> from typing import NamedTuple
    >>> from gradlab.transforms.state_layout import with_state_layout
    >>> class Avg(NamedTuple):
    ...     ema: jnp.ndarray
    >>> tx = with_state_layout(gradlab.moving_average(0.5),
    ...                        Avg, {"ema": (gradlab.MovingAverageState, "average")}, like="ema")
    >>> _, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    >>> state  # 0.5 * 0 + 0.5 * 2
    Avg(ema=Array([1.], dtype=float32))
    """
    fn = "with_state_layout"
    validation.check_transform(fn, "inner", inner)
    names = tuple(getattr(layout, "_fields", ()))
    if set(fields) != set(names) or like not in names:
        raise ValueError(
            f"{fn}: fields must map each field of {getattr(layout, '__name__', layout)} "
            f"{list(names)} to (state class, attribute), and like must be one of them; got "
            f"fields {sorted(fields)}, like={like!r}."
        )
    slots: dict[Slot, list[str]] = collections.defaultdict(list)
    for name in names:
        slots[fields[name]].append(name)
    types = tuple(dict.fromkeys(cls for cls, _ in slots))
    inner = with_extra_args_support(inner)

    def is_node(x: Any) -> bool:
        return isinstance(x, types)

    def nodes_of(state: OptState) -> tuple[list[Any], Any]:
        nodes, treedef = jax.tree.flatten(state, is_leaf=is_node)
        stray = sum(not is_node(x) for x in nodes)
        if stray:
            raise ValueError(
                f"{fn}: the state of inner holds {stray} array(s) outside the state classes "
                f"{[t.__name__ for t in types]}; name their class in fields, or they would be lost."
            )
        return nodes, treedef

    def pack(state: OptState) -> Any:
        nodes, _ = nodes_of(state)
        values: dict[str, Any] = {}
        for (cls, attr), targets in slots.items():
            found = [getattr(n, attr) for n in nodes if type(n) is cls]
            if not found or (len(targets) > 1 and len(found) != len(targets)):
                raise ValueError(
                    f"{fn}: fields {targets} need {len(targets)} {cls.__name__} node(s) in the "
                    f"state of inner, found {len(found)}."
                )
            values.update(zip(targets, found if len(targets) > 1 else found[:1], strict=True))
        return layout(**values)

    def unpack(state: Any) -> OptState:
        nodes, treedef = nodes_of(jax.eval_shape(inner.init, getattr(state, like)))
        seen: collections.Counter[type] = collections.Counter()
        rebuilt = []
        for node in nodes:
            cls = type(node)
            index, seen[cls] = seen[cls], seen[cls] + 1
            values = {}
            for attr in node._fields:
                targets = slots.get((cls, attr))
                if targets is None:  # not read by the composition: zeros of its shape
                    values[attr] = jax.tree.map(
                        lambda x: jnp.zeros(x.shape, x.dtype), getattr(node, attr)
                    )
                else:
                    values[attr] = getattr(state, targets[index if len(targets) > 1 else 0])
            rebuilt.append(cls(**values))
        return jax.tree.unflatten(treedef, rebuilt)

    def init(params: Params) -> Any:
        return pack(inner.init(params))

    def update(
        updates: Updates, state: Any, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, Any]:
        validation.check_state(fn, state, layout)
        new_updates, new_state = inner.update(updates, unpack(state), params, **extra_args)
        return new_updates, pack(new_state)

    return GradientTransformationExtraArgs(init, update)


__all__ = ["with_state_layout"]

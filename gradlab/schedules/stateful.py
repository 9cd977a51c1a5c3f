r"""Stateful schedules: a plain schedule wrapped to keep its own step count.

:class:`gradlab.StatefulSchedule` is the protocol (``init``, ``update``, ``__call__``); any
object with those methods can be passed where a hyperparameter is accepted. This module holds
the adapter from a plain ``step -> value`` schedule.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import tree
from gradlab.core.base import Schedule


class WrappedScheduleState(NamedTuple):
    """The step count :math:`t` of a :class:`WrappedSchedule` (an int32 scalar)."""

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count, as optax's field does


class WrappedSchedule:
    r"""A plain schedule :math:`h(t)` as a stateful one whose state is the step :math:`t`.

    ``init()`` is :math:`t = 0`, ``update(state, **extra)`` is :math:`t + 1` (saturating at the
    int32 maximum, as every gradlab counter does) and ``schedule(state, **extra)`` is
    :math:`h(t)`; the extra arguments are ignored.

    Args:
      schedule_fn: a callable ``step -> value``.

    References:
      Matches: ``optax.WrappedSchedule`` (same methods and state field ``count``).

    >>> import gradlab
    >>> wrapped = gradlab.WrappedSchedule(gradlab.linear_schedule(1.0, 0.0, 10))
    >>> state = wrapped.update(wrapped.init(), value=0.3)
    >>> print(f"{float(wrapped(state)):.2f}")
    0.90
    """

    def __init__(self, schedule_fn: Schedule) -> None:
        if not callable(schedule_fn):
            raise TypeError(
                f"WrappedSchedule: schedule_fn must be a callable step -> value, got "
                f"{type(schedule_fn).__name__}. Pass e.g. gradlab.constant_schedule(1e-3)."
            )
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=tree.safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.typing.ArrayLike:
        del extra_args
        return self.schedule_fn(state.count)


__all__ = ["WrappedSchedule", "WrappedScheduleState"]

"""The unchecked curves that the schedules are made of, and the step arithmetic they share.

Each public schedule checks its arguments with :mod:`gradlab.core.validation`, then returns one of
these builders or a combination of them; a builder trusts its arguments. Steps are whatever a
schedule accepts (Python, NumPy or JAX, traced or not, any shape). Hyperparameters are typed
``Any`` here (they are ``ArrayLike``: Python/NumPy/JAX scalars, maybe traced), which keeps mypy
out of NumPy's operator overloads for unions. Not re-exported by :mod:`gradlab.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradlab.core.base import Schedule


def float_steps(step: ArrayLike) -> jax.Array:
    """The step in the default float dtype (float32, or float64 under ``jax.enable_x64``)."""
    return jnp.asarray(step, dtype=float)


def fraction(t: jax.Array, begin: ArrayLike, steps: ArrayLike) -> jax.Array:
    """Fraction of a linear transition done: ``clip((t - begin) / steps, 0, 1)``; 1 if 0 steps."""
    ramp = jnp.clip((t - begin) / jnp.maximum(steps, 1), 0.0, 1.0)
    return jnp.where(t >= begin + steps, 1.0, ramp)


def ratio(elapsed: jax.Array, steps: Any, floor: bool) -> jax.Array:
    """``elapsed / steps``, or its floor. The floor uses ``floor_divide``: under ``jax.jit`` XLA
    turns a division by a constant into a product with its reciprocal, and then for example
    ``floor(41 * (1 / 41)) == 0`` in float32, which would put a staircase step one step late."""
    return jnp.floor_divide(elapsed, steps) if floor else elapsed / steps


def linear(init_value: Any, end_value: Any, steps: Any, begin: Any = 0) -> Schedule:
    """Linear transition (``steps`` may be 0: then ``end_value`` from ``begin`` on)."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = fraction(float_steps(step), begin, steps)
        return (1.0 - a) * init_value + a * end_value

    return schedule


def polynomial(init_value: Any, end_value: Any, power: Any, steps: Any, begin: Any) -> Schedule:
    """Polynomial transition ``(I - E) (1 - clip((t - B) / T, 0, 1))^P + E``."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = fraction(float_steps(step), begin, steps)
        return (init_value - end_value) * (1.0 - a) ** power + end_value

    return schedule


def cosine(init_value: Any, end_value: Any, steps: Any, exponent: Any) -> Schedule:
    """Cosine decay ``E + (I - E) c^p`` with ``c = (1 + cos(pi min(t, T) / T)) / 2``."""

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.clip(float_steps(step), 0.0, steps)
        c = 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))
        return (init_value - end_value) * c**exponent + end_value

    return schedule


def exponential(
    init_value: Any,
    transition_steps: Any,
    decay_rate: Any,
    transition_begin: Any,
    staircase: bool,
    end_value: Any,
) -> Schedule:
    """Exponential decay (see :func:`gradlab.schedules.exponential_decay`)."""

    def schedule(step: ArrayLike) -> jax.Array:
        elapsed = jnp.maximum(float_steps(step) - transition_begin, 0.0)
        value = init_value * decay_rate ** ratio(elapsed, transition_steps, staircase)
        if end_value is not None:  # a lower bound when decaying, an upper bound when growing
            value = jnp.where(
                decay_rate < 1.0, jnp.maximum(value, end_value), jnp.minimum(value, end_value)
            )
        return value

    return schedule


def interpolated(
    interpolate_type: str, init_value: Any, boundaries: Sequence[Any], scales: Sequence[Any]
) -> Schedule:
    """Piecewise interpolation between the accumulated values ``I * s_1 * ... * s_i``."""
    bounds = (0, *boundaries)
    values = [init_value]
    for scale in scales:
        values.append(values[-1] * scale)

    def interpolate(start: Any, end: Any, pct: jax.Array) -> jax.Array:
        if interpolate_type == "linear":
            return (end - start) * pct + start
        return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1.0)

    def schedule(step: ArrayLike) -> jax.Array:
        t = float_steps(step)
        out = jnp.full(t.shape, values[-1], dtype=t.dtype)
        for i in reversed(range(len(boundaries))):  # the first segment with t < its end wins
            low, high = bounds[i], bounds[i + 1]
            pct = jnp.clip((t - low) / max(high - low, 1), 0.0, 1.0)
            out = jnp.where(t < high, interpolate(values[i], values[i + 1], pct), out)
        return out

    return schedule


def joined(schedules: Sequence[Callable], boundaries: Sequence[Any]) -> Schedule:
    """``schedules[i](step - boundaries[i-1])`` on ``[boundaries[i-1], boundaries[i])``.

    The unchecked :func:`gradlab.schedules.join_schedules`: ``len(boundaries)`` must be
    ``len(schedules) - 1``.
    """

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.asarray(step)
        out = jnp.asarray(schedules[0](t))
        for boundary, phase in zip(boundaries, schedules[1:], strict=True):
            out = jnp.where(t < boundary, out, phase(t - boundary))
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, t.shape))

    return schedule

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
import numpy as np
from jax.typing import ArrayLike

from gradlab.core.base import Schedule

# ---------------------------------------------------------------------------------------------
# Steps, kept exact until they meet a fraction
#
# A float32 step cannot tell 2**31 - 1 from 2**31 (nor 10**12 - 1 from 10**12), and a Python int
# above int32 overflows JAX's weak int32. So a step stays an integer for every comparison,
# difference, floor division and remainder, and becomes a float only for the ratio that follows:
# concrete integers (Python ints, NumPy integers) as NumPy int64, JAX integer arrays (traced or
# not) in their own dtype, floats as JAX arrays of the default float dtype. A step count is a
# Python int (the public schedules convert NumPy/JAX integer scalars at construction) or traced.


def _is_int(x: Any) -> bool:
    """A concrete Python or NumPy integer (a step count or a boundary)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_numpy(t: Any) -> bool:
    """An exact concrete step: a NumPy int64 array or scalar (NumPy ops return scalars for 0-d)."""
    return isinstance(t, (np.ndarray, np.generic))


def _fits(b: int, dtype: Any) -> bool:
    info = jnp.iinfo(dtype)
    return info.min <= b <= info.max


def _int_dtype(t: Any) -> bool:
    return jnp.issubdtype(t.dtype, jnp.integer)


def exact_steps(step: ArrayLike) -> Any:
    """The step, exact: NumPy int64 for concrete integers, a JAX integer array as it is (signed),
    else a JAX array of the default float dtype."""
    if isinstance(step, (bool, np.bool_)):
        step = int(step)
    if isinstance(step, (int, np.integer)) or (
        isinstance(step, np.ndarray) and step.dtype.kind in "iu"
    ):
        try:
            return np.asarray(step).astype(np.int64, casting="safe")
        except (OverflowError, TypeError):  # beyond int64 (or a uint64 array): as floats
            return jnp.asarray(np.asarray(step, np.float64), dtype=float)
    if isinstance(step, jax.Array) and _int_dtype(step):
        if jnp.issubdtype(step.dtype, jnp.unsignedinteger):  # t - b must not wrap around
            wide = jax.dtypes.canonicalize_dtype(np.int64)
            fits = step.dtype.itemsize < jnp.dtype(wide).itemsize
            return step.astype(wide) if fits else step.astype(float)
        return step
    return jnp.asarray(step, dtype=float)


def _to_jax(t: Any) -> Any:
    """A NumPy int64 step as a JAX integer array where it fits JAX's int dtype, else as floats."""
    if not _is_numpy(t):
        return t
    t = np.asarray(t)
    dtype = jax.dtypes.canonicalize_dtype(np.int64)
    info = jnp.iinfo(dtype)
    if t.size == 0 or (info.min <= t.min() and t.max() <= info.max):
        return jnp.asarray(t, dtype=dtype)
    return jnp.asarray(t.astype(np.float64), dtype=float)


def to_float(x: Any) -> jax.Array:
    """An exact step (or a difference of steps) in the default float dtype."""
    if _is_numpy(x):
        return jnp.asarray(np.asarray(x, np.float64), dtype=float)
    return jnp.asarray(x, dtype=float)


def real(n: Any) -> Any:
    """A step count as a float divisor: a Python float, or a traced value in the float dtype."""
    return float(n) if _is_int(n) else jnp.asarray(n, dtype=float)


def minus(t: Any, b: Any) -> Any:
    """``t - b``, exact for integer steps: saturated (never wrapped around) at the ends of an
    integer dtype, and in floats when ``b`` does not fit the step's dtype at all."""
    if _is_numpy(t):
        if _is_int(b):
            return t - np.int64(b)
        t = _to_jax(t)
    if not _is_int(b):
        return t - b  # traced: JAX's promotion
    b = int(b)
    if not _int_dtype(t):
        return t - float(b)
    if not _fits(b, t.dtype):
        return to_float(t) - float(b)
    if b == 0:
        return t
    info = jnp.iinfo(t.dtype)
    return (jnp.maximum(t, info.min + b) if b > 0 else jnp.minimum(t, info.max + b)) - b


def before(t: Any, b: Any) -> Any:
    """``t < b``, exact (an integer step is always below a boundary its dtype cannot hold)."""
    if _is_numpy(t):
        if _is_int(b):
            return t < np.int64(b)
        t = _to_jax(t)
    if not _is_int(b):
        return t < b
    if not _int_dtype(t):
        return t < float(b)
    if not _fits(int(b), t.dtype):
        return jnp.full(jnp.shape(t), int(b) > 0)
    return t < int(b)


def at_least(t: Any, low: int) -> Any:
    """``max(t, low)`` in ``t``'s own representation."""
    return np.maximum(t, np.int64(low)) if _is_numpy(t) else jnp.maximum(t, low)


def _integer_op(t: Any, n: Any, np_op: Callable, jnp_op: Callable, too_big: Callable) -> Any:
    """``op(t, n)`` exactly for integer ``t`` and ``n``; ``too_big(t)`` when ``n`` does not fit
    ``t``'s dtype; in floats otherwise."""
    if _is_numpy(t) and _is_int(n):
        return np_op(t, np.int64(n))
    t = _to_jax(t)
    if _int_dtype(t) and _is_int(n):
        return jnp_op(t, int(n)) if _fits(int(n), t.dtype) else too_big(t)
    if _int_dtype(t) and isinstance(n, jax.Array) and _int_dtype(n):
        return jnp_op(t, n)
    return jnp_op(to_float(t), real(n))


def floor_div(t: Any, n: Any) -> Any:
    """``floor(t / n)`` for a step count ``n >= 1``, exact for integer steps.

    Integer steps use integer division. So do float steps, through ``floor_divide`` rather than
    ``floor(t / n)``: under ``jax.jit`` XLA turns a division by a constant into a product with its
    reciprocal, and then for example ``floor(41 * (1 / 41)) == 0`` in float32, which would put a
    staircase step one step late.
    """
    return _integer_op(t, n, np.floor_divide, jnp.floor_divide, lambda t: jnp.where(t < 0, -1, 0))


def mod(t: Any, n: Any) -> Any:
    """``t mod n`` for a step count ``n >= 1``, exact for integer steps."""
    return _integer_op(t, n, np.mod, jnp.mod, lambda t: jnp.mod(to_float(t), real(n)))


def ratio(elapsed: Any, steps: Any, floor: bool) -> jax.Array:
    """``elapsed / steps`` as a float, or its floor (exact for integer steps)."""
    if floor:
        return to_float(floor_div(elapsed, steps))
    return to_float(elapsed) / real(steps)


def fraction(t: Any, begin: Any, steps: Any) -> jax.Array:
    """Fraction of a linear transition done, ``clip((t - begin) / steps, 0, 1)``: exactly 0 before
    ``begin`` and exactly 1 from ``begin + steps`` on (also for 0 steps)."""
    span = max(steps, 1) if _is_int(steps) else jnp.maximum(steps, 1)
    ramp = jnp.clip(to_float(minus(t, begin)) / real(span), 0.0, 1.0)
    return jnp.where(before(t, begin + steps), ramp, 1.0)


def constant(value: Any) -> Schedule:
    """``value`` at every step, as a float array shaped like the step."""

    def schedule(step: ArrayLike) -> jax.Array:
        return jnp.full(jnp.shape(step), value, dtype=jnp.result_type(value, float))

    return schedule


def linear(init_value: Any, end_value: Any, steps: Any, begin: Any = 0) -> Schedule:
    """Linear transition (``steps`` may be 0: then ``end_value`` from ``begin`` on)."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = fraction(exact_steps(step), begin, steps)
        return (1.0 - a) * init_value + a * end_value

    return schedule


def warmup(init_value: Any, peak_value: Any, steps: Any) -> Schedule:
    """A linear warm-up phase; for a negative number of steps, optax's constant ``init_value``
    (its ``linear_schedule`` rule; joined at that negative step, it is never reached)."""
    if _is_int(steps) and steps < 0:
        return constant(init_value)
    return linear(init_value, peak_value, steps)


def polynomial(init_value: Any, end_value: Any, power: Any, steps: Any, begin: Any) -> Schedule:
    """Polynomial transition ``(I - E) (1 - clip((t - B) / T, 0, 1))^P + E``."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = fraction(exact_steps(step), begin, steps)
        return (init_value - end_value) * (1.0 - a) ** power + end_value

    return schedule


def cosine(init_value: Any, end_value: Any, steps: Any, exponent: Any) -> Schedule:
    """Cosine decay ``E + (I - E) c^p`` with ``c = (1 + cos(pi min(t, T) / T)) / 2``, exactly 0
    from ``T`` on."""

    def schedule(step: ArrayLike) -> jax.Array:
        t = exact_steps(step)
        done = jnp.clip(to_float(t) / real(steps), 0.0, 1.0)
        c = jnp.where(before(t, steps), 0.5 * (1.0 + jnp.cos(jnp.pi * done)), 0.0)
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
        elapsed = at_least(minus(exact_steps(step), transition_begin), 0)
        value = init_value * decay_rate ** ratio(elapsed, transition_steps, staircase)
        if end_value is not None:  # a lower bound when decaying, an upper bound when growing
            value = jnp.where(
                decay_rate < 1.0, jnp.maximum(value, end_value), jnp.minimum(value, end_value)
            )
        return value

    return schedule


def interpolated(
    interpolate_type: str, init_value: Any, boundaries: Sequence[int], scales: Sequence[Any]
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
        t = exact_steps(step)
        out = jnp.full(jnp.shape(t), values[-1], dtype=float)
        for i in reversed(range(len(boundaries))):  # the first segment with t < its end wins
            low, high = bounds[i], bounds[i + 1]
            pct = jnp.clip(to_float(minus(t, low)) / real(max(high - low, 1)), 0.0, 1.0)
            out = jnp.where(before(t, high), interpolate(values[i], values[i + 1], pct), out)
        return out

    return schedule


def joined(schedules: Sequence[Callable], boundaries: Sequence[Any]) -> Schedule:
    """``schedules[i](step - boundaries[i-1])`` on ``[boundaries[i-1], boundaries[i])``.

    The unchecked :func:`gradlab.schedules.join_schedules`: ``len(boundaries)`` must be
    ``len(schedules) - 1``. The first schedule gets the step as given; the others get the exact
    difference, a Python int when the step is one (an optax schedule then converts it itself).
    """

    def schedule(step: ArrayLike) -> jax.Array:
        t = exact_steps(step)
        out = jnp.asarray(schedules[0](step))
        for boundary, phase in zip(boundaries, schedules[1:], strict=True):
            elapsed = minus(t, boundary)
            if _is_numpy(elapsed) and np.ndim(elapsed) == 0:
                elapsed = int(elapsed)
            out = jnp.where(before(t, boundary), out, phase(elapsed))
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, jnp.shape(t)))

    return schedule

"""Checks of schedule and loss arguments: step counts, rates, boundaries, array shapes.

Schedules check step counts, rates and boundaries when they are built; losses check the shapes
and dtypes of their array arguments when they are called (shapes are static, so this is free
under jit). Concrete bad values raise ``ValueError`` (``TypeError`` for a wrong dtype); traced
values pass. Step counts come back as Python ints (``jnp.int32(10)`` builds the schedule that
``10`` builds). The degenerate values that optax accepts with a log message (a transition of
<= 0 steps, a zero decay rate, a negative start) keep optax's value and warn instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core.validation.arguments import concrete_value, is_traced, warn_user


def warn_degenerate(fn: str, message: str) -> None:
    """Warns (``UserWarning``) that an argument makes a schedule degenerate, as optax allows.

    optax logs these cases and continues; gradlab keeps optax's value and warns, attributing the
    warning to the first caller outside gradlab (``sgdr_schedule`` -> ``warmup_cosine...`` too).
    """

    warn_user(f"{fn}: {message}")


def _number(v: float) -> str:
    """``v`` as written in a message: ``10`` for a whole number, else ``10.5``."""
    return str(int(v)) if v.is_integer() else repr(v)


def is_concrete_zero(value: Any) -> bool:
    """Whether ``value`` is a concrete scalar (Python, NumPy or JAX) equal to 0."""
    v = concrete_value(value)
    return v is not None and v.shape == () and float(v) == 0.0


def check_real_scalar(fn: str, arg: str, value: Any, example: str) -> float | None:
    """``float(value)`` for a concrete real scalar, ``None`` for a traced one; raises otherwise.

    Python, NumPy and JAX integers and floats count; booleans, strings, callables and arrays
    with a shape raise ``ValueError``.

    Args:
      fn: the public function's name, first in the message.
      arg: the argument's name.
      value: the argument.
      example: a valid value, shown in the fix (``Pass e.g. {arg}={example}.``).
    """
    if is_traced(value):
        return None
    array = np.asarray(value)
    real = array.dtype.kind in "iuf" or jnp.issubdtype(array.dtype, jnp.floating)  # bf16: "V"
    if array.ndim != 0 or not real:
        raise ValueError(
            f"{fn}: {arg} must be a real scalar, got {value!r}. Pass e.g. {arg}={example}."
        )
    return float(array)


def _whole(value: Any) -> int:
    """A concrete integral scalar as an exact Python int (no float round trip for integers)."""
    array = np.asarray(value)
    return int(array) if array.dtype.kind in "iu" else int(float(array))


def check_step_count(
    fn: str, arg: str, value: Any, example: str, *, allow_zero: bool = False
) -> Any:
    """``value`` as a Python int; raises unless it is a whole number >= 1 (>= 0 with
    ``allow_zero``). A traced value is returned as is.

    Integral floats such as ``10.0`` count (``10.5`` does not), so that a step count computed
    as ``0.3 * total`` is accepted when it is whole; so do NumPy and JAX integer scalars, and the
    schedule then uses the Python int (``int(0.29 * jnp.int32(100))`` would be 29, not 28).
    """
    v = check_real_scalar(fn, arg, value, example)
    if v is None:
        return value
    if not (v.is_integer() and v >= (0 if allow_zero else 1)):
        kind = "non-negative" if allow_zero else "positive"
        shown = _number(v) if np.isfinite(v) else repr(v)
        raise ValueError(
            f"{fn}: {arg} must be a {kind} integer, got {shown}. Pass e.g. {arg}={example}."
        )
    return _whole(value)


def _steps_or_warn(
    fn: str, arg: str, value: Any, example: str, consequence: str, minimum: int
) -> tuple[Any, bool]:
    """(:func:`check_step_count`, False), or (``int(value)``, True) after a warning that
    ``consequence`` follows for a concrete whole number below ``minimum``, which optax accepts
    with a log message. NaN, infinite, fractional and non-numeric values still raise."""
    v = check_real_scalar(fn, arg, value, example)
    if v is not None and v.is_integer() and v < minimum:
        warn_degenerate(fn, f"{arg}={int(v)} is below {minimum}, so {consequence}, as in optax.")
        return int(v), True
    return check_step_count(fn, arg, value, example, allow_zero=minimum == 0), False


def check_transition(
    fn: str, transition_steps: Any, transition_begin: Any, consequence: str
) -> tuple[Any | None, Any]:
    """optax's rule for ``(transition_steps, transition_begin)``, as Python ints: a concrete
    ``transition_steps <= 0`` gives ``None`` (optax's constant schedule; the warning says that
    ``consequence`` follows) and a negative ``transition_begin`` gives 0, each with a warning."""
    steps, constant = _steps_or_warn(
        fn, "transition_steps", transition_steps, "1000", consequence, 1
    )
    begin, negative = _steps_or_warn(fn, "transition_begin", transition_begin, "0", "0 is used", 0)
    return (None if constant else steps), (0 if negative else begin)


def check_warmup_steps(
    fn: str, value: Any, consequence: str = "there is no warm-up and the next phase starts early"
) -> Any:
    """A warm-up length as a Python int: >= 0, or negative after a warning (optax's warm-up is
    then a constant, only seen before its negative end, where the next phase starts)."""
    return _steps_or_warn(fn, "warmup_steps", value, "100", consequence, 0)[0]


def check_rate_or_zero(fn: str, arg: str, value: Any, example: str, consequence: str) -> bool:
    """Whether a decay rate is a concrete 0 (then warns: optax returns a constant schedule, and
    ``consequence`` says which); raises unless it is otherwise positive and finite."""
    v = check_real_scalar(fn, arg, value, example)
    if v == 0.0:
        warn_degenerate(
            fn, f"{arg}=0 gives no decay, so {consequence}, as in optax. Pass e.g. {arg}={example}."
        )
        return True
    check_in_interval(fn, arg, value, "(0, inf)", example)
    return False


def check_in_interval(fn: str, arg: str, value: Any, interval: str, example: str) -> None:
    """Raises unless ``value`` (when concrete) is a real scalar in ``interval``.

    Args:
      fn: the public function's name.
      arg: the argument's name.
      value: the argument.
      interval: written as in mathematics, ``"(0, 1]"``, ``"[0, inf)"``...; ``(0, inf)`` and
        ``[0, inf)`` read "positive and finite" and "non-negative and finite" in the message.
      example: a valid value, shown in the fix.

    Example:
      >>> from gradlab.core.validation import check_in_interval
      >>> check_in_interval("cyclic_schedule", "gamma", 0.5, "(0, 1]", "0.99")
      >>> check_in_interval("cyclic_schedule", "gamma", 1.5, "(0, 1]", "0.99")
      Traceback (most recent call last):
      ...
      ValueError: cyclic_schedule: gamma must be in (0, 1], got 1.5. Pass e.g. gamma=0.99.
    """
    v = check_real_scalar(fn, arg, value, example)
    if v is None:
        return
    low, high = (float(x) for x in interval[1:-1].split(","))
    above = low <= v if interval[0] == "[" else low < v
    below = v <= high if interval[-1] == "]" else v < high
    if not (above and below):
        words = {"(0, inf)": "positive and finite", "[0, inf)": "non-negative and finite"}
        wanted = words.get(interval, f"in {interval}")
        raise ValueError(f"{fn}: {arg} must be {wanted}, got {value!r}. Pass e.g. {arg}={example}.")


def check_increasing_steps(
    fn: str, arg: str, steps: list[Any] | tuple[Any, ...], example: str
) -> tuple[Any, ...]:
    """``steps`` as Python ints; raises unless they are whole numbers >= 0, strictly increasing
    (boundary steps). Returned as given when any step is traced (then unchecked).
    """
    if any(is_traced(s) for s in steps):
        return tuple(steps)
    values = [np.asarray(s) for s in steps]
    good = all(v.ndim == 0 and v.dtype.kind in "iuf" and float(v).is_integer() for v in values)
    good = good and all(float(v) >= 0 for v in values)
    good = good and all(float(a) < float(b) for a, b in zip(values, values[1:], strict=False))
    if not good:
        raise ValueError(
            f"{fn}: {arg} must be strictly increasing non-negative integer steps, got "
            f"{list(steps)!r}. Pass e.g. {arg}={example}."
        )
    return tuple(_whole(v) for v in values)


def check_boundaries_and_scales(
    fn: str,
    value: Any,
    arg: str = "boundaries_and_scales",
    example: str = "{100: 0.1, 200: 0.1}",
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A ``{step: scale}`` dict (or ``None``, meaning ``{}``) as sorted ``(steps, scales)``, the
    steps as Python ints.

    Raises unless ``value`` is a mapping whose keys pass :func:`check_increasing_steps` once
    sorted and whose values are finite and >= 0.
    """

    if value is None:
        return (), ()
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{fn}: {arg} must be a dict {{step: scale}} or None, got {value!r}. "
            f"Pass e.g. {arg}={example}."
        )
    items = sorted(value.items())
    steps = check_increasing_steps(fn, f"the steps (keys) of {arg}", [b for b, _ in items], example)
    for _, scale in items:
        check_in_interval(fn, f"every scale (value) of {arg}", scale, "[0, inf)", example)
    return steps, tuple(s for _, s in items)


def check_onecycle(
    fn: str, transition_steps: Any, pct_start: Any, div_factor: Any, final_div_factor: Any
) -> int:
    """The arguments every one-cycle schedule shares: a cycle length >= 1 (returned as a Python
    int; optax raises for <= 0 too), ``pct_start`` in (0, 1), and division factors > 0."""
    if is_traced(transition_steps):
        raise ValueError(
            f"{fn}: transition_steps must be a concrete int (it sets the phase boundaries), got a "
            "traced value. Pass e.g. transition_steps=10000, built outside jax.jit."
        )
    steps = check_step_count(fn, "transition_steps", transition_steps, "10000")
    check_in_interval(fn, "pct_start", pct_start, "(0, 1)", "0.3")
    check_in_interval(fn, "div_factor", div_factor, "(0, inf)", "25.0")
    check_in_interval(fn, "final_div_factor", final_div_factor, "(0, inf)", "1e4")
    return int(steps)


def check_real_array(fn: str, arg: str, x: Any) -> jax.Array:
    """``x`` as an array (anything with ``shape`` and ``dtype``); raises TypeError if complex.

    NumPy and JAX arrays pass through untouched (``jnp.asarray`` of a NumPy array compiles a
    staging op per shape), so an eager loss compiles nothing outside its jitted kernel; the
    return type says ``jax.Array`` for both.
    """
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: {arg} must be real, got dtype {x.dtype}. Pass e.g. {arg}.real.")
    return x  # a NumPy array passes as is (no staging op)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` without changing it."""
    try:
        return len(shape) <= len(target) and np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def check_same_shape(
    fn: str, first: tuple[str, tuple[int, ...]], second: tuple[str, tuple[int, ...]]
) -> None:
    """Raises ``ValueError`` unless two compared arrays, given as ``(name, shape)``, have equal
    shapes: optax's ``check_shapes_equal``. The message says what the shapes would broadcast to
    (a ``(4, 1)`` prediction against ``(4,)`` targets gives a ``(4, 4)`` loss) and the fix.

    Example:
      >>> from gradlab.core.validation import check_same_shape
      >>> check_same_shape("l2_loss", ("predictions", (4, 1)), ("targets", (4,)))
      Traceback (most recent call last):
      ...
      ValueError: l2_loss: predictions shape (4, 1) and targets shape (4,) must be equal; they would broadcast to (4, 4). Pass targets.reshape((4, 1)) or predictions.reshape((4,)).
    """  # noqa: E501
    (a_name, a), (b_name, b) = (first[0], tuple(first[1])), (second[0], tuple(second[1]))
    if a == b:
        return
    try:
        result = f"they would broadcast to {np.broadcast_shapes(a, b)}"
    except ValueError:
        result = "they cannot be broadcast together"
    if int(np.prod(a)) == int(np.prod(b)):
        fix = f"Pass {b_name}.reshape({a}) or {a_name}.reshape({b})."
    elif _broadcasts_to(b, a):
        fix = f"Pass jnp.broadcast_to({b_name}, {a}) if the broadcast is intended."
    else:
        fix = f"Pass {b_name} with shape {a}, one entry per entry of {a_name}."
    raise ValueError(
        f"{fn}: {a_name} shape {a} and {b_name} shape {b} must be equal; {result}. {fix}"
    )


def check_broadcasts_to(
    fn: str, arg: str, shape: tuple[int, ...], target: str, target_shape: tuple[int, ...]
) -> None:
    """Raises ``ValueError`` unless an argument of ``shape`` (a hyperparameter such as ``delta``,
    or a ``where`` mask) broadcasts to ``target_shape`` without changing it, so that it can never
    grow the loss's shape."""
    shape, target_shape = tuple(shape), tuple(target_shape)
    if not _broadcasts_to(shape, target_shape):
        raise ValueError(
            f"{fn}: {arg} shape {shape} does not broadcast to {target} shape {target_shape}, so "
            f"the loss would change shape. Pass {arg} with shape {target_shape}, or one that "
            f"broadcasts to it (e.g. a scalar)."
        )


def check_array_pair(
    fn: str, first: str, a: Any, second: str, b: Any
) -> tuple[jax.Array, jax.Array | None]:
    """``a`` and ``b`` (which may be ``None``) as real arrays of equal shapes
    (:func:`check_same_shape`).

    Args:
      fn: the public function's name.
      first: the name of ``a`` (e.g. ``"predictions"``).
      a: the first array argument.
      second: the name of ``b`` (e.g. ``"targets"``).
      b: the second array argument, or ``None`` (returned as ``None``).
    """
    a = check_real_array(fn, first, a)
    if b is None:
        return a, None
    b = check_real_array(fn, second, b)
    check_same_shape(fn, (first, a.shape), (second, b.shape))
    return a, b


def check_where(
    fn: str, where: Any, shape: tuple[int, ...], axis: int | tuple[int, ...] | None
) -> jax.Array | None:
    """A softmax cross-entropy's ``where`` mask: ``None``, or an array with the logits' ``shape``
    (or a shape of as many axes that broadcasts to it), or their shape without the class
    ``axis`` (one entry per example, as optax documents). Raises ``ValueError`` otherwise."""
    if where is None:
        return None
    mask = check_real_array(fn, "where", where)
    ndim = len(shape)
    if axis is None:
        classes = set(range(ndim))
    else:
        classes = {a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    batch = tuple(n for i, n in enumerate(shape) if i not in classes)
    if tuple(mask.shape) == batch or (mask.ndim == ndim and _broadcasts_to(mask.shape, shape)):
        return mask
    raise ValueError(
        f"{fn}: where shape {tuple(mask.shape)} fits neither the logits shape {tuple(shape)} "
        f"nor their shape without the class axis, {batch}. Pass where with shape "
        f"{tuple(shape)} (masks classes) or {batch} (masks examples)."
    )


def check_class_labels(
    fn: str, labels: Any, scores: tuple[str, tuple[int, ...]], class_axes: tuple[int, ...]
) -> jax.Array:
    """Integer class labels, one per example: ``labels`` with exactly the scores' shape without
    their (non-negative) ``class_axes``; ``scores`` is ``(name, shape)``, for the message.

    Raises TypeError for non-integer labels and ValueError for any other shape (a ``(1,)`` label
    is not broadcast over a batch).
    """
    labels = check_real_array(fn, "labels", labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: labels must be integer class indices, got dtype {labels.dtype}. Pass e.g. "
            "labels=jnp.argmax(one_hot_labels, axis=-1), or use softmax_cross_entropy (one-hot)."
        )
    name, shape = scores[0], tuple(scores[1])
    batch = tuple(n for a, n in enumerate(shape) if a not in class_axes)
    if tuple(labels.shape) != batch:
        raise ValueError(
            f"{fn}: labels shape {tuple(labels.shape)} does not match {name} shape {shape} "
            f"without the class axis, {batch}. Pass one integer label per example, with shape "
            f"{batch}."
        )
    return labels


def check_axes(
    fn: str, axis: Any, shape: tuple[int, ...], what: str = "logits"
) -> int | tuple[int, ...]:
    """``axis`` (an int, or a tuple or list of ints) made non-negative for an array of ``shape``.

    Raises ``ValueError`` for another type (``None`` included) or an axis out of bounds; the
    message names the array as ``what``.
    """
    ndim = len(shape)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else axis
    if not isinstance(axes, (int, tuple)) or isinstance(axes, bool):
        raise ValueError(
            f"{fn}: axis must be an int or a tuple of ints, got {type(axis).__name__}. "
            "Pass e.g. axis=-1."
        )
    for a in axes if isinstance(axes, tuple) else (axes,):
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{fn}: axis {a} is out of bounds for {what} of shape {shape}. Pass e.g. axis=-1."
            )
    if isinstance(axes, tuple):
        return tuple(a % ndim for a in axes)
    return axes % ndim

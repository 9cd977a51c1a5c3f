"""Every argument check of gradlab, in one place (style rule R5).

Each check runs once, when a transformation, schedule or loss is built, and raises an error that
names the function, the argument, the value received and a fix. Values that cannot be seen at
construction pass unchecked, by design: traced values (a hyperparameter under ``jax.jit``,
``jax.vmap`` or ``jax.grad``) and schedules (callables, checked by what they return only where
that is cheap). ``set_hyperparams`` runs the same checks on the concrete values it is given.

The *static zero* rule lives here too: :func:`is_static_zero` says when a hyperparameter whose
zero turns a term off (a weight decay, ``eps_root``, a momentum) is known to be zero at
construction, so that the term is compiled away. Only Python numbers and NumPy scalars count; a
``jax.Array`` zero keeps the term in the computation.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_CHECKED = contextvars.ContextVar("gradlab_arguments_already_checked", default=False)


@contextlib.contextmanager
def already_checked() -> Iterator[None]:
    """Within it, the argument checks pass at once: the arguments were checked at construction.

    ``inject_hyperparams`` rebuilds its factory at ``init`` and at every ``update`` from values it
    has already checked; this keeps each check to one run, at construction. Tree checks
    (``check_structure``, ``check_float_leaves``, ``require_params``) always run.
    """
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


# ---------------------------------------------------------------------------------------------
# Reading values


def is_traced(value: Any) -> bool:
    """Whether ``value`` is a JAX tracer (its value is unknown until the program runs)."""
    return isinstance(value, jax.core.Tracer)


def concrete_value(value: Any) -> np.ndarray | None:
    """``value`` as a float64 numpy array, or ``None`` when traced, callable or not numeric."""
    if value is None or callable(value) or is_traced(value) or isinstance(value, (str, bytes)):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def is_python_number(value: Any) -> bool:
    """A Python int/float or a NumPy scalar or 0-d array, but not a bool and not a jax.Array."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def is_static_zero(value: Any) -> bool:
    """Whether ``value`` is a Python (or NumPy) number equal to 0: a term it scales can go.

    A ``jax.Array`` zero, a traced value or a schedule is never a static zero, so passing
    ``jnp.asarray(0.0)`` keeps the term in the compiled step (and settable from outside).
    """
    return is_python_number(value) and float(value) == 0.0


# ---------------------------------------------------------------------------------------------
# Numbers


def _fail(fn: str, arg: str, value: Any, must: str, example: str) -> None:
    raise ValueError(f"{fn}: {arg} must be {must}, got {value!r}. Pass e.g. {arg}={example}.")


def check_number(fn: str, arg: str, value: Any, example: str) -> np.ndarray | None:
    """Raises TypeError unless ``value`` is a number, an array of numbers, traced or callable.

    Returns the concrete value (``None`` for traced or callable values). Booleans are refused:
    ``True`` is not a learning rate.
    """
    if _CHECKED.get():
        return None
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise TypeError(
            f"{fn}: {arg} must be a number, got {type(value).__name__} {value!r}. "
            f"Pass e.g. {arg}={example}."
        )
    if callable(value) or is_traced(value):
        return None
    v = concrete_value(value)
    dtype = getattr(value, "dtype", None)
    if v is None or (dtype is not None and jnp.dtype(dtype) == jnp.bool_):
        raise TypeError(
            f"{fn}: {arg} must be a number, got {type(value).__name__} {value!r}. "
            f"Pass e.g. {arg}={example}."
        )
    return v


def check_non_negative(fn: str, arg: str, value: Any, example: str = "1e-3") -> None:
    """Raises unless ``value`` (when concrete) is finite and >= 0."""
    v = check_number(fn, arg, value, example)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v >= 0)):
        _fail(fn, arg, value, "a finite number >= 0", example)


def check_positive(fn: str, arg: str, value: Any, example: str = "1e-3") -> None:
    """Raises unless ``value`` (when concrete) is finite and > 0."""
    v = check_number(fn, arg, value, example)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v > 0)):
        _fail(fn, arg, value, "a finite number > 0", example)


def check_finite(fn: str, arg: str, value: Any, example: str = "1.0") -> None:
    """Raises unless ``value`` (when concrete) is finite (any sign)."""
    v = check_number(fn, arg, value, example)
    if v is not None and not np.all(np.isfinite(v)):
        _fail(fn, arg, value, "a finite number", example)


def check_unit_interval(fn: str, arg: str, value: Any, example: str = "0.9") -> None:
    """Raises unless ``value`` (when concrete) lies in [0, 1) (a decay rate)."""
    v = check_number(fn, arg, value, example)
    if v is not None and not (np.all(v >= 0) and np.all(v < 1)):
        _fail(fn, arg, value, "in [0, 1)", example)


def check_learning_rate(fn: str, value: Any, arg: str = "learning_rate") -> None:
    """A learning rate is a schedule, or a finite number >= 0 (the sign flip is the optimizer's)."""
    if _CHECKED.get():
        return
    if value is None:
        raise ValueError(f"{fn}: {arg} is None. Pass a number or a schedule, e.g. {arg}=1e-3.")
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{fn}: {arg} must be a number or a schedule (a callable step -> value), "
            f"got {type(value).__name__} {value!r}. Pass e.g. {arg}=1e-3."
        )
    if not callable(value):
        check_non_negative(fn, arg, value, "1e-3")


def check_scalar(fn: str, arg: str, value: Any) -> None:
    """Raises unless ``value`` (when concrete or traced) is a scalar."""
    if _CHECKED.get():
        return
    if callable(value):
        return
    shape = jnp.shape(value) if is_traced(value) else np.shape(value)
    if shape != ():
        raise ValueError(
            f"{fn}: {arg} must be a scalar, got shape {shape}. Pass one value; to try several "
            "at once, build the optimizer inside jax.vmap over them."
        )


def check_count(fn: str, arg: str, value: Any, minimum: int, example: str) -> None:
    """Raises unless ``value`` (when concrete) is an int >= ``minimum``; tracers pass.

    Integer NumPy and JAX scalars count as ints (``jnp.int32(4)`` is accepted).
    """
    if _CHECKED.get():
        return
    if is_traced(value):
        return
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    dtype = getattr(value, "dtype", None)
    if not is_int and dtype is not None and np.ndim(value) == 0:
        is_int = jnp.issubdtype(dtype, jnp.integer)
    if is_int and int(value) >= minimum:
        return
    numeric = not isinstance(value, (str, bytes)) and concrete_value(value) is not None
    raise (ValueError if numeric else TypeError)(
        f"{fn}: {arg} must be an int >= {minimum}, got {type(value).__name__} {value!r}. "
        f"Pass e.g. {arg}={example}."
    )


def check_choice(fn: str, arg: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raises unless ``value`` is one of ``choices``."""
    if _CHECKED.get():
        return
    if value not in choices:
        raise ValueError(
            f"{fn}: {arg} must be one of {choices}, got {value!r}. Pass e.g. {arg}={choices[0]!r}."
        )


def check_callable(fn: str, arg: str, value: Any, example: str) -> None:
    """Raises TypeError unless ``value`` is callable."""
    if _CHECKED.get():
        return
    if not callable(value):
        raise TypeError(
            f"{fn}: {arg} must be callable, got {type(value).__name__} {value!r}. "
            f"Pass e.g. {arg}={example}."
        )


def check_dtype(fn: str, arg: str, dtype: Any) -> None:
    """Raises unless ``dtype`` is ``None`` or a floating/complex dtype (a storage dtype)."""
    if _CHECKED.get():
        return
    if dtype is None:
        return
    try:
        resolved = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{fn}: {arg} must be a dtype, got {type(dtype).__name__} {dtype!r}. "
            f"Pass e.g. {arg}=jnp.float32."
        ) from None
    if not jnp.issubdtype(resolved, jnp.inexact):
        raise ValueError(
            f"{fn}: {arg} must be a floating-point dtype, got {resolved}; an integer or boolean "
            f"state would round every moment away. Pass e.g. {arg}=jnp.float32."
        )


def check_transform(fn: str, arg: str, tx: Any) -> None:
    """Raises TypeError unless ``tx`` has callable ``init`` and ``update`` (optax's interface)."""
    if _CHECKED.get():
        return
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise TypeError(
            f"{fn}: {arg} must be a GradientTransformation (an object with init and update), "
            f"got {type(tx).__name__} {tx!r}. Pass e.g. gradlab.adam(1e-3)."
        )


# ---------------------------------------------------------------------------------------------
# Trees (run at trace time on the structure only: free inside jit)


def check_structure(fn: str, updates: Any, reference: Any, what: str = "state") -> None:
    """Raises a ValueError naming both tree structures when ``updates`` and ``reference`` differ."""
    got, want = jax.tree.structure(updates), jax.tree.structure(reference)
    if got != want:  # type: ignore[operator]  # PyTreeDef supports ==
        fix = {
            "params": "Pass the gradients of exactly these params: jax.grad(loss)(params).",
        }.get(what, "Call init() with params of the same structure as the gradients you pass.")
        raise ValueError(
            f"{fn}: the tree structure of the updates differs from that of the {what}.\n"
            f"  updates: {got}\n  {what}: {want}\n{fix}"
        )


def check_float_leaves(fn: str, tree: Any, what: str) -> None:
    """Raises a TypeError naming the first leaf of ``tree`` that is not floating point."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{fn}: the {what} leaf {jax.tree_util.keystr(path) or '(root)'} has dtype "
                f"{dtype}; only floating-point leaves can be optimized. Cast it with "
                ".astype(jnp.float32), or keep it out of the optimized tree (e.g. nnx's "
                "wrt=nnx.Param, or a frozen gradlab.param_groups rule)."
            )


def check_state(fn: str, state: Any, expected: type) -> None:
    """Raises TypeError unless ``state`` is an ``expected`` (the type ``init`` returns).

    A state built by another optimizer, or saved from an older gradlab layout, fails here with
    both types named, instead of an AttributeError deep inside the update.
    """
    if not isinstance(state, expected):
        raise TypeError(
            f"{fn}: expected the {expected.__name__} that this transformation's init() returns, "
            f"got {type(state).__name__}. Pass the state built by this optimizer's init() (a "
            "state from another optimizer, or from an older gradlab layout, does not fit)."
        )


def require_params(fn: str, params: Any, updates: Any) -> None:
    """Raises unless ``params`` is given (for transforms that read them) and matches ``updates``."""
    if params is None and jax.tree.leaves(updates):
        raise ValueError(f"{fn}: update() needs params; call tx.update(grads, state, params).")
    if params is not None:
        check_structure(fn, updates, params, what="params")


# ---------------------------------------------------------------------------------------------
# Named argument checks, shared by the optimizer aliases and set_hyperparams

Check = Callable[[str, str, Any], None]


def _non_negative(example: str) -> Check:
    return lambda fn, arg, value: check_non_negative(fn, arg, value, example)


ARGUMENT_CHECKS: dict[str, Check] = {
    "learning_rate": lambda fn, arg, value: check_learning_rate(fn, value, arg),
    **{k: check_unit_interval for k in ("b1", "b2", "b3", "decay", "rho", "momentum")},
    "eps": _non_negative("1e-8"),
    "eps_root": _non_negative("0.0"),
    "weight_decay": _non_negative("1e-4"),
    "initial_accumulator_value": _non_negative("0.1"),
    "initial_scale": _non_negative("0.0"),
}
"""The check of each conventional hyperparameter name; an alias's arguments go through these."""


def check_argument(fn: str, arg: str, value: Any) -> None:
    """Runs the conventional check for ``arg`` (see ``ARGUMENT_CHECKS``), or a number check."""
    if callable(value):
        return
    check = ARGUMENT_CHECKS.get(arg)
    if check is not None:
        check(fn, arg, value)
    else:
        check_finite(fn, arg, value)


# ---------------------------------------------------------------------------------------------
# ---- Schedules and losses
#
# Schedules check step counts, rates and boundaries when they are built; losses check the shapes
# and dtypes of their array arguments when they are called (shapes are static, so this is free
# under jit). Concrete bad values raise ``ValueError`` (``TypeError`` for a wrong dtype); traced
# values pass. Step counts come back as Python ints (``jnp.int32(10)`` builds the schedule that
# ``10`` builds). The degenerate values that optax accepts with a log message (a transition of
# <= 0 steps, a zero decay rate, a negative start) keep optax's value and warn instead of raising.


def warn_degenerate(fn: str, message: str) -> None:
    """Warns (``UserWarning``) that an argument makes a schedule degenerate, as optax allows.

    optax logs these cases and continues; gradlab keeps optax's value and warns, attributing the
    warning to the first caller outside gradlab (``sgdr_schedule`` -> ``warmup_cosine...`` too).
    """
    import sys  # here, not at the top: this section is appended
    import warnings

    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "gradlab":
        frame, level = frame.f_back, level + 1
    warnings.warn(f"{fn}: {message}", UserWarning, stacklevel=level)


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
    if array.ndim != 0 or array.dtype.kind not in "iuf":
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


def check_transition_steps(
    fn: str, arg: str, value: Any, example: str, consequence: str
) -> Any | None:
    """A step count >= 1 as a Python int (see :func:`check_step_count`), or ``None`` after a
    warning for a concrete finite value <= 0: optax then returns a constant schedule, and
    ``consequence`` says which (``"the schedule is the constant init_value"``). NaN, infinite,
    fractional and non-numeric values raise.
    """
    v = check_real_scalar(fn, arg, value, example)
    if v is not None and np.isfinite(v) and v <= 0:
        warn_degenerate(
            fn,
            f"{arg}={_number(v)} is not positive, so {consequence}, as in optax. Pass e.g. "
            f"{arg}={example} for a transition.",
        )
        return None
    return check_step_count(fn, arg, value, example)


def check_begin_step(fn: str, arg: str, value: Any) -> Any:
    """A start step >= 0 as a Python int; a concrete finite negative one warns and gives 0 (as
    optax does). Fractional, NaN and non-numeric values raise."""
    v = check_real_scalar(fn, arg, value, "0")
    if v is not None and np.isfinite(v) and v < 0:
        warn_degenerate(fn, f"{arg}={_number(v)} is negative, so 0 is used, as in optax.")
        return 0
    return check_step_count(fn, arg, value, "0", allow_zero=True)


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
    from collections.abc import Mapping  # here, not at the top: this section is appended

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
    fn: str,
    labels: Any,
    batch_shape: tuple[int, ...],
    scores: str,
    alternative: str,
    scores_shape: tuple[int, ...] | None = None,
) -> jax.Array:
    """Integer class labels, one per example: ``labels`` with exactly ``batch_shape``.

    Args:
      fn: the public function's name.
      labels: the labels argument.
      batch_shape: the shape of the scores without their class axes.
      scores: the name of the scores argument (``"logits"``, ``"scores"``), for the message.
      alternative: what to use instead for non-integer labels, for the message.
      scores_shape: the scores' full shape, for the message.

    Returns:
      ``labels`` as an integer array. Raises TypeError for non-integer labels and ValueError for
      any other shape than ``batch_shape`` (a ``(1,)`` label is not broadcast over a batch).
    """
    labels = check_real_array(fn, "labels", labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: labels must be integer class indices, got dtype {labels.dtype}. "
            f"Pass e.g. labels=jnp.argmax(one_hot_labels, axis=-1), or use {alternative}."
        )
    batch_shape = tuple(batch_shape)
    if tuple(labels.shape) != batch_shape:
        full = "" if scores_shape is None else f" {tuple(scores_shape)}"
        raise ValueError(
            f"{fn}: labels shape {tuple(labels.shape)} does not match {scores} shape{full} "
            f"without the class axis, {batch_shape}. Pass one integer label per example, with "
            f"shape {batch_shape}."
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

"""Checks of scalar arguments and of trees: numbers, decays, dtypes, structures, states."""

from __future__ import annotations

import contextlib
import contextvars
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

ARGUMENTS_CHECKED = contextvars.ContextVar("gradlab_arguments_already_checked", default=False)


@contextlib.contextmanager
def already_checked() -> Iterator[None]:
    """Within it, the argument checks pass at once: the arguments were checked at construction.

    ``inject_hyperparams`` rebuilds its factory at ``init`` and at every ``update`` from values it
    has already checked; this keeps each check to one run, at construction. Tree checks
    (``check_structure``, ``check_float_leaves``, ``require_params``) always run.
    """
    token = ARGUMENTS_CHECKED.set(True)
    try:
        yield
    finally:
        ARGUMENTS_CHECKED.reset(token)


def warn_user(message: str) -> None:
    """A ``UserWarning`` attributed to the first caller outside gradlab (the user's line)."""
    frame: Any = sys._getframe(1)  # the function that called this one: stack level 2
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "gradlab":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


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
    if ARGUMENTS_CHECKED.get():
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
    if ARGUMENTS_CHECKED.get():
        return
    if value is None:
        raise ValueError(f"{fn}: {arg} is None. Pass a number or a schedule, e.g. {arg}=1e-3.")
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{fn}: {arg} must be a number or a schedule (a callable step -> value), "
            f"got {type(value).__name__} {value!r}. Pass e.g. {arg}=1e-3."
        )
    if callable(value):
        check_schedule(fn, arg, value, non_negative=True)
    else:
        check_non_negative(fn, arg, value, "1e-3")


def is_stateful_schedule(value: Any) -> bool:
    """Whether ``value`` is a stateful schedule: callable, with ``init`` and ``update`` methods."""
    return (
        callable(value)
        and not isinstance(value, type)
        and callable(getattr(value, "init", None))
        and callable(getattr(value, "update", None))
    )


# Steps at which a schedule's values are checked at construction: the first steps, then every
# order of magnitude up to the int32 counter's limit (one vectorised call where it is allowed).
_PROBE_STEPS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, *(10**k for k in range(3, 10)), 2**31 - 1)


def _probe(schedule: Callable[..., Any]) -> list[tuple[int, float]]:
    """``[(step, value)]`` of ``schedule`` at ``_PROBE_STEPS``, as far as it can be evaluated."""
    with jax.ensure_compile_time_eval():
        try:
            values = concrete_value(schedule(jnp.asarray(_PROBE_STEPS, jnp.int32)))
        except Exception:  # noqa: BLE001 - a schedule of scalar steps only: probe one by one
            values = None
        n = len(_PROBE_STEPS)
        if values is not None and values.shape in ((), (n,)):
            return list(zip(_PROBE_STEPS, np.broadcast_to(values, (n,)), strict=True))
        found = []
        for step in _PROBE_STEPS[:12]:
            try:
                v = concrete_value(schedule(step))
            except Exception:  # noqa: BLE001 - it cannot be evaluated here: left to the trace
                break
            if v is None or v.shape != ():
                break
            found.append((step, float(v)))
        return found


def check_schedule(fn: str, arg: str, value: Any, *, non_negative: bool = False) -> None:
    """Checks a schedule given for ``arg``: a plain one, whose values are >= 0 if so required.

    A stateful schedule needs an injection to keep its state, so it is refused here with the
    fix. With ``non_negative``, the schedule is evaluated at steps 0, 1, 2, ... up to
    :math:`2^{31} - 1` (about twenty steps, one vectorised call) and a negative value raises:
    a learning rate below zero turns descent into ascent silently. Values that cannot be
    computed at construction (traced, or a schedule that fails outside a trace) pass unchecked.
    """
    if ARGUMENTS_CHECKED.get():
        return
    if is_stateful_schedule(value):
        raise TypeError(
            f"{fn}: {arg} is a stateful schedule, which keeps a state that {fn} has no place "
            f"for. Pass it to an optimizer alias, or build gradlab.inject_hyperparams({fn})"
            f"({arg}=...), which keeps it in state.hyperparams_states."
        )
    if not non_negative:
        return
    for step, v in _probe(value):
        if v < 0:
            why = (
                " (the optimizer subtracts the step itself; for a signed step size use "
                "gradlab.scale_by_schedule, which allows any sign)"
                if arg == "learning_rate"
                else ""
            )
            raise ValueError(
                f"{fn}: the schedule given as {arg} returns {v:g} at step {step}; {arg} must "
                f"be >= 0 at every step{why}. Clip it, e.g. "
                f"{arg}=lambda t: jnp.maximum(my_schedule(t), 0.0)."
            )


def check_scalar(fn: str, arg: str, value: Any) -> None:
    """Raises unless ``value`` (when concrete or traced) is a scalar."""
    if ARGUMENTS_CHECKED.get():
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
    if ARGUMENTS_CHECKED.get():
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
    if ARGUMENTS_CHECKED.get():
        return
    if value not in choices:
        raise ValueError(
            f"{fn}: {arg} must be one of {choices}, got {value!r}. Pass e.g. {arg}={choices[0]!r}."
        )


def check_callable(fn: str, arg: str, value: Any, example: str) -> None:
    """Raises TypeError unless ``value`` is callable."""
    if ARGUMENTS_CHECKED.get():
        return
    if not callable(value):
        raise TypeError(
            f"{fn}: {arg} must be callable, got {type(value).__name__} {value!r}. "
            f"Pass e.g. {arg}={example}."
        )


def check_dtype(fn: str, arg: str, dtype: Any) -> None:
    """Raises unless ``dtype`` is ``None`` or a floating/complex dtype (a storage dtype)."""
    if ARGUMENTS_CHECKED.get():
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
    if ARGUMENTS_CHECKED.get():
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


NON_NEGATIVE_SCHEDULES = frozenset(
    {"learning_rate", "eps", "eps_root", "weight_decay", "initial_accumulator_value"}
)
"""Arguments whose schedules are checked for negative values at construction."""

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
    """Runs the conventional check for ``arg`` (see ``ARGUMENT_CHECKS``), or a number check.

    A schedule is checked by :func:`check_schedule`: refused if stateful (outside an injection)
    and, for the arguments in ``NON_NEGATIVE_SCHEDULES``, probed for negative values.
    """
    if callable(value):
        check_schedule(fn, arg, value, non_negative=arg in NON_NEGATIVE_SCHEDULES)
        return
    check = ARGUMENT_CHECKS.get(arg)
    if check is not None:
        check(fn, arg, value)
    else:
        check_finite(fn, arg, value)

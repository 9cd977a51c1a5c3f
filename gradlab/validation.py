"""Early, explicit checks of hyperparameters (style rule R5).

A concrete bad value fails at construction with a message that names the function, the argument,
the value and a fix. Traced values (a hyperparameter under ``jax.vmap`` or ``jit``) and schedules
cannot be checked without running them, so they pass through.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def concrete_value(value: Any) -> np.ndarray | None:
    """``value`` as a numpy array, or ``None`` when it is traced, callable or not numeric."""
    if value is None or callable(value) or isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _number(fn: str, arg: str, value: Any, example: str) -> np.ndarray | None:
    """``concrete_value``, raising TypeError for a value that is not a number at all."""
    if isinstance(value, (str, bytes)) or (
        not callable(value)
        and not isinstance(value, jax.core.Tracer)
        and concrete_value(value) is None
    ):
        raise TypeError(
            f"{fn}: {arg} must be a number, got {type(value).__name__} {value!r}. "
            f"Pass e.g. {arg}={example}."
        )
    return concrete_value(value)


def _fail(fn: str, arg: str, value: Any, must: str, example: str) -> None:
    raise ValueError(f"{fn}: {arg} must be {must}, got {value!r}. Pass e.g. {arg}={example}.")


def check_non_negative(fn: str, arg: str, value: Any, example: str = "1e-3") -> None:
    """Raises unless ``value`` (when concrete) is finite and >= 0."""
    v = _number(fn, arg, value, example)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v >= 0)):
        _fail(fn, arg, value, "a finite number >= 0", example)


def check_positive(fn: str, arg: str, value: Any, example: str = "1e-3") -> None:
    """Raises unless ``value`` (when concrete) is finite and > 0."""
    v = _number(fn, arg, value, example)
    if v is not None and not (np.all(np.isfinite(v)) and np.all(v > 0)):
        _fail(fn, arg, value, "a finite number > 0", example)


def check_unit_interval(fn: str, arg: str, value: Any, example: str = "0.9") -> None:
    """Raises unless ``value`` (when concrete) lies in [0, 1)."""
    v = _number(fn, arg, value, example)
    if v is not None and not (np.all(v >= 0) and np.all(v < 1)):
        _fail(fn, arg, value, "in [0, 1)", example)


def check_learning_rate(fn: str, value: Any) -> None:
    """A learning rate is a schedule, or a finite number >= 0 (the sign flip is the optimizer's)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{fn}: learning_rate must be a number or a schedule (a callable step -> value), "
            f"got {type(value).__name__} {value!r}. Pass e.g. learning_rate=1e-3."
        )
    if not callable(value):
        check_non_negative(fn, "learning_rate", value, "1e-3")


def check_scalar(fn: str, arg: str, value: Any) -> None:
    """Raises unless ``value`` (when concrete) is a scalar."""
    v = concrete_value(value)
    if v is not None and v.ndim != 0:
        raise ValueError(
            f"{fn}: {arg} must be a scalar, got shape {v.shape}. Pass one value; to try several "
            "at once, build the optimizer inside jax.vmap over them."
        )


def check_choice(fn: str, arg: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raises unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{fn}: {arg} must be one of {choices}, got {value!r}. Pass e.g. {arg}={choices[0]!r}."
        )

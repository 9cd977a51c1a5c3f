r"""Learning-rate schedules: plain callables ``step -> value``.

A schedule maps an optimisation step :math:`t` to a hyperparameter value, usually the learning
rate :math:`\gamma_t`. Every schedule in this module

* accepts a Python ``int`` or ``float``, a NumPy/JAX scalar, a traced ``int32`` counter inside
  :func:`jax.jit` or :func:`jax.vmap`, or an array of steps: ``schedule(jnp.arange(n))`` returns
  the whole curve in one call, with the shape of its input;
* is written with ``jnp`` only, with no Python branching on the step, so one trace serves every
  step;
* computes in the default floating dtype (``float32``, or ``float64`` under
  ``jax.enable_x64``): integer steps are converted first, which avoids ``int32`` overflow and is
  exact up to :math:`2^{24}` steps in ``float32``;
* checks its concrete arguments when it is built and raises ``ValueError`` naming the argument
  and a fix (traced arguments are not checked). Step counts, rates, factors and modes are
  checked; values (``init_value``, ``peak_value``, ``end_value``, ``alpha``, ...) may have any
  sign, as in optax, since a schedule may anneal any scalar.

Names, argument names, argument order and defaults follow ``optax`` 0.2.8 wherever optax has a
function of the same name. :func:`inverse_time_decay`, :func:`cyclic_schedule` and
:func:`linear_warmup` have no optax counterpart.

Differences from optax:
  *Raises where optax logs and continues.* A non-positive ``transition_steps`` (optax returns a
  constant ``init_value`` schedule), a negative ``transition_begin`` (optax uses 0), and
  ``decay_rate == 0`` in :func:`exponential_decay` (optax returns a constant) raise.
  *Rejects what optax accepts silently.* A negative ``decay_rate`` (NaN in optax), ``power <= 0``
  or ``exponent <= 0`` (a constant or an infinite schedule), non-integer step counts such as
  ``transition_steps=10.5``, negative or non-integer boundary steps, ``join_schedules``
  boundaries that are not strictly increasing or whose number is not ``len(schedules) - 1``
  (optax's ``zip`` drops the extras), ``pct_start`` outside (0, 1), one-cycle phases that round
  to the same step (optax's dict drops a phase), and an empty ``sgdr_schedule`` (an
  ``IndexError`` at the first call in optax).
  *Edge cases that behave differently.* ``warmup_constant_schedule(..., warmup_steps=0)`` is
  ``peak_value`` from step 0 (optax: ``init_value`` forever); ``warmup_cosine_decay_schedule``
  with ``peak_value=0`` decays along :math:`E + (P - E) c_t` (optax: 0 throughout the decay);
  ``piecewise_interpolate_schedule`` is ``init_value`` at negative steps (optax: 0);
  ``constant_schedule`` returns a float array shaped like the step (optax returns ``value``
  unchanged); ``piecewise_interpolate_schedule`` and the one-cycle schedules accept an array of
  steps (optax's raise a shape error unless wrapped in ``jax.vmap``).
  *Two fixes.* Under :func:`jax.jit`, XLA computes :math:`t / T` as :math:`t \cdot (1/T)`, which
  can land just above or below an integer. optax clips :math:`t` before dividing, so
  ``optax.polynomial_schedule`` with a non-integer ``power`` is NaN from the end of the
  transition on under jit; gradlab clips the fraction itself. And optax's ``staircase=True``
  takes ``floor(t / T)``, which under jit is one less at some exact multiples of :math:`T` (at
  :math:`t = 41` for ``transition_steps=41``: a step that comes one step late); gradlab uses an
  exact ``floor_divide``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gradlab.core.base import Schedule

__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "cyclic_schedule",
    "exponential_decay",
    "inverse_time_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "linear_warmup",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
_INTERPOLATE_TYPES = ("linear", "cosine")


# ----------------------------------------------------------------------------------------------
# Validation (R5): concrete bad arguments fail at construction; traced ones are not checked.
# ----------------------------------------------------------------------------------------------


def _concrete(fn: str, name: str, value: Any, example: str) -> float | None:
    """``float(value)`` for a concrete real scalar, ``None`` for a traced one; raises otherwise."""
    if isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise ValueError(
            f"{fn}: {name} must be a real scalar, got {value!r}. Pass e.g. {name}={example}."
        )
    return float(array)


def _check_steps(fn: str, name: str, value: Any, example: str, *, allow_zero: bool = False) -> None:
    """A step count: an integer, positive (or non-negative with ``allow_zero``)."""
    v = _concrete(fn, name, value, example)
    if v is not None and not (v.is_integer() and v >= (0 if allow_zero else 1)):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"{fn}: {name} must be a {kind} integer, got {value!r}. Pass e.g. {name}={example}."
        )


def _check_real(fn: str, name: str, value: Any, interval: str, example: str) -> None:
    """A real number in ``interval``, written like ``"(0, 1]"`` or ``"[0, inf)"``."""
    v = _concrete(fn, name, value, example)
    if v is None:
        return
    low, high = (float(x) for x in interval[1:-1].split(","))
    above = low <= v if interval[0] == "[" else low < v
    below = v <= high if interval[-1] == "]" else v < high
    if not (above and below):
        words = {"(0, inf)": "positive and finite", "[0, inf)": "non-negative and finite"}
        wanted = words.get(interval, f"in {interval}")
        raise ValueError(
            f"{fn}: {name} must be {wanted}, got {value!r}. Pass e.g. {name}={example}."
        )


def _check_boundaries(fn: str, name: str, boundaries: Sequence[Any], example: str) -> None:
    """Boundary steps: non-negative integers, strictly increasing."""
    if any(isinstance(b, jax.core.Tracer) for b in boundaries):
        return
    values = [np.asarray(b) for b in boundaries]
    good = all(v.ndim == 0 and v.dtype.kind in "iuf" and float(v).is_integer() for v in values)
    good = good and all(float(v) >= 0 for v in values)
    good = good and all(float(a) < float(b) for a, b in zip(values, values[1:], strict=False))
    if not good:
        raise ValueError(
            f"{fn}: {name} must be strictly increasing non-negative integer steps, got "
            f"{list(boundaries)!r}. Pass e.g. {name}={example}."
        )


def _check_boundaries_and_scales(
    fn: str, boundaries_and_scales: Mapping[int, float] | None
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Sorted ``(boundaries, scales)``; boundaries non-negative integers, scales >= 0."""
    name, example = "boundaries_and_scales", "{100: 0.1, 200: 0.1}"
    if boundaries_and_scales is None:
        return (), ()
    if not isinstance(boundaries_and_scales, Mapping):
        raise ValueError(
            f"{fn}: {name} must be a dict {{step: scale}} or None, got "
            f"{boundaries_and_scales!r}. Pass e.g. {name}={example}."
        )
    items = sorted(boundaries_and_scales.items())
    _check_boundaries(fn, f"the steps (keys) of {name}", [b for b, _ in items], example)
    for _, scale in items:
        _check_real(fn, f"every scale (value) of {name}", scale, "[0, inf)", example)
    return tuple(b for b, _ in items), tuple(s for _, s in items)


# ----------------------------------------------------------------------------------------------
# Unchecked builders: each public schedule validates its arguments, then returns one of these.
# Hyperparameters are typed ``Any`` here (they are ``ArrayLike``: Python/NumPy/JAX scalars, maybe
# traced), which keeps mypy out of NumPy's operator overloads for unions.
# ----------------------------------------------------------------------------------------------


def _float_steps(step: ArrayLike) -> jax.Array:
    """The step in the default float dtype (float32, or float64 under ``jax.enable_x64``)."""
    return jnp.asarray(step, dtype=float)


def _fraction(t: jax.Array, begin: ArrayLike, steps: ArrayLike) -> jax.Array:
    """Fraction of a linear transition done: ``clip((t - begin) / steps, 0, 1)``; 1 if 0 steps."""
    ramp = jnp.clip((t - begin) / jnp.maximum(steps, 1), 0.0, 1.0)
    return jnp.where(t >= begin + steps, 1.0, ramp)


def _ratio(elapsed: jax.Array, steps: Any, floor: bool) -> jax.Array:
    """``elapsed / steps``, or its floor. The floor uses ``floor_divide``: under ``jax.jit`` XLA
    turns a division by a constant into a product with its reciprocal, and then for example
    ``floor(41 * (1 / 41)) == 0`` in float32, which would put a staircase step one step late."""
    return jnp.floor_divide(elapsed, steps) if floor else elapsed / steps


def _joined(step: ArrayLike, schedules: Sequence[Callable], boundaries: Sequence[Any]) -> jax.Array:
    """``schedules[i](step - boundaries[i-1])`` on ``[boundaries[i-1], boundaries[i])``."""
    t = jnp.asarray(step)
    out = jnp.asarray(schedules[0](t))
    for boundary, schedule in zip(boundaries, schedules[1:], strict=True):
        out = jnp.where(t < boundary, out, schedule(t - boundary))
    return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, t.shape))


def _linear(init_value: Any, end_value: Any, steps: Any, begin: Any = 0) -> Schedule:
    """Linear transition (``steps`` may be 0: then ``end_value`` from ``begin`` on)."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = _fraction(_float_steps(step), begin, steps)
        return (1.0 - a) * init_value + a * end_value

    return schedule


def _polynomial(init_value: Any, end_value: Any, power: Any, steps: Any, begin: Any) -> Schedule:
    """Polynomial transition ``(I - E) (1 - clip((t - B) / T, 0, 1))^P + E``."""

    def schedule(step: ArrayLike) -> jax.Array:
        a = _fraction(_float_steps(step), begin, steps)
        return (init_value - end_value) * (1.0 - a) ** power + end_value

    return schedule


def _cosine(init_value: Any, end_value: Any, steps: Any, exponent: Any) -> Schedule:
    """Cosine decay ``E + (I - E) c^p`` with ``c = (1 + cos(pi min(t, T) / T)) / 2``."""

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.clip(_float_steps(step), 0.0, steps)
        c = 0.5 * (1.0 + jnp.cos(jnp.pi * t / steps))
        return (init_value - end_value) * c**exponent + end_value

    return schedule


def _exponential(
    init_value: Any,
    transition_steps: Any,
    decay_rate: Any,
    transition_begin: Any,
    staircase: bool,
    end_value: Any,
) -> Schedule:
    """Exponential decay (see :func:`exponential_decay`)."""

    def schedule(step: ArrayLike) -> jax.Array:
        elapsed = jnp.maximum(_float_steps(step) - transition_begin, 0.0)
        value = init_value * decay_rate ** _ratio(elapsed, transition_steps, staircase)
        if end_value is not None:  # a lower bound when decaying, an upper bound when growing
            value = jnp.where(
                decay_rate < 1.0, jnp.maximum(value, end_value), jnp.minimum(value, end_value)
            )
        return value

    return schedule


def _interpolated(
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
        t = _float_steps(step)
        out = jnp.full(t.shape, values[-1], dtype=t.dtype)
        for i in reversed(range(len(boundaries))):  # the first segment with t < its end wins
            low, high = bounds[i], bounds[i + 1]
            pct = jnp.clip((t - low) / max(high - low, 1), 0.0, 1.0)
            out = jnp.where(t < high, interpolate(values[i], values[i + 1], pct), out)
        return out

    return schedule


# ----------------------------------------------------------------------------------------------
# Public schedules with an optax counterpart.
# ----------------------------------------------------------------------------------------------


def constant_schedule(value: ArrayLike) -> Schedule:
    r"""Constant schedule: :math:`\gamma_t = \gamma`.

    Args:
      value: the scalar value held throughout. Any sign is accepted.

    Returns:
      A schedule returning ``value`` as a floating array shaped like the step (integer values
      become the default float dtype).

    References:
      Matches: ``optax.constant_schedule`` (which returns ``value`` unchanged instead of an array).

    Example:
      >>> from gradlab.schedules import constant_schedule
      >>> print(constant_schedule(0.5)(1000))
      0.5
    """

    def schedule(step: ArrayLike) -> jax.Array:
        return jnp.full(jnp.shape(step), value, dtype=jnp.result_type(value, float))

    return schedule


def polynomial_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    power: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Polynomial transition from ``init_value`` to ``end_value``.

    .. math::
      \gamma_t = (I - E)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right)^{P} + E,

    i.e. :math:`I` before :math:`B`, :math:`E` from :math:`B + T` on.

    Args:
      init_value: :math:`I`, the value up to step ``transition_begin``.
      end_value: :math:`E`, the value from step ``transition_begin + transition_steps`` on.
      power: :math:`P > 0`; 1 is linear, 2 decays quickly at first then flattens.
      transition_steps: :math:`T \geq 1`, the length of the transition. Unlike optax, which
        logs and returns a constant schedule for ``transition_steps <= 0``, gradlab raises.
      transition_begin: :math:`B \geq 0`, the step the transition starts at (optax replaces a
        negative value by 0 with a log message; gradlab raises).

    Returns:
      A schedule ``step -> value``.

    References:
      Matches: ``optax.polynomial_schedule``.

    Example:
      >>> from gradlab.schedules import polynomial_schedule
      >>> schedule = polynomial_schedule(1.0, 0.0, power=2, transition_steps=100)
      >>> print(f"{schedule(0):.4f} {schedule(50):.4f} {schedule(100):.4f} {schedule(200):.4f}")
      1.0000 0.2500 0.0000 0.0000
    """
    fn = "polynomial_schedule"
    _check_real(fn, "power", power, "(0, inf)", "2")
    _check_steps(fn, "transition_steps", transition_steps, "1000")
    _check_steps(fn, "transition_begin", transition_begin, "0", allow_zero=True)
    return _polynomial(init_value, end_value, power, transition_steps, transition_begin)


def linear_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""Linear decay (or growth) to step :math:`\tau` then constant.

    With :math:`k = t - B` steps into the transition and :math:`\tau = T`,

    .. math::
      \epsilon_k = \Big(1 - \frac{k}{\tau}\Big)\epsilon_0 + \frac{k}{\tau}\,\epsilon_\tau
      \quad (0 \leq k \leq \tau), \qquad
      \epsilon_k = \epsilon_0 \ (k < 0), \qquad \epsilon_k = \epsilon_\tau \ (k > \tau).

    For SGD, :math:`\epsilon_\tau` is typically set to about 1% of :math:`\epsilon_0`, and
    :math:`\tau` to a few hundred passes through the training set (Goodfellow et al., *Deep
    Learning*, §8.3.1). This is :func:`polynomial_schedule` with ``power=1``.

    Args:
      init_value: :math:`\epsilon_0`, the value up to step ``transition_begin``.
      end_value: :math:`\epsilon_\tau`, the value from ``transition_begin + transition_steps`` on.
      transition_steps: :math:`\tau \geq 1`, the length of the transition (optax logs and
        returns a constant schedule for ``transition_steps <= 0``; gradlab raises).
      transition_begin: :math:`B \geq 0`, the step the transition starts at.

    Returns:
      A schedule ``step -> value``.

    References:
      Goodfellow, Bengio & Courville, `Deep Learning <https://www.deeplearningbook.org>`_,
      2016, §8.3.1 (Algorithm 8.1). Matches: ``optax.linear_schedule``.

    Example:
      >>> from gradlab.schedules import linear_schedule
      >>> schedule = linear_schedule(init_value=0.1, end_value=0.001, transition_steps=100)
      >>> print(f"{schedule(0):.4f} {schedule(50):.4f} {schedule(100):.4f} {schedule(500):.4f}")
      0.1000 0.0505 0.0010 0.0010
    """
    fn = "linear_schedule"
    _check_steps(fn, "transition_steps", transition_steps, "1000")
    _check_steps(fn, "transition_begin", transition_begin, "0", allow_zero=True)
    return _linear(init_value, end_value, transition_steps, transition_begin)


def piecewise_constant_schedule(
    init_value: ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""Step decay: the value is multiplied by ``scale`` at each boundary ``step``.

    .. math::
      \gamma_t = I \prod_{i:\ b_i \leq t} s_i .

    "Start at 0.01 and divide by 10 every 30 epochs" is
    ``piecewise_constant_schedule(0.01, {30 * n: 0.1, 60 * n: 0.1, ...})`` with ``n`` steps per
    epoch.

    Args:
      init_value: :math:`I`, the value before the first boundary.
      boundaries_and_scales: ``{b_i: s_i}``, non-negative integer steps mapped to non-negative
        factors; ``None`` or ``{}`` gives a constant schedule.

    Returns:
      A schedule ``step -> value``.

    References:
      Matches: ``optax.piecewise_constant_schedule``.

    Example:
      >>> from gradlab.schedules import piecewise_constant_schedule
      >>> schedule = piecewise_constant_schedule(0.01, {100: 0.1, 200: 0.1})
      >>> print(f"{schedule(99):.4f} {schedule(100):.4f} {schedule(250):.5f}")
      0.0100 0.0010 0.00010
    """
    boundaries, scales = _check_boundaries_and_scales(
        "piecewise_constant_schedule", boundaries_and_scales
    )

    def schedule(step: ArrayLike) -> jax.Array:
        t = _float_steps(step)
        value = jnp.ones_like(t) * init_value
        for boundary, scale in zip(boundaries, scales, strict=True):
            value = jnp.where(t >= boundary, value * scale, value)
        return value

    return schedule


def exponential_decay(
    init_value: ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    r"""Exponential decay: the value is multiplied by ``decay_rate`` every ``transition_steps``.

    .. math::
      p_t = \frac{\max(t - B, 0)}{T} \quad (\lfloor\cdot\rfloor \text{ if staircase}), \qquad
      \gamma_t = \operatorname{clip}\left(I \, r^{p_t}\right),

    where the clip is :math:`\max(\cdot, E)` when :math:`r < 1` and :math:`\min(\cdot, E)`
    otherwise, and is skipped when ``end_value`` is ``None``.

    Args:
      init_value: :math:`I`, the value up to step ``transition_begin``.
      transition_steps: :math:`T \geq 1`, the steps per factor of :math:`r`. optax logs and
        returns a constant schedule for ``transition_steps <= 0``; gradlab raises.
      decay_rate: :math:`r > 0`; below 1 decays, above 1 grows. optax returns a constant
        schedule for ``decay_rate == 0``; gradlab raises for ``decay_rate <= 0``.
      transition_begin: :math:`B \geq 0`, the step the decay starts at.
      staircase: if ``True``, decay in discrete jumps every ``transition_steps`` steps.
      end_value: :math:`E`, a lower bound when decaying (an upper bound when growing), or
        ``None`` for no bound.

    Returns:
      A schedule ``step -> value``.

    References:
      Matches: ``optax.exponential_decay``.

    Example:
      >>> from gradlab.schedules import exponential_decay
      >>> schedule = exponential_decay(init_value=0.1, transition_steps=100, decay_rate=0.5)
      >>> print(f"{schedule(0):.4f} {schedule(100):.4f} {schedule(200):.4f}")
      0.1000 0.0500 0.0250
    """
    fn = "exponential_decay"
    _check_steps(fn, "transition_steps", transition_steps, "1000")
    _check_real(fn, "decay_rate", decay_rate, "(0, inf)", "0.5")
    _check_steps(fn, "transition_begin", transition_begin, "0", allow_zero=True)
    return _exponential(
        init_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )


def cosine_decay_schedule(
    init_value: ArrayLike,
    decay_steps: int,
    alpha: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    r"""Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps``.

    .. math::
      c_t = \tfrac12\left(1 + \cos\frac{\pi \min(t, T)}{T}\right), \qquad
      \gamma_t = I\left((1 - \alpha)\, c_t^{\,p} + \alpha\right).

    Args:
      init_value: :math:`I`, the value at step 0.
      decay_steps: :math:`T \geq 1`; the value is :math:`\alpha I` from step :math:`T` on.
      alpha: the final value as a fraction of ``init_value`` (any real; optax does not check it).
      exponent: :math:`p > 0`, sharpens (:math:`p > 1`) or flattens the cosine.

    Returns:
      A schedule ``step -> value``.

    References:
      Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm Restarts
      <https://arxiv.org/abs/1608.03983>`_, ICLR 2017, Eq. (5).
      Matches: ``optax.cosine_decay_schedule``.

    Example:
      >>> from gradlab.schedules import cosine_decay_schedule
      >>> schedule = cosine_decay_schedule(init_value=1.0, decay_steps=100, alpha=0.1)
      >>> print(f"{schedule(0):.4f} {schedule(50):.4f} {schedule(100):.4f} {schedule(150):.4f}")
      1.0000 0.5500 0.1000 0.1000
    """
    fn = "cosine_decay_schedule"
    _check_steps(fn, "decay_steps", decay_steps, "1000")
    _check_real(fn, "exponent", exponent, "(0, inf)", "1.0")
    # I((1 - alpha) c^p + alpha): the optax form, which is I * alpha exactly at the end.
    decay = _cosine(1.0, 0.0, decay_steps, exponent)

    def schedule(step: ArrayLike) -> jax.Array:
        return jnp.multiply(init_value, (1.0 - alpha) * decay(step) + alpha)

    return schedule


def warmup_cosine_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then cosine decay to ``end_value``.

    With :math:`W` = ``warmup_steps`` and :math:`D` = ``decay_steps`` (which includes the
    warm-up),

    .. math::
      \gamma_t = \begin{cases}
        I + (P - I)\, t / W, & t < W, \\
        E + (P - E)\, c_{t - W}^{\,p}, & t \geq W,
      \end{cases} \qquad
      c_s = \tfrac12\left(1 + \cos\frac{\pi \min(s, D - W)}{D - W}\right).

    Args:
      init_value: :math:`I`, the value at step 0.
      peak_value: :math:`P`, the value at the end of the warm-up.
      warmup_steps: :math:`W \geq 0`; 0 starts the decay at step 0.
      decay_steps: :math:`D > W`, the total length of the schedule, warm-up included.
      end_value: :math:`E`, the value from step :math:`D` on.
      exponent: :math:`p > 0`, the exponent of the cosine factor.

    Returns:
      A schedule ``step -> value``.

    References:
      Goyal et al., `Accurate, Large Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017,
      §2.2 (warm-up); Loshchilov & Hutter, `SGDR <https://arxiv.org/abs/1608.03983>`_, 2017.
      Matches: ``optax.warmup_cosine_decay_schedule`` (except ``peak_value=0``, where optax's
      decay phase is 0 throughout).

    Example:
      >>> from gradlab.schedules import warmup_cosine_decay_schedule
      >>> schedule = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
      >>> print(f"{schedule(5):.4f} {schedule(10):.4f} {schedule(60):.4f} {schedule(110):.4f}")
      0.5000 1.0000 0.5000 0.0000
    """
    fn = "warmup_cosine_decay_schedule"
    _check_steps(fn, "warmup_steps", warmup_steps, "100", allow_zero=True)
    _check_steps(fn, "decay_steps", decay_steps, "1000")
    _check_real(fn, "exponent", exponent, "(0, inf)", "1.0")
    traced = any(isinstance(x, jax.core.Tracer) for x in (warmup_steps, decay_steps))
    if not traced and decay_steps <= warmup_steps:
        raise ValueError(
            f"{fn}: decay_steps must be greater than warmup_steps (decay_steps counts the warm-up "
            f"too), got decay_steps={decay_steps!r}, warmup_steps={warmup_steps!r}. Pass e.g. "
            f"decay_steps={int(warmup_steps) + 1000}."
        )
    return _joined_schedule(
        [
            _linear(init_value, peak_value, warmup_steps),
            _cosine(peak_value, end_value, decay_steps - warmup_steps, exponent),
        ],
        [warmup_steps],
    )


def warmup_exponential_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then :func:`exponential_decay` from ``peak_value``.

    .. math::
      \gamma_t = \begin{cases}
        I + (P - I)\, t / W, & t < W, \\
        \operatorname{clip}\left(P\, r^{p_{t - W}}\right), & t \geq W,
      \end{cases} \qquad
      p_s = \frac{\max(s - B, 0)}{T} \quad (\lfloor\cdot\rfloor \text{ if staircase}).

    Args:
      init_value: :math:`I`, the value at step 0.
      peak_value: :math:`P`, the value at the end of the warm-up.
      warmup_steps: :math:`W \geq 0`, the length of the warm-up.
      transition_steps: :math:`T \geq 1`, the steps per factor of :math:`r` (optax logs and
        holds ``peak_value`` for ``transition_steps <= 0``; gradlab raises).
      decay_rate: :math:`r > 0`.
      transition_begin: :math:`B \geq 0`, steps after the warm-up before the decay starts.
      staircase: if ``True``, decay in discrete jumps.
      end_value: a lower bound when decaying (upper bound when growing), or ``None``.

    Returns:
      A schedule ``step -> value``.

    References:
      Matches: ``optax.warmup_exponential_decay_schedule``.

    Example:
      >>> from gradlab.schedules import warmup_exponential_decay_schedule
      >>> schedule = warmup_exponential_decay_schedule(0.0, 1.0, 10, 100, 0.5)
      >>> print(f"{schedule(5):.4f} {schedule(10):.4f} {schedule(110):.4f}")
      0.5000 1.0000 0.5000
    """
    fn = "warmup_exponential_decay_schedule"
    _check_steps(fn, "warmup_steps", warmup_steps, "100", allow_zero=True)
    _check_steps(fn, "transition_steps", transition_steps, "1000")
    _check_real(fn, "decay_rate", decay_rate, "(0, inf)", "0.5")
    _check_steps(fn, "transition_begin", transition_begin, "0", allow_zero=True)
    return _joined_schedule(
        [
            _linear(init_value, peak_value, warmup_steps),
            _exponential(
                peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
            ),
        ],
        [warmup_steps],
    )


def warmup_constant_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
) -> Schedule:
    r"""Linear warm-up to ``peak_value``, then constant.

    .. math::
      \gamma_t = I + (P - I) \min(t / W, 1) \quad (W > 0), \qquad \gamma_t = P \quad (W = 0).

    Args:
      init_value: :math:`I`, the value at step 0.
      peak_value: :math:`P`, the value from step :math:`W` on.
      warmup_steps: :math:`W \geq 0`. With 0 the schedule is ``peak_value`` throughout (optax
        would return ``init_value`` throughout).

    Returns:
      A schedule ``step -> value``.

    References:
      Goyal et al., `Accurate, Large Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017,
      §2.2. Matches: ``optax.warmup_constant_schedule`` (for ``warmup_steps >= 1``).

    Example:
      >>> from gradlab.schedules import warmup_constant_schedule
      >>> schedule = warmup_constant_schedule(0.0, 0.1, warmup_steps=100)
      >>> print(f"{schedule(0):.3f} {schedule(50):.3f} {schedule(100):.3f} {schedule(10**6):.3f}")
      0.000 0.050 0.100 0.100
    """
    _check_steps("warmup_constant_schedule", "warmup_steps", warmup_steps, "100", allow_zero=True)
    return _linear(init_value, peak_value, warmup_steps)


def _joined_schedule(schedules: Sequence[Callable], boundaries: Sequence[Any]) -> Schedule:
    """Unchecked :func:`join_schedules`."""

    def schedule(step: ArrayLike) -> jax.Array:
        return _joined(step, schedules, boundaries)

    return schedule


def join_schedules(schedules: Sequence[Callable], boundaries: Sequence[int]) -> Schedule:
    r"""Run ``schedules`` one after another, each restarting its step count at its boundary.

    With boundaries :math:`b_1 < \dots < b_{n-1}` and :math:`b_0 = 0`,

    .. math::
      \gamma_t = f_i(t - b_i) \quad \text{for } b_i \leq t < b_{i+1}
      \qquad (f_0(t) \text{ for } t < b_1).

    Args:
      schedules: :math:`n \geq 1` callables ``step -> value`` (gradlab or optax schedules).
      boundaries: :math:`n - 1` strictly increasing non-negative integer steps at which to
        switch to the next schedule (optax silently ignores extra or missing entries).

    Returns:
      A schedule ``step -> value``.

    References:
      Matches: ``optax.join_schedules``.

    Example:
      >>> from gradlab.schedules import constant_schedule, join_schedules, linear_schedule
      >>> schedule = join_schedules(
      ...     [linear_schedule(0.0, 1.0, 10), constant_schedule(0.5)], boundaries=[10])
      >>> print(f"{schedule(5):.2f} {schedule(10):.2f}")
      0.50 0.50
    """
    fn = "join_schedules"
    schedules, boundaries = list(schedules), list(boundaries)
    if not schedules or not all(callable(s) for s in schedules):
        raise ValueError(
            f"{fn}: schedules must be a non-empty list of callables step -> value, got "
            f"{schedules!r}. Pass e.g. schedules=[linear_schedule(0.0, 0.1, 100), "
            "cosine_decay_schedule(0.1, 1000)]."
        )
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"{fn}: boundaries must have one entry fewer than schedules, got {len(boundaries)} "
            f"boundaries for {len(schedules)} schedules. Pass e.g. boundaries=[100] for two "
            "schedules."
        )
    _check_boundaries(fn, "boundaries", boundaries, "[100, 1000]")
    return _joined_schedule(schedules, boundaries)


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, Any]]) -> Schedule:
    r"""SGDR: cosine annealing with warm restarts, one warm-up-cosine cycle after another.

    Cycle :math:`i` lasts :math:`D_i` = ``cosine_kwargs[i]["decay_steps"]`` steps; with
    :math:`S_i = D_0 + \dots + D_{i-1}`,

    .. math::
      \gamma_t = f_i(t - S_i) \quad \text{for } S_i \leq t < S_{i+1}, \qquad
      f_i = \texttt{warmup\_cosine\_decay\_schedule(**cosine\_kwargs[i])},

    and the last cycle continues past its end at its ``end_value``.

    Args:
      cosine_kwargs: a non-empty iterable of dicts of :func:`warmup_cosine_decay_schedule`
        arguments; each must hold ``decay_steps``, the length of its cycle.

    Returns:
      A schedule ``step -> value``.

    References:
      Loshchilov & Hutter, `SGDR: Stochastic Gradient Descent with Warm Restarts
      <https://arxiv.org/abs/1608.03983>`_, ICLR 2017. Matches: ``optax.sgdr_schedule``.

    Example:
      >>> from gradlab.schedules import sgdr_schedule
      >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=0, decay_steps=100)
      >>> schedule = sgdr_schedule([cycle, cycle])
      >>> print(f"{schedule(0):.2f} {schedule(50):.2f} {schedule(99):.4f} {schedule(100):.2f}")
      1.00 0.50 0.0002 1.00
    """
    fn = "sgdr_schedule"
    example = "[dict(init_value=0.0, peak_value=0.1, warmup_steps=10, decay_steps=1000)] * 3"
    cycles = list(cosine_kwargs)
    if not cycles:
        raise ValueError(
            f"{fn}: cosine_kwargs must hold at least one dict of warmup_cosine_decay_schedule "
            f"arguments, got an empty iterable. Pass e.g. cosine_kwargs={example}."
        )
    schedules: list[Schedule] = []
    boundaries: list[Any] = []
    start: Any = 0
    for i, kwargs in enumerate(cycles):
        if not isinstance(kwargs, Mapping) or "decay_steps" not in kwargs:
            raise ValueError(
                f"{fn}: cosine_kwargs[{i}] must be a dict with a 'decay_steps' entry, got "
                f"{kwargs!r}. Pass e.g. cosine_kwargs={example}."
            )
        try:
            schedules.append(warmup_cosine_decay_schedule(**kwargs))
        except ValueError as error:
            raise ValueError(f"{fn}: cosine_kwargs[{i}]: {error}") from None
        start = start + kwargs["decay_steps"]
        boundaries.append(start)
    return _joined_schedule(schedules, boundaries[:-1])


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""Interpolate (linearly or along a half cosine) between accumulated boundary values.

    With sorted boundaries :math:`b_0 = 0 \leq b_1 < \dots < b_n`, accumulated values
    :math:`v_i = I \prod_{j \leq i} s_j` (:math:`v_0 = I`) and
    :math:`\rho = (t - b_i) / \max(b_{i+1} - b_i, 1)` on :math:`b_i \leq t < b_{i+1}`,

    .. math::
      \gamma_t = \begin{cases}
        v_i + (v_{i+1} - v_i)\, \rho & \text{linear}, \\
        v_{i+1} + \tfrac12 (v_i - v_{i+1}) (1 + \cos \pi\rho) & \text{cosine},
      \end{cases}
      \qquad \gamma_t = v_n \ \text{for } t \geq b_n .

    The interpolation runs between the accumulated values, not between the raw scales.

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"``.
      init_value: :math:`I`, the value at step 0 (and at negative steps; optax gives 0 there).
      boundaries_and_scales: ``{b_i: s_i}``, non-negative integer steps mapped to non-negative
        factors; ``None`` or ``{}`` gives a constant schedule.

    Returns:
      A schedule ``step -> value`` (which, unlike optax's, also takes an array of steps).

    References:
      Matches: ``optax.piecewise_interpolate_schedule``.

    Example:
      >>> from gradlab.schedules import piecewise_interpolate_schedule
      >>> schedule = piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
      >>> print(" ".join(f"{schedule(t):.4f}" for t in range(0, 11, 2)))
      1.0000 0.5500 0.1000 0.0505 0.0010 0.0010
    """
    fn = "piecewise_interpolate_schedule"
    if interpolate_type not in _INTERPOLATE_TYPES:
        raise ValueError(
            f"{fn}: interpolate_type must be one of {_INTERPOLATE_TYPES}, got "
            f"{interpolate_type!r}. Pass e.g. interpolate_type='cosine'."
        )
    boundaries, scales = _check_boundaries_and_scales(fn, boundaries_and_scales)
    return _interpolated(interpolate_type, init_value, boundaries, scales)


def _check_onecycle(
    fn: str, transition_steps: Any, pct_start: Any, div_factor: Any, final_div_factor: Any
) -> None:
    """Checks shared by the two one-cycle schedules."""
    _check_steps(fn, "transition_steps", transition_steps, "10000")
    _check_real(fn, "pct_start", pct_start, "(0, 1)", "0.3")
    _check_real(fn, "div_factor", div_factor, "(0, inf)", "25.0")
    _check_real(fn, "final_div_factor", final_div_factor, "(0, inf)", "1e4")


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One-cycle policy: half-cosine warm-up to ``peak_value``, then half-cosine annealing.

    With :math:`T` = ``transition_steps``, :math:`b = \lfloor \text{pct\_start}\, T \rfloor`,
    :math:`v_0 = P / \text{div\_factor}` and
    :math:`v_2 = v_0 / \text{final\_div\_factor}`,

    .. math::
      \gamma_t = \begin{cases}
        P + \tfrac12 (v_0 - P)(1 + \cos(\pi t / b)), & t < b, \\
        v_2 + \tfrac12 (P - v_2)(1 + \cos(\pi (t - b) / (T - b))), & b \leq t < T, \\
        v_2, & t \geq T .
      \end{cases}

    Args:
      transition_steps: :math:`T \geq 1`, the length of the cycle.
      peak_value: :math:`P`, the value at step :math:`b`.
      pct_start: the fraction of the cycle spent warming up, in (0, 1).
      div_factor: :math:`> 0`; the initial value is ``peak_value / div_factor``.
      final_div_factor: :math:`> 0`; the final value is ``initial value / final_div_factor``.

    Returns:
      A schedule ``step -> value``.

    References:
      Smith & Topin, `Super-Convergence: Very Fast Training of Neural Networks Using Large
      Learning Rates <https://arxiv.org/abs/1708.07120>`_, 2018.
      Matches: ``optax.cosine_onecycle_schedule``.

    Example:
      >>> from gradlab.schedules import cosine_onecycle_schedule
      >>> schedule = cosine_onecycle_schedule(transition_steps=100, peak_value=1.0)
      >>> print(f"{schedule(0):.4f} {schedule(30):.4f} {schedule(100):.7f}")
      0.0400 1.0000 0.0000040
    """
    fn = "cosine_onecycle_schedule"
    _check_onecycle(fn, transition_steps, pct_start, div_factor, final_div_factor)
    return _interpolated(
        "cosine",
        peak_value / div_factor,
        (int(pct_start * transition_steps), int(transition_steps)),
        (div_factor, 1.0 / (div_factor * final_div_factor)),
    )


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One-cycle policy with three linear phases.

    With :math:`T` = ``transition_steps``, :math:`b_1 = \lfloor \text{pct\_start}\, T \rfloor`,
    :math:`b_2 = \lfloor \text{pct\_final}\, T \rfloor`, :math:`v_0 = P / \text{div\_factor}`
    and :math:`v_3 = v_0 / \text{final\_div\_factor}`, the value goes linearly
    :math:`v_0 \to P` on :math:`[0, b_1]`, :math:`P \to v_0` on :math:`[b_1, b_2]`,
    :math:`v_0 \to v_3` on :math:`[b_2, T]`, and stays at :math:`v_3` afterwards:

    .. math::
      \gamma_t = v_i + (v_{i+1} - v_i) \frac{t - b_i}{b_{i+1} - b_i}
      \quad (b_i \leq t < b_{i+1}), \qquad (b_0, b_3) = (0, T), \ (v_1, v_2) = (P, v_0).

    Args:
      transition_steps: :math:`T \geq 1`, the length of the cycle.
      peak_value: :math:`P`, the value at step :math:`b_1`.
      pct_start: the fraction of the cycle spent increasing, in (0, 1).
      pct_final: the fraction of the cycle at which the value is back to ``v_0``, in
        (pct_start, 1); :math:`b_1 < b_2` is required (optax silently drops a phase).
      div_factor: :math:`> 0`; the initial value is ``peak_value / div_factor``.
      final_div_factor: :math:`> 0`; the final value is ``initial value / final_div_factor``.

    Returns:
      A schedule ``step -> value``.

    References:
      Smith & Topin, `Super-Convergence <https://arxiv.org/abs/1708.07120>`_, 2018.
      Matches: ``optax.linear_onecycle_schedule``.

    Example:
      >>> from gradlab.schedules import linear_onecycle_schedule
      >>> schedule = linear_onecycle_schedule(transition_steps=100, peak_value=1.0)
      >>> print(f"{schedule(0):.4f} {schedule(30):.4f} {schedule(85):.4f} {schedule(100):.7f}")
      0.0400 1.0000 0.0400 0.0000040
    """
    fn = "linear_onecycle_schedule"
    _check_onecycle(fn, transition_steps, pct_start, div_factor, final_div_factor)
    _check_real(fn, "pct_final", pct_final, f"({pct_start}, 1)", "0.85")
    b1, b2 = int(pct_start * transition_steps), int(pct_final * transition_steps)
    if b1 >= b2:
        raise ValueError(
            f"{fn}: pct_final * transition_steps must round down to a later step than pct_start "
            f"* transition_steps, got step {b2} for both phases. Pass e.g. a larger "
            "transition_steps or pct_final=0.85."
        )
    return _interpolated(
        "linear",
        peak_value / div_factor,
        (b1, b2, int(transition_steps)),
        (div_factor, 1.0 / div_factor, 1.0 / final_div_factor),
    )


# ----------------------------------------------------------------------------------------------
# Public schedules beyond optax.
# ----------------------------------------------------------------------------------------------


def inverse_time_decay(
    init_value: ArrayLike,
    decay_rate: float,
    transition_steps: int = 1,
    staircase: bool = False,
) -> Schedule:
    r"""Inverse-time decay :math:`\gamma_t = \gamma_0 / (1 + k t)`.

    .. math::
      \gamma_t = \frac{\gamma_0}{1 + k\, p_t}, \qquad
      p_t = \frac{\max(t, 0)}{T} \quad (\lfloor\cdot\rfloor \text{ if staircase}).

    Steps of size :math:`\propto 1/t` satisfy the Robbins-Monro conditions
    :math:`\sum_t \gamma_t = \infty`, :math:`\sum_t \gamma_t^2 < \infty`.

    Args:
      init_value: :math:`\gamma_0`, the value at step 0.
      decay_rate: :math:`k \geq 0`; 0 gives a constant schedule.
      transition_steps: :math:`T \geq 1`, the time unit of :math:`k` (Keras's ``decay_steps``).
      staircase: if ``True``, decay in discrete jumps every ``transition_steps`` steps.

    Returns:
      A schedule ``step -> value``.

    References:
      Keras ``InverseTimeDecay`` (same formula); Bottou, `Stochastic Gradient Descent Tricks
      <https://leon.bottou.org/publications/pdf/tricks-2012.pdf>`_, 2012, §5.2. No optax
      counterpart.

    Example:
      >>> from gradlab.schedules import inverse_time_decay
      >>> schedule = inverse_time_decay(init_value=0.1, decay_rate=1.0, transition_steps=100)
      >>> print(f"{schedule(0):.4f} {schedule(100):.4f} {schedule(300):.4f}")
      0.1000 0.0500 0.0250
    """
    fn = "inverse_time_decay"
    _check_real(fn, "decay_rate", decay_rate, "[0, inf)", "0.5")
    _check_steps(fn, "transition_steps", transition_steps, "1000")

    def schedule(step: ArrayLike) -> jax.Array:
        p = _ratio(jnp.maximum(_float_steps(step), 0.0), transition_steps, staircase)
        return jnp.divide(init_value, 1.0 + decay_rate * p)

    return schedule


def cyclic_schedule(
    base_value: ArrayLike,
    max_value: ArrayLike,
    step_size: int,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    r"""Cyclical learning rate: triangular waves between ``base_value`` and ``max_value``.

    With :math:`s` = ``step_size`` (half a cycle) and :math:`t \geq 0`,

    .. math::
      \text{cycle} = \left\lfloor 1 + \frac{t}{2s} \right\rfloor, \qquad
      x = \left|\frac{t}{s} - 2\,\text{cycle} + 1\right|, \qquad
      \gamma_t = \gamma_{\text{base}}
        + (\gamma_{\max} - \gamma_{\text{base}}) \max(0, 1 - x)\, \sigma_t,

    with :math:`\sigma_t = 1` (``"triangular"``), :math:`2^{1 - \text{cycle}}`
    (``"triangular2"``, the amplitude halves every cycle) or :math:`\gamma^{t}`
    (``"exp_range"``).

    Args:
      base_value: the value at the start of every cycle.
      max_value: the value at the middle of the first cycle.
      step_size: :math:`s \geq 1`, steps per half cycle (Smith suggests 2-10 epochs).
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
      gamma: :math:`\gamma \in (0, 1]`, the per-step amplitude decay of ``"exp_range"``.

    Returns:
      A schedule ``step -> value``.

    References:
      Smith, `Cyclical Learning Rates for Training Neural Networks
      <https://arxiv.org/abs/1506.01186>`_, WACV 2017, Alg. 1. No optax counterpart.

    Example:
      >>> from gradlab.schedules import cyclic_schedule
      >>> schedule = cyclic_schedule(0.1, 1.0, step_size=10, mode="triangular2")
      >>> print(" ".join(f"{schedule(t):.2f}" for t in (0, 5, 10, 20, 30, 40)))
      0.10 0.55 1.00 0.10 0.55 0.10
    """
    fn = "cyclic_schedule"
    _check_steps(fn, "step_size", step_size, "2000")
    if mode not in _CYCLIC_MODES:
        raise ValueError(
            f"{fn}: mode must be one of {_CYCLIC_MODES}, got {mode!r}. Pass e.g. mode='triangular'."
        )
    _check_real(fn, "gamma", gamma, "(0, 1]", "0.99994")

    def schedule(step: ArrayLike) -> jax.Array:
        t = jnp.maximum(_float_steps(step), 0.0)
        cycle = 1.0 + _ratio(t, 2 * step_size, floor=True)
        # max(0, 1 - x) = min(m, 2s - m) / s with m = t mod 2s: exact up to one rounding, where
        # t / s - 2 cycle + 1 would cancel digits.
        position = jnp.mod(t, 2 * step_size)
        height = jnp.minimum(position, 2 * step_size - position) / step_size
        if mode == "triangular2":
            height = height * 0.5 ** (cycle - 1.0)
        elif mode == "exp_range":
            height = height * jnp.power(gamma, t)
        return height * jnp.subtract(max_value, base_value) + base_value

    return schedule


def linear_warmup(schedule: Callable, warmup_steps: int, init_value: ArrayLike = 0.0) -> Schedule:
    r"""Prepend a linear warm-up from ``init_value`` to ``schedule(0)`` to any schedule.

    .. math::
      \gamma_t = \begin{cases}
        \gamma_{\text{init}} + (f(0) - \gamma_{\text{init}})\, t / W, & t < W, \\
        f(t - W), & t \geq W .
      \end{cases}

    Args:
      schedule: :math:`f`, any callable ``step -> value`` (gradlab or optax schedule).
      warmup_steps: :math:`W \geq 0`; 0 returns ``schedule`` unchanged for steps :math:`\geq 0`.
      init_value: the value at step 0.

    Returns:
      A schedule ``step -> value``.

    References:
      Goyal et al., `Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour
      <https://arxiv.org/abs/1706.02677>`_, 2017, §2.2 (gradual warm-up). No optax counterpart.

    Example:
      >>> from gradlab.schedules import exponential_decay, linear_warmup
      >>> schedule = linear_warmup(exponential_decay(1.0, 100, 0.5), warmup_steps=10)
      >>> print(f"{schedule(0):.2f} {schedule(5):.2f} {schedule(10):.2f} {schedule(110):.2f}")
      0.00 0.50 1.00 0.50
    """
    fn = "linear_warmup"
    if not callable(schedule):
        raise ValueError(
            f"{fn}: schedule must be a callable step -> value, got {schedule!r}. Pass e.g. "
            "schedule=cosine_decay_schedule(0.1, 1000)."
        )
    _check_steps(fn, "warmup_steps", warmup_steps, "100", allow_zero=True)

    def warmup(step: ArrayLike) -> ArrayLike:
        return _linear(init_value, schedule(0), warmup_steps)(step)

    return _joined_schedule([warmup, schedule], [warmup_steps])

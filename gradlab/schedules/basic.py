r"""Closed-form schedules: constant, polynomial, linear, piecewise, exponential and inverse-time.

Each is one formula in the step :math:`t`, or a product or an interpolation over fixed boundary
steps. :mod:`gradlab.schedules` states the conventions every schedule follows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradlab.core import validation
from gradlab.core.base import Schedule
from gradlab.schedules import curves

_INTERPOLATE_TYPES = ("linear", "cosine")
_CONSTANT = "the schedule is the constant init_value"  # what optax returns for degenerate args


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
    return curves.constant(value)


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
      transition_steps: :math:`T \geq 1`, the length of the transition. A value :math:`\leq 0`
        gives the constant ``init_value`` with a warning, as optax does (with a log message).
      transition_begin: :math:`B \geq 0`, the step the transition starts at; a negative value
        is replaced by 0 with a warning, as optax does.

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
    validation.check_in_interval(fn, "power", power, "(0, inf)", "2")
    steps, begin = validation.check_transition(fn, transition_steps, transition_begin, _CONSTANT)
    if steps is None:
        return curves.constant(init_value)
    return curves.polynomial(init_value, end_value, power, steps, begin)


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
      transition_steps: :math:`\tau \geq 1`, the length of the transition; a value
        :math:`\leq 0` gives the constant ``init_value`` with a warning (optax's rule).
      transition_begin: :math:`B \geq 0`, the step the transition starts at (a negative value
        warns and gives 0, as in optax).

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
    steps, begin = validation.check_transition(fn, transition_steps, transition_begin, _CONSTANT)
    if steps is None:
        return curves.constant(init_value)
    return curves.linear(init_value, end_value, steps, begin)


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
    boundaries, scales = validation.check_boundaries_and_scales(
        "piecewise_constant_schedule", boundaries_and_scales
    )

    def schedule(step: ArrayLike) -> jax.Array:
        t = curves.exact_steps(step)
        value = jnp.ones(jnp.shape(t), dtype=float) * init_value
        for boundary, scale in zip(boundaries, scales, strict=True):
            value = jnp.where(curves.before(t, boundary), value, value * scale)
        return value

    return schedule


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
    validation.check_choice(fn, "interpolate_type", interpolate_type, _INTERPOLATE_TYPES)
    boundaries, scales = validation.check_boundaries_and_scales(fn, boundaries_and_scales)
    return curves.interpolated(interpolate_type, init_value, boundaries, scales)


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
      transition_steps: :math:`T \geq 1`, the steps per factor of :math:`r`. A value
        :math:`\leq 0` gives the constant ``init_value`` with a warning, as optax does.
      decay_rate: :math:`r > 0`; below 1 decays, above 1 grows. ``decay_rate=0`` gives the
        constant ``init_value`` with a warning, as optax does; a negative rate raises (optax's
        :math:`r^{p}` is NaN for fractional :math:`p`).
      transition_begin: :math:`B \geq 0`, the step the decay starts at (a negative value warns
        and gives 0, as in optax).
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
    steps, begin = validation.check_transition(fn, transition_steps, transition_begin, _CONSTANT)
    no_decay = validation.check_rate_or_zero(fn, "decay_rate", decay_rate, "0.5", _CONSTANT)
    if steps is None or no_decay:
        return curves.constant(init_value)
    return curves.exponential(init_value, steps, decay_rate, begin, staircase, end_value)


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
    validation.check_in_interval(fn, "decay_rate", decay_rate, "[0, inf)", "0.5")
    steps = validation.check_step_count(fn, "transition_steps", transition_steps, "1000")

    def schedule(step: ArrayLike) -> jax.Array:
        elapsed = curves.at_least(curves.exact_steps(step), 0)
        return jnp.divide(init_value, 1.0 + decay_rate * curves.ratio(elapsed, steps, staircase))

    return schedule

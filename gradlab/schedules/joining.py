r"""Schedules in phases: :func:`join_schedules`, and linear warm-ups before another schedule.

:mod:`gradlab.schedules` states the conventions every schedule follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jax.typing import ArrayLike

from gradlab.core import validation
from gradlab.core.base import Schedule
from gradlab.schedules import curves


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
    for i, schedule in enumerate(schedules):
        validation.check_schedule(fn, f"schedules[{i}]", schedule)
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"{fn}: boundaries must have one entry fewer than schedules, got {len(boundaries)} "
            f"boundaries for {len(schedules)} schedules. Pass e.g. boundaries=[100] for two "
            "schedules."
        )
    steps = validation.check_increasing_steps(fn, "boundaries", boundaries, "[100, 1000]")
    return curves.joined(schedules, steps)


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
    validation.check_schedule(fn, "schedule", schedule)
    steps = validation.check_step_count(fn, "warmup_steps", warmup_steps, "100", allow_zero=True)

    def warmup(step: ArrayLike) -> ArrayLike:
        return curves.linear(init_value, schedule(0), steps)(step)

    return curves.joined([warmup, schedule], [steps])


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
        would return ``init_value`` throughout). A negative :math:`W` warns and, as in optax,
        gives the constant ``init_value``.

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
    steps = validation.check_warmup_steps(
        "warmup_constant_schedule", warmup_steps, "the schedule is the constant init_value"
    )
    return curves.warmup(init_value, peak_value, steps)


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
      warmup_steps: :math:`W \geq 0`, the length of the warm-up. A negative :math:`W` warns
        and, as in optax, starts the decay :math:`|W|` steps early (at step :math:`W`).
      transition_steps: :math:`T \geq 1`, the steps per factor of :math:`r`; a value
        :math:`\leq 0` warns and holds ``peak_value`` after the warm-up, as optax does.
      decay_rate: :math:`r > 0`; ``decay_rate=0`` warns and holds ``peak_value`` after the
        warm-up, as optax does.
      transition_begin: :math:`B \geq 0`, steps after the warm-up before the decay starts (a
        negative value warns and gives 0, as in optax).
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
    holds = "the decay phase holds peak_value"
    warmup = validation.check_warmup_steps(fn, warmup_steps)
    steps, begin = validation.check_transition(fn, transition_steps, transition_begin, holds)
    no_decay = validation.check_rate_or_zero(fn, "decay_rate", decay_rate, "0.5", holds)
    if steps is None or no_decay:
        decay = curves.constant(peak_value)
    else:
        decay = curves.exponential(peak_value, steps, decay_rate, begin, staircase, end_value)
    return curves.joined([curves.warmup(init_value, peak_value, warmup), decay], [warmup])

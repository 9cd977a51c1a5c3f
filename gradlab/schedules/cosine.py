r"""Cosine annealing: cosine decay, with a linear warm-up first, and with warm restarts (SGDR).

:mod:`gradlab.schedules` states the conventions every schedule follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradlab.core import validation
from gradlab.core.base import Schedule
from gradlab.schedules import curves


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
    steps = validation.check_step_count(fn, "decay_steps", decay_steps, "1000")  # optax raises
    validation.check_in_interval(fn, "exponent", exponent, "(0, inf)", "1.0")
    # I((1 - alpha) c^p + alpha): the optax form, which is I * alpha exactly at the end.
    decay = curves.cosine(1.0, 0.0, steps, exponent)

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
      peak_value: :math:`P`, the value at the end of the warm-up. With ``peak_value=0`` the
        decay phase is 0 (optax's :math:`P((1 - \alpha) c + \alpha)` with :math:`\alpha = 0`),
        with a warning unless ``end_value`` is 0 too.
      warmup_steps: :math:`W \geq 0`; 0 starts the decay at step 0. A negative :math:`W`
        warns and, as in optax, starts the decay :math:`|W|` steps early (at step :math:`W`).
      decay_steps: :math:`D > W`, the total length of the schedule, warm-up included (optax
        raises too).
      end_value: :math:`E`, the value from step :math:`D` on.
      exponent: :math:`p > 0`, the exponent of the cosine factor.

    Returns:
      A schedule ``step -> value``.

    References:
      Goyal et al., `Accurate, Large Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017,
      §2.2 (warm-up); Loshchilov & Hutter, `SGDR <https://arxiv.org/abs/1608.03983>`_, 2017.
      Matches: ``optax.warmup_cosine_decay_schedule``.

    Example:
      >>> from gradlab.schedules import warmup_cosine_decay_schedule
      >>> schedule = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
      >>> print(f"{schedule(5):.4f} {schedule(10):.4f} {schedule(60):.4f} {schedule(110):.4f}")
      0.5000 1.0000 0.5000 0.0000
    """
    fn = "warmup_cosine_decay_schedule"
    warmup = validation.check_warmup_steps(fn, warmup_steps)
    decay = validation.check_step_count(fn, "decay_steps", decay_steps, "1000")
    validation.check_in_interval(fn, "exponent", exponent, "(0, inf)", "1.0")
    traced = any(validation.is_traced(x) for x in (warmup, decay))
    if not traced and decay <= warmup:
        raise ValueError(
            f"{fn}: decay_steps must be greater than warmup_steps (decay_steps counts the warm-up "
            f"too), got decay_steps={decay}, warmup_steps={warmup}. Pass e.g. "
            f"decay_steps={warmup + 1000}."
        )
    zero_peak = validation.is_concrete_zero(peak_value)
    if zero_peak and not validation.is_concrete_zero(end_value):
        validation.warn_degenerate(
            fn,
            f"peak_value=0 makes the decay phase 0, as in optax (end_value={end_value!r} is "
            "never reached). Pass a nonzero peak_value, or join a warm-up and a decay with "
            "join_schedules.",
        )
    end = peak_value if zero_peak else end_value
    decay_phase = curves.cosine(peak_value, end, decay - warmup, exponent)
    return curves.joined([curves.warmup(init_value, peak_value, warmup), decay_phase], [warmup])


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
        length = validation.check_step_count(fn, "decay_steps", kwargs["decay_steps"], "1000")
        start = start + length
        boundaries.append(start)
    return curves.joined(schedules, boundaries[:-1])

r"""Cyclical policies: Smith's triangular cyclical learning rates and the one-cycle policies.

:mod:`gradlab.schedules` states the conventions every schedule follows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradlab.core import validation
from gradlab.core.base import Schedule
from gradlab.schedules import curves

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


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
    size = validation.check_step_count(fn, "step_size", step_size, "2000")
    validation.check_choice(fn, "mode", mode, _CYCLIC_MODES)
    validation.check_in_interval(fn, "gamma", gamma, "(0, 1]", "0.99994")

    def schedule(step: ArrayLike) -> jax.Array:
        t = curves.at_least(curves.exact_steps(step), 0)
        cycle = 1.0 + curves.ratio(t, 2 * size, floor=True)
        # max(0, 1 - x) = min(m, 2s - m) / s = (s - |m - s|) / s with m = t mod 2s, in integers
        # for integer steps, so exact up to the one rounding of the division (t / s - 2 cycle + 1
        # would cancel digits, and a float32 t has none left to cancel at t = 10**12).
        distance = -curves.minus(abs(curves.minus(curves.mod(t, 2 * size), size)), size)
        height = curves.to_float(distance) / curves.real(size)
        if mode == "triangular2":
            height = height * 0.5 ** (cycle - 1.0)
        elif mode == "exp_range":
            height = height * jnp.power(gamma, curves.to_float(t))
        return height * jnp.subtract(max_value, base_value) + base_value

    return schedule


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
    steps = validation.check_onecycle(fn, transition_steps, pct_start, div_factor, final_div_factor)
    return curves.interpolated(
        "cosine",
        peak_value / div_factor,
        (int(pct_start * steps), steps),
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
    steps = validation.check_onecycle(fn, transition_steps, pct_start, div_factor, final_div_factor)
    validation.check_in_interval(fn, "pct_final", pct_final, f"({pct_start}, 1)", "0.85")
    b1, b2 = int(pct_start * steps), int(pct_final * steps)
    if b1 >= b2:
        raise ValueError(
            f"{fn}: pct_final * transition_steps must round down to a later step than pct_start "
            f"* transition_steps, got step {b2} for both phases. Pass e.g. a larger "
            "transition_steps or pct_final=0.85."
        )
    return curves.interpolated(
        "linear",
        peak_value / div_factor,
        (b1, b2, steps),
        (div_factor, 1.0 / div_factor, 1.0 / final_div_factor),
    )

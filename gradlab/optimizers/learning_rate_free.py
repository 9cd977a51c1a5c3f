r"""Learning-rate-free optimizers: schedule-free AdamW and SGD, and Prodigy.

Each is :func:`~gradlab.transforms.schedule_free.schedule_free` around a momentum-free base
chain, with ``optax.contrib``'s names, argument order and defaults. Evaluate the model at
:func:`~gradlab.transforms.schedule_free.schedule_free_eval_params` (state, params). Prodigy is
:func:`~gradlab.transforms.step_size_estimation.scale_by_prodigy` with its hyperparameters in
the state.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core.base import GradientTransformationExtraArgs, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.schedules.joining import warmup_constant_schedule
from gradlab.transforms.combine import chain
from gradlab.transforms.preconditioners import scale_by_rms
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.schedule_free import schedule_free
from gradlab.transforms.step_size_estimation import scale_by_prodigy
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


def _warmed_up(learning_rate: Any, warmup_steps: int | None) -> Any:
    """``learning_rate``, or optax's linear warm-up from 0 to it over ``warmup_steps``."""
    if warmup_steps is None:
        return learning_rate
    return warmup_constant_schedule(0.0, learning_rate, warmup_steps)


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "weight_decay", "weight_lr_power"),
    off_when_zero=("weight_decay",),
)
def schedule_free_adamw(
    learning_rate: ArrayLike = 0.0025,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-free AdamW: :func:`~gradlab.transforms.schedule_free.schedule_free` around
    Adam without momentum.

    .. math::
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        z_{t+1} = z_t - \gamma_t \Big(\frac{g_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}
        + \lambda y_t\Big)

    then :math:`x, y` as in :func:`~gradlab.transforms.schedule_free.schedule_free`, with
    :math:`\gamma_t` linearly warmed up from 0 over ``warmup_steps``.

    Args:
      learning_rate: the peak :math:`\gamma`; default 0.0025 (optax). A schedule is read once
        per step, at the step count from 0 (optax reads its averaging weight one step later).
      warmup_steps: length of the linear warm-up (``None``: none).
      b1: :math:`\beta_1 \in (0, 1)`, the interpolation weight; default 0.9.
      b2: :math:`\beta_2`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      weight_decay: :math:`\lambda`, at the gradient point :math:`y_t`; default 0.
      weight_lr_power: :math:`p`, the averaging weights' power; default 2.
      state_dtype: dtype of :math:`z` (``None``: the params').

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState`` around a
      ``ScheduleFreeState``.

    References:
      Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024,
      Alg. 1. Matches: ``optax.contrib.schedule_free_adamw``: rtol 1e-10 (float64), 1e-4
      normwise (float32: optax's float32 :math:`1-\beta_2^t`), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.learning_rate_free import schedule_free_adamw
    >>> tx = schedule_free_adamw(1.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> tx.update(params, tx.init(params), params)[0]  # the first step: z moves by -sign(g)
    Array([-1.,  1.], dtype=float32)
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    base = chain(
        scale_by_rms(b2, eps, eps_in_sqrt=False, bias_correction=True),  # g / (sqrt(v̂) + eps)
        add_decayed_weights(weight_decay),  # + lambda y_t
        scale_by_learning_rate(lr),  # -gamma_t
    )
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "weight_decay", "weight_lr_power"),
    off_when_zero=("weight_decay",),
)
def schedule_free_sgd(
    learning_rate: ArrayLike = 1.0,
    warmup_steps: int | None = None,
    b1: ArrayLike = 0.9,
    weight_decay: ArrayLike | None = None,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Schedule-free SGD: :math:`z_{t+1} = z_t - \gamma_t (g(y_t) + \lambda y_t)`, then
    :math:`x, y` as in :func:`~gradlab.transforms.schedule_free.schedule_free`.

    Args:
      learning_rate: the peak :math:`\gamma`; default 1.0 (optax).
      warmup_steps: length of the linear warm-up (``None``: none).
      b1: :math:`\beta_1 \in (0, 1)`; default 0.9.
      weight_decay: :math:`\lambda` (L2, before the step); ``None`` (default): none.
      weight_lr_power: :math:`p`; default 2.
      state_dtype: dtype of :math:`z`.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState`` around a
      ``ScheduleFreeState``.

    References:
      Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024.
      Matches: ``optax.contrib.schedule_free_sgd``: rtol 1e-10 (float64), 1e-5 normwise
      (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.learning_rate_free import schedule_free_sgd
    >>> tx = schedule_free_sgd(0.5)
    >>> params = jnp.array([2.0])
    >>> tx.update(params, tx.init(params), params)[0]  # z_1 = 2 - 0.5 * 2 = x_1 = y_1
    Array([-1.], dtype=float32)
    """
    lr = _warmed_up(learning_rate, warmup_steps)
    base = scale_by_learning_rate(lr)  # -gamma_t g_t
    if weight_decay is not None:
        base = chain(add_decayed_weights(weight_decay), base)  # g_t + lambda y_t
    return schedule_free(base, lr, b1, weight_lr_power, state_dtype)


@inject_hyperparams(
    dynamic_args=("learning_rate", "beta3", "eps", "estim_lr0", "estim_lr_coef", "weight_decay"),
    off_when_zero=("weight_decay",),
)
def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    beta3: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    estim_lr_coef: ArrayLike = 1.0,
    weight_decay: ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Prodigy: AdamW whose learning rate :math:`d_t \gamma_t` estimates the distance to the
    solution (a faster-adapting D-Adaptation).

    .. math::
        d_{t+1} = \max\Big(d_t, \frac{\sum_{i \le t} \beta_3^{t-i} \frac{d_i}{d_0} \eta_i
        \langle g_i, x_0 - x_i\rangle}{\|s_t\|_1}\Big), \qquad
        x_{t+1} = x_t - \eta_t \Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon}
        + \lambda x_t\Big)

    with :math:`\eta_t, m_t, v_t, s_t` as in
    :func:`~gradlab.transforms.step_size_estimation.scale_by_prodigy`.

    Args:
      learning_rate: :math:`\gamma_t`, a multiplier of the estimate (1.0, or a schedule from 1).
      betas: :math:`(\beta_1, \beta_2)`; default (0.9, 0.999).
      beta3: :math:`\beta_3`; ``None``: :math:`\sqrt{\beta_2}`.
      eps: :math:`\epsilon`; default 1e-8.
      estim_lr0: :math:`d_0`, an under-estimate; default 1e-6.
      estim_lr_coef: multiplies every estimate; default 1.
      weight_decay: :math:`\lambda`, decoupled; default 0.
      safeguard_warmup: drop :math:`\gamma_t` from the estimate's denominator.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState`` around a ``ProdigyState``.

    References:
      Mishchenko & Defazio, `Prodigy: An Expeditiously Adaptive Parameter-Free Learner
      <https://arxiv.org/abs/2306.06101>`_, 2023. Matches: ``optax.contrib.prodigy``: rtol 1e-10
      (float64), 1e-5 normwise (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.learning_rate_free import prodigy
    >>> tx = prodigy()
    >>> params = jnp.array([1.0, -1.0])
    >>> u, state = tx.update(params, tx.init(params), params)
    >>> bool(jnp.all(u * params < 0))
    True
    """
    return scale_by_prodigy(
        learning_rate,
        betas,
        beta3,
        eps,
        estim_lr0,
        estim_lr_coef,
        weight_decay,
        safeguard_warmup,
    )


__all__ = ["prodigy", "schedule_free_adamw", "schedule_free_sgd"]

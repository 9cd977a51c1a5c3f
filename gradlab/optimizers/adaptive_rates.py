r"""Adaptive per-coordinate rates: AdaGrad, RMSProp and Adadelta, each one ``chain``.

Names, argument names, order and defaults follow optax's aliases. The one deliberate difference:
``adadelta()``'s default ``learning_rate=None`` means Zeiler's rule (a step of
:math:`-\Delta_t`, i.e. rate 1), which descends; optax 0.2.8 skips the sign flip and climbs.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core.base import GradientTransformation, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.optimizers.gradient_descent import momentum_or_identity
from gradlab.transforms.combine import chain
from gradlab.transforms.fused import scale_by_adadelta
from gradlab.transforms.preconditioners import (
    scale_by_rms,
    scale_by_sum_of_squares,
)
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


@inject_hyperparams(
    dynamic_args=("learning_rate", "initial_accumulator_value", "eps"), off_when_zero=("eps",)
)
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
) -> GradientTransformation:
    r"""AdaGrad: per-coordinate rates from the sum of all past squared gradients.

    .. math::
        G_t = G_0 + \sum_{s=1}^t g_s^2, \qquad
        \theta_{t+1} = \theta_t - \alpha_t\, g_t / \sqrt{G_t + \epsilon}

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      initial_accumulator_value: :math:`G_0`; default 0.1 (optax, TF; PyTorch uses 0).
      eps: :math:`\epsilon` inside the root; default 1e-7.

    References:
      Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.
      Matches: ``optax.adagrad``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
    >>> tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))[0]
    Array([-0.1], dtype=float32)
    """
    return chain(
        scale_by_sum_of_squares(initial_accumulator_value, eps),  # g_t / sqrt(G_t + eps)
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "decay", "eps", "initial_scale", "momentum"),
    off_when_zero=("eps", "momentum"),
)
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    r"""RMSProp, optionally centered and with (Nesterov) momentum.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        d_t = -\alpha_t\, g_t / \sqrt{v_t + \epsilon}, \qquad
        m_t = d_t + \mu m_{t-1}, \qquad \theta_{t+1} = \theta_t + m_t

    (without momentum :math:`\theta_{t+1} = \theta_t + d_t`). ``centered=True`` uses
    :math:`v_t - \bar g_t^2` with :math:`\bar g_t = \rho \bar g_{t-1} + (1-\rho) g_t` (Graves
    2013); ``eps_in_sqrt=False`` puts :math:`\epsilon` outside the root (PyTorch).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      decay: :math:`\rho \in [0, 1)`; default 0.9 (Hinton).
      eps: :math:`\epsilon \ge 0`; default 1e-8.
      initial_scale: :math:`v_0`; 0 (PyTorch, optax) or 1 (TF1).
      eps_in_sqrt: eps inside the root (optax, TF) or outside (PyTorch).
      centered: normalise by the variance rather than the second moment.
      momentum: :math:`\mu \in [0, 1)`, applied after the learning rate; ``None`` for none.
      nesterov: Nesterov form of that momentum.
      bias_correction: debias the moving averages.

    References:
      Tieleman & Hinton, Lecture 6.5 (RMSProp), COURSERA: Neural Networks for ML, 2012.
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013.
      Matches: ``optax.rmsprop``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.rmsprop(0.01, decay=0.0, eps=0.0)
    >>> tx.update(jnp.array([5.0]), tx.init(jnp.zeros(1)))[0]
    Array([-0.01], dtype=float32)
    """
    return chain(
        scale_by_rms(  # g_t / sqrt(v_t + eps), v_t centered or not
            decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=centered
        ),
        scale_by_learning_rate(learning_rate),  # d_t = -alpha_t (...)
        momentum_or_identity(momentum, nesterov),  # m_t = d_t + mu m_{t-1}
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "rho", "eps", "weight_decay"), off_when_zero=("weight_decay",)
)
def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any | None = None,
) -> GradientTransformation:
    r"""Adadelta: RMSProp with the units corrected by a moving average of past steps.

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \quad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}} g_t,
        \quad E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2, \quad
        \theta_{t+1} = \theta_t - \alpha_t \Delta_t

    with :math:`g_t` the gradient plus ``weight_decay`` times the params.

    Args:
      learning_rate: :math:`\alpha_t`; ``None`` means Zeiler's rule, :math:`\alpha = 1`.
        **Differs from optax 0.2.8**, whose ``None`` skips the sign flip and ascends.
      rho: :math:`\rho \in [0, 1)`; default 0.9.
      eps: :math:`\epsilon`; default 1e-6.
      weight_decay: L2 coefficient added to the gradient before the rule.
      weight_decay_mask: tree of bools (or function of params) selecting the leaves to decay.

    References:
      Zeiler, `ADADELTA: An Adaptive Learning Rate Method <https://arxiv.org/abs/1212.5701>`_,
      2012, Alg. 1. Matches: ``optax.adadelta`` with an explicit ``learning_rate``: rtol 1e-10
      (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.adadelta()
    >>> float(tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))[0][0]) < 0  # descends
    True
    """
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),  # g_t + lambda theta_t
        # Delta_t = sqrt((E[Delta^2]_{t-1} + eps) / (E[g^2]_t + eps)) g_t, both averages updated:
        # = chain(scale_by_rms(rho, eps), scale_by_delta_rms(rho, eps)) with one root, not two
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),  # -alpha_t
    )


__all__ = ["adadelta", "adagrad", "rmsprop"]

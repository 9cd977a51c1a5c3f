r"""Decoupled weight decay on Adam's variants: NAdamW and AdamaxW.

Each is the matching Adam-family chain with :func:`gradlab.add_decayed_weights` between the
preconditioned direction and the learning rate (Loshchilov & Hutter's decoupling, with the decay
multiplied by the learning rate as in optax and PyTorch). Names, argument names, order and
defaults follow optax; each ``Matches:`` line states the tolerance the tests hold over 200
jitted steps.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core import storage
from gradlab.core.base import GradientTransformation, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.optimizers.adam_family import decoupled_adam_chain
from gradlab.transforms.combine import chain, divide
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.statistics import bias_correction, max_abs, moving_average
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | None = None,
    *,
    nesterov: bool = True,
    nu_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""NAdamW: Nadam with decoupled weight decay (AdamW with ``nesterov=True``).

    .. math::
        \hat m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t},
        \quad \theta_{t+1} = \theta_t - \alpha_t \Big(\frac{\hat m_t}{\sqrt{\hat v_t +
        \bar\epsilon} + \epsilon} + \lambda \theta_t\Big)

    with :math:`m_t, \hat v_t` as in :func:`gradlab.adam`.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      mu_dtype: dtype of the stored first moment (``None``: the params').
      weight_decay: :math:`\lambda \ge 0`; default 1e-4 (optax).
      mask: tree of bools (or function of params) selecting the leaves to decay.
      nesterov: Dozat's look-ahead (default); ``False`` gives :func:`gradlab.adamw`.
      nu_dtype: dtype of the stored second moment (see :func:`gradlab.adam`; not in optax).
      state_format: ``"8bit"`` for 8-bit block-wise moments (see :func:`gradlab.adam`; not in
        optax).

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Dozat, `Incorporating Nesterov Momentum into Adam
      <https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ>`_, ICLR workshop 2016;
      Loshchilov & Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
      Matches: ``optax.nadamw``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import decoupled
    >>> tx = decoupled.nadamw(0.1, weight_decay=0.0)
    >>> params = jnp.array([2.0])
    >>> bool(tx.update(jnp.array([1.0]), tx.init(params), params)[0][0] < 0)
    True
    """
    return decoupled_adam_chain(  # AdamW's chain with Dozat's look-ahead m̂_t (nesterov=True)
        learning_rate,
        b1,
        b2,
        eps,
        eps_root,
        mu_dtype,
        weight_decay,
        mask,
        nesterov,
        nu_dtype,
        state_format,
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "weight_decay"),
    off_when_zero=("weight_decay",),
)
def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | None = None,
) -> GradientTransformation:
    r"""AdamaxW: Adamax with decoupled weight decay.

    .. math::
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \quad
        \theta_{t+1} = \theta_t - \alpha_t \Big(\frac{m_t}{(1-\beta_1^t)\, u_t}
        + \lambda \theta_t\Big)

    with :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon \ge 0` inside the max; default 1e-8.
      weight_decay: :math:`\lambda \ge 0`; default 1e-4 (optax).
      mask: tree of bools (or function of params) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1, Alg. 2;
      Loshchilov & Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
      Matches: ``optax.adamaxw``: rtol 1e-10 (float64), 2e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import decoupled
    >>> tx = decoupled.adamaxw(0.5, eps=0.0, weight_decay=0.25)
    >>> params = jnp.array([2.0])
    >>> tx.update(jnp.array([-2.0]), tx.init(params), params)[0].round(4)  # -0.5 (-1 + 0.5)
    Array([0.25], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / u_t
            chain(moving_average(b1), bias_correction(b1)),  # m̂_t
            max_abs(b2, eps),  # u_t = max(b2 u_{t-1}, |g_t| + eps)
        ),
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["adamaxw", "nadamw"]

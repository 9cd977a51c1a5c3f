r"""The Adam family: Adam, Nadam, AdamW, Adamax and AMSGrad, each one ``chain`` of primitives.

Every alias divides a (debiased) first moment by a root of a second statistic of the same
gradient: ``divide(first_moment(...), second_moment(...))``, with
:func:`gradlab.divide` feeding the raw gradient to both. Names, argument names, order and
defaults follow optax's aliases; every docstring has a ``Matches:`` line (optax, and the
tolerance the tests hold over 200 jitted steps: rtol 1e-10 in float64, 1e-4 in float32).
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core import storage
from gradlab.core.base import GradientTransformation, ScalarOrSchedule, identity
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.combine import chain, divide
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.moments import first_moment, second_moment
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.statistics import amsgrad_max, bias_correction, max_abs, moving_average
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike

# The declaration shared by adam, nadam and amsgrad (adamw adds its weight decay).
_adam_hyperparams = inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root"), off_when_zero=("eps", "eps_root")
)


@_adam_hyperparams
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Adam: a debiased momentum divided by the root of a debiased second moment.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
        \quad \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t},
        \quad \theta_{t+1} = \theta_t - \alpha_t \frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon}
        + \epsilon}

    ``nesterov=True`` uses Dozat's :math:`\hat m_t = \beta_1 m_t/(1-\beta_1^{t+1}) +
    (1-\beta_1) g_t/(1-\beta_1^t)` (= :func:`nadam`).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9 (Kingma & Ba).
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      mu_dtype: dtype of the stored first moment (``None``: the params').
      nesterov: use Nesterov's look-ahead first moment.
      nu_dtype: dtype of the stored second moment (``None``: the params', float32 for float16
        params). Not in optax (its issue #1552). The arithmetic runs in float32 or wider.
      state_format: ``"8bit"`` stores both moments in 8-bit block-wise quantization (uint8
        codes and a float32 absmax per block of 2048 entries; leaves under 4096 entries stay
        dense); ``gradlab.Blockwise8bit(block_size, min_size)`` for other sizes. See
        :mod:`gradlab.core.storage`. Not in optax (bitsandbytes' ``Adam8bit``).

    References:
      Kingma & Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1.
      Matches: ``optax.adam``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.adam(0.5)
    >>> u, state = tx.update(jnp.array([3.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> u.round(5)  # the first step is -lr * sign(g)
    Array([-0.5,  0.5], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / (sqrt(v̂_t + eps_root) + eps)
            first_moment(b1, nesterov, mu_dtype, state_format),  # m̂_t
            second_moment(b2, eps, eps_root, nu_dtype, state_format),  # sqrt(v̂_t+eps_root)+eps
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@_adam_hyperparams
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nu_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Nadam: Adam with Nesterov's look-ahead first moment (Dozat 2016).

    .. math::
        \hat m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t},
        \quad \theta_{t+1} = \theta_t - \alpha_t \frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon}
        + \epsilon}

    with :math:`m_t, \hat v_t` as in :func:`adam`. Like optax, PyTorch (without its
    ``momentum_decay``) and Keras before 2.11, it uses a constant :math:`\beta_1`, not Dozat's
    warming schedule :math:`\mu_t`, and omits Algorithm 2's extra :math:`\beta_2` factor.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      mu_dtype: dtype of the stored first moment.
      nu_dtype: dtype of the stored second moment (see :func:`adam`).
      state_format: ``"8bit"`` for 8-bit block-wise moments (see :func:`adam`).

    References:
      Dozat, `Incorporating Nesterov Momentum into Adam
      <https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ>`_, ICLR workshop 2016.
      Matches: ``optax.nadam``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.nadam(0.1)
    >>> u = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]
    >>> bool(u[0] < 0)
    True
    """
    return chain(
        divide(  # m̂_t / (sqrt(v̂_t + eps_root) + eps)
            first_moment(b1, True, mu_dtype, state_format),  # Dozat's look-ahead m̂_t
            second_moment(b2, eps, eps_root, nu_dtype, state_format),  # sqrt(v̂_t+eps_root)+eps
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any | None = None,
    *,
    nesterov: bool = False,
    nu_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::
        \theta_{t+1} = \theta_t - \alpha_t \Big(\frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon}
        + \epsilon} + \lambda \theta_t\Big)

    The decay is multiplied by the learning rate (optax, PyTorch), unlike the paper, where only
    the schedule multiplier scales it.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype, state_format: as in :func:`adam`.
      weight_decay: :math:`\lambda \ge 0`; default 1e-4 (optax).
      mask: tree of bools (or function of params) selecting the leaves to decay.

    References:
      Loshchilov & Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019.
      Matches: ``optax.adamw``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.adamw(0.1, weight_decay=0.5)
    >>> params = jnp.array([2.0])
    >>> tx.update(jnp.array([1.0]), tx.init(params), params)[0]  # -0.1 * (1 + 0.5 * 2)
    Array([-0.2], dtype=float32)
    """
    return decoupled_adam_chain(
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


def decoupled_adam_chain(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    mu_dtype: Any | None,
    weight_decay: ScalarOrSchedule,
    mask: Any | None,
    nesterov: bool,
    nu_dtype: Any | None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    """The chain of :func:`adamw` (and, with ``nesterov=True``, of ``nadamw``): Adam's ratio,
    then ``+ lambda theta_t``, then ``-alpha_t``; the callers declare the hyperparameters."""
    return chain(
        divide(  # m̂_t / (sqrt(v̂_t + eps_root) + eps)
            first_moment(b1, nesterov, mu_dtype, state_format),  # m̂_t
            second_moment(b2, eps, eps_root, nu_dtype, state_format),  # sqrt(v̂_t+eps_root)+eps
        ),
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(dynamic_args=("learning_rate", "b1", "b2", "eps"))
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \quad
        \theta_{t+1} = \theta_t - \alpha_t \frac{m_t}{(1-\beta_1^t)\, u_t}

    Args:
      learning_rate: :math:`\alpha_t`; Kingma & Ba suggest 0.002.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon` inside the max (keeps :math:`u_t > 0`); default 1e-8.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1, Alg. 2.
      Matches: ``optax.adamax``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.adamax(0.5, eps=0.0)
    >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].round(5)
    Array([0.5], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / u_t
            chain(moving_average(b1), bias_correction(b1)),  # m̂_t
            max_abs(b2, eps),  # u_t = max(b2 u_{t-1}, |g_t| + eps)
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@_adam_hyperparams
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    *,
    nu_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose denominator never shrinks.

    .. math::
        \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t), \qquad
        \theta_{t+1} = \theta_t - \alpha_t \frac{\hat m_t}{\sqrt{\hat v^{\max}_t + \bar\epsilon}
        + \epsilon}

    By default (optax) both moments are debiased and the maximum is taken over :math:`\hat v_t`.
    ``bias_correction_mu=False, bias_correction_nu=False`` gives Reddi et al.'s Algorithm 2
    (maximum of the raw :math:`v_t`, no debiasing).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1, b2, eps, eps_root, mu_dtype, nu_dtype, state_format: as in :func:`adam` (the
        running maximum is stored in the same format as :math:`v_t`).
      bias_correction_mu: debias the first moment.
      bias_correction_nu: debias the second moment before the maximum.

    References:
      Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
      <https://openreview.net/forum?id=ryQu7f-RZ>`_, ICLR 2018.
      Matches: ``optax.amsgrad``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.amsgrad(0.1)
    >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-0.1], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / (sqrt(v̂max_t + eps_root) + eps)
            chain(  # m̂_t
                moving_average(b1, accumulator_dtype=mu_dtype, state_format=state_format),
                bias_correction(b1) if bias_correction_mu else identity(),
            ),
            chain(  # sqrt(v̂max_t + eps_root) + eps
                moving_average(  # v_t
                    b2, order=2, accumulator_dtype=nu_dtype, state_format=state_format
                ),
                bias_correction(b2) if bias_correction_nu else identity(),  # v̂_t
                amsgrad_max(state_format=state_format),  # v̂max_t = max(v̂max_{t-1}, v̂_t)
                sqrt(eps_root),
                add_eps(eps),
            ),
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["adam", "adamax", "adamw", "amsgrad", "nadam"]

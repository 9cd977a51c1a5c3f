r"""The classic optimizers, each one ``chain`` of primitives that reads like its update rule.

Names, argument names, order and defaults follow optax's aliases, so ``import gradlab as optax``
works for code that uses them. The only deliberate difference: ``adadelta()``'s default
``learning_rate=None`` means Zeiler's rule (a step of :math:`-\Delta_t`, i.e. rate 1), which
descends; optax 0.2.8 skips the sign flip there and climbs the loss.

Every docstring has a ``Matches:`` line: the optax alias and the tolerance the test suite holds
over 200 jitted steps on a mixed pytree (rtol 1e-10 in float64, 1e-4 in float32).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from gradlab.core import validation
from gradlab.core.base import GradientTransformation, ScalarOrSchedule, identity
from gradlab.transforms.combine import chain, divide
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.statistics import (
    add_decayed_weights,
    amsgrad_max,
    bias_correction,
    ema,
    max_abs,
    scale_by_adadelta,
    scale_by_learning_rate,
    scale_by_momentum,
    scale_by_rms,
    scale_by_sum_of_squares,
)

ArrayLike = jax.typing.ArrayLike

# Each alias checks its own arguments under their own names ("adam: b1 must be in [0, 1)...").
_ARGUMENT_CHECKS: dict[str, Callable[[str, str, Any], None]] = {
    "learning_rate": lambda fn, _, v: validation.check_learning_rate(fn, v),
    **{k: validation.check_unit_interval for k in ("b1", "b2", "decay", "rho", "momentum")},
    **{
        k: functools.partial(validation.check_non_negative, example=example)
        for k, example in [
            ("eps", "1e-8"),
            ("eps_root", "0.0"),
            ("weight_decay", "1e-4"),
            ("initial_accumulator_value", "0.1"),
            ("initial_scale", "0.0"),
        ]
    },
}
_alias = functools.partial(inject_hyperparams, checks=_ARGUMENT_CHECKS)


def _momentum_or_identity(
    momentum: ArrayLike | None, nesterov: bool, dtype: Any = None
) -> GradientTransformation:
    """Heavy-ball momentum when ``momentum`` is given; the identity (no state) otherwise."""
    if momentum is None:
        return identity()
    return scale_by_momentum(momentum, nesterov, accumulator_dtype=dtype)


@_alias
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    .. math::
        m_t = g_t + \mu m_{t-1}, \qquad
        \theta_{t+1} = \theta_t - \alpha_t m_t
        \quad\text{or (Nesterov)}\quad \theta_t - \alpha_t (g_t + \mu m_t)

    Equivalently :math:`v_t = \mu v_{t-1} - \alpha g_t,\ \theta \mathrel{+}= v_t` (heavy ball) and
    :math:`\theta \mathrel{+}= -\mu v_{t-1} + (1+\mu) v_t` (Nesterov), for a constant rate.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      momentum: :math:`\mu \in [0, 1)`, or ``None`` for plain SGD.
      nesterov: use Nesterov's look-ahead.
      accumulator_dtype: dtype of the momentum buffer (``None``: the params').

    References:
      Robbins & Monro, 1951; Polyak, 1964; Sutskever et al., `On the importance of
      initialization and momentum in deep learning
      <http://proceedings.mlr.press/v28/sutskever13.pdf>`_, 2013.
      Matches: ``optax.sgd``: rtol 1e-10 (float64), 1e-4 (float32), 200 jitted steps.

    >>> import jax, jax.numpy as jnp, gradlab
    >>> tx = gradlab.sgd(0.1, momentum=0.9)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(jax.grad(lambda p: (p**2).sum())(params), tx.init(params))
    >>> gradlab.apply_updates(params, updates)
    Array([ 0.8, -1.6], dtype=float32)
    """
    return chain(
        _momentum_or_identity(momentum, nesterov, accumulator_dtype),  # m_t = g_t + mu m_{t-1}
        scale_by_learning_rate(learning_rate),  # -alpha_t m_t
    )


@_alias
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


@_alias
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
        _momentum_or_identity(momentum, nesterov),  # m_t = d_t + mu m_{t-1}
    )


@_alias
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
        scale_by_adadelta(rho, eps),  # Delta_t
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),  # -alpha_t
    )


def _adam_ratio(
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    mu_dtype: Any,
    nesterov: bool,
    nu_dtype: Any,
) -> GradientTransformation:
    """Adam's direction m̂_t / (sqrt(v̂_t + eps_root) + eps), shared by adam, nadam and adamw."""
    return divide(
        scale_by_momentum(b1, nesterov, form="ema", debias=True, accumulator_dtype=mu_dtype),  # m̂_t
        chain(ema(b2, order=2, dtype=nu_dtype), bias_correction(b2)),  # v̂_t
        eps=eps,
        eps_root=eps_root,
    )


@_alias
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
        _adam_ratio(b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype),  # m̂ / (√(v̂+ε̄) + ε)
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@_alias
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nu_dtype: Any | None = None,
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
    return adam.__wrapped__(  # the undecorated adam
        learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True, nu_dtype=nu_dtype
    )


@_alias
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
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay.

    .. math::
        \theta_{t+1} = \theta_t - \alpha_t \Big(\frac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon}
        + \epsilon} + \lambda \theta_t\Big)

    The decay is multiplied by the learning rate (optax, PyTorch), unlike the paper, where only
    the schedule multiplier scales it.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype: as in :func:`adam`.
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
    return chain(
        _adam_ratio(b1, b2, eps, eps_root, mu_dtype, nesterov, nu_dtype),  # m̂ / (√(v̂+ε̄) + ε)
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@_alias
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
            chain(ema(b1), bias_correction(b1)),  # m̂_t
            max_abs(b2, eps),  # u_t
            sqrt=False,
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@_alias
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
      b1, b2, eps, eps_root, mu_dtype, nu_dtype: as in :func:`adam`.
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
            scale_by_momentum(  # m̂_t
                b1, form="ema", debias=bias_correction_mu, accumulator_dtype=mu_dtype
            ),
            chain(  # v̂max_t
                ema(b2, order=2, dtype=nu_dtype),
                bias_correction(b2) if bias_correction_nu else identity(),
                amsgrad_max(),
            ),
            eps=eps,
            eps_root=eps_root,
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["adadelta", "adagrad", "adam", "adamax", "adamw", "amsgrad", "nadam", "rmsprop", "sgd"]

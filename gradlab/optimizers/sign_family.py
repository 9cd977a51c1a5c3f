r"""Sign and trust-ratio optimizers: signSGD, Signum, Lion, LARS, LAMB and NovoGrad.

Each takes the *direction* of a gradient statistic and sets its size separately: by the sign of
every entry (signSGD, Signum, Lion) or per layer, by a layer's parameter norm (LARS, LAMB) or
its gradient norm (NovoGrad). Every alias is one ``chain`` of primitives with optax's name,
argument names, order and defaults; its ``Matches:`` line states the tolerance the tests hold
over 200 jitted steps.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core.base import GradientTransformation, ScalarOrSchedule, identity
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.centralization import scale_by_sign, scale_by_trust_ratio
from gradlab.transforms.combine import chain, divide
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.layerwise import block_second_moment, scale_by_layerwise_trust_ratio
from gradlab.transforms.masking import masked
from gradlab.transforms.moments import first_moment, second_moment
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.signs import interpolate_momentum
from gradlab.transforms.statistics import moving_average, trace
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


def _masked(tx: GradientTransformation, mask: Any) -> Any:
    """``tx`` on the leaves ``mask`` selects; ``mask=True`` (all of them) needs no wrapper."""
    return tx if mask is True else masked(tx, mask)


@inject_hyperparams(dynamic_args=("learning_rate",))
def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    r"""signSGD: a step of fixed size along the sign of each gradient entry.

    .. math:: \theta_{t+1} = \theta_t - \alpha_t \operatorname{sign}(g_t)

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Bernstein et al., `signSGD: Compressed Optimisation for Non-Convex Problems
      <https://arxiv.org/abs/1802.04434>`_, ICML 2018, Alg. 1.
      Matches: ``optax.sign_sgd``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.sign_sgd(0.1)
    >>> tx.update(jnp.array([-3.0, 0.0, 2.0]), tx.init(jnp.zeros(3)))[0]
    Array([ 0.1, -0. , -0.1], dtype=float32)
    """
    return chain(
        scale_by_sign(),  # sign(g_t)
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(dynamic_args=("learning_rate", "beta"))
def signum(
    learning_rate: ScalarOrSchedule, beta: ArrayLike = 0.9, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Signum: signSGD on a momentum (the sign of an exponential moving average).

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad
        \theta_{t+1} = \theta_t - \alpha_t \operatorname{sign}(m_t)

    The average is not debiased: its sign does not change.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      beta: :math:`\beta \in [0, 1)`; default 0.9.
      accumulator_dtype: dtype of the stored :math:`m_t` (``None``: the params').

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Bernstein et al., `signSGD: Compressed Optimisation for Non-Convex Problems
      <https://arxiv.org/abs/1802.04434>`_, ICML 2018, Alg. 3.
      Matches: ``optax.signum``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.signum(0.1)
    >>> tx.update(jnp.array([-3.0, 2.0]), tx.init(jnp.zeros(2)))[0]
    Array([ 0.1, -0.1], dtype=float32)
    """
    return chain(
        moving_average(beta, accumulator_dtype=accumulator_dtype),  # m_t
        scale_by_sign(),  # sign(m_t)
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "weight_decay"), off_when_zero=("weight_decay",)
)
def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: Any | None = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any | None = None,
) -> GradientTransformation:
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    .. math::
        c_t = (1-\beta_1) g_t + \beta_1 m_{t-1}, \quad
        \theta_{t+1} = \theta_t - \alpha_t \big(\operatorname{sign}(c_t) + \lambda
        \theta_t\big), \quad m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule (Chen et al. suggest 3-10 times
        smaller than AdamW's).
      b1: :math:`\beta_1 \in [0, 1)`, the interpolation weight; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`, the momentum's decay; default 0.99.
      mu_dtype: dtype of the stored momentum (``None``: the params').
      weight_decay: :math:`\lambda \ge 0`; default 1e-3 (optax).
      mask: tree of bools (or function of params) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023, Program 1.
      Matches: ``optax.lion``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.lion(0.1, weight_decay=0.0)
    >>> tx.update(jnp.array([-3.0, 2.0]), tx.init(jnp.zeros(2)))[0]
    Array([ 0.1, -0.1], dtype=float32)
    """
    return chain(
        interpolate_momentum(b1, b2, mu_dtype),  # c_t = (1 - b1) g_t + b1 m_{t-1}
        scale_by_sign(),  # sign(c_t)
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "weight_decay", "trust_coefficient", "eps", "momentum"),
    off_when_zero=("weight_decay",),
)
def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any = True,
    trust_coefficient: ArrayLike = 0.001,
    eps: ArrayLike = 0.0,
    trust_ratio_mask: Any = True,
    momentum: ArrayLike = 0.9,
    nesterov: bool = False,
    *,
    paper_trust_ratio: bool = False,
) -> GradientTransformation:
    r"""LARS: momentum on a layer-wise trust-ratio-scaled, weight-decayed gradient.

    .. math::
        d_l = g_l + \beta \theta_l, \quad
        \lambda_l = \frac{c \lVert\theta_l\rVert}{\lVert d_l\rVert + \epsilon}, \quad
        v_t = \mu v_{t-1} + \alpha_t \lambda_l d_l, \quad \theta_{t+1} = \theta_t - v_t

    (:math:`\lambda_l = 1` where a norm is 0; ``nesterov`` steps along
    :math:`\mu v_t + \alpha_t\lambda_l d_l`). This is optax's form. You et al. divide by
    :math:`\lVert g_l\rVert + \beta\lVert\theta_l\rVert + \epsilon` instead:
    ``paper_trust_ratio=True`` (then ``weight_decay_mask`` must equal ``trust_ratio_mask``,
    since both terms are one primitive, ``scale_by_layerwise_trust_ratio``).

    Args:
      learning_rate: :math:`\alpha_t` (the global rate :math:`\gamma`), a number or a schedule.
      weight_decay: :math:`\beta \ge 0`; default 0.
      weight_decay_mask: tree of bools (or function of params) selecting the leaves to decay;
        ``True`` for all.
      trust_coefficient: :math:`c`; default 0.001.
      eps: :math:`\epsilon \ge 0`, added to the denominator; default 0.
      trust_ratio_mask: leaves scaled by the trust ratio; ``True`` for all.
      momentum: :math:`\mu \in [0, 1)`; default 0.9.
      nesterov: use Nesterov's look-ahead.
      paper_trust_ratio: use You et al.'s denominator (not in optax).

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      You, Gitman & Ginsburg, `Large Batch Training of Convolutional Networks
      <https://arxiv.org/abs/1708.03888>`_, 2017, Alg. 1.
      Matches: ``optax.lars``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.lars(1.0, trust_coefficient=1.0)
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(jnp.array([0.6, 0.8]), tx.init(params), params)[0].round(4)  # -g 5 / 1
    Array([-3., -4.], dtype=float32)
    """
    if paper_trust_ratio:
        if weight_decay_mask is not trust_ratio_mask:
            raise ValueError(
                "lars: paper_trust_ratio=True decays exactly the leaves it scales, so "
                "weight_decay_mask must be trust_ratio_mask. Pass the same mask to both."
            )
        scaled_direction = _masked(  # lambda_l (g_l + beta theta_l), You et al.'s lambda_l
            scale_by_layerwise_trust_ratio(weight_decay, trust_coefficient, eps), trust_ratio_mask
        )
    else:
        scaled_direction = chain(
            _masked(add_decayed_weights(weight_decay), weight_decay_mask),  # d_l
            _masked(  # lambda_l d_l
                scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
                trust_ratio_mask,
            ),
        )
    return chain(
        scaled_direction,
        scale_by_learning_rate(learning_rate),  # -alpha_t
        trace(decay=momentum, nesterov=nesterov),  # v_t = mu v_{t-1} + ...
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def lamb(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | None = None,
) -> GradientTransformation:
    r"""LAMB: Adam's direction plus weight decay, scaled per layer by a trust ratio.

    .. math::
        r_l = \frac{\hat m_l}{\sqrt{\hat v_l + \bar\epsilon} + \epsilon} + \lambda \theta_l,
        \qquad \theta_{l, t+1} = \theta_{l, t} - \alpha_t
        \frac{\lVert\theta_l\rVert}{\lVert r_l\rVert}\, r_l

    with :math:`\hat m, \hat v` as in :func:`gradlab.adam` (ratio 1 where a norm is 0).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-6 (You et al.).
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      weight_decay: :math:`\lambda \ge 0`; default 0.
      mask: tree of bools (or function of params) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      You et al., `Large Batch Optimization for Deep Learning: Training BERT in 76 minutes
      <https://arxiv.org/abs/1904.00962>`_, ICLR 2020, Alg. 2 (:math:`\phi` the identity).
      Matches: ``optax.lamb``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps with a
      decaying rate (see :func:`novograd`).

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.lamb(0.1)
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(jnp.array([1.0, 1.0]), tx.init(params), params)[0].round(4)  # norm 0.1 * 5
    Array([-0.3536, -0.3536], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / (sqrt(v̂_t + eps_root) + eps)
            first_moment(b1, False),  # m̂_t
            second_moment(b2, eps, eps_root),  # sqrt(v̂_t + eps_root) + eps
        ),
        add_decayed_weights(weight_decay, mask),  # r_l = ... + lambda theta_l
        scale_by_trust_ratio(),  # ||theta_l|| / ||r_l||
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def novograd(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.25,
    eps: ArrayLike = 1e-6,
    eps_root: ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""NovoGrad: momentum on gradients normalised by a layer-wise second moment.

    .. math::
        v_{l,t} = \beta_2 v_{l,t-1} + (1-\beta_2)\lVert g_{l,t}\rVert^2 \;(v_{l,1} =
        \lVert g_{l,1}\rVert^2), \quad
        m_{l,t} = \beta_1 m_{l,t-1} + \frac{g_{l,t}}{\sqrt{v_{l,t} + \bar\epsilon} + \epsilon}
        + \lambda\theta_{l,t}, \quad \theta_{t+1} = \theta_t - \alpha_t m_t

    The momentum accumulates without a :math:`1-\beta_1` factor, as in the paper and optax.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.25 (Ginsburg et al.).
      eps: :math:`\epsilon`, outside the root; default 1e-6.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      weight_decay: :math:`\lambda \ge 0`; default 0.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments for
      Training of Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019, Alg. 1.
      Matches: ``optax.novograd``: rtol 1e-10 (float64), 1e-5 (float32), 200 jitted steps
      with a decaying rate (on a scalar leaf :math:`g/\lVert g\rVert` is a sign: at a constant
      rate the iterates circle the minimiser and one rounding difference flips a step).

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers import sign_family
    >>> tx = sign_family.novograd(0.1, eps=0.0)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))[0].round(4)  # -0.1 g / ||g||
    Array([-0.06, -0.08], dtype=float32)
    """
    return chain(
        divide(  # g_l / (sqrt(v_l + eps_root) + eps)
            identity(),  # g_l
            chain(  # a scalar per leaf
                block_second_moment(b2),  # v_l, warm-started at ||g_1||^2
                sqrt(eps_root),  # sqrt(v_l + eps_root)
                add_eps(eps),  # + eps
            ),
        ),
        add_decayed_weights(weight_decay),  # + lambda theta_l
        trace(b1),  # m_t = b1 m_{t-1} + ...
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["lamb", "lars", "lion", "novograd", "sign_sgd", "signum"]

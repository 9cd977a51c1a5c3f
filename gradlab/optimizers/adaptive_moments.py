r"""The modern adaptive-moment family: RAdam, AdaBelief, Yogi, ADOPT, Adan and AdEMAMix.

Each alias is one ``chain`` of primitives, written against Adam's (see
:mod:`gradlab.optimizers.adam_family`): RAdam rectifies Adam's denominator
(:func:`~gradlab.transforms.rectification.rectify`), AdaBelief replaces its second moment by the
belief :math:`(g - m)^2` (:func:`~gradlab.transforms.belief.belief_moment`), Yogi by an
additive one (:func:`~gradlab.transforms.additive_moment.additive_second_moment`), ADOPT
normalises by the previous second moment before the momentum
(:func:`~gradlab.transforms.lagged_normalization.normalize_by_previous_rms`), Adan adds moments
of the gradient difference (:func:`~gradlab.transforms.gradient_difference.gradient_difference`)
and AdEMAMix a slow, undebiased EMA. Names, argument names, order and defaults follow optax 0.2.8
(``optax.contrib`` for ``adopt`` and ``ademamix``); the tests hold them to optax over 200 jitted
steps (rtol 1e-10 in float64; normwise 1e-5 in float32, or the looser bound each ``Matches:``
line states and explains).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from gradlab.core.base import GradientTransformation, ScalarOrSchedule, identity
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.additive_moment import additive_second_moment
from gradlab.transforms.belief import belief_moment
from gradlab.transforms.combine import chain, divide, fan_out, safe_ratio
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.gradient_difference import gradient_difference
from gradlab.transforms.lagged_normalization import adopt_clip_value, normalize_by_previous_rms
from gradlab.transforms.moments import first_moment, second_moment
from gradlab.transforms.rectification import rectify
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.statistics import bias_correction, moving_average
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root", "threshold"),
    off_when_zero=("eps", "eps_root"),
)
def radam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""RAdam: Adam whose adaptive step is rectified, and off while its variance is undefined.

    .. math::
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}, \quad
        \theta_{t+1} = \theta_t - \alpha_t \begin{cases}
        r_t \dfrac{\hat m_t}{\sqrt{\hat v_t + \bar\epsilon} + \epsilon} & \rho_t \ge \tau \\
        \hat m_t & \text{otherwise} \end{cases}

    with :math:`\hat m_t, \hat v_t` as in :func:`gradlab.adam` and :math:`r_t, \rho_\infty` as
    in :func:`~gradlab.transforms.rectification.rectify`. Liu et al.'s Algorithm 2 is
    ``eps=0, threshold=4`` (it tests :math:`\rho_t > 4`; tested against a transcription).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      threshold: :math:`\tau`, the :math:`\rho_t` from which the adaptive step is taken;
        default 5 (optax, the authors' code).
      nesterov: use Dozat's look-ahead :math:`\hat m_t` (see :func:`gradlab.nadam`).

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
      <https://arxiv.org/abs/1908.03265>`_, ICLR 2020, Alg. 2.
      Matches: ``optax.radam``: rtol 1e-10 (float64), normwise 1e-3 (float32, where optax's
      :math:`\rho_t` cancels; see :func:`~gradlab.transforms.rectification.rectify`), 200
      jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import radam
    >>> tx = radam(0.1)
    >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 6)  # -lr * m̂_1
    -0.3
    """
    return chain(
        divide(  # r_t m̂_t / (sqrt(v̂_t + eps_root) + eps), or m̂_t while rho_t < threshold
            first_moment(b1, nesterov),  # m̂_t
            chain(
                second_moment(b2, eps, eps_root),  # sqrt(v̂_t + eps_root) + eps
                rectify(b2, threshold),  # / r_t, or 1 while rho_t < threshold
            ),
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "eps_root"),
    off_when_zero=("eps", "eps_root"),
)
def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdaBelief: Adam with the second moment of the gradient's deviation from its momentum.

    .. math::
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \bar\epsilon, \quad
        \hat s_t = \frac{s_t}{1-\beta_2^t}, \quad
        \theta_{t+1} = \theta_t - \alpha_t \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}

    with :math:`m_t, \hat m_t` as in :func:`gradlab.adam`. :math:`\bar\epsilon` enters the
    stored :math:`s_t` at every step (optax, the authors' code).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-16.
      eps_root: :math:`\bar\epsilon`, added to :math:`s_t`; default 1e-16.
      nesterov: use Dozat's look-ahead :math:`\hat m_t` (see :func:`gradlab.nadam`).

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Zhuang et al., `AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients
      <https://arxiv.org/abs/2010.07468>`_, NeurIPS 2020, Alg. 2.
      Matches: ``optax.adabelief``: rtol 1e-10 (float64), normwise 1e-5 (float32), 200 jitted
      steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import adabelief
    >>> tx = adabelief(0.1, eps=0.0, eps_root=0.0)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].round(4)  # -0.1 * 2 / (2 - 0.2)
    Array([-0.1111], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / (sqrt(ŝ_t) + eps)
            first_moment(b1, nesterov),  # m̂_t
            chain(
                belief_moment(b1, b2, eps_root),  # s_t
                bias_correction(b2),  # ŝ_t
                sqrt(),
                add_eps(eps),  # sqrt(ŝ_t) + eps
            ),
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "eps", "initial_accumulator_value"),
    off_when_zero=("eps",),
)
def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
    *,
    initial_accumulator_value: ArrayLike = 1e-6,
    debias: bool = True,
) -> GradientTransformation:
    r"""Yogi: Adam with an additive second moment, which changes by a bounded amount per step.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = v_{t-1} - (1-\beta_2)\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \quad
        \theta_{t+1} = \theta_t - \alpha_t \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    from :math:`m_0 = v_0 =` ``initial_accumulator_value``, with the debiased
    :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)` (optax). Zaheer
    et al.'s Algorithm 2 (no debiasing, :math:`m_0 = v_0 = 0`) is ``debias=False,
    initial_accumulator_value=0.0`` (tested against a transcription).

    Args:
      learning_rate: :math:`\alpha_t`; the paper suggests 1e-2.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon`, outside the root; default 1e-3 (the paper's).
      initial_accumulator_value: :math:`m_0 = v_0 \ge 0`; default 1e-6 (optax's
        ``scale_by_yogi``). Not an argument of ``optax.yogi``.
      debias: divide the moments by :math:`1-\beta^t` (optax). Not in optax.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Zaheer et al., `Adaptive Methods for Nonconvex Optimization
      <https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`_,
      NeurIPS 2018, Alg. 2.
      Matches: ``optax.yogi``: rtol 1e-10 (float64), normwise 3e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import yogi
    >>> tx = yogi(0.1, eps=0.0, initial_accumulator_value=0.0)
    >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]  # first step: -lr * sign(g)
    Array([-0.1], dtype=float32)
    """
    return chain(
        divide(  # m̂_t / (sqrt(v̂_t) + eps)
            chain(  # m̂_t
                moving_average(b1, initial_value=initial_accumulator_value),
                bias_correction(b1) if debias else identity(),
            ),
            chain(  # sqrt(v̂_t) + eps
                additive_second_moment(b2, initial_accumulator_value),  # v_t
                bias_correction(b2) if debias else identity(),  # v̂_t
                sqrt(),
                add_eps(eps),
            ),
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(dynamic_args=("learning_rate", "b1", "b2", "eps"))
def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.9999,
    eps: ArrayLike = 1e-6,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = adopt_clip_value,
) -> GradientTransformation:
    r"""ADOPT: momentum of the gradient normalised by the *previous* second moment.

    .. math::
        u_t = \operatorname{clip}\Big(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)}, c_t\Big), \quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) u_t, \quad
        \theta_{t+1} = \theta_t - \alpha_t m_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2

    for :math:`t \ge 1`, after a first step :math:`t = 0` that only sets :math:`v_0 = g_0^2`
    (its update is 0). ``nesterov=True`` steps along :math:`\beta_1 m_t + (1-\beta_1) u_t`.
    optax follows Taniguchi et al.'s Algorithm 2 (tested against a transcription too).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.9999.
      eps: :math:`\epsilon`, the floor of :math:`\sqrt{v_{t-1}}`; default 1e-6.
      mu_dtype: dtype of the stored momentum (``None``: the params').
      nesterov: step along the look-ahead momentum.
      use_clipping: clip :math:`u_t` to :math:`[-c_t, c_t]` (the paper's stabilised form).
      clip_value_fn: :math:`t \mapsto c_t`; default :math:`t^{1/4}`.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Taniguchi et al., `ADOPT: Modified Adam Can Converge with Any \beta_2 with the Optimal
      Rate <https://arxiv.org/abs/2411.02853>`_, NeurIPS 2024, Alg. 2.
      Matches: ``optax.contrib.adopt``: rtol 1e-10 (float64), normwise 1e-5 (float32), 200
      jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import adopt
    >>> tx = adopt(0.1)
    >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]  # the first step sets v_0 only
    Array([-0.], dtype=float32)
    """
    momentum = moving_average(b1, accumulator_dtype=mu_dtype)  # m_t
    return chain(
        normalize_by_previous_rms(b2, eps, use_clipping, clip_value_fn),  # u_t
        fan_out(momentum, combine=lambda m, u: b1 * m + (1 - b1) * u) if nesterov else momentum,
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "b3", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def adan(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.98,
    b2: ArrayLike = 0.92,
    b3: ArrayLike = 0.99,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Any | None = None,
) -> GradientTransformation:
    r"""Adan: Adam with moments of the gradient difference, a look-ahead without extrapolation.

    .. math::
        d_t = g_t - g_{t-1}\ (d_1 = 0), \quad
        m_t = \mathrm{EMA}_{\beta_1}(g_t), \quad v_t = \mathrm{EMA}_{\beta_2}(d_t), \quad
        n_t = \mathrm{EMA}_{\beta_3}\big((g_t + (1-\beta_2) d_t)^2\big),

    .. math::
        \theta_{t+1} = \theta_t - \alpha_t\Big(\frac{\hat m_t + (1-\beta_2)\hat v_t}
        {\sqrt{\hat n_t + \bar\epsilon} + \epsilon} + \lambda\theta_t\Big)

    with every EMA started at 0 and debiased (:math:`\hat x_t = x_t/(1-\beta^t)`), and
    decoupled weight decay, as optax. Xie et al.'s :math:`\beta`'s are optax's
    :math:`1-\beta`'s.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`, the gradient's decay; default 0.98.
      b2: :math:`\beta_2 \in [0, 1)`, the difference's decay; default 0.92.
      b3: :math:`\beta_3 \in [0, 1)`, the second moment's decay; default 0.99.
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 1e-8.
      weight_decay: :math:`\lambda \ge 0`; default 0.
      mask: tree of bools (or function of params) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
      <https://arxiv.org/abs/2208.06677>`_, 2022, Alg. 1.
      Matches: ``optax.adan``: rtol 1e-10 (float64), normwise 1e-5 (float32), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import adan
    >>> tx = adan(0.1, eps=0.0, eps_root=0.0)
    >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 6)  # -lr * sign(g)
    -0.1
    """
    return chain(
        fan_out(  # (m̂_t + (1 - b2) v̂_t) / (sqrt(n̂_t + eps_root) + eps)
            first_moment(b1, False),  # m̂_t
            chain(gradient_difference(), moving_average(b2), bias_correction(b2)),  # v̂_t
            chain(
                fan_out(gradient_difference(), combine=lambda d, g: g + (1 - b2) * d),
                moving_average(b3, order=2),  # n_t
                bias_correction(b3),  # n̂_t
                sqrt(eps_root),
                add_eps(eps),  # sqrt(n̂_t + eps_root) + eps
            ),
            combine=lambda m, v, n, g: safe_ratio(m + (1 - b2) * v, n),
        ),
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "b3", "alpha", "eps", "eps_root", "weight_decay"),
    off_when_zero=("eps", "eps_root", "weight_decay"),
)
def ademamix(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    b3: ScalarOrSchedule = 0.9999,
    alpha: ScalarOrSchedule = 5.0,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    weight_decay: ArrayLike = 0.0,
    mask: Any | None = None,
) -> GradientTransformation:
    r"""AdEMAMix: Adam's direction plus :math:`\alpha` times a slow, undebiased EMA.

    .. math::
        m^{(2)}_t = \beta_3 m^{(2)}_{t-1} + (1-\beta_3) g_t, \quad
        \theta_{t+1} = \theta_t - \alpha_t\Big(\frac{\hat m_t + \alpha\, m^{(2)}_t}
        {\sqrt{\hat v_t + \bar\epsilon} + \epsilon} + \lambda\theta_t\Big)

    with :math:`\hat m_t, \hat v_t` as in :func:`gradlab.adam`. The slow EMA is not debiased,
    so that it fills slowly. ``b3`` and ``alpha`` may be schedules (the paper warms both up),
    evaluated at the step count :math:`t = 0, 1, \dots` before each update, as optax.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`, the fast EMA's decay; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      b3: :math:`\beta_3 \in [0, 1)`, the slow EMA's decay, or a schedule; default 0.9999.
      alpha: :math:`\alpha`, the slow EMA's weight, or a schedule; default 5 (``optax.contrib
        .ademamix``; its ``scale_by_ademamix`` uses 6).
      eps: :math:`\epsilon`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon`, inside the root; default 0.
      mu_dtype: dtype of the three stored moments (``None``: the params', float32 for the
        second moment of float16 params).
      weight_decay: :math:`\lambda \ge 0`; default 0.
      mask: tree of bools (or function of params) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Pagliardini, Ablin & Grangier, `The AdEMAMix Optimizer: Better, Faster, Older
      <https://arxiv.org/abs/2409.03050>`_, 2024, Alg. 1.
      Matches: ``optax.contrib.ademamix``: rtol 1e-10 (float64), normwise 3e-5 (float32, where
      the stored ``b3`` rounds :math:`1-\beta_3`), 200 jitted steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adaptive_moments import ademamix
    >>> tx = ademamix(0.1, b3=0.5, alpha=2.0, eps=0.0)
    >>> round(float(tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0][0]), 6)  # -0.1 * 6 / 3
    -0.2
    """
    return chain(
        divide(  # (m̂_t + alpha m2_t) / (sqrt(v̂_t + eps_root) + eps)
            fan_out(
                first_moment(b1, False, mu_dtype),  # m̂_t
                moving_average(b3, accumulator_dtype=mu_dtype),  # m2_t, the slow EMA
                combine=lambda m1, m2, g: m1 + alpha * m2,
            ),
            second_moment(b2, eps, eps_root, mu_dtype),  # sqrt(v̂_t + eps_root) + eps
        ),
        add_decayed_weights(weight_decay, mask),  # + lambda theta_t
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["adabelief", "adan", "ademamix", "adopt", "radam", "yogi"]

r"""Adafactor: a factored second moment, update clipping and a step size relative to the params.

One ``chain``: :func:`~gradlab.transforms.factored.scale_by_factored_rms` (row and column
statistics, :math:`O(m + n)` floats for an :math:`m \times n` matrix), then
:func:`gradlab.clip_by_block_rms`, the learning rate, :func:`gradlab.scale_by_param_block_rms`
(the relative step size), an optional momentum and an optional weight decay, in optax's order.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.core.base import GradientTransformation, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.centralization import scale_by_param_block_rms
from gradlab.transforms.clipping import clip_by_block_rms
from gradlab.transforms.combine import chain
from gradlab.transforms.factored import scale_by_factored_rms
from gradlab.transforms.scaling import scale, scale_by_learning_rate
from gradlab.transforms.statistics import moving_average
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


@inject_hyperparams(
    dynamic_args=(
        "learning_rate",
        "decay_rate",
        "clipping_threshold",
        "momentum",
        "weight_decay_rate",
        "eps",
    ),
    off_when_zero=("momentum", "weight_decay_rate"),
)
def adafactor(
    learning_rate: ScalarOrSchedule | None = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: ArrayLike = 0.8,
    decay_offset: int = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: ArrayLike | None = 1.0,
    momentum: ArrayLike | None = None,
    dtype_momentum: Any = jnp.float32,
    weight_decay_rate: ScalarOrSchedule | None = None,
    eps: ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Any | None = None,
) -> GradientTransformation:
    r"""Adafactor: Adam-like steps from a factored second moment, with sublinear memory.

    With :math:`U_t` the factored-RMS-scaled gradient of
    :func:`~gradlab.transforms.factored.scale_by_factored_rms` (decay
    :math:`\hat\beta_t = 1 - (t+1)^{-c}`):

    .. math::
        \hat U_t = \frac{U_t}{\max(1, \operatorname{RMS}(U_t)/d)}, \quad
        a_t = \alpha_t \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))\, \hat U_t, \quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) a_t, \quad
        \theta_t = \theta_{t-1} - (m_t + \lambda \theta_{t-1})

    per leaf (a *block*), with :math:`\epsilon_2 = 10^{-3}`; each factor is dropped when its
    argument is ``None`` (:math:`d`, :math:`\alpha_t`, :math:`\beta_1`, :math:`\lambda`) or
    ``multiply_by_parameter_scale=False`` (:math:`\max(\epsilon_2, \cdot)`). As in optax the
    weight decay is *not* multiplied by the learning rate, and ``learning_rate=None`` means
    :math:`\alpha_t = 1`. The paper's relative step size :math:`\rho_t = \min(10^{-2},
    1/\sqrt{t})` is the schedule ``learning_rate=lambda t: jnp.minimum(1e-2, jax.lax.rsqrt(t +
    1.0))`` (tested against a transcription of the paper's Algorithm 4).

    Args:
      learning_rate: :math:`\alpha_t`, a number, a schedule or ``None`` (no scaling, optax's
        default).
      min_dim_size_to_factor: factor a leaf only if its second-largest axis has at least this
        size; default 128.
      decay_rate: :math:`c`; default 0.8.
      decay_offset: an int >= 0, the step at which fine-tuning starts (restarts
        :math:`\hat\beta_t`).
      multiply_by_parameter_scale: scale each leaf's step by its parameter's RMS (floored at
        :math:`\epsilon_2`).
      clipping_threshold: :math:`d > 0`, the largest RMS of a leaf's update; ``None``: no
        clipping. Default 1.0.
      momentum: :math:`\beta_1 \in [0, 1)` or ``None`` (no momentum, no extra memory; the
        default).
      dtype_momentum: dtype of the stored momentum; default float32.
      weight_decay_rate: :math:`\lambda \ge 0`, a number, a schedule or ``None``.
      eps: :math:`\epsilon_1`, added to :math:`g^2`; default 1e-30.
      factored: use the factored second moment for matrices.
      weight_decay_mask: a tree of bools (or ``params -> tree``) selecting the leaves to decay.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``; ``update`` needs
      ``params``.

    References:
      Shazeer & Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost
      <https://arxiv.org/abs/1804.04235>`_, ICML 2018.
      Matches: ``optax.adafactor``, 200 jitted steps: rtol 1e-10 in float64 (momentum with
      ``dtype_momentum=float64``: for float64 params optax multiplies its float32 momentum
      buffer by :math:`\beta_1` in float32, gradlab in float64, 1e-6 apart), 1e-5 normwise in
      float32 (3e-5 at the defaults, whose last steps are decided by rounding).

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.adafactor import adafactor
    >>> tx = adafactor(1e-2)
    >>> params = jnp.array([1.0, 2.0])
    >>> u, state = tx.update(jnp.array([3.0, -0.5]), tx.init(params), params)
    >>> u.round(5)  # -lr * sign(g) * max(1e-3, rms(params)) on the first step
    Array([-0.01581,  0.01581], dtype=float32)
    """
    stages = [
        scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)
    ]
    if clipping_threshold is not None:
        stages.append(clip_by_block_rms(clipping_threshold))  # Û_t = U_t / max(1, RMS(U_t)/d)
    if learning_rate is not None:
        stages.append(scale_by_learning_rate(learning_rate, flip_sign=False))  # alpha_t
    if multiply_by_parameter_scale:
        stages.append(scale_by_param_block_rms())  # max(eps_2, RMS(theta))
    if momentum is not None and not validation.is_static_zero(momentum):
        stages.append(moving_average(momentum, accumulator_dtype=dtype_momentum))  # m_t
    if weight_decay_rate is not None:
        stages.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))  # + lambda theta
    stages.append(scale(-1.0))  # descent
    return chain(*stages)


__all__ = ["adafactor"]

r"""Preconditioners: the gradient divided by a statistic of itself.

Each is a short composition, ``divide(identity(), chain(<statistic>, sqrt(...), add_eps(...)))``,
so the formula reads off the code: RMSProp's :math:`g/\sqrt{v + \epsilon}`, AdaGrad's
:math:`g/\sqrt{G + \epsilon}`, Adamax's :math:`g/u`. Zeiler's unit correction, which multiplies
by the root of a statistic of its own past outputs, is the one primitive here with a state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates, identity
from gradlab.core.injection import declare_hyperparams
from gradlab.transforms import statistics
from gradlab.transforms.combine import chain, divide
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.fused import moving_variance
from gradlab.transforms.statistics import max_abs, moving_average, sum_of_squares


def _root_plus_eps(eps: jax.typing.ArrayLike, eps_in_sqrt: bool) -> GradientTransformation:
    """:math:`\\sqrt{x + \\epsilon}` or :math:`\\sqrt{x} + \\epsilon`."""
    return sqrt(eps) if eps_in_sqrt else chain(sqrt(), add_eps(eps))


@declare_hyperparams("decay", "eps", "initial_scale", off_when_zero=("eps",))
def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""RMSProp's preconditioning: the gradient over the root of a moving second moment.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{v_t + \epsilon}} \ (\texttt{eps\_in\_sqrt})
        \quad\text{or}\quad \frac{g_t}{\sqrt{v_t} + \epsilon}

    ``centered=True`` replaces :math:`v_t` by :math:`v_t - m_t^2` (:func:`moving_variance`,
    Graves 2013); ``bias_correction=True`` divides the moments by :math:`1-\rho^t`. It is
    ``divide(identity(), chain(moving_average(decay, 2), [bias_correction(decay)], sqrt(eps)))``.

    Args:
      decay: :math:`\rho \in [0, 1)`; default 0.9 (Hinton's lecture).
      eps: :math:`\epsilon \ge 0`; default 1e-8 (optax).
      initial_scale: :math:`v_0`; 0 (PyTorch, optax) or 1 (TF1).
      eps_in_sqrt: eps inside the root (optax, TF) or outside it (PyTorch, Keras).
      bias_correction: debias the moving averages (off in RMSProp as published).
      centered: divide by the root of the variance instead of the second moment.
      accumulator_dtype: dtype of the stored moments (e.g. ``jnp.bfloat16``); ``None`` follows
        the storage policy.

    Returns:
      A GradientTransformation with state ``FanOutState``.

    References:
      Tieleman & Hinton, Lecture 6.5 (RMSProp), COURSERA: Neural Networks for ML, 2012.
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013 (centered).
      Matches: ``optax.scale_by_rms`` / ``optax.scale_by_stddev`` (``centered=True``).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_rms(decay=0.0, eps=0.0)
    >>> tx.update(jnp.array([-2.0, 4.0]), tx.init(jnp.zeros(2)))[0]
    Array([-1.,  1.], dtype=float32)
    """
    validation.check_non_negative("scale_by_rms", "eps", eps, "1e-8")
    if centered:
        second_moment = moving_variance(
            decay,
            initial_scale=initial_scale,
            bias_correction=bias_correction,
            accumulator_dtype=accumulator_dtype,
        )
    else:
        second_moment = chain(
            moving_average(
                decay, order=2, initial_value=initial_scale, accumulator_dtype=accumulator_dtype
            ),
            statistics.bias_correction(decay) if bias_correction else identity(),
        )
    return divide(identity(), chain(second_moment, _root_plus_eps(eps, eps_in_sqrt)))


@declare_hyperparams("initial_accumulator_value", "eps", off_when_zero=("eps",))
def scale_by_sum_of_squares(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
    *,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdaGrad's preconditioning: :math:`u_t = g_t / \sqrt{G_t + \epsilon}`.

    It is ``divide(identity(), chain(sum_of_squares(initial_accumulator_value), sqrt(eps)))``.

    Args:
      initial_accumulator_value: :math:`G_0 \ge 0`; default 0.1 (optax, TF).
      eps: :math:`\epsilon \ge 0` inside the root; default 1e-7 (optax). Duchi et al. add
        :math:`\delta` outside the root: use ``divide(identity(), chain(sum_of_squares(0.0),
        sqrt(), add_eps(delta)))``.
      accumulator_dtype: dtype of the stored :math:`G_t`; ``None`` follows the storage policy.

    Returns:
      A GradientTransformation with state ``FanOutState``.

    References:
      Duchi, Hazan & Singer, `Adaptive Subgradient Methods
      <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.
      Matches: ``optax.scale_by_rss``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_sum_of_squares(0.0, eps=0.0)
    >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-1.], dtype=float32)
    """
    return divide(
        identity(),
        chain(sum_of_squares(initial_accumulator_value, accumulator_dtype), sqrt(eps)),
    )


@declare_hyperparams("decay", "eps")
def scale_by_max_abs(
    decay: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    *,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""The gradient over Adamax's norm: :math:`u_t = g_t / \max(\beta u_{t-1}, |g_t| + \epsilon)`.

    It is ``divide(identity(), max_abs(decay, eps))``; Adamax itself divides the debiased first
    moment instead of :math:`g_t`.

    Args:
      decay: :math:`\beta \in [0, 1)`; default 0.999 (Kingma & Ba).
      eps: :math:`\epsilon \ge 0`; default 1e-8.
      accumulator_dtype: dtype of the stored norm; ``None`` keeps the params' (real) dtype.

    Returns:
      A GradientTransformation with state ``FanOutState``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_max_abs(eps=0.0)
    >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-1.], dtype=float32)
    """
    return divide(identity(), max_abs(decay, eps, accumulator_dtype))


class DeltaRmsState(NamedTuple):
    """The moving average :math:`E[\\Delta^2]_t` of the squares of this transform's outputs."""

    delta_sq_average: Updates


@declare_hyperparams("decay", "eps")
def scale_by_delta_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Zeiler's unit correction: scale by the RMS of this transform's own past outputs.

    .. math::
        \Delta_t = \sqrt{E[\Delta^2]_{t-1} + \epsilon}\; x_t, \qquad
        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) (E[\Delta^2]_{t-1} + \epsilon)\, x_t^2

    The last term is :math:`\Delta_t^2` written out, so the new average is computed from
    :math:`x_t` and the old average, not from the materialised :math:`\Delta_t` (12 instead
    of 15 float32 words per parameter for the update of ``chain(scale_by_rms(rho, eps),
    scale_by_delta_rms(rho, eps))`` on XLA:CPU; equal to squaring :math:`\Delta_t` to float
    rounding). Chained after ``scale_by_rms(rho, eps)`` it gives Adadelta's :math:`\Delta_t`;
    :func:`gradlab.adadelta` uses the fused :func:`gradlab.scale_by_adadelta`, one root of the
    ratio of the two averages.

    Args:
      decay: :math:`\rho \in [0, 1)`; default 0.9 (optax; Zeiler used 0.95).
      eps: :math:`\epsilon \ge 0`; default 1e-6 (Zeiler, optax).
      accumulator_dtype: dtype of the stored average; ``None`` follows the storage policy.

    Returns:
      A GradientTransformation with state ``DeltaRmsState(delta_sq_average)``.

    References:
      Zeiler, `ADADELTA: An Adaptive Learning Rate Method <https://arxiv.org/abs/1212.5701>`_,
      2012, Alg. 1, lines 5-6.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_delta_rms(decay=0.0, eps=4.0)
    >>> tx.update(jnp.array([1.5]), tx.init(jnp.zeros(1)))[0]  # sqrt(0 + 4) * 1.5
    Array([3.], dtype=float32)
    """
    validation.check_unit_interval("scale_by_delta_rms", "decay", decay)
    validation.check_non_negative("scale_by_delta_rms", "eps", eps, "1e-6")
    validation.check_dtype("scale_by_delta_rms", "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> DeltaRmsState:
        return DeltaRmsState(storage.init(params, 0.0, accumulator_dtype, squared=True))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("scale_by_delta_rms", state, DeltaRmsState)
        del params
        validation.check_structure("scale_by_delta_rms", updates, state.delta_sq_average)
        delta = jax.tree.map(
            lambda x, e: (jnp.sqrt(storage.load(e) + eps) * x).astype(storage.leaf_dtype(x)),
            updates,
            state.delta_sq_average,
        )
        # Delta_t^2 = (E[Delta^2]_{t-1} + eps) |x_t|^2: reads x_t, not the materialised Delta_t
        average = jax.tree.map(
            lambda x, e: (
                (1 - decay) * (storage.load(e) + eps) * storage.power(x, 2)
                + decay * storage.load(e)
            ),
            updates,
            state.delta_sq_average,
        )
        return delta, DeltaRmsState(storage.store(average, state.delta_sq_average))

    return GradientTransformation(init, update)


__all__ = [
    "DeltaRmsState",
    "scale_by_delta_rms",
    "scale_by_max_abs",
    "scale_by_rms",
    "scale_by_sum_of_squares",
]

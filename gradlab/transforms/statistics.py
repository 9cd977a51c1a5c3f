r"""Primitives: the small transformations every gradlab optimizer is a chain of.

Two kinds live here. *Update transforms* map the updates to new updates (``scale``,
``scale_by_momentum``, ``scale_by_rms``, ...). *Statistics* map the gradient to a running
statistic of it (``ema``, ``sum_of_squares``, ``max_abs``, ``ema_variance``) and are refined by
``bias_correction`` and ``amsgrad_max``; :func:`gradlab.divide` turns a statistic into a
preconditioner by dividing another transformation's output by it.

Every state is a NamedTuple of arrays; ``count`` is an int32 scalar that saturates instead of
wrapping. Hyperparameters are checked at construction when concrete (see ``validation``).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import tree, validation
from gradlab.core.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    identity,
    stateless,
)
from gradlab.transforms.combine import chain, divide, masked

NO_PARAMS_MSG = "{}: update() needs params; call tx.update(grads, state, params)."


# ---------------------------------------------------------------------------------------------
# Scaling


class ScaleByScheduleState(NamedTuple):
    """Number of updates done so far, the step at which the schedule is evaluated next."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)


def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Multiplies the updates by a constant: :math:`u_t = s\, g_t`.

    Args:
      step_size: the factor :math:`s` (any sign).

    Returns:
      A stateless GradientTransformation.

    References:
      Matches: ``optax.scale``.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.scale(-0.1).update(jnp.ones(2), gradlab.EmptyState())[0]
    Array([-0.1, -0.1], dtype=float32)
    """

    return stateless(
        lambda updates, params: jax.tree.map(lambda g: jnp.asarray(step_size, g.dtype) * g, updates)
    )


def scale_by_schedule(step_size_fn: Any) -> GradientTransformation:
    r"""Multiplies the updates by a schedule's value: :math:`u_t = s(t)\, g_t`, from :math:`t = 0`.

    Args:
      step_size_fn: a schedule, ``step -> factor``; called with the int32 count of past updates.

    Returns:
      A GradientTransformation with state ``ScaleByScheduleState(count)``.

    References:
      Matches: ``optax.scale_by_schedule``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_schedule(lambda t: 1.0 / (1 + t))
    >>> _, s = tx.update(jnp.ones(1), tx.init(jnp.ones(1)))
    >>> tx.update(jnp.ones(1), s)[0]
    Array([0.5], dtype=float32)
    """
    if not callable(step_size_fn):
        raise TypeError(
            f"scale_by_schedule: step_size_fn must be callable (step -> value), got "
            f"{type(step_size_fn).__name__}. Use gradlab.scale for a constant."
        )

    def init(params: Params) -> ScaleByScheduleState:
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        step_size = step_size_fn(state.count)
        updates = jax.tree.map(lambda g: jnp.asarray(step_size, g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Scales by the (negated) learning rate: :math:`u_t = -\alpha_t\, g_t`.

    Args:
      learning_rate: :math:`\alpha_t \ge 0`, a number or a schedule ``step -> value``.
      flip_sign: negate (descent, the default); ``False`` gives :math:`+\alpha_t g_t` (ascent).

    Returns:
      :func:`scale` for a number, :func:`scale_by_schedule` for a schedule.

    References:
      Matches: ``optax.scale_by_learning_rate`` (except that ``None`` is refused rather than
      silently skipping the sign flip; see the README's differences from optax).

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.scale_by_learning_rate(0.1).update(jnp.ones(1), gradlab.EmptyState())[0]
    Array([-0.1], dtype=float32)
    """
    validation.check_learning_rate("scale_by_learning_rate", learning_rate)
    if learning_rate is None:
        raise ValueError(
            "scale_by_learning_rate: learning_rate is None. Pass a number or a schedule, "
            "e.g. learning_rate=1e-3."
        )
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


# ---------------------------------------------------------------------------------------------
# Momentum


class MomentumState(NamedTuple):
    """The momentum buffer :math:`m_t` and the number of updates done."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates


def scale_by_momentum(
    decay: jax.typing.ArrayLike = 0.9,
    nesterov: bool = False,
    *,
    form: Literal["heavy_ball", "ema"] = "heavy_ball",
    debias: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Momentum, in heavy-ball or moving-average form, optionally Nesterov and bias-corrected.

    Heavy ball (``form="heavy_ball"``, Polyak 1964; optax's ``trace``, PyTorch's SGD):

    .. math::
        m_t = g_t + \mu\, m_{t-1}, \qquad
        u_t = m_t \quad\text{or (Nesterov)}\quad u_t = g_t + \mu\, m_t

    With :math:`u` scaled by :math:`-\eta` this is the textbook :math:`v_t = \mu v_{t-1} - \eta
    g_t` (:math:`v = -\eta m`), and its Nesterov form :math:`\theta \mathrel{+}= -\mu v_{t-1} +
    (1+\mu) v_t` (Sutskever et al. 2013; Bengio et al. 2012).

    Moving average (``form="ema"``, Adam's first moment):

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad
        u_t = m_t \quad\text{or (Nesterov)}\quad u_t = \beta m_t + (1-\beta) g_t

    With ``debias=True`` each term is divided by its own bias; Nesterov then gives Dozat's Nadam
    numerator :math:`\beta m_t/(1-\beta^{t+1}) + (1-\beta) g_t/(1-\beta^t)` (as optax's
    ``scale_by_adam(nesterov=True)``, without Dozat's momentum schedule :math:`\mu_t`).

    Args:
      decay: :math:`\mu` or :math:`\beta`, in [0, 1). Default 0.9 (Sutskever et al. 2013).
      nesterov: use the look-ahead (Nesterov) output.
      form: ``"heavy_ball"`` or ``"ema"``.
      debias: divide by :math:`1-\beta^t` (only with ``form="ema"``).
      accumulator_dtype: dtype of the stored :math:`m_t` (e.g. ``jnp.bfloat16``); ``None`` keeps
        the params' dtype. The output is computed before the state is cast, as optax does.

    Returns:
      A GradientTransformation with state ``MomentumState(count, mu)``.

    References:
      Polyak, Some methods of speeding up the convergence of iteration methods, 1964.
      Sutskever et al., `On the importance of initialization and momentum in deep learning
      <http://proceedings.mlr.press/v28/sutskever13.pdf>`_, 2013.
      Dozat, `Incorporating Nesterov Momentum into Adam
      <https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ>`_, 2016.
      Matches: ``optax.trace`` (heavy ball) and the first moment of ``optax.scale_by_adam``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_momentum(0.5)
    >>> u, s = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> tx.update(jnp.ones(1), s)[0]  # 1 + 0.5 * 1
    Array([1.5], dtype=float32)
    """
    validation.check_unit_interval("scale_by_momentum", "decay", decay)
    validation.check_choice("scale_by_momentum", "form", form, ("heavy_ball", "ema"))
    if debias and form != "ema":
        raise ValueError(
            "scale_by_momentum: debias=True needs form='ema' (a heavy-ball sum has no "
            "(1 - decay^t) bias). Pass form='ema' or debias=False."
        )

    def init(params: Params) -> MomentumState:
        return MomentumState(jnp.zeros([], jnp.int32), tree.zeros_like(params, accumulator_dtype))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("scale_by_momentum", updates, state.mu)
        count = tree.safe_increment(state.count)
        if form == "heavy_ball":
            mu = jax.tree.map(lambda g, m: g + decay * m, updates, state.mu)
            out = jax.tree.map(lambda g, m: g + decay * m, updates, mu) if nesterov else mu
        else:
            mu = tree.update_moment(updates, state.mu, decay, 1)
            m_hat, g_hat = mu, updates
            if debias:
                m_hat = tree.bias_correction(
                    mu, decay, tree.safe_increment(count) if nesterov else count
                )
                g_hat = tree.bias_correction(updates, decay, count)
            out = (
                jax.tree.map(lambda m, g: decay * m + (1 - decay) * g, m_hat, g_hat)
                if nesterov
                else m_hat
            )
        return tree.cast_like(out, updates), MomentumState(count, tree.cast_like(mu, state.mu))

    return GradientTransformation(init, update)


# ---------------------------------------------------------------------------------------------
# Statistics of the gradient (feed them to `divide`)


class EmaState(NamedTuple):
    """Running average :math:`m_t` of the incoming updates (``order``-th power)."""

    mu: Updates


def ema(
    decay: jax.typing.ArrayLike,
    order: int = 1,
    *,
    initial_value: jax.typing.ArrayLike = 0.0,
    dtype: Any | None = None,
) -> GradientTransformation:
    r"""Exponential moving average: :math:`m_t = \beta m_{t-1} + (1-\beta)\, g_t^{k}`.

    Args:
      decay: :math:`\beta \in [0, 1)`; optax's ``b1``/``b2``, RMSProp's ``decay``, Adadelta's
        ``rho``.
      order: :math:`k`: 1 for the first moment, 2 for the uncentered second moment.
      initial_value: :math:`c`, the initial accumulator (RMSProp's ``initial_scale``: 0 in
        PyTorch and Keras, 1 in TF1).
      dtype: dtype of the stored average; ``None`` keeps the params' dtype, except that a second
        moment of float16 params is stored in float32 (squares above 65504 overflow float16).
        The arithmetic runs in float32 or wider either way.

    Returns:
      A GradientTransformation whose output is :math:`m_t` (not bias-corrected: chain
      :func:`bias_correction`).

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1.
      Tieleman & Hinton, Lecture 6.5 (RMSProp), COURSERA: Neural Networks for ML, 2012.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.ema(0.9, order=2)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 0.1 * 2**2
    Array([0.4], dtype=float32)
    """
    validation.check_unit_interval("ema", "decay", decay)
    validation.check_choice("ema", "order", order, (1, 2))

    def init(params: Params) -> EmaState:
        if order == 2:  # squares: float16 params accumulate in float32 (see tree.wide_dtype)
            return EmaState(tree.full_like_wide(params, initial_value, dtype))
        return EmaState(tree.full_like(params, initial_value, dtype))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("ema", updates, state.mu)
        mu = tree.cast_like(tree.update_moment(updates, state.mu, decay, order), state.mu)
        return mu, EmaState(mu)

    return GradientTransformation(init, update)


class CountState(NamedTuple):
    """Number of updates done so far (int32 scalar)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)


def bias_correction(decay: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Removes a moving average's zero-initialisation bias: :math:`\hat m_t = m_t/(1-\beta^t)`.

    Chain it after :func:`ema` with the same ``decay``. :math:`\beta^t` is computed in float32 (or
    wider) so that low-precision moments do not round it to 1.

    Args:
      decay: :math:`\beta \in [0, 1)`, the decay of the average being corrected.

    Returns:
      A GradientTransformation with state ``CountState(count)``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 3.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.chain(gradlab.ema(0.5), gradlab.bias_correction(0.5))
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # (0.5 * 2) / (1 - 0.5)
    Array([2.], dtype=float32)
    """
    validation.check_unit_interval("bias_correction", "decay", decay)

    def init(params: Params) -> CountState:
        del params
        return CountState(jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        count = tree.safe_increment(state.count)
        return tree.bias_correction(updates, decay, count), CountState(count)

    return GradientTransformation(init, update)


class MaxState(NamedTuple):
    """The running elementwise maximum :math:`\\hat v^{\\max}_t`."""

    nu_max: Updates


def amsgrad_max() -> GradientTransformation:
    r"""AMSGrad's running maximum: :math:`v^{\max}_t = \max(v^{\max}_{t-1}, v_t)`.

    Placed after ``bias_correction`` (optax's ``amsgrad`` default, ``bias_correction_nu=True``)
    it takes the maximum of :math:`\hat v_t`; placed before, or with no bias correction at all, it
    takes the maximum of the raw :math:`v_t` as in Reddi et al.'s Algorithm 2 (where
    :math:`\beta_1` is also not debiased).

    Args:
      (none): the maximum starts at 0.

    Returns:
      A GradientTransformation with state ``MaxState(nu_max)``.

    References:
      Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
      <https://openreview.net/forum?id=ryQu7f-RZ>`_, ICLR 2018, Alg. 2.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.amsgrad_max()
    >>> _, s = tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))
    >>> tx.update(jnp.array([1.0]), s)[0]
    Array([3.], dtype=float32)
    """

    def init(params: Params) -> MaxState:
        return MaxState(tree.full_like_wide(params, 0.0))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("amsgrad_max", updates, state.nu_max)
        nu_max = tree.cast_like(jax.tree.map(jnp.maximum, state.nu_max, updates), state.nu_max)
        return nu_max, MaxState(nu_max)

    return GradientTransformation(init, update)


class VarianceState(NamedTuple):
    """Moving averages of the gradient (``mu``) and of its square (``nu``)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates
    nu: Updates


def ema_variance(
    decay: jax.typing.ArrayLike = 0.9,
    *,
    initial_scale: jax.typing.ArrayLike = 0.0,
    debias: bool = False,
) -> GradientTransformation:
    r"""Moving estimate of the gradient's variance (centered RMSProp's denominator).

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \quad v_t = \beta v_{t-1} + (1-\beta) g_t^2,
        \quad \sigma^2_t = v_t - m_t^2

    with :math:`m_0 = 0`, :math:`v_0 = ` ``initial_scale``; ``debias=True`` uses
    :math:`\hat v_t - \hat m_t^2` (each moment divided by :math:`1-\beta^t`).

    Args:
      decay: :math:`\beta \in [0, 1)`.
      initial_scale: :math:`v_0`.
      debias: bias-correct both moments before subtracting.

    Returns:
      A GradientTransformation whose output is :math:`\sigma^2_t`, state ``VarianceState``.

    References:
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013, Eq. 38-41.
      Matches: the denominator of ``optax.scale_by_stddev``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.ema_variance(0.5)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 0.5*4 - (0.5*2)**2
    Array([1.], dtype=float32)
    """
    validation.check_unit_interval("ema_variance", "decay", decay)
    validation.check_non_negative("ema_variance", "initial_scale", initial_scale, "0.0")

    def init(params: Params) -> VarianceState:
        return VarianceState(
            jnp.zeros([], jnp.int32),
            tree.zeros_like(params),
            tree.full_like_wide(params, initial_scale),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("ema_variance", updates, state.mu)
        count = tree.safe_increment(state.count)
        mu = tree.update_moment(updates, state.mu, decay, 1)
        nu = tree.update_moment(updates, state.nu, decay, 2)
        m_hat, v_hat = mu, nu
        if debias:
            m_hat, v_hat = (
                tree.bias_correction(mu, decay, count),
                tree.bias_correction(nu, decay, count),
            )
        variance = jax.tree.map(lambda m, v: v - jnp.square(m), m_hat, v_hat)
        variance = tree.cast_like(variance, state.nu)
        new_state = VarianceState(count, tree.cast_like(mu, state.mu), tree.cast_like(nu, state.nu))
        return variance, new_state

    return GradientTransformation(init, update)


class SumOfSquaresState(NamedTuple):
    """AdaGrad's accumulator :math:`G_t = G_0 + \\sum_{s \\le t} g_s^2`."""

    sum_of_squares: Updates


def sum_of_squares(initial_accumulator_value: jax.typing.ArrayLike = 0.1) -> GradientTransformation:
    r"""AdaGrad's accumulator: :math:`G_t = G_{t-1} + g_t^2`, :math:`G_0` given.

    Args:
      initial_accumulator_value: :math:`G_0 \ge 0`. Default 0.1 (optax, PyTorch's is 0, TF's 0.1).

    Returns:
      A GradientTransformation whose output is :math:`G_t`.

    References:
      Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.sum_of_squares(0.0)
    >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0]
    Array([9.], dtype=float32)
    """
    validation.check_non_negative(
        "sum_of_squares", "initial_accumulator_value", initial_accumulator_value, "0.1"
    )

    def init(params: Params) -> SumOfSquaresState:
        return SumOfSquaresState(tree.full_like_wide(params, initial_accumulator_value))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("sum_of_squares", updates, state.sum_of_squares)
        total = jax.tree.map(
            lambda g, s: jnp.square(tree.upcast(g)) + s, updates, state.sum_of_squares
        )
        total = tree.cast_like(total, state.sum_of_squares)
        return total, SumOfSquaresState(total)

    return GradientTransformation(init, update)


class MaxAbsState(NamedTuple):
    """Adamax's exponentially weighted infinity norm :math:`u_t`."""

    nu: Updates


def max_abs(
    decay: jax.typing.ArrayLike = 0.999, eps: jax.typing.ArrayLike = 1e-8
) -> GradientTransformation:
    r"""Adamax's infinity norm: :math:`u_t = \max(\beta u_{t-1},\ |g_t| + \epsilon)`, :math:`u_0=0`.

    Kingma & Ba write :math:`\max(\beta_2 u_{t-1}, |g_t|)`; the :math:`\epsilon` inside the max
    (optax's placement) keeps :math:`u_t > 0` so that dividing by it is safe.

    Args:
      decay: :math:`\beta \in [0, 1)`; Adamax's ``b2``, default 0.999 (Kingma & Ba).
      eps: :math:`\epsilon \ge 0`, default 1e-8.

    Returns:
      A GradientTransformation whose output is :math:`u_t`.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1, Alg. 2.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.max_abs(0.5, eps=0.0)
    >>> _, s = tx.update(jnp.array([-4.0]), tx.init(jnp.zeros(1)))
    >>> tx.update(jnp.array([1.0]), s)[0]  # max(0.5 * 4, 1)
    Array([2.], dtype=float32)
    """
    validation.check_unit_interval("max_abs", "decay", decay, "0.999")
    validation.check_non_negative("max_abs", "eps", eps, "1e-8")

    def init(params: Params) -> MaxAbsState:
        return MaxAbsState(tree.zeros_like(params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("max_abs", updates, state.nu)
        nu = jax.tree.map(lambda g, u: jnp.maximum(jnp.abs(g) + eps, decay * u), updates, state.nu)
        return nu, MaxAbsState(tree.cast_like(nu, state.nu))

    return GradientTransformation(init, update)


_bias_correction = bias_correction  # the primitive, for functions with a `bias_correction` flag


# ---------------------------------------------------------------------------------------------
# Preconditioners: the gradient divided by one of the statistics above


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    centered: bool = False,
) -> GradientTransformation:
    r"""RMSProp's preconditioning: the gradient over the root of a moving second moment.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{v_t + \epsilon}} \ (\texttt{eps\_in\_sqrt})
        \quad\text{or}\quad \frac{g_t}{\sqrt{v_t} + \epsilon}

    ``centered=True`` replaces :math:`v_t` by :math:`v_t - m_t^2` (:func:`ema_variance`, Graves
    2013); ``bias_correction=True`` divides the moments by :math:`1-\rho^t`. It is
    ``divide(identity(), ema(decay, order=2) or ema_variance(decay), ...)``.

    Args:
      decay: :math:`\rho \in [0, 1)`; default 0.9 (Hinton's lecture).
      eps: :math:`\epsilon \ge 0`; default 1e-8 (optax).
      initial_scale: :math:`v_0`; 0 (PyTorch, optax) or 1 (TF1).
      eps_in_sqrt: eps inside the root (optax, TF) or outside it (PyTorch, Keras).
      bias_correction: debias the moving averages (off in RMSProp as published).
      centered: divide by the root of the variance instead of the second moment.

    Returns:
      A GradientTransformation with state ``DivideState``.

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
        second_moment = ema_variance(decay, initial_scale=initial_scale, debias=bias_correction)
    else:
        second_moment = chain(
            ema(decay, order=2, initial_value=initial_scale),
            _bias_correction(decay) if bias_correction else identity(),
        )
    if eps_in_sqrt:
        return divide(identity(), second_moment, eps_root=eps)
    return divide(identity(), second_moment, eps=eps)


def scale_by_sum_of_squares(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1, eps: jax.typing.ArrayLike = 1e-7
) -> GradientTransformation:
    r"""AdaGrad's preconditioning: :math:`u_t = g_t / \sqrt{G_t + \epsilon}`.

    It is ``divide(identity(), sum_of_squares(initial_accumulator_value), eps_root=eps)``.

    Args:
      initial_accumulator_value: :math:`G_0 \ge 0`; default 0.1 (optax, TF).
      eps: :math:`\epsilon \ge 0` inside the root; default 1e-7 (optax). Duchi et al. add
        :math:`\delta` outside the root: use ``divide(identity(), sum_of_squares(0.0), eps=delta)``.

    Returns:
      A GradientTransformation with state ``DivideState``.

    References:
      Duchi, Hazan & Singer, `Adaptive Subgradient Methods
      <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.
      Matches: ``optax.scale_by_rss``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_sum_of_squares(0.0, eps=0.0)
    >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-1.], dtype=float32)
    """
    return divide(identity(), sum_of_squares(initial_accumulator_value), eps_root=eps)


def scale_by_max_abs(
    decay: jax.typing.ArrayLike = 0.999, eps: jax.typing.ArrayLike = 1e-8
) -> GradientTransformation:
    r"""The gradient over Adamax's norm: :math:`u_t = g_t / \max(\beta u_{t-1}, |g_t| + \epsilon)`.

    It is ``divide(identity(), max_abs(decay, eps), sqrt=False)``; Adamax itself divides the
    debiased first moment instead of :math:`g_t`.

    Args:
      decay: :math:`\beta \in [0, 1)`; default 0.999 (Kingma & Ba).
      eps: :math:`\epsilon \ge 0`; default 1e-8.

    Returns:
      A GradientTransformation with state ``DivideState``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_max_abs(eps=0.0)
    >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-1.], dtype=float32)
    """
    return divide(identity(), max_abs(decay, eps), sqrt=False)


class AdadeltaState(NamedTuple):
    """Moving averages of the squared gradients (``e_g``) and squared updates (``e_x``)."""

    e_g: Updates
    e_x: Updates


def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9, eps: jax.typing.ArrayLike = 1e-6
) -> GradientTransformation:
    r"""Adadelta's unit-corrected step (Zeiler 2012, Alg. 1):

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,
        \qquad E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho) \Delta_t^2

    The output is :math:`+\Delta_t`; chain ``scale_by_learning_rate(1.0)`` for Zeiler's
    :math:`x_{t+1} = x_t - \Delta_t`. It is one primitive because the numerator is a statistic
    of its own past outputs.

    Args:
      rho: :math:`\rho \in [0, 1)`; default 0.9 (optax; Zeiler used 0.95).
      eps: :math:`\epsilon \ge 0`; default 1e-6 (Zeiler, optax).

    Returns:
      A GradientTransformation with state ``AdadeltaState(e_g, e_x)``.

    References:
      Zeiler, `ADADELTA: An Adaptive Learning Rate Method <https://arxiv.org/abs/1212.5701>`_,
      2012. Matches: ``optax.scale_by_adadelta``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale_by_adadelta(rho=0.0, eps=1.0)
    >>> tx.update(jnp.array([0.0]), tx.init(jnp.zeros(1)))[0]
    Array([0.], dtype=float32)
    """
    validation.check_unit_interval("scale_by_adadelta", "rho", rho)
    validation.check_non_negative("scale_by_adadelta", "eps", eps, "1e-6")

    def init(params: Params) -> AdadeltaState:
        return AdadeltaState(tree.full_like_wide(params, 0.0), tree.full_like_wide(params, 0.0))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        tree.check_structure("scale_by_adadelta", updates, state.e_g)
        e_g = tree.update_moment(updates, state.e_g, rho, 2)
        step = jax.tree.map(
            lambda g, eg, ex: (jnp.sqrt(ex + eps) / jnp.sqrt(eg + eps) * g).astype(g.dtype),
            updates,
            e_g,
            state.e_x,
        )
        e_x = tree.update_moment(step, state.e_x, rho, 2)
        return step, AdadeltaState(tree.cast_like(e_g, state.e_g), tree.cast_like(e_x, state.e_x))

    return GradientTransformation(init, update)


# ---------------------------------------------------------------------------------------------
# Weight decay


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Any | None = None
) -> GradientTransformation:
    r"""Adds decoupled weight decay: :math:`u_t = g_t + \lambda_t \theta_t`.

    Placed after Adam's ratio and before the learning rate this is AdamW (Loshchilov & Hutter);
    placed before the preconditioner it is plain L2 regularisation.

    Args:
      weight_decay: :math:`\lambda_t \ge 0`, a number or a schedule.
      mask: a tree of bools (or ``params -> tree``) selecting the leaves to decay, e.g. to skip
        biases and norm scales; ``None`` decays every leaf.

    Returns:
      A GradientTransformation; ``update`` requires ``params``.

    References:
      Loshchilov & Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019. Matches: ``optax.add_decayed_weights``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.add_decayed_weights(0.1)
    >>> tx.update(jnp.zeros(1), tx.init(None), jnp.array([2.0]))[0]
    Array([0.2], dtype=float32)
    """
    if not callable(weight_decay):
        validation.check_non_negative("add_decayed_weights", "weight_decay", weight_decay, "1e-4")

    def init(params: Params) -> OptState:
        del params
        return (
            ScaleByScheduleState(jnp.zeros([], jnp.int32))
            if callable(weight_decay)
            else EmptyState()
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        if not callable(weight_decay) and validation.concrete_value(weight_decay) == 0:
            return updates, state  # nothing to add: params are not needed
        if params is None and jax.tree.leaves(updates):
            raise ValueError(NO_PARAMS_MSG.format("add_decayed_weights"))
        if callable(weight_decay):
            decay = weight_decay(state.count)
            state = ScaleByScheduleState(tree.safe_increment(state.count))
        else:
            decay = weight_decay
        tree.check_structure("add_decayed_weights", updates, params, what="params")
        updates = jax.tree.map(lambda g, p: g + jnp.asarray(decay, g.dtype) * p, updates, params)
        return updates, state

    tx = GradientTransformation(init, update)
    return tx if mask is None else masked(tx, mask)

r"""Statistics: transformations that map the gradient to a running statistic of it.

``trace`` (heavy-ball momentum), ``moving_average`` (an EMA of :math:`g` or :math:`|g|^2`),
``sum_of_squares`` (AdaGrad's accumulator) and ``max_abs`` (Adamax's norm) keep one buffer each;
``bias_correction`` and ``amsgrad_max`` refine a statistic placed before them in a chain.
:func:`gradlab.divide` and :func:`gradlab.fan_out` combine statistics of the same gradient.

Every state is a NamedTuple of arrays stored through :mod:`gradlab.core.storage` (params' dtype,
float32 for squares of float16 params, or the ``accumulator_dtype`` asked for); arithmetic runs
in float32 or wider. ``count`` is an int32 scalar that saturates instead of wrapping.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams


class TraceState(NamedTuple):
    """The heavy-ball momentum buffer :math:`m_t`."""

    trace: Updates


@declare_hyperparams("decay")
def trace(
    decay: jax.typing.ArrayLike,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
    *,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Heavy-ball momentum: :math:`m_t = g_t + \mu m_{t-1}`, :math:`u_t = m_t`.

    ``nesterov=True`` outputs the look-ahead :math:`u_t = g_t + \mu m_t`. That is a **fused**
    form of ``fan_out(trace(decay), combine=lambda m, g: g + decay * m)`` (tested equal to it).
    With :math:`u` scaled by :math:`-\eta` this is the textbook :math:`v_t = \mu v_{t-1} - \eta
    g_t` (:math:`v = -\eta m`) and its Nesterov form :math:`\theta \mathrel{+}= -\mu v_{t-1} +
    (1+\mu) v_t` (Sutskever et al. 2013).

    Args:
      decay: :math:`\mu \in [0, 1)`.
      nesterov: output Nesterov's look-ahead.
      accumulator_dtype: dtype of the stored :math:`m_t`; ``None`` keeps the params' dtype.
      state_format: ``"8bit"`` (or a :class:`gradlab.Blockwise8bit`) stores :math:`m_t`
        block-wise quantized (:mod:`gradlab.core.storage`); ``None``: the dtype rules.

    Returns:
      A GradientTransformation with state ``TraceState(trace)``.

    References:
      Polyak, Some methods of speeding up the convergence of iteration methods, 1964.
      Sutskever et al., `On the importance of initialization and momentum in deep learning
      <http://proceedings.mlr.press/v28/sutskever13.pdf>`_, 2013.
      Matches: ``optax.trace`` (same state field ``trace``).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.trace(0.5)
    >>> u, s = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> tx.update(jnp.ones(1), s)[0]  # 1 + 0.5 * 1
    Array([1.5], dtype=float32)
    """
    validation.check_unit_interval("trace", "decay", decay)
    validation.check_dtype("trace", "accumulator_dtype", accumulator_dtype)
    fmt = storage.check_state_format("trace", state_format)

    def init(params: Params) -> TraceState:
        return TraceState(storage.init(params, 0.0, accumulator_dtype, state_format=fmt))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("trace", state, TraceState)
        del params
        validation.check_structure("trace", updates, storage.as_leaves(state.trace))
        m = jax.tree.map(lambda g, t: g + decay * storage.load(t), updates, state.trace)
        out = jax.tree.map(lambda g, t: g + decay * t, updates, m) if nesterov else m
        return storage.like(out, updates), TraceState(storage.store(m, state.trace))

    return GradientTransformation(init, update)


class MovingAverageState(NamedTuple):
    """The running average :math:`m_t` of :math:`g` (order 1) or of :math:`|g|^2` (order 2)."""

    average: Updates


@declare_hyperparams("decay", "initial_value")
def moving_average(
    decay: jax.typing.ArrayLike,
    order: int = 1,
    *,
    initial_value: jax.typing.ArrayLike = 0.0,
    accumulator_dtype: Any | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Exponential moving average: :math:`m_t = \beta m_{t-1} + (1-\beta)\, g_t^{k}`.

    For :math:`k = 2` and complex :math:`g` the square is :math:`|g|^2 = g\bar g` (real).

    Args:
      decay: :math:`\beta \in [0, 1)`; optax's ``b1``/``b2``, RMSProp's ``decay``, Adadelta's
        ``rho``.
      order: :math:`k`: 1 for the first moment, 2 for the uncentered second moment.
      initial_value: :math:`m_0` (RMSProp's ``initial_scale``: 0 in PyTorch and Keras, 1 in
        TF1).
      accumulator_dtype: dtype of the stored average; ``None`` follows the storage policy (the
        params' dtype, float32 for squares of float16 params).
      state_format: ``"8bit"`` (or a :class:`gradlab.Blockwise8bit`) stores the average
        block-wise quantized, with the signed map for order 1 and the unsigned one for order 2
        (:mod:`gradlab.core.storage`); ``None``: the dtype rules.

    Returns:
      A GradientTransformation whose output is :math:`m_t` (not bias-corrected; chain
      :func:`bias_correction` for that), computed before :math:`m_t` is rounded for storage.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1.
      Tieleman & Hinton, Lecture 6.5 (RMSProp), COURSERA: Neural Networks for ML, 2012.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.moving_average(0.9, order=2)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 0.1 * 2**2
    Array([0.4], dtype=float32)
    """
    validation.check_unit_interval("moving_average", "decay", decay)
    validation.check_choice("moving_average", "order", order, (1, 2))
    validation.check_finite("moving_average", "initial_value", initial_value, "0.0")
    validation.check_dtype("moving_average", "accumulator_dtype", accumulator_dtype)
    fmt = storage.check_state_format("moving_average", state_format)

    def init(params: Params) -> MovingAverageState:
        return MovingAverageState(
            storage.init(
                params, initial_value, accumulator_dtype, squared=order == 2, state_format=fmt
            )
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("moving_average", state, MovingAverageState)
        del params
        validation.check_structure("moving_average", updates, storage.as_leaves(state.average))
        average = tree.update_moment(updates, state.average, decay, order)
        out = storage.output(average, updates, state.average)
        if order == 2:  # a real statistic of possibly complex updates
            out = jax.tree.map(lambda a, s: a.astype(s.dtype), average, state.average)
        return out, MovingAverageState(storage.store(average, state.average))

    return GradientTransformation(init, update)


class CountState(NamedTuple):
    """Number of updates done so far (int32 scalar).

    The field is ``steps``, not ``count``: an alias's one step count is its ``InjectState.count``,
    so ``optax.tree_utils.tree_get(opt_state, "count")`` finds exactly one.
    """

    steps: jax.Array


@declare_hyperparams("decay")
def bias_correction(decay: jax.typing.ArrayLike, offset: int = 0) -> GradientTransformation:
    r"""Removes a moving average's zero-initialisation bias: :math:`\hat m_t = m_t/(1-\beta^{t+s})`.

    Chain it after :func:`moving_average` with the same ``decay`` (:math:`s = 0`). Nadam's
    look-ahead term uses :math:`s = 1`. :math:`1-\beta^{t}` is computed as
    :math:`-\operatorname{expm1}(t \log\beta)`, in float32 or wider, so that low-precision moments
    do not round :math:`\beta^t` to 1.

    Args:
      decay: :math:`\beta \in [0, 1)`, the decay of the average being corrected.
      offset: :math:`s`, an int >= 0 added to the step count.

    Returns:
      A GradientTransformation with state ``CountState(steps)``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 3.
      Dozat, `Incorporating Nesterov Momentum into Adam
      <https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ>`_, 2016 (:math:`s = 1`).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.chain(gradlab.moving_average(0.5), gradlab.bias_correction(0.5))
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # (0.5 * 2) / (1 - 0.5)
    Array([2.], dtype=float32)
    """
    validation.check_unit_interval("bias_correction", "decay", decay)
    validation.check_count("bias_correction", "offset", offset, 0, "1")

    def init(params: Params) -> CountState:
        del params
        return CountState(jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("bias_correction", state, CountState)
        del params
        count = tree.safe_increment(state.steps)
        step = count if offset == 0 else tree.safe_increment(count, offset)
        return tree.bias_correction(updates, decay, step), CountState(count)

    return GradientTransformation(init, update)


class MaxState(NamedTuple):
    """The running elementwise maximum :math:`\\hat v^{\\max}_t` (optax's ``nu_max``)."""

    nu_max: Updates


def amsgrad_max(
    accumulator_dtype: Any | None = None, *, state_format: storage.StateFormat = None
) -> GradientTransformation:
    r"""AMSGrad's running maximum: :math:`v^{\max}_t = \max(v^{\max}_{t-1}, v_t)`, from 0.

    Placed after ``bias_correction`` (optax's ``amsgrad`` default, ``bias_correction_nu=True``)
    it takes the maximum of :math:`\hat v_t`; placed before, or with no bias correction at all, it
    takes the maximum of the raw :math:`v_t` as in Reddi et al.'s Algorithm 2.

    Args:
      accumulator_dtype: dtype of the stored maximum; ``None`` follows the storage policy for
        squares.
      state_format: ``"8bit"`` stores the maximum block-wise quantized (unsigned map); see
        :mod:`gradlab.core.storage`.

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
    validation.check_dtype("amsgrad_max", "accumulator_dtype", accumulator_dtype)
    fmt = storage.check_state_format("amsgrad_max", state_format)

    def init(params: Params) -> MaxState:
        return MaxState(
            storage.init(params, 0.0, accumulator_dtype, squared=True, state_format=fmt)
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("amsgrad_max", state, MaxState)
        del params
        validation.check_structure("amsgrad_max", updates, storage.as_leaves(state.nu_max))
        nu_max = jax.tree.map(
            lambda m, v: jnp.maximum(storage.load(m), storage.load(v)), state.nu_max, updates
        )
        return storage.output(nu_max, updates, state.nu_max), MaxState(
            storage.store(nu_max, state.nu_max)
        )

    return GradientTransformation(init, update)


class SumOfSquaresState(NamedTuple):
    """AdaGrad's accumulator :math:`G_t = G_0 + \\sum_{s \\le t} |g_s|^2`."""

    sum_of_squares: Updates


@declare_hyperparams("initial_accumulator_value")
def sum_of_squares(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""AdaGrad's accumulator: :math:`G_t = G_{t-1} + |g_t|^2`, :math:`G_0` given.

    Args:
      initial_accumulator_value: :math:`G_0 \ge 0`. Default 0.1 (optax, PyTorch's is 0, TF's 0.1).
      accumulator_dtype: dtype of the stored :math:`G_t`; ``None`` follows the storage policy.

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
    validation.check_dtype("sum_of_squares", "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> SumOfSquaresState:
        return SumOfSquaresState(
            storage.init(params, initial_accumulator_value, accumulator_dtype, squared=True)
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("sum_of_squares", state, SumOfSquaresState)
        del params
        validation.check_structure("sum_of_squares", updates, state.sum_of_squares)
        total = jax.tree.map(
            lambda g, s: storage.power(g, 2) + storage.load(s), updates, state.sum_of_squares
        )
        total = storage.store(total, state.sum_of_squares)
        return total, SumOfSquaresState(total)

    return GradientTransformation(init, update)


class MaxAbsState(NamedTuple):
    """Adamax's exponentially weighted infinity norm :math:`u_t`."""

    max_abs: Updates


@declare_hyperparams("decay", "eps")
def max_abs(
    decay: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Adamax's infinity norm: :math:`u_t = \max(\beta u_{t-1},\ |g_t| + \epsilon)`, :math:`u_0=0`.

    Kingma & Ba write :math:`\max(\beta_2 u_{t-1}, |g_t|)`; the :math:`\epsilon` inside the max
    (optax's placement) keeps :math:`u_t > 0` so that dividing by it is safe.

    Args:
      decay: :math:`\beta \in [0, 1)`; Adamax's ``b2``, default 0.999 (Kingma & Ba).
      eps: :math:`\epsilon \ge 0`, default 1e-8.
      accumulator_dtype: dtype of the stored :math:`u_t`; ``None`` keeps the params' (real) dtype.

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
    validation.check_dtype("max_abs", "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> MaxAbsState:
        dtype = accumulator_dtype
        return MaxAbsState(
            jax.tree.map(
                # zeros_like, not zeros(shape): the state keeps the parameter's sharding
                lambda p: jnp.zeros_like(p, dtype or storage.real_dtype(storage.leaf_dtype(p))),
                params,
            )
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("max_abs", state, MaxAbsState)
        del params
        validation.check_structure("max_abs", updates, state.max_abs)
        nu = jax.tree.map(
            lambda g, u: jnp.maximum(jnp.abs(g) + eps, decay * storage.load(u)),
            updates,
            state.max_abs,
        )
        nu = storage.store(nu, state.max_abs)
        return nu, MaxAbsState(nu)

    return GradientTransformation(init, update)


__all__ = [
    "CountState",
    "MaxAbsState",
    "MaxState",
    "MovingAverageState",
    "SumOfSquaresState",
    "TraceState",
    "amsgrad_max",
    "bias_correction",
    "max_abs",
    "moving_average",
    "sum_of_squares",
    "trace",
]

r"""optax's building blocks, by name: each a short composition of gradlab primitives.

``scale_by_adam`` is ``divide(first_moment(...), second_moment(...))``, ``scale_by_amsgrad`` adds
``amsgrad_max``, ``ema`` is ``chain(moving_average, bias_correction)``, and so on: each block
states the composition it is and has optax's name, signature and defaults. Where optax's code
reads a block's state by field (``state.mu``, ``state.nu``, ``state.count``, ``state.nu_max``),
the composition's state is presented under optax's NamedTuple with
:func:`~gradlab.transforms.state_layout.with_state_layout`, so those reads keep working.

``scale_by_optimistic_gradient`` is the one primitive here (it keeps the previous gradient).
optax's stateless per-leaf blocks (``centralize``, ``scale_by_sign``, ``scale_by_trust_ratio``,
the ``scale_by_param_block_*`` norms) live in :mod:`gradlab.transforms.centralization`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    identity,
)
from gradlab.core.injection import declare_hyperparams
from gradlab.transforms.combine import chain, divide
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.fused import VarianceState
from gradlab.transforms.moments import first_moment, second_moment
from gradlab.transforms.preconditioners import scale_by_rms, scale_by_sum_of_squares
from gradlab.transforms.state_layout import with_state_layout
from gradlab.transforms.statistics import (
    CountState,
    MaxAbsState,
    MaxState,
    MovingAverageState,
    SumOfSquaresState,
    amsgrad_max,
    bias_correction,
    max_abs,
    moving_average,
)
from gradlab.transforms.wrappers import MultiStepsState, multi_steps

ArrayLike = jax.typing.ArrayLike


def _step_count() -> GradientTransformation:
    """:math:`u_t = g_t`, counting the updates: the ``count`` of a block whose formula has none."""

    def init(params: Params) -> CountState:
        del params
        return CountState(jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        return updates, CountState(tree.safe_increment(state.steps))

    return GradientTransformation(init, update)


_COUNT = (CountState, "steps")
_AVERAGE = (MovingAverageState, "average")


def _check_decays(fn: str, **decays: Any) -> None:
    for name, value in decays.items():
        validation.check_unit_interval(fn, name, value)


# ---------------------------------------------------------------------------------------------
# The Adam family's scalings


class ScaleByAdamState(NamedTuple):
    """The step count and the moments: ``mu`` (first), ``nu`` (second, or Adamax's norm)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates
    nu: Updates


@declare_hyperparams("b1", "b2", "eps", "eps_root", off_when_zero=("eps", "eps_root"))
def scale_by_adam(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Adam's scaling: :math:`u_t = \hat m_t / (\sqrt{\hat v_t + \bar\epsilon} + \epsilon)`.

    .. math::
        \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2)|g_t|^2

    ``nesterov=True`` uses Dozat's :math:`\hat m_t = \beta_1 m_t/(1-\beta_1^{t+1}) +
    (1-\beta_1) g_t/(1-\beta_1^t)`. It is ``divide(first_moment(b1, nesterov, mu_dtype),
    second_moment(b2, eps, eps_root))`` (:mod:`gradlab.transforms.moments`).

    Args:
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon \ge 0`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon \ge 0`, inside the root; default 0.
      mu_dtype: dtype of the stored :math:`m_t` (``None``: the params').
      nesterov: use Dozat's look-ahead first moment.

    Returns:
      A GradientTransformationExtraArgs with state ``ScaleByAdamState(count, mu, nu)``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1; Dozat,
      `Incorporating Nesterov Momentum into Adam
      <https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ>`_, 2016.
      Matches: ``optax.scale_by_adam`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_adam()
    >>> u, state = tx.update(jnp.array([3.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> u.round(3), int(state.count)  # the first step is sign(g)
    (Array([ 1., -1.], dtype=float32), 1)
    """
    _check_decays("scale_by_adam", b1=b1, b2=b2)
    validation.check_non_negative("scale_by_adam", "eps", eps, "1e-8")
    validation.check_non_negative("scale_by_adam", "eps_root", eps_root, "0.0")
    validation.check_dtype("scale_by_adam", "mu_dtype", mu_dtype)

    return with_state_layout(
        divide(first_moment(b1, nesterov, mu_dtype), second_moment(b2, eps, eps_root)),
        ScaleByAdamState,
        {"count": _COUNT, "mu": _AVERAGE, "nu": _AVERAGE},  # mu, nu: 1st and 2nd average
        like="mu",
    )


@declare_hyperparams("b1", "b2", "eps")
def scale_by_adamax(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8
) -> GradientTransformationExtraArgs:
    r"""Adamax's scaling: :math:`u_t = \hat m_t / n_t`, :math:`n_t = \max(\beta_2 n_{t-1},
    |g_t| + \epsilon)`.

    It is ``divide(chain(moving_average(b1), bias_correction(b1)), max_abs(b2, eps))``.

    Args:
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon \ge 0`, inside the max; default 1e-8.

    Returns:
      A GradientTransformationExtraArgs with state ``ScaleByAdamState(count, mu, nu)``
      (``nu`` holds :math:`n_t`).

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Sec. 7.1.
      Matches: ``optax.scale_by_adamax`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_adamax(eps=0.0)
    >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].round(5)
    Array([-1.], dtype=float32)
    """
    _check_decays("scale_by_adamax", b1=b1, b2=b2)
    validation.check_non_negative("scale_by_adamax", "eps", eps, "1e-8")

    return with_state_layout(
        divide(chain(moving_average(b1), bias_correction(b1)), max_abs(b2, eps)),
        ScaleByAdamState,
        {"count": _COUNT, "mu": _AVERAGE, "nu": (MaxAbsState, "max_abs")},
        like="mu",
    )


class ScaleByAmsgradState(NamedTuple):
    """The step count, the moments ``mu`` and ``nu`` and the running maximum ``nu_max``."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates
    nu: Updates
    nu_max: Updates


@declare_hyperparams("b1", "b2", "eps", "eps_root", off_when_zero=("eps", "eps_root"))
def scale_by_amsgrad(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any | None = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformationExtraArgs:
    r"""AMSGrad's scaling: :math:`u_t = \hat m_t / (\sqrt{v^{\max}_t + \bar\epsilon} +
    \epsilon)`, :math:`v^{\max}_t = \max(v^{\max}_{t-1}, \hat v_t)`.

    :math:`\hat m_t, \hat v_t` as in :func:`scale_by_adam`; each bias correction can be turned
    off (both off: Reddi et al.'s Algorithm 2). It is ``divide(chain(moving_average(b1),
    bias_correction(b1)), chain(moving_average(b2, 2), bias_correction(b2), amsgrad_max(),
    sqrt(eps_root), add_eps(eps)))``.

    Args:
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.999.
      eps: :math:`\epsilon \ge 0`, outside the root; default 1e-8.
      eps_root: :math:`\bar\epsilon \ge 0`, inside the root; default 0.
      mu_dtype: dtype of the stored :math:`m_t` (``None``: the params').
      bias_correction_mu: debias the first moment.
      bias_correction_nu: debias the second moment before the maximum.

    Returns:
      A GradientTransformationExtraArgs with state ``ScaleByAmsgradState(count, mu, nu,
      nu_max)``.

    References:
      Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
      <https://openreview.net/forum?id=ryQu7f-RZ>`_, ICLR 2018.
      Matches: ``optax.scale_by_amsgrad`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_amsgrad()
    >>> _, state = tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))
    >>> state.nu_max.round(3)  # max(0, 9 (1 - b2) / (1 - b2))
    Array([9.], dtype=float32)
    """
    _check_decays("scale_by_amsgrad", b1=b1, b2=b2)
    validation.check_non_negative("scale_by_amsgrad", "eps", eps, "1e-8")
    validation.check_non_negative("scale_by_amsgrad", "eps_root", eps_root, "0.0")
    validation.check_dtype("scale_by_amsgrad", "mu_dtype", mu_dtype)

    composed = divide(
        chain(  # m̂_t (the count is kept when the correction is off, as optax does)
            moving_average(b1, accumulator_dtype=mu_dtype),
            bias_correction(b1) if bias_correction_mu else _step_count(),
        ),
        chain(  # sqrt(max(v̂max_{t-1}, v̂_t) + eps_root) + eps
            moving_average(b2, order=2),
            bias_correction(b2) if bias_correction_nu else _step_count(),
            amsgrad_max(),
            sqrt(eps_root),
            add_eps(eps),
        ),
    )
    fields = {"count": _COUNT, "mu": _AVERAGE, "nu": _AVERAGE, "nu_max": (MaxState, "nu_max")}
    return with_state_layout(composed, ScaleByAmsgradState, fields, like="mu")


# ---------------------------------------------------------------------------------------------
# RMS-style scalings with optax's layouts


class ScaleByRStdDevState(NamedTuple):
    """Moving averages of the gradient (``mu``) and of its square (``nu``)."""

    mu: Updates
    nu: Updates


class ScaleByRStdDevWithCountState(NamedTuple):
    """The step count and the moving averages ``mu`` and ``nu`` (with ``bias_correction``)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates
    nu: Updates


@declare_hyperparams("decay", "eps", "initial_scale", off_when_zero=("eps",))
def scale_by_stddev(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Centered RMSProp's scaling: :math:`u_t = g_t / \sqrt{v_t - |m_t|^2 + \epsilon}`.

    :math:`m_t, v_t` are moving averages of :math:`g` and :math:`|g|^2` (:math:`v_0` =
    ``initial_scale``); ``eps_in_sqrt=False`` gives :math:`g_t / (\sqrt{v_t - |m_t|^2} +
    \epsilon)`, ``bias_correction=True`` debiases both moments. It is
    ``scale_by_rms(..., centered=True)`` (:func:`~gradlab.moving_variance` under the root).

    Args:
      decay: :math:`\rho \in [0, 1)`; default 0.9.
      eps: :math:`\epsilon \ge 0`; default 1e-8.
      initial_scale: :math:`v_0 \ge 0`; default 0.
      eps_in_sqrt: put :math:`\epsilon` inside the root (the default) or outside.
      bias_correction: debias the moving averages.

    Returns:
      A GradientTransformationExtraArgs with state ``ScaleByRStdDevState(mu, nu)``, or
      ``ScaleByRStdDevWithCountState(count, mu, nu)`` with ``bias_correction``.

    References:
      Graves, `Generating Sequences With Recurrent Neural Networks
      <https://arxiv.org/abs/1308.0850>`_, 2013, Eq. 38-41.
      Matches: ``optax.scale_by_stddev`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_stddev(decay=0.5, eps=0.0)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 2 / sqrt(0.5*4 - (0.5*2)**2)
    Array([2.], dtype=float32)
    """
    _check_decays("scale_by_stddev", decay=decay)
    validation.check_non_negative("scale_by_stddev", "eps", eps, "1e-8")
    validation.check_non_negative("scale_by_stddev", "initial_scale", initial_scale, "0.0")
    composed = scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)
    fields = {"mu": (VarianceState, "mu"), "nu": (VarianceState, "nu")}
    if not bias_correction:  # moving_variance reads its count only to debias
        return with_state_layout(composed, ScaleByRStdDevState, fields, like="mu")
    fields["count"] = (VarianceState, "count")
    return with_state_layout(composed, ScaleByRStdDevWithCountState, fields, like="mu")


class ScaleByRssState(NamedTuple):
    """AdaGrad's sum of squared gradients :math:`G_t`."""

    sum_of_squares: Updates


@declare_hyperparams("initial_accumulator_value", "eps", off_when_zero=("eps",))
def scale_by_rss(
    initial_accumulator_value: ArrayLike = 0.1, eps: ArrayLike = 1e-7
) -> GradientTransformationExtraArgs:
    r"""AdaGrad's scaling: :math:`u_t = g_t / \sqrt{G_t + \epsilon}`, :math:`G_t = G_{t-1} +
    |g_t|^2`.

    It is :func:`~gradlab.scale_by_sum_of_squares` (``divide(identity(),
    chain(sum_of_squares(initial_accumulator_value), sqrt(eps)))``) with optax's state.

    Args:
      initial_accumulator_value: :math:`G_0 \ge 0`; default 0.1.
      eps: :math:`\epsilon \ge 0`, inside the root; default 1e-7.

    Returns:
      A GradientTransformationExtraArgs with state ``ScaleByRssState(sum_of_squares)``.

    References:
      Duchi, Hazan & Singer, `Adaptive Subgradient Methods
      <https://jmlr.org/papers/v12/duchi11a.html>`_, JMLR 2011.
      Matches: ``optax.scale_by_rss`` (same state field), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_rss(0.0, eps=0.0)
    >>> tx.update(jnp.array([-3.0]), tx.init(jnp.zeros(1)))[0]
    Array([-1.], dtype=float32)
    """

    return with_state_layout(
        scale_by_sum_of_squares(initial_accumulator_value, eps),
        ScaleByRssState,
        {"sum_of_squares": (SumOfSquaresState, "sum_of_squares")},
        like="sum_of_squares",
    )


# ---------------------------------------------------------------------------------------------
# Accumulators


class EmaState(NamedTuple):
    """The step count and the (not debiased) moving average ``ema`` of the updates."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    ema: Updates


@declare_hyperparams("decay")
def ema(
    decay: ArrayLike, debias: bool = True, accumulator_dtype: Any | None = None
) -> GradientTransformationExtraArgs:
    r"""optax's EMA: :math:`m_t = \beta m_{t-1} + (1-\beta) g_t`, output :math:`m_t/(1-\beta^t)`.

    It is ``chain(moving_average(decay), bias_correction(decay))``; ``debias=False`` outputs
    :math:`m_t` itself (the count still advances, as optax's does).

    Args:
      decay: :math:`\beta \in [0, 1)`.
      debias: divide by :math:`1-\beta^t` (the default, as optax).
      accumulator_dtype: dtype of the stored :math:`m_t` (``None``: the params').

    Returns:
      A GradientTransformationExtraArgs with state ``EmaState(count, ema)``.

    References:
      Matches: ``optax.ema`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.ema(0.9)
    >>> u, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    >>> u.round(3), state.ema.round(3)  # debiased: (0.1 * 2) / (1 - 0.9); stored: 0.1 * 2
    (Array([2.], dtype=float32), Array([0.2], dtype=float32))
    """
    _check_decays("ema", decay=decay)
    validation.check_dtype("ema", "accumulator_dtype", accumulator_dtype)

    composed = chain(
        moving_average(decay, accumulator_dtype=accumulator_dtype),
        bias_correction(decay) if debias else _step_count(),
    )
    return with_state_layout(composed, EmaState, {"count": _COUNT, "ema": _AVERAGE}, like="ema")


class ApplyEvery(NamedTuple):
    """The state of :func:`apply_every` (optax's name): micro-steps since the last emission
    (``count``) and the running sum ``grad_acc``."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    grad_acc: Updates


def apply_every(k: int = 1) -> GradientTransformationExtraArgs:
    r"""Sums :math:`k` updates and emits the sum every :math:`k`-th step, zeros otherwise.

    .. math:: u_t = \begin{cases} \sum_{s=t-k+1}^{t} g_s & t \equiv 0 \pmod k \\ 0 &
        \text{otherwise} \end{cases}

    It is ``multi_steps(identity(), k, use_grad_mean=False)``. Stages before it in a chain
    still update their state every step; to run a whole optimizer once per :math:`k`
    micro-batches use :func:`~gradlab.multi_steps`.

    Args:
      k: :math:`k`, an int >= 1; default 1.

    Returns:
      A GradientTransformationExtraArgs with state ``ApplyEvery(count, grad_acc)``.

    References:
      Matches: ``optax.apply_every`` (same updates and state fields; ``grad_acc`` is 0 right
      after an emission, where optax keeps the emitted sum until the next step).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.apply_every(2)
    >>> u, state = tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))
    >>> u, tx.update(jnp.array([3.0]), state)[0]
    (Array([0.], dtype=float32), Array([4.], dtype=float32))
    """
    validation.check_count("apply_every", "k", k, 1, "4")

    # MultiStepsState's gradient_step only feeds a schedule of k; k is constant here.
    fields = {"count": (MultiStepsState, "mini_step"), "grad_acc": (MultiStepsState, "acc_grads")}
    return with_state_layout(
        multi_steps(identity(), k, use_grad_mean=False), ApplyEvery, fields, like="grad_acc"
    )


# ---------------------------------------------------------------------------------------------
# Optimistic gradient


class ScaleByOptimisticGradientState(NamedTuple):
    """Whether no update was done yet, and the previous step's incoming updates."""

    is_initial_step: jax.Array  # bool scalar
    previous_gradient: Updates


@declare_hyperparams("alpha", "beta")
def scale_by_optimistic_gradient(
    alpha: ArrayLike = 1.0, beta: ArrayLike = 1.0
) -> GradientTransformation:
    r"""Generalized optimistic gradient: :math:`u_t = (\alpha + \beta)\, g_t - \beta\, g_{t-1}`.

    At the first step :math:`g_0 = g_1` (so :math:`u_1 = \alpha g_1`), as optax (its issue
    #1082). :math:`\alpha = \beta = 1` is optimistic gradient descent's :math:`2 g_t - g_{t-1}`.

    Args:
      alpha: :math:`\alpha`, the weight of the current gradient; default 1.
      beta: :math:`\beta`, the weight of the negative momentum; default 1.

    Returns:
      A GradientTransformation with state ``ScaleByOptimisticGradientState(is_initial_step,
      previous_gradient)``.

    References:
      Mokhtari, Ozdaglar & Pattathil, `A Unified Analysis of Extra-gradient and Optimistic
      Gradient Methods for Saddle Point Problems <https://arxiv.org/abs/1901.08511>`_, 2019.
      Matches: ``optax.scale_by_optimistic_gradient`` (same state fields).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import blocks
    >>> tx = blocks.scale_by_optimistic_gradient()
    >>> _, state = tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))
    >>> tx.update(jnp.array([3.0]), state)[0]  # 2 * 3 - 1
    Array([5.], dtype=float32)
    """
    validation.check_finite("scale_by_optimistic_gradient", "alpha", alpha)
    validation.check_finite("scale_by_optimistic_gradient", "beta", beta)

    def init(params: Params) -> ScaleByOptimisticGradientState:
        return ScaleByOptimisticGradientState(jnp.array(True), storage.init(params, 0.0))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        validation.check_structure("scale_by_optimistic_gradient", updates, state.previous_gradient)
        previous = jax.tree.map(
            lambda g, p: jnp.where(state.is_initial_step, g, p), updates, state.previous_gradient
        )
        out = jax.tree.map(lambda g, p: (alpha + beta) * g - beta * p, updates, previous)
        return storage.like(out, updates), ScaleByOptimisticGradientState(
            jnp.array(False), storage.store(updates, state.previous_gradient)
        )

    return GradientTransformation(init, update)


__all__ = [
    "ApplyEvery",
    "EmaState",
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "ScaleByOptimisticGradientState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRssState",
    "apply_every",
    "ema",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_amsgrad",
    "scale_by_optimistic_gradient",
    "scale_by_rss",
    "scale_by_stddev",
]

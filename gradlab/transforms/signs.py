r"""Sign-based directions: Lion's interpolated momentum and the sign maps applied to it.

Lion (Chen et al. 2023) takes the sign of an interpolation between the previous momentum and the
gradient, then updates the momentum with a *different* rate:
``chain(interpolate_momentum(b1, b2), scale_by_sign())``. :func:`soft_sign` offers the smooth
(``tanh``) and refined (linear near 0) variants of optax's ``scale_by_lion(mode=...)``;
:func:`scale_by_lion` is that composition under optax's name. (The hard sign itself,
:func:`gradlab.scale_by_sign`, lives with the other stateless per-entry maps.)

The momentum is stored through :mod:`gradlab.core.storage` (the params' dtype, or
``accumulator_dtype``); the arithmetic runs in float32 or wider.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates, stateless
from gradlab.core.injection import declare_hyperparams
from gradlab.transforms.centralization import scale_by_sign
from gradlab.transforms.combine import chain
from gradlab.transforms.state_layout import with_state_layout

ArrayLike = jax.typing.ArrayLike


class InterpolatedMomentumState(NamedTuple):
    """Lion's momentum :math:`m_t` (optax's ``mu``), updated at rate :math:`\\beta_2`."""

    momentum: Updates


class ScaleByLionState(NamedTuple):
    """The state of :func:`scale_by_lion` under optax's field name: the momentum ``mu``
    (optax's state also counts steps, which Lion's rule never reads)."""

    mu: Updates


@declare_hyperparams("b1", "b2")
def interpolate_momentum(
    b1: ArrayLike = 0.9, b2: ArrayLike = 0.99, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Lion's interpolation of the previous momentum and the gradient.

    .. math::
        u_t = (1-\beta_1)\, g_t + \beta_1 m_{t-1}, \qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2)\, g_t, \qquad m_0 = 0

    The output reads :math:`m_{t-1}`, the *previous* momentum, so it is not a function of
    :math:`m_t` and :math:`g_t` (no :func:`gradlab.fan_out` of a moving average gives it).

    Args:
      b1: :math:`\beta_1 \in [0, 1)`, the interpolation weight of the momentum; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`, the momentum's decay; default 0.99 (Chen et al.).
      accumulator_dtype: dtype of the stored :math:`m_t`; ``None`` keeps the params' dtype.

    Returns:
      A GradientTransformation with state ``InterpolatedMomentumState(momentum)``.

    References:
      Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023, Program 1.
      Matches: the argument of the sign in ``optax.scale_by_lion``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import signs
    >>> tx = signs.interpolate_momentum(0.5, 0.5)
    >>> u, s = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))  # m_0 = 0, m_1 = 1
    >>> tx.update(jnp.array([0.0]), s)[0]  # 0.5 * 0 + 0.5 * 1
    Array([0.5], dtype=float32)
    """
    fn = "interpolate_momentum"
    validation.check_unit_interval(fn, "b1", b1)
    validation.check_unit_interval(fn, "b2", b2, "0.99")
    validation.check_dtype(fn, "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> InterpolatedMomentumState:
        return InterpolatedMomentumState(storage.init(params, 0.0, accumulator_dtype))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, InterpolatedMomentumState)
        del params
        validation.check_structure(fn, updates, state.momentum)
        mixed = jax.tree.map(
            lambda g, m: (1.0 - b1) * storage.load(g) + b1 * storage.load(m),
            updates,
            state.momentum,
        )
        momentum = tree.update_moment(updates, state.momentum, b2, 1)
        out = storage.output(mixed, updates, state.momentum)
        return out, InterpolatedMomentumState(storage.store(momentum, state.momentum))

    return GradientTransformation(init, update)


_SignMode = Literal["hard", "smooth", "refined"]


def soft_sign(mode: _SignMode = "hard", smooth_beta: float = 1.0) -> GradientTransformation:
    r"""A sign of each entry, hard or softened.

    .. math::
        u_i = \operatorname{sign}(g_i) \;(\text{hard}), \quad \tanh(\beta g_i) \;(\text{smooth}),
        \quad \begin{cases} g_i & |g_i| < 1 \\ \operatorname{sign}(g_i) & \text{else}
        \end{cases} \;(\text{refined})

    Args:
      mode: ``"hard"`` (:func:`gradlab.scale_by_sign`), ``"smooth"`` or ``"refined"``.
      smooth_beta: :math:`\beta`, the slope of ``"smooth"`` at 0 (static); default 1.

    Returns:
      A stateless GradientTransformation.

    References:
      Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023 (the hard sign).
      Matches: the ``mode`` of ``optax.scale_by_lion``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import signs
    >>> signs.soft_sign("refined").update(jnp.array([-3.0, 0.5]), None)[0]
    Array([-1. ,  0.5], dtype=float32)
    """
    validation.check_choice("soft_sign", "mode", mode, ("hard", "smooth", "refined"))
    validation.check_finite("soft_sign", "smooth_beta", smooth_beta, "1.0")
    if mode == "hard":
        return scale_by_sign()

    def soften(x: jax.Array) -> jax.Array:
        if mode == "smooth":
            return jnp.tanh(jnp.asarray(smooth_beta, x.dtype) * x)
        return jnp.where(jnp.abs(x) < 1.0, x, jnp.sign(x))

    return stateless(lambda updates, params: jax.tree.map(soften, updates))


@declare_hyperparams("b1", "b2")
def scale_by_lion(
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: Any | None = None,
    *,
    mode: _SignMode = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
    r"""Lion's direction: the sign of the interpolated momentum.

    .. math::
        u_t = \operatorname{sign}\big((1-\beta_1)\, g_t + \beta_1 m_{t-1}\big), \qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2)\, g_t

    ``chain(interpolate_momentum(b1, b2, mu_dtype), soft_sign(mode, smooth_beta))``.

    Args:
      b1: :math:`\beta_1 \in [0, 1)`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`; default 0.99.
      mu_dtype: dtype of the stored momentum; ``None`` keeps the params' dtype.
      mode: the sign: ``"hard"`` (Lion), ``"smooth"`` or ``"refined"`` (see :func:`soft_sign`).
      smooth_beta: the slope of the ``"smooth"`` sign.

    Returns:
      A GradientTransformation (a ``chain``) whose state is a :class:`ScaleByLionState`.

    References:
      Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023, Program 1.
      Matches: ``optax.scale_by_lion`` (updates; rtol 1e-10 in float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import signs
    >>> tx = signs.scale_by_lion()
    >>> tx.update(jnp.array([-0.1, 3.0]), tx.init(jnp.zeros(2)))[0]
    Array([-1.,  1.], dtype=float32)
    """
    composed = chain(
        interpolate_momentum(b1, b2, mu_dtype),  # (1 - b1) g_t + b1 m_{t-1}
        soft_sign(mode, smooth_beta),  # sign(.)
    )
    mu = (InterpolatedMomentumState, "momentum")
    return with_state_layout(composed, ScaleByLionState, {"mu": mu}, like="mu")


__all__ = [
    "InterpolatedMomentumState",
    "ScaleByLionState",
    "interpolate_momentum",
    "scale_by_lion",
    "soft_sign",
]

r"""Gradient descent: plain SGD, heavy-ball and Nesterov momentum.

Names, argument names, order and defaults follow optax's aliases (``import gradlab as optax``).
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core import validation
from gradlab.core.base import GradientTransformation, ScalarOrSchedule, identity
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.combine import chain
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.statistics import trace

ArrayLike = jax.typing.ArrayLike


def momentum_or_identity(
    momentum: ArrayLike | None, nesterov: bool, accumulator_dtype: Any = None
) -> GradientTransformation:
    """Heavy-ball momentum when ``momentum`` is given; the identity (no state) for None or 0."""
    if momentum is None or validation.is_static_zero(momentum):
        return identity()
    return trace(momentum, nesterov, accumulator_dtype)


@inject_hyperparams(dynamic_args=("learning_rate", "momentum"), off_when_zero=("momentum",))
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
      momentum: :math:`\mu \in [0, 1)`, or ``None`` (or a Python 0) for plain SGD.
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
        momentum_or_identity(momentum, nesterov, accumulator_dtype),  # m_t = g_t + mu m_{t-1}
        scale_by_learning_rate(learning_rate),  # -alpha_t m_t
    )


__all__ = ["sgd"]

r"""Adan's gradient difference :math:`g_t - g_{t-1}`: the stage that remembers the last gradient.

Adan (Xie et al.) estimates Nesterov's look-ahead gradient without evaluating it at an
extrapolated point: it keeps moments of the difference of consecutive gradients,
``chain(gradient_difference(), moving_average(b2))``, and of :math:`g_t + (1-\beta_2)(g_t -
g_{t-1})`, which is ``fan_out(gradient_difference(), combine=lambda d, g: g + (1 - b2) * d)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates


class GradientDifferenceState(NamedTuple):
    """Updates done so far (int32 scalar) and the previous incoming updates :math:`g_{t-1}`."""

    steps: jax.Array
    previous: Updates


def gradient_difference() -> GradientTransformation:
    r"""The difference of consecutive updates: :math:`d_t = g_t - g_{t-1}`, and :math:`d_1 = 0`.

    The first difference is 0, not :math:`g_1` (there is no :math:`g_0`), as in optax's Adan.

    Args:
      (none)

    Returns:
      A GradientTransformation with state ``GradientDifferenceState(steps, previous)``; the
      previous updates are stored in the params' dtype.

    References:
      Xie et al., `Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models
      <https://arxiv.org/abs/2208.06677>`_, 2022, Alg. 1.
      Matches: the ``g`` of ``optax.scale_by_adan``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.gradient_difference import gradient_difference
    >>> tx = gradient_difference()
    >>> d, s = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))  # d_1 = 0
    >>> tx.update(jnp.array([5.0]), s)[0]
    Array([3.], dtype=float32)
    """

    def init(params: Params) -> GradientDifferenceState:
        return GradientDifferenceState(jnp.zeros([], jnp.int32), storage.init(params, 0.0))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("gradient_difference", state, GradientDifferenceState)
        del params
        validation.check_structure("gradient_difference", updates, state.previous)
        first = state.steps == 0

        def difference(g: jax.Array, previous: jax.Array) -> jax.Array:
            d = storage.load(jnp.asarray(g)) - storage.load(previous)
            return jnp.where(first, jnp.zeros_like(d), d)

        diff = jax.tree.map(difference, updates, state.previous)
        new_state = GradientDifferenceState(
            tree.safe_increment(state.steps), storage.store(updates, state.previous)
        )
        return storage.like(diff, updates), new_state

    return GradientTransformation(init, update)


__all__ = ["GradientDifferenceState", "gradient_difference"]

"""Scaling: multiply the updates by a constant, a schedule or the (negated) learning rate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    stateless,
)
from gradlab.core.injection import declare_hyperparams


class ScaleByScheduleState(NamedTuple):
    """Number of updates done so far, the step at which the schedule is evaluated next."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)


def _times(factor: jax.typing.ArrayLike, updates: Updates) -> Updates:
    """Every leaf times ``factor``, cast to the leaf's dtype (bf16 in, bf16 out)."""
    return jax.tree.map(lambda g: jnp.asarray(factor, storage.leaf_dtype(g)) * g, updates)


@declare_hyperparams("step_size")
def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Multiplies the updates by a constant: :math:`u_t = s\, g_t`.

    Args:
      step_size: the factor :math:`s` (any sign, finite).

    Returns:
      A stateless GradientTransformation.

    References:
      Matches: ``optax.scale``.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.scale(-0.1).update(jnp.ones(2), gradlab.EmptyState())[0]
    Array([-0.1, -0.1], dtype=float32)
    """
    validation.check_finite("scale", "step_size", step_size, "-1e-3")
    return stateless(lambda updates, params: _times(step_size, updates))


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
    validation.check_schedule("scale_by_schedule", "step_size_fn", step_size_fn)  # any sign

    def init(params: Params) -> ScaleByScheduleState:
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("scale_by_schedule", state, ScaleByScheduleState)
        del params
        step_size = step_size_fn(state.count)
        updates = _times(step_size, updates)
        return updates, ScaleByScheduleState(count=tree.safe_increment(state.count))

    return GradientTransformation(init, update)


@declare_hyperparams("learning_rate")
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
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


__all__ = ["ScaleByScheduleState", "scale", "scale_by_learning_rate", "scale_by_schedule"]

r"""Reduce on plateau: a learning-rate scale that drops when the loss stops improving.

The loss reaches the transformation as the extra argument ``value`` of ``update``
(``tx.update(grads, state, params, value=loss)``); every ``accumulation_size`` calls, the mean of
the values seen decides whether the scale is multiplied by ``factor``. Chain it after the
optimizer: ``chain(adam(1e-3), reduce_on_plateau())``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformationExtraArgs, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


class ReduceLROnPlateauState(NamedTuple):
    """The current scale, the best (accumulated) value so far, the counts of steps without
    improvement and of cooldown steps left, and the running mean of the values accumulated."""

    scale: jax.Array
    best_value: jax.Array
    plateau_count: jax.Array  # int32 scalar
    cooldown_count: jax.Array  # int32 scalar
    count: jax.Array  # type: ignore[assignment]  # int32 scalar: values accumulated
    avg_value: jax.Array


def _params_dtypes(params: Params) -> tuple[Any, Any]:
    """The lowest and the highest floating dtype of the params (float32 when there are none)."""
    dtypes = [
        storage.leaf_dtype(x)
        for x in jax.tree.leaves(params)
        if jnp.issubdtype(storage.leaf_dtype(x), jnp.floating)
    ]
    if not dtypes:
        return jnp.dtype(jnp.float32), jnp.dtype(jnp.float32)
    by_size = sorted(dtypes, key=lambda d: jnp.finfo(d).bits)
    return by_size[0], by_size[-1]


@declare_hyperparams("factor", "rtol", "atol", "min_scale")
def reduce_on_plateau(
    factor: ArrayLike = 0.1,
    patience: int = 10,
    rtol: ArrayLike = 1e-4,
    atol: ArrayLike = 0.0,
    cooldown: int = 0,
    accumulation_size: int = 1,
    min_scale: ArrayLike = 0.0,
) -> GradientTransformationExtraArgs:
    r"""Multiplies the updates by a scale :math:`s` that drops by ``factor`` on a plateau.

    Every :math:`N` calls (``accumulation_size``) the mean :math:`\bar v` of the ``value``
    arguments is compared with the best mean so far :math:`v^*`:

    .. math::
        \text{improved} = \bar v < (1 - r) v^* - a, \qquad
        p \leftarrow \begin{cases} 0 & \text{improved} \\ p + 1 & \text{otherwise}\end{cases},
        \qquad
        s \leftarrow \max(f s, s_{\min}) \text{ and } p \leftarrow 0 \text{ when } p = P,

    with :math:`v^* \leftarrow \bar v` when improved. After a reduction the next ``cooldown``
    checks only count down (no reduction, :math:`p = 0`). Each call outputs :math:`u_t = s\,
    g_t` with the scale after that call's check.

    Args:
      factor: :math:`f \in (0, 1)`; default 0.1.
      patience: :math:`P`, an int >= 0: checks without improvement before a reduction;
        default 10.
      rtol: :math:`r \in [0, 1]`, the relative improvement that counts; default 1e-4.
      atol: :math:`a \ge 0`, the absolute improvement that counts; default 0 (``rtol`` and
        ``atol`` may not both be 0).
      cooldown: an int >= 0, checks to wait after a reduction; default 0.
      accumulation_size: :math:`N`, an int >= 1: values averaged per check (use more than 1
        when ``value`` is a minibatch loss); default 1.
      min_scale: :math:`s_{\min} \ge 0`, the floor of the scale; default 0.

    Returns:
      A GradientTransformationExtraArgs with state ``ReduceLROnPlateauState(scale,
      best_value, plateau_count, cooldown_count, count, avg_value)``; ``update`` needs the
      keyword ``value`` (a scalar loss).

    References:
      PyTorch's ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode "min", threshold mode
      "rel").
      Matches: ``optax.contrib.reduce_on_plateau`` (same state fields and defaults), rtol
      1e-10 in float64.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.plateau import reduce_on_plateau
    >>> tx = reduce_on_plateau(factor=0.5, patience=1)
    >>> state = tx.init(jnp.zeros(1))
    >>> for loss in [1.0, 1.0]:  # no improvement on the second value: halve the scale
    ...     updates, state = tx.update(jnp.ones(1), state, value=jnp.asarray(loss))
    >>> updates, state.scale
    (Array([0.5], dtype=float32), Array(0.5, dtype=float32))
    """
    fn = "reduce_on_plateau"
    validation.check_in_interval(fn, "factor", factor, "(0, 1)", "0.1")
    validation.check_count(fn, "patience", patience, 0, "10")
    validation.check_in_interval(fn, "rtol", rtol, "[0, 1]", "1e-4")
    validation.check_non_negative(fn, "atol", atol, "0.0")
    validation.check_count(fn, "cooldown", cooldown, 0, "0")
    validation.check_count(fn, "accumulation_size", accumulation_size, 1, "1")
    validation.check_non_negative(fn, "min_scale", min_scale, "0.0")
    if validation.is_static_zero(rtol) and validation.is_static_zero(atol):
        raise ValueError(
            f"{fn}: rtol and atol are both 0, so no change of the loss counts as an "
            "improvement. Pass e.g. rtol=1e-4."
        )

    def init(params: Params) -> ReduceLROnPlateauState:
        lowest, highest = _params_dtypes(params)
        zero = jnp.zeros([], jnp.int32)
        return ReduceLROnPlateauState(
            scale=jnp.asarray(1.0, lowest),
            best_value=jnp.asarray(jnp.inf, highest),
            plateau_count=zero,
            cooldown_count=zero,
            count=zero,
            avg_value=jnp.asarray(0.0, highest),
        )

    def check(state: ReduceLROnPlateauState) -> ReduceLROnPlateauState:
        improved = state.avg_value < (1 - rtol) * state.best_value - atol
        best = jnp.where(improved, state.avg_value, state.best_value)
        plateau = jnp.where(improved, 0, tree.safe_increment(state.plateau_count))
        cooling = state.cooldown_count > 0
        reduce = jnp.logical_and(jnp.logical_not(cooling), plateau == patience)
        scale = jnp.where(reduce, state.scale * factor, state.scale)
        scale = jnp.where(cooling, state.scale, jnp.maximum(scale, min_scale))
        cooldown_count = jnp.where(
            cooling, state.cooldown_count - 1, jnp.where(reduce, cooldown, 0)
        )
        return ReduceLROnPlateauState(
            scale=scale.astype(state.scale.dtype),
            best_value=best.astype(state.best_value.dtype),
            plateau_count=jnp.where(cooling | reduce, 0, plateau).astype(jnp.int32),
            cooldown_count=cooldown_count.astype(jnp.int32),
            count=jnp.zeros([], jnp.int32),
            avg_value=jnp.zeros([], state.avg_value.dtype),
        )

    def update(
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        *,
        value: ArrayLike | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]:
        del params, extra_args
        validation.check_state(fn, state, ReduceLROnPlateauState)
        if value is None:
            raise ValueError(
                f"{fn}: update() needs the loss: tx.update(grads, state, params, value=loss)."
            )
        count = tree.safe_increment(state.count)
        dtype = state.avg_value.dtype
        avg = (state.count * state.avg_value + jnp.asarray(value).astype(dtype)) / count
        state = state._replace(avg_value=avg.astype(dtype), count=count)
        state = jax.lax.cond(count == accumulation_size, check, lambda s: s, state)
        out = jax.tree.map(lambda g: (state.scale * g).astype(storage.leaf_dtype(g)), updates)
        return out, state

    return GradientTransformationExtraArgs(init, update)


__all__ = ["ReduceLROnPlateauState", "reduce_on_plateau"]

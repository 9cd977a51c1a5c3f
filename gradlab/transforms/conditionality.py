r"""Conditional application: at which steps, and on which leaves, an inner transformation runs.

``conditionally_transform`` and ``conditionally_mask`` call the inner transformation only at the
steps a condition ``should_transform_fn(step)`` selects (inside ``jax.lax.cond``, so on the other
steps it is not run and its state is left as it was); they differ in what the other steps
return: the updates unchanged, or zeros. ``selective_transform`` runs an optimizer on the leaves
a static mask leaves unfrozen and zeroes the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)
from gradlab.transforms.groups import partition
from gradlab.transforms.wrappers import run_or_skip, set_to_zero

ConditionFn = Callable[..., jax.typing.ArrayLike]  # should_transform_fn(step, **extra_args)


def _conditional(
    fn: str, inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool, mask: bool
) -> Callable[..., tuple[Updates, OptState]]:
    """``run(updates, inner_state, step, params, extra_args)``: the inner update where the
    condition holds; otherwise the updates (zeros with ``mask``) and the inner state as it was."""
    validation.check_transform(fn, "inner", inner)
    validation.check_callable(
        fn, "should_transform_fn", should_transform_fn, "lambda step: step < 100"
    )
    inner_update = with_extra_args_support(inner).update

    def run(
        updates: Updates, inner_state: OptState, step: jax.Array, params: Any, extra_args: Any
    ) -> tuple[Updates, OptState]:
        condition = jnp.asarray(
            should_transform_fn(step, **(extra_args if forward_extra_args else {}))
        )
        if condition.shape != ():
            raise ValueError(
                f"{fn}: should_transform_fn must return a scalar, got shape {condition.shape}. "
                "Return one bool for the whole step, e.g. lambda step: step % 2 == 0."
            )

        return run_or_skip(
            condition.astype(bool),
            inner_update,
            updates,
            inner_state,
            params,
            extra_args,
            pass_through=not mask,
            fn=fn,
        )

    return run


class ConditionallyTransformState(NamedTuple):
    """The inner transformation's state and the number of updates done so far."""

    inner_state: OptState
    step: jax.Array  # int32 scalar


def conditionally_transform(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` only at the steps a condition selects; the others pass the updates through.

    With :math:`t = 0, 1, \dots` the number of earlier calls and :math:`c` the condition:

    .. math::
        (u_t, S_t) = \begin{cases} f(g_t, S_{t-1}) & c(t) \\ (g_t, S_{t-1}) & \text{otherwise}
        \end{cases}

    Args:
      inner: the transformation to run.
      should_transform_fn: :math:`c`, ``fn(step) -> bool scalar`` (``step`` an int32 scalar);
        with ``forward_extra_args`` it is called ``fn(step, **extra_args)``.
      forward_extra_args: pass the extra arguments of ``update`` (``value``, ...) to
        ``should_transform_fn`` too. They always reach ``inner``.

    Returns:
      A GradientTransformationExtraArgs with state ``ConditionallyTransformState(inner_state,
      step)``.

    References:
      Matches: ``optax.conditionally_transform`` (same state fields; a skipped step's updates
      are cast to the dtypes ``inner`` would return, so ``lax.cond``'s branches agree).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import conditionality
    >>> tx = conditionality.conditionally_transform(gradlab.scale(10.0), lambda step: step >= 1)
    >>> u, state = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> u, tx.update(jnp.ones(1), state)[0]
    (Array([1.], dtype=float32), Array([10.], dtype=float32))
    """
    run = _conditional(
        "conditionally_transform", inner, should_transform_fn, forward_extra_args, mask=False
    )

    def init(params: Params) -> ConditionallyTransformState:
        return ConditionallyTransformState(inner.init(params), jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        updates, inner_state = run(updates, state.inner_state, state.step, params, extra_args)
        return updates, ConditionallyTransformState(inner_state, tree.safe_increment(state.step))

    return GradientTransformationExtraArgs(init, update)


class ConditionallyMaskState(NamedTuple):
    """The number of updates done so far and the inner transformation's state."""

    step: jax.Array  # int32 scalar
    inner_state: OptState


def conditionally_mask(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` only at the steps a condition selects; the others return zeros.

    With :math:`t = 0, 1, \dots` the number of earlier calls and :math:`c` the condition:

    .. math::
        (u_t, S_t) = \begin{cases} f(g_t, S_{t-1}) & c(t) \\ (0, S_{t-1}) & \text{otherwise}
        \end{cases}

    Args:
      inner: the transformation to run.
      should_transform_fn: :math:`c`, ``fn(step) -> bool scalar`` (``step`` an int32 scalar);
        with ``forward_extra_args`` it is called ``fn(step, **extra_args)``.
      forward_extra_args: pass the extra arguments of ``update`` to ``should_transform_fn``
        too. They always reach ``inner``.

    Returns:
      A GradientTransformationExtraArgs with state ``ConditionallyMaskState(step,
      inner_state)``.

    References:
      Matches: ``optax.conditionally_mask`` (same state fields; the zeros have the shapes and
      dtypes of ``inner``'s updates).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import conditionality
    >>> tx = conditionality.conditionally_mask(gradlab.scale(10.0), lambda step: step % 2 == 1)
    >>> u, state = tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))
    >>> u, tx.update(jnp.ones(1), state)[0]
    (Array([0.], dtype=float32), Array([10.], dtype=float32))
    """
    run = _conditional(
        "conditionally_mask", inner, should_transform_fn, forward_extra_args, mask=True
    )

    def init(params: Params) -> ConditionallyMaskState:
        return ConditionallyMaskState(jnp.zeros([], jnp.int32), inner.init(params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        updates, inner_state = run(updates, state.inner_state, state.step, params, extra_args)
        return updates, ConditionallyMaskState(tree.safe_increment(state.step), inner_state)

    return GradientTransformationExtraArgs(init, update)


def selective_transform(optimizer: Any, *, freeze_mask: Any) -> GradientTransformationExtraArgs:
    r"""Runs ``optimizer`` on the unfrozen leaves only; the frozen ones get zero updates.

    .. math:: u_i = \begin{cases} 0 & \text{freeze}_i \\ f(g|_{\neg\text{freeze}})_i &
        \text{otherwise} \end{cases}

    ``optimizer`` sees only the unfrozen leaves (its state holds nothing for the frozen ones,
    and statistics across leaves, such as a global norm, span the unfrozen leaves). It is
    ``partition({"train": optimizer, "freeze": set_to_zero()}, labels)``.

    Args:
      optimizer: the transformation for the unfrozen leaves.
      freeze_mask: a static bool (freeze everything or nothing) or a tree of bools with the
        structure of the params, or a prefix of it; True freezes.

    Returns:
      A GradientTransformationExtraArgs with state
      ``PartitionState(inner_states={"train": ..., "freeze": EmptyState()})``.

    References:
      Matches: ``optax.selective_transform`` (same updates; its ``inner_states`` are
      ``MaskedState`` objects, here the group states themselves, as in
      :func:`gradlab.partition`).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import conditionality
    >>> tx = conditionality.selective_transform(gradlab.scale(-1.0), freeze_mask={"a": True,
    ...                                                                           "b": False})
    >>> g = {"a": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(g, tx.init(g))[0]
    {'a': Array([0.], dtype=float32), 'b': Array([-1.], dtype=float32)}
    """
    validation.check_transform("selective_transform", "optimizer", optimizer)
    labels = jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)
    return partition({"train": optimizer, "freeze": set_to_zero()}, labels)


__all__ = [
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "conditionally_mask",
    "conditionally_transform",
    "selective_transform",
]

"""Masking: apply a transformation to a subset of the leaves."""

from __future__ import annotations

from typing import Any, NamedTuple

from gradlab.core import tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)


class MaskedState(NamedTuple):
    """The inner transformation's state, holding ``None`` at the leaves the mask leaves out."""

    inner_state: OptState


def masked(inner: Any, mask: Any) -> GradientTransformationExtraArgs:
    r"""Applies ``inner`` to the leaves where ``mask`` is True; the others pass unchanged.

    .. math:: u_i = \begin{cases} f(g)_i & \text{mask}_i \\ g_i & \text{otherwise}\end{cases}

    Args:
      inner: the transformation to apply to the selected leaves.
      mask: a tree of bools with the structure of the params (or a prefix of it), or a function
        ``params -> such a tree``. ``True`` selects a leaf or a whole subtree. A callable pytree
        (an Equinox module) of bools is a mask tree, not a function (optax's rule).

    Returns:
      A GradientTransformationExtraArgs; its state holds the inner state only for the selected
      leaves.

    References:
      Matches: ``optax.masked``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.masked(gradlab.scale(0.0), {"w": True, "b": False})
    >>> g = {"w": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(g, tx.init(g))[0]
    {'b': Array([1.], dtype=float32), 'w': Array([0.], dtype=float32)}
    """
    inner = with_extra_args_support(inner)
    is_function = tree.is_mask_function(mask)

    def resolve(tree_: Any) -> Any:
        return mask(tree_) if is_function else mask

    def init(params: Params) -> MaskedState:
        if tree.is_placeholder(params):  # optax.tree.map_params's stand-in: nothing to mask
            return MaskedState(inner.init(params))
        return MaskedState(inner.init(tree.mask_out(params, resolve(params))))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state("masked", state, MaskedState)
        m = resolve(updates)
        inner_params = None if params is None else tree.mask_out(params, m)
        new, inner_state = inner.update(
            tree.mask_out(updates, m), state.inner_state, inner_params, **extra_args
        )
        return tree.merge(updates, new), MaskedState(inner_state)

    return GradientTransformationExtraArgs(init, update)


__all__ = ["MaskedState", "masked"]

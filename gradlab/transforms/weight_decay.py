"""Weight decay: add a multiple of the parameters to the updates."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    EmptyState,
    GradientTransformation,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    identity,
)
from gradlab.core.injection import declare_hyperparams
from gradlab.transforms.masking import masked
from gradlab.transforms.scaling import ScaleByScheduleState


@declare_hyperparams("weight_decay", off_when_zero=("weight_decay",))
def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Any | None = None
) -> GradientTransformation:
    r"""Adds decoupled weight decay: :math:`u_t = g_t + \lambda_t \theta_t`.

    Placed after Adam's ratio and before the learning rate this is AdamW (Loshchilov & Hutter);
    placed before the preconditioner it is plain L2 regularisation. A Python 0 (the default) is
    the identity: it reads no params and adds nothing to the compiled step; a ``jax.Array`` zero
    keeps the term.

    Args:
      weight_decay: :math:`\lambda_t \ge 0`, a number or a schedule.
      mask: a tree of bools (or ``params -> tree``) selecting the leaves to decay, e.g. to skip
        biases and norm scales; ``None`` decays every leaf.

    Returns:
      A GradientTransformation; unless ``weight_decay`` is a Python 0, ``update`` requires
      ``params``.

    References:
      Loshchilov & Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, ICLR 2019. Matches: ``optax.add_decayed_weights``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.add_decayed_weights(0.1)
    >>> tx.update(jnp.zeros(1), tx.init(None), jnp.array([2.0]))[0]
    Array([0.2], dtype=float32)
    """
    validation.check_argument("add_decayed_weights", "weight_decay", weight_decay)
    if validation.is_static_zero(weight_decay):
        return identity()
    scheduled = callable(weight_decay)

    def init(params: Params) -> OptState:
        del params
        return ScaleByScheduleState(jnp.zeros([], jnp.int32)) if scheduled else EmptyState()

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.require_params("add_decayed_weights", params, updates)
        if scheduled:
            decay = weight_decay(state.count)  # type: ignore[operator]
            state = ScaleByScheduleState(tree.safe_increment(state.count))
        else:
            decay = weight_decay
        updates = jax.tree.map(
            lambda g, p: g + jnp.asarray(decay, storage.leaf_dtype(g)) * p, updates, params
        )
        return updates, state

    tx = GradientTransformation(init, update)
    return tx if mask is None else masked(tx, mask)


__all__ = ["add_decayed_weights"]

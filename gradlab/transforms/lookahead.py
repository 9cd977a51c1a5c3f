r"""Lookahead: :math:`k` steps of a fast optimizer, then one step of the slow weights toward them.

The params are a pair :class:`LookaheadParams` ``(fast, slow)``: gradients are taken at
``fast``, evaluation uses ``slow``. The updates returned are a ``LookaheadParams`` too, so that
``apply_updates(params, updates)`` moves both, and the two nested loops of the paper become one
update per step (optax's formulation).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)
from gradlab.core.injection import declare_hyperparams


class LookaheadState(NamedTuple):
    """The fast optimizer's state and the fast steps taken since the last synchronization."""

    fast_state: OptState
    steps_since_sync: jax.Array  # int32 scalar


class LookaheadParams(NamedTuple):
    """The fast params (take gradients here) and the slow params (evaluate these).

    ``LookaheadParams.init_synced(params)`` starts both at ``params``.
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """A synchronized pair: ``fast = slow = params``."""
        return cls(fast=params, slow=params)


@declare_hyperparams("slow_step_size")
def lookahead(
    fast_optimizer: Any,
    sync_period: int,
    slow_step_size: jax.typing.ArrayLike,
    reset_state: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Lookahead around ``fast_optimizer``: every :math:`k` fast steps, the slow weights move.

    With :math:`\phi` the slow and :math:`\theta` the fast params, :math:`\Delta_t` the fast
    optimizer's update and :math:`s_t = 1` on every :math:`k`-th step (0 otherwise):

    .. math::
        \delta_t = \theta_t + \Delta_t - \phi_t, \qquad
        \phi_{t+1} = \phi_t + \alpha\, s_t\, \delta_t, \qquad
        \theta_{t+1} = \theta_t + \Delta_t - (1-\alpha)\, s_t\, \delta_t

    so that after a synchronization :math:`\theta = \phi = \phi + \alpha(\theta_{\text{last}} -
    \phi)`, as in the paper's outer loop. The returned updates are a :class:`LookaheadParams`;
    apply them unchanged.

    Args:
      fast_optimizer: the inner optimizer (extra arguments such as ``value`` are forwarded).
      sync_period: :math:`k`, an int >= 1: fast steps per synchronization.
      slow_step_size: :math:`\alpha \ge 0`, the slow weights' step toward the fast ones (the
        paper uses 0.5).
      reset_state: re-initialise the fast optimizer's state at every synchronization.

    Returns:
      A GradientTransformationExtraArgs with state ``LookaheadState(fast_state,
      steps_since_sync)``. ``init`` takes a :class:`LookaheadParams` (or the fast params
      alone); ``update`` takes the gradients at ``params.fast`` and ``params`` as a
      :class:`LookaheadParams` (``optax.LookaheadParams`` work too, and the updates are then
      of that type).

    References:
      Zhang, Lucas, Hinton & Ba, `Lookahead Optimizer: k steps forward, 1 step back
      <https://arxiv.org/abs/1907.08610>`_, NeurIPS 2019, Alg. 1.
      Matches: ``optax.lookahead`` and ``optax.LookaheadParams`` (same state fields), rtol
      1e-10 in float64.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.lookahead import LookaheadParams, lookahead
    >>> tx = lookahead(gradlab.sgd(1.0), sync_period=2, slow_step_size=0.5)
    >>> params = LookaheadParams.init_synced(jnp.zeros(1))
    >>> state = tx.init(params)
    >>> for _ in range(2):  # two fast steps of -1 each, then the slow weights move halfway
    ...     updates, state = tx.update(jnp.ones(1), state, params)
    ...     params = gradlab.apply_updates(params, updates)
    >>> params
    LookaheadParams(fast=Array([-1.], dtype=float32), slow=Array([-1.], dtype=float32))
    """
    validation.check_transform("lookahead", "fast_optimizer", fast_optimizer)
    validation.check_count("lookahead", "sync_period", sync_period, 1, "5")
    validation.check_non_negative("lookahead", "slow_step_size", slow_step_size, "0.5")
    inner = with_extra_args_support(fast_optimizer)

    def is_pair(params: Params) -> bool:  # gradlab's LookaheadParams, optax's, or alike
        return hasattr(params, "fast") and hasattr(params, "slow")

    def fast_params(params: Params) -> Params:
        return params.fast if is_pair(params) else params

    def init(params: Params) -> LookaheadState:
        return LookaheadState(inner.init(fast_params(params)), jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state("lookahead", state, LookaheadState)
        if params is None or not is_pair(params):
            raise TypeError(
                "lookahead: update() needs params as a LookaheadParams(fast, slow), got "
                f"{type(params).__name__}. Start from LookaheadParams.init_synced(params) and "
                "take the gradients at params.fast."
            )
        validation.check_structure("lookahead", updates, params.fast, what="params")
        fast_updates, fast_state = inner.update(
            updates, state.fast_state, params.fast, **extra_args
        )
        sync = state.steps_since_sync == sync_period - 1

        def slow_and_fast(f: jax.Array, u: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array]:
            diff = storage.load(f) + storage.load(u) - storage.load(s)  # delta_t
            slow = jnp.where(sync, slow_step_size * diff, 0.0)
            fast = storage.load(u) - jnp.where(sync, (1.0 - slow_step_size) * diff, 0.0)
            dtype = storage.leaf_dtype(u)
            return slow.astype(dtype), fast.astype(dtype)

        pairs = jax.tree.map(slow_and_fast, params.fast, fast_updates, params.slow)
        outer = jax.tree.structure(params.fast)
        slow, fast = jax.tree.transpose(outer, jax.tree.structure((0, 0)), pairs)
        if reset_state:
            fresh = inner.init(params.fast)
            fast_state = jax.tree.map(lambda c, i: jnp.where(sync, i, c), fast_state, fresh)
        steps = (state.steps_since_sync + 1) % sync_period
        pair = type(params)(fast=fast, slow=slow)  # optax's LookaheadParams stay optax's
        return pair, LookaheadState(fast_state, steps)

    return GradientTransformationExtraArgs(init, update)


__all__ = ["LookaheadParams", "LookaheadState", "lookahead"]

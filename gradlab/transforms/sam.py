r"""Sharpness-aware minimization: step the optimizer with the gradient at an adversarial point.

An adversarial optimizer climbs for :math:`k - 1` steps from the current params (for SAM one
step of normalized ascent of size :math:`\rho`); the outer optimizer then updates the *original*
params with the gradient taken there. In the default (transparent) mode each call to
``update`` does one of these steps and the caller sees the adversarial params; with
``opaque_mode=True`` one call runs the whole period through a ``grad_fn``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    apply_updates,
    with_extra_args_support,
)


class SAMState(NamedTuple):
    """Adversarial steps since the last outer update, both optimizers' states, and the cached
    outer params (``None`` in opaque mode)."""

    steps_since_sync: jax.Array  # int32 scalar
    opt_state: OptState
    adv_state: OptState
    cache: Params | None


def _select(condition: jax.Array, if_true: Any, if_false: Any) -> Any:
    return jax.tree.map(lambda t, f: jnp.where(condition, t, f), if_true, if_false)


def sam(
    optimizer: Any,
    adv_optimizer: Any,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformationExtraArgs:
    r"""SAM: the outer optimizer's step uses the gradient at adversarially perturbed params.

    With :math:`A` the adversarial optimizer (its update negated: it ascends) and :math:`k` =
    ``sync_period``, starting from the outer params :math:`w`:

    .. math::
        \tilde w_0 = w, \quad \tilde w_{i+1} = \tilde w_i - A(\nabla L(\tilde w_i))
        \ (i < k - 1), \qquad w \leftarrow w + O(\nabla L(\tilde w_{k-1}))

    With :math:`A` = normalize then ``sgd(rho)`` and :math:`k = 2` this is Foret et al.'s
    :math:`\tilde w = w + \rho\, g / \lVert g\rVert`, :math:`w \leftarrow w - \eta \nabla
    L(\tilde w)`. In transparent mode (the default) each ``update`` is one of the :math:`k`
    steps: the adversarial steps move the params to :math:`\tilde w_{i+1}`, the :math:`k`-th
    moves them from :math:`\tilde w_{k-1}` to the new :math:`w` (the outer params are cached in
    the state). In opaque mode one ``update`` takes the gradient at :math:`w` and calls
    ``grad_fn(params, i)`` for the :math:`k - 1` adversarial points, returning the outer update.

    Args:
      optimizer: the outer optimizer :math:`O`.
      adv_optimizer: the adversarial optimizer :math:`A` (e.g. ``chain(normalize_by_update_norm
        (), sgd(rho))``).
      sync_period: :math:`k`, an int >= 1; default 2 (one adversarial step).
      reset_state: re-initialise the adversarial state after every outer step (default).
      opaque_mode: run the adversarial steps inside one ``update`` (needs ``grad_fn``).
      batch_axis_name: in opaque mode under ``pmap``, the axis the adversarial gradients are
        averaged over.

    Returns:
      A GradientTransformationExtraArgs with state ``SAMState(steps_since_sync, opt_state,
      adv_state, cache)``; ``update`` needs ``params`` and, in opaque mode, the keyword
      ``grad_fn(params, i) -> gradients``.

    References:
      Foret, Kleiner, Mobahi & Neyshabur, `Sharpness-Aware Minimization for Efficiently
      Improving Generalization <https://arxiv.org/abs/2010.01412>`_, ICLR 2021, Alg. 1.
      Matches: ``optax.contrib.sam`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.sam import sam
    >>> tx = sam(gradlab.sgd(0.25), gradlab.sgd(1.0))  # ascend by 1.0 * g, then descend
    >>> w = jnp.array([1.0])
    >>> state = tx.init(w)
    >>> adv, state = tx.update(w, state, w)  # gradient of w**2 / 2 at w
    >>> w_adv = w + adv  # 2.0
    >>> outer, state = tx.update(w_adv, state, w_adv)
    >>> w_adv + outer  # back at w = 1, minus 0.25 * (gradient 2 at w_adv)
    Array([0.5], dtype=float32)
    """
    validation.check_transform("sam", "optimizer", optimizer)
    validation.check_transform("sam", "adv_optimizer", adv_optimizer)
    validation.check_count("sam", "sync_period", sync_period, 1, "2")
    outer = with_extra_args_support(optimizer)
    adversary = with_extra_args_support(adv_optimizer)

    def init(params: Params) -> SAMState:
        return SAMState(
            steps_since_sync=jnp.zeros([], jnp.int32),
            opt_state=outer.init(params),
            adv_state=adversary.init(params),
            cache=None if opaque_mode else params,
        )

    def transparent_update(
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        *,
        grad_fn: Callable[[Params, int], Updates] | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]:
        del grad_fn
        validation.check_state("sam", state, SAMState)
        validation.require_params("sam", params, updates)
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adversary.update(updates, state.adv_state, params, **extra_args)
        adv_updates = jax.tree.map(jnp.negative, adv_updates)  # ascend
        opt_updates, opt_state = outer.update(updates, state.opt_state, state.cache, **extra_args)
        # from the adversarial params back to the cached outer params, then the outer step
        opt_updates = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
        new_updates = _select(last, opt_updates, adv_updates)
        fresh = adversary.init(params) if reset_state else state.adv_state
        return new_updates, SAMState(
            steps_since_sync=(state.steps_since_sync + 1) % sync_period,
            opt_state=_select(last, opt_state, state.opt_state),
            adv_state=_select(last, fresh, adv_state),
            cache=_select(first, params, state.cache),
        )

    def opaque_update(
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        *,
        grad_fn: Callable[[Params, int], Updates] | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]:
        validation.check_state("sam", state, SAMState)
        validation.require_params("sam", params, updates)
        if grad_fn is None:
            raise ValueError(
                "sam: opaque_mode=True needs update(..., grad_fn=grad_fn), with grad_fn(params, "
                "i) returning the gradients at params (i: the adversarial step, 0-based)."
            )
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adversary.update(
                adv_updates, adv_state, adv_params, **extra_args
            )
            adv_params = apply_updates(adv_params, jax.tree.map(jnp.negative, adv_updates))
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adversary.init(params)
        new_updates, opt_state = outer.update(adv_updates, state.opt_state, params, **extra_args)
        return new_updates, SAMState(jnp.zeros([], jnp.int32), opt_state, adv_state, None)

    return GradientTransformationExtraArgs(
        init, opaque_update if opaque_mode else transparent_update
    )


__all__ = ["SAMState", "sam"]

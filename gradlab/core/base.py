"""Core types of gradlab: the gradient transformation and the aliases around it.

A :class:`GradientTransformation` is a pair of pure functions ``(init, update)``. ``init(params)``
builds the state, a pytree of arrays; ``update(updates, state, params=None, **extra_args)`` maps the
incoming updates (usually gradients) to new updates and a new state. Optimizers are chains of such
pairs, and ``apply_updates`` adds the final updates to the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Params = Any  # pytree of arrays (dicts, lists, tuples, Flax params, None leaves, scalars)
Updates = Any  # pytree of arrays with the structure of Params
OptState = Any  # pytree of arrays: the state of a GradientTransformation
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]  # step -> value
ScalarOrSchedule = float | jax.typing.ArrayLike | Schedule


# init(params) -> state
TransformInitFn = Callable[[Params], OptState]
# update(updates, state, params=None, **extra_args) -> (updates, state)
TransformUpdateFn = Callable[..., tuple[Updates, OptState]]


class GradientTransformation(NamedTuple):
    r"""A pure gradient transformation: the pair ``(init, update)``.

    ``update`` maps :math:`(g_t, S_{t-1}, \theta_t) \mapsto (u_t, S_t)`. Both functions are pure,
    so a transformation is jit-able, vmap-able and can be placed in ``optax.chain``, a Flax
    ``TrainState`` or ``nnx.Optimizer`` as it is.

    Args:
      init: ``init(params) -> state``.
      update: ``update(updates, state, params=None, **extra_args) -> (updates, state)``.

    References:
      Matches: ``optax.GradientTransformation`` (same fields, same call convention).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.scale(0.5)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    >>> updates
    Array([0.5, 0.5], dtype=float32)
    """

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a stateless transformation: an empty pytree."""


def identity() -> GradientTransformation:
    r"""The identity transformation: :math:`u_t = g_t`.

    Args:
      (none)

    References:
      Matches: ``optax.identity``.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.identity().update(jnp.ones(2), gradlab.EmptyState())[0]
    Array([1., 1.], dtype=float32)
    """

    return stateless(lambda updates, params: updates)


def stateless(
    fn: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    r"""A transformation with no state from a function :math:`u_t = f(g_t, \theta_t)`.

    Args:
      fn: ``fn(updates, params) -> updates``; ``params`` is ``None`` when the caller gives none.

    References:
      Matches: ``optax.stateless``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.stateless(lambda g, p: jax.tree.map(jnp.sign, g))
    >>> tx.update(jnp.array([-2.0, 3.0]), tx.init(None))[0]
    Array([-1.,  1.], dtype=float32)
    """

    def init(params: Params) -> EmptyState:
        del params
        return EmptyState()

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        return fn(updates, params), state

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Applies updates to parameters: :math:`\theta_{t+1} = \theta_t + u_t`, leaf by leaf.

    Each new parameter keeps its parameter's dtype (a bf16 weight stays bf16 even when its update
    is float32). ``None`` leaves stay ``None``.

    Args:
      params: the current parameters :math:`\theta_t`.
      updates: the updates :math:`u_t` returned by a transformation (already sign-flipped).

    Returns:
      The new parameters, with the structure and dtypes of ``params``.

    References:
      Matches: ``optax.apply_updates``.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.apply_updates({"w": jnp.ones(2)}, {"w": jnp.array([0.5, -1.0])})
    {'w': Array([1.5, 0. ], dtype=float32)}
    """
    return jax.tree.map(
        lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )

"""Core types of gradlab: the gradient transformation and the aliases around it.

A :class:`GradientTransformation` is a pair of pure functions ``(init, update)``. ``init(params)``
builds the state, a pytree of arrays; ``update(updates, state, params=None, **extra_args)`` maps the
incoming updates (usually gradients) to new updates and a new state. Optimizers are chains of such
pairs, and ``apply_updates`` adds the final updates to the parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from gradlab.core import validation

try:  # optax.chain passes extra arguments only to instances of its own ExtraArgs class
    from optax import GradientTransformationExtraArgs as _OptaxExtraArgs
except Exception:  # noqa: BLE001 - optax is optional; any failure to import it means "absent"
    _OptaxExtraArgs = None

Params = Any  # pytree of arrays (dicts, lists, tuples, Flax params, None leaves, scalars)
Updates = Any  # pytree of arrays with the structure of Params
OptState = Any  # pytree of arrays: the state of a GradientTransformation
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]  # step -> value
ScalarOrSchedule = float | jax.typing.ArrayLike | Schedule
ScheduleState = Any  # pytree of arrays: the state of a StatefulSchedule


@runtime_checkable
class StatefulSchedule(Protocol):
    r"""A schedule with its own state, which ``update``'s extra arguments may drive.

    Where a plain schedule is a function of the step, :math:`h_t = h(t)`, a stateful one keeps a
    state :math:`s`: :math:`h_t = h(s_t, \text{extra})` and :math:`s_{t+1} = u(s_t,
    \text{extra})`, where *extra* are the keyword arguments given to the optimizer's ``update``
    (a loss ``value``, for instance). Pass one wherever a hyperparameter is accepted by an alias
    or an :func:`gradlab.inject_hyperparams` factory; its state is kept in
    ``state.hyperparams_states[name]``.

    Methods:
      init(): the initial state :math:`s_0`.
      update(state, **extra_args): the next state :math:`s_{t+1}`.
      __call__(state, **extra_args): the value :math:`h_t` (a scalar).

    References:
      Matches: ``optax.StatefulSchedule`` (same three methods); any object with them is one,
      optax's included.
    """

    def init(self) -> ScheduleState:
        """The initial state."""

    def update(self, state: ScheduleState, **extra_args: Any) -> ScheduleState:
        """The state after one step."""

    def __call__(self, state: ScheduleState, **extra_args: Any) -> jax.typing.ArrayLike:
        """The current value."""


is_stateful_schedule = validation.is_stateful_schedule

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


_EXTRA_BASES: tuple[type, ...] = () if _OptaxExtraArgs is None else (_OptaxExtraArgs,)


class GradientTransformationExtraArgs(GradientTransformation, *_EXTRA_BASES):  # type: ignore[misc]
    r"""A transformation whose ``update`` takes extra keyword arguments: ``value``, ``grad``, ...

    ``update(updates, state, params=None, **extra_args)``: the extra arguments are the ones
    optax names (``value``, the loss at ``params``; ``grad``, its gradient; ``value_fn``, the
    objective, for line searches) or any others a stage needs. Every gradlab combinator, wrapper
    and optimizer returns this type and forwards the extra arguments to each stage that is of
    this type; a plain :class:`GradientTransformation` stage never receives them
    (:func:`with_extra_args_support`). When optax is installed this class also derives from
    ``optax.GradientTransformationExtraArgs``, so ``optax.chain`` forwards extra arguments to
    gradlab transforms too.

    Args:
      init: ``init(params) -> state``.
      update: ``update(updates, state, params=None, **extra_args) -> (updates, state)``.

    References:
      Matches: ``optax.GradientTransformationExtraArgs`` (same fields and semantics).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.chain(gradlab.scale(2.0))
    >>> isinstance(tx, gradlab.GradientTransformationExtraArgs)
    True
    >>> tx.update(jnp.ones(1), tx.init(jnp.ones(1)), value=jnp.asarray(3.0))[0]
    Array([2.], dtype=float32)
    """


def _accepts_extra_keywords(update: Callable[..., Any]) -> bool:
    """Whether ``update`` declares ``**kwargs`` or a keyword-only parameter (a diagnostic only)."""
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in parameters)


def is_extra_args_transform(tx: Any) -> bool:
    """Whether ``tx`` receives extra arguments: a gradlab or optax ``...ExtraArgs`` instance."""
    return isinstance(tx, GradientTransformationExtraArgs) or (
        _OptaxExtraArgs is not None and isinstance(tx, _OptaxExtraArgs)
    )


def with_extra_args_support(tx: Any) -> GradientTransformationExtraArgs:
    r"""``tx`` as a :class:`GradientTransformationExtraArgs`: :math:`u = f(g)` whatever is passed.

    An ``...ExtraArgs`` transformation (gradlab's or optax's) is returned as it is (re-typed as
    gradlab's if it is optax's), so it receives the extra arguments; any other object with
    ``init``/``update`` is wrapped so that its ``update`` is called without them, as optax does.
    Which stages receive extra arguments is decided by type, never by inspecting signatures; a
    plain transformation whose ``update`` declares ``**kwargs`` or keyword-only parameters gets
    a warning, since it would silently never see them: build it as
    ``GradientTransformationExtraArgs(init, update)``.

    Args:
      tx: a transformation (gradlab's, optax's or any object with ``init`` and ``update``).

    Returns:
      A GradientTransformationExtraArgs with the same ``init``.

    References:
      Matches: ``optax.with_extra_args_support``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.with_extra_args_support(gradlab.identity())
    >>> tx.update(jnp.ones(1), tx.init(jnp.ones(1)), value=1.0)[0]
    Array([1.], dtype=float32)
    """
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx
    if is_extra_args_transform(tx):
        return GradientTransformationExtraArgs(tx.init, tx.update)
    update = tx.update
    if _accepts_extra_keywords(update):
        validation.warn_user(
            f"{update!r} declares keyword arguments, but its transformation is a plain "
            "GradientTransformation, so combinators never pass it extra arguments (value, grad, "
            "...). Build it as gradlab.GradientTransformationExtraArgs(init, update) to receive "
            "them."
        )

    def update_without_extra_args(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        del extra_args
        return update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update_without_extra_args)


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

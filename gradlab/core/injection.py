"""Hyperparameters that live in the optimizer state.

Every gradlab optimizer alias is built through :func:`inject_hyperparams`, so its state carries
the current value of each numeric hyperparameter. :func:`hyperparams` reads them back by name and
:func:`set_hyperparams` changes them between jitted steps without recompiling: the values are
arrays in the state, not constants baked into the compiled program (optax issue #577).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.transforms.combine import _updater


class InjectState(NamedTuple):
    """Step count, current hyperparameter values and the wrapped optimizer's state."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    hyperparams: dict[str, jax.Array]
    inner_state: OptState


def _is_hyperparameter(value: Any) -> bool:
    """Numbers, numeric arrays and schedules are injected; bools, None, dtypes, strings are not."""
    if callable(value) and not isinstance(value, type):
        return True
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, jax.core.Tracer):
        return True
    try:
        return np.issubdtype(np.asarray(value).dtype, np.number)
    except TypeError:
        return False


def inject_hyperparams(
    factory: Callable[..., GradientTransformation] | None = None,
    *,
    static_args: Iterable[str] = ("mask", "weight_decay_mask"),
    checks: Mapping[str, Callable[[str, str, Any], None]] | None = None,
) -> Any:
    r"""Moves a factory's numeric hyperparameters into the state of what it builds.

    ``inject_hyperparams(f)(*args, **kwargs)`` behaves like ``f(*args, **kwargs)``, except that
    every number or schedule argument :math:`h` is stored in ``state.hyperparams``: a schedule
    :math:`h(t)` is evaluated at each step :math:`t = 0, 1, \dots` before the update; a number
    stays as set (see :func:`set_hyperparams`). The update is rebuilt from these values at every
    step, so changing them never recompiles. Outputs keep the incoming updates' dtypes; the
    arithmetic runs at the promotion of the leaf and float32 hyperparameters (bf16 moments are
    averaged in float32). All gradlab aliases are built this way already.

    Args:
      factory: a function returning a GradientTransformation, e.g. a custom chain. With no
        factory, returns a decorator.
      static_args: argument names never injected (masks, which are callables but not schedules).
      checks: ``{argument name: check(fn_name, arg_name, value)}`` run on concrete, non-schedule
        arguments at construction, so errors name the factory's own arguments.

    Returns:
      A factory with ``factory``'s signature whose transformations keep an ``InjectState``.

    References:
      Matches: ``optax.inject_hyperparams`` (state layout ``count``, ``hyperparams``,
      ``inner_state``).

    >>> import jax.numpy as jnp, gradlab
    >>> momentum = gradlab.inject_hyperparams(gradlab.scale_by_momentum)(decay=lambda t: 0.5)
    >>> state = momentum.init(jnp.zeros(2))
    >>> float(gradlab.hyperparams(state)["decay"])
    0.5
    """
    if factory is None:
        return functools.partial(inject_hyperparams, static_args=static_args, checks=checks)
    if getattr(factory, "_injects_hyperparams", False):
        return factory  # a gradlab alias already keeps its hyperparameters in its state
    static_names = frozenset(static_args)
    signature = inspect.signature(factory)

    @functools.wraps(factory)
    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        for name, check in (checks or {}).items():
            value = arguments.get(name, None)
            optional = name in signature.parameters and signature.parameters[name].default is None
            if name in arguments and not callable(value) and not (value is None and optional):
                check(factory.__name__, name, value)
        factory(**arguments)  # validates concrete values now, at construction
        injected = {
            k: v for k, v in arguments.items() if k not in static_names and _is_hyperparameter(v)
        }
        for k, v in injected.items():  # each is stored as one scalar in the state
            validation.check_scalar(factory.__name__, k, v)
        fixed = {k: v for k, v in arguments.items() if k not in injected}

        def scheduled(name: str, schedule: Callable, count: jax.Array) -> jax.Array:
            value = jnp.asarray(schedule(count))
            if value.shape != ():
                raise ValueError(
                    f"{factory.__name__}: the schedule given as {name} returned shape "
                    f"{value.shape} for a scalar step; it must return a scalar. Reduce it, "
                    f"e.g. {name}=lambda t: my_schedule(t).squeeze()."
                )
            return value

        def evaluate(count: jax.Array, current: dict[str, jax.Array]) -> dict[str, jax.Array]:
            return {
                k: scheduled(k, v, count).astype(current[k].dtype) if callable(v) else current[k]
                for k, v in injected.items()
            }

        def build(values: dict[str, jax.Array]) -> Any:
            return factory(**fixed, **values)

        def init(params: Params) -> InjectState:
            tree.check_float_leaves(factory.__name__, params, "params")
            count = jnp.zeros([], jnp.int32)
            float_dtype = jnp.asarray(0.0).dtype  # float32, or float64 under x64
            start = {
                k: jnp.zeros([], float_dtype) if callable(v) else v for k, v in injected.items()
            }
            values = evaluate(count, {k: jnp.asarray(v, float_dtype) for k, v in start.items()})
            return InjectState(count, values, build(values).init(params))

        def update(
            updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
        ) -> tuple[Updates, OptState]:
            tree.check_float_leaves(factory.__name__, updates, "gradient")
            if params is not None:
                tree.check_structure(factory.__name__, updates, params, what="params")
            values = evaluate(state.count, state.hyperparams)
            new, inner_state = _updater(build(values))(
                updates, state.inner_state, params, **extra_args
            )
            new = jax.tree.map(lambda u, g: u.astype(g.dtype), new, updates)
            return new, InjectState(tree.safe_increment(state.count), values, inner_state)

        return GradientTransformation(init, update)

    wrapped._injects_hyperparams = True  # type: ignore[attr-defined]
    return wrapped


def _inject_states(state: OptState) -> list[InjectState]:
    is_inject = lambda x: isinstance(x, InjectState)  # noqa: E731
    return [x for x in jax.tree.leaves(state, is_leaf=is_inject) if is_inject(x)]


def _the_inject_state(fn: str, state: OptState) -> InjectState:
    found = _inject_states(state)
    if len(found) != 1:
        raise ValueError(
            f"{fn}: expected the state of one gradlab optimizer (with one InjectState), found "
            f"{len(found)}. Pass the optimizer's own state, e.g. opt_state or opt_state[i] of a "
            "chain; wrap a custom factory with gradlab.inject_hyperparams."
        )
    return found[0]


def hyperparams(state: OptState) -> dict[str, jax.Array]:
    r"""The current value of every hyperparameter of a gradlab optimizer, by name.

    Reads :math:`h_t` from the state (for a schedule, the value used by the latest update).

    Args:
      state: the state of a gradlab alias (or of any ``inject_hyperparams`` factory), possibly
        nested inside an ``optax.chain``, ``TrainState`` or ``nnx.Optimizer`` state.

    Returns:
      ``{name: scalar array}``, e.g. ``{"learning_rate": ..., "b1": ..., ...}``.

    References:
      Goes beyond optax, where reading the current learning rate needs
      ``optax.inject_hyperparams`` (optax issue #577).

    >>> import jax.numpy as jnp, gradlab
    >>> state = gradlab.adam(1e-3).init(jnp.zeros(2))
    >>> sorted(gradlab.hyperparams(state))
    ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    return dict(_the_inject_state("hyperparams", state).hyperparams)


def set_hyperparams(state: OptState, **values: jax.typing.ArrayLike) -> OptState:
    r"""Returns ``state`` with hyperparameters replaced: :math:`h \leftarrow` ``values[h]``.

    The next ``update`` uses the new values exactly as a freshly built optimizer with them would,
    and a jitted step does not recompile (the values are state arrays of unchanged shape and
    dtype). A hyperparameter given as a schedule is recomputed from the step count at every
    update, so setting it has no lasting effect: pass a number at construction to control it.

    Args:
      state: as for :func:`hyperparams`.
      **values: new scalar values by name, e.g. ``learning_rate=3e-4``.

    Returns:
      The new state (the old one is unchanged).

    References:
      Goes beyond optax (issue #577): no wrapper is needed, every gradlab alias supports it.

    >>> import jax.numpy as jnp, gradlab
    >>> state = gradlab.sgd(0.1).init(jnp.zeros(2))
    >>> state = gradlab.set_hyperparams(state, learning_rate=0.01)
    >>> gradlab.hyperparams(state)["learning_rate"]
    Array(0.01, dtype=float32)
    """
    target = _the_inject_state("set_hyperparams", state)
    unknown = sorted(set(values) - set(target.hyperparams))
    if unknown:
        raise ValueError(
            f"set_hyperparams: unknown hyperparameter(s) {unknown}; this optimizer has "
            f"{sorted(target.hyperparams)}."
        )
    new_values = dict(target.hyperparams)
    for name, value in values.items():
        old = target.hyperparams[name]
        if jnp.shape(value) != jnp.shape(old):
            raise ValueError(
                f"set_hyperparams: {name} must have shape {jnp.shape(old)}, got "
                f"{jnp.shape(value)}. Pass a scalar, e.g. {name}=1e-3."
            )
        new_values[name] = jnp.asarray(value, jnp.asarray(old).dtype)
    replacement = target._replace(hyperparams=new_values)
    is_inject = lambda x: isinstance(x, InjectState)  # noqa: E731
    return jax.tree.map(lambda x: replacement if x is target else x, state, is_leaf=is_inject)

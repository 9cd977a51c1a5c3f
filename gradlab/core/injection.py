r"""Hyperparameters that live in the optimizer state: declared, injected, read and set.

**Declared.** A factory says which of its arguments are *dynamic* hyperparameters (floats that
may be scheduled or set while training): ``@declare_hyperparams("decay")`` on a primitive,
``@inject_hyperparams(dynamic_args=...)`` on an alias. Every other argument is static: ints
(``order``, a memory size), tuples, dtypes, masks and other callables (``clip_fn=jnp.tanh``) are
passed to the factory as they are. A factory that declares nothing is read as optax reads it:
floats and callables are dynamic, unless named in ``static_args``.

**Where a dynamic value comes from** (its *source*), decided when the optimizer is built:

* a Python number (or NumPy scalar): the state owns it. It is stored in ``state.hyperparams``,
  used at every update and changed by :func:`set_hyperparams` without recompiling;
* a schedule (a callable ``step -> value``): evaluated at the step count before every update;
  its current value is in ``state.hyperparams``; setting it is refused;
* a stateful schedule (:class:`gradlab.StatefulSchedule`: ``init``, ``update`` and
  ``__call__``, optax's included): evaluated on its own state, kept in
  ``state.hyperparams_states``, with the extra keyword arguments of ``update`` (a loss
  ``value``...), then advanced with them; setting it is refused too;
* a ``jax.Array`` or a traced value: *given* by the code that built the optimizer (an outer
  ``inject_hyperparams``, gradlab's or optax's; ``jax.vmap`` over learning rates; a
  meta-gradient). It is used as given at every update, recorded in ``state.hyperparams`` and
  owned by that code, so setting it here is refused;
* ``None``, a bool, or a declared *off-when-zero* argument (a weight decay, ``eps_root``, a
  momentum) given as a Python 0: static. The term it would scale is compiled away (no bytes
  moved, no params read). To keep such an argument settable at zero, build the optimizer under
  an outer injection: ``gradlab.inject_hyperparams(gradlab.adamw)(1e-3, weight_decay=0.0)``,
  exactly as with ``optax.inject_hyperparams``.

**Nesting.** The outermost injection owns a value: it stores it and passes it down as an array,
which the alias inside uses as given. So ``optax.inject_hyperparams(gradlab.adam)`` and
``gradlab.inject_hyperparams(lambda lr: gradlab.chain(clip, gradlab.adam(lr)))`` follow the
outer schedule or set value, and :func:`hyperparams` reports each value once, from its owner.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    is_stateful_schedule,
    with_extra_args_support,
)

STATE, SCHEDULE, GIVEN = "state", "schedule", "given"  # the sources of a dynamic value
STATEFUL = "stateful schedule"  # read and refused like SCHEDULE; its state is kept


class InjectState(NamedTuple):
    """Step count, current hyperparameter values, their sources and the inner state.

    ``hyperparams[name]`` is the value the latest update used (for a schedule, the one the
    next update will use until it runs). ``driven_by`` maps each value that this state does not
    own to ``{"schedule": None}`` or ``{"given": None}``: its keys are static structure, so the
    state still holds arrays only. ``hyperparams_states[name]`` is the state of each stateful
    schedule (optax's field name).
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    hyperparams: dict[str, jax.Array]
    inner_state: OptState
    driven_by: dict[str, dict[str, None]]
    hyperparams_states: dict[str, Any]


def declare_hyperparams(
    *names: str, off_when_zero: Iterable[str] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    r"""Marks a factory's dynamic hyperparameters :math:`h` (the rest are static).

    The factory itself is returned unchanged; :func:`inject_hyperparams` (gradlab's) reads the
    declaration, so ``inject_hyperparams(factory)`` injects exactly these arguments.

    Args:
      *names: the argument names that are floats which may be scheduled or set.
      off_when_zero: those among ``names`` whose Python 0 turns a term off (compiled away).

    Returns:
      A decorator.

    References:
      Goes beyond optax, whose ``inject_hyperparams`` guesses from the values' types.

    >>> import gradlab
    >>> gradlab.moving_average.hyperparam_names
    ('decay', 'initial_value')
    """
    off = tuple(off_when_zero)
    unknown = sorted(set(off) - set(names))
    if unknown:
        raise ValueError(
            f"declare_hyperparams: off_when_zero names {unknown} that are not declared "
            f"hyperparameters {list(names)}. Declare them too."
        )

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        parameters = inspect.signature(factory).parameters
        missing = [n for n in names if n not in parameters]
        if missing:
            raise ValueError(
                f"declare_hyperparams: {factory.__name__} has no argument(s) {missing}."
            )
        factory.hyperparam_names = tuple(names)  # type: ignore[attr-defined]
        factory.off_when_zero = off  # type: ignore[attr-defined]
        return factory

    return decorate


def _is_float_value(value: Any) -> bool:
    """A float, a float NumPy value, or a float jax array / tracer (optax's numeric test)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, float):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.inexact)


def _source(name: str, value: Any, off_when_zero: tuple[str, ...]) -> str | None:
    """Where a dynamic argument's value comes from; ``None`` means it is passed on static."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    if is_stateful_schedule(value):
        return STATEFUL
    if callable(value) and not isinstance(value, type):
        return SCHEDULE
    if isinstance(value, jax.Array):  # concrete arrays and tracers alike
        return GIVEN
    if validation.is_python_number(value):
        if name in off_when_zero and validation.is_static_zero(value):
            return None
        return STATE
    return None  # a tuple, a string...: the factory's own checks decide


def _hyperparam_dtype(params: Params, requested: Any) -> Any:
    """float32, or the widest float dtype among the params when wider (float64 under x64)."""
    if requested is not None:
        return jnp.dtype(requested)
    dtype = jnp.dtype(jnp.float32)
    for leaf in jax.tree.leaves(params):
        leaf_dtype = jnp.result_type(leaf)
        if jnp.issubdtype(leaf_dtype, jnp.inexact):
            dtype = jnp.promote_types(dtype, jnp.finfo(leaf_dtype).dtype)
    return dtype


def _scalar_schedule_value(fn: str, name: str, schedule: Callable, *args: Any, **kw: Any) -> Any:
    value = jnp.asarray(schedule(*args, **kw))
    if value.shape != ():
        raise ValueError(
            f"{fn}: the schedule given as {name} returned shape {value.shape} for a scalar step; "
            f"it must return a scalar. Reduce it, e.g. {name}=lambda t: my_schedule(t).squeeze()."
        )
    return value


def _dynamic_names(factory: Callable[..., Any], dynamic_args: Iterable[str] | None) -> Any:
    if dynamic_args is not None:
        return tuple(dynamic_args)
    return getattr(factory, "hyperparam_names", None)


def inject_hyperparams(
    factory: Callable[..., Any] | None = None,
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any | None = None,
    *,
    dynamic_args: Iterable[str] | None = None,
    off_when_zero: Iterable[str] = (),
) -> Any:
    r"""Moves a factory's dynamic hyperparameters into the state of what it builds.

    ``inject_hyperparams(f)(*args, **kwargs)`` behaves like ``f(*args, **kwargs)``, except that
    each dynamic hyperparameter :math:`h` lives in ``state.hyperparams``: a schedule
    :math:`h(t)` is evaluated at each step :math:`t = 0, 1, \dots` before the update; a number
    stays as set (see :func:`set_hyperparams`); an array or traced value is used as given. The
    update is rebuilt from these values at every step, so changing them never recompiles. The
    module docstring states the rules (declaration, sources, nesting, off-when-zero). Outputs
    keep the incoming updates' dtypes. All gradlab aliases are built this way already; wrapping
    one again gives an outer injection that owns its values (how a zero weight decay stays
    settable).

    Args:
      factory: a function returning a transformation. With no factory, returns a decorator.
      static_args: argument names (one string, or several) never injected; each must be an
        argument of ``factory``.
      hyperparam_dtype: dtype of the stored values; ``None`` is float32, or the params' widest
        float dtype when wider (float64 params under x64).
      dynamic_args: the dynamic argument names, overriding the factory's declaration.
      off_when_zero: among those, the names whose Python 0 is static (the term compiled away).

    Returns:
      A factory with ``factory``'s signature whose transformations are
      ``GradientTransformationExtraArgs`` with state ``InjectState``.

    References:
      Matches: ``optax.inject_hyperparams`` (fields ``count``, ``hyperparams``,
      ``inner_state``), except that declared factories decide what is dynamic (optax guesses
      from the values, and injects ints too).

    >>> import jax.numpy as jnp, gradlab
    >>> momentum = gradlab.inject_hyperparams(gradlab.trace)(decay=lambda t: 0.5)
    >>> state = momentum.init(jnp.zeros(2))
    >>> float(gradlab.hyperparams(state)["decay"])
    0.5
    """
    if factory is None:
        return functools.partial(
            inject_hyperparams,
            static_args=static_args,
            hyperparam_dtype=hyperparam_dtype,
            dynamic_args=dynamic_args,
            off_when_zero=off_when_zero,
        )
    name = getattr(factory, "__name__", type(factory).__name__)
    signature = inspect.signature(factory)
    static_names = {static_args} if isinstance(static_args, str) else set(static_args)
    unknown = sorted(static_names - set(signature.parameters))
    if unknown:
        raise ValueError(
            f"inject_hyperparams: static_args names {unknown}, which {name} does not take; its "
            f"arguments are {list(signature.parameters)}."
        )
    validation.check_dtype("inject_hyperparams", "hyperparam_dtype", hyperparam_dtype)
    declared = _dynamic_names(factory, dynamic_args)
    off = tuple(off_when_zero)

    @functools.wraps(factory)
    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        if declared is None:  # optax's reading: floats and callables are dynamic
            candidates = [k for k, v in arguments.items() if _is_float_value(v) or callable(v)]
        else:
            candidates = list(declared)
        sources = {}
        for k in candidates:
            value = arguments[k]
            if k in static_names or value is None:
                continue
            if not callable(value):  # a declared float: checked under the factory's own name
                validation.check_argument(name, k, value)
                validation.check_scalar(name, k, value)
            elif not is_stateful_schedule(value):  # a schedule: probed where signs matter
                validation.check_argument(name, k, value)
            source = _source(k, value, off)
            if source is not None:
                sources[k] = source
        for k, value in arguments.items():  # storage dtypes: floating (or complex) only
            if k.endswith("_dtype"):
                validation.check_dtype(name, k, value)
        stateful = {k: arguments[k] for k, s in sources.items() if s == STATEFUL}
        # The factory's own checks run now, at construction; a stateful schedule is checked
        # through its first value (the factory would read it as a plain step -> value schedule).
        with jax.ensure_compile_time_eval():
            first = {k: _scalar_schedule_value(name, k, f, f.init()) for k, f in stateful.items()}
        factory(**{**arguments, **first})
        fixed = {k: v for k, v in arguments.items() if k not in sources}
        schedules = {k: arguments[k] for k, s in sources.items() if s == SCHEDULE}
        given = {k: arguments[k] for k, s in sources.items() if s == GIVEN}
        driven_by = {
            k: {SCHEDULE if s == STATEFUL else s: None} for k, s in sources.items() if s != STATE
        }

        def values_at(
            count: jax.Array,
            stored: dict[str, jax.Array],
            schedule_states: dict[str, Any],
            extra_args: dict[str, Any],
        ) -> dict[str, jax.Array]:
            out = {}
            for k, s in sources.items():
                if s == STATE:
                    out[k] = stored[k]
                elif s == SCHEDULE:
                    value = _scalar_schedule_value(name, k, schedules[k], count)
                    out[k] = value.astype(stored[k].dtype)
                elif s == STATEFUL:
                    value = _scalar_schedule_value(
                        name, k, stateful[k], schedule_states[k], **extra_args
                    )
                    out[k] = value.astype(stored[k].dtype)
                else:
                    out[k] = given[k]
            return out

        def recorded(values: dict[str, jax.Array], stored: dict[str, jax.Array]) -> Any:
            return {k: jnp.asarray(v).astype(stored[k].dtype) for k, v in values.items()}

        def init(params: Params) -> InjectState:
            validation.check_float_leaves(name, params, "params")
            dtype = _hyperparam_dtype(params, hyperparam_dtype)
            count = jnp.zeros([], jnp.int32)
            slots = {
                k: jnp.asarray(
                    given[k] if s == GIVEN else 0.0 if s in (SCHEDULE, STATEFUL) else arguments[k],
                    dtype if s != GIVEN else None,
                )
                for k, s in sources.items()
            }
            schedule_states = {k: f.init() for k, f in stateful.items()}
            values = values_at(count, slots, schedule_states, {})  # optax: no extra args here
            with validation.already_checked():
                inner = with_extra_args_support(factory(**fixed, **values))
            hyperparams = recorded(values, slots)
            # An inner state that stores a hyperparameter as given (schedule-free's b1) would
            # share its buffer with the recorded value: a step donating the state would then
            # donate one buffer twice. Such a leaf gets its own copy.
            shared = {id(v) for v in jax.tree.leaves(hyperparams)}
            inner_state = jax.tree.map(
                lambda x: jnp.copy(x) if id(x) in shared else x, inner.init(params)
            )
            return InjectState(count, hyperparams, inner_state, driven_by, schedule_states)

        def update(
            updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
        ) -> tuple[Updates, OptState]:
            if not isinstance(state, InjectState):
                raise TypeError(
                    f"{name}: expected the InjectState that this optimizer's init() returns, "
                    f"got {type(state).__name__}. Pass the state built by this optimizer."
                )
            if set(state.hyperparams) != set(sources) or set(state.hyperparams_states) != set(
                stateful
            ):
                raise TypeError(
                    f"{name}: this state holds the hyperparameters {sorted(state.hyperparams)}, "
                    f"but this optimizer has {sorted(sources)}: it was built by another "
                    "optimizer (or another setting). Pass the state this optimizer's init() "
                    "returned."
                )
            validation.check_float_leaves(name, updates, "gradient")
            if params is not None:
                validation.check_structure(name, updates, params, what="params")
            values = values_at(state.count, state.hyperparams, state.hyperparams_states, extra_args)
            schedule_states = {
                k: f.update(state.hyperparams_states[k], **extra_args) for k, f in stateful.items()
            }
            with validation.already_checked():
                inner = with_extra_args_support(factory(**fixed, **values))
            new, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            new = storage.like(new, updates)
            count = tree.safe_increment(state.count)
            return new, InjectState(
                count,
                recorded(values, state.hyperparams),
                inner_state,
                state.driven_by,
                schedule_states,
            )

        return GradientTransformationExtraArgs(init, update)

    wrapped.hyperparam_names = (  # type: ignore[attr-defined]
        tuple(declared) if declared is not None else None
    )
    # What this injection treats as off at a Python 0 (for reading; an outer injection of this
    # factory does not inherit it, so zeros stay settable there).
    wrapped.off_when_zero = off  # type: ignore[attr-defined]
    return wrapped


def inject_stateful_hyperparams(
    factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any | None = None,
) -> Any:
    r"""Deprecated (as in optax since 0.1.9): :func:`inject_hyperparams` takes stateful schedules.

    A stateful schedule gives :math:`h_t = h(s_t, \text{extra})`, :math:`s_{t+1} = u(s_t,
    \text{extra})` (see :class:`gradlab.StatefulSchedule`).

    Args:
      factory: as for :func:`inject_hyperparams`.
      static_args: as for :func:`inject_hyperparams`.
      hyperparam_dtype: as for :func:`inject_hyperparams`.

    Returns:
      ``inject_hyperparams(factory, static_args=..., hyperparam_dtype=...)``.

    References:
      Matches: ``optax.inject_stateful_hyperparams`` (a ``DeprecationWarning``, then the same).

    >>> import warnings, gradlab
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     factory = gradlab.inject_stateful_hyperparams(gradlab.scale)
    >>> factory.__name__
    'scale'
    """
    warnings.warn(
        "inject_stateful_hyperparams is deprecated: use gradlab.inject_hyperparams, which takes "
        "stateful schedules too.",
        DeprecationWarning,
        stacklevel=2,
    )
    return inject_hyperparams(factory, static_args=static_args, hyperparam_dtype=hyperparam_dtype)


# ---------------------------------------------------------------------------------------------
# Reading and setting


class _Entry(NamedTuple):
    group: tuple[Any, ...]  # the partition labels on the way to the owner
    name: str
    value: jax.Array
    source: str
    owner: Any  # the InjectState (or optax inject state) that holds it


def _is_optax_inject(x: Any) -> bool:
    optax = sys.modules.get("optax")
    cls = getattr(optax, "InjectStatefulHyperparamsState", None) if optax else None
    return cls is not None and isinstance(x, cls)


def _partition_state_class() -> Any:
    from gradlab.transforms.groups import PartitionState  # a late import: groups imports core

    return PartitionState


def _is_owner_or_group(x: Any) -> bool:
    return (
        isinstance(x, InjectState) or _is_optax_inject(x) or isinstance(x, _partition_state_class())
    )


def _entries(
    node: Any, group: tuple[Any, ...] = (), enclosed: bool = False, copies: bool = False
) -> list[_Entry]:
    """Every hyperparameter in ``node``, with its group, source and owner (outermost first).

    An inner alias's copies of values given by an enclosing injection are left out, unless
    ``copies`` (to explain why setting one is refused).
    """
    if isinstance(node, InjectState):
        found = [
            _Entry(group, k, v, next(iter(node.driven_by.get(k, {STATE: None}))), node)
            for k, v in node.hyperparams.items()
        ]
        found = [e for e in found if copies or not (enclosed and e.source == GIVEN)]
        return found + _entries(node.inner_state, group, True, copies)
    if _is_optax_inject(node):
        found = [
            _Entry(group, k, v, SCHEDULE if k in node.hyperparams_states else STATE, node)
            for k, v in node.hyperparams.items()
        ]
        return found + _entries(node.inner_state, group, True, copies)
    if isinstance(node, _partition_state_class()):
        return [
            e
            for label, sub in node.inner_states.items()
            for e in _entries(sub, (*group, label), enclosed, copies)
        ]
    children = jax.tree.leaves(node, is_leaf=_is_owner_or_group)
    return [
        e for c in children if _is_owner_or_group(c) for e in _entries(c, group, enclosed, copies)
    ]


def _group_key(group: tuple[Any, ...]) -> Any:
    return group[0] if len(group) == 1 else "/".join(map(str, group))


def _check_unique(fn: str, entries: list[_Entry]) -> None:
    seen: dict[tuple[Any, ...], _Entry] = {}
    for e in entries:
        key = (e.group, e.name)
        if key in seen:
            raise ValueError(
                f"{fn}: two optimizers in this state have a hyperparameter {e.name!r}"
                f"{' in group ' + repr(_group_key(e.group)) if e.group else ''} (e.g. two "
                "aliases in one chain). Pass the sub-state of the one you mean, e.g. "
                "opt_state[i] of a chain."
            )
        seen[key] = e


def hyperparams(state: OptState) -> dict[str, Any]:
    r"""The current value of every hyperparameter of a gradlab optimizer, by name.

    Reads :math:`h_t` from the state (for a schedule, the value of the latest step), each value
    from its owner: under an outer injection the outer values are reported, not the inner
    alias's copies. For a :func:`gradlab.partition` / :func:`gradlab.param_groups` state the
    result has one dict per group, ``{label: {name: value}}``.

    Args:
      state: the state of a gradlab alias (or of any ``inject_hyperparams`` factory, gradlab's
        or optax's), possibly nested inside a chain, a wrapper, a ``TrainState`` or an
        ``nnx.Optimizer`` state.

    Returns:
      ``{name: scalar array}``, e.g. ``{"learning_rate": ..., "b1": ..., ...}``, or for groups
      ``{label: {name: scalar array}}``.

    References:
      Goes beyond optax, where reading the current learning rate needs
      ``optax.inject_hyperparams`` (optax issue #577).

    >>> import jax.numpy as jnp, gradlab
    >>> state = gradlab.adam(1e-3).init(jnp.zeros(2))
    >>> sorted(gradlab.hyperparams(state))
    ['b1', 'b2', 'eps', 'learning_rate']
    """
    entries = _entries(state)
    if not entries:
        raise ValueError(
            "hyperparams: this state holds no injected hyperparameters. Pass the state of a "
            "gradlab optimizer (or of an inject_hyperparams factory), e.g. opt_state."
        )
    _check_unique("hyperparams", entries)
    out: dict[Any, Any] = {}
    for e in entries:
        # an nnx.Optimizer's state wraps each array in a Variable (OptArray): report the array
        value = e.value if isinstance(e.value, jax.Array) else jnp.asarray(e.value)
        if e.group:
            out.setdefault(_group_key(e.group), {})[e.name] = value
        else:
            out[e.name] = value
    return out


def _check_new_value(name: str, value: Any, old: jax.Array) -> None:
    if validation.is_traced(value):
        return  # traced values cannot be checked (documented)
    validation.check_number("set_hyperparams", name, value, "1e-3")
    if jnp.shape(value) != jnp.shape(old):
        raise ValueError(
            f"set_hyperparams: {name} must have shape {jnp.shape(old)}, got {jnp.shape(value)}. "
            f"Pass a scalar, e.g. {name}=1e-3."
        )
    validation.check_argument("set_hyperparams", name, value)


def _replace_owners(node: Any, new: Mapping[int, Any]) -> Any:
    """``node`` with each owner whose id is in ``new`` replaced by ``new[id]``'s hyperparams."""
    if isinstance(node, InjectState) or _is_optax_inject(node):
        if id(node) in new:
            node = node._replace(hyperparams=new[id(node)])
        return node._replace(inner_state=_replace_owners(node.inner_state, new))
    if isinstance(node, _partition_state_class()):
        return node._replace(
            inner_states={k: _replace_owners(v, new) for k, v in node.inner_states.items()}
        )
    return jax.tree.map(
        lambda x: _replace_owners(x, new) if _is_owner_or_group(x) else x,
        node,
        is_leaf=_is_owner_or_group,
    )


def set_hyperparams(state: OptState, *, group: Any = None, **values: Any) -> OptState:
    r"""Returns ``state`` with hyperparameters replaced: :math:`h \leftarrow` ``values[h]``.

    The next ``update`` uses the new values exactly as a freshly built optimizer with them would,
    and a jitted step does not recompile (the values are state arrays of unchanged shape and
    dtype). Concrete values get the constructor's checks (a decay in [0, 1), a finite eps >= 0,
    ...); traced values are not checked. A value driven by a schedule, or given by an outer
    injection, is refused with the reason. In a :func:`gradlab.param_groups` state the value is
    set in every group that has it, or in ``group`` only.

    Args:
      state: as for :func:`hyperparams`.
      group: the label of the one group to change (``None``: every group that has the name).
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
    entries = _entries(state)
    _check_unique("set_hyperparams", entries)
    if group is not None:
        groups = {_group_key(e.group) for e in entries if e.group}
        if group not in groups:
            raise ValueError(
                f"set_hyperparams: no group {group!r} in this state; its groups are "
                f"{sorted(map(str, groups))}."
            )
        entries = [e for e in entries if e.group and _group_key(e.group) == group]
    new: dict[int, dict[str, jax.Array]] = {}
    for name, value in values.items():
        matches = [e for e in entries if e.name == name] or [
            e for e in _entries(state, copies=True) if e.name == name
        ]
        settable = [e for e in matches if e.source == STATE]
        if not settable:
            if matches:
                why = {
                    SCHEDULE: "is driven by a schedule, evaluated at every step, so a set value "
                    "would be ignored. Pass a number at construction to control it, or change "
                    "the schedule",
                    GIVEN: "was given as an array to the optimizer's constructor (by an outer "
                    "inject_hyperparams, vmap or a meta-gradient), which owns it. Set it there",
                }[matches[0].source]
                raise ValueError(f"set_hyperparams: {name} {why}.")
            known = sorted({e.name for e in entries})
            raise ValueError(
                f"set_hyperparams: unknown hyperparameter(s) [{name!r}]; this optimizer has "
                f"{known}. An argument given as a Python 0 where 0 turns a term off "
                "(weight_decay, eps_root, momentum, ...) is compiled away: build it as "
                "gradlab.inject_hyperparams(alias)(..., weight_decay=0.0) to keep it settable."
            )
        for e in settable:
            _check_new_value(name, value, e.value)
            current = new.setdefault(id(e.owner), dict(e.owner.hyperparams))
            current[name] = jnp.asarray(value, jnp.asarray(e.value).dtype)
    return _replace_owners(state, new)


__all__ = [
    "InjectState",
    "declare_hyperparams",
    "hyperparams",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
    "set_hyperparams",
]

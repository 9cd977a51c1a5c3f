"""Combinators: build one transformation out of several.

``chain`` runs transformations one after another. ``fan_out`` feeds the *same* incoming updates
to several branches and hands all their outputs, with the input, to a combine function: this is
how Adam reads both moments from the raw gradient and how Lion or a Nesterov look-ahead mixes
the gradient with its momentum. ``divide`` is the fan-out whose combine is a safe division.

Every combinator returns a :class:`GradientTransformationExtraArgs` and forwards the extra
keyword arguments of ``update`` to every stage of that type (see ``with_extra_args_support``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _stages(fn: str, transforms: Sequence[Any]) -> list[GradientTransformationExtraArgs]:
    for i, tx in enumerate(transforms):
        validation.check_transform(fn, f"transform {i}", tx)
    return [with_extra_args_support(tx) for tx in transforms]


def chain(*transforms: Any) -> GradientTransformationExtraArgs:
    r"""Applies transformations in sequence: :math:`u = f_n(\dots f_2(f_1(g)))`.

    Each stage sees the previous stage's output (not the raw gradient: use :func:`fan_out` to
    feed the same gradient to two statistics). Any object with optax's ``init``/``update``
    interface can be a stage, so optax transforms chain with gradlab ones. Extra keyword
    arguments given to ``update`` reach every ``...ExtraArgs`` stage (gradlab's or optax's).

    Args:
      *transforms: the stages, applied left to right.

    Returns:
      A GradientTransformationExtraArgs whose state is the tuple of the stages' states.

    References:
      Matches: ``optax.chain`` (same state layout: a plain tuple).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.chain(gradlab.scale(2.0), gradlab.scale(-0.5))
    >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]
    Array([-1., -1.], dtype=float32)
    """
    stages = _stages("chain", transforms)

    def init(params: Params) -> tuple[OptState, ...]:
        return tuple(tx.init(params) for tx in stages)

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        if not isinstance(state, tuple) or len(state) != len(stages):
            found = f"{len(state)} stage states" if isinstance(state, tuple) else repr(type(state))
            raise ValueError(
                f"chain: the state holds {found} but the chain has {len(stages)} stages. "
                "Build the state with this chain's init()."
            )
        new_state = []
        for tx, s in zip(stages, state, strict=True):
            updates, s = tx.update(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformationExtraArgs(init, update)


def named_chain(*transforms: tuple[str, Any]) -> GradientTransformationExtraArgs:
    r"""Like :func:`chain` (:math:`u = f_n(\dots f_1(g))`), each stage's state under its name.

    Args:
      *transforms: ``(name, transformation)`` pairs, applied left to right; names must differ.

    Returns:
      A GradientTransformationExtraArgs whose state is ``{name: stage state}``.

    References:
      Matches: ``optax.named_chain``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.named_chain(("clip", gradlab.scale(1.0)), ("lr", gradlab.scale(-0.1)))
    >>> sorted(tx.init(jnp.zeros(1)))
    ['clip', 'lr']
    """
    names = [name for name, _ in transforms]
    if len(set(names)) != len(names):
        raise ValueError(f"named_chain: names must be unique, got {names}. Rename the duplicates.")
    stages = list(zip(names, _stages("named_chain", [tx for _, tx in transforms]), strict=True))

    def init(params: Params) -> dict[str, OptState]:
        return {name: tx.init(params) for name, tx in stages}

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        if not isinstance(state, dict) or set(state) != set(names):
            raise ValueError(
                f"named_chain: the state must be a dict with the keys {names}, got "
                f"{sorted(state) if isinstance(state, dict) else type(state).__name__}. "
                "Build the state with this chain's init()."
            )
        new_state = {}
        for name, tx in stages:
            updates, new_state[name] = tx.update(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformationExtraArgs(init, update)


class FanOutState(NamedTuple):
    """The state of each branch of a :func:`fan_out`, in the order the branches were given."""

    branches: tuple[OptState, ...]


def fan_out(
    *branches: Any,
    combine: Callable[..., Any],
    per_leaf: bool = True,
) -> GradientTransformationExtraArgs:
    r"""Feeds the same updates to several branches and combines their outputs with the input.

    .. math:: u_t = c\big(b_1(g_t), \dots, b_n(g_t),\ g_t\big)

    Every branch :math:`b_i` sees the incoming :math:`g_t` itself (a :func:`chain` stage sees the
    previous stage's output instead). This is what makes Adam a composition (both moments are
    statistics of the raw gradient) and what Lion, AdaBelief, Adan and Nesterov's look-ahead need
    (the gradient and its momentum together, after the fan-out).

    Args:
      *branches: transformations, each applied to the incoming updates.
      combine: ``combine(out_1, ..., out_n, updates) -> new updates``; with ``per_leaf=True`` it
        receives the matching *leaves* (arrays) and is mapped over the tree, otherwise it
        receives the whole trees.
      per_leaf: map ``combine`` leaf by leaf (the default) or call it once on the trees.

    Returns:
      A GradientTransformationExtraArgs with state ``FanOutState(branches)``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1 (two statistics of
      one gradient); Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023 (Lion: the sign of a mix of both).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.fan_out(gradlab.trace(0.5), combine=lambda m, g: g + 0.5 * m)  # Nesterov
    >>> tx.update(jnp.ones(1), tx.init(jnp.zeros(1)))[0]
    Array([1.5], dtype=float32)
    """
    validation.check_callable("fan_out", "combine", combine, "lambda m, g: g + 0.9 * m")
    stages = _stages("fan_out", branches)

    def init(params: Params) -> FanOutState:
        return FanOutState(tuple(tx.init(params) for tx in stages))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        if not isinstance(state, FanOutState) or len(state.branches) != len(stages):
            raise ValueError(
                f"fan_out: expected a FanOutState with {len(stages)} branch states, got "
                f"{type(state).__name__}. Build the state with this fan_out's init()."
            )
        outputs, new_states = [], []
        for tx, s in zip(stages, state.branches, strict=True):
            out, s = tx.update(updates, s, params, **extra_args)
            validation.check_structure("fan_out", out, updates, what="incoming updates")
            outputs.append(out)
            new_states.append(s)
        if per_leaf:
            combined = jax.tree.map(combine, *outputs, updates)
        else:
            combined = combine(*outputs, updates)
        return combined, FanOutState(tuple(new_states))

    return GradientTransformationExtraArgs(init, update)


def safe_ratio(n: jax.Array, d: jax.Array) -> jax.Array:
    r""":math:`n / d`, with :math:`0/0` (and any :math:`n/0`) giving :math:`n` instead of NaN/Inf.

    A zero denominator arises only from an all-zero gradient history with no epsilon, where the
    numerator is 0 too: the step is then 0 (optax gives NaN there). The result has ``n``'s dtype.
    It is :func:`divide`'s combine, for use in a :func:`fan_out` of one's own.

    Args:
      n: the numerator (an array).
      d: the denominator (an array broadcastable to ``n``).

    References:
      Differs from optax, whose ``scale_by_rms`` gives NaN for :math:`0/0` at ``eps=0``.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.safe_ratio(jnp.array([0.0, 3.0]), jnp.array([0.0, 2.0]))
    Array([0. , 1.5], dtype=float32)
    """
    return (n / jnp.where(d == 0, jnp.ones_like(d), d)).astype(storage.leaf_dtype(n))


def divide(numerator: Any, denominator: Any) -> GradientTransformationExtraArgs:
    r"""Fans the gradient out to two transformations and divides: :math:`u_t = N(g_t) / D(g_t)`.

    ``fan_out(numerator, denominator, combine=safe_ratio)``: both read the same incoming
    :math:`g_t`. Where :math:`D(g_t) = 0` exactly (an all-zero gradient history with no
    epsilon) the numerator is returned undivided (:func:`safe_ratio`). The square root and the
    epsilons of a preconditioner belong to the denominator's chain (:func:`sqrt`,
    :func:`add_eps`), so the formula reads off the chain.

    Args:
      numerator: transformation giving :math:`N(g_t)`, e.g. a bias-corrected momentum.
      denominator: transformation giving :math:`D(g_t)`, e.g.
        ``chain(ema(b2, order=2), bias_correction(b2), sqrt(), add_eps(eps))``.

    Returns:
      A GradientTransformationExtraArgs with state ``FanOutState((numerator, denominator))``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1 (the ratio
      :math:`\hat m_t / (\sqrt{\hat v_t} + \epsilon)`).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.divide(gradlab.identity(), gradlab.chain(gradlab.moving_average(0.0, order=2),
    ...                                                       gradlab.sqrt()))
    >>> tx.update(jnp.array([-3.0, 2.0]), tx.init(jnp.zeros(2)))[0]  # g / |g|
    Array([-1.,  1.], dtype=float32)
    """
    return fan_out(numerator, denominator, combine=lambda n, d, g: safe_ratio(n, d))


__all__ = ["FanOutState", "chain", "divide", "fan_out", "named_chain", "safe_ratio"]

"""Combinators: build one transformation out of several.

``chain`` runs transformations one after another; ``divide`` fans the same incoming gradient out
to a numerator and a denominator transformation (how Adam reads both moments from the raw
gradient); ``masked`` applies a transformation to a subset of the leaves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates


def _takes_extra_args(tx: Any) -> bool:
    """Whether ``tx.update`` accepts ``**extra_args`` (optax's ExtraArgs transforms do)."""
    try:
        parameters = inspect.signature(tx.update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _updater(tx: Any) -> Callable[..., tuple[Updates, OptState]]:
    """``tx.update`` called with the extra keyword arguments only if it accepts them."""
    if _takes_extra_args(tx):
        return tx.update
    return lambda updates, state, params, **extra_args: tx.update(updates, state, params)


def chain(*transforms: Any) -> GradientTransformation:
    r"""Applies transformations in sequence: :math:`u = f_n(\dots f_2(f_1(g)))`.

    Each stage sees the previous stage's output (not the raw gradient: use :func:`divide` to feed
    the same gradient to two statistics). Any object with optax's ``init``/``update`` interface can
    be a stage, so optax transforms chain with gradlab ones. Extra keyword arguments given to
    ``update`` reach the stages whose ``update`` accepts ``**extra_args``.

    Args:
      *transforms: the stages, applied left to right.

    Returns:
      A GradientTransformation whose state is the tuple of the stages' states.

    References:
      Matches: ``optax.chain`` (same state layout: a plain tuple).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.chain(gradlab.scale(2.0), gradlab.scale(-0.5))
    >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]
    Array([-1., -1.], dtype=float32)
    """
    updaters = [_updater(tx) for tx in transforms]

    def init(params: Params) -> tuple[OptState, ...]:
        return tuple(tx.init(params) for tx in transforms)

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        if len(state) != len(transforms):
            raise ValueError(
                f"chain: the state holds {len(state)} stage states but the chain has "
                f"{len(transforms)} stages. Build the state with this chain's init()."
            )
        new_state = []
        for fn, s in zip(updaters, state, strict=True):
            updates, s = fn(updates, s, params, **extra_args)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def named_chain(*transforms: tuple[str, Any]) -> GradientTransformation:
    r"""Like :func:`chain` (:math:`u = f_n(\dots f_1(g))`), each stage's state under its name.

    Args:
      *transforms: ``(name, transformation)`` pairs, applied left to right; names must differ.

    Returns:
      A GradientTransformation whose state is ``{name: stage state}``.

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
    updaters = [(name, _updater(tx)) for name, tx in transforms]

    def init(params: Params) -> dict[str, OptState]:
        return {name: tx.init(params) for name, tx in transforms}

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        new_state = {}
        for name, fn in updaters:
            updates, new_state[name] = fn(updates, state[name], params, **extra_args)
        return updates, new_state

    return GradientTransformation(init, update)


class DivideState(NamedTuple):
    """The states of the numerator and of the denominator transformations."""

    numerator: OptState
    denominator: OptState


def divide(
    numerator: Any,
    denominator: Any,
    *,
    eps: jax.typing.ArrayLike = 0.0,
    eps_root: jax.typing.ArrayLike = 0.0,
    sqrt: bool = True,
) -> GradientTransformation:
    r"""Fans the gradient out to two transformations and divides their outputs.

    .. math::
        u_t = \frac{N(g_t)}{\sqrt{D(g_t) + \bar\varepsilon} + \varepsilon}
        \quad\text{or, with } \texttt{sqrt=False},\quad u_t = \frac{N(g_t)}{D(g_t) + \varepsilon}

    Both :math:`N` and :math:`D` read the same incoming :math:`g_t`. This is what makes Adam a
    composition: its first and second moments are both statistics of the raw gradient, which a
    plain chain (each stage seeing the previous stage's output) cannot express. Where the
    denominator is exactly 0 (possible only with ``eps = eps_root = 0`` and an all-zero gradient
    history) the numerator is returned undivided instead of 0/0.

    Args:
      numerator: transformation giving :math:`N(g_t)`, e.g. a bias-corrected momentum.
      denominator: transformation giving :math:`D(g_t)`, e.g. a bias-corrected second moment.
      eps: :math:`\varepsilon \ge 0`, added outside the square root (Adam's ``eps``).
      eps_root: :math:`\bar\varepsilon \ge 0`, added inside the square root (optax's
        ``eps_root``; RMSProp's eps in Hinton's lecture and TF).
      sqrt: take the square root of the denominator (second moments); ``False`` for statistics
        already on the gradient's scale (Adamax's infinity norm).

    Returns:
      A GradientTransformation with state ``DivideState(numerator, denominator)``.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1 (the ratio
      :math:`\hat m_t / (\sqrt{\hat v_t} + \epsilon)`).

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.divide(gradlab.identity(), gradlab.ema(0.0, order=2))
    >>> tx.update(jnp.array([-3.0, 2.0]), tx.init(jnp.zeros(2)))[0]  # g / |g|
    Array([-1.,  1.], dtype=float32)
    """
    validation.check_non_negative("divide", "eps", eps, "1e-8")
    validation.check_non_negative("divide", "eps_root", eps_root, "0.0")
    if not sqrt and validation.concrete_value(eps_root) not in (None, 0.0):
        raise ValueError(
            "divide: eps_root only applies under the square root, but sqrt=False. "
            "Pass eps= instead, or sqrt=True."
        )
    numerator_update, denominator_update = _updater(numerator), _updater(denominator)

    eps_is_zero = validation.concrete_value(eps) == 0

    def ratio(n: jax.Array, d: jax.Array) -> jax.Array:
        if sqrt and eps_is_zero:  # one rsqrt, as optax's scale_by_rms/rss/stddev compute it
            d = d + eps_root
            return n * jax.lax.rsqrt(jnp.where(d == 0, jnp.ones_like(d), d))
        d = jnp.sqrt(d + eps_root) + eps if sqrt else d + eps
        return n / jnp.where(d == 0, jnp.ones_like(d), d)

    def init(params: Params) -> DivideState:
        return DivideState(numerator.init(params), denominator.init(params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        num, num_state = numerator_update(updates, state.numerator, params, **extra_args)
        den, den_state = denominator_update(updates, state.denominator, params, **extra_args)
        tree.check_structure("divide", num, den, what="denominator")
        out = jax.tree.map(lambda n, d: ratio(n, d).astype(n.dtype), num, den)
        return out, DivideState(num_state, den_state)

    return GradientTransformation(init, update)


class MaskedState(NamedTuple):
    """The inner transformation's state, holding ``None`` at the leaves the mask leaves out."""

    inner_state: OptState


def _mask_out(tree_: Any, mask: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``tree_`` with the leaves where ``mask`` (a prefix tree of bools) is False set to None.

    ``is_leaf`` marks nodes to drop whole (e.g. ``nnx.Variable``s, so none is left holding None).
    """
    return jax.tree.map(
        lambda m, sub: sub if m else jax.tree.map(lambda _: None, sub, is_leaf=is_leaf),
        mask,
        tree_,
    )


def _merge(updates: Updates, new: Updates) -> Updates:
    """``updates`` with the leaves that ``new`` holds (those that are not None) taken from it."""
    return jax.tree.map(
        lambda g, u: g if u is None else u, updates, new, is_leaf=lambda x: x is None
    )


def masked(inner: Any, mask: Any) -> GradientTransformation:
    r"""Applies ``inner`` to the leaves where ``mask`` is True; the others pass unchanged.

    .. math:: u_i = \begin{cases} f(g)_i & \text{mask}_i \\ g_i & \text{otherwise}\end{cases}

    Args:
      inner: the transformation to apply to the selected leaves.
      mask: a tree of bools with the structure of the params (or a prefix of it), or a function
        ``params -> such a tree``. ``True`` selects a leaf or a whole subtree.

    Returns:
      A GradientTransformation; its state holds the inner state only for the selected leaves.

    References:
      Matches: ``optax.masked``.

    >>> import jax.numpy as jnp, gradlab
    >>> tx = gradlab.masked(gradlab.scale(0.0), {"w": True, "b": False})
    >>> g = {"w": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(g, tx.init(g))[0]
    {'b': Array([1.], dtype=float32), 'w': Array([0.], dtype=float32)}
    """
    inner_update = _updater(inner)

    def resolve(tree_: Any) -> Any:
        return mask(tree_) if callable(mask) else mask

    def init(params: Params) -> MaskedState:
        return MaskedState(inner.init(_mask_out(params, resolve(params))))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        m = resolve(updates)
        inner_params = None if params is None else _mask_out(params, m)
        new, inner_state = inner_update(
            _mask_out(updates, m), state.inner_state, inner_params, **extra_args
        )
        return _merge(updates, new), MaskedState(inner_state)

    return GradientTransformation(init, update)


__all__ = ["DivideState", "MaskedState", "chain", "divide", "masked", "named_chain"]

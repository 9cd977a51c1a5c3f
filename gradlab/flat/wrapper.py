r"""Run an elementwise GradientTransformation on flat buffers: same numbers, a few-buffer state.

An optimizer is *elementwise* when each coordinate's update depends only on that coordinate's
gradient, parameter and state (plus scalars shared by all coordinates: the step count,
schedules). Such an optimizer gives the same numbers whether it sees the leaves one by one or
packed into one long buffer per dtype (:mod:`gradlab.flat.buffers`); packed, its state is a few
buffers and its step a few long loops. :func:`on_flat_buffers` packs, runs and unpacks.

Elementwise (checked equal to the per-leaf optimizer, to 2 ulps, in ``tests/test_flat.py``):
the aliases in :data:`ELEMENTWISE_ALIASES`. **Not** elementwise, refused: every optimizer with a
per-leaf (per-layer) statistic or shape-dependent rule, because on one buffer the "leaf" becomes
the whole buffer: ``lars``, ``lamb``, ``novograd`` (per-layer norms), ``muon`` (orthogonalizes
matrices; 1-D buffers would silently fall back to Adam), ``adafactor`` (row/column factors),
``clip_by_block_rms``, ``scale_by_trust_ratio``, ``prodigy``; also global reductions
(``clip_by_global_norm``, ``apply_if_finite``), which are equal only up to summation order,
and random noise (``add_noise``), whose draws depend on the leaf shapes. Wrap those *outside*:
``apply_if_finite(on_flat_buffers(adam(...)), 5)`` or ``chain(clip_by_global_norm(1.0),
on_flat_buffers(adam(...)))`` run the global part on the tree and the elementwise part flat.

The check (:func:`check_elementwise`) never trusts a name: it traces ``init`` and ``update`` on
the params' shapes and refuses any operation that mixes coordinates (a reduction, a matrix
product, a reshape, a slice, a gather, a broadcast of a non-scalar, random bits, ...); and it
traces them again with every leaf reshaped to 1-D and refuses a program that changes (a rule
that reads a leaf's shape, such as a fan-in scaling). The assumptions left: the rule does not
depend on the number of leaves, nor treat 0-d leaves apart (they are compared as 0-d).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.extend import core as jax_core

from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)
from gradlab.flat.buffers import FlatBuffers, FlatLayout, make_layout

#: gradlab aliases that are elementwise: ``on_flat_buffers(alias(...))`` equals ``alias(...)``
#: to 2 ulps (tests/test_flat.py runs each one, jitted, on a mixed f32/bf16 tree).
ELEMENTWISE_ALIASES = (
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "amsgrad",
    "nadamw",
    "adamaxw",
    "lion",
    "sign_sgd",
    "signum",
    "radam",
    "adabelief",
    "yogi",
    "adopt",
    "adan",
    "ademamix",
    "schedule_free_adamw",
    "schedule_free_sgd",
)
#: gradlab optimizers that are not elementwise; :func:`on_flat_buffers` refuses them.
NOT_ELEMENTWISE = ("lars", "lamb", "novograd", "muon", "adafactor", "prodigy")

# Primitives that map each coordinate on its own (given operands of one shape or scalars).
_ELEMENTWISE_PRIMITIVES = frozenset(
    """abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp conj convert_element_type
    copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma imag
    integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg nextafter not or
    population_count pow real reduce_precision rem round rsqrt select_n shift_left
    shift_right_arithmetic shift_right_logical sign sin sinh sqrt square sub tan tanh xor""".split()
)


class FlatState(NamedTuple):
    """The inner transformation's state, built on the flat buffers (a few arrays per moment)."""

    inner_state: OptState  # e.g. adam's moments as FlatBuffers: one buffer per dtype


class NotElementwiseError(ValueError):
    """A transformation that would give other numbers on flat buffers than on the leaves."""


def _sub_jaxprs(value: Any) -> list[Any]:
    values = value if isinstance(value, tuple | list) else (value,)
    found = []
    for v in values:
        if isinstance(v, jax_core.ClosedJaxpr):
            found.append(v.jaxpr)
        elif isinstance(v, jax_core.Jaxpr):
            found.append(v)
    return found


def _shape(var: Any) -> tuple[int, ...]:
    return tuple(getattr(var.aval, "shape", ()))


def _mixing_ops(jaxpr: Any, found: list[str]) -> None:
    """Appends a description of every equation of ``jaxpr`` that mixes coordinates."""
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        shapes = [_shape(v) for v in (*eqn.invars, *eqn.outvars)]
        subs = [j for value in eqn.params.values() for j in _sub_jaxprs(value)]
        if subs:  # jit, cond, while, custom_jvp_call, ...: look inside
            for sub in subs:
                _mixing_ops(sub, found)
            continue
        if all(s == () for s in shapes):
            continue  # scalar arithmetic (counts, schedules) touches no coordinate
        if name == "broadcast_in_dim" and _shape(eqn.invars[0]) == ():
            continue  # a scalar spread over an array
        out = {_shape(v) for v in eqn.outvars}
        ins = {_shape(v) for v in eqn.invars} - {()}
        if name in _ELEMENTWISE_PRIMITIVES and len(out) == 1 and ins <= out:
            continue
        found.append(f"{name} on shapes {[list(s) for s in shapes]}")


def _signature(jaxpr: Any, consts: Any = ()) -> list[Any]:
    """The program without its shapes: primitives, literal values and constants, recursively."""
    sig: list[Any] = [repr(np.asarray(c).tolist()) for c in consts]
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "broadcast_in_dim":
            continue  # spreads a scalar: present for 1-D leaves, absent for 0-d ones
        literals = tuple(repr(v.val) for v in eqn.invars if isinstance(v, jax_core.Literal))
        subs = [_signature(j) for value in eqn.params.values() for j in _sub_jaxprs(value)]
        sig.append((eqn.primitive.name, literals, subs))
    return sig


def _trace(inner: Any, specs: Any) -> tuple[Any, Any]:
    """Jaxprs of ``inner.init`` and ``inner.update`` on abstract params ``specs``."""
    init = jax.make_jaxpr(inner.init)(specs)
    state = jax.eval_shape(inner.init, specs)
    update = jax.make_jaxpr(lambda u, s, p: inner.update(u, s, p))(specs, state, specs)
    return init, update


def check_elementwise(inner: Any, params: Params | FlatLayout) -> None:
    r"""Raises unless ``inner`` is elementwise on these params (see the module docstring).

    Traces ``inner.init`` and ``inner.update(g, state, params)`` on the params' shapes and
    dtypes (nothing is computed) and checks (1) that every operation maps coordinates one to
    one, scalars aside, and (2) that the program is the same with every leaf reshaped to 1-D.

    Args:
      inner: a GradientTransformation (gradlab's or optax's); its ``update`` must run without
        extra arguments.
      params: the params (arrays or ``jax.ShapeDtypeStruct`` leaves) or their
        :class:`FlatLayout`.

    Returns:
      None. Raises :class:`NotElementwiseError` naming the first offending operations.

    >>> import jax.numpy as jnp, gradlab, gradlab.flat
    >>> gradlab.flat.check_elementwise(gradlab.adam(1e-3), {"w": jnp.ones((2, 3))})
    >>> try:
    ...     gradlab.flat.check_elementwise(gradlab.lamb(1e-3), {"w": jnp.ones((2, 3))})
    ... except gradlab.flat.NotElementwiseError as error:
    ...     print(str(error)[:41])
    on_flat_buffers: inner is not elementwise
    """
    layout = params if isinstance(params, FlatLayout) else make_layout(params)
    dtypes = [layout.dtypes[s.buffer] for s in layout.slots]
    specs = [jax.ShapeDtypeStruct(s.shape, d) for s, d in zip(layout.slots, dtypes, strict=True)]
    vectors = [  # every leaf as a vector (0-d leaves stay 0-d: jnp spells their ops differently)
        jax.ShapeDtypeStruct((s.size,) if s.shape else (), d)
        for s, d in zip(layout.slots, dtypes, strict=True)
    ]
    tree_specs = jax.tree.unflatten(layout.treedef, specs)
    tree_vectors = jax.tree.unflatten(layout.treedef, vectors)
    try:
        traced = _trace(inner, tree_specs)
        traced_1d = _trace(inner, tree_vectors)
    except Exception as error:  # noqa: BLE001 - any failure to trace means "cannot check"
        raise NotElementwiseError(
            f"on_flat_buffers: could not trace inner's init/update on the params' shapes "
            f"({type(error).__name__}: {error}). If it needs extra arguments and you know it is "
            "elementwise, pass assume_elementwise=True."
        ) from error
    found: list[str] = []
    for closed in traced:
        _mixing_ops(closed.jaxpr, found)
    if not found:
        same = all(
            _signature(a.jaxpr, a.consts) == _signature(b.jaxpr, b.consts)
            for a, b in zip(traced, traced_1d, strict=True)
        )
        if not same:
            found.append("a rule that depends on the leaves' shapes (it changes on 1-D leaves)")
    if found:
        distinct = list(dict.fromkeys(found))
        listed, more = "; ".join(distinct[:3]), len(distinct) - 3
        raise NotElementwiseError(
            f"on_flat_buffers: inner is not elementwise, so on flat buffers it would compute "
            f"other numbers: {listed}{f' (and {more} more)' if more > 0 else ''}. Keep it on "
            "the leaves, or wrap only its elementwise part (e.g. chain(clip_by_global_norm(1.0), "
            "on_flat_buffers(adam(1e-3))))."
        )


def on_flat_buffers(inner: Any, *, assume_elementwise: bool = False) -> Any:
    r"""Runs the elementwise transformation ``inner`` on flat buffers: same numbers, flat state.

    .. math::
        (u, S) = \big(P^{-1}(u'),\ S'\big), \qquad (u', S') = f\big(P(g), S, P(\theta)\big)

    where :math:`P` packs a tree into one 1-D buffer per dtype (:func:`gradlab.flat.flatten`)
    and :math:`f` is ``inner``. For elementwise ``inner`` every coordinate sees the same
    arithmetic, so :math:`u` equals ``inner``'s per-leaf output to rounding (2 ulps: XLA may
    contract ``a*b+c`` differently per shape), while the state is a few buffers.
    Updates and params may be given as trees (packed at each step, unpacked on the way out:
    the output is a tree) or as :class:`~gradlab.flat.FlatBuffers` (no packing: the output is
    buffers; keep the params flat for the optimizer step, but see the note on gradients).

    With the params kept as buffers, take ``jax.grad`` of ``loss(unflatten(buffers))`` with
    respect to the buffers: unflattening is one ``lax.split`` per buffer, whose transpose is
    one concatenation, so the flat gradients cost one copy (docs/bench/cpu.md, ``mlp adam``).

    Args:
      inner: a GradientTransformation, gradlab's or optax's. ``init`` checks that it is
        elementwise (:func:`check_elementwise`) and raises :class:`NotElementwiseError`
        otherwise: this wrapper never silently changes numbers.
      assume_elementwise: skip the check (for a transformation that needs extra arguments to
        trace, or one that is equal only up to rounding, such as a global-norm clip). You then
        vouch for the numbers.

    Returns:
      A GradientTransformationExtraArgs with state :class:`FlatState` (extra arguments are
      forwarded to ``inner`` unchanged).

    References:
      Matches: ``inner`` applied per leaf, exactly, for the aliases in
      :data:`ELEMENTWISE_ALIASES`, to 2 ulps (tests/test_flat.py, mixed dtypes, 3 jitted steps).

    >>> import jax.numpy as jnp, gradlab, gradlab.flat
    >>> params = {"b": jnp.zeros(2), "w": jnp.ones((2, 2))}
    >>> tx = gradlab.flat.on_flat_buffers(gradlab.adam(0.1))
    >>> state = tx.init(params)
    >>> [x.shape for x in jax.tree.leaves(state) if x.ndim]  # two moments, one buffer each
    [(6,), (6,)]
    >>> updates, state = tx.update(params, state, params)
    >>> updates["w"]
    Array([[-0.1, -0.1],
           [-0.1, -0.1]], dtype=float32)
    """
    inner_tx = with_extra_args_support(inner)

    def init(params: Params) -> FlatState:
        flat = params if isinstance(params, FlatBuffers) else make_layout(params).flatten(params)
        if not assume_elementwise:
            check_elementwise(inner_tx, flat.layout)
        return FlatState(inner_state=inner_tx.init(flat))

    def update(
        updates: Updates, state: FlatState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, FlatState]:
        if not isinstance(state, FlatState):
            raise TypeError(
                f"on_flat_buffers: state must be the FlatState made by this transformation's "
                f"init, got {type(state).__name__}."
            )
        given_flat = isinstance(updates, FlatBuffers)
        flat_updates = updates if given_flat else make_layout(updates).flatten(updates)
        layout = flat_updates.layout
        if params is None or isinstance(params, FlatBuffers):
            flat_params = params
        else:
            flat_params = layout.flatten(params)
        if flat_params is not None:
            layout.check_matches("on_flat_buffers: params", flat_params.layout)
        new_updates, inner_state = inner_tx.update(
            flat_updates, state.inner_state, flat_params, **extra_args
        )
        out = new_updates if given_flat else layout(new_updates)
        return out, FlatState(inner_state=inner_state)

    return GradientTransformationExtraArgs(init, update)


__all__ = [
    "ELEMENTWISE_ALIASES",
    "NOT_ELEMENTWISE",
    "FlatState",
    "NotElementwiseError",
    "check_elementwise",
    "on_flat_buffers",
]

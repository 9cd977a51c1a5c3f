r"""Property checks every gradient transformation should pass, gradlab's and users' alike.

:func:`check_transformation` runs a transformation for a few steps on the user's params and
asserts the contracts that training loops rely on:

* **structure**: the updates have the params' tree structure, shapes and dtypes, and
  :func:`gradlab.apply_updates` keeps the params' dtypes;
* **state layout**: the state after ``update`` has the tree structure, shapes and dtypes of the
  state ``init`` built (what ``jax.lax.scan`` and a donated ``jit`` step need), and
  ``jax.eval_shape(tx.init, params)`` agrees with ``init``;
* **finite state**: every floating state leaf stays finite for finite gradients;
* **jit = eager**: the jitted steps give the eager steps' updates and states (to ``rtol``);
* **vmap = loop**: ``init`` and the steps mapped over a leading axis of two stacked copies of
  the problem give what running each copy alone gives;
* **serialization**: the state survives ``pickle`` (and ``flax.serialization`` msgpack when
  flax is installed) and the restored state continues bit-identically.

Each check is also a function of its own, so a test can pick the ones that apply.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from gradlab.core.base import GradientTransformation, apply_updates

CHECKS = ("structure", "state_layout", "finite", "jit", "vmap", "serialization")

Gradients = Callable[[Any, Any, int], Any]  # (params, grads, step) -> gradients at that step


class Trajectory(NamedTuple):
    """What :func:`run_steps` returns: the updates of every step and the final params/state."""

    updates: list[Any]
    params: Any
    state: Any


def _is_inexact(x: Any) -> bool:
    return x is not None and jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def varying_gradients(params: Any, grads: Any, step: int) -> Any:
    r"""The default gradient sequence: :math:`g_t = g\,(1 + t/2) + \tfrac{1}{10}\theta_t`.

    It changes with the step (so moments move) and depends on the current params (so the
    trajectory feeds back); non-floating leaves and ``None`` pass through.
    """

    def leaf(g: Any, p: Any) -> Any:
        if not _is_inexact(g):
            return g
        return (g * (1 + 0.5 * step) + 0.1 * p).astype(jnp.result_type(g))

    return jax.tree.map(leaf, grads, params)


def run_steps(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    steps: int = 3,
    *,
    state: Any = None,
    update: Callable[..., Any] | None = None,
    gradients: Gradients = varying_gradients,
    extra_args: dict[str, Any] | None = None,
) -> Trajectory:
    """``steps`` updates from ``params`` (and ``state``, else ``tx.init(params)``).

    ``update`` replaces ``tx.update`` (pass ``jax.jit(tx.update)`` to run jitted steps).
    """
    update = tx.update if update is None else update
    state = tx.init(params) if state is None else state
    outs = []
    for t in range(steps):
        u, state = update(gradients(params, grads, t), state, params, **(extra_args or {}))
        params = apply_updates(params, u)
        outs.append(u)
    return Trajectory(outs, params, state)


def check_structure(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    *,
    trajectory: Trajectory | None = None,
    **kwargs: Any,
) -> None:
    """Updates have the params' structure, shapes and dtypes; new params keep their dtypes.

    ``trajectory``: the eager run to inspect (``run_steps(tx, params, grads, **kwargs)`` if
    not given), here and in the other checks, so that one run serves several checks.
    """
    run = run_steps(tx, params, grads, **kwargs) if trajectory is None else trajectory
    for t, u in enumerate(run.updates):
        msg = f"structure: updates of step {t + 1}"
        assert str(jax.tree.structure(u)) == str(jax.tree.structure(params)), (
            f"{msg} have tree structure {jax.tree.structure(u)}, the params "
            f"{jax.tree.structure(params)}"
        )
        chex.assert_trees_all_equal_shapes_and_dtypes(u, params, custom_message=msg)
    chex.assert_trees_all_equal_shapes_and_dtypes(
        run.params, params, custom_message="structure: params after apply_updates"
    )


def check_state_layout(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    *,
    trajectory: Trajectory | None = None,
    **kwargs: Any,
) -> None:
    """The state keeps init's structure, shapes and dtypes; ``eval_shape(init)`` agrees."""
    state = tx.init(params)
    shapes = jax.eval_shape(tx.init, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(
        state, shapes, custom_message="state_layout: init vs jax.eval_shape(init)"
    )
    if trajectory is None:
        trajectory = run_steps(tx, params, grads, state=state, **kwargs)
    after = trajectory.state
    assert str(jax.tree.structure(after)) == str(jax.tree.structure(state)), (
        f"state_layout: update changed the state's tree structure from "
        f"{jax.tree.structure(state)} to {jax.tree.structure(after)}"
    )
    chex.assert_trees_all_equal_shapes_and_dtypes(
        after, state, custom_message="state_layout: state after update vs init's"
    )


def check_finite_state(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    *,
    trajectory: Trajectory | None = None,
    **kwargs: Any,
) -> None:
    """Every floating leaf of the state is finite after the steps (for finite gradients)."""
    if trajectory is None:
        trajectory = run_steps(tx, params, grads, **kwargs)
    state = trajectory.state
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if _is_inexact(leaf):
            assert bool(jnp.all(jnp.isfinite(leaf))), (
                f"finite: state leaf {jax.tree_util.keystr(path)} is not finite: {leaf}"
            )


def check_jit_equals_eager(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    trajectory: Trajectory | None = None,
    **kwargs: Any,
) -> None:
    """Jitted ``init``/``update`` give the eager updates and states."""
    eager = run_steps(tx, params, grads, **kwargs) if trajectory is None else trajectory
    jitted = run_steps(
        tx, params, grads, state=jax.jit(tx.init)(params), update=jax.jit(tx.update), **kwargs
    )
    chex.assert_trees_all_close(
        (jitted.updates, jitted.state),
        (eager.updates, eager.state),
        rtol=rtol,
        atol=atol,
        custom_message="jit: jitted vs eager (updates, state)",
    )


def _stack(a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.stack([x, y]), a, b)


def check_vmap_equals_loop(
    tx: GradientTransformation,
    params: Any,
    grads: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    steps: int = 3,
    **kwargs: Any,
) -> None:
    """``init`` and the steps under ``jax.vmap`` over two stacked problems equal each alone.

    The second problem is the first with params and gradients scaled by 1/2 (floating leaves).
    Both sides run jitted (``jit`` = eager is :func:`check_jit_equals_eager`'s).
    """
    half = jax.tree.map(lambda x: x / 2 if _is_inexact(x) else x, (params, grads))
    problems = [(params, grads), half]

    def run(p: Any, g: Any) -> Any:
        out = run_steps(tx, p, g, steps, **kwargs)
        return out.updates, out.state

    batched = jax.jit(jax.vmap(run, axis_size=2))(*_stack(*problems))
    for i, (p, g) in enumerate(problems):
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], batched),
            jax.jit(run)(p, g),
            rtol=rtol,
            atol=atol,
            custom_message=f"vmap: vmapped entry {i} vs the problem alone (updates, state)",
        )


def check_serialization(tx: GradientTransformation, params: Any, grads: Any, **kwargs: Any) -> None:
    """The state survives pickle (and flax msgpack, if flax is installed) and continues
    bit-identically from the restored copy.

    The steps run jitted, as training does: a restored state holds NumPy arrays, and eager
    arithmetic on NumPy and JAX scalars may round differently.
    """
    kwargs = {"update": jax.jit(tx.update), **kwargs}
    mid = run_steps(tx, params, grads, **kwargs)
    restored = [pickle.loads(pickle.dumps(jax.device_get(mid.state)))]
    try:
        from flax import serialization

        has_flax = True
    except ImportError:  # flax is optional: pickle alone then
        has_flax = False
    if has_flax:
        template = tx.init(params)
        restored.append(serialization.from_bytes(template, serialization.to_bytes(mid.state)))
    expected = run_steps(tx, mid.params, grads, state=mid.state, **kwargs)
    for how, state in zip(("pickle", "msgpack"), restored, strict=False):
        chex.assert_trees_all_equal(
            state, mid.state, custom_message=f"serialization: {how} round trip"
        )
        again = run_steps(tx, mid.params, grads, state=state, **kwargs)
        chex.assert_trees_all_equal(
            (again.updates, again.state),
            (expected.updates, expected.state),
            custom_message=f"serialization: steps after a {how} round trip",
        )


CHECK_FUNCTIONS: dict[str, Callable[..., None]] = {
    "structure": check_structure,
    "state_layout": check_state_layout,
    "finite": check_finite_state,
    "jit": check_jit_equals_eager,
    "vmap": check_vmap_equals_loop,
    "serialization": check_serialization,
}


def check_transformation(
    tx: GradientTransformation,
    params: Any,
    grads: Any = None,
    *,
    checks: Sequence[str] = CHECKS,
    steps: int = 3,
    gradients: Gradients = varying_gradients,
    extra_args: dict[str, Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    r"""Asserts the contracts of a gradient transformation on ``params`` (see the module doc).

    The gradient at step :math:`t` is ``gradients(params_t, grads, t)``; by default
    :math:`g_t = g\,(1 + t/2) + \theta_t / 10`, so moments move and the trajectory depends on
    the params.

    Args:
      tx: the transformation to check (gradlab's, optax's, or a user's).
      params: a pytree of arrays (dicts, lists, ``None`` leaves, scalars, any dtype).
      grads: gradients with the params' structure; default ``cos(params)``.
      checks: which checks to run, a subset of ``CHECKS`` (``"structure"``,
        ``"state_layout"``, ``"finite"``, ``"jit"``, ``"vmap"``, ``"serialization"``).
      steps: steps per check; default 3.
      gradients: ``(params, grads, step) -> gradients``; default :func:`varying_gradients`.
      extra_args: keyword arguments for every ``update`` (a loss ``value``, for instance).
      rtol, atol: tolerances of the jit and vmap comparisons (use ~1e-2 for bf16 params).

    Raises:
      AssertionError: naming the failed check and the leaf or step where it failed.
      ValueError: for an unknown check name.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.testing import check_transformation
    >>> check_transformation(gradlab.adam(1e-3), {"w": jnp.ones((2, 3)), "b": None})
    """
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValueError(
            f"check_transformation: unknown checks {unknown}; pass a subset of {list(CHECKS)}."
        )
    if grads is None:
        grads = jax.tree.map(lambda p: jnp.cos(p) if _is_inexact(p) else p, params)
    kwargs: dict[str, Any] = {"steps": steps, "gradients": gradients, "extra_args": extra_args}
    eager = None
    if {"structure", "state_layout", "finite", "jit"} & set(checks):
        eager = run_steps(tx, params, grads, **kwargs)  # one eager run serves these four
    for name in checks:
        fn, extra = CHECK_FUNCTIONS[name], dict[str, Any]()
        if name in ("jit", "vmap"):
            extra = {"rtol": rtol, "atol": atol}
        if name in ("structure", "state_layout", "finite", "jit"):
            extra["trajectory"] = eager
        fn(tx, params, grads, **extra, **kwargs)

r"""Comparison against a reference implementation: two transformations on the same problem.

:func:`run_side_by_side` runs a transformation and a reference (optax's, or a textbook one
written as a transformation) on the same objective, each from the same params, in one jitted
``jax.lax.scan``: each follows its own trajectory, so a difference at step 1 shows at step 200.
:func:`compare_with_reference` asserts the two trajectories agree, elementwise or normwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core.base import GradientTransformation, apply_updates


class SideBySide(NamedTuple):
    """The final params of both runs and the updates of every step (leading axis: the step)."""

    params: Any
    reference_params: Any
    updates: Any
    reference_updates: Any


def run_side_by_side(
    tx: GradientTransformation,
    reference: Any,
    params: Any,
    loss: Callable[[Any], jax.Array],
    steps: int = 200,
    *,
    apply_reference_updates: Callable[[Any, Any], Any] = apply_updates,
    compiler_options: dict[str, Any] | None = None,
) -> SideBySide:
    r"""``steps`` steps of :math:`\theta \leftarrow \theta + u(\nabla L(\theta))` for both.

    Args:
      tx: the transformation under test.
      reference: any object with ``init``/``update`` (an optax transformation, say).
      params: the starting point of both runs.
      loss: :math:`L(\theta)`, a scalar function of the params (its gradient drives both runs).
      steps: number of steps; default 200.
      apply_reference_updates: how the reference's updates are applied (e.g.
        ``optax.apply_updates``); default :func:`gradlab.apply_updates`.
      compiler_options: XLA options for the one ``jax.jit`` (e.g. lower optimisation levels for
        short runs whose time is compilation).

    Returns:
      A :class:`SideBySide` of numpy-convertible arrays.
    """

    def step(carry: Any, _: Any) -> Any:
        (p, s), (q, r) = carry
        u, s = tx.update(jax.grad(loss)(p), s, p)
        v, r = reference.update(jax.grad(loss)(q), r, q)
        p, q = apply_updates(p, u), apply_reference_updates(q, v)
        return ((p, s), (q, r)), (u, v)

    def run(params: Any) -> Any:
        init = ((params, tx.init(params)), (params, reference.init(params)))
        ((p, _), (q, _)), (us, vs) = jax.lax.scan(step, init, None, length=steps)
        return SideBySide(p, q, us, vs)

    return jax.jit(run, compiler_options=compiler_options)(params)


def assert_trees_normwise_close(actual: Any, desired: Any, rtol: float) -> None:
    r"""Per leaf, :math:`\max|a - d| \le \text{rtol}\cdot\max|d|`.

    Elementwise ``rtol`` is meaningless where an update crosses zero: two float32
    implementations one ulp apart early differ by more than that, relatively, there.
    """
    for (path, a), d in zip(
        jax.tree_util.tree_leaves_with_path(actual), jax.tree.leaves(desired), strict=True
    ):
        a, d = np.asarray(a), np.asarray(d)
        err = float(np.max(np.abs(a - d), initial=0.0))
        scale = float(np.max(np.abs(d), initial=0.0))
        assert err <= rtol * scale, (
            f"{jax.tree_util.keystr(path)}: max |error| {err:.3g} > rtol {rtol:g} x max |desired| "
            f"{scale:.3g}"
        )


def compare_with_reference(
    tx: GradientTransformation,
    reference: Any,
    params: Any,
    loss: Callable[[Any], jax.Array],
    steps: int = 200,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    normwise: bool = False,
    **kwargs: Any,
) -> SideBySide:
    r"""Asserts ``tx`` follows ``reference``'s trajectory (updates of every step, final params).

    Args:
      tx, reference, params, loss, steps: as :func:`run_side_by_side` (``kwargs`` too).
      rtol, atol: elementwise tolerances (``normwise=False``); defaults for float64.
      normwise: compare with :func:`assert_trees_normwise_close` at ``rtol`` instead (float32
        runs, where entries cross zero).

    Returns:
      The :class:`SideBySide` runs, for further checks.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.testing import compare_with_reference
    >>> loss = lambda p: jnp.sum((p["w"] - 1.0) ** 2)
    >>> params = {"w": jnp.zeros(3)}
    >>> run = compare_with_reference(
    ...     gradlab.sgd(0.1), gradlab.chain(gradlab.scale(-0.1)), params, loss, 20, rtol=1e-6
    ... )
    """
    run = run_side_by_side(tx, reference, params, loss, steps, **kwargs)
    if normwise:
        assert_trees_normwise_close(run.updates, run.reference_updates, rtol)
        assert_trees_normwise_close(run.params, run.reference_params, rtol)
    else:
        chex.assert_trees_all_close(
            run.updates, run.reference_updates, rtol=rtol, atol=atol, custom_message="updates"
        )
        chex.assert_trees_all_close(
            run.params, run.reference_params, rtol=rtol, atol=atol, custom_message="params"
        )
    for a, b in zip(jax.tree.leaves(run.params), jax.tree.leaves(params), strict=True):
        assert jnp.result_type(a) == jnp.result_type(b), (jnp.result_type(a), jnp.result_type(b))
    return run

r"""Model averaging over a mesh axis: local SGD (average every :math:`k` steps) and EASGD.

Synchronous SGD (:mod:`gradlab.parallel.gradient_averaging`) communicates every step. The two
schemes here let the :math:`N` workers (the devices along ``axis_name``, inside
``jax.shard_map``) hold *different* params :math:`\theta^i_t` and communicate less, or more
softly:

* **Local SGD / periodic model averaging** (:func:`periodic_averaging`, :func:`local_sgd`):
  each worker steps on its own gradients, and every :math:`k`-th step the params are replaced
  by their mean over the workers. :math:`k = 1` is synchronous SGD.
* **Elastic averaging SGD** (:func:`easgd`): each worker is pulled toward a center variable
  :math:`\tilde\theta` by an elastic force of strength :math:`\rho`, and the center moves
  toward the workers (the synchronous EASGD of Zhang et al., Eq. 5-6).

Both transforms need ``params`` in ``update`` and run their collectives (``pmean``, ``psum``)
over ``axis_name``; give each worker its own params (e.g. a leading worker axis sharded over
``axis_name``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    with_extra_args_support,
)
from gradlab.optimizers.gradient_descent import sgd
from gradlab.parallel.gradient_averaging import check_axis_name


class PeriodicAveragingState(NamedTuple):
    """The step count and the wrapped (local) optimizer's state."""

    count: jax.Array  # type: ignore[assignment]  # int32 (shadows tuple.count): steps taken so far
    inner_state: OptState


def periodic_averaging(
    inner: Any, every: int, axis_name: str | tuple[str, ...] = "data"
) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` on each worker and averages the params every ``every`` steps.

    With :math:`u^i_t` the update of ``inner`` on worker :math:`i` and :math:`k` = ``every``:

    .. math::
        \theta^i_{t+1} = \begin{cases}
            \frac1N \sum_{j=1}^N (\theta^j_t + u^j_t) & \text{if } (t+1) \bmod k = 0 \\
            \theta^i_t + u^i_t & \text{otherwise}
        \end{cases}

    (:math:`t = 0, 1, \dots`), returned as the update :math:`\theta^i_{t+1} - \theta^i_t`. Only
    the params are averaged; the inner states (momenta, moments) stay local. The average runs
    inside ``jax.lax.cond``, so the steps in between communicate nothing.

    Args:
      inner: the local optimizer, e.g. ``gradlab.sgd(0.1)``.
      every: :math:`k \ge 1`, the averaging period; 1 averages after every step.
      axis_name: the mesh axis of the workers.

    Returns:
      A GradientTransformationExtraArgs with state ``PeriodicAveragingState(count,
      inner_state)``; its ``update`` needs ``params``.

    References:
      Stich, `Local SGD Converges Fast and Communicates Little
      <https://arxiv.org/abs/1805.09767>`_, 2019, Alg. 1; Lin et al., `Don't Use Large
      Mini-Batches, Use Local SGD <https://arxiv.org/abs/1808.07217>`_, 2020. Matches: the
      update equations in float64 numpy, and synchronous SGD for :math:`k = 1`
      (tests/test_parallel.py, rtol 1e-12).

    >>> import jax, jax.numpy as jnp, gradlab
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    >>> tx = periodic_averaging(gradlab.sgd(0.5), every=2)
    >>> def step(g, p):
    ...     return tx.update(g, tx.init(p), p)[0]
    >>> jax.shard_map(step, mesh=mesh, in_specs=P("data"), out_specs=P("data"))(
    ...     jnp.array([2.0]), jnp.array([1.0]))
    Array([-1.], dtype=float32)
    """
    fn = "periodic_averaging"
    validation.check_transform(fn, "inner", inner)
    validation.check_count(fn, "every", every, 1, "8")
    check_axis_name(fn, axis_name)
    inner = with_extra_args_support(inner)

    def init(params: Params) -> PeriodicAveragingState:
        return PeriodicAveragingState(jnp.zeros([], jnp.int32), inner.init(params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, PeriodicAveragingState)
        validation.require_params(fn, params, updates)
        local, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        count = tree.safe_increment(state.count)

        def averaged() -> Updates:
            return jax.tree.map(
                lambda p, u: (jax.lax.pmean(p + u, axis_name) - p).astype(u.dtype), params, local
            )

        new_updates = jax.lax.cond(count % every == 0, averaged, lambda: local)
        return new_updates, PeriodicAveragingState(count, inner_state)

    return GradientTransformationExtraArgs(init, update)


def local_sgd(
    learning_rate: ScalarOrSchedule, every: int, axis_name: str | tuple[str, ...] = "data"
) -> GradientTransformationExtraArgs:
    r"""Local SGD: :math:`k` plain SGD steps per worker, then the params are averaged.

    .. math::
        \theta^i_{t+\frac12} = \theta^i_t - \alpha_t g^i_t, \qquad
        \theta^i_{t+1} = \begin{cases} \frac1N \sum_j \theta^j_{t+\frac12} &
        \text{if } (t+1) \bmod k = 0 \\ \theta^i_{t+\frac12} & \text{otherwise} \end{cases}

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      every: :math:`k \ge 1`; ``every=1`` is synchronous SGD.
      axis_name: the mesh axis of the workers.

    Returns:
      ``periodic_averaging(sgd(learning_rate), every, axis_name)``.

    References:
      Stich, `Local SGD Converges Fast and Communicates Little
      <https://arxiv.org/abs/1805.09767>`_, 2019, Alg. 1. Matches: the numpy equations and
      :func:`gradlab.parallel.synchronous_sgd` for ``every=1`` (tests/test_parallel.py).

    >>> import jax, jax.numpy as jnp
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    >>> tx = local_sgd(0.5, every=1)
    >>> step = jax.shard_map(lambda g, p: tx.update(g, tx.init(p), p)[0], mesh=mesh,
    ...                      in_specs=P("data"), out_specs=P("data"))
    >>> step(jnp.array([2.0]), jnp.array([1.0]))
    Array([-1.], dtype=float32)
    """
    validation.check_learning_rate("local_sgd", learning_rate)
    return periodic_averaging(sgd(learning_rate), every, axis_name)


class EasgdState(NamedTuple):
    r"""The center variable :math:`\tilde\theta` (a replica on every worker, kept equal)."""

    center: Params


def easgd(
    learning_rate: jax.typing.ArrayLike,
    rho: jax.typing.ArrayLike,
    axis_name: str | tuple[str, ...] = "data",
) -> GradientTransformationExtraArgs:
    r"""Synchronous Elastic Averaging SGD: workers on an elastic tie to a center variable.

    With :math:`\eta` = ``learning_rate``, :math:`\alpha = \eta\rho` and :math:`N` workers, every
    step (Zhang et al., Eq. 5 and 6, both right-hand sides at time :math:`t`):

    .. math::
        \theta^i_{t+1} = \theta^i_t - \eta g^i_t - \alpha (\theta^i_t - \tilde\theta_t),
        \qquad
        \tilde\theta_{t+1} = \tilde\theta_t + \alpha \sum_{i=1}^N (\theta^i_t - \tilde\theta_t)

    The center starts at the params given to ``init`` (all workers must start equal); each
    worker keeps a replica of it, updated with the same ``psum``, so the replicas stay equal.
    :math:`\rho = 0` leaves the workers independent (and the center fixed). The paper's
    stability analysis asks for :math:`0 \le \beta = N\alpha \le 1`.

    Args:
      learning_rate: :math:`\eta > 0`, a number.
      rho: :math:`\rho \ge 0`, the elastic coupling.
      axis_name: the mesh axis of the workers.

    Returns:
      A GradientTransformationExtraArgs with state ``EasgdState(center)``; its ``update``
      needs ``params``.

    References:
      Zhang, Choromanska & LeCun, `Deep learning with Elastic Averaging SGD
      <https://arxiv.org/abs/1412.6651>`_, NeurIPS 2015, Eq. 5-6. Matches: those equations in
      float64 numpy over 8 workers and 20 steps (tests/test_parallel.py, rtol 1e-12).

    >>> import jax, jax.numpy as jnp
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    >>> tx = easgd(0.1, rho=1.0)
    >>> def step(g, p):
    ...     state = tx.init(p)._replace(center=jnp.zeros(1))  # a center at 0
    ...     updates, state = tx.update(g, state, p)
    ...     return updates, state.center
    >>> jax.shard_map(step, mesh=mesh, in_specs=P("data"), out_specs=P("data"))(
    ...     jnp.array([0.0]), jnp.array([1.0]))
    (Array([-0.1], dtype=float32), Array([0.1], dtype=float32))
    """
    fn = "easgd"
    validation.check_positive(fn, "learning_rate", learning_rate, "0.01")
    validation.check_non_negative(fn, "rho", rho, "0.9")
    check_axis_name(fn, axis_name)
    alpha = learning_rate * rho

    def init(params: Params) -> EasgdState:
        return EasgdState(center=jax.tree.map(lambda p: jnp.asarray(p).copy(), params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        del extra_args
        validation.check_state(fn, state, EasgdState)
        validation.require_params(fn, params, updates)

        def cast(value: Any, like: jax.Array) -> jax.Array:
            return jnp.asarray(value, storage.compute_dtype(like.dtype))

        def worker_step(g: jax.Array, p: jax.Array, c: jax.Array) -> jax.Array:
            wide = storage.load(p)
            step = -cast(learning_rate, wide) * storage.load(g)
            pull = -cast(alpha, wide) * (wide - storage.load(c))
            return (step + pull).astype(storage.leaf_dtype(g))

        def center_step(p: jax.Array, c: jax.Array) -> jax.Array:
            diff = jax.lax.psum(storage.load(p) - storage.load(c), axis_name)
            return (storage.load(c) + cast(alpha, diff) * diff).astype(c.dtype)

        new_updates = jax.tree.map(worker_step, updates, params, state.center)
        center = jax.tree.map(center_step, params, state.center)
        return new_updates, EasgdState(center=center)

    return GradientTransformationExtraArgs(init, update)


__all__ = ["EasgdState", "PeriodicAveragingState", "easgd", "local_sgd", "periodic_averaging"]

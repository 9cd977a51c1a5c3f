r"""Synchronous data parallelism: average the workers' gradients over a named mesh axis.

Each of :math:`N` workers (the devices along ``axis_name`` of a mesh, inside
``jax.shard_map``) computes the gradient :math:`g^i_t` of its own shard of the batch; the
workers then all-reduce, :math:`\bar g_t = \frac1N \sum_i g^i_t` (``jax.lax.pmean``), and each
applies the same optimizer step to the same replicated params. With equal shards,
:math:`\bar g_t` is the gradient of the mean loss over the whole batch, so the run is
single-device training on the global batch, :math:`N` times faster per step.

References: Dean et al., `Large Scale Distributed Deep Networks
<https://papers.nips.cc/paper/4687-large-scale-distributed-deep-networks>`_, 2012 (the
synchronous baseline); Goyal et al., `Accurate, Large Minibatch SGD
<https://arxiv.org/abs/1706.02677>`_, 2017, Sec. 2.
"""

from __future__ import annotations

import jax

from gradlab.core.base import GradientTransformation, ScalarOrSchedule, stateless
from gradlab.core.validation import check_learning_rate
from gradlab.optimizers.gradient_descent import sgd
from gradlab.transforms.combine import chain


def check_axis_name(fn: str, axis_name: object) -> None:
    """Raises unless ``axis_name`` is a mesh axis name (a str) or a tuple of them."""
    names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise TypeError(
            f"{fn}: axis_name must be the name of a mesh axis (a str) or a tuple of names, got "
            f"{axis_name!r}. Pass e.g. axis_name='data'."
        )


def average_gradients(axis_name: str | tuple[str, ...] = "data") -> GradientTransformation:
    r"""All-reduce mean of the updates over a mesh axis: :math:`u_t = \frac1N \sum_{i=1}^N g^i_t`.

    Stateless. Call it inside ``jax.shard_map`` (or ``jax.pmap``) over a mesh with the axis
    ``axis_name``; chained before an optimizer, every worker takes the same step.

    Args:
      axis_name: the mesh axis (or axes) of the workers, e.g. ``"data"``.

    Returns:
      A stateless GradientTransformation; its ``update`` runs ``jax.lax.pmean``.

    References:
      Goyal et al., `Accurate, Large Minibatch SGD <https://arxiv.org/abs/1706.02677>`_, 2017,
      Sec. 2 (the gradient of the global-batch mean loss). Matches: single-device training on
      the whole batch, rtol 1e-5 over 50 Adam steps on 8 devices (tests/test_parallel.py).

    >>> import jax, jax.numpy as jnp
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    >>> tx = average_gradients("data")
    >>> mean = jax.shard_map(lambda g: tx.update(g, tx.init(g))[0], mesh=mesh,
    ...                      in_specs=P("data"), out_specs=P())
    >>> mean(jnp.array([2.0]))
    Array([2.], dtype=float32)
    """
    check_axis_name("average_gradients", axis_name)
    return stateless(
        lambda updates, params: jax.tree.map(lambda g: jax.lax.pmean(g, axis_name), updates)
    )


def synchronous_sgd(
    learning_rate: ScalarOrSchedule, axis_name: str | tuple[str, ...] = "data"
) -> GradientTransformation:
    r"""Synchronous averaged SGD: :math:`\theta_{t+1} = \theta_t - \alpha_t \frac1N \sum_i g^i_t`.

    Every worker holds the same :math:`\theta_t`, computes :math:`g^i_t` on its shard of the
    batch, and takes the step with the all-reduced mean, so the params stay replicated.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      axis_name: the mesh axis of the workers.

    Returns:
      ``chain(average_gradients(axis_name), sgd(learning_rate))``.

    References:
      Dean et al., `Large Scale Distributed Deep Networks
      <https://papers.nips.cc/paper/4687-large-scale-distributed-deep-networks>`_, 2012;
      Matches: :func:`gradlab.parallel.local_sgd` with ``every=1`` (tests/test_parallel.py).

    >>> import jax, jax.numpy as jnp
    >>> from jax.sharding import PartitionSpec as P
    >>> mesh = jax.sharding.Mesh(jax.devices()[:1], ("data",))
    >>> tx = synchronous_sgd(0.5)
    >>> step = jax.shard_map(lambda g: tx.update(g, tx.init(g))[0], mesh=mesh,
    ...                      in_specs=P("data"), out_specs=P())
    >>> step(jnp.array([2.0]))
    Array([-1.], dtype=float32)
    """
    check_learning_rate("synchronous_sgd", learning_rate)
    check_axis_name("synchronous_sgd", axis_name)
    return chain(average_gradients(axis_name), sgd(learning_rate))


__all__ = ["average_gradients", "synchronous_sgd"]

r"""Stale gradients, deterministically: apply at step :math:`t` the gradient of step :math:`t-\tau`.

In asynchronous training a worker reads the params, computes a gradient and sends it back while
others keep updating: the gradient is applied :math:`\tau` updates after the params it was
computed on were read. :func:`delayed_gradients` reproduces a fixed delay on one machine,
exactly, so that an optimizer's tolerance to staleness can be measured without a cluster:
chain it before the optimizer, ``chain(delayed_gradients(tau), gradlab.adagrad(0.1))``.

References: Langford, Smola & Zinkevich, `Slow Learners are Fast
<https://arxiv.org/abs/0911.0491>`_, NeurIPS 2009 (delayed SGD); McMahan & Streeter,
`Delay-Tolerant Algorithms for Asynchronous Distributed Online Learning
<https://papers.nips.cc/paper/5242-delay-tolerant-algorithms-for-asynchronous-distributed-online-learning>`_,
NeurIPS 2014, Sec. 2 (the in-order, fixed-delay model).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates, identity


class DelayedGradientsState(NamedTuple):
    """The step count and a ring buffer of the last ``tau`` incoming updates."""

    count: jax.Array  # type: ignore[assignment]  # int32 (shadows tuple.count): steps taken so far
    buffer: Updates  # each leaf (tau, *param.shape): the update of step t sits in slot t % tau


def delayed_gradients(tau: int) -> GradientTransformation:
    r"""Delays the updates by :math:`\tau` steps: :math:`u_t = g_{t-\tau}`, and :math:`u_t = 0`
    for :math:`t < \tau`.

    Steps count from :math:`t = 0`. For :math:`t < \tau` no gradient has arrived yet and the
    output is zero; a transformation chained after it sees those zeros (AdaGrad's accumulator
    and SGD are unchanged by them; Adam's step count advances). The gradients are copied, not
    recomputed: the output at step :math:`t \ge \tau` is bit for bit the input of step
    :math:`t - \tau`. ``tau=0`` is :func:`gradlab.identity`.

    Args:
      tau: :math:`\tau \ge 0`, the delay in steps.

    Returns:
      A GradientTransformation with state ``DelayedGradientsState(count, buffer)`` (the
      buffer holds :math:`\tau` copies of the params' shapes), or the identity for ``tau=0``.

    References:
      Langford, Smola & Zinkevich, `Slow Learners are Fast <https://arxiv.org/abs/0911.0491>`_,
      NeurIPS 2009, Sec. 2 (delayed updates). Matches: :math:`u_t = g_{t-\tau}` exactly, for
      :math:`\tau \in \{0, 1, 3\}` (tests/test_parallel.py).

    >>> import jax.numpy as jnp
    >>> tx = delayed_gradients(2)
    >>> state = tx.init(jnp.zeros(1))
    >>> outputs = []
    >>> for g in [1.0, 2.0, 3.0, 4.0]:
    ...     u, state = tx.update(jnp.array([g]), state)
    ...     outputs.append(float(u[0]))
    >>> outputs
    [0.0, 0.0, 1.0, 2.0]
    """
    validation.check_count("delayed_gradients", "tau", tau, 0, "4")
    if tau == 0:
        return identity()

    def init(params: Params) -> DelayedGradientsState:
        buffer = jax.tree.map(
            lambda p: jnp.broadcast_to(jnp.zeros_like(p), (tau, *jnp.shape(p))), params
        )
        return DelayedGradientsState(jnp.zeros([], jnp.int32), buffer)

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        validation.check_state("delayed_gradients", state, DelayedGradientsState)
        slot = state.count % tau
        buffer = state.buffer
        arrived = jax.tree.map(lambda b, g: b[slot].astype(jnp.result_type(g)), buffer, updates)
        buffer = jax.tree.map(lambda b, g: b.at[slot].set(g.astype(b.dtype)), buffer, updates)
        return arrived, DelayedGradientsState(tree.safe_increment(state.count), buffer)

    return GradientTransformation(init, update)


__all__ = ["DelayedGradientsState", "delayed_gradients"]

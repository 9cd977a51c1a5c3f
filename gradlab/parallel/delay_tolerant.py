r"""Delay-tolerant AdaGrad: McMahan & Streeter's AdaptiveRevision for gradients :math:`\tau` late.

When a gradient :math:`g` arrives :math:`\tau` updates after the params it was computed on were
read, the :math:`\tau` gradients applied in between were *outstanding* for it; their sum is the
backlog :math:`g^{bck}`. AdaGrad ignores it. AdaptiveRevision (per coordinate) counts the
interaction of :math:`g` with its backlog in the learning-rate denominator and *revises* the
steps already taken on the backlog with the old, larger rate:

.. math::
    g^{bck} = \hat g - \hat g^{read}, \qquad \eta^{old} = \frac{\alpha}{\sqrt{z' + \epsilon}},
    \qquad z \leftarrow z + g^2 + 2 g\, g^{bck}, \qquad z' \leftarrow \max(z, z'),

.. math::
    \eta = \frac{\alpha}{\sqrt{z' + \epsilon}}, \qquad
    u = -\eta\, g + (\eta^{old} - \eta)\, g^{bck}, \qquad \hat g \leftarrow \hat g + g

where :math:`\hat g` is the sum of all gradients applied so far and :math:`\hat g^{read}` its
value when the params behind :math:`g` were read. With no delay, :math:`g^{bck} = 0` and this
is AdaGrad. When the gradients of a coordinate agree, :math:`z` grows by about
:math:`(1 + 2\tau) g^2` per step instead of :math:`g^2`, so the rate shrinks with the delay as the
regret bound asks; on a sparse coordinate (seen rarely, no backlog) it stays AdaGrad's rate. When
a gradient disagrees with its backlog :math:`z` may fall; :math:`z'` keeps the rate from
increasing.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates


class DelayTolerantAdagradState(NamedTuple):
    r"""AdaptiveRevision's per-coordinate sums, and the gradient sum at each outstanding read."""

    count: jax.Array  # type: ignore[assignment]  # int32 (shadows tuple.count): updates so far
    gradient_sum: Updates  # \hat g: every gradient applied so far, summed
    accumulator: Updates  # z: sum of g^2 + 2 g g_bck (may decrease)
    max_accumulator: Updates  # z': the running max of z (the rate's denominator)
    read_sums: Updates  # (delay, *shape): \hat g at the read of step t, in slot t % delay


def delay_tolerant_adagrad(
    learning_rate: jax.typing.ArrayLike,
    delay: int,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> GradientTransformation:
    r"""AdaGrad with McMahan & Streeter's AdaptiveRevision, for gradients ``delay`` steps stale.

    At step :math:`t` (from 0) the incoming gradient :math:`g_t` was computed on the params read
    at step :math:`t - \tau` (:math:`\tau` = ``delay``; chain :func:`delayed_gradients` with the
    same :math:`\tau` before it to simulate this), so its backlog is the sum of the gradients
    received at steps :math:`t-\tau, \dots, t-1`:
    :math:`g^{bck}_t = \hat g_t - \hat g_{t-\tau}` with :math:`\hat g_s = \sum_{r<s} g_r` (and
    :math:`\hat g_s = 0` for :math:`s \le 0`). Then, per coordinate,

    .. math::
        \eta^{old}_t = \frac{\alpha}{\sqrt{z'_{t-1} + \epsilon}}, \quad
        z_t = z_{t-1} + g_t^2 + 2 g_t g^{bck}_t, \quad z'_t = \max(z_t, z'_{t-1}), \quad
        \eta_t = \frac{\alpha}{\sqrt{z'_t + \epsilon}},

    .. math::
        u_t = -\eta_t g_t + (\eta^{old}_t - \eta_t)\, g^{bck}_t,
        \qquad z_0 = z'_0 = G_0 \text{ (initial\_accumulator\_value)}.

    ``delay=0`` is :func:`gradlab.adagrad` (same defaults).

    Args:
      learning_rate: :math:`\alpha > 0`, a number.
      delay: :math:`\tau \ge 0`, the staleness of the incoming gradients, in steps.
      initial_accumulator_value: :math:`G_0 \ge 0`; default 0.1 (optax's adagrad).
      eps: :math:`\epsilon \ge 0` inside the root; default 1e-7 (optax's adagrad).

    Returns:
      A GradientTransformation with state ``DelayTolerantAdagradState``; it keeps
      :math:`\tau + 4` param-shaped arrays (the paper stores one gradient sum per outstanding
      read, here a ring buffer).

    References:
      McMahan & Streeter, `Delay-Tolerant Algorithms for Asynchronous Distributed Online
      Learning <https://papers.nips.cc/paper/5242-delay-tolerant-algorithms-for-asynchronous-distributed-online-learning>`_,
      NeurIPS 2014, Alg. 2 (AdaptiveRevision with AdaGrad rates). Matches: ``gradlab.adagrad``
      for ``delay=0`` (rtol 1e-6, tests/test_parallel.py).

    >>> import jax.numpy as jnp
    >>> tx = delay_tolerant_adagrad(1.0, delay=1, initial_accumulator_value=1.0, eps=0.0)
    >>> state = tx.init(jnp.zeros(1))
    >>> u, state = tx.update(jnp.array([1.0]), state)  # no backlog: z = 1 + 1, u = -1/sqrt(2)
    >>> u.round(4)
    Array([-0.7071], dtype=float32)
    >>> u, state = tx.update(jnp.array([1.0]), state)  # backlog 1: z = 2 + 1 + 2 = 5
    >>> u.round(4)  # -1/sqrt(5) + (1/sqrt(2) - 1/sqrt(5)) * 1
    Array([-0.1873], dtype=float32)
    """
    fn = "delay_tolerant_adagrad"
    validation.check_positive(fn, "learning_rate", learning_rate, "0.1")
    validation.check_count(fn, "delay", delay, 0, "4")
    validation.check_non_negative(fn, "initial_accumulator_value", initial_accumulator_value, "0.1")
    validation.check_non_negative(fn, "eps", eps, "1e-7")

    def init(params: Params) -> DelayTolerantAdagradState:
        accumulator = storage.init(params, initial_accumulator_value, squared=True)
        read_sums = jax.tree.map(
            lambda p: jnp.broadcast_to(jnp.zeros_like(p), (delay, *jnp.shape(p))), params
        )
        return DelayTolerantAdagradState(
            count=jnp.zeros([], jnp.int32),
            gradient_sum=storage.init(params, 0.0),
            accumulator=accumulator,
            max_accumulator=accumulator,
            read_sums=read_sums,
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del params
        validation.check_state(fn, state, DelayTolerantAdagradState)
        slot = state.count % max(delay, 1)

        def backlog(total: jax.Array, reads: jax.Array) -> jax.Array:
            if delay == 0:
                return jnp.zeros_like(storage.load(total))
            return storage.load(total) - storage.load(reads[slot])

        g_bck = jax.tree.map(backlog, state.gradient_sum, state.read_sums)

        def rate(z_max: jax.Array) -> jax.Array:
            wide = storage.load(z_max)
            root = jnp.sqrt(wide + jnp.asarray(eps, wide.dtype))
            return jnp.asarray(learning_rate, wide.dtype) / root

        g = jax.tree.map(lambda x: storage.power(x, 1), updates)
        z = jax.tree.map(
            lambda z, x, b: storage.load(z) + x * x + 2 * x * b, state.accumulator, g, g_bck
        )
        z_max = jax.tree.map(lambda z, m: jnp.maximum(z, storage.load(m)), z, state.max_accumulator)
        new = jax.tree.map(
            lambda x, b, m_old, m: -rate(m) * x + (rate(m_old) - rate(m)) * b,
            g,
            g_bck,
            state.max_accumulator,
            z_max,
        )
        total = jax.tree.map(lambda s, x: storage.load(s) + x, state.gradient_sum, g)
        read_sums = state.read_sums
        if delay > 0:  # the read of step t sees the sum before g_t: stored for step t + delay
            read_sums = jax.tree.map(
                lambda r, s: r.at[slot].set(s.astype(r.dtype)), state.read_sums, state.gradient_sum
            )
        return storage.like(new, updates), DelayTolerantAdagradState(
            count=tree.safe_increment(state.count),
            gradient_sum=storage.store(total, state.gradient_sum),
            accumulator=storage.store(z, state.accumulator),
            max_accumulator=storage.store(z_max, state.max_accumulator),
            read_sums=read_sums,
        )

    return GradientTransformation(init, update)


__all__ = ["DelayTolerantAdagradState", "delay_tolerant_adagrad"]

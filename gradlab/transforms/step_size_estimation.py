r"""Step-size estimation: Prodigy's running estimate :math:`d_t` of the distance to the solution.

:func:`scale_by_prodigy` is one primitive, not a chain: the estimate :math:`d_t` is a scalar of
the whole tree (a dot product and an L1 norm over every leaf) that scales the moments, the
accumulated gradient sum and the step at once, so no stage of it can run on its own. It is
``optax.contrib.prodigy``'s update, transcribed, with its state fields.
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
)
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


class ProdigyState(NamedTuple):
    """Adam's moments of :math:`d_t g_t` (``exp_avg``, ``exp_avg_sq``), the weighted gradient
    sum :math:`s_t` (``grad_sum``), the initial params :math:`x_0` (``params0``), the estimate
    :math:`d_t` (``estim_lr``), the weighted numerator :math:`r_t` and the step count (optax's
    fields)."""

    exp_avg: Updates
    exp_avg_sq: Updates
    grad_sum: Updates
    params0: Params
    estim_lr: jax.Array
    numerator_weighted: jax.Array
    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)


@declare_hyperparams("learning_rate", "beta3", "eps", "estim_lr0", "estim_lr_coef", "weight_decay")
def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[ArrayLike, ArrayLike] = (0.9, 0.999),
    beta3: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    estim_lr0: ArrayLike = 1e-6,
    estim_lr_coef: ArrayLike = 1.0,
    weight_decay: ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Prodigy's step: AdamW on :math:`d_t g_t` with the learning rate :math:`d_t \gamma_t`.

    .. math::
        \eta_t &= d_t \gamma_t \sqrt{1-\beta_2^t} / (1-\beta_1^t), \quad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) d_t g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t^2 g_t^2, \\
        s_t &= \beta_3 s_{t-1} + \frac{\eta_t d_t}{d_0} g_t, \quad
        r_t = \beta_3 r_{t-1} + \frac{d_t}{d_0} \eta_t \langle g_t, x_0 - x_t\rangle, \quad
        d_{t+1} = \max\Big(d_t, c\, \frac{r_t}{\|s_t\|_1}\Big), \\
        u_t &= -\eta_t \Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon} + \lambda x_t\Big)

    ``safeguard_warmup=True`` uses :math:`d_t^2/d_0\, g_t` in :math:`s_t` (no :math:`\gamma_t`).

    Args:
      learning_rate: :math:`\gamma_t`, a multiplier of :math:`d_t` (a number or a schedule);
        default 1.
      betas: :math:`(\beta_1, \beta_2)`; default (0.9, 0.999).
      beta3: :math:`\beta_3`; ``None``: :math:`\sqrt{\beta_2}`.
      eps: :math:`\epsilon`, scaled by :math:`d_{t+1}`; default 1e-8.
      estim_lr0: :math:`d_0`; default 1e-6.
      estim_lr_coef: :math:`c`; default 1.
      weight_decay: :math:`\lambda`, decoupled; default 0.
      safeguard_warmup: drop :math:`\gamma_t` from :math:`s_t` (for warm-up schedules).

    Returns:
      A GradientTransformationExtraArgs with state :class:`ProdigyState`; ``update`` requires
      ``params``. The output is the step itself (sign and learning rate included).

    References:
      Mishchenko & Defazio, `Prodigy: An Expeditiously Adaptive Parameter-Free Learner
      <https://arxiv.org/abs/2306.06101>`_, 2023, Alg. 4. Matches: ``optax.contrib.prodigy``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.step_size_estimation import scale_by_prodigy
    >>> tx = scale_by_prodigy()
    >>> params = jnp.array([1.0, -1.0])
    >>> u, state = tx.update(params, tx.init(params), params)
    >>> bool(jnp.all(u * params < 0)), round(float(state.estim_lr), 12)  # d_1 = d_0 at x_0
    (True, 1e-06)
    """
    fn = "scale_by_prodigy"
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{fn}: betas must be a pair (b1, b2), got {betas!r}.")
    beta1, beta2 = betas
    validation.check_unit_interval(fn, "betas[0]", beta1)
    validation.check_unit_interval(fn, "betas[1]", beta2, "0.999")
    if beta3 is None:
        beta3 = beta2**0.5
    validation.check_unit_interval(fn, "beta3", beta3, "0.99")
    validation.check_non_negative(fn, "eps", eps, "1e-8")
    validation.check_positive(fn, "estim_lr0", estim_lr0, "1e-6")
    validation.check_non_negative(fn, "weight_decay", weight_decay, "0.0")

    def init(params: Params) -> ProdigyState:
        dtypes = [storage.leaf_dtype(p) for p in jax.tree.leaves(params)]
        narrowest = min(dtypes, key=lambda d: jnp.finfo(d).bits, default=jnp.dtype(jnp.float32))
        dtype = storage.compute_dtype(narrowest)  # the scalars: float32 or wider
        return ProdigyState(
            exp_avg=storage.init(params),
            exp_avg_sq=storage.init(params, squared=True),
            grad_sum=storage.init(params),
            params0=jax.tree.map(jnp.array, params),
            estim_lr=jnp.asarray(estim_lr0, dtype),
            numerator_weighted=jnp.zeros([], dtype),
            count=jnp.zeros([], jnp.int32),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        del extra_args
        validation.check_state(fn, state, ProdigyState)
        validation.require_params(fn, params, updates)
        count = tree.safe_increment(state.count)
        gamma = learning_rate(state.count) if callable(learning_rate) else learning_rate
        d = state.estim_lr
        bc = ((1 - beta2**count) ** 0.5) / (1 - beta1**count)
        dlr = jnp.asarray(d * gamma * bc, d.dtype)  # eta_t
        g = jax.tree.map(storage.load, updates)
        dg = jax.tree.map(lambda x: d * x, g)
        numerator = sum(
            # sum of products, not jnp.vdot: vdot of sharded leaves needs an out_sharding
            jnp.sum(x * (storage.load(p0) - storage.load(p)))
            for x, p0, p in zip(
                jax.tree.leaves(g),
                jax.tree.leaves(state.params0),
                jax.tree.leaves(params),
                strict=True,
            )
        )
        m = jax.tree.map(lambda m, x: beta1 * storage.load(m) + (1 - beta1) * x, state.exp_avg, dg)
        v = jax.tree.map(
            lambda v, x: beta2 * storage.load(v) + (1 - beta2) * x * x, state.exp_avg_sq, dg
        )
        rate = d if safeguard_warmup else dlr
        s = jax.tree.map(
            lambda s, x: beta3 * storage.load(s) + rate * x / estim_lr0, state.grad_sum, dg
        )
        r = beta3 * state.numerator_weighted + (d / estim_lr0) * dlr * numerator
        l1 = sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(s))
        # l1 = 0 (no params, or only zero gradients so far): no evidence, d stays (0/0 is NaN)
        d_hat = estim_lr_coef * r / jnp.where(l1 > 0, l1, 1)
        d_next = jnp.where(l1 > 0, jnp.maximum(d, d_hat), d)
        step = jax.tree.map(
            lambda m, v, p: (
                -dlr * weight_decay * storage.load(p) - dlr * m / (jnp.sqrt(v) + d_next * eps)
            ),
            m,
            v,
            params,
        )
        new_state = ProdigyState(
            storage.store(m, state.exp_avg),
            storage.store(v, state.exp_avg_sq),
            storage.store(s, state.grad_sum),
            state.params0,
            d_next.astype(d.dtype),
            r.astype(d.dtype),
            count,
        )
        return storage.like(step, updates), new_state

    return GradientTransformationExtraArgs(init, update)


__all__ = ["ProdigyState", "scale_by_prodigy"]

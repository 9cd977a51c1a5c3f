r"""Schedule-free learning: a wrapper that replaces a base optimizer's momentum and schedule by
interpolation and averaging (Defazio et al. 2024).

:func:`schedule_free` wraps any base optimizer (run without momentum); the params it returns are
the gradient points :math:`y_t`, and :func:`schedule_free_eval_params` recovers the averaged
points :math:`x_t` to evaluate at. Names, state fields and defaults follow ``optax.contrib``.
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
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


class ScheduleFreeState(NamedTuple):
    """The interpolation weight ``b1``, the sum of averaging weights ``weight_sum``, the step
    ``step_count`` (from 1), the largest learning rate so far ``max_lr``, the base optimizer's
    state and the base iterate ``z`` (optax's fields)."""

    b1: jax.Array
    weight_sum: jax.Array
    step_count: jax.Array
    max_lr: jax.Array
    base_optimizer_state: OptState
    z: Params


def _scalar_dtype(params: Params) -> Any:
    """The dtype of the scalar statistics: the params' narrowest float, at least float32."""
    dtypes = [storage.leaf_dtype(p) for p in jax.tree.leaves(params)]
    narrowest = min(dtypes, key=lambda d: jnp.finfo(d).bits, default=jnp.dtype(jnp.float32))
    return storage.compute_dtype(narrowest)


@declare_hyperparams("learning_rate", "b1", "weight_lr_power")
def schedule_free(
    base_optimizer: Any,
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    weight_lr_power: ArrayLike = 2.0,
    state_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Makes ``base_optimizer`` schedule-free: it steps :math:`z`, the params are :math:`y`.

    .. math::
        z_{t+1} = z_t + \operatorname{base}(g(y_t)), \quad
        c_{t+1} = \frac{\gamma_{\max,t}^{p}}{\sum_{i \le t} \gamma_{\max,i}^{p}}, \quad
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}, \quad
        y_{t+1} = \beta_1 x_{t+1} + (1-\beta_1) z_{t+1}

    with :math:`x_t = (y_t - (1-\beta_1) z_t)/\beta_1` recovered from the params and
    :math:`\gamma_{\max,t}` the largest learning rate so far; the update is
    :math:`y_{t+1} - y_t`. Like optax, a schedule is read at ``step_count`` (1 at the first
    step) while a scheduled base optimizer reads its own count (0 at the first step).

    Args:
      base_optimizer: the base transformation, without momentum (e.g. SGD, or Adam with
        ``b1=0`` i.e. ``scale_by_rms(..., bias_correction=True)``).
      learning_rate: :math:`\gamma_t`, the base optimizer's learning rate (warm-up, no decay).
      b1: :math:`\beta_1 \in (0, 1)`; default 0.9.
      weight_lr_power: :math:`p`, the power of the averaging weights; default 2.
      state_dtype: dtype of :math:`z` (``None``: the params').

    Returns:
      A GradientTransformationExtraArgs with state :class:`ScheduleFreeState`; ``update``
      requires ``params``.

    References:
      Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024,
      Alg. 1. Matches: ``optax.contrib.schedule_free``.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.schedule_free import schedule_free
    >>> tx = schedule_free(gradlab.sgd(0.5), 0.5)
    >>> params = jnp.array([2.0])
    >>> u, state = tx.update(params, tx.init(params), params)  # z_1 = 1, x_1 = z_1
    >>> u
    Array([-1.], dtype=float32)
    """
    fn = "schedule_free"
    validation.check_transform(fn, "base_optimizer", base_optimizer)
    validation.check_number(fn, "b1", b1, "0.9")
    if validation.concrete_value(b1) is not None and not 0 < float(b1) < 1:  # type: ignore[arg-type]
        raise ValueError(f"{fn}: b1 must be in (0, 1), got {b1}. Pass e.g. b1=0.9.")
    validation.check_finite(fn, "weight_lr_power", weight_lr_power, "2.0")
    validation.check_dtype(fn, "state_dtype", state_dtype)
    base = with_extra_args_support(base_optimizer)

    def init(params: Params) -> ScheduleFreeState:
        dtype = _scalar_dtype(params)
        z = jax.tree.map(
            lambda p: jnp.array(
                p, dtype=storage.leaf_dtype(p) if state_dtype is None else state_dtype
            ),
            params,
        )
        return ScheduleFreeState(
            b1=jnp.asarray(b1, dtype),
            weight_sum=jnp.zeros([], dtype),
            step_count=jnp.ones([], jnp.int32),
            max_lr=jnp.zeros([], dtype),
            base_optimizer_state=base.init(params),
            z=z,
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, ScheduleFreeState)
        validation.require_params(fn, params, updates)
        dtype = state.max_lr.dtype
        lr = learning_rate(state.step_count) if callable(learning_rate) else learning_rate
        max_lr = jnp.maximum(state.max_lr, jnp.asarray(lr, dtype))
        weight = max_lr**weight_lr_power
        weight_sum = state.weight_sum + weight
        c = jnp.where(  # weight / weight_sum, 0 before the first positive learning rate
            jnp.isnan(weight) | jnp.isnan(weight_sum),
            jnp.nan,
            jnp.nan_to_num(weight / weight_sum, nan=0.0, posinf=jnp.inf),
        )
        steps, base_state = base.update(updates, state.base_optimizer_state, params, **extra_args)
        z = jax.tree.map(lambda zi, u: (zi + u).astype(zi.dtype), state.z, steps)

        def new_point(y: jax.Array, z_old: jax.Array, z_new: jax.Array) -> Any:
            y, z_old, z_new = storage.load(y), storage.load(z_old), storage.load(z_new)
            x = (y - (1.0 - b1) * z_old) / b1  # x_t
            x = (1.0 - c) * x + c * z_new  # x_{t+1}
            return b1 * x + (1.0 - b1) * z_new - y  # y_{t+1} - y_t

        out = jax.tree.map(new_point, params, state.z, z)
        new_state = ScheduleFreeState(
            state.b1, weight_sum, tree.safe_increment(state.step_count), max_lr, base_state, z
        )
        return storage.like(out, params), new_state

    return GradientTransformationExtraArgs(init, update)


def _find_state(state: OptState) -> ScheduleFreeState | None:
    found = [
        s
        for s in jax.tree.leaves(state, is_leaf=lambda s: isinstance(s, ScheduleFreeState))
        if isinstance(s, ScheduleFreeState)
    ]
    return found[0] if found else None


def schedule_free_eval_params(state: OptState, params: Params) -> Params:
    r"""The point to evaluate a schedule-free model at: :math:`x_t = (y_t - (1-\beta_1) z_t) /
    \beta_1`.

    Args:
      state: a state holding a :class:`ScheduleFreeState`: the state of :func:`schedule_free`
        or of an alias built on it (``schedule_free_adamw``, ``schedule_free_sgd``, where it is
        the ``InjectState``'s inner state).
      params: the current params :math:`y_t`.

    Returns:
      :math:`x_t`, in the params' dtypes.

    References:
      Defazio et al., `The Road Less Scheduled <https://arxiv.org/abs/2405.15682>`_, 2024.
      Matches: ``optax.contrib.schedule_free_eval_params``.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.schedule_free import schedule_free, schedule_free_eval_params
    >>> tx = schedule_free(gradlab.sgd(0.5), 0.5)
    >>> params = jnp.array([2.0])
    >>> schedule_free_eval_params(tx.init(params), params)  # x_0 = y_0 = z_0
    Array([2.], dtype=float32)
    """
    sf = _find_state(state)
    if sf is None:
        raise ValueError(
            "schedule_free_eval_params: the state holds no ScheduleFreeState. Pass the state "
            "of schedule_free (or of schedule_free_adamw / schedule_free_sgd)."
        )
    b1 = sf.b1
    return jax.tree.map(
        lambda y, z: ((storage.load(y) - (1.0 - b1) * storage.load(z)) / b1).astype(
            storage.leaf_dtype(y)
        ),
        params,
        sf.z,
    )


__all__ = ["ScheduleFreeState", "schedule_free", "schedule_free_eval_params"]

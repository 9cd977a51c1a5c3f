r"""Yogi's additive second moment: a running :math:`g^2` that moves by a bounded amount per step.

Adam's :math:`v_t - v_{t-1} = -(1-\beta_2)(v_{t-1} - g_t^2)` is multiplicative: a large
:math:`v_{t-1}` forgets fast. Yogi keeps only the sign of the difference,
:math:`v_t - v_{t-1} = -(1-\beta_2)\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2`, so the
effective learning rate changes by at most a controlled amount per step. It replaces
``moving_average(b2, order=2)`` in an Adam denominator chain.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams


class AdditiveMomentState(NamedTuple):
    """Yogi's second moment :math:`v_t`."""

    second_moment: Updates


@declare_hyperparams("decay", "initial_value")
def additive_second_moment(
    decay: jax.typing.ArrayLike = 0.999,
    initial_value: jax.typing.ArrayLike = 1e-6,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Yogi's :math:`v_t = v_{t-1} - (1-\beta)\operatorname{sign}(v_{t-1} - |g_t|^2)\,|g_t|^2`.

    Args:
      decay: :math:`\beta \in [0, 1)`; Yogi's ``b2``, default 0.999.
      initial_value: :math:`v_0 \ge 0`; default 1e-6 (optax's ``initial_accumulator_value``;
        Zaheer et al.'s Algorithm 2 starts from 0).
      accumulator_dtype: dtype of the stored :math:`v_t`; ``None`` follows the storage policy for
        squares (params' dtype, float32 for float16 params).

    Returns:
      A GradientTransformation whose output is :math:`v_t` (not bias-corrected), with state
      ``AdditiveMomentState(second_moment)``.

    References:
      Zaheer et al., `Adaptive Methods for Nonconvex Optimization
      <https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`_,
      NeurIPS 2018, Alg. 2.
      Matches: the ``nu`` of ``optax.scale_by_yogi``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.additive_moment import additive_second_moment
    >>> tx = additive_second_moment(0.5, initial_value=1.0)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]  # 1 + 0.5 * 4 (v < g**2)
    Array([3.], dtype=float32)
    """
    validation.check_unit_interval("additive_second_moment", "decay", decay, "0.999")
    validation.check_non_negative("additive_second_moment", "initial_value", initial_value, "0.0")
    validation.check_dtype("additive_second_moment", "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> AdditiveMomentState:
        return AdditiveMomentState(
            storage.init(params, initial_value, accumulator_dtype, squared=True)
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("additive_second_moment", state, AdditiveMomentState)
        del params
        validation.check_structure("additive_second_moment", updates, state.second_moment)

        def step(g: jax.Array, stored: jax.Array) -> jax.Array:
            v, g2 = storage.load(stored), storage.power(g, 2)
            return v - (1 - decay) * jnp.sign(v - g2) * g2

        nu = jax.tree.map(step, updates, state.second_moment)
        out = jax.tree.map(lambda v, s: v.astype(s.dtype), nu, state.second_moment)
        return out, AdditiveMomentState(storage.store(nu, state.second_moment))

    return GradientTransformation(init, update)


__all__ = ["AdditiveMomentState", "additive_second_moment"]

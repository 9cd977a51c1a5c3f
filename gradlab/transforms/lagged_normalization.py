r"""ADOPT's ordering: normalise the gradient by the *previous* second moment, then average it.

Adam's :math:`\hat m_t / \sqrt{\hat v_t}` correlates numerator and denominator through
:math:`g_t`, which is why it can diverge for any :math:`\beta_2 < 1` on some problems.
Taniguchi et al. normalise :math:`g_t` by :math:`v_{t-1}` (which does not contain :math:`g_t`)
and take the momentum of the normalised gradient *after* that:
``chain(normalize_by_previous_rms(b2, eps), moving_average(b1))`` is ADOPT's direction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams


class LaggedRmsState(NamedTuple):
    """Updates done so far (int32 scalar) and the running second moment :math:`v_{t}`."""

    steps: jax.Array
    second_moment: Updates


def adopt_clip_value(step: jax.Array) -> jax.Array:
    r"""ADOPT's default clipping bound :math:`c_t = t^{1/4}` (0 at the first step).

    Args:
      step: the int32 step :math:`t` (0 first).

    Returns:
      :math:`t^{1/4}`, a float array.

    References:
      Taniguchi et al., `ADOPT <https://arxiv.org/abs/2411.02853>`_, NeurIPS 2024, Sec. 4.
      Matches: the default ``clip_value_fn`` of ``optax.contrib.scale_by_adopt``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.lagged_normalization import adopt_clip_value
    >>> adopt_clip_value(jnp.asarray(16))
    Array(2., dtype=float32, weak_type=True)
    """
    return step**0.25


@declare_hyperparams("b2", "eps")
def normalize_by_previous_rms(
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = adopt_clip_value,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""ADOPT's normalisation: :math:`u_t = \operatorname{clip}(g_t / \max(\sqrt{v_{t-1}},
    \epsilon), c_t)`, then :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`.

    .. math::
        v_0 = g_0^2,\ u_0 = 0; \qquad
        u_t = \operatorname{clip}\Big(\frac{g_t}{\max(\sqrt{v_{t-1}}, \epsilon)},
        -c_t, c_t\Big),\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \quad (t \ge 1)

    The first gradient only initialises :math:`v_0` (the paper's line 1): its output is 0, so a
    momentum chained after it starts from :math:`m_0 = 0` and moves from :math:`t = 1`, as in
    optax. :math:`c_t` = ``clip_value_fn(t)``, :math:`t^{1/4}` by default (so :math:`c_0 = 0`).

    Args:
      b2: :math:`\beta_2 \in [0, 1)`; default 0.9999 (Taniguchi et al., optax).
      eps: :math:`\epsilon \ge 0`, the floor of :math:`\sqrt{v_{t-1}}`; default 1e-6.
      use_clipping: clip the normalised gradient to :math:`[-c_t, c_t]` (the paper's
        stabilised form, optax's default).
      clip_value_fn: :math:`t \mapsto c_t`, called on the int32 step :math:`t` (0 first).
      accumulator_dtype: dtype of the stored :math:`v_t`; ``None`` follows the storage policy for
        squares.

    Returns:
      A GradientTransformation with state ``LaggedRmsState(steps, second_moment)``.

    References:
      Taniguchi et al., `ADOPT: Modified Adam Can Converge with Any \beta_2 with the Optimal
      Rate <https://arxiv.org/abs/2411.02853>`_, NeurIPS 2024, Alg. 2.
      Matches: the normalisation of ``optax.contrib.scale_by_adopt``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.lagged_normalization import normalize_by_previous_rms
    >>> tx = normalize_by_previous_rms(0.5, use_clipping=False)
    >>> u, s = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))  # u_0 = 0, v_0 = 4
    >>> tx.update(jnp.array([3.0]), s)[0]  # 3 / sqrt(4)
    Array([1.5], dtype=float32)
    """
    validation.check_unit_interval("normalize_by_previous_rms", "b2", b2, "0.9999")
    validation.check_non_negative("normalize_by_previous_rms", "eps", eps, "1e-6")
    validation.check_callable(
        "normalize_by_previous_rms", "clip_value_fn", clip_value_fn, "lambda t: t**0.25"
    )
    validation.check_dtype("normalize_by_previous_rms", "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> LaggedRmsState:
        return LaggedRmsState(
            steps=jnp.zeros([], jnp.int32),
            second_moment=storage.init(params, 0.0, accumulator_dtype, squared=True),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("normalize_by_previous_rms", state, LaggedRmsState)
        del params
        validation.check_structure("normalize_by_previous_rms", updates, state.second_moment)
        first = state.steps == 0
        clip_value = clip_value_fn(state.steps) if use_clipping else None

        def normalize(g: jax.Array, v: jax.Array) -> jax.Array:
            u = storage.load(jnp.asarray(g)) / jnp.maximum(jnp.sqrt(storage.load(v)), eps)
            if clip_value is not None:
                u = jnp.clip(u, -clip_value, clip_value)
            return jnp.where(first, jnp.zeros_like(u), u)

        out = jax.tree.map(normalize, updates, state.second_moment)
        decay = jnp.where(first, 0.0, b2)
        nu = tree.update_moment(updates, state.second_moment, decay, 2)
        return storage.like(out, updates), LaggedRmsState(
            tree.safe_increment(state.steps), storage.store(nu, state.second_moment)
        )

    return GradientTransformation(init, update)


__all__ = ["LaggedRmsState", "adopt_clip_value", "normalize_by_previous_rms"]

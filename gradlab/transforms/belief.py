r"""AdaBelief's belief moment: the running second moment of the gradient's surprise.

Adam divides by the RMS of the gradient; AdaBelief divides by the RMS of its deviation from the
prediction :math:`m_t` (the momentum), :math:`(g_t - m_t)^2`. The belief moment needs
:math:`m_t` itself, so the stage keeps its own copy of the running mean next to the belief: a
denominator chain ``chain(belief_moment(b1, b2, eps_root), bias_correction(b2), sqrt(),
add_eps(eps))`` then reads the raw gradient, like Adam's, in a :func:`gradlab.divide`. (The
numerator's momentum is a second buffer holding the same values: one parameter-sized buffer more
than optax's fused ``scale_by_belief``.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams


class BeliefState(NamedTuple):
    """The prediction :math:`m_t` (running mean) and the belief :math:`s_t` (its running MSE)."""

    mean: Updates
    belief: Updates


@declare_hyperparams("b1", "b2", "eps_root", off_when_zero=("eps_root",))
def belief_moment(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps_root: jax.typing.ArrayLike = 1e-16,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""AdaBelief's :math:`s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \bar\epsilon`.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)\,|g_t - m_t|^2 + \bar\epsilon

    The :math:`\bar\epsilon` is added to the stored :math:`s_t` at every step (Zhuang et al.'s
    Algorithm 2 and optax), so it accumulates to :math:`\bar\epsilon (1-\beta_2^t)/(1-\beta_2)`.
    The output is :math:`s_t`, not bias-corrected: chain ``bias_correction(b2)``.

    Args:
      b1: :math:`\beta_1 \in [0, 1)`, the decay of the prediction :math:`m_t`; default 0.9.
      b2: :math:`\beta_2 \in [0, 1)`, the decay of the belief; default 0.999.
      eps_root: :math:`\bar\epsilon \ge 0`; default 1e-16 (optax). A Python 0 adds no term.
      accumulator_dtype: dtype of both stored buffers; ``None`` follows the storage policy (the
        params' dtype for the mean; float32 for the belief of float16 params).

    Returns:
      A GradientTransformation whose output is :math:`s_t`, with state ``BeliefState(mean,
      belief)``.

    References:
      Zhuang et al., `AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients
      <https://arxiv.org/abs/2010.07468>`_, NeurIPS 2020, Alg. 2.
      Matches: the ``nu`` of ``optax.scale_by_belief``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.belief import belief_moment
    >>> tx = belief_moment(0.5, 0.5, eps_root=0.0)
    >>> tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))[0]  # m = 2; 0.5 * (4 - 2)**2
    Array([2.], dtype=float32)
    """
    validation.check_unit_interval("belief_moment", "b1", b1, "0.9")
    validation.check_unit_interval("belief_moment", "b2", b2, "0.999")
    validation.check_non_negative("belief_moment", "eps_root", eps_root, "1e-16")
    validation.check_dtype("belief_moment", "accumulator_dtype", accumulator_dtype)
    add_eps_root = not validation.is_static_zero(eps_root)

    def init(params: Params) -> BeliefState:
        return BeliefState(
            mean=storage.init(params, 0.0, accumulator_dtype),
            belief=storage.init(params, 0.0, accumulator_dtype, squared=True),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("belief_moment", state, BeliefState)
        del params
        validation.check_structure("belief_moment", updates, state.mean)
        mean = tree.update_moment(updates, state.mean, b1, 1)
        surprise = jax.tree.map(lambda g, m: storage.load(jnp.asarray(g)) - m, updates, mean)
        belief = tree.update_moment(surprise, state.belief, b2, 2)
        if add_eps_root:
            belief = jax.tree.map(lambda s: s + eps_root, belief)
        # a real statistic, output in its stored dtype (as moving_average's second moment)
        out = jax.tree.map(lambda s, b: s.astype(b.dtype), belief, state.belief)
        new_state = BeliefState(
            storage.store(mean, state.mean), storage.store(belief, state.belief)
        )
        return out, new_state

    return GradientTransformation(init, update)


__all__ = ["BeliefState", "belief_moment"]

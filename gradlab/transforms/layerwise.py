r"""Layer-wise statistics: one scalar per leaf (a *block*: a weight matrix, a bias vector).

:func:`block_second_moment` is NovoGrad's per-layer second moment, an exponential moving average
of :math:`\lVert g_l \rVert^2` that starts from the first gradient's norm rather than from 0.
Its output is a scalar per leaf, which broadcasts against the leaf in a
:func:`gradlab.divide`: ``divide(identity(), chain(block_second_moment(b2), sqrt(), add_eps(eps)))``
is NovoGrad's normalised gradient.

:func:`scale_by_layerwise_trust_ratio` is LARS's local learning rate as You et al. write it
(the decay term's norm added to the gradient's, not the norm of their sum as in
:func:`gradlab.scale_by_trust_ratio`).

Norms are summed in float32 or wider; the stored moment follows the storage policy for squares.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates, stateless
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


def _squared_norm(x: jax.Array) -> jax.Array:
    return jnp.sum(storage.power(x, 2))


class BlockSecondMomentState(NamedTuple):
    """Updates seen so far (int32 scalar) and each leaf's :math:`v_t` (a scalar per leaf)."""

    steps: jax.Array
    block_moment: Updates


@declare_hyperparams("decay")
def block_second_moment(
    decay: ArrayLike = 0.25, warm_start: bool = True, accumulator_dtype: Any | None = None
) -> GradientTransformation:
    r"""Per-leaf moving average of the squared norm: :math:`v_t = \beta v_{t-1} + (1-\beta)
    \lVert g_t \rVert^2`.

    With ``warm_start`` (NovoGrad's rule) :math:`v_1 = \lVert g_1 \rVert^2`; otherwise
    :math:`v_0 = 0`. The norm is each leaf's own (its Frobenius norm), and the output is one
    scalar per leaf.

    Args:
      decay: :math:`\beta \in [0, 1)`; default 0.25 (NovoGrad's :math:`\beta_2`).
      warm_start: start from the first squared norm instead of 0 (static).
      accumulator_dtype: dtype of the stored :math:`v_t`; ``None`` follows the storage policy
        for squares (the params' real dtype, float32 for float16).

    Returns:
      A GradientTransformation with state ``BlockSecondMomentState(steps, block_moment)``.

    References:
      Ginsburg et al., `Stochastic Gradient Methods with Layer-wise Adaptive Moments for
      Training of Deep Networks <https://arxiv.org/abs/1905.11286>`_, 2019, Alg. 1.
      Matches: the ``nu`` of ``optax.scale_by_novograd``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import layerwise
    >>> tx = layerwise.block_second_moment(0.5)
    >>> v, s = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
    >>> v, tx.update(jnp.array([1.0, 0.0]), s)[0]  # 25, then 0.5 * 25 + 0.5 * 1
    (Array(25., dtype=float32), Array(13., dtype=float32))
    """
    fn = "block_second_moment"
    validation.check_unit_interval(fn, "decay", decay, "0.25")
    validation.check_dtype(fn, "accumulator_dtype", accumulator_dtype)

    def init(params: Params) -> BlockSecondMomentState:
        moment = jax.tree.map(
            lambda p: jnp.zeros(
                [], storage.storage_dtype(storage.leaf_dtype(p), accumulator_dtype, squared=True)
            ),
            params,
        )
        return BlockSecondMomentState(jnp.zeros([], jnp.int32), moment)

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, BlockSecondMomentState)
        del params
        validation.check_structure(fn, updates, state.block_moment)
        squares = jax.tree.map(_squared_norm, updates)
        moment = tree.update_moment(squares, state.block_moment, decay, 1)
        if warm_start:
            first = state.steps == 0
            moment = jax.tree.map(lambda s, m: jnp.where(first, s, m), squares, moment)
        out = jax.tree.map(lambda m, s: m.astype(s.dtype), moment, state.block_moment)
        return out, BlockSecondMomentState(
            tree.safe_increment(state.steps), storage.store(moment, state.block_moment)
        )

    return GradientTransformation(init, update)


@declare_hyperparams("weight_decay", "trust_coefficient", "eps", off_when_zero=("weight_decay",))
def scale_by_layerwise_trust_ratio(
    weight_decay: ArrayLike = 0.0, trust_coefficient: ArrayLike = 1e-3, eps: ArrayLike = 0.0
) -> GradientTransformation:
    r"""LARS's local learning rate, as in the paper, applied to the decayed gradient.

    .. math::
        \lambda_l = \frac{c\, \lVert\theta_l\rVert}{\lVert g_l\rVert + \beta \lVert\theta_l\rVert
        + \epsilon}, \qquad u_l = \lambda_l\, (g_l + \beta \theta_l),
        \quad\text{or } u_l = g_l + \beta\theta_l \text{ where a norm is } 0

    The weight decay is added here (do not chain :func:`gradlab.add_decayed_weights` too); a
    Python 0 builds neither decay term.
    ``gradlab.lars`` (optax's form) instead divides by :math:`\lVert g_l + \beta\theta_l\rVert`.

    Args:
      weight_decay: :math:`\beta \ge 0`; default 0.
      trust_coefficient: :math:`c`, the trust coefficient :math:`\eta` of You et al.; default
        1e-3.
      eps: :math:`\epsilon \ge 0`, added to the denominator; default 0.

    Returns:
      A stateless GradientTransformation; ``update`` needs ``params``.

    References:
      You, Gitman & Ginsburg, `Large Batch Training of Convolutional Networks
      <https://arxiv.org/abs/1708.03888>`_, 2017, Alg. 1.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import layerwise
    >>> tx = layerwise.scale_by_layerwise_trust_ratio(trust_coefficient=1.0)
    >>> tx.update(jnp.array([0.0, 2.0]), None, jnp.array([3.0, 4.0]))[0]  # g * 5 / 2
    Array([0., 5.], dtype=float32)
    """
    fn = "scale_by_layerwise_trust_ratio"
    validation.check_non_negative(fn, "weight_decay", weight_decay, "1e-4")
    validation.check_finite(fn, "trust_coefficient", trust_coefficient, "1e-3")
    validation.check_non_negative(fn, "eps", eps, "0.0")
    decays = not validation.is_static_zero(weight_decay)

    def scaled(g: jax.Array, p: jax.Array) -> jax.Array:
        param_norm = tree.safe_sqrt(_squared_norm(p))
        grad_norm = tree.safe_sqrt(_squared_norm(g))
        denominator = grad_norm + weight_decay * param_norm if decays else grad_norm
        ratio = trust_coefficient * param_norm / (denominator + eps)
        ratio = jnp.where((param_norm == 0) | (grad_norm == 0), jnp.ones_like(ratio), ratio)
        decayed = storage.load(g) + weight_decay * storage.load(p) if decays else storage.load(g)
        return (decayed * ratio).astype(g.dtype)

    def apply(updates: Updates, params: Params | None) -> Updates:
        validation.require_params(fn, params, updates)
        return jax.tree.map(scaled, updates, params)

    return stateless(apply)


__all__ = ["BlockSecondMomentState", "block_second_moment", "scale_by_layerwise_trust_ratio"]

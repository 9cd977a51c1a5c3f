r"""Adafactor's factored second moment: row and column statistics in place of a full matrix.

For a matrix gradient :math:`G \in \mathbb{R}^{m \times n}` the state keeps a row statistic
:math:`R \in \mathbb{R}^m` and a column statistic :math:`C \in \mathbb{R}^n`, :math:`O(m + n)`
floats instead of Adam's :math:`m n`; their outer product, normalised, stands in for the second
moment (the rank-1 approximation that minimises the I-divergence, Shazeer & Stern, Sec. 3).
Leaves that are not factored (vectors, scalars, matrices whose second-largest dimension is below
``min_dim_size_to_factor``) keep a full second moment, as RMSProp does.

The state layout is optax's ``FactoredState(count, v_row, v_col, v)``: a factored leaf holds a
placeholder of shape ``(1,)`` in ``v``, an unfactored one placeholders in ``v_row`` and
``v_col``. Statistics are stored through :mod:`gradlab.core.storage` (the params' dtype, float32
for float16 params) and the arithmetic runs in float32 or wider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


def _decay_rate_pow(step: ArrayLike, exponent: ArrayLike = 0.8) -> jax.Array:
    r"""Adafactor's decay :math:`\hat\beta_{2,t} = 1 - t^{-c}`, :math:`t = \text{step} + 1`.

    Computed in float32, as optax computes it (also under x64), so that float64 runs agree with
    optax to rounding.
    """
    t = jnp.asarray(step + 1, jnp.float32)
    return 1.0 - t ** (-jnp.asarray(exponent, jnp.float32))


def _factored_dims(
    shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int
) -> tuple[int, int] | None:
    """``(d1, d0)``: the second-largest and the largest axis, or ``None`` (not factored)."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


class FactoredState(NamedTuple):
    """Step count and the factored (``v_row``, ``v_col``) or full (``v``) second moments.

    ``v_row`` is the mean of :math:`g^2 + \\epsilon` over a leaf's largest axis, ``v_col`` over
    its second-largest; leaves that are not factored keep ``v`` (the others hold ``(1,)``
    placeholders there).
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    v_row: Updates
    v_col: Updates
    v: Updates


@declare_hyperparams("decay_rate", "epsilon")
def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: ArrayLike = 0.8,
    step_offset: int = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: ArrayLike = 1e-30,
    decay_rate_fn: Callable[[ArrayLike, ArrayLike], ArrayLike] = _decay_rate_pow,
    *,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Scales by a factored estimate of the gradient's root mean square (Adafactor).

    With :math:`\hat\beta_t = 1 - (t - s + 1)^{-c}` (``decay_rate_fn``; :math:`t` counts from
    0) and a factored leaf :math:`G \in \mathbb{R}^{m \times n}` (:math:`n` its largest axis):

    .. math::
        R_t = \hat\beta_t R_{t-1} + (1-\hat\beta_t)\operatorname{mean}_j(G^2 + \epsilon)_{:,j},
        \quad
        C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\operatorname{mean}_i(G^2 + \epsilon)_{i,:},
        \quad
        U_t = \frac{G}{\sqrt{\hat V_t}}, \quad
        \hat V_t = \frac{R_t C_t^\top}{\operatorname{mean}_i R_{t,i}}

    (Shazeer & Stern's :math:`R_t C_t / 1^\top R_t` with sums, written with means). A leaf that
    is not factored uses :math:`V_t = \hat\beta_t V_{t-1} + (1-\hat\beta_t)(g^2+\epsilon)`,
    :math:`u_t = g_t / \sqrt{V_t}`.

    Args:
      factored: factor the statistics of matrices (and higher-rank leaves, over their two
        largest axes); ``False`` keeps a full second moment for every leaf.
      decay_rate: :math:`c`, the exponent of the decay schedule; default 0.8 (the paper's).
      step_offset: :math:`s`, an int >= 0: the step at which a fine-tuning phase starts.
      min_dim_size_to_factor: factor a leaf only if its second-largest axis has at least this
        many entries; default 128 (optax).
      epsilon: :math:`\epsilon \ge 0`, added to :math:`g^2`; default 1e-30 (the paper's
        :math:`\epsilon_1`).
      decay_rate_fn: ``(step - step_offset, decay_rate) -> decay``; default
        :math:`1 - (t+1)^{-c}`, in float32 as optax computes it.
      accumulator_dtype: dtype of the stored statistics; ``None`` follows the storage policy
        (the params' dtype, float32 for float16 params). Not in optax.

    Returns:
      A GradientTransformation with state ``FactoredState(count, v_row, v_col, v)``;
      ``update`` needs ``params``.

    References:
      Shazeer & Stern, `Adafactor: Adaptive Learning Rates with Sublinear Memory Cost
      <https://arxiv.org/abs/1804.04235>`_, ICML 2018, Alg. 4 and 5.
      Matches: ``optax.scale_by_factored_rms`` (same state fields), rtol 1e-10 in float64.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.factored import scale_by_factored_rms
    >>> tx = scale_by_factored_rms(min_dim_size_to_factor=2)
    >>> params = jnp.zeros((2, 3))
    >>> state = tx.init(params)
    >>> state.v_row.shape, state.v_col.shape, state.v.shape  # O(m + n) floats
    ((2,), (3,), (1,))
    >>> u, state = tx.update(jnp.full((2, 3), 4.0), state, params)
    >>> u  # the first step is g / |g| for a constant gradient
    Array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    """
    fn = "scale_by_factored_rms"
    validation.check_finite(fn, "decay_rate", decay_rate, "0.8")
    validation.check_non_negative(fn, "epsilon", epsilon, "1e-30")
    validation.check_count(fn, "step_offset", step_offset, 0, "0")
    validation.check_count(fn, "min_dim_size_to_factor", min_dim_size_to_factor, 1, "128")
    validation.check_callable(fn, "decay_rate_fn", decay_rate_fn, "lambda t, c: 1 - (t + 1)**-c")
    validation.check_dtype(fn, "accumulator_dtype", accumulator_dtype)

    def dims(leaf: Any) -> tuple[int, int] | None:
        return _factored_dims(jnp.shape(leaf), factored, min_dim_size_to_factor)

    def dtype_of(leaf: Any) -> Any:
        return storage.storage_dtype(storage.leaf_dtype(leaf), accumulator_dtype, squared=True)

    def placeholder(leaf: Any) -> jax.Array:
        return jnp.zeros((1,), dtype_of(leaf))

    def reduced(leaf: Any, axis: int) -> jax.Array:
        shape = jnp.shape(leaf)
        return jnp.zeros(shape[:axis] + shape[axis + 1 :], dtype_of(leaf))

    def init(params: Params) -> FactoredState:
        def slots(p: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
            factored_dims = dims(p)
            if factored_dims is None:
                return (
                    placeholder(p),
                    placeholder(p),
                    jnp.zeros_like(p, dtype_of(p)),
                )  # keeps p's sharding
            d1, d0 = factored_dims
            return reduced(p, d0), reduced(p, d1), placeholder(p)

        # three maps, not one map and a transpose: optax.tree.map_params calls init with
        # placeholder leaves, whose tree a transpose cannot rebuild
        v_row, v_col, v = (jax.tree.map(lambda p, i=i: slots(p)[i], params) for i in range(3))
        return FactoredState(jnp.zeros([], jnp.int32), v_row, v_col, v)

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, FactoredState)
        validation.require_params(fn, params, updates)
        validation.check_structure(fn, updates, state.v)
        decay = decay_rate_fn(state.count - step_offset, decay_rate)

        def leaf(g: jax.Array, row: jax.Array, col: jax.Array, v: jax.Array) -> tuple[Any, ...]:
            g_wide = storage.load(jnp.asarray(g))
            g_sq = storage.power(g_wide, 2) + epsilon
            factored_dims = dims(g)
            if factored_dims is None:
                new_v = decay * storage.load(v) + (1.0 - decay) * g_sq
                out = g_wide * new_v**-0.5
                return out, row, col, new_v
            d1, d0 = factored_dims
            new_row = decay * storage.load(row) + (1.0 - decay) * jnp.mean(g_sq, axis=d0)
            new_col = decay * storage.load(col) + (1.0 - decay) * jnp.mean(g_sq, axis=d1)
            row_axis = d1 - 1 if d1 > d0 else d1  # d1's position once d0 is reduced away
            row_factor = (new_row / jnp.mean(new_row, axis=row_axis, keepdims=True)) ** -0.5
            col_factor = new_col**-0.5
            out = g_wide * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(col_factor, d1)
            return out, new_row, new_col, v

        if not jax.tree.leaves(updates):  # nothing to scale (transpose needs a leaf)
            return updates, state._replace(count=tree.safe_increment(state.count))
        results = jax.tree.map(leaf, updates, state.v_row, state.v_col, state.v)
        treedef = jax.tree.structure(updates)
        out, v_row, v_col, v = jax.tree.transpose(
            treedef, jax.tree.structure((0, 0, 0, 0)), results
        )
        new_state = FactoredState(
            tree.safe_increment(state.count),
            storage.store(v_row, state.v_row),
            storage.store(v_col, state.v_col),
            storage.store(v, state.v),
        )
        return storage.like(out, updates), new_state

    return GradientTransformation(init, update)


__all__ = ["FactoredState", "scale_by_factored_rms"]

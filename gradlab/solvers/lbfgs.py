r"""L-BFGS: the limited-memory BFGS direction, and the optimizer that steps along it.

:func:`scale_by_lbfgs` maps the gradient :math:`g_k` to :math:`H_k g_k`, where :math:`H_k` is the
BFGS approximation of the inverse Hessian built from the last :math:`m` pairs
:math:`s_i = w_{i+1} - w_i`, :math:`y_i = g_{i+1} - g_i`, kept in a circular buffer (one stacked
array per leaf) and applied by the two-loop recursion (two ``jax.lax.scan``). :func:`lbfgs`
chains it with a sign flip (or a learning rate) and a line search, as optax does.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    ScalarOrSchedule,
    Updates,
    identity,
)
from gradlab.core.injection import inject_hyperparams
from gradlab.solvers.linesearch import scale_by_zoom_linesearch
from gradlab.transforms.combine import chain
from gradlab.transforms.scaling import scale, scale_by_learning_rate


class ScaleByLBFGSState(NamedTuple):
    """The iteration count, the previous params and updates, and the memory of past pairs.

    ``diff_params_memory`` and ``diff_updates_memory`` hold :math:`s_i` and :math:`y_i`, each
    leaf stacked along a leading axis of length ``memory_size`` (slot ``i % memory_size`` for
    pair ``i``); ``weights_memory`` holds :math:`\\rho_i = 1 / \\langle y_i, s_i \\rangle`
    (0 for an empty or skipped slot). optax's field names.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    params: Params
    updates: Updates
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: jax.Array


def _vdot(x: Any, y: Any) -> jax.Array:
    r""":math:`\mathrm{Re}\langle x, y\rangle = \mathrm{Re}\sum \bar x\, y` over the leaves."""
    parts = jax.tree.map(
        lambda a, b: jnp.real(jnp.tensordot(jnp.conj(a), b, jnp.ndim(a), precision="highest")),
        x,
        y,
    )
    return sum(jax.tree.leaves(parts), jnp.zeros([]))


def _axpy(x: Any, factor: jax.Array, y: Any) -> Any:
    """:math:`x + a y`, each leaf keeping the dtype of ``x``."""
    return jax.tree.map(lambda a, b: (a + factor * b).astype(a.dtype), x, y)


def _two_loop(
    gradient: Updates,
    state: ScaleByLBFGSState,
    gamma: jax.Array,
    oldest: jax.Array,
) -> Updates:
    r""":math:`H_k g` by Nocedal & Wright's Alg. 7.4, over the buffer from newest to oldest pair
    and back (empty slots have :math:`\rho = 0` and change nothing)."""
    size = state.weights_memory.shape[0]
    order = (oldest + jnp.arange(size)) % size  # oldest ... newest

    def pair(i: jax.Array) -> tuple[Any, Any, jax.Array]:
        s, y = jax.tree.map(lambda m: m[i], (state.diff_params_memory, state.diff_updates_memory))
        return s, y, state.weights_memory[i]

    def newest_to_oldest(q: Updates, i: jax.Array) -> tuple[Updates, jax.Array]:
        s, y, rho = pair(i)
        alpha = rho * _vdot(s, q)  # alpha_i = rho_i s_i^T q
        return _axpy(q, -alpha, y), alpha  # q <- q - alpha_i y_i

    def oldest_to_newest(r: Updates, i_alpha: tuple[jax.Array, jax.Array]) -> tuple[Updates, None]:
        i, alpha = i_alpha
        s, y, rho = pair(i)
        beta = rho * _vdot(y, r)  # beta = rho_i y_i^T r
        return _axpy(r, alpha - beta, s), None  # r <- r + s_i (alpha_i - beta)

    q, alphas = jax.lax.scan(newest_to_oldest, gradient, order, reverse=True)
    r = jax.tree.map(lambda x: (gamma * x).astype(x.dtype), q)  # r = H_k^0 q = gamma_k q
    r, _ = jax.lax.scan(oldest_to_newest, r, (order, alphas))
    return r


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> GradientTransformation:
    r"""The L-BFGS direction: :math:`u_k = H_k g_k` (two-loop recursion, :math:`m` pairs).

    .. math::
        H_k = V_{k-1}^\top \cdots V_{k-m}^\top (\gamma_k I) V_{k-m} \cdots V_{k-1}
        + \sum_{j=k-m}^{k-1} \rho_j (V_{j+1}^\top \cdots V_{k-1}^\top)^{\!\top}\!\! s_j s_j^\top
        (V_{j+1} \cdots V_{k-1}),

    with :math:`V_j = I - \rho_j y_j s_j^\top`, :math:`\rho_j = 1/\langle y_j, s_j\rangle`,
    :math:`s_j = w_{j+1} - w_j`, :math:`y_j = g_{j+1} - g_j`, and
    :math:`\gamma_k = \langle s_{k-1}, y_{k-1}\rangle / \langle y_{k-1}, y_{k-1}\rangle` with
    ``scale_init_precond`` (N&W eq. 7.20), else 1; at the first step, with no pair yet,
    :math:`\gamma_0 = \min(1, 1/\|g_0\|)` (optax's choice: a first step of length at most 1).
    The memory is updated first, from the params and updates of this and the previous call, so
    that the line search after this stage sees the direction for the step it is about to take.
    A pair with :math:`\langle y, s\rangle \le 0` (no curvature: BFGS would lose positive
    definiteness) is skipped, as N&W §7.2 advise. Chain a line search after it (or use
    :func:`lbfgs`); the output is not sign-flipped.

    Args:
      memory_size: :math:`m \ge 1`, the number of pairs kept; default 10.
      scale_init_precond: use :math:`\gamma_k` above (``False``: :math:`\gamma_k = 1`).

    Returns:
      A GradientTransformation with state :class:`ScaleByLBFGSState`; ``update`` needs
      ``params``.

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Alg. 7.4 (two-loop recursion) and
      7.5 (L-BFGS); Liu & Nocedal, `On the limited memory BFGS method for large scale
      optimization <https://doi.org/10.1007/BF01589116>`_, 1989.
      Matches: ``optax.scale_by_lbfgs`` (same state fields and directions, tests/test_solvers.py;
      optax keeps pairs with :math:`\langle y, s\rangle < 0`, which never arise after a
      successful Wolfe line search).

    >>> import jax.numpy as jnp
    >>> from gradlab.solvers import scale_by_lbfgs
    >>> tx = scale_by_lbfgs(memory_size=3)
    >>> w = jnp.array([3.0, 4.0])
    >>> u, state = tx.update(2 * w, tx.init(w), w)
    >>> u  # the first direction is g / ||g||
    Array([0.6, 0.8], dtype=float32)
    """
    fn = "scale_by_lbfgs"
    validation.check_count(fn, "memory_size", memory_size, 1, "10")
    validation.check_choice(fn, "scale_init_precond", scale_init_precond, (False, True))

    def init(params: Params) -> ScaleByLBFGSState:
        validation.check_float_leaves(fn, params, "params")
        stacked = jax.tree.map(
            lambda p: jnp.zeros((memory_size, *jnp.shape(p)), storage.leaf_dtype(p)), params
        )
        reals = [storage.real_dtype(storage.leaf_dtype(p)) for p in jax.tree.leaves(params)]
        weights_dtype = storage.compute_dtype(jnp.result_type(*reals) if reals else jnp.float32)
        return ScaleByLBFGSState(
            count=jnp.zeros([], jnp.int32),
            params=tree.zeros_like(params),
            updates=tree.zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros([memory_size], weights_dtype),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, ScaleByLBFGSState)
        validation.require_params(fn, params, updates)
        weights = state.weights_memory
        started = state.count > 0  # a pair exists from the second call on
        newest, oldest = (state.count - 1) % memory_size, state.count % memory_size
        # 1. The new pair (s, y) = (w_k - w_{k-1}, g_k - g_{k-1}) goes in the newest slot.
        s = jax.tree.map(jnp.subtract, params, state.params)
        y = jax.tree.map(jnp.subtract, updates, state.updates)
        curvature = _vdot(y, s).astype(weights.dtype)
        usable = started & (curvature > 0)
        rho = jnp.where(usable, 1.0 / jnp.where(usable, curvature, 1.0), 0.0)
        s, y = (jax.tree.map(lambda x: jnp.where(usable, x, jnp.zeros_like(x)), t) for t in (s, y))
        diff_params, diff_updates = (
            jax.tree.map(lambda m, x: m.at[newest].set(x.astype(m.dtype)), memory, new)
            for memory, new in ((state.diff_params_memory, s), (state.diff_updates_memory, y))
        )
        weights = weights.at[newest].set(rho)
        # 2. gamma_k, the scale of the initial inverse Hessian H_k^0 = gamma_k I.
        if scale_init_precond:
            y_norm2 = _vdot(y, y).astype(weights.dtype)
            gamma = jnp.where(usable, curvature / jnp.where(usable, y_norm2, 1.0), 1.0)
            g_norm = jnp.sqrt(_vdot(updates, updates)).astype(weights.dtype)
            gamma = jnp.where(started, gamma, jnp.minimum(1.0, 1.0 / g_norm))
        else:
            gamma = jnp.ones([], weights.dtype)
        # 3. u_k = H_k g_k by the two-loop recursion.
        new_state = ScaleByLBFGSState(
            count=tree.safe_increment(state.count),
            params=params,
            updates=updates,
            diff_params_memory=diff_params,
            diff_updates_memory=diff_updates,
            weights_memory=weights,
        )
        direction = _two_loop(updates, new_state, gamma, oldest)
        return storage.like(direction, updates), storage.store(new_state, state)

    return GradientTransformation(init, update)


_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(
    max_linesearch_steps=20, initial_guess_strategy="one"
)


@inject_hyperparams(dynamic_args=("learning_rate",))
def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Any | None = _DEFAULT_LINESEARCH,
) -> GradientTransformationExtraArgs:
    r"""L-BFGS: a quasi-Newton step along :math:`-H_k g_k`, its length set by a line search.

    .. math::
        w_{k+1} = w_k - \eta_k H_k g_k

    with :math:`H_k g_k` from :func:`scale_by_lbfgs` and :math:`\eta_k` from ``linesearch`` (by
    default a strong-Wolfe :func:`~gradlab.solvers.scale_by_zoom_linesearch` starting at 1), or
    :math:`\eta_k = \alpha_k`, the learning rate, when ``linesearch`` is ``None``. ``update``
    needs ``params`` and, for the line search, the extra arguments ``value``, ``grad`` and
    ``value_fn``; :func:`~gradlab.solvers.value_and_grad_from_state` reuses the value and
    gradient the line search computed at the new point. Built as
    ``chain(scale_by_lbfgs(...), scale(-1) or scale_by_learning_rate(lr), linesearch)``.

    Args:
      learning_rate: :math:`\alpha_k`, a number or a schedule multiplying the direction;
        ``None`` (default): 1, the line search decides.
      memory_size: :math:`m`, the number of :math:`(s, y)` pairs kept; default 10.
      scale_init_precond: scale :math:`H_k^0` by :math:`\gamma_k` (see :func:`scale_by_lbfgs`).
      linesearch: a line search (a GradientTransformationExtraArgs), or ``None`` for none.

    Returns:
      A GradientTransformationExtraArgs (an injected chain: ``set_hyperparams`` works for a
      numeric ``learning_rate``).

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Alg. 7.5 (with Alg. 7.4, 3.5
      and 3.6).
      Matches: ``optax.lbfgs`` (same signature and defaults; updates equal to rtol 1e-10 over
      20 float64 iterations on Rosenbrock and least squares, tests/test_solvers.py).

    >>> import jax.numpy as jnp
    >>> from gradlab.solvers import lbfgs, value_and_grad_from_state
    >>> f = lambda w: jnp.sum(w**2)
    >>> solver, w = lbfgs(), jnp.array([1.0, 2.0, 3.0])
    >>> state, value_and_grad = solver.init(w), value_and_grad_from_state(f)
    >>> for _ in range(2):
    ...     v, g = value_and_grad(w, state=state)
    ...     u, state = solver.update(g, state, w, value=v, grad=g, value_fn=f)
    ...     w = w + u
    ...     print(f"{float(f(w)):.2E}")
    7.52E+00
    7.46E-14
    """
    fn = "lbfgs"
    if linesearch is not None:
        validation.check_transform(fn, "linesearch", linesearch)
    return chain(
        scale_by_lbfgs(memory_size, scale_init_precond),  # H_k g_k
        scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate),  # -a_k
        identity() if linesearch is None else linesearch,  # eta_k
    )


__all__ = ["ScaleByLBFGSState", "lbfgs", "scale_by_lbfgs"]

r"""Optimization loops that reuse the line search's evaluations.

:func:`value_and_grad_from_state` is optax's pattern for a Python loop: the value and gradient
that the line search computed at the point it accepted serve the next iteration.
:func:`minimize` runs a whole optimization in one ``jax.lax.while_loop``. Each iteration makes
one ``optimizer.update`` with the extra arguments ``value``, ``grad`` and ``value_fn`` and
applies it. When the optimizer ends in a line search that keeps the value and
gradient at the point it accepted (L-BFGS with the zoom search, the default), those are reused,
as ``optax.value_and_grad_from_state`` does, so the only evaluations are the line search's;
otherwise ``jax.value_and_grad(fun)`` runs once per iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core import tree as pytree
from gradlab.core.base import OptState, Params, Updates, apply_updates, with_extra_args_support
from gradlab.solvers.lbfgs import lbfgs

ArrayLike = jax.typing.ArrayLike

# ---------------------------------------------------------------------------------------------
# Finding and reusing the line search's evaluations


def _is_linesearch_state(node: Any) -> bool:
    fields = getattr(type(node), "_fields", ())
    return isinstance(node, tuple) and {"learning_rate", "value", "grad", "info"} <= set(fields)


def find_linesearch_state(state: OptState) -> Any:
    r"""The line search's state inside an optimizer state: :math:`(\eta_k, f(w_{k+1}),
    \nabla f(w_{k+1}), \text{info})`, or ``None`` if it holds none.

    Any NamedTuple with the fields ``learning_rate``, ``value``, ``grad`` and ``info`` counts
    (gradlab's and optax's line searches), wherever it sits in the state (a chain, an injection,
    a Flax ``TrainState``...).

    Args:
      state: an optimizer state, e.g. ``lbfgs().init(params)``.

    Returns:
      The line search's state, or ``None``. Several line searches in one state raise a
      ValueError (it is not clear whose value is meant).

    References:
      Matches: ``optax.tree.get(state, "value")``, restricted to line-search states.

    >>> import jax.numpy as jnp
    >>> from gradlab.solvers import find_linesearch_state, lbfgs
    >>> find_linesearch_state(lbfgs().init(jnp.zeros(2))).value
    Array(inf, dtype=float32)
    """
    found = [
        n for n in jax.tree.leaves(state, is_leaf=_is_linesearch_state) if _is_linesearch_state(n)
    ]
    if len(found) > 1:
        raise ValueError(
            f"find_linesearch_state: this state holds {len(found)} line-search states, so the "
            "value and gradient to reuse are ambiguous. Keep one line search per optimizer, or "
            "pass the sub-state of the one you mean."
        )
    return found[0] if found else None


def value_and_grad_from_state(
    value_fn: Callable[..., ArrayLike],
) -> Callable[..., tuple[jax.Array, Updates]]:
    r"""Like ``jax.value_and_grad(value_fn)``, but returns :math:`f(w), \nabla f(w)` from the
    optimizer state when the line search already computed them there.

    The returned function is called as ``value_and_grad(params, *args, state=opt_state,
    **kwargs)``. If the line-search state's ``value`` is finite, its ``(value, grad)`` are
    returned without evaluating :math:`f` (its stored point is the new ``params`` when the line
    search is the optimizer's last stage, as in :func:`gradlab.solvers.lbfgs`); otherwise (at
    the first iteration, when ``value`` is :math:`\infty`, or after a NaN) they are computed
    with ``jax.value_and_grad``. Use it only for deterministic objectives: with minibatches the
    stored value belongs to the previous batch.

    Args:
      value_fn: the objective :math:`f`, ``value_fn(params, *args, **kwargs) -> scalar``.

    Returns:
      ``value_and_grad(params, *args, state, **kwargs) -> (value, grad)``. It raises a
      ValueError if the state holds no line search, or one that keeps no gradient (a
      backtracking search without ``store_grad=True``).

    References:
      Matches: ``optax.value_and_grad_from_state``.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.gradient_descent import sgd
    >>> from gradlab.transforms.combine import chain
    >>> from gradlab.solvers import scale_by_backtracking_linesearch, value_and_grad_from_state
    >>> f = lambda w: jnp.sum(w**2)
    >>> solver = chain(sgd(1.0), scale_by_backtracking_linesearch(15, store_grad=True))
    >>> w = jnp.array([1.0, 2.0, 3.0])
    >>> state, value_and_grad = solver.init(w), value_and_grad_from_state(f)
    >>> for _ in range(3):  # f is evaluated by the line search only, after the first call
    ...     v, g = value_and_grad(w, state=state)
    ...     u, state = solver.update(g, state, w, value=v, grad=g, value_fn=f)
    ...     w = w + u
    ...     print(f"{float(f(w)):.2E}")
    5.04E+00
    1.81E+00
    6.53E-01
    """
    validation.check_callable("value_and_grad_from_state", "value_fn", value_fn, "loss")

    def value_and_grad(
        params: Params, *args: Any, state: OptState, **kwargs: Any
    ) -> tuple[jax.Array, Updates]:
        found = find_linesearch_state(state)
        if found is None or found.grad is None:
            what = "no line search" if found is None else "a line search that keeps no gradient"
            raise ValueError(
                f"value_and_grad_from_state: the state holds {what}, so there is no value and "
                "gradient to reuse. Chain scale_by_zoom_linesearch or "
                "scale_by_backtracking_linesearch(..., store_grad=True) last, or use "
                "jax.value_and_grad."
            )
        stored_value, stored_grad = found.value, found.grad
        return jax.lax.cond(
            jnp.isfinite(stored_value),
            lambda: (stored_value, stored_grad),
            lambda: storage.store(
                jax.value_and_grad(value_fn)(params, *args, **kwargs), (stored_value, stored_grad)
            ),
        )

    return value_and_grad


# ---------------------------------------------------------------------------------------------
# minimize


class MinimizeResult(NamedTuple):
    """What :func:`minimize` returns.

    ``params``: the last iterate :math:`w_K`; ``value``, ``grad``: :math:`f(w_K)` and
    :math:`\\nabla f(w_K)`; ``grad_norm``: :math:`\\|\\nabla f(w_K)\\|_2`;
    ``num_iterations``: :math:`K`, the number of updates applied (0 if :math:`w_0` already
    met the tolerance); ``num_fun_evals``: evaluations of :math:`f` (with its gradient, except
    a backtracking search's trials, which compute values only), counted from the line search's
    info; ``converged``: whether ``grad_norm <= tol``; ``state``: the optimizer's final state.
    """

    params: Params
    value: jax.Array
    grad: Updates
    grad_norm: jax.Array
    num_iterations: jax.Array
    num_fun_evals: jax.Array
    converged: jax.Array
    state: OptState


class _Carry(NamedTuple):
    params: Params
    state: OptState
    value: jax.Array
    grad: Updates
    num_iterations: jax.Array
    num_fun_evals: jax.Array
    num_stalled: jax.Array  # consecutive iterations that did not lower f


# The loop also stops after this many consecutive iterations that did not lower f: at the
# precision floor (float32 with a tol it cannot resolve) the steps round to nothing or cycle,
# and every further iteration would repeat them until maxiter.
_STALL_ITERATIONS = 10


def minimize(
    fun: Callable[[Params], jax.typing.ArrayLike],
    x0: Params,
    optimizer: Any | None = None,
    *,
    tol: jax.typing.ArrayLike = 1e-6,
    maxiter: int = 500,
) -> MinimizeResult:
    r"""Minimizes :math:`f` from :math:`w_0`: iterates until :math:`\|\nabla f(w_k)\|_2 \le`
    ``tol``, all inside one ``jax.lax.while_loop``.

    .. math::
        (u_k, S_{k+1}) = \text{optimizer.update}(\nabla f(w_k), S_k, w_k;\ f(w_k),
        \nabla f(w_k), f), \qquad w_{k+1} = w_k + u_k

    for :math:`k = 0, 1, \dots` while :math:`\|\nabla f(w_k)\| >` ``tol``, :math:`f(w_k)` is
    finite, :math:`k <` ``maxiter`` and one of the last 10 iterations lowered :math:`f` (at the
    precision floor, e.g. float32 with a ``tol`` below what it can resolve, the steps round to
    nothing: the loop stops there with ``converged=False`` instead of spinning until
    ``maxiter``). The loop is jit-able (close over ``fun`` and the
    optimizer: ``jax.jit(lambda x: minimize(f, x))``) and vmap-able over starting points (each
    point stops on its own: its iteration count is its own). ``x0`` may be any pytree of float
    arrays. The default optimizer is :func:`~gradlab.solvers.lbfgs` with its strong-Wolfe zoom
    line search; any gradlab or optax GradientTransformation works (an ``...ExtraArgs`` one
    receives ``value``, ``grad`` and ``value_fn``). A line-search state in the optimizer's state
    (any with ``value``, ``grad``, ``learning_rate`` and ``info``) is taken to hold
    :math:`f(w_{k+1}), \nabla f(w_{k+1})`: true when the line search is the last stage, as in
    :func:`~gradlab.solvers.lbfgs` and optax's documented chains.

    Args:
      fun: the objective, ``fun(params) -> scalar`` (close over data, or use
        ``functools.partial``).
      x0: the starting point :math:`w_0`, a pytree of float arrays.
      optimizer: a GradientTransformation; ``None``: ``lbfgs()``.
      tol: the gradient-norm tolerance, ``>= 0``; default 1e-6 (in float32, reachable only for
        well-scaled problems: pass e.g. 1e-4, or enable float64).
      maxiter: the most iterations, an int ``>= 0``; default 500.

    Returns:
      A :class:`MinimizeResult`.

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Alg. 7.5 (the default solver) and
      Alg. 3.5/3.6 (its line search); the stopping test is the gradient norm of §7.1.
      Matches: the loop of ``optax.lbfgs``'s documentation (with
      ``optax.value_and_grad_from_state``), compiled; ``scipy.optimize.minimize``'s role.

    >>> import jax.numpy as jnp
    >>> from gradlab.solvers import minimize
    >>> rosenbrock = lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
    >>> result = minimize(rosenbrock, jnp.array([-1.2, 1.0]), tol=1e-4)
    >>> bool(result.converged), result.params.round(3)
    (True, Array([1., 1.], dtype=float32))
    """
    fn = "minimize"
    validation.check_callable(fn, "fun", fun, "lambda w: jnp.sum(w**2)")
    if optimizer is not None:
        validation.check_transform(fn, "optimizer", optimizer)
    validation.check_in_interval(fn, "tol", tol, "[0, inf)", "1e-6")
    validation.check_count(fn, "maxiter", maxiter, 0, "500")
    validation.check_float_leaves(fn, x0, "x0")
    tx = with_extra_args_support(lbfgs() if optimizer is None else optimizer)
    value_and_grad = jax.value_and_grad(fun)

    state = tx.init(x0)
    stored = find_linesearch_state(state)
    reuse = stored is not None and stored.grad is not None
    count_linesearch = stored is not None and hasattr(stored.info, "num_linesearch_steps")
    value, grad = value_and_grad(x0)
    dtype = stored.value.dtype if reuse else storage.compute_dtype(jnp.result_type(value))
    value = jnp.asarray(value, dtype)

    def running(c: _Carry) -> jax.Array:
        return (
            (c.num_iterations < maxiter)
            & (pytree.norm(c.grad) > tol)
            & jnp.isfinite(c.value)
            & (c.num_stalled < _STALL_ITERATIONS)
        )

    def iterate(c: _Carry) -> _Carry:
        updates, state = tx.update(
            c.grad, c.state, c.params, value=c.value, grad=c.grad, value_fn=fun
        )
        params = apply_updates(c.params, updates)
        evals = c.num_fun_evals
        found = find_linesearch_state(state)
        if count_linesearch:
            evals = evals + found.info.num_linesearch_steps.astype(evals.dtype)
        if reuse:  # the line search's evaluation at the accepted point, unless it is not finite
            fresh = ~jnp.isfinite(found.value)
            value, grad = jax.lax.cond(
                fresh,
                lambda: storage.store(value_and_grad(params), (c.value, c.grad)),
                lambda: storage.store((found.value, found.grad), (c.value, c.grad)),
            )
            evals = evals + fresh.astype(evals.dtype)
        else:
            value, grad = storage.store(value_and_grad(params), (c.value, c.grad))
            evals = evals + 1
        stalled = jnp.where(value < c.value, jnp.zeros_like(c.num_stalled), c.num_stalled + 1)
        return _Carry(params, state, value, grad, c.num_iterations + 1, evals, stalled)

    one = jnp.ones([], jnp.int32)
    zero = jnp.zeros([], jnp.int32)
    start = _Carry(x0, state, value, grad, zero, one, zero)
    end = jax.lax.while_loop(running, iterate, start)
    grad_norm = pytree.norm(end.grad)
    return MinimizeResult(
        params=end.params,
        value=end.value,
        grad=end.grad,
        grad_norm=grad_norm,
        num_iterations=end.num_iterations,
        num_fun_evals=end.num_fun_evals,
        converged=grad_norm <= tol,
        state=end.state,
    )


__all__ = ["MinimizeResult", "find_linesearch_state", "minimize", "value_and_grad_from_state"]

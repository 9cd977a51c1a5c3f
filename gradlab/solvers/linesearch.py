r"""Line searches: choose the step size :math:`\eta` along an update direction :math:`u`.

A line search is the last stage of a chain: it receives the direction :math:`u` that the stages
before it computed (:math:`-g` for SGD, :math:`-H_k g` for L-BFGS), evaluates the objective on
the line :math:`\phi(\eta) = f(w + \eta u)` and returns :math:`\eta u`. The objective reaches it
through ``update``'s extra arguments: ``value`` (:math:`f(w)`), ``grad`` (:math:`\nabla f(w)`)
and ``value_fn`` (:math:`f`, called as ``value_fn(params, **kwargs)`` with the other extra
arguments it accepts). The value and gradient at the accepted point are kept in the state, and
:func:`gradlab.solvers.value_and_grad_from_state` hands them to the next iteration instead of
evaluating again.

Names, arguments, defaults and state fields are optax's (``optax.scale_by_backtracking_linesearch``,
``optax.scale_by_zoom_linesearch``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformationExtraArgs, OptState, Params, Updates

ArrayLike = jax.typing.ArrayLike


# ---------------------------------------------------------------------------------------------
# Pytree vectors (private)


def _add_scale(x: Any, step: jax.Array, direction: Any) -> Any:
    """:math:`x + \\eta u`, leaf by leaf."""
    return jax.tree.map(lambda a, b: a + step * b, x, direction)


def _scale(step: jax.Array, tree: Any) -> Any:
    """:math:`\\eta u`, each leaf keeping its dtype."""
    return jax.tree.map(lambda a: (step * a).astype(a.dtype), tree)


def _slope(grad: Any, direction: Any) -> jax.Array:
    r"""The directional derivative :math:`\phi'(\eta) = \mathrm{Re}\sum g \cdot u` (JAX's gradient
    of a real function of complex leaves is the conjugate, so no conjugation is needed)."""
    parts = jax.tree.map(
        lambda g, u: jnp.real(jnp.tensordot(g, u, jnp.ndim(u), precision="highest")),
        grad,
        direction,
    )
    return sum(jax.tree.leaves(parts), jnp.zeros([]))


def _real_dtype(params: Params) -> Any:
    """The real dtype of the objective's value for ``params``: the widest real leaf dtype."""
    dtypes = [storage.real_dtype(storage.leaf_dtype(p)) for p in jax.tree.leaves(params)]
    return jnp.result_type(*dtypes) if dtypes else jnp.dtype(jnp.float32)


def _fn_kwargs(
    name: str,
    expected: type,
    state: OptState,
    params: Params | None,
    updates: Updates,
    value_fn: Callable[..., Any],
    extra_args: dict[str, Any],
) -> Any:
    """Checks an update's inputs; returns the extra arguments for ``value_fn``, all of which it
    must accept (optax's rule)."""
    validation.check_state(name, state, expected)
    validation.require_params(name, params, updates)
    validation.check_callable(name, "value_fn", value_fn, "lambda params: loss(params, batch)")
    try:
        parameters = inspect.signature(value_fn).parameters.values()
    except (TypeError, ValueError):  # no signature (a C function): give it everything
        return extra_args
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return extra_args
    accepted = {p.name for p in parameters}
    unused = sorted(set(extra_args) - accepted)
    if unused:
        raise TypeError(
            f"{name}: Unexpected keyword arguments {unused} given to update(): they are not "
            "arguments of value_fn, which receives every extra argument besides value, grad and "
            "value_fn. Add them to value_fn's signature, or stop passing them."
        )
    return extra_args


def _check_flag(fn: str, arg: str, value: Any) -> None:
    validation.check_choice(fn, arg, value, (False, True))


def _print_if(condition: jax.Array, message: str, **values: Any) -> None:
    jax.lax.cond(condition, lambda: jax.debug.print(message, ordered=True, **values), lambda: None)


# ---------------------------------------------------------------------------------------------
# Backtracking (Armijo)


class BacktrackingLinesearchInfo(NamedTuple):
    """How the last backtracking search went.

    ``num_linesearch_steps``: the number of values of the objective it computed.
    ``decrease_error``: how far the accepted step misses the Armijo condition (0: it holds).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """The accepted step size, the value (and, with ``store_grad``, gradient) it gave, and info.

    ``value`` and ``grad`` are :math:`f` and :math:`\\nabla f` at the new parameters, read by
    :func:`~gradlab.solvers.value_and_grad_from_state`; ``grad`` is ``None`` without ``store_grad``.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: BacktrackingLinesearchInfo


class _Backtrack(NamedTuple):  # the carry of the backtracking loop
    learning_rate: jax.Array
    value: jax.Array
    grad: Updates
    decrease_error: jax.Array
    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: ArrayLike = 1e-4,
    decrease_factor: ArrayLike = 0.8,
    increase_factor: ArrayLike = 1.5,
    max_learning_rate: ArrayLike = 1.0,
    atol: ArrayLike = 0.0,
    rtol: ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Backtracking line search: the first :math:`\eta = \eta_0 \beta^j` with sufficient decrease.

    .. math::
        f(w + \eta u) \le (1 + \delta) f(w) + c\, \eta \langle u, \nabla f(w) \rangle + \epsilon,
        \qquad \eta_0 = \min(\gamma\, \eta_{\text{prev}}, \eta_{\max})

    for :math:`j = 0, 1, \dots` up to ``max_backtracking_steps`` (one ``jax.lax.while_loop``),
    where :math:`c` is ``slope_rtol``, :math:`\beta` ``decrease_factor``, :math:`\gamma`
    ``increase_factor``, :math:`\delta` ``rtol`` and :math:`\epsilon` ``atol``. The output is
    :math:`\eta u`. If no tried step gives a finite value, :math:`\eta = 0`. :math:`u` must be a
    descent direction (:math:`\langle u, \nabla f(w)\rangle < 0`) for the condition to be
    satisfiable. ``update`` needs the extra arguments ``value``, ``grad`` and ``value_fn``.

    Args:
      max_backtracking_steps: the most decreases of :math:`\eta` (so at most this many plus one
        values of :math:`f` are computed).
      slope_rtol: :math:`c \in [0, 1)`, Armijo's constant; default 1e-4.
      decrease_factor: :math:`\beta \in (0, 1)`; default 0.8.
      increase_factor: :math:`\gamma \ge 1` (``math.inf``: start at :math:`\eta_{\max}` every
        time); default 1.5.
      max_learning_rate: :math:`\eta_{\max} > 0`; default 1.
      atol: :math:`\epsilon \ge 0`; default 0.
      rtol: :math:`\delta \ge 0`; default 0.
      store_grad: also compute :math:`\nabla f` at the accepted point (one reverse pass on the
        forward pass already done), for :func:`~gradlab.solvers.value_and_grad_from_state`.
      verbose: print a diagnostic when no step satisfies the condition.

    Returns:
      A GradientTransformationExtraArgs with state :class:`ScaleByBacktrackingLinesearchState`.

    References:
      Armijo, `Minimization of functions having Lipschitz continuous first partial derivatives
      <https://doi.org/10.2140/pjm.1966.16.1>`_, Pacific J. Math. 16, 1966; Nocedal & Wright,
      Numerical Optimization, 2nd ed., 2006, Alg. 3.1.
      Matches: ``optax.scale_by_backtracking_linesearch`` (same arguments, state fields and
      steps: tests/test_linesearch.py), except that after a step of 0 the next search starts
      again from :math:`\eta_{\max}` (optax's would stay at 0).

    >>> import jax, jax.numpy as jnp
    >>> from gradlab.solvers import scale_by_backtracking_linesearch
    >>> f = lambda w: jnp.sum(w**2)
    >>> w = jnp.array([1.0, 2.0])
    >>> tx = scale_by_backtracking_linesearch(max_backtracking_steps=15)
    >>> v, g = jax.value_and_grad(f)(w)
    >>> u, state = tx.update(-g, tx.init(w), w, value=v, grad=g, value_fn=f)
    >>> round(float(state.learning_rate), 4), float(f(w + u)) < float(v)  # 1 fails, 0.8 works
    (0.8, True)
    """
    fn = "scale_by_backtracking_linesearch"
    validation.check_count(fn, "max_backtracking_steps", max_backtracking_steps, 0, "15")
    validation.check_in_interval(fn, "slope_rtol", slope_rtol, "[0, 1)", "1e-4")
    validation.check_in_interval(fn, "decrease_factor", decrease_factor, "(0, 1)", "0.8")
    validation.check_in_interval(fn, "increase_factor", increase_factor, "[1, inf]", "1.5")
    validation.check_in_interval(fn, "max_learning_rate", max_learning_rate, "(0, inf)", "1.0")
    validation.check_in_interval(fn, "atol", atol, "[0, inf)", "0.0")
    validation.check_in_interval(fn, "rtol", rtol, "[0, inf)", "0.0")
    _check_flag(fn, "store_grad", store_grad)
    _check_flag(fn, "verbose", verbose)

    def init(params: Params) -> ScaleByBacktrackingLinesearchState:
        real = _real_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.ones([], real),
            value=jnp.full([], jnp.inf, real),
            grad=jax.tree.map(jnp.zeros_like, params) if store_grad else None,
            info=BacktrackingLinesearchInfo(jnp.zeros([], jnp.int32), jnp.full([], jnp.inf, real)),
        )

    def update(
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        *,
        value: ArrayLike,
        grad: Updates,
        value_fn: Callable[..., ArrayLike],
        **extra_args: Any,
    ) -> tuple[Updates, OptState]:
        kwargs = _fn_kwargs(
            fn, ScaleByBacktrackingLinesearchState, state, params, updates, value_fn, extra_args
        )
        real = jnp.asarray(state.learning_rate).dtype  # optax.tree.set may put a Python float
        value = jnp.asarray(value, real)
        slope = _slope(grad, updates).astype(real)

        def objective(p: Params) -> jax.Array:
            return jnp.asarray(value_fn(p, **kwargs)).astype(real)

        def error(step: jax.Array, new_value: jax.Array) -> jax.Array:
            e = new_value - (1.0 + rtol) * value - step * slope_rtol * slope
            return jnp.maximum(jnp.where(jnp.isnan(e), jnp.inf, e), 0.0).astype(real)

        def searching(s: _Backtrack) -> jax.Array:
            return ~(s.decrease_error <= atol) & (s.count <= max_backtracking_steps)

        def trial(s: _Backtrack) -> _Backtrack:
            step = jnp.where(s.count > 0, decrease_factor * s.learning_rate, s.learning_rate)
            step = step.astype(real)
            candidate = _add_scale(params, step, updates)
            if store_grad:  # the reverse pass runs once, at the accepted step
                new_value, pullback = jax.vjp(objective, candidate)
                e = error(step, new_value)
                new_grad = jax.lax.cond(
                    (e <= atol) | (s.count == max_backtracking_steps),
                    lambda: pullback(jnp.ones([], real))[0],
                    lambda: s.grad,
                )
            else:
                new_value, new_grad = objective(candidate), s.grad
                e = error(step, new_value)
            new = _Backtrack(step, new_value, new_grad, e, s.count + 1)
            return storage.store(new, s)

        first = jnp.minimum(increase_factor * state.learning_rate, max_learning_rate)
        first = jnp.where(state.learning_rate > 0, first, max_learning_rate).astype(real)
        start = _Backtrack(
            first,
            value,
            jax.tree.map(jnp.zeros_like, params) if store_grad else None,
            jnp.full([], jnp.inf, real),
            jnp.zeros([], jnp.int32),
        )
        found = jax.lax.while_loop(searching, trial, start)
        failed = jnp.isinf(found.decrease_error)  # no finite value: no step at all
        step = jnp.where(failed, jnp.zeros([], real), found.learning_rate)
        if verbose:
            _print_if(
                found.decrease_error > atol,
                f"{fn}: no step size in {{count}} tries gave sufficient decrease (value "
                "{value}, slope {slope}, last step {step}, decrease error {error}); "
                "is the direction a descent direction?",
                count=found.count,
                value=value,
                slope=slope,
                step=found.learning_rate,
                error=found.decrease_error,
            )
        info = BacktrackingLinesearchInfo(found.count, found.decrease_error)
        new_state = ScaleByBacktrackingLinesearchState(step, found.value, found.grad, info)
        return _scale(step, updates), storage.store(new_state, state)

    return GradientTransformationExtraArgs(init, update)


# ---------------------------------------------------------------------------------------------
# Zoom (strong Wolfe)


class ZoomLinesearchInfo(NamedTuple):
    """How the last zoom search went.

    ``num_linesearch_steps``: values and gradients of the objective it computed.
    ``decrease_error``, ``curvature_error``: how far the last tried step misses the decrease and
    the curvature condition (0: it holds; a positive decrease error means no decrease was
    guaranteed).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """The accepted step size, :math:`f` and :math:`\\nabla f` at the new parameters, and info."""

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates
    info: ZoomLinesearchInfo


class _Point(NamedTuple):  # a point of phi(t) = f(w + t u)
    step: jax.Array
    value: jax.Array
    slope: jax.Array


class _Zoom(NamedTuple):  # the carry of the zoom loop
    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    last: _Point  # the latest point tried
    grad: Updates  # the gradient at it
    low: _Point  # the bracket's end with the lower value (not necessarily the smaller step)
    high: _Point
    reference: _Point  # the third point of the cubic interpolation (its slope is unused)
    safe: _Point  # the lowest point with sufficient decrease so far (step 0: none yet)
    safe_grad: Updates
    decrease_error: jax.Array
    curvature_error: jax.Array
    bracketed: jax.Array  # Alg. 3.5 found an interval: Alg. 3.6 (zoom) runs from now on
    done: jax.Array
    failed: jax.Array


def _cubic_minimizer(a: _Point, b: _Point, c: _Point) -> jax.Array:
    r"""The local minimizer of the cubic through :math:`(a, \phi_a), (b, \phi_b), (c, \phi_c)`
    with slope :math:`\phi'_a` at :math:`a` (NaN if it has none; N&W eq. 3.59, as scipy)."""
    db, dc = b.step - a.step, c.step - a.step
    rb = b.value - a.value - a.slope * db
    rc = c.value - a.value - a.slope * dc
    denominator = (db * dc) ** 2 * (db - dc)
    cubic = (dc**2 * rb - db**2 * rc) / denominator
    quadratic = (-(dc**3) * rb + db**3 * rc) / denominator
    radical = quadratic * quadratic - 3.0 * cubic * a.slope
    return a.step + (-quadratic + jnp.sqrt(radical)) / (3.0 * cubic)


def _quadratic_minimizer(a: _Point, b: _Point) -> jax.Array:
    r"""The minimizer of the quadratic through :math:`(a, \phi_a), (b, \phi_b)`, slope
    :math:`\phi'_a` at :math:`a`."""
    db = b.step - a.step
    curvature = (b.value - a.value - a.slope * db) / db**2
    return a.step - a.slope / (2.0 * curvature)


def _zoom_trial(low: _Point, high: _Point, reference: _Point) -> jax.Array:
    """The next step inside the bracket: cubic, else quadratic interpolation, else bisection,
    each kept only if it lies well inside (20%, 10% of the interval from its ends)."""
    left, right = jnp.minimum(low.step, high.step), jnp.maximum(low.step, high.step)
    width = right - left
    cubic = _cubic_minimizer(low, high, reference)
    use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
    quadratic = _quadratic_minimizer(low, high)
    use_quadratic = (quadratic > left + 0.1 * width) & (quadratic < right - 0.1 * width)
    middle = (low.step + high.step) / 2.0
    return jnp.where(use_cubic, cubic, jnp.where(use_quadratic, quadratic, middle))


def _select(condition: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), on_true, on_false)


# What a failed zoom search prints with verbose=True: the first line is gradlab's summary, the
# reasons after it are optax's sentences (code that greps optax's verbose output keeps working).
_NOT_A_DESCENT_DIRECTION = (
    "The linesearch failed because the provided direction is not a descent direction. "
)
_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. Consider increasing maximal possible stepsize "
    "of the linesearch."
)
_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
_CURVATURE_NOT_SATISFIED = (
    "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)


def _report_zoom(
    fn: str, search: Any, start: Any, max_learning_rate: Any, stepsize_precision: Any, tol: Any
) -> None:
    """Prints (under jit, with ``jax.debug.print``) why a zoom search did not end at a Wolfe
    point."""
    _print_if(
        search.failed,
        f"{fn}: no step size in {{count}} tries satisfied the Wolfe conditions (value "
        "{value}, slope {slope}, step taken {step}, decrease error {decrease}, "
        "curvature error {curvature}).",
        count=search.count,
        value=start.value,
        slope=start.slope,
        step=search.last.step,
        decrease=search.decrease_error,
        curvature=search.curvature_error,
    )
    width = jnp.abs(search.high.step - search.low.step)
    _print_if(search.failed & (start.slope >= 0), _NOT_A_DESCENT_DIRECTION)
    _print_if(search.failed & search.bracketed & (width <= stepsize_precision), _INTERVAL_TOO_SMALL)
    _print_if(search.failed & (search.safe.step == 0), _NO_STEPSIZE_FOUND)
    # stopped at max_learning_rate with no bracket: a step with sufficient decrease only
    at_max = search.done & ~search.bracketed & (search.curvature_error > tol)
    if max_learning_rate is not None:
        _print_if(at_max, _INTERVAL_NOT_FOUND)
    _print_if((search.failed & (search.safe.step > 0)) | at_max, _CURVATURE_NOT_SATISFIED)


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: ArrayLike | None = None,
    tol: ArrayLike = 0.0,
    increase_factor: ArrayLike = 2.0,
    slope_rtol: ArrayLike = 1e-4,
    curv_rtol: ArrayLike = 0.9,
    approx_dec_rtol: ArrayLike | None = 1e-6,
    stepsize_precision: ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Zoom line search: a step size satisfying the strong Wolfe conditions.

    .. math::
        \phi(\eta) \le \phi(0) + c_1 \eta\, \phi'(0) + \epsilon, \qquad
        |\phi'(\eta)| \le c_2 |\phi'(0)| + \epsilon, \qquad \phi(\eta) = f(w + \eta u)

    Alg. 3.5 grows :math:`\eta` by ``increase_factor`` from the first guess (1, or the previous
    step with ``initial_guess_strategy="keep"``) until an interval is bracketed; Alg. 3.6 then
    shrinks it with safeguarded cubic, else quadratic, interpolation, else bisection. Near a
    minimum, where :math:`\phi(\eta) \le \phi(0) + c_3|\phi(0)|`, the decrease condition may be
    met instead by Hager and Zhang's approximate one, :math:`\phi'(\eta) \le (2c_1 - 1)\phi'(0)`,
    which rounding cannot defeat. Each try computes :math:`f` and :math:`\nabla f` (one
    ``jax.value_and_grad``); all of them run in one ``jax.lax.while_loop``. When the tries run
    out, or the interval is narrower than ``stepsize_precision``, the lowest point with
    sufficient decrease is taken (else the last one). The output is :math:`\eta u`; the value and
    gradient at the accepted point are kept in the state. ``update`` needs ``value``, ``grad``
    and ``value_fn``.

    Args:
      max_linesearch_steps: the most evaluations of :math:`f` and :math:`\nabla f`.
      max_learning_rate: the largest :math:`\eta` tried (``None``: no bound).
      tol: :math:`\epsilon \ge 0`; default 0.
      increase_factor: growth of :math:`\eta` while bracketing (> 1); default 2.
      slope_rtol: :math:`c_1 \in (0, 1)`; default 1e-4.
      curv_rtol: :math:`c_2 \in (c_1, \infty]`; default 0.9 (``inf``: no curvature condition,
        a backtracking search by interpolation).
      approx_dec_rtol: :math:`c_3 \ge 0`, or ``None`` for Armijo's condition only; default 1e-6.
      stepsize_precision: the interval width below which the search stops once a step with
        sufficient decrease is known; default 1e-5.
      initial_guess_strategy: ``"one"`` (for (quasi-)Newton directions) or ``"keep"`` (the
        previous step, for gradient descent); default ``"keep"``.
      verbose: print a diagnostic when the search fails.

    Returns:
      A GradientTransformationExtraArgs with state :class:`ScaleByZoomLinesearchState`.

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Alg. 3.5 and 3.6 (interpolation,
      §3.5); Hager & Zhang, `Algorithm 851: CG_DESCENT <https://doi.org/10.1145/1132973.1132979>`_,
      2006, eq. (23).
      Matches: ``optax.scale_by_zoom_linesearch`` (same arguments, state fields and accepted
      steps: tests/test_linesearch.py).

    >>> import jax, jax.numpy as jnp
    >>> from gradlab.solvers import scale_by_zoom_linesearch
    >>> f = lambda w: jnp.sum((w - 3.0) ** 2)
    >>> w = jnp.zeros(2)
    >>> tx = scale_by_zoom_linesearch(max_linesearch_steps=10)
    >>> v, g = jax.value_and_grad(f)(w)
    >>> u, state = tx.update(-g, tx.init(w), w, value=v, grad=g, value_fn=f)
    >>> w + u, float(state.learning_rate)
    (Array([3., 3.], dtype=float32), 0.5)
    """
    fn = "scale_by_zoom_linesearch"
    validation.check_count(fn, "max_linesearch_steps", max_linesearch_steps, 1, "20")
    if max_learning_rate is not None:
        validation.check_in_interval(fn, "max_learning_rate", max_learning_rate, "(0, inf)", "1.0")
    validation.check_in_interval(fn, "tol", tol, "[0, inf)", "0.0")
    validation.check_in_interval(fn, "increase_factor", increase_factor, "(1, inf)", "2.0")
    validation.check_in_interval(fn, "slope_rtol", slope_rtol, "(0, 1)", "1e-4")
    validation.check_in_interval(fn, "curv_rtol", curv_rtol, "(0, inf]", "0.9")
    if approx_dec_rtol is not None:
        validation.check_in_interval(fn, "approx_dec_rtol", approx_dec_rtol, "[0, inf)", "1e-6")
    validation.check_in_interval(fn, "stepsize_precision", stepsize_precision, "[0, inf)", "1e-5")
    validation.check_choice(fn, "initial_guess_strategy", initial_guess_strategy, ("one", "keep"))
    _check_flag(fn, "verbose", verbose)

    def errors(p: _Point, start: _Point) -> tuple[jax.Array, jax.Array]:
        """The decrease and curvature errors at ``p`` (0 where a condition holds, inf if NaN)."""
        decrease = p.value - start.value - slope_rtol * p.step * start.slope  # N&W (3.7a)
        if approx_dec_rtol is not None:  # Hager & Zhang (23), only below f(w) + c3 |f(w)|
            approx = p.slope - (2 * slope_rtol - 1.0) * start.slope
            approx = jnp.maximum(approx, p.value - start.value - approx_dec_rtol * abs(start.value))
            decrease = jnp.minimum(decrease, approx)
        curvature = jnp.abs(p.slope) - curv_rtol * jnp.abs(start.slope)  # N&W (3.7b)
        return tuple(  # type: ignore[return-value]
            jnp.where(jnp.isnan(e), jnp.inf, jnp.maximum(e, 0.0)) for e in (decrease, curvature)
        )

    def init(params: Params) -> ScaleByZoomLinesearchState:
        real = _real_dtype(params)
        inf = jnp.full([], jnp.inf, real)
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.ones([], real),
            value=inf,
            grad=jax.tree.map(jnp.zeros_like, params),
            info=ZoomLinesearchInfo(jnp.zeros([], jnp.int32), inf, inf),
        )

    def update(
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        *,
        value: ArrayLike,
        grad: Updates,
        value_fn: Callable[..., ArrayLike],
        **extra_args: Any,
    ) -> tuple[Updates, OptState]:
        kwargs = _fn_kwargs(
            fn, ScaleByZoomLinesearchState, state, params, updates, value_fn, extra_args
        )
        real = jnp.asarray(state.learning_rate).dtype  # optax.tree.set may put a Python float
        value_and_grad = jax.value_and_grad(lambda p: value_fn(p, **kwargs))
        start = _Point(jnp.zeros([], real), jnp.asarray(value, real), _slope(grad, updates))
        start = storage.store(start, _Point(*[start.step] * 3))
        first = jnp.ones([], real) if initial_guess_strategy == "one" else state.learning_rate

        def try_step(s: _Zoom) -> _Zoom:
            # The step to try: Alg. 3.5 grows it, Alg. 3.6 interpolates inside the bracket.
            grown = jnp.where(s.count == 0, first, increase_factor * s.last.step)
            at_max = jnp.zeros([], bool)
            if max_learning_rate is not None:
                at_max = grown >= max_learning_rate
                grown = jnp.minimum(grown, max_learning_rate)
            step = jax.lax.cond(
                s.bracketed, lambda: _zoom_trial(s.low, s.high, s.reference), lambda: grown
            ).astype(real)
            new_value, new_grad = value_and_grad(_add_scale(params, step, updates))
            new_grad = storage.store(new_grad, s.grad)
            new = _Point(step, jnp.asarray(new_value, real), _slope(new_grad, updates))
            new = storage.store(new, s.last)
            decrease, curvature = errors(new, start)
            wolfe = jnp.maximum(decrease, curvature) <= tol
            sufficient = decrease <= tol
            # The safe point: the lowest with sufficient decrease (while bracketing, the latest).
            keep_safe = sufficient & (~s.bracketed | (new.value < s.safe.value))
            safe, safe_grad = _select(keep_safe, (new, new_grad), (s.safe, s.safe_grad))
            # Alg. 3.5: [last, new] brackets a Wolfe point if new has too little decrease or a
            # higher value than last (then new is the high end), or a slope >= 0 (the low end).
            high_is_new = (decrease > 0) | ((new.value >= s.last.value) & (s.count > 0))
            low_is_new = (new.slope >= 0) & ~high_is_new
            grow_low, grow_high = _select(low_is_new, (new, s.last), (s.last, new))
            found = high_is_new | low_is_new | wolfe
            # Alg. 3.6: new replaces high if it does not improve on low; otherwise it becomes low,
            # and the old low becomes high if the slope points away from the old high.
            new_is_high = (decrease > 0) | (new.value >= s.low.value)
            low_to_high = (new.slope * (s.high.step - s.low.step) >= 0) & ~new_is_high
            zoom_high = _select(new_is_high, new, _select(low_to_high, s.low, s.high))
            zoom_low = _select(new_is_high, s.low, new)
            zoom_reference = _select(new_is_high | low_to_high, s.high, s.low)
            low, high, reference = _select(
                s.bracketed, (zoom_low, zoom_high, zoom_reference), (grow_low, grow_high, grow_low)
            )
            # Done at a Wolfe point, or at the largest step with no bracket in sight; failed when
            # out of tries, or when the bracket is too narrow and a safe point is known.
            done = wolfe | (~s.bracketed & at_max & ~found)
            narrow = s.bracketed & (jnp.abs(s.high.step - s.low.step) <= stepsize_precision)
            out_of_tries = s.count + 1 >= max_linesearch_steps
            failed = (out_of_tries | (narrow & (safe.step > 0))) & ~done
            # On failure take the safe point; with none, the last one (unless its value is not
            # finite: then the step is 0, the safe point's initial value).
            take_safe = failed & ((safe.step > 0) | jnp.isinf(decrease))
            last, last_grad = _select(take_safe, (safe, safe_grad), (new, new_grad))
            return _Zoom(
                count=s.count + 1,
                last=last,
                grad=last_grad,
                low=low,
                high=high,
                reference=reference,
                safe=safe,
                safe_grad=safe_grad,
                decrease_error=decrease,
                curvature_error=curvature,
                bracketed=s.bracketed | found,
                done=done,
                failed=failed,
            )

        inf = jnp.full([], jnp.inf, real)
        no = jnp.zeros([], bool)
        search = _Zoom(
            jnp.zeros([], jnp.int32), start, grad, start, start, start, start, grad, inf, inf,
            no, no, no,
        )  # fmt: skip
        search = jax.lax.while_loop(lambda s: ~(s.done | s.failed), try_step, search)
        if verbose:
            _report_zoom(fn, search, start, max_learning_rate, stepsize_precision, tol)
        step = search.last.step
        info = ZoomLinesearchInfo(search.count, search.decrease_error, search.curvature_error)
        new_state = ScaleByZoomLinesearchState(step, search.last.value, search.grad, info)
        return _scale(step, updates), storage.store(new_state, state)

    return GradientTransformationExtraArgs(init, update)


__all__ = [
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_backtracking_linesearch",
    "scale_by_zoom_linesearch",
]

"""L-BFGS and minimize: convergence, scipy and optax as references, jit/vmap, counts, errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab.core.injection import hyperparams, set_hyperparams
from gradlab.optimizers.gradient_descent import sgd
from gradlab.solvers import (
    MinimizeResult,
    ScaleByLBFGSState,
    find_linesearch_state,
    lbfgs,
    minimize,
    scale_by_backtracking_linesearch,
    scale_by_lbfgs,
    scale_by_zoom_linesearch,
    value_and_grad_from_state,
)
from gradlab.transforms.combine import chain


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def least_squares_problem(seed=0, m=30, n=10):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(m, n)), rng.normal(size=m)

    def fun(x):
        return 0.5 * jnp.sum((jnp.asarray(a) @ x - jnp.asarray(b)) ** 2)

    return fun, np.linalg.lstsq(a, b, rcond=None)[0]


def rosenbrock_start(n=10):
    return jnp.asarray(np.tile([-1.2, 1.0], n // 2), jnp.float64)


def run(tx, fun, x0, steps, reuse=True):
    """The optax documentation's loop: value_and_grad_from_state, update, apply; the updates."""
    value_and_grad = value_and_grad_from_state(fun) if reuse else jax.value_and_grad(fun)

    @jax.jit
    def step(x, state):
        v, g = value_and_grad(x, state=state) if reuse else value_and_grad(x)
        u, state = tx.update(g, state, x, value=v, grad=g, value_fn=fun)
        return optax.apply_updates(x, u), u, state

    state, x, updates = tx.init(x0), x0, []
    for _ in range(steps):
        x, u, state = step(x, state)
        updates.append(u)
    return x, updates, state


# ---------------------------------------------------------------------------------------------
# Convergence, against scipy and optax


def test_lbfgs_minimizes_rosenbrock_10d(x64):
    result = jax.jit(lambda x: minimize(rosenbrock, x, tol=1e-6))(rosenbrock_start())
    assert bool(result.converged) and float(result.grad_norm) <= 1e-6
    assert int(result.num_iterations) < 200
    np.testing.assert_allclose(result.params, np.ones(10), atol=1e-6)
    assert float(result.value) < 1e-12


def test_lbfgs_solves_least_squares_to_machine_precision(x64):
    fun, solution = least_squares_problem()
    result = minimize(fun, jnp.zeros(10), tol=1e-12)
    assert bool(result.converged) and int(result.num_iterations) <= 30
    np.testing.assert_allclose(result.params, solution, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("problem", ["rosenbrock", "least_squares"])
def test_solution_agrees_with_scipy_lbfgsb(x64, problem):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    if problem == "rosenbrock":
        fun, x0 = rosenbrock, rosenbrock_start()
    else:
        fun, x0 = least_squares_problem(seed=1)[0], jnp.zeros(10)
    value_and_grad = jax.jit(jax.value_and_grad(fun))
    reference = scipy_optimize.minimize(
        lambda x: tuple(np.asarray(t, np.float64) for t in value_and_grad(x)),
        np.asarray(x0),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 1000},
    )
    result = minimize(fun, x0, tol=1e-9)
    assert bool(result.converged)
    np.testing.assert_allclose(result.params, reference.x, atol=1e-5)
    assert int(result.num_iterations) <= 2 * reference.nit  # the same kind of method


OPTAX_ROWS = [  # (problem, kwargs): each row compiles two solvers, so the table stays short
    ("rosenbrock", {}),
    ("least_squares", {}),
    ("least_squares", {"memory_size": 3}),
    ("rosenbrock", {"learning_rate": 1e-3, "linesearch": None}),
]


@pytest.mark.parametrize("problem,kwargs", OPTAX_ROWS)
def test_lbfgs_updates_equal_optax(x64, problem, kwargs):
    fun, x0 = (
        (rosenbrock, rosenbrock_start())
        if problem == "rosenbrock"
        else (least_squares_problem()[0], jnp.zeros(10))
    )
    reuse = kwargs.get("linesearch", 0) is not None
    _, ours, _ = run(lbfgs(**kwargs), fun, x0, 20, reuse)
    _, theirs, _ = run(optax.lbfgs(**kwargs), fun, x0, 20, reuse)
    for k, (u, v) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-14, err_msg=f"iteration {k}")


def test_lbfgs_without_initial_scaling_equals_optax(x64):
    """gamma = 1 makes Rosenbrock's iterates chaotic: rounding grows, decisions stay equal."""
    kwargs = {"scale_init_precond": False}
    _, ours, _ = run(lbfgs(**kwargs), rosenbrock, rosenbrock_start(), 10)
    _, theirs, _ = run(optax.lbfgs(**kwargs), rosenbrock, rosenbrock_start(), 10)
    for u, v in zip(ours, theirs):
        np.testing.assert_allclose(u, v, rtol=1e-8, atol=1e-12)


def test_minimize_accepts_optax_lbfgs_and_gives_the_same_run(x64):
    ours = minimize(rosenbrock, rosenbrock_start())
    theirs = minimize(rosenbrock, rosenbrock_start(), optimizer=optax.lbfgs())
    assert int(ours.num_iterations) == int(theirs.num_iterations)
    assert int(ours.num_fun_evals) == int(theirs.num_fun_evals)
    np.testing.assert_allclose(ours.params, theirs.params, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# The two-loop recursion against a dense BFGS inverse Hessian (numpy, float64)


def dense_lbfgs_direction(g, pairs, gamma):
    """H g with H = V^T H V + rho s s^T, from H_0 = gamma I over ``pairs`` (N&W eq. 7.19)."""
    h = gamma * np.eye(len(g))
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        v = np.eye(len(g)) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h @ g


@pytest.mark.parametrize("memory_size", [1, 3, 10])
def test_scale_by_lbfgs_equals_dense_bfgs(x64, memory_size):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(6, 6))
    hessian = q @ q.T + 6 * np.eye(6)  # a convex quadratic: every pair has curvature > 0
    tx = scale_by_lbfgs(memory_size=memory_size)
    state, update = tx.init(jnp.zeros(6)), jax.jit(tx.update)
    xs = [rng.normal(size=6) for _ in range(7)]
    for k, x in enumerate(xs):
        g = hessian @ x
        u, state = update(jnp.asarray(g), state, jnp.asarray(x))
        if k == 0:
            expected = g * min(1.0, 1.0 / np.linalg.norm(g))
        else:
            pairs = [(xs[i + 1] - xs[i], hessian @ (xs[i + 1] - xs[i])) for i in range(k)]
            pairs = pairs[-memory_size:]
            s, y = pairs[-1]
            expected = dense_lbfgs_direction(g, pairs, (s @ y) / (y @ y))
        np.testing.assert_allclose(u, expected, rtol=1e-10, err_msg=f"step {k}")
    assert isinstance(state, ScaleByLBFGSState) and int(state.count) == len(xs)


def test_scale_by_lbfgs_skips_pairs_without_curvature(x64):
    tx = scale_by_lbfgs()
    state = tx.init(jnp.zeros(2))
    _, state = tx.update(jnp.array([1.0, 0.0]), state, jnp.zeros(2))
    # s = (1, 0), y = (-1, 0): <y, s> < 0, so the pair is dropped and H = I.
    u, state = tx.update(jnp.array([0.0, 0.0]) + jnp.array([0.0, 2.0]), state, jnp.array([1.0, 0]))
    assert float(state.weights_memory[0]) == 0.0
    np.testing.assert_allclose(u, [0.0, 2.0])


def test_scale_by_lbfgs_on_a_pytree_keeps_dtypes():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3, jnp.bfloat16)}
    tx = scale_by_lbfgs(memory_size=4)
    state = tx.init(params)
    assert state.diff_params_memory["w"].shape == (4, 2, 3)
    grads = jax.tree.map(jnp.ones_like, params)
    u, state = jax.jit(tx.update)(grads, state, params)
    assert u["b"].dtype == jnp.bfloat16 and u["w"].dtype == jnp.float32
    assert jax.eval_shape(tx.init, params) == jax.eval_shape(lambda: state)


# ---------------------------------------------------------------------------------------------
# minimize: jit, vmap, iteration semantics, other optimizers, evaluation counts


def test_minimize_jit_and_vmap_over_starting_points(x64):
    starts = jnp.asarray(np.random.default_rng(0).normal(size=(4, 10)))
    solve = jax.jit(jax.vmap(lambda x: minimize(rosenbrock, x)))
    batched = solve(starts)
    assert isinstance(batched, MinimizeResult)
    assert batched.params.shape == (4, 10) and bool(jnp.all(batched.converged))
    solve_one = jax.jit(lambda x: minimize(rosenbrock, x))
    for i in range(4):  # each point runs on its own: its own count, its own result
        single = solve_one(starts[i])
        assert int(batched.num_iterations[i]) == int(single.num_iterations)
        assert int(batched.num_fun_evals[i]) == int(single.num_fun_evals)
        np.testing.assert_allclose(batched.params[i], single.params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", [sgd(0.5), optax.sgd(0.5)], ids=["gradlab", "optax"])
def test_minimize_with_sgd_counts_iterations_exactly(x64, optimizer):
    """f = ||x - c||^2 / 2 with step 1/2 halves the gradient: ||g_k|| = 2^-k ||c||."""
    center = {"a": jnp.array([3.0, -4.0]), "b": jnp.array(12.0)}  # ||c|| = 13
    fun = lambda x: 0.5 * sum(jnp.sum((x[k] - center[k]) ** 2) for k in x)  # noqa: E731
    zeros = jax.tree.map(jnp.zeros_like, center)
    result = jax.jit(lambda x: minimize(fun, x, optimizer, tol=1e-3))(zeros)
    expected = int(np.ceil(np.log2(13.0 / 1e-3)))  # the first k with 13 / 2^k <= 1e-3
    assert int(result.num_iterations) == expected and bool(result.converged)
    assert int(result.num_fun_evals) == expected + 1  # x0, then once per iteration
    np.testing.assert_allclose(float(result.grad_norm), 13.0 / 2**expected, rtol=1e-12)
    chex.assert_trees_all_close(result.params, center, atol=1e-3)


def test_minimize_stops_at_once_at_a_minimum_and_at_maxiter(x64):
    solve = jax.jit(lambda x: minimize(rosenbrock, x, maxiter=5))
    at_minimum = solve(jnp.ones(4))
    assert int(at_minimum.num_iterations) == 0 and bool(at_minimum.converged)
    assert int(at_minimum.num_fun_evals) == 1
    capped = solve(rosenbrock_start(4))
    assert int(capped.num_iterations) == 5 and not bool(capped.converged)
    none = minimize(rosenbrock, rosenbrock_start(4), maxiter=0)
    assert int(none.num_iterations) == 0 and float(none.value) == float(rosenbrock(none.params))


def test_minimize_counts_every_evaluation(x64):
    """num_fun_evals equals the calls actually made (counted on the host)."""
    calls = []

    def counted(x):
        jax.debug.callback(lambda: calls.append(1))
        return rosenbrock(x)

    result = minimize(counted, rosenbrock_start(4))
    jax.effects_barrier()
    assert bool(result.converged)
    assert int(result.num_fun_evals) == len(calls)
    # One value_and_grad per line-search try, none more: far fewer than 2 per iteration.
    assert len(calls) < 1.5 * int(result.num_iterations)


def test_minimize_with_a_backtracking_line_search(x64):
    fun, solution = least_squares_problem()
    for store_grad in (False, True):
        tx = chain(sgd(1.0), scale_by_backtracking_linesearch(30, store_grad=store_grad))
        result = minimize(fun, jnp.zeros(10), tx, tol=1e-6, maxiter=3000)
        assert bool(result.converged)
        np.testing.assert_allclose(result.params, solution, atol=1e-5)


def test_minimize_float32_default():
    result = minimize(rosenbrock, jnp.array([-1.2, 1.0]), tol=1e-4)
    assert result.params.dtype == jnp.float32 and bool(result.converged)
    np.testing.assert_allclose(result.params, [1.0, 1.0], atol=1e-3)


def test_minimize_stops_at_the_float32_precision_floor():
    """From this start float32 L-BFGS reaches the local minimum near f = 3.99 with ||g|| ~ 5e-5,
    where its steps round away: the loop stops within 10 idle iterations, not at maxiter."""
    start = jax.random.normal(jax.random.key(0), (8, 10))[2]
    result = jax.jit(lambda x: minimize(rosenbrock, x, tol=1e-6, maxiter=500))(start)
    assert not bool(result.converged) and float(result.grad_norm) < 1e-3
    assert int(result.num_iterations) < 100
    with jax.enable_x64(True):  # in float64 the same start converges to tol
        wide = minimize(rosenbrock, start.astype(jnp.float64), tol=1e-6, maxiter=500)
        assert bool(wide.converged) and int(wide.num_iterations) < 100


# ---------------------------------------------------------------------------------------------
# State access, hyperparameters


def test_value_and_grad_from_state_reuses_the_line_search_evaluation(x64):
    fun, _ = least_squares_problem()
    x, _, state = run(lbfgs(), fun, jnp.zeros(10), 3)
    stored = find_linesearch_state(state)
    value, grad = value_and_grad_from_state(fun)(x, state=state)
    assert value is stored.value or float(value) == float(stored.value)
    np.testing.assert_allclose(value, fun(x), rtol=1e-12)
    np.testing.assert_allclose(grad, jax.grad(fun)(x), rtol=1e-10, atol=1e-12)


def test_value_and_grad_from_state_needs_a_line_search_with_a_gradient():
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    with pytest.raises(ValueError, match="holds no line search"):
        value_and_grad_from_state(f)(jnp.ones(2), state=sgd(0.1).init(jnp.ones(2)))
    tx = chain(sgd(1.0), scale_by_backtracking_linesearch(5))
    with pytest.raises(ValueError, match="keeps no gradient.*store_grad=True"):
        value_and_grad_from_state(f)(jnp.ones(2), state=tx.init(jnp.ones(2)))
    two = chain(lbfgs(), scale_by_zoom_linesearch(5))
    with pytest.raises(ValueError, match="2 line-search states"):
        find_linesearch_state(two.init(jnp.ones(2)))


def test_lbfgs_learning_rate_is_a_settable_hyperparameter():
    tx = lbfgs(learning_rate=0.1, linesearch=None)
    state = set_hyperparams(tx.init(jnp.ones(2)), learning_rate=0.05)
    assert float(hyperparams(state)["learning_rate"]) == pytest.approx(0.05)
    u, _ = tx.update(jnp.array([3.0, 4.0]), state, jnp.ones(2))
    np.testing.assert_allclose(u, [-0.03, -0.04], rtol=1e-6)  # -lr g/||g||, first step


# ---------------------------------------------------------------------------------------------
# Bad arguments fail at construction


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: scale_by_lbfgs(memory_size=0), r"scale_by_lbfgs: memory_size must be an int >= 1"),
        (lambda: scale_by_lbfgs(memory_size=2.5), r"memory_size must be an int >= 1, got float"),
        (lambda: lbfgs(memory_size="10"), r"lbfgs: memory_size must be an int >= 1"),
        (lambda: scale_by_lbfgs(scale_init_precond="yes"), r"scale_init_precond must be one of"),
        (lambda: lbfgs(learning_rate=-1.0), r"lbfgs: learning_rate must be a finite number >= 0"),
        (lambda: lbfgs(linesearch=3), r"lbfgs: linesearch must be a GradientTransformation"),
        (lambda: minimize(rosenbrock, jnp.ones(2), tol=-1.0), r"minimize: tol must be"),
        (lambda: minimize(rosenbrock, jnp.ones(2), maxiter=-1), r"maxiter must be an int >= 0"),
        (lambda: minimize(rosenbrock, jnp.ones(2), optimizer="adam"), r"optimizer must be a Gr"),
        (lambda: minimize(3, jnp.ones(2)), r"minimize: fun must be callable"),
        (lambda: minimize(rosenbrock, jnp.ones(2, jnp.int32)), r"x0 leaf .* has dtype int32"),
    ],
)
def test_bad_arguments_raise_at_construction(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_minimize_passes_functools_partial_objectives(x64):
    fun = functools.partial(lambda x, c: jnp.sum((x - c) ** 2), c=2.0)
    result = minimize(fun, jnp.zeros(3))
    np.testing.assert_allclose(result.params, 2.0 * np.ones(3), atol=1e-8)

"""Line searches: the conditions they promise, optax as a second oracle, failures and errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradlab.optimizers.gradient_descent import sgd
from gradlab.solvers import (
    ScaleByBacktrackingLinesearchState,
    ScaleByZoomLinesearchState,
    find_linesearch_state,
    scale_by_backtracking_linesearch,
    scale_by_zoom_linesearch,
)
from gradlab.transforms.combine import chain


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def himmelblau(x):
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def zakharov(x):
    i = jnp.arange(1, x.shape[0] + 1)
    s = jnp.sum(0.5 * i * x)
    return jnp.sum(x**2) + s**2 + s**4


PROBLEMS = {"rosenbrock": (rosenbrock, 4), "himmelblau": (himmelblau, 2), "zakharov": (zakharov, 6)}


def one_search(tx, fun, x, direction=None):
    """One jitted line search from ``x`` along ``direction`` (default: -grad)."""

    @jax.jit
    def search(x, direction):
        value, grad = jax.value_and_grad(fun)(x)
        direction = -grad if direction is None else direction
        u, state = tx.update(direction, tx.init(x), x, value=value, grad=grad, value_fn=fun)
        return value, grad, direction, u, state

    return search(x, direction)


def slope(g, d):
    return float(jnp.vdot(g, d))


# ---------------------------------------------------------------------------------------------
# Backtracking


@pytest.mark.parametrize(
    "problem,kwargs",
    [
        ("rosenbrock", {}),
        ("himmelblau", {"slope_rtol": 0.3}),
        ("zakharov", {"increase_factor": math.inf, "atol": 1e-4, "rtol": 1e-4}),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_backtracking_armijo_holds_at_the_accepted_step(x64, problem, kwargs, seed):
    fun, n = PROBLEMS[problem]
    x = jnp.asarray(np.random.default_rng(seed).normal(size=n))
    tx = scale_by_backtracking_linesearch(max_backtracking_steps=60, **kwargs)
    value, grad, d, u, state = one_search(tx, fun, x)
    eta = float(state.learning_rate)
    c, atol, rtol = kwargs.get("slope_rtol", 1e-4), kwargs.get("atol", 0.0), kwargs.get("rtol", 0.0)
    assert 0 < eta <= 1.0
    assert float(fun(x + u)) <= (1 + rtol) * float(value) + c * eta * slope(grad, d) + atol
    assert float(state.info.decrease_error) == 0.0
    np.testing.assert_allclose(state.value, fun(x + u), rtol=1e-12)
    if eta / 0.8 <= 1.0 and int(state.info.num_linesearch_steps) > 1:  # the previous try failed
        bigger = x + (eta / 0.8) * d
        assert (
            float(fun(bigger)) > (1 + rtol) * float(value) + c * eta / 0.8 * slope(grad, d) + atol
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"store_grad": True},
        {"increase_factor": math.inf, "rtol": 1e-4, "atol": 1e-4},
        {"increase_factor": 1.0, "slope_rtol": 0.0, "decrease_factor": 0.5},
        {"max_learning_rate": 0.01, "decrease_factor": 0.3, "max_backtracking_steps": 3},
    ],
)
def test_backtracking_equals_optax(x64, kwargs):
    kwargs = {"max_backtracking_steps": 30, **kwargs}
    ours = chain(sgd(1.0), scale_by_backtracking_linesearch(**kwargs))
    theirs = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(**kwargs))
    x = y = jnp.linspace(-1.0, 1.0, 6)
    step_ours, step_theirs = sgd_steps(ours, rosenbrock), sgd_steps(theirs, rosenbrock)
    s, r = ours.init(x), theirs.init(y)
    for _ in range(15):
        x, u, s = step_ours(x, s)
        y, w, r = step_theirs(y, r)
        np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-15)
        # learning_rate, value, grad, info: equal field by field (int dtypes aside)
        for a, b in zip(jax.tree.leaves(s[1]), jax.tree.leaves(r[1]), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def sgd_steps(tx, fun):
    """A jitted step of ``tx`` on ``fun``: ``(x, state) -> (new x, update, new state)``."""

    @jax.jit
    def step(x, state):
        v, g = jax.value_and_grad(fun)(x)
        u, state = tx.update(g, state, x, value=v, grad=g, value_fn=fun)
        return x + u, u, state

    return step


def test_backtracking_store_grad_gives_the_gradient_at_the_new_point(x64):
    tx = scale_by_backtracking_linesearch(30, store_grad=True)
    x = jnp.array([-1.2, 1.0, 0.5])
    _, _, _, u, state = one_search(tx, rosenbrock, x)
    np.testing.assert_allclose(state.grad, jax.grad(rosenbrock)(x + u), rtol=1e-12)
    assert scale_by_backtracking_linesearch(5).init(x).grad is None


def test_backtracking_gives_a_zero_step_when_every_value_is_nan_and_recovers():
    fun = lambda x: jnp.where(jnp.sum(x) > 1.0, jnp.nan, jnp.sum(x**2))  # noqa: E731
    tx = scale_by_backtracking_linesearch(max_backtracking_steps=2)
    x = jnp.array([0.5, 0.4])
    _, _, _, u, state = one_search(tx, fun, x, direction=jnp.array([100.0, 100.0]))
    assert float(state.learning_rate) == 0.0 and bool(jnp.all(u == 0))
    v, g = jax.value_and_grad(fun)(x)
    u, state = tx.update(-g, state, x, value=v, grad=g, value_fn=fun)
    assert float(state.learning_rate) > 0  # starts again from max_learning_rate


# ---------------------------------------------------------------------------------------------
# Zoom


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zoom_strong_wolfe_holds_at_the_accepted_step(x64, problem, seed):
    fun, n = PROBLEMS[problem]
    x = jnp.asarray(np.random.default_rng(seed).normal(size=n))
    tx = scale_by_zoom_linesearch(max_linesearch_steps=30, approx_dec_rtol=None)
    value, grad, d, u, state = one_search(tx, fun, x)
    eta = float(state.learning_rate)
    new_value, new_grad = jax.value_and_grad(fun)(x + u)
    assert eta > 0
    assert float(new_value) <= float(value) + 1e-4 * eta * slope(grad, d)  # (3.7a)
    assert abs(slope(new_grad, d)) <= 0.9 * abs(slope(grad, d))  # (3.7b)
    assert float(state.info.decrease_error) == 0 and float(state.info.curvature_error) == 0
    np.testing.assert_allclose(state.value, new_value, rtol=1e-12)
    np.testing.assert_allclose(state.grad, new_grad, rtol=1e-10, atol=1e-12)


ZOOM_ROWS = [
    {},
    {"initial_guess_strategy": "one"},
    {"max_learning_rate": 0.05},
    {"approx_dec_rtol": None, "curv_rtol": 0.1},
    {"curv_rtol": math.inf},
    {"max_linesearch_steps": 3},
    {"stepsize_precision": 0.5, "increase_factor": 3.0},
]


@pytest.mark.parametrize("row", range(len(ZOOM_ROWS)), ids=[str(sorted(k)) for k in ZOOM_ROWS])
def test_zoom_equals_optax_over_sgd_steps(x64, row):
    problem = sorted(PROBLEMS)[row % len(PROBLEMS)]  # each row on one problem: short and varied
    fun, n = PROBLEMS[problem]
    kwargs = {"max_linesearch_steps": 30, **ZOOM_ROWS[row]}
    ours = chain(sgd(1.0), scale_by_zoom_linesearch(**kwargs))
    theirs = optax.chain(optax.sgd(1.0), optax.scale_by_zoom_linesearch(**kwargs))
    step_ours, step_theirs = sgd_steps(ours, fun), sgd_steps(theirs, fun)
    x = y = jnp.asarray(np.random.default_rng(3).normal(size=n))
    s, r = ours.init(x), theirs.init(y)
    for k in range(8):
        x, u, s = step_ours(x, s)
        y, w, r = step_theirs(y, r)
        np.testing.assert_allclose(u, w, rtol=1e-9, atol=1e-13, err_msg=f"{problem}, step {k}")
        assert int(s[1].info.num_linesearch_steps) == int(r[1].info.num_linesearch_steps)


def test_zoom_returns_a_finite_point_when_the_direction_ascends(x64):
    fun = lambda x: jnp.sum(x**2)  # noqa: E731
    tx = scale_by_zoom_linesearch(max_linesearch_steps=10)
    x = jnp.array([1.0, 2.0])
    _, _, _, u, state = one_search(tx, fun, x, direction=jax.grad(fun)(x))
    assert int(state.info.num_linesearch_steps) == 10  # every try failed
    assert bool(jnp.all(jnp.isfinite(u))) and float(state.info.decrease_error) > 0


def test_zoom_makes_no_step_when_every_value_is_infinite():
    fun = lambda x: jnp.where(jnp.abs(x[0]) > 1e-3, jnp.inf, jnp.sum(x**2))  # noqa: E731
    tx = scale_by_zoom_linesearch(max_linesearch_steps=4)
    x = jnp.zeros(2)
    _, _, _, u, state = one_search(tx, fun, x, direction=jnp.array([-1.0, 0.0]))
    assert float(state.learning_rate) == 0.0 and bool(jnp.all(u == 0))


def test_zoom_jit_vmap_and_float32_state():
    tx = scale_by_zoom_linesearch(max_linesearch_steps=15)
    xs = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2)), jnp.float32)

    def search(x):
        v, g = jax.value_and_grad(himmelblau)(x)
        return tx.update(-g, tx.init(x), x, value=v, grad=g, value_fn=himmelblau)

    us, states = jax.jit(jax.vmap(search))(xs)
    for i in range(3):
        u, state = search(xs[i])
        np.testing.assert_allclose(us[i], u, rtol=1e-5)
    assert isinstance(states, ScaleByZoomLinesearchState)
    assert states.learning_rate.dtype == jnp.float32 and states.grad.dtype == jnp.float32


# ---------------------------------------------------------------------------------------------
# Extra arguments, state lookup, bad arguments


@pytest.mark.parametrize(
    "tx",
    [scale_by_backtracking_linesearch(10), scale_by_zoom_linesearch(10)],
    ids=["backtracking", "zoom"],
)
def test_extra_arguments_reach_value_fn_and_unused_ones_raise(tx):
    def fn(params, target):
        return jnp.sum((params - target) ** 2)

    x, target = jnp.zeros(2), jnp.array([1.0, -1.0])
    v, g = jax.value_and_grad(fn)(x, target)
    u, _ = tx.update(-g, tx.init(x), x, value=v, grad=g, value_fn=fn, target=target)
    assert float(fn(x + u, target)) < float(v)
    unexpected = r"Unexpected keyword arguments \['batch'\] given to update\(\)"  # optax's words
    with pytest.raises(TypeError, match=unexpected):
        tx.update(-g, tx.init(x), x, value=v, grad=g, value_fn=fn, target=target, batch=1)


def test_find_linesearch_state_finds_optax_and_gradlab_states():
    x = jnp.zeros(2)
    ours = chain(sgd(1.0), scale_by_backtracking_linesearch(5, store_grad=True)).init(x)
    assert isinstance(find_linesearch_state(ours), ScaleByBacktrackingLinesearchState)
    theirs = optax.lbfgs().init(x)
    assert find_linesearch_state(theirs) is theirs[2]
    assert find_linesearch_state(sgd(0.1).init(x)) is None


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: scale_by_backtracking_linesearch(-1), r"max_backtracking_steps must be an int"),
        (lambda: scale_by_backtracking_linesearch(5.5), r"max_backtracking_steps must be an int"),
        (lambda: scale_by_backtracking_linesearch(5, slope_rtol=1.5), r"slope_rtol must be in"),
        (lambda: scale_by_backtracking_linesearch(5, decrease_factor=1.0), r"decrease_factor"),
        (lambda: scale_by_backtracking_linesearch(5, increase_factor=0.5), r"increase_factor"),
        (lambda: scale_by_backtracking_linesearch(5, max_learning_rate=0.0), r"max_learning_r"),
        (lambda: scale_by_backtracking_linesearch(5, atol=-1.0), r"atol must be non-negative"),
        (lambda: scale_by_backtracking_linesearch(5, store_grad="no"), r"store_grad must be one"),
        (lambda: scale_by_zoom_linesearch(0), r"max_linesearch_steps must be an int >= 1, got"),
        (lambda: scale_by_zoom_linesearch(5, curv_rtol=0.0), r"curv_rtol must be in \(0, inf\]"),
        (lambda: scale_by_zoom_linesearch(5, slope_rtol=float("nan")), r"slope_rtol must be in"),
        (lambda: scale_by_zoom_linesearch(5, increase_factor=1.0), r"increase_factor must be"),
        (lambda: scale_by_zoom_linesearch(5, max_learning_rate=-1.0), r"max_learning_rate"),
        (lambda: scale_by_zoom_linesearch(5, approx_dec_rtol=-1.0), r"approx_dec_rtol"),
        (lambda: scale_by_zoom_linesearch(5, initial_guess_strategy="two"), r"one of \('one'"),
    ],
)
def test_bad_arguments_raise_at_construction(build, match):
    with pytest.raises((ValueError, TypeError), match=f"scale_by_.*: .*{match}"):
        build()


def test_update_without_value_fn_raises_a_clear_error():
    tx = scale_by_zoom_linesearch(5)
    x = jnp.zeros(2)
    with pytest.raises(TypeError, match="value_fn"):
        tx.update(x, tx.init(x), x, value=0.0, grad=x)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_array_hyperparameters_of_any_float_dtype_are_accepted(dtype):
    """A bf16 scalar is a real scalar (NumPy's kind for it is 'V', not 'f')."""
    tx = scale_by_backtracking_linesearch(5, slope_rtol=jnp.array(1e-4, dtype))
    x = jnp.array([1.0, 2.0])
    fn = lambda w: jnp.sum(w**2)  # noqa: E731
    v, g = jax.value_and_grad(fn)(x)
    u, _ = tx.update(-g, tx.init(x), x, value=v, grad=g, value_fn=fn)
    assert float(fn(x + u)) < float(v)


def test_a_state_edited_with_optax_tree_set_keeps_working():
    """optax.tree.set(state, learning_rate=1.0) stores a Python float; the next update casts."""
    tx = scale_by_zoom_linesearch(10)
    x = jnp.array([1.0, 2.0])
    state = optax.tree.set(tx.init(x), learning_rate=1.0)
    fn = lambda w: jnp.sum(w**2)  # noqa: E731
    v, g = jax.value_and_grad(fn)(x)
    u, new_state = tx.update(-g, state, x, value=v, grad=g, value_fn=fn)
    np.testing.assert_allclose(x + u, [0.0, 0.0], atol=1e-6)
    assert new_state.learning_rate.dtype == jnp.float32

"""The optimizer aliases against optax (200 jitted steps) and against textbook numpy code."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from gradlab import testing
from tests import references
from tests.conftest import make_tree

# (alias name, [kwargs rows]): defaults first, then non-default settings; every family with an eps
# has a large-eps row, so that eps inside vs outside the root is actually tested.
OPTIMIZERS = [
    ("sgd", [{}, {"momentum": 0.9}, {"momentum": 0.8, "nesterov": True}]),
    ("adagrad", [{}, {"initial_accumulator_value": 0.0, "eps": 1e-10}, {"eps": 0.1}]),
    (
        "rmsprop",
        [
            {},
            {"centered": True, "momentum": 0.5, "eps": 1e-3},
            {"eps": 0.1, "eps_in_sqrt": False, "momentum": 0.5, "nesterov": True},
            {"eps": 0.1, "initial_scale": 1.0, "bias_correction": True, "centered": True},
        ],
    ),
    ("adadelta", [{}, {"rho": 0.95, "eps": 0.1}, {"weight_decay": 0.01}]),
    ("adam", [{}, {"eps": 0.1, "eps_root": 1e-3}, {"nesterov": True, "b1": 0.8}]),
    (
        "adamw",
        [
            {},
            {"weight_decay": 0.1, "eps": 0.1},
            {"mask": lambda p: jax.tree.map(lambda x: x.ndim > 1, p), "nesterov": True},
        ],
    ),
    ("adamax", [{}, {"eps": 0.1}, {"b1": 0.5, "b2": 0.99}]),
    ("nadam", [{}, {"eps": 0.1}, {"b1": 0.95, "eps_root": 1e-4}]),
    ("amsgrad", [{}, {"eps": 0.1}, {"bias_correction_mu": False, "bias_correction_nu": False}]),
]
ROWS = [(name, kw) for name, rows in OPTIMIZERS for kw in rows]
ROW_IDS = [f"{name}-{i}" for name, rows in OPTIMIZERS for i in range(len(rows))]
NAMES = [name for name, _ in OPTIMIZERS]
LEARNING_RATE = {"adadelta": 1.0, "sgd": 0.05, "adagrad": 0.1}


def build(module, name, kwargs):
    """``module.name(learning_rate, **kwargs)`` with the table's learning rate."""
    return getattr(module, name)(LEARNING_RATE.get(name, 0.01), **kwargs)


def loss(params, targets):
    """A non-quadratic loss whose gradient depends on the params: the trajectory feeds back."""
    terms = jax.tree.map(
        lambda p, t: jnp.sum(0.5 * (p - t) ** 2 * (1 + t**2) + 0.1 * jnp.cos(3 * p)),
        params,
        targets,
    )
    return sum(jax.tree.leaves(terms))


def run_both(tx, ref, params, targets, steps):
    """gradlab's and optax's optimizers side by side on ``loss`` in one jitted scan:
    ``(params, optax_params, updates, optax_updates)`` (``gradlab.testing.run_side_by_side``)."""
    return testing.run_side_by_side(
        tx,
        ref,
        params,
        lambda p: loss(p, targets),
        steps,
        apply_reference_updates=optax.apply_updates,
    )


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_matches_optax_float64(name, kwargs, x64):
    params, targets = make_tree(0, jnp.float64), make_tree(1, jnp.float64)
    p, q, us, vs = run_both(
        build(gradlab, name, kwargs), build(optax, name, kwargs), params, targets, 200
    )
    chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12)
    chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-12)
    assert jax.tree.leaves(p)[0].dtype == jnp.float64


assert_normwise_close = testing.assert_trees_normwise_close  # the name the test files use


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_matches_optax_float32(name, kwargs):
    params, targets = make_tree(0), make_tree(1)
    p, q, us, vs = run_both(
        build(gradlab, name, kwargs), build(optax, name, kwargs), params, targets, 200
    )
    assert_normwise_close(us, vs, rtol=1e-4)
    # atol: entries near zero, where float32 rounding differences (see the next test) dominate.
    chex.assert_trees_all_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["adam", "nadam", "amsgrad"])
def test_float32_closer_to_float64_truth_than_optax(name):
    """gradlab's bias correction (expm1 of a float64 log) beats optax's 1 - b**t in float32."""
    p, q, _, _ = run_both(
        build(gradlab, name, {}), build(optax, name, {}), make_tree(0), make_tree(1), 200
    )
    with jax.enable_x64(True):
        truth, _, _, _ = run_both(
            build(gradlab, name, {}),
            build(optax, name, {}),
            make_tree(0, jnp.float64),
            make_tree(1, jnp.float64),
            200,
        )
        truth = jax.tree.map(np.asarray, truth)

    def err(tree):
        leaves = zip(jax.tree.leaves(tree), jax.tree.leaves(truth), strict=True)
        return max(np.max(np.abs(np.asarray(a, np.float64) - b)) for a, b in leaves)

    assert err(p) < 0.5 * err(q), (err(p), err(q))


# ---------------------------------------------------------------------------------------------
# Textbook parity: the seed update rules written out in numpy (tests/references.py).

A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
B = np.array([1.0, -2.0, 0.5])
W0 = np.array([2.0, 1.0, -3.0])


def np_grad(w):
    """Gradient of 1/2 w'Aw - b'w - 1/2 sum cos(w): depends on w non-linearly."""
    return A @ w - B + 0.5 * np.sin(w)


def jnp_grad(w):
    return jnp.asarray(A) @ w - jnp.asarray(B) + 0.5 * jnp.sin(w)


def trajectory(tx, steps):
    """gradlab's iterates on ``np_grad``'s objective, in float64, one jitted step at a time."""
    w, state, out = jnp.asarray(W0), tx.init(jnp.asarray(W0)), []
    step = jax.jit(lambda w, s: tx.update(jnp_grad(w), s, w))
    for _ in range(steps):
        u, state = step(w, state)
        w = gradlab.apply_updates(w, u)
        out.append(np.asarray(w))
    return out


TEXTBOOK = [
    ("heavy_ball", gradlab.sgd(0.05, momentum=0.9), references.heavy_ball, {"lr": 0.05, "mu": 0.9}),
    (
        "nesterov",
        gradlab.sgd(0.05, momentum=0.9, nesterov=True),
        references.nesterov,
        {"lr": 0.05, "mu": 0.9},
    ),
    ("adagrad", gradlab.adagrad(0.5, 0.1, 1e-7), references.adagrad, {"lr": 0.5, "g0": 0.1}),
    ("rmsprop", gradlab.rmsprop(0.01, 0.9, 1e-2), references.rmsprop, {"lr": 0.01, "eps": 1e-2}),
    (
        "rmsprop_eps_outside",
        gradlab.rmsprop(0.01, 0.9, 0.1, eps_in_sqrt=False),
        references.rmsprop,
        {"lr": 0.01, "eps": 0.1, "eps_in_sqrt": False},
    ),
    (
        "centered_rmsprop",
        gradlab.rmsprop(0.01, 0.9, 1e-2, centered=True),
        references.centered_rmsprop,
        {"lr": 0.01, "eps": 1e-2},
    ),
    ("adadelta", gradlab.adadelta(rho=0.9, eps=1e-6), references.adadelta, {}),
    ("adam", gradlab.adam(0.05, eps=0.1), references.adam, {"lr": 0.05, "eps": 0.1}),
    ("adamax", gradlab.adamax(0.05, eps=0.1), references.adamax, {"lr": 0.05, "eps": 0.1}),
    ("nadam", gradlab.nadam(0.05, eps=0.1), references.nadam, {"lr": 0.05, "eps": 0.1}),
    ("amsgrad", gradlab.amsgrad(0.05, eps=0.1), references.amsgrad, {"lr": 0.05, "eps": 0.1}),
    (
        "amsgrad_paper",
        gradlab.amsgrad(0.05, eps=0.1, bias_correction_mu=False, bias_correction_nu=False),
        references.amsgrad,
        {"lr": 0.05, "eps": 0.1, "bias_correction": False},
    ),
]


@pytest.mark.parametrize("name,tx,reference,kwargs", TEXTBOOK, ids=[r[0] for r in TEXTBOOK])
def test_matches_textbook_numpy(name, tx, reference, kwargs, x64):
    steps = 60
    expected = reference(W0, np_grad, steps, **kwargs)
    got = trajectory(tx, steps)
    for t, (g, e) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"{name}, step {t + 1}")


# ---------------------------------------------------------------------------------------------
# Convergence


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


Q = jnp.array([[4.0, 1.0], [1.0, 2.0]])
C = jnp.array([1.0, -1.0])


def quadratic(w):
    return 0.5 * w @ Q @ w - C @ w


def minimise(tx, f, w0, steps):
    def step(carry, _):
        w, s = carry
        u, s = tx.update(jax.grad(f)(w), s, w)
        return (gradlab.apply_updates(w, u), s), None

    run = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps)[0][0])
    return run((w0, tx.init(w0)))


# Tuned hyperparameters: each drives both problems to within TOL (max-norm) of the minimiser.
CONVERGENCE = [
    ("sgd", {"learning_rate": 1e-3, "momentum": 0.9}, 20_000),
    ("adagrad", {"learning_rate": 0.5}, 20_000),
    ("rmsprop", {"learning_rate": 1e-3, "momentum": 0.9}, 50_000),
    ("adadelta", {"learning_rate": lambda t: 0.5 * 0.9999**t, "rho": 0.95}, 50_000),
    ("adam", {"learning_rate": 0.02}, 20_000),
    ("adamw", {"learning_rate": 0.02, "weight_decay": 0.0}, 20_000),
    ("adamax", {"learning_rate": 0.02}, 20_000),
    ("nadam", {"learning_rate": 0.005}, 20_000),
    ("amsgrad", {"learning_rate": 0.5}, 20_000),
]
ROSENBROCK_TOL, QUADRATIC_TOL = 2e-3, 1e-3


@pytest.mark.parametrize("name,kwargs,steps", CONVERGENCE, ids=[c[0] for c in CONVERGENCE])
def test_converges(name, kwargs, steps):
    tx = getattr(gradlab, name)(**kwargs)
    w = minimise(tx, rosenbrock, jnp.array([-1.2, 1.0]), steps)
    np.testing.assert_allclose(w, [1.0, 1.0], atol=ROSENBROCK_TOL)
    w = minimise(tx, quadratic, jnp.array([3.0, -2.0]), 2_000)
    np.testing.assert_allclose(w, jnp.linalg.solve(Q, C), atol=QUADRATIC_TOL)


REQUIRED_ONLY = {name: ((1e-2,) if name != "adadelta" else ()) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_defaults_decrease_a_quadratic(name):
    """Every alias called with its required arguments only descends (adadelta included)."""
    tx = getattr(gradlab, name)(*REQUIRED_ONLY[name])
    w0 = jnp.array([3.0, -2.0])
    w, state, losses = w0, tx.init(w0), [quadratic(w0)]
    for _ in range(20):
        u, state = tx.update(jax.grad(quadratic)(w), state, w)
        w = gradlab.apply_updates(w, u)
        losses.append(quadratic(w))
    assert losses[-1] < losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), losses


def test_adadelta_default_descends_where_optax_climbs():
    """The documented difference: optax 0.2.8's adadelta() skips the sign flip."""
    w0 = jnp.array([3.0, -2.0])
    g = jax.grad(quadratic)(w0)
    ours = gradlab.adadelta().update(g, gradlab.adadelta().init(w0), w0)[0]
    theirs = optax.adadelta().update(g, optax.adadelta().init(w0), w0)[0]
    assert quadratic(w0 + ours) < quadratic(w0) < quadratic(w0 + theirs)
    chex.assert_trees_all_close(ours, -theirs)


# ---------------------------------------------------------------------------------------------
# jit / vmap


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_learning_rates_equals_a_loop(name):
    lrs = jnp.array([1e-3, 1e-2, 0.1, 0.5])
    params = make_tree(0)
    grads = jax.tree.map(lambda p: jnp.cos(p), params)

    def two_steps(lr):
        tx = getattr(gradlab, name)(lr)
        u, s = tx.update(grads, tx.init(params), params)
        return tx.update(grads, s, gradlab.apply_updates(params, u))[0]

    batched = jax.vmap(two_steps)(lrs)
    looped = [two_steps(float(lr)) for lr in lrs]
    chex.assert_trees_all_close(batched, jax.tree.map(lambda *x: jnp.stack(x), *looped), rtol=1e-6)


def test_no_retracing_across_steps():
    tx = gradlab.adam(1e-3)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, state):
        u, state = tx.update(jax.tree.map(jnp.sin, params), state, params)
        return gradlab.apply_updates(params, u), state

    params = make_tree(0)
    state = tx.init(params)
    for _ in range(5):
        params, state = step(params, state)

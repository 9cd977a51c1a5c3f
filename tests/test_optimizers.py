"""The optimizer aliases against optax (200 jitted steps) and against textbook numpy code."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
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
            {"centered": True, "momentum": 0.9},
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
    """Runs gradlab's and optax's optimizers side by side in one jitted scan."""

    def step(carry, _):
        (p, s), (q, r) = carry
        u, s = tx.update(jax.grad(loss)(p, targets), s, p)
        v, r = ref.update(jax.grad(loss)(q, targets), r, q)
        p, q = gradlab.apply_updates(p, u), optax.apply_updates(q, v)
        return ((p, s), (q, r)), (u, v)

    init = ((params, tx.init(params)), (params, ref.init(params)))
    ((p, _), (q, _)), (us, vs) = jax.jit(
        lambda c: jax.lax.scan(step, c, None, length=steps)
    )(init)
    return p, q, us, vs


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_matches_optax_float64(name, kwargs, x64):
    params, targets = make_tree(0, jnp.float64), make_tree(1, jnp.float64)
    p, q, us, vs = run_both(
        build(gradlab, name, kwargs), build(optax, name, kwargs), params, targets, 200
    )
    chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12)
    chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-12)
    assert jax.tree.leaves(p)[0].dtype == jnp.float64


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_matches_optax_float32(name, kwargs):
    params, targets = make_tree(0), make_tree(1)
    p, q, us, vs = run_both(
        build(gradlab, name, kwargs), build(optax, name, kwargs), params, targets, 200
    )
    # atol: optax's own float32 rounding of 1 - b2**t (~1e-5 of the params, see the next test).
    chex.assert_trees_all_close(us, vs, rtol=1e-4, atol=1e-5)
    chex.assert_trees_all_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["adam", "nadam", "amsgrad"])
def test_float32_closer_to_float64_truth_than_optax(name):
    """gradlab's bias correction (expm1 of a float64 log) beats optax's 1 - b**t in float32."""
    p, q, _, _ = run_both(build(gradlab, name, {}), build(optax, name, {}), make_tree(0), make_tree(1), 200)
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

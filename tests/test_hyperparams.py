"""Hyperparameters in the state: read back, changed between jitted steps, scheduled."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gradlab
from tests.conftest import make_tree
from tests.test_optimizers import LEARNING_RATE, NAMES, ROW_IDS, ROWS, build


def numeric_arguments(name, kwargs):
    """The alias's declared hyperparameters given as numbers (what the state must report).

    A declared off-when-zero argument given as a Python 0 is compiled away and not reported.
    """
    fn = getattr(gradlab, name)
    bound = inspect.signature(fn).bind(LEARNING_RATE.get(name, 0.01), **kwargs)
    bound.apply_defaults()
    return {
        k: v
        for k, v in bound.arguments.items()
        if k in fn.hyperparam_names
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and not (k in fn.off_when_zero and v == 0)
    }


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_hyperparams_reads_every_numeric_argument(name, kwargs):
    tx = build(gradlab, name, kwargs)
    state = tx.init(make_tree(0))
    got = gradlab.hyperparams(state)
    want = numeric_arguments(name, kwargs)
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-7, err_msg=k)


CHANGES = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, {"learning_rate": 0.02, "momentum": 0.5}),
    ("adam", {"learning_rate": 0.1}, {"learning_rate": 0.01, "b1": 0.5}),
    (
        "adamw",
        {"learning_rate": 0.1, "weight_decay": 1e-4},
        {"learning_rate": 0.05, "b1": 0.8, "weight_decay": 0.1},
    ),
    ("rmsprop", {"learning_rate": 0.1, "momentum": 0.9}, {"learning_rate": 0.3, "decay": 0.5}),
]


@pytest.mark.parametrize("name,before,after", CHANGES, ids=[c[0] for c in CHANGES])
def test_set_hyperparams_equals_a_fresh_optimizer_without_recompiling(name, before, after):
    params = make_tree(0)
    grads = jax.tree.map(jnp.cos, params)
    tx = getattr(gradlab, name)(**before)
    traces = []

    @jax.jit
    def step(state):
        traces.append(1)
        return tx.update(grads, state, params)

    _, state = step(tx.init(params))
    changed = gradlab.set_hyperparams(state, **after)
    updates, _ = step(changed)
    assert len(traces) == 1, "changing a hyperparameter recompiled the step"
    assert {k: float(v) for k, v in gradlab.hyperparams(changed).items() if k in after} == (
        pytest.approx(after)
    )

    fresh = getattr(gradlab, name)(**{**before, **after})
    fresh_state = fresh.init(params)._replace(count=state.count, inner_state=state.inner_state)
    expected, _ = jax.jit(fresh.update)(grads, fresh_state, params)
    chex.assert_trees_all_equal(updates, expected)


def test_set_hyperparams_rejects_unknown_names_and_shapes():
    state = gradlab.adam(1e-3).init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"unknown hyperparameter.*'lr'.*learning_rate"):
        gradlab.set_hyperparams(state, lr=1e-4)
    with pytest.raises(ValueError, match="shape"):
        gradlab.set_hyperparams(state, learning_rate=jnp.ones(3))
    with pytest.raises(ValueError, match="no injected hyperparameters"):
        gradlab.hyperparams(gradlab.scale(1.0).init(jnp.zeros(1)))


def test_schedules_for_learning_rate_momentum_and_weight_decay():
    """Any numeric argument of an alias may be a schedule; the state shows its current value."""
    lr = lambda t: 0.1 / (1.0 + t)  # noqa: E731
    b1 = lambda t: 0.9 - 0.4 * 0.5**t  # noqa: E731
    wd = lambda t: 0.01 * t  # noqa: E731
    params = make_tree(0)
    grads = jax.tree.map(jnp.sin, params)
    tx = gradlab.adamw(lr, b1=b1, weight_decay=wd)
    ref = optax.inject_hyperparams(optax.adamw)(lr, b1=b1, weight_decay=wd)
    s, r = tx.init(params), ref.init(params)
    for t in range(4):
        u, s = jax.jit(tx.update)(grads, s, params)
        v, r = jax.jit(ref.update)(grads, r, params)
        chex.assert_trees_all_close(u, v, rtol=2e-5, atol=1e-7)
        hp = gradlab.hyperparams(s)
        np.testing.assert_allclose(
            [hp["learning_rate"], hp["b1"], hp["weight_decay"]], [lr(t), b1(t), wd(t)], rtol=1e-6
        )


def test_sgd_momentum_schedule():
    tx = gradlab.sgd(1.0, momentum=lambda t: jnp.where(t < 1, 0.0, 0.5))
    g = jnp.ones(1)
    u1, s = tx.update(g, tx.init(g))
    u2, s = tx.update(g, s)
    np.testing.assert_allclose([u1[0], u2[0]], [-1.0, -1.5])  # m2 = g + 0.5 * m1


def test_hyperparams_found_inside_optax_chain_and_nnx_optimizer():
    params = make_tree(0)
    state = optax.chain(optax.clip(1.0), gradlab.adam(3e-4)).init(params)
    assert float(gradlab.hyperparams(state)["learning_rate"]) == pytest.approx(3e-4)

    model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, gradlab.sgd(0.1, momentum=0.9), wrt=nnx.Param)
    hp = gradlab.hyperparams(optimizer.opt_state)  # arrays, not nnx's OptArray wrappers
    assert isinstance(hp["momentum"], jax.Array) and hp["momentum"].shape == ()
    assert float(hp["momentum"]) == pytest.approx(0.9)


@pytest.mark.parametrize("name", NAMES)
def test_low_precision_params_keep_dtype_with_float32_hyperparameters(name):
    params = {"w": jnp.linspace(-1, 1, 4, dtype=jnp.bfloat16)}
    tx = build(gradlab, name, {})
    state = tx.init(params)
    u, state = tx.update(jax.tree.map(lambda p: p * 0.5, params), state, params)
    assert u["w"].dtype == jnp.bfloat16
    assert gradlab.apply_updates(params, u)["w"].dtype == jnp.bfloat16
    for leaf in jax.tree.leaves(state.inner_state):
        assert leaf.dtype in (jnp.bfloat16, jnp.int32), leaf.dtype


def test_inject_hyperparams_of_an_alias_or_a_custom_chain():
    outer = gradlab.inject_hyperparams(gradlab.adam)(0.1)  # an outer injection owns the values
    outer_state = gradlab.set_hyperparams(outer.init(jnp.ones(2)), learning_rate=0.0)
    assert float(gradlab.hyperparams(outer_state)["learning_rate"]) == 0.0
    chex.assert_trees_all_equal(outer.update(jnp.ones(2), outer_state)[0], jnp.zeros(2))

    def my_optimizer(learning_rate, decay=0.9):
        return gradlab.chain(
            gradlab.scale_by_rms(decay), gradlab.scale_by_learning_rate(learning_rate)
        )

    tx = gradlab.inject_hyperparams(my_optimizer)(0.1)
    state = tx.init(jnp.ones(2))
    assert sorted(gradlab.hyperparams(state)) == ["decay", "learning_rate"]
    state = gradlab.set_hyperparams(state, learning_rate=0.2)
    u, _ = tx.update(jnp.ones(2), state)
    expected, _ = my_optimizer(0.2).update(jnp.ones(2), my_optimizer(0.2).init(jnp.ones(2)))
    chex.assert_trees_all_close(u, expected, rtol=1e-6)

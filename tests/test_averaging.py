"""Polyak averaging: the uniform mean and the EMA of the visited params, against numpy.

References: the mean of the parameter trees a run visits, and the EMA recurrence written in
float64 numpy; optax as the inner optimizer and as the chain around the wrapper.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training import train_state

import gradlab
from gradlab.transforms import wrappers
from gradlab.transforms.averaging import (
    PolyakState,
    averaged_params,
    ema_params,
    polyak_averaging,
)
from tests.conftest import make_tree

VARIANTS = [pytest.param(jax.jit, id="jit"), pytest.param(lambda f: f, id="nojit")]
STEPS = 7


def loss(params):
    """A non-quadratic loss, so that the iterates do not move on a straight line."""
    leaves = jax.tree.leaves(params)
    return sum(jnp.sum((p - 0.3) ** 2 + 0.1 * p**4) for p in leaves)


grad_fn = jax.jit(jax.grad(loss))
apply_updates = jax.jit(gradlab.apply_updates)


def run(tx, params, steps=STEPS, wrap=lambda f: f):
    """``steps`` steps of ``tx`` on ``loss``; the final state and every visited params tree."""
    update = wrap(tx.update)
    state = tx.init(params)
    visited = []
    for _ in range(steps):
        grads = grad_fn(params)
        updates, state = update(grads, state, params)
        params = apply_updates(params, updates)
        visited.append(params)
    return state, visited


def with_none(tree):
    return {**tree, "none": None}


@pytest.mark.parametrize("wrap", VARIANTS)
def test_uniform_average_is_the_mean_of_the_visited_params(x64, wrap):
    params = with_none(make_tree(0, jnp.float64))
    tx = polyak_averaging(gradlab.adam(0.05))
    state, visited = run(tx, params, wrap=wrap)
    mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *visited)
    average = averaged_params(state)
    assert jax.tree.structure(average) == jax.tree.structure(params)
    for got, want in zip(jax.tree.leaves(average), jax.tree.leaves(mean)):
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert int(state.steps) == STEPS


@pytest.mark.parametrize("debias", [True, False])
@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9])
def test_ema_matches_its_numpy_recurrence(x64, decay, debias):
    params = with_none(make_tree(0, jnp.float64))
    tx = polyak_averaging(gradlab.sgd(0.1, momentum=0.5), decay, ema_debias=debias)
    state, visited = run(tx, params)
    theta0 = [np.asarray(x) for x in jax.tree.leaves(params)]
    ema = [np.zeros_like(x) for x in theta0] if debias else theta0
    for v in visited:
        ema = [decay * e + (1 - decay) * np.asarray(t) for e, t in zip(ema, jax.tree.leaves(v))]
    if debias:
        ema = [e / (1 - decay**STEPS) for e in ema]
    for got, want in zip(jax.tree.leaves(ema_params(state)), ema):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_debiased_ema_starts_at_the_first_iterate_and_before_any_step_is_theta0():
    params = make_tree(0)
    tx = polyak_averaging(gradlab.sgd(0.1), 0.999)
    state = tx.init(params)
    jax.tree.map(np.testing.assert_array_equal, ema_params(state), params)
    jax.tree.map(np.testing.assert_array_equal, averaged_params(state), params)
    state, visited = run(tx, params, steps=1)
    jax.tree.map(np.testing.assert_array_equal, ema_params(state), visited[0])


def test_bf16_params_keep_a_float32_average():
    params = make_tree(0, jnp.bfloat16)
    tx = polyak_averaging(gradlab.sgd(0.05), 0.9)
    state, visited = run(tx, params, steps=20)
    mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs).astype(np.float64), axis=0), *visited)
    for got, want, p in zip(
        jax.tree.leaves(averaged_params(state)), jax.tree.leaves(mean), jax.tree.leaves(params)
    ):
        assert p.dtype == jnp.bfloat16 and got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)  # bf16 would be ~4e-3 off
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(ema_params(state)))
    explicit = polyak_averaging(gradlab.sgd(0.05), accumulator_dtype=jnp.bfloat16).init(params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(explicit.average))


def test_no_buffer_exists_for_an_average_not_asked_for():
    params = make_tree(0)
    n = len(jax.tree.leaves(params))
    inner = gradlab.sgd(0.1)
    base = len(jax.tree.leaves(inner.init(params))) + 1  # inner state + the step count
    uniform = polyak_averaging(inner).init(params)
    assert uniform.ema is None and len(jax.tree.leaves(uniform)) == base + n
    only_ema = polyak_averaging(inner, 0.9, uniform=False).init(params)
    assert only_ema.average is None and len(jax.tree.leaves(only_ema)) == base + n
    both = polyak_averaging(inner, 0.9).init(params)
    assert len(jax.tree.leaves(both)) == base + 2 * n
    with pytest.raises(ValueError, match="ema_params: .*without ema_decay"):
        ema_params(uniform)
    with pytest.raises(ValueError, match="averaged_params: .*uniform=False"):
        averaged_params(only_ema)


@pytest.mark.parametrize("wrap", VARIANTS)
def test_updates_pass_unchanged_inside_optax_chain(wrap):
    params = with_none(make_tree(0))
    ours = optax.chain(optax.clip(0.5), polyak_averaging(optax.adam(1e-2), 0.9))
    ref = optax.chain(optax.clip(0.5), optax.adam(1e-2))
    update, ref_update = wrap(ours.update), wrap(ref.update)
    s, r = ours.init(params), ref.init(params)
    visited = []
    for _ in range(5):
        grads = grad_fn(params)
        u, s = update(grads, s, params)
        v, r = ref_update(grads, r, params)
        jax.tree.map(np.testing.assert_array_equal, u, v)
        params = optax.apply_updates(params, u)
        visited.append(params)
    mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0), *visited)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
        averaged_params(s),
        mean,
    )


def test_last_stage_of_a_chain_equals_the_wrapper():
    params = make_tree(0)
    wrapped = polyak_averaging(gradlab.adam(1e-2), 0.8)
    staged = gradlab.chain(gradlab.adam(1e-2), polyak_averaging(ema_decay=0.8))
    s1, _ = run(wrapped, params, wrap=jax.jit)
    s2, _ = run(staged, params, wrap=jax.jit)
    jax.tree.map(np.testing.assert_array_equal, averaged_params(s1), averaged_params(s2))
    jax.tree.map(np.testing.assert_array_equal, ema_params(s1), ema_params(s2))


def test_apply_if_finite_around_it_leaves_the_average_unchanged_on_a_nan_step():
    params = with_none(make_tree(0))
    tx = wrappers.apply_if_finite(polyak_averaging(gradlab.adam(1e-2), 0.9), 3)
    update = jax.jit(tx.update)
    state = tx.init(params)
    clean = tx.init(params)
    for step in range(4):
        grads = grad_fn(params)
        if step == 2:  # a NaN step: skipped, nothing moves
            bad = jax.tree.map(lambda g: g.at[...].set(jnp.nan), grads)
            before = state.inner_state
            updates, state = update(bad, state, params)
            jax.tree.map(np.testing.assert_array_equal, state.inner_state, before)
            assert all(not jnp.any(u) for u in jax.tree.leaves(updates))
            continue
        updates, state = update(grads, state, params)
        _, clean = update(grads, clean, params)  # the same run without the NaN step
        params = gradlab.apply_updates(params, updates)
    assert int(state.inner_state.steps) == 3
    jax.tree.map(np.testing.assert_array_equal, averaged_params(state), averaged_params(clean))
    jax.tree.map(np.testing.assert_array_equal, ema_params(state), ema_params(clean))


def test_a_nan_step_without_apply_if_finite_makes_the_average_nan_like_the_params():
    params = make_tree(0)
    tx = polyak_averaging(gradlab.sgd(0.1))
    _, state = tx.update(
        jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), params), tx.init(params), params
    )
    assert all(jnp.all(jnp.isnan(a)) for a in jax.tree.leaves(averaged_params(state)))


def test_the_accessors_find_the_state_inside_a_train_state():
    params = make_tree(0)
    tx = gradlab.chain(gradlab.add_decayed_weights(1e-4), polyak_averaging(gradlab.sgd(0.1)))
    ts = train_state.TrainState.create(apply_fn=lambda *a: None, params=params, tx=tx)

    @jax.jit
    def step(ts):
        return ts.apply_gradients(grads=jax.grad(loss)(ts.params))

    ts = step(step(ts))
    assert isinstance(ts.opt_state[1], PolyakState)
    assert int(ts.opt_state[1].steps) == 2
    jax.tree.map(np.testing.assert_array_equal, averaged_params(ts), averaged_params(ts.opt_state))
    with pytest.raises(ValueError, match="holds no PolyakState"):
        averaged_params(gradlab.adam(1e-3).init(params))
    two = gradlab.chain(polyak_averaging(gradlab.sgd(0.1)), polyak_averaging())
    with pytest.raises(ValueError, match="holds 2 PolyakStates"):
        averaged_params(two.init(params))


def test_vmap_eval_shape_and_extra_args():
    params = {"w": jnp.ones((4, 3))}
    tx = polyak_averaging(gradlab.sgd(0.1), 0.9)
    shapes = jax.eval_shape(tx.init, params)
    assert shapes.ema["w"].shape == (4, 3)
    states = jax.vmap(tx.init)(params)  # a batch of 4 params of shape (3,)
    grads = {"w": jnp.ones((4, 3))}
    _, states = jax.vmap(tx.update)(grads, states, params)
    np.testing.assert_allclose(averaged_params(states)["w"], 0.9)
    seen = {}

    def inner_update(updates, state, params=None, **extra):
        seen.update(extra)
        return updates, state

    inner = gradlab.GradientTransformationExtraArgs(lambda p: gradlab.EmptyState(), inner_update)
    wrapped = polyak_averaging(inner)
    wrapped.update(grads, wrapped.init(params), params, value=jnp.asarray(1.0))
    assert "value" in seen


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (
            {"ema_decay": 1.5},
            ValueError,
            r"polyak_averaging: ema_decay must be in \[0, 1\), got 1.5",
        ),
        ({"ema_decay": -0.1}, ValueError, "Pass e.g. ema_decay=0.999"),
        ({"uniform": False}, ValueError, "leave nothing to average. Pass e.g. ema_decay=0.999"),
        ({"inner": "adam"}, TypeError, "polyak_averaging: inner must be a GradientTransformation"),
        ({"accumulator_dtype": jnp.int32}, ValueError, "accumulator_dtype must be a floating"),
        ({"uniform": "yes"}, ValueError, "uniform must be one of"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        polyak_averaging(**kwargs)


def test_update_requires_params():
    tx = polyak_averaging(gradlab.sgd(0.1))
    with pytest.raises(ValueError, match="polyak_averaging: update\\(\\) needs params"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))

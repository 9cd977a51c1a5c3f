"""Stateful schedules (optax's StatefulSchedule protocol) and schedules checked for their sign."""

import warnings
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from tests.conftest import make_tree
from tests.test_optimizers import NAMES


class PlateauState(NamedTuple):
    lr: jax.Array
    best: jax.Array


class HalveOnPlateau:
    """Halves the learning rate whenever the loss ``value`` passed to update does not improve."""

    def __init__(self, lr):
        self.lr = lr

    def init(self):
        return PlateauState(jnp.asarray(self.lr, jnp.float32), jnp.asarray(jnp.inf, jnp.float32))

    def update(self, state, *, value, **extra):
        improved = value < state.best
        return PlateauState(
            jnp.where(improved, state.lr, state.lr / 2), jnp.minimum(state.best, value)
        )

    def __call__(self, state, **extra):
        return state.lr


def test_stateful_schedule_follows_update_extra_args_against_numpy():
    """SGD whose learning rate halves on a plateau: the loop written out in numpy."""
    losses = [3.0, 2.0, 2.5, 1.0, 1.0, 0.5]
    tx = gradlab.sgd(HalveOnPlateau(0.4))
    params = {"w": jnp.asarray([1.0, -2.0])}
    state = tx.init(params)
    step = jax.jit(tx.update)
    lr, best, w = 0.4, np.inf, np.array([1.0, -2.0])
    grad = np.array([0.5, 1.0], np.float32)
    for value in losses:
        updates, state = step({"w": jnp.asarray(grad)}, state, params, value=jnp.float32(value))
        w_new = w - lr * grad
        chex.assert_trees_all_close(updates["w"], w_new - w, rtol=1e-6)
        lr, best = (lr if value < best else lr / 2), min(best, value)
        w = w_new
    np.testing.assert_allclose(gradlab.hyperparams(state)["learning_rate"], 0.4 / 4)
    np.testing.assert_allclose(state.hyperparams_states["learning_rate"].lr, lr)


def test_wrapped_schedule_equals_the_plain_schedule():
    schedule = gradlab.warmup_cosine_decay_schedule(0.0, 0.1, 3, 20)
    params = make_tree(0)
    plain, wrapped = gradlab.adam(schedule), gradlab.adam(gradlab.WrappedSchedule(schedule))
    s1, s2 = plain.init(params), wrapped.init(params)
    grads = make_tree(1)
    for _ in range(6):
        u1, s1 = plain.update(grads, s1, params)
        u2, s2 = wrapped.update(grads, s2, params, value=jnp.float32(1.0))
        chex.assert_trees_all_close(u1, u2, rtol=1e-6)
    assert int(s2.hyperparams_states["learning_rate"].count) == 6


def test_optax_stateful_schedules_work_in_gradlab_and_gradlab_ones_in_optax():
    schedule = optax.linear_schedule(0.1, 0.01, 10)
    params = jnp.ones(3)
    ours = gradlab.sgd(optax.WrappedSchedule(schedule))
    theirs = optax.inject_hyperparams(optax.sgd)(learning_rate=gradlab.WrappedSchedule(schedule))
    s1, s2 = ours.init(params), theirs.init(params)
    for _ in range(4):
        u1, s1 = ours.update(params, s1, params)
        u2, s2 = theirs.update(params, s2, params)
        chex.assert_trees_all_close(u1, u2, rtol=1e-6)


def test_stateful_schedule_inside_optax_chain_receives_the_extra_args():
    tx = optax.chain(optax.clip(10.0), gradlab.sgd(HalveOnPlateau(1.0)))
    params = jnp.ones(2)
    state = tx.init(params)
    for value in (1.0, 2.0, 3.0):
        updates, state = tx.update(params, state, params, value=jnp.float32(value))
    # the learning rates used: 1.0, 1.0 (the first loss improves on inf), 0.5; the next is 0.25
    np.testing.assert_allclose(gradlab.hyperparams(state)["learning_rate"], 0.5)
    np.testing.assert_allclose(updates, -0.5 * np.ones(2))
    inject_state = state[1]
    np.testing.assert_allclose(inject_state.hyperparams_states["learning_rate"].lr, 0.25)


def test_stateful_schedule_is_refused_by_set_hyperparams_and_plain_primitives():
    state = gradlab.adam(HalveOnPlateau(0.1)).init(jnp.ones(2))
    with pytest.raises(ValueError, match="driven by a schedule"):
        gradlab.set_hyperparams(state, learning_rate=0.5)
    for build in (
        lambda s: gradlab.scale_by_learning_rate(s),
        lambda s: gradlab.scale_by_schedule(s),
        lambda s: gradlab.add_decayed_weights(s),
        lambda s: gradlab.join_schedules([s, s], [3]),
        lambda s: gradlab.multi_steps(gradlab.sgd(0.1), s),
    ):
        with pytest.raises(TypeError, match="stateful schedule.*inject_hyperparams"):
            build(HalveOnPlateau(0.1))


def test_a_state_without_the_schedule_state_is_refused():
    tx = gradlab.sgd(HalveOnPlateau(0.1))
    other = gradlab.sgd(0.1).init(jnp.ones(2))
    with pytest.raises(TypeError, match="built by another optimizer"):
        tx.update(jnp.ones(2), other, jnp.ones(2), value=jnp.float32(1.0))


def test_inject_stateful_hyperparams_is_deprecated_but_works():
    with pytest.warns(DeprecationWarning, match="inject_hyperparams"):
        factory = gradlab.inject_stateful_hyperparams(gradlab.scale)
    tx = factory(step_size=gradlab.WrappedSchedule(lambda t: 2.0 + t))
    state = tx.init(jnp.ones(1))
    _, state = tx.update(jnp.ones(1), state)
    updates, _ = tx.update(jnp.ones(1), state)
    np.testing.assert_allclose(updates, [3.0])


# ---------------------------------------------------------------------------------------------
# Schedules whose values must be >= 0


@pytest.mark.parametrize("name", NAMES)
def test_a_learning_rate_schedule_that_turns_negative_raises_for_every_alias(name):
    with pytest.raises(ValueError, match=r"learning_rate.*returns -0.001 at step 1000"):
        getattr(gradlab, name)(gradlab.linear_schedule(1e-3, -1e-3, 1000))


@pytest.mark.parametrize(
    "schedule",
    [
        gradlab.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 1000),
        gradlab.sgdr_schedule(
            [dict(init_value=0.0, peak_value=0.1, warmup_steps=5, decay_steps=50)]
        ),
        optax.cosine_onecycle_schedule(1000, 0.1),  # scalar steps only: probed one by one
        lambda t: 1e-3,
    ],
)
def test_non_negative_schedules_are_accepted(schedule):
    tx = gradlab.adam(schedule)
    updates, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
    assert np.all(np.isfinite(updates))


def test_schedule_evaluable_only_at_python_steps_is_probed_one_step_at_a_time():
    def schedule(t):
        return 0.1 if t < 50 else -0.1  # Python branching: fails on an array of steps

    with pytest.raises(ValueError, match="returns -0.1 at step 50"):
        gradlab.sgd(schedule)


def test_signed_schedules_are_allowed_where_documented():
    tx = gradlab.scale_by_schedule(lambda t: -1.0 + 0.0 * t)  # a signed step size
    updates, _ = tx.update(jnp.ones(1), tx.init(jnp.ones(1)))
    np.testing.assert_allclose(updates, [-1.0])
    sched = gradlab.linear_schedule(1.0, -1.0, 10)
    assert float(sched(20)) == -1.0  # schedules themselves may take any sign


@pytest.mark.parametrize(
    "build",
    [
        lambda s: gradlab.adamw(1e-3, weight_decay=s),
        lambda s: gradlab.add_decayed_weights(s),
        lambda s: gradlab.adam(1e-3, eps=s),
    ],
)
def test_other_non_negative_hyperparameters_refuse_negative_schedules(build):
    with pytest.raises(ValueError, match="must be >= 0 at every step"):
        build(gradlab.linear_schedule(1e-4, -1e-4, 10))


def test_traced_schedules_pass_unchecked_under_jit():
    @jax.jit
    def first_update(lr):
        tx = gradlab.sgd(lambda t: lr * (1.0 + 0.0 * t))
        return tx.update(jnp.ones(1), tx.init(jnp.ones(1)))[0]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(first_update(jnp.float32(-0.5)), [0.5])

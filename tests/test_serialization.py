"""Optimizer states survive flax.serialization (msgpack) and pickle, then continue exactly."""

import pickle

import chex
import jax
import jax.numpy as jnp
import pytest
from flax import serialization

import gradlab
from tests.conftest import make_tree
from tests.test_optimizers import ROW_IDS, ROWS, build


def steps(tx, state, params, n):
    update = jax.jit(tx.update)
    for _ in range(n):
        u, state = update(jax.tree.map(jnp.sin, params), state, params)
        params = gradlab.apply_updates(params, u)
    return params, state


@pytest.mark.parametrize("name,kwargs", ROWS, ids=ROW_IDS)
def test_state_round_trips_and_continues_bit_identically(name, kwargs):
    tx = build(gradlab, name, kwargs)
    params, state = steps(tx, tx.init(make_tree(0)), make_tree(0), 3)

    from_msgpack = serialization.from_bytes(tx.init(make_tree(0)), serialization.to_bytes(state))
    from_pickle = pickle.loads(pickle.dumps(jax.device_get(state)))
    chex.assert_trees_all_equal(from_msgpack, state)
    chex.assert_trees_all_equal(from_pickle, state)

    expected = steps(tx, state, params, 3)
    for restored in (from_msgpack, from_pickle):
        chex.assert_trees_all_equal(steps(tx, restored, params, 3), expected)


def test_msgpack_restores_changed_hyperparameters():
    tx = gradlab.adamw(1e-3)
    state = gradlab.set_hyperparams(tx.init(make_tree(0)), learning_rate=5e-4)
    restored = serialization.from_bytes(tx.init(make_tree(0)), serialization.to_bytes(state))
    assert float(gradlab.hyperparams(restored)["learning_rate"]) == pytest.approx(5e-4)

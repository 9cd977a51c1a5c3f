"""The modern optimizers inside optax's and JAX's machinery: donation, tree utilities, states."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab

DONATED = {
    "schedule_free_sgd": lambda: gradlab.schedule_free_sgd(0.1),
    "schedule_free_adamw": lambda: gradlab.schedule_free_adamw(0.1),
    "prodigy": lambda: gradlab.prodigy(),
    "lion": lambda: gradlab.lion(1e-3),
    "adafactor": lambda: gradlab.adafactor(1e-2),
    "ademamix": lambda: gradlab.ademamix(1e-3),
}


@pytest.mark.parametrize("name", sorted(DONATED))
def test_params_and_state_can_be_donated(name):
    """No state leaf shares a buffer with another (schedule-free's b1 shared the injected one:
    XLA refused to donate the same buffer twice)."""
    tx = DONATED[name]()
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state):
        grads = jax.tree.map(lambda p: 2 * p, params)
        updates, state = tx.update(grads, state, params)
        return gradlab.apply_updates(params, updates), state

    state = tx.init(params)
    leaves = jax.tree.leaves((params, state))
    assert len({id(x) for x in leaves}) == len(leaves)
    params, state = step(params, state)
    params, state = step(params, state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


def test_adafactor_state_maps_with_optax_tree_map_params():
    """optax.tree.map_params calls init with placeholder leaves (a transpose could not)."""
    tx = gradlab.adafactor(1e-2)
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
    state = tx.init(params)
    mapped = optax.tree.map_params(tx.init, lambda v: v * 0, state)
    assert jax.tree.structure(mapped) == jax.tree.structure(state)


def test_scale_by_lion_state_has_optax_field_mu():
    tx = gradlab.scale_by_lion(b1=0.5, b2=0.9)
    g = jnp.array([0.2, -2.0])
    state = tx.init(g)
    _, state = tx.update(g, state)
    np.testing.assert_allclose(state.mu, 0.1 * g, rtol=1e-6)  # (1 - b2) g from m_0 = 0


def test_lookahead_with_slow_step_size_zero_keeps_the_slow_params():
    tx = gradlab.lookahead(gradlab.sgd(0.1), sync_period=2, slow_step_size=0.0)
    params = gradlab.LookaheadParams.init_synced(jnp.ones(2))
    state = tx.init(params)
    for _ in range(4):
        updates, state = tx.update(jnp.ones(2), state, params)
        params = gradlab.apply_updates(params, updates)
    np.testing.assert_array_equal(params.slow, jnp.ones(2))

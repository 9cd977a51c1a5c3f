"""gradlab inside optax and Flax, optax inside gradlab."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen, nnx
from flax.training import train_state

import gradlab
from tests.conftest import make_tree


def run(tx, params, steps=5):
    state, update = tx.init(params), jax.jit(tx.update)
    for _ in range(steps):
        u, state = update(jax.tree.map(jnp.sin, params), state, params)
        params = jax.tree.map(lambda p, v: p + v, params, u)
    return params


def test_gradlab_transform_inside_optax_chain():
    params = make_tree(0)
    ours = optax.chain(optax.clip_by_global_norm(1.0), gradlab.adam(1e-2))
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    chex.assert_trees_all_close(run(ours, params), run(ref, params), rtol=1e-5, atol=1e-6)


def test_optax_transform_inside_gradlab_chain():
    params = make_tree(0)
    ours = gradlab.chain(
        optax.clip_by_global_norm(1.0), gradlab.scale_by_rms(), gradlab.scale(-0.1)
    )
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_rms(), optax.scale(-0.1))
    chex.assert_trees_all_close(run(ours, params), run(ref, params), rtol=1e-5, atol=1e-6)


def test_gradlab_inside_optax_wrappers():
    params = make_tree(0)
    ours = optax.MultiSteps(gradlab.sgd(0.1, momentum=0.9), every_k_schedule=2)
    ref = optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k_schedule=2)
    chex.assert_trees_all_close(run(ours, params, 6), run(ref, params, 6), rtol=1e-5)


def regression_data():
    x = jax.random.normal(jax.random.key(0), (64, 3))
    y = jnp.sin(x @ jnp.array([1.0, -2.0, 0.5]))[:, None]
    return x, y


class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(1)(linen.tanh(linen.Dense(16)(x)))


def test_flax_train_state_trains():
    x, y = regression_data()
    model = LinenMLP()
    state = train_state.TrainState.create(
        apply_fn=model.apply, params=model.init(jax.random.key(1), x), tx=gradlab.adam(1e-2)
    )

    @jax.jit
    def step(state):
        loss_fn = lambda p: jnp.mean((state.apply_fn(p, x) - y) ** 2)  # noqa: E731
        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    losses = []
    for _ in range(100):
        state, loss = step(state)
        losses.append(float(loss))
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(3, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


def test_nnx_optimizer_trains():
    x, y = regression_data()
    model = NnxMLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, gradlab.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss_fn = lambda m: jnp.mean((m(x) - y) ** 2)  # noqa: E731
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(100)]
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
    assert np.isfinite(losses).all()

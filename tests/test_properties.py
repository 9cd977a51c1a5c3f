"""Property-based tests: random pytrees times every optimizer alias (hypothesis)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradlab
from tests.test_optimizers import NAMES, build

SETTINGS = settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

shapes = st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)  # rank 0-4, zero-size too
leaves = st.one_of(shapes, shapes, st.none())
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.dictionaries(st.sampled_from("abcde"), children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=2).map(tuple),
    ),
    max_leaves=6,
)
dtypes = st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16])


def materialise(structure, seed, dtype, batch=()):
    """Arrays of the given shapes (None stays None), finite values from a seeded generator."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda shape: jnp.asarray(rng.normal(size=batch + shape), dtype),
        structure,
        is_leaf=lambda x: isinstance(x, tuple) and all(isinstance(i, int) for i in x),
    )


def two_steps(tx, params, grads):
    state = tx.init(params)
    u, state = tx.update(grads, state, params)
    u, state = tx.update(grads, state, gradlab.apply_updates(params, u))
    return u, state


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(structure=trees, dtype=dtypes, seed=st.integers(0, 2**16))
def test_structure_shapes_dtypes_and_finiteness(name, structure, dtype, seed):
    params = materialise(structure, seed, dtype)
    grads = materialise(structure, seed + 1, dtype)
    tx = build(gradlab, name, {})
    u, state = jax.jit(two_steps, static_argnums=0)(tx, params, grads)
    assert jax.tree.structure(u) == jax.tree.structure(params)
    chex.assert_trees_all_equal_shapes_and_dtypes(u, params)
    new = gradlab.apply_updates(params, u)
    chex.assert_trees_all_equal_shapes_and_dtypes(new, params)
    for leaf in jax.tree.leaves(state):
        assert bool(jnp.all(jnp.isfinite(leaf))), (name, leaf)
    # jit and eager agree
    u_eager, _ = two_steps(tx, params, grads)
    tol = 1e-5 if dtype == jnp.float32 else 1e-2
    chex.assert_trees_all_close(u, u_eager, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(structure=trees, seed=st.integers(0, 2**16))
def test_vmap_over_a_leading_batch_axis_equals_a_loop(name, structure, seed):
    batch = 3
    params = materialise(structure, seed, jnp.float32, (batch,))
    grads = materialise(structure, seed + 1, jnp.float32, (batch,))
    tx = build(gradlab, name, {})
    # axis_size: the tree may hold no array at all
    batched, _ = jax.vmap(lambda p, g: two_steps(tx, p, g), axis_size=batch)(params, grads)
    for i in range(batch):
        one = jax.tree.map(lambda x: x[i], params)
        expected, _ = two_steps(tx, one, jax.tree.map(lambda x: x[i], grads))
        chex.assert_trees_all_close(
            jax.tree.map(lambda x: x[i], batched), expected, rtol=1e-5, atol=1e-6
        )

"""gradlab.testing: each check passes correct transforms and fails the bug it is named for."""

import pickle
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import pytest

import gradlab
from gradlab import testing
from tests.conftest import make_tree


class CountState(NamedTuple):
    count: jax.Array


def counting(update_fn, init_fn=lambda params: CountState(jnp.zeros([], jnp.int32))):
    """A transformation from an ``update_fn(updates, state) -> (updates, state)``."""
    return gradlab.GradientTransformation(init_fn, lambda u, s, p=None: update_fn(u, s))


def params():
    tree = make_tree(0)
    tree["none"] = None
    return tree


def test_correct_transforms_pass_gradlab_and_optax():
    testing.check_transformation(gradlab.adamw(1e-2, weight_decay=0.1), params())
    testing.check_transformation(optax.adam(1e-2), make_tree(0))  # interop: optax's too


def test_structure_check_catches_a_changed_dtype():
    tx = counting(lambda u, s: (jax.tree.map(lambda x: x.astype(jnp.bfloat16), u), s))
    with pytest.raises(AssertionError, match="structure"):
        testing.check_transformation(tx, make_tree(0), checks=("structure",))


def test_state_layout_check_catches_a_growing_state():
    tx = counting(
        lambda u, s: (u, CountState(jnp.zeros([], jnp.float32))),  # int32 count became float32
    )
    with pytest.raises(AssertionError, match="state_layout"):
        testing.check_transformation(tx, make_tree(0), checks=("state_layout",))


def test_finite_check_catches_an_infinite_state():
    tx = gradlab.GradientTransformation(
        lambda p: jnp.zeros([]),
        lambda u, s, p=None: (u, jnp.log(s)),  # log(0) = -inf
    )
    with pytest.raises(AssertionError, match="finite"):
        testing.check_transformation(tx, make_tree(0), checks=("finite",))


def test_jit_check_catches_trace_time_python_state():
    calls = []

    def update(u, s):
        calls.append(None)  # Python state: advances per call eagerly, once per trace under jit
        return jax.tree.map(lambda x: x * len(calls), u), s

    with pytest.raises(AssertionError, match="jit"):
        testing.check_transformation(counting(update), make_tree(0), checks=("jit",))


def test_vmap_check_catches_a_wrong_batching_rule():
    @jax.custom_batching.custom_vmap
    def scale(x):
        return 2 * x

    @scale.def_vmap
    def rule(axis_size, in_batched, x):
        return x[::-1] * 2, in_batched[0]  # wrong: mixes the batch entries

    tx = counting(lambda u, s: (jax.tree.map(scale, u), s))
    with pytest.raises(AssertionError, match="vmap"):
        testing.check_transformation(tx, {"w": jnp.arange(3.0)}, checks=("vmap",))


def test_serialization_check_catches_a_state_that_cannot_be_pickled():
    class LocalState(NamedTuple):  # defined in a function: pickle cannot find it again
        count: jax.Array

    tx = counting(lambda u, s: (u, s), lambda p: LocalState(jnp.zeros([], jnp.int32)))
    with pytest.raises((AttributeError, pickle.PicklingError)):
        testing.check_transformation(tx, make_tree(0), checks=("serialization",))


def test_unknown_check_is_refused():
    with pytest.raises(ValueError, match="unknown checks"):
        testing.check_transformation(gradlab.sgd(0.1), make_tree(0), checks=("speed",))


def test_compare_with_reference_catches_a_small_difference(x64):
    params = make_tree(0, jnp.float64)

    def loss(p):
        return sum(jnp.sum(jnp.cos(x) + x**2) for x in jax.tree.leaves(p))

    testing.compare_with_reference(gradlab.adam(1e-2), optax.adam(1e-2), params, loss, 50)
    with pytest.raises(AssertionError, match="updates"):
        testing.compare_with_reference(
            gradlab.adam(1e-2), optax.adam(1e-2 * (1 + 1e-7)), params, loss, 50
        )


def test_normwise_comparison_scales_by_the_leaf():
    desired = {"a": jnp.array([1.0, -1e-8]), "b": jnp.zeros(0)}
    actual = {"a": jnp.array([1.0 + 1e-6, 1e-8]), "b": jnp.zeros(0)}  # sign flip near zero
    testing.assert_trees_normwise_close(actual, desired, rtol=1e-5)
    with pytest.raises(AssertionError, match="'a'"):
        testing.assert_trees_normwise_close(actual, desired, rtol=1e-7)

"""Every optimizer alias and wrapper through ``gradlab.testing``: structure and dtypes, state
layout, finite states, jit = eager, vmap = loop, serialization; and random pytrees (hypothesis)."""

import importlib
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradlab
import gradlab.optimizers
from gradlab import testing
from tests.aliases import ALIASES
from tests.conftest import make_tree

NAMES = sorted(ALIASES)


def problem(dtype=jnp.float32):
    """A mixed tree: matrices, vectors, scalars, a zero-size leaf and a ``None`` leaf."""
    params = make_tree(0, dtype)
    params["empty"] = jnp.zeros((0, 3), dtype)
    params["none"] = None
    return params


def test_every_alias_is_registered():
    """Every public alias in gradlab.optimizers is checked here (tests/aliases.py)."""
    shipped = set()
    for info in pkgutil.iter_modules(gradlab.optimizers.__path__):
        module = importlib.import_module(f"gradlab.optimizers.{info.name}")
        shipped |= {
            name
            for name, obj in vars(module).items()
            if callable(obj)
            and getattr(obj, "__module__", None) == module.__name__
            and name in gradlab.__all__
        }
    assert shipped == set(ALIASES), shipped ^ set(ALIASES)


@pytest.mark.parametrize("name", NAMES)
def test_alias_passes_check_transformation(name):
    testing.check_transformation(ALIASES[name](), problem())


@pytest.mark.parametrize("name", NAMES)
def test_alias_keeps_bf16_params_and_finite_state(name):
    testing.check_transformation(
        ALIASES[name](), problem(jnp.bfloat16), checks=("structure", "state_layout", "finite")
    )


def fast_gradients(params, grads, step):
    return testing.varying_gradients(params.fast, grads, step)


WRAPPERS = {
    "lookahead": (
        lambda: gradlab.lookahead(gradlab.adam(0.01), sync_period=2, slow_step_size=0.5),
        lambda p: gradlab.LookaheadParams.init_synced(p),
        {"gradients": fast_gradients},
    ),
    "sam": (lambda: gradlab.sam(gradlab.sgd(0.1), gradlab.sgd(0.05)), lambda p: p, {}),
    "reduce_on_plateau": (
        lambda: gradlab.chain(gradlab.sgd(0.1), gradlab.reduce_on_plateau(patience=1)),
        lambda p: p,
        {"extra_args": {"value": jnp.float32(1.0)}},
    ),
    "apply_if_finite": (lambda: gradlab.apply_if_finite(gradlab.adam(0.01), 2), lambda p: p, {}),
    "multi_steps": (
        lambda: gradlab.MultiSteps(gradlab.adam(0.01), 2).gradient_transformation(),
        lambda p: p,
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_wrapper_passes_check_transformation(name):
    make, wrap_params, kwargs = WRAPPERS[name]
    params = problem()
    grads = jax.tree.map(
        lambda p: None if p is None else jnp.cos(p), params, is_leaf=lambda x: x is None
    )
    testing.check_transformation(make(), wrap_params(params), grads, **kwargs)


# ---------------------------------------------------------------------------------------------
# Random pytrees

SETTINGS = settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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


def materialise(structure, seed, dtype):
    """Arrays of the given shapes (None stays None), finite values from a seeded generator."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda shape: jnp.asarray(rng.normal(size=shape), dtype),
        structure,
        is_leaf=lambda x: isinstance(x, tuple) and all(isinstance(i, int) for i in x),
    )


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(structure=trees, dtype=dtypes, seed=st.integers(0, 2**16))
def test_random_trees_keep_structure_dtypes_and_finite_state(name, structure, dtype, seed):
    params = materialise(structure, seed, dtype)
    testing.check_transformation(
        ALIASES[name](),
        params,
        materialise(structure, seed + 1, dtype),
        checks=("structure", "state_layout", "finite"),
        steps=2,
    )

"""Shared fixtures: strict rank promotion, a float64 switch and a mixed pytree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Runs the test body with float64 enabled (restored afterwards)."""
    with jax.enable_x64(True):
        yield


def make_tree(seed: int = 0, dtype=jnp.float32):
    """A nested dict/list/tuple pytree with scalars, vectors and matrices."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype=dtype)

    return {
        "dense": {"w": arr(3, 4), "b": arr(4)},
        "list": [arr(), arr(5)],
        "tuple": (arr(2, 2), arr()),
    }


@pytest.fixture
def tree_params():
    """A mixed pytree with a None leaf, as users' Flax params can have."""
    params = make_tree()
    params["none"] = None
    return params

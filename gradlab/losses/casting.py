"""The dtype rule every loss kernel shares: compute in the first argument's floating dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def to_float(x: jax.Array) -> jax.Array:
    """``x`` in a floating dtype; integers and bools go to the default float dtype."""
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))

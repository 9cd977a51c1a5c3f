r"""Gradient noise: annealed Gaussian noise added to the updates (Neelakantan et al. 2015).

``add_noise`` has optax's name, arguments and state (``AddNoiseState(count, rng_key)``) and draws
exactly optax's noise for the same key: one split of the state's key per step, then one key per
leaf, each leaf drawn in its own dtype with ``jax.random.normal``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike


class AddNoiseState(NamedTuple):
    """The number of steps taken :math:`t` (int32) and the key the next noise is drawn from."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    rng_key: jax.Array


def _is_typed_key(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _is_raw_key(value: Any) -> bool:
    """A legacy ``jax.random.PRNGKey``: a uint32 array of shape (2,) (the default threefry)."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jnp.dtype(dtype) == jnp.uint32 and jnp.shape(value) == (2,)


def _check_key(key: Any) -> None:
    """Raises TypeError unless ``key`` is an int seed or a (typed or raw) PRNG key."""
    if _is_typed_key(key) or _is_raw_key(key) or validation.is_traced(key):
        return
    is_int = isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_))
    dtype = getattr(key, "dtype", None)
    if is_int or (dtype is not None and np.ndim(key) == 0 and jnp.issubdtype(dtype, jnp.integer)):
        return
    raise TypeError(
        f"add_noise: key must be an int seed or a jax.random.key, got {type(key).__name__} "
        f"{key!r}. Pass e.g. key=0 or key=jax.random.key(0)."
    )


def _as_key(key: Any) -> jax.Array:
    """A typed PRNG key from an int seed, a typed key or a legacy raw key (optax's rule)."""
    if _is_typed_key(key):
        return key
    if _is_raw_key(key):
        return jax.random.wrap_key_data(key)
    return jax.random.key(key)


@declare_hyperparams("eta", "gamma")
def add_noise(
    eta: ArrayLike, gamma: ArrayLike, key: Any = None, *, seed: int | None = None
) -> GradientTransformation:
    r"""Adds annealed Gaussian noise to the updates: :math:`u_t = g_t + \sigma_t \xi_t`.

    .. math::
        \sigma_t^2 = \frac{\eta}{(1 + t)^{\gamma}}, \qquad \xi_t \sim \mathcal N(0, I),
        \qquad t = 0, 1, 2, \dots

    :math:`t` counts the updates already done (so the first update has variance :math:`\eta`).
    The noise is deterministic for a key: the state's key is split once per step, and the
    sample key once per leaf (``None`` leaves excepted), so the same key gives the same noise
    with or without ``jax.jit``, and exactly optax's noise. A complex leaf gets
    ``jax.random.normal``'s complex noise (variance 1/2 in each part). The noise is drawn in
    each leaf's dtype; the sum is formed in float32 or wider and cast back (for bf16 updates
    this rounds once where optax rounds twice, so results may differ from optax's by one bf16
    ulp).

    Args:
      eta: :math:`\eta \ge 0`, the variance at the first step; the paper tries 0.01, 0.3 and 1.
      gamma: :math:`\gamma \ge 0`, the annealing exponent; the paper uses 0.55.
      key: an int seed or a ``jax.random.key`` (a legacy ``jax.random.PRNGKey`` is accepted
        too). Required, where optax warns and falls back to 0.
      seed: the int seed under its older name (optax's deprecated keyword); give ``key`` or
        ``seed``, not both.

    Returns:
      A GradientTransformation with state ``AddNoiseState(count, rng_key)``.

    References:
      Neelakantan et al., `Adding Gradient Noise Improves Learning for Very Deep Networks
      <https://arxiv.org/abs/1511.06807>`_, 2015, sec. 2.
      Matches: ``optax.add_noise`` (the same draws; equal in float32 and float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.noise import add_noise
    >>> tx = add_noise(0.01, 0.55, key=0)
    >>> u, state = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))
    >>> u.shape, int(state.count)
    ((3,), 1)
    """
    validation.check_non_negative("add_noise", "eta", eta, "0.01")
    validation.check_non_negative("add_noise", "gamma", gamma, "0.55")
    if seed is not None and key is not None:
        raise ValueError(
            "add_noise: got both key and seed; they are the same argument. Pass key only, e.g. "
            "key=0."
        )
    key = seed if key is None else key
    if key is None:
        raise TypeError(
            "add_noise: key is required (noise needs a seed; optax's default of 0 is deprecated "
            "there). Pass e.g. key=0 or key=jax.random.key(0)."
        )
    _check_key(key)

    def init(params: Params) -> AddNoiseState:
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_as_key(key))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("add_noise", state, AddNoiseState)
        validation.check_float_leaves("add_noise", updates, "updates")
        del params
        count = tree.safe_increment(state.count)
        std = jnp.sqrt(eta / count**gamma)  # optax's expression: t + 1 = count after increment
        rng_key, sample_key = jax.random.split(state.rng_key)
        leaves, structure = jax.tree.flatten(updates)
        keys = jax.tree.unflatten(structure, jax.random.split(sample_key, len(leaves)))

        def noisy(g: ArrayLike, leaf_key: jax.Array) -> jax.Array:
            dtype = storage.leaf_dtype(g)
            xi = jax.random.normal(leaf_key, jnp.shape(g), dtype)
            return (storage.load(jnp.asarray(g)) + std * storage.load(xi)).astype(dtype)

        return jax.tree.map(noisy, updates, keys), AddNoiseState(count, rng_key)

    return GradientTransformation(init, update)


__all__ = ["AddNoiseState", "add_noise"]

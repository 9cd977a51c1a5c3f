"""The benchmark's parameter trees: one big leaf, a transformer's leaves, many small leaves.

Each tree is a dict of float32 arrays filled with small deterministic values (no randomness is
needed to time an optimizer). Sizes come in two scales: the full one (about 10-16 M parameters)
and ``quick`` (a few thousand, for tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

Params = Any  # pytree of arrays

SHAPES = ("one-leaf", "transformer", "many-leaves")


def _filled(shape: tuple[int, ...], index: int) -> Any:
    size = 1
    for d in shape:
        size *= d
    return (jnp.arange(size, dtype=jnp.float32).reshape(shape) % 7 + index % 5 + 1) * 1e-3


def one_leaf(quick: bool) -> Params:
    """One matrix: 4096 x 4096 (16.8 M parameters); quick: 64 x 64."""
    side = 64 if quick else 4096
    return {"w": _filled((side, side), 0)}


def transformer(quick: bool) -> Params:
    """A pre-norm transformer's leaves: embeddings, then per layer attention, MLP and two norms.

    Full: width 256, 16 layers, MLP ratio 3, vocabulary 1024 (196 leaves, 10.8 M parameters);
    quick: width 16, 2 layers, vocabulary 32 (28 leaves).
    """
    d, layers, vocab = (16, 2, 32) if quick else (256, 16, 1024)
    hidden = 3 * d
    tree: dict[str, Any] = {"embed": _filled((vocab, d), 0), "pos": _filled((128, d), 1)}
    for i in range(layers):
        tree[f"layer_{i:02d}"] = {
            "ln1": {"scale": _filled((d,), i), "bias": _filled((d,), i)},
            "qkv": {"kernel": _filled((d, 3 * d), i), "bias": _filled((3 * d,), i)},
            "out": {"kernel": _filled((d, d), i), "bias": _filled((d,), i)},
            "ln2": {"scale": _filled((d,), i), "bias": _filled((d,), i)},
            "mlp_in": {"kernel": _filled((d, hidden), i), "bias": _filled((hidden,), i)},
            "mlp_out": {"kernel": _filled((hidden, d), i), "bias": _filled((d,), i)},
        }
    tree["ln_f"] = {"scale": _filled((d,), 2), "bias": _filled((d,), 3)}
    return tree


def many_leaves(quick: bool) -> Params:
    """2000 vectors of 1000 (2 M parameters); quick: 50 vectors of 100."""
    count, size = (50, 100) if quick else (2000, 1000)
    return {f"p{i:04d}": _filled((size,), i) for i in range(count)}


TREES: dict[str, Callable[[bool], Params]] = {
    "one-leaf": one_leaf,
    "transformer": transformer,
    "many-leaves": many_leaves,
}


def make_tree(shape: str, quick: bool) -> Params:
    """The tree named ``shape`` (one of :data:`SHAPES`).

    Args:
      shape: ``"one-leaf"``, ``"transformer"`` or ``"many-leaves"``.
      quick: tiny sizes.

    Returns:
      A dict of float32 arrays.

    >>> import jax
    >>> len(jax.tree.leaves(make_tree("many-leaves", quick=True)))
    50
    """
    if shape not in TREES:
        raise ValueError(f"make_tree: shape must be one of {', '.join(SHAPES)}, got {shape!r}.")
    return TREES[shape](quick)


def deep_mlp(quick: bool) -> tuple[Any, Params, Any, Any]:
    """A Flax (linen) MLP with many small layers, its params and a batch.

    Full: 200 Dense layers of width 32 (402 leaves, 0.2 M parameters), batch 64; quick: 10
    layers of width 8.

    Returns:
      ``(model, params, x, y)``.
    """
    import jax
    from flax import linen as nn

    depth, width = (10, 8) if quick else (200, 32)

    class DeepMLP(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            for _ in range(depth):
                x = nn.tanh(nn.Dense(width)(x))
            return nn.Dense(1)(x)

    model = DeepMLP()
    x = jax.random.normal(jax.random.key(0), (64, width))
    y = jnp.sin(x.sum(axis=1, keepdims=True))
    params = model.init(jax.random.key(1), x)["params"]
    return model, params, x, y


__all__ = ["SHAPES", "TREES", "deep_mlp", "make_tree", "many_leaves", "one_leaf", "transformer"]

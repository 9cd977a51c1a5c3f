"""Train a small Flax MLP on scikit-learn's bundled digits with gradlab.adam.

Run from the repository root:  python examples/quickstart.py  (--quick: 4 epochs)
Prints the training loss as it falls, then the test accuracy.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradlab


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 128, rngs=rngs)
        self.out = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.hidden(x)))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


# The model's params and the optimizer's state are donated: XLA writes the new ones into their
# buffers, and nnx.jit points the model and optimizer at the outputs (the old arrays are gone).
@nnx.jit(donate_argnums=(0, 1))
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def accuracy(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def main(epochs: int = 20, batch_size: int = 64, learning_rate: float = 1e-3) -> float:
    digits = load_digits()  # 1797 8x8 images, shipped inside scikit-learn
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    model = MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, gradlab.adam(learning_rate), wrt=nnx.Param)
    rng = np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        losses = [
            train_step(model, optimizer, x_train[idx], y_train[idx])
            for idx in np.array_split(order, len(order) // batch_size)
        ]
        if epoch == 1 or epoch % 5 == 0:
            print(f"epoch {epoch:3d}  train loss {float(np.mean(losses)):.4f}")
    acc = float(accuracy(model, x_test, y_test))
    print(f"test accuracy {acc:.4f} on {len(x_test)} held-out digits")
    return acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=None, help="default 20 (--quick: 4)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--quick", action="store_true", help="4 epochs")
    args = parser.parse_args()
    main(args.epochs or (4 if args.quick else 20), learning_rate=args.learning_rate)

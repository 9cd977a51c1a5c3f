"""Flax NNX: ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` with per-layer parameter groups.

An MLP (``flax.nnx``) is trained on scikit-learn's bundled digits with one
``gradlab.param_groups`` optimizer, PyTorch-param-group style, rules matched against each
parameter's path (``"hidden/kernel"``, ``"out/bias"``, ...; ``gradlab.param_paths`` shows them):

* ``bias$``: every bias, ``adam`` with no weight decay;
* ``^hidden/``: the first layer's kernel, ``adamw`` at a ten times smaller learning rate;
* everything else (the output kernel): ``adamw`` with weight decay.

Every group follows the same warm-up + cosine shape (the first layer's scaled by 0.1). Every
``--log-every`` steps the loop prints the loss and each group's current learning rate, read
from the optimizer state with ``gradlab.hyperparams(optimizer.opt_state)``, one dict per group.

Run from the repository root (needs scikit-learn: ``pip install -e .[examples]``)::

    python examples/flax_nnx.py            # 30 epochs, test accuracy about 0.96
    python examples/flax_nnx.py --quick    # 3 epochs
"""

from __future__ import annotations

import argparse
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import gradlab

EPOCHS, QUICK_EPOCHS = 30, 3
BATCH_SIZE = 64
PEAK_LR, FIRST_LAYER_FACTOR, WEIGHT_DECAY = 3e-3, 0.1, 1e-4
BIAS, FIRST_LAYER, REST = "bias$", "^hidden/", "<default>"  # the group labels in the state


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs, hidden: int = 128):
        self.hidden = nnx.Linear(64, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.hidden(x)))


def make_optimizer(total_steps: int) -> gradlab.GradientTransformation:
    """Three parameter groups, each on a warm-up + cosine schedule of its own peak rate."""

    def schedule(peak: float) -> gradlab.Schedule:
        warmup = max(1, total_steps // 10)
        return gradlab.warmup_cosine_decay_schedule(0.0, peak, warmup, total_steps, peak / 100)

    return gradlab.param_groups(
        [
            (BIAS, gradlab.adam(schedule(PEAK_LR))),  # no weight decay on biases
            (FIRST_LAYER, gradlab.adamw(schedule(PEAK_LR * FIRST_LAYER_FACTOR), WEIGHT_DECAY)),
        ],
        default=gradlab.adamw(schedule(PEAK_LR), weight_decay=WEIGHT_DECAY),
    )


@nnx.jit(donate_argnums=(0, 1))  # params and optimizer state updated in their own buffers
def train_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    def loss_fn(m: MLP) -> jax.Array:
        return gradlab.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def accuracy(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


class Result(NamedTuple):
    accuracy: float
    total_steps: int
    paths: dict[str, str]  # each parameter's path -> its group label
    log: list[tuple[int, dict[str, float], float]]  # (step, {group: lr}, loss)
    hyperparams: dict[str, dict[str, float]]  # every group's hyperparameters at the end


def group_of(path: str) -> str:
    """The label of the first rule matching ``path``, as ``param_groups`` picks it."""
    return next((label for label in (BIAS, FIRST_LAYER) if re.search(label, path)), REST)


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs")
    parser.add_argument("--epochs", type=int, default=None, help=f"default {EPOCHS}")
    parser.add_argument("--log-every", type=int, default=None, help="default 50 (quick: 10)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS)
    log_every = args.log_every or (10 if args.quick else 50)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()  # 1797 8x8 images, shipped inside scikit-learn
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    steps_per_epoch = len(x_train) // BATCH_SIZE
    total_steps = epochs * steps_per_epoch

    model = MLP(nnx.Rngs(0))
    paths = jax.tree.leaves(gradlab.param_paths(nnx.state(model, nnx.Param)))
    groups = {path: group_of(path) for path in paths}
    for path, label in groups.items():
        print(f"{path:14s} -> group {label!r}")
    optimizer = nnx.Optimizer(model, make_optimizer(total_steps), wrt=nnx.Param)

    def current_hyperparams() -> dict[str, dict[str, float]]:
        hp: dict[str, Any] = gradlab.hyperparams(optimizer.opt_state)
        return {g: {k: float(v[...]) for k, v in d.items()} for g, d in hp.items()}

    log: list[tuple[int, dict[str, float], float]] = []
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(x_train))[: steps_per_epoch * BATCH_SIZE]
        for idx in order.reshape(steps_per_epoch, BATCH_SIZE):  # one shape: one compilation
            loss = float(train_step(model, optimizer, x_train[idx], y_train[idx]))
            step = int(optimizer.step[...])
            if step % log_every == 0 or step == total_steps:
                lrs = {g: d["learning_rate"] for g, d in current_hyperparams().items()}
                log.append((step, lrs, loss))
                rates = "  ".join(f"{g} {lr:.2e}" for g, lr in sorted(lrs.items()))
                print(f"step {step:5d}  loss {loss:.4f}  lr: {rates}")
    acc = float(accuracy(model, x_test, y_test))
    print(f"test accuracy {acc:.4f} on {len(x_test)} held-out digits after {total_steps} steps")
    return Result(acc, total_steps, groups, log, current_hyperparams())


if __name__ == "__main__":
    main()

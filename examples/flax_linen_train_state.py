"""A classic Flax linen loop: ``TrainState`` + a gradlab optimizer with a learning-rate schedule.

An MLP (``flax.linen``) is trained on scikit-learn's bundled digits with
``gradlab.adamw(warmup_cosine_decay_schedule(...))`` inside a
``flax.training.train_state.TrainState``. ``state.apply_gradients`` is all the loop calls;
every ``--log-every`` steps it prints the loss and the learning rate *read from the optimizer
state*: gradlab aliases keep their hyperparameters in their state, so
``gradlab.hyperparams(state.opt_state)["learning_rate"]`` is the rate the latest step used,
``schedule(state.step - 1)``, with no ``inject_hyperparams`` wrapper (optax needs one).

Run from the repository root (needs scikit-learn: ``pip install -e .[examples]``)::

    python examples/flax_linen_train_state.py            # 30 epochs, test accuracy about 0.98
    python examples/flax_linen_train_state.py --quick    # 3 epochs, logs every 10 steps
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.training import train_state

import gradlab

EPOCHS, QUICK_EPOCHS = 30, 3
BATCH_SIZE = 64
PEAK_LR, WEIGHT_DECAY = 3e-3, 1e-4
WARMUP_FRACTION = 0.1  # of all steps


class MLP(nn.Module):
    hidden: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Dense(self.hidden)(x))
        return nn.Dense(10)(x)


def lr_schedule(total_steps: int) -> gradlab.Schedule:
    """Linear warm-up over the first 10% of the steps to PEAK_LR, then cosine decay to 1%."""
    warmup = max(1, int(WARMUP_FRACTION * total_steps))
    return gradlab.warmup_cosine_decay_schedule(
        0.0, PEAK_LR, warmup, total_steps, end_value=PEAK_LR / 100
    )


# The TrainState (params and optimizer state) is donated: the new one reuses its buffers, so
# the loop must not touch the old `state` after the call (it rebinds the name at once).
@partial(jax.jit, donate_argnums=0)
def train_step(state: train_state.TrainState, x: jax.Array, y: jax.Array):
    def loss_fn(params):
        logits = state.apply_fn({"params": params}, x)
        return gradlab.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss


@jax.jit
def accuracy(state: train_state.TrainState, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(state.apply_fn({"params": state.params}, x), axis=-1) == y)


class Result(NamedTuple):
    accuracy: float
    total_steps: int
    log: list[tuple[int, float, float]]  # (state.step, learning rate in the state, loss)


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
    schedule = lr_schedule(total_steps)

    model = MLP()
    params = model.init(jax.random.key(0), jnp.zeros((1, 64)))["params"]
    state = train_state.TrainState.create(
        apply_fn=model.apply,
        params=params,
        tx=gradlab.adamw(schedule, weight_decay=WEIGHT_DECAY),
    )
    log: list[tuple[int, float, float]] = []
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(x_train))[: steps_per_epoch * BATCH_SIZE]
        for idx in order.reshape(steps_per_epoch, BATCH_SIZE):  # one shape: one compilation
            state, loss = train_step(state, x_train[idx], y_train[idx])
            step = int(state.step)
            if step % log_every == 0 or step == total_steps:
                # the rate the step just taken used: schedule(step - 1)
                lr = float(gradlab.hyperparams(state.opt_state)["learning_rate"])
                log.append((step, lr, float(loss)))
                print(f"step {step:5d}  lr {lr:.3e}  loss {float(loss):.4f}")
    acc = float(accuracy(state, x_test, y_test))
    print(f"test accuracy {acc:.4f} on {len(x_test)} held-out digits after {total_steps} steps")
    return Result(acc, total_steps, log)


if __name__ == "__main__":
    main()

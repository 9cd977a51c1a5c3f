"""Stale gradients on sparse logistic regression: AdaGrad against delay-tolerant AdaGrad.

A synthetic sparse problem (few active features per example, frequencies falling off as a
power law, as in click-through data) is fitted online, one mini-batch per step, while every
gradient is applied ``tau`` steps after the params it was computed on were read
(``gradlab.parallel.delayed_gradients``). Plain AdaGrad (``gradlab.adagrad``) is compared with
McMahan & Streeter's AdaptiveRevision (``gradlab.parallel.delay_tolerant_adagrad``) at the same
learning rate, for growing ``tau``.

Run from the repository root:  python examples/delay_tolerant.py  (--quick: fewer steps)
Prints the table of final losses (mean logistic loss on all examples) and writes
docs/delay_tolerant.png.
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradlab
from gradlab.parallel import delay_tolerant_adagrad, delayed_gradients

DELAYS = (0, 4, 16, 64)
LEARNING_RATE = 1.0
FEATURES, ACTIVE, EXAMPLES, BATCH = 200, 8, 4096, 16
PLOT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "delay_tolerant.png"


class Result(NamedTuple):
    """Final losses per optimizer and delay, and the loss curves behind the plot."""

    delays: tuple[int, ...]
    final: dict[str, list[float]]  # name -> final loss per delay
    curves: dict[str, list[np.ndarray]]  # name -> loss curve per delay
    optimum: float  # the loss of the true weights (a floor for reference)


def sparse_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, w_true)``: ``EXAMPLES`` rows with ``ACTIVE`` ones among ``FEATURES`` columns
    drawn with Zipf-like frequencies, labels in {0, 1} from a logistic model on ``w_true``."""
    rng = np.random.default_rng(seed)
    frequency = 1.0 / np.arange(1, FEATURES + 1)
    frequency /= frequency.sum()
    x = np.zeros((EXAMPLES, FEATURES), np.float32)
    for row in range(EXAMPLES):  # data generation, on the host
        x[row, rng.choice(FEATURES, size=ACTIVE, replace=False, p=frequency)] = 1.0
    w_true = rng.normal(scale=1.5, size=FEATURES).astype(np.float32)
    y = (rng.random(EXAMPLES) < 1 / (1 + np.exp(-x @ w_true))).astype(np.float32)
    return x, y, w_true


def logistic_loss(w: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean binary cross-entropy of the logits ``x @ w``."""
    return gradlab.losses.sigmoid_binary_cross_entropy(x @ w, y).mean()


def run(tx: Any, tau: int, x: np.ndarray, y: np.ndarray, steps: int) -> np.ndarray:
    """The full-data loss after each step of ``chain(delayed_gradients(tau), tx)``."""
    opt = gradlab.chain(delayed_gradients(tau), tx)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    order = np.random.default_rng(1).integers(0, EXAMPLES, size=(steps, BATCH))

    def step(carry: Any, idx: jax.Array) -> Any:
        w, state = carry
        grads = jax.grad(logistic_loss)(w, xs[idx], ys[idx])
        updates, state = opt.update(grads, state, w)
        w = gradlab.apply_updates(w, updates)
        return (w, state), logistic_loss(w, xs, ys)

    w0 = jnp.zeros(FEATURES)
    _, losses = jax.jit(lambda o: jax.lax.scan(step, (w0, opt.init(w0)), o))(jnp.asarray(order))
    return np.asarray(losses)


def compare(steps: int, delays: Sequence[int] = DELAYS, lr: float = LEARNING_RATE) -> Result:
    """Final losses of AdaGrad and delay-tolerant AdaGrad for each delay."""
    x, y, w_true = sparse_problem()
    optimizers = {
        "AdaGrad": lambda tau: gradlab.adagrad(lr),
        "delay-tolerant AdaGrad": lambda tau: delay_tolerant_adagrad(lr, delay=tau),
    }
    final: dict[str, list[float]] = {name: [] for name in optimizers}
    curves: dict[str, list[np.ndarray]] = {name: [] for name in optimizers}
    for name, make in optimizers.items():
        for tau in delays:
            curve = run(make(tau), tau, x, y, steps)
            curves[name].append(curve)
            final[name].append(float(curve[-1]))
    optimum = float(logistic_loss(jnp.asarray(w_true), jnp.asarray(x), jnp.asarray(y)))
    return Result(tuple(delays), final, curves, optimum)


def plot(result: Result, path: pathlib.Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, style in [("AdaGrad", "--"), ("delay-tolerant AdaGrad", "-")]:
        for tau, curve in zip(result.delays, result.curves[name], strict=True):
            left.plot(curve, style, label=f"{name}, tau={tau}", lw=1)
        right.plot(result.delays, result.final[name], style + "o", label=name)
    left.axhline(result.optimum, color="gray", lw=0.8)
    right.axhline(result.optimum, color="gray", lw=0.8, label="true weights")
    left.set(xlabel="step", ylabel="logistic loss (all examples)", yscale="log")
    right.set(xlabel="delay tau (steps)", ylabel="final loss", xscale="symlog")
    left.legend(fontsize=6)
    right.legend(fontsize=8)
    fig.suptitle("Stale gradients on sparse logistic regression")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="default 2000 (--quick: 400)")
    parser.add_argument("--quick", action="store_true", help="400 steps")
    parser.add_argument("--plot", default=str(PLOT), help="where to write the figure")
    args = parser.parse_args(argv)
    result = compare(args.steps or (400 if args.quick else 2000))
    print(
        f"final loss after {len(result.curves['AdaGrad'][0])} steps (true weights: "
        f"{result.optimum:.4f})"
    )
    print(f"{'tau':>5} " + " ".join(f"{name:>24}" for name in result.final))
    for i, tau in enumerate(result.delays):
        print(f"{tau:>5} " + " ".join(f"{result.final[n][i]:>24.4f}" for n in result.final))
    plot(result, pathlib.Path(args.plot))
    print(f"wrote {args.plot}")
    return result


if __name__ == "__main__":
    main()

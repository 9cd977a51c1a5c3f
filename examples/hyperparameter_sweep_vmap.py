r"""A learning-rate sweep in one compiled program: 32 runs of one model, ``jax.vmap``-ed.

One MLP (64-32-10, tanh) is trained on scikit-learn's bundled digits by full-batch SGD with
heavy-ball momentum 0.9, for each of 32 log-spaced learning rates at once. The runs are the
batch axis of one ``jax.vmap``-ed training step, iterated by ``jax.lax.scan`` inside one
``jax.jit``: no Python loop over learning rates, one compilation.

The learning rate goes *through the optimizer state*: gradlab aliases keep their
hyperparameters in their state, so one optimizer ``tx = gradlab.sgd(0.1, momentum=0.9)`` is
built, and each run's state gets its own rate with
``jax.vmap(lambda lr: gradlab.set_hyperparams(tx.init(params), learning_rate=lr))(lrs)``.
The other way, building ``gradlab.sgd(lr, momentum=0.9)`` inside the vmapped function from a
traced ``lr`` (``build_inside=True`` below), gives the same numbers.

The final loss against the rate: too small a rate has barely moved after the step budget, too
large a rate diverges (its loss ends above the initial loss, or is not finite; such runs are
drawn as crosses at a ceiling), and the best rate sits just below the divergence threshold
(measured: 1.81 of 32 rates from 1e-4 to 31.6, the next one up, 2.73, diverges).

Run from the repository root (needs matplotlib and scikit-learn: ``pip install -e .[examples]``)::

    python examples/hyperparameter_sweep_vmap.py                  # docs/hyperparameter_sweep.png
    python examples/hyperparameter_sweep_vmap.py --quick --out /tmp   # fewer steps and samples
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradlab

DOCS = Path(__file__).resolve().parents[1] / "docs"
PNG = "hyperparameter_sweep.png"
NUM_RATES, LR_MIN, LR_MAX = 32, 1e-4, 10**1.5
STEPS, QUICK_STEPS = 300, 100
QUICK_SAMPLES = 400  # digits used in --quick mode (all 1797 otherwise)
MOMENTUM = 0.9
CEILING_FACTOR = 3.0  # diverged runs are drawn at CEILING_FACTOR * initial loss

Params = dict[str, jax.Array]


class Sweep(NamedTuple):
    """The rates, each run's final and per-step losses, and the initial loss."""

    learning_rates: np.ndarray  # (R,)
    final_loss: np.ndarray  # (R,), may hold inf / NaN for diverged runs
    curves: np.ndarray  # (R, steps): the loss before each step
    initial_loss: float  # the loss at the start, the same for every run

    @property
    def diverged(self) -> np.ndarray:
        """Runs that ended above the initial loss, or not finite."""
        return ~np.isfinite(self.final_loss) | (self.final_loss > self.initial_loss)

    @property
    def best(self) -> float:
        """The rate with the lowest final loss."""
        losses = np.where(self.diverged, np.inf, self.final_loss)
        return float(self.learning_rates[np.argmin(losses)])


def load_data(samples: int | None = None) -> tuple[jax.Array, jax.Array]:
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1797 8x8 images, shipped inside scikit-learn
    x = (digits.data / 16.0).astype(np.float32)[:samples]
    return jnp.asarray(x), jnp.asarray(digits.target[:samples], jnp.int32)


def init_params(seed: int = 0, hidden: int = 32) -> Params:
    rng = np.random.default_rng(seed)  # NumPy: no random-number kernels to compile
    params = {
        "w1": rng.normal(size=(64, hidden)) / 8.0,
        "b1": np.zeros(hidden),
        "w2": rng.normal(size=(hidden, 10)) / np.sqrt(hidden),
        "b2": np.zeros(10),
    }
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def loss_fn(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    logits = h @ params["w2"] + params["b2"][None, :]
    return gradlab.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def sweep(
    learning_rates: jax.Array,
    steps: int,
    x: jax.Array,
    y: jax.Array,
    params: Params,
    *,
    build_inside: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Trains one copy of ``params`` per learning rate; returns final losses and loss curves.

    ``build_inside=False``: one optimizer, the rate set in each run's state (vmapped
    ``set_hyperparams``). ``build_inside=True``: the optimizer is built inside the vmapped
    functions from the traced rate. Jit this function with ``steps`` static.
    """
    tx = gradlab.sgd(0.1, momentum=MOMENTUM)  # the rate here is a placeholder, replaced below

    def optimizer(lr: jax.Array) -> gradlab.GradientTransformation:
        return gradlab.sgd(lr, momentum=MOMENTUM) if build_inside else tx

    def init(lr: jax.Array) -> tuple[Params, gradlab.OptState]:
        state = optimizer(lr).init(params)
        if not build_inside:
            state = gradlab.set_hyperparams(state, learning_rate=lr)
        return params, state

    def step(lr: jax.Array, p: Params, state: gradlab.OptState):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, state = optimizer(lr).update(grads, state, p)
        return gradlab.apply_updates(p, updates), state, loss

    batched_step = jax.vmap(step)  # one training step of every run at once

    def body(carry, _):
        p, state = carry
        p, state, loss = batched_step(learning_rates, p, state)
        return (p, state), loss

    carry = jax.vmap(init)(learning_rates)
    (p, _), curves = jax.lax.scan(body, carry, None, length=steps)
    final = jax.vmap(loss_fn, in_axes=(0, None, None))(p, x, y)
    return final, curves.T


def run(quick: bool = False, steps: int | None = None, build_inside: bool = False) -> Sweep:
    steps = steps or (QUICK_STEPS if quick else STEPS)
    x, y = load_data(QUICK_SAMPLES if quick else None)
    params = init_params()
    lrs = jnp.logspace(np.log10(LR_MIN), np.log10(LR_MAX), NUM_RATES, dtype=jnp.float32)
    compiled = jax.jit(sweep, static_argnums=1, static_argnames="build_inside")
    final, curves = compiled(lrs, steps, x, y, params, build_inside=build_inside)
    curves = np.asarray(curves)
    return Sweep(np.asarray(lrs), np.asarray(final), curves, float(curves[0, 0]))


def plot(result: Sweep, out: Path, dpi: int = 100) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    ceiling = CEILING_FACTOR * result.initial_loss
    lrs, final, bad = result.learning_rates, result.final_loss, result.diverged
    steps = result.curves.shape[1]
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(11.5, 4.3))
    ax.plot(lrs[~bad], final[~bad], "o-", color="C0", ms=4, label="final loss")
    ax.plot(lrs[bad], np.full(bad.sum(), ceiling), "x", color="C3", ms=7, mew=2,
            label=f"diverged (drawn at {CEILING_FACTOR:g}x the initial loss)")  # fmt: skip
    ax.axhline(result.initial_loss, color="0.5", ls=":", lw=1, label="initial loss")
    ax.axvline(result.best, color="C2", ls="--", lw=1, label=f"best lr {result.best:.3g}")
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel=f"loss after {steps} steps")
    ax.set_title(f"{len(lrs)} runs, one vmapped step, one jit", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    cmap = plt.get_cmap("viridis")
    for i in range(0, len(lrs), 3):
        curve = np.clip(np.nan_to_num(result.curves[i], nan=ceiling, posinf=ceiling), None, ceiling)
        ax_c.plot(curve, color=cmap(i / (len(lrs) - 1)), lw=1.2, label=f"lr {lrs[i]:.2g}")
    ax_c.set(yscale="log", xlabel="step", ylabel="training loss (clipped at the ceiling)")
    ax_c.set_title("loss curves, every third rate", fontsize=10)
    ax_c.grid(alpha=0.3)
    ax_c.legend(fontsize=6.5, ncol=2, loc="lower left")
    fig.suptitle(
        f"Learning-rate sweep: MLP on digits, full-batch SGD with momentum {MOMENTUM}", fontsize=11
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Sweep:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and samples, low dpi")
    parser.add_argument("--steps", type=int, default=None, help=f"default {STEPS}")
    parser.add_argument(
        "--out", type=Path, default=DOCS, help=f"folder for {PNG}, or a .png path (default {DOCS})"
    )
    parser.add_argument(
        "--build-inside", action="store_true", help="build the optimizer from the traced rate"
    )
    args = parser.parse_args(argv)
    result = run(args.quick, args.steps, args.build_inside)
    print(f"initial loss {result.initial_loss:.4f}")
    for lr, loss, bad in zip(
        result.learning_rates, result.final_loss, result.diverged, strict=True
    ):
        print(f"lr {lr:9.3g}  final loss {loss:10.4g}{'  diverged' if bad else ''}")
    print(f"best learning rate {result.best:.3g}; {int(result.diverged.sum())} runs diverged")
    out = args.out if args.out.suffix == ".png" else args.out / PNG
    print(plot(result, out, dpi=60 if args.quick else 100))
    return result


if __name__ == "__main__":
    main()

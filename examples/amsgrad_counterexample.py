r"""Adam converges to the worst point of a convex problem; AMSGrad does not (Reddi et al., 2018).

The online problem of sec. 5 of Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond"
(ICLR 2018, https://openreview.net/forum?id=ryQu7f-RZ), on the feasible set F = [-1, 1]:

    f_t(x) = 1010 x  if t mod 101 = 1,   f_t(x) = -10 x  otherwise      (t = 1, 2, ...)

Over each period of 101 steps the gradients sum to 1010 - 100 * 10 = +10, so the best fixed
point is x = -1, and x = +1 has the largest regret. Both methods run with b1 = 0.9, b2 = 0.99,
step size alpha / sqrt(t) (a schedule: count c = t - 1 -> alpha / sqrt(c + 1)), and the
projection onto F (a clip) after every step, as in the paper. Adam's second moment forgets the
rare large gradient within ~100 steps, so the ten small negative gradients that follow take
steps as large as the one large positive gradient: x drifts to +1. AMSGrad's denominator keeps
the maximum and x goes to the optimum -1.

Three optimizers are run, inside one ``jax.lax.scan`` each:

* ``gradlab.adam`` (Kingma & Ba, bias-corrected; the paper's Adam has no bias correction,
  which changes nothing after the first few hundred steps);
* ``gradlab.amsgrad(..., bias_correction_mu=False, bias_correction_nu=False)``, the paper's
  Algorithm 2 (max of the raw second moments);
* ``gradlab.amsgrad(...)`` with gradlab's (optax's) default: the max of the bias-corrected
  second moments.

Measured (alpha = 0.5, x_0 = 0, float32), x after T steps for Adam / Alg. 2 / default:
T = 10^4: +0.948 / -0.801 / -0.921; T = 10^5: +0.993 / -0.984 / -0.944; T = 10^6 (the
default here): +1.000 / -0.997 / -1.000; T = 5 * 10^6: +1.000 / -0.999 / -1.000. A float64
reimplementation of the paper's Algorithms 1 and 2 (no bias corrections, written directly in
jnp) gives -0.801, -0.984, -0.997 for AMSGrad and +0.996, +0.993, +1.000 for Adam.

Run from the repository root (needs matplotlib: ``pip install -e .[examples]``)::

    python examples/amsgrad_counterexample.py    # 10^6 steps, docs/amsgrad_counterexample.png
    python examples/amsgrad_counterexample.py --quick --out /tmp/ams.png    # 2 * 10^4 steps
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gradlab

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "amsgrad_counterexample.png"
STEPS, QUICK_STEPS = 1_000_000, 20_000
PERIOD, LARGE, SMALL = 101, 1010.0, -10.0  # f_t(x) = LARGE x if t mod PERIOD == 1 else SMALL x
B1, B2, ALPHA, X0 = 0.9, 0.99, 0.5, 0.0

OPTIMIZERS: dict[str, Callable[..., gradlab.GradientTransformation]] = {
    "Adam": lambda lr: gradlab.adam(lr, b1=B1, b2=B2),
    "AMSGrad (paper, Alg. 2)": lambda lr: gradlab.amsgrad(
        lr, b1=B1, b2=B2, bias_correction_mu=False, bias_correction_nu=False
    ),
    "AMSGrad (gradlab default)": lambda lr: gradlab.amsgrad(lr, b1=B1, b2=B2),
}


class Trajectory(NamedTuple):
    """The iterates x_t played at t = 1..T, the final x_{T+1}, and the average regret R_t / t."""

    x: np.ndarray
    final: float
    average_regret: np.ndarray


def gradient(t: jax.Array) -> jax.Array:
    """f_t'(x): 1010 at t = 1, 102, 203, ... and -10 otherwise."""
    return jnp.where(t % PERIOD == 1, LARGE, SMALL)


def step_size(alpha: float) -> Callable[[jax.Array], jax.Array]:
    """alpha / sqrt(t) as a schedule of the optimizer's step count c = t - 1."""
    return lambda count: alpha / jnp.sqrt(jnp.asarray(count, jnp.float32) + 1.0)


def run(tx: gradlab.GradientTransformation, steps: int, x0: float = X0) -> Trajectory:
    """Projected online steps x_{t+1} = clip(x_t + u_t, -1, 1), t = 1..steps, in one scan."""

    def step(carry, t):
        x, state = carry
        g = gradient(t) * jnp.ones_like(x)
        updates, state = tx.update(g, state, x)
        return (jnp.clip(gradlab.apply_updates(x, updates), -1.0, 1.0), state), x

    x = jnp.asarray(x0, jnp.float32)
    scan = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(1, steps + 1)), donate_argnums=0)
    (final, _), played = scan((x, tx.init(x)))  # x and the state are donated, not used again
    played = np.asarray(played, np.float64)
    # R_T = sum_t f_t(x_t) - min_{|x| <= 1} sum_t f_t(x) = sum_t g_t x_t + |sum_t g_t|
    g = np.where(np.arange(1, steps + 1) % PERIOD == 1, LARGE, SMALL)
    regret = np.cumsum(g * played) + np.abs(np.cumsum(g))
    return Trajectory(played, float(final), regret / np.arange(1, steps + 1))


def counterexample(
    steps: int = STEPS, alpha: float = ALPHA, x0: float = X0
) -> dict[str, Trajectory]:
    """Runs every optimizer of ``OPTIMIZERS`` for ``steps`` steps from ``x0``."""
    return {name: run(make(step_size(alpha)), steps, x0) for name, make in OPTIMIZERS.items()}


def plot(results: dict[str, Trajectory], out: Path, dpi: int = 110) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    steps = len(next(iter(results.values())).x)
    t = np.unique(np.geomspace(1, steps, 3000).astype(int))  # log-spaced samples to draw
    fig, (ax_x, ax_r) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, traj in results.items():
        ax_x.plot(t, traj.x[t - 1], label=f"{name}: final x = {traj.final:+.3f}", lw=1.4)
        ax_r.plot(t, traj.average_regret[t - 1], label=name, lw=1.4)
    ax_x.axhline(-1.0, color="k", ls=":", lw=1)
    ax_x.set(xscale="log", xlabel="step t", ylabel="$x_t$", ylim=(-1.05, 1.05))
    ax_x.set_title("iterate ($x^* = -1$; $x = +1$ is the worst point)", fontsize=10)
    ax_r.set(xscale="log", yscale="log", xlabel="step t", ylabel="$R_t / t$")
    ax_r.set_title("average regret", fontsize=10)
    for ax in (ax_x, ax_r):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        r"Reddi et al. (2018): $f_t(x) = 1010x$ if $t\,\mathrm{mod}\,101 = 1$ else $-10x$ "
        r"on $[-1, 1]$, "
        rf"$\beta_1 = {B1}$, $\beta_2 = {B2}$, $\alpha_t = {ALPHA}/\sqrt{{t}}$",
        fontsize=11,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, low dpi")
    parser.add_argument("--steps", type=int, default=None, help=f"default {STEPS}")
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"PNG path (default {OUTPUT})")
    args = parser.parse_args(argv)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    results = counterexample(steps)
    for name, traj in results.items():
        print(f"{name:<28} x after {steps} steps: {traj.final:+.4f}")
    print(plot(results, args.out, dpi=70 if args.quick else 110))
    return {name: traj.final for name, traj in results.items()}


if __name__ == "__main__":
    main()

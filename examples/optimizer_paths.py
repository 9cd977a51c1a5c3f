r"""The lecture's picture: optimizer paths over the contours of two 2-D functions.

Left, an ill-conditioned quadratic :math:`f(w) = \tfrac12 (w_1^2 + \kappa w_2^2)`, condition
number :math:`\kappa = 20`: gradient descent zig-zags across the valley (its step must stay below
:math:`2/\kappa` for the steep direction, which makes it slow along the flat one), momentum
overshoots and rings, Nesterov's look-ahead damps the ringing. Right, the Rosenbrock function
:math:`(1 - w_1)^2 + 100 (w_2 - w_1^2)^2` from :math:`(-1.2, 1)`: a curved, flat-bottomed valley
to the minimum :math:`(1, 1)`. On both, the adaptive methods (AdaGrad, RMSProp, Adam) rescale
each coordinate by its gradient history, and their steps are about the learning rate in size.

Every path is one ``jax.lax.scan`` of a gradlab optimizer (``sgd``, ``sgd(momentum=)``,
``sgd(momentum=, nesterov=True)``, ``adagrad``, ``rmsprop``, ``adam``), with learning rates
picked per panel (listed in the legend).

Run from the repository root (needs matplotlib: ``pip install -e .[examples]``)::

    python examples/optimizer_paths.py                          # docs/optimizer_paths.png
    python examples/optimizer_paths.py --quick --out /tmp/paths.png
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gradlab

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "optimizer_paths.png"
KAPPA = 20.0


def quadratic(w: jax.Array) -> jax.Array:
    return 0.5 * (w[0] ** 2 + KAPPA * w[1] ** 2)


def rosenbrock(w: jax.Array) -> jax.Array:
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


# (label, optimizer factory, learning rate on the quadratic, on Rosenbrock)
OPTIMIZERS: list[tuple[str, Callable[[float], gradlab.GradientTransformation], float, float]] = [
    ("GD", lambda lr: gradlab.sgd(lr), 0.095, 1.5e-3),
    ("momentum 0.9", lambda lr: gradlab.sgd(lr, momentum=0.9), 0.02, 1e-3),
    ("Nesterov 0.9", lambda lr: gradlab.sgd(lr, momentum=0.9, nesterov=True), 0.02, 1e-3),
    ("AdaGrad", lambda lr: gradlab.adagrad(lr), 1.0, 0.3),
    ("RMSProp", lambda lr: gradlab.rmsprop(lr, decay=0.9), 0.1, 0.01),
    ("Adam", lambda lr: gradlab.adam(lr), 0.3, 0.05),
]

# (title, function, start, steps, quick steps, x range, y range, minimum, log-spaced contours)
PANELS = [
    (
        rf"ill-conditioned quadratic, $\kappa = {KAPPA:g}$",
        quadratic,
        (-4.5, 1.6),
        60,
        30,
        (-5.0, 1.5),
        (-2.0, 2.0),
        (0.0, 0.0),
        False,
    ),
    (
        "Rosenbrock",
        rosenbrock,
        (-1.2, 1.0),
        1000,
        300,
        (-1.6, 1.5),
        (-0.4, 1.6),
        (1.0, 1.0),
        True,
    ),
]


def path(
    f: Callable[[jax.Array], jax.Array],
    tx: gradlab.GradientTransformation,
    start: tuple[float, float],
    steps: int,
) -> np.ndarray:
    """The iterates w_0, ..., w_steps of ``tx`` on ``f``, as a (steps + 1, 2) array."""

    def step(carry, _):
        w, state = carry
        updates, state = tx.update(jax.grad(f)(w), state, w)
        w = gradlab.apply_updates(w, updates)
        return (w, state), w

    w0 = jnp.asarray(start, jnp.float32)
    first = np.asarray(w0)[None]  # read before the call: w0 and the state are donated
    run = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps), donate_argnums=0)
    _, ws = run((w0, tx.init(w0)))
    return np.concatenate([first, np.asarray(ws)])


def compute(quick: bool = False) -> list[dict[str, np.ndarray]]:
    """Every optimizer's path on every panel: ``[{label: path}]``, one dict per panel."""
    out = []
    for p, (_, f, start, steps, quick_steps, *_rest) in enumerate(PANELS):
        n = quick_steps if quick else steps
        out.append({label: path(f, make(lrs[p]), start, n) for label, make, *lrs in OPTIMIZERS})
    return out


def plot(paths: list[dict[str, np.ndarray]], out: Path, dpi: int = 85) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4))
    colors = plt.get_cmap("tab10").colors
    for p, (ax, panel, runs) in enumerate(zip(axes, PANELS, paths, strict=True)):
        title, f, start, _, _, xr, yr, minimum, log_levels = panel
        xs, ys = np.linspace(*xr, 300), np.linspace(*yr, 300)
        grid_x, grid_y = np.meshgrid(xs, ys)
        z = np.asarray(f(jnp.stack([jnp.asarray(grid_x), jnp.asarray(grid_y)])))
        levels = np.geomspace(1e-2, z.max(), 18) if log_levels else np.linspace(0, z.max(), 25)
        ax.contour(grid_x, grid_y, z, levels=levels, colors="0.65", linewidths=0.6)
        for (label, _, *lrs), color in zip(OPTIMIZERS, colors, strict=False):
            w = runs[label]
            ax.plot(
                w[:, 0],
                w[:, 1],
                "-",
                color=color,
                lw=1.3,
                marker="o" if len(w) <= 101 else None,  # dots mark steps on short paths
                ms=2.0,
                label=f"{label} (lr {lrs[p]:g})",
            )
        ax.plot(*start, "ks", ms=6)
        ax.plot(*minimum, "k*", ms=12)
        steps = len(next(iter(runs.values()))) - 1
        ax.set(xlim=xr, ylim=yr, xlabel="$w_1$", ylabel="$w_2$", title=f"{title}: {steps} steps")
        ax.legend(fontsize=8, loc="lower right" if p == 0 else "lower left")
    fig.suptitle("Optimizer paths on contours (square: start, star: minimum)", fontsize=12)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, low dpi")
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"PNG path (default {OUTPUT})")
    args = parser.parse_args(argv)
    paths = compute(args.quick)
    for (title, f, *_), runs in zip(PANELS, paths, strict=True):
        finals = ", ".join(f"{k} {float(f(jnp.asarray(w[-1]))):.2g}" for k, w in runs.items())
        print(f"{title.replace('$', '').replace(chr(92) + 'kappa', 'kappa')}: final f = {finals}")
    result = plot(paths, args.out, dpi=60 if args.quick else 85)
    print(result)
    return result


if __name__ == "__main__":
    main()

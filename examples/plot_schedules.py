"""Plot gradlab's learning-rate schedules on one page and save it as ``docs/schedules.png``.

Run from anywhere (needs ``pip install -e .[examples]`` for gradlab and matplotlib)::

    python examples/plot_schedules.py                      # docs/schedules.png
    python examples/plot_schedules.py --quick --out /tmp   # /tmp/schedules.png, low dpi

Each curve is computed in a single call, ``schedule(jnp.arange(steps))``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402

from gradlab import schedules  # noqa: E402

STEPS = 1000
LR = 0.01
OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "schedules.png"

# (panel title, [(label, schedule)], log-scale y axis)
# fmt: off
PANELS = [
    (
        "Step decay: ÷10 every 300 steps\npiecewise_constant_schedule",
        [("0.01, ×0.1 at 300/600/900", schedules.piecewise_constant_schedule(
            LR, {300: 0.1, 600: 0.1, 900: 0.1}))],
        True,
    ),
    (
        "Exponential decay\nexponential_decay",
        [
            ("rate 0.8 per 100 steps", schedules.exponential_decay(LR, 100, 0.8)),
            ("staircase", schedules.exponential_decay(LR, 100, 0.8, staircase=True)),
        ],
        False,
    ),
    (
        "Inverse time  γ₀/(1 + k t)\ninverse_time_decay",
        [
            ("k = 1 per 100 steps", schedules.inverse_time_decay(LR, 1.0, 100)),
            ("staircase", schedules.inverse_time_decay(LR, 1.0, 100, staircase=True)),
        ],
        False,
    ),
    (
        "Linear decay to τ = 600, then constant\nlinear_schedule",
        [("ε_τ = 1% of ε₀", schedules.linear_schedule(LR, LR / 100, 600))],
        False,
    ),
    (
        "Cosine decay\ncosine_decay_schedule",
        [
            ("alpha = 0", schedules.cosine_decay_schedule(LR, STEPS)),
            ("alpha = 0.1", schedules.cosine_decay_schedule(LR, STEPS, alpha=0.1)),
            ("exponent = 2", schedules.cosine_decay_schedule(LR, STEPS, exponent=2.0)),
        ],
        False,
    ),
    (
        "Warm-up + cosine decay\nwarmup_cosine_decay_schedule",
        [("100 warm-up steps", schedules.warmup_cosine_decay_schedule(0.0, LR, 100, STEPS))],
        False,
    ),
    (
        "Cyclical, triangular\ncyclic_schedule",
        [("step_size 100", schedules.cyclic_schedule(LR / 10, LR, 100))],
        False,
    ),
    (
        "Cyclical, triangular2\ncyclic_schedule",
        [("amplitude halves each cycle",
          schedules.cyclic_schedule(LR / 10, LR, 100, mode="triangular2"))],
        False,
    ),
    (
        "Cyclical, exp_range\ncyclic_schedule",
        [("gamma = 0.998", schedules.cyclic_schedule(LR / 10, LR, 100, "exp_range", 0.998))],
        False,
    ),
    (
        "SGDR: warm restarts, cycle length ×2\nsgdr_schedule",
        [("cycles of 100, 200, 400, 300", schedules.sgdr_schedule([
            dict(init_value=LR, peak_value=LR, warmup_steps=0, decay_steps=100),
            dict(init_value=0.8 * LR, peak_value=0.8 * LR, warmup_steps=0, decay_steps=200),
            dict(init_value=0.6 * LR, peak_value=0.6 * LR, warmup_steps=0, decay_steps=400),
            dict(init_value=0.4 * LR, peak_value=0.4 * LR, warmup_steps=0, decay_steps=300),
        ]))],
        False,
    ),
    (
        "One-cycle (Smith & Topin)\n*_onecycle_schedule",
        [
            ("cosine", schedules.cosine_onecycle_schedule(STEPS, LR)),
            ("linear", schedules.linear_onecycle_schedule(STEPS, LR)),
        ],
        False,
    ),
    (
        "Warm-up added to any schedule\nlinear_warmup",
        [
            ("linear_warmup(exponential_decay, 200)",
             schedules.linear_warmup(schedules.exponential_decay(LR, 100, 0.8), 200)),
            ("warmup_constant_schedule", schedules.warmup_constant_schedule(0.0, LR / 2, 200)),
        ],
        False,
    ),
]
# fmt: on


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="low dpi")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"folder or .png path (default {OUTPUT})"
    )
    args = parser.parse_args(argv)
    out = args.out or OUTPUT
    out = out if out.suffix == ".png" else out / OUTPUT.name
    steps = jnp.arange(STEPS)
    fig, axes = plt.subplots(3, 4, figsize=(17, 10.5), sharex=True)
    for ax, (title, curves, log_scale) in zip(axes.flat, PANELS, strict=True):
        for label, schedule in curves:
            ax.plot(steps, schedule(steps), label=label, linewidth=1.6)
        ax.set_title(title, fontsize=10)
        ax.set_yscale("log" if log_scale else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax in axes[:, 0]:
        ax.set_ylabel("learning rate")
    fig.suptitle(f"gradlab learning-rate schedules ({STEPS} steps, peak {LR})", fontsize=13)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=50 if args.quick else 110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())

"""``python -m gradlab.demo.sweep``: how the modern group's learning rates were chosen.

Trains the digits MLP with each modern optimizer at each rate of :data:`CANDIDATES`, for
:data:`STEPS` steps, on the validation task (:func:`gradlab.demo.data.digits_validation`: 1,010
of the training images to train on, the other 337 to validate; the test images are never
used), and prints the validation accuracy and loss of every run and the rate it picks: the
lowest validation loss (mean cross-entropy). Its output is recorded in
:data:`gradlab.demo.optimizers.MODERN_SWEEP`, its picks in
:data:`~gradlab.demo.optimizers.MODERN_LEARNING_RATES`.

    python -m gradlab.demo.sweep                  # every modern optimizer, a few minutes
    python -m gradlab.demo.sweep --optimizers lion,muon --steps 300
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from gradlab.demo.optimizers import MODERN_NAMES, parse_optimizers

#: The rates tried per optimizer: first three, 2-3x apart, around the rate the literature
#: suggests relative to AdamW's (Lion 3-10x smaller; Muon ~0.02; Adafactor and LAMB relative
#: to the parameter scale), then one more past a winner at the grid's edge (by accuracy for
#: AdamW's and Lion's last ones, see :data:`~gradlab.demo.optimizers.MODERN_SWEEP`).
#: Prodigy is learning-rate free: only its 1.0.
CANDIDATES: dict[str, tuple[float, ...]] = {
    "adamw": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2),
    "lion": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "lamb": (1e-3, 3e-3, 1e-2, 3e-2),
    "adafactor": (1e-2, 3e-2, 1e-1, 3e-1),
    "muon": (2e-3, 5e-3, 2e-2, 5e-2, 1e-1),
    "soap": (1e-3, 3e-3, 1e-2),
    "schedule-free-adamw": (1e-3, 3e-3, 1e-2, 3e-2),
    "prodigy": (1.0,),
}
#: Steps per sweep run (batches of 64, seed 0).
STEPS = 500

#: ``name -> {rate: (validation accuracy, validation loss)}``.
SweepResult = dict[str, dict[float, tuple[float, float]]]


def sweep(
    names: Sequence[str] = MODERN_NAMES,
    *,
    steps: int = STEPS,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> SweepResult:
    """Every rate of :data:`CANDIDATES` of each name, on the validation task.

    Returns:
      ``{name: {rate: (validation accuracy, validation loss)}}``, the loss the mean
      cross-entropy on the validation images, both at the evaluated params (schedule-free:
      :math:`x_t`).
    """
    import jax

    from gradlab.demo.classification import digits_problem, run_digits

    problem = digits_problem(seed, validation=True)
    validation_loss = jax.jit(lambda params: problem.loss(params, problem.test_data))
    out: SweepResult = {}
    for name in names:
        out[name] = {}
        for rate in CANDIDATES[name]:
            (run,) = run_digits(
                [name],
                steps=steps,
                batch_size=batch_size,
                seed=seed,
                learning_rates={name: rate},
                progress=progress,
                problem=problem,
            )
            out[name][rate] = (run.metric, float(validation_loss(run.params)))
            if progress:
                print(f"{name} {rate:g}: {out[name][rate]}", file=sys.stderr, flush=True)
    return out


def best(result: Mapping[str, Mapping[float, tuple[float, float]]]) -> dict[str, float]:
    """The rate per name with the lowest validation loss.

    >>> best({"lion": {1e-4: (0.95, 0.2), 3e-4: (0.96, 0.1), 1e-3: (0.97, 0.4)}})
    {'lion': 0.0003}
    """
    return {name: min(runs, key=lambda rate: runs[rate][1]) for name, runs in result.items()}


def markdown(result: SweepResult) -> str:
    """The sweep as a markdown table, the picked rate of each optimizer in bold."""
    picked = best(result)
    lines = [
        "| optimizer | learning rate | validation accuracy | validation loss |",
        "|---|---|---|---|",
    ]
    for name, runs in result.items():
        for rate, (accuracy, loss) in runs.items():
            mark = "**" if rate == picked[name] else ""
            lines.append(
                f"| `{name}` | {mark}{rate:g}{mark} | {100 * accuracy:.2f}% | {loss:.4f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the sweep, prints its table and the dict of :data:`MODERN_SWEEP`."""
    parser = argparse.ArgumentParser(prog="python -m gradlab.demo.sweep", description=__doc__)
    parser.add_argument("--optimizers", default="modern", help="default: the modern group")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"default {STEPS}")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = parse_optimizers(args.optimizers)
    result = sweep(names, steps=args.steps, progress=not args.no_progress)
    print(markdown(result))
    record: dict[str, Any] = {
        name: {rate: (round(acc, 4), round(loss, 4)) for rate, (acc, loss) in runs.items()}
        for name, runs in result.items()
    }
    print(f"\nMODERN_SWEEP = {record!r}\nbest = {best(result)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

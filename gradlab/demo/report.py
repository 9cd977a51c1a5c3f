"""The demo's results as data (a JSON-ready dict) and as markdown tables.

:func:`results` gathers the runs into one dict (what ``--json`` prints and ``results.json``
holds); :func:`markdown` renders it as the tables of ``results.md``, which the command also
prints. :func:`modern_results` and :func:`modern_markdown` do the same for the modern group
(``--optimizers modern``: test accuracy, steps to 95% and the median step time). All are pure:
no plotting, no files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gradlab.demo.losses_demo import (
    CONVEX_LEARNING_RATE,
    HUBER_DELTA,
    SVM_C,
    Reference,
    RegressionResult,
)
from gradlab.demo.optimizers import MODERN_SWEEP, SETTINGS
from gradlab.demo.training import Run

DASH = "—"
#: The test accuracy whose first step the modern report gives ("steps to 95%").
TARGET_ACCURACY = 0.95


def run_record(run: Run, **extra: Any) -> dict[str, Any]:
    """One run as a JSON-ready dict: its losses, metric, timings and curves.

    Args:
      run: the run.
      **extra: more fields, placed after the name (e.g. the learning rate).
    """
    return {
        "name": run.name,
        **extra,
        "initial_loss": run.initial_loss,
        "final_loss": run.final_loss,
        "metric": run.metric,
        "steps": run.steps,
        "steps_per_s": run.steps_per_s,
        "compile_s": run.compile_s,
        "wall_s": run.wall_s,
        "curve": {
            "step": run.curve_steps.tolist(),
            "train_loss": run.curve_loss.tolist(),
            "metric": run.curve_metric.tolist(),
        },
    }


def reference_record(reference: Reference) -> dict[str, Any]:
    """A scikit-learn reference as a JSON-ready dict."""
    return {"name": reference.name, "metric": reference.metric, "wall_s": reference.wall_s}


def results(
    config: Mapping[str, Any],
    learning_rates: Mapping[str, float],
    digits: Sequence[Run],
    svm: tuple[Sequence[Run], Sequence[Reference]],
    regression: RegressionResult,
) -> dict[str, Any]:
    """Everything the demo measured, as one JSON-ready dict.

    Args:
      config: the settings of the run (steps, batch size, seed, ...).
      learning_rates: the learning rate of each digits optimizer.
      digits: the digits runs (metric: test accuracy).
      svm: the SVM runs and LinearSVC's references (metric: test accuracy).
      regression: the regression result (metric: test MAE on the clean targets).

    Returns:
      ``{"config", "learning_rates", "digits", "svm", "regression"}``; each of the last three
      has ``"metric"`` (what the metric is), ``"runs"`` and, for the losses, ``"references"``.
    """
    svm_runs, svm_references = svm
    return {
        "config": dict(config),
        "learning_rates": {run.name: learning_rates[run.name] for run in digits},
        "digits": {
            "metric": "test accuracy",
            "runs": [
                run_record(run, learning_rate=learning_rates[run.name], setting=SETTINGS[run.name])
                for run in digits
            ],
        },
        "svm": {
            "metric": "test accuracy",
            "C": SVM_C,
            "learning_rate": CONVEX_LEARNING_RATE,
            "runs": [run_record(run) for run in svm_runs],
            "references": [reference_record(ref) for ref in svm_references],
        },
        "regression": {
            "metric": "test MAE",
            "num_outliers": regression.num_outliers,
            "huber_delta": HUBER_DELTA,
            "learning_rate": CONVEX_LEARNING_RATE,
            "runs": [run_record(run) for run in regression.runs],
            "references": [reference_record(ref) for ref in regression.references],
        },
    }


def steps_to(run: Run, target: float = TARGET_ACCURACY) -> int | None:
    """The first step of ``run``'s curve whose test metric is >= ``target`` (None: never).

    The curve is measured every few steps (:func:`gradlab.demo.training.curve_points`), so
    this is the first measured step at or past the target.
    """
    curve = zip(run.curve_steps, run.curve_metric, strict=True)
    reached = [int(step) for step, metric in curve if metric >= target]
    return reached[0] if reached else None


def modern_results(
    config: Mapping[str, Any],
    learning_rates: Mapping[str, float],
    digits: Sequence[Run],
    machine: Mapping[str, Any],
) -> dict[str, Any]:
    """The modern group's measurements, as one JSON-ready dict.

    Args:
      config: the settings of the run (steps, batch size, seed, ...).
      learning_rates: the learning rate of each optimizer.
      digits: the digits runs (metric: test accuracy).
      machine: where the step times were measured (device, CPU count, load averages).

    Returns:
      ``{"config", "machine", "learning_rates", "sweep", "digits"}``: each run of
      ``digits["runs"]`` has ``steps_to_target`` (the first measured step with test accuracy
      >= ``digits["target"]``, or None) and ``median_step_s`` besides :func:`run_record`'s.
    """
    return {
        "config": {**config, "group": "modern"},
        "machine": dict(machine),
        "learning_rates": {run.name: learning_rates[run.name] for run in digits},
        "sweep": {
            name: {f"{rate:g}": list(values) for rate, values in runs.items()}
            for name, runs in MODERN_SWEEP.items()
            if any(run.name == name for run in digits)
        },
        "digits": {
            "metric": "test accuracy",
            "target": TARGET_ACCURACY,
            "runs": [
                run_record(
                    run,
                    learning_rate=learning_rates[run.name],
                    setting=SETTINGS[run.name],
                    steps_to_target=steps_to(run),
                    median_step_s=run.step_time_s,
                )
                for run in digits
            ],
        },
    }


def shared_machine(machine: Mapping[str, Any]) -> bool:
    """Whether other processes loaded the machine when the run started (1-min load >= 0.5).

    >>> shared_machine({"load_average": [3.1, 4.0]}), shared_machine({"load_average": [0.1, 1]})
    (True, False)
    """
    load = machine.get("load_average") or []
    return bool(load) and load[0] >= 0.5


def modern_markdown(res: Mapping[str, Any]) -> str:
    """The table of the modern group's ``results.md``.

    Args:
      res: the dict of :func:`modern_results`.

    Returns:
      Markdown text, ending in a newline.
    """
    config, machine, digits = res["config"], res["machine"], res["digits"]
    target = f"{100 * digits['target']:g}%"
    shared = shared_machine(machine)
    load = machine.get("load_average") or [float("nan")] * 2
    rows = [
        [
            f"`{r['name']}`",
            r["setting"],
            f"{r['learning_rate']:g}",
            _percent(r["metric"]),
            DASH if r["steps_to_target"] is None else str(r["steps_to_target"]),
            f"{1e3 * r['median_step_s']:.3f}" if math.isfinite(r["median_step_s"]) else DASH,
            _number(r["final_loss"]),
            f"{r['compile_s']:.2f}",
        ]
        for r in digits["runs"]
    ]
    every = max(1, config["steps"] // config.get("points", 50))
    step_header = "median step (ms" + (", shared CPU)" if shared else ")")
    parts = [
        "# gradlab demo results: modern optimizers",
        "",
        f"`python -m gradlab.demo --optimizers modern`: {config['steps']} steps per optimizer, "
        f"batches of {config['batch_size']}, seed {config['seed']}. "
        f"Total wall time {config.get('total_s', float('nan')):.1f} s."
        + (" (`--quick`: XLA's backend optimization off.)" if config.get("quick") else ""),
        "",
        "## Digits: a Flax MLP (64-128-10) with each optimizer",
        "",
        "Test accuracy: on the 450 held-out images after the last step (schedule-free AdamW at "
        f"its averaged params x_t). Steps to {target}: the first step at which the test "
        f"accuracy, measured every {every} steps, reached {target} ({DASH}: not reached). "
        "Median step: one compiled step (params and optimizer state donated), timed after "
        "compilation, each step blocked until done. Final train loss: on all 1,347 training "
        "images. Learning rates: the best of a short sweep on a validation split of the "
        "training images (`python -m gradlab.demo.sweep`); Prodigy is learning-rate free.",
        "",
        f"Step times measured on {machine.get('device', '?')} ({machine.get('cpu_count', '?')} "
        f"cores), 1-minute load average {load[0]:.1f} before and {load[1]:.1f} after the runs"
        + (
            ": other processes shared the machine, so the step times are noisy and "
            "slower than on an idle one."
            if shared
            else "."
        ),
        "",
        _table(
            [
                "optimizer",
                "setting",
                "learning rate",
                "test accuracy",
                f"steps to {target}",
                step_header,
                "final train loss",
                "compile (s)",
            ],
            rows,
        ),
        "",
    ]
    return "\n".join(parts)


def _number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, or a dash for NaN.

    >>> _number(0.0123456), _number(1234.5), _number(float("nan"))
    ('0.01235', '1234', '—')
    """
    if not math.isfinite(value):
        return DASH
    if value != 0 and abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _percent(value: float) -> str:
    """``0.9778 -> '97.78%'``."""
    return f"{100 * value:.2f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table.

    >>> print(_table(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _timings(record: Mapping[str, Any]) -> list[str]:
    return [
        f"{record['steps_per_s']:.0f}",
        f"{record['compile_s']:.2f}",
        f"{record['wall_s']:.2f}",
    ]


def markdown(res: Mapping[str, Any]) -> str:
    """The tables of ``results.md``: digits optimizers, SVMs, regressions.

    Args:
      res: the dict of :func:`results`.

    Returns:
      Markdown text, ending in a newline.
    """
    config = res["config"]
    timing_header = ["steps/s", "compile (s)", "wall (s)"]
    digits_rows = [
        [
            f"`{r['name']}`",
            r["setting"],
            f"{r['learning_rate']:g}",
            _number(r["initial_loss"]),
            _number(r["final_loss"]),
            _percent(r["metric"]),
            *_timings(r),
        ]
        for r in res["digits"]["runs"]
    ]
    svm = res["svm"]
    svm_rows = [
        [f"`{r['name']}`", _number(r["final_loss"]), _percent(r["metric"]), *_timings(r)]
        for r in svm["runs"]
    ] + [
        [r["name"], DASH, _percent(r["metric"]), DASH, DASH, f"{r['wall_s']:.2f}"]
        for r in svm["references"]
    ]
    reg = res["regression"]
    reg_rows = [
        [f"`{r['name']}`", _number(r["final_loss"]), f"{r['metric']:.2f}", *_timings(r)]
        for r in reg["runs"]
    ] + [
        [r["name"], DASH, f"{r['metric']:.2f}", DASH, DASH, f"{r['wall_s']:.2f}"]
        for r in reg["references"]
    ]
    parts = [
        "# gradlab demo results",
        "",
        f"`python -m gradlab.demo`: {config['steps']} steps per optimizer, batches of "
        f"{config['batch_size']}, seed {config['seed']}; the losses ran {config['convex_steps']} "
        f"full-batch steps of Adam (rate {svm['learning_rate']:g}, cosine decay). "
        f"Total wall time {config.get('total_s', float('nan')):.1f} s."
        + (" (`--quick`: XLA's backend optimization off.)" if config.get("quick") else ""),
        "",
        "## Digits: a Flax MLP (64-128-10) with each optimizer",
        "",
        "Loss: mean softmax cross-entropy on all 1,347 training images (initial and final); "
        "accuracy on the 450 held-out images.",
        "",
        _table(
            [
                "optimizer",
                "setting",
                "learning rate",
                "initial loss",
                "final train loss",
                "test accuracy",
                *timing_header,
            ],
            digits_rows,
        ),
        "",
        "## Linear SVM on breast cancer (standardized features), against LinearSVC",
        "",
        f"Objective: mean margin loss + L2 penalty, C = {svm['C']:g}; 143 held-out cases.",
        "",
        _table(["run", "final objective", "test accuracy", *timing_header], svm_rows),
        "",
        f"## Linear regression on diabetes with {reg['num_outliers']} gross training outliers",
        "",
        "Test error: mean absolute error on the clean held-out targets (lower is better); "
        f"Huber delta = {reg['huber_delta']:g} (in robustly scaled target units).",
        "",
        _table(["loss", "final train loss", "test MAE", *timing_header], reg_rows),
        "",
    ]
    return "\n".join(parts)


__all__ = [
    "TARGET_ACCURACY",
    "markdown",
    "modern_markdown",
    "modern_results",
    "reference_record",
    "results",
    "run_record",
    "shared_machine",
    "steps_to",
]

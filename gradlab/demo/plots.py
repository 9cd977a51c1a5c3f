"""The demo's figures, drawn with matplotlib's Agg backend (no screen) into PNG files.

* ``digits_loss.png``: the training loss of every optimizer against the step, log y-axis;
* ``digits_accuracy.png``: the test accuracy against the step, and the final accuracies;
* ``svm.png``: the SVMs' objective against the step, and their accuracy beside LinearSVC's;
* ``regression.png``: the test error of each loss against the step, and predicted against
  true test targets.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

from gradlab.demo.losses_demo import Reference, RegressionResult
from gradlab.demo.training import Run

#: Dots per inch of the PNGs.
DPI = 110


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files only, works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: pathlib.Path) -> pathlib.Path:
    plt = _pyplot()
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _style(name: str) -> str:
    """A line style per family: SGD solid, AdaGrad/RMSProp/Adadelta dashed, Adam's dash-dot.

    The eleven lines then stay apart although matplotlib's color cycle has ten colors. In the
    modern group: Lion and LAMB dashed, Muon and SOAP dotted, schedule-free AdamW and Prodigy
    solid, AdamW and Adafactor dash-dot.

    >>> _style("sgd-momentum"), _style("rmsprop"), _style("amsgrad"), _style("muon")
    ('-', '--', '-.', ':')
    """
    if name.startswith("sgd") or name in ("schedule-free-adamw", "prodigy"):
        return "-"
    if name in ("adagrad", "rmsprop", "adadelta", "lion", "lamb"):
        return "--"
    if name in ("muon", "soap"):
        return ":"
    return "-."


def _floor(values: Sequence[float]) -> float:
    """A positive floor for a log axis (losses can reach 0 exactly)."""
    positive = [v for v in values if v > 0]
    return min(positive) / 2 if positive else 1e-8


def digits_loss(runs: Sequence[Run], path: pathlib.Path) -> pathlib.Path:
    """Training loss (all training images) against the step, one line per optimizer."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    floor = _floor([v for run in runs for v in run.curve_loss])
    for run in runs:
        values = [max(v, floor) for v in run.curve_loss]
        axes.plot(run.curve_steps, values, _style(run.name), label=run.name)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("training loss (cross-entropy, log scale)")
    axes.set_title("Digits MLP: training loss per optimizer")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(ncol=2, fontsize="small")
    return _save(figure, path)


def digits_accuracy(
    runs: Sequence[Run], path: pathlib.Path, target: float | None = None
) -> pathlib.Path:
    """Test accuracy against the step (left) and at the end (right, a bar per optimizer).

    ``target``: an accuracy in [0, 1] to draw as a dotted line on the left (e.g. 0.95).
    """
    plt = _pyplot()
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(12, 5))
    names = [run.name for run in runs]
    finals = [100 * run.metric for run in runs]
    for run in runs:
        curves.plot(run.curve_steps, 100 * run.curve_metric, _style(run.name), label=run.name)
    if target is not None:
        curves.axhline(100 * target, color="gray", linestyle=":", label=f"{100 * target:g}%")
    curves.set_xlabel("step")
    curves.set_ylabel("test accuracy (%)")
    curves.set_ylim(max(0.0, min(finals) - 15), 100)
    curves.set_title("Digits MLP: test accuracy during training")
    curves.grid(True, alpha=0.3)
    curves.legend(ncol=2, fontsize="small", loc="lower right")
    positions = list(range(len(runs)))
    bars.barh(positions, finals, color="tab:blue")
    bars.set_yticks(positions, names)
    bars.invert_yaxis()
    bars.set_xlim(max(0.0, min(finals) - 5), 100)
    for position, value in zip(positions, finals, strict=True):
        bars.text(value, position, f" {value:.1f}", va="center", fontsize="small")
    bars.set_xlabel("final test accuracy (%)")
    bars.set_title("Digits MLP: final test accuracy")
    return _save(figure, path)


def svm(runs: Sequence[Run], references: Sequence[Reference], path: pathlib.Path) -> pathlib.Path:
    """The SVMs' objective against the step (left); their accuracy and LinearSVC's (right)."""
    plt = _pyplot()
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4.5))
    for run in runs:
        curves.plot(run.curve_steps, run.curve_loss, label=run.name)
    curves.set_yscale("log")
    curves.set_xlabel("step")
    curves.set_ylabel("objective (log scale)")
    curves.set_title("Linear SVM on breast cancer: training objective")
    curves.grid(True, which="both", alpha=0.3)
    curves.legend()
    names = [run.name for run in runs] + [ref.name for ref in references]
    values = [100 * run.metric for run in runs] + [100 * ref.metric for ref in references]
    colors = ["tab:blue"] * len(runs) + ["tab:gray"] * len(references)
    positions = list(range(len(names)))
    bars.barh(positions, values, color=colors)
    bars.set_yticks(positions, names)
    bars.invert_yaxis()
    bars.set_xlim(max(0.0, min(values) - 5), 100)
    for position, value in zip(positions, values, strict=True):
        bars.text(value, position, f" {value:.1f}", va="center", fontsize="small")
    bars.set_xlabel("test accuracy (%)")
    bars.set_title("gradlab (blue) vs scikit-learn's LinearSVC (gray)")
    return _save(figure, path)


def regression(result: RegressionResult, path: pathlib.Path) -> pathlib.Path:
    """Test MAE against the step per loss (left); predicted vs true test targets (right)."""
    plt = _pyplot()
    figure, (curves, scatter) = plt.subplots(1, 2, figsize=(11, 4.5))
    for run in result.runs:
        curves.plot(run.curve_steps, run.curve_metric, label=f"{run.name}: {run.metric:.1f}")
    clean = result.references[-1]
    curves.axhline(clean.metric, color="gray", linestyle="--", label="least squares, no outliers")
    curves.set_xlabel("step")
    curves.set_ylabel("test mean absolute error")
    curves.set_ylim(0, 2 * max(run.metric for run in result.runs))
    curves.set_title(f"Diabetes, {result.num_outliers} gross training outliers")
    curves.grid(True, alpha=0.3)
    curves.legend()
    low, high = float(result.y_test.min()), float(result.y_test.max())
    scatter.plot([low, high], [low, high], color="gray", linewidth=1)
    for run in result.runs:
        scatter.scatter(result.y_test, result.predictions[run.name], s=10, label=run.name)
    scatter.set_xlabel("true test target")
    scatter.set_ylabel("prediction")
    scatter.set_title("Test predictions (diagonal: perfect)")
    scatter.legend()
    return _save(figure, path)


def draw_all(
    out: pathlib.Path,
    digits: Sequence[Run],
    svm_result: tuple[Sequence[Run], Sequence[Reference]],
    regression_result: RegressionResult,
) -> list[pathlib.Path]:
    """Draws the four figures into the folder ``out``; returns their paths."""
    return [
        digits_loss(digits, out / "digits_loss.png"),
        digits_accuracy(digits, out / "digits_accuracy.png"),
        svm(*svm_result, out / "svm.png"),
        regression(regression_result, out / "regression.png"),
    ]


def draw_digits(
    out: pathlib.Path, digits: Sequence[Run], target: float | None = None
) -> list[pathlib.Path]:
    """Draws the two digits figures into the folder ``out`` (the modern group's figures)."""
    return [
        digits_loss(digits, out / "digits_loss.png"),
        digits_accuracy(digits, out / "digits_accuracy.png", target),
    ]


__all__ = [
    "DPI",
    "digits_accuracy",
    "digits_loss",
    "draw_all",
    "draw_digits",
    "regression",
    "svm",
]

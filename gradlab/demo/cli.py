"""The command ``python -m gradlab.demo`` (also ``gradlab-demo``): parse, check, run, report.

:func:`main` parses the flags into a :class:`Config` (a bad value: one error line on stderr,
exit status 2), checks that the demo's extras are installed (if not: one line naming the
install command, exit status 1), runs the three parts (:mod:`~gradlab.demo.classification`,
:mod:`~gradlab.demo.losses_demo`), then writes ``results.md``, ``results.json`` and the PNGs
(:mod:`~gradlab.demo.plots`) into ``--out`` and prints the tables, or with ``--json`` the
results as one JSON object on stdout (progress bars always go to stderr).

``--optimizers modern`` (or any list with a modern optimizer) runs the modern group instead
(:func:`run_modern`): the digits part only, reported with steps to 95% and step times. The
paths in ``results.json`` are relative: ``output_dir`` to the working directory, ``files`` to
``output_dir``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from gradlab.core.commands import Parser, UsageError, positive_int
from gradlab.demo.optimizers import (
    ALL_NAMES,
    GROUPS,
    LEARNING_RATES,
    MODERN_LEARNING_RATES,
    group_of,
    learning_rates,
    parse_learning_rates,
    parse_optimizers,
)

PROG = "gradlab-demo"
#: The one command that installs what the demo needs.
INSTALL = 'pip install -e ".[demo]" (in a gradlab checkout)'
#: The demo's optional dependencies: import name -> package name.
EXTRAS = {"flax": "flax", "sklearn": "scikit-learn", "matplotlib": "matplotlib", "tqdm": "tqdm"}
#: Steps per digits optimizer, batch size, and full-batch steps of the losses' runs.
DEFAULTS = {"steps": 1500, "batch_size": 64, "convex_steps": 2000}
#: The same for ``--quick`` (a few seconds; what the tests run).
QUICK = {"steps": 40, "batch_size": 64, "convex_steps": 150}
DEFAULT_OUT = "gradlab-demo-output"
#: About how many times the modern group measures its curves (every 10 steps of 1500): the
#: resolution of its "steps to 95%".
MODERN_POINTS = 150


def _seed(text: str) -> int:
    """An int in [0, 2**32) (argparse type; scikit-learn's seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    rates = ", ".join(f"{name}={rate:g}" for name, rate in LEARNING_RATES.items())
    modern = ", ".join(f"{name}={rate:g}" for name, rate in MODERN_LEARNING_RATES.items())
    parser = Parser(
        prog=PROG,
        description=(
            "Train the same Flax MLP on scikit-learn's digits with every classic gradlab "
            "optimizer, fit a linear SVM (hinge losses) and robust linear regressions "
            "(L2, Huber, L1) with gradlab, and compare them in a table and plots."
        ),
        epilog=f"Learning rates: {rates}. Modern group (--optimizers modern): {modern}.",
    )
    parser.add_argument(
        "--optimizers",
        default="all",
        help=(
            f"comma-separated subset of: {', '.join(ALL_NAMES)}; or a group: "
            f"{', '.join(GROUPS)} (default: all, the classic optimizers; modern: "
            "the modern ones, digits only, with steps to 95%% and step times)"
        ),
    )
    parser.add_argument(
        "--lr",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one optimizer's learning rate, e.g. --lr adam=3e-3 (repeatable)",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        help=f"steps per digits optimizer (default {DEFAULTS['steps']}, --quick {QUICK['steps']})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"digits minibatch size (default {DEFAULTS['batch_size']})",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of everything (default 0)")
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"output folder for results.md, results.json and the PNGs (default ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a run of a few seconds (few steps), as the tests do"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as one JSON object on stdout"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


class Config(NamedTuple):
    """The settings of one demo run, from :func:`parse_config`.

    Args:
      optimizers: the digits optimizers to run, in order.
      learning_rates: every optimizer's learning rate (the table with ``--lr`` applied).
      steps: steps per digits optimizer.
      batch_size: the digits minibatch size.
      convex_steps: full-batch steps of each SVM and regression run.
      seed: seeds the splits, the initial weights and the batch order.
      out: the output folder.
      quick: ``--quick`` was given (also: compile with less optimization, see
        :data:`gradlab.demo.training.FAST_COMPILE`).
      json: print JSON on stdout instead of the tables.
      progress: show progress bars.
      group: ``"classic"``, or ``"modern"`` if any optimizer is a modern one
        (:func:`~gradlab.demo.optimizers.group_of`).
    """

    optimizers: tuple[str, ...]
    learning_rates: dict[str, float]
    steps: int
    batch_size: int
    convex_steps: int
    seed: int
    out: pathlib.Path
    quick: bool
    json: bool
    progress: bool
    group: str = "classic"

    def summary(self) -> dict[str, Any]:
        """The JSON-ready settings (``results.json``'s ``"config"``)."""
        return {
            "optimizers": list(self.optimizers),
            "steps": self.steps,
            "batch_size": self.batch_size,
            "convex_steps": self.convex_steps,
            "seed": self.seed,
            "quick": self.quick,
        }


def parse_config(argv: Sequence[str]) -> Config:
    """The :class:`Config` of a command line; raises :class:`UsageError` on a bad value.

    >>> config = parse_config(["--quick", "--optimizers", "adam", "--lr", "adam=0.01"])
    >>> config.optimizers, config.learning_rates["adam"], config.steps
    (('adam',), 0.01, 40)
    """
    args = build_parser().parse_args(list(argv))
    sizes = QUICK if args.quick else DEFAULTS
    try:
        optimizers = parse_optimizers(args.optimizers)
        overrides = parse_learning_rates(args.lr)
    except ValueError as error:
        raise UsageError(str(error)) from None
    group = group_of(optimizers)
    return Config(
        optimizers=optimizers,
        learning_rates=learning_rates(overrides, group),
        steps=args.steps or sizes["steps"],
        batch_size=args.batch_size or sizes["batch_size"],
        convex_steps=sizes["convex_steps"],
        seed=args.seed,
        out=pathlib.Path(args.out),
        quick=args.quick,
        json=args.json,
        progress=not args.no_progress,
        group=group,
    )


def missing_dependencies() -> list[str]:
    """The package names of the demo's extras that cannot be imported.

    >>> isinstance(missing_dependencies(), list)
    True
    """
    missing = []
    for module, package in EXTRAS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def prepare_out(path: pathlib.Path) -> pathlib.Path:
    """Creates the output folder and checks that it is writable; returns its absolute path."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"argument --out: cannot write to {str(path)!r}: {reason}") from None
    return path.resolve()


def relative(path: pathlib.Path) -> str:
    """``path`` relative to the working directory (absolute only where none exists: another
    drive).

    >>> relative(pathlib.Path.cwd() / "docs" / "demo") == os.path.join("docs", "demo")
    True
    """
    try:
        return os.path.relpath(path)
    except ValueError:  # Windows: another drive
        return str(path)


def _write(
    config: Config, res: dict[str, Any], markdown: str, figures: list[Any]
) -> dict[str, Any]:
    """Writes ``results.md`` and ``results.json``; returns ``res`` with the output paths."""
    (config.out / "results.md").write_text(markdown, encoding="utf-8")
    files = ["results.md", "results.json", *(figure.name for figure in figures)]
    res = {**res, "output_dir": relative(config.out), "files": files}
    (config.out / "results.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return res


def machine() -> dict[str, Any]:
    """Where the steps run: JAX's first device, the CPU count, the load average now."""
    import jax

    device = jax.devices()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "device": device.platform
        if device.device_kind == device.platform
        else f"{device.platform} ({device.device_kind})",
        "cpu_count": os.cpu_count(),
        "load_average": [load],
    }


def _run_digits(config: Config, **extra: Any) -> list[Any]:
    """The digits runs of ``config`` (:func:`gradlab.demo.classification.run_digits`)."""
    from gradlab.demo.classification import run_digits

    return run_digits(
        config.optimizers,
        steps=config.steps,
        batch_size=config.batch_size,
        seed=config.seed,
        learning_rates=config.learning_rates,
        progress=config.progress,
        fast_compile=config.quick,
        **extra,
    )


def run_modern(config: Config) -> dict[str, Any]:
    """Runs the modern group on the digits and writes its files into ``config.out``.

    Every step is timed (the median is reported) and the curves are measured about
    :data:`MODERN_POINTS` times, for the steps to 95%.

    Returns:
      The results dict (:func:`gradlab.demo.report.modern_results`) with ``"output_dir"``
      and ``"files"`` added.
    """
    from gradlab.demo import plots, report

    start = time.perf_counter()
    where = machine()
    digits = _run_digits(config, points=MODERN_POINTS, time_steps=True)
    where["load_average"].append(machine()["load_average"][0])
    summary = {**config.summary(), "points": MODERN_POINTS}
    summary["total_s"] = time.perf_counter() - start
    res = report.modern_results(summary, config.learning_rates, digits, where)
    figures = plots.draw_digits(config.out, digits, report.TARGET_ACCURACY)
    return _write(config, res, report.modern_markdown(res), figures)


def run(config: Config) -> dict[str, Any]:
    """Runs the demo's three parts and writes its files into ``config.out`` (already made).

    A modern group's config runs :func:`run_modern` instead.

    Returns:
      The results dict (:func:`gradlab.demo.report.results`) with ``"output_dir"`` (relative
      to the working directory) and ``"files"`` (relative to it) added.
    """
    if config.group == "modern":
        return run_modern(config)
    from gradlab.demo import plots, report
    from gradlab.demo.losses_demo import run_regression, run_svm

    start = time.perf_counter()
    digits = _run_digits(config)
    convex: dict[str, Any] = {
        "steps": config.convex_steps,
        "seed": config.seed,
        "progress": config.progress,
        "fast_compile": config.quick,
    }
    svm = run_svm(**convex)
    regression = run_regression(**convex)
    summary = {**config.summary(), "total_s": time.perf_counter() - start}
    res = report.results(summary, config.learning_rates, digits, svm, regression)
    figures = plots.draw_all(config.out, digits, svm, regression)
    return _write(config, res, report.markdown(res), figures)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the demo; returns the exit status (0 done, 1 extras missing, 2 bad command line).

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).
    """
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    missing = missing_dependencies()
    if missing:
        print(
            f"{PROG}: the demo needs {', '.join(missing)}, not installed; "
            f"install the demo's extras with: {INSTALL}",
            file=sys.stderr,
        )
        return 1
    try:
        config = config._replace(out=prepare_out(config.out))
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    try:
        res = run(config)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    if config.json:
        print(json.dumps(res))
    else:
        print()
        print((config.out / "results.md").read_text(encoding="utf-8"))
    where = os.path.join(str(config.out), "")
    print(f"Wrote {', '.join(res['files'])} to {where}", file=sys.stderr if config.json else None)
    return 0


__all__ = [
    "MODERN_POINTS",
    "Config",
    "UsageError",
    "build_parser",
    "machine",
    "main",
    "missing_dependencies",
    "parse_config",
    "relative",
    "run",
    "run_modern",
]

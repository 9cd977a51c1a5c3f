"""The command ``python -m gradlab.bench`` (also ``gradlab-bench``): parse, measure, report.

:func:`main` parses the flags into a :class:`Config` (a bad value: one error line on stderr,
exit status 2), measures the device's triad bandwidth, runs the suites of
:mod:`gradlab.bench.suites` (the optimizers on each tree shape; with ``--wrappers`` the
wrappers; with ``--flat`` the flat path), prints the markdown table and with ``--json PATH``
writes the results there. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from gradlab.core.commands import Parser, UsageError, positive_int

PROG = "gradlab-bench"
#: repetitions, calls per repetition and triad length: full run and ``--quick``.
DEFAULTS = {"reps": 7, "calls": 5, "triad": 1 << 25}
QUICK = {"reps": 3, "calls": 2, "triad": 1 << 16}
#: ``--quick``'s default optimizers (a few seconds of compiling on one core).
QUICK_OPTIMIZERS = ("sgd", "adam")


def build_parser() -> argparse.ArgumentParser:
    """The command's flags."""
    from gradlab.bench.suites import CLASSICS
    from gradlab.bench.trees import SHAPES

    parser = Parser(
        prog=PROG,
        description=(
            "Time gradlab's optimizer steps against optax's on this device (jitted, donated, "
            "interleaved) and report step and compile times, XLA's bytes accessed, state "
            "sizes and the fraction of the device's bandwidth reached."
        ),
    )
    parser.add_argument(
        "--optimizers",
        help="comma-separated aliases present in gradlab and optax (default: the nine classics, "
        f"{', '.join(CLASSICS)}; --quick: {', '.join(QUICK_OPTIMIZERS)})",
    )
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help=f"comma-separated subset of {', '.join(SHAPES)}"
    )
    parser.add_argument("--reps", type=positive_int, help="interleaved repetitions (median)")
    parser.add_argument("--calls", type=positive_int, help="calls per repetition")
    parser.add_argument("--wrappers", action="store_true", help="also time the wrappers suite")
    parser.add_argument("--flat", action="store_true", help="also time the flat path")
    parser.add_argument("--all", action="store_true", help="--wrappers and --flat")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--note", default="", help="a line to put in the table's header")
    parser.add_argument(
        "--quick", action="store_true", help="tiny trees and few repetitions (what tests run)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


class Config(NamedTuple):
    """The settings of one run, from :func:`parse_config`.

    Args:
      optimizers: alias names, in order.
      shapes: tree shapes, in order.
      reps: interleaved repetitions per comparison.
      calls: calls per contender per repetition.
      triad: float32 elements of the bandwidth probe.
      wrappers: run the wrappers suite.
      flat: run the flat-path suite.
      quick: tiny sizes.
      json: the JSON output path, or None.
      note: a header line for the table.
      progress: ``progress(message)``, called after each row.
    """

    optimizers: tuple[str, ...]
    shapes: tuple[str, ...]
    reps: int
    calls: int
    triad: int
    wrappers: bool
    flat: bool
    quick: bool
    json: pathlib.Path | None
    note: str
    progress: Callable[[str], None]

    def summary(self) -> dict[str, Any]:
        """The JSON-ready settings."""
        keys = ("optimizers", "shapes", "reps", "calls", "triad", "wrappers", "flat", "quick")
        values = {k: getattr(self, k) for k in keys}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _split(flag: str, text: str, allowed: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UsageError(f"argument {flag}: give at least one name")
    if allowed is not None:
        bad = [n for n in names if n not in allowed]
        if bad:
            raise UsageError(
                f"argument {flag}: unknown {', '.join(map(repr, bad))}; choose from "
                f"{', '.join(allowed)}"
            )
    return names


def parse_config(argv: Sequence[str]) -> Config:
    """The :class:`Config` of a command line; raises :class:`UsageError` on a bad value.

    >>> config = parse_config(["--quick", "--optimizers", "adam,sgd", "--shapes", "one-leaf"])
    >>> config.optimizers, config.shapes, config.reps
    (('adam', 'sgd'), ('one-leaf',), 3)
    """
    from gradlab.bench.suites import CLASSICS, available_optimizers
    from gradlab.bench.trees import SHAPES

    args = build_parser().parse_args(list(argv))
    sizes = QUICK if args.quick else DEFAULTS
    quiet = args.quiet

    def progress(message: str) -> None:
        if not quiet:
            print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    return Config(
        optimizers=_split(
            "--optimizers",
            args.optimizers or ",".join(QUICK_OPTIMIZERS if args.quick else CLASSICS),
            available_optimizers(),
        ),
        shapes=_split("--shapes", args.shapes, SHAPES),
        reps=args.reps or sizes["reps"],
        calls=args.calls or sizes["calls"],
        triad=sizes["triad"],
        wrappers=args.wrappers or args.all,
        flat=args.flat or args.all,
        quick=args.quick,
        json=pathlib.Path(args.json) if args.json else None,
        note=args.note,
        progress=progress,
    )


def device_info() -> dict[str, Any]:
    """The backend, device kind and count, CPU count and library versions."""
    import jax
    import optax

    import gradlab

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "kind": devices[0].device_kind,
        "count": len(devices),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "gradlab": getattr(gradlab, "__version__", "unknown"),
    }


def run(config: Config) -> dict[str, Any]:
    """Runs the suites; returns the JSON-ready results (``device``, ``triad``, ``rows``, ...)."""
    from gradlab.bench import measure, suites

    start = time.perf_counter()
    triad = measure.triad_bandwidth(config.triad, reps=config.reps)
    config.progress(f"triad bandwidth {triad['bytes_per_s'] / 1e9:.1f} GB/s")
    bandwidth = triad["bytes_per_s"]
    rows = suites.optimizer_rows(config, bandwidth)
    if config.wrappers:
        rows += suites.wrapper_rows(config, bandwidth)
    if config.flat:
        rows += suites.flat_rows(config, bandwidth)
    return {
        "device": device_info(),
        "triad": triad,
        "config": config.summary(),
        "note": config.note,
        "rows": rows,
        "total_s": time.perf_counter() - start,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status (0 done, 1 optax missing, 2 bad flags).

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
      The exit status.
    """
    try:
        import optax  # noqa: F401 - the reference must be importable
    except ImportError:
        print(f"{PROG}: needs optax, the reference; pip install optax", file=sys.stderr)
        return 1
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help
        return exit_.code if isinstance(exit_.code, int) else 0
    from gradlab.bench import report

    results = run(config)
    print(report.markdown(results))
    if config.json is not None:
        config.json.parent.mkdir(parents=True, exist_ok=True)
        config.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        config.progress(f"wrote {config.json}")
    return 0


__all__ = ["Config", "UsageError", "build_parser", "device_info", "main", "parse_config", "run"]

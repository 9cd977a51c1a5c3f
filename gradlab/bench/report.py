"""The benchmark's outputs: a markdown table per suite and the JSON document."""

from __future__ import annotations

from typing import Any

HEADER = (
    "| suite | name | shape | leaves | params | gradlab step | optax step | step ratio "
    "| gradlab compile | optax compile | compile ratio | gradlab words/param "
    "| optax words/param | gradlab state | optax state | gradlab BW frac | optax BW frac |"
)


def _time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} us"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown: a header on the device, then one table of all rows.

    Args:
      results: the JSON document made by :func:`gradlab.bench.cli.run`.

    Returns:
      The markdown text.

    >>> print(markdown({"device": {"backend": "cpu", "kind": "cpu", "count": 1},
    ...     "triad": {"bytes_per_s": 1e10, "n_elements": 8}, "config": {"reps": 1, "calls": 1},
    ...     "rows": []}).splitlines()[0])
    # gradlab vs optax: optimizer step benchmark (cpu)
    """
    device, triad, config = results["device"], results["triad"], results["config"]
    lines = [
        f"# gradlab vs optax: optimizer step benchmark ({device['backend']})",
        "",
        f"Device: {device['kind']} x{device['count']} ({device['backend']}); "
        f"triad bandwidth (jitted in-place `y = a*x + y`, {_count(triad['n_elements'])} float32): "
        f"{triad['bytes_per_s'] / 1e9:.1f} GB/s. Medians of {config['reps']} interleaved "
        f"repetitions of {config['calls']} calls; jitted, params and state donated.",
    ]
    if results.get("note"):
        lines += ["", results["note"]]
    lines += [
        "",
        "Step ratio and compile ratio are gradlab / optax (below 1: gradlab faster). Words/param: "
        "XLA's `bytes accessed` / 4 / params. BW frac: (3 x params + 2 x state bytes) / step "
        "time, as a fraction of the triad bandwidth.",
        "",
        HEADER,
        "|" + "---|" * (HEADER.count("|") - 1),
    ]
    for row in results["rows"]:
        g, o = row["gradlab"], row["optax"]
        lines.append(
            f"| {row['suite']} | {row['name']} | {row['shape']} | {row['n_leaves']} "
            f"| {_count(row['n_params'])} | {_time(g['step_s'])} | {_time(o['step_s'])} "
            f"| {row['step_ratio']:.2f} | {_time(g['compile_s'])} | {_time(o['compile_s'])} "
            f"| {row['compile_ratio']:.2f} | {g['words_per_param']:.1f} "
            f"| {o['words_per_param']:.1f} | {_bytes(g['state_bytes'])} "
            f"| {_bytes(o['state_bytes'])} | {g['bandwidth_fraction']:.2f} "
            f"| {o['bandwidth_fraction']:.2f} |"
        )
    return "\n".join(lines) + "\n"


__all__ = ["HEADER", "markdown"]

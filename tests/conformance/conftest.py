"""Classifies each optax test run against gradlab and prints the per-file summary.

Outcomes, per optax test:

* ``passed`` / ``failed``: the test reached only names gradlab offers (and optax's helpers);
* ``deliberate``: it failed and matches an entry of ``differences.DIFFERENCES`` (shown as xfail);
* ``stale``: it matches an entry but passed (reported in the summary, not a failure);
* ``not applicable``: it reached an optax object gradlab does not offer, or no gradlab name at
  all (it would only test optax) (shown as skipped, with the names);
* ``skipped``: optax's own ``skipTest`` (e.g. complex dtypes for some optimizers);
* ``slow``: listed in ``SLOW`` below, not run unless ``GRADLAB_CONFORMANCE_ALL=1``.

A test with ``subTest`` blocks gets one result per block (as pytest reports them); its row in
the summary takes the most telling one (failed > deliberate > stale > passed > skipped > n/a).

The summary is printed at the end of the run and written as JSON to
``$GRADLAB_CONFORMANCE_JSON`` (default: ``<tmp>/gradlab-conformance.json``).
"""

from __future__ import annotations

import collections
import fnmatch
import json
import os
import pathlib
import tempfile

import jax
import pytest

from tests.conformance import harness
from tests.conformance.differences import DIFFERENCES

_RESULTS: dict[str, dict] = {}  # nodeid -> result row, in the process that runs the test
ROW_PROPERTY = "gradlab_conformance_row"  # the report's user property that carries the row


def _optax_test(item: pytest.Item) -> tuple[str, str] | None:
    """(file, "<file>::<Class>::<test>") for an optax test item, else None."""
    cls = getattr(item, "cls", None)
    if cls is None or harness.LOADER is None:
        return None
    rel = harness.LOADER.files.get(cls.__module__)
    if rel is None:
        return None
    return rel, f"{rel}::{cls.__name__}::{item.name}"


def _match(table: dict[str, str], test_id: str, params: str = "") -> tuple[str, str] | None:
    """The (pattern, reason) of ``table`` matching ``test_id`` or ``"test_id params"``."""
    keys = (test_id, f"{test_id} {params}") if params else (test_id,)
    for pattern, reason in table.items():
        if any(fnmatch.fnmatchcase(key, pattern) for key in keys):
            return pattern, reason
    return None


def _difference(test_id: str, params: str = "") -> tuple[str, str] | None:
    return _match(DIFFERENCES, test_id, params)


# Tests not run by default because they take too long for the suite's time budget (they use
# gradlab names; `GRADLAB_CONFORMANCE_ALL=1` runs them too).
SLOW: dict[str, str] = {
    "transforms/_accumulation_test.py::AccumulationTest::test_multi_steps_mixed_precision*": (
        "~35 s each: 9 dtype pairs x 5 eager steps of a flax model (as slow under optax itself)"
    ),
}


def pytest_collection_modifyitems(config, items):
    run_all = os.environ.get("GRADLAB_CONFORMANCE_ALL") == "1"
    reachable: dict[str, bool] = {}
    for item in items:
        ids = _optax_test(item)
        if ids is None:
            continue
        rel, test_id = ids
        if rel not in reachable:
            dotted = "optax." + rel.removesuffix(".py").replace("/", ".")
            reachable[rel] = bool(harness.LOADER.reachable_gradlab_names(dotted))
        if not reachable[rel]:
            reason = f"not applicable: optax/{rel} reaches no name gradlab offers"
            item.add_marker(pytest.mark.skip(reason=reason))
        elif label := harness.LOADER.unconditional_optax_only(item.cls, item.name):
            reason = f"not applicable: uses {label}, which gradlab does not offer (from its source)"
            item.add_marker(pytest.mark.skip(reason=reason))
        elif not run_all and (slow := _match(SLOW, test_id)):
            item.add_marker(pytest.mark.skip(reason=f"slow (not run): {slow[1]}"))


@pytest.fixture(autouse=True)
def _conformance_context(request):
    """Records the optax names the test reaches; runs it under optax's jax defaults."""
    if _optax_test(request.node) is None:
        yield
        return
    saved = dict(jax.config.values)  # optax's tests set flags (jax_enable_x64, ...): restored
    # optax's tests are written for jax's default "allow"; tests/conftest.py sets "raise".
    jax.config.update("jax_numpy_rank_promotion", "allow")
    request.node._conformance_record = harness.begin_test()
    try:
        yield
    finally:
        harness.end_test()
        for flag, value in saved.items():
            if jax.config.values.get(flag) != value:
                jax.config.update(flag, value)


def _skip(report: pytest.TestReport, rel: str, reason: str) -> None:
    report.outcome = "skipped"
    path = harness.LOADER.root / rel if harness.LOADER else rel
    report.longrepr = (str(path), 0, f"Skipped: {reason}")


def _params(item: pytest.Item) -> str:
    """absl's repr of a parameterized test's arguments ('' if none or named)."""
    return getattr(getattr(item, "obj", None), "__x_params_repr__", "") or ""


def _classify(report, rel: str, test_id: str, params: str, names: harness.Record):
    """(status, reason) of one report (a test's own part or one subtest); adjusts the report."""
    if report.skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith("not applicable"):
            return "not applicable", reason
        if not names.gradlab:
            return "not applicable", f"not applicable: optax skips it ({reason})"
        return "skipped", reason
    status = "failed" if report.failed else "passed"
    if names.optax_only:
        was = " (it failed, on optax's objects)" if status == "failed" else ""
        reason = "not applicable: uses " + ", ".join(sorted(names.optax_only)) + was
        _skip(report, rel, reason)
        return "not applicable", reason
    if not names.gradlab:
        was = "; it fails with optax alone" if status == "failed" else ""
        reason = f"not applicable: reaches no name gradlab offers{was}"
        _skip(report, rel, reason)
        return "not applicable", reason
    entry = _difference(test_id, params)
    if entry is None:
        return status, ""
    pattern, why = entry
    if status == "failed":
        report.outcome = "skipped"
        report.wasxfail = f"deliberate difference: {why}"
        return "deliberate", why
    # A listed test (or one subtest of it) that passes stays passed: the summary lists it as
    # stale, so the entry can be narrowed or removed, but it does not fail the run.
    reason = f"differences.py lists it as {pattern!r} but it passes: narrow or remove the entry"
    return "stale", reason


# How a test's parts (its own body, each subtest) combine into the test's one status.
_RANK = ["failed", "deliberate", "stale", "passed", "skipped", "slow", "not applicable"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    ids = _optax_test(item)
    if ids is None or report.when == "teardown":
        return report
    rel, test_id = ids
    params = _params(item)
    row = _RESULTS.setdefault(
        item.nodeid,
        {
            "file": rel,
            "test": test_id,
            "params": params,
            "status": "not applicable",
            "reason": "",
            "seconds": 0.0,
            "gradlab_names": [],
            "optax_only_names": [],
        },
    )
    if report.when == "setup":
        if not report.skipped:
            return report
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        status = "skipped"
        if reason.startswith(("not applicable", "slow")):
            status = "not applicable" if reason.startswith("not") else "slow"
    else:
        names = (
            harness.visible()
            if harness.in_subtest()
            else getattr(item, "_conformance_record", harness.Record())
        )
        status, reason = _classify(report, rel, test_id, params, names)
        if status == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash else str(report.longrepr).splitlines()[-1]
            row.setdefault("errors", []).append(message[:300])
        row["gradlab_names"] = sorted(set(row["gradlab_names"]) | names.gradlab)
        row["optax_only_names"] = sorted(set(row["optax_only_names"]) | names.optax_only)
        row["seconds"] = round(row["seconds"] + report.duration, 3)
    parts = row.setdefault("parts", [])
    parts.append(status)
    if _RANK.index(status) <= _RANK.index(row["status"]) or len(parts) == 1:
        row.update(status=status, reason=reason)
    # The row travels with the report, so that the process printing the summary (pytest-xdist's
    # controller, or this one) sees every worker's rows: the root conftest.py collects them.
    report.user_properties.append((ROW_PROPERTY, json.dumps(row)))
    return report


def _summary(results: dict[str, dict]) -> dict:
    files: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for row in results.values():
        files[row["file"]][row["status"]] += 1
    used = {
        pattern
        for row in results.values()
        if (entry := _difference(row["test"], row.get("params", "")))
        for pattern in [entry[0]]
    }
    return {
        "files": {rel: dict(counts) for rel, counts in sorted(files.items())},
        "tests": sorted(results.values(), key=lambda r: r["test"]),
        "unmatched_differences": sorted(set(DIFFERENCES) - used),
    }


def write_summary(terminalreporter, results: dict[str, dict]) -> None:
    """Prints the per-file table and writes the per-test JSON (called by the root conftest.py
    with the rows of every process)."""
    summary = _summary(results)
    path = pathlib.Path(
        os.environ.get("GRADLAB_CONFORMANCE_JSON")
        or pathlib.Path(tempfile.gettempdir()) / "gradlab-conformance.json"
    )
    path.write_text(json.dumps(summary, indent=1))
    columns = ("passed", "failed", "deliberate", "stale", "not applicable", "skipped", "slow")
    tr = terminalreporter
    tr.section("optax conformance (optax's own tests run against gradlab)")
    tr.write_line(f"{'file':44s}" + "".join(f"{c:>16s}" for c in columns))
    totals: collections.Counter = collections.Counter()
    for rel, counts in summary["files"].items():
        totals.update(counts)
        tr.write_line(f"{rel:44s}" + "".join(f"{counts.get(c, 0):16d}" for c in columns))
    tr.write_line(f"{'total':44s}" + "".join(f"{totals.get(c, 0):16d}" for c in columns))
    for row in summary["tests"]:
        if row["status"] in ("failed", "stale"):
            names = ", ".join(row["gradlab_names"])
            tr.write_line(f"{row['status'].upper():8s} {row['test']}  [{names}]")
    for pattern in summary["unmatched_differences"]:
        tr.write_line(f"differences.py entry matched no test in this run: {pattern!r}")
    tr.write_line(f"per-test JSON: {path}")

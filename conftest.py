"""Root conftest: gathers the optax conformance rows from every test process and prints their
summary once, at the end (with pytest-xdist the tests run in workers; this runs in the
controller, which sees every report)."""

from __future__ import annotations

import json

_ROWS: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    for key, value in getattr(report, "user_properties", ()):
        if key == "gradlab_conformance_row":
            _ROWS[report.nodeid] = json.loads(value)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _ROWS:
        from tests.conformance.conftest import write_summary

        write_summary(terminalreporter, _ROWS)

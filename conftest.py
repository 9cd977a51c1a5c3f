"""Root conftest: gathers the optax conformance rows from every test process and prints their
summary once, at the end (with pytest-xdist the tests run in workers; this runs in the
controller, which sees every report)."""

from __future__ import annotations

import json

import pytest

_ROWS: dict[str, dict] = {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Groups the tests for pytest-xdist's ``--dist loadgroup`` (pyproject's addopts).

    Every test file is one group (its module fixtures run once, as with ``loadfile``), except
    the optax conformance file, which holds a third of the suite's time: there each optax test
    class is a group, so its classes spread over the workers instead of keeping one busy.
    """
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = path
        cls = getattr(item, "cls", None)
        if path.endswith("conformance/test_optax_suite.py") and cls is not None:
            group = f"{path}::{cls.__module__}.{cls.__name__}"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_runtest_logreport(report):
    for key, value in getattr(report, "user_properties", ()):
        if key == "gradlab_conformance_row":
            _ROWS[report.nodeid] = json.loads(value)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _ROWS:
        from tests.conformance.conftest import write_summary

        write_summary(terminalreporter, _ROWS)

"""Collects the TestCase classes of every optax test file, loaded with gradlab's names swapped in.

Each class appears here as ``<file>.<Class>``, e.g. ``_src.alias_test.AliasTest``; the files
are read from the installed optax package when this module is imported (see ``harness.py``).
A file that cannot be loaded fails ``test_every_file_loads``.
"""

import traceback
import unittest

import pytest

from tests.conformance import harness

_LOADER = harness.loader()
_LOAD_ERRORS: dict[str, str] = {}

for _dotted in _LOADER.test_modules():
    _key = _dotted.removeprefix("optax.")
    try:
        _module = _LOADER.load(_dotted)
    except Exception:  # reported by test_load below
        _LOAD_ERRORS[_LOADER.relpath(_dotted)] = traceback.format_exc()
        continue
    for _name, _obj in vars(_module).items():
        if (
            isinstance(_obj, type)
            and issubclass(_obj, unittest.TestCase)
            and _obj.__module__ == _module.__name__
        ):
            globals()[f"{_key}.{_name}"] = _obj


def test_every_file_loads():
    """Every optax test file loads with the shims in place."""
    details = "\n".join(f"optax/{rel}:\n{tb}" for rel, tb in sorted(_LOAD_ERRORS.items()))
    assert not _LOAD_ERRORS, f"optax test files that failed to load:\n{details}"


def test_shims_swap_only_offered_names():
    """A shim answers gradlab's object for an offered name and optax's for any other."""
    import inspect

    import optax

    import gradlab

    def same(a, b):  # import-time lookups come back wrapped (functools.wraps)
        return inspect.unwrap(a) is inspect.unwrap(b)

    shim = _LOADER.module(optax)
    assert same(shim.adam, gradlab.adam)
    assert same(shim.schedules.linear_schedule, gradlab.linear_schedule)
    assert shim.tree is optax.tree  # a helper module stays optax's
    assert same(shim.bias_correction, optax.bias_correction)  # same name, other meaning
    assert same(shim.fromage, optax.fromage)  # not offered
    record = harness.begin_test()
    try:
        with pytest.raises(harness.NotApplicable, match="optax.fromage"):
            shim.fromage(1e-3)
        assert shim.sgd(0.1) is not None and record.gradlab == {"sgd"}
    finally:
        harness.end_test()


def test_readme_shows_every_deliberate_difference():
    """README's "Migrating from optax" section lists each entry of differences.DIFFERENCES."""
    import pathlib

    from tests.conformance.differences import DIFFERENCES

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    start = readme.find("Migrating from optax")
    if start < 0:
        pytest.skip("README has no 'Migrating from optax' section yet")
    missing = [pattern for pattern in DIFFERENCES if pattern not in readme[start:]]
    assert not missing, (
        "README's 'Migrating from optax' section lacks these deliberate differences "
        f"(python -m tests.conformance.differences prints the table): {missing}"
    )

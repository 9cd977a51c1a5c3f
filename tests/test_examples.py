"""The README's demo runs and learns."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_learns_digits(capsys):
    pytest.importorskip("sklearn")
    accuracy = load("quickstart").main(epochs=4)
    assert accuracy > 0.85
    assert "test accuracy" in capsys.readouterr().out

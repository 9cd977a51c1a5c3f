"""The AMSGrad counterexample (Reddi et al., 2018) and the optimizer-paths picture."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_adam_drifts_to_the_worst_point_and_amsgrad_to_the_optimum():
    example = load("amsgrad_counterexample")
    steps = 100_000  # a fraction of a second; the full run is 10^6 steps
    results = example.counterexample(steps)
    adam = results["Adam"]
    assert adam.final > 0.9  # measured +0.993: x = +1 has the largest regret
    assert adam.x[-example.PERIOD :].min() > 0.9  # over the whole last period, not just the end
    for name in ("AMSGrad (paper, Alg. 2)", "AMSGrad (gradlab default)"):
        traj = results[name]
        assert traj.final < -0.9, name  # measured -0.984 (Alg. 2), -0.944 (default)
        assert traj.x[-example.PERIOD :].max() < -0.9, name
        # Adam's average regret stays away from 0; AMSGrad's keeps falling
        assert traj.average_regret[-1] < 0.5 * adam.average_regret[-1], name
    assert adam.average_regret[-1] > 0.15  # about 2 * 10 / 101 = 0.198 at x = +1
    assert len(adam.x) == steps and np.all(np.abs(adam.x) <= 1.0)  # projected onto [-1, 1]


@pytest.mark.parametrize("name", ["amsgrad_counterexample", "optimizer_paths"])
def test_example_quick_run_writes_its_png(name, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{name}.png"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert str(out) in done.stdout


def test_the_committed_optimizer_paths_png_is_small():
    png = EXAMPLES.parent / "docs" / "optimizer_paths.png"
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size < 300_000

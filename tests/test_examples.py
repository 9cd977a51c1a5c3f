"""The examples run: the README's demo learns, and every example's ``--quick`` mode works.

The AMSGrad counterexample and the optimizer-paths picture are run in tests/test_counterexample.py.
"""

import contextlib
import importlib.util
import io
import math
import pathlib
import sys

import numpy as np
import pytest

import gradlab

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # registered while it runs: dataclasses (flax.linen modules) look their module up there
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def assert_png(path):
    path = pathlib.Path(path)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > len(PNG_MAGIC), path


def test_quickstart_learns_digits(capsys):
    pytest.importorskip("sklearn")
    accuracy = load("quickstart").main(epochs=4)
    assert accuracy > 0.85
    assert "test accuracy" in capsys.readouterr().out


def test_linen_train_state_logs_the_scheduled_learning_rate(capsys):
    pytest.importorskip("sklearn")
    example = load("flax_linen_train_state")
    result = example.main(["--quick"])
    schedule = example.lr_schedule(result.total_steps)
    steps = [step for step, _, _ in result.log]
    assert steps[0] == 10 and steps[-1] == result.total_steps and len(steps) >= 5
    for step, lr, _ in result.log:
        # the state holds the rate of the latest step, schedule(step - 1)
        assert lr == pytest.approx(float(schedule(step - 1)), rel=1e-6, abs=1e-12), step
    lrs = [lr for _, lr, _ in result.log]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > 10 * lrs[-1]  # the cosine decay
    assert max(lrs) <= example.PEAK_LR
    assert result.log[-1][2] < 0.5 * result.log[0][2]  # the loss falls
    assert result.accuracy > 0.8
    out = capsys.readouterr().out
    assert f"step    10  lr {lrs[0]:.3e}" in out and "test accuracy" in out


def test_nnx_optimizer_with_parameter_groups(capsys):
    pytest.importorskip("sklearn")
    example = load("flax_nnx")
    result = example.main(["--quick"])
    assert result.paths == {
        "hidden/bias": "bias$",
        "hidden/kernel": "^hidden/",
        "out/bias": "bias$",
        "out/kernel": "<default>",
    }
    # no weight decay on the biases; the other two groups decay
    assert "weight_decay" not in result.hyperparams["bias$"]
    assert result.hyperparams["^hidden/"]["weight_decay"] == pytest.approx(example.WEIGHT_DECAY)
    assert result.hyperparams["<default>"]["weight_decay"] == pytest.approx(example.WEIGHT_DECAY)
    total = result.total_steps
    schedule = gradlab.warmup_cosine_decay_schedule(
        0.0, example.PEAK_LR, total // 10, total, example.PEAK_LR / 100
    )
    assert len(result.log) >= 5
    for step, lrs, _ in result.log:
        expected = float(schedule(step - 1))
        assert lrs["<default>"] == pytest.approx(expected, rel=1e-6), step
        assert lrs["bias$"] == pytest.approx(expected, rel=1e-6), step
        assert lrs["^hidden/"] == pytest.approx(0.1 * expected, rel=1e-5), step  # 10x smaller
    assert result.log[-1][2] < result.log[0][2]
    assert result.accuracy > 0.6
    assert "test accuracy" in capsys.readouterr().out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The sweep example's module and its --quick run: (module, result, PNG, stdout)."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    example = load("hyperparameter_sweep_vmap")
    out = tmp_path_factory.mktemp("sweep")
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        result = example.main(["--quick", "--out", str(out)])
    return example, result, out / example.PNG, stdout.getvalue()


def test_hyperparameter_sweep_is_slow_when_small_and_diverges_when_large(sweep):
    example, result, png, stdout = sweep
    assert_png(png)
    assert str(png) in stdout and "best learning rate" in stdout
    lrs, final, diverged = result.learning_rates, result.final_loss, result.diverged
    assert len(lrs) == 32 and np.all(np.diff(np.log(lrs)) > 0)
    assert lrs[0] == pytest.approx(example.LR_MIN) and lrs[-1] == pytest.approx(example.LR_MAX)
    # too small: barely moved, and the loss falls as the rate grows
    assert final[0] > 0.9 * result.initial_loss
    assert np.all(np.diff(final[:10]) < 0)
    # too large: diverged (above the initial loss, or not finite), every rate past the threshold
    assert diverged[-1] and not diverged[:16].any()
    first_bad = int(np.argmax(diverged))
    assert diverged[first_bad:].all()
    # in between: the best rate is interior, just below the threshold, and learns a lot
    best = int(np.nanargmin(np.where(diverged, np.inf, final)))
    assert 10 < best < first_bad and first_bad - best <= 3
    assert final[best] < 0.05 * result.initial_loss
    assert result.best == lrs[best]
    assert result.curves.shape == (32, example.QUICK_STEPS)


def test_hyperparameter_sweep_set_in_state_equals_built_from_the_traced_rate(sweep):
    example, in_state, _, _ = sweep
    built = example.run(quick=True, build_inside=True)
    np.testing.assert_array_equal(in_state.curves, built.curves)
    np.testing.assert_array_equal(in_state.final_loss, built.final_loss)


def test_plot_schedules_quick_writes_its_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = load("plot_schedules").main(["--quick", "--out", str(tmp_path)])
    assert out == tmp_path / "schedules.png"
    assert_png(out)


def test_compose_variants_quick_descends_on_rosenbrock(capsys):
    example = load("compose_variants")
    finals = example.main(["--quick"])
    start = float(example.rosenbrock(np.array([-1.2, 1.0], np.float32)))  # 24.2
    assert len(finals) == 4
    for name, value in finals.items():
        assert math.isfinite(value) and value < 0.1 * start, name
    assert "amsgrad + nesterov" in capsys.readouterr().out


def test_checkpointing_quick_resumes_bit_for_bit_in_a_new_process(tmp_path, capsys):
    pytest.importorskip("orbax.checkpoint")
    example = load("checkpointing")
    argv = ["--quick", "--out", str(tmp_path), "--steps", "3", "--optimizers", "sgd_nesterov"]
    assert example.main(argv) == {"sgd_nesterov": True}
    assert sorted(p.name for p in (tmp_path / "sgd_nesterov").iterdir()) == ["3", "6"]
    assert "bit-identical" in capsys.readouterr().out


def test_every_example_has_a_quick_mode_and_a_test():
    tests = "".join(
        (EXAMPLES.parent / "tests" / f).read_text()
        for f in ("test_examples.py", "test_counterexample.py", "test_parallel.py")
    )
    for path in sorted(EXAMPLES.glob("*.py")):
        assert '"--quick"' in path.read_text(), f"{path.name} has no --quick flag"
        assert f'"{path.stem}"' in tests or f'"{path.name}"' in tests, (
            f"{path.name} is run by no test"
        )

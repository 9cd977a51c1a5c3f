"""`python -m gradlab.demo`: it trains every optimizer, writes a table and plots, fails cleanly."""

import contextlib
import io
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from gradlab.demo import cli
from gradlab.demo.optimizers import (
    LEARNING_RATES,
    MODERN_LEARNING_RATES,
    MODERN_NAMES,
    NAMES,
    make_optimizer,
    parse_learning_rates,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("digits_loss.png", "digits_accuracy.png", "svm.png", "regression.png")
EXTRAS = ("flax", "sklearn", "matplotlib", "tqdm")


def main(argv):
    """Runs cli.main in-process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def entry_point(tmp_path_factory):
    """`python -m gradlab.demo --quick --optimizers adam`, started in the background.

    It runs in a second process while the in-process run (`quick`) uses the other core; the
    test that reads it waits for it. Yields (process, output folder).
    """
    for module in EXTRAS:
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("entry")
    command = [sys.executable, "-m", "gradlab.demo", "--quick", "--optimizers", "adam"]
    command += ["--lr", "adam=3e-3", "--no-progress", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield process, out
    if process.poll() is None:  # a failed test left it running
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def quick(entry_point, tmp_path_factory):
    """One in-process `--quick --json` run of every optimizer: (results, stdout, stderr, out)."""
    out = tmp_path_factory.mktemp("demo") / "output"
    status, stdout, stderr = main(["--quick", "--json", "--out", str(out)])
    assert status == 0, stderr
    return json.loads(stdout), stdout, stderr, out


def all_runs(results):
    return [run for part in ("digits", "svm", "regression") for run in results[part]["runs"]]


def test_json_has_every_optimizer(quick):
    results, stdout, _, out = quick
    assert [run["name"] for run in results["digits"]["runs"]] == list(NAMES)
    assert results["learning_rates"] == LEARNING_RATES
    assert stdout.count("\n") == 1  # one JSON object, nothing else on stdout
    assert json.loads((out / "results.json").read_text()) == results
    assert not os.path.isabs(results["output_dir"])  # relative to the working directory
    assert pathlib.Path(results["output_dir"]).resolve() == out.resolve()


def test_every_run_lowers_its_loss(quick):
    results = quick[0]
    assert len(all_runs(results)) == len(NAMES) + 5
    for run in all_runs(results):
        assert run["final_loss"] < run["initial_loss"], run["name"]
        assert run["steps_per_s"] > 0 and run["compile_s"] > 0 and run["wall_s"] > 0
        assert run["curve"]["step"][0] == 0 and run["curve"]["step"][-1] == run["steps"]
    assert all(run["metric"] > 0.5 for run in results["digits"]["runs"])  # 40 steps: ~85%


def test_pngs_are_valid(quick):
    image = pytest.importorskip("matplotlib.image")
    out = quick[3]
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 10_000, name
        pixels = image.imread(out / name)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 300
    assert sorted(quick[0]["files"]) == sorted(["results.md", "results.json", *FIGURES])


def test_results_md_is_the_table(quick):
    results, _, stderr, out = quick
    table = (out / "results.md").read_text()
    for name in NAMES:
        assert f"| `{name}` |" in table
    for row in ("| `svm-hinge` |", "| LinearSVC (hinge) |", "| `huber` |", "| `l1` |"):
        assert row in table
    assert "compile (s)" in table and "steps/s" in table
    assert f"to {os.path.join(str(out.resolve()), '')}" in stderr  # the path, off stdout
    assert "step/s" in stderr  # tqdm's bars, on stderr


def test_quick_losses_claims(quick):
    """Already at --quick: Huber beats L2 under outliers, the hinge SVM matches LinearSVC."""
    results = quick[0]
    mae = {run["name"]: run["metric"] for run in results["regression"]["runs"]}
    assert mae["huber"] < mae["l2"] and mae["l1"] < mae["l2"]
    svm = {run["name"]: run["metric"] for run in results["svm"]["runs"]}
    svc = {ref["name"]: ref["metric"] for ref in results["svm"]["references"]}
    assert abs(svm["svm-hinge"] - svc["LinearSVC (hinge)"]) <= 0.02


def test_module_entry_point(entry_point, quick):
    process, out = entry_point
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "| `adam` | b1 0.9, b2 0.999 | 0.003 |" in stdout
    assert "Wrote results.md" in stdout and str(out) in stdout
    results = json.loads((out / "results.json").read_text())
    assert [run["name"] for run in results["digits"]["runs"]] == ["adam"]
    assert (out / "digits_loss.png").read_bytes()[:8] == PNG_SIGNATURE


def test_tables_printed_without_json(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")

    def fake_run(config):
        (config.out / "results.md").write_text("# gradlab demo results\n")
        return {"output_dir": str(config.out), "files": ["results.md"]}

    monkeypatch.setattr(cli, "run", fake_run)
    status, stdout, stderr = main(["--out", str(tmp_path / "new" / "dir")])
    assert status == 0 and stderr == ""
    assert "# gradlab demo results" in stdout and "Wrote results.md to" in stdout


def test_interrupt_exits_quietly(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    assert main(["--out", str(tmp_path)]) == (130, "", "gradlab-demo: interrupted\n")


@pytest.mark.parametrize("missing", EXTRAS)
def test_missing_extra_prints_the_install_command(tmp_path, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    status, stdout, stderr = main(["--quick", "--out", str(tmp_path / "out")])
    assert status == 1 and stdout == ""
    assert stderr.count("\n") == 1 and 'pip install -e ".[demo]"' in stderr
    assert cli.EXTRAS[missing] in stderr
    assert not (tmp_path / "out").exists()


def test_modules_import_without_the_extras():
    """Fresh interpreter, extras blocked: gradlab.demo.* imports, the command exits 1."""
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({EXTRAS!r}))\n"
        "import gradlab.demo, gradlab.demo.__main__, gradlab.demo.classification\n"
        "import gradlab.demo.losses_demo, gradlab.demo.plots, gradlab.demo.report\n"
        "from gradlab.demo import cli; sys.exit(cli.main(['--quick']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and 'pip install -e ".[demo]"' in done.stderr
    assert "Traceback" not in done.stderr


BAD_FLAGS = [
    (["--optimizers", "adamm"], "unknown optimizer 'adamm'"),
    (["--optimizers", ","], "at least one name"),
    (["--steps", "0"], "--steps: must be >= 1"),
    (["--steps", "-5"], "--steps: must be >= 1"),
    (["--steps", "ten"], "--steps: expected a whole number"),
    (["--batch-size", "0"], "--batch-size: must be >= 1"),
    (["--seed", "-1"], "--seed: must be in"),
    (["--seed", "x"], "--seed: expected a whole number"),
    (["--lr", "adam"], "--lr takes NAME=VALUE"),
    (["--lr", "=1"], "--lr takes NAME=VALUE"),
    (["--lr", "adan=1e-3"], "unknown optimizer 'adan'"),
    (["--lr", "adam=fast"], "'fast' is not a number"),
    (["--lr", "adam=-1e-3"], "must be a finite number > 0"),
    (["--lr", "adam=0"], "must be a finite number > 0"),
    (["--lr", "adam=nan"], "must be a finite number > 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS)
def test_bad_flag_is_one_error_line(argv, message):
    status, stdout, stderr = main(argv)
    assert status == 2 and stdout == ""
    assert stderr.startswith("gradlab-demo: error: ") and stderr.count("\n") == 1
    assert message in stderr


def test_unwritable_out_is_one_error_line(tmp_path):
    pytest.importorskip("sklearn")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, stdout, stderr = main(["--quick", "--out", str(blocker / "sub")])
    assert status == 2 and stdout == ""
    assert stderr.startswith("gradlab-demo: error: argument --out: cannot write to ")
    assert stderr.count("\n") == 1


def test_help_exits_zero():
    status, stdout, _ = main(["--help"])
    assert status == 0
    assert "--optimizers" in stdout and "adam=0.002" in stdout


def test_config_defaults_and_overrides():
    config = cli.parse_config([])
    assert config.optimizers == NAMES and config.steps == cli.DEFAULTS["steps"]
    assert config.out == pathlib.Path(cli.DEFAULT_OUT) and config.progress and not config.json
    config = cli.parse_config(["--quick", "--steps", "7", "--batch-size", "9", "--seed", "3"])
    assert (config.steps, config.batch_size, config.seed) == (7, 9, 3)
    assert config.convex_steps == cli.QUICK["convex_steps"]
    config = cli.parse_config(["--optimizers", "adam,sgd,adam", "--lr", "sgd=1", "--lr", "sgd=2"])
    assert config.optimizers == ("adam", "sgd") and config.learning_rates["sgd"] == 2.0
    assert LEARNING_RATES["sgd"] == 0.1  # the table itself is untouched


def test_fast_compile_falls_back_to_the_defaults():
    from gradlab.demo.training import FAST_COMPILE, compile_lowered

    class Lowered:
        def compile(self, options=None):
            if options is not None:
                raise RuntimeError("No such compile option")
            return "compiled with the defaults"

    assert compile_lowered(Lowered(), fast_compile=True) == "compiled with the defaults"
    assert FAST_COMPILE == {"xla_backend_optimization_level": 0}


def test_every_name_builds_an_optimizer():
    jnp = pytest.importorskip("jax.numpy")
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    grads = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    for name, rate in [*LEARNING_RATES.items(), *MODERN_LEARNING_RATES.items()]:
        tx = make_optimizer(name, rate, steps=10)
        state = tx.init(params)
        for _ in range(2):  # SOAP's first step is zero (it only builds its eigenbasis)
            updates, state = tx.update(grads, state, params)
        assert float(updates["w"][0, 0]) < 0 and float(updates["b"][0]) < 0, name  # descends
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adamm", 1e-3, steps=10)
    assert parse_learning_rates([]) == {}


@pytest.fixture(scope="module")
def modern(tmp_path_factory):
    """One in-process `--optimizers modern --quick --json` run: (results, output folder)."""
    for module in EXTRAS:
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("modern") / "output"
    argv = ["--optimizers", "modern", "--quick", "--json", "--no-progress", "--out", str(out)]
    status, stdout, stderr = main(argv)
    assert status == 0, stderr
    return json.loads(stdout), out


def test_modern_group_has_every_optimizer_with_finite_numbers(modern):
    results, out = modern
    runs = results["digits"]["runs"]
    assert [run["name"] for run in runs] == list(MODERN_NAMES)
    assert results["learning_rates"] == MODERN_LEARNING_RATES
    assert results["config"]["group"] == "modern" and results["digits"]["target"] == 0.95
    for run in runs:
        for key in ("metric", "initial_loss", "final_loss", "median_step_s", "compile_s"):
            assert math.isfinite(run[key]) and run[key] >= 0, (run["name"], key)
        assert run["median_step_s"] > 0 and run["steps"] == cli.QUICK["steps"]
        assert run["final_loss"] < run["initial_loss"], run["name"]
        assert run["metric"] > 3 * 0.1, run["name"]  # ten classes: chance is 10%
        reached = run["steps_to_target"]
        assert reached is None or 1 <= reached <= run["steps"], run["name"]
        if reached is not None:  # the first measured step at or above 95%
            at = run["curve"]["metric"][run["curve"]["step"].index(reached)]
            assert at >= 0.95
    assert json.loads((out / "results.json").read_text()) == results
    assert not os.path.isabs(results["output_dir"])


def test_modern_group_writes_its_table_and_plots(modern):
    results, out = modern
    assert sorted(results["files"]) == sorted(
        ["results.md", "results.json", "digits_loss.png", "digits_accuracy.png"]
    )
    for name in ("digits_loss.png", "digits_accuracy.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name
    table = (out / "results.md").read_text()
    for name in MODERN_NAMES:
        assert f"| `{name}` |" in table
    assert "| steps to 95% | median step (ms" in table and "LinearSVC" not in table


def test_modern_config_and_learning_rates():
    config = cli.parse_config(["--optimizers", "modern", "--lr", "lion=1e-4"])
    assert config.group == "modern" and config.optimizers == MODERN_NAMES
    assert config.learning_rates["lion"] == 1e-4
    assert config.learning_rates["adamw"] == MODERN_LEARNING_RATES["adamw"]
    assert cli.parse_config(["--optimizers", "adamw"]).learning_rates["adamw"] == 2e-3
    assert cli.parse_config(["--optimizers", "adamw"]).group == "classic"
    assert cli.parse_config(["--optimizers", "lion,sgd"]).group == "modern"
    assert MODERN_LEARNING_RATES["prodigy"] == 1.0  # learning-rate free


@pytest.mark.slow
def test_default_losses_claims():
    """The default (2000-step) SVM and regressions: the README's claims, with margin."""
    pytest.importorskip("sklearn")
    from gradlab.demo.losses_demo import run_regression, run_svm

    steps = cli.DEFAULTS["convex_steps"]
    runs, references = run_svm(steps=steps, progress=False)
    svm = {run.name: run.metric for run in runs}
    svc = {ref.name: ref.metric for ref in references}
    assert abs(svm["svm-hinge"] - svc["LinearSVC (hinge)"]) <= 0.02
    assert abs(svm["svm-sq-hinge"] - svc["LinearSVC (sq. hinge)"]) <= 0.02
    regression = run_regression(steps=steps, progress=False)
    mae = {run.name: run.metric for run in regression.runs}
    assert mae["huber"] < mae["l2"] - 5  # ~47 vs ~56 on the clean test targets
    assert mae["l1"] < mae["l2"]
    least_squares = regression.references[0].metric
    assert abs(mae["l2"] - least_squares) < 1.0  # gradlab's L2 fit is the least-squares fit


def test_modern_rates_are_the_sweeps_picks():
    from gradlab.demo.optimizers import MODERN_SWEEP
    from gradlab.demo.sweep import CANDIDATES, best

    assert best(MODERN_SWEEP) == MODERN_LEARNING_RATES
    assert {name: tuple(runs) for name, runs in MODERN_SWEEP.items()} == CANDIDATES

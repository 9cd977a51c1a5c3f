"""`python -m gradlab.bench`: the quick run's JSON, and no-op hyperparameters that cost no bytes."""

import contextlib
import io
import json

import jax
import jax.numpy as jnp
import pytest

import gradlab
from gradlab.bench import cli, measure

pytest.importorskip("optax")

SIDE_FIELDS = (
    "step_s",
    "compile_s",
    "bytes_accessed",
    "words_per_param",
    "must_move_bytes",
    "effective_bytes_per_s",
    "bandwidth_fraction",
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["--quick", "--json", str(path)])
    assert status == 0, err.getvalue()
    return json.loads(path.read_text()), out.getvalue()


def test_quick_json_fields(quick):
    results, _ = quick
    assert results["device"]["backend"] == jax.default_backend()
    assert results["triad"]["bytes_per_s"] > 0
    rows = results["rows"]
    assert {(r["name"], r["shape"]) for r in rows} == {
        (n, s) for n in cli.QUICK_OPTIMIZERS for s in ("one-leaf", "transformer", "many-leaves")
    }
    for row in rows:
        assert row["n_params"] > 0 and row["n_leaves"] > 0
        for side in ("gradlab", "optax"):
            for field in SIDE_FIELDS:
                assert row[side][field] > 0, (row["name"], side, field)
            assert row[side]["state_bytes"] >= 0
            assert row[side]["words_per_param"] == pytest.approx(
                row[side]["bytes_accessed"] / 4 / row["n_params"]
            )
        assert row["step_ratio"] == pytest.approx(row["gradlab"]["step_s"] / row["optax"]["step_s"])
        assert row["compile_ratio"] == pytest.approx(
            row["gradlab"]["compile_s"] / row["optax"]["compile_s"]
        )
    adam = next(r for r in rows if r["name"] == "adam" and r["shape"] == "many-leaves")
    params_bytes = 4 * adam["n_params"]
    assert adam["optax"]["state_bytes"] >= 2 * params_bytes  # two moments
    assert adam["gradlab"]["words_per_param"] >= 7  # g, p, p', m, m', v, v' at least


def test_json_config_records_the_settings_it_ran_with():
    """Each recorded setting is the run's own (the summary once paired keys with other fields)."""
    config = cli.parse_config(["--quick", "--wrappers", "--reps", "3", "--shapes", "one-leaf"])
    summary = config.summary()
    assert summary == {
        "optimizers": list(cli.QUICK_OPTIMIZERS),
        "shapes": ["one-leaf"],
        "reps": 3,
        "calls": config.calls,
        "triad": config.triad,
        "wrappers": True,
        "flat": False,
        "quick": True,
    }


def test_quick_prints_the_table(quick):
    _, stdout = quick
    assert stdout.startswith("# gradlab vs optax")
    assert "| optimizers | adam | many-leaves |" in stdout


def test_bad_flags_exit_2():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["--optimizers", "nosuch"]) == 2
        assert cli.main(["--shapes", "round"]) == 2
    assert "nosuch" in err.getvalue() and "round" in err.getvalue()


# --- a hyperparameter at its no-op value adds no bytes to the compiled step ---------------------

N = 1 << 14  # large enough that one param-sized read (64 kB) dwarfs any scalar


def step_bytes(tx):
    params = {"w": jnp.ones((N // 2,)), "b": jnp.ones((N // 2,))}
    grads = jax.tree.map(lambda p: p * 1e-2, params)
    state = tx.init(params)
    compiled = measure.compile_step(measure.optimizer_step(tx), (params, state), (grads,))
    return compiled.bytes_accessed


NO_OP_CASES = [
    pytest.param(
        lambda: gradlab.adamw(1e-3, weight_decay=0.0), lambda: gradlab.adam(1e-3), id="adamw-wd0"
    ),
    pytest.param(
        lambda: gradlab.nadamw(1e-3, weight_decay=0.0), lambda: gradlab.nadam(1e-3), id="nadamw-wd0"
    ),
    pytest.param(
        lambda: gradlab.adamaxw(1e-3, weight_decay=0.0),
        lambda: gradlab.adamax(1e-3),
        id="adamaxw-wd0",
    ),
    pytest.param(
        lambda: gradlab.sgd(1e-3, momentum=0.0), lambda: gradlab.sgd(1e-3), id="sgd-momentum0"
    ),
    pytest.param(
        lambda: gradlab.sgd(1e-3), lambda: gradlab.scale_by_learning_rate(1e-3), id="sgd-plain"
    ),
    pytest.param(
        lambda: gradlab.rmsprop(1e-3, momentum=0.0),
        lambda: gradlab.rmsprop(1e-3),
        id="rmsprop-momentum0",
    ),
    pytest.param(
        lambda: gradlab.adam(1e-3, eps_root=0.0), lambda: gradlab.adam(1e-3), id="adam-eps_root0"
    ),
    pytest.param(
        lambda: gradlab.adadelta(1e-3, weight_decay=0.0),
        # the same hyperparameters in the state, without the weight-decay stage
        lambda: gradlab.inject_hyperparams(
            lambda learning_rate, rho, eps: gradlab.chain(
                gradlab.scale_by_adadelta(rho, eps),
                gradlab.scale_by_learning_rate(learning_rate),
            )
        )(learning_rate=1e-3, rho=0.9, eps=1e-6),
        id="adadelta-wd0",
    ),
]


@pytest.mark.parametrize("make_no_op, make_baseline", NO_OP_CASES)
def test_no_op_hyperparameter_adds_no_bytes(make_no_op, make_baseline):
    """XLA's bytes accessed: the no-op setting costs at most a few scalars over the baseline."""
    extra = step_bytes(make_no_op()) - step_bytes(make_baseline())
    assert extra <= 64, f"{extra} more bytes (one param-sized read is {4 * N})"

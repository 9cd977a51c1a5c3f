"""Resuming from an Orbax checkpoint in a fresh process is bit-identical to not stopping.

For each optimizer of examples/checkpointing.py (adam on a warm-up + cosine schedule, sgd with
Nesterov momentum, apply_if_finite(adamw) with a NaN gradient every few steps): 2N jitted steps
straight must equal N steps, an Orbax save, a restore in a new Python process (one for all
three), and N more steps there, on every leaf of the params and of the optimizer state.
"""

import importlib.util
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

import gradlab

ocp = pytest.importorskip("orbax.checkpoint")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
N = 12  # the NaN gradients (steps 3, 10, 17) fall before and after the checkpoint


def load(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ck = load("checkpointing")


def assert_bit_identical(actual, expected, what):
    assert jax.tree.structure(actual) == jax.tree.structure(expected), what
    leaves = jax.tree_util.tree_leaves_with_path(expected)
    assert len(leaves) > 0
    for (path, want), got in zip(leaves, jax.tree.leaves(actual), strict=True):
        where = f"{what}{jax.tree_util.keystr(path)}"
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype, where
        assert got.shape == want.shape, where
        np.testing.assert_array_equal(got, want, err_msg=where)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """2N steps straight and N steps saved at N, per optimizer: (root, straight, middle)."""
    root = tmp_path_factory.mktemp("checkpoints")
    straight, middle = {}, {}
    for name in ck.OPTIMIZERS:
        tx, step = ck.make_step(name)  # one jitted step for the straight and the split run
        params, _ = ck.make_problem()  # the step donates its params: a fresh copy per run
        straight[name] = ck.train(step, params, tx.init(params), 0, 2 * N)
        params, _ = ck.make_problem()
        middle[name] = ck.train(step, params, tx.init(params), 0, N)
        ck.save(root / name, N, *middle[name])
    return root, straight, middle


def test_resume_in_a_fresh_process_is_bit_identical(runs):
    tmp_path, straight, middle = runs

    # a new process restores all three, runs N more steps and saves at 2N
    command = [sys.executable, str(EXAMPLES / "checkpointing.py"), "--resume"]
    command += ["--out", str(tmp_path), "--steps", str(N)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ck.OPTIMIZERS:
        assert f"{name}: resumed at step {N}, saved step {2 * N}" in done.stdout

    for name, make in ck.OPTIMIZERS.items():
        tx = make()
        params, opt_state, at = ck.restore(tmp_path / name, tx)
        assert at == 2 * N
        assert_bit_identical(params, straight[name][0], f"{name} params")
        assert_bit_identical(opt_state, straight[name][1], f"{name} opt_state")
        # the checkpoint at N round-trips too, and is not the start: the run really resumed
        mid_params, mid_state, _ = ck.restore(tmp_path / name, tx, step=N)
        assert_bit_identical((mid_params, mid_state), middle[name], f"{name} at step {N}")
        start, _ = ck.make_problem()
        assert not np.array_equal(mid_params["w1"], start["w1"])
        assert not np.array_equal(params["w1"], mid_params["w1"])


def test_restored_states_keep_their_named_tuples_and_counters(runs):
    root = runs[0]

    def restore(name):
        return ck.restore(root / name, ck.OPTIMIZERS[name](), step=N)[1]

    adam_state = restore("adam_schedule")
    assert isinstance(adam_state, gradlab.InjectState)
    assert int(adam_state.count) == N
    schedule = gradlab.warmup_cosine_decay_schedule(0.0, 1e-2, warmup_steps=5, decay_steps=150)
    lr = gradlab.hyperparams(adam_state)["learning_rate"]
    assert float(lr) == pytest.approx(float(schedule(N - 1)), rel=1e-6)
    sgd_state = restore("sgd_nesterov")
    assert float(gradlab.hyperparams(sgd_state)["momentum"]) == pytest.approx(0.9)
    finite = restore("finite_adamw")
    assert isinstance(finite, gradlab.ApplyIfFiniteState)
    assert isinstance(finite.inner_state, gradlab.InjectState)
    # steps 3 and 10 of 0..11 had NaN gradients: skipped, counted, not applied
    assert int(finite.total_notfinite) == 2 and int(finite.inner_state.count) == N - 2
    assert bool(finite.last_finite) and finite.last_finite.dtype == np.bool_

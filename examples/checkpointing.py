"""Checkpoint params and optimizer state with Orbax, resume in a new process, bit for bit.

Three optimizers train a small MLP on fixed data (float32, full batch, so every step is
deterministic): ``adam`` on a warm-up + cosine schedule, ``sgd`` with Nesterov momentum, and
``apply_if_finite(adamw)``, whose gradient is NaN every ``NAN_EVERY`` steps (those steps are
skipped and counted in its state). For each one this script

1. trains ``2N`` steps straight;
2. trains ``N`` steps from the same start and saves ``{"params", "opt_state"}`` with an
   ``orbax.checkpoint.CheckpointManager`` (``ocp.args.StandardSave``);
3. starts a **new Python process** (this file with ``--resume``) that restores the latest
   checkpoint, trains ``N`` more steps and saves again;
4. restores that final checkpoint and checks it equals the straight run, every leaf of the
   params and of the optimizer state, bit for bit, dtypes and tree structure included.

Restoring needs the target structure: ``ocp.args.StandardRestore(abstract)`` with
``abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, tx.init(params))``, so the
optimizer state comes back as the same NamedTuples (``InjectState``, ``ApplyIfFiniteState``,
...) instead of nested dicts. A gradlab state holds arrays only, plus ``None`` and empty
containers that Orbax keeps as they are.

Run from the repository root::

    python examples/checkpointing.py                   # N = 50, checkpoints in a temporary folder
    python examples/checkpointing.py --quick --out /tmp/ckpt    # N = 10, checkpoints under --out
    python examples/checkpointing.py --resume --out /tmp/ckpt --steps 10    # phase 3 alone
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import gradlab

STEPS, QUICK_STEPS = 50, 10  # N: steps before the checkpoint, and after it
NAN_EVERY = 7  # apply_if_finite's run sees a NaN gradient at steps 3, 10, 17, ...

Params = dict[str, jax.Array]
OPTIMIZERS: dict[str, Callable[[], gradlab.GradientTransformation]] = {
    "adam_schedule": lambda: gradlab.adam(
        gradlab.warmup_cosine_decay_schedule(0.0, 1e-2, warmup_steps=5, decay_steps=150)
    ),
    "sgd_nesterov": lambda: gradlab.sgd(0.05, momentum=0.9, nesterov=True),
    "finite_adamw": lambda: gradlab.apply_if_finite(
        gradlab.adamw(3e-3, weight_decay=1e-2), max_consecutive_errors=2
    ),
}
POISONED = {"finite_adamw"}  # the runs whose gradient is NaN every NAN_EVERY steps


def make_problem() -> tuple[Params, tuple[jax.Array, jax.Array]]:
    """Initial params of an 8-32-1 tanh MLP and fixed regression data, all float32."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = np.sin(x @ rng.normal(size=(8, 1))).astype(np.float32)
    params = {
        "w1": rng.normal(size=(8, 32)).astype(np.float32) / np.float32(np.sqrt(8)),
        "b1": np.zeros(32, np.float32),
        "w2": rng.normal(size=(32, 1)).astype(np.float32) / np.float32(np.sqrt(32)),
        "b2": np.zeros(1, np.float32),
    }
    return jax.tree.map(jnp.asarray, params), (jnp.asarray(x), jnp.asarray(y))


def loss_fn(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    h = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return jnp.mean((h @ params["w2"] + params["b2"][None, :] - y) ** 2)


def make_step(name: str) -> tuple[gradlab.GradientTransformation, Callable[..., Any]]:
    """The optimizer ``name`` and its jitted step ``(params, state, step) -> (params, state,
    loss)``; the params and the state are donated (do not use them after the call)."""
    tx = OPTIMIZERS[name]()
    _, (x, y) = make_problem()
    poisoned = name in POISONED

    @partial(jax.jit, donate_argnums=(0, 1))
    def step(params: Params, opt_state: gradlab.OptState, t: jax.Array):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        if poisoned:  # a NaN gradient now and then: apply_if_finite skips the step
            bad = t % NAN_EVERY == 3
            grads = jax.tree.map(lambda g: jnp.where(bad, jnp.nan, g), grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        return gradlab.apply_updates(params, updates), opt_state, loss

    return tx, step


def train(step: Callable[..., Any], params: Params, opt_state: Any, start: int, steps: int):
    """``steps`` calls of the jitted ``step``, numbered ``start, start + 1, ...``."""
    for t in range(start, start + steps):
        params, opt_state, _ = step(params, opt_state, jnp.int32(t))
    return params, opt_state


def save(directory: Path, step: int, params: Params, opt_state: Any) -> None:
    """Saves ``{"params", "opt_state"}`` as checkpoint ``step`` under ``directory``."""
    with ocp.CheckpointManager(Path(directory).absolute()) as manager:
        tree = {"params": params, "opt_state": opt_state}
        manager.save(step, args=ocp.args.StandardSave(tree))
        manager.wait_until_finished()


def restore(
    directory: Path, tx: gradlab.GradientTransformation, step: int | None = None
) -> tuple[Params, Any, int]:
    """Restores checkpoint ``step`` (default: the latest) into the structure of ``tx.init``."""
    params, _ = make_problem()
    template = {"params": params, "opt_state": tx.init(params)}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    with ocp.CheckpointManager(Path(directory).absolute()) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint under {directory}")
        tree = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return tree["params"], tree["opt_state"], step


def resume(root: Path, steps: int, names: list[str] | None = None) -> None:
    """Phase 3, for a fresh process: restore each optimizer's latest checkpoint under
    ``root/<name>``, train ``steps`` more steps, save at the new step."""
    for name in names or list(OPTIMIZERS):
        tx, step = make_step(name)
        params, opt_state, start = restore(root / name, tx)
        params, opt_state = train(step, params, opt_state, start, steps)
        save(root / name, start + steps, params, opt_state)
        print(f"{name}: resumed at step {start}, saved step {start + steps}")


def resume_in_new_process(root: Path, steps: int, names: list[str] | None = None) -> str:
    """Runs ``resume`` in a new Python process (this file with ``--resume``); its stdout."""
    command = [sys.executable, os.path.abspath(__file__), "--resume", "--out", str(root)]
    command += ["--steps", str(steps), *(["--optimizers", *names] if names else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def assert_same(a: Any, b: Any) -> None:
    """Same tree structure, dtypes and values, bit for bit (NaNs at the same places)."""
    structures = jax.tree.structure(a), jax.tree.structure(b)
    if structures[0] != structures[1]:
        raise AssertionError("tree structures differ:\n{}\n{}".format(*structures))
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b), strict=True
    ):
        x, y = np.asarray(x), np.asarray(y)
        where = jax.tree_util.keystr(path)
        if x.dtype != y.dtype:
            raise AssertionError(f"{where}: dtype {x.dtype} != {y.dtype}")
        np.testing.assert_array_equal(x, y, err_msg=where, strict=True)


def main(argv: list[str] | None = None) -> dict[str, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_STEPS}")
    parser.add_argument("--steps", type=int, default=None, help=f"N (default {STEPS})")
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder")
    parser.add_argument("--resume", action="store_true", help="phase 3 only (the new process)")
    parser.add_argument("--optimizers", nargs="+", choices=list(OPTIMIZERS), default=None)
    args = parser.parse_args(argv)
    steps = args.steps or (QUICK_STEPS if args.quick else STEPS)
    names = args.optimizers or list(OPTIMIZERS)
    if args.resume:
        if args.out is None:
            parser.error("--resume needs --out, the folder that holds the checkpoints")
        resume(args.out, steps, names)
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        straight = {}
        for name in names:
            tx, step = make_step(name)
            params, _ = make_problem()  # fresh arrays for each run: the step donates them
            straight[name] = train(step, params, tx.init(params), 0, 2 * steps)  # 1.
            params, _ = make_problem()
            params, opt_state = train(step, params, tx.init(params), 0, steps)  # 2.
            save(root / name, steps, params, opt_state)
            print(f"{name}: trained {steps} steps, saved to {root / name}")
        print(resume_in_new_process(root, steps, names), end="")  # 3.
        identical = {}
        for name in names:  # 4.
            params, opt_state, at = restore(root / name, OPTIMIZERS[name]())
            try:
                assert_same((params, opt_state), straight[name])
                identical[name] = True
            except AssertionError as error:
                identical[name] = False
                print(error)
            verdict = "bit-identical to" if identical[name] else "DIFFERENT from"
            print(f"{name}: step {at} after resuming is {verdict} {2 * steps} straight steps")
    return identical


if __name__ == "__main__":
    sys.exit(0 if all(main().values()) else 1)

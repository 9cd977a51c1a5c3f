"""Every multi-device check of tests/test_parallel.py, in one process with 8 CPU devices.

Run by the tests as ``XLA_FLAGS=--xla_force_host_platform_device_count=8 python
tests/parallel_scripts/multi_device_checks.py OUT.json``; it prints nothing the tests read but
the JSON it writes (one process, so jax, flax and the digits are loaded once).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import pathlib
import pkgutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradlab
import gradlab.optimizers
from gradlab.parallel import (
    easgd,
    local_sgd,
    state_shardings,
    synchronous_sgd,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 50  # data-parallel Adam steps
BATCH = 256


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(
        f"examples_{name}", ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def aliases():
    """Every alias of gradlab.optimizers: (name, factory), from each module's __all__."""
    found = []
    for info in pkgutil.iter_modules(gradlab.optimizers.__path__):
        module = importlib.import_module(f"gradlab.optimizers.{info.name}")
        found += [(name, getattr(module, name)) for name in module.__all__]
    return sorted(found)


def build(name, factory):
    return factory() if name == "prodigy" else factory(1e-3)


# ---------------------------------------------------------------------------------------------
# Sharded params: does the state take each parameter's sharding?


def sharding_mismatches(state, params):
    """Paths of the param-shaped state leaves whose sharding differs from their param's."""
    expected = state_shardings(state, params)
    bad = []
    for (path, leaf), want in zip(
        jax.tree_util.tree_leaves_with_path(state), jax.tree.leaves(expected), strict=True
    ):
        if want.spec != P() and not leaf.sharding.is_equivalent_to(want, leaf.ndim):
            bad.append(f"{jax.tree_util.keystr(path)}: {leaf.sharding}")
    return bad


AUTO_SAMPLE = ("adafactor", "adam", "muon")  # auto mode: state_shardings as out_shardings


def check_shardings(axis_type):
    """Per alias: init and one update under jit with params sharded over 8 devices."""
    mesh = jax.make_mesh((8,), ("data",), axis_types=(axis_type,))
    placed = {
        "w": (jnp.linspace(-1, 1, 16 * 8).reshape(16, 8), P("data", None)),
        "v": (jnp.linspace(-1, 1, 4 * 8).reshape(4, 8), P(None, "data")),
        "b": (jnp.linspace(-1, 1, 8), P("data")),
        "r": (jnp.linspace(-1, 1, 12).reshape(4, 3), P()),
    }
    params = {k: jax.device_put(v, NamedSharding(mesh, s)) for k, (v, s) in placed.items()}
    grads = jax.tree.map(lambda p: 0.1 * p, params)
    explicit = axis_type == AxisType.Explicit
    results = {}
    with jax.set_mesh(mesh) if explicit else contextlib.nullcontext():
        for name, factory in aliases():
            if not explicit and name not in AUTO_SAMPLE:
                continue
            tx = build(name, factory)

            def init_and_update(params, grads, tx=tx):
                state = tx.init(params)
                return state, tx.update(grads, state, params)[1]

            entry = {}
            try:
                if explicit:  # plain jit: the layout must follow the params by itself
                    run = jax.jit(init_and_update)
                else:  # auto: a traced init cannot see shardings; state_shardings says them
                    out = state_shardings(jax.eval_shape(tx.init, params), params)
                    run = jax.jit(init_and_update, out_shardings=(out, out))
                state, updated = run(params, grads)
                entry["init"] = sharding_mismatches(state, params)
                entry["update"] = sharding_mismatches(updated, params)
                entry["sharded_leaves"] = sum(
                    s.spec != P() for s in jax.tree.leaves(state_shardings(state, params))
                )
            except Exception as error:  # reported, and asserted on, by the test
                entry["error"] = f"{type(error).__name__}: {str(error)[:300]}"
            results[name] = entry
    return results


# ---------------------------------------------------------------------------------------------
# Data parallelism and ZeRO-1 (the digits MLP, 50 Adam steps)


def check_data_parallel(out_dir):
    example = load_example("data_parallel")
    mesh = Mesh(np.array(jax.devices()), ("data",))
    single = example.train(STEPS, BATCH, None)
    replicated = example.train(STEPS, BATCH, mesh)
    zero = example.train(STEPS, BATCH, mesh, zero=True)

    def leaves(result):
        return [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(result.params)]

    with open(pathlib.Path(out_dir) / "eight_devices.json", "w") as f:
        json.dump({"params": leaves(replicated)}, f)
    quick = io.StringIO()
    with contextlib.redirect_stdout(quick):
        example.main(["--quick", "--zero"])
    return {
        "single": leaves(single),
        "replicated": leaves(replicated),
        "zero": leaves(zero),
        "replicated_bytes": replicated.state_bytes_per_device,
        "zero_bytes": zero.state_bytes_per_device,
        "replicated_leaf_bytes": replicated.state_leaf_bytes,
        "zero_leaf_bytes": zero.state_leaf_bytes,
        "quick_output": quick.getvalue(),
    }


# ---------------------------------------------------------------------------------------------
# Model averaging against its equations in numpy (float64, 8 workers, quadratic losses)

WORKERS, DIM, ROWS, T = 8, 3, 4, 20


def quadratic_problem():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(WORKERS, ROWS, DIM))
    b = rng.normal(size=(WORKERS, ROWS))
    theta0 = rng.normal(size=DIM)
    return a, b, theta0


def numpy_grad(a, b, theta):  # worker i's loss 0.5 |A_i theta_i - b_i|^2
    return np.einsum("wrd,wr->wd", a, np.einsum("wrd,wd->wr", a, theta) - b)


def run_on_mesh(tx, a, b, theta0, steps=T):
    """Worker params stacked on a leading axis split over "data"; each worker its own A_i."""
    mesh = Mesh(np.array(jax.devices()), ("data",))

    def local(params, state, a_i, b_i):
        grads = jnp.einsum("wrd,wr->wd", a_i, jnp.einsum("wrd,wd->wr", a_i, params) - b_i)
        updates, state = tx.update(grads, state, params)
        return gradlab.apply_updates(params, updates), state

    # the state (counts; EASGD's center) is the same on every worker: one copy, spec P();
    # check_vma=False since it is computed from the (varying) worker params
    spec, same = P("data"), P()
    params = jnp.asarray(np.tile(theta0, (WORKERS, 1)))

    def shard(f, i, o):
        return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=i, out_specs=o, check_vma=False))

    state = shard(tx.init, spec, same)(params)
    step = shard(local, (spec, same, spec, spec), (spec, same))
    history = []
    for _ in range(steps):
        params, state = step(params, state, jnp.asarray(a), jnp.asarray(b))
        history.append(np.asarray(params))
    return np.stack(history)


def numpy_local_sgd(a, b, theta0, lr, every):
    theta = np.tile(theta0, (WORKERS, 1))
    history = []
    for t in range(T):
        theta = theta - lr * numpy_grad(a, b, theta)
        if (t + 1) % every == 0:
            theta = np.tile(theta.mean(axis=0), (WORKERS, 1))
        history.append(theta)
    return np.stack(history)


def numpy_easgd(a, b, theta0, lr, rho):
    alpha = lr * rho
    theta, center = np.tile(theta0, (WORKERS, 1)), theta0.copy()
    history = []
    for _ in range(T):
        diff = theta - center
        theta, center = (
            theta - lr * numpy_grad(a, b, theta) - alpha * diff,
            center + alpha * diff.sum(0),
        )
        history.append(theta)
    return np.stack(history), center


def max_rel(x, y):
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))


def check_model_averaging():
    a, b, theta0 = quadratic_problem()
    lr = 0.05
    out = {}
    with jax.enable_x64(True):
        for every in (1, 3):
            got = run_on_mesh(local_sgd(lr, every), a, b, theta0)
            out[f"local_sgd_{every}"] = max_rel(got, numpy_local_sgd(a, b, theta0, lr, every))
            # between averages the workers differ; at each average they agree
            out[f"local_sgd_{every}_spread_before_average"] = (
                float(np.ptp(got[every - 2], axis=0).max()) if every > 1 else 0.0
            )
        sync = run_on_mesh(synchronous_sgd(lr), a, b, theta0)
        out["local1_vs_sync"] = max_rel(run_on_mesh(local_sgd(lr, 1), a, b, theta0), sync)
        rho = 0.5
        got = run_on_mesh(easgd(lr, rho), a, b, theta0)
        want, _ = numpy_easgd(a, b, theta0, lr, rho)
        out["easgd"] = max_rel(got, want)
        out["easgd_spread"] = float(np.ptp(got[-1], axis=0).max())
        out["dtype"] = str(got.dtype)
    return out


def main(path):
    report = {
        "devices": jax.device_count(),
        "explicit": check_shardings(AxisType.Explicit),
        "auto": check_shardings(AxisType.Auto),
        "model_averaging": check_model_averaging(),
        "data_parallel": check_data_parallel(pathlib.Path(path).parent),
    }
    with open(path, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])

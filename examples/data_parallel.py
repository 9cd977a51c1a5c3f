"""Data-parallel training of the demo's digits MLP over every device, with optional ZeRO-1.

The global batch is split over a one-axis mesh ("data") of all devices, on one host or many.
Inside ``jax.shard_map`` each device computes the gradient of its shard and
``gradlab.parallel.average_gradients("data")`` all-reduces them; Adam then updates the
replicated params. With ``--zero`` the optimizer state is split over the devices
(``gradlab.parallel.zero1_shardings``): each keeps 1/N of Adam's moments, the params are the same.

One host, 8 simulated CPU devices (the same command uses the real devices of a GPU host):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/data_parallel.py [--zero]

Two processes (hosts) with 4 CPU devices each, on localhost (gloo collectives on CPU):

    for i in 0 1; do XLA_FLAGS=--xla_force_host_platform_device_count=4 \\
      python examples/data_parallel.py --num-processes 2 --process-id $i \\
      --coordinator localhost:12355 & done; wait

On GPU hosts, run one process per host with the same flags (drop XLA_FLAGS). Prints the loss
every few steps, the test accuracy and the optimizer-state bytes per device. ``--quick``: 20
steps. ``--json PATH`` writes the final params (process 0) for tests/test_parallel.py.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gradlab
from gradlab.demo.classification import digits_problem
from gradlab.parallel import average_gradients, bytes_per_device, zero1_shardings

LEARNING_RATE = 1e-3


class Result(NamedTuple):
    """The outcome of :func:`train`: final params (NumPy, on the host), losses and state size."""

    params: Any
    losses: list[float]
    state_bytes_per_device: int  # the most any device holds
    state_leaf_bytes: list[int]  # the same, per state leaf
    seconds: float


def batch_indices(num_examples: int, batch_size: int, steps: int, seed: int = 0) -> np.ndarray:
    """``(steps, batch_size)`` example indices: epochs of a fixed permutation (every process
    computes the same ones)."""
    order = np.random.default_rng(seed).permutation(num_examples)
    per_epoch = num_examples // batch_size
    return np.stack([order[(t % per_epoch) * batch_size :][:batch_size] for t in range(steps)])


def global_array(value: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """``value`` (the same on every process) placed with ``sharding``: each process fills only
    the shards on its own devices."""
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def to_host(tree: Any) -> Any:
    """A replicated tree as NumPy arrays (each process reads its first local copy)."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def train(
    steps: int, batch_size: int, mesh: Mesh | None, zero: bool = False, log_every: int = 0
) -> Result:
    """Adam on the digits with global batches of ``batch_size``.

    ``mesh=None``: one device, no collectives (the reference). Otherwise the batch is split
    over ``mesh``'s "data" axis and the params are replicated; ``zero`` splits the state too.
    """
    problem = digits_problem(0)
    tx = gradlab.adam(LEARNING_RATE)
    x, y = (np.asarray(a) for a in problem.train_data)
    indices = batch_indices(len(x), batch_size, steps)
    params = jax.tree.map(np.asarray, problem.params)

    if mesh is None:

        @jax.jit
        def single_step(params: Any, state: Any, batch: Any) -> Any:
            value, grads = jax.value_and_grad(problem.loss)(params, batch)
            updates, state = tx.update(grads, state, params)
            return gradlab.apply_updates(params, updates), state, value

        step = single_step
        params = jax.tree.map(jnp.asarray, params)
        state = jax.jit(tx.init)(params)
        place = lambda batch: batch  # noqa: E731
    else:
        replicated = NamedSharding(mesh, P())
        batch_sharding = NamedSharding(mesh, P("data"))
        shapes = jax.eval_shape(tx.init, params)
        state_sharding = (
            zero1_shardings(shapes, mesh, "data")
            if zero
            else jax.tree.map(lambda _: replicated, shapes)
        )
        average = average_gradients("data")

        def local_gradients(params: Any, batch: Any) -> Any:
            value, grads = jax.value_and_grad(problem.loss)(params, batch)  # this shard's
            grads, _ = average.update(grads, average.init(params))  # pmean over "data"
            return jax.lax.pmean(value, "data"), grads

        # check_vma=False: per-device gradients of the replicated params, averaged by pmean
        gradients = jax.shard_map(
            local_gradients,
            mesh=mesh,
            in_specs=(P(), P("data")),
            out_specs=(P(), P()),
            check_vma=False,
        )

        def parallel_step(params: Any, state: Any, batch: Any) -> Any:
            value, grads = gradients(params, batch)
            updates, state = tx.update(grads, state, params)  # shard by shard under ZeRO-1
            return gradlab.apply_updates(params, updates), state, value

        step = jax.jit(
            parallel_step,
            in_shardings=(replicated, state_sharding, batch_sharding),
            out_shardings=(replicated, state_sharding, replicated),
        )
        params = jax.tree.map(lambda p: global_array(p, replicated), params)
        state = jax.jit(tx.init, out_shardings=state_sharding)(params)

        def place(batch: Any) -> Any:
            return jax.tree.map(lambda a: global_array(a, batch_sharding), batch)

    state_bytes = max(bytes_per_device(state).values())
    leaf_bytes = [max(bytes_per_device(leaf).values()) for leaf in jax.tree.leaves(state)]
    losses = []
    start = time.perf_counter()
    for t in range(steps):
        params, state, value = step(params, state, place((x[indices[t]], y[indices[t]])))
        if log_every and ((t + 1) % log_every == 0 or t == 0):
            loss = float(to_host(value))
            losses.append(loss)
            if jax.process_index() == 0:
                print(f"step {t + 1:4d}  loss {loss:.4f}", flush=True)
    return Result(to_host(params), losses, state_bytes, leaf_bytes, time.perf_counter() - start)


def accuracy(params: Any) -> float:
    """The test accuracy of host ``params``, computed on this process's default device."""
    problem = digits_problem(0)
    return float(problem.metric(jax.tree.map(jnp.asarray, params), problem.test_data))


def main(argv: Sequence[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="default 300 (--quick: 20)")
    parser.add_argument("--batch-size", type=int, default=256, help="global; devices divide it")
    parser.add_argument("--zero", action="store_true", help="ZeRO-1: split Adam's state")
    parser.add_argument("--quick", action="store_true", help="20 steps")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--coordinator", default="localhost:12355", help="host:port of process 0")
    parser.add_argument("--json", default=None, help="write the final params here (process 0)")
    args = parser.parse_args(argv)
    if args.num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # ignored off CPU
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    steps = args.steps or (20 if args.quick else 300)
    devices = jax.devices()
    if args.batch_size % len(devices):
        parser.error(f"--batch-size {args.batch_size} must be a multiple of {len(devices)}")
    mesh = Mesh(np.array(devices), ("data",))
    if jax.process_index() == 0:
        print(
            f"{len(devices)} devices ({jax.local_device_count()} per process, "
            f"{jax.process_count()} processes, {devices[0].platform}); global batch "
            f"{args.batch_size}; optimizer state {'ZeRO-1 sharded' if args.zero else 'replicated'}"
        )
    result = train(steps, args.batch_size, mesh, zero=args.zero, log_every=max(steps // 5, 1))
    if jax.process_index() == 0:
        print(f"test accuracy {accuracy(result.params):.4f}")
        print(f"optimizer state per device: {result.state_bytes_per_device} bytes")
        print(f"{steps} steps in {result.seconds:.2f} s")
        if args.json:
            leaves = [np.asarray(leaf).ravel().tolist() for leaf in jax.tree.leaves(result.params)]
            with open(args.json, "w") as f:
                json.dump({"params": leaves, "state_bytes": result.state_bytes_per_device}, f)
    if args.num_processes > 1:
        jax.distributed.shutdown()
    return result


if __name__ == "__main__":
    main()

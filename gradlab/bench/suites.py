"""What the benchmark compares: optimizer steps, wrappers, and the flat path, gradlab vs optax.

Every comparison yields one row (a dict): the two sides' median step time, compile time,
XLA's bytes accessed (also as float32 words per parameter), optimizer-state bytes, and the
effective bandwidth (the bytes the step must move over its time) as a fraction of the device's
triad bandwidth; plus the ratios gradlab / optax. optax is imported here, lazily: it is the
reference, never the implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import gradlab
from gradlab.bench import measure, trees
from gradlab.flat import flatten, on_flat_buffers

CLASSICS = ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "adamax", "nadam", "amsgrad")
LEARNING_RATE = 1e-3


def _optax() -> Any:
    import optax

    return optax


def available_optimizers() -> tuple[str, ...]:
    """Alias names present in both gradlab and optax (callable with a learning rate)."""
    optax = _optax()
    names = getattr(gradlab, "__all__", dir(gradlab))
    return tuple(sorted(n for n in names if _is_alias(n) and callable(getattr(optax, n, None))))


def _is_alias(name: str) -> bool:
    obj = getattr(gradlab, name, None)
    return callable(obj) and getattr(obj, "__module__", "").startswith("gradlab.optimizers")


def make_pair(name: str) -> tuple[Any, Any]:
    """``(gradlab.<name>(1e-3), optax.<name>(1e-3))``; raises ValueError naming the option."""
    optax = _optax()
    if not (_is_alias(name) and callable(getattr(optax, name, None))):
        raise ValueError(
            f"--optimizers: {name!r} is not an optimizer of both gradlab and optax. "
            f"Choose from: {', '.join(available_optimizers())}."
        )
    return getattr(gradlab, name)(LEARNING_RATE), getattr(optax, name)(LEARNING_RATE)


def _side(
    contender: measure.Contender,
    step_s: float,
    state: Any,
    n_params: int,
    must_move: int,
    bandwidth: float,
) -> dict[str, Any]:
    effective = must_move / step_s
    return {
        "step_s": step_s,
        "compile_s": contender.compiled.compile_s,
        "bytes_accessed": contender.compiled.bytes_accessed,
        "words_per_param": contender.compiled.bytes_accessed / 4.0 / n_params,
        "state_bytes": measure.tree_bytes(state),
        "must_move_bytes": must_move,
        "effective_bytes_per_s": effective,
        "bandwidth_fraction": effective / bandwidth,
    }


def compare(
    suite: str,
    name: str,
    shape: str,
    params: Any,
    sides: dict[str, tuple[Callable[..., Any], tuple[Any, ...], tuple[Any, ...], Any]],
    config: Any,
    bandwidth: float,
) -> dict[str, Any]:
    """Times ``sides["gradlab"]`` against ``sides["optax"]``; returns the row.

    Args:
      suite: ``"optimizers"``, ``"wrappers"`` or ``"flat"``.
      name: the row's name.
      shape: the tree's name.
      params: the per-leaf params (counted for per-parameter figures).
      sides: for each library, ``(step, carry, constants, state)``: the step function, its
        donated and read-only arguments, and the optimizer state (for its size).
      config: the run's settings (``reps``, ``calls``).
      bandwidth: the triad bandwidth, bytes per second.

    Returns:
      A dict with both sides' measurements and the ratios gradlab / optax.
    """
    n_params = int(sum(x.size for x in jax.tree.leaves(params)))
    param_bytes = measure.tree_bytes(params)
    labels = ("gradlab", "optax")
    contenders = [measure.prepare(*sides[label][:3]) for label in labels]
    medians = measure.interleaved_medians(contenders, reps=config.reps, calls=config.calls)
    row: dict[str, Any] = {
        "suite": suite,
        "name": name,
        "shape": shape,
        "n_params": n_params,
        "n_leaves": len(jax.tree.leaves(params)),
    }
    for label, contender, seconds in zip(labels, contenders, medians, strict=True):
        state = sides[label][3]
        # grads read, params read and written, the state read and written
        must_move = 3 * param_bytes + 2 * measure.tree_bytes(state)
        row[label] = _side(contender, seconds, state, n_params, must_move, bandwidth)
    row["step_ratio"] = row["gradlab"]["step_s"] / row["optax"]["step_s"]
    row["compile_ratio"] = row["gradlab"]["compile_s"] / row["optax"]["compile_s"]
    row["bytes_ratio"] = row["gradlab"]["bytes_accessed"] / max(row["optax"]["bytes_accessed"], 1.0)
    return row


def _grads(params: Any) -> Any:
    return jax.tree.map(lambda p: jnp.full_like(p, 1e-2), params)


def _optimizer_sides(gradlab_tx: Any, optax_tx: Any, params: Any) -> dict[str, Any]:
    grads = _grads(params)
    sides = {}
    for label, tx in (("gradlab", gradlab_tx), ("optax", optax_tx)):
        state = tx.init(params)
        sides[label] = (measure.optimizer_step(tx), (params, state), (grads,), state)
    return sides


def optimizer_rows(config: Any, bandwidth: float) -> list[dict[str, Any]]:
    """One row per (optimizer, shape): the jitted optimizer step, gradlab vs optax."""
    rows = []
    for shape in config.shapes:
        params = trees.make_tree(shape, config.quick)
        for name in config.optimizers:
            gradlab_tx, optax_tx = make_pair(name)
            sides = _optimizer_sides(gradlab_tx, optax_tx, params)
            rows.append(compare("optimizers", name, shape, params, sides, config, bandwidth))
            config.progress(f"optimizers {shape} {name}")
    return rows


def wrapper_pairs(params: Any) -> dict[str, tuple[Any, Any]]:
    """The wrappers around adam: gradlab's and optax's, configured alike."""
    optax = _optax()
    lr = LEARNING_RATE
    keys = sorted(params)
    mask = {k: i % 2 == 0 for i, k in enumerate(keys)}
    labels = {k: ("even" if i % 2 == 0 else "odd") for i, k in enumerate(keys)}
    even = "|".join(keys[0::2])
    return {
        "apply_if_finite(adam)": (
            gradlab.apply_if_finite(gradlab.adam(lr), 5),
            optax.apply_if_finite(optax.adam(lr), 5),
        ),
        "multi_steps(adam, 4)": (
            gradlab.multi_steps(gradlab.adam(lr), 4),
            optax.MultiSteps(optax.adam(lr), 4),
        ),
        "masked(adam)": (
            gradlab.masked(gradlab.adam(lr), mask),
            optax.masked(optax.adam(lr), mask),
        ),
        "param_groups(adam, sgd)": (
            gradlab.param_groups([(f"^({even})$", gradlab.adam(lr))], default=gradlab.sgd(lr)),
            optax.partition({"even": optax.adam(lr), "odd": optax.sgd(lr)}, labels),
        ),
    }


def wrapper_rows(config: Any, bandwidth: float) -> list[dict[str, Any]]:
    """One row per wrapper on the many-leaves tree, gradlab vs optax."""
    params = trees.make_tree("many-leaves", config.quick)
    rows = []
    for name, (gradlab_tx, optax_tx) in wrapper_pairs(params).items():
        sides = _optimizer_sides(gradlab_tx, optax_tx, params)
        rows.append(compare("wrappers", name, "many-leaves", params, sides, config, bandwidth))
        config.progress(f"wrappers {name}")
    return rows


def _flat_optimizer_sides(name: str, params: Any) -> dict[str, Any]:
    """gradlab's alias on flat buffers (params kept flat) vs optax's per leaf."""
    gradlab_tx, optax_tx = make_pair(name)
    flat_tx = on_flat_buffers(gradlab_tx)
    buffers, unflatten = flatten(params)
    flat_state = flat_tx.init(buffers)
    optax_state = optax_tx.init(params)
    return {
        "gradlab": (
            measure.optimizer_step(flat_tx),
            (buffers, flat_state),
            (unflatten.flatten(_grads(params)),),
            flat_state,
        ),
        "optax": (
            measure.optimizer_step(optax_tx),
            (params, optax_state),
            (_grads(params),),
            optax_state,
        ),
    }


def _training_step(loss: Callable[[Any], Any], tx: Any) -> Callable[..., Any]:
    def step(params: Any, state: Any) -> tuple[Any, Any]:
        grads = jax.grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        return measure.apply_updates(params, updates), state

    return step


def flat_rows(config: Any, bandwidth: float) -> list[dict[str, Any]]:
    """The flat path: adam's step on the many-leaves tree, and a deep Flax MLP's training step.

    Rows: ``adam [flat]`` (gradlab on flat buffers vs optax per leaf), then the full training
    step (loss, gradient and update in one jit) of a Flax MLP with hundreds of leaves, per leaf
    (``mlp adam [per-leaf]``) and flat (``mlp adam [flat]``, gradient taken with respect to the
    buffers), both against optax per leaf.
    """
    rows = []
    params = trees.make_tree("many-leaves", config.quick)
    for name in ("sgd", "adam"):
        sides = _flat_optimizer_sides(name, params)
        rows.append(
            compare("flat", f"{name} [flat]", "many-leaves", params, sides, config, bandwidth)
        )
        config.progress(f"flat {name}")
    try:
        model, mlp_params, x, y = trees.deep_mlp(config.quick)
    except ImportError:  # flax is an extra of the bench
        config.progress("flat: flax is not installed; skipping the MLP rows")
        return rows

    def loss(p: Any) -> Any:
        return jnp.mean((model.apply({"params": p}, x) - y) ** 2)

    optax = _optax()
    optax_tx = optax.adam(LEARNING_RATE)
    optax_state = optax_tx.init(mlp_params)
    tx = gradlab.adam(LEARNING_RATE)
    state = tx.init(mlp_params)
    per_leaf = (_training_step(loss, tx), (mlp_params, state), (), state)
    buffers, unflatten = flatten(mlp_params)
    flat_tx = on_flat_buffers(gradlab.adam(LEARNING_RATE))
    flat_state = flat_tx.init(buffers)
    flat_side = (
        _training_step(lambda b: loss(unflatten(b)), flat_tx),
        (buffers, flat_state),
        (),
        flat_state,
    )
    for label, side in (("per-leaf", per_leaf), ("flat", flat_side)):
        # a fresh step function per row, so that jit's cache does not hide optax's compile time
        optax_side = (_training_step(loss, optax_tx), (mlp_params, optax_state), (), optax_state)
        sides = {"gradlab": side, "optax": optax_side}
        rows.append(
            compare("flat", f"mlp adam [{label}]", "deep-mlp", mlp_params, sides, config, bandwidth)
        )
        config.progress(f"flat mlp {label}")
    return rows


__all__ = [
    "CLASSICS",
    "available_optimizers",
    "compare",
    "flat_rows",
    "make_pair",
    "optimizer_rows",
    "wrapper_pairs",
    "wrapper_rows",
]

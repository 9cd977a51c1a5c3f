"""How the benchmark measures: compile time, interleaved step times, XLA's bytes, bandwidth.

Every step is jitted with its params and state donated (``donate_argnums``), compiled ahead of
time (``lower`` then ``compile``, timed together), and run through the compiled executable, so
dispatch is the same for both libraries. Step times are medians over repetitions in which the
two contenders alternate (gradlab, optax, gradlab, ...), so that a noisy neighbour slows both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Params = Any  # pytree of arrays


def tree_bytes(tree: Any) -> int:
    """Bytes held by the arrays of ``tree`` (``None`` and non-array leaves count 0).

    >>> import jax.numpy as jnp
    >>> tree_bytes({"a": jnp.ones(3), "b": None, "n": jnp.int32(1)})
    16
    """
    return int(sum(getattr(x, "nbytes", 0) for x in jax.tree.leaves(tree)))


def apply_updates(params: Params, updates: Any) -> Params:
    """``params + updates`` leafwise, in the params' dtypes (one rule for both libraries)."""
    return jax.tree.map(lambda p, u: (p + u).astype(p.dtype), params, updates)


def optimizer_step(tx: Any) -> Callable[..., Any]:
    """``step(params, state, grads) -> (params, state)`` for the transformation ``tx``."""

    def step(params: Params, state: Any, grads: Any) -> tuple[Params, Any]:
        updates, state = tx.update(grads, state, params)
        return apply_updates(params, updates), state

    return step


class Compiled(NamedTuple):
    """A compiled step and what XLA says about it.

    Args:
      run: the executable; ``run(*carry, *constants) -> carry``.
      compile_s: seconds spent in ``lower`` + ``compile``.
      bytes_accessed: XLA's ``cost_analysis()["bytes accessed"]`` (0 when not reported).
    """

    run: Callable[..., Any]
    compile_s: float
    bytes_accessed: float


def compile_step(
    step: Callable[..., Any], carry: tuple[Any, ...], constants: tuple[Any, ...]
) -> Compiled:
    """Jits ``step(*carry, *constants) -> carry`` with the carry donated, and compiles it.

    Args:
      step: the function; it returns a new carry of the same structure.
      carry: the donated arguments (params, state, ...).
      constants: arguments that are only read (gradients, a batch).

    Returns:
      The :class:`Compiled` step.
    """
    jitted = jax.jit(step, donate_argnums=tuple(range(len(carry))))
    start = time.perf_counter()
    compiled = jitted.lower(*carry, *constants).compile()
    compile_s = time.perf_counter() - start
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):  # older jax returned one dict per computation
        cost = cost[0] if cost else {}
    return Compiled(compiled, compile_s, float((cost or {}).get("bytes accessed", 0.0)))


def _copy(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x, tree)


class Contender(NamedTuple):
    """One side of a comparison: a compiled step and the carry it consumes and returns.

    Args:
      compiled: the :class:`Compiled` step.
      carry: its current (donated) arguments; replaced by each call's outputs.
      constants: its read-only arguments.
    """

    compiled: Compiled
    carry: tuple[Any, ...]
    constants: tuple[Any, ...]


def _run(contender: Contender, calls: int) -> tuple[Contender, float]:
    carry = contender.carry
    start = time.perf_counter()
    for _ in range(calls):
        carry = contender.compiled.run(*carry, *contender.constants)
    jax.block_until_ready(carry)
    seconds = (time.perf_counter() - start) / calls
    return contender._replace(carry=tuple(carry)), seconds


def interleaved_medians(contenders: list[Contender], reps: int, calls: int) -> list[float]:
    """Median seconds per call of each contender, timed in alternation.

    One warm-up call each, then ``reps`` rounds; in each round every contender runs ``calls``
    times back to back (and is waited for), in turn.

    Args:
      contenders: the steps to time (their carries are donated and replaced).
      reps: rounds (the median is over them).
      calls: calls per contender per round.

    Returns:
      The median seconds per call, one per contender.
    """
    contenders = [_run(c, 1)[0] for c in contenders]  # warm-up
    samples: list[list[float]] = [[] for _ in contenders]
    for _ in range(reps):
        for i, contender in enumerate(contenders):
            contenders[i], seconds = _run(contender, calls)
            samples[i].append(seconds)
    return [statistics.median(s) for s in samples]


def prepare(
    step: Callable[..., Any], carry: tuple[Any, ...], constants: tuple[Any, ...]
) -> Contender:
    """Compiles ``step`` on private copies of ``carry`` (donation consumes them)."""
    carry = _copy(carry)
    return Contender(compile_step(step, carry, constants), carry, constants)


def triad_bandwidth(n_elements: int, reps: int) -> dict[str, float]:
    """Bytes per second of a jitted in-place ``y = a * x + y`` over ``n_elements`` float32.

    The update reads ``x`` and ``y`` and writes ``y`` (donated): 12 bytes per element. This is
    the device's streaming bandwidth as XLA achieves it, the yardstick for optimizer steps.

    Args:
      n_elements: buffer length (make it much larger than the caches).
      reps: timed repetitions (median).

    Returns:
      ``{"bytes_per_s": ..., "n_elements": ..., "seconds": ...}``.
    """
    x = jnp.full((n_elements,), 1.0001, jnp.float32)
    y = jnp.zeros((n_elements,), jnp.float32)

    def triad(y: jax.Array, x: jax.Array) -> tuple[jax.Array]:
        return (0.999 * x + y,)

    contender = prepare(triad, (y,), (x,))
    (seconds,) = interleaved_medians([contender], reps=reps, calls=3)
    return {
        "bytes_per_s": 12.0 * n_elements / seconds,
        "n_elements": n_elements,
        "seconds": seconds,
    }


__all__ = [
    "Compiled",
    "Contender",
    "apply_updates",
    "compile_step",
    "interleaved_medians",
    "optimizer_step",
    "prepare",
    "tree_bytes",
    "triad_bandwidth",
]

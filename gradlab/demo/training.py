"""One training loop for every run of the demo: a problem, an optimizer, a step budget.

A :class:`Problem` is the data and the functions of one task (the digits MLP, the linear
SVM, the linear regressions); :func:`train` fits it with any gradlab
:class:`~gradlab.GradientTransformation`, so the 11 optimizers (and the losses) share one code
path. The step is ``jax.jit``-compiled once per run with the params and the optimizer state
donated, and its compilation is timed apart from the steps (``lower(...).compile()``).
Minibatches come from :func:`gradlab.data.epochs`: a fresh permutation per epoch, derived from
one PRNG key, so every optimizer sees the same batches in the same order.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core.base import GradientTransformation, apply_updates
from gradlab.data import epochs, take_batch

#: ``(params, batch) -> scalar``: the mean training objective on a batch.
LossFn = Callable[[Any, Any], jax.Array]
#: ``(params, data) -> scalar``: the test metric on the whole test set.
MetricFn = Callable[[Any, Any], jax.Array]
#: ``params -> (training objective, test metric)``, from :func:`make_evaluate`.
EvaluateFn = Callable[[Any], tuple[jax.Array, jax.Array]]
#: ``(opt_state, params) -> params``: the point to evaluate at (schedule-free's :math:`x_t`).
EvalParamsFn = Callable[[Any, Any], Any]

#: XLA's options for ``fast_compile=True`` (``--quick``): no backend optimization, which about
#: halves the compile time of these small programs (and slows their steps a little).
FAST_COMPILE: dict[str, Any] = {"xla_backend_optimization_level": 0}


class Problem(NamedTuple):
    """A task to fit: initial params, objective, data and test metric.

    Args:
      params: the initial params (a pytree; every run starts from a copy of them).
      loss: ``(params, batch) -> scalar``, the mean training objective of a batch, where a
        batch has the structure of ``train_data``.
      train_data: a pytree of arrays with a leading example axis, e.g. ``(inputs, targets)``.
      test_data: the same for the test set.
      metric: ``(params, test_data) -> scalar``, e.g. the test accuracy.
      metric_name: what ``metric`` measures, e.g. ``"test accuracy"``.
    """

    params: Any
    loss: LossFn
    train_data: Any
    test_data: Any
    metric: MetricFn
    metric_name: str


class Run(NamedTuple):
    """The outcome of :func:`train`.

    Args:
      name: the run's name (the progress bar's label).
      params: the final params (those evaluated: with ``eval_params``, its output).
      initial_loss: the objective on the whole training set before the first step.
      final_loss: the same after the last step.
      metric: the test metric after the last step.
      curve_steps: the steps at which the curves were measured (0 and the last included).
      curve_loss: the whole-training-set objective at those steps.
      curve_metric: the test metric at those steps.
      steps: the number of steps taken.
      steps_per_s: steps per second, over the steps alone (no compilation, no evaluation).
      compile_s: seconds to trace and compile the step (the first call's extra cost).
      wall_s: seconds for the whole run: compilation, steps and evaluations.
      step_time_s: with ``time_steps``, the median seconds of one compiled step, each blocked
        until done; NaN without.
    """

    name: str
    params: Any
    initial_loss: float
    final_loss: float
    metric: float
    curve_steps: np.ndarray
    curve_loss: np.ndarray
    curve_metric: np.ndarray
    steps: int
    steps_per_s: float
    compile_s: float
    wall_s: float
    step_time_s: float = float("nan")


def make_step(loss: LossFn, tx: GradientTransformation) -> Any:
    """The jitted step ``(params, opt_state, data, indices) -> (params, opt_state, loss)``.

    Gathers the batch ``indices`` of ``data`` (:func:`gradlab.data.take_batch`), takes one
    gradient step of ``tx`` on ``loss`` and returns the batch's loss before the step. The params
    and the optimizer state are donated: their buffers are reused for the new ones.
    """

    def step(params: Any, opt_state: Any, data: Any, indices: jax.Array) -> Any:
        batch = take_batch(data, indices)
        value, grads = jax.value_and_grad(loss)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state, value

    return jax.jit(step, donate_argnums=(0, 1))


def compile_lowered(lowered: Any, fast_compile: bool = False) -> Any:
    """``lowered.compile()``, with :data:`FAST_COMPILE`'s options if ``fast_compile``.

    An XLA that does not know the options compiles with its defaults.
    """
    if fast_compile:
        try:
            return lowered.compile(FAST_COMPILE)
        except Exception:  # an XLA build without this option: fall back to the defaults
            pass
    return lowered.compile()


def make_evaluate(problem: Problem, fast_compile: bool = False) -> EvaluateFn:
    """``params -> (training objective on all the training data, test metric)``, compiled once.

    Build it once per problem and pass it to every :func:`train` of that problem: the runs then
    share its compilation.
    """

    def evaluate(params: Any, train_data: Any, test_data: Any) -> tuple[jax.Array, jax.Array]:
        return problem.loss(params, train_data), problem.metric(params, test_data)

    lowered = jax.jit(evaluate).lower(problem.params, problem.train_data, problem.test_data)
    compiled = compile_lowered(lowered, fast_compile)
    return lambda params: compiled(params, problem.train_data, problem.test_data)


def batches(key: jax.Array, num_examples: int, batch_size: int) -> Iterator[np.ndarray]:
    """Endless int32 index batches: one permutation per epoch (:func:`gradlab.data.epochs`).

    With ``batch_size >= num_examples`` every batch is the whole set, in order (full-batch
    gradient descent, where shuffling changes nothing).

    >>> import jax
    >>> stream = batches(jax.random.key(0), 4, 2)
    >>> sorted(next(stream).tolist() + next(stream).tolist())  # one epoch: each example once
    [0, 1, 2, 3]
    >>> next(batches(jax.random.key(0), 3, 8)).tolist()
    [0, 1, 2]
    """
    if batch_size >= num_examples:
        everything = np.arange(num_examples, dtype=np.int32)
        while True:
            yield everything
    for epoch in epochs(key, None, num_examples, batch_size):
        yield from np.asarray(epoch.indices)


def curve_points(steps: int, points: int = 50) -> int:
    """How often to measure the curves: every ``steps // points`` steps (at least every step).

    >>> curve_points(1500), curve_points(10)
    (30, 1)
    """
    return max(1, steps // points)


def train(
    problem: Problem,
    tx: GradientTransformation,
    *,
    name: str,
    steps: int,
    batch_size: int,
    key: jax.Array,
    evaluate: EvaluateFn | None = None,
    progress: bool = True,
    fast_compile: bool = False,
    eval_params: EvalParamsFn | None = None,
    points: int = 50,
    time_steps: bool = False,
) -> Run:
    """Fits ``problem`` with ``tx`` for ``steps`` minibatch steps, with a tqdm progress bar.

    Args:
      problem: what to fit.
      tx: the optimizer.
      name: the label of the run (progress bar and results).
      steps: the number of steps, >= 1.
      batch_size: examples per step (the whole training set for full-batch descent).
      key: the PRNG key of the batch order.
      evaluate: ``make_evaluate(problem)``, to share its compilation between runs.
      progress: show the bar (on stderr: stdout stays free for ``--json``).
      fast_compile: compile with :data:`FAST_COMPILE` (for quick runs, where compiling
        dominates).
      eval_params: ``(opt_state, params) -> params`` to evaluate at instead of the params
        (e.g. :func:`gradlab.schedule_free_eval_params`); compiled with the step.
      points: about how many times to measure the curves (:func:`curve_points`).
      time_steps: block on every step and time it; ``Run.step_time_s`` is the median.

    Returns:
      A :class:`Run`: losses, test metric, curves and timings.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    evaluate = evaluate or make_evaluate(problem, fast_compile)
    num_examples = int(jax.tree.leaves(problem.train_data)[0].shape[0])
    stream = batches(key, num_examples, min(batch_size, num_examples))
    params = jax.tree.map(jnp.copy, problem.params)  # donated below; keep the problem's own
    opt_state = tx.init(params)
    first = next(stream)

    compile_start = time.perf_counter()
    lowered = make_step(problem.loss, tx).lower(params, opt_state, problem.train_data, first)
    step = compile_lowered(lowered, fast_compile)
    if eval_params is not None:
        at = compile_lowered(jax.jit(eval_params).lower(opt_state, params), fast_compile)
        view: EvalParamsFn = lambda state, p: at(state, p)  # noqa: E731
    else:
        view = lambda state, p: p  # noqa: E731
    compile_s = time.perf_counter() - compile_start

    every = curve_points(steps, points)
    loss0, metric0 = evaluate(view(opt_state, params))
    record = [(0, float(loss0), float(metric0))]
    bar = tqdm(total=steps, desc=f"{name:>13}", unit="step", file=sys.stderr, disable=not progress)
    bar.set_postfix(loss=f"{record[0][1]:.4f}")
    step_s = 0.0
    step_times: list[float] = []
    indices = first
    with bar:
        segment = time.perf_counter()
        for number in range(1, steps + 1):
            if time_steps:
                before = time.perf_counter()
                params, opt_state, batch_loss = step(params, opt_state, problem.train_data, indices)
                jax.block_until_ready((params, opt_state, batch_loss))
                step_times.append(time.perf_counter() - before)
            else:
                params, opt_state, batch_loss = step(params, opt_state, problem.train_data, indices)
            if number % every == 0 or number == steps:
                jax.block_until_ready(batch_loss)
                step_s += time.perf_counter() - segment
                loss, metric = evaluate(view(opt_state, params))
                record.append((number, float(loss), float(metric)))
                bar.set_postfix(loss=f"{record[-1][1]:.4f}", refresh=False)
                bar.update(number - bar.n)
                segment = time.perf_counter()
            if number < steps:
                indices = next(stream)
    curve = np.asarray(record, dtype=np.float64)
    return Run(
        name=name,
        params=view(opt_state, params),
        initial_loss=record[0][1],
        final_loss=record[-1][1],
        metric=record[-1][2],
        curve_steps=curve[:, 0].astype(np.int64),
        curve_loss=curve[:, 1],
        curve_metric=curve[:, 2],
        steps=steps,
        steps_per_s=steps / max(step_s, 1e-9),
        compile_s=compile_s,
        wall_s=time.perf_counter() - start,
        step_time_s=float(np.median(step_times)) if step_times else float("nan"),
    )


__all__ = [
    "FAST_COMPILE",
    "EvalParamsFn",
    "EvaluateFn",
    "LossFn",
    "MetricFn",
    "Problem",
    "Run",
    "batches",
    "compile_lowered",
    "make_evaluate",
    "make_step",
    "train",
]

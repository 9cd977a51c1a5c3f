"""The digits benchmark: one Flax MLP (64-128-10), trained with each optimizer in turn.

Every optimizer starts from the same initial weights and sees the same minibatches (one PRNG
key), so the differences in the results are the optimizers' own. The model is a
``flax.nnx`` module split into a graph and its params (``nnx.split``): the params are a plain
pytree that the jitted, donating step of :mod:`gradlab.demo.training` updates, and
``nnx.merge`` rebuilds the model inside the traced loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.demo import data as datasets
from gradlab.demo.optimizers import LEARNING_RATES, eval_params_fn, make_optimizer
from gradlab.demo.training import Problem, Run, make_evaluate, train

#: The MLP's layer widths: 8x8 pixels in, one hidden ReLU layer, 10 logits out.
LAYERS = (64, 128, 10)


def lecun_uniform(seed: int) -> Callable[..., jax.Array]:
    r"""A Flax kernel initializer drawing on the host: :math:`U(\pm\sqrt{3 / \text{fan in}})`.

    Flax's ``lecun_uniform``, from a NumPy generator seeded with ``seed`` instead of the JAX key
    it is passed: the same distribution, without compiling JAX's random-number kernels (about
    a second on a small CPU, as much as a training run here).

    >>> import numpy as np
    >>> w = lecun_uniform(0)(None, (64, 128))
    >>> w.shape, bool(np.abs(w).max() <= np.sqrt(3 / 64))
    ((64, 128), True)
    """
    rng = np.random.default_rng(seed)

    def init(key: Any, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        limit = np.sqrt(3.0 / shape[0])
        return jnp.asarray(rng.uniform(-limit, limit, size=tuple(shape)), dtype)

    return init


def make_mlp(seed: int) -> tuple[Any, Any]:
    """A ``flax.nnx`` MLP with :data:`LAYERS`, as ``(graphdef, params)``.

    ``params`` is a plain nested dict of arrays (``nnx.to_pure_dict`` of ``nnx.split``'s
    state), which ``nnx.merge(graphdef, params)`` turns back into the model: every optimizer
    sees plain arrays at its leaves (gradlab's Muon, through ``partition``, does not yet
    accept the ``nnx.Param`` nodes of an ``nnx.State``). Kernels: :func:`lecun_uniform` from
    ``seed``; biases: zeros.
    """
    from flax import nnx

    kernel_init = lecun_uniform(seed)

    class MLP(nnx.Module):
        """Linear, ReLU, linear."""

        def __init__(self, rngs: nnx.Rngs) -> None:
            self.hidden = nnx.Linear(LAYERS[0], LAYERS[1], kernel_init=kernel_init, rngs=rngs)
            self.out = nnx.Linear(LAYERS[1], LAYERS[2], kernel_init=kernel_init, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.out(jax.nn.relu(self.hidden(x)))

    graphdef, state = nnx.split(MLP(nnx.Rngs(seed)))
    return graphdef, nnx.to_pure_dict(state)


def digits_problem(seed: int = 0, validation: bool = False) -> Problem:
    """The digits task: mean softmax cross-entropy of the MLP; metric: test accuracy.

    With ``validation``, the task to tune on: the training images of
    :func:`~gradlab.demo.data.digits_validation`, and the accuracy on its validation images.
    """
    from flax import nnx

    import gradlab

    split = datasets.digits_validation(seed) if validation else datasets.digits(seed)
    graphdef, params = make_mlp(seed)

    def logits(params: Any, x: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, params)(x)

    def loss(params: Any, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        return gradlab.losses.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()

    def accuracy(params: Any, test: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = test
        return jnp.mean(jnp.argmax(logits(params, x), axis=-1) == y)

    train_data = (jnp.asarray(split.x_train), jnp.asarray(split.y_train))
    test_data = (jnp.asarray(split.x_test), jnp.asarray(split.y_test))
    metric_name = "validation accuracy" if validation else "test accuracy"
    return Problem(params, loss, train_data, test_data, accuracy, metric_name)


def run_digits(
    names: Sequence[str],
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
    learning_rates: Mapping[str, float] | None = None,
    progress: bool = True,
    fast_compile: bool = False,
    points: int = 50,
    time_steps: bool = False,
    problem: Problem | None = None,
) -> list[Run]:
    """Trains the MLP on the digits with each optimizer of ``names``, in order.

    Args:
      names: optimizer names (keys of :data:`~gradlab.demo.optimizers.LEARNING_RATES`).
      steps: minibatch steps per optimizer.
      batch_size: examples per step.
      seed: seeds the split, the initial weights and the batch order.
      learning_rates: the rate of each name (default: the table).
      progress: show a progress bar per run.
      fast_compile: compile with less optimization (``--quick``).
      points: about how many times to measure the curves.
      time_steps: time every step (``Run.step_time_s``, the median).
      problem: the task (default: :func:`digits_problem` of ``seed``).

    Returns:
      One :class:`~gradlab.demo.training.Run` per name; a schedule-free run is evaluated at
      its averaged params (:func:`~gradlab.demo.optimizers.eval_params_fn`).
    """
    rates = learning_rates or LEARNING_RATES
    problem = problem or digits_problem(seed)
    evaluate = make_evaluate(problem, fast_compile)
    key = jax.random.key(seed)
    return [
        train(
            problem,
            make_optimizer(name, rates[name], steps),
            name=name,
            steps=steps,
            batch_size=batch_size,
            key=key,
            evaluate=evaluate,
            progress=progress,
            fast_compile=fast_compile,
            eval_params=eval_params_fn(name),
            points=points,
            time_steps=time_steps,
        )
        for name in names
    ]


__all__ = ["LAYERS", "digits_problem", "lecun_uniform", "make_mlp", "run_digits"]

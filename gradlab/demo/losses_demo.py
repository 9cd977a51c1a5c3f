r"""The lecture's losses on real data: a linear SVM, and robust linear regression.

**Linear SVM** on the breast-cancer set (30 standardized features, labels :math:`\pm 1`):
:math:`f(x) = w^\top x + b`, fitted with gradlab by minimizing

.. math::
    \frac1n \sum_i \ell(y_i f(x_i)) + \frac{\lambda}{2} \lVert w \rVert^2,
    \qquad \lambda = \frac{1}{C n},

with the hinge loss :math:`\max(0, 1 - yf)` or its square: for :math:`C = 1` that is the
problem ``sklearn.svm.LinearSVC(C=1, loss=...)`` solves (up to LinearSVC's penalty on the
intercept), so its test accuracy is the reference.

**Regression** on the diabetes set with gross outliers in the training targets only
(:func:`gradlab.demo.data.diabetes_with_outliers`): a linear model fitted with the L2
(``l2_loss``), Huber (``huber_loss``) and L1 (``absolute_error``) losses, scored by the mean
absolute error on the clean test targets. The targets are centred and scaled by the training
targets' median and interquartile range (statistics the outliers barely move), so Huber's
``delta = 1`` is about one typical deviation.

Both are convex and small, so they run full-batch with one optimizer,
:data:`CONVEX_LEARNING_RATE` with a cosine decay, through the same training loop as the digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core.base import GradientTransformation
from gradlab.demo import data as datasets
from gradlab.demo.training import Problem, Run, make_evaluate, train

#: Adam's initial rate for the SVM and the regressions (cosine-decayed to 0 over the run).
CONVEX_LEARNING_RATE = 0.05
#: The SVM's regularization, as in ``LinearSVC(C=...)``.
SVM_C = 1.0
#: Huber's ``delta``, in the scaled target units (about one typical deviation).
HUBER_DELTA = 1.0

Elementwise = Callable[[jax.Array, jax.Array], jax.Array]


class Reference(NamedTuple):
    """A scikit-learn reference result (no training curve).

    Args:
      name: what was fitted, e.g. ``"LinearSVC (hinge)"``.
      metric: its test accuracy, or its test error.
      wall_s: seconds to fit it.
    """

    name: str
    metric: float
    wall_s: float


def convex_optimizer(steps: int) -> GradientTransformation:
    """Adam at :data:`CONVEX_LEARNING_RATE`, cosine-decayed to 0 over ``steps``."""
    import gradlab

    return gradlab.adam(gradlab.cosine_decay_schedule(CONVEX_LEARNING_RATE, steps))


def linear(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """The linear model :math:`f(x) = x w + b`, one value per row of ``x``."""
    return x @ params["w"] + params["b"]


def _zeros(num_features: int) -> dict[str, jax.Array]:
    return {"w": jnp.zeros(num_features, jnp.float32), "b": jnp.zeros((), jnp.float32)}


def svm_problem(split: datasets.Split, margin_loss: Elementwise, c: float = SVM_C) -> Problem:
    """The linear SVM with ``margin_loss`` (``hinge_loss`` or ``squared_hinge_loss``)."""
    lam = 1.0 / (c * len(split.y_train))

    def objective(params: dict[str, jax.Array], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        data_term = margin_loss(linear(params, x), y).mean()
        return data_term + 0.5 * lam * jnp.sum(params["w"] ** 2)

    def accuracy(params: dict[str, jax.Array], test: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = test
        return jnp.mean(jnp.where(linear(params, x) >= 0, 1.0, -1.0) == y)

    train_data = (jnp.asarray(split.x_train), jnp.asarray(split.y_train))
    test_data = (jnp.asarray(split.x_test), jnp.asarray(split.y_test))
    params = _zeros(split.x_train.shape[1])
    return Problem(params, objective, train_data, test_data, accuracy, "test accuracy")


def run_svm(
    *, steps: int, seed: int = 0, progress: bool = True, fast_compile: bool = False
) -> tuple[list[Run], list[Reference]]:
    """Fits the hinge and squared-hinge SVMs with gradlab, and both LinearSVCs for reference.

    Returns:
      ``(runs, references)``: gradlab's two runs, then LinearSVC's two accuracies.
    """
    import time

    from sklearn.svm import LinearSVC

    import gradlab

    split = datasets.breast_cancer(seed)
    losses = {
        "svm-hinge": gradlab.losses.hinge_loss,
        "svm-sq-hinge": gradlab.losses.squared_hinge_loss,
    }
    runs = []
    for name, margin_loss in losses.items():
        problem = svm_problem(split, margin_loss)
        runs.append(
            train(
                problem,
                convex_optimizer(steps),
                name=name,
                steps=steps,
                batch_size=len(split.y_train),
                key=jax.random.key(seed),
                progress=progress,
                fast_compile=fast_compile,
            )
        )
    references = []
    for loss, label in (("hinge", "LinearSVC (hinge)"), ("squared_hinge", "LinearSVC (sq. hinge)")):
        start = time.perf_counter()
        svc = LinearSVC(C=SVM_C, loss=loss, dual=True, max_iter=100_000, random_state=seed)
        svc.fit(split.x_train, split.y_train)
        metric = float(svc.score(split.x_test, split.y_test))
        references.append(Reference(label, metric, time.perf_counter() - start))
    return runs, references


class Scaling(NamedTuple):
    """Targets as seen by the model: :math:`(y - \\text{center}) / \\text{scale}`."""

    center: float
    scale: float


def robust_scaling(y: np.ndarray) -> Scaling:
    """The median and the interquartile range / 1.349 (the standard deviation, for a normal).

    >>> robust_scaling(np.array([0.0, 1.0, 2.0, 3.0, 100.0]))
    Scaling(center=2.0, scale=1.4825796886582654)
    """
    q1, median, q3 = np.percentile(y, [25, 50, 75])
    return Scaling(float(median), float((q3 - q1) / 1.349))


def regression_problem(split: datasets.Split, loss: Elementwise) -> tuple[Problem, Scaling]:
    """A linear regression with the element-wise ``loss``; metric: test MAE in target units."""
    scaling = robust_scaling(split.y_train)

    def objective(params: dict[str, jax.Array], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        return loss(linear(params, x), y).mean()

    def test_mae(params: dict[str, jax.Array], test: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = test
        return jnp.mean(jnp.abs(scaling.center + scaling.scale * linear(params, x) - y))

    y_train = (split.y_train - scaling.center) / scaling.scale
    train_data = (jnp.asarray(split.x_train), jnp.asarray(y_train, jnp.float32))
    test_data = (jnp.asarray(split.x_test), jnp.asarray(split.y_test))
    params = _zeros(split.x_train.shape[1])
    return Problem(params, objective, train_data, test_data, test_mae, "test MAE"), scaling


def regression_losses() -> dict[str, Elementwise]:
    """The three losses compared, by run name: L2, Huber (:data:`HUBER_DELTA`) and L1."""
    import gradlab

    def huber(predictions: jax.Array, targets: jax.Array) -> jax.Array:
        return gradlab.losses.huber_loss(predictions, targets, delta=HUBER_DELTA)

    return {
        "l2": gradlab.losses.l2_loss,
        "huber": huber,
        "l1": gradlab.losses.absolute_error,
    }


class RegressionResult(NamedTuple):
    """The regression runs, with what the plots need.

    Args:
      runs: one :class:`~gradlab.demo.training.Run` per loss (``l2``, ``huber``, ``l1``).
      references: least squares (scikit-learn) on the corrupted and on the clean targets.
      predictions: each run's test predictions, in target units, by run name.
      y_test: the clean test targets.
      num_outliers: how many training targets were corrupted.
    """

    runs: list[Run]
    references: list[Reference]
    predictions: dict[str, np.ndarray]
    y_test: np.ndarray
    num_outliers: int


def run_regression(
    *, steps: int, seed: int = 0, progress: bool = True, fast_compile: bool = False
) -> RegressionResult:
    """Fits the diabetes regression with each of :func:`regression_losses` (full batch)."""
    import time

    from sklearn.linear_model import LinearRegression

    corrupted = datasets.diabetes_with_outliers(seed)
    split = corrupted.split
    runs, predictions = [], {}
    for name, loss in regression_losses().items():
        problem, scaling = regression_problem(split, loss)
        run = train(
            problem,
            convex_optimizer(steps),
            name=name,
            steps=steps,
            batch_size=len(split.y_train),
            key=jax.random.key(seed),
            evaluate=make_evaluate(problem, fast_compile),
            progress=progress,
            fast_compile=fast_compile,
        )
        runs.append(run)
        fit = linear(run.params, jnp.asarray(split.x_test))
        predictions[name] = np.asarray(scaling.center + scaling.scale * fit)
    references = []
    fits = (
        ("least squares (sklearn)", split.y_train),
        ("least squares, clean targets", corrupted.clean),
    )
    for label, y in fits:
        start = time.perf_counter()
        model = LinearRegression().fit(split.x_train, y)
        mae = float(np.mean(np.abs(model.predict(split.x_test) - split.y_test)))
        references.append(Reference(label, mae, time.perf_counter() - start))
    return RegressionResult(runs, references, predictions, split.y_test, len(corrupted.outliers))


__all__ = [
    "CONVEX_LEARNING_RATE",
    "HUBER_DELTA",
    "SVM_C",
    "Reference",
    "RegressionResult",
    "convex_optimizer",
    "linear",
    "regression_losses",
    "regression_problem",
    "robust_scaling",
    "run_regression",
    "run_svm",
    "svm_problem",
]

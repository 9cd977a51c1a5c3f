"""The demo's data: three of scikit-learn's bundled data sets (no download), split once.

Each loader returns a :class:`Split` of float32 NumPy arrays, the same for a given ``seed``:
a stratified 75/25 split for the two classification sets, a plain one for the regression.
scikit-learn is imported inside the loaders, so this module imports without it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The fraction of each data set held out for testing.
TEST_FRACTION = 0.25


class Split(NamedTuple):
    """A train/test split: inputs ``(N, D)`` float32 and targets ``(N,)``.

    Args:
      x_train: training inputs.
      y_train: training targets (int32 class labels, or float32 values).
      x_test: test inputs.
      y_test: test targets.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _split(x: np.ndarray, y: np.ndarray, seed: int, stratify: bool) -> Split:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y if stratify else None
    )
    return Split(x_train, y_train, x_test, y_test)


def _standardize(split: Split) -> Split:
    """Zero mean and unit variance per feature, with the training set's statistics."""
    mean = split.x_train.mean(axis=0)
    std = split.x_train.std(axis=0) + 1e-8
    scale = lambda x: ((x - mean) / std).astype(np.float32)  # noqa: E731
    return split._replace(x_train=scale(split.x_train), x_test=scale(split.x_test))


def digits(seed: int = 0) -> Split:
    """The 1,797 8x8 handwritten digits, pixels scaled to [0, 1]; labels 0-9 (int32).

    Stratified split: 1,347 training and 450 test images.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    return _split(x, bunch.target.astype(np.int32), seed, stratify=True)


def digits_validation(seed: int = 0) -> Split:
    """The training images of :func:`digits`, split again to tune on: ``x_test`` is a
    validation split, and the test images stay unseen.

    Stratified split of the 1,347 training images: 1,010 to train on and 337 to validate.
    """
    train = digits(seed)
    return _split(train.x_train, train.y_train, seed, stratify=True)


def breast_cancer(seed: int = 0) -> Split:
    """The 569 Wisconsin breast-cancer cases, 30 standardized features; labels in {-1, +1}.

    Stratified split: 426 training and 143 test cases; +1 is benign.
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    labels = np.where(bunch.target == 1, 1.0, -1.0).astype(np.float32)
    return _standardize(_split(bunch.data.astype(np.float32), labels, seed, stratify=True))


class Regression(NamedTuple):
    """A regression split with outliers injected into its training targets.

    Args:
      split: standardized features; ``y_train`` holds the corrupted targets, ``y_test`` the
        clean ones (in the data set's units, disease progression after one year).
      outliers: the indices into ``y_train`` that were corrupted.
      clean: the training targets before the corruption (for a reference fit).
    """

    split: Split
    outliers: np.ndarray
    clean: np.ndarray


def diabetes_with_outliers(
    seed: int = 0, num_outliers: int = 15, shift: float = 600.0
) -> Regression:
    """The 442 diabetes patients (10 standardized features), with gross training outliers.

    ``num_outliers`` training targets, chosen at random, get ``shift`` added (the targets range
    over 25-346, so a shift of 600 is a gross error such as a unit mix-up); the test targets
    stay clean, so the test error shows how much each loss let the outliers pull the fit.

    Args:
      seed: the seed of the split and of the choice of outliers.
      num_outliers: how many training targets to corrupt.
      shift: what is added to each.

    Returns:
      A :class:`Regression`: 331 training and 111 test patients.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    split = _standardize(
        _split(bunch.data.astype(np.float32), bunch.target.astype(np.float32), seed, False)
    )
    rng = np.random.default_rng(seed)
    outliers = np.sort(rng.choice(len(split.y_train), size=num_outliers, replace=False))
    y_train = split.y_train.copy()
    y_train[outliers] += np.float32(shift)
    return Regression(split._replace(y_train=y_train), outliers, split.y_train)


__all__ = [
    "Regression",
    "Split",
    "breast_cancer",
    "diabetes_with_outliers",
    "digits",
    "digits_validation",
]

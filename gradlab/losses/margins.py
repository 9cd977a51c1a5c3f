r"""Margin losses for classification: hinge, squared hinge and perceptron, binary and multiclass.

:mod:`gradlab.losses` states the conventions every loss follows. Each public loss checks its
arguments, then calls a private kernel that runs under ``jax.jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.losses import casting

_MULTICLASS_HINGE_FORMS = ("crammer_singer", "weston_watkins")


def _margin(f: jax.Array, y: jax.Array) -> jax.Array:
    """The margin :math:`y f` in ``f``'s float dtype."""
    f = casting.to_float(f)
    return f * y.astype(f.dtype)


def _scores_and_label_score(s: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Float scores and the score of the labelled class, over the last axis."""
    s = casting.to_float(s)
    return s, jnp.take_along_axis(s, c[..., None], axis=-1)[..., 0]


def _multiclass_args(
    fn: str, scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """The checked arguments of the multiclass losses: scores with a class axis (last), and one
    integer label per example."""
    s = validation.check_real_array(fn, "scores", scores)
    if s.ndim == 0:
        raise ValueError(
            f"{fn}: scores must have a class axis (last), got shape (). "
            "Pass e.g. scores with shape (batch, num_classes)."
        )
    c = validation.check_class_labels(fn, labels, ("scores", s.shape), (s.ndim - 1,))
    return s, c


def hinge_loss(
    predictor_outputs: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Element-wise hinge loss for labels in :math:`\{-1, 1\}`.

    .. math::
      \ell(f, y) = \max(0,\ 1 - y f).

    A convex upper bound on the 0-1 loss :math:`[y f \le 0]`. Subgradient at the kink
    :math:`y f = 1`: ``-targets`` (the linear piece counts as active, as in Rosenblatt's and
    scikit-learn's ``SGDClassifier`` update rules); optax returns half of that.

    Args:
      predictor_outputs: decision values :math:`f`, any shape.
      targets: labels :math:`y \in \{-1, 1\}`, with ``predictor_outputs``' shape.

    Returns:
      The element-wise losses, with ``predictor_outputs``' shape.

    References:
      Cortes & Vapnik, `Support-Vector Networks <https://doi.org/10.1007/BF00994018>`_, 1995.
      Matches: ``optax.losses.hinge_loss``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import hinge_loss
      >>> print(hinge_loss(jnp.array([2.0, 0.5, -1.0]), jnp.array([1.0, 1.0, 1.0])))
      [0.  0.5 2. ]
    """
    return _hinge_loss(
        *validation.check_array_pair(
            "hinge_loss", "predictor_outputs", predictor_outputs, "targets", targets
        )
    )


@jax.jit
def _hinge_loss(f: jax.Array, y: jax.Array) -> jax.Array:
    margin = _margin(f, y)
    return jnp.where(margin > 1.0, 0.0, 1.0 - margin)


def squared_hinge_loss(
    predictor_outputs: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Element-wise squared hinge loss for labels in :math:`\{-1, 1\}`.

    .. math::
      \ell(f, y) = \max(0,\ 1 - y f)^2 .

    Differentiable everywhere (the gradient is 0 at :math:`y f = 1`); penalises badly
    misclassified points (:math:`y f < 0`) more than ``hinge_loss``. The "L2-SVM" loss.

    Args:
      predictor_outputs: decision values :math:`f`, any shape.
      targets: labels :math:`y \in \{-1, 1\}`, with ``predictor_outputs``' shape.

    Returns:
      The element-wise losses, with ``predictor_outputs``' shape.

    References:
      Tang, `Deep Learning using Linear Support Vector Machines
      <https://arxiv.org/abs/1306.0239>`_, 2013. (No optax counterpart.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import squared_hinge_loss
      >>> print(squared_hinge_loss(jnp.array([2.0, 0.5, -1.0]), jnp.array([1.0, 1.0, 1.0])))
      [0.   0.25 4.  ]
    """
    return _squared_hinge_loss(
        *validation.check_array_pair(
            "squared_hinge_loss", "predictor_outputs", predictor_outputs, "targets", targets
        )
    )


@jax.jit
def _squared_hinge_loss(f: jax.Array, y: jax.Array) -> jax.Array:
    margin = _margin(f, y)
    slack = jnp.where(margin > 1.0, 0.0, 1.0 - margin)
    return slack * slack


def perceptron_loss(
    predictor_outputs: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Element-wise perceptron criterion for labels in :math:`\{-1, 1\}`.

    .. math::
      \ell(f, y) = \max(0,\ -y f).

    Subgradient at the kink :math:`y f = 0`: ``-targets`` (a point on the boundary counts as a
    mistake, as in Rosenblatt's rule; otherwise training from zero weights could never start).
    optax returns half of that.

    Args:
      predictor_outputs: decision values :math:`f`, any shape.
      targets: labels :math:`y \in \{-1, 1\}`, with ``predictor_outputs``' shape.

    Returns:
      The element-wise losses, with ``predictor_outputs``' shape.

    References:
      Rosenblatt, The Perceptron, 1958; Bishop, *Pattern Recognition and Machine Learning*, 2006,
      eq. 4.54. Matches: ``optax.losses.perceptron_loss`` (same equal-shapes check).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import perceptron_loss
      >>> print(perceptron_loss(jnp.array([2.0, -0.5]), jnp.array([1.0, 1.0])))
      [0.  0.5]
    """
    return _perceptron_loss(
        *validation.check_array_pair(
            "perceptron_loss", "predictor_outputs", predictor_outputs, "targets", targets
        )
    )


@jax.jit
def _perceptron_loss(f: jax.Array, y: jax.Array) -> jax.Array:
    margin = _margin(f, y)
    return jnp.where(margin > 0.0, 0.0, 0.0 - margin)


def multiclass_hinge_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    form: str = "crammer_singer",
) -> jax.Array:
    r"""Multiclass hinge loss, Crammer-Singer (max) or Weston-Watkins (sum) form.

    With scores :math:`s`, true class :math:`c` and :math:`\Delta_k = [k \ne c]`:

    .. math::
      \ell_{\mathrm{CS}}(s, c) = \max_k \left(s_k + \Delta_k\right) - s_c
        = \max\left(0,\ \max_{k \ne c} (1 + s_k - s_c)\right), \\
      \ell_{\mathrm{WW}}(s, c) = \sum_{k \ne c} \max\left(0,\ 1 + s_k - s_c\right).

    :math:`\ell_{\mathrm{WW}} \ge \ell_{\mathrm{CS}}`, with equality for two classes (both are
    then ``hinge_loss`` of :math:`s_c - s_{k}`). Subgradients at kinks: for Crammer-Singer, ties
    in the max are split evenly among the tied classes (``jnp.max``'s rule, as in optax); for
    Weston-Watkins, a term at margin exactly 1 counts as active (+1 on :math:`s_k`, -1 on
    :math:`s_c`, as in ``hinge_loss``).

    Args:
      scores: class scores :math:`s`, shape ``[..., num_classes]``.
      labels: integer labels :math:`c \in [0, \text{num\_classes})`, shape ``[...]``.
        Negative labels count from the end; labels outside
        :math:`[-\text{num\_classes}, \text{num\_classes})` give ``nan``.
      form: ``"crammer_singer"`` (default, optax's loss) or ``"weston_watkins"``.

    Returns:
      The loss per example, shape ``[...]``.

    Raises:
      ValueError: for an unknown ``form`` or a ``labels`` shape that does not match.
      TypeError: if ``labels`` are not integers.

    References:
      Crammer & Singer, `On the Algorithmic Implementation of Multiclass Kernel-based Vector
      Machines <https://www.jmlr.org/papers/v2/crammer01a.html>`_, 2001; Weston & Watkins,
      Support Vector Machines for Multi-Class Pattern Recognition, ESANN 1999.
      Matches: ``optax.losses.multiclass_hinge_loss`` (``form="crammer_singer"``).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import multiclass_hinge_loss
      >>> s, c = jnp.array([[2.0, 1.5, 1.5]]), jnp.array([0])
      >>> print(multiclass_hinge_loss(s, c), multiclass_hinge_loss(s, c, form="weston_watkins"))
      [0.5] [1.]
    """
    fn = "multiclass_hinge_loss"
    validation.check_choice(fn, "form", form, _MULTICLASS_HINGE_FORMS)
    return _multiclass_hinge_loss(*_multiclass_args(fn, scores, labels), form)


@jax.jit(static_argnames="form")
def _multiclass_hinge_loss(s: jax.Array, c: jax.Array, form: str) -> jax.Array:
    s, s_c = _scores_and_label_score(s, c)
    is_true = jax.nn.one_hot(c, s.shape[-1], dtype=jnp.bool_)
    if form == "crammer_singer":
        return jnp.max(jnp.where(is_true, s, s + 1.0), axis=-1) - s_c
    slack = 1.0 + s - s_c[..., None]
    return jnp.sum(jnp.where(is_true | (slack < 0.0), 0.0, slack), axis=-1)


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Multiclass perceptron loss: :math:`\ell(s, c) = \max_k s_k - s_c`.

    Zero when the true class has the top score. Subgradient at ties in the max: split evenly
    among the tied classes (``jnp.max``'s rule, as in optax), so with all scores equal the
    gradient is :math:`\tfrac1K \mathbf 1 - e_c`.

    Args:
      scores: class scores :math:`s`, shape ``[..., num_classes]``.
      labels: integer labels :math:`c \in [0, \text{num\_classes})`, shape ``[...]``.
        Negative labels count from the end; labels outside
        :math:`[-\text{num\_classes}, \text{num\_classes})` give ``nan``.

    Returns:
      The loss per example, shape ``[...]``.

    Raises:
      ValueError: for a ``labels`` shape that does not match.
      TypeError: if ``labels`` are not integers.

    References:
      Collins, `Discriminative Training Methods for Hidden Markov Models
      <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
      Matches: ``optax.losses.multiclass_perceptron_loss``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import multiclass_perceptron_loss
      >>> print(multiclass_perceptron_loss(jnp.array([[2.0, 3.0], [1.0, 0.0]]), jnp.array([0, 0])))
      [1. 0.]
    """
    return _multiclass_perceptron_loss(
        *_multiclass_args("multiclass_perceptron_loss", scores, labels)
    )


@jax.jit
def _multiclass_perceptron_loss(s: jax.Array, c: jax.Array) -> jax.Array:
    s, s_c = _scores_and_label_score(s, c)
    return jnp.max(s, axis=-1) - s_c

r"""Loss functions: pure functions of arrays that return per-example values.

Every loss returns one value per example (the caller reduces, e.g. with ``.mean()``), as in
``optax.losses``. Where optax 0.2.8 has a loss of the same name, the argument names, order and
defaults are optax's and the values agree with optax to float rounding.

Conventions shared by every function here:

* **dtype.** The output dtype is the floating dtype of the first argument (``predictions``,
  ``logits``, ``scores``...); the other array arguments and the hyperparameters are cast to it
  (bf16 in, bf16 out). An integer first argument is promoted to JAX's default float dtype.
* **Broadcasting.** Element-wise losses broadcast their arguments; shapes that cannot broadcast
  raise a ``ValueError`` naming both shapes.
* **Stability.** Logits only enter through ``log_softmax``/``logsumexp``/``log_sigmoid``, so
  :math:`|z| = 10^4` gives finite losses and gradients.
* **Kinks.** Every non-differentiable loss states in its docstring which subgradient
  ``jax.grad`` returns at the kink.
* **Validation.** A concrete bad hyperparameter raises ``ValueError`` naming the argument and a
  fix; traced hyperparameters (under ``jit``/``vmap``) are not checked.

Deliberate differences from optax 0.2.8 (values are identical for valid inputs unless listed):

* ``squared_error`` and ``perceptron_loss`` broadcast ``targets`` (optax requires equal shapes,
  although its docstring says "broadcastable").
* Integer ``predictions``/``logits`` are promoted to float (optax raises ``TypeError``, or for
  ``hinge_loss``/``perceptron_loss`` computes in integers); ``targets``/``labels`` are cast to the
  first argument's dtype instead of type-promoted (bf16 logits with f32 labels give bf16).
* ``hinge_loss`` at margin 1 and ``perceptron_loss`` at margin 0 return the gradient of the
  active (linear) piece, ``-targets``; optax's ``jnp.maximum`` returns half of it.
* ``kl_divergence`` and ``kl_divergence_with_log_targets`` give 0 (and zero gradients) for
  entries whose target is exactly 0, also when the prediction is ``-inf``; optax gives ``nan``
  values there or ``nan`` gradients with respect to ``targets``.
* ``softmax_cross_entropy`` with ``where`` has finite gradients with respect to ``labels`` at
  masked entries (optax: ``nan``).
* ``multiclass_hinge_loss``/``multiclass_perceptron_loss`` require integer labels (optax
  accepts any dtype), read negative labels from the end and give ``nan`` for labels out of range
  (optax silently uses an all-zero one-hot row for both); ``multiclass_hinge_loss`` has the extra
  keyword-only ``form``.
* Each loss runs as one jitted kernel (optax's run op by op when called eagerly), so an eager
  call compiles once per input signature; values are unchanged.

``absolute_error``, ``l1_loss``, ``gaussian_nll``, ``binary_cross_entropy`` and
``squared_hinge_loss`` have no optax counterpart.
"""

from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import validation

__all__ = [
    "absolute_error",
    "binary_cross_entropy",
    "gaussian_nll",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l1_loss",
    "l2_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "perceptron_loss",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
    "squared_hinge_loss",
]

_LOG_2PI = float(np.log(2.0 * np.pi))
_MULTICLASS_HINGE_FORMS = ("crammer_singer", "weston_watkins")


# ----------------------------------------------------------------------------------------------
# Private helpers: validation and casting.
# ----------------------------------------------------------------------------------------------


def _array(fn: str, arg: str, x: jax.typing.ArrayLike) -> jax.Array:
    """``x`` with a ``shape`` and a ``dtype``; complex input is refused.

    numpy and JAX arrays pass through untouched (``jnp.asarray`` of a numpy array compiles a
    staging op per shape), so an eager call compiles nothing outside its jitted kernel.
    """
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: {arg} must be real, got dtype {x.dtype}. Pass e.g. {arg}.real.")
    return cast(jax.Array, x)  # a numpy array passes as is (no staging op)


def _check_broadcast(fn: str, *named_shapes: tuple[str, tuple[int, ...]]) -> None:
    """Raises ``ValueError`` naming every shape when ``named_shapes`` do not broadcast."""
    try:
        np.broadcast_shapes(*(shape for _, shape in named_shapes))
    except ValueError:
        described = " and ".join(f"{name} shape {shape}" for name, shape in named_shapes)
        raise ValueError(
            f"{fn}: {described} cannot be broadcast together. "
            "Pass arrays whose shapes broadcast (e.g. equal shapes)."
        ) from None


def _pair(
    fn: str, first: str, a: jax.typing.ArrayLike, second: str, b: jax.typing.ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """Two arguments as arrays whose shapes broadcast (``b`` may be ``None``)."""
    a = _array(fn, first, a)
    if b is None:
        return a, None
    b = _array(fn, second, b)
    _check_broadcast(fn, (first, a.shape), (second, b.shape))
    return a, b


def _class_labels(
    fn: str,
    labels: jax.typing.ArrayLike,
    batch_shape: tuple[int, ...],
    scores: str,
    alternative: str,
) -> jax.Array:
    """Integer labels with the shape of ``scores`` without its class axes (or broadcastable)."""
    labels = _array(fn, "labels", labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{fn}: labels must be integer class indices, got dtype {labels.dtype}. "
            f"Pass e.g. labels=jnp.argmax(one_hot_labels, axis=-1), or use {alternative}."
        )
    ok = labels.ndim == len(batch_shape)
    if ok:
        try:
            ok = np.broadcast_shapes(labels.shape, batch_shape) == tuple(batch_shape)
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(
            f"{fn}: labels shape {labels.shape} does not match {scores} shape "
            f"{tuple(batch_shape)} without the class axis. Pass one integer label per example, "
            f"with shape {tuple(batch_shape)}."
        )
    return labels


def _class_axes(fn: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> Any:
    """``axis`` (an int or a tuple of ints) made non-negative; lists become tuples."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else axis
    if not isinstance(axes, (int, tuple)) or isinstance(axes, bool):
        raise ValueError(
            f"{fn}: axis must be an int or a tuple of ints, got {type(axis).__name__}. "
            "Pass e.g. axis=-1."
        )
    for a in axes if isinstance(axes, tuple) else (axes,):
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{fn}: axis {a} is out of bounds for logits of shape {shape}. Pass e.g. axis=-1."
            )
    if isinstance(axes, tuple):
        return tuple(a % ndim for a in axes)
    return axes % ndim


# The kernels below run under ``jax.jit``: one compilation per input signature instead of one
# per primitive when a loss is called eagerly. Validation stays in the public wrappers.


def _to_float(x: jax.Array) -> jax.Array:
    """``x`` in a floating dtype; integers and bools go to the default float dtype."""
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _residual(p: jax.Array, t: jax.Array | None) -> jax.Array:
    """``p - t`` in ``p``'s float dtype; ``t=None`` means 0."""
    p = _to_float(p)
    return p if t is None else p - t.astype(p.dtype)


def _margin(f: jax.Array, y: jax.Array) -> jax.Array:
    """The margin :math:`y f` in ``f``'s float dtype."""
    f = _to_float(f)
    return f * y.astype(f.dtype)


def _scores_and_label_score(s: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Float scores and the score of the labelled class, over the last axis."""
    s = _to_float(s)
    return s, jnp.take_along_axis(s, c[..., None], axis=-1)[..., 0]


def _multiclass_args(
    fn: str, scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    s = _array(fn, "scores", scores)
    if s.ndim == 0:
        raise ValueError(
            f"{fn}: scores must have a class axis (last), got shape (). "
            "Pass e.g. scores with shape (batch, num_classes)."
        )
    c = _class_labels(fn, labels, s.shape[:-1], "scores", "softmax_cross_entropy (one-hot)")
    return s, c


# ----------------------------------------------------------------------------------------------
# Regression.
# ----------------------------------------------------------------------------------------------


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Element-wise squared error: :math:`\ell(\hat y, y) = (\hat y - y)^2`.

    Mean squared error is ``squared_error(predictions, targets).mean()``.

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, broadcastable to ``predictions``; ``None`` means zeros.

    Returns:
      The element-wise squared differences, with the broadcast shape.

    References:
      Matches: ``optax.losses.squared_error`` (which requires equal shapes; this broadcasts).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import squared_error
      >>> print(squared_error(jnp.array([1.0, 2.0]), jnp.array([0.5, 2.0])))
      [0.25 0.  ]
    """
    return _squared_error(*_pair("squared_error", "predictions", predictions, "targets", targets))


@jax.jit
def _squared_error(p: jax.Array, t: jax.Array | None) -> jax.Array:
    r = _residual(p, t)
    return r * r


def l2_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Half the squared error: :math:`\ell(\hat y, y) = \tfrac12 (\hat y - y)^2`.

    The factor :math:`\tfrac12` makes the gradient the plain residual :math:`\hat y - y`; it is
    the Gaussian negative log-likelihood with :math:`\beta = 1` without its constant.

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, broadcastable to ``predictions``; ``None`` means zeros.

    Returns:
      The element-wise losses, with the broadcast shape.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 1.2.
      Matches: ``optax.losses.l2_loss``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import l2_loss
      >>> print(l2_loss(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.0])))
      [0.125 2.   ]
    """
    return _l2_loss(*_pair("l2_loss", "predictions", predictions, "targets", targets))


@jax.jit
def _l2_loss(p: jax.Array, t: jax.Array | None) -> jax.Array:
    r = _residual(p, t)
    return 0.5 * (r * r)


def absolute_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Element-wise absolute error: :math:`\ell(\hat y, y) = |\hat y - y|`.

    Mean absolute error is ``absolute_error(predictions, targets).mean()``.
    At the kink :math:`\hat y = y` the gradient is ``0`` (the smallest subgradient in
    :math:`[-1, 1]`, so an exact fit is a fixed point of gradient descent); elsewhere it is
    :math:`\operatorname{sign}(\hat y - y)`.

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, broadcastable to ``predictions``; ``None`` means zeros.

    Returns:
      The element-wise absolute differences, with the broadcast shape.

    References:
      Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 2009, sec. 10.6.
      (No optax counterpart.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import absolute_error
      >>> print(absolute_error(jnp.array([1.0, -2.0]), jnp.array([0.5, 0.0])))
      [0.5 2. ]
    """
    return _absolute_error(*_pair("absolute_error", "predictions", predictions, "targets", targets))


@jax.jit
def _absolute_error(p: jax.Array, t: jax.Array | None) -> jax.Array:
    r = _residual(p, t)
    # r * sign(r) is |r| with gradient sign(r), hence 0 at r = 0 (jnp.abs gives 1 there).
    return r * jnp.sign(r)


def l1_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""The L1 loss, :math:`\ell(\hat y, y) = |\hat y - y|`; the same values as ``absolute_error``.

    Unlike ``l2_loss`` (half the squared error) there is no :math:`\tfrac12`: the derivative of
    :math:`|r|` is already :math:`\operatorname{sign}(r)`, and this matches the usual meaning of
    "L1 loss" (PyTorch's ``L1Loss``, Keras's MAE). At :math:`\hat y = y` the gradient is ``0``.

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, broadcastable to ``predictions``; ``None`` means zeros.

    Returns:
      The element-wise absolute differences, with the broadcast shape.

    References:
      Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 2009, sec. 10.6.
      (No optax counterpart.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import l1_loss
      >>> print(l1_loss(jnp.array([1.0, -2.0])))
      [1. 2.]
    """
    return _absolute_error(*_pair("l1_loss", "predictions", predictions, "targets", targets))


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Huber loss: quadratic for small residuals, linear for large ones.

    With :math:`r = \hat y - y`,

    .. math::
      \ell_\delta(r) = \begin{cases}
        \tfrac12 r^2 & |r| \le \delta, \\
        \delta\,(|r| - \tfrac12 \delta) & |r| > \delta.
      \end{cases}

    The loss is continuously differentiable: the gradient is :math:`r` for :math:`|r| \le \delta`
    and :math:`\delta\operatorname{sign}(r)` beyond, so at :math:`|r| = \delta` both pieces give
    :math:`\pm\delta` (gradient descent on it is ``l2_loss`` with the residual clipped to
    :math:`[-\delta, \delta]`).

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, broadcastable to ``predictions``; ``None`` means zeros.
      delta: :math:`\delta > 0`, where the loss turns from quadratic to linear.

    Returns:
      The element-wise losses, with the broadcast shape.

    Raises:
      ValueError: if a concrete ``delta`` is not > 0.

    References:
      Huber, `Robust Estimation of a Location Parameter
      <https://doi.org/10.1214/aoms/1177703732>`_, 1964.
      Matches: ``optax.losses.huber_loss``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import huber_loss
      >>> print(huber_loss(jnp.array([0.5, 3.0]), delta=1.0))
      [0.125 2.5  ]
    """
    validation.check_positive("huber_loss", "delta", delta, "1.0")
    p, t = _pair("huber_loss", "predictions", predictions, "targets", targets)
    return _huber_loss(p, t, delta)


@jax.jit
def _huber_loss(p: jax.Array, t: jax.Array | None, delta: jax.Array) -> jax.Array:
    r = _residual(p, t)
    d = jnp.asarray(delta, dtype=r.dtype)
    abs_r = jnp.abs(r)
    return jnp.where(abs_r > d, d * (abs_r - 0.5 * d), 0.5 * r * r)


def gaussian_nll(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    precision: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Negative log-likelihood of :math:`y` under :math:`\mathcal N(\hat y, \beta^{-1})`.

    .. math::
      -\ln p(y \mid \hat y, \beta)
        = \tfrac12 \left(\ln 2\pi - \ln \beta\right) + \tfrac{\beta}{2} (y - \hat y)^2 .

    For a fixed precision :math:`\beta` this is :math:`\tfrac{\beta}{2}` times ``squared_error``
    plus a constant, so minimising it over :math:`\hat y` gives the mean of the targets. It is
    also differentiable in ``precision`` (a heteroscedastic model may predict it).

    Args:
      predictions: predicted means :math:`\hat y`, any shape.
      targets: observations :math:`y`, broadcastable with ``predictions``.
      precision: the inverse variance :math:`\beta > 0`, a scalar or an array broadcastable
        with ``predictions``.

    Returns:
      The element-wise negative log-likelihoods, with the broadcast shape.

    Raises:
      ValueError: if a concrete ``precision`` is not > 0 everywhere.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, eqs. 1.61-1.62 and 3.10-3.12.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import gaussian_nll
      >>> nll = gaussian_nll(jnp.array([0.0, 1.0]), jnp.array([0.0, 3.0]), precision=1.0)
      >>> print(nll - gaussian_nll(0.0, 0.0, 1.0))  # the 1/2 ln(2 pi) constant cancels
      [0. 2.]
    """
    fn = "gaussian_nll"
    validation.check_positive(fn, "precision", precision, "1.0")
    p, t = _pair(fn, "predictions", predictions, "targets", targets)
    beta = _array(fn, "precision", precision)
    assert t is not None  # targets are required here
    _check_broadcast(fn, ("predictions", p.shape), ("targets", t.shape), ("precision", beta.shape))
    return _gaussian_nll(p, t, beta)


@jax.jit
def _gaussian_nll(p: jax.Array, t: jax.Array, beta: jax.Array) -> jax.Array:
    r = _residual(p, t)
    beta = beta.astype(r.dtype)
    return 0.5 * (_LOG_2PI - jnp.log(beta)) + 0.5 * beta * (r * r)


# ----------------------------------------------------------------------------------------------
# Probabilistic classification.
# ----------------------------------------------------------------------------------------------


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy between target distributions and ``softmax(logits)``.

    .. math::
      \ell(z, y) = -\sum_k y_k \log \operatorname{softmax}(z)_k
                 = \operatorname{logsumexp}(z)\textstyle\sum_k y_k - \sum_k y_k z_k .

    ``labels`` may be one-hot or soft (any distribution over the classes). It equals
    ``kl_divergence(log_softmax(logits), labels)`` plus the entropy of ``labels``. Computed
    with ``log_softmax``, so it is finite for any finite logits; mask classes with ``where``
    rather than with ``-inf`` logits.

    Args:
      logits: unnormalised log-probabilities :math:`z`, shape ``[..., num_classes]``.
      labels: target probabilities :math:`y`, broadcastable to ``logits``.
      axis: the class axis or axes.
      where: elements to include: either ``logits``' shape (masks classes) or its shape without
        ``axis`` (masks whole examples, whose loss is then 0).

    Returns:
      The cross-entropy per example, ``logits``' shape without ``axis``.

    References:
      Goodfellow, Bengio & Courville, *Deep Learning*, 2016, sec. 6.2.2.3.
      Matches: ``optax.losses.softmax_cross_entropy``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import softmax_cross_entropy
      >>> logits = jnp.array([[0.0, 0.0], [30.0, -30.0]])
      >>> print(softmax_cross_entropy(logits, jnp.array([[0.5, 0.5], [1.0, 0.0]])).round(4))
      [0.6931 0.    ]
    """
    z, y = _pair("softmax_cross_entropy", "logits", logits, "labels", labels)
    axis = tuple(axis) if isinstance(axis, list) else axis
    where = None if where is None else _array("softmax_cross_entropy", "where", where)
    return _softmax_cross_entropy(z, y, axis, where)


@jax.jit(static_argnames="axis")
def _softmax_cross_entropy(
    z: jax.Array, y: jax.Array, axis: int | tuple[int, ...] | None, where: jax.Array | None
) -> jax.Array:
    z = _to_float(z)
    y = y.astype(z.dtype)
    if where is not None:
        if where.ndim != z.ndim:
            where = jnp.expand_dims(where, axis)  # type: ignore[arg-type]  # axis is an int here
        log_probs = jax.nn.log_softmax(z, axis=axis, where=where)
        # Masked entries are -inf; zero them so that labels * log_probs has finite gradients.
        log_probs = jnp.where(where, log_probs, 0.0)
    else:
        log_probs = jax.nn.log_softmax(z, axis=axis)
    return jnp.sum(y * -log_probs, axis=axis, where=where)


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy of integer class labels under ``softmax(logits)``.

    .. math::
      \ell(z, c) = -\log \operatorname{softmax}(z)_c = \operatorname{logsumexp}(z) - z_c .

    Only the normaliser is subtracted, and only from the labelled logit, so a confident correct
    prediction gives exactly 0 and a confident wrong one about the logit gap.

    Args:
      logits: unnormalised log-probabilities :math:`z`, shape ``[..., num_classes]``.
      labels: integer class indices :math:`c \in [0, \text{num\_classes})`, with ``logits``'
        shape without ``axis``. With a tuple ``axis`` the label indexes the flattened classes
        (C order). Negative labels count from the end; labels outside
        :math:`[-\text{num\_classes}, \text{num\_classes})` give ``nan``.
      axis: the class axis or axes.
      where: elements to include: ``logits``' shape or its shape without ``axis``; an example
        with nothing included has loss 0.

    Returns:
      The cross-entropy per example, ``logits``' shape without ``axis``.

    Raises:
      TypeError: if ``labels`` are not integers (use ``softmax_cross_entropy`` for one-hot).
      ValueError: if ``axis`` is not an int or a tuple, or ``labels`` has the wrong shape.

    References:
      Goodfellow, Bengio & Courville, *Deep Learning*, 2016, sec. 6.2.2.3.
      Matches: ``optax.losses.softmax_cross_entropy_with_integer_labels``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import softmax_cross_entropy_with_integer_labels
      >>> logits = jnp.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]])
      >>> loss = softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 2]))
      >>> print(loss.round(4))
      [0.     1.0986]
    """
    fn = "softmax_cross_entropy_with_integer_labels"
    z = _array(fn, "logits", logits)
    axis = _class_axes(fn, axis, z.ndim, z.shape)
    class_axes = axis if isinstance(axis, tuple) else (axis,)
    batch_shape = tuple(n for a, n in enumerate(z.shape) if a not in class_axes)
    c = _class_labels(fn, labels, batch_shape, "logits", "softmax_cross_entropy (one-hot)")
    where = None if where is None else _array(fn, "where", where)
    return _softmax_cross_entropy_int(z, c, axis, where)


@jax.jit(static_argnames="axis")
def _softmax_cross_entropy_int(
    z: jax.Array, c: jax.Array, axis: int | tuple[int, ...], where: jax.Array | None
) -> jax.Array:
    z = _to_float(z)
    if where is not None and where.ndim != z.ndim:
        where = jnp.expand_dims(where, axis)
    if isinstance(axis, tuple):
        # Move the class axes to the end (keeping their order) and flatten them into one.
        batch_axes = tuple(a for a in range(z.ndim) if a not in axis)
        perm = batch_axes + axis
        flat_shape = tuple(z.shape[a] for a in batch_axes) + (-1,)
        if where is not None:
            where = jnp.transpose(jnp.broadcast_to(where, z.shape), perm).reshape(flat_shape)
        z = jnp.transpose(z, perm).reshape(flat_shape)
        axis = len(batch_axes)
    label_logits = jnp.take_along_axis(z, jnp.expand_dims(c, axis), axis=axis)
    label_logits = jnp.squeeze(label_logits, axis)
    loss = jax.scipy.special.logsumexp(z, axis=axis, where=where) - label_logits
    if where is not None:
        loss = jnp.where(jnp.any(where, axis=axis), loss, 0.0)
    return loss


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
    r"""Element-wise binary cross-entropy of ``labels`` under ``sigmoid(logits)``.

    .. math::
      \ell(z, y) = -y \log \sigma(z) - (1 - y) \log(1 - \sigma(z))
                 = -y \log \sigma(z) - (1 - y) \log \sigma(-z),

    the negative log-likelihood of a Bernoulli variable. Computed with ``log_sigmoid`` on both
    sides (never ``log(sigmoid)``), so it is finite for any finite logits, and the gradient is
    :math:`\sigma(z) - y` everywhere, including :math:`z = 0`.

    Args:
      logits: logits :math:`z` of the positive class, any shape.
      labels: targets :math:`y \in \{0, 1\}` or probabilities in :math:`[0, 1]`,
        broadcastable to ``logits``.

    Returns:
      The element-wise losses, with the broadcast shape.

    References:
      Goodfellow, Bengio & Courville, *Deep Learning*, 2016, sec. 6.2.2.2.
      Matches: ``optax.losses.sigmoid_binary_cross_entropy``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import sigmoid_binary_cross_entropy
      >>> z = jnp.array([1e4, -1e4])  # confident right, confident wrong
      >>> print(sigmoid_binary_cross_entropy(z, jnp.array([1.0, 1.0])))
      [    0. 10000.]
    """
    return _sigmoid_binary_cross_entropy(
        *_pair("sigmoid_binary_cross_entropy", "logits", logits, "labels", labels)
    )


@jax.jit
def _sigmoid_binary_cross_entropy(z: jax.Array, y: jax.Array) -> jax.Array:
    z = _to_float(z)
    y = y.astype(z.dtype)
    return -(y * jax.nn.log_sigmoid(z) + (1.0 - y) * jax.nn.log_sigmoid(-z))


def binary_cross_entropy(
    probabilities: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    eps: float | None = None,
) -> jax.Array:
    r"""Element-wise binary cross-entropy of ``labels`` under given probabilities.

    .. math::
      \ell(p, y) = -y \log \tilde p - (1 - y) \log(1 - \tilde p), \qquad
      \tilde p = \operatorname{clip}(p, \epsilon, 1 - \epsilon).

    Prefer ``sigmoid_binary_cross_entropy`` when the model produces logits: it needs no clipping
    and is exact for confident predictions. The clip keeps ``log(0)`` from ever happening, so the
    loss is at most :math:`-\log \epsilon` and finite; outside :math:`[\epsilon, 1 - \epsilon]` the
    gradient with respect to ``probabilities`` is 0 (the clip is flat there).

    Args:
      probabilities: predicted probabilities :math:`p \in [0, 1]` of the positive class.
      labels: targets :math:`y \in \{0, 1\}` or probabilities, broadcastable to
        ``probabilities``.
      eps: clipping margin :math:`\epsilon \in (0, 0.5)`. ``None`` (default) uses the machine
        epsilon of the probabilities' dtype (1.19e-7 for float32, 7.8e-3 for bfloat16, 2.2e-16 for
        float64). A smaller value is raised to ``jnp.finfo(dtype).epsneg``, the smallest margin
        for which :math:`1 - \epsilon` is still below 1 in that dtype.

    Returns:
      The element-wise losses, with the broadcast shape.

    Raises:
      ValueError: if a concrete ``eps`` is not in (0, 0.5).

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 4.90.
      (No optax counterpart; Keras's ``binary_crossentropy`` clips likewise with 1e-7.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import binary_cross_entropy
      >>> loss = binary_cross_entropy(jnp.array([0.5, 0.0]), jnp.array([1.0, 1.0]), eps=1e-3)
      >>> print(jnp.allclose(loss, jnp.array([jnp.log(2.0), -jnp.log(1e-3)])))  # capped: -log(eps)
      True
    """
    fn = "binary_cross_entropy"
    if eps is not None:
        v = validation.concrete_value(eps)
        if v is not None and not np.all((v > 0) & (v < 0.5)):
            raise ValueError(f"{fn}: eps must be in (0, 0.5), got {eps!r}. Pass e.g. eps=1e-7.")
    return _binary_cross_entropy(*_pair(fn, "probabilities", probabilities, "labels", labels), eps)


@jax.jit
def _binary_cross_entropy(p: jax.Array, y: jax.Array, eps: jax.Array | None) -> jax.Array:
    p = _to_float(p)
    y = y.astype(p.dtype)
    info = jnp.finfo(p.dtype)
    e = jnp.asarray(info.eps if eps is None else eps, dtype=p.dtype)
    e = jnp.maximum(e, jnp.asarray(info.epsneg, dtype=p.dtype))
    p = jnp.clip(p, e, 1.0 - e)
    return -(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p))


def kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(y \,\|\, q)` with :math:`q` in log-space.

    .. math::
      \mathrm{KL}(y \,\|\, q) = \sum_k y_k \left(\log y_k - \log q_k\right),
      \qquad 0 \log 0 = 0 .

    Entries with :math:`y_k = 0` contribute 0 to the value and 0 to the gradients with respect to
    both arguments, also when :math:`\log q_k = -\infty` (guarded with a double ``where``, so no
    ``nan`` reaches the gradients). Cross-entropy = this + the entropy of ``targets``.

    Args:
      log_predictions: log-probabilities :math:`\log q` of the predicted distribution,
        shape ``[..., dim]`` (e.g. ``jax.nn.log_softmax(logits)``).
      targets: probabilities :math:`y \ge 0` of the target distribution, broadcastable to
        ``log_predictions``.
      axis: the axis or axes to sum over.
      where: elements to include, broadcastable to the inputs.

    Returns:
      The divergence per example, the inputs' shape without ``axis``.

    References:
      Kullback & Leibler, `On Information and Sufficiency
      <https://doi.org/10.1214/aoms/1177729694>`_, 1951.
      Matches: ``optax.losses.kl_divergence``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import kl_divergence
      >>> log_q = jnp.log(jnp.array([0.5, 0.5]))
      >>> print(kl_divergence(log_q, jnp.array([1.0, 0.0])).round(4))
      0.6931
    """
    log_q, y = _pair("kl_divergence", "log_predictions", log_predictions, "targets", targets)
    axis = tuple(axis) if isinstance(axis, list) else axis
    where = None if where is None else _array("kl_divergence", "where", where)
    return _kl_divergence(log_q, y, axis, where)


@jax.jit(static_argnames="axis")
def _kl_divergence(
    log_q: jax.Array, y: jax.Array, axis: int | tuple[int, ...] | None, where: jax.Array | None
) -> jax.Array:
    log_q = _to_float(log_q)
    y = y.astype(log_q.dtype)
    zero = y == 0
    safe_y = jnp.where(zero, 1.0, y)
    safe_log_q = jnp.where(zero, 0.0, log_q)
    terms = jnp.where(zero, 0.0, y * (jnp.log(safe_y) - safe_log_q))
    return jnp.sum(terms, axis=axis, where=where)


def kl_divergence_with_log_targets(
    log_predictions: jax.typing.ArrayLike,
    log_targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(y \,\|\, q)`, both in log-space.

    .. math::
      \mathrm{KL}(y \,\|\, q) = \sum_k e^{\log y_k} \left(\log y_k - \log q_k\right),
      \qquad 0 \log 0 = 0 .

    Entries with :math:`\log y_k = -\infty` contribute 0 to the value and 0 to the gradients
    (double ``where``), also when :math:`\log q_k = -\infty`.

    Args:
      log_predictions: log-probabilities :math:`\log q` of the predicted distribution,
        shape ``[..., dim]``.
      log_targets: log-probabilities :math:`\log y` of the target distribution, broadcastable to
        ``log_predictions``.
      axis: the axis or axes to sum over.
      where: elements to include, broadcastable to the inputs.

    Returns:
      The divergence per example, the inputs' shape without ``axis``.

    References:
      Kullback & Leibler, `On Information and Sufficiency
      <https://doi.org/10.1214/aoms/1177729694>`_, 1951.
      Matches: ``optax.losses.kl_divergence_with_log_targets``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import kl_divergence_with_log_targets
      >>> log_q = jnp.log(jnp.array([0.5, 0.5]))
      >>> log_y = jnp.array([0.0, -jnp.inf])
      >>> print(kl_divergence_with_log_targets(log_q, log_y).round(4))
      0.6931
    """
    log_q, log_y = _pair(
        "kl_divergence_with_log_targets",
        "log_predictions",
        log_predictions,
        "log_targets",
        log_targets,
    )
    axis = tuple(axis) if isinstance(axis, list) else axis
    where = None if where is None else _array("kl_divergence_with_log_targets", "where", where)
    return _kl_divergence_with_log_targets(log_q, log_y, axis, where)


@jax.jit(static_argnames="axis")
def _kl_divergence_with_log_targets(
    log_q: jax.Array, log_y: jax.Array, axis: int | tuple[int, ...] | None, where: jax.Array | None
) -> jax.Array:
    log_q = _to_float(log_q)
    log_y = log_y.astype(log_q.dtype)
    zero = jnp.isneginf(log_y)
    safe_log_y = jnp.where(zero, 0.0, log_y)
    safe_log_q = jnp.where(zero, 0.0, log_q)
    terms = jnp.where(zero, 0.0, jnp.exp(safe_log_y) * (safe_log_y - safe_log_q))
    return jnp.sum(terms, axis=axis, where=where)


# ----------------------------------------------------------------------------------------------
# Margin-based classification.
# ----------------------------------------------------------------------------------------------


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
      targets: labels :math:`y \in \{-1, 1\}`, broadcastable to ``predictor_outputs``.

    Returns:
      The element-wise losses, with the broadcast shape.

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
        *_pair("hinge_loss", "predictor_outputs", predictor_outputs, "targets", targets)
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
      targets: labels :math:`y \in \{-1, 1\}`, broadcastable to ``predictor_outputs``.

    Returns:
      The element-wise losses, with the broadcast shape.

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
        *_pair("squared_hinge_loss", "predictor_outputs", predictor_outputs, "targets", targets)
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
      targets: labels :math:`y \in \{-1, 1\}`, broadcastable to ``predictor_outputs``.

    Returns:
      The element-wise losses, with the broadcast shape.

    References:
      Rosenblatt, The Perceptron, 1958; Bishop, *Pattern Recognition and Machine Learning*, 2006,
      eq. 4.54. Matches: ``optax.losses.perceptron_loss`` (which requires equal shapes).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import perceptron_loss
      >>> print(perceptron_loss(jnp.array([2.0, -0.5]), jnp.array([1.0, 1.0])))
      [0.  0.5]
    """
    return _perceptron_loss(
        *_pair("perceptron_loss", "predictor_outputs", predictor_outputs, "targets", targets)
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
    if form not in _MULTICLASS_HINGE_FORMS:
        raise ValueError(
            f"{fn}: form must be one of {_MULTICLASS_HINGE_FORMS}, got {form!r}. "
            "Pass e.g. form='crammer_singer' (optax's) or form='weston_watkins'."
        )
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

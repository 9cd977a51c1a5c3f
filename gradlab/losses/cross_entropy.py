r"""Cross-entropy losses: softmax (soft or integer labels), sigmoid and binary cross-entropy.

:mod:`gradlab.losses` states the conventions every loss follows. Each public loss checks its
arguments, then calls a private kernel that runs under ``jax.jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.losses import casting


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
      labels: target probabilities :math:`y`, with ``logits``' shape (no broadcasting).
      axis: the class axis or axes.
      where: elements to include: either ``logits``' shape (masks classes; a shape with as many
        axes that broadcasts to it also works) or its shape without ``axis`` (masks whole
        examples, whose loss is then 0), as optax documents.

    Returns:
      The cross-entropy per example, ``logits``' shape without ``axis``.

    Raises:
      ValueError: if ``labels`` has another shape than ``logits`` (a ``[num_classes]`` row is
        not broadcast over the batch), or ``where`` fits neither shape.

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
    fn = "softmax_cross_entropy"
    z, y = validation.check_array_pair(fn, "logits", logits, "labels", labels)
    assert y is not None  # labels are required here
    axis = tuple(axis) if isinstance(axis, list) else axis
    return _softmax_cross_entropy(z, y, axis, validation.check_where(fn, where, z.shape, axis))


@jax.jit(static_argnames="axis")
def _softmax_cross_entropy(
    z: jax.Array, y: jax.Array, axis: int | tuple[int, ...] | None, where: jax.Array | None
) -> jax.Array:
    z = casting.to_float(z)
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
      where: elements to include: ``logits``' shape (or a shape with as many axes that
        broadcasts to it) or its shape without ``axis``; an example with nothing included has
        loss 0.

    Returns:
      The cross-entropy per example, ``logits``' shape without ``axis``.

    Raises:
      TypeError: if ``labels`` are not integers (use ``softmax_cross_entropy`` for one-hot).
      ValueError: if ``axis`` is not an int or a tuple, ``labels`` has another shape than
        ``logits`` without ``axis`` (no broadcasting), or ``where`` fits neither shape.

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
    z = validation.check_real_array(fn, "logits", logits)
    axis = validation.check_axes(fn, axis, z.shape)
    class_axes = axis if isinstance(axis, tuple) else (axis,)
    c = validation.check_class_labels(fn, labels, ("logits", z.shape), class_axes)
    where = validation.check_where(fn, where, z.shape, axis)
    return _softmax_cross_entropy_int(z, c, axis, where)


@jax.jit(static_argnames="axis")
def _softmax_cross_entropy_int(
    z: jax.Array, c: jax.Array, axis: int | tuple[int, ...], where: jax.Array | None
) -> jax.Array:
    z = casting.to_float(z)
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
        with ``logits``' shape.

    Returns:
      The element-wise losses, with ``logits``' shape.

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
        *validation.check_array_pair(
            "sigmoid_binary_cross_entropy", "logits", logits, "labels", labels
        )
    )


@jax.jit
def _sigmoid_binary_cross_entropy(z: jax.Array, y: jax.Array) -> jax.Array:
    z = casting.to_float(z)
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
      labels: targets :math:`y \in \{0, 1\}` or probabilities, with ``probabilities``'
        shape.
      eps: clipping margin :math:`\epsilon \in (0, 0.5)`. ``None`` (default) uses the machine
        epsilon of the probabilities' dtype (1.19e-7 for float32, 7.8e-3 for bfloat16, 2.2e-16 for
        float64). A smaller value is raised to ``jnp.finfo(dtype).epsneg``, the smallest margin
        for which :math:`1 - \epsilon` is still below 1 in that dtype.

    Returns:
      The element-wise losses, with ``probabilities``' shape.

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
        validation.check_in_interval(fn, "eps", eps, "(0, 0.5)", "1e-7")
    return _binary_cross_entropy(
        *validation.check_array_pair(fn, "probabilities", probabilities, "labels", labels), eps
    )


@jax.jit
def _binary_cross_entropy(p: jax.Array, y: jax.Array, eps: jax.Array | None) -> jax.Array:
    p = casting.to_float(p)
    y = y.astype(p.dtype)
    info = jnp.finfo(p.dtype)
    e = jnp.asarray(info.eps if eps is None else eps, dtype=p.dtype)
    e = jnp.maximum(e, jnp.asarray(info.epsneg, dtype=p.dtype))
    p = jnp.clip(p, e, 1.0 - e)
    return -(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p))

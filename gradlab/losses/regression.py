r"""Regression losses: squared, absolute and Huber errors, and the Gaussian negative log-likelihood.

:mod:`gradlab.losses` states the conventions every loss follows. Each public loss checks its
arguments, then calls a private kernel that runs under ``jax.jit`` (one compilation per input
signature instead of one per primitive when the loss is called eagerly).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import validation
from gradlab.losses import casting

_LOG_2PI = float(np.log(2.0 * np.pi))


def _residual(p: jax.Array, t: jax.Array | None) -> jax.Array:
    """``p - t`` in ``p``'s float dtype; ``t=None`` means 0."""
    p = casting.to_float(p)
    return p if t is None else p - t.astype(p.dtype)


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Element-wise squared error: :math:`\ell(\hat y, y) = (\hat y - y)^2`.

    Mean squared error is ``squared_error(predictions, targets).mean()``.

    Args:
      predictions: predictions :math:`\hat y`, any shape.
      targets: targets :math:`y`, with ``predictions``' shape (no broadcasting); ``None``
        means zeros.

    Returns:
      The element-wise squared differences, with ``predictions``' shape.

    References:
      Matches: ``optax.losses.squared_error`` (same equal-shapes check).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import squared_error
      >>> print(squared_error(jnp.array([1.0, 2.0]), jnp.array([0.5, 2.0])))
      [0.25 0.  ]
    """
    return _squared_error(
        *validation.check_array_pair(
            "squared_error", "predictions", predictions, "targets", targets
        )
    )


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
      targets: targets :math:`y`, with ``predictions``' shape (no broadcasting); ``None``
        means zeros.

    Returns:
      The element-wise losses, with ``predictions``' shape.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 1.2.
      Matches: ``optax.losses.l2_loss``.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import l2_loss
      >>> print(l2_loss(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.0])))
      [0.125 2.   ]
    """
    return _l2_loss(
        *validation.check_array_pair("l2_loss", "predictions", predictions, "targets", targets)
    )


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
      targets: targets :math:`y`, with ``predictions``' shape (no broadcasting); ``None``
        means zeros.

    Returns:
      The element-wise absolute differences, with ``predictions``' shape.

    References:
      Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 2009, sec. 10.6.
      (No optax counterpart.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import absolute_error
      >>> print(absolute_error(jnp.array([1.0, -2.0]), jnp.array([0.5, 0.0])))
      [0.5 2. ]
    """
    return _absolute_error(
        *validation.check_array_pair(
            "absolute_error", "predictions", predictions, "targets", targets
        )
    )


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
      targets: targets :math:`y`, with ``predictions``' shape (no broadcasting); ``None``
        means zeros.

    Returns:
      The element-wise absolute differences, with ``predictions``' shape.

    References:
      Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 2009, sec. 10.6.
      (No optax counterpart.)

    Example:
      >>> import jax.numpy as jnp
      >>> from gradlab.losses import l1_loss
      >>> print(l1_loss(jnp.array([1.0, -2.0])))
      [1. 2.]
    """
    return _absolute_error(
        *validation.check_array_pair("l1_loss", "predictions", predictions, "targets", targets)
    )


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
      targets: targets :math:`y`, with ``predictions``' shape (no broadcasting); ``None``
        means zeros.
      delta: :math:`\delta > 0`, where the loss turns from quadratic to linear: a scalar, or an
        array that broadcasts to ``predictions``' shape (one per column, ...), as ``jnp``
        broadcasts optax's ``delta``.

    Returns:
      The element-wise losses, with ``predictions``' shape.

    Raises:
      ValueError: if a concrete ``delta`` is not > 0, if ``targets`` has another shape than
        ``predictions`` or if ``delta`` would grow it.

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
    fn = "huber_loss"
    validation.check_positive(fn, "delta", delta, "1.0")
    p, t = validation.check_array_pair(fn, "predictions", predictions, "targets", targets)
    validation.check_broadcasts_to(fn, "delta", jnp.shape(delta), "predictions", p.shape)
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
      targets: observations :math:`y`, with ``predictions``' shape.
      precision: the inverse variance :math:`\beta > 0`, a scalar or an array that broadcasts
        to ``predictions``' shape (per element, per column, ...).

    Returns:
      The element-wise negative log-likelihoods, with ``predictions``' shape.

    Raises:
      ValueError: if a concrete ``precision`` is not > 0 everywhere, if ``targets`` has another
        shape than ``predictions`` or if ``precision`` would grow it.

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
    p, t = validation.check_array_pair(fn, "predictions", predictions, "targets", targets)
    beta = validation.check_real_array(fn, "precision", precision)
    assert t is not None  # targets are required here
    validation.check_broadcasts_to(fn, "precision", beta.shape, "predictions", p.shape)
    return _gaussian_nll(p, t, beta)


@jax.jit
def _gaussian_nll(p: jax.Array, t: jax.Array, beta: jax.Array) -> jax.Array:
    r = _residual(p, t)
    beta = beta.astype(r.dtype)
    return 0.5 * (_LOG_2PI - jnp.log(beta)) + 0.5 * beta * (r * r)

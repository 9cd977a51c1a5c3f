r"""Kullback-Leibler divergences, with the target distribution given as probabilities or logs.

:mod:`gradlab.losses` states the conventions every loss follows. Both divergences check their
arguments and run one jitted kernel, which reads the targets either way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradlab.core import validation
from gradlab.losses import casting


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
      targets: probabilities :math:`y \ge 0` of the target distribution, with
        ``log_predictions``' shape.
      axis: the axis or axes to sum over.
      where: elements to include; its shape must broadcast to the inputs' (a ``[dim]`` mask
        selects classes in every example, as in optax).

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
    return _kl_divergence("kl_divergence", log_predictions, targets, axis, where, log_targets=False)


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
      log_targets: log-probabilities :math:`\log y` of the target distribution, with
        ``log_predictions``' shape.
      axis: the axis or axes to sum over.
      where: elements to include; its shape must broadcast to the inputs' (a ``[dim]`` mask
        selects classes in every example, as in optax).

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
    fn = "kl_divergence_with_log_targets"
    return _kl_divergence(fn, log_predictions, log_targets, axis, where, log_targets=True)


def _kl_divergence(
    fn: str,
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None,
    where: jax.typing.ArrayLike | None,
    *,
    log_targets: bool,
) -> jax.Array:
    """Checks the arguments of either divergence, then runs the kernel."""
    name = "log_targets" if log_targets else "targets"
    log_q, y = validation.check_array_pair(fn, "log_predictions", log_predictions, name, targets)
    assert y is not None  # targets are required here
    axis = tuple(axis) if isinstance(axis, list) else axis
    if where is not None:
        where = validation.check_real_array(fn, "where", where)
        validation.check_broadcasts_to(fn, "where", where.shape, "the inputs'", log_q.shape)
    return _kl_kernel(log_q, y, axis, where, log_targets)


@jax.jit(static_argnames=("axis", "log_targets"))
def _kl_kernel(
    log_q: jax.Array,
    y: jax.Array,
    axis: int | tuple[int, ...] | None,
    where: jax.Array | None,
    log_targets: bool,
) -> jax.Array:
    r"""``sum(y * (log y - log q), axis)`` with 0 where :math:`y = 0`; ``y`` holds :math:`\log y`
    when ``log_targets``. Both ``where`` guard the zeros, so no ``nan`` reaches the gradients."""
    log_q = casting.to_float(log_q)
    y = y.astype(log_q.dtype)
    zero = jnp.isneginf(y) if log_targets else y == 0
    safe_log_q = jnp.where(zero, 0.0, log_q)
    if log_targets:
        safe_log_y = jnp.where(zero, 0.0, y)
        terms = jnp.exp(safe_log_y) * (safe_log_y - safe_log_q)
    else:
        terms = y * (jnp.log(jnp.where(zero, 1.0, y)) - safe_log_q)
    return jnp.sum(jnp.where(zero, 0.0, terms), axis=axis, where=where)

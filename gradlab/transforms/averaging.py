r"""Iterate averaging: running averages of the parameters an optimizer visits.

:func:`polyak_averaging` wraps an optimizer (or, given no optimizer, sits last in a chain) and
keeps, next to the optimizer's state, the uniform running mean of the parameters after each step
(Polyak & Juditsky) and/or their exponential moving average (the "EMA of weights" that Flax and
timm users keep by hand). It only observes: the updates it returns are the wrapped optimizer's,
unchanged. :func:`averaged_params` and :func:`ema_params` read the averages out of an optimizer
state for evaluation.

The averages are stored through :mod:`gradlab.core.storage` at float32 or wider (bf16 params get
a float32 average), unless an ``accumulator_dtype`` is given; a buffer that is not asked for is
not created (its field is ``None``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    apply_updates,
    identity,
    with_extra_args_support,
)


class PolyakState(NamedTuple):
    """The wrapped optimizer's state, the number of steps averaged and the averages.

    ``average`` (the uniform mean) and ``ema`` (the exponential moving average) hold a tree
    shaped like the params, or ``None`` when that average was not asked for. Before the first
    step both hold the initial params :math:`\\theta_0`.
    """

    inner_state: OptState
    steps: jax.Array  # int32: steps averaged so far (saturates at the int32 maximum)
    average: Params | None  # uniform mean of theta_1..theta_k, or None
    ema: Params | None  # exponential moving average of theta_1..theta_k, or None


def polyak_averaging(
    inner: Any = None,
    ema_decay: jax.typing.ArrayLike | None = None,
    *,
    uniform: bool = True,
    ema_debias: bool = True,
    accumulator_dtype: Any | None = None,
) -> GradientTransformationExtraArgs:
    r"""Averages the parameters after each step of ``inner``; the updates pass unchanged.

    With :math:`u_k` the updates ``inner`` returns at step :math:`k` and
    :math:`\theta_k = \theta_{k-1} + u_k` the parameters after that step (computed as
    :func:`gradlab.apply_updates` does, in the params' dtype), the uniform average and the
    exponential moving average with decay :math:`d` are

    .. math::
        \bar\theta_k = \bar\theta_{k-1} + \frac{\theta_k - \bar\theta_{k-1}}{k}
        = \frac{1}{k}\sum_{j=1}^{k} \theta_j, \qquad
        \tilde\theta_k = \tilde\theta_{k-1} + w_k\,(\theta_k - \tilde\theta_{k-1}),

    with :math:`w_k = (1-d)/(1-d^k)` when ``ema_debias`` (the zero-started EMA
    :math:`e_k = d\,e_{k-1} + (1-d)\,\theta_k` divided by :math:`1-d^k`, as Adam's bias
    correction: the normalised weighted mean :math:`\sum_j d^{k-j}\theta_j / \sum_j d^{k-j}`),
    and :math:`w_k = 1-d` otherwise (:math:`\tilde\theta_k = d\,\tilde\theta_{k-1} +
    (1-d)\,\theta_k` started from :math:`\tilde\theta_0 = \theta_0`, as TensorFlow's
    ``ExponentialMovingAverage`` and Flax/timm model EMAs). The averaged iterates are
    :math:`\theta_1, \dots, \theta_k`, the parameters *after* each step; :math:`\theta_0` is
    not part of them (it is what the accessors return before the first step). Arithmetic runs
    in the averages' storage dtype (float32 or wider).

    Where to put it: around the whole optimizer, ``polyak_averaging(gradlab.adam(1e-3))``, or,
    with ``inner=None``, as the *last* stage of a chain, ``chain(adam(1e-3),
    polyak_averaging())``; then :math:`u_k` is the chain's final update, as required. Inside
    :func:`gradlab.multi_steps` / ``optax.MultiSteps`` it averages the applied steps only.

    Non-finite steps: the average follows the parameters, so a NaN update makes it NaN, like
    the params. Wrap it in :func:`gradlab.apply_if_finite` (outside: ``apply_if_finite(
    polyak_averaging(opt), N)``) to skip such steps: then neither the average nor ``steps``
    changes on a skipped step. With ``apply_if_finite`` inside instead, a skipped step is
    averaged as a step that left the params where they were.

    Args:
      inner: the optimizer whose iterates are averaged (a gradlab or optax transformation);
        ``None`` (the default) is :func:`gradlab.identity`, for use as a chain's last stage.
      ema_decay: :math:`d \in [0, 1)`, e.g. 0.999; ``None`` (the default) keeps no EMA (and
        allocates no buffer for it).
      uniform: keep the uniform average :math:`\bar\theta_k` (the default); ``False`` keeps no
        buffer for it (then ``ema_decay`` is required).
      ema_debias: divide the zero-started EMA by :math:`1-d^k` (the default); ``False`` starts
        the EMA from :math:`\theta_0` and does not correct it.
      accumulator_dtype: dtype of the stored averages; ``None`` stores each at the params'
        dtype promoted to float32 (bf16 and float16 params get float32 averages, float64 params
        float64 ones).

    Returns:
      A GradientTransformationExtraArgs with state ``PolyakState(inner_state, steps, average,
      ema)``, whose ``update`` requires ``params`` (and passes extra arguments on to ``inner``).
      Read the averages with :func:`averaged_params` and :func:`ema_params`.

    References:
      Polyak & Juditsky, `Acceleration of stochastic approximation by averaging
      <https://doi.org/10.1137/0330046>`_, SIAM J. Control Optim. 30(4), 1992.
      Goodfellow, Bengio & Courville, `Deep Learning <https://www.deeplearningbook.org>`_,
      2016, Sec. 8.7.3 (Polyak averaging and its exponential moving average form).
      No optax counterpart (optax's ``ema`` averages the updates, not the params).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.averaging import averaged_params, polyak_averaging
    >>> tx = polyak_averaging(gradlab.sgd(1.0))
    >>> params = jnp.zeros(1)
    >>> state = tx.init(params)
    >>> for grad in (-1.0, -2.0):  # params after each step: 1.0, then 3.0
    ...     updates, state = tx.update(jnp.array([grad]), state, params)
    ...     params = gradlab.apply_updates(params, updates)
    >>> averaged_params(state)  # (1 + 3) / 2
    Array([2.], dtype=float32)
    """
    fn = "polyak_averaging"
    inner = identity() if inner is None else inner
    validation.check_transform(fn, "inner", inner)
    validation.check_choice(fn, "uniform", uniform, (True, False))
    validation.check_choice(fn, "ema_debias", ema_debias, (True, False))
    validation.check_dtype(fn, "accumulator_dtype", accumulator_dtype)
    if ema_decay is not None:
        validation.check_unit_interval(fn, "ema_decay", ema_decay, "0.999")
    elif not uniform:
        raise ValueError(
            f"{fn}: uniform=False and ema_decay=None leave nothing to average. Pass e.g. "
            "ema_decay=0.999, or keep uniform=True."
        )
    inner_update = with_extra_args_support(inner).update

    def buffer(params: Params) -> Params:
        return jax.tree.map(
            lambda p: jnp.asarray(p).astype(
                accumulator_dtype or storage.compute_dtype(storage.leaf_dtype(p))
            ),
            params,
        )

    def init(params: Params) -> PolyakState:
        return PolyakState(
            inner_state=inner.init(params),
            steps=jnp.zeros([], jnp.int32),
            average=buffer(params) if uniform else None,
            ema=buffer(params) if ema_decay is not None else None,
        )

    def step_towards(average: Params, theta: Params, weight: Any) -> Params:
        """:math:`a + w (\\theta - a)`, with ``weight(dtype)`` the real weight :math:`w`."""
        return jax.tree.map(
            lambda a, t: a + weight(storage.real_dtype(a.dtype)) * (t.astype(a.dtype) - a),
            average,
            theta,
        )

    def ema_weight(k: jax.Array, dtype: Any) -> jax.Array:
        log_d = jnp.log(jnp.asarray(ema_decay, dtype))
        one_minus_d = -jnp.expm1(log_d)  # 1 - d, formed as 1 - d^k is: w_1 = 1 exactly
        if not ema_debias:
            return one_minus_d
        return one_minus_d / -jnp.expm1(k.astype(dtype) * log_d)

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state(fn, state, PolyakState)
        validation.require_params(fn, params, updates)
        new_updates, inner_state = inner_update(updates, state.inner_state, params, **extra_args)
        validation.check_structure(fn, new_updates, params, what="params")
        theta = apply_updates(params, new_updates)  # the params after this step
        k = tree.safe_increment(state.steps)
        average, ema = state.average, state.ema
        if average is not None:
            average = step_towards(average, theta, lambda dtype: 1 / k.astype(dtype))
        if ema is not None:
            ema = step_towards(ema, theta, lambda dtype: ema_weight(k, dtype))
        return new_updates, PolyakState(inner_state, k, average, ema)

    return GradientTransformationExtraArgs(init, update)


def _polyak_state(fn: str, state: OptState) -> PolyakState:
    """The one outermost ``PolyakState`` inside ``state`` (a chain, wrapper or TrainState)."""
    found = [
        node
        for node in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, PolyakState))
        if isinstance(node, PolyakState)
    ]
    if not found:
        raise ValueError(
            f"{fn}: this state holds no PolyakState. Pass the state of an optimizer built with "
            "polyak_averaging, e.g. opt_state of polyak_averaging(gradlab.adam(1e-3))."
        )
    if len(found) > 1:
        raise ValueError(
            f"{fn}: this state holds {len(found)} PolyakStates (several polyak_averaging "
            "stages). Pass the sub-state of the one you mean, e.g. opt_state[i] of a chain."
        )
    return found[0]


def averaged_params(state: OptState) -> Params:
    r"""The uniform average :math:`\bar\theta_k = \frac1k \sum_{j=1}^k \theta_j` kept by
    :func:`polyak_averaging`, for evaluation.

    Args:
      state: an optimizer state holding one ``PolyakState`` (the wrapper's own state, or a
        chain, wrapper or Flax ``TrainState.opt_state`` containing it).

    Returns:
      A tree shaped like the params, in the averages' storage dtype (float32 or wider); the
      initial params before the first step. Cast it for a low-precision model, e.g.
      ``jax.tree.map(lambda a, p: a.astype(p.dtype), avg, params)``.

    References:
      Polyak & Juditsky, `Acceleration of stochastic approximation by averaging
      <https://doi.org/10.1137/0330046>`_, 1992.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.averaging import averaged_params, polyak_averaging
    >>> tx = gradlab.chain(gradlab.sgd(1.0), polyak_averaging())
    >>> _, state = tx.update(jnp.array([-4.0]), tx.init(jnp.zeros(1)), jnp.zeros(1))
    >>> averaged_params(state)
    Array([4.], dtype=float32)
    """
    found = _polyak_state("averaged_params", state)
    if found.average is None:
        raise ValueError(
            "averaged_params: this polyak_averaging was built with uniform=False and keeps no "
            "uniform average. Read ema_params(state), or build it with uniform=True."
        )
    return found.average


def ema_params(state: OptState) -> Params:
    r"""The exponential moving average :math:`\tilde\theta_k` kept by :func:`polyak_averaging`.

    .. math::
        \tilde\theta_k = \frac{\sum_{j=1}^k d^{k-j}\theta_j}{\sum_{j=1}^k d^{k-j}}
        \ \text{(debiased)}, \qquad
        \tilde\theta_k = d\,\tilde\theta_{k-1} + (1-d)\,\theta_k,\ \tilde\theta_0 = \theta_0
        \ \text{(not debiased)}

    Args:
      state: an optimizer state holding one ``PolyakState`` built with ``ema_decay``.

    Returns:
      A tree shaped like the params, in the averages' storage dtype (float32 or wider); the
      initial params before the first step.

    References:
      Goodfellow, Bengio & Courville, `Deep Learning <https://www.deeplearningbook.org>`_,
      2016, Sec. 8.7.3.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms.averaging import ema_params, polyak_averaging
    >>> tx = polyak_averaging(gradlab.sgd(1.0), ema_decay=0.5, uniform=False)
    >>> _, state = tx.update(jnp.array([-4.0]), tx.init(jnp.zeros(1)), jnp.zeros(1))
    >>> ema_params(state)  # debiased: the first iterate itself
    Array([4.], dtype=float32)
    """
    found = _polyak_state("ema_params", state)
    if found.ema is None:
        raise ValueError(
            "ema_params: this polyak_averaging was built without ema_decay and keeps no EMA. "
            "Build it with e.g. ema_decay=0.999."
        )
    return found.ema


__all__ = ["PolyakState", "averaged_params", "ema_params", "polyak_averaging"]

r"""Wrappers: transformations that decide whether, and on what, another transformation runs.

``apply_if_finite`` skips steps whose gradient holds a NaN or an Inf; ``multi_steps`` averages
the gradients of :math:`k` micro-batches and runs the wrapped optimizer once on their mean;
``zero_nans``, ``set_to_zero`` and ``freeze`` are the stateless (or nearly so) helpers around
them. The wrapped transformation runs inside ``jax.lax.cond``: on a skipped step it is not
called at all, so its state (step counts, schedules, moments) stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    stateless,
    with_extra_args_support,
)
from gradlab.transforms.masking import masked


def run_or_skip(
    run: jax.Array,
    inner_update: Callable[..., tuple[Updates, OptState]],
    updates: Updates,
    inner_state: OptState,
    params: Params | None,
    extra_args: dict[str, Any],
    *,
    pass_through: bool = False,
    fn: str = "run_or_skip",
) -> tuple[Updates, OptState]:
    """``inner_update`` where ``run`` is True; otherwise zero updates and ``inner_state``.

    A ``jax.lax.cond``: the skipped branch never calls ``inner_update``, so the inner state is
    returned as it came in (under ``vmap`` both branches run and the results are selected). With
    ``pass_through`` a skipped step returns the incoming ``updates`` (cast to the inner updates'
    dtypes, so both branches agree) instead of zeros. The building block of ``apply_if_finite``,
    ``multi_steps`` and the conditional transforms.
    """

    def call() -> tuple[Updates, OptState]:
        return inner_update(updates, inner_state, params, **extra_args)

    def apply() -> tuple[Updates, OptState]:
        new_updates, new_state = call()
        # Keep the state's dtypes, so that both branches of the cond have the same types.
        new_state = jax.tree.map(
            lambda n, o: n if jnp.result_type(n) == jnp.result_type(o) else n.astype(o.dtype),
            new_state,
            inner_state,
        )
        return new_updates, new_state

    def skip() -> tuple[Updates, OptState]:
        shapes = jax.eval_shape(call)[0]  # the inner updates' shapes and dtypes, not computed
        if not pass_through:
            return tree.zeros_like(shapes), inner_state
        validation.check_structure(fn, shapes, updates, what="updates given to inner")
        return jax.tree.map(lambda g, s: g.astype(s.dtype), updates, shapes), inner_state

    return jax.lax.cond(run, apply, skip)


# ---------------------------------------------------------------------------------------------
# Skipping non-finite steps


class ApplyIfFiniteState(NamedTuple):
    """Counters of non-finite steps and the wrapped transformation's state."""

    notfinite_count: jax.Array  # int32: consecutive non-finite steps, up to the latest one
    last_finite: jax.Array  # bool: whether the latest step's updates were all finite
    total_notfinite: jax.Array  # int32: non-finite steps in all
    inner_state: OptState


def apply_if_finite(inner: Any, max_consecutive_errors: int) -> GradientTransformationExtraArgs:
    r"""Runs ``inner`` only on finite updates; gives up after too many bad steps in a row.

    With :math:`c_t` the number of consecutive steps, up to :math:`t`, whose updates hold a
    NaN or an Inf in any leaf, and :math:`N` = ``max_consecutive_errors``:

    .. math::
        (u_t, S_t) = \begin{cases}
            f(g_t, S_{t-1}) & \text{if } g_t \text{ is finite or } c_t > N \\
            (0, S_{t-1}) & \text{otherwise}
        \end{cases}

    A skipped step returns zero updates and leaves the inner state as it was (its step count
    and schedules included): a run with skipped steps ends where the same run without them
    would. After more than :math:`N` consecutive bad steps the updates pass through, NaNs
    included, as in optax, so that a training run that keeps failing fails loudly.

    Args:
      inner: the transformation to protect (a gradlab or optax optimizer).
      max_consecutive_errors: :math:`N`, an int >= 0: how many non-finite steps in a row are
        skipped. Use a large value to skip every non-finite step.

    Returns:
      A GradientTransformation with state ``ApplyIfFiniteState(notfinite_count, last_finite,
      total_notfinite, inner_state)``.

    References:
      Matches: ``optax.apply_if_finite`` (same state fields, same rule; the skipped branch is
      a ``lax.cond`` and returns zeros with the dtypes of the inner updates).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import wrappers
    >>> tx = wrappers.apply_if_finite(gradlab.sgd(0.1), max_consecutive_errors=2)
    >>> updates, state = tx.update(jnp.array([1.0, jnp.nan]), tx.init(jnp.zeros(2)))
    >>> updates, int(state.notfinite_count)
    (Array([0., 0.], dtype=float32), 1)
    """
    validation.check_count(
        "apply_if_finite", "max_consecutive_errors", max_consecutive_errors, 0, "5"
    )
    inner_update = with_extra_args_support(inner).update

    def init(params: Params) -> ApplyIfFiniteState:
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state("apply_if_finite", state, ApplyIfFiniteState)
        leaf_finite = jax.tree.map(lambda g: jnp.all(jnp.isfinite(g)), updates)
        finite = jax.tree.reduce(jnp.logical_and, leaf_finite, jnp.array(True))
        notfinite_count = jnp.where(
            finite, jnp.zeros([], jnp.int32), tree.safe_increment(state.notfinite_count)
        )
        run = jnp.logical_or(finite, notfinite_count > max_consecutive_errors)
        new_updates, inner_state = run_or_skip(
            run, inner_update, updates, state.inner_state, params, extra_args
        )
        return new_updates, ApplyIfFiniteState(
            notfinite_count=notfinite_count,
            last_finite=finite,
            total_notfinite=jnp.where(
                finite, state.total_notfinite, tree.safe_increment(state.total_notfinite)
            ),
            inner_state=inner_state,
        )

    return GradientTransformationExtraArgs(init, update)


class ZeroNansState(NamedTuple):
    """Per leaf, a bool scalar: whether the latest updates held a NaN there."""

    found_nan: Any


def zero_nans() -> GradientTransformation:
    r"""Replaces each NaN entry of the updates by 0 and passes the others unchanged.

    .. math:: u_i = \begin{cases} 0 & g_i = \text{NaN} \\ g_i & \text{otherwise} \end{cases}

    Infinities pass unchanged (use :func:`apply_if_finite` to skip them).

    Args:
      (none)

    Returns:
      A GradientTransformation with state ``ZeroNansState(found_nan)``: a tree shaped like the
      params with one bool scalar per leaf, True where the latest updates held a NaN.

    References:
      Matches: ``optax.zero_nans``.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import wrappers
    >>> tx = wrappers.zero_nans()
    >>> updates, state = tx.update({"w": jnp.array([jnp.nan, 2.0])}, tx.init({"w": jnp.zeros(2)}))
    >>> updates["w"], bool(state.found_nan["w"])
    (Array([0., 2.], dtype=float32), True)
    """

    def init(params: Params) -> ZeroNansState:
        return ZeroNansState(found_nan=jax.tree.map(lambda _: jnp.array(False), params))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        del state, params
        found_nan = jax.tree.map(lambda g: jnp.any(jnp.isnan(g)), updates)
        updates = jax.tree.map(lambda g: jnp.where(jnp.isnan(g), jnp.zeros_like(g), g), updates)
        return updates, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init, update)


# ---------------------------------------------------------------------------------------------
# Zero updates


def set_to_zero() -> GradientTransformation:
    r"""Maps every update to zero: :math:`u_t = 0`, so the parameters stay as they are.

    Args:
      (none)

    Returns:
      A stateless GradientTransformation (state ``EmptyState()``).

    References:
      Matches: ``optax.set_to_zero``.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import wrappers
    >>> wrappers.set_to_zero().update(jnp.array([1.0, -2.0]), gradlab.EmptyState())[0]
    Array([0., 0.], dtype=float32)
    """

    return stateless(lambda updates, params: tree.zeros_like(updates))


def freeze(mask: Any = True) -> GradientTransformation:
    r"""Zeroes the updates of the parameters selected by ``mask``; the others pass unchanged.

    .. math:: u_i = \begin{cases} 0 & \text{mask}_i \\ g_i & \text{otherwise} \end{cases}

    Args:
      mask: ``True`` (the default) freezes everything; a tree of bools with the structure of
        the params (or a prefix of it), or a function ``params -> such a tree``, freezes the
        leaves marked True and passes the others unchanged. The state is
        ``MaskedState(EmptyState())`` either way, as optax's.

    Returns:
      A GradientTransformation.

    References:
      Matches: ``optax.freeze`` (``masked(set_to_zero(), mask)``), also for ``mask=True``.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import wrappers
    >>> tx = wrappers.freeze({"w": True, "b": False})
    >>> g = {"w": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(g, tx.init(g))[0]
    {'b': Array([1.], dtype=float32), 'w': Array([0.], dtype=float32)}
    """
    return masked(set_to_zero(), mask)


# ---------------------------------------------------------------------------------------------
# Gradient accumulation


def skip_not_finite(
    updates: Updates, gradient_step: jax.typing.ArrayLike, params: Params | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""A ``should_skip_update_fn`` for :func:`multi_steps`: skip a micro-batch holding NaN/Inf.

    .. math:: n = \#\{i : g_i \notin \mathbb{R}\}, \qquad \text{skip} = (n > 0)

    Args:
      updates: the micro-batch's updates :math:`g`.
      gradient_step: the wrapper's gradient step (unused).
      params: the params (unused).

    Returns:
      ``(should_skip, {"should_skip": should_skip, "num_not_finite": n})``: a bool scalar and
      what ``MultiStepsState.skip_state`` keeps.

    References:
      Matches: ``optax.skip_not_finite`` (same outputs and keys).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import wrappers
    >>> skip, info = wrappers.skip_not_finite({"w": jnp.array([1.0, jnp.inf])}, 0, None)
    >>> bool(skip), int(info["num_not_finite"])
    (True, 1)
    """
    del gradient_step, params
    counts = jax.tree.map(lambda g: jnp.sum(jnp.logical_not(jnp.isfinite(g))), updates)
    num_not_finite = jax.tree.reduce(jnp.add, counts, jnp.zeros([], jnp.int32))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Params | None,
    max_squared_norm: jax.typing.ArrayLike,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""A ``should_skip_update_fn`` for :func:`multi_steps`: skip a micro-batch with a large norm.

    .. math:: \text{skip} = \neg\big(\lVert g \rVert_2^2 < N\big)

    (a NaN norm is skipped too). Bind :math:`N` with
    ``functools.partial(skip_large_updates, max_squared_norm=N)``.

    Args:
      updates: the micro-batch's updates :math:`g`.
      gradient_step: the wrapper's gradient step (unused).
      params: the params (unused).
      max_squared_norm: :math:`N`, the largest squared global norm accepted.

    Returns:
      ``(should_skip, {"should_skip": should_skip, "norm_squared": ||g||^2})``.

    References:
      Matches: ``optax.skip_large_updates`` (same outputs and keys; the squares are summed in
      float32 or wider, and a complex entry counts :math:`|g_i|^2`).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms import wrappers
    >>> skip, info = wrappers.skip_large_updates(jnp.array([3.0, 4.0]), 0, None, 20.0)
    >>> bool(skip), float(info["norm_squared"])
    (True, 25.0)
    """
    del gradient_step, params
    norm_squared = tree.sum_of_squares(updates)
    should_skip = jnp.logical_not(norm_squared < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}


ShouldSkipUpdateFunction = Callable[
    [Updates, jax.typing.ArrayLike, Params | None], tuple[jax.typing.ArrayLike, Any]
]  # fn(updates, gradient_step, params) -> (should_skip, skip_state), as optax's protocol


class MultiStepsState(NamedTuple):
    """Micro-step and gradient-step counters, the inner state, the accumulated gradient and
    what ``should_skip_update_fn`` reported on the latest micro-batch (optax's field order).

    ``inner_opt_state`` (optax's name) reads ``inner_state``.
    """

    mini_step: jax.Array  # int32: micro-batches accumulated since the last applied update
    gradient_step: jax.Array  # int32: updates applied so far (the schedule's step)
    inner_state: OptState
    acc_grads: Updates  # running mean (or sum) of the micro-batch gradients
    skip_state: Any = ()  # the second output of should_skip_update_fn; () without one

    @property
    def inner_opt_state(self) -> OptState:
        """The wrapped optimizer's state under optax's field name (read-only alias)."""
        return self.inner_state


class MultiStepsTransformation(GradientTransformationExtraArgs):
    """The ``(init, update)`` pair of :func:`multi_steps`, with optax's ``MultiSteps`` methods.

    ``gradient_transformation()`` returns the plain pair and ``has_updated(state)`` tells whether
    the latest call applied an update, so code written for ``optax.MultiSteps`` runs unchanged.
    """

    __slots__ = ()

    def gradient_transformation(self) -> GradientTransformationExtraArgs:
        """The plain ``GradientTransformationExtraArgs(init, update)``."""
        return GradientTransformationExtraArgs(self.init, self.update)

    @staticmethod
    def has_updated(state: MultiStepsState) -> jax.Array:
        """Whether the latest ``update`` applied the inner optimizer (a bool scalar)."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)


def multi_steps(
    inner: Any,
    every_k_schedule: int | Callable[[jax.Array], jax.typing.ArrayLike],
    use_grad_mean: bool = True,
    should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
    accumulator_dtype: Any | None = None,
) -> MultiStepsTransformation:
    r"""Gradient accumulation: one step of ``inner`` on the mean of :math:`k` micro-gradients.

    For the micro-gradients :math:`g_1, \dots, g_k` of one window (:math:`k = k(s)` at the
    gradient step :math:`s`), the running mean is kept in one accumulator:

    .. math::
        \bar g_j = \bar g_{j-1} + \frac{g_j - \bar g_{j-1}}{j}, \quad \bar g_0 = 0, \qquad
        (u, S) = \begin{cases}
            f(\bar g_k, S) & \text{at the } k\text{-th micro-step} \\
            (0, S) & \text{otherwise}
        \end{cases}

    On the :math:`k`-th micro-step ``inner.update`` runs once on :math:`\bar g_k` (inside
    ``jax.lax.cond``, so it is not run at all otherwise), the accumulator is reset to 0 and
    :math:`s` advances. The inner optimizer therefore counts applied updates, not micro-batches:
    its learning-rate schedule advances once per :math:`k` calls. The state holds one
    parameter-sized buffer besides the inner state: the accumulator. A micro-batch for which
    ``should_skip_update_fn`` says skip returns zeros and changes nothing but ``skip_state``: it
    is as if it never happened (:func:`skip_not_finite`, :func:`skip_large_updates`).

    Args:
      inner: the optimizer to run on the accumulated gradient.
      every_k_schedule: :math:`k`, an int >= 1, or a schedule ``gradient step -> k`` (to grow
        the effective batch size during training).
      use_grad_mean: average the micro-gradients (the default); ``False`` sums them,
        :math:`\bar g_k = \sum_j g_j`.
      should_skip_update_fn: ``fn(updates, gradient_step, params) -> (should_skip,
        skip_state)``, with ``should_skip`` a bool scalar; ``skip_state`` (any pytree of arrays)
        is stored in ``MultiStepsState.skip_state``. ``None`` (the default) skips nothing.
      accumulator_dtype: dtype of the accumulator; ``None`` keeps each param's dtype (pass
        ``jnp.float32`` for bf16 params to average in float32, as optax does by default).

    Returns:
      A ``MultiStepsTransformation`` (a GradientTransformation that also has optax's
      ``gradient_transformation()`` and ``has_updated(state)``), with state
      ``MultiStepsState(mini_step, gradient_step, inner_state, acc_grads, skip_state)``.

    References:
      Matches: ``optax.MultiSteps(inner, every_k_schedule, use_grad_mean,
      should_skip_update_fn)`` (rtol 1e-5 in float32 over four windows of adam); the inner
      state is ``inner_state``, also readable as optax's ``inner_opt_state``. The default
      ``accumulator_dtype`` is the params' dtype (optax: float32).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import wrappers
    >>> tx = wrappers.multi_steps(gradlab.sgd(1.0), every_k_schedule=2)
    >>> updates, state = tx.update(jnp.array([1.0]), tx.init(jnp.zeros(1)))
    >>> updates
    Array([0.], dtype=float32)
    >>> tx.update(jnp.array([3.0]), state)[0]  # -1.0 * mean(1, 3)
    Array([-2.], dtype=float32)
    """
    if callable(every_k_schedule):
        validation.check_schedule("multi_steps", "every_k_schedule", every_k_schedule)
    else:
        validation.check_count("multi_steps", "every_k_schedule", every_k_schedule, 1, "4")
    validation.check_dtype("multi_steps", "accumulator_dtype", accumulator_dtype)
    if should_skip_update_fn is not None:
        validation.check_callable(
            "multi_steps", "should_skip_update_fn", should_skip_update_fn, "skip_not_finite"
        )
    inner_update = with_extra_args_support(inner).update

    def should_skip(updates: Updates, gradient_step: jax.Array, params: Params | None) -> Any:
        if should_skip_update_fn is None:
            return None, ()
        skip, skip_state = should_skip_update_fn(updates, gradient_step, params)
        skip = jnp.asarray(skip)
        if (skip.dtype, skip.shape) != (jnp.bool_, ()):
            raise ValueError(
                "multi_steps: should_skip_update_fn must return a bool scalar first, got dtype "
                f"{skip.dtype} and shape {skip.shape}. Return e.g. (norm_sq > 1e3, {{}})."
            )
        return skip, skip_state

    def every_k(gradient_step: jax.Array) -> jax.Array:
        if callable(every_k_schedule):
            return jnp.asarray(every_k_schedule(gradient_step))
        return jnp.asarray(every_k_schedule, jnp.int32)

    def accumulate(g: jax.Array, acc: jax.Array, n: jax.Array) -> jax.Array:
        g = storage.load(g)
        new = acc + (g - acc) / (n + 1) if use_grad_mean else acc + g
        return new.astype(acc.dtype)

    def init(params: Params) -> MultiStepsState:
        gradient_step = jnp.zeros([], jnp.int32)
        _, skip_state = should_skip(tree.zeros_like(params), gradient_step, params)
        return MultiStepsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=gradient_step,
            inner_state=inner.init(params),
            acc_grads=tree.zeros_like(params, dtype=accumulator_dtype),
            skip_state=skip_state,
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        validation.check_state("multi_steps", state, MultiStepsState)
        validation.check_structure("multi_steps", updates, state.acc_grads)
        skip, skip_state = should_skip(updates, state.gradient_step, params)
        acc = jax.tree.map(lambda g, a: accumulate(g, a, state.mini_step), updates, state.acc_grads)
        emit = state.mini_step + 1 >= every_k(state.gradient_step)
        if skip is not None:
            emit = jnp.logical_and(emit, jnp.logical_not(skip))
        new_updates, inner_state = run_or_skip(
            emit, inner_update, storage.like(acc, updates), state.inner_state, params, extra_args
        )
        mini_step = jnp.where(emit, jnp.zeros([], jnp.int32), state.mini_step + 1)
        acc = jax.tree.map(lambda a: jnp.where(emit, jnp.zeros_like(a), a), acc)
        if skip is not None:  # a skipped micro-batch leaves the count and the sum as they were
            mini_step = jnp.where(skip, state.mini_step, mini_step)
            acc = jax.tree.map(lambda old, new: jnp.where(skip, old, new), state.acc_grads, acc)
        return new_updates, MultiStepsState(
            mini_step=mini_step,
            gradient_step=jnp.where(
                emit, tree.safe_increment(state.gradient_step), state.gradient_step
            ),
            inner_state=inner_state,
            acc_grads=acc,
            skip_state=skip_state,
        )

    return MultiStepsTransformation(init, update)


MultiSteps = multi_steps  # optax's spelling: MultiSteps(opt, k).gradient_transformation()


__all__ = [
    "ApplyIfFiniteState",
    "MultiSteps",
    "MultiStepsState",
    "MultiStepsTransformation",
    "ShouldSkipUpdateFunction",
    "ZeroNansState",
    "apply_if_finite",
    "freeze",
    "multi_steps",
    "set_to_zero",
    "skip_large_updates",
    "skip_not_finite",
    "zero_nans",
]

r"""Projected gradient descent as a transformation: keep the parameters inside a set.

:func:`project_params`, placed last in a chain, replaces the updates :math:`u` by
:math:`\Pi_C(\theta + u) - \theta`, so that ``apply_updates`` lands on :math:`\Pi_C(\theta + u)`,
a point of :math:`C`. Any projection of this package (or any function ``params -> params``) can
be :math:`\Pi_C`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformation, Params, Updates, apply_updates, stateless


def project_params(projection: Callable[[Params], Params]) -> GradientTransformation:
    r"""Projected steps: :math:`u_t \mapsto \Pi_C(\theta_t + u_t) - \theta_t`.

    .. math::
        \theta_{t+1} = \theta_t + \big(\Pi_C(\theta_t + u_t) - \theta_t\big)
        = \Pi_C(\theta_t + u_t)

    Chained after an optimizer, ``chain(sgd(lr), project_params(projection_simplex))`` is
    projected gradient descent :math:`\theta_{t+1} = \Pi_C(\theta_t - \eta\, g_t)`; after any
    other optimizer it projects that optimizer's step. It must be the last stage (what comes
    after it changes the step again). :math:`\theta_t + u_t` is formed as
    :func:`gradlab.apply_updates` forms it (in the params' dtypes) and the difference in float32
    or wider, cast to the updates' dtypes: the new params equal :math:`\Pi_C(\theta_t + u_t)` up
    to that cast's rounding (exactly where the projection leaves an entry at 0).

    Args:
      projection: :math:`\Pi_C`, a function ``params -> params`` returning a tree of the
        params' structure, e.g. :func:`gradlab.projections.projection_non_negative` or
        ``functools.partial(projection_l2_ball, scale=2.0)``.

    Returns:
      A stateless GradientTransformation (state ``EmptyState()``) whose ``update`` requires
      ``params``.

    References:
      Bertsekas, Nonlinear Programming, 2nd ed., 1999, Sec. 2.3 (gradient projection).
      Beck, `First-Order Methods in Optimization <https://doi.org/10.1137/1.9781611974997>`_,
      SIAM 2017, Ch. 9.
      Generalises ``optax.keep_params_nonnegative`` (which is ``project_params(
      projection_non_negative)``) to any projection.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.projections import project_params, projection_non_negative
    >>> tx = gradlab.chain(gradlab.sgd(1.0), project_params(projection_non_negative))
    >>> params = jnp.array([1.0, 1.0])
    >>> updates, _ = tx.update(jnp.array([3.0, -1.0]), tx.init(params), params)
    >>> gradlab.apply_updates(params, updates)
    Array([0., 2.], dtype=float32)
    """
    fn = "project_params"
    validation.check_callable(fn, "projection", projection, "projection_non_negative")

    def project(updates: Updates, params: Params | None) -> Updates:
        validation.require_params(fn, params, updates)
        target = projection(apply_updates(params, updates))
        got, want = jax.tree.structure(target), jax.tree.structure(params)
        if got != want:  # type: ignore[operator]  # PyTreeDef supports ==
            raise ValueError(
                f"{fn}: the projection returned a tree of another structure than the params.\n"
                f"  returned: {got}\n  params: {want}\nReturn a tree shaped like the input."
            )
        step = jax.tree.map(
            lambda t, p: storage.load(jnp.asarray(t)) - storage.load(jnp.asarray(p)),
            target,
            params,
        )
        return storage.like(step, updates)

    return stateless(project)


__all__ = ["project_params"]

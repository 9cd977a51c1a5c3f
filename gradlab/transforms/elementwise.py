r"""Elementwise maps of the updates: the square root and the epsilon of a preconditioner.

They make a denominator read like its formula: Adam's :math:`\sqrt{\hat v_t + \bar\epsilon} +
\epsilon` is ``chain(..., sqrt(eps_root), add_eps(eps))``. A Python zero (``eps=0``,
``eps_root=0``) adds nothing to the compiled step (see ``validation.is_static_zero``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradlab.core import storage, validation
from gradlab.core.base import GradientTransformation, stateless
from gradlab.core.injection import declare_hyperparams


@declare_hyperparams("eps_root", off_when_zero=("eps_root",))
def sqrt(eps_root: jax.typing.ArrayLike = 0.0) -> GradientTransformation:
    r"""The square root of the updates, epsilon inside: :math:`u = \sqrt{g + \bar\epsilon}`.

    Args:
      eps_root: :math:`\bar\epsilon \ge 0` (optax's ``eps_root``; RMSProp's eps in Hinton's
        lecture and TF). A Python 0 adds no term.

    Returns:
      A stateless GradientTransformation.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1 (:math:`\sqrt{\hat
      v_t}`); Matches: the root of ``optax.scale_by_adam``'s denominator.

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.sqrt(eps_root=5.0).update(jnp.array([4.0]), gradlab.EmptyState())[0]
    Array([3.], dtype=float32)
    """
    validation.check_non_negative("sqrt", "eps_root", eps_root, "0.0")
    if validation.is_static_zero(eps_root):
        return stateless(lambda updates, params: jax.tree.map(jnp.sqrt, updates))
    return stateless(
        lambda updates, params: jax.tree.map(
            lambda v: jnp.sqrt(v + jnp.asarray(eps_root, storage.leaf_dtype(v))), updates
        )
    )


@declare_hyperparams("eps", off_when_zero=("eps",))
def add_eps(eps: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Adds a constant to every entry: :math:`u = g + \epsilon` (a denominator's epsilon).

    Args:
      eps: :math:`\epsilon \ge 0`. A Python 0 adds no term.

    Returns:
      A stateless GradientTransformation.

    References:
      Kingma & Ba, `Adam <https://arxiv.org/abs/1412.6980>`_, 2014, Alg. 1 (the
      :math:`\epsilon` of :math:`\sqrt{\hat v_t} + \epsilon`).

    >>> import jax.numpy as jnp, gradlab
    >>> gradlab.add_eps(0.5).update(jnp.array([1.0]), gradlab.EmptyState())[0]
    Array([1.5], dtype=float32)
    """
    validation.check_non_negative("add_eps", "eps", eps, "1e-8")
    if validation.is_static_zero(eps):
        return stateless(lambda updates, params: updates)
    return stateless(
        lambda updates, params: jax.tree.map(
            lambda v: v + jnp.asarray(eps, storage.leaf_dtype(v)), updates
        )
    )


__all__ = ["add_eps", "sqrt"]

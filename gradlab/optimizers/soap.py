r"""SOAP: Shampoo's eigenbasis with Adam run inside it, and decoupled weight decay.

One ``chain``: :func:`~gradlab.transforms.eigenbasis.scale_by_soap` (the direction),
:func:`~gradlab.transforms.weight_decay.add_decayed_weights` (skipped on the first call, which
only initialises the preconditioner) and the learning rate. Names and defaults are those of the
authors' PyTorch ``SOAP`` (github.com/nikhilvyas/SOAP, ``soap.py``); optax has no SOAP.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core.base import GradientTransformation, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.transforms.combine import chain
from gradlab.transforms.conditionality import conditionally_transform
from gradlab.transforms.eigenbasis import scale_by_soap
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


def _after_first_step(step: jax.Array) -> jax.Array:
    """True from the second call on: the first one only initialises SOAP's preconditioner."""
    return step > 0


@inject_hyperparams(
    dynamic_args=("learning_rate", "b1", "b2", "shampoo_beta", "eps", "weight_decay"),
    off_when_zero=("weight_decay",),
)
def soap(
    learning_rate: ScalarOrSchedule = 3e-3,
    b1: ArrayLike = 0.95,
    b2: ArrayLike = 0.95,
    shampoo_beta: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.01,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    precondition_1d: bool = False,
    mask: Any | None = None,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""SOAP: Adam in the eigenbasis of Shampoo's Kronecker factors, plus AdamW's weight decay.

    The first call initialises the factors and their eigenbases from :math:`G_1` and returns a
    zero update (no weight decay either), as the reference does. From then on, with
    :math:`t = 1, 2, \dots` and :math:`u_t` the direction of
    :func:`~gradlab.transforms.eigenbasis.scale_by_soap` (for a matrix,
    :math:`\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} Q_L \frac{m_t}{\sqrt{v_t}+\epsilon} Q_R^\top`
    with Adam's moments of :math:`Q_L^\top G_t Q_R`):

    .. math::
        \theta_{t+1} = \theta_t - \alpha_t \big(u_t + \lambda\, \theta_t\big)

    The weight decay is AdamW's (``optax.adamw``, ``torch.optim.AdamW``): it reads
    :math:`\theta_t`. The reference decays the already-updated weights,
    :math:`\theta_{t+1} = (\theta_t - \alpha_t u_t)(1 - \alpha_t\lambda)`, which differs by
    :math:`\alpha_t^2 \lambda u_t` per step. Leaves or axes larger than ``max_precond_dim``, 1-D
    leaves (unless ``precondition_1d``) and scalars fall back to Adam (identity rotation); rank
    > 2 gets one factor per axis (see :mod:`gradlab.transforms.eigenbasis`).

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule; default 3e-3 (reference).
      b1: :math:`\beta_1`; default 0.95 (reference ``betas[0]``).
      b2: :math:`\beta_2`; default 0.95 (reference ``betas[1]``).
      shampoo_beta: :math:`\beta_s`, the factors' decay; ``None`` (the reference's ``-1``):
        :math:`\beta_2`.
      eps: :math:`\epsilon`; default 1e-8 (reference).
      weight_decay: :math:`\lambda \ge 0`, decoupled; default 0.01 (reference).
      precondition_frequency: refresh the eigenbases every this many steps; default 10.
      max_precond_dim: axes larger than this get no factor; default 10000 (reference: "so that
        we exclude most common vocab sizes while including layers").
      precondition_1d: precondition 1-D leaves too; default False (reference).
      mask: a tree of bools (or ``params -> tree``) selecting the leaves to decay.
      mu_dtype: dtype of the stored first moment.

    Returns:
      A GradientTransformationExtraArgs with state ``InjectState``.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; defaults from the authors'
      `soap.py <https://github.com/nikhilvyas/SOAP>`_ (``merge_dims``, ``normalize_grads``,
      ``data_format`` and ``correct_bias=False`` are not offered).
      Matches: a float64 NumPy transcription of Alg. 3 with the reference's conventions
      (``tests/test_soap.py``): rtol 1e-10, 50 steps, a matrix and a mixed tree.

    >>> import jax.numpy as jnp
    >>> from gradlab.optimizers.soap import soap
    >>> tx = soap(0.1)
    >>> params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    >>> grads = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    >>> u, state = tx.update(grads, tx.init(params), params)
    >>> float(jnp.abs(u["w"]).max())  # the first call only initialises
    0.0
    >>> u, state = tx.update(grads, state, params)
    >>> u["b"].round(4)  # the vector is plain Adam: -0.1 * (sign(g) + 0.01 * theta)
    Array([-0.101, -0.101, -0.101], dtype=float32)
    """
    return chain(
        scale_by_soap(  # u_t: Adam in the eigenbasis
            b1,
            b2,
            shampoo_beta,
            eps,
            precondition_frequency,
            max_precond_dim,
            precondition_1d,
            mu_dtype,
        ),
        conditionally_transform(  # + lambda theta_t, from the second call on
            add_decayed_weights(weight_decay, mask), _after_first_step
        ),
        scale_by_learning_rate(learning_rate),  # -alpha_t
    )


__all__ = ["soap"]

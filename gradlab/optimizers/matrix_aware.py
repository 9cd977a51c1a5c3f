r"""Matrix-aware optimizers: Muon, which orthogonalizes the momentum of each weight matrix.

Muon runs on the leaves that are matrices (or that ``muon_weight_dimension_numbers`` names) and
hands every other leaf (biases, scales, scalars) to AdamW, as ``optax.contrib.muon`` does: one
:func:`gradlab.partition` of the two chains. Names, argument order and defaults are optax's.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core import storage
from gradlab.core.base import GradientTransformation, Params, ScalarOrSchedule
from gradlab.core.injection import inject_hyperparams
from gradlab.optimizers.adam_family import adamw
from gradlab.transforms.combine import chain
from gradlab.transforms.groups import partition
from gradlab.transforms.orthogonalization import (
    DEFAULT_NS_COEFFS,
    NS_COEFFS_PRESETS,
    MuonDimensionNumbers,
    WeightDimensionNumbers,
    scale_by_muon,
    scale_by_shape,
)
from gradlab.transforms.scaling import scale_by_learning_rate
from gradlab.transforms.weight_decay import add_decayed_weights

ArrayLike = jax.typing.ArrayLike


def _muon_labels(dims: WeightDimensionNumbers) -> Any:
    """``params -> labels``: "muon" where a leaf has dimension numbers, "adam" elsewhere."""

    def labels(params: Params) -> Any:
        if dims is None:  # the default rule: every 2-D leaf is a matrix
            return jax.tree.map(lambda x: "muon" if x.ndim == 2 else "adam", params)
        resolved = dims(params) if callable(dims) else dims
        return jax.tree.map(
            lambda d, sub: jax.tree.map(lambda _: "adam" if d is None else "muon", sub),
            resolved,
            params,
            is_leaf=lambda d: d is None or hasattr(d, "output_axis"),  # gradlab's or optax's
        )

    return labels


@inject_hyperparams(
    dynamic_args=(
        "learning_rate",
        "beta",
        "eps",
        "weight_decay",
        "adam_b1",
        "adam_b2",
        "adam_eps_root",
        "adam_weight_decay",
        "adam_learning_rate",
        "consistent_rms",
    ),
    off_when_zero=("weight_decay", "adam_eps_root", "adam_weight_decay"),
)
def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    weight_decay: ArrayLike = 0.0,
    weight_decay_mask: Any | None = None,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ArrayLike = 0.9,
    adam_b2: ArrayLike = 0.999,
    adam_eps_root: ArrayLike = 0.0,
    adam_weight_decay: ArrayLike = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimensionNumbers = None,
    consistent_rms: ArrayLike | None = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Muon: MomentUm Orthogonalized by Newton–Schulz, with AdamW for the non-matrix leaves.

    For a matrix leaf with fan-in :math:`n` and fan-out :math:`m`:

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \quad
        \hat m_t = \frac{\beta m_t}{1-\beta^{t+1}} + \frac{(1-\beta) g_t}{1-\beta^t}, \quad
        \theta_{t+1} = \theta_t - \alpha_t \Big(\sqrt{\max(1, m/n)}\,
        \operatorname{NS}_5(\hat m_t) + \lambda \theta_t\Big)

    where :math:`\operatorname{NS}_5` is five quintic Newton–Schulz steps
    (:func:`~gradlab.transforms.orthogonalization.orthogonalize_via_newton_schulz`). Every other
    leaf (rank != 2 by default, or dimension numbers ``None``) gets
    ``adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
    weight_decay=adam_weight_decay, nesterov=nesterov)``: Muon is defined for matrices only.

    Args:
      learning_rate: :math:`\alpha_t`, a number or a schedule.
      ns_coeffs: :math:`(c_0, c_1, c_2)` (default Jordan's (3.4445, -4.7750, 2.0315)), rows of
        them, or a preset name (``"standard"``, ``"dion"``).
      ns_steps: Newton–Schulz steps; default 5.
      beta: :math:`\beta`, the momentum decay; default 0.95.
      eps: in the Newton–Schulz normalisation and AdamW's denominator; default 1e-8.
      weight_decay: :math:`\lambda`, decoupled, multiplied by :math:`\alpha_t`; default 0.
      weight_decay_mask: tree of bools (or a function of the params) for the matrix leaves.
      mu_dtype: dtype of the stored momenta.
      nesterov: use the look-ahead momentum (also in AdamW); default True.
      adaptive: scale by :math:`\langle \hat m_t, \operatorname{NS}(\hat m_t)\rangle`.
      preconditioning: ``"frobenius"`` (default), ``"spectral"``, ``"aol"``, ``"schatten"``.
      adam_b1, adam_b2, adam_eps_root, adam_weight_decay: AdamW's for the other leaves.
      adam_learning_rate: AdamW's learning rate; ``None``: ``learning_rate``.
      muon_weight_dimension_numbers: a tree of
        :class:`~gradlab.transforms.orthogonalization.MuonDimensionNumbers` (``None`` at the
        leaves for AdamW), or a function of the params returning one; default: the 2-D leaves.
      consistent_rms: :math:`\rho`: scale by :math:`\rho\sqrt{\max(n, m)}` instead of the
        width factor (Liu et al. suggest 0.2).
      state_format: ``"8bit"`` stores the momenta (and AdamW's moments) in 8-bit block-wise
        quantization (see :func:`gradlab.adam`; not in optax).

    Returns:
      A GradientTransformation with state ``InjectState`` around a ``PartitionState``
      (``"muon"``, ``"adam"``).

    References:
      Jordan, `modded-nanogpt <https://github.com/KellerJordan/modded-nanogpt>`_, 2024; Liu et
      al., `Muon is Scalable for LLM Training <https://arxiv.org/abs/2502.16982>`_, 2025.
      Matches: ``optax.contrib.muon``: rtol 1e-10 (float64), 1e-5 normwise (float32), 200 jitted
      steps.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.optimizers.matrix_aware import muon
    >>> tx = muon(0.1, nesterov=False)
    >>> params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    >>> u, state = tx.update(params, tx.init(params), params)
    >>> bool(jnp.allclose(u["b"], -0.1))  # the vector goes to AdamW: first step -lr * sign(g)
    True
    """
    if isinstance(ns_coeffs, str) and ns_coeffs in NS_COEFFS_PRESETS:
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    matrix_dims = (
        MuonDimensionNumbers()
        if muon_weight_dimension_numbers is None
        else muon_weight_dimension_numbers
    )
    return partition(
        {
            "muon": chain(
                scale_by_muon(  # NS(m̂_t)
                    ns_coeffs,
                    ns_steps,
                    beta,
                    eps,
                    mu_dtype,
                    nesterov=nesterov,
                    adaptive=adaptive,
                    preconditioning=preconditioning,
                    weight_dimension_numbers=matrix_dims,
                    state_format=state_format,
                ),
                scale_by_shape(matrix_dims, consistent_rms),  # * sqrt(max(1, m / n))
                add_decayed_weights(weight_decay, weight_decay_mask),  # + lambda theta_t
                scale_by_learning_rate(learning_rate),  # -alpha_t
            ),
            "adam": adamw(  # the leaves that are not matrices
                learning_rate if adam_learning_rate is None else adam_learning_rate,
                b1=adam_b1,
                b2=adam_b2,
                eps=eps,
                eps_root=adam_eps_root,
                mu_dtype=mu_dtype,
                weight_decay=adam_weight_decay,
                nesterov=nesterov,
                state_format=state_format,
            ),
        },
        _muon_labels(muon_weight_dimension_numbers),
    )


__all__ = ["muon"]

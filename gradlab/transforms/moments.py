r"""Adam's two moments, as compositions every Adam-like optimizer and block reuses.

:func:`first_moment` is the debiased moving average of the gradient (or Dozat's Nesterov
look-ahead); :func:`second_moment` is the denominator :math:`\sqrt{\hat v_t + \bar\epsilon} +
\epsilon`. ``divide(first_moment(...), second_moment(...))`` is Adam's direction.
"""

from __future__ import annotations

from typing import Any

import jax

from gradlab.core import storage
from gradlab.core.base import GradientTransformation
from gradlab.transforms.combine import chain, fan_out
from gradlab.transforms.elementwise import add_eps, sqrt
from gradlab.transforms.scaling import scale
from gradlab.transforms.statistics import bias_correction, moving_average

ArrayLike = jax.typing.ArrayLike


def first_moment(
    b1: ArrayLike, nesterov: bool, mu_dtype: Any = None, state_format: storage.StateFormat = None
) -> GradientTransformation:
    r"""Adam's debiased first moment :math:`\hat m_t`, or Dozat's look-ahead with ``nesterov``.

    ``chain(moving_average(b1), bias_correction(b1))``; with ``nesterov=True``
    :math:`\beta_1 m_t/(1-\beta_1^{t+1}) + (1-\beta_1) g_t/(1-\beta_1^t)`, a
    :func:`~gradlab.fan_out` of the moment and of the gradient (both read the raw :math:`g_t`).
    The gradient term is scaled by :math:`1-\beta_1` before it is debiased, so that a float16
    gradient near its maximum does not overflow on the way (:math:`g_1/(1-\beta_1)`).
    ``mu_dtype`` and ``state_format`` set how :math:`m_t` is stored (:mod:`gradlab.core.storage`).
    """
    m_t = moving_average(b1, accumulator_dtype=mu_dtype, state_format=state_format)
    if not nesterov:
        return chain(m_t, bias_correction(b1))
    return fan_out(
        chain(m_t, bias_correction(b1, offset=1)),  # m_t / (1 - b1^(t+1))
        chain(scale(1 - b1), bias_correction(b1)),  # (1 - b1) g_t / (1 - b1^t)
        combine=lambda m_hat, g_hat, g: b1 * m_hat + g_hat,
    )


def second_moment(
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    nu_dtype: Any = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Adam's denominator :math:`\sqrt{\hat v_t + \bar\epsilon} + \epsilon`, as one chain.

    ``nu_dtype`` and ``state_format`` set how :math:`v_t` is stored (:mod:`gradlab.core.storage`).
    """
    return chain(
        moving_average(b2, order=2, accumulator_dtype=nu_dtype, state_format=state_format),  # v_t
        bias_correction(b2),  # v̂_t
        sqrt(eps_root),  # sqrt(v̂_t + eps_root)
        add_eps(eps),  # + eps
    )


__all__ = ["first_moment", "second_moment"]

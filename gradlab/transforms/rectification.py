r"""RAdam's variance rectification, as a stage of a denominator chain.

Liu et al.'s rectified Adam scales Adam's direction by :math:`r_t` once the length
:math:`\rho_t` of the approximated simple moving average is long enough (:math:`\rho_t \ge`
``threshold``), and takes the plain debiased momentum before that. Written as a stage at the end
of Adam's denominator chain, the rule is ``divide(first_moment(...), chain(second_moment(...),
rectify(b2, threshold)))``: the denominator becomes :math:`d_t / r_t` once rectified and 1
before, so the ratio is :math:`r_t \hat m_t / d_t` or :math:`\hat m_t`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, OptState, Params, Updates
from gradlab.core.injection import declare_hyperparams


class RectifyState(NamedTuple):
    """Number of updates done so far (int32 scalar), the :math:`t` of :math:`\\rho_t`."""

    steps: jax.Array


def _sma_length(b2: jax.Array, steps: jax.Array) -> jax.Array:
    r""":math:`\rho_t`, without the cancellation of :math:`\rho_\infty - 2t\beta^t/(1-\beta^t)`.

    With :math:`\varepsilon = 1-\beta`, :math:`L = \log(1-\varepsilon)`, :math:`y = tL` and
    :math:`D = 1-\beta^t = -\operatorname{expm1}(y)`, :math:`\rho_t = 2t - 1 + 2(D -
    t\varepsilon)/(\varepsilon D)`, where :math:`D - t\varepsilon = -(\operatorname{expm1}(y)
    - y) - t(L + \varepsilon)` is formed from Taylor series where its two terms are small. The
    direct form (optax's) subtracts two numbers near :math:`2/\varepsilon`: in float32, for
    :math:`\beta = 0.9999`, it is off by up to 2 in :math:`\rho_t` (so the threshold switches
    at the wrong step); this form is off by about 1e-5.
    """
    t = steps.astype(b2.dtype)
    eps = 1 - b2
    log_b2 = jnp.log1p(-eps)
    y = t * log_b2
    log_plus_eps = jnp.where(  # L + eps = -(eps^2/2 + eps^3/3 + ...)
        eps < 0.05,
        -eps * eps * (0.5 + eps * (1 / 3 + eps * (0.25 + eps * (0.2 + eps / 6)))),
        log_b2 + eps,
    )
    expm1_minus_y = jnp.where(  # expm1(y) - y = y^2/2 + y^3/6 + ...
        jnp.abs(y) < 0.1,
        y * y * (0.5 + y * (1 / 6 + y * (1 / 24 + y * (1 / 120 + y * (1 / 720 + y / 5040))))),
        jnp.expm1(y) - y,
    )
    d = -jnp.expm1(y)
    return 2 * t - 1 + 2 * (-expm1_minus_y - t * log_plus_eps) / (eps * d)


def _rectifier(
    b2: jax.typing.ArrayLike, steps: jax.Array, threshold: jax.typing.ArrayLike
) -> tuple[jax.Array, jax.Array]:
    r"""(:math:`\rho_t \ge` threshold, :math:`r_t`), with :math:`r_t` set to 1 where unused."""
    b2 = jnp.asarray(b2)
    b2 = b2.astype(jnp.promote_types(b2.dtype, jnp.float32))
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho = _sma_length(b2, steps)
    on = rho >= threshold
    radicand = (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
    # rho < 4 makes the radicand negative or 0: that r_t is never used, keep it finite (and the
    # step's gradient NaN-free).
    safe = on & (radicand > 0)
    return on, jnp.sqrt(jnp.where(safe, radicand, jnp.ones_like(radicand)))


@declare_hyperparams("b2", "threshold")
def rectify(
    b2: jax.typing.ArrayLike = 0.999, threshold: jax.typing.ArrayLike = 5.0
) -> GradientTransformation:
    r"""RAdam's rectification of a denominator :math:`d_t`: :math:`d_t / r_t`, or 1 early on.

    .. math::
        \rho_\infty = \frac{2}{1-\beta_2} - 1, \quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t}, \quad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}},
        \quad u_t = \begin{cases} d_t / r_t & \rho_t \ge \tau \\ 1 & \text{otherwise}\end{cases}

    Placed last in Adam's denominator chain, :func:`gradlab.divide` then gives RAdam's
    :math:`r_t \hat m_t / d_t` (rectified) or :math:`\hat m_t` (SGD with momentum, early steps).
    :math:`\rho_t` is formed without the cancellation of the direct form (optax's), which in
    float32 is off by ~0.04 at :math:`\beta_2 = 0.999` and by ~2 at 0.9999, enough to switch
    the rectification on at the wrong step; here the error is ~1e-5.

    Args:
      b2: :math:`\beta_2 \in [0, 1)`, the second moment's decay; default 0.999.
      threshold: :math:`\tau`; default 5 (optax and the authors' code; the paper's Algorithm 2
        tests :math:`\rho_t > 4`).

    Returns:
      A GradientTransformation with state ``RectifyState(steps)``.

    References:
      Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
      <https://arxiv.org/abs/1908.03265>`_, ICLR 2020, Alg. 2.
      Matches: the rectification of ``optax.scale_by_radam`` (float64; more accurate in float32).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.rectification import rectify
    >>> tx = rectify(0.999)
    >>> tx.update(jnp.array([0.5]), tx.init(jnp.zeros(1)))[0]  # rho_1 = 1 < 5: no adaptive step
    Array([1.], dtype=float32)
    """
    validation.check_unit_interval("rectify", "b2", b2, "0.999")
    validation.check_finite("rectify", "threshold", threshold, "5.0")

    def init(params: Params) -> RectifyState:
        del params
        return RectifyState(jnp.zeros([], jnp.int32))

    def update(
        updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]:
        validation.check_state("rectify", state, RectifyState)
        del params
        steps = tree.safe_increment(state.steps)
        on, r = _rectifier(b2, steps, threshold)
        out = jax.tree.map(
            lambda d: jnp.where(on, (storage.load(d) / r).astype(d.dtype), jnp.ones_like(d)),
            updates,
        )
        return out, RectifyState(steps)

    return GradientTransformation(init, update)


__all__ = ["RectifyState", "rectify"]

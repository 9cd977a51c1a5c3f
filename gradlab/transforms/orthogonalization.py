r"""Orthogonalization: Muon's Newton–Schulz map of a matrix-shaped update to its polar factor.

:func:`orthogonalize_via_newton_schulz` is the array function (one matrix, or a stack of them
named by :class:`MuonDimensionNumbers`); :func:`scale_by_newton_schulz` applies it to every
matrix leaf of the updates; :func:`scale_by_shape` rescales a matrix update for its shape;
:func:`scale_by_muon` is Muon's direction, ``chain(first_moment(beta, nesterov),
scale_by_newton_schulz(...))``. Names, arguments and defaults follow ``optax.contrib``'s Muon.

The iteration runs in float32 or wider (:func:`gradlab.core.storage.load`); each update keeps its
dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, Updates, stateless
from gradlab.core.injection import declare_hyperparams
from gradlab.transforms.combine import chain
from gradlab.transforms.moments import first_moment
from gradlab.transforms.state_layout import with_state_layout
from gradlab.transforms.statistics import CountState, MovingAverageState

ArrayLike = jax.typing.ArrayLike

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)  # Jordan's quintic (modded-nanogpt)
DION_NS_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
NS_COEFFS_PRESETS = {"standard": DEFAULT_NS_COEFFS, "dion": DION_NS_COEFFS}


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight are its matrix's rows (``reduction_axis``) and columns
    (``output_axis``); every other axis is a batch axis, orthogonalized independently.

    The default ``(0, 1)`` reads a 2-D weight ``W`` of ``x @ W`` as it is. Matches:
    ``optax.contrib.MuonDimensionNumbers``.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


WeightDimensionNumbers = Any  # MuonDimensionNumbers, a tree of them (None: not a matrix), or a fn


def _is_dims(x: Any) -> bool:
    """A MuonDimensionNumbers, gradlab's or optax's (any object with the two axis fields)."""
    return hasattr(x, "reduction_axis") and hasattr(x, "output_axis")


def _axes(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    def norm(axes: Sequence[int] | int) -> tuple[int, ...]:
        return tuple(a % x.ndim for a in ((axes,) if isinstance(axes, int) else axes))

    return norm(dims.reduction_axis), norm(dims.output_axis)


def _fans(x: jax.Array, dims: MuonDimensionNumbers) -> tuple[int, int]:
    """(fan_in, fan_out): the products of the reduction and of the output axes' sizes."""
    reduction, output = _axes(x, dims)
    return math.prod(x.shape[a] for a in reduction), math.prod(x.shape[a] for a in output)


def _ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
    """:math:`c_0 X + (c_1 A + c_2 A^2) X` with :math:`A = X X^*`."""
    a = x @ x.T.conj()
    return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _first_step(x: jax.Array, c: jax.Array, preconditioning: str, eps: ArrayLike) -> jax.Array:
    """The first step, with AOL's row rescaling or Schatten-4 scaling folded in."""
    if preconditioning == "aol":  # Boissin et al. 2025
        a = x @ x.T.conj()
        s = jnp.expand_dims(jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=eps)), -1)
        x, a = x * s, a * s * s.T
    elif preconditioning == "schatten":  # Grishina et al. 2025
        a = x @ x.T
        s = jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(a, ord="fro", axis=(-2, -1)), min=eps))
        x, a = x * s, a * s**2
    else:
        return _ns_step(x, c)
    return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _orthogonalize_matrix(
    x: jax.Array, coeffs: np.ndarray, ns_steps: int, preconditioning: str, eps: ArrayLike
) -> jax.Array:
    transposed = x.shape[0] > x.shape[1]
    if transposed:  # the iteration commutes with transposition; X X^* is the smaller Gram
        x = x.T
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x, ord="fro") + eps)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps)
    steps = [coeffs] * ns_steps if coeffs.ndim == 1 else list(coeffs)
    for i, c in enumerate(steps):
        c = jnp.asarray(c, x.dtype)
        x = _first_step(x, c, preconditioning, eps) if i == 0 else _ns_step(x, c)
    return x.T if transposed else x


def _check_coeffs(fn: str, ns_coeffs: Any, ns_steps: Any) -> np.ndarray:
    if isinstance(ns_coeffs, str):
        if ns_coeffs not in NS_COEFFS_PRESETS:
            raise ValueError(
                f"{fn}: unknown ns_coeffs preset {ns_coeffs!r}; the presets are "
                f"{sorted(NS_COEFFS_PRESETS)}."
            )
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    validation.check_count(fn, "ns_steps", ns_steps, 0, "5")
    coeffs = np.asarray(ns_coeffs, dtype=np.float64)
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        raise ValueError(
            f"{fn}: ns_coeffs must have shape (3,) or (n, 3), got {coeffs.shape}. Pass e.g. "
            f"ns_coeffs={DEFAULT_NS_COEFFS}."
        )
    if coeffs.ndim == 2:
        if coeffs.shape[0] > ns_steps:
            raise ValueError(
                f"{fn}: {coeffs.shape[0]} rows of ns_coeffs need ns_steps >= {coeffs.shape[0]}, "
                f"got ns_steps={ns_steps}."
            )
        coeffs = coeffs[-ns_steps:] if ns_steps else coeffs[:0]
    return coeffs


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: Any,
    ns_steps: int = 5,
    preconditioning: str = "frobenius",
    eps: ArrayLike = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> jax.Array:
    r"""Approximates the polar factor :math:`UV^*` of :math:`X = U\Sigma V^*` by Newton–Schulz.

    .. math::
        X_0 = \frac{X}{\|X\|_F + \epsilon}, \qquad X_{k+1} = c_0 X_k + (c_1 A_k + c_2 A_k^2) X_k,
        \quad A_k = X_k X_k^*

    Jordan's coefficients maximise the slope at 0, so the result is :math:`U S' V^*` with
    :math:`S'_{ii} \approx` Uniform(0.5, 1.5) rather than exactly :math:`UV^*`. A tall matrix is
    transposed first (the map commutes with transposition). ``preconditioning`` chooses
    :math:`X_0`: ``"frobenius"`` (above), ``"spectral"`` (:math:`X/(\|X\|_2+\epsilon)`),
    ``"aol"`` (the first step rescales rows by :math:`(\sum_j |A_{ij}|)^{-1/2}`) or
    ``"schatten"`` (the first step divides by :math:`\|XX^*\|_F^{1/2}`).

    Args:
      x: a matrix, or an array whose matrix axes ``dimension_numbers`` names (the other axes are
        batch axes).
      ns_coeffs: :math:`(c_0, c_1, c_2)`, or one row per step (shape ``(n, 3)``), or a preset
        name (``"standard"``, ``"dion"``).
      ns_steps: the number of steps (a row per step when ``ns_coeffs`` has rows).
      preconditioning: one of ``"frobenius"``, ``"spectral"``, ``"aol"``, ``"schatten"``.
      eps: :math:`\epsilon`, in the normalising denominators.
      dimension_numbers: required unless ``x`` is a matrix.

    Returns:
      The orthogonalized array, with ``x``'s shape and dtype.

    References:
      Jordan, `modded-nanogpt <https://github.com/KellerJordan/modded-nanogpt>`_, 2024;
      Bernstein & Newhouse, `Old Optimizer, New Norm <https://arxiv.org/abs/2409.20325>`_,
      2024. Matches: ``optax.contrib._muon.orthogonalize_via_newton_schulz``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.orthogonalization import orthogonalize_via_newton_schulz
    >>> o = orthogonalize_via_newton_schulz(jnp.diag(jnp.array([3.0, 1.0])), "standard")
    >>> bool(jnp.all((jnp.diag(o) > 0.5) & (jnp.diag(o) < 1.5)))  # singular values near 1
    True
    """
    fn = "orthogonalize_via_newton_schulz"
    validation.check_choice(fn, "preconditioning", preconditioning, PRECONDITIONINGS)
    coeffs = _check_coeffs(fn, ns_coeffs, ns_steps)
    x = jnp.asarray(x)
    if dimension_numbers is None:
        if x.ndim != 2:
            raise ValueError(
                f"{fn}: x has shape {x.shape}; a non-matrix needs dimension_numbers, e.g. "
                "MuonDimensionNumbers(reduction_axis=0, output_axis=(1, 2))."
            )
        dimension_numbers = MuonDimensionNumbers()
    if x.ndim < 2:
        raise ValueError(f"{fn}: x must have rank >= 2, got shape {x.shape}.")
    reduction, output = _axes(x, dimension_numbers)
    if set(reduction) & set(output) or not reduction or not output:
        raise ValueError(
            f"{fn}: reduction axes {reduction} and output axes {output} must be disjoint and "
            f"non-empty (x.shape={x.shape})."
        )
    batch = tuple(sorted(set(range(x.ndim)) - set(reduction) - set(output)))
    order = batch + reduction + output
    sizes = [x.shape[a] for a in order]
    flat = (math.prod(sizes[: len(batch)]), *_fans(x, dimension_numbers))
    whole, reshard_back = tree.gather_whole(x)  # under an explicit mesh: the whole matrix
    wide = storage.load(whole).transpose(order).reshape(flat)
    out = jax.vmap(lambda m: _orthogonalize_matrix(m, coeffs, ns_steps, preconditioning, eps))(wide)
    return reshard_back(out.reshape(sizes).transpose(np.argsort(order)).astype(x.dtype))


def _resolve(dims: WeightDimensionNumbers, updates: Updates) -> Any:
    """The dimension-number tree (a prefix of the updates'); ``None`` means every leaf is 2-D."""
    resolved = dims(updates) if callable(dims) else dims
    return MuonDimensionNumbers() if resolved is None else resolved


def _map_matrices(
    f: Callable[[jax.Array, MuonDimensionNumbers], jax.Array],
    updates: Updates,
    dims: WeightDimensionNumbers,
) -> Updates:
    """``f(leaf, dims)`` at every leaf with dimension numbers; a ``None`` there leaves it as is."""
    resolved = _resolve(dims, updates)
    if _is_dims(resolved):
        return jax.tree.map(lambda g: f(g, resolved), updates)
    return jax.tree.map(
        lambda d, sub: sub if d is None else jax.tree.map(lambda g: f(g, d), sub),
        resolved,
        updates,
        is_leaf=lambda d: d is None or _is_dims(d),
    )


@declare_hyperparams("eps")
def scale_by_newton_schulz(
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    eps: ArrayLike = 1e-8,
    *,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: WeightDimensionNumbers = None,
) -> GradientTransformation:
    r"""Orthogonalizes each matrix leaf: :math:`u = \operatorname{NS}(g)` (see
    :func:`orthogonalize_via_newton_schulz`).

    With ``adaptive=True`` the result is scaled by the dual norm of the input,
    :math:`u = \langle g, \operatorname{NS}(g)\rangle\, \operatorname{NS}(g)`.

    Args:
      ns_coeffs: :math:`(c_0, c_1, c_2)`, rows of them, or a preset name.
      ns_steps: the number of Newton–Schulz steps.
      eps: :math:`\epsilon` in the normalisation.
      adaptive: scale by :math:`\langle g, \operatorname{NS}(g)\rangle` (Bernstein & Newhouse).
      preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or ``"schatten"``.
      weight_dimension_numbers: a :class:`MuonDimensionNumbers`, a tree of them (a prefix of the
        params'; ``None`` marks a leaf to pass through unchanged), or a function of the updates
        returning one. ``None``: every leaf is a matrix.

    Returns:
      A stateless GradientTransformation (``EmptyState()``).

    References:
      Jordan, `modded-nanogpt <https://github.com/KellerJordan/modded-nanogpt>`_, 2024. The
      orthogonalization stage of ``optax.contrib.scale_by_muon``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.orthogonalization import scale_by_newton_schulz
    >>> tx = scale_by_newton_schulz()
    >>> u = tx.update(jnp.eye(2) * 5.0, tx.init(None))[0]
    >>> bool(jnp.allclose(u, u[0, 0] * jnp.eye(2)))
    True
    """
    fn = "scale_by_newton_schulz"
    validation.check_choice(fn, "preconditioning", preconditioning, PRECONDITIONINGS)
    validation.check_non_negative(fn, "eps", eps, "1e-8")
    coeffs = _check_coeffs(fn, ns_coeffs, ns_steps)

    def leaf(g: jax.Array, dims: MuonDimensionNumbers) -> jax.Array:
        o = orthogonalize_via_newton_schulz(g, coeffs, ns_steps, preconditioning, eps, dims)
        if adaptive:
            o = (jnp.sum(storage.load(g).conj() * storage.load(o)) * storage.load(o)).astype(
                o.dtype
            )
        return o

    return stateless(lambda updates, params: _map_matrices(leaf, updates, weight_dimension_numbers))


@declare_hyperparams("consistent_rms")
def scale_by_shape(
    weight_dimension_numbers: WeightDimensionNumbers = None,
    consistent_rms: ArrayLike | None = None,
) -> GradientTransformation:
    r"""Scales each matrix update for its shape: :math:`u = s\, g`, with fan-in :math:`n` and
    fan-out :math:`m`,

    .. math::
        s = \sqrt{\max(1, m / n)} \ \text{(width transfer)} \quad\text{or}\quad
        s = \rho \sqrt{\max(n, m)} \ \text{(consistent RMS, } \rho = \texttt{consistent_rms})

    Args:
      weight_dimension_numbers: as in :func:`scale_by_newton_schulz`.
      consistent_rms: :math:`\rho`; ``None`` uses the width-transfer factor. Liu et al. suggest
        0.2 (AdamW's typical update RMS).

    Returns:
      A stateless GradientTransformation.

    References:
      Jordan, `Muon <https://github.com/KellerJordan/Muon>`_, 2024; Liu et al., `Muon is
      Scalable for LLM Training <https://arxiv.org/abs/2502.16982>`_, 2025.
      Matches: ``optax.contrib._muon.scale_by_shape``.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.orthogonalization import scale_by_shape
    >>> tx = scale_by_shape()
    >>> tx.update(jnp.ones((1, 4)), tx.init(None))[0]  # sqrt(4 / 1)
    Array([[2., 2., 2., 2.]], dtype=float32)
    """
    if consistent_rms is not None:
        validation.check_non_negative("scale_by_shape", "consistent_rms", consistent_rms, "0.2")

    def leaf(g: jax.Array, dims: MuonDimensionNumbers) -> jax.Array:
        fan_in, fan_out = _fans(g, dims)
        if consistent_rms is None:
            # max(fan_in, 1): a zero-size matrix has no entries to scale
            factor: Any = jnp.sqrt(jnp.maximum(1, fan_out / max(fan_in, 1)))
        else:
            factor = jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms
        return (factor * g).astype(g.dtype)

    return stateless(lambda updates, params: _map_matrices(leaf, updates, weight_dimension_numbers))


class MuonState(NamedTuple):
    """Muon's step count and momentum :math:`m_t` (optax's fields, without its constant
    ``ns_coeffs``, which here is part of the transformation)."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar (shadows tuple.count)
    mu: Updates


@declare_hyperparams("beta", "eps")
def scale_by_muon(
    ns_coeffs: Any = DEFAULT_NS_COEFFS,
    ns_steps: int = 5,
    beta: ArrayLike = 0.95,
    eps: ArrayLike = 1e-8,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: WeightDimensionNumbers = None,
    state_format: storage.StateFormat = None,
) -> GradientTransformation:
    r"""Muon's direction: the orthogonalized (Nesterov) momentum.

    .. math::
        m_t = \beta m_{t-1} + (1-\beta) g_t, \quad
        \hat m_t = \frac{\beta m_t}{1-\beta^{t+1}} + \frac{(1-\beta) g_t}{1-\beta^t}
        \ (\text{nesterov; else } m_t/(1-\beta^t)), \quad u_t = \operatorname{NS}(\hat m_t)

    It is ``chain(first_moment(beta, nesterov, mu_dtype, state_format),
    scale_by_newton_schulz(...))``, with its state presented as :class:`MuonState`.

    Args:
      ns_coeffs, ns_steps, adaptive, preconditioning, weight_dimension_numbers: as in
        :func:`scale_by_newton_schulz`.
      beta: :math:`\beta \in [0, 1)`; default 0.95.
      eps: :math:`\epsilon` of the normalisation; default 1e-8.
      mu_dtype: dtype of the stored momentum.
      nesterov: use the look-ahead :math:`\hat m_t` (default, as optax and Jordan).
      state_format: ``"8bit"`` stores the momentum in 8-bit block-wise quantization (see
        :func:`gradlab.adam`; not in optax).

    Returns:
      A GradientTransformation with state ``MuonState(count, mu)``.

    References:
      Jordan, `modded-nanogpt <https://github.com/KellerJordan/modded-nanogpt>`_, 2024.
      Matches: ``optax.contrib.scale_by_muon`` (rtol 1e-10 in float64).

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.orthogonalization import scale_by_muon
    >>> tx = scale_by_muon()
    >>> u, state = tx.update(jnp.ones((2, 3)), tx.init(jnp.zeros((2, 3))))
    >>> int(state.count), u.shape
    (1, (2, 3))
    """
    validation.check_unit_interval("scale_by_muon", "beta", beta, "0.95")
    validation.check_dtype("scale_by_muon", "mu_dtype", mu_dtype)
    return with_state_layout(
        chain(
            first_moment(beta, nesterov, mu_dtype, state_format),  # m̂_t
            scale_by_newton_schulz(  # NS(m̂_t)
                ns_coeffs,
                ns_steps,
                eps,
                adaptive=adaptive,
                preconditioning=preconditioning,
                weight_dimension_numbers=weight_dimension_numbers,
            ),
        ),
        MuonState,
        {"count": (CountState, "steps"), "mu": (MovingAverageState, "average")},
        like="mu",
    )


__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "orthogonalize_via_newton_schulz",
    "scale_by_muon",
    "scale_by_newton_schulz",
    "scale_by_shape",
]

r"""Eigenbasis preconditioning: SOAP, Adam run in the eigenbasis of Shampoo's Kronecker factors.

For a weight :math:`W \in \mathbb{R}^{d_1 \times \dots \times d_k}` SOAP keeps one Kronecker
factor per axis, :math:`F_i = \beta_s F_i + (1-\beta_s)\, G_{(i)} G_{(i)}^\top` (for a matrix
:math:`L = \beta_s L + (1-\beta_s) G G^\top`, :math:`R = \beta_s R + (1-\beta_s) G^\top G`), an
orthogonal eigenbasis :math:`Q_i` of each, and Adam's two moments in the rotated coordinates
:math:`G' = G \times_1 Q_1^\top \dots \times_k Q_k^\top` (:math:`Q_L^\top G Q_R` for a matrix).
The pieces are small functions of one leaf (:func:`kronecker_factor`, :func:`rotate_to_eigenbasis`,
:func:`eigenbasis`, :func:`refresh_eigenbasis`); :func:`scale_by_soap` is the one
transformation, because a basis refresh permutes Adam's second moment and re-rotates the first:
the three statistics share one state, which a ``chain`` of separate stages cannot.

**Fallback (Adam).** An axis gets no factor, i.e. an identity rotation, when its size exceeds
``max_precond_dim``; a 1-D leaf gets none unless ``precondition_1d`` (and its size is at most
``max_precond_dim``); a scalar never does. A leaf with no factor at all is updated by exactly
Adam (with the reference's bias correction and :math:`\epsilon` placement, below). Leaves of rank
> 2 follow the reference: one factor per axis (no ``merge_dims``).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradlab.core import storage, tree, validation
from gradlab.core.base import GradientTransformation, Params, Updates
from gradlab.core.injection import declare_hyperparams

ArrayLike = jax.typing.ArrayLike
Bases = tuple[jax.Array | None, ...]  # one entry per axis of a leaf; None: identity (fallback)


# ---------------------------------------------------------------------------------------------
# Array functions of one leaf


def soap_preconditioned_axes(
    shape: tuple[int, ...], max_precond_dim: int, precondition_1d: bool = False
) -> tuple[bool, ...]:
    r"""Which axes of a leaf of ``shape`` get a Kronecker factor: axis :math:`i` does when
    :math:`d_i \le` ``max_precond_dim``; a vector only with ``precondition_1d``; a scalar never.

    Args:
      shape: the leaf's shape.
      max_precond_dim: the largest axis that gets a factor.
      precondition_1d: give vectors a factor too.

    Returns:
      One bool per axis.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; the authors' ``soap.py``.

    >>> soap_preconditioned_axes((3, 20000), 10000)
    (True, False)
    """
    if len(shape) == 1 and not precondition_1d:
        return (False,)
    return tuple(d <= max_precond_dim for d in shape)


def kronecker_factor(g: jax.Array, axis: int) -> jax.Array:
    r""":math:`G_{(i)} G_{(i)}^\top`: ``g`` contracted with itself over every axis but ``axis``.

    For a matrix, axis 0 gives :math:`G G^\top` and axis 1 :math:`G^\top G`; for a vector,
    :math:`g g^\top`.

    Args:
      g: a gradient leaf.
      axis: the axis whose factor to form.

    Returns:
      A :math:`d_i \times d_i` symmetric matrix.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; the authors' ``soap.py``.

    >>> import jax.numpy as jnp
    >>> kronecker_factor(jnp.array([[1.0, 2.0], [0.0, 1.0]]), 0)
    Array([[5., 2.],
           [2., 1.]], dtype=float32)
    """
    others = tuple(a for a in range(g.ndim) if a != axis)
    return jnp.tensordot(g, g, axes=(others, others))


def rotate_to_eigenbasis(x: jax.Array, bases: Bases, *, back: bool = False) -> jax.Array:
    r"""Rotates ``x`` into the eigenbasis, :math:`x \times_1 Q_1^\top \dots \times_k Q_k^\top`
    (:math:`Q_L^\top X Q_R`), or back with ``back=True`` (:math:`Q_L X Q_R^\top`).

    Each step contracts the leading axis and appends the result last, so after ``x.ndim``
    steps the axes are in order again; a ``None`` basis only moves the axis (the identity).

    Args:
      x: an array with one axis per basis.
      bases: one orthogonal matrix (or ``None``) per axis of ``x``.
      back: rotate back from the eigenbasis instead.

    Returns:
      The rotated array, of ``x``'s shape.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; the authors' ``soap.py``.

    >>> import jax.numpy as jnp
    >>> q = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> rotate_to_eigenbasis(jnp.array([[1.0, 2.0], [3.0, 4.0]]), (q, None))
    Array([[3., 4.],
           [1., 2.]], dtype=float32)
    """
    for q in bases:
        if q is None:
            x = jnp.moveaxis(x, 0, -1)
        else:
            x = jnp.tensordot(x, q, axes=([0], [1 if back else 0]))
    return x


def eigenbasis(factor: jax.Array) -> jax.Array:
    r"""The eigenvectors :math:`Q` of a symmetric factor :math:`F = Q \Lambda Q^\top`, by
    ``jnp.linalg.eigh``, columns ordered by decreasing eigenvalue (the reference flips ``eigh``'s
    ascending order).

    Args:
      factor: a symmetric matrix.

    Returns:
      The orthogonal matrix :math:`Q`.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; the authors' ``soap.py``.

    >>> import jax.numpy as jnp
    >>> eigenbasis(jnp.diag(jnp.array([1.0, 3.0])))
    Array([[0., 1.],
           [1., 0.]], dtype=float32)
    """
    return jnp.flip(jnp.linalg.eigh(factor)[1], axis=1)


def refresh_eigenbasis(
    factor: jax.Array, basis: jax.Array, nu: jax.Array, axis: int
) -> tuple[jax.Array, jax.Array]:
    r"""One power-iteration step and a QR decomposition, with the second moment re-ordered.

    .. math::
        \hat\lambda = \operatorname{diag}(Q^\top F Q), \quad
        \pi = \operatorname{argsort}(-\hat\lambda), \quad
        Q \leftarrow \operatorname{qr}(F\, Q_{:, \pi})_Q, \quad V \leftarrow V_{\dots, \pi, \dots}

    (``nu`` permuted along ``axis``), as the reference's ``get_orthogonal_matrix_QR``.

    Args:
      factor: the Kronecker factor :math:`F`.
      basis: the current basis :math:`Q`.
      nu: Adam's second moment in the eigenbasis.
      axis: the axis of ``nu`` that ``basis`` rotates.

    Returns:
      The new basis and the re-ordered ``nu``.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; the authors' ``soap.py``.

    >>> import jax.numpy as jnp
    >>> q, nu = refresh_eigenbasis(jnp.diag(jnp.array([1.0, 3.0])), jnp.eye(2),
    ...                            jnp.array([10.0, 30.0]), 0)
    >>> nu  # the larger eigenvalue's entry first
    Array([30., 10.], dtype=float32)
    """
    estimates = jnp.sum(basis * (factor @ basis), axis=0)  # diag(Q^T F Q)
    order = jnp.argsort(estimates, descending=True)
    q, _ = jnp.linalg.qr(factor @ basis[:, order])
    return q, jnp.take(nu, order, axis=axis)


# ---------------------------------------------------------------------------------------------
# The transformation


class SoapState(NamedTuple):
    """Step count, Adam's moments in the eigenbasis, and per leaf its factors and bases.

    ``factors`` and ``bases`` hold, at each leaf, a tuple with one entry per axis: the
    :math:`d \\times d` factor :math:`F_i` (its eigenbasis :math:`Q_i`), or ``None`` where the
    axis falls back to the identity. They are stored in float32 or wider (the reference keeps
    them in float32 for bf16 weights).
    """

    count: jax.Array  # type: ignore[assignment]  # int32: updates so far (shadows tuple.count)
    mu: Updates  # first moment, rotated
    nu: Updates  # second moment, rotated
    factors: Any
    bases: Any


@functools.partial(jax.jit, static_argnames="frequency")
def _soap_leaf(
    g: jax.Array,
    m: jax.Array,
    v: jax.Array,
    factors: Bases,
    bases: Bases,
    t: jax.Array,
    hyperparams: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike],
    frequency: int,
) -> tuple[jax.Array, jax.Array, jax.Array, Bases, Bases]:
    """One leaf's SOAP step (see :func:`scale_by_soap`); jitted, so that an eager update does
    not recompile its ``lax.cond`` branches at every call."""
    b1, b2, beta_s, eps = hyperparams
    dtype = storage.compute_dtype(storage.leaf_dtype(g))
    g, reshard_back = tree.gather_whole(jnp.asarray(g).astype(dtype))  # whole matrices
    m, v = tree.gather_whole(m)[0], tree.gather_whole(v)[0]

    def accumulate() -> Bases:  # F_i <- F_i + (1 - beta_s) (G_(i) G_(i)^T - F_i)
        return tuple(
            None if f is None else f + (1 - beta_s) * (kronecker_factor(g, i) - f)
            for i, f in enumerate(factors)
        )

    def first() -> tuple[jax.Array, jax.Array, jax.Array, Bases, Bases]:
        new_factors = accumulate()
        new_bases = tuple(None if f is None else eigenbasis(f) for f in new_factors)
        return jnp.zeros_like(g), storage.load(m), storage.load(v), new_factors, new_bases

    def later() -> tuple[jax.Array, jax.Array, jax.Array, Bases, Bases]:
        rotated = rotate_to_eigenbasis(g, bases)  # G'
        m_t = jnp.asarray(b1 * storage.load(m) + (1 - b1) * rotated)
        v_t = jnp.asarray(b2 * storage.load(v) + (1 - b2) * rotated**2)
        correction = jnp.sqrt(-jnp.expm1(t * jnp.log(b2))) / -jnp.expm1(t * jnp.log(b1))
        u = correction * rotate_to_eigenbasis(m_t / (jnp.sqrt(v_t) + eps), bases, back=True)
        new_factors = accumulate()

        def refresh() -> tuple[jax.Array, jax.Array, Bases]:
            nu, new_bases = v_t, []
            for i, (f, q) in enumerate(zip(new_factors, bases, strict=True)):
                if f is not None and q is not None:
                    q, nu = refresh_eigenbasis(f, q, nu, i)
                new_bases.append(q)
            mu = rotate_to_eigenbasis(rotate_to_eigenbasis(m_t, bases, back=True), tuple(new_bases))
            return mu, nu, tuple(new_bases)

        def keep() -> tuple[jax.Array, jax.Array, Bases]:
            return m_t, v_t, bases

        mu, nu, new_bases = jax.lax.cond(t % frequency == 0, refresh, keep)
        return u.astype(dtype), mu, nu, new_factors, new_bases

    u, mu, nu, new_factors, new_bases = jax.lax.cond(t == 0, first, later)
    return reshard_back(u), reshard_back(mu), reshard_back(nu), new_factors, new_bases


def _check_real(p: Any) -> Any:
    dtype = storage.leaf_dtype(p)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(
            f"scale_by_soap: complex params (dtype {dtype}) are not supported; SOAP's factors "
            "are real. Optimize the real and imaginary parts as separate real leaves."
        )
    return storage.compute_dtype(dtype)


@declare_hyperparams("b1", "b2", "shampoo_beta", "eps")
def scale_by_soap(
    b1: ArrayLike = 0.95,
    b2: ArrayLike = 0.95,
    shampoo_beta: ArrayLike | None = None,
    eps: ArrayLike = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    precondition_1d: bool = False,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""SOAP's direction: Adam in the eigenbasis of Shampoo's factors, refreshed periodically.

    The first call only initialises: :math:`F_i = (1-\beta_s) G_{1(i)} G_{1(i)}^\top`,
    :math:`Q_i = \operatorname{eigh}(F_i)` (decreasing eigenvalues) and returns zeros (the
    reference skips its first step "so that we never use the current gradients in the
    projection"). At every later call, with :math:`t = 1, 2, \dots` counting them:

    .. math::
        G' = \operatorname{rot}(G_t), \quad m_t = \beta_1 m_{t-1} + (1-\beta_1) G', \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) G'^2,

        u_t = \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
        \operatorname{rot}^{-1}\Big(\frac{m_t}{\sqrt{v_t} + \epsilon}\Big), \quad
        F_i \leftarrow \beta_s F_i + (1-\beta_s) G_{t(i)} G_{t(i)}^\top,

    where :math:`\operatorname{rot}` is :func:`rotate_to_eigenbasis` (:math:`Q_L^\top G Q_R`
    for a matrix).
    When :math:`t` is a multiple of ``precondition_frequency`` the bases are then refreshed
    from the updated factors by :func:`refresh_eigenbasis` (one power step and QR, :math:`v_t`
    re-ordered) inside ``jax.lax.cond``, and :math:`m_t` is rotated back with the old bases and
    into the new ones. :math:`\epsilon` sits outside the root of the *uncorrected*
    :math:`v_t` (the reference's, PyTorch AdamW's), i.e. :math:`\hat m_t / (\sqrt{\hat v_t} +
    \epsilon/\sqrt{1-\beta_2^t})`. Fallback axes and leaves: see the module docstring.

    Args:
      b1: :math:`\beta_1 \in [0, 1)`; default 0.95 (the reference's ``betas[0]``).
      b2: :math:`\beta_2 \in [0, 1)`; default 0.95 (``betas[1]``).
      shampoo_beta: :math:`\beta_s \in [0, 1)` of the factors; ``None`` (the reference's
        ``-1``, its default): :math:`\beta_2`.
      eps: :math:`\epsilon \ge 0`; default 1e-8.
      precondition_frequency: refresh the bases every this many steps (int >= 1); default 10.
      max_precond_dim: axes larger than this get no factor (int >= 0); default 10000.
      precondition_1d: give 1-D leaves a factor too; default False.
      mu_dtype: dtype of the stored first moment; ``None``: the params'.

    Returns:
      A GradientTransformation with state :class:`SoapState`.

    References:
      Vyas et al., `SOAP: Improving and Stabilizing Shampoo using Adam
      <https://arxiv.org/abs/2409.11321>`_, 2024, Alg. 3; defaults and first-step, bias and
      refresh conventions from the authors' `soap.py <https://github.com/nikhilvyas/SOAP>`_
      (``correct_bias=True``, ``merge_dims=False``, ``normalize_grads=False``).
      Matches: a float64 NumPy transcription of Alg. 3 (``tests/test_soap.py``), rtol 1e-10
      over 50 steps.

    >>> import jax.numpy as jnp
    >>> from gradlab.transforms.eigenbasis import scale_by_soap
    >>> tx = scale_by_soap()
    >>> g = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> u, state = tx.update(g, tx.init(g))
    >>> float(jnp.abs(u).max()), [f.shape for f in state.factors]  # the first call initialises
    (0.0, [(2, 2), (2, 2)])
    """
    fn = "scale_by_soap"
    validation.check_unit_interval(fn, "b1", b1, "0.95")
    validation.check_unit_interval(fn, "b2", b2, "0.95")
    if shampoo_beta is not None:
        validation.check_unit_interval(fn, "shampoo_beta", shampoo_beta, "0.95")
    validation.check_non_negative(fn, "eps", eps, "1e-8")
    validation.check_count(fn, "precondition_frequency", precondition_frequency, 1, "10")
    validation.check_count(fn, "max_precond_dim", max_precond_dim, 0, "10000")
    if not isinstance(precondition_1d, bool):
        raise TypeError(
            f"{fn}: precondition_1d must be a bool, got {type(precondition_1d).__name__} "
            f"{precondition_1d!r}. Pass e.g. precondition_1d=True."
        )
    validation.check_dtype(fn, "mu_dtype", mu_dtype)
    beta_s = b2 if shampoo_beta is None else shampoo_beta
    frequency = int(precondition_frequency)
    hyperparams = (b1, b2, beta_s, eps)

    def leaf_init(p: Any) -> tuple[Bases, Bases]:
        dtype, shape = _check_real(p), jnp.shape(p)
        axes = soap_preconditioned_axes(shape, max_precond_dim, precondition_1d)
        sizes = [d if on else None for d, on in zip(shape, axes, strict=True)]
        factors = tuple(None if d is None else jnp.zeros((d, d), dtype) for d in sizes)
        bases = tuple(None if d is None else jnp.eye(d, dtype=dtype) for d in sizes)
        return factors, bases

    def init(params: Params) -> SoapState:
        per_leaf = jax.tree.map(leaf_init, params)
        return SoapState(
            count=jnp.zeros([], jnp.int32),
            mu=storage.init(params, dtype=mu_dtype),
            nu=storage.init(params, squared=True),
            factors=jax.tree.map(lambda _, fb: fb[0], params, per_leaf),
            bases=jax.tree.map(lambda _, fb: fb[1], params, per_leaf),
        )

    def update(
        updates: Updates, state: SoapState, params: Params | None = None
    ) -> tuple[Updates, SoapState]:
        del params
        validation.check_state("scale_by_soap", state, SoapState)
        validation.check_structure("scale_by_soap", updates, state.mu)
        out = jax.tree.map(
            lambda g, m, v, f, q: _soap_leaf(g, m, v, f, q, state.count, hyperparams, frequency),
            updates,
            state.mu,
            state.nu,
            state.factors,
            state.bases,
        )

        def part(i: int) -> Any:
            return jax.tree.map(lambda _, o: o[i], updates, out)

        new_state = SoapState(
            count=tree.safe_increment(state.count),
            mu=storage.store(part(1), state.mu),
            nu=storage.store(part(2), state.nu),
            factors=storage.store(part(3), state.factors),
            bases=storage.store(part(4), state.bases),
        )
        return storage.output(part(0), updates, state.mu), new_state

    return GradientTransformation(init, update)


__all__ = [
    "SoapState",
    "eigenbasis",
    "kronecker_factor",
    "soap_preconditioned_axes",
    "refresh_eigenbasis",
    "rotate_to_eigenbasis",
    "scale_by_soap",
]

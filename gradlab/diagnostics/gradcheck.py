r"""Gradient checking: the autodiff gradient against central finite differences, leaf by leaf.

"Be sure that you debug your gradients": a hand-written ``jax.custom_vjp``/``custom_jvp`` rule,
a ``stop_gradient`` in the wrong place or a straight-through trick gives a wrong gradient that
training happily follows. :func:`check_grads` compares :math:`\nabla f` from :func:`jax.grad` with
the central difference

.. math::
    D_h f(x)[d] = \frac{f(x + h d) - f(x - h d)}{2h} = \langle \nabla f(x), d\rangle + O(h^2)

along unit directions :math:`d` inside each leaf of the parameter pytree: a few random ones
(a whole leaf at once, two evaluations each) and coordinate ones :math:`d = e_j` (every
coordinate of a small leaf, a random sample of a large one). Each leaf gets its own row in the
report, so a wrong rule shows up as the leaf (layer) whose rows fail.

**Precision.** By default (``x64=None``) the whole check runs in float64 (inside
``jax.enable_x64``; the leaves are cast to float64, float32 constants in ``f`` promote) on CPU
and GPU, where float64 is native; on other backends, or with ``x64=False``, it runs in each
leaf's own dtype. An ``f`` whose output has a lower precision (it casts to float32 inside)
sets the working dtype to that of its output; an ``f`` that casts some leaves down inside while
its output stays float64 cannot be seen from outside: check it with ``x64=False`` (or a larger
``eps`` and ``rtol``). The step and the tolerances follow the working dtype's machine epsilon
:math:`\varepsilon`: :math:`h = \varepsilon^{1/3}` balances the :math:`O(h^2)` truncation error
against the :math:`O(\varepsilon |f| / h)` rounding error, which leaves a total error of about
:math:`\varepsilon^{2/3} \max(1, |f(x)|)`:

=========  ===========  ==================  =========================================
dtype      :math:`h`    default ``rtol``    default ``atol``
=========  ===========  ==================  =========================================
float64    6.1e-06      1e-06               :math:`100\,\varepsilon^{2/3}` = 3.7e-09
float32    4.9e-03      1e-03               :math:`100\,\varepsilon^{2/3}` = 2.4e-03
bfloat16   2.0e-01      1e-01               :math:`100\,\varepsilon^{2/3}` = 3.9e+00
float16    9.9e-02      1e-01               :math:`100\,\varepsilon^{2/3}` = 9.8e-01
=========  ===========  ==================  =========================================

(the default ``atol`` is also multiplied by :math:`\max(1, |f(x)|)`). Sixteen-bit checks can
only catch gross errors; keep x64 on where you can.

**Kinks.** A central difference that straddles a kink (ReLU, max-pooling, ``abs``, a hinge)
disagrees with any one-sided derivative. At :math:`h = 6 \cdot 10^{-6}` that is rare; if a
coordinate of a ReLU network fails alone, rerun with another ``seed`` or a smaller ``eps``
(CS231n's notes discuss this).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradlab.core import validation

DEFAULT_COORDINATES = 64
"""Coordinates checked per leaf when ``per_coordinate=True``: all of them up to this size."""

_ATOL_FACTOR = 100.0  # default atol = factor * eps^(2/3) * max(1, |f(x)|)
_RTOL = {8: 1e-6, 4: 1e-3, 2: 1e-1}  # default rtol by the working dtype's size in bytes


class LeafCheck(NamedTuple):
    r"""The result of the checks of one leaf: a row of the :class:`GradCheckReport`.

    A direction :math:`d` passes when :math:`|a - n| \le \text{atol} + \text{rtol}
    \max(|a|, |n|)`, with :math:`a = \langle g, d\rangle` the autodiff and :math:`n = D_h f[d]`
    the central-difference derivative.

    Args:
      path: the leaf's path, as :func:`jax.tree_util.keystr` writes it (``"(root)"`` for a
        bare array).
      shape: the leaf's shape.
      dtype: the working precision: float64 under x64, else the leaf's own dtype; or the dtype
        of ``f``'s output where that is lower (an ``f`` that casts to float32 inside).
      num_checks: the number of directions compared (random ones plus coordinates).
      max_abs_error: :math:`\max_d |a - n|`.
      max_rel_error: :math:`\max_d |a - n| / \max(|a|, |n|)`, over the directions whose
        derivative exceeds ``atol`` (below it, relative errors measure rounding noise).
      passed: whether every direction passed.
      worst: the direction with the largest error relative to its tolerance, e.g.
        ``"coordinate (2, 0)"`` or ``"random direction 1"``.
      worst_autodiff: :math:`a` along ``worst``.
      worst_numeric: :math:`n` along ``worst``.
      excess: the largest :math:`|a - n| / (\text{atol} + \text{rtol} \max(|a|, |n|))`;
        above 1 the leaf fails.
      eps: the step :math:`h`.
      rtol: the relative tolerance used.
      atol: the absolute tolerance used.

    Returns:
      A NamedTuple (``check_grads`` builds them; compare, index or ``._asdict()`` them).

    References:
      Karpathy et al., `CS231n: Gradient checks
      <https://cs231n.github.io/neural-networks-3/#gradcheck>`_ (the relative error).

    >>> import jax.numpy as jnp
    >>> from gradlab.diagnostics import check_grads
    >>> leaf = check_grads(lambda w: jnp.sum(w**3), jnp.array([1.0, 2.0])).leaves[0]
    >>> leaf.path, leaf.shape, leaf.num_checks, leaf.passed
    ('(root)', (2,), 5, True)
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    num_checks: int
    max_abs_error: float
    max_rel_error: float
    passed: bool
    worst: str
    worst_autodiff: float
    worst_numeric: float
    excess: float
    eps: float
    rtol: float
    atol: float


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    r"""What :func:`check_grads` found: one :class:`LeafCheck` per checked leaf.

    The check passes when every leaf does: :math:`\text{passed} = \bigwedge_\ell
    \text{passed}_\ell`. ``str(report)`` is a table, one row per leaf; ``report.worst`` is the
    leaf with the largest error relative to its tolerance (the one to look at first).

    Args:
      leaves: the rows, in tree order.
      skipped: the paths of the leaves that are not real floating point (integer counters,
        PRNG keys): held fixed, not checked.
      num_directions: random directions per leaf.
      num_coordinates: the most coordinates checked per leaf.

    Returns:
      A frozen dataclass with ``passed``, ``worst`` and ``failed`` properties.

    References:
      Karpathy et al., `CS231n: Gradient checks
      <https://cs231n.github.io/neural-networks-3/#gradcheck>`_.

    >>> import jax.numpy as jnp
    >>> from gradlab.diagnostics import check_grads
    >>> report = check_grads(lambda p: jnp.sum(p["w"] ** 2) * p["n"], {"w": jnp.ones(2), "n": 3})
    >>> report.passed, [leaf.path for leaf in report.leaves], report.skipped
    (True, ["['w']"], ("['n']",))
    """

    leaves: tuple[LeafCheck, ...]
    skipped: tuple[str, ...] = ()
    num_directions: int = 0
    num_coordinates: int = 0

    @property
    def passed(self) -> bool:
        """Whether every checked leaf passed."""
        return all(leaf.passed for leaf in self.leaves)

    @property
    def worst(self) -> LeafCheck:
        """The leaf with the largest error relative to its tolerance."""
        return max(self.leaves, key=lambda leaf: leaf.excess)

    @property
    def failed(self) -> tuple[LeafCheck, ...]:
        """The leaves that failed, in tree order."""
        return tuple(leaf for leaf in self.leaves if not leaf.passed)

    def __str__(self) -> str:
        n_failed = len(self.failed)
        status = (
            "PASSED"
            if n_failed == 0
            else f"FAILED: {n_failed} of {len(self.leaves)} leaves disagree with "
            "central finite differences"
        )
        settings = {(leaf.dtype, leaf.eps, leaf.rtol, leaf.atol) for leaf in self.leaves}
        if len(settings) == 1:
            dtype, eps, rtol, atol = settings.pop()
            where = f"{dtype}, h = {eps:.2g}, rtol = {rtol:.2g}, atol = {atol:.2g}"
        else:
            where = "per-leaf dtypes and tolerances (see .leaves)"
        lines = [
            f"check_grads: {status}",
            f"  {where}; {self.num_directions} random directions + up to "
            f"{self.num_coordinates} coordinates per leaf",
        ]
        width = max([len("leaf"), *(len(leaf.path) for leaf in self.leaves)])
        shape_w = max([len("shape"), *(len(str(leaf.shape)) for leaf in self.leaves)])
        lines.append(
            f"  {'leaf':<{width}}  {'shape':<{shape_w}}  {'checks':>6}  {'max abs err':>11}  "
            f"{'max rel err':>11}  status"
        )
        for leaf in self.leaves:
            verdict = (
                "ok"
                if leaf.passed
                else f"FAIL at {leaf.worst}: autodiff {leaf.worst_autodiff:.6g}, "
                f"finite difference {leaf.worst_numeric:.6g}"
            )
            lines.append(
                f"  {leaf.path:<{width}}  {str(leaf.shape):<{shape_w}}  {leaf.num_checks:>6}  "
                f"{leaf.max_abs_error:>11.3e}  {leaf.max_rel_error:>11.3e}  {verdict}"
            )
        if self.skipped:
            lines.append(f"  not checked (not real floating point): {', '.join(self.skipped)}")
        return "\n".join(lines)


class GradientCheckError(ValueError):
    r"""Raised by ``check_grads(..., raise_on_failure=True)`` when a leaf fails.

    The message names the worst leaf (largest :math:`|a - n| / (\text{atol} + \text{rtol}
    \max(|a|, |n|))`), its errors and the direction where they occur, then the whole table.

    Args:
      report: the failed :class:`GradCheckReport`, kept as ``.report``.

    Returns:
      The exception (a ``ValueError``).

    References:
      Karpathy et al., `CS231n: Gradient checks
      <https://cs231n.github.io/neural-networks-3/#gradcheck>`_.

    >>> import jax, jax.numpy as jnp
    >>> from gradlab.diagnostics import GradientCheckError, check_grads
    >>> try:
    ...     check_grads(lambda w: jnp.sum(jax.lax.stop_gradient(w) ** 2), jnp.ones(2),
    ...                 raise_on_failure=True)
    ... except GradientCheckError as error:
    ...     print(error.report.worst.path, error.report.worst.worst_autodiff)
    (root) 0.0
    """

    def __init__(self, report: GradCheckReport) -> None:
        worst = report.worst
        super().__init__(
            f"check_grads: the autodiff gradient of leaf {worst.path} disagrees with central "
            f"finite differences: max abs error {worst.max_abs_error:.3e}, max rel error "
            f"{worst.max_rel_error:.3e} (tolerance atol {worst.atol:.2g} + rtol "
            f"{worst.rtol:.2g} * |derivative|). Worst at {worst.worst}: autodiff "
            f"{worst.worst_autodiff:.6g}, finite difference {worst.worst_numeric:.6g}. Check "
            "the custom_vjp/custom_jvp rules, stop_gradient calls and straight-through tricks "
            "that reach this leaf; if f has a kink there, retry with another seed or a smaller "
            "eps; if f casts this leaf to a lower precision inside, pass x64=False."
            f"\n{report}"
        )
        self.report = report


def check_grads(
    f: Callable[[Any], jax.typing.ArrayLike],
    params: Any,
    *,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    num_directions: int = 3,
    per_coordinate: bool | int = True,
    seed: int = 0,
    x64: bool | None = None,
    raise_on_failure: bool = False,
) -> GradCheckReport:
    r"""Compares ``jax.grad(f)(params)`` with central finite differences, leaf by leaf.

    For each real floating-point leaf :math:`x_\ell` of ``params`` (the other leaves held
    fixed) and each unit direction :math:`d` in that leaf, the autodiff directional derivative
    :math:`a = \langle \nabla_{x_\ell} f, d\rangle` is compared with

    .. math::
        n = \frac{f(x_\ell + h d) - f(x_\ell - h d)}{2h},
        \qquad \text{passed} \iff |a - n| \le \text{atol} + \text{rtol} \max(|a|, |n|).

    The directions are ``num_directions`` random Gaussian ones, normalised, and the coordinate
    vectors :math:`e_j` of ``per_coordinate`` coordinates (all of them for leaves that small, a
    random sample without replacement of larger ones). A leaf costs two evaluations of ``f``
    per direction; all leaves run in one compiled program (a ``lax.map`` over the directions,
    so memory stays at one perturbed copy of the params), so ``f`` must be traceable by
    :func:`jax.jit` and :func:`jax.vmap` (no Python side effects on values).

    Args:
      f: a function of ``params`` returning a real scalar (e.g. a loss with the data closed
        over: ``lambda p: loss(model.apply(p, x), y).mean()``).
      params: a pytree of arrays (Flax ``variables``, an ``nnx.split`` state, a dict...).
        Leaves that are not real floating point are held fixed and listed in
        ``report.skipped``.
      eps: the step :math:`h` along unit directions (absolute). Default: the cube root of the
        working dtype's machine epsilon (6.1e-6 in float64; table in the module docstring).
      rtol: relative tolerance; default by working dtype (1e-6 float64, 1e-3 float32).
      atol: absolute tolerance; default :math:`100\, \varepsilon^{2/3} \max(1, |f(x)|)`, the
        rounding floor of a central difference, with :math:`\varepsilon` the machine epsilon.
      num_directions: random directions per leaf (>= 0).
      per_coordinate: ``True`` checks up to 64 coordinates per leaf (``DEFAULT_COORDINATES``),
        an int at most that many, ``False`` (or 0) none.
      seed: seeds the random directions and the sampled coordinates.
      x64: compute in float64 (``True``), in the leaves' dtypes (``False``) or float64 where
        the default backend is CPU or GPU (``None``).
      raise_on_failure: raise :class:`GradientCheckError`, naming the worst leaf's path and
        errors, instead of returning a failed report.

    Returns:
      A :class:`GradCheckReport`: ``.passed``, ``.leaves`` (a :class:`LeafCheck` per leaf, in
      tree order), ``.worst``, and a table as ``str(report)``.

    References:
      Karpathy et al., `CS231n: Gradient checks
      <https://cs231n.github.io/neural-networks-3/#gradcheck>`_ (centered formula, relative
      error, kinks); ``jax.test_util.check_grads`` (directional central differences, a
      different API: it asserts, on the whole tree, and also checks higher orders).

    >>> import jax, jax.numpy as jnp
    >>> from gradlab.diagnostics import check_grads
    >>> params = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.3)}
    >>> f = lambda p: jnp.sum(jnp.tanh(p["w"] * 2.0 + p["b"]) ** 2)
    >>> check_grads(f, params).passed
    True
    >>> @jax.custom_vjp
    ... def square(x):
    ...     return x**2
    >>> square.defvjp(lambda x: (x**2, x), lambda x, g: (4 * x * g,))  # should be 2 x g
    >>> report = check_grads(lambda p: jnp.sum(square(p["w"])) + p["b"], params)
    >>> report.passed, report.worst.path, round(report.worst.max_rel_error, 3)
    (False, "['w']", 0.5)
    """
    fn = "check_grads"
    validation.check_callable(fn, "f", f, "lambda params: loss(params, batch)")
    if eps is not None:
        validation.check_positive(fn, "eps", eps, "1e-6")
    if rtol is not None:
        validation.check_non_negative(fn, "rtol", rtol, "1e-6")
    if atol is not None:
        validation.check_non_negative(fn, "atol", atol, "1e-8")
    validation.check_count(fn, "num_directions", num_directions, 0, "3")
    if isinstance(per_coordinate, (bool, np.bool_)):
        num_coordinates = DEFAULT_COORDINATES if per_coordinate else 0
    else:
        validation.check_count(fn, "per_coordinate", per_coordinate, 0, "64")
        num_coordinates = int(per_coordinate)
    if int(num_directions) + num_coordinates == 0:
        raise ValueError(
            f"{fn}: num_directions=0 and per_coordinate={per_coordinate!r} leave nothing to "
            "check. Pass e.g. num_directions=3 or per_coordinate=True."
        )
    validation.check_count(fn, "seed", seed, 0, "0")
    if x64 is not None and not isinstance(x64, (bool, np.bool_)):
        raise TypeError(f"{fn}: x64 must be True, False or None, got {x64!r}. Pass e.g. x64=None.")
    use_x64 = jax.default_backend() in ("cpu", "gpu", "cuda", "rocm") if x64 is None else x64

    with _x64_scope(bool(use_x64)):
        report = _check(
            f, params, bool(use_x64), eps, rtol, atol, int(num_directions), num_coordinates, seed
        )
    if raise_on_failure and not report.passed:
        raise GradientCheckError(report)
    return report


# ---------------------------------------------------------------------------------------------
# The checks


def _x64_scope(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """``jax.enable_x64(True)`` (``jax.experimental.enable_x64`` on older jax), or nothing."""
    if not enabled:
        return contextlib.nullcontext()
    enable: Any = getattr(jax, "enable_x64", None)
    if enable is None:  # pragma: no cover - older jax
        enable = importlib.import_module("jax.experimental").enable_x64
    context: contextlib.AbstractContextManager[Any] = enable(True)
    return context


def _is_real_float(leaf: Any) -> bool:
    try:
        return bool(jnp.issubdtype(jnp.result_type(leaf), jnp.floating))
    except TypeError:  # not an array (a string, an object): held fixed
        return False


def _check(
    f: Callable[[Any], jax.typing.ArrayLike],
    params: Any,
    x64: bool,
    eps: float | None,
    rtol: float | None,
    atol: float | None,
    num_directions: int,
    num_coordinates: int,
    seed: int,
) -> GradCheckReport:
    fn = "check_grads"
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    paths = [jax.tree_util.keystr(path) or "(root)" for path, _ in with_paths]
    leaves = [
        jnp.asarray(leaf, jnp.float64) if x64 and _is_real_float(leaf) else leaf
        for _, leaf in with_paths
    ]
    checked = [i for i, leaf in enumerate(leaves) if _is_real_float(leaf)]
    if not checked:
        raise ValueError(
            f"{fn}: params has no real floating-point leaf to check (leaves: "
            f"{[_dtype_name(x) for x in leaves] or 'none'}). Pass the parameters to "
            "differentiate, e.g. variables['params'] or nnx.split(model, nnx.Param)[1]."
        )
    xs = [jnp.asarray(leaves[i]) for i in checked]

    def call(values: list[jax.Array]) -> jax.Array:
        full = list(leaves)
        for i, v in zip(checked, values, strict=True):
            full[i] = v
        return jnp.asarray(f(jax.tree_util.tree_unflatten(treedef, full)))

    out = jax.eval_shape(call, xs)  # the output's shape, without running f
    if out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(
            f"{fn}: f must return a real scalar, got {out.dtype} of shape {out.shape}. "
            "Reduce it, e.g. f=lambda p: per_example_loss(p).mean()."
        )

    # The precision of each leaf's check: its dtype, or f's output dtype where that is lower
    # (an f that casts to float32 inside keeps float32 rounding, even under x64).
    working = [
        x.dtype if jnp.finfo(x.dtype).bits <= jnp.finfo(out.dtype).bits else out.dtype for x in xs
    ]
    # The checks, as one list over all leaves: (leaf, is a coordinate, coordinate or direction).
    steps, randoms, leaf_of, is_coordinate, index, labels = [], [], [], [], [], []
    for n, x in enumerate(xs):
        size = int(x.size)
        rng = np.random.default_rng([seed, checked[n]])  # NumPy: nothing to compile
        coordinates = (
            np.arange(size)
            if num_coordinates >= size
            else np.sort(rng.choice(size, num_coordinates, replace=False))
        )
        n_random = num_directions if size > 0 else 0
        gaussian = rng.standard_normal((n_random, size))
        gaussian /= np.linalg.norm(gaussian, axis=1, keepdims=True)
        randoms.append(jnp.asarray(gaussian.reshape((n_random, *x.shape)), x.dtype))
        steps.append(float(eps) if eps is not None else float(jnp.finfo(working[n]).eps) ** (1 / 3))
        leaf_of += [n] * (n_random + len(coordinates))
        is_coordinate += [False] * n_random + [True] * len(coordinates)
        index += [*range(n_random), *coordinates.tolist()]
        labels.append(
            [f"random direction {k}" for k in range(n_random)]
            + [
                f"coordinate {tuple(int(c) for c in np.unravel_index(j, x.shape))}"
                for j in coordinates
            ]
        )
    specs = (
        np.asarray(leaf_of, np.int32),
        np.asarray(is_coordinate, bool),
        np.asarray(index, np.int32),
    )
    value_array, plus, minus, autodiff = _differences(call, xs, randoms, steps, specs)
    value = float(value_array)
    if not np.isfinite(value):
        raise ValueError(
            f"{fn}: f(params) = {value}; finite differences need a finite value. Check f at "
            "these params first."
        )
    f_scale = max(1.0, abs(value))
    results = []
    for n, x in enumerate(xs):
        rows = specs[0] == n
        h = steps[n]
        numeric = (plus[rows] - minus[rows]) / (2 * h)
        machine_eps = float(jnp.finfo(working[n]).eps)
        results.append(
            _summarise(
                paths[checked[n]],
                x.shape,
                str(working[n]),
                autodiff[rows],
                numeric,
                labels[n],
                h,
                float(rtol) if rtol is not None else _RTOL.get(working[n].itemsize, 1e-1),
                float(atol)
                if atol is not None
                else _ATOL_FACTOR * machine_eps ** (2 / 3) * f_scale,
            )
        )
    skipped = tuple(paths[i] for i in range(len(leaves)) if i not in checked)
    return GradCheckReport(tuple(results), skipped, num_directions, num_coordinates)


def _dtype_name(leaf: Any) -> str:
    try:
        return str(jnp.result_type(leaf))
    except TypeError:
        return type(leaf).__name__


def _differences(
    call: Callable[[list[jax.Array]], jax.Array],
    xs: list[jax.Array],
    randoms: list[jax.Array],
    steps: list[float],
    specs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``f(x)``, then ``f(x + h d)``, ``f(x - h d)`` and ``<grad f, d>`` for every check.

    One compiled program for all leaves: the gradient, then a ``lax.map`` (a loop, so memory
    stays at one perturbed copy of the params) whose body evaluates ``f`` at the two points
    vmapped together.
    """

    def direction(
        leaf: jax.Array, random: jax.Array, is_coord: jax.Array, k: jax.Array
    ) -> jax.Array:
        """The unit direction: ``e_k`` (a coordinate) or the ``k``-th random one, for one leaf."""
        size = int(leaf.size)
        if size == 0:
            return jnp.zeros_like(leaf)
        d = (jnp.arange(size) == k).astype(leaf.dtype).reshape(leaf.shape)
        if random.shape[0]:
            d = jnp.where(is_coord, d, random[jnp.minimum(k, random.shape[0] - 1)])
        return d

    @jax.jit
    def run(
        xs: list[jax.Array], randoms: list[jax.Array], specs: tuple[jax.Array, ...]
    ) -> tuple[jax.Array, ...]:
        value, grads = jax.value_and_grad(call)(xs)

        def one(spec: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            leaf, is_coord, k = spec
            ds = [
                jnp.where(leaf == n, direction(x, r, is_coord, k), jnp.zeros_like(x))
                for n, (x, r) in enumerate(zip(xs, randoms, strict=True))
            ]
            signs = jnp.array([1.0, -1.0])
            points = [
                x[None]
                + signs.astype(x.dtype).reshape((2,) + (1,) * x.ndim)
                * (jnp.asarray(h, x.dtype) * d)[None]
                for x, d, h in zip(xs, ds, steps, strict=True)
            ]
            fs = jax.vmap(call)(points)
            a = sum(
                jnp.sum(g.astype(jnp.result_type(float)) * d)
                for g, d in zip(grads, ds, strict=True)
            )
            return fs[0], fs[1], jnp.asarray(a)

        plus, minus, a = jax.lax.map(one, specs)
        return value, plus, minus, a

    value, plus, minus, a = run(xs, randoms, tuple(jnp.asarray(s) for s in specs))
    return (
        np.asarray(value, np.float64),
        np.asarray(plus, np.float64),
        np.asarray(minus, np.float64),
        np.asarray(a, np.float64),
    )


def _summarise(
    path: str,
    shape: tuple[int, ...],
    dtype: str,
    a: np.ndarray,
    n: np.ndarray,
    labels: list[str],
    h: float,
    rtol: float,
    atol: float,
) -> LeafCheck:
    """One leaf's row: errors of the autodiff ``a`` against the central differences ``n``."""
    total = len(a)
    err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel = np.where(scale > atol, err / np.where(scale > 0, scale, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(err > 0, err / (atol + rtol * scale), 0.0)
    excess = np.where(np.isnan(err), np.inf, excess)
    worst = int(np.argmax(excess)) if total else 0
    return LeafCheck(
        path=path,
        shape=tuple(shape),
        dtype=dtype,
        num_checks=total,
        max_abs_error=float(err.max()) if total else 0.0,
        max_rel_error=float(rel.max()) if total else 0.0,
        passed=bool(np.all(excess <= 1.0)),
        worst=labels[worst] if total else "(no direction)",
        worst_autodiff=float(a[worst]) if total else 0.0,
        worst_numeric=float(n[worst]) if total else 0.0,
        excess=float(excess[worst]) if total else 0.0,
        eps=h,
        rtol=rtol,
        atol=atol,
    )

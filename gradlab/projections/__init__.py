r"""Euclidean projections onto convex sets (and spheres), and projected gradient steps.

Each ``projection_*`` function returns :math:`\Pi_C(x) = \operatorname{argmin}_{p \in C}
\|x - p\|_2^2` for a pytree :math:`x`, with optax's names, arguments and defaults
(``optax.projections``). Sets defined entry by entry (boxes, the orthant, the
:math:`\ell_\infty` ball) act per entry; the others (simplex, :math:`\ell_1` and :math:`\ell_2`
balls and spheres, lines, hyperplanes, halfspaces) treat all the entries of the tree as one
vector, as optax does. Each output leaf keeps its input leaf's dtype, and arithmetic runs in
float32 or wider. Concrete bad arguments (a radius <= 0, ``lower > upper``, a non-finite offset,
two trees of different structures) raise ``ValueError`` naming the argument and a fix.

:func:`project_params` turns a projection into a transformation for projected gradient descent.

Modules: ``boxes`` (orthant, box, hypercube, :math:`\ell_\infty` ball), ``simplex`` (simplex,
:math:`\ell_1` ball and sphere), ``euclidean`` (:math:`\ell_2` ball and sphere, line, hyperplane,
halfspace), ``projected`` (:func:`project_params`).

Deliberate differences from optax 0.2.8 (equal values elsewhere):

* ``projection_l2_sphere`` at :math:`x = 0` returns :math:`s\,\mathbf 1/\sqrt n`, a point of the
  sphere (optax: NaN).
* ``projection_l1_sphere`` gives zero entries a positive sign, so the output lies on the sphere
  also when :math:`\|x\|_1 < s` and :math:`x` has zero entries (optax keeps them at 0, off the
  sphere).
* A scalar ``lower``/``upper`` (``projection_box``) or ``scale`` (``projection_hypercube``)
  applies to every leaf of a tree; output leaves keep the input's dtype (optax promotes with the
  bounds').
* Radii and sums must be > 0 (``>= 0`` for boxes and the :math:`\ell_\infty` ball), checked when
  concrete; optax returns NaN for a zero simplex scale and silently wrong results for negative
  ones.
"""

from __future__ import annotations

from gradlab.projections.boxes import (
    projection_box,
    projection_hypercube,
    projection_linf_ball,
    projection_non_negative,
)
from gradlab.projections.euclidean import (
    projection_halfspace,
    projection_hyperplane,
    projection_l2_ball,
    projection_l2_sphere,
    projection_vector,
)
from gradlab.projections.projected import project_params
from gradlab.projections.simplex import (
    projection_l1_ball,
    projection_l1_sphere,
    projection_simplex,
)

__all__ = [
    "project_params",
    "projection_box",
    "projection_halfspace",
    "projection_hyperplane",
    "projection_hypercube",
    "projection_l1_ball",
    "projection_l1_sphere",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_simplex",
    "projection_vector",
]

r"""Diagnostics: checks to run on a model before trusting its training curves.

:func:`check_grads` compares the autodiff gradient of a scalar function of a pytree with
central finite differences, leaf by leaf, and reports (or raises on) the leaves that disagree.
"""

from gradlab.diagnostics.gradcheck import DEFAULT_COORDINATES as DEFAULT_COORDINATES
from gradlab.diagnostics.gradcheck import GradCheckReport as GradCheckReport
from gradlab.diagnostics.gradcheck import GradientCheckError as GradientCheckError
from gradlab.diagnostics.gradcheck import LeafCheck as LeafCheck
from gradlab.diagnostics.gradcheck import check_grads as check_grads

__all__ = [
    "DEFAULT_COORDINATES",
    "GradCheckReport",
    "GradientCheckError",
    "LeafCheck",
    "check_grads",
]

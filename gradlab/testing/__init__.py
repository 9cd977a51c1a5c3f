"""Testing helpers: the checks gradlab runs on every alias, public for users' own transforms.

``check_transformation(tx, params, grads)`` asserts structure/dtype preservation, a stable state
layout, finite states, jit = eager, vmap = loop and a serialization round trip;
``compare_with_reference(tx, reference, params, loss)`` asserts a transformation follows a
reference implementation's trajectory (optax's, say) step by step.
"""

from gradlab.testing.checks import CHECKS as CHECKS
from gradlab.testing.checks import Trajectory as Trajectory
from gradlab.testing.checks import check_finite_state as check_finite_state
from gradlab.testing.checks import check_jit_equals_eager as check_jit_equals_eager
from gradlab.testing.checks import check_serialization as check_serialization
from gradlab.testing.checks import check_state_layout as check_state_layout
from gradlab.testing.checks import check_structure as check_structure
from gradlab.testing.checks import check_transformation as check_transformation
from gradlab.testing.checks import check_vmap_equals_loop as check_vmap_equals_loop
from gradlab.testing.checks import run_steps as run_steps
from gradlab.testing.checks import varying_gradients as varying_gradients
from gradlab.testing.reference import SideBySide as SideBySide
from gradlab.testing.reference import assert_trees_normwise_close as assert_trees_normwise_close
from gradlab.testing.reference import compare_with_reference as compare_with_reference
from gradlab.testing.reference import run_side_by_side as run_side_by_side

__all__ = [
    "CHECKS",
    "SideBySide",
    "Trajectory",
    "assert_trees_normwise_close",
    "check_finite_state",
    "check_jit_equals_eager",
    "check_serialization",
    "check_state_layout",
    "check_structure",
    "check_transformation",
    "check_vmap_equals_loop",
    "compare_with_reference",
    "run_side_by_side",
    "run_steps",
    "varying_gradients",
]

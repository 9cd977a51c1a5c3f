"""Every argument check of gradlab, in one place (style rule R5): this package.

Each check runs once, when a transformation, schedule or loss is built, and raises an error that
names the function, the argument, the value received and a fix. Values that cannot be seen at
construction pass unchecked, by design: traced values (a hyperparameter under ``jax.jit``,
``jax.vmap`` or ``jax.grad``) and schedules (callables, checked by what they return only where
that is cheap). ``set_hyperparams`` runs the same checks on the concrete values it is given.

The *static zero* rule lives here too: :func:`is_static_zero` says when a hyperparameter whose
zero turns a term off (a weight decay, ``eps_root``, a momentum) is known to be zero at
construction, so that the term is compiled away. Only Python numbers and NumPy scalars count; a
``jax.Array`` zero keeps the term in the computation.

``arguments`` holds the checks of scalar arguments and trees, ``arrays`` those of schedule and
loss arguments (step counts, boundaries, shapes); import them from here.
"""

from gradlab.core.validation.arguments import ARGUMENT_CHECKS as ARGUMENT_CHECKS
from gradlab.core.validation.arguments import ARGUMENTS_CHECKED as ARGUMENTS_CHECKED
from gradlab.core.validation.arguments import already_checked as already_checked
from gradlab.core.validation.arguments import check_argument as check_argument
from gradlab.core.validation.arguments import check_callable as check_callable
from gradlab.core.validation.arguments import check_choice as check_choice
from gradlab.core.validation.arguments import check_count as check_count
from gradlab.core.validation.arguments import check_dtype as check_dtype
from gradlab.core.validation.arguments import check_finite as check_finite
from gradlab.core.validation.arguments import check_float_leaves as check_float_leaves
from gradlab.core.validation.arguments import check_learning_rate as check_learning_rate
from gradlab.core.validation.arguments import check_non_negative as check_non_negative
from gradlab.core.validation.arguments import check_number as check_number
from gradlab.core.validation.arguments import check_positive as check_positive
from gradlab.core.validation.arguments import check_scalar as check_scalar
from gradlab.core.validation.arguments import check_schedule as check_schedule
from gradlab.core.validation.arguments import check_state as check_state
from gradlab.core.validation.arguments import check_structure as check_structure
from gradlab.core.validation.arguments import check_transform as check_transform
from gradlab.core.validation.arguments import check_unit_interval as check_unit_interval
from gradlab.core.validation.arguments import concrete_value as concrete_value
from gradlab.core.validation.arguments import is_python_number as is_python_number
from gradlab.core.validation.arguments import is_stateful_schedule as is_stateful_schedule
from gradlab.core.validation.arguments import is_static_zero as is_static_zero
from gradlab.core.validation.arguments import is_traced as is_traced
from gradlab.core.validation.arguments import require_params as require_params
from gradlab.core.validation.arguments import warn_user as warn_user
from gradlab.core.validation.arrays import check_array_pair as check_array_pair
from gradlab.core.validation.arrays import check_axes as check_axes
from gradlab.core.validation.arrays import (
    check_boundaries_and_scales as check_boundaries_and_scales,
)
from gradlab.core.validation.arrays import check_broadcasts_to as check_broadcasts_to
from gradlab.core.validation.arrays import check_class_labels as check_class_labels
from gradlab.core.validation.arrays import check_in_interval as check_in_interval
from gradlab.core.validation.arrays import check_increasing_steps as check_increasing_steps
from gradlab.core.validation.arrays import check_onecycle as check_onecycle
from gradlab.core.validation.arrays import check_rate_or_zero as check_rate_or_zero
from gradlab.core.validation.arrays import check_real_array as check_real_array
from gradlab.core.validation.arrays import check_real_scalar as check_real_scalar
from gradlab.core.validation.arrays import check_same_shape as check_same_shape
from gradlab.core.validation.arrays import check_step_count as check_step_count
from gradlab.core.validation.arrays import check_transition as check_transition
from gradlab.core.validation.arrays import check_warmup_steps as check_warmup_steps
from gradlab.core.validation.arrays import check_where as check_where
from gradlab.core.validation.arrays import is_concrete_zero as is_concrete_zero
from gradlab.core.validation.arrays import warn_degenerate as warn_degenerate

__all__ = [
    "ARGUMENTS_CHECKED",
    "ARGUMENT_CHECKS",
    "already_checked",
    "check_argument",
    "check_array_pair",
    "check_axes",
    "check_boundaries_and_scales",
    "check_broadcasts_to",
    "check_callable",
    "check_choice",
    "check_class_labels",
    "check_count",
    "check_dtype",
    "check_finite",
    "check_float_leaves",
    "check_in_interval",
    "check_increasing_steps",
    "check_learning_rate",
    "check_non_negative",
    "check_number",
    "check_onecycle",
    "check_positive",
    "check_rate_or_zero",
    "check_real_array",
    "check_real_scalar",
    "check_same_shape",
    "check_scalar",
    "check_schedule",
    "check_state",
    "check_step_count",
    "check_structure",
    "check_transform",
    "check_transition",
    "check_unit_interval",
    "check_warmup_steps",
    "check_where",
    "concrete_value",
    "is_concrete_zero",
    "is_python_number",
    "is_static_zero",
    "is_stateful_schedule",
    "is_traced",
    "require_params",
    "warn_degenerate",
    "warn_user",
]

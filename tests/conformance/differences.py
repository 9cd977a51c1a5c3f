"""The one table of deliberate differences between gradlab and optax's own tests.

Each key is an ``fnmatch`` pattern over ``<file>::<Class>::<test>``, where ``<file>`` is relative
to the installed optax package (``_src/combine_test.py::PartitionTest::test_labels_mismatch*``);
a parameterized test also matches as ``"<file>::<Class>::<test> (<its arguments>)"``, so
``"...::test_optimization* (opt_name='adadelta'*"`` selects by argument. Each value is the
reason, pointing at the README paragraph that documents the difference.

A failing optax test that matches an entry is reported as "deliberate" (xfail); an entry whose
tests all pass is stale: the summary lists it (remove it). Everything else that fails fails the
run.
README's "Migrating from optax" section shows this table: print it with
``python -m tests.conformance.differences``.
"""

_DECAY = (
    "trace(1.0): a momentum/decay outside [0, 1) raises at construction (README, Differences "
    "from optax: Errors early); the test builds trace(1.0) only as a filler for partition"
)
_INT_LEAVES = (
    "integer params or gradients raise TypeError (README, Troubleshooting: 'only floating-point "
    "leaves can be optimized'); optax's test feeds int32 leaves"
)
_MESSAGE = (
    "the mask/structure mismatch raises ValueError as in optax, with gradlab's own message "
    "(README, Differences from optax: Errors early); optax's test matches jax's 'Dict key mismatch'"
)

_INJECTED = (
    "every gradlab alias keeps its hyperparameters in its state (README, Hyperparameters live in "
    "the state), so its state is an InjectState around its chain of primitives' states, not "
    "optax's (ScaleByAdamState(count, mu, nu), EmptyState()); updates are the same. Adam's "
    "moments are read with gradlab.scale_by_adam, whose state has optax's fields"
)
_OUTER = (
    "inject_hyperparams(alias) is an outer injection that owns the values and passes them to the "
    "alias, which records them in its own InjectState (README, Hyperparameters: the outermost "
    "injection owns a value); updates are the same, the state holds two InjectStates"
)
_BF16_HYPERPARAMS = (
    "hyperparameters are stored in float32 or wider even for bf16 params (optax stores bf16, "
    "where b2=0.999 rounds to 1.0 and Adam's bias correction divides by 0); README, Differences "
    "from optax"
)

_CURVATURE = (
    "scale_by_lbfgs skips a memory pair with <y, s> <= 0 (Nocedal & Wright sec. 7.2: it would make "
    "the inverse-Hessian estimate indefinite); optax keeps it with a negative weight. With a Wolfe "
    "line search (the default) <y, s> > 0 always and the two agree; the test runs linesearch=None "
    "on Himmelblau from (1, 1), where every pair has negative curvature (README, Differences from "
    "optax)"
)

_RANGE = (
    "increase_factor=1e-5: a line search's increase factor below 1 (it would shrink the step it "
    "is meant to grow) raises at construction (README, Differences from optax: Errors early); "
    "the test passes 1e-5 for every argument only to mix dtypes, and gradlab keeps dtypes stable "
    "with valid arguments (tests/test_linesearch.py)"
)
_AMBIGUOUS = (
    "two line searches in one state: value_and_grad_from_state raises ValueError saying which "
    "value is ambiguous (README, Differences from optax: Errors early); optax's KeyError comes "
    "from its tree lookup"
)

_CONTRIB_INJECT = (
    "contrib/_common_test.py::ContribTest::test_optimizers_can_be_wrapped_in_inject_hyperparams"
)

DIFFERENCES: dict[str, str] = {
    "_src/alias_test.py::AliasTest::test_explicit_dtype* (*opt_name='adam*": _INJECTED,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_adam*": _INJECTED,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_map_params_to_none*": _INJECTED,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_map_non_params_to_none*": _INJECTED,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_tree_get_all_with_path*": _INJECTED,
    "_src/alias_test.py::AliasTest::test_optimizers_can_be_wrapped_in_inject_hyperparams*": _OUTER,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_tree_get*": _OUTER,
    # ademamix, adopt, muon, prodigy and the schedule-free aliases (the wrapper one passes)
    _CONTRIB_INJECT + "[13]": _OUTER,
    _CONTRIB_INJECT + "1[2-5]": _OUTER,
    "tree_utils/_state_utils_test.py::StateUtilsTest::test_tree_set*": _OUTER,
    "schedules/_inject_test.py::InjectHyperparamsTest::test_hyperparam_default_dtype_bf16*": (
        _BF16_HYPERPARAMS
    ),
    "_src/combine_test.py::PartitionTest::test_labels_mismatch*": _DECAY,
    "_src/alias_test.py::LBFGSTest::test_against_plain_implementation* (*'himmelblau'*": (
        _CURVATURE
    ),
    "transforms/_combining_test.py::PartitionTest::test_labels_mismatch*": _DECAY,
    "_src/combine_test.py::ExtraArgsTest::test_extra_args": _INT_LEAVES,
    "transforms/_combining_test.py::ExtraArgsTest::test_extra_args": _INT_LEAVES,
    "schedules/_inject_test.py::InjectHyperparamsTest::"
    "test_inject_hyperparams_starts_with_step_count_zero": _INT_LEAVES,
    "transforms/_adding_test.py::AddingTest::test_none_argument": (
        "add_decayed_weights.update(None, state, params): updates whose tree differs from the "
        "params raise, printing both trees (README, Differences from optax: Errors early); optax "
        "returns None"
    ),
    "_src/linesearch_test.py::*LinesearchTest::test_dtype_stability*": _RANGE,
    "_src/transform_test.py::TransformTest::test_lion_invalid_mode_raises": (
        "scale_by_lion(mode='invalid_mode') raises ValueError at construction (README, "
        "Differences from optax: Errors early); optax raises it at the first update, where the "
        "test waits for it"
    ),
    "_src/linesearch_test.py::ZoomLinesearchTest::test_value_and_grad_from_state": _AMBIGUOUS,
    "transforms/_clipping_test.py::ClippingTest::test_clip_by_block_rms": (
        "not a difference: optax 0.2.8 fails this test itself on this CPU (an RMS of 0.99999988 "
        "against 1.0 at 7 places); gradlab's outputs equal optax's bit for bit here "
        "(tests/test_clipping.py)"
    ),
    "transforms/_freezing_test.py::FreezeTest::test_bad_structure_raises": _MESSAGE,
    "transforms/_freezing_test.py::SelectiveTransformTest::test_selective_bad_structure": _MESSAGE,
}


def markdown() -> str:
    """The table as README's "Migrating from optax" section shows it."""
    rows = ["| optax test (in the installed optax package) | why gradlab differs |", "|---|---|"]
    rows += [f"| `{pattern}` | {reason} |" for pattern, reason in DIFFERENCES.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())

"""Tests that kill the mutants the rest of the suite let survive (``bash tools/mutation_test.sh``).

Each test pins a behaviour that a surviving mutant changed, with the mutant it kills named in a
comment (``file: original -> mutant``): cosmic-ray's, and those its operators cannot write that
an earlier run found (extra arguments dropped by a combinator, the injected update's dtype cast
dropped, safe_increment wrapping, a fully masked row's loss). Grouped by module, in the order of
``mutation.toml``; numbers are checked against values worked out by hand or in NumPy.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from gradlab.core import tree

INT32_MAX = int(np.iinfo(np.int32).max)


# ---------------------------------------------------------------------------------------------
# core/base.py


class _Unreadable:
    """An ``update`` whose signature ``inspect`` cannot read (as for a builtin or a C function)."""

    def __init__(self, error):
        self.error = error

    @property
    def __signature__(self):
        raise self.error("no signature")

    def __call__(self, updates, state, params=None):
        return jax.tree.map(lambda g: 2.0 * g, updates), state


@pytest.mark.parametrize("error", [TypeError, ValueError])
def test_an_update_without_a_readable_signature_is_wrapped_silently(error):
    # base.py: `except (TypeError, ValueError)` -> either alone; `return False` -> `return True`.
    tx = gradlab.GradientTransformation(lambda p: gradlab.EmptyState(), _Unreadable(error))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrapped = gradlab.with_extra_args_support(tx)
    u, _ = wrapped.update(jnp.ones(2), gradlab.EmptyState(), None, value=jnp.asarray(1.0))
    np.testing.assert_array_equal(u, [2.0, 2.0])


def test_the_keyword_warning_points_at_the_callers_line():
    # base.py: `stacklevel=2` -> 1 (inside gradlab) or 3 (pytest's frame).
    def update(updates, state, params=None, **extra_args):
        return updates, state

    plain = gradlab.GradientTransformation(lambda p: gradlab.EmptyState(), update)
    with pytest.warns(UserWarning, match="GradientTransformationExtraArgs") as record:
        gradlab.with_extra_args_support(plain)
    assert record[0].filename == __file__


def test_the_keyword_warning_through_chain_points_at_the_users_line():
    def update(updates, state, params=None, **extra_args):
        return updates, state

    plain = gradlab.GradientTransformation(lambda p: gradlab.EmptyState(), update)
    with pytest.warns(UserWarning, match="GradientTransformationExtraArgs") as record:
        gradlab.chain(plain)
    assert record[0].filename == __file__


# ---------------------------------------------------------------------------------------------
# core/injection.py


def _times(step_size):
    """An undeclared factory whose output takes the dtype of ``g * step_size`` (no own cast)."""
    return gradlab.stateless(lambda updates, params: jax.tree.map(lambda g: g * step_size, updates))


def test_injected_update_keeps_the_incoming_dtype():
    # injection.py update: dropping the cast of the inner output to the incoming dtype
    # (`new = storage.like(new, updates)`): a float32 step_size promotes bf16 updates.
    tx = gradlab.inject_hyperparams(_times)(0.5)
    g = jnp.array([1.0, -3.0], jnp.bfloat16)
    u, state = tx.update(g, tx.init(g))
    assert u.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(u, np.float32), [0.5, -1.5])
    assert gradlab.hyperparams(state)["step_size"].dtype == jnp.float32


@pytest.mark.parametrize(
    "param_dtype,requested,expected",
    [
        (jnp.float32, None, jnp.float32),
        (jnp.float64, None, jnp.float64),  # the widest float dtype among the params
        (jnp.bfloat16, None, jnp.float32),  # never narrower than float32
        (jnp.float64, jnp.bfloat16, jnp.bfloat16),  # hyperparam_dtype, when given, wins
    ],
)
def test_hyperparameters_are_stored_in_float32_or_the_params_widest_float(
    x64, param_dtype, requested, expected
):
    # injection.py _hyperparam_dtype: `if requested is not None` -> `if not ...`;
    # `if jnp.issubdtype(leaf_dtype, jnp.inexact)` -> `if not ...`; init's slots:
    # `dtype if s != GIVEN else None` -> `if not s != GIVEN` (float64 under x64 for any params).
    params = {"w": jnp.ones(2, param_dtype), "n": jnp.ones((), jnp.float32)}
    tx = gradlab.inject_hyperparams(gradlab.scale, hyperparam_dtype=requested)(0.5)
    assert gradlab.hyperparams(tx.init(params))["step_size"].dtype == expected


def test_a_value_given_as_an_array_is_reported_but_not_settable():
    # injection.py _entries: default `enclosed=False` -> True (the outermost owner's given
    # values were dropped from hyperparams()).
    state = gradlab.adam(jnp.asarray(0.05)).init(jnp.zeros(2))
    assert float(gradlab.hyperparams(state)["learning_rate"]) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="learning_rate was given as an array"):
        gradlab.set_hyperparams(state, learning_rate=0.1)


def test_integer_partition_labels_key_the_hyperparameters():
    # injection.py _group_key: `group[0] if len(group) == 1` -> `== 0` (labels became strings).
    tx = gradlab.partition({0: gradlab.sgd(0.1), 1: gradlab.adam(0.01)}, {"a": 0, "b": 1})
    state = tx.init({"a": jnp.ones(2), "b": jnp.ones(3)})
    hp = gradlab.hyperparams(state)
    assert set(hp) == {0, 1}
    assert float(hp[0]["learning_rate"]) == pytest.approx(0.1)
    hp = gradlab.hyperparams(gradlab.set_hyperparams(state, group=1, learning_rate=0.5))
    assert float(hp[0]["learning_rate"]) == pytest.approx(0.1)
    assert float(hp[1]["learning_rate"]) == 0.5


def test_two_owners_of_one_name_in_one_group_are_named_with_the_group():
    # injection.py _check_unique: `' in group ' + repr(...)` -> `-` (a TypeError instead).
    tx = gradlab.param_groups(
        [("kernel", gradlab.chain(gradlab.sgd(0.1), gradlab.adam(0.01)))], default="freeze"
    )
    state = tx.init({"kernel": jnp.ones(2), "bias": jnp.ones(1)})
    with pytest.raises(ValueError, match="two optimizers .* 'learning_rate' in group 'kernel'"):
        gradlab.hyperparams(state)


# ---------------------------------------------------------------------------------------------
# core/validation.py


@pytest.mark.parametrize(
    "offset,error",
    [(-1, ValueError), (1.5, ValueError), (np.float32(2.0), ValueError), ("1", TypeError)],
)
def test_a_bad_count_is_refused_with_the_right_error_type(offset, error):
    # validation.py check_count: `if _CHECKED.get()` -> `if not ...` (never checked);
    # `concrete_value(value) is not None` -> `is None` (ValueError and TypeError swapped).
    with pytest.raises(error, match="offset must be an int >= 0"):
        gradlab.bias_correction(0.9, offset=offset)


@pytest.mark.parametrize("offset", [1, np.int64(1), jnp.int32(1)])
def test_integer_numpy_and_jax_scalars_count_as_ints(offset):
    # validation.py check_count: `if not is_int and dtype is not None and np.ndim(value) == 0`
    # -> `if not not is_int ...` / `np.ndim(value) == -1` (jnp.int32(1) refused).
    tx = gradlab.chain(gradlab.moving_average(0.5), gradlab.bias_correction(0.5, offset=offset))
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(u, [1.0 / (1 - 0.5**2)])  # m_1 = 1, divided by 1 - 0.5^(1+1)


def test_an_object_without_a_callable_update_is_not_a_transformation():
    # validation.py check_transform: `callable(init) and callable(update)` -> `or`.
    class InitOnly:
        init = staticmethod(lambda params: ())
        update = None

    with pytest.raises(TypeError, match="transform 0 must be a GradientTransformation"):
        gradlab.chain(InitOnly())


def test_params_of_another_structure_are_refused_by_name():
    # validation.py require_params: `if params is not None` -> `if not ...` (no check).
    tx = gradlab.add_decayed_weights(0.1)
    g = {"a": jnp.ones(2)}
    with pytest.raises(ValueError, match="differs from that of the params"):
        tx.update(g, tx.init(g), {"b": jnp.ones(2)})


@pytest.mark.parametrize("delta", [0.0, -1.0, float("inf")])
def test_a_positive_check_refuses_zero_negative_and_infinite_values(delta):
    # validation.py check_positive: `if v is not None and ...` -> `if not ...`;
    # `isfinite(v) and v > 0` -> `or` (an infinite delta was accepted).
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        gradlab.huber_loss(jnp.ones(1), jnp.zeros(1), delta=delta)


def test_a_positive_value_below_one_is_accepted():
    # validation.py check_positive: `np.all(v > 0)` -> `np.all(v > 1)`.
    r = 2.0
    loss = gradlab.huber_loss(jnp.array([r]), jnp.array([0.0]), delta=0.5)
    np.testing.assert_allclose(loss, [0.5 * (r - 0.5 * 0.5)])  # delta (|r| - delta / 2)


def test_a_combine_that_is_not_callable_is_refused():
    # validation.py check_callable: `if _CHECKED.get()` -> `if not ...` (never checked).
    with pytest.raises(TypeError, match="combine must be callable"):
        gradlab.fan_out(gradlab.identity(), combine=3)


def test_an_integer_storage_dtype_is_refused():
    # validation.py check_dtype: `if dtype is None` -> `if not dtype is None` (never checked).
    with pytest.raises(ValueError, match="accumulator_dtype must be a floating-point dtype"):
        gradlab.trace(0.9, accumulator_dtype=jnp.int32)
    tx = gradlab.trace(0.9)  # None keeps the params' dtype
    assert tx.init(jnp.zeros(2, jnp.bfloat16)).trace.dtype == jnp.bfloat16


def test_a_ragged_hyperparameter_is_refused_as_not_a_number():
    # validation.py concrete_value: `except (TypeError, ValueError)` -> without ValueError
    # (NumPy's "inhomogeneous shape" error escaped instead of the named TypeError).
    with pytest.raises(TypeError, match="step_size must be a number"):
        gradlab.scale([[1.0, 2.0], [3.0]])


def test_a_zero_dimensional_numpy_value_counts_as_a_python_number():
    # validation.py is_python_number: `value.ndim == 0` -> `!= 0`.
    state = gradlab.adam(np.asarray(0.05)).init(jnp.zeros(2))
    assert float(gradlab.hyperparams(state)["learning_rate"]) == pytest.approx(0.05)  # owned
    tx = gradlab.add_decayed_weights(np.asarray(0.0))  # a static zero: the identity, no params
    u, _ = tx.update(jnp.ones(2), tx.init(None))
    np.testing.assert_array_equal(u, [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# core/tree.py


@pytest.mark.parametrize(
    "count,by,expected",
    [
        (0, 1, 1),
        (5, 3, 8),
        (5, 0, 5),
        (INT32_MAX - 1, 1, INT32_MAX),  # reaches the maximum exactly
        (INT32_MAX - 2, 3, INT32_MAX),  # would pass it: saturates
        (INT32_MAX, 1, INT32_MAX),  # stays there instead of wrapping to -2**31
        (INT32_MAX, 0, INT32_MAX),
    ],
)
def test_safe_increment_saturates_at_the_int32_maximum(count, by, expected):
    # tree.py: `max_value - by` -> `max_value * by` / `** by` / `/ by` (wrong at by=0 or near
    # the maximum).
    out = tree.safe_increment(jnp.asarray(count, jnp.int32), by)
    assert out.dtype == jnp.int32
    assert int(out) == expected


def test_a_step_count_at_the_int32_maximum_stays_there():
    # tree.py safe_increment reduced to `count + by`: a count at the maximum wraps to -2**31,
    # a negative step where schedules and bias corrections break.
    tx = gradlab.scale_by_schedule(lambda t: jnp.where(t >= 0, 1.0, -1.0))
    u, state = tx.update(jnp.ones(1), gradlab.ScaleByScheduleState(jnp.int32(INT32_MAX)))
    assert int(state.count) == INT32_MAX
    u, state = tx.update(jnp.ones(1), state)
    assert int(state.count) == INT32_MAX
    np.testing.assert_array_equal(u, [1.0])


def test_a_decay_that_rounds_to_one_leaves_the_moment_uncorrected():
    # tree.py bias_correction: `jnp.where(correction == 0, 1, correction)` -> `== -1` / `== 1`
    # (1 - 1e-9 is 1.0 in float32: the correction is 0 and the moment would become inf).
    decay = 1 - 1e-9
    tx = gradlab.chain(gradlab.moving_average(decay), gradlab.bias_correction(decay))
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(u, [(1 - decay) * 2.0], rtol=1e-6)  # m_1, undivided


# ---------------------------------------------------------------------------------------------
# core/storage.py


def test_the_second_moment_of_complex_params_is_real_abs_squared():
    # storage.py real_dtype: `if jnp.issubdtype(dtype, complexfloating)` -> `if not ...`;
    # power: `if jnp.iscomplexobj(g)` -> `if not ...`, `g * conj(g)` -> `g - conj(g)` / `g / ...`.
    g = jnp.array([3.0 + 4.0j, -1.0j], jnp.complex64)
    tx = gradlab.moving_average(0.5, order=2)
    state = tx.init(jnp.zeros(2, jnp.complex64))
    assert state.average.dtype == jnp.float32
    u, state = tx.update(g, state)
    assert u.dtype == jnp.float32
    np.testing.assert_allclose(u, [0.5 * 25.0, 0.5 * 1.0], rtol=1e-6)  # (1 - b) |g|^2
    np.testing.assert_allclose(state.average, u)


# ---------------------------------------------------------------------------------------------
# transforms/combine.py and transforms/masking.py


def _listener(seen):
    """An ExtraArgs stage that records the extra arguments it receives and passes g through."""

    def update(updates, state, params=None, **extra_args):
        seen.append(float(extra_args["value"]))
        return updates, state

    return gradlab.GradientTransformationExtraArgs(lambda p: gradlab.EmptyState(), update)


COMBINATORS = {
    "chain": lambda tx: gradlab.chain(gradlab.scale(1.0), tx),
    "named_chain": lambda tx: gradlab.named_chain(("one", gradlab.scale(1.0)), ("it", tx)),
    "fan_out": lambda tx: gradlab.fan_out(tx, combine=lambda u, g: u),
    "divide": lambda tx: gradlab.divide(tx, gradlab.identity()),
    "masked": lambda tx: gradlab.masked(tx, {"w": True}),
}


@pytest.mark.parametrize("name", sorted(COMBINATORS))
def test_every_combinator_forwards_the_extra_arguments(name):
    # combine.py / masking.py: dropping `**extra_args` from a stage's update call (the
    # named_chain survivor of an earlier mutation run).
    seen = []
    tx = COMBINATORS[name](_listener(seen))
    g = {"w": jnp.ones(2)}
    u, _ = tx.update(g, tx.init(g), None, value=jnp.asarray(3.0))
    assert seen == [3.0]
    np.testing.assert_array_equal(u["w"], [1.0, 1.0])


def test_named_chain_refuses_a_dict_state_with_other_keys():
    # combine.py: `not isinstance(state, dict) or set(state) != set(names)` -> `and`.
    tx = gradlab.named_chain(("a", gradlab.scale(2.0)), ("b", gradlab.scale(3.0)))
    other = gradlab.named_chain(("a", gradlab.scale(2.0)), ("c", gradlab.scale(3.0)))
    with pytest.raises(ValueError, match=r"must be a dict with the keys \['a', 'b'\]"):
        tx.update(jnp.ones(1), other.init(jnp.ones(1)))
    state = dict(tx.init(jnp.ones(1)), extra=gradlab.EmptyState())
    with pytest.raises(ValueError, match=r"got \['a', 'b', 'extra'\]"):
        tx.update(jnp.ones(1), state)


def test_fan_out_refuses_a_state_with_another_number_of_branches():
    # combine.py: `not isinstance(state, FanOutState) or len(...) != len(stages)` -> `and`
    # (zip(strict=True) would then fail with an unhelpful message).
    tx = gradlab.fan_out(gradlab.trace(0.5), gradlab.identity(), combine=lambda m, i, g: m + i)
    state = gradlab.FanOutState(tx.init(jnp.zeros(1)).branches[:1])
    with pytest.raises(ValueError, match="expected a FanOutState with 2 branch states"):
        tx.update(jnp.ones(1), state)


# ---------------------------------------------------------------------------------------------
# transforms/scaling.py, and the declarations of every primitive


def test_an_integer_step_size_is_settable():
    # scaling.py: removing `@declare_hyperparams("step_size")` (undeclared, an int stays static).
    tx = gradlab.inject_hyperparams(gradlab.scale)(2)
    state = tx.init(jnp.ones(2))
    assert float(gradlab.hyperparams(state)["step_size"]) == 2.0
    state = gradlab.set_hyperparams(state, step_size=3.0)
    np.testing.assert_array_equal(tx.update(jnp.ones(2), state)[0], [3.0, 3.0])


# Every declared primitive, with each declared hyperparameter given as a Python int.
DECLARED_WITH_INTS = [
    (gradlab.scale, {"step_size": 2}),
    (gradlab.scale_by_learning_rate, {"learning_rate": 1}),
    (gradlab.trace, {"decay": 0}),
    (gradlab.moving_average, {"decay": 0, "initial_value": 0}),
    (gradlab.bias_correction, {"decay": 0}),
    (gradlab.sum_of_squares, {"initial_accumulator_value": 0}),
    (gradlab.max_abs, {"decay": 0, "eps": 0}),
    (gradlab.sqrt, {"eps_root": 0}),
    (gradlab.add_eps, {"eps": 1}),
    (gradlab.scale_by_momentum, {"decay": 0}),
    (gradlab.moving_variance, {"decay": 0, "initial_scale": 0}),
    (gradlab.scale_by_adadelta, {"rho": 0, "eps": 0}),
    (gradlab.add_decayed_weights, {"weight_decay": 1}),
]


@pytest.mark.parametrize(
    "factory,kwargs", DECLARED_WITH_INTS, ids=[f.__name__ for f, _ in DECLARED_WITH_INTS]
)
def test_declared_hyperparameters_are_injected_even_as_ints(factory, kwargs):
    # scaling/statistics/elementwise/fused/weight_decay.py: removing a `@declare_hyperparams`; an
    # undeclared factory is read as optax reads it, and an int argument then stays static.
    state = gradlab.inject_hyperparams(factory)(**kwargs).init(jnp.ones(2))
    hp = gradlab.hyperparams(state)
    assert {k: float(hp[k]) for k in kwargs} == {k: float(v) for k, v in kwargs.items()}


# ---------------------------------------------------------------------------------------------
# transforms/statistics.py


def test_amsgrad_max_starts_from_zero():
    # statistics.py amsgrad_max init: `storage.init(params, 0.0, ...)` -> `-1.0`.
    tx = gradlab.amsgrad_max()
    state = tx.init(jnp.ones(2))
    np.testing.assert_array_equal(state.nu_max, [0.0, 0.0])
    u, _ = tx.update(jnp.array([-3.0, 2.0]), state)  # max(0, v): the documented v_max_0 = 0
    np.testing.assert_array_equal(u, [0.0, 2.0])


# ---------------------------------------------------------------------------------------------
# transforms/fused.py


def test_moving_variance_takes_decay_by_name_and_the_rest_by_keyword_only():
    # fused.py moving_variance: the `*,` in the signature -> `/,` (decay positional-only, which
    # also broke inject_hyperparams, which calls factories by keyword).
    tx = gradlab.moving_variance(decay=0.5)
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(u, [0.5 * 4.0 - (0.5 * 2.0) ** 2])
    with pytest.raises(TypeError):
        gradlab.moving_variance(0.5, 1.0)  # initial_scale is keyword-only


# ---------------------------------------------------------------------------------------------
# transforms/preconditioners.py


def _np_max_abs_steps(gs, decay=0.999, eps=1e-8):
    u, out = 0.0, []
    for g in gs:
        u = np.maximum(decay * u, np.abs(g) + eps)
        out.append(g / u)
    return out


def _np_delta_rms_steps(gs, decay=0.9, eps=1e-6):
    e, out = 0.0, []
    for g in gs:
        delta = np.sqrt(e + eps) * g
        e = decay * e + (1 - decay) * delta**2
        out.append(delta)
    return out


def _np_sum_of_squares_steps(gs, initial=0.1, eps=1e-7):
    total, out = initial, []
    for g in gs:
        total = total + g**2
        out.append(g / np.sqrt(total + eps))
    return out


def _np_rms_steps(gs, decay=0.9, eps=1e-8):
    v, out = 0.0, []
    for g in gs:
        v = decay * v + (1 - decay) * g**2
        out.append(g / np.sqrt(v + eps))
    return out


DEFAULTS = {  # each preconditioner built with its defaults, and the documented formula
    "scale_by_max_abs": (gradlab.scale_by_max_abs, _np_max_abs_steps),
    "scale_by_delta_rms": (gradlab.scale_by_delta_rms, _np_delta_rms_steps),
    "scale_by_sum_of_squares": (gradlab.scale_by_sum_of_squares, _np_sum_of_squares_steps),
    "scale_by_rms": (gradlab.scale_by_rms, _np_rms_steps),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_preconditioner_defaults_are_the_documented_ones(name):
    # preconditioners.py: the defaults eps=1e-8 (max_abs), eps=1e-6 (delta_rms),
    # initial_accumulator_value=0.1 (sum_of_squares) replaced by other numbers.
    factory, reference = DEFAULTS[name]
    gs = [np.array([3.0, -0.5, 1e-3]), np.array([0.1, 2.0, -1e-3])]
    tx = factory()
    state = tx.init(jnp.zeros(3))
    for g, expected in zip(gs, reference(gs)):
        u, state = tx.update(jnp.asarray(g, jnp.float32), state)
        np.testing.assert_allclose(u, expected, rtol=2e-6)


# ---------------------------------------------------------------------------------------------
# transforms/weight_decay.py


@pytest.mark.parametrize("weight_decay", [-1e-4, float("inf")])
def test_a_negative_or_infinite_weight_decay_is_refused(weight_decay):
    # weight_decay.py: `if not callable(weight_decay)` -> `if not not ...` (numbers unchecked).
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        gradlab.add_decayed_weights(weight_decay)


# ---------------------------------------------------------------------------------------------
# losses/cross_entropy.py


def _np_masked_int_ce(logits, labels, where):
    """NumPy reference: logsumexp over the included classes minus the label's logit; 0 for a
    row with no class included."""
    out = np.zeros(logits.shape[0])
    for i, (z, c, w) in enumerate(zip(logits, labels, where)):
        if w.any():
            out[i] = np.log(np.sum(np.exp(z[w]))) - z[c]
    return out


def test_integer_label_cross_entropy_of_a_fully_masked_row_is_zero():
    # cross_entropy.py: `jnp.where(jnp.any(where, axis=axis), loss, 0.0)` -> `-1.0`, or the
    # line dropped (a row with nothing included kept its logsumexp over no classes).
    logits = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [4.0, 0.0, -2.0]], np.float32)
    labels = np.array([1, 2, 0])
    where = np.array([[True, True, False], [False, False, False], [True, True, True]])
    got = gradlab.softmax_cross_entropy_with_integer_labels(logits, labels, where=where)
    np.testing.assert_allclose(got, _np_masked_int_ce(logits, labels, where), rtol=1e-6)
    assert float(got[1]) == 0.0
    # A mask of whole examples (the logits' shape without the class axis).
    rows = np.array([True, False, True])
    got = gradlab.softmax_cross_entropy_with_integer_labels(logits, labels, where=rows)
    full = np.broadcast_to(rows[:, None], logits.shape)
    np.testing.assert_allclose(got, _np_masked_int_ce(logits, labels, full), rtol=1e-6)
    assert float(got[1]) == 0.0

"""Wrappers: skipped non-finite steps, gradient accumulation, NaN zeroing and zero updates.

References: the same run with the bad steps removed, the plain optimizer on the averaged
micro-gradients, closed forms (lr schedule values, NaN -> 0) and optax as a second oracle.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gradlab
from gradlab.transforms import wrappers
from tests.conftest import make_tree

VARIANTS = [pytest.param(jax.jit, id="jit"), pytest.param(lambda f: f, id="nojit")]
NAN, INF = float("nan"), float("inf")


def with_none(params):
    return {**params, "none": None}


TARGET = with_none(make_tree(1))


@jax.jit
def grad_fn(params, scale=1.0):
    """Gradient of sum((p - scale * t)^2 + 0.1 p^4): depends on the params."""
    target = {k: TARGET[k] for k in params}  # params with or without the None leaf
    return jax.tree.map(lambda p, t: 2 * (p - scale * t) + 0.4 * p**3, params, target)


@jax.jit
def corrupt(grads, leaf_index, value):
    """``grads`` with entry 0 of leaf number ``leaf_index`` (traced; -1: none) set to ``value``."""
    leaves, treedef = jax.tree.flatten(grads)
    leaves = [
        jnp.where(leaf_index == i, x.reshape(-1).at[0].set(value).reshape(x.shape), x)
        for i, x in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, leaves)


def inner_count(state):
    """The step count of the gradlab alias inside ``state`` (its InjectState)."""
    is_inject = lambda x: isinstance(x, gradlab.InjectState)  # noqa: E731
    (inject,) = [x for x in jax.tree.leaves(state, is_leaf=is_inject) if is_inject(x)]
    return int(inject.count)


# ---------------------------------------------------------------------------------------------
# apply_if_finite


def train(tx, params, values, leaf_ids):
    """Runs ``tx`` for len(values) steps under lax.scan; a finite value 0 marks a clean step."""

    @jax.jit
    def run(params, values, leaf_ids):
        def step(carry, xs):
            params, state = carry
            value, leaf = xs
            grads = corrupt(grad_fn(params), leaf, value)
            updates, state = tx.update(grads, state, params)
            return (gradlab.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(step, (params, tx.init(params)), (values, leaf_ids))
        return params, state

    dtype = jax.tree.leaves(params)[0].dtype
    return run(params, jnp.asarray(values, dtype), jnp.asarray(leaf_ids, jnp.int32))


def nan_run_inputs(seed=0, steps=100, n_bad=10):
    """Per step: the bad value (0: a clean step) and the leaf it goes in (-1: none)."""
    rng = np.random.default_rng(seed)
    n_leaves = len(jax.tree.leaves(make_tree(0)))
    others = rng.choice(np.arange(3, steps), n_bad - 3, replace=False)
    bad_steps = np.sort(np.r_[[0, 1, 2], others])  # includes a run of bad steps at the start
    values = np.zeros(steps)
    values[bad_steps] = rng.choice([NAN, INF, -INF], n_bad)
    leaf_ids = np.full(steps, -1)
    leaf_ids[bad_steps] = rng.integers(0, n_leaves, n_bad)
    return values, leaf_ids


def test_nan_steps_are_skipped_exactly():
    """Acceptance: 100 adam steps, 10 of them NaN/Inf, end exactly where the 90 clean ones end.

    Bit for bit against the same compiled program run on the clean steps only. Against plain
    adam (no wrapper) float32 differs by ~1 ulp: XLA fuses adam differently inside a runtime
    ``lax.cond`` (measured 1.2e-7 abs, also for a bare cond around adam); see the x64 test.
    """
    values, leaf_ids = nan_run_inputs()
    params = with_none(make_tree(0))
    tx = wrappers.apply_if_finite(gradlab.adam(1e-2), max_consecutive_errors=1000)
    got, state = train(tx, params, values, leaf_ids)
    want, _ = train(tx, params, np.zeros(90), np.full(90, -1))
    chex.assert_trees_all_equal(got, want)
    assert got["none"] is None
    assert int(state.total_notfinite) == 10 and inner_count(state.inner_state) == 90
    assert bool(state.last_finite) and int(state.notfinite_count) == 0
    plain, _ = train(gradlab.adam(1e-2), params, np.zeros(90), np.full(90, -1))
    chex.assert_trees_all_close(got, plain, rtol=1e-5, atol=3e-7)
    # optax as a second oracle, same inputs (its adam rounds differently: R6's 1e-4)
    ref = optax.apply_if_finite(optax.adam(1e-2), max_consecutive_errors=1000)
    ref_params, ref_state = train(ref, params, values, leaf_ids)
    chex.assert_trees_all_close(got, ref_params, rtol=1e-4, atol=1e-6)
    assert int(ref_state.total_notfinite) == 10


def test_nan_steps_are_skipped_exactly_against_plain_adam_x64(x64):
    """The same run in float64 against plain adam on the 90 clean steps: rtol 1e-10."""
    values, leaf_ids = nan_run_inputs()
    params = with_none(make_tree(0, dtype=jnp.float64))
    tx = wrappers.apply_if_finite(gradlab.adam(1e-2), max_consecutive_errors=1000)
    got, _ = train(tx, params, values, leaf_ids)
    want, _ = train(gradlab.adam(1e-2), params, np.zeros(90), np.full(90, -1))
    assert jax.tree.leaves(got)[0].dtype == jnp.float64
    chex.assert_trees_all_close(got, want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("wrap", VARIANTS)
def test_bad_step_returns_zeros_and_leaves_inner_state_untouched(wrap):
    params = with_none(make_tree(0))
    schedule = lambda t: 0.1 / (1.0 + t)  # noqa: E731
    tx = wrappers.apply_if_finite(gradlab.adam(schedule, b1=0.8), max_consecutive_errors=5)
    update = wrap(tx.update)
    state = tx.init(params)
    _, state = update(grad_fn(params), state, params)
    for i, value in enumerate([NAN, -INF]):
        updates, new = update(corrupt(grad_fn(params), 2 + i, value), state, params)
        chex.assert_trees_all_equal(updates, gradlab.core.tree.zeros_like(params))
        chex.assert_trees_all_equal(new.inner_state, state.inner_state)  # count, lr, moments
        assert int(new.notfinite_count) == i + 1 and int(new.total_notfinite) == i + 1
        assert not bool(new.last_finite)
        state = new
    assert inner_count(state.inner_state) == 1
    lr = lambda state: gradlab.hyperparams(state.inner_state)["learning_rate"]  # noqa: E731
    np.testing.assert_allclose(lr(state), schedule(0))
    _, state = update(grad_fn(params), state, params)  # a finite step resets the run of errors
    assert int(state.notfinite_count) == 0 and int(state.total_notfinite) == 2
    assert inner_count(state.inner_state) == 2
    np.testing.assert_allclose(lr(state), schedule(1), rtol=1e-7)  # resumes at step 1, not 3


@pytest.mark.parametrize("max_errors", [0, 2])
def test_after_the_limit_updates_go_through_as_in_optax(max_errors):
    params = make_tree(0)
    pattern = "GBBBBGBBG"  # good / bad steps: 4 bad steps in a row exceed both limits
    ours = wrappers.apply_if_finite(gradlab.adam(0.1), max_errors)
    ref = optax.apply_if_finite(optax.adam(0.1), max_errors)
    optax_inner = wrappers.apply_if_finite(optax.adam(0.1), max_errors)  # optax inside ours
    s, r, o = ours.init(params), ref.init(params), optax_inner.init(params)
    ours_update, ref_update = jax.jit(ours.update), jax.jit(ref.update)
    optax_inner_update = jax.jit(optax_inner.update)
    consecutive = 0
    for i, kind in enumerate(pattern):
        grads = grad_fn(params, scale=1.0 + i)
        if kind == "B":
            grads = corrupt(grads, i % 6, NAN)
        u, s = ours_update(grads, s, params)
        v, r = ref_update(grads, r, params)
        w, o = optax_inner_update(grads, o, params)
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)  # NaN == NaN here
        chex.assert_trees_all_close(w, v, rtol=1e-6)
        for field in ("notfinite_count", "last_finite", "total_notfinite"):
            assert int(getattr(s, field)) == int(getattr(r, field)), (i, field)
        assert inner_count(s.inner_state) == int(r.inner_state[0].count), i
        consecutive = consecutive + 1 if kind == "B" else 0
        passed = kind == "G" or consecutive > max_errors
        nonzero = any(bool(jnp.any(x != 0)) for x in jax.tree.leaves(u))
        assert nonzero == passed, (i, kind)
        if kind == "B":  # a bad step that goes through carries its NaN
            assert any(bool(jnp.any(jnp.isnan(x))) for x in jax.tree.leaves(u)) == passed


# ---------------------------------------------------------------------------------------------
# multi_steps


def micro_grads(params, i):
    """The gradient of micro-batch ``i``: the target scaled per batch."""
    return grad_fn(params, scale=1.0 + 0.5 * i)


INNERS = [
    pytest.param(lambda: gradlab.adam(1e-2), lambda: optax.adam(1e-2), id="adam"),
    pytest.param(
        lambda: gradlab.sgd(0.05, momentum=0.9), lambda: optax.sgd(0.05, momentum=0.9), id="sgd"
    ),
]


@pytest.mark.parametrize("make_ours,make_ref", INNERS)
def test_multi_steps_equals_one_step_on_the_mean_gradient(make_ours, make_ref):
    k, outer = 3, 4
    params = with_none(make_tree(0))
    tx = wrappers.multi_steps(make_ours(), every_k_schedule=k)
    plain = make_ours()  # reference: the inner optimizer on the averaged micro-gradients
    ref = optax.MultiSteps(make_ref(), every_k_schedule=k)
    update, plain_update, ref_update = (
        jax.jit(tx.update),
        jax.jit(plain.update),
        jax.jit(ref.update),
    )
    s, p_state, r = tx.init(params), plain.init(params), ref.init(params)
    want_params = got_params = params
    for _ in range(outer):
        grads = [micro_grads(got_params, i) for i in range(k)]
        for i, g in enumerate(grads):
            u, s = update(g, s, got_params)
            v, r = ref_update(g, r, got_params)
            chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
            if i < k - 1:
                chex.assert_trees_all_equal(u, gradlab.core.tree.zeros_like(params))
                assert not bool(tx.has_updated(s))
            got_params = gradlab.apply_updates(got_params, u)
        assert bool(tx.has_updated(s))
        mean = jax.tree.map(lambda *g: jnp.mean(jnp.stack(g), axis=0), *grads)
        w, p_state = plain_update(mean, p_state, want_params)
        want_params = gradlab.apply_updates(want_params, w)
        chex.assert_trees_all_close(got_params, want_params, rtol=1e-5, atol=1e-6)
    assert int(s.gradient_step) == outer and int(s.mini_step) == 0
    assert got_params["none"] is None


def test_inner_schedule_advances_once_per_applied_update():
    k, outer = 4, 3
    schedule = lambda t: 0.1 / (1.0 + t)  # noqa: E731
    params = make_tree(0)
    tx = wrappers.multi_steps(gradlab.sgd(schedule), every_k_schedule=k)
    update = jax.jit(tx.update)
    state = tx.init(params)
    for n in range(outer):
        grads = [micro_grads(params, i) for i in range(k)]
        for g in grads:
            updates, state = update(g, state, params)
        mean = jax.tree.map(lambda *g: np.mean(np.stack(g), axis=0), *grads)
        # the n-th applied update used learning rate schedule(n): u = -lr_n * mean
        want = jax.tree.map(lambda m: -schedule(n) * m, mean)
        chex.assert_trees_all_close(updates, want, rtol=1e-6, atol=1e-8)
        params = gradlab.apply_updates(params, updates)
    np.testing.assert_allclose(
        gradlab.hyperparams(state.inner_state)["learning_rate"], schedule(outer - 1), rtol=1e-7
    )
    assert inner_count(state.inner_state) == outer
    _, state = update(grads[0], state, params)  # a micro-step does not move the schedule
    np.testing.assert_allclose(
        gradlab.hyperparams(state.inner_state)["learning_rate"], schedule(outer - 1), rtol=1e-7
    )


def test_multi_steps_keeps_one_param_sized_buffer():
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(4), "v": [jnp.ones(5), jnp.ones((2, 2))]}
    state = jax.eval_shape(wrappers.multi_steps(gradlab.adam(1e-3), 2).init, params)
    outer = jax.tree.leaves(state._replace(inner_state=None))
    shapes = sorted(x.shape for x in outer if x.shape)
    assert shapes == sorted(x.shape for x in jax.tree.leaves(params))
    n_params = sum(x.size for x in jax.tree.leaves(params))
    assert sum(x.size for x in outer) == n_params + 2  # the accumulator and two int32 counters
    assert state.mini_step.dtype == jnp.int32 and state.gradient_step.dtype == jnp.int32


def test_multi_steps_with_a_schedule_of_k_and_summed_gradients_match_optax():
    params = make_tree(0)
    every_k = lambda step: jnp.where(step < 1, 2, 3)  # noqa: E731
    for use_grad_mean in (True, False):
        tx = wrappers.multi_steps(gradlab.sgd(0.1), every_k, use_grad_mean)
        ref = optax.MultiSteps(optax.sgd(0.1), every_k, use_grad_mean=use_grad_mean)
        s, r = tx.init(params), ref.init(params)
        update, ref_update = jax.jit(tx.update), jax.jit(ref.update)
        emitted = []
        for i in range(8):
            u, s = update(micro_grads(params, i), s, params)
            v, r = ref_update(micro_grads(params, i), r, params)
            chex.assert_trees_all_close(u, v, rtol=1e-6, atol=1e-7)
            emitted.append(bool(tx.has_updated(s)))
            params = gradlab.apply_updates(params, u)
        assert emitted == [False, True, False, False, True, False, False, True]


def test_multi_steps_optax_spelling():
    params = make_tree(0)
    opt = wrappers.MultiSteps(gradlab.sgd(1.0), every_k_schedule=2)
    tx = opt.gradient_transformation()
    assert type(tx) is gradlab.GradientTransformationExtraArgs
    s, update = tx.init(params), jax.jit(tx.update)
    _, s = update(micro_grads(params, 0), s)
    u, s = update(micro_grads(params, 1), s)
    want = jax.tree.map(lambda a, b: -(a + b) / 2, micro_grads(params, 0), micro_grads(params, 1))
    chex.assert_trees_all_close(u, want, rtol=1e-6)
    assert bool(opt.has_updated(s))


def test_bf16_updates_stay_bf16_and_the_accumulator_dtype_is_honoured():
    params = {"w": jnp.zeros(3, jnp.bfloat16)}
    g1, g2 = {"w": jnp.array([1, 2, 3], jnp.bfloat16)}, {"w": jnp.array([3, 4, -5], jnp.bfloat16)}
    for acc_dtype, want_acc in [(None, jnp.bfloat16), (jnp.float32, jnp.float32)]:
        tx = wrappers.multi_steps(gradlab.sgd(1.0), 2, accumulator_dtype=acc_dtype)
        u, s = jax.jit(tx.update)(g1, tx.init(params))
        assert s.acc_grads["w"].dtype == want_acc and u["w"].dtype == jnp.bfloat16
        u, s = jax.jit(tx.update)(g2, s)
        chex.assert_trees_all_equal(u, {"w": jnp.array([-2, -3, 1], jnp.bfloat16)})
    tx = wrappers.apply_if_finite(gradlab.adam(1e-2), 1)
    for g in (g1, {"w": jnp.array([1, jnp.nan, 0], jnp.bfloat16)}):
        u, _ = jax.jit(tx.update)(g, tx.init(params))
        assert u["w"].dtype == jnp.bfloat16


def test_multi_steps_update_does_not_retrace():
    params = make_tree(0)
    tx = wrappers.multi_steps(gradlab.adam(1e-2), 3)
    traces = []

    @jax.jit
    def step(grads, state):
        traces.append(1)
        return tx.update(grads, state, params)

    state = tx.init(params)
    for i in range(7):
        _, state = step(micro_grads(params, i), state)
    assert len(traces) == 1


# ---------------------------------------------------------------------------------------------
# zero_nans, set_to_zero, freeze


@pytest.mark.parametrize("wrap", VARIANTS)
def test_zero_nans_matches_optax(wrap):
    params = with_none(make_tree(0))
    tx, ref = wrappers.zero_nans(), optax.zero_nans()
    s, r = tx.init(params), ref.init(params)
    chex.assert_trees_all_equal(s.found_nan, r.found_nan)
    for leaf, value in [(0, NAN), (3, INF), (-1, 0.0)]:
        grads = corrupt(grad_fn(params), leaf, value)
        u, s = wrap(tx.update)(grads, s, params)
        v, r = ref.update(grads, r, params)
        chex.assert_trees_all_equal(u, v)
        chex.assert_trees_all_equal(s.found_nan, r.found_nan)
        want = jax.tree.map(lambda g: np.where(np.isnan(g), 0.0, g), grads)  # closed form
        chex.assert_trees_all_equal(u, want)
        assert u["none"] is None and s.found_nan["none"] is None
    assert [bool(x) for x in jax.tree.leaves(s.found_nan)] == [False] * 6  # clean last step


@pytest.mark.parametrize("wrap", VARIANTS)
def test_set_to_zero_and_freeze_match_optax(wrap):
    params = with_none(make_tree(0))
    grads = grad_fn(params)
    for ours, ref, want_state in [
        (wrappers.set_to_zero(), optax.set_to_zero(), gradlab.EmptyState()),
        (wrappers.freeze(), optax.freeze(True), gradlab.MaskedState(gradlab.EmptyState())),
        (wrappers.freeze({**jax.tree.map(lambda _: False, params), "dense": True}), None, None),
    ]:
        u, state = wrap(ours.update)(grads, ours.init(params), params)
        if ref is not None:
            chex.assert_trees_all_equal(u, ref.update(grads, ref.init(params))[0])
            assert state == want_state  # freeze(True): optax's MaskedState(EmptyState())
        want = {**grads, "dense": gradlab.core.tree.zeros_like(grads["dense"])}
        chex.assert_trees_all_equal(u, want if ref is None else gradlab.core.tree.zeros_like(grads))
        assert u["none"] is None
    mask = {"dense": True, "list": False, "tuple": False}
    u = wrappers.freeze(mask).update(make_tree(2), wrappers.freeze(mask).init(make_tree(0)))[0]
    v = optax.freeze(mask).update(make_tree(2), optax.freeze(mask).init(make_tree(0)))[0]
    chex.assert_trees_all_equal(u, v)


# ---------------------------------------------------------------------------------------------
# Table-wide behaviours: jit == no-jit, None leaves, vmap


WRAPPERS = [
    pytest.param(lambda: wrappers.apply_if_finite(gradlab.adam(1e-2), 2), id="apply_if_finite"),
    pytest.param(lambda: wrappers.multi_steps(gradlab.adam(1e-2), 2), id="multi_steps"),
    pytest.param(wrappers.zero_nans, id="zero_nans"),
    pytest.param(wrappers.set_to_zero, id="set_to_zero"),
]


@pytest.mark.parametrize("make", WRAPPERS)
def test_jit_and_no_jit_agree_and_none_leaves_survive(make):
    tx = make()
    params = with_none(make_tree(0))
    outputs = []
    for wrap in (jax.jit, lambda f: f):
        state, p, out = tx.init(params), params, []
        for i, value in enumerate([0.0, NAN, INF, 0.0]):
            u, state = wrap(tx.update)(corrupt(grad_fn(p), i, value), state, p)
            p = gradlab.apply_updates(p, jax.tree.map(jnp.nan_to_num, u))
            out.append(u)
        assert p["none"] is None and u["none"] is None
        assert jax.tree.structure(state) == jax.tree.structure(tx.init(params))
        outputs.append((out, p))
    chex.assert_trees_all_close(outputs[0], outputs[1], rtol=1e-6, atol=1e-7)


def test_vmap_over_a_batch_of_params_equals_separate_runs():
    batch = jax.tree.map(lambda *x: jnp.stack(x), make_tree(0), make_tree(1), make_tree(2))
    bad = jnp.array([False, True, False])  # member 1 gets a NaN on every step but the last
    for tx in (
        wrappers.apply_if_finite(gradlab.adam(1e-2), 5),
        wrappers.multi_steps(gradlab.adam(1e-2), 2),
    ):

        def run(params, bad):
            def step(i, carry):
                params, state = carry
                grads = corrupt(grad_fn(params), jnp.where(bad & (i < 3), 1, -1), NAN)
                u, state = tx.update(grads, state, params)
                return gradlab.apply_updates(params, u), state

            return jax.lax.fori_loop(0, 4, step, (params, tx.init(params)))

        got, run_one = jax.jit(jax.vmap(run))(batch, bad), jax.jit(run)
        for m in range(3):
            want = run_one(jax.tree.map(lambda x: x[m], batch), bad[m])
            chex.assert_trees_all_close(jax.tree.map(lambda x: x[m], got), want, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "build,message",
    [
        (
            lambda: wrappers.apply_if_finite(gradlab.adam(1e-3), -1),
            "must be an int >= 0, got int -1",
        ),
        (lambda: wrappers.apply_if_finite(gradlab.adam(1e-3), 2.5), "must be an int >= 0"),
        (lambda: wrappers.apply_if_finite(gradlab.adam(1e-3), True), "must be an int >= 0"),
        (lambda: wrappers.multi_steps(gradlab.adam(1e-3), 0), "must be an int >= 1, got int 0"),
        (lambda: wrappers.multi_steps(gradlab.adam(1e-3), 1.5), "every_k_schedule=4"),
    ],
)
def test_bad_constructor_arguments_raise(build, message):
    with pytest.raises(ValueError, match=r"^(apply_if_finite|multi_steps): .*" + message):
        build()


def test_traced_max_consecutive_errors_is_not_checked_and_works():
    @jax.jit
    def first_update(max_errors, grads):
        tx = wrappers.apply_if_finite(gradlab.sgd(1.0), max_errors)
        return tx.update(grads, tx.init(grads))[0]

    grads = jnp.array([1.0, NAN])
    chex.assert_trees_all_equal(first_update(1, grads), jnp.zeros(2))  # skipped
    np.testing.assert_array_equal(first_update(0, grads), -grads)  # limit 0: goes through


def test_non_numeric_argument_raises_type_error():
    with pytest.raises(TypeError, match="max_consecutive_errors must be an int >= 0, got str"):
        wrappers.apply_if_finite(gradlab.adam(1e-3), "3")


def test_multi_steps_structure_mismatch_names_both_trees():
    tx = wrappers.multi_steps(gradlab.sgd(0.1), 2)
    with pytest.raises(ValueError, match="multi_steps: the tree structure of the updates"):
        tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2), "b": jnp.ones(1)}))


# ---------------------------------------------------------------------------------------------
# Interop: nnx.Optimizer, optax.chain


class _MLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(3, 16, rngs=rngs)
        self.out = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.hidden(x)))


@pytest.mark.parametrize(
    "make_tx",
    [
        pytest.param(lambda: wrappers.apply_if_finite(gradlab.adam(1e-2), 3), id="apply_if_finite"),
        pytest.param(  # drops NaN micro-batches, as optax's skip_not_finite
            lambda: wrappers.apply_if_finite(wrappers.multi_steps(gradlab.adam(2e-2), 2), 3),
            id="multi_steps",
        ),
    ],
)
def test_nnx_optimizer_trains_and_skips_nan_steps(make_tx):
    x = jax.random.normal(jax.random.key(0), (64, 3))
    y = jnp.sin(x @ jnp.array([1.0, -2.0, 0.5]))[:, None]
    model = _MLP(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, make_tx(), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, poison):
        loss_fn = lambda m: jnp.mean((m(x) - y) ** 2)  # noqa: E731
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        grads = jax.tree.map(lambda g: jnp.where(poison, NAN, g), grads)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer, jnp.array(i % 10 == 5))) for i in range(60)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])
    assert int(optimizer.opt_state.total_notfinite[...]) == 6
    for i in range(5, 55, 10):  # a poisoned step leaves the model as it was
        assert losses[i + 1] == losses[i], i


def test_apply_if_finite_inside_optax_chain_matches_optax():
    params = make_tree(0)
    ours = optax.chain(
        optax.clip_by_global_norm(1.0), wrappers.apply_if_finite(gradlab.adam(1e-2), 3)
    )
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.apply_if_finite(optax.adam(1e-2), 3))
    values = [0.0, NAN, 0.0, 0.0, INF, 0.0]
    got, _ = train(ours, params, values, [i if v else -1 for i, v in enumerate(values)])
    want, _ = train(ref, params, values, [i if v else -1 for i, v in enumerate(values)])
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-7)


def test_multi_steps_inside_optax_chain_matches_optax():
    params = make_tree(0)
    ours = optax.chain(optax.scale(2.0), wrappers.multi_steps(gradlab.adam(1e-2), 3))
    ref = optax.chain(optax.scale(2.0), optax.MultiSteps(optax.adam(1e-2), 3))
    got, _ = train(ours, params, np.zeros(9), np.full(9, -1))
    want, _ = train(ref, params, np.zeros(9), np.full(9, -1))
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-7)

"""Conditional application: conditionally_transform / conditionally_mask, selective_transform,
and MultiSteps' should_skip_update_fn with optax's skip functions.

Oracles: optax's functions of the same names on the same inputs (float32, rtol 1e-5), and the
closed forms (the inner step count advances only on the selected steps; a skipped micro-batch
leaves the state as if it had never been seen).
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from gradlab.transforms import conditionality, wrappers

VARIANTS = [pytest.param(jax.jit, id="jit"), pytest.param(lambda f: f, id="nojit")]
NAN = float("nan")


def small_tree(seed=0):
    rng = np.random.default_rng(seed)
    arr = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    return {"w": arr(3, 2), "v": [arr(4)], "s": arr()}


GRADS = [jax.tree.map(lambda x, i=i: (1.0 + i) * x, small_tree(i + 1)) for i in range(6)]


def inject_count(state):
    """The step count of the one gradlab InjectState inside ``state``."""
    is_inject = lambda x: isinstance(x, gradlab.InjectState)  # noqa: E731
    (inject,) = [x for x in jax.tree.leaves(state, is_leaf=is_inject) if is_inject(x)]
    return int(inject.count)


# ---------------------------------------------------------------------------------------------
# conditionally_transform, conditionally_mask

CONDITIONALS = [
    pytest.param("conditionally_transform", id="transform"),
    pytest.param("conditionally_mask", id="mask"),
]


@pytest.mark.parametrize("wrap", VARIANTS)
@pytest.mark.parametrize("name", CONDITIONALS)
def test_conditional_matches_optax_and_runs_inner_only_when_selected(name, wrap):
    params = small_tree(0)
    condition = lambda step: (step % 3) != 1  # noqa: E731
    tx = getattr(conditionality, name)(gradlab.adam(0.1), condition)
    ref = getattr(optax, name)(optax.adam(0.1), condition)
    s, r = tx.init(params), ref.init(params)
    assert s._fields == r._fields
    runs = 0
    for step, g in enumerate(GRADS if wrap is jax.jit else GRADS[:4]):  # eager is slow
        u, s = wrap(tx.update)(g, s, params)
        v, r = ref.update(g, r, params)
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        runs += bool(condition(step))
        assert int(s.step) == int(r.step) == step + 1
        assert inject_count(s.inner_state) == int(r.inner_state[0].count) == runs
        if not condition(step):
            want = g if name == "conditionally_transform" else jax.tree.map(jnp.zeros_like, g)
            chex.assert_trees_all_equal(u, want)


@pytest.mark.parametrize("name", CONDITIONALS)
def test_extra_args_reach_inner_always_and_the_condition_only_when_asked(name):
    def update(updates, state, params=None, *, value, **extra_args):
        return jax.tree.map(lambda g: g * value, updates), state

    inner = gradlab.GradientTransformationExtraArgs(lambda p: gradlab.EmptyState(), update)
    build, ref_build = getattr(conditionality, name), getattr(optax, name)
    by_value = lambda step, value, **kw: value > 1.0  # noqa: E731
    params = small_tree(0)
    for forward, condition in [(True, by_value), (False, lambda step: step >= 0)]:
        tx = build(inner, condition, forward_extra_args=forward)
        ref = ref_build(inner, condition, forward_extra_args=forward)
        s, r = tx.init(params), ref.init(params)
        for value in (2.0, 0.5):
            u, s = jax.jit(tx.update)(GRADS[0], s, params, value=jnp.asarray(value))
            v, r = ref.update(GRADS[0], r, params, value=jnp.asarray(value))
            chex.assert_trees_all_close(u, v, rtol=1e-6)
    assert isinstance(tx, gradlab.GradientTransformationExtraArgs)
    inside = gradlab.chain(tx)  # and through a chain
    u, _ = inside.update(GRADS[0], inside.init(params), value=3.0)
    chex.assert_trees_all_close(u, jax.tree.map(lambda g: 3 * g, GRADS[0]), rtol=1e-6)


def test_conditionals_keep_dtypes_and_none_leaves():
    params = {"w": jnp.zeros(3, jnp.bfloat16), "none": None}
    g = {"w": jnp.array([1.0, -2.0, 3.0], jnp.bfloat16), "none": None}
    for build in (conditionality.conditionally_transform, conditionality.conditionally_mask):
        tx = build(gradlab.adam(0.1), lambda step: step == 1)
        state = tx.init(params)
        for _ in range(3):
            u, state = jax.jit(tx.update)(g, state, params)
            assert u["w"].dtype == jnp.bfloat16 and u["none"] is None


def test_condition_must_be_a_scalar_and_arguments_are_checked():
    tx = conditionality.conditionally_mask(gradlab.sgd(0.1), lambda step: jnp.ones(2) > 0)
    with pytest.raises(ValueError, match="conditionally_mask: should_transform_fn must return a"):
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    with pytest.raises(TypeError, match="conditionally_transform: should_transform_fn must be"):
        conditionality.conditionally_transform(gradlab.sgd(0.1), 3)
    with pytest.raises(TypeError, match="conditionally_mask: inner must be a GradientTransform"):
        conditionality.conditionally_mask("adam", lambda step: True)


# ---------------------------------------------------------------------------------------------
# selective_transform


@pytest.mark.parametrize(
    "freeze_mask",
    [
        pytest.param({"w": True, "v": [False], "s": False}, id="tree"),
        pytest.param({"w": False, "v": True, "s": True}, id="prefix"),
        pytest.param(True, id="all"),
        pytest.param(False, id="none"),
    ],
)
def test_selective_transform_matches_optax(freeze_mask):
    params = small_tree(0)
    tx = conditionality.selective_transform(gradlab.adam(0.1), freeze_mask=freeze_mask)
    ref = optax.selective_transform(optax.adam(0.1), freeze_mask=freeze_mask)
    s, r = tx.init(params), ref.init(params)
    assert set(s.inner_states) == set(r.inner_states) == {"train", "freeze"}
    frozen = jax.tree.map(lambda m, sub: jax.tree.map(lambda _: m, sub), freeze_mask, params)
    for g in GRADS[:3]:
        u, s = jax.jit(tx.update)(g, s, params)
        v, r = ref.update(g, r, params)
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        zero = jax.tree.map(lambda x, f: not f or bool(jnp.all(x == 0)), u, frozen)
        assert all(jax.tree.leaves(zero))


def test_selective_transform_needs_a_transformation_and_keeps_extra_args():
    with pytest.raises(TypeError, match="selective_transform: optimizer must be"):
        conditionality.selective_transform(None, freeze_mask=True)
    tx = conditionality.selective_transform(gradlab.sgd(0.1), freeze_mask={"a": True, "b": False})
    assert isinstance(tx, gradlab.GradientTransformationExtraArgs)


# ---------------------------------------------------------------------------------------------
# MultiSteps: should_skip_update_fn, skip_not_finite, skip_large_updates


def poisoned(i):
    """Micro-batch ``i``'s gradient; batches 1 and 4 hold a NaN, batch 6 is huge."""
    g = jax.tree.map(lambda x: x / (1.0 + i), GRADS[i % len(GRADS)])
    if i in (1, 4):
        g = {**g, "s": jnp.asarray(NAN)}
    if i == 6:
        g = jax.tree.map(lambda x: 1e3 * x, g)
    return g


SKIPS = [
    pytest.param(wrappers.skip_not_finite, optax.skip_not_finite, id="not_finite"),
    pytest.param(
        functools.partial(wrappers.skip_large_updates, max_squared_norm=100.0),
        functools.partial(optax.skip_large_updates, max_squared_norm=100.0),
        id="large",
    ),
]


@pytest.mark.parametrize("skip_fn,ref_skip_fn", SKIPS)
def test_multi_steps_skips_micro_batches_like_optax(skip_fn, ref_skip_fn):
    params = small_tree(0)
    # optax's argument order: (opt, every_k_schedule, use_grad_mean, should_skip_update_fn)
    opt = wrappers.MultiSteps(gradlab.adam(0.1), 2, True, skip_fn)
    ref = optax.MultiSteps(optax.adam(0.1), 2, True, ref_skip_fn)
    s, r = opt.init(params), ref.init(params)
    chex.assert_trees_all_equal(s.skip_state, r.skip_state)
    update, ref_update = jax.jit(opt.update), jax.jit(ref.update)
    skipped = 0
    for i in range(9):
        u, s = update(poisoned(i), s, params)
        v, r = ref_update(poisoned(i), r, params)
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        for field in ("mini_step", "gradient_step"):
            assert int(getattr(s, field)) == int(getattr(r, field)), (i, field)
        chex.assert_trees_all_close(s.skip_state, r.skip_state, rtol=1e-6)
        chex.assert_trees_all_close(s.acc_grads, r.acc_grads, rtol=1e-5, atol=1e-7)
        skipped += bool(s.skip_state["should_skip"])
        assert bool(opt.has_updated(s)) == bool(ref.has_updated(r))
    assert skipped >= 2  # the NaN batches (and the huge one, for the norm test)
    assert s.inner_opt_state is s.inner_state  # optax's field name reads the same state
    assert inject_count(s.inner_opt_state) == int(s.gradient_step) == int(r.gradient_step)


def test_a_skipped_micro_batch_is_as_if_it_never_happened():
    params = small_tree(0)
    tx = wrappers.multi_steps(gradlab.sgd(0.1), 3, should_skip_update_fn=wrappers.skip_not_finite)
    plain = wrappers.multi_steps(gradlab.sgd(0.1), 3)
    s, p = tx.init(params), plain.init(params)
    for i in range(8):
        u, s = jax.jit(tx.update)(poisoned(i), s, params)
        if i not in (1, 4):
            v, p = jax.jit(plain.update)(poisoned(i), p, params)
            chex.assert_trees_all_close(u, v, rtol=1e-6)
        else:
            chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, params))
            assert int(s.skip_state["num_not_finite"]) == 1
    chex.assert_trees_all_equal(s._replace(skip_state=()), p)


def test_skip_functions_match_optax():
    for i in (0, 1, 6):
        g = poisoned(i)
        for ours, ref in [
            (wrappers.skip_not_finite, optax.skip_not_finite),
            (
                functools.partial(wrappers.skip_large_updates, max_squared_norm=50.0),
                functools.partial(optax.skip_large_updates, max_squared_norm=50.0),
            ),
        ]:
            (a, info), (b, ref_info) = ours(g, 0, None), ref(g, 0, None)
            assert bool(a) == bool(b) and a.dtype == jnp.bool_ and a.shape == ()
            assert set(info) == set(ref_info)
            chex.assert_trees_all_close(info, ref_info, rtol=1e-6)


def test_should_skip_must_return_a_bool_scalar_and_be_callable():
    bad = wrappers.multi_steps(gradlab.sgd(0.1), 2, should_skip_update_fn=lambda g, s, p: (1, {}))
    with pytest.raises(ValueError, match="should_skip_update_fn must return a bool scalar"):
        bad.init(jnp.zeros(2))
    with pytest.raises(TypeError, match="multi_steps: should_skip_update_fn must be callable"):
        wrappers.multi_steps(gradlab.sgd(0.1), 2, should_skip_update_fn="skip")


def test_without_a_skip_function_the_state_is_unchanged_from_before():
    s = wrappers.multi_steps(gradlab.sgd(0.1), 2).init(small_tree(0))
    assert s.skip_state == () and s._fields[-1] == "skip_state"
    assert s._fields == optax.MultiSteps(optax.sgd(0.1), 2).init(small_tree(0))._fields[:2] + (
        "inner_state",
        "acc_grads",
        "skip_state",
    )

"""The contracts every optimizer is written against: declared hyperparameters and their nesting,
static arguments, jit/eager agreement, and no-op hyperparameters that cost nothing."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from tests.test_optimizers import LEARNING_RATE, ROW_IDS, ROWS, loss


def make_tree(seed=0, dtype=jnp.float32):
    """A small mixed pytree (dict, list, scalar): cheap to compile for many optimizers."""
    rng = np.random.default_rng(seed)
    arr = lambda *shape: jnp.asarray(rng.normal(size=shape), dtype)  # noqa: E731
    return {"w": arr(3, 2), "v": [arr(4)], "s": arr()}


def static_args(kwargs):
    return ("mask",) if "mask" in kwargs else ()


# Three ways to put a gradlab alias under an outer injection, each compared with optax's own alias
# under optax's injection.
NESTINGS = {
    "optax_outer": lambda name, kwargs: optax.inject_hyperparams(
        getattr(gradlab, name), static_args=static_args(kwargs)
    ),
    "gradlab_outer": lambda name, kwargs: gradlab.inject_hyperparams(
        getattr(gradlab, name), static_args=static_args(kwargs)
    ),
    "gradlab_chain": lambda name, kwargs: gradlab.inject_hyperparams(
        lambda learning_rate: gradlab.chain(getattr(gradlab, name)(learning_rate, **kwargs))
    ),
}


def build_nested(nesting, name, kwargs, learning_rate):
    factory = NESTINGS[nesting](name, kwargs)
    if nesting == "gradlab_chain":
        return factory(learning_rate)
    return factory(learning_rate, **kwargs)


def reference(name, kwargs, learning_rate):
    factory = optax.inject_hyperparams(getattr(optax, name), static_args=static_args(kwargs))
    return factory(learning_rate, **kwargs)


def run(tx, params, targets, steps, state=None):
    """``steps`` steps of ``tx`` on ``loss`` in one jitted scan; the params, state and updates."""

    def step(carry, _):
        p, s = carry
        u, s = tx.update(jax.grad(loss)(p, targets), s, p)
        return (optax.apply_updates(p, u), s), u

    state = tx.init(params) if state is None else state
    (params, state), updates = jax.jit(lambda c: jax.lax.scan(step, c, None, length=steps))(
        (params, state)
    )
    return params, state, updates


# Every row under optax's injection; the defaults row of each alias under the other nestings.
FIRST_ROWS = {name: (name, kwargs) for name, kwargs in reversed(ROWS)}
NESTED_CASES = [
    pytest.param(name, kwargs, nesting, id=f"{row_id}-{nesting}")
    for (name, kwargs), row_id in zip(ROWS, ROW_IDS, strict=True)
    for nesting in sorted(NESTINGS)
    if nesting == "optax_outer" or row_id.endswith("-0")
]


@pytest.mark.parametrize("name,kwargs,nesting", NESTED_CASES)
def test_nested_alias_follows_the_outer_schedule_and_set_value(name, kwargs, nesting, x64):
    params, targets = make_tree(0, jnp.float64), make_tree(1, jnp.float64)
    lr = LEARNING_RATE.get(name, 0.01)
    schedule = lambda t: lr / (1.0 + 0.5 * t)  # noqa: E731
    ours, ref = build_nested(nesting, name, kwargs, schedule), reference(name, kwargs, schedule)
    p, _, us = run(ours, params, targets, 6)
    q, _, vs = run(ref, params, targets, 6)
    chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-13)
    chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-13)

    # A constant rate, run 3 steps, then set to 0 (optax: the documented dict assignment).
    ours, ref = build_nested(nesting, name, kwargs, lr), reference(name, kwargs, lr)
    p, s, _ = run(ours, params, targets, 3)
    q, r, _ = run(ref, params, targets, 3)
    s = gradlab.set_hyperparams(s, learning_rate=0.0)
    r.hyperparams["learning_rate"] = jnp.asarray(0.0, jnp.float64)
    _, s, u = run(ours, p, targets, 1, s)
    _, r, v = run(ref, q, targets, 1, r)
    chex.assert_trees_all_close(u, v, rtol=1e-10, atol=1e-13)
    if "momentum" not in kwargs:  # with momentum, the velocity still moves the params
        chex.assert_trees_all_equal(u, jax.tree.map(jnp.zeros_like, u))
    assert float(gradlab.hyperparams(s)["learning_rate"]) == 0.0


# Every alias's defaults through optax's injection and built with a traced rate; the two gradlab
# nestings for three aliases (their plumbing is shared by all).
META_CASES = [
    pytest.param(*FIRST_ROWS[name], nesting, id=f"{name}-{nesting}")
    for name in FIRST_ROWS
    for nesting in ("optax_outer", "direct", "gradlab_outer", "gradlab_chain")
    if nesting in ("optax_outer", "direct") or name in ("sgd", "adam", "rmsprop")
]


@pytest.mark.parametrize("name,kwargs,nesting", META_CASES)
def test_meta_gradient_with_respect_to_the_learning_rate(name, kwargs, nesting, x64):
    params, targets = make_tree(0, jnp.float64), make_tree(1, jnp.float64)
    lr = LEARNING_RATE.get(name, 0.01)

    def final_loss(make, set_lr, rate):
        tx = make(rate)
        p, s, _ = run_traced(tx, set_lr(tx.init(params), rate), params, targets)
        return loss(p, targets)

    def optax_set(state, rate):
        state.hyperparams["learning_rate"] = rate
        return state

    if nesting == "direct":  # the alias built with a traced rate uses it as given
        make = lambda rate: getattr(gradlab, name)(rate, **kwargs)  # noqa: E731
        ref_make = lambda rate: getattr(optax, name)(rate, **kwargs)  # noqa: E731
        ours = jax.grad(lambda a: final_loss(make, lambda s, _: s, a))(lr)
        want = jax.grad(lambda a: final_loss(ref_make, lambda s, _: s, a))(lr)
    else:
        make = lambda rate: build_nested(nesting, name, kwargs, lr)  # noqa: E731
        ref_make = lambda rate: reference(name, kwargs, lr)  # noqa: E731
        gradlab_set = lambda s, rate: gradlab.set_hyperparams(s, learning_rate=rate)  # noqa: E731
        ours = jax.grad(lambda a: final_loss(make, gradlab_set, a))(lr)
        want = jax.grad(lambda a: final_loss(ref_make, optax_set, a))(lr)
    assert np.isfinite(want) and abs(float(want)) > 0
    np.testing.assert_allclose(ours, want, rtol=1e-9)


def run_traced(tx, state, params, targets, steps=4):
    for _ in range(steps):
        u, state = tx.update(jax.grad(loss)(params, targets), state, params)
        params = optax.apply_updates(params, u)
    return params, state, None


# ---------------------------------------------------------------------------------------------
# What stays static


def test_int_tuple_and_non_schedule_callable_arguments_stay_static():
    seen = {}

    @gradlab.declare_hyperparams("learning_rate")
    def factory(learning_rate, memory_size=5, coefficients=(0.9, 0.99), clip_fn=jnp.tanh):
        seen.update(memory_size=memory_size, coefficients=coefficients, clip_fn=clip_fn)
        assert isinstance(memory_size, int)
        return gradlab.chain(
            gradlab.stateless(lambda g, p: jax.tree.map(clip_fn, g)),
            gradlab.scale(coefficients[0]),
            gradlab.scale_by_learning_rate(learning_rate),
        )

    tx = gradlab.inject_hyperparams(factory)(0.5, memory_size=3, coefficients=(0.5, 0.2))
    state = tx.init(jnp.zeros(2))
    assert sorted(gradlab.hyperparams(state)) == ["learning_rate"]
    u, _ = jax.jit(tx.update)(jnp.array([10.0, -10.0]), state)
    np.testing.assert_allclose(u, -0.5 * 0.5 * np.tanh([10.0, -10.0]), rtol=1e-6)
    assert seen["clip_fn"] is jnp.tanh and seen["memory_size"] == 3


def test_undeclared_factory_reads_floats_and_callables_like_optax_with_static_args():
    def factory(learning_rate, steps=3, fn=jnp.tanh):
        assert isinstance(steps, int)
        return gradlab.chain(
            gradlab.stateless(lambda g, p: jax.tree.map(fn, g)),
            gradlab.scale_by_learning_rate(learning_rate),
        )

    tx = gradlab.inject_hyperparams(factory, static_args="fn")(0.1)
    assert sorted(gradlab.hyperparams(tx.init(jnp.zeros(1)))) == ["learning_rate"]
    with pytest.raises(ValueError, match=r"static_args names \['nope'\]"):
        gradlab.inject_hyperparams(factory, static_args=("nope",))


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adamw", "amsgrad", "adadelta", "adam"])
def test_alias_bools_dtypes_masks_are_not_hyperparameters(name):
    kwargs = {
        "sgd": {"momentum": 0.9, "nesterov": True, "accumulator_dtype": jnp.float32},
        "rmsprop": {"centered": True, "eps_in_sqrt": False},
        "adamw": {"mask": lambda p: jax.tree.map(lambda x: x.ndim > 0, p), "nesterov": True},
        "amsgrad": {"bias_correction_mu": False, "mu_dtype": jnp.float32},
        "adadelta": {"weight_decay_mask": {"w": True}},
        "adam": {"nu_dtype": jnp.float32},
    }[name]
    tx = getattr(gradlab, name)(0.1, **kwargs)
    names = set(gradlab.hyperparams(tx.init({"w": jnp.ones(2)})))
    declared = set(getattr(gradlab, name).hyperparam_names)
    assert names <= declared
    assert not names & (set(kwargs) - declared)  # bools, dtypes and masks stay static


# ---------------------------------------------------------------------------------------------
# jit agrees with eager, with and without params


def outcome(fn):
    try:
        return jax.tree.map(np.asarray, fn())
    except Exception as e:  # noqa: BLE001 - the type of the failure is what is compared
        return type(e)


# Each alias's defaults, plus every row with a (live) weight decay, which reads the params.
AGREEMENT_ROWS = [
    pytest.param(name, kwargs, id=row_id)
    for (name, kwargs), row_id in zip(ROWS, ROW_IDS, strict=True)
    if row_id.endswith("-0") or kwargs.get("weight_decay")
]


@pytest.mark.parametrize("with_params", [True, False], ids=["params", "no_params"])
@pytest.mark.parametrize("name,kwargs", AGREEMENT_ROWS)
def test_jit_and_eager_agree(name, kwargs, with_params):
    params = make_tree(0)
    grads = jax.tree.map(jnp.sin, params)
    p = params if with_params else None
    results = {}
    for lib in (gradlab, optax):
        tx = getattr(lib, name)(LEARNING_RATE.get(name, 0.01), **kwargs)
        state = tx.init(params)
        eager = outcome(lambda tx=tx, state=state: tx.update(grads, state, p)[0])
        jitted = outcome(lambda tx=tx, state=state: jax.jit(tx.update)(grads, state, p)[0])
        results[lib.__name__] = (eager, jitted)
    eager, jitted = results["gradlab"]
    optax_agrees = type(results["optax"][0]) is type(results["optax"][1])
    if optax_agrees or isinstance(eager, type) or isinstance(jitted, type):
        assert type(eager) is type(jitted), (eager, jitted)
    if isinstance(eager, type):
        assert eager is ValueError  # a clear "needs params" error, raised the same way
    else:
        chex.assert_trees_all_close(eager, jitted, rtol=1e-6, atol=1e-7)
    defaults = inspect.signature(getattr(gradlab, name)).parameters
    decay = kwargs.get("weight_decay", getattr(defaults.get("weight_decay"), "default", 0.0))
    if with_params or decay == 0:
        assert not isinstance(eager, type), eager  # only a live weight decay needs params


def test_zero_weight_decay_needs_no_params_under_jit():
    tx = gradlab.adamw(1e-3, weight_decay=0)
    params = make_tree(0)
    u, _ = jax.jit(tx.update)(params, tx.init(params))  # no params: the term is compiled away
    ref, _ = gradlab.adam(1e-3).update(params, gradlab.adam(1e-3).init(params))
    chex.assert_trees_all_close(u, ref)


# ---------------------------------------------------------------------------------------------
# A hyperparameter at its no-op value costs nothing


def bytes_accessed(tx, params):
    compiled = jax.jit(tx.update).lower(params, tx.init(params), params).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return cost["bytes accessed"]


WITHOUT_THE_TERM = [
    ("adamw_wd0", lambda: gradlab.adamw(1e-3, weight_decay=0.0), lambda: gradlab.adam(1e-3)),
    (
        "adadelta_wd0",
        lambda: gradlab.adadelta(weight_decay=0.0),
        lambda: gradlab.inject_hyperparams(
            lambda rho, eps: gradlab.chain(
                gradlab.scale_by_adadelta(rho, eps),
                gradlab.scale_by_learning_rate(1.0),  # adadelta's default learning_rate=None
            )
        )(0.9, 1e-6),
    ),
    ("sgd_momentum0", lambda: gradlab.sgd(0.1, momentum=0.0), lambda: gradlab.sgd(0.1)),
    ("rmsprop_momentum0", lambda: gradlab.rmsprop(0.1, momentum=0), lambda: gradlab.rmsprop(0.1)),
    ("adam_eps_root0", lambda: gradlab.adam(1e-3, eps_root=0.0), lambda: gradlab.adam(1e-3)),
]


@pytest.mark.parametrize(
    "make,make_without", [r[1:] for r in WITHOUT_THE_TERM], ids=[r[0] for r in WITHOUT_THE_TERM]
)
def test_a_python_zero_adds_no_bytes_to_the_compiled_step(make, make_without):
    params = {"w": jnp.ones((256, 64)), "b": jnp.ones(64)}
    assert bytes_accessed(make(), params) == bytes_accessed(make_without(), params)


def test_an_array_zero_keeps_the_term_and_an_outer_injection_keeps_it_settable():
    params = {"w": jnp.ones((256, 64))}
    base = bytes_accessed(gradlab.adam(1e-3), params)
    assert bytes_accessed(gradlab.adamw(1e-3, weight_decay=jnp.asarray(0.0)), params) > base
    outer = gradlab.inject_hyperparams(gradlab.adamw)(0.1, weight_decay=0.0)
    state = gradlab.set_hyperparams(outer.init(params), weight_decay=0.5)
    grads = jax.tree.map(jnp.zeros_like, params)
    u, _ = outer.update(grads, state, params)
    chex.assert_trees_all_close(u["w"], -0.1 * 0.5 * params["w"], rtol=1e-6)
    with pytest.raises(ValueError, match="compiled away"):
        gradlab.set_hyperparams(gradlab.adamw(0.1, weight_decay=0.0).init(params), weight_decay=1.0)


# ---------------------------------------------------------------------------------------------
# hyperparams / set_hyperparams on nested and grouped states


def test_nested_values_are_reported_once_from_their_owner():
    tx = gradlab.inject_hyperparams(
        lambda lr: gradlab.chain(gradlab.trace(0.5), gradlab.adam(lr, b1=0.8))
    )(0.1)
    hp = gradlab.hyperparams(tx.init(jnp.zeros(2)))
    assert set(hp) == {"lr", "b1", "b2", "eps"}  # the inner learning_rate is the outer's lr
    with pytest.raises(ValueError, match="given as an array"):
        gradlab.set_hyperparams(tx.init(jnp.zeros(2)), learning_rate=0.3)


def test_param_groups_report_and_set_per_group():
    tx = gradlab.param_groups(
        [("bias", gradlab.sgd(0.1)), ("kernel", gradlab.adam(0.01))], default="freeze"
    )
    params = {"kernel": jnp.ones(2), "bias": jnp.ones(1)}
    state = tx.init(params)
    hp = gradlab.hyperparams(state)
    assert float(hp["bias"]["learning_rate"]) == pytest.approx(0.1)
    assert float(hp["kernel"]["learning_rate"]) == pytest.approx(0.01)
    every = gradlab.hyperparams(gradlab.set_hyperparams(state, learning_rate=0.5))
    assert float(every["bias"]["learning_rate"]) == float(every["kernel"]["learning_rate"]) == 0.5
    one = gradlab.hyperparams(gradlab.set_hyperparams(state, group="kernel", learning_rate=0.5))
    assert float(one["bias"]["learning_rate"]) == pytest.approx(0.1)
    assert float(one["kernel"]["learning_rate"]) == 0.5
    with pytest.raises(ValueError, match="no group 'nope'"):
        gradlab.set_hyperparams(state, group="nope", learning_rate=0.5)


def test_two_owners_of_one_name_are_refused_not_picked():
    tx = gradlab.chain(gradlab.adam(0.1), gradlab.sgd(0.2))
    state = tx.init(jnp.zeros(2))
    with pytest.raises(ValueError, match="two optimizers"):
        gradlab.hyperparams(state)
    with pytest.raises(ValueError, match="two optimizers"):
        gradlab.set_hyperparams(state, learning_rate=0.3)
    assert float(gradlab.hyperparams(state[1])["learning_rate"]) == pytest.approx(0.2)


def test_setting_a_scheduled_value_is_refused():
    state = gradlab.adam(lambda t: 0.1).init(jnp.zeros(2))
    with pytest.raises(ValueError, match="driven by a schedule"):
        gradlab.set_hyperparams(state, learning_rate=0.3)
    ref = optax.inject_hyperparams(gradlab.adam)(lambda t: 0.1)
    with pytest.raises(ValueError, match="driven by a schedule"):
        gradlab.set_hyperparams(ref.init(jnp.zeros(2)), learning_rate=0.3)


@pytest.mark.parametrize(
    "values,error,match",
    [
        ({"b1": 1.5}, ValueError, r"b1 must be in \[0, 1\)"),
        ({"eps": -1.0}, ValueError, "eps must be a finite number >= 0"),
        ({"learning_rate": float("inf")}, ValueError, "learning_rate must be a finite"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a number"),
        ({"b2": True}, TypeError, "b2 must be a number"),
    ],
)
def test_set_hyperparams_validates_like_the_constructor(values, error, match):
    state = gradlab.adam(0.1).init(jnp.zeros(2))
    with pytest.raises(error, match=match):
        gradlab.set_hyperparams(state, **values)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: gradlab.adam(float("inf")), "learning_rate must be a finite"),
        (lambda: gradlab.sgd(0.1, momentum=float("nan")), r"momentum must be in \[0, 1\)"),
        (lambda: gradlab.scale(float("inf")), "step_size must be a finite"),
        (lambda: gradlab.adamw(0.1, weight_decay=float("inf")), "weight_decay must be a finite"),
    ],
)
def test_infinite_hyperparameters_are_refused(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_a_state_of_the_wrong_kind_names_both_types():
    tx = gradlab.adam(0.1)
    with pytest.raises(TypeError, match="expected the InjectState.*got tuple"):
        tx.update(jnp.zeros(2), (), None)


def test_each_argument_check_runs_at_construction_only(monkeypatch):
    from gradlab.core.validation import arguments as validation

    calls = []
    original = validation.check_number

    def counting(fn, arg, value, example):
        if not validation.ARGUMENTS_CHECKED.get():
            calls.append((fn, arg))
        return original(fn, arg, value, example)

    monkeypatch.setattr(validation, "check_number", counting)
    tx = gradlab.adamw(0.1, weight_decay=1e-2)
    at_construction = len(calls)
    assert ("adamw", "b1") in calls and at_construction > 0
    params = make_tree(0)
    state = tx.init(params)
    for _ in range(2):
        _, state = tx.update(params, state, params)
    assert len(calls) == at_construction  # init and update rebuild from checked values
    with pytest.raises(ValueError, match="b1 must be in"):
        gradlab.adamw(0.1, b1=2.0)

"""Each primitive against its formula in numpy, against optax where optax has it, and its errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab

RNG = np.random.default_rng(0)
GRADS = [RNG.normal(size=(3, 2)) * s for s in (1.0, 0.5, 2.0, 0.1, 3.0)]  # decaying and spiking
PARAMS = RNG.normal(size=(3, 2))


def run(tx, grads=GRADS, params=PARAMS):
    """The outputs of ``tx`` over the gradient sequence, as float64 numpy arrays."""
    state, out = tx.init(jnp.asarray(params)), []
    for g in grads:
        u, state = tx.update(jnp.asarray(g), state, jnp.asarray(params))
        out.append(np.asarray(u, np.float64))
    return out


def ema_np(grads, decay, order=1, init=0.0):
    m, out = np.full_like(grads[0], init), []
    for g in grads:
        m = decay * m + (1 - decay) * g**order
        out.append(m)
    return out


def debias_np(values, decay):
    return [v / (1 - decay**t) for t, v in enumerate(values, start=1)]


def formula_cases():
    b = 0.8
    m, v = ema_np(GRADS, b), ema_np(GRADS, b, 2)
    sumsq = np.cumsum(np.square(GRADS), axis=0) + 0.1
    u, umax, mom, ex = np.zeros_like(PARAMS), [], np.zeros_like(PARAMS), np.zeros_like(PARAMS)
    heavy, nest, adadelta = [], [], []
    for g in GRADS:
        u = np.maximum(b * u, np.abs(g) + 1e-3)
        umax.append(u)
        _mom_prev, mom = mom, g + b * mom
        heavy.append(mom)
        nest.append(g + b * mom)
    eg = np.zeros_like(PARAMS)
    for g in GRADS:
        eg = b * eg + (1 - b) * g * g
        d = np.sqrt(ex + 1e-3) / np.sqrt(eg + 1e-3) * g
        ex = b * ex + (1 - b) * d * d
        adadelta.append(d)
    vmax = np.maximum.accumulate(debias_np(v, b), axis=0)
    mh, gh = debias_np(m, b), debias_np(GRADS, b)
    nadam = [b * mi / (1 - b ** (t + 1)) + (1 - b) * gi for t, (mi, gi) in enumerate(zip(m, gh), 1)]
    return [
        ("ema1", gradlab.moving_average(b), m),
        (
            "ema2_init",
            gradlab.moving_average(b, order=2, initial_value=0.5),
            ema_np(GRADS, b, 2, 0.5),
        ),
        ("debiased_ema", gradlab.chain(gradlab.moving_average(b), gradlab.bias_correction(b)), mh),
        (
            "amsgrad_max",
            gradlab.chain(
                gradlab.moving_average(b, 2), gradlab.bias_correction(b), gradlab.amsgrad_max()
            ),
            list(vmax),
        ),
        (
            "variance",
            gradlab.moving_variance(b),
            [vi - mi**2 for mi, vi in zip(m, v, strict=False)],
        ),
        ("sum_of_squares", gradlab.sum_of_squares(0.1), list(sumsq)),
        ("max_abs", gradlab.max_abs(b, 1e-3), umax),
        ("heavy_ball", gradlab.scale_by_momentum(b), heavy),
        ("heavy_ball_nesterov", gradlab.scale_by_momentum(b, nesterov=True), nest),
        ("ema_momentum", gradlab.scale_by_momentum(b, form="ema"), m),
        (
            "ema_momentum_debiased",
            gradlab.scale_by_momentum(b, form="ema", bias_correction=True),
            mh,
        ),
        (
            "ema_momentum_nesterov_debiased",
            gradlab.scale_by_momentum(b, True, form="ema", bias_correction=True),
            nadam,
        ),
        (
            "rms_eps_in",
            gradlab.scale_by_rms(b, 0.1),
            [g / np.sqrt(x + 0.1) for g, x in zip(GRADS, v, strict=False)],
        ),
        (
            "rms_eps_out",
            gradlab.scale_by_rms(b, 0.1, eps_in_sqrt=False),
            [g / (np.sqrt(x) + 0.1) for g, x in zip(GRADS, v, strict=False)],
        ),
        (
            "rms_centered_debiased",
            gradlab.scale_by_rms(b, 0.1, bias_correction=True, centered=True),
            [g / np.sqrt(x - y**2 + 0.1) for g, x, y in zip(GRADS, debias_np(v, b), mh)],
        ),
        (
            "sum_of_squares_scale",
            gradlab.scale_by_sum_of_squares(0.1, 0.01),
            list(GRADS / np.sqrt(sumsq + 0.01)),
        ),
        ("max_abs_scale", gradlab.scale_by_max_abs(b, 1e-3), [g / x for g, x in zip(GRADS, umax)]),
        ("adadelta", gradlab.scale_by_adadelta(b, 1e-3), adadelta),
        ("scale", gradlab.scale(-0.3), [-0.3 * g for g in GRADS]),
        (
            "learning_rate_schedule",
            gradlab.scale_by_learning_rate(lambda t: 0.1 / (1.0 + t)),
            [-0.1 / (1 + t) * g for t, g in enumerate(GRADS)],
        ),
        ("decayed_weights", gradlab.add_decayed_weights(0.1), [g + 0.1 * PARAMS for g in GRADS]),
    ]


CASES = formula_cases()


@pytest.mark.parametrize("name,tx,expected", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("wrap", [jax.jit, lambda f: f], ids=["jit", "eager"])
def test_matches_formula(name, tx, expected, wrap, x64):
    tx = gradlab.GradientTransformation(tx.init, wrap(tx.update))
    for t, (got, want) in enumerate(zip(run(tx), expected, strict=True)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"{name} step {t}")


ORACLES = [
    ("trace", gradlab.scale_by_momentum(0.9), optax.trace(0.9)),
    ("trace_nesterov", gradlab.scale_by_momentum(0.9, True), optax.trace(0.9, True)),
    ("ema", gradlab.moving_average(0.9), optax.ema(0.9, debias=False)),
    ("rms", gradlab.scale_by_rms(0.9, 1e-2, 0.5), optax.scale_by_rms(0.9, 1e-2, 0.5)),
    (
        "stddev",
        gradlab.scale_by_rms(0.9, 1e-2, centered=True, bias_correction=True),
        optax.scale_by_stddev(0.9, 1e-2, bias_correction=True),
    ),
    ("rss", gradlab.scale_by_sum_of_squares(0.1, 1e-7), optax.scale_by_rss(0.1, 1e-7)),
    ("adadelta", gradlab.scale_by_adadelta(0.9, 1e-6), optax.scale_by_adadelta(0.9, 1e-6)),
    ("adam", gradlab.adam(1.0), optax.chain(optax.scale_by_adam(), optax.scale(-1.0))),
    ("weight_decay", gradlab.add_decayed_weights(0.3), optax.add_decayed_weights(0.3)),
    (
        "weight_decay_schedule",
        gradlab.add_decayed_weights(lambda t: 0.1 * t),
        optax.add_decayed_weights(lambda t: 0.1 * t),
    ),
]


@pytest.mark.parametrize("name,tx,ref", ORACLES, ids=[o[0] for o in ORACLES])
def test_matches_optax_primitive(name, tx, ref, x64):
    for got, want in zip(run(tx), run(ref), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# Behaviours users rely on


@pytest.mark.parametrize("name,tx,_", CASES, ids=[c[0] for c in CASES])
def test_none_leaves_and_structure_survive(name, tx, _, tree_params):
    grads = jax.tree.map(jnp.ones_like, tree_params)
    state = tx.init(tree_params)
    updates, state = jax.jit(tx.update)(grads, state, tree_params)
    assert updates["none"] is None
    assert jax.tree.structure(updates) == jax.tree.structure(grads)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, grads)
    # init needs only shapes and dtypes
    jax.eval_shape(tx.init, tree_params)


# Statistics of squares of float16 values are kept in float32 (squares above 65504 overflow).
SQUARE_STATISTICS = {"ema2_init", "amsgrad_max", "variance", "sum_of_squares"}


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
@pytest.mark.parametrize("name,tx,_", CASES, ids=[c[0] for c in CASES])
def test_dtype_preserved(name, tx, _, dtype):
    params = jnp.linspace(-1, 1, 6, dtype=dtype).reshape(3, 2)
    wide = jnp.float32 if dtype == jnp.float16 else dtype
    state = tx.init(params)
    for _ in range(2):
        u, state = tx.update(params * 0.5, state, params)
        assert u.dtype == (wide if name in SQUARE_STATISTICS else dtype), name
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (dtype, wide, jnp.int32), (name, leaf.dtype)


def test_float16_second_moment_does_not_overflow():
    """|g| = 1000 squares to 1e6 > 65504: the float16 run must stay finite and match float32."""
    grads = [jnp.full(4, 1000.0 * s) for s in (1.0, -2.0, 0.5, 3.0)]
    results = {}
    for dtype in (jnp.float16, jnp.float32):
        tx = gradlab.adam(1e-2)
        params = jnp.zeros(4, dtype)
        state = tx.init(params)
        for g in grads:
            u, state = tx.update(g.astype(dtype), state, params)
            params = gradlab.apply_updates(params, u)
        assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(state))
        results[dtype] = params
    assert results[jnp.float16].dtype == jnp.float16
    np.testing.assert_allclose(results[jnp.float16], results[jnp.float32], rtol=2e-3)


def test_nu_dtype_keeps_the_second_moment_in_its_own_precision():
    params = jnp.ones(3, jnp.bfloat16)
    tx = gradlab.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.float32)
    u, state = tx.update(params, tx.init(params), params)
    divide_state = state.inner_state[0]
    assert divide_state.branches[0][0].average.dtype == jnp.bfloat16
    assert divide_state.branches[1][0].average.dtype == jnp.float32
    assert u.dtype == jnp.bfloat16


def test_accumulator_dtype_kept_in_state():
    tx = gradlab.scale_by_momentum(0.9, accumulator_dtype=jnp.bfloat16)
    params = jnp.ones(3, jnp.float32)
    u, state = tx.update(params, tx.init(params))
    assert state.mu.dtype == jnp.bfloat16 and u.dtype == jnp.float32


# ---------------------------------------------------------------------------------------------
# Bad input, caught at construction and naming the argument


@pytest.mark.parametrize(
    "build,arg",
    [
        (lambda: gradlab.sgd(-0.1), "learning_rate"),
        (lambda: gradlab.adam(-1e-3), "learning_rate"),
        (lambda: gradlab.scale_by_learning_rate(float("nan")), "learning_rate"),
        (lambda: gradlab.adam(1e-3, b1=1.5), "b1"),
        (lambda: gradlab.adam(1e-3, b2=1.0), "b2"),
        (lambda: gradlab.sgd(0.1, momentum=-0.1), "momentum"),
        (lambda: gradlab.rmsprop(0.1, decay=1.2), "decay"),
        (lambda: gradlab.adadelta(rho=2.0), "rho"),
        (lambda: gradlab.adam(1e-3, eps=-1e-8), "eps"),
        (lambda: gradlab.adam(1e-3, eps_root=-1.0), "eps_root"),
        (lambda: gradlab.rmsprop(0.1, eps=-1.0), "eps"),
        (lambda: gradlab.adagrad(0.1, eps=-1.0), "eps"),
        (lambda: gradlab.adamax(0.1, eps=-1.0), "eps"),
        (lambda: gradlab.adagrad(0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda: gradlab.adamw(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: gradlab.scale_by_momentum(0.9, form="polyak"), "form"),
        (lambda: gradlab.scale_by_momentum(0.9, bias_correction=True), "bias_correction"),
    ],
)
def test_bad_hyperparameters_raise_at_construction(build, arg):
    with pytest.raises(ValueError, match=rf"^\w+: {arg}\b.*(Pass e\.g\. {arg}=|{arg}=)"):
        build()


def test_learning_rate_of_wrong_type():
    with pytest.raises(TypeError, match="learning_rate must be a number or a schedule"):
        gradlab.adam("0.001")


def test_traced_hyperparameters_are_not_checked():
    """Under vmap a hyperparameter is a tracer: construction must not try to read it."""

    def step(lr):
        tx = gradlab.sgd(lr)
        return tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]

    out = jax.vmap(step)(jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(out, [[-0.1, -0.1], [-0.2, -0.2]])


def test_structure_mismatch_names_both_structures():
    tx = gradlab.adam(1e-3)
    state = tx.init({"w": jnp.ones(2), "b": jnp.ones(1)})
    with pytest.raises(ValueError, match=r"structure") as info:
        tx.update({"w": jnp.ones(2)}, state)
    message = str(info.value)
    assert "'b'" in message and "'w'" in message and "updates:" in message


def test_weight_decay_needs_params():
    tx = gradlab.adamw(1e-3)
    with pytest.raises(ValueError, match="needs params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))

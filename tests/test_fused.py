"""Each fused primitive against the composition of primitives its docstring says it equals.

The rows of ``FUSED`` pair a fused transform with its composed form, built from public gradlab
primitives only. Both run over the same gradient sequence (magnitudes from 1e-3 to 1e3) on
random nested trees in float64, jitted and not, and must agree to 1 ulp at every step; the one
exception is stated in ``TOLERANCE``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from tests import references

STEPS = 20
SEEDS = (0, 1, 2)
MAXULP = 1


def _tree(rng):
    """A nested dict/list/tuple of float64 numpy arrays: a scalar, a vector, a matrix, a cube."""
    return {
        "dense": {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=())},
        "list": [rng.normal(size=(5,)), (rng.normal(size=(2, 3, 2)),)],
    }


def _gradients(seed):
    """``STEPS`` gradient trees whose magnitudes jump between 1e-3 and 1e3, with zero entries."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(-3, 3, size=STEPS)
    grads = []
    for s in scales:
        g = jax.tree.map(lambda x, s=s: s * x, _tree(rng))
        g["dense"]["w"][0, 0] = 0.0  # an entry that is zero at every step
        grads.append(g)
    return grads


def _ema_nesterov(d):
    return gradlab.fan_out(gradlab.moving_average(d), combine=lambda m, g: d * m + (1 - d) * g)


def _ema_nesterov_debiased(d):
    return gradlab.fan_out(
        gradlab.chain(gradlab.moving_average(d), gradlab.bias_correction(d, offset=1)),
        gradlab.bias_correction(d),
        combine=lambda m, g_hat, g: d * m + (1 - d) * g_hat,
    )


def _variance(d, initial_scale, debias):
    def moment(*args, **kwargs):
        average = gradlab.moving_average(d, *args, **kwargs)
        return gradlab.chain(average, gradlab.bias_correction(d)) if debias else average

    return gradlab.fan_out(
        moment(),
        moment(2, initial_value=initial_scale),
        combine=lambda m, v, g: jnp.maximum(v - jnp.abs(m) ** 2, 0),
    )


def _adadelta(rho, eps):
    return gradlab.chain(gradlab.scale_by_rms(rho, eps), gradlab.scale_by_delta_rms(rho, eps))


def _trace_nesterov(d):
    return gradlab.fan_out(gradlab.trace(d), combine=lambda m, g: g + d * m)


# (id, fused factory, composed factory): each factory takes no argument.
FUSED = [
    ("heavy_ball", lambda: gradlab.scale_by_momentum(0.9), lambda: gradlab.trace(0.9)),
    (
        "heavy_ball_nesterov",
        lambda: gradlab.scale_by_momentum(0.7, nesterov=True),
        lambda: gradlab.trace(0.7, nesterov=True),
    ),
    (
        "ema",
        lambda: gradlab.scale_by_momentum(0.9, form="ema"),
        lambda: gradlab.moving_average(0.9),
    ),
    (
        "ema_debiased",
        lambda: gradlab.scale_by_momentum(0.999, form="ema", bias_correction=True),
        lambda: gradlab.chain(gradlab.moving_average(0.999), gradlab.bias_correction(0.999)),
    ),
    (
        "ema_nesterov",
        lambda: gradlab.scale_by_momentum(0.5, nesterov=True, form="ema"),
        lambda: _ema_nesterov(0.5),
    ),
    (
        "ema_nesterov_debiased",
        lambda: gradlab.scale_by_momentum(0.9, nesterov=True, form="ema", bias_correction=True),
        lambda: _ema_nesterov_debiased(0.9),
    ),
    ("variance", lambda: gradlab.moving_variance(0.9), lambda: _variance(0.9, 0.0, False)),
    (
        "variance_debiased",
        lambda: gradlab.moving_variance(0.9, bias_correction=True),
        lambda: _variance(0.9, 0.0, True),
    ),
    (
        "variance_initial_scale",
        lambda: gradlab.moving_variance(0.8, initial_scale=1.0),
        lambda: _variance(0.8, 1.0, False),
    ),
    (
        "variance_initial_scale_debiased",
        lambda: gradlab.moving_variance(0.8, initial_scale=0.5, bias_correction=True),
        lambda: _variance(0.8, 0.5, True),
    ),
    ("adadelta", lambda: gradlab.scale_by_adadelta(), lambda: _adadelta(0.9, 1e-6)),
    (
        "adadelta_rho0.5_eps0.1",
        lambda: gradlab.scale_by_adadelta(0.5, 0.1),
        lambda: _adadelta(0.5, 0.1),
    ),
    (
        "trace_nesterov",
        lambda: gradlab.trace(0.9, nesterov=True),
        lambda: _trace_nesterov(0.9),
    ),
]


# Rows held to a relative tolerance instead of ``MAXULP``. The fused Adadelta forms
# :math:`\Delta_t^2` as :math:`(E[\Delta^2] + \epsilon) g^2 / (E[g^2] + \epsilon)` (no Delta
# materialised: 11 instead of 15 float32 words per parameter), the composition as
# :math:`(E[\Delta^2] + \epsilon) x^2` with :math:`x = g / \sqrt{E[g^2] + \epsilon}`: the same
# number up to a few ulps, which the recurrence carries on (measured: at most 3 ulps in 20 steps).
TOLERANCE = {"adadelta": 1e-12, "adadelta_rho0.5_eps0.1": 1e-12}


def _assert_within_ulp(a, b, rtol=None):
    """Two trees of the same structure, float64 and finite, equal to ``MAXULP`` leaf by leaf
    (or to ``rtol``, relative to each leaf's largest entry, when given)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype == np.float64 and x.shape == y.shape
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        if rtol is None:
            np.testing.assert_array_max_ulp(x, y, maxulp=MAXULP)
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.max(np.abs(y)))


@pytest.mark.parametrize("transform", [jax.jit, lambda f: f], ids=["jit", "no_jit"])
@pytest.mark.parametrize("name, fused, composed", FUSED, ids=[row[0] for row in FUSED])
def test_fused_equals_composition(name, fused, composed, transform, x64):
    fused_tx, composed_tx = fused(), composed()
    fused_update, composed_update = transform(fused_tx.update), transform(composed_tx.update)
    seeds = SEEDS if transform is jax.jit else SEEDS[:1]  # op-by-op dispatch is slow
    for seed in seeds:
        grads = jax.tree.map(jnp.asarray, _gradients(seed))
        params = jax.tree.map(jnp.zeros_like, grads[0])
        fused_state, composed_state = fused_tx.init(params), composed_tx.init(params)
        for step, g in enumerate(grads, start=1):
            u, fused_state = fused_update(g, fused_state, params)
            v, composed_state = composed_update(g, composed_state, params)
            try:
                _assert_within_ulp(u, v, TOLERANCE.get(name))
            except AssertionError as err:
                raise AssertionError(f"{name}, seed {seed}, step {step}: {err}") from err


# ---------------------------------------------------------------------------------------------
# The fused Adadelta against the textbook recurrence and against optax (float64, rtol 1e-12)

A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])
B = np.array([1.0, -2.0, 0.5])
W0 = np.array([2.0, 1.0, -3.0])


def _np_grad(w):
    return A @ w - B + 0.5 * np.sin(w)


@pytest.mark.parametrize("rho, eps", [(0.9, 1e-6), (0.95, 0.1), (0.5, 1e-3)])
def test_fused_adadelta_matches_the_textbook_recurrence(rho, eps, x64):
    tx = gradlab.chain(gradlab.scale_by_adadelta(rho, eps), gradlab.scale_by_learning_rate(1.0))
    step = jax.jit(lambda w, s: tx.update(jnp.asarray(A) @ w - B + 0.5 * jnp.sin(w), s, w))
    w, state = jnp.asarray(W0), tx.init(jnp.asarray(W0))
    expected = references.adadelta(W0, _np_grad, 60, rho=rho, eps=eps)
    for t, want in enumerate(expected, start=1):
        u, state = step(w, state)
        w = gradlab.apply_updates(w, u)
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14, err_msg=f"step {t}")


def test_fused_adadelta_matches_optax_with_the_documented_sign(x64):
    """``scale_by_adadelta`` gives optax's +Delta_t; ``gradlab.adadelta()`` steps by -Delta_t
    where optax 0.2.8's ``adadelta()`` (learning_rate=None) steps by +Delta_t."""
    import optax

    grads = jax.tree.map(jnp.asarray, _gradients(0))
    params = jax.tree.map(jnp.zeros_like, grads[0])
    pairs = [
        (gradlab.scale_by_adadelta(0.9, 1e-6), optax.scale_by_adadelta(0.9, 1e-6), 1.0),
        (gradlab.adadelta(rho=0.9, eps=1e-6), optax.adadelta(rho=0.9, eps=1e-6), -1.0),
    ]
    for ours, theirs, sign in pairs:
        s, r = ours.init(params), theirs.init(params)
        for g in grads:
            u, s = ours.update(g, s, params)
            v, r = theirs.update(g, r, params)
            for a, b in zip(jax.tree.leaves(u), jax.tree.leaves(v), strict=True):
                b = sign * np.asarray(b)
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))


def test_fused_adadelta_stores_its_averages_in_the_dtype_asked_for():
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3, jnp.bfloat16)}
    tx = gradlab.scale_by_adadelta(accumulator_dtype=jnp.bfloat16)
    state = tx.init(params)
    assert {x.dtype for x in jax.tree.leaves(state)} == {jnp.dtype(jnp.bfloat16)}
    u, state = jax.jit(tx.update)(params, state)
    assert u["w"].dtype == jnp.float32 and u["b"].dtype == jnp.bfloat16
    assert {x.dtype for x in jax.tree.leaves(state)} == {jnp.dtype(jnp.bfloat16)}


def test_state_layouts_stay_as_documented(x64):
    params = jax.tree.map(jnp.asarray, _tree(np.random.default_rng(0)))

    def check(state, cls, fields, tree_fields):
        assert type(state) is cls and cls._fields == fields
        for field in tree_fields:
            value = getattr(state, field)
            assert jax.tree.structure(value) == jax.tree.structure(params)
            assert jax.tree.map(jnp.shape, value) == jax.tree.map(jnp.shape, params)
        if "count" in fields:
            assert state.count.shape == () and state.count.dtype == jnp.int32

    for kwargs in ({}, {"nesterov": True}, {"form": "ema", "bias_correction": True}):
        tx = gradlab.scale_by_momentum(0.9, **kwargs)
        state = tx.init(params)
        check(state, gradlab.MomentumState, ("count", "mu"), ("mu",))
        _, state = tx.update(params, state)
        check(state, gradlab.MomentumState, ("count", "mu"), ("mu",))
        assert int(state.count) == 1
    for kwargs in ({}, {"bias_correction": True, "initial_scale": 1.0}):
        tx = gradlab.moving_variance(0.9, **kwargs)
        state = tx.init(params)
        check(state, gradlab.VarianceState, ("count", "mu", "nu"), ("mu", "nu"))
        _, state = tx.update(params, state)
        check(state, gradlab.VarianceState, ("count", "mu", "nu"), ("mu", "nu"))
    tx = gradlab.scale_by_adadelta()
    state = tx.init(params)
    check(state, gradlab.AdadeltaState, ("e_g", "e_x"), ("e_g", "e_x"))
    _, state = tx.update(params, state)
    check(state, gradlab.AdadeltaState, ("e_g", "e_x"), ("e_g", "e_x"))
    tx = gradlab.trace(0.9, nesterov=True)
    check(tx.init(params), gradlab.TraceState, ("trace",), ("trace",))
    # init depends on shapes and dtypes only
    for tx in (gradlab.scale_by_momentum(), gradlab.moving_variance(), gradlab.scale_by_adadelta()):
        jax.eval_shape(tx.init, params)

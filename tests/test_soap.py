"""SOAP against a float64 NumPy transcription of Vyas et al.'s Algorithm 3, step by step.

The transcription follows the paper's form (the first moment kept in the original space and
rotated at every step), with the conventions of the authors' ``soap.py``: the first step only
initialises (factors, then ``eigh`` bases ordered by decreasing eigenvalue), bias correction
``sqrt(1 - b2^t) / (1 - b1^t)`` outside ``m / (sqrt(v) + eps)``, factors updated after the
step, bases refreshed every ``f`` steps by one power step and QR with ``v`` re-ordered. Weight
decay is AdamW's (it reads the pre-step weights; see ``gradlab.soap``'s docstring).

Shapes are chosen so that no eigenvalue of the first factors is repeated (a factor of rank
``d - 1`` at most): a repeated one leaves its eigenvectors to LAPACK's rounding, and Adam's
elementwise step in that basis then differs between two correct implementations.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from gradlab.optimizers.soap import soap
from gradlab.transforms.eigenbasis import SoapState, scale_by_soap

STEPS = 50


# ---------------------------------------------------------------------------------------------
# The transcription (NumPy, float64, one leaf at a time)


def _mode(x, a, axis):
    """The mode-``axis`` product: ``a`` applied to every fibre of ``x`` along ``axis``."""
    return np.moveaxis(np.tensordot(a, np.moveaxis(x, axis, 0), axes=1), 0, axis)


def _unfold(x, axis):
    return np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)


class _Leaf:
    def __init__(self, shape, max_dim, precondition_1d):
        self.m = np.zeros(shape)  # the paper's M_t, in the original space
        self.v = np.zeros(shape)  # V_t, in the eigenbasis
        if len(shape) == 1 and not precondition_1d:
            self.axes = []
        else:
            self.axes = [i for i, d in enumerate(shape) if d <= max_dim]
        self.factors = {i: np.zeros((shape[i], shape[i])) for i in self.axes}
        self.bases = {}

    def project(self, x, back=False):
        for i, q in self.bases.items():
            x = _mode(x, q if back else q.T, i)
        return x


def soap_reference(grad_fn, params, steps, lr, b1, b2, sb, eps, wd, freq, max_dim, p1d):
    """Runs ``steps`` calls; returns the list of (updates, new params), each a list of leaves."""
    params = [np.asarray(p, np.float64) for p in params]
    leaves = [_Leaf(p.shape, max_dim, p1d) for p in params]
    history = []
    for k in range(1, steps + 1):
        grads = grad_fn(params, k - 1)
        updates = []
        for p, g, s in zip(params, grads, leaves, strict=True):
            if k == 1:  # initialise only: L = (1 - sb) G G^T, Q = eigh, descending
                for i in s.axes:
                    s.factors[i] = (1 - sb) * _unfold(g, i) @ _unfold(g, i).T
                    s.bases[i] = np.linalg.eigh(s.factors[i])[1][:, ::-1]
                updates.append(np.zeros_like(p))
                continue
            t = k - 1
            g_rot = s.project(g)
            s.m = b1 * s.m + (1 - b1) * g
            s.v = b2 * s.v + (1 - b2) * g_rot**2
            n = s.project(s.project(s.m) / (np.sqrt(s.v) + eps), back=True)
            step = np.sqrt(1 - b2**t) / (1 - b1**t)
            updates.append(-lr * (step * n + wd * p))
            for i in s.axes:
                s.factors[i] = sb * s.factors[i] + (1 - sb) * _unfold(g, i) @ _unfold(g, i).T
            if t % freq == 0:
                for i in s.axes:
                    f, q = s.factors[i], s.bases[i]
                    order = np.argsort(-np.diag(q.T @ f @ q))
                    s.v = np.take(s.v, order, axis=i)
                    s.bases[i] = np.linalg.qr(f @ q[:, order])[0]
        params = [p + u for p, u in zip(params, updates, strict=True)]
        history.append((updates, params))
    return history


# A non-quadratic loss whose gradient depends on the params, sum log cosh(p - c_k) + p^4 / 40,
# with targets c_k that move from step to step as minibatches would: with one fixed target the
# second gradient would equal the first (the first step makes no update), its rotation would be
# the diagonal of an SVD, and eps would divide the rounding noise of the exact zeros.
def _targets(params, steps=STEPS):
    rng = np.random.default_rng(7)
    centres = [rng.normal(size=np.shape(p)) for p in params]
    return [[c + 0.3 * rng.normal(size=c.shape) for c in centres] for _ in range(steps)]


def _np_grad(targets):
    def grad(ps, k):
        return [np.tanh(p - c) + 0.1 * p**3 for p, c in zip(ps, targets[k], strict=True)]

    return grad


def _jax_loss(params, targets):
    terms = [
        jnp.sum(jnp.log(jnp.cosh(p - c)) + 0.025 * p**4)
        for p, c in zip(jax.tree.leaves(params), targets, strict=True)
    ]
    return sum(terms)


def _run(tx, params, steps, update=None):
    """gradlab's trajectory: the list of (updates, params) as lists of float64 leaves."""
    targets = _targets(jax.tree.leaves(params), steps)
    grad = jax.jit(jax.grad(_jax_loss))
    update = jax.jit(tx.update) if update is None else update
    state, history = tx.init(params), []
    for k in range(steps):
        u, state = update(grad(params, targets[k]), state, params)
        params = gradlab.apply_updates(params, u)
        history.append(([np.asarray(x) for x in jax.tree.leaves(u)], jax.tree.leaves(params)))
    return history, state


def _compare(ours, ref, rtol=1e-10, atol=1e-14):
    worst = 0.0
    for k, ((u, p), (v, q)) in enumerate(zip(ours, ref, strict=True)):
        for a, b in zip(u + p, v + q, strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"step {k + 1}")
            scale = np.maximum(np.abs(b), atol / rtol)
            worst = max(worst, float(np.max(np.abs(np.asarray(a) - b) / scale)))
    return worst


def _rng_tree(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {name: jnp.asarray(rng.normal(size=shape)) for name, shape in shapes.items()}


DEFAULTS = {
    "b1": 0.95,
    "b2": 0.95,
    "sb": 0.95,
    "eps": 1e-8,
    "wd": 0.01,
    "freq": 5,
    "max_dim": 10000,
    "p1d": False,
}
MIXED = {"wide": (3, 4), "tall": (4, 3), "square": (3, 3), "cube": (2, 3, 2), "b": (5,), "s": ()}
ROWS = [
    # (id, shapes, alias kwargs, reference kwargs)
    ("matrix", {"w": (3, 4)}, {"precondition_frequency": 5}, {}),
    ("mixed-tree", MIXED, {"precondition_frequency": 3}, {"freq": 3}),
    (
        "non-default",  # a factor on the short side only; a preconditioned vector; large eps
        {"w": (3, 6), "square": (4, 4), "b": (2,), "s": ()},
        {
            "b1": 0.9,
            "b2": 0.99,
            "shampoo_beta": 0.8,
            "eps": 0.1,
            "weight_decay": 0.1,
            "precondition_frequency": 3,
            "max_precond_dim": 4,
            "precondition_1d": True,
        },
        {"b1": 0.9, "b2": 0.99, "sb": 0.8, "eps": 0.1, "wd": 0.1, "freq": 3, "max_dim": 4},
    ),
]

ROW_IDS = [r[0] for r in ROWS]


@pytest.mark.parametrize("shapes,kwargs,ref_kwargs", [r[1:] for r in ROWS], ids=ROW_IDS)
def test_matches_transcription_float64(shapes, kwargs, ref_kwargs, x64):
    lr = 0.02
    params = _rng_tree(shapes)
    ours, state = _run(soap(lr, **kwargs), params, STEPS)
    ref_kwargs = {**DEFAULTS, **ref_kwargs, "p1d": kwargs.get("precondition_1d", False)}
    leaves = [np.asarray(x) for x in jax.tree.leaves(params)]
    ref = soap_reference(_np_grad(_targets(leaves)), leaves, STEPS, lr, **ref_kwargs)
    # Measured over the 50 steps: max |diff| 1.8e-15, max elementwise relative diff 4.7e-12.
    worst = _compare(ours, ref)
    assert worst < 1e-10
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(ours[-1][1]))
    assert not np.allclose(ours[-1][1][0], np.asarray(jax.tree.leaves(params)[0]))


def test_fallbacks_and_first_step(x64):
    params = _rng_tree({"w": (3, 6), "b": (5,), "s": ()})
    tx = scale_by_soap(max_precond_dim=4)
    grads = jax.tree.map(lambda x: x + 1.0, params)
    u, state = jax.jit(tx.update)(grads, tx.init(params))
    assert isinstance(state, SoapState) and int(state.count) == 1
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(u))  # no update at all
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves((state.mu, state.nu)))
    assert state.factors["b"] == (None,) and state.factors["s"] == ()  # Adam for these
    factor, none = state.factors["w"]  # L kept (3 <= 4), R falls back (6 > 4)
    assert none is None and state.bases["w"][1] is None
    g = np.asarray(grads["w"])
    np.testing.assert_allclose(factor, 0.05 * g @ g.T, rtol=1e-13)
    q = np.asarray(state.bases["w"][0])
    lam = np.diag(q.T @ factor @ q)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-13)
    assert np.all(np.diff(lam) < 0)  # decreasing eigenvalues
    np.testing.assert_allclose(q @ np.diag(lam) @ q.T, factor, rtol=1e-12, atol=1e-14)


def test_jit_equals_eager_and_no_retrace():
    # The primitive eagerly (the alias runs eagerly in its doctest; each eager lax.cond compiles).
    params = _rng_tree({"w": (3, 4), "b": (4,)})
    tx = scale_by_soap(precondition_frequency=2)  # the third call refreshes the bases
    jitted, _ = _run(tx, params, 3)
    eager, _ = _run(tx, params, 3, update=tx.update)
    for (u, p), (v, q) in zip(jitted, eager, strict=True):
        chex.assert_trees_all_close(u + p, v + q, rtol=1e-5, atol=1e-6)
    tx = soap(1e-2)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(g, s, p):
        return tx.update(g, s, p)

    s = tx.init(params)
    for _ in range(4):
        _, s = step(params, s, params)


def test_hyperparams_schedule_and_set():
    params = _rng_tree({"w": (3, 4), "b": (4,)})
    tx = soap(lambda t: 0.1 / (1.0 + t), b2=0.99, weight_decay=0.5)
    state = tx.init(params)
    hp = gradlab.hyperparams(state)
    assert set(hp) >= {"learning_rate", "b1", "b2", "eps", "weight_decay"}
    assert "shampoo_beta" not in hp  # None: follows b2
    step = jax.jit(tx.update)
    u, state = step(params, state, params)  # the first call: no step, no weight decay
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(u))
    u, state = step(params, state, params)  # the vector is Adam: -lr (sign(g) + wd theta)
    b = params["b"]
    np.testing.assert_allclose(u["b"], -0.05 * (jnp.sign(b) + 0.5 * b), rtol=1e-5)
    _, state = step(params, state, params)
    hp = gradlab.hyperparams(state)
    assert float(hp["learning_rate"]) == pytest.approx(0.1 / 3)
    state = gradlab.set_hyperparams(state, b1=0.5, eps=1e-3)
    _, state = step(params, state, params)
    assert float(gradlab.hyperparams(state)["b1"]) == 0.5
    with pytest.raises(ValueError, match="b1"):
        gradlab.set_hyperparams(state, b1=1.5)
    explicit = soap(0.1, shampoo_beta=0.5)
    assert float(gradlab.hyperparams(explicit.init(params))["shampoo_beta"]) == 0.5


def test_bf16_keeps_dtype():
    params = jax.tree.map(lambda x: x.astype(jnp.bfloat16), _rng_tree({"w": (3, 4), "b": (4,)}))
    tx = soap(1e-2, precondition_frequency=2)
    state, step = tx.init(params), jax.jit(tx.update)
    for _ in range(4):
        u, state = step(jax.tree.map(lambda x: x - 0.5, params), state, params)
        params = gradlab.apply_updates(params, u)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves((params, u)))
    inner = state.inner_state[0]
    assert inner.mu["w"].dtype == jnp.bfloat16
    assert all(f.dtype == jnp.float32 for f in jax.tree.leaves((inner.factors, inner.bases)))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))


def test_minimises_ill_conditioned_quadratic():
    # f(W) = 1/2 tr((W - W*)^T A (W - W*) B), A and B with condition number 100 each: Kronecker
    # curvature, SOAP's model. 100 steps with a linear decay from 0.1: SOAP measured 1.7e-3 of
    # the starting loss, Adam with the same betas and schedule 5.0e-3.
    rng = np.random.default_rng(3)

    def spd(n):
        q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        return jnp.asarray(q @ np.diag(np.logspace(0, 2, n)) @ q.T, jnp.float32)

    a, b = spd(6), spd(5)
    target = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)

    def loss(w):
        d = w - target
        return 0.5 * jnp.sum(d * (a @ d @ b))

    def final_loss(tx, steps=100):
        def body(carry, _):
            w, s = carry
            u, s = tx.update(jax.grad(loss)(w), s, w)
            return (gradlab.apply_updates(w, u), s), None

        w0 = jnp.zeros((6, 5), jnp.float32)
        (w, _), _ = jax.lax.scan(body, (w0, tx.init(w0)), None, length=steps)
        return float(loss(w)), float(loss(w0))

    schedule = gradlab.linear_schedule(0.1, 0.0, 100)
    ours, start = final_loss(soap(schedule, weight_decay=0.0, precondition_frequency=5))
    adam, _ = final_loss(gradlab.adam(schedule, b1=0.95, b2=0.95))
    assert ours < 5e-3 * start
    assert ours < 0.6 * adam


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"b1": 1.0}, "b1"),
        ({"b2": -0.1}, "b2"),
        ({"shampoo_beta": 1.5}, "shampoo_beta"),
        ({"eps": -1.0}, "eps"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"precondition_frequency": 0}, "precondition_frequency"),
        ({"precondition_frequency": 2.5}, "precondition_frequency"),
        ({"max_precond_dim": -1}, "max_precond_dim"),
        ({"precondition_1d": "yes"}, "precondition_1d"),
        ({"mu_dtype": jnp.int32}, "mu_dtype"),
        ({"learning_rate": -1.0}, "learning_rate"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        soap(**kwargs)


def test_complex_params_refused():
    with pytest.raises(TypeError, match="complex"):
        scale_by_soap().init(jnp.ones((2, 2), jnp.complex64))

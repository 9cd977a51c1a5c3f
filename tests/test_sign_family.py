"""Sign and trust-ratio optimizers, NAdamW and AdamaxW: against optax and the papers' numpy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from gradlab.optimizers import decoupled, sign_family
from gradlab.transforms import layerwise, signs
from tests.conftest import make_tree
from tests.test_optimizers import W0, assert_normwise_close, np_grad, run_both, trajectory

ALIASES = {
    "sign_sgd": sign_family.sign_sgd,
    "signum": sign_family.signum,
    "lion": sign_family.lion,
    "lars": sign_family.lars,
    "lamb": sign_family.lamb,
    "novograd": sign_family.novograd,
    "nadamw": decoupled.nadamw,
    "adamaxw": decoupled.adamaxw,
}


def matrices(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


def decaying(t):
    return 0.02 / (1.0 + 0.05 * t)


# (alias, [kwargs rows]): defaults first, then two non-default rows; "learning_rate" overrides
# the table's rate (a schedule in one row per alias); large-eps rows where there is an eps.
OPTIMIZERS = [
    ("sign_sgd", [{}, {"learning_rate": decaying}, {"learning_rate": 0.003}]),
    ("signum", [{}, {"beta": 0.5}, {"beta": 0.99, "learning_rate": decaying}]),
    (
        "lion",
        [
            {},
            {"b1": 0.8, "b2": 0.95, "weight_decay": 0.1},
            {"weight_decay": 0.0, "mask": matrices, "learning_rate": decaying},
        ],
    ),
    (
        "lars",
        [
            {},
            {"weight_decay": 0.01, "eps": 1e-3, "nesterov": True},
            {
                "weight_decay": 0.1,
                "weight_decay_mask": matrices,
                "trust_ratio_mask": matrices,
                "momentum": 0.5,
                "learning_rate": lambda t: 1.0 / (1.0 + 0.05 * t),
            },
        ],
    ),
    (
        "lamb",
        [
            {},
            {"weight_decay": 0.01, "eps": 0.1, "eps_root": 1e-3},
            {"b1": 0.8, "weight_decay": 0.1, "mask": matrices, "learning_rate": decaying},
        ],
    ),
    (
        "novograd",
        [
            {},
            {"weight_decay": 0.01, "eps": 0.1},
            {"b1": 0.5, "b2": 0.9, "eps_root": 1e-3, "learning_rate": decaying},
        ],
    ),
    (
        "nadamw",
        [
            {},
            {"weight_decay": 0.1, "eps": 0.1, "eps_root": 1e-4},
            {"nesterov": False, "mask": matrices, "learning_rate": decaying},
        ],
    ),
    (
        "adamaxw",
        [{}, {"weight_decay": 0.1, "eps": 0.1}, {"b1": 0.5, "b2": 0.99, "mask": matrices}],
    ),
]
# LAMB's and NovoGrad's steps are normalised per leaf, so on the tree's scalar leaves they are
# sign steps (|p| sign(r), g / |g|): at a constant rate they dance around the minimiser and a
# one-ulp difference flips a sign (NovoGrad at 0.05 in float64: 1e-5 relative; LAMB at 0.01 in
# float32 from step 176: 2e-0). Decaying rates keep clear of those ties.
LEARNING_RATE = {"lars": 1.0, "lamb": decaying, "novograd": lambda t: 0.01 / (1.0 + 0.1 * t)}
# float32 rtol where 1e-5 is out of reach: gradlab debiases with expm1, closer to float64 than
# optax's 1 - b**t (test_optimizers.test_float32_closer_to_float64_truth_than_optax); measured
# up to 3.7e-5 (nadamw) and 1.1e-5 (adamaxw); test_optimizers holds the Adam family to 1e-4.
F32_RTOL = {"nadamw": 1e-4, "adamaxw": 2e-5}
# Compile with XLA's backend optimisations off: the runs are short; compiling dominates.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def build(name, kwargs, module=None):
    """gradlab's alias (or ``module.name``) with the table's learning rate."""
    kwargs = dict(kwargs)
    lr = kwargs.pop("learning_rate", LEARNING_RATE.get(name, 0.01))
    return (ALIASES[name] if module is None else getattr(module, name))(lr, **kwargs)


def run_rows(name, dtype, steps=200):
    """``run_both`` for every row of ``name``, all in one jitted computation (one compile)."""
    params, targets = make_tree(0, dtype), make_tree(1, dtype)
    pairs = [(build(name, kw), build(name, kw, optax)) for kw in dict(OPTIMIZERS)[name]]
    runs = jax.jit(
        lambda: [run_both(tx, ref, params, targets, steps) for tx, ref in pairs],
        compiler_options=FAST_COMPILE,
    )
    return runs()


@pytest.mark.parametrize("name", list(ALIASES))
def test_matches_optax_float64(name, x64):
    for row, (p, q, us, vs) in enumerate(run_rows(name, jnp.float64)):
        msg = f"{name} row {row}"
        chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12, custom_message=msg)
        chex.assert_trees_all_close(p, q, rtol=1e-10, atol=1e-12, custom_message=msg)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(p)), msg


@pytest.mark.parametrize("name", list(ALIASES))
def test_matches_optax_float32(name):
    for row, (p, q, us, vs) in enumerate(run_rows(name, jnp.float32)):
        try:
            assert_normwise_close(us, vs, rtol=F32_RTOL.get(name, 1e-5))
            assert_normwise_close(p, q, rtol=F32_RTOL.get(name, 1e-5))
        except AssertionError as error:
            raise AssertionError(f"{name} row {row}: {error}") from error


@pytest.mark.parametrize("name", list(ALIASES))
def test_hyperparams_live_in_the_state(name):
    tx, params = build(name, {"learning_rate": 0.03}), make_tree(0)
    state = tx.init(params)
    assert float(gradlab.hyperparams(state)["learning_rate"]) == pytest.approx(0.03)
    grads = jax.tree.map(jnp.ones_like, params)
    u, _ = tx.update(grads, state, params)
    u2, _ = tx.update(grads, gradlab.set_hyperparams(state, learning_rate=0.0), params)
    assert any(bool(jnp.any(x != 0)) for x in jax.tree.leaves(u))
    assert all(bool(jnp.all(x == 0)) for x in jax.tree.leaves(u2))


@pytest.mark.parametrize("mode", ["hard", "smooth", "refined"])
def test_scale_by_lion_modes_match_optax(mode, x64):
    params, targets = make_tree(0, jnp.float64), make_tree(1, jnp.float64)
    tx = gradlab.chain(
        signs.scale_by_lion(0.8, 0.95, mode=mode, smooth_beta=3.0), gradlab.scale(-0.01)
    )
    ref = optax.chain(
        optax.scale_by_lion(0.8, 0.95, mode=mode, smooth_beta=3.0), optax.scale(-0.01)
    )
    _, _, us, vs = run_both(tx, ref, params, targets, 50)
    chex.assert_trees_all_close(us, vs, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The papers' pseudo-code in float64 numpy (one layer: the vector W0).


def np_signum(w, grad, steps, lr, beta):
    m, out = np.zeros_like(w), []
    for _ in range(steps):
        m = beta * m + (1 - beta) * grad(w)
        w = w - lr * np.sign(m)
        out.append(w)
    return out


def np_lion(w, grad, steps, lr, b1, b2, wd):
    """Chen et al. 2023, Program 1."""
    m, out = np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        update = np.sign(b1 * m + (1 - b1) * g) + wd * w
        w = w - lr * update
        m = b2 * m + (1 - b2) * g
        out.append(w)
    return out


def np_lars(w, grad, steps, lr, wd, eta, mu, eps=0.0):
    """You, Gitman & Ginsburg 2017, Alg. 1 (local rate from ||g|| + beta ||w||)."""
    v, out = np.zeros_like(w), []
    for _ in range(steps):
        g = grad(w)
        local = eta * np.linalg.norm(w) / (np.linalg.norm(g) + wd * np.linalg.norm(w) + eps)
        v = mu * v + lr * local * (g + wd * w)
        w = w - v
        out.append(w)
    return out


def np_lamb(w, grad, steps, lr, b1, b2, eps, wd):
    """You et al. 2019, Alg. 2 with phi the identity."""
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t in range(1, steps + 1):
        g = grad(w)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * w
        w = w - lr * np.linalg.norm(w) / np.linalg.norm(r) * r
        out.append(w)
    return out


def np_novograd(w, grad, steps, lr, b1, b2, eps, wd):
    """Ginsburg et al. 2019, Alg. 1."""
    out = []
    for t in range(steps):
        g = grad(w)
        if t == 0:
            v = np.sum(g**2)
            m = g / (np.sqrt(v) + eps) + wd * w
        else:
            v = b2 * v + (1 - b2) * np.sum(g**2)
            m = b1 * m + g / (np.sqrt(v) + eps) + wd * w
        w = w - lr * m
        out.append(w)
    return out


PAPERS = [
    ("signum", lambda: sign_family.signum(0.01, 0.8), np_signum, {"lr": 0.01, "beta": 0.8}),
    (
        "lion",
        lambda: sign_family.lion(0.01, 0.8, 0.95, weight_decay=0.1),
        np_lion,
        {"lr": 0.01, "b1": 0.8, "b2": 0.95, "wd": 0.1},
    ),
    (
        "lars_paper",
        lambda: sign_family.lars(
            0.5, weight_decay=0.1, trust_coefficient=0.1, eps=1e-3, paper_trust_ratio=True
        ),
        np_lars,
        {"lr": 0.5, "wd": 0.1, "eta": 0.1, "mu": 0.9, "eps": 1e-3},
    ),
    (
        "lamb",
        lambda: sign_family.lamb(0.01, eps=0.1, weight_decay=0.1),
        np_lamb,
        {"lr": 0.01, "b1": 0.9, "b2": 0.999, "eps": 0.1, "wd": 0.1},
    ),
    (
        "novograd",
        lambda: sign_family.novograd(0.05, 0.8, 0.5, eps=0.1, weight_decay=0.01),
        np_novograd,
        {"lr": 0.05, "b1": 0.8, "b2": 0.5, "eps": 0.1, "wd": 0.01},
    ),
]


@pytest.mark.parametrize("name,make,reference,kwargs", PAPERS, ids=[r[0] for r in PAPERS])
def test_matches_paper_numpy(name, make, reference, kwargs, x64):
    steps = 20  # sign methods stay far from the minimiser, where no sign is a rounding toss-up
    expected = reference(W0, np_grad, steps, **kwargs)
    got = trajectory(make(), steps)
    for t, (g, e) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"{name}, step {t + 1}")


def test_lars_paper_form_differs_from_optax_form(x64):
    optax_form = trajectory(sign_family.lars(0.5, weight_decay=0.1, trust_coefficient=0.1), 3)
    paper_form = trajectory(
        sign_family.lars(0.5, weight_decay=0.1, trust_coefficient=0.1, paper_trust_ratio=True), 3
    )
    assert not np.allclose(optax_form[-1], paper_form[-1], rtol=1e-6)


def test_lars_paper_form_refuses_different_masks():
    with pytest.raises(ValueError, match="weight_decay_mask must be trust_ratio_mask"):
        sign_family.lars(0.1, weight_decay_mask=matrices, paper_trust_ratio=True)


def test_block_second_moment_cold_start():
    tx = layerwise.block_second_moment(0.5, warm_start=False)
    g = {"w": jnp.array([[3.0, 4.0]]), "b": jnp.array(2.0)}
    v, state = tx.update(g, tx.init(g))
    chex.assert_trees_all_close(v, {"w": jnp.array(12.5), "b": jnp.array(2.0)})
    v, _ = tx.update(g, state)
    chex.assert_trees_all_close(v, {"w": jnp.array(18.75), "b": jnp.array(3.0)})


def test_soft_sign_refuses_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        signs.soft_sign("soft")


def test_lion_mu_dtype_sets_the_stored_momentum():
    tx, params = sign_family.lion(0.1, mu_dtype=jnp.bfloat16), make_tree(0)
    updates, state = tx.update(jax.tree.map(jnp.cos, params), tx.init(params), params)
    moments = jax.tree.leaves(state.inner_state[0].momentum)
    assert moments and all(m.dtype == jnp.bfloat16 for m in moments)
    assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(updates))

"""Projections: membership, idempotence, optimality, closed forms, optax, and projected descent.

Each row of ``ROWS`` is checked the same ways: the output lies in the set, projecting twice
equals projecting once, the obtuse-angle condition of a projection onto a convex set holds,
and the values equal ``optax.projections``' function of the same name on random trees.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from gradlab import projections
from gradlab.projections import project_params

RTOL, ATOL = 1e-5, 1e-6


def random_tree(seed, scale=1.0, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    arr = lambda *shape: jnp.asarray(scale * rng.normal(size=shape), dtype)  # noqa: E731
    return {"w": arr(3, 2), "v": [arr(4)], "s": arr()}


def flat(tree):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


A = random_tree(100)  # the normal of the affine sets


def const(value):
    return jax.tree.map(lambda x: jnp.full_like(x, value), A)


# name, keyword arguments (trees for optax's sake: its box maps bounds leaf by leaf), membership
# test of the flattened output y, and whether the set is convex (the optimality check).
ROWS = [
    ("projection_non_negative", {}, lambda y, kw: y.min() >= 0, True),
    (
        "projection_box",
        {"lower": const(-0.5), "upper": const(0.7)},
        lambda y, kw: y.min() >= -0.5 - 1e-7 and y.max() <= 0.7 + 1e-7,
        True,
    ),
    (
        "projection_hypercube",
        {"scale": const(0.8)},
        lambda y, kw: y.min() >= 0 and y.max() <= 0.8 + 1e-7,
        True,
    ),
    ("projection_linf_ball", {"scale": 0.5}, lambda y, kw: np.abs(y).max() <= 0.5 + 1e-7, True),
    *[
        (
            "projection_simplex",
            {"scale": s},
            lambda y, kw: y.min() >= 0 and abs(y.sum() - kw["scale"]) < 1e-5,
            True,
        )
        for s in (1.0, 2.5)
    ],
    *[
        (
            "projection_l1_ball",
            {"scale": s},
            lambda y, kw: np.abs(y).sum() <= kw["scale"] + 1e-5,
            True,
        )
        for s in (1.0, 100.0)
    ],
    (
        "projection_l1_sphere",
        {"scale": 2.0},
        lambda y, kw: abs(np.abs(y).sum() - 2.0) < 1e-5,
        False,
    ),
    *[
        (
            "projection_l2_ball",
            {"scale": s},
            lambda y, kw: np.linalg.norm(y) <= kw["scale"] * (1 + 1e-6),
            True,
        )
        for s in (1.0, 100.0)
    ],
    (
        "projection_l2_sphere",
        {"scale": 2.0},
        lambda y, kw: abs(np.linalg.norm(y) - 2) < 1e-5,
        False,
    ),
    (
        "projection_vector",
        {"a": A},
        lambda y, kw: np.allclose(y, (y @ flat(A)) / (flat(A) @ flat(A)) * flat(A), atol=1e-6),
        True,
    ),
    (
        "projection_hyperplane",
        {"a": A, "b": 0.3},
        lambda y, kw: abs(y @ flat(A) - 0.3) < 1e-5,
        True,
    ),
    *[
        (
            "projection_halfspace",
            {"a": A, "b": b},
            lambda y, kw: y @ flat(A) <= kw["b"] + 1e-5,
            True,
        )
        for b in (0.3, 100.0)
    ],
]
IDS = [f"{name[len('projection_') :]}-{i}" for i, (name, *_) in enumerate(ROWS)]
SEEDS = [0, 1, 2]


def project(name, x, kwargs, module=projections):
    return getattr(module, name)(x, **kwargs)


def assert_trees_close(a, b, rtol=RTOL, atol=ATOL):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name,kwargs,member,convex", ROWS, ids=IDS)
def test_output_lies_in_the_set_and_projection_is_idempotent(name, kwargs, member, convex, seed):
    x = random_tree(seed, scale=2.0)
    y = project(name, x, kwargs)
    assert jax.tree.structure(y) == jax.tree.structure(x)
    assert all(a.dtype == b.dtype for a, b in zip(jax.tree.leaves(y), jax.tree.leaves(x)))
    assert member(flat(y), kwargs)
    assert_trees_close(project(name, y, kwargs), y)


CONVEX = [(row, i) for row, i in zip(ROWS, IDS) if row[3]]  # spheres are not convex


@pytest.mark.parametrize(
    "name,kwargs,member,convex", [r for r, _ in CONVEX], ids=[i for _, i in CONVEX]
)
def test_projection_is_the_nearest_point(name, kwargs, member, convex):
    """<x - P(x), z - P(x)> <= 0 for every z in a convex set (z drawn as projections)."""
    proj = jax.jit(lambda t: project(name, t, kwargs))
    x = flat(random_tree(0, scale=2.0))
    px = flat(proj(random_tree(0, scale=2.0)))
    for seed in range(10, 20):
        z = flat(proj(random_tree(seed, scale=3.0)))
        assert (x - px) @ (z - px) <= 1e-4 * (1 + np.linalg.norm(x - px) * np.linalg.norm(z - px))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name,kwargs,member,convex", ROWS, ids=IDS)
def test_matches_optax(name, kwargs, member, convex, seed):
    x = random_tree(seed, scale=2.0)
    if name == "projection_hypercube":  # optax's maps a scalar lower bound over trees: per leaf
        ref = jax.tree.map(optax.projections.projection_hypercube, x, kwargs["scale"])
    else:
        ref = project(name, x, kwargs, optax.projections)
    assert_trees_close(project(name, x, kwargs), ref)


@pytest.mark.parametrize("name,kwargs,member,convex", ROWS[:8], ids=IDS[:8])
def test_jit_and_bf16(name, kwargs, member, convex):
    x = random_tree(3, scale=2.0)
    assert_trees_close(jax.jit(lambda t: project(name, t, kwargs))(x), project(name, x, kwargs))
    low = project(name, random_tree(3, scale=2.0, dtype=jnp.bfloat16), kwargs)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(low))


P = projections
CLOSED_FORMS = [
    (P.projection_non_negative, (-1.0, {"a": 2.0}), {}, (0.0, {"a": 2.0})),
    (P.projection_box, jnp.array([-1.0, 2.0, 3.0]), {"lower": 0.0, "upper": 2.0}, [0, 2, 2]),
    (  # a scalar bound applies to every leaf of a tree
        P.projection_box,
        (jnp.array([-1.0, 3.0]), 5.0),
        {"lower": 0.0, "upper": 2.0},
        ([0.0, 2.0], 2.0),
    ),
    (P.projection_hypercube, jnp.array([-1.0, 2.0, 0.5]), {}, [0, 1, 0.5]),
    (P.projection_hypercube, jnp.array([-1.0, 2.0, 0.5]), {"scale": 0.8}, [0, 0.8, 0.5]),
    (P.projection_linf_ball, jnp.array([-3.0, 0.5, 2.0]), {"scale": 1.0}, [-1, 0.5, 1]),
    # simplex: tau = 0.4 (support of two), a tree (tau = 2.35), -inf, a point already inside
    (P.projection_simplex, jnp.array([1.0, 0.8, -0.5, 0.1]), {}, [0.6, 0.4, 0, 0]),
    (
        P.projection_simplex,
        {"w": jnp.array([2.5, 3.2]), "b": 0.5},
        {},
        {"w": [0.15, 0.85], "b": 0.0},
    ),
    (P.projection_simplex, jnp.array([0.0, 0.0, -jnp.inf]), {"scale": 0.8}, [0.4, 0.4, 0]),
    (P.projection_simplex, jnp.array([0.2, 0.3, 0.5]), {}, [0.2, 0.3, 0.5]),
    (P.projection_l1_ball, jnp.array([2.0, -1.5]), {"scale": 1.5}, [1.0, -0.5]),
    (P.projection_l1_ball, jnp.array([0.2, -0.3]), {}, [0.2, -0.3]),
    (P.projection_l1_sphere, jnp.array([0.1, -0.2]), {}, [0.45, -0.55]),
    (P.projection_l1_sphere, jnp.array([0.1, 0.0]), {}, [0.55, 0.45]),  # optax: [0.55, 0]
    (P.projection_l2_ball, jnp.array([3.0, 4.0]), {}, [0.6, 0.8]),
    (P.projection_l2_ball, jnp.array([0.3, 0.4]), {}, [0.3, 0.4]),
    (P.projection_l2_sphere, jnp.array([0.3, 0.4]), {"scale": 10.0}, [6.0, 8.0]),
    (P.projection_l2_sphere, jnp.zeros(2), {"scale": 2.0}, [2**0.5, 2**0.5]),  # optax: nan
    (P.projection_vector, (1.0, 2.0), {"a": (3.0, 4.0)}, (33 / 25, 44 / 25)),
    (P.projection_hyperplane, (1.0, 2.0), {"a": (3.0, 4.0), "b": 5.0}, (7 / 25, 26 / 25)),
    (P.projection_halfspace, (1.0, 2.0), {"a": (3.0, 4.0), "b": 5.0}, (7 / 25, 26 / 25)),
    (P.projection_halfspace, (1.0, -2.0), {"a": (3.0, 4.0), "b": 5.0}, (1.0, -2.0)),
]


@pytest.mark.parametrize(
    "fn,x,kwargs,expected",
    CLOSED_FORMS,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CLOSED_FORMS)],
)
def test_closed_forms(fn, x, kwargs, expected):
    got = fn(x, **kwargs)
    expected = jax.tree.map(lambda e: np.asarray(e, np.float32), expected)
    jax.tree.map(lambda g, e: np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7), got, expected)


def test_none_leaves_pass_through():
    x = {"w": jnp.array([2.0, -1.0]), "none": None}
    for name, kwargs in [
        ("projection_non_negative", {}),
        ("projection_box", {"lower": 0.0, "upper": 1.0}),
        ("projection_simplex", {}),
        ("projection_l2_ball", {}),
        ("projection_l1_ball", {}),
    ]:
        y = getattr(projections, name)(x, **kwargs)
        assert y["none"] is None and y["w"].shape == (2,)


def simplex_jacobian(p):
    support = (p > 0).astype(jnp.float32)
    return jnp.diag(support) - jnp.outer(support, support) / support.sum()


def test_simplex_derivatives_are_the_closed_form():
    x = jnp.asarray(np.random.default_rng(0).random(5), jnp.float32)
    p = P.projection_simplex(x)
    for jac in (jax.jacfwd, jax.jacrev):
        got = jax.jit(jac(P.projection_simplex))(x)
        np.testing.assert_allclose(got, simplex_jacobian(p), atol=1e-6)
    # d p / d s = 1_S / |S|
    ds = jax.jit(jax.jacfwd(P.projection_simplex, argnums=1))(x, 1.0)
    support = np.asarray(p > 0, np.float32)
    np.testing.assert_allclose(ds, support / support.sum(), atol=1e-6)
    # vmap over inputs and scales (the sort runs per row)
    xs = jnp.asarray(np.random.default_rng(1).normal(size=(3, 6)), jnp.float32)
    ps = jax.vmap(P.projection_simplex)(xs, jnp.array([1.0, 0.5, 2.0]))
    np.testing.assert_allclose(ps.sum(axis=1), [1.0, 0.5, 2.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["projection_l1_ball", "projection_l2_ball"])
def test_ball_gradient_at_zero_is_the_identity(name):
    assert jax.grad(getattr(P, name))(0.0) == 1.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: P.projection_simplex(jnp.ones(2), -1.0), "projection_simplex: scale must be a"),
        (lambda: P.projection_simplex(jnp.ones(2), 0.0), "Pass e.g. scale=1.0"),
        (lambda: P.projection_l1_ball(jnp.ones(2), -2.0), "projection_l1_ball: scale"),
        (lambda: P.projection_l1_sphere(jnp.ones(2), 0.0), "projection_l1_sphere: scale"),
        (lambda: P.projection_l2_ball(jnp.ones(2), float("inf")), "projection_l2_ball: scale"),
        (lambda: P.projection_l2_sphere(jnp.ones(2), -1.0), "projection_l2_sphere: scale"),
        (lambda: P.projection_linf_ball(jnp.ones(2), -1.0), "projection_linf_ball: scale"),
        (lambda: P.projection_hypercube(jnp.ones(2), -1.0), "projection_hypercube: scale"),
        (lambda: P.projection_box(jnp.ones(2), 1.0, 0.0), "lower must be <= upper"),
        (
            lambda: P.projection_hyperplane(jnp.ones(2), jnp.ones(2), float("nan")),
            "projection_hyperplane: b must be a finite number",
        ),
        (
            lambda: P.projection_halfspace((1.0, 2.0), [1.0, 2.0], 0.0),
            "projection_halfspace: x and a must have the same tree structure",
        ),
        (lambda: P.projection_vector((1.0,), (1.0, 2.0)), "projection_vector: x and a"),
        (lambda: P.projection_simplex(jnp.ones(2), jnp.ones(2)), "scale must be a scalar"),
    ],
)
def test_bad_arguments_raise_with_a_fix(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_traced_scale_is_not_checked():
    y = jax.jit(P.projection_simplex)(jnp.array([1.0, 2.0]), 2.0)
    np.testing.assert_allclose(y, [0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# Projected gradient descent


def descend(tx, params, loss, steps, member=None):
    """``steps`` jitted steps of ``tx`` on ``loss``; checks ``member`` on every iterate."""

    @jax.jit
    def step(params, state):
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return gradlab.apply_updates(params, updates), state

    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
        if member is not None:
            assert member(flat(params)), params
    return params


def test_projected_descent_solves_weighted_least_squares_on_the_simplex():
    # min 1/2 (a - 1)^2 + 2 (b - 1)^2 s.t. a + b = 1, a, b >= 0: a = 0.2, b = 0.8 (Lagrange)
    def loss(p):
        return 0.5 * (p["a"] - 1) ** 2 + 2 * (p["b"] - 1) ** 2

    tx = gradlab.chain(gradlab.sgd(0.1), project_params(P.projection_simplex))
    member = lambda y: y.min() >= 0 and abs(y.sum() - 1) < 1e-6  # noqa: E731
    params = descend(tx, {"a": jnp.asarray(3.0), "b": jnp.asarray(-2.0)}, loss, 200, member)
    np.testing.assert_allclose([params["a"], params["b"]], [0.2, 0.8], atol=1e-6)


def test_projected_descent_solves_non_negative_least_squares():
    # A = [[1, 0], [0, 1], [1, 1]], y = [1, -1, 0.5]: the KKT point is x = (0.75, 0), where the
    # gradient A^T (A x - y) = (0, 1.25) vanishes on the free entry and pushes x_2 into the bound
    a = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = jnp.array([1.0, -1.0, 0.5])

    def loss(x):
        return 0.5 * jnp.sum((a @ x - y) ** 2)

    tx = gradlab.chain(gradlab.sgd(0.2), project_params(P.projection_non_negative))
    x = descend(tx, jnp.array([2.0, 2.0]), loss, 200, lambda v: v.min() >= 0)
    np.testing.assert_allclose(x, [0.75, 0.0], atol=1e-6)
    # optax's keep_params_nonnegative is the same transformation
    ref = optax.chain(optax.sgd(0.2), optax.keep_params_nonnegative())
    np.testing.assert_allclose(x, descend(ref, jnp.array([2.0, 2.0]), loss, 200), atol=1e-7)


def test_project_params_in_optax_chain_keeps_an_l2_ball():
    def loss(p):
        return jnp.sum((p["w"] - 3.0) ** 2)

    tx = optax.chain(
        optax.adam(0.1), project_params(functools.partial(P.projection_l2_ball, scale=2.0))
    )
    params = descend(tx, {"w": jnp.zeros(4), "none": None}, loss, 300)
    np.testing.assert_allclose(params["w"], np.full(4, 1.0), atol=1e-4)  # 2 * w* / |w*|


def test_project_params_checks_its_arguments():
    with pytest.raises(TypeError, match="project_params: projection must be callable"):
        project_params("simplex")
    tx = project_params(P.projection_non_negative)
    with pytest.raises(ValueError, match="project_params: update\\(\\) needs params"):
        tx.update(jnp.ones(2), tx.init(None))
    bad = project_params(lambda p: (p, p))
    with pytest.raises(ValueError, match="projection returned a tree of another structure"):
        bad.update(jnp.ones(2), bad.init(jnp.ones(2)), jnp.ones(2))

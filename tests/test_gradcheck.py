"""check_grads: correct Flax gradients pass, a wrong custom_vjp is caught and located."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradlab.diagnostics import DEFAULT_COORDINATES, GradientCheckError, check_grads

linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")


class MLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = jnp.tanh(linen.Dense(8)(x))
        x = jax.nn.gelu(linen.Dense(8)(x))
        return linen.Dense(2)(x)


class SmallConv(linen.Module):
    @linen.compact
    def __call__(self, x):  # x: (batch, 6, 6, 1)
        x = jnp.tanh(linen.Conv(3, (3, 3))(x))
        x = linen.avg_pool(x, (2, 2), strides=(2, 2))
        return linen.Dense(2)(x.reshape(x.shape[0], -1))


@jax.custom_vjp
def buggy_matmul(x, kernel):
    return x @ kernel


def _fwd(x, kernel):
    return x @ kernel, (x, kernel)


def _bwd(res, g):
    x, kernel = res
    return g @ kernel.T, 2.0 * (x.T @ g)  # the kernel's cotangent is twice the true one


buggy_matmul.defvjp(_fwd, _bwd)


class BuggyMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = jnp.tanh(linen.Dense(8)(x))
        kernel = self.param("kernel", linen.initializers.lecun_normal(), (8, 8))
        x = jnp.tanh(buggy_matmul(x, kernel))  # only this layer's kernel gets a wrong gradient
        return linen.Dense(2)(x)


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=shape), jnp.float32), jnp.asarray(
        rng.normal(size=(shape[0], 2)), jnp.float32
    )


def _linen_loss(model, x, y):
    return lambda variables: jnp.mean((model.apply(variables, x) - y) ** 2)


def test_linen_mlp_passes_with_a_row_per_leaf():
    x, y = _data((16, 5))
    model = MLP()
    variables = model.init(jax.random.key(0), x)
    report = check_grads(_linen_loss(model, x, y), variables, raise_on_failure=True)
    assert report.passed
    paths = [leaf.path for leaf in report.leaves]
    assert paths == [
        jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(variables)[0]
    ]
    assert "['params']['Dense_0']['kernel']" in paths and len(paths) == 6
    for leaf in report.leaves:
        assert leaf.dtype == "float64" and leaf.max_rel_error < 1e-6, leaf
    text = str(report)
    assert "PASSED" in text and "['params']['Dense_2']['bias']" in text


def test_linen_conv_passes():
    x, y = _data((4, 6, 6, 1))
    model = SmallConv()
    variables = model.init(jax.random.key(1), x)
    loss = _linen_loss(model, x, y)
    report = check_grads(lambda p: loss({"params": p}), variables["params"], num_directions=2)
    assert report.passed, str(report)
    conv = next(leaf for leaf in report.leaves if leaf.path == "['Conv_0']['kernel']")
    assert conv.shape == (3, 3, 1, 3) and conv.num_checks == 2 + 27  # every coordinate


def test_nnx_model_via_split_passes():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.hidden = nnx.Linear(5, 8, rngs=rngs)
            self.out = nnx.Linear(8, 2, rngs=rngs)

        def __call__(self, x):
            return self.out(jnp.tanh(self.hidden(x)))

    x, y = _data((16, 5))
    graphdef, state = nnx.split(Net(nnx.Rngs(0)), nnx.Param)

    def loss(state):
        return jnp.mean((nnx.merge(graphdef, state)(x) - y) ** 2)

    report = check_grads(loss, state)
    assert report.passed, str(report)
    assert {leaf.path for leaf in report.leaves} >= {"['hidden']['kernel'].value"}


def test_wrong_custom_vjp_is_flagged_on_its_leaf_only():
    x, y = _data((16, 5))
    model = BuggyMLP()
    variables = model.init(jax.random.key(0), x)
    loss = _linen_loss(model, x, y)
    report = check_grads(loss, variables)
    assert not report.passed
    bad = "['params']['kernel']"
    assert [leaf.path for leaf in report.failed] == [bad]
    assert report.worst.path == bad
    assert report.worst.max_rel_error == pytest.approx(0.5, abs=1e-6)  # 2x: |2g - g| / |2g|
    assert report.worst.worst_autodiff == pytest.approx(2 * report.worst.worst_numeric, rel=1e-6)
    assert bad in str(report) and "FAIL" in str(report)

    with pytest.raises(GradientCheckError) as info:
        check_grads(loss, variables, raise_on_failure=True)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert bad in message and "max rel error 5.000e-01" in message
    assert info.value.report.worst.path == bad


def test_float32_mode_uses_a_step_for_the_dtype():
    x, y = _data((16, 5))
    model = MLP()
    variables = model.init(jax.random.key(0), x)
    report = check_grads(_linen_loss(model, x, y), variables, x64=False)
    assert report.passed, str(report)
    leaf = report.leaves[0]
    assert leaf.dtype == "float32"
    assert leaf.eps == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))
    assert leaf.rtol == 1e-3
    buggy = BuggyMLP()
    bad = check_grads(_linen_loss(buggy, x, y), buggy.init(jax.random.key(0), x), x64=False)
    assert [leaf.path for leaf in bad.failed] == ["['params']['kernel']"]


def test_large_leaves_are_sampled_and_other_leaves_skipped():
    params = {"big": jnp.linspace(-1.0, 1.0, 300).reshape(20, 15), "step": jnp.array(3)}

    def f(p):
        return jnp.sum(jnp.sin(p["big"]) ** 2) * p["step"]

    report = check_grads(f, params, per_coordinate=10, num_directions=1)
    assert report.passed and report.skipped == ("['step']",)
    (leaf,) = report.leaves
    assert leaf.num_checks == 1 + 10
    assert check_grads(f, params).leaves[0].num_checks == 3 + DEFAULT_COORDINATES
    assert check_grads(f, params, per_coordinate=False).leaves[0].num_checks == 3
    # the same seed samples the same coordinates; x64 is restored afterwards
    assert check_grads(f, params, seed=4) == check_grads(f, params, seed=4)
    assert jnp.ones(1).dtype == jnp.float32


def test_a_bare_array_is_a_root_leaf():
    report = check_grads(lambda w: jnp.sum(jnp.exp(w)), jnp.array([0.1, 0.2]))
    assert report.passed and report.leaves[0].path == "(root)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": 0.0}, "eps must be a finite number > 0"),
        ({"rtol": -1.0}, "rtol must be a finite number >= 0"),
        ({"num_directions": -1}, "num_directions must be an int >= 0"),
        ({"per_coordinate": -2}, "per_coordinate must be an int >= 0"),
        ({"num_directions": 0, "per_coordinate": False}, "nothing to check"),
    ],
)
def test_bad_arguments_raise_early(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_grads(lambda w: jnp.sum(w), jnp.ones(2), **kwargs)


def test_bad_functions_and_params_raise():
    with pytest.raises(ValueError, match="f must return a real scalar.*shape \\(2,\\)"):
        check_grads(lambda w: w**2, jnp.ones(2))
    with pytest.raises(ValueError, match="no real floating-point leaf"):
        check_grads(lambda p: jnp.sum(p), jnp.arange(3))
    with pytest.raises(TypeError, match="f must be callable"):
        check_grads("loss", jnp.ones(2))
    with pytest.raises(ValueError, match="finite value"):
        check_grads(lambda w: jnp.sum(jnp.log(w)), -jnp.ones(2))


def test_an_f_that_computes_in_float32_gets_float32_steps_under_x64():
    def f(w):  # casts down inside: float64 steps would drown in float32 rounding
        return jnp.sum(jnp.tanh(w.astype(jnp.float32)) ** 2)

    report = check_grads(f, jnp.array([0.3, -0.7, 1.1]))
    assert report.passed, str(report)
    assert report.leaves[0].dtype == "float32" and report.leaves[0].rtol == 1e-3


def test_mixed_dtypes_and_none_leaves_in_the_leaves_own_dtypes():
    params = {"a": jnp.array([0.5, 1.0], jnp.bfloat16), "b": jnp.array([0.2, 0.4]), "c": None}

    def f(p):
        return jnp.sum(p["a"].astype(jnp.float32) ** 2) + jnp.sum(jnp.sin(p["b"]))

    report = check_grads(f, params, x64=False)
    assert [(leaf.path, leaf.dtype) for leaf in report.leaves] == [
        ("['a']", "bfloat16"),
        ("['b']", "float32"),
    ]
    assert report.passed, str(report)
    # float64 by default; the None leaf is no leaf at all for jax.tree
    report = check_grads(lambda p: jnp.sum(p["a"] ** 2) + jnp.sum(jnp.sin(p["b"])), params)
    assert report.passed and [leaf.dtype for leaf in report.leaves] == ["float64"] * 2

"""gradlab.flat: packing is exact; elementwise optimizers match flat, the others raise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from gradlab import flat
from gradlab.flat import wrapper

STEPS = 3
#: Elementwise, accepted by the check, but their updates are differences of params
#: (x_{t+1} - x_t), so one rounding difference of XLA's fusions shows as many ulps: tested to 1e-6.
ROUNDING_ONLY = ("schedule_free_adamw", "schedule_free_sgd")


def random_tree(seed):
    """A nested tree of random f32/bf16 leaves with a scalar, a zero-size leaf and a None leaf."""
    rng = np.random.default_rng(seed)

    def arr(shape, dtype=jnp.float32):
        return jnp.asarray(rng.normal(size=shape), dtype)

    shapes = [tuple(int(d) for d in rng.integers(1, 6, size=rng.integers(1, 4))) for _ in range(6)]
    return {
        "layers": [{"kernel": arr(s), "bias": arr(s[-1:])} for s in shapes[:3]],
        "norm": {"scale": arr(shapes[3], jnp.bfloat16), "offset": arr((), jnp.bfloat16)},
        "scalar": arr(()),
        "empty": arr((0, 3)),
        "nothing": None,
        "tail": (arr(shapes[4]), arr(shapes[5], jnp.bfloat16)),
    }


def gradients(params, step):
    """Deterministic gradients of every sign and several magnitudes (one per step)."""
    scale = [1.0, 1e-3, 30.0, 0.5, 2.0][step % 5]
    return jax.tree.map(lambda p: (jnp.sin(3.0 * p + step) * scale).astype(p.dtype), params)


def assert_within_one_ulp(actual, expected, ulps=1):
    """Every element of every leaf within ``ulps`` units in the last place of the larger value."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        assert a.dtype == e.dtype and a.shape == e.shape
        a32, e32 = np.asarray(a, np.float32), np.asarray(e, np.float32)
        if a.dtype == jnp.bfloat16:  # bf16 keeps 8 bits of mantissa: its ulp is 2^-7 relative
            ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(a32), np.abs(e32)) + 1e-38)) - 7)
        else:
            ulp = np.spacing(np.maximum(np.abs(a32), np.abs(e32)))
        excess = np.abs(a32 - e32) - ulps * ulp
        assert np.all(excess <= 0), f"off by more than one ulp: {np.max(excess, initial=0)}"


def make(name):
    return getattr(gradlab, name)(1e-2)


# --- packing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_is_exact(seed):
    params = random_tree(seed)
    buffers, unflatten = flat.flatten(params)
    assert buffers.layout.dtypes == ("bfloat16", "float32")
    assert [b.ndim for b in buffers.arrays] == [1, 1]
    assert sum(b.size for b in buffers.arrays) == sum(x.size for x in jax.tree.leaves(params))
    back = jax.jit(unflatten)(buffers)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    again = jax.jit(unflatten.flatten)(back)
    for a, b in zip(again.arrays, buffers.arrays, strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


def test_layout_is_static_and_hashable():
    params = random_tree(0)
    layout = flat.make_layout(jax.eval_shape(lambda: params))
    assert layout == flat.flatten(params)[1] and hash(layout) == hash(flat.make_layout(params))
    buffers = flat.flatten(params)[0]
    assert jax.tree.structure(buffers).num_leaves == 2  # the buffers are the only children
    assert "bfloat16" in repr(buffers) and set(buffers.buffers) == {"bfloat16", "float32"}


def test_layout_mismatch_names_both():
    buffers, unflatten = flat.flatten({"a": jnp.ones(3)})
    with pytest.raises(ValueError, match="structure"):
        unflatten.flatten({"b": jnp.ones(3)})
    with pytest.raises(ValueError, match=r"leaf 0 has shape \(4,\)"):
        unflatten.flatten({"a": jnp.ones(4)})
    other = flat.flatten({"a": jnp.ones(4)})[0]
    with pytest.raises(ValueError, match="expected"):
        unflatten(other)
    with pytest.raises(TypeError, match="FlatBuffers"):
        unflatten({"a": jnp.ones(3)})


# --- gradients through unflatten ---------------------------------------------------------------


def leafwise_loss(params):
    """A nonlinear loss reading every leaf but ``tail[0]`` (whose gradient is a symbolic zero)."""
    used = {**params, "tail": params["tail"][1:]}
    terms = [
        jnp.sum(jnp.sin(x.astype(jnp.float32)) * (i + 1.0)) + jnp.sum(x.astype(jnp.float32) ** 3)
        for i, x in enumerate(jax.tree.leaves(used))
    ]
    return sum(terms)


def primitives(jaxpr):
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in wrapper._sub_jaxprs(value):
                names += primitives(sub)
    return names


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_through_unflatten_is_packed_per_leaf_grad(seed):
    """Exactly the per-leaf gradients, packed, and the backward pass is one concat per buffer."""
    params = random_tree(seed)
    buffers, unflatten = flat.flatten(params)
    per_leaf = jax.jit(lambda p: unflatten.flatten(jax.grad(leafwise_loss)(p)))(params)
    value_and_grad = jax.jit(jax.value_and_grad(lambda b: leafwise_loss(unflatten(b))))
    value, grads = value_and_grad(buffers)
    assert isinstance(grads, flat.FlatBuffers) and grads.layout == unflatten
    np.testing.assert_array_equal(value, jax.jit(leafwise_loss)(params))
    for a, b in zip(grads.arrays, per_leaf.arrays, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    unused = unflatten(grads)["tail"][0]
    np.testing.assert_array_equal(unused, jnp.zeros_like(unused))
    ops = primitives(jax.make_jaxpr(jax.grad(lambda b: leafwise_loss(unflatten(b))))(buffers).jaxpr)
    assert ops.count("concatenate") == len(unflatten.dtypes) and ops.count("split") == 2
    assert "pad" not in ops and "dynamic_update_slice" not in ops


def test_grad_through_unflatten_under_vmap_and_second_order():
    params = random_tree(5)
    buffers, unflatten = flat.flatten(params)
    flat_grad = jax.grad(lambda b: leafwise_loss(unflatten(b)))
    batch = jax.tree.map(lambda x: jnp.stack([x, 0.5 * x, -x]), buffers)
    got = jax.jit(jax.vmap(flat_grad))(batch)
    expected = jax.jit(
        jax.vmap(lambda b: unflatten.flatten(jax.grad(leafwise_loss)(unflatten(b))))
    )(batch)
    for a, b in zip(got.arrays, expected.arrays, strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    # forward over reverse (a Hessian-vector product) and reverse over reverse, per leaf and flat
    tangent = jax.tree.map(jnp.ones_like, params)
    hvp = jax.jit(lambda p, t: jax.jvp(jax.grad(leafwise_loss), (p,), (t,))[1])(params, tangent)
    flat_hvp = jax.jit(lambda b, t: jax.jvp(flat_grad, (b,), (t,))[1])(
        buffers, unflatten.flatten(tangent)
    )
    for a, b in zip(flat_hvp.arrays, unflatten.flatten(hvp).arrays, strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    norm = lambda g: sum(jnp.sum(x.astype(jnp.float32) ** 2) for x in jax.tree.leaves(g))  # noqa: E731
    gg = jax.jit(jax.grad(lambda p: norm(jax.grad(leafwise_loss)(p))))(params)
    flat_gg = jax.jit(jax.grad(lambda b: norm(flat_grad(b))))(buffers)
    for a, b in zip(flat_gg.arrays, unflatten.flatten(gg).arrays, strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))


def test_grad_through_unflatten_with_an_integer_buffer():
    params = {"w": jnp.arange(3.0), "step": jnp.int32(4), "s": jnp.float32(2.0)}
    buffers, unflatten = flat.flatten(params)
    grads = jax.grad(lambda b: jnp.sum(unflatten(b)["w"] ** 2) * unflatten(b)["s"], allow_int=True)(
        buffers
    )
    assert grads.layout.dtypes == ("float32", "int32")
    np.testing.assert_array_equal(grads.arrays[0], [5.0, 0.0, 4.0, 8.0])  # s, then w
    assert grads.arrays[1].dtype == jax.dtypes.float0


# --- the wrapper --------------------------------------------------------------------------------


def run_both(name, jit, seed):
    """STEPS steps of the alias per leaf and flat; asserts 1 ulp on updates and params."""
    params = random_tree(seed)
    tx, flat_tx = make(name), flat.on_flat_buffers(make(name))
    state, flat_state = tx.init(params), flat_tx.init(params)
    assert len(jax.tree.leaves(flat_state)) <= len(jax.tree.leaves(state))
    step, flat_step = (
        (jax.jit(tx.update), jax.jit(flat_tx.update)) if jit else (tx.update, flat_tx.update)
    )
    # the gradients and the params' update jitted too: eagerly, each op on each leaf shape
    # compiles once, which was most of this test's time
    grads_at, apply = jax.jit(gradients, static_argnums=1), jax.jit(gradlab.apply_updates)
    p = fp = params
    for t in range(STEPS):
        updates, state = step(grads_at(p, t), state, p)
        flat_updates, flat_state = flat_step(grads_at(fp, t), flat_state, fp)
        if name not in ROUNDING_ONLY:  # XLA may contract a*b+c differently per shape: 2 ulps
            assert_within_one_ulp(flat_updates, updates, ulps=2)
        p, fp = apply(p, updates), apply(fp, flat_updates)
        if name not in ROUNDING_ONLY:
            assert_within_one_ulp(fp, p)
        else:
            for a, b in zip(jax.tree.leaves(fp), jax.tree.leaves(p), strict=True):
                np.testing.assert_allclose(np.float32(a), np.float32(b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", wrapper.ELEMENTWISE_ALIASES)
def test_elementwise_alias_flat_equals_per_leaf(name):
    run_both(name, jit=True, seed=sum(map(ord, name)))


def test_flat_buffers_in_flat_buffers_out():
    params = random_tree(3)
    buffers, unflatten = flat.flatten(params)
    tx, flat_tx = gradlab.adam(1e-2), flat.on_flat_buffers(gradlab.adam(1e-2))
    flat_state = flat_tx.init(buffers)
    grads = gradients(params, 0)
    out, _ = jax.jit(flat_tx.update)(unflatten.flatten(grads), flat_state, buffers)
    assert isinstance(out, flat.FlatBuffers)
    expected, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    assert_within_one_ulp(unflatten(out), expected)


@pytest.mark.parametrize(
    "name, make_tx",
    [
        ("lars", lambda: gradlab.lars(1e-2)),
        ("lamb", lambda: gradlab.lamb(1e-2)),
        ("novograd", lambda: gradlab.novograd(1e-2)),
        ("muon", lambda: gradlab.muon(1e-2)),
        ("adafactor", lambda: gradlab.adafactor(1e-2)),
        ("prodigy", lambda: gradlab.prodigy()),  # a dot product over all coordinates
        ("clip_by_block_rms", lambda: gradlab.clip_by_block_rms(1.0)),
        ("clip_by_global_norm", lambda: gradlab.clip_by_global_norm(1.0)),
        ("apply_if_finite", lambda: gradlab.apply_if_finite(gradlab.adam(1e-2), 3)),
        ("add_noise", lambda: gradlab.add_noise(0.1, 0.55, 0)),
    ],
)
def test_not_elementwise_is_refused(name, make_tx):
    params = {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}
    with pytest.raises(flat.NotElementwiseError, match="on_flat_buffers"):
        flat.on_flat_buffers(make_tx()).init(params)


@pytest.mark.parametrize("name", [n for n in wrapper.NOT_ELEMENTWISE if n != "prodigy"])
def test_not_elementwise_list_is_refused_and_would_differ(name):
    """Each listed optimizer is refused, and forcing it gives other numbers than per leaf."""
    params = {"w": jnp.linspace(-1.0, 2.0, 12).reshape(4, 3), "b": jnp.array([0.3, -2.0, 5.0])}
    tx = make(name)
    with pytest.raises(flat.NotElementwiseError):
        flat.on_flat_buffers(tx).init(params)
    forced = flat.on_flat_buffers(tx, assume_elementwise=True)
    grads = gradients(params, 0)
    expected, _ = tx.update(grads, tx.init(params), params)
    got, _ = forced.update(grads, forced.init(params), params)
    assert not all(
        bool(jnp.allclose(a, b, rtol=1e-5))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True)
    )


def test_shape_dependent_rule_is_refused():
    """A rule that reads a leaf's shape (no mixing op in sight) is caught by the 1-D re-trace."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: g / g.shape[0], updates), state

    fan_in = gradlab.GradientTransformation(lambda params: gradlab.EmptyState(), update)
    with pytest.raises(flat.NotElementwiseError, match="shapes"):
        flat.on_flat_buffers(fan_in).init({"w": jnp.ones((4, 3))})


def test_global_parts_wrap_outside():
    params = random_tree(4)
    tx = gradlab.chain(gradlab.clip_by_global_norm(1.0), gradlab.adam(1e-2))
    flat_tx = gradlab.chain(
        gradlab.clip_by_global_norm(1.0), flat.on_flat_buffers(gradlab.adam(1e-2))
    )
    grads = gradients(params, 2)
    expected, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    got, _ = jax.jit(flat_tx.update)(grads, flat_tx.init(params), params)
    assert_within_one_ulp(got, expected)


def test_untraceable_inner_and_bad_state():
    def update(updates, state, params=None, *, value):
        return updates, state

    needs_value = gradlab.GradientTransformationExtraArgs(lambda p: gradlab.EmptyState(), update)
    with pytest.raises(flat.NotElementwiseError, match="assume_elementwise"):
        flat.on_flat_buffers(needs_value).init({"w": jnp.ones(2)})
    tx = flat.on_flat_buffers(needs_value, assume_elementwise=True)
    out, _ = tx.update({"w": jnp.ones(2)}, tx.init({"w": jnp.ones(2)}), value=jnp.asarray(1.0))
    np.testing.assert_array_equal(out["w"], jnp.ones(2))
    with pytest.raises(TypeError, match="FlatState"):
        tx.update({"w": jnp.ones(2)}, gradlab.EmptyState())


# --- a many-leaf Flax model, trained both ways --------------------------------------------------


def test_flax_mlp_training_step_flat_equals_per_leaf():
    nn = pytest.importorskip("flax.linen")

    class DeepMLP(nn.Module):
        depth: int = 30
        width: int = 4

        @nn.compact
        def __call__(self, x):
            for _ in range(self.depth):
                x = nn.tanh(nn.Dense(self.width)(x))
            return nn.Dense(1)(x)

    model = DeepMLP()
    x = jax.random.normal(jax.random.key(0), (16, 4))
    y = jnp.sin(x.sum(axis=1, keepdims=True))
    params = model.init(jax.random.key(1), x)["params"]
    assert len(jax.tree.leaves(params)) == 62

    def loss(p):
        return jnp.mean((model.apply({"params": p}, x) - y) ** 2)

    tx = gradlab.adamw(1e-2, weight_decay=1e-2)

    @jax.jit
    def per_leaf_step(p, s):
        value, grads = jax.value_and_grad(loss)(p)
        updates, s = tx.update(grads, s, p)
        return gradlab.apply_updates(p, updates), s, value

    buffers, unflatten = flat.flatten(params)
    flat_tx = flat.on_flat_buffers(tx)

    @jax.jit
    def flat_step(fp, s, tp, ts):
        # the params kept as buffers: the loss reads views, the gradient comes back as buffers
        value, grads = jax.value_and_grad(lambda b: loss(unflatten(b)))(fp)
        updates, s = flat_tx.update(grads, s, fp)
        # the drop-in form: params and gradients stay trees, only the state is flat
        tree_value, tree_grads = jax.value_and_grad(loss)(tp)
        tree_updates, ts = flat_tx.update(tree_grads, ts, tp)
        return (
            gradlab.apply_updates(fp, updates), s, value,
            gradlab.apply_updates(tp, tree_updates), ts, tree_value,
        )  # fmt: skip

    p, s = params, tx.init(params)
    fp, fs = buffers, flat_tx.init(buffers)
    tp, ts = params, flat_tx.init(params)
    for _ in range(3):
        p, s, value = per_leaf_step(p, s)
        fp, fs, flat_value, tp, ts, tree_value = flat_step(fp, fs, tp, ts)
        np.testing.assert_allclose(tree_value, value, rtol=1e-6)
        np.testing.assert_allclose(flat_value, value, rtol=1e-6)
    # Same optimizer arithmetic, but each path is its own XLA program: the backward pass of a
    # 30-layer tanh MLP is fused (and its dots summed) differently, a few ulps that three steps
    # carry through; the optimizer alone is within 2 ulps (the alias tests above).
    for a, b, c in zip(*map(jax.tree.leaves, (tp, unflatten(fp), p)), strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b, c, rtol=1e-5, atol=1e-7)

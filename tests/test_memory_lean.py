"""Memory-lean optimizer state: bf16 moments and 8-bit block-wise quantized moments.

The quantizer is checked against a NumPy transcription of the dynamic map (written from
Dettmers et al. 2022, Sec. 2, and bitsandbytes' construction) and a brute-force nearest-code
search; the optimizers against float32 Adam on the digits MLP of ``python -m gradlab.demo``.
"""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from gradlab.core import quantization, storage
from gradlab.demo import classification, training

# ---------------------------------------------------------------------------------------------
# The code map and the round trip


def np_dynamic_map(signed):
    """Dynamic tree quantization's 256 values: for the exponent k = 0..6 (the decade
    [1e-7, 1] scaled by 10^(k-6)) the midpoints of 2^k (unsigned: 2^(k+1)) equal parts of
    [0.1, 1], both signs when signed; then 0 and 1."""
    values = [0.0, 1.0]
    for k in range(7):
        n = 2**k if signed else 2 ** (k + 1)
        edges = np.linspace(0.1, 1.0, n + 1, dtype=np.float32)
        mids = (edges[:-1] + edges[1:]) / np.float32(2)
        values += list(10.0 ** (k - 6) * mids)
        if signed:
            values += list(-(10.0 ** (k - 6)) * mids)
    return np.sort(np.asarray(values, np.float32))


@pytest.mark.parametrize("signed", [True, False])
def test_dynamic_map_is_the_papers(signed):
    ours = quantization.dynamic_map(signed)
    np.testing.assert_array_equal(ours, np_dynamic_map(signed))
    assert ours.shape == (256,) and ours.max() == 1.0 and np.all(np.diff(ours) > 0)
    assert (ours.min() < -0.99) if signed else (ours.min() == 0.0)


def np_round_trip(x, block_size, signed):
    """Brute force: every entry to the nearest of the 256 values, times its block's absmax."""
    code_map = np_dynamic_map(signed)
    flat = x.reshape(-1).astype(np.float32)
    out = np.empty_like(flat)
    for start in range(0, flat.size, block_size):
        block = flat[start : start + block_size]
        scale = np.abs(block).max()
        normalized = block / (scale if scale > 0 else 1.0)
        nearest = np.abs(normalized[:, None] - code_map[None, :]).argmin(axis=1)
        out[start : start + block_size] = code_map[nearest] * scale
    return out.reshape(x.shape)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("block_size,shape", [(2048, (3, 1500)), (256, (1000,)), (64, (7, 9))])
def test_round_trip_error_is_the_nearest_codes_within_half_a_gap(signed, block_size, shape):
    rng = np.random.default_rng(block_size)
    # magnitudes over 8 decades, so that every exponent of the map is used
    x = rng.normal(size=shape) * 10.0 ** rng.uniform(-8, 0, size=shape)
    x = np.abs(x) if not signed else x
    x.reshape(-1)[5] = 0.0
    q = quantization.quantize_blockwise(jnp.asarray(x, jnp.float32), block_size, signed)
    assert q.codes.dtype == jnp.uint8 and q.codes.shape == shape
    assert q.scales.dtype == jnp.float32
    assert q.scales.shape == (-(-x.size // block_size),)
    got = np.asarray(quantization.dequantize_blockwise(q))
    want = np_round_trip(x, block_size, signed)
    flat_x = x.reshape(-1).astype(np.float32)
    scales = np.repeat(np.asarray(q.scales), block_size)[: x.size]
    # the nearest code (ties may go either way: compare errors, not codes)
    err, best = np.abs(got.reshape(-1) - flat_x), np.abs(want.reshape(-1) - flat_x)
    assert np.all(err <= best + 1e-6 * scales)
    # the bound relative to each block's absmax: half the widest gap of the map
    half_gap = np.diff(np_dynamic_map(signed)).max() / 2
    assert np.all(err <= (half_gap + 1e-6) * scales)
    assert half_gap < (0.00704 if signed else 0.00352)
    assert got.reshape(-1)[5] == 0.0
    # quantize_like keeps the format: map, block size, shapes
    again = quantization.quantize_like(got, q)
    assert type(again) is type(q) and again.scales.shape == q.scales.shape
    if not signed:  # the unsigned map holds 1.0, so its round trip is a fixed point
        np.testing.assert_array_equal(np.asarray(quantization.dequantize_blockwise(again)), got)


def test_a_block_of_zeros_stays_zero():
    q = quantization.quantize_blockwise(jnp.zeros(100), 16, signed=False)
    np.testing.assert_array_equal(quantization.dequantize_blockwise(q), np.zeros(100))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"block_size": 1000}, "block_size"),
        ({"block_size": 8}, "block_size"),
        ({"min_size": -1}, "min_size"),
    ],
)
def test_bad_formats_are_refused_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradlab_format(**kwargs)


def gradlab_format(**kwargs):
    return quantization.Blockwise8bit(**kwargs)


def test_muon_8bit_momenta_are_a_quarter_of_the_bytes_and_train_alike():
    """muon(state_format="8bit") quantizes the matrices' momenta (AdamW's for the bias stays
    dense under the size floor): under 0.3x the bytes, and 100 steps on a least-squares
    problem end within 0.1% of the float32-state loss."""
    rng = np.random.default_rng(0)
    params = {
        "w": jnp.asarray(rng.normal(size=(128, 96)), jnp.float32),
        "w2": jnp.asarray(rng.normal(size=(96, 64)), jnp.float32),
        "b": jnp.zeros(96),
    }
    target = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)

    def loss(p):
        return sum(
            jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(target))
        )

    finals, sizes = [], []
    for fmt in (None, "8bit"):
        tx = gradlab.muon(0.02, state_format=fmt)
        state = tx.init(params)
        sizes.append(nbytes(state))

        @jax.jit
        def step(p, s, tx=tx):
            u, s = tx.update(jax.grad(loss)(p), s, p)
            return gradlab.apply_updates(p, u), s

        p = params
        for _ in range(100):
            p, state = step(p, state)
        finals.append(float(loss(p)))
        if fmt is not None:
            mu = state.inner_state.inner_states["muon"][0].mu
            assert type(mu["w"]) is quantization.Quantized and mu["b"] is None
    assert sizes[1] <= 0.3 * sizes[0], sizes
    assert finals[0] < 0.9 * float(loss(params))  # it trains
    assert finals[1] == pytest.approx(finals[0], rel=1e-3)


def test_unknown_state_format_is_refused_at_construction():
    with pytest.raises(ValueError, match="state_format"):
        gradlab.adam(1e-3, state_format="4bit")


# ---------------------------------------------------------------------------------------------
# The state: which leaves are quantized, and how many bytes it takes

PARAMS = {
    "kernel": jnp.ones((256, 128)),  # 32768 entries: quantized, 16 blocks
    "wide": jnp.ones((50, 100)),  # 5000 entries: quantized, a short last block
    "bias": jnp.ones((128,)),  # under 4096: dense float32
}


def nbytes(tree):
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def moments(state):
    """The (m, v) statistics of an adam state, by their NamedTuple types."""
    found = []

    def visit(x):
        if isinstance(x, gradlab.MovingAverageState):
            found.append(x.average)
        return x

    jax.tree.map(visit, state, is_leaf=lambda x: isinstance(x, gradlab.MovingAverageState))
    return found


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "nadamw", "amsgrad"])
def test_8bit_state_takes_under_0_3_of_float32s_bytes(name):
    big = {k: v for k, v in PARAMS.items() if k != "bias"}
    dense = getattr(gradlab, name)(1e-3).init(big)
    lean = getattr(gradlab, name)(1e-3, state_format="8bit").init(big)
    ratio = nbytes(lean) / nbytes(dense)
    assert ratio <= 0.3, ratio  # 1 byte + 4 bytes per 2048 entries, against 4 bytes
    m, v = moments(lean)
    assert type(m["kernel"]) is quantization.Quantized  # signed map for the first moment
    assert type(v["kernel"]) is quantization.UnsignedQuantized  # unsigned for the second
    assert m["wide"].scales.shape == (3,)


def test_small_leaves_stay_dense_and_min_size_moves_the_threshold():
    m, v = moments(gradlab.adam(1e-3, state_format="8bit").init(PARAMS))
    assert m["bias"].dtype == v["bias"].dtype == jnp.float32 and not storage.is_quantized(m["bias"])
    fmt = quantization.Blockwise8bit(block_size=64, min_size=0)
    m, _ = moments(gradlab.adam(1e-3, state_format=fmt).init(PARAMS))
    assert storage.is_quantized(m["bias"]) and m["bias"].scales.shape == (2,)
    assert m["kernel"].scales.shape == (256 * 128 // 64,)


def test_8bit_state_is_arrays_only_jits_and_serializes():
    tx = gradlab.adam(1e-2, state_format="8bit")
    state = tx.init(PARAMS)
    assert jax.eval_shape(tx.init, PARAMS) is not None
    grads = jax.tree.map(
        lambda p: jnp.sin(jnp.arange(p.size, dtype=jnp.float32)).reshape(p.shape), PARAMS
    )
    step = jax.jit(tx.update)
    for _ in range(3):
        u, state = step(grads, state, PARAMS)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))
    # flax.serialization: bytes and back into the structure init() gives
    restored = flax.serialization.from_bytes(tx.init(PARAMS), flax.serialization.to_bytes(state))
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    m, v = moments(restored)
    assert type(m["kernel"]) is quantization.Quantized
    assert type(v["kernel"]) is quantization.UnsignedQuantized
    # the restored state continues exactly as the original does
    np.testing.assert_array_equal(
        step(grads, restored, PARAMS)[0]["kernel"], step(grads, state, PARAMS)[0]["kernel"]
    )


def test_first_update_is_computed_before_the_state_is_rounded():
    """As optax's mu_dtype: the output uses the float32 moments, the state their 8-bit form."""
    grads = jax.tree.map(
        lambda p: jnp.cos(jnp.arange(p.size, dtype=jnp.float32)).reshape(p.shape), PARAMS
    )
    dense, lean = gradlab.adam(0.1), gradlab.adam(0.1, state_format="8bit")
    u, _ = jax.jit(dense.update)(grads, dense.init(PARAMS), PARAMS)
    w, _ = jax.jit(lean.update)(grads, lean.init(PARAMS), PARAMS)
    np.testing.assert_allclose(w["kernel"], u["kernel"], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Training: bf16 and 8-bit state against float32 Adam on the digits MLP

STEPS, BATCH, LR = 300, 64, 2e-3
# |curve difference| of the whole-training-set loss, at every measured step (measured at 400
# steps: bf16 0.0007, 8-bit 0.0042, 8-bit on every leaf 0.0057; float32 Adam ends at 0.075)
LOSS_TOL = 0.02
ACCURACY_TOL = 0.01  # one point of test accuracy


@pytest.fixture(scope="module")
def digits_runs():
    problem = classification.digits_problem(0)
    evaluate = training.make_evaluate(problem)
    optimizers = {
        "float32": gradlab.adam(LR),
        "bf16": gradlab.adam(LR, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16),
        "8bit": gradlab.adam(LR, state_format="8bit"),
        # every leaf quantized (min_size=0), in blocks of 256
        "8bit_all": gradlab.adam(
            LR, state_format=quantization.Blockwise8bit(block_size=256, min_size=0)
        ),
    }
    runs = {
        name: training.train(
            problem,
            tx,
            name=name,
            steps=STEPS,
            batch_size=BATCH,
            key=jax.random.key(0),
            evaluate=evaluate,
            progress=False,
        )
        for name, tx in optimizers.items()
    }
    return problem, optimizers, runs


@pytest.mark.parametrize("name", ["bf16", "8bit", "8bit_all"])
def test_lean_adam_follows_float32_adams_loss_curve_on_digits(digits_runs, name):
    problem, optimizers, runs = digits_runs
    ref, run = runs["float32"], runs[name]
    np.testing.assert_array_equal(run.curve_steps, ref.curve_steps)
    gap = np.max(np.abs(run.curve_loss - ref.curve_loss))
    assert gap <= LOSS_TOL, (name, gap, run.final_loss, ref.final_loss)
    assert run.final_loss < 0.2 * run.initial_loss
    assert abs(run.metric - ref.metric) <= ACCURACY_TOL, (name, run.metric, ref.metric)
    state = optimizers[name].init(problem.params)
    leaves = jax.tree.leaves(state)
    if name == "bf16":
        assert any(x.dtype == jnp.bfloat16 for x in leaves)
    else:  # the 64x128 hidden kernel (8192 entries) is quantized in both 8-bit runs
        assert any(x.dtype == jnp.uint8 and x.size == 64 * 128 for x in leaves)
        assert all(x.dtype != jnp.uint8 or x.size >= 4096 for x in leaves) or name == "8bit_all"

"""Batch, mini-batch and online data: epochs are permutations, keys decide them, SGD converges."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradlab
from gradlab.data import (
    Epoch,
    batch_indices,
    epochs,
    iterate_batches,
    num_batches,
    take_batch,
)

KEY = jax.random.key(0)


@pytest.mark.parametrize("n, b", [(10, 3), (12, 4), (7, 7), (5, 1), (13, 5)])
def test_keep_remainder_uses_every_example_exactly_once(n, b):
    idx = np.asarray(batch_indices(KEY, n, b, drop_remainder=False))
    assert idx.dtype == np.int32 and idx.shape == (-(-n // b), b)
    assert idx.shape[0] == num_batches(n, b, drop_remainder=False)
    real = idx[idx < n]
    assert sorted(real.tolist()) == list(range(n))  # a permutation: each once
    assert (idx[:-1] < n).all()  # only the last row is padded, with the index n
    assert (idx[-1][idx[-1] >= n] == n).all() and (idx[-1] < n).sum() == n - b * (idx.shape[0] - 1)


@pytest.mark.parametrize("n, b", [(10, 3), (12, 4), (13, 5), (5, 1)])
def test_drop_remainder_uses_each_example_at_most_once(n, b):
    idx = np.asarray(batch_indices(KEY, n, b))
    assert idx.shape == (n // b, b) == (num_batches(n, b), b)
    flat = idx.ravel().tolist()
    assert len(set(flat)) == len(flat) == (n // b) * b  # distinct, num_batches * batch_size
    assert all(0 <= i < n for i in flat)


def test_same_key_same_batches_other_key_other_batches():
    a = batch_indices(jax.random.key(3), 100, 10)
    assert np.array_equal(a, batch_indices(jax.random.key(3), 100, 10))
    assert not np.array_equal(a, batch_indices(jax.random.key(4), 100, 10))
    # legacy uint32 keys work too
    legacy = jax.random.PRNGKey(3)
    assert np.array_equal(batch_indices(legacy, 100, 10), batch_indices(legacy, 100, 10))


def test_epochs_differ_and_are_reproducible():
    run = [e.indices for e in epochs(KEY, 3, 50, 10)]
    again = list(epochs(KEY, 3, 50, 10))
    assert all(isinstance(e, Epoch) for e in again)
    assert [e.number for e in again] == [0, 1, 2]
    for a, e in zip(run, again):
        assert np.array_equal(a, e.indices)
        assert sorted(np.asarray(a).ravel().tolist()) == list(range(50))
    assert not np.array_equal(run[0], run[1]) and not np.array_equal(run[1], run[2])
    other = next(epochs(jax.random.key(1), 1, 50, 10)).indices
    assert not np.array_equal(run[0], other)
    # the epoch keys are distinct from each other
    keys = [jax.random.key_data(e.key).tolist() for e in again]
    assert len({str(k) for k in keys}) == 3
    # an endless stream
    stream = epochs(KEY, None, 4, 2)
    assert [next(stream).number for _ in range(5)] == [0, 1, 2, 3, 4]


def test_shuffle_false_keeps_the_given_order():
    idx = batch_indices(None, 10, 4, shuffle=False, drop_remainder=False)
    assert idx.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 10]]
    assert batch_indices(KEY, 10, 5, shuffle=False).tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    fixed = [e.indices.tolist() for e in epochs(KEY, 2, 6, 3, shuffle=False)]
    assert fixed == [[[0, 1, 2], [3, 4, 5]]] * 2


def test_modes_batch_minibatch_online():
    assert batch_indices(KEY, 8, 8).shape == (1, 8)  # batch GD: one batch of everything
    assert sorted(batch_indices(KEY, 8, 8)[0].tolist()) == list(range(8))
    assert batch_indices(KEY, 8, 1).shape == (8, 1)  # online: one example per step


def test_jittable_with_static_sizes_and_inside_scan():
    jitted = jax.jit(batch_indices, static_argnums=(1, 2), static_argnames=("drop_remainder",))
    assert np.array_equal(
        jitted(KEY, 10, 3, drop_remainder=False), batch_indices(KEY, 10, 3, drop_remainder=False)
    )

    def per_epoch(_, e):
        return None, batch_indices(jax.random.fold_in(KEY, e), 6, 2)

    _, all_epochs = jax.jit(lambda: jax.lax.scan(per_epoch, None, jnp.arange(4)))()
    assert all_epochs.shape == (4, 3, 2)
    assert np.array_equal(all_epochs[1], batch_indices(jax.random.fold_in(KEY, 1), 6, 2))


def test_take_batch_and_iterate_batches():
    data = {"x": jnp.arange(14.0).reshape(7, 2), "y": np.arange(7)}
    idx = batch_indices(KEY, 7, 3, drop_remainder=False)
    batches = take_batch(data, idx)
    assert batches["x"].shape == (3, 3, 2) and batches["y"].shape == (3, 3)
    pad = np.asarray(idx) == 7
    assert (np.asarray(batches["x"])[pad] == 0).all()
    assert np.array_equal(np.asarray(batches["y"])[~pad], np.asarray(idx)[~pad])

    kept = list(iterate_batches(KEY, data, 3, drop_remainder=False))
    assert [len(b["y"]) for b in kept] == [3, 3, 1]  # the last, smaller batch
    assert isinstance(kept[0]["y"], np.ndarray)  # NumPy data stays NumPy
    assert sorted(np.concatenate([b["y"] for b in kept]).tolist()) == list(range(7))
    dropped = list(iterate_batches(KEY, data, 3))
    assert [len(b["y"]) for b in dropped] == [3, 3]
    for b in dropped:
        assert np.array_equal(b["x"][:, 0], 2.0 * b["y"])  # rows stay aligned across leaves


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: batch_indices(KEY, 10, 11), ValueError, "batch_size must be <= num_examples"),
        (lambda: batch_indices(KEY, 10, 0), ValueError, "batch_size must be an int >= 1"),
        (lambda: batch_indices(KEY, 10, -3), ValueError, "batch_size must be an int >= 1"),
        (lambda: batch_indices(KEY, 0, 1), ValueError, "num_examples must be an int >= 1"),
        (lambda: batch_indices(KEY, 10, 2.5), ValueError, "batch_size must be an int"),
        (lambda: batch_indices(None, 10, 2), ValueError, "needs a PRNG key"),
        (lambda: batch_indices(KEY, 10, 2, shuffle="yes"), TypeError, "shuffle must be True"),
        (lambda: num_batches(4, 5), ValueError, "batch_size must be <= num_examples = 4"),
        (lambda: epochs(KEY, 0, 10, 2), ValueError, "num_epochs must be an int >= 1"),
        (lambda: epochs(KEY, 2, 10, 20), ValueError, "batch_size must be <= num_examples"),
        (
            lambda: iterate_batches(KEY, {"a": np.ones(3), "b": np.ones(4)}, 2),
            ValueError,
            r"\['a'\] has 3 examples but \['b'\] has 4",
        ),
        (lambda: iterate_batches(KEY, np.ones(3), 4), ValueError, "batch_size must be <="),
    ],
)
def test_bad_arguments_raise_early_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()  # generators validate when called, before the first batch


def test_traced_sizes_say_to_mark_them_static():
    with pytest.raises(TypeError, match="static"):
        jax.jit(lambda n: batch_indices(KEY, n, 2))(10)


# -- batch, mini-batch and online gradient descent on a least-squares problem -----------------

N, D = 64, 3


@functools.lru_cache
def _problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3 * rng.normal(size=N)  # noisy: residual > 0
    return x, y, np.linalg.lstsq(x, y, rcond=None)[0]


def _sgd_least_squares(batch_size, num_epochs, lr, decay_epochs, drop_remainder):
    x, y, _ = _problem()
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    steps_per_epoch = num_batches(N, batch_size, drop_remainder=drop_remainder)
    tx = gradlab.sgd(lambda t: lr / (1.0 + t / (decay_epochs * steps_per_epoch)))

    def loss(w, xb, yb, mask):  # the mean over the real examples of the batch
        return jnp.sum(mask * (xb @ w - yb) ** 2) / (2 * jnp.sum(mask))

    def epoch(carry, e):
        idx = batch_indices(
            jax.random.fold_in(KEY, e), N, batch_size, drop_remainder=drop_remainder
        )
        xb, yb = take_batch((x, y), idx)

        def step(carry, batch):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w, *batch), state, w)
            return (gradlab.apply_updates(w, updates), state), None

        mask = (idx < N).astype(jnp.float32)
        return jax.lax.scan(step, carry, (xb, yb, mask))[0], None

    w0 = jnp.zeros(D)
    run = jax.jit(lambda: jax.lax.scan(epoch, (w0, tx.init(w0)), jnp.arange(num_epochs)))
    (w, _), _ = run()
    return np.asarray(w)


@pytest.mark.parametrize(
    "mode, batch_size, num_epochs, lr, decay_epochs, drop_remainder",
    [
        ("batch", N, 300, 0.5, np.inf, True),  # constant step: plain gradient descent
        ("mini-batch", 16, 100, 0.2, 5, True),
        ("mini-batch, kept remainder", 10, 100, 0.2, 5, False),
        ("online", 1, 100, 0.05, 5, True),
    ],
)
def test_sgd_reaches_the_least_squares_solution(
    mode, batch_size, num_epochs, lr, decay_epochs, drop_remainder
):
    x, y, w_star = _problem()
    w = _sgd_least_squares(batch_size, num_epochs, lr, decay_epochs, drop_remainder)
    true_w = np.array([1.5, -2.0, 0.5])
    assert np.abs(w_star - true_w).max() > 0.02  # so reaching w_star is the finer claim
    np.testing.assert_allclose(w, w_star, atol=5e-3, err_msg=mode)

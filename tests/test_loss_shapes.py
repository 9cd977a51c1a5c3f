"""Shape checks of gradlab.losses: two arrays that a loss compares never broadcast silently.

A ``(N, 1)`` prediction against ``(N,)`` targets broadcasts to ``(N, N)`` under NumPy's rules and
returns a plausible-looking loss of the wrong shape. Every loss with two compared arrays requires
equal shapes (optax's ``check_shapes_equal``, which ``optax.squared_error`` and
``optax.perceptron_loss`` apply); integer labels must have the scores' batch shape. The tests run
with JAX's default rank promotion ("allow"), as users do (tests/conftest.py sets "raise").
"""

from __future__ import annotations

import re

import jax
import numpy as np
import pytest

from gradlab import losses

# (loss, name of the first array, name of the second array, extra keyword arguments)
PAIRS = [
    ("squared_error", "predictions", "targets", {}),
    ("l2_loss", "predictions", "targets", {}),
    ("absolute_error", "predictions", "targets", {}),
    ("l1_loss", "predictions", "targets", {}),
    ("huber_loss", "predictions", "targets", {}),
    ("gaussian_nll", "predictions", "targets", {"precision": 2.0}),
    ("sigmoid_binary_cross_entropy", "logits", "labels", {}),
    ("binary_cross_entropy", "probabilities", "labels", {}),
    ("softmax_cross_entropy", "logits", "labels", {}),
    ("kl_divergence", "log_predictions", "targets", {}),
    ("kl_divergence_with_log_targets", "log_predictions", "log_targets", {}),
    ("hinge_loss", "predictor_outputs", "targets", {}),
    ("squared_hinge_loss", "predictor_outputs", "targets", {}),
    ("perceptron_loss", "predictor_outputs", "targets", {}),
]
# Shapes that differ: each broadcasts (to a bigger or the same shape) except the last.
MISMATCHES = [((4, 1), (4,)), ((4,), (4, 1)), ((4, 1), (1, 4)), ((3, 4), (4,)), ((4,), ()),
              ((3,), (4,))]  # fmt: skip
INTEGER_LOSSES = [
    ("softmax_cross_entropy_with_integer_labels", "logits"),
    ("multiclass_hinge_loss", "scores"),
    ("multiclass_perceptron_loss", "scores"),
]


@pytest.fixture(autouse=True)
def _default_rank_promotion():
    with jax.numpy_rank_promotion("allow"):
        yield


def _value(shape, fill=0.25):
    return np.full(shape, fill, np.float32)


@pytest.mark.parametrize("first_shape, second_shape", MISMATCHES, ids=str)
@pytest.mark.parametrize("name, first, second, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_compared_arrays_of_different_shapes_raise(name, first, second, kwargs, first_shape,
                                                   second_shape):  # fmt: skip
    fn = getattr(losses, name)
    with pytest.raises(ValueError) as error:
        fn(_value(first_shape), _value(second_shape), **kwargs)
    message = str(error.value)
    for part in (f"{name}:", f"{first} shape {first_shape}", f"{second} shape {second_shape}"):
        assert part in message, (part, message)
    assert "Pass " in message, message  # the fix


def test_the_message_names_the_broadcast_and_the_fix():
    message = (
        "squared_error: predictions shape (4, 1) and targets shape (4,) must be equal; they "
        "would broadcast to (4, 4). Pass targets.reshape((4, 1)) or predictions.reshape((4,))."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        losses.squared_error(_value((4, 1)), _value((4,)))
    with pytest.raises(ValueError, match=re.escape("Pass jnp.broadcast_to(targets, (3, 4))")):
        losses.hinge_loss(_value((3, 4)), _value((4,)))


@pytest.mark.parametrize("name, first, second, kwargs", PAIRS, ids=[p[0] for p in PAIRS])
def test_equal_shapes_still_work(name, first, second, kwargs):
    out = getattr(losses, name)(_value((3, 4)), _value((3, 4)), **kwargs)
    per_example = name.startswith(("softmax", "kl_"))
    assert out.shape == ((3,) if per_example else (3, 4))


def test_shape_checks_hold_under_jit_and_vmap():
    with pytest.raises(ValueError, match="squared_error: predictions shape"):
        jax.jit(losses.squared_error)(_value((4, 1)), _value((4,)))
    with pytest.raises(ValueError, match="hinge_loss: predictor_outputs shape"):
        jax.vmap(losses.hinge_loss)(_value((5, 4, 1)), _value((5, 4)))
    out = jax.vmap(losses.squared_error)(_value((5, 4)), _value((5, 4)))
    assert out.shape == (5, 4)


def test_hyperparameters_broadcast_to_the_predictions_shape():
    p, t = _value((3, 4), 0.0), _value((3, 4), 2.0)
    # A scalar delta, or one per column: optax's huber_loss takes any delta jnp broadcasts.
    np.testing.assert_allclose(losses.huber_loss(p, t, delta=1.0), np.full((3, 4), 1.5))
    delta = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(losses.huber_loss(p, t, delta=delta)[0], [0.875, 1.5, 2.0, 2.0])
    # A precision that would grow the output is refused.
    with pytest.raises(ValueError, match=re.escape("gaussian_nll: precision shape (3, 4, 1)")):
        losses.gaussian_nll(p, t, np.ones((3, 4, 1), np.float32))
    with pytest.raises(ValueError, match=re.escape("huber_loss: delta shape (2, 1, 1)")):
        losses.huber_loss(p, t, delta=np.ones((2, 1, 1), np.float32))
    assert losses.gaussian_nll(p, t, np.ones((4,), np.float32)).shape == (3, 4)


@pytest.mark.parametrize("name, scores", INTEGER_LOSSES)
def test_integer_labels_must_have_the_batch_shape(name, scores):
    fn = getattr(losses, name)
    for labels_shape in [(1,), (4, 1), (), (5,)]:
        with pytest.raises(ValueError) as error:
            fn(_value((4, 5)), np.zeros(labels_shape, np.int32))
        message = str(error.value)
        assert f"{name}: labels shape {labels_shape}" in message, message
        assert f"{scores} shape (4, 5)" in message and "Pass " in message, message
    assert fn(_value((4, 5)), np.zeros(4, np.int32)).shape == (4,)


@pytest.mark.parametrize(
    "name, labels",
    [
        ("softmax_cross_entropy", np.full((3, 4), 0.25, np.float32)),
        ("softmax_cross_entropy_with_integer_labels", np.zeros(3, np.int32)),
    ],
)
def test_where_has_the_logits_or_the_batch_shape(name, labels):
    fn, logits = getattr(losses, name), _value((3, 4))
    for where_shape in [(3, 4), (3,), (1, 4), (3, 1)]:  # logits', batch, broadcast to logits'
        assert fn(logits, labels, where=np.ones(where_shape, bool)).shape == (3,)
    for where_shape in [(4,), (3, 4, 1), (2, 4)]:
        with pytest.raises(ValueError, match=re.escape(f"{name}: where shape {where_shape}")):
            fn(logits, labels, where=np.ones(where_shape, bool))


def test_kl_where_broadcasts_to_the_inputs_as_in_optax():
    y = np.tile(np.array([0.1, 0.2, 0.3, 0.4], np.float32), (3, 1))
    log_q = np.log(_value((3, 4)))
    class_mask = np.array([True, True, False, False])  # broadcast over the batch, as in optax
    expected = np.sum((y * (np.log(y) - log_q))[:, :2], axis=-1)
    np.testing.assert_allclose(losses.kl_divergence(log_q, y, where=class_mask), expected, 1e-6)
    with pytest.raises(ValueError, match=re.escape("kl_divergence: where shape (3,)")):
        losses.kl_divergence(log_q, y, where=np.ones(3, bool))

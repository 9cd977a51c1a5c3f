"""Combinators, and new optimizer variants composed only from primitives."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradlab
from tests import references
from tests.test_examples import load
from tests.test_optimizers import W0, jnp_grad, np_grad, trajectory


def test_chain_applies_in_order_and_keeps_a_tuple_state():
    tx = gradlab.chain(gradlab.add_decayed_weights(0.5), gradlab.scale(-2.0))
    p = jnp.array([1.0, 2.0])
    state = tx.init(p)
    assert isinstance(state, tuple) and len(state) == 2
    np.testing.assert_allclose(tx.update(jnp.ones(2), state, p)[0], -2.0 * (1 + 0.5 * p))


def test_chain_rejects_a_foreign_state():
    with pytest.raises(ValueError, match="stage states"):
        gradlab.chain(gradlab.scale(1.0)).update(jnp.ones(1), ())


def test_named_chain_stores_states_by_name():
    tx = gradlab.named_chain(
        ("momentum", gradlab.scale_by_momentum(0.9)), ("lr", gradlab.scale(-1.0))
    )
    state = tx.init(jnp.zeros(2))
    assert set(state) == {"momentum", "lr"}
    u, state = tx.update(jnp.ones(2), state)
    u, state = tx.update(jnp.ones(2), state)
    np.testing.assert_allclose(u, -1.9)
    with pytest.raises(ValueError, match="unique"):
        gradlab.named_chain(("a", gradlab.scale(1.0)), ("a", gradlab.scale(1.0)))


def test_extra_args_reach_only_stages_of_the_extra_args_type():
    seen, plain_seen = {}, {}

    def update_with_extra(updates, state, params=None, **extra_args):
        seen.update(extra_args)
        return updates, state

    def plain_update(updates, state, params=None, **extra_args):
        plain_seen.update(extra_args)
        return updates, state

    listener = gradlab.GradientTransformationExtraArgs(
        lambda p: gradlab.EmptyState(), update_with_extra
    )
    with pytest.warns(UserWarning, match="GradientTransformationExtraArgs"):
        plain = gradlab.chain(gradlab.GradientTransformation(lambda p: (), plain_update))
    tx = gradlab.chain(
        gradlab.scale(2.0),
        listener,
        plain,
        gradlab.divide(listener, gradlab.chain(gradlab.moving_average(0.0, 2), gradlab.sqrt())),
    )
    u, _ = tx.update(jnp.ones(1), tx.init(jnp.ones(1)), value=jnp.array(3.0))
    assert float(seen["value"]) == 3.0
    assert plain_seen == {}  # a plain GradientTransformation never receives them
    np.testing.assert_allclose(u, [1.0])


def test_divide_feeds_the_raw_gradient_to_both_sides():
    """Adam from divide equals Adam; momentum-then-RMS in a plain chain does not."""
    g = [jnp.array([1.0, -2.0]), jnp.array([3.0, 0.5]), jnp.array([-1.0, 1.0])]
    adam = gradlab.adam(1.0)
    naive = gradlab.chain(
        gradlab.scale_by_momentum(0.9, form="ema", bias_correction=True),
        gradlab.scale_by_rms(0.999, 0.0, bias_correction=True, eps_in_sqrt=False),
        gradlab.scale(-1.0),
    )
    ref = optax.adam(1.0)
    sa, sn, sr = adam.init(g[0]), naive.init(g[0]), ref.init(g[0])
    for gi in g:
        ua, sa = adam.update(gi, sa)
        un, sn = naive.update(gi, sn)
        ur, sr = ref.update(gi, sr)
    chex.assert_trees_all_close(ua, ur, rtol=2e-5)  # optax's f32 1-b**t: ~1e-5 off
    assert not np.allclose(un, ur, rtol=1e-3)


def test_divide_is_safe_at_zero_and_validates():
    tx = gradlab.divide(
        gradlab.identity(), gradlab.chain(gradlab.sum_of_squares(0.0), gradlab.sqrt())
    )
    u, _ = tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))
    np.testing.assert_array_equal(u, 0.0)
    with pytest.raises(TypeError, match="transform 1"):
        gradlab.divide(gradlab.identity(), 1e-8)


def test_masked_transforms_only_selected_leaves():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2), "sub": {"x": jnp.ones(3)}}
    tx = gradlab.masked(gradlab.scale_by_momentum(0.5), {"w": True, "b": False, "sub": True})
    state = tx.init(params)
    assert state.inner_state.mu["b"] is None  # the unselected leaf carries no state
    grads = jax.tree.map(jnp.ones_like, params)
    u, state = tx.update(grads, state)
    u, state = tx.update(grads, state)
    np.testing.assert_allclose(u["w"], 1.5)
    np.testing.assert_allclose(u["sub"]["x"], 1.5)
    np.testing.assert_allclose(u["b"], 1.0)


def test_masked_weight_decay_matches_optax():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    mask = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)  # noqa: E731
    ours, ref = (
        gradlab.adamw(0.1, weight_decay=0.5, mask=mask),
        optax.adamw(0.1, weight_decay=0.5, mask=mask),
    )
    grads = jax.tree.map(lambda x: 0.1 * x, params)
    chex.assert_trees_all_close(
        ours.update(grads, ours.init(params), params)[0],
        ref.update(grads, ref.init(params), params)[0],
        rtol=2e-5,  # optax's float32 1 - b2**t is ~1e-5 off; gradlab's gives -0.1 exactly here
    )


# ---------------------------------------------------------------------------------------------
# Composition: variants nobody shipped, built from primitives, against numpy


# The variants are the ones examples/compose_variants.py shows.
_variants = load("compose_variants")
amsgrad_nesterov = _variants.amsgrad_nesterov
centered_rmsprop_nesterov = _variants.centered_rmsprop_nesterov


@pytest.mark.parametrize(
    "tx,reference,kwargs",
    [
        (
            amsgrad_nesterov(0.05, eps=0.1),
            references.amsgrad,
            {"lr": 0.05, "eps": 0.1, "nesterov": True},
        ),
        (
            centered_rmsprop_nesterov(0.01, decay=0.9, momentum=0.8),
            references.centered_rmsprop,
            {"lr": 0.01, "eps": 1e-8, "mu": 0.8, "nesterov": True},
        ),
        (
            gradlab.chain(
                gradlab.scale_by_rms(0.9, 1e-2, centered=True),
                gradlab.scale_by_learning_rate(0.01),
                gradlab.scale_by_momentum(0.8),
            ),
            references.centered_rmsprop,
            {"lr": 0.01, "eps": 1e-2, "mu": 0.8},
        ),
    ],
    ids=["amsgrad_nesterov", "centered_rmsprop_nesterov", "centered_rmsprop_momentum"],
)
def test_composed_variant_matches_numpy(tx, reference, kwargs, x64):
    expected = reference(W0, np_grad, 60, **kwargs)
    for t, (g, e) in enumerate(zip(trajectory(tx, 60), expected, strict=True)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"step {t + 1}")


def test_composed_variant_differs_from_its_parts():
    """AMSGrad+Nesterov is neither AMSGrad nor Nadam: the composition is really new."""
    outs = []
    for tx in (amsgrad_nesterov(0.05), gradlab.amsgrad(0.05), gradlab.nadam(0.05)):
        w = jnp.asarray(W0)
        s = tx.init(w)
        for _ in range(20):
            u, s = tx.update(jnp_grad(w), s)
            w = w + u
        outs.append(np.asarray(w))
    assert not np.allclose(outs[0], outs[1], rtol=1e-4) and not np.allclose(
        outs[0], outs[2], rtol=1e-4
    )

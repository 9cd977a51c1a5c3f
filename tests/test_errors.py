"""Every documented error: raised early, naming the leaf or argument, saying what to do.

README's "Troubleshooting" section lists these messages; keep the two in step.
"""

import jax.numpy as jnp
import pytest

import gradlab

PARAMS = {"w": jnp.ones(2), "b": jnp.ones(1)}


def test_integer_param_leaf_names_its_path():
    with pytest.raises(
        TypeError, match=r"adam: the params leaf \['step'\] has dtype int32.*astype"
    ):
        gradlab.adam(1e-3).init({"w": jnp.ones(2), "step": jnp.int32(0)})


def test_boolean_gradient_leaf_names_its_path():
    tx = gradlab.sgd(0.1)
    with pytest.raises(TypeError, match=r"sgd: the gradient leaf \['w'\] has dtype bool"):
        tx.update({"w": jnp.array([True])}, tx.init({"w": jnp.ones(1)}))


def test_gradient_structure_differs_from_params():
    tx = gradlab.sgd(0.1)
    with pytest.raises(ValueError, match=r"sgd: the tree structure of the updates differs") as e:
        tx.update({"w": jnp.ones(2)}, tx.init(PARAMS), PARAMS)
    assert "'b'" in str(e.value) and "jax.grad(loss)(params)" in str(e.value)


def test_gradient_structure_differs_from_state():
    tx = gradlab.adam(1e-3)
    with pytest.raises(ValueError, match=r"differs from that of the state") as e:
        tx.update({"w": jnp.ones(2)}, tx.init(PARAMS))
    assert "'b'" in str(e.value)


def test_schedule_returning_a_vector():
    tx = gradlab.sgd(lambda t: jnp.full(3, 0.1))
    with pytest.raises(
        ValueError, match=r"sgd: the schedule given as learning_rate returned shape"
    ):
        tx.init(PARAMS)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: gradlab.adam("1e-3"), r"adam: learning_rate must be a number or a schedule"),
        (lambda: gradlab.adam(1e-3, b1="0.9"), r"adam: b1 must be a number"),
        (lambda: gradlab.sgd(0.1, momentum=[0.9, 0.8]), r"sgd: momentum"),
        (lambda: gradlab.rmsprop(0.1, eps=None), r"eps"),
    ],
)
def test_hyperparameter_of_the_wrong_type(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_negative_and_out_of_range_values():
    with pytest.raises(ValueError, match=r"adamw: weight_decay must be a finite number >= 0"):
        gradlab.adamw(1e-3, weight_decay=-0.1)
    with pytest.raises(ValueError, match=r"adam: b2 must be in \[0, 1\), got 1.0"):
        gradlab.adam(1e-3, b2=1.0)

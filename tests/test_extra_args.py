"""Extra arguments (``value``, ``grad``, ``value_fn``) reach optax line searches through gradlab.

Oracle: the pure optax chain ``optax.chain(optax.sgd(1.0), linesearch)``, run with optax's
documented loop (``optax.value_and_grad_from_state`` then ``update(..., value=, grad=,
value_fn=)``). Each gradlab combinator, wrapper and alias around the same line search must give
the same per-step updates and final params, and its state must let ``value_and_grad_from_state``
find the line search's stored value and gradient.
"""

import warnings

import chex
import jax
import jax.numpy as jnp
import pytest

import gradlab

optax = pytest.importorskip("optax")

STEPS = 10
# float32. The line search takes the same decisions exactly (same step sizes, same number of
# trials); the values agree bitwise in most rows, to ~3e-6 relative where a lax.cond
# (apply_if_finite, multi_steps) makes XLA compile the inner update apart (as without jit).
RTOL, ATOL = 1e-5, 1e-7
LS_STATES = ("ScaleByBacktrackingLinesearchState", "ScaleByZoomLinesearchState")

PARAMS = {
    "x": jnp.array([1.5, -0.5, 2.0]),
    "w": jnp.array([[0.3, -1.2], [0.8, 2.5]]),
}
CURVATURE = {"x": jnp.array([1.0, 3.0, 0.5]), "w": jnp.array([[2.0, 1.0], [0.7, 4.0]])}


def objective(params):
    """A smooth non-quadratic bowl: sum(a/2 x^2 + 0.3 cos(2 x)) over the leaves."""
    terms = jax.tree.map(
        lambda x, a: jnp.sum(0.5 * a * x**2 + 0.3 * jnp.cos(2.0 * x)), params, CURVATURE
    )
    return sum(jax.tree.leaves(terms))


LINESEARCHES = [
    (
        "backtracking",
        lambda: optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True),
    ),
    ("zoom", lambda: optax.scale_by_zoom_linesearch(max_linesearch_steps=15)),
]


def _all_true(params):
    return jax.tree.map(lambda _: True, params)


def _all_one_label(label):
    return lambda params: jax.tree.map(lambda _: label, params)


def _inner(ls, learning_rate=1.0):
    return gradlab.chain(gradlab.sgd(learning_rate), ls())


# (name, build): build(ls_factory) is a transformation equal to optax.chain(optax.sgd(1.0), ls()).
WRAPPERS = [
    ("chain", lambda ls: _inner(ls)),
    ("optax_chain_of_chain", lambda ls: optax.chain(_inner(ls))),
    ("optax_chain_of_chain_of_ls", lambda ls: optax.chain(optax.sgd(1.0), gradlab.chain(ls()))),
    ("chain_of_optax_chain_of_ls", lambda ls: gradlab.chain(gradlab.sgd(1.0), optax.chain(ls()))),
    ("named_chain", lambda ls: gradlab.named_chain(("sgd", gradlab.sgd(1.0)), ("ls", ls()))),
    ("masked", lambda ls: gradlab.masked(_inner(ls), _all_true)),
    ("masked_ls_only", lambda ls: gradlab.chain(gradlab.sgd(1.0), gradlab.masked(ls(), True))),
    (
        "partition",
        lambda ls: gradlab.partition({"ls": _inner(ls), "frozen": "freeze"}, _all_one_label("ls")),
    ),
    ("param_groups", lambda ls: gradlab.param_groups([(r"^", _inner(ls))])),
    ("apply_if_finite", lambda ls: gradlab.apply_if_finite(_inner(ls), max_consecutive_errors=3)),
    ("multi_steps", lambda ls: gradlab.multi_steps(_inner(ls), every_k_schedule=1)),
    (
        "inject_hyperparams",
        lambda ls: gradlab.inject_hyperparams(lambda learning_rate: _inner(ls, learning_rate))(
            learning_rate=1.0
        ),
    ),
    ("fan_out", lambda ls: gradlab.fan_out(_inner(ls), combine=lambda u, g: u)),
    (
        "fan_out_trees",
        lambda ls: gradlab.fan_out(
            gradlab.identity(), _inner(ls), combine=lambda i, u, g: u, per_leaf=False
        ),
    ),
]


def _line_search_state(state):
    """The one line-search state inside ``state`` (raises if there are several)."""
    found = [optax.tree.get(state, name) for name in LS_STATES]
    (ls_state,) = [f for f in found if f is not None]
    return ls_state


def _run(tx, steps=STEPS):
    """optax's documented line-search loop, ``steps`` steps in one jitted ``lax.scan``.

    Returns the final params, the updates of each step (leading axis: the step) and each step's
    line-search decision (accepted step size, number of trials).
    """
    value_and_grad = optax.value_and_grad_from_state(objective)

    def step(carry, _):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=objective)
        ls_state = _line_search_state(state)
        decision = (ls_state.learning_rate, ls_state.info.num_linesearch_steps)
        return (optax.apply_updates(params, updates), state), (updates, decision)

    @jax.jit
    def run(params):
        (params, _), (history, decisions) = jax.lax.scan(
            step, (params, tx.init(params)), length=steps
        )
        return params, history, decisions

    return run(PARAMS)


_REFERENCE = {}


def _reference(ls_name, ls):
    if ls_name not in _REFERENCE:
        _REFERENCE[ls_name] = _run(optax.chain(optax.sgd(learning_rate=1.0), ls()))
    return _REFERENCE[ls_name]


@pytest.mark.parametrize("ls_name, ls", LINESEARCHES, ids=[n for n, _ in LINESEARCHES])
def test_reference_line_search_does_work(ls_name, ls):
    """The oracle run is not trivial: the step size leaves 1 and the objective drops."""
    params, history, decisions = _reference(ls_name, ls)
    assert len(set(decisions[1].tolist())) > 1  # the number of trials varies
    assert float(objective(params)) < float(objective(PARAMS)) - 0.5
    grad0 = jax.grad(objective)(PARAMS)
    ratio = jax.tree.map(lambda u, g: u[0] / -g, history, grad0)  # the first step size
    assert not jnp.allclose(jax.tree.leaves(ratio)[0], 1.0)


@pytest.mark.parametrize("ls_name, ls", LINESEARCHES, ids=[n for n, _ in LINESEARCHES])
@pytest.mark.parametrize("name, build", WRAPPERS, ids=[n for n, _ in WRAPPERS])
def test_line_search_inside_wrapper_matches_optax(name, build, ls_name, ls):
    tx = build(ls)
    assert isinstance(tx, optax.GradientTransformationExtraArgs), name
    params, history, decisions = _run(tx)
    ref_params, ref_history, ref_decisions = _reference(ls_name, ls)
    chex.assert_trees_all_equal(decisions, ref_decisions)
    chex.assert_trees_all_close(history, ref_history, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(params, ref_params, rtol=RTOL, atol=ATOL)


def test_lbfgs_stages_in_gradlab_chain_match_optax_lbfgs():
    """optax.lbfgs is chain(scale_by_lbfgs, scale(-1), zoom): the same stages in gradlab.chain."""
    ref = optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=15))
    tx = gradlab.chain(
        optax.scale_by_lbfgs(),
        gradlab.scale(-1.0),
        gradlab.masked(optax.scale_by_zoom_linesearch(max_linesearch_steps=15), _all_true),
    )
    chex.assert_trees_all_close(_run(tx), _run(ref), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "tx",
    [
        gradlab.chain(),
        gradlab.sgd(0.1),
        gradlab.adam(1e-3),
        gradlab.masked(gradlab.scale(1.0), True),
    ],
    ids=["chain", "sgd", "adam", "masked"],
)
def test_gradlab_transforms_are_optax_extra_args(tx):
    assert isinstance(tx, gradlab.GradientTransformationExtraArgs)
    assert isinstance(tx, optax.GradientTransformationExtraArgs)


def _recording(received, extra_args_type):
    def init(params):
        del params
        return gradlab.EmptyState()

    def update(updates, state, params=None, **kwargs):
        received.append(sorted(kwargs))
        return updates, state

    return extra_args_type(init, update)


def test_plain_transform_with_kwargs_warns_and_gets_no_extras():
    received = []
    plain = _recording(received, gradlab.GradientTransformation)
    with pytest.warns(UserWarning, match="GradientTransformationExtraArgs"):
        tx = gradlab.chain(plain)
    tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0, grad=PARAMS)
    assert received == [[]]


def test_extra_args_transform_gets_extras_without_warning():
    received = []
    stage = _recording(received, gradlab.GradientTransformationExtraArgs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tx = gradlab.chain(gradlab.scale(1.0), stage)
    tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=1.0, grad=PARAMS, value_fn=objective)
    assert received == [["grad", "value", "value_fn"]]

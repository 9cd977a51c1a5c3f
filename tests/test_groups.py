"""Parameter groups: partition, frozen leaves, regex rules on paths, and Flax NNX."""

import re
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import gradlab
from gradlab.transforms import groups
from tests.conftest import make_tree

JIT = [pytest.param(jax.jit, id="jit"), pytest.param(lambda f: f, id="nojit")]


def grads_at(params, step):
    """A deterministic gradient that changes sign and scale from step to step."""
    return jax.tree.map(lambda p: jnp.sin(p * (step + 1)) * (1.5**step) + 0.1 * p, params)


def run_updates(tx, params, steps=5, wrap=jax.jit):
    """The updates of every step of ``tx`` (params move by the updates)."""
    state, update, out = tx.init(params), wrap(tx.update), []
    for t in range(steps):
        u, state = update(grads_at(params, t), state, params)
        params = jax.tree.map(lambda p, v: p + v, params, u)
        out.append(u)
    return out, params


# ---------------------------------------------------------------------------------------------
# partition


def split_tree(params):
    """The mixed tree as (weights, biases) sub-trees, and the labels that say the same."""
    weights = {"w": params["dense"]["w"], "tuple": params["tuple"]}
    biases = {"b": params["dense"]["b"], "list": params["list"]}
    labels = {"dense": {"w": "adam", "b": "sgd"}, "list": "sgd", "tuple": "adam", "none": None}
    return weights, biases, labels


@pytest.mark.parametrize("wrap", JIT)
def test_partition_equals_each_group_run_alone_and_optax(tree_params, wrap):
    weights, biases, labels = split_tree(tree_params)
    tx = groups.partition(
        {"adam": gradlab.adam(1e-2), "sgd": gradlab.sgd(0.1, momentum=0.9)}, labels
    )
    ref = optax.partition({"adam": optax.adam(1e-2), "sgd": optax.sgd(0.1, momentum=0.9)}, labels)
    ours, p_ours = run_updates(tx, tree_params, wrap=wrap)
    theirs, p_theirs = run_updates(ref, tree_params, wrap=wrap)
    # Each group alone, on its own sub-tree, with the gradients the partition saw.
    adam, sgd = gradlab.adam(1e-2), gradlab.sgd(0.1, momentum=0.9)
    sa, ss, params = adam.init(weights), sgd.init(biases), tree_params
    for t, (u, v) in enumerate(zip(ours, theirs)):
        g = grads_at(params, t)
        ua, sa = adam.update({"w": g["dense"]["w"], "tuple": g["tuple"]}, sa)
        us, ss = sgd.update({"b": g["dense"]["b"], "list": g["list"]}, ss)
        alone = {"dense": {"w": ua["w"], "b": us["b"]}, "list": us["list"], "tuple": ua["tuple"]}
        alone["none"] = None
        chex.assert_trees_all_close(u, alone, rtol=1e-6, atol=1e-8)
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
        params = jax.tree.map(lambda p, d: p + d, params, u)
    chex.assert_trees_all_close(p_ours, p_theirs, rtol=1e-5, atol=1e-6)


def test_partition_state_holds_state_only_for_its_own_leaves(tree_params):
    weights, biases, labels = split_tree(tree_params)
    tx = groups.partition({"adam": gradlab.adam(1e-2), "sgd": gradlab.sgd(0.1, 0.9)}, labels)
    state = tx.init(tree_params)
    assert isinstance(state, groups.PartitionState) and set(state.inner_states) == {"adam", "sgd"}
    count = lambda t: len(jax.tree.leaves(t))  # noqa: E731
    assert count(state.inner_states["adam"]) == count(gradlab.adam(1e-2).init(weights))
    assert count(state.inner_states["sgd"]) == count(gradlab.sgd(0.1, 0.9).init(biases))
    # the shape-only init works (style rule R3)
    assert count(jax.eval_shape(tx.init, tree_params)) == count(state)


def test_partition_accepts_a_label_function_a_prefix_and_optax_transforms():
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "head": jnp.full(3, 2.0)}
    by_fn = groups.partition(
        {"a": optax.sgd(0.5), "b": gradlab.scale(-2.0)},
        lambda p: {"enc": "a", "head": "b"},  # a prefix: one label per subtree
    )
    u, _ = by_fn.update(params, by_fn.init(params), params)
    chex.assert_trees_all_close(
        u,
        {
            "enc": {"w": -0.5 * jnp.ones((2, 2)), "b": -0.5 * jnp.ones(2)},
            "head": -4.0 * jnp.ones(3),
        },
    )
    assert groups.multi_transform is groups.partition


def test_partition_freezes_none_and_freeze_and_keeps_unused_groups():
    params = {"a": jnp.ones(2), "b": jnp.ones(3), "c": jnp.ones(1)}
    tx = groups.partition(
        {"x": None, "y": "freeze", "z": gradlab.adam(0.1), "unused": gradlab.adam(0.1)},
        {"a": "x", "b": "y", "c": "z"},
    )
    state = tx.init(params)
    u, state = tx.update(params, state, params)
    np.testing.assert_array_equal(u["a"], 0.0)
    np.testing.assert_array_equal(u["b"], 0.0)
    np.testing.assert_allclose(u["c"], -0.1, rtol=1e-5)
    assert jax.tree.leaves(state.inner_states["x"]) == []
    assert jax.tree.leaves(state.inner_states["y"]) == []
    # a group no leaf belongs to keeps only its scalars (counts, hyperparameters)
    assert all(x.ndim == 0 for x in jax.tree.leaves(state.inner_states["unused"]))


def test_partition_forwards_extra_args_to_groups_that_accept_them():
    seen = {}

    def listening_update(updates, state, params=None, **extra_args):
        seen.update(extra_args)
        return updates, state

    listener = gradlab.GradientTransformationExtraArgs(
        lambda p: gradlab.EmptyState(), listening_update
    )
    tx = groups.partition({"a": listener, "b": gradlab.scale(2.0)}, {"x": "a", "y": "b"})
    g = {"x": jnp.ones(1), "y": jnp.ones(1)}
    u, _ = tx.update(g, tx.init(g), value=jnp.array(3.0))
    assert float(seen["value"]) == 3.0
    chex.assert_trees_all_close(u, {"x": jnp.ones(1), "y": 2 * jnp.ones(1)})


def test_partition_errors_name_the_problem():
    p = {"a": jnp.ones(1), "b": jnp.ones(1)}
    tx = groups.partition({"x": gradlab.scale(1.0)}, {"a": "x", "b": "typo"})
    with pytest.raises(ValueError, match=r"no transformation for the labels 'typo'.*'x'"):
        tx.init(p)
    with pytest.raises(ValueError, match="structure of the params"):
        groups.partition({"x": gradlab.scale(1.0)}, {"a": "x", "zz": "x"}).init(p)
    with pytest.raises(ValueError, match="hashable"):
        groups.partition({"x": gradlab.scale(1.0)}, {"a": np.array(1), "b": "x"}).init(p)
    with pytest.raises(TypeError, match=r"transforms\['x'\] must be a GradientTransformation"):
        groups.partition({"x": 0.1}, {"a": "x"})
    with pytest.raises(TypeError, match="must be a dict"):
        groups.partition([gradlab.scale(1.0)], {"a": 0})  # type: ignore[arg-type]
    good = groups.partition({"x": gradlab.scale(1.0)}, {"a": "x", "b": "x"})
    with pytest.raises(ValueError, match="this partition's init"):
        good.update(p, groups.PartitionState({"other": ()}))
    with pytest.raises(ValueError, match="this partition's init"):
        good.update(p, ())


# ---------------------------------------------------------------------------------------------
# frozen leaves and weight-decay groups


def test_frozen_leaves_carry_no_state_and_never_move():
    params = {"encoder": {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}, "head": {"w": jnp.ones(2)}}
    tx = groups.param_groups([("^encoder/", "freeze")], default=gradlab.adam(1e-2))
    state = tx.init(params)
    adam_alone = gradlab.adam(1e-2).init({"head": params["head"]})
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(adam_alone))  # nothing for encoder
    assert all(x.shape != (3, 2) for x in jax.tree.leaves(state))
    updates, final = run_updates(tx, params)
    for leaf in jax.tree.leaves(final["encoder"]):
        np.testing.assert_array_equal(leaf, 1.0)  # bit-identical
    # the trainable part moved exactly as adam alone on it moves it
    adam, head = gradlab.adam(1e-2), params["head"]
    state, full = adam.init(head), params
    for t in range(len(updates)):
        u, state = adam.update(grads_at(full, t)["head"], state)
        head = jax.tree.map(lambda p, d: p + d, head, u)
        full = {**full, "head": head}
    chex.assert_trees_all_close(final["head"], head, rtol=1e-6)


@pytest.mark.parametrize("wrap", JIT)
def test_no_weight_decay_for_bias_and_scale_equals_a_hand_built_chain(wrap):
    rng = np.random.default_rng(3)
    params = {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "bias": jnp.ones(4)},
        "norm": {"scale": jnp.full(4, 1.5), "bias": jnp.full(4, -0.5)},
    }
    lr, wd = 1e-2, 0.3
    tx = groups.param_groups(
        [(r"bias|scale", gradlab.adam(lr))], default=gradlab.adamw(lr, weight_decay=wd)
    )
    decay = {"dense": {"kernel": True, "bias": False}, "norm": {"scale": False, "bias": False}}
    hand = optax.chain(  # Adam, decay on the kernel only, then the learning rate
        optax.scale_by_adam(), optax.masked(optax.add_decayed_weights(wd), decay), optax.scale(-lr)
    )
    ours, _ = run_updates(tx, params, steps=6, wrap=wrap)
    theirs, _ = run_updates(hand, params, steps=6, wrap=wrap)
    for u, v in zip(ours, theirs):
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# param_groups rules and paths


class Pair(NamedTuple):
    first: jax.Array
    second: jax.Array


def test_param_paths_format_on_dict_list_tuple_namedtuple_and_root():
    params = {
        "encoder": {"layers": [{"kernel": jnp.ones(1)}, {"kernel": jnp.ones(1)}]},
        "tuple": (jnp.ones(1), Pair(jnp.ones(1), jnp.ones(1))),
        "none": None,
    }
    assert groups.param_paths(params) == {
        "encoder": {
            "layers": [{"kernel": "encoder/layers/0/kernel"}, {"kernel": "encoder/layers/1/kernel"}]
        },
        "tuple": ("tuple/0", Pair("tuple/1/first", "tuple/1/second")),
        "none": None,
    }
    assert groups.param_paths({3: {7: jnp.ones(1)}}) == {3: {7: "3/7"}}
    assert groups.param_paths(jnp.ones(2)) == ""


class KeylessNode:
    """A pytree node registered without keys: its children get FlattenedIndexKey paths."""

    def __init__(self, a, b):
        self.a, self.b = a, b


jax.tree_util.register_pytree_node(
    KeylessNode, lambda n: ((n.a, n.b), None), lambda _, children: KeylessNode(*children)
)


def test_param_paths_of_a_node_without_keys_uses_child_indices():
    paths = groups.param_paths({"node": KeylessNode(jnp.ones(1), jnp.ones(2))})
    assert (paths["node"].a, paths["node"].b) == ("node/0", "node/1")


def test_rules_first_match_wins_and_default_takes_the_rest():
    g = {
        "encoder": {"kernel": jnp.ones(2), "bias": jnp.ones(2)},
        "decoder": {"kernel": jnp.ones(2)},
        "head": jnp.ones(2),
    }
    tx = groups.param_groups(
        [("kernel$", gradlab.scale(2.0)), ("^encoder", gradlab.scale(3.0))],
        default=gradlab.scale(5.0),
    )
    u, state = tx.update(g, tx.init(g))
    expected = {"encoder": {"kernel": 2.0, "bias": 3.0}, "decoder": {"kernel": 2.0}, "head": 5.0}
    chex.assert_trees_all_close(u, jax.tree.map(lambda c: c * jnp.ones(2), expected))
    assert set(state.inner_states) == {"kernel$", "^encoder", groups.DEFAULT_LABEL}
    # a dict of rules keeps its order; "freeze" default freezes the rest
    tx = groups.param_groups({"^encoder": gradlab.scale(3.0)}, default="freeze")
    u, _ = tx.update(g, tx.init(g))
    chex.assert_trees_all_close(u["decoder"], {"kernel": jnp.zeros(2)})
    chex.assert_trees_all_close(u["encoder"]["kernel"], 3.0 * jnp.ones(2))
    # a compiled pattern works as well as a string
    tx = groups.param_groups([(re.compile("HEAD", re.IGNORECASE), gradlab.scale(7.0))], "freeze")
    np.testing.assert_allclose(tx.update(g, tx.init(g))[0]["head"], 7.0)


def test_unmatched_paths_are_listed_in_the_error():
    g = {"encoder": {"kernel": jnp.ones(1)}, "head": {"kernel": jnp.ones(1), "bias": jnp.ones(1)}}
    tx = groups.param_groups([("^encoder/", gradlab.sgd(0.1))])
    with pytest.raises(ValueError, match=r"no rule matches .*'head/bias', 'head/kernel'.*default="):
        tx.init(g)
    many = {f"p{i}": jnp.ones(1) for i in range(15)}
    with pytest.raises(ValueError, match=r"and 5 more"):
        tx.init(many)


def test_bad_rules_fail_at_construction():
    with pytest.raises(ValueError, match=r"'\(unclosed' is not a valid regular expression"):
        groups.param_groups([("(unclosed", gradlab.sgd(0.1))])
    with pytest.raises(ValueError, match="appears twice"):
        groups.param_groups([("bias", gradlab.sgd(0.1)), ("bias", "freeze")])
    with pytest.raises(ValueError, match='only string accepted is "freeze"'):
        groups.param_groups([("bias", "frozen")])
    with pytest.raises(TypeError, match="pattern must be a regular expression string"):
        groups.param_groups([(3, gradlab.sgd(0.1))])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be a \\(pattern, transformation\\) pair"):
        groups.param_groups(["bias"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="default must be a GradientTransformation"):
        groups.param_groups([], default=0.1)


# ---------------------------------------------------------------------------------------------
# Flax NNX, optax.chain, jit


class Encoder(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(4, 8, rngs=rngs), nnx.Linear(8, 8, rngs=rngs)])
        self.norm = nnx.LayerNorm(8, rngs=rngs)


class Model(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(10, 4, rngs=rngs)
        self.encoder = Encoder(rngs)
        self.head = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, ids):
        x = self.embed(ids)
        for layer in self.encoder.layers:
            x = jnp.tanh(layer(x))
        return self.head(self.encoder.norm(x))


IDS = jnp.arange(10)
TARGET = jnp.sin(jnp.arange(10.0))[:, None]
NNX_STEPS = 10


def nnx_rules():
    return groups.param_groups(
        [
            ("^encoder/", "freeze"),  # frozen backbone: no state, no movement
            ("embed", gradlab.adamw(1e-3, weight_decay=0.1)),  # 10x smaller learning rate
            ("bias|scale", gradlab.adam(1e-2)),  # no weight decay for biases / norm scales
        ],
        default=gradlab.adamw(1e-2, weight_decay=0.1),
    )


def test_param_paths_of_an_nnx_state_with_variables_and_pure_arrays():
    state = nnx.state(Model(nnx.Rngs(0)), nnx.Param)
    expected = {
        "embed/embedding",
        "encoder/layers/0/bias",
        "encoder/layers/0/kernel",
        "encoder/layers/1/bias",
        "encoder/layers/1/kernel",
        "encoder/norm/bias",
        "encoder/norm/scale",
        "head/bias",
        "head/kernel",
    }
    assert set(jax.tree.leaves(groups.param_paths(state))) == expected  # Variables: no "/value"
    assert set(jax.tree.leaves(groups.param_paths(nnx.as_pure(state)))) == expected
    assert set(jax.tree.leaves(groups.param_paths(nnx.to_pure_dict(state)))) == expected


def test_nnx_optimizer_trains_with_param_groups_and_matches_optax_partition():
    model = Model(nnx.Rngs(0))
    frozen_before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(model.encoder, nnx.Param)))
    start = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    optimizer = nnx.Optimizer(model, nnx_rules(), wrt=nnx.Param)
    inner = optimizer.opt_state.inner_states
    assert jax.tree.leaves(inner["^encoder/"]) == []  # the frozen group holds no state

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(IDS) - TARGET) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(NNX_STEPS)]
    assert losses[-1] < 0.8 * losses[0], losses
    after = nnx.to_pure_dict(nnx.state(model.encoder, nnx.Param))
    jax.tree.map(np.testing.assert_array_equal, after, frozen_before)  # bit-identical
    # none of the encoder's leaves has state in any group
    state_shapes = [x.shape for x in jax.tree.leaves(nnx.as_pure(optimizer.opt_state))]
    assert (4, 8) not in state_shapes and (8, 8) not in state_shapes

    # Reference: a functional loop with optax.partition and labels written by hand.
    graphdef, params_state, rest = nnx.split(Model(nnx.Rngs(0)), nnx.Param, ...)

    def loss_fn(p):
        nnx.replace_by_pure_dict(params_state, p)
        return jnp.mean((nnx.merge(graphdef, params_state, rest)(IDS) - TARGET) ** 2)

    labels = jax.tree.map(lambda _: "default", start)
    labels["encoder"] = "frozen"
    labels["embed"] = "embed"
    labels["head"]["bias"] = "nodecay"
    ref = optax.partition(
        {
            "frozen": optax.set_to_zero(),
            "embed": optax.adamw(1e-3, weight_decay=0.1),
            "nodecay": optax.adam(1e-2),
            "default": optax.adamw(1e-2, weight_decay=0.1),
        },
        labels,
    )

    @jax.jit
    def ref_step(p, s):
        u, s = ref.update(jax.grad(loss_fn)(p), s, p)
        return optax.apply_updates(p, u), s

    p, s = start, ref.init(start)
    for _ in range(NNX_STEPS):
        p, s = ref_step(p, s)
    chex.assert_trees_all_close(
        nnx.to_pure_dict(nnx.state(model, nnx.Param)), p, rtol=1e-5, atol=1e-6
    )


def test_nnx_optimizer_with_a_label_tree_built_from_variables():
    model = Model(nnx.Rngs(1))
    params = nnx.state(model, nnx.Param)
    labels = jax.tree.map(lambda x: "big" if x.ndim > 1 else "small", params)  # Variables hold str
    tx = groups.partition({"big": gradlab.sgd(0.1), "small": "freeze"}, labels)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    bias_before = np.array(model.head.bias[...])

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(lambda m: jnp.mean((m(IDS) - TARGET) ** 2))(model)
        optimizer.update(model, grads)

    kernel_before = np.array(model.head.kernel[...])
    step(model, optimizer)
    np.testing.assert_array_equal(model.head.bias[...], bias_before)
    assert not np.array_equal(model.head.kernel[...], kernel_before)


@pytest.mark.parametrize("wrap", JIT)
def test_param_groups_inside_optax_chain_matches_optax(wrap):
    params = make_tree(1)
    rules = [("^dense/", "freeze"), ("^list/", optax.sgd(0.1, momentum=0.9))]
    ours = optax.chain(
        optax.clip_by_global_norm(1.0), groups.param_groups(rules, default=gradlab.adam(1e-2))
    )
    labels = {"dense": "frozen", "list": "sgd", "tuple": "adam"}
    ref = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.partition(
            {
                "frozen": optax.set_to_zero(),
                "sgd": optax.sgd(0.1, momentum=0.9),
                "adam": optax.adam(1e-2),
            },
            labels,
        ),
    )
    u_ours, p_ours = run_updates(ours, params, wrap=wrap)
    u_ref, p_ref = run_updates(ref, params, wrap=wrap)
    for u, v in zip(u_ours, u_ref):
        chex.assert_trees_all_close(u, v, rtol=1e-5, atol=1e-7)
    jax.tree.map(np.testing.assert_array_equal, p_ours["dense"], params["dense"])


def test_jit_and_no_jit_agree_and_jit_traces_once():
    params = make_tree(2)
    tx = groups.param_groups(
        [("^tuple/", "freeze"), ("w$|b$", gradlab.adamw(1e-2, weight_decay=0.5))],
        default=gradlab.sgd(0.1, momentum=0.9, nesterov=True),
    )
    traced, _ = run_updates(tx, params, wrap=jax.jit)
    eager, _ = run_updates(tx, params, wrap=lambda f: f)
    for u, v in zip(traced, eager):
        chex.assert_trees_all_close(u, v, rtol=1e-6, atol=1e-7)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def update(g, s, p):
        return tx.update(g, s, p)

    s = tx.init(params)
    for t in range(3):
        _, s = update(grads_at(params, t), s, params)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gradlab.muon(0.02),  # a partition by dimension inside the alias
        lambda: groups.partition(
            {"m": gradlab.adam(0.1), "v": gradlab.sgd(0.1)},
            lambda p: jax.tree.map(lambda x: "m" if x.ndim == 2 else "v", p),
        ),
        lambda: gradlab.masked(gradlab.adam(0.1), lambda p: jax.tree.map(lambda x: x.ndim == 2, p)),
    ],
    ids=["muon", "partition", "masked"],
)
def test_groups_on_an_nnx_state_equal_the_pure_dict(make):
    """An nnx.State (Variables as nodes) gives the pure dict's numbers: a group's updates hold
    None for a whole Variable, and merging them back must keep the other groups' Variables."""
    params = nnx.state(Model(nnx.Rngs(2)), nnx.Param)
    pure = nnx.to_pure_dict(params)
    grads = jax.tree.map(jnp.cos, params)
    tx = make()
    u, _ = tx.update(grads, tx.init(params), params)
    v, _ = tx.update(nnx.to_pure_dict(grads), tx.init(pure), pure)
    chex.assert_trees_all_equal(nnx.to_pure_dict(u), v)

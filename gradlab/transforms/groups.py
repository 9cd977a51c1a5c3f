r"""Parameter groups: a different transformation for each part of the parameters.

:func:`partition` (optax's name) maps a tree of labels to one transformation per label;
:func:`param_groups` builds the labels from regular expressions matched against each leaf's path
string (:func:`param_paths`), as Keras's optimizer maps and PyTorch's parameter groups do, and can
freeze leaves (``gradlab.wrappers.set_to_zero``: zero updates, no state).

Each group's transformation sees only its own leaves: the others are replaced by ``None`` (an
empty subtree) before it runs, so **a group's state holds state only for its own leaves**, and a
frozen leaf has no state at all. ``None`` is used instead of optax's ``MaskedNode`` so that the
state is a tree of arrays only, which ``flax.nnx.Optimizer`` accepts (flax issues #3955, #4901).

Flax NNX: ``nnx.Optimizer`` calls ``init`` with an ``nnx.State`` of ``Variable`` objects and
``update`` with the same ``State`` holding plain arrays. Both are handled: a ``Variable`` counts as
one leaf (its path does not get a ``/value`` suffix) and is dropped whole from the other groups.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Literal, NamedTuple

import jax

from gradlab.core import tree, validation
from gradlab.core.base import (
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)
from gradlab.transforms.wrappers import set_to_zero

Label = Hashable  # a leaf of a label tree: usually a string
Freeze = Literal["freeze"]
_MAX_LISTED = 10  # paths listed in an error message before "... and N more"


# ---------------------------------------------------------------------------------------------
# Paths


def _is_variable(x: Any) -> bool:
    """Whether ``x`` is a ``flax.nnx.Variable`` (without importing flax when it is not loaded)."""
    nnx = sys.modules.get("flax.nnx")
    variable = getattr(nnx, "Variable", None)
    return variable is not None and isinstance(x, variable)


def _key_str(key: Any) -> str:
    """One path entry as text: a dict key, a sequence index or an attribute name."""
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)  # pragma: no cover - a custom key type


def _path_str(path: Iterable[Any]) -> str:
    return "/".join(_key_str(k) for k in path)


def param_paths(params: Params) -> Any:
    r"""The path string of every leaf: :math:`\text{path}(\theta_i) = k_1/k_2/\cdots/k_n`.

    :math:`k_1, \dots, k_n` are the keys from the root to the leaf: dict keys (``str(key)``),
    list/tuple indices, attribute names (NamedTuples, dataclasses), as
    ``jax.tree_util.tree_flatten_with_path`` reports them (``DictKey``, ``SequenceKey``,
    ``GetAttrKey``, ``FlattenedIndexKey``), joined with ``/`` and not escaped. For example
    ``{"encoder": {"layers": [{"kernel": w}]}}`` gives ``"encoder/layers/0/kernel"``; a Flax linen
    tree gives ``"params/Dense_0/kernel"``; an ``nnx.State`` gives ``"encoder/layers/0/kernel"``
    (a ``flax.nnx.Variable`` counts as one leaf, without a ``/value`` suffix). A bare array at
    the root has the path ``""``. ``None`` leaves stay ``None``.

    Args:
      params: a pytree of parameters (arrays, ``nnx.Variable`` objects or shape structs).

    Returns:
      A tree with the structure of ``params`` (a ``Variable`` replaced by its string) holding each
      leaf's path string.

    References:
      Matches: the ``"/"``-joined names of Keras ``Variable.path`` and the dotted names of
      PyTorch ``Module.named_parameters()`` (with ``/`` for ``.``).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import groups
    >>> groups.param_paths({"encoder": {"layers": [{"kernel": jnp.ones(2)}]}, "bias": jnp.ones(1)})
    {'bias': 'bias', 'encoder': {'layers': [{'kernel': 'encoder/layers/0/kernel'}]}}
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, _: _path_str(path), params, is_leaf=_is_variable
    )


# ---------------------------------------------------------------------------------------------
# Partition


class PartitionState(NamedTuple):
    """The state of each group's transformation, by label (``None`` at the other leaves)."""

    inner_states: dict[Any, OptState]


def _listed(items: Iterable[Any]) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:_MAX_LISTED])
    return shown + (
        f", ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    )


def _unwrap_variables(labels: Any) -> Any:
    """A label tree with each ``nnx.Variable`` replaced by the label it holds."""
    return jax.tree.map(
        lambda x: jax.tree.leaves(x)[0] if _is_variable(x) else x, labels, is_leaf=_is_variable
    )


def _select(tree_: Any, labels: Any, label: Label) -> Any:
    """``tree_`` with every leaf (or ``Variable``) whose label is not ``label`` set to ``None``."""
    return tree.mask_out(
        tree_, jax.tree.map(lambda lab: lab == label, labels), is_leaf=_is_variable
    )


def partition(
    transforms: Mapping[Label, Any],
    param_labels: Any | Callable[[Params], Any],
) -> GradientTransformationExtraArgs:
    r"""Applies a different transformation to each group of leaves, chosen by label.

    .. math::
        u_i = f_{\ell(i)}\big(g|_{\ell(i)}\big)_i, \qquad
        g|_{\ell} = \{g_j : \ell(j) = \ell\}

    where :math:`\ell(i)` is the label of leaf :math:`i` and :math:`f_\ell` is
    ``transforms[label]``. Each :math:`f_\ell` sees its own leaves only (the others are
    ``None``), so its state holds state only for them; statistics that span leaves (a global
    norm) span the group's leaves.

    Args:
      transforms: ``{label: transformation}``. A transformation may be an optax one; ``None`` or
        ``"freeze"`` freezes the label's leaves (``set_to_zero()``: zero updates, no state;
        :math:`\theta + 0 = \theta`, so they stay bit-identical).
        Transformations whose label no leaf carries are kept (their state holds no leaves).
      param_labels: a tree of labels with the structure of the params, or a prefix of it (one
        label for a whole subtree), or a function ``params -> such a tree``; the function is
        called with the params in ``init`` and with the updates in ``update``. A label tree
        built from an ``nnx.State`` of ``Variable`` objects is accepted as it is.

    Returns:
      A GradientTransformation with state ``PartitionState(inner_states={label: state})``.
      ``init`` and ``update`` raise a ValueError naming the labels that have no transformation.

    References:
      Matches: ``optax.partition`` (same updates; optax's ``inner_states[label]`` is a
      ``MaskedState`` around the group's state with ``optax.MaskedNode`` at the other groups'
      leaves, here it is the group's state itself with ``None`` there).

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import groups
    >>> tx = groups.partition({"a": gradlab.scale(-1.0), "b": "freeze"}, {"w": "a", "b": "b"})
    >>> g = {"w": jnp.ones(2), "b": jnp.ones(1)}
    >>> tx.update(g, tx.init(g))[0]
    {'b': Array([0.], dtype=float32), 'w': Array([-1., -1.], dtype=float32)}
    """
    if not isinstance(transforms, Mapping):
        raise TypeError(
            "partition: transforms must be a dict {label: transformation}, got "
            f"{type(transforms).__name__}. Pass e.g. {{'adam': gradlab.adam(1e-3)}}."
        )
    txs: dict[Label, Any] = {}
    for label, tx in transforms.items():
        if tx is None or (isinstance(tx, str) and tx == "freeze"):
            txs[label] = set_to_zero()
        else:
            validation.check_transform("partition", f"transforms[{label!r}]", tx)
            txs[label] = tx
    updaters = {label: with_extra_args_support(tx).update for label, tx in txs.items()}

    labels_fn = tree.is_mask_function(param_labels)

    def labels_of(tree_: Any) -> Any:
        labels = _unwrap_variables(param_labels(tree_) if labels_fn else param_labels)
        try:
            used = set(jax.tree.leaves(labels))
        except TypeError as e:
            raise ValueError(
                "partition: labels must be hashable (e.g. strings), got "
                f"{_listed(jax.tree.leaves(labels))}."
            ) from e
        unknown = used - set(txs)
        if unknown:
            raise ValueError(
                f"partition: no transformation for the labels {_listed(sorted(map(str, unknown)))}"
                f"; transforms has {_listed(txs)}. Add them to transforms (or fix param_labels)."
            )
        try:
            jax.tree.map(lambda *_: None, labels, tree_)
        except ValueError as e:
            raise ValueError(
                "partition: param_labels must have the structure of the params, or a prefix of "
                f"it.\n  labels: {jax.tree.structure(labels)}\n  params: "
                f"{jax.tree.structure(tree_)}\nBuild the labels with jax.tree.map over the params."
            ) from e
        return labels

    def init(params: Params) -> PartitionState:
        if tree.is_placeholder(params):  # optax.tree.map_params's stand-in: no labels apply
            return PartitionState({label: tx.init(params) for label, tx in txs.items()})
        labels = labels_of(params)
        return PartitionState(
            {label: tx.init(_select(params, labels, label)) for label, tx in txs.items()}
        )

    def update(
        updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        labels = labels_of(updates)
        inner = getattr(state, "inner_states", None)
        if not isinstance(inner, Mapping) or set(inner) != set(txs):
            found = _listed(inner) if isinstance(inner, Mapping) else type(state).__name__
            raise ValueError(
                f"partition: the state holds {found} but the groups are {_listed(txs)}. "
                "Build the state with this partition's init()."
            )
        out, new_states = updates, {}
        for label, fn in updaters.items():
            group_params = None if params is None else _select(params, labels, label)
            group_updates, new_states[label] = fn(
                _select(updates, labels, label), inner[label], group_params, **extra_args
            )
            out = tree.merge(out, group_updates)
        return out, PartitionState(new_states)

    return GradientTransformationExtraArgs(init, update)


multi_transform = partition  # optax's former name of partition


# ---------------------------------------------------------------------------------------------
# Parameter groups by name


DEFAULT_LABEL = "<default>"  # the label of the leaves that no rule matches


def _compile(pattern: Any) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise TypeError(
            f"param_groups: a rule's pattern must be a regular expression string, got "
            f"{type(pattern).__name__} {pattern!r}. Pass e.g. (r'bias|scale', gradlab.adam(1e-3))."
        )
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(
            f"param_groups: the rule pattern {pattern!r} is not a valid regular expression "
            f"({e}). Escape special characters, e.g. re.escape('layers.0')."
        ) from e


def _transform_or_frozen(what: str, tx: Any) -> Any:
    if tx is None or (isinstance(tx, str) and tx == "freeze"):
        return set_to_zero()
    if isinstance(tx, str):
        raise ValueError(
            f'param_groups: {what} is the string {tx!r}; the only string accepted is "freeze". '
            'Pass a transformation, or "freeze" (or None) to freeze the matched leaves.'
        )
    validation.check_transform("param_groups", what, tx)
    return tx


def param_groups(
    rules: Iterable[tuple[str | re.Pattern[str], Any]] | Mapping[str, Any],
    default: Any | Freeze | None = None,
) -> GradientTransformationExtraArgs:
    r"""Parameter groups by name: the first rule whose regex matches a leaf's path applies to it.

    .. math::
        \ell(i) = \min\{r : \texttt{re.search}(p_r, \text{path}_i)\}, \qquad
        u_i = f_{\ell(i)}\big(g|_{\ell(i)}\big)_i

    :math:`\text{path}_i` is the leaf's path string (:func:`param_paths`, e.g.
    ``"encoder/layers/0/kernel"``), :math:`p_r` the pattern of rule :math:`r` (rules are tried in
    order, the first match wins; ``re.search``, so anchor with ``^``/``$`` as needed) and
    :math:`f_r` its transformation; leaves that no rule matches get ``default``. Built on
    :func:`partition`: each group's state holds state only for its own leaves, and frozen leaves
    have none. Put it outermost (do not chain weight decay after it, which would move frozen
    leaves).

    Args:
      rules: ``(pattern, transformation)`` pairs in order of priority (or a dict, in its order).
        A pattern is a regular expression string (compiled here; a bad one raises ValueError) or
        a compiled ``re.Pattern``. A transformation ``"freeze"`` or ``None`` freezes the matched
        leaves: zero updates and no state.
      default: the transformation of the leaves no rule matches, or ``"freeze"``. ``None`` (the
        default) makes every leaf need a rule: ``init``/``update`` raise a ValueError listing the
        unmatched paths.

    Returns:
      A GradientTransformation with state ``PartitionState(inner_states)``, keyed by each rule's
      pattern string and ``"<default>"`` for the default group.

    References:
      PyTorch `parameter groups
      <https://pytorch.org/docs/stable/optim.html#per-parameter-options>`_ and Keras
      `optimizers <https://keras.io/api/optimizers/>`_ (``exclude_from_weight_decay`` by name).
      Matches: ``optax.partition`` given the same labels.

    >>> import jax.numpy as jnp, gradlab
    >>> from gradlab.transforms import groups
    >>> tx = groups.param_groups(
    ...     [("^encoder/", "freeze"), ("bias", gradlab.sgd(1.0))], default=gradlab.sgd(0.5)
    ... )
    >>> w = jnp.ones(1)
    >>> g = {"encoder": {"kernel": w}, "head": {"bias": w, "kernel": w}}
    >>> u = tx.update(g, tx.init(g), g)[0]
    >>> [float(x[0]) for x in jax.tree.leaves(u)]  # encoder/kernel, head/bias, head/kernel
    [0.0, -1.0, -0.5]
    """
    pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    compiled: list[tuple[str, re.Pattern[str]]] = []
    transforms: dict[Label, Any] = {}
    for i, rule in enumerate(pairs):
        if not (isinstance(rule, tuple | list) and len(rule) == 2):
            raise TypeError(
                f"param_groups: rule {i} must be a (pattern, transformation) pair, got {rule!r}. "
                "Pass e.g. [(r'bias|scale', gradlab.adam(1e-3)), (r'^encoder/', 'freeze')]."
            )
        pattern, tx = rule
        regex = _compile(pattern)
        if regex.pattern in transforms or regex.pattern == DEFAULT_LABEL:
            raise ValueError(
                f"param_groups: the pattern {regex.pattern!r} appears twice (or is the reserved "
                f"{DEFAULT_LABEL!r}); the second rule could never match. Merge the two rules."
            )
        compiled.append((regex.pattern, regex))
        transforms[regex.pattern] = _transform_or_frozen(f"the transformation of rule {i}", tx)
    if default is not None:
        transforms[DEFAULT_LABEL] = _transform_or_frozen("default", default)

    @functools.lru_cache(maxsize=65536)  # paths repeat at every step; match each once
    def label_of(path: str) -> Label:
        for label, regex in compiled:
            if regex.search(path):
                return label
        return DEFAULT_LABEL

    def labels(params: Params) -> Any:
        paths = param_paths(params)
        if default is None:
            unmatched = [p for p in jax.tree.leaves(paths) if label_of(p) == DEFAULT_LABEL]
            if unmatched:
                raise ValueError(
                    f"param_groups: no rule matches the parameters {_listed(unmatched)} "
                    f"(rules: {_listed(p for p, _ in compiled)}). Add a rule that matches them, "
                    "or pass default=<transformation> (or default='freeze')."
                )
        return jax.tree.map(label_of, paths)

    return partition(transforms, labels)


__all__ = [
    "DEFAULT_LABEL",
    "PartitionState",
    "multi_transform",
    "param_groups",
    "param_paths",
    "partition",
]

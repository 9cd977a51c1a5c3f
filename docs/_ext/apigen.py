"""The API reference, generated from ``gradlab.__all__`` at every build (no hand-kept list).

:func:`api_pages` returns the reStructuredText of one page per group of the public API, written
into ``docs/api/`` (ignored by git) by the Sphinx extension ``gradlab_sphinx`` before Sphinx
reads the sources. Every name of ``gradlab.__all__`` is placed in exactly one group:

* its *home module* is the object's ``__module__`` for gradlab functions and classes, the
  module a type alias or constant is imported from in ``gradlab/__init__.py`` otherwise, and the
  module itself for a public namespace module (``gradlab.losses``);
* the home module picks the group: the longest prefix in :data:`GROUPS`, else one group per
  unknown ``gradlab.<subpackage>`` (titled from its docstring), else "Other";
* within a group, one section per home module (its docstring as the intro), entries in source
  order: ``autofunction``/``autoclass`` for functions and classes, ``py:data`` for type aliases
  and constants (their ``#:`` or trailing comment as the text), and a short "alias of" entry for
  a second name of the same object (``multi_transform`` for ``partition``).

This module imports neither Sphinx nor docutils, so ``tests/test_docs.py`` can check the output
(every exported name documented) without them. :func:`gallery_images` lists the examples' plots.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import io
import re
import tokenize
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# The groups: hand-written titles and intros, matched by module prefix (longest prefix wins).


@dataclass(frozen=True)
class Group:
    """One page of the API reference."""

    slug: str
    title: str
    intro: str
    prefixes: tuple[str, ...]


GROUPS: tuple[Group, ...] = (
    Group(
        "core",
        "Core types and hyperparameters",
        "A :class:`gradlab.GradientTransformation` is the pair of pure functions ``(init, "
        "update)`` every optimizer, primitive and combinator returns; "
        ":func:`gradlab.apply_updates` adds its output to the parameters. The type aliases "
        "name the pytrees these functions exchange. Every alias keeps its hyperparameters in "
        "its state: :func:`gradlab.hyperparams` reads them and :func:`gradlab.set_hyperparams` "
        "changes them between jitted steps; :func:`gradlab.inject_hyperparams` and "
        ":func:`gradlab.declare_hyperparams` declare them on your own factories.",
        ("gradlab.core",),
    ),
    Group(
        "combinators",
        "Combinators and wrappers",
        "Transformations built from other transformations: in sequence (:func:`gradlab.chain`), "
        "side by side on the same gradient (:func:`gradlab.fan_out`, :func:`gradlab.divide`), "
        "on a subset of the leaves (:func:`gradlab.masked`, :func:`gradlab.partition`, "
        ":func:`gradlab.param_groups`), at selected steps (:func:`gradlab.conditionally_transform`"
        "), or guarded against bad steps (:func:`gradlab.apply_if_finite`, "
        ":func:`gradlab.multi_steps`).",
        (
            "gradlab.transforms.combine",
            "gradlab.transforms.masking",
            "gradlab.transforms.groups",
            "gradlab.transforms.conditionality",
            "gradlab.transforms.wrappers",
            "gradlab.transforms.state_layout",
        ),
    ),
    Group(
        "transforms",
        "Transforms",
        "The primitives the optimizers are chained from, each a small "
        ":class:`gradlab.GradientTransformation` whose docstring states its rule: running "
        "statistics of the gradient, scalings, preconditioners, weight decay, and optax's "
        "building blocks by name (each a short composition of the others). The NamedTuple "
        "states are documented next to the primitive that creates them.",
        ("gradlab.transforms",),
    ),
    Group(
        "optimizers",
        "Optimizers",
        "The classic aliases, with optax's names, arguments and defaults; each is one "
        ":func:`gradlab.chain` of primitives (:doc:`/optimizers` lists the chains side by "
        "side) and keeps its hyperparameters in its state.",
        ("gradlab.optimizers",),
    ),
    Group(
        "schedules",
        "Schedules",
        "Learning-rate (or any hyperparameter) schedules: plain callables ``step -> value``, "
        "accepted wherever a hyperparameter is; and stateful schedules, whose state the "
        "optimizer advances.",
        ("gradlab.schedules",),
    ),
    Group(
        "losses",
        "Losses",
        "Pure functions of arrays returning one value per example (reduce with ``.mean()``).",
        ("gradlab.losses",),
    ),
    Group(
        "solvers",
        "Solvers",
        "Line searches, L-BFGS and a compiled ``minimize`` loop.",
        ("gradlab.solvers",),
    ),
    Group(
        "projections",
        "Projections",
        "Euclidean projections onto convex sets, and projected gradient steps.",
        ("gradlab.projections",),
    ),
    Group(
        "diagnostics",
        "Diagnostics",
        "Checks to run on a model before trusting its training curves.",
        ("gradlab.diagnostics",),
    ),
    Group(
        "data",
        "Data",
        "Shuffled index batches per epoch, from a PRNG key.",
        ("gradlab.data",),
    ),
    Group(
        "testing",
        "Testing",
        "The property checks and reference comparisons gradlab's own suite runs on every "
        "optimizer, public for users' transformations.",
        ("gradlab.testing",),
    ),
    Group(
        "parallel",
        "Scaling out",
        "Data parallelism over a mesh axis, ZeRO-1 state sharding, local SGD and elastic "
        "averaging, and stale gradients with the optimizer built for them.",
        ("gradlab.parallel",),
    ),
    Group(
        "flat",
        "Flat buffers",
        "Parameters and optimizer state as one contiguous buffer per dtype, for many-leaf "
        "models; elementwise optimizers run on them with the per-leaf numbers.",
        ("gradlab.flat",),
    ),
)

OTHER = Group("other", "Other", "Public names whose home module is outside gradlab.", ())

#: The order of the sections within a page (modules not listed follow, alphabetically).
MODULE_ORDER: tuple[str, ...] = (
    "gradlab.core.base",
    "gradlab.core.injection",
    "gradlab.transforms.combine",
    "gradlab.transforms.masking",
    "gradlab.transforms.groups",
    "gradlab.transforms.conditionality",
    "gradlab.transforms.wrappers",
    "gradlab.transforms.state_layout",
    "gradlab.transforms.scaling",
    "gradlab.transforms.statistics",
    "gradlab.transforms.elementwise",
    "gradlab.transforms.preconditioners",
    "gradlab.transforms.weight_decay",
    "gradlab.transforms.centralization",
    "gradlab.transforms.clipping",
    "gradlab.transforms.noise",
    "gradlab.transforms.averaging",
    "gradlab.transforms.fused",
    "gradlab.transforms.blocks",
    "gradlab.optimizers.gradient_descent",
    "gradlab.optimizers.adaptive_rates",
    "gradlab.optimizers.adam_family",
    "gradlab.schedules.basic",
    "gradlab.schedules.cosine",
    "gradlab.schedules.cyclical",
    "gradlab.schedules.joining",
    "gradlab.schedules.stateful",
    "gradlab.losses.regression",
    "gradlab.losses.cross_entropy",
    "gradlab.losses.divergences",
    "gradlab.losses.margins",
    "gradlab.solvers.linesearch",
    "gradlab.solvers.lbfgs",
    "gradlab.solvers.minimize",
    "gradlab.projections.boxes",
    "gradlab.projections.simplex",
    "gradlab.projections.euclidean",
    "gradlab.projections.projected",
)

#: Short section titles for modules whose docstring's first line makes a poor one.
MODULE_TITLES: dict[str, str] = {
    "gradlab.core.base": "Gradient transformations and types",
    "gradlab.core.injection": "Hyperparameters in the state",
    "gradlab.transforms.blocks": "optax's building blocks",
    "gradlab.transforms.elementwise": "Elementwise maps",
    "gradlab.optimizers.adam_family": "The Adam family",
    "gradlab.optimizers.adaptive_rates": "Adaptive rates",
    "gradlab.optimizers.gradient_descent": "Gradient descent",
    "gradlab.solvers.minimize": "Minimization loops",
    "gradlab.projections.simplex": "Simplex and l1 balls",
    "gradlab.projections.euclidean": "l2 balls, spheres, lines and half-spaces",
    "gradlab.projections.projected": "Projected gradient descent",
}

# ---------------------------------------------------------------------------------------------
# What each exported name is


@dataclass
class Entry:
    """One public name and how it is documented."""

    name: str  # the exported name
    qualname: str  # where it is documented: "gradlab.<name>" (or "gradlab.ns.<name>")
    kind: str  # "function", "class", "data", "module", "alias"
    home: str  # the module whose section holds it
    obj: Any
    line: int = 10**9  # its line in the home module, for source order
    target: str = ""  # for aliases: the documented name it is an alias of
    members: list[Entry] = field(default_factory=list)  # for namespace modules


_TYPING_MODULES = {"typing", "types", "collections.abc", "typing_extensions"}


def is_type_alias(obj: Any) -> bool:
    """Whether ``obj`` is a typing construct (``Any``, ``X | Y``, ``Callable[...]``...)."""
    if isinstance(obj, type) and obj.__module__.startswith("gradlab"):
        return False
    return type(obj).__module__ in _TYPING_MODULES and not isinstance(
        obj, (types.FunctionType, types.BuiltinFunctionType, types.ModuleType)
    )


def kind_of(obj: Any) -> str:
    """How an object is documented: "module", "class", "function" or "data"."""
    if isinstance(obj, types.ModuleType):
        return "module"
    if is_type_alias(obj):
        return "data"
    if inspect.isclass(obj):
        return "class"
    if (
        inspect.isroutine(obj)
        or isinstance(obj, functools.partial)
        or (callable(obj) and hasattr(obj, "__wrapped__"))
    ):
        return "function"
    return "data"


def init_imports(package: types.ModuleType) -> dict[str, str]:
    """``{exported name: module it is imported from}``, read from the package's ``__init__``."""
    source = inspect.getsource(package)
    sources: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sources[alias.asname or alias.name] = node.module
    return sources


def _module_rank(modname: str) -> tuple[int, str]:
    order = MODULE_ORDER.index(modname) if modname in MODULE_ORDER else len(MODULE_ORDER)
    return order, modname


def _module_source(modname: str) -> str | None:
    try:
        return inspect.getsource(importlib.import_module(modname))
    except (ImportError, OSError, TypeError):
        return None


def assignment_doc(modname: str, name: str, _depth: int = 0) -> tuple[str, str, int]:
    """``(value source, doc text, line)`` of a module-level ``name = ...`` in ``modname``.

    The doc is, in order of preference: ``#:`` comment lines above the assignment, a string
    literal right after it, the comment at the end of its last line, or plain comment lines
    right above it. A name the module imports (``from x import name``) is looked up in ``x``.
    Empty strings when the module or the assignment is not found.
    """
    source = _module_source(modname)
    if source is None:
        return "", "", 10**9
    tree = ast.parse(source)
    if _depth < 4:
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        return assignment_doc(node.module, alias.name, _depth + 1)
    lines = source.splitlines()
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
            continue
        value = ast.get_source_segment(source, node.value) if node.value else ""
        value = " ".join((value or "").split()).replace("[ ", "[").replace(" ]", "]")
        above = []
        for raw in reversed(lines[: node.lineno - 1]):
            stripped = raw.strip()
            if not stripped.startswith("#"):
                break
            above.append(stripped)
        above.reverse()
        special = [a[2:].strip() for a in above if a.startswith("#:")]
        if special:
            return value, " ".join(special), node.lineno
        following = tree.body[index + 1] if index + 1 < len(tree.body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            return value, inspect.cleandoc(following.value.value), node.lineno
        trailing = _trailing_comment("\n".join(lines[node.lineno - 1 : node.end_lineno]))
        if trailing:
            return value, rst_escape(trailing), node.lineno
        plain = " ".join(a.lstrip("#").strip() for a in above)
        return value, rst_escape(plain), node.lineno
    return "", "", 10**9


def rst_escape(text: str) -> str:
    """A code comment as reStructuredText that shows it verbatim (no stray inline markup)."""
    return re.sub(r"([\\`*|_])", r"\\\1", text)


def _trailing_comment(statement: str) -> str:
    """The comment at the end of a statement's last line, without ``type:``/``noqa`` pragmas."""
    last = statement.count("\n") + 1
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(statement + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return ""
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT and t.start[0] == last]
    if not comments:
        return ""
    parts = [p.strip() for p in comments[-1].split("#")]
    kept = [p for p in parts if p and not re.match(r"(type:|noqa|pragma)", p)]
    return kept[-1] if kept else ""


def field_comments(cls: type) -> dict[str, str]:
    """``{field: trailing comment}`` (escaped) for the annotated fields of a class (states)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    lines = source.splitlines()
    try:
        body = ast.parse(inspect.cleandoc("\n" + source) if source[:1].isspace() else source)
    except SyntaxError:
        return {}
    for node in ast.walk(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            end = node.end_lineno or node.lineno
            if end <= len(lines):
                comment = _trailing_comment(lines[end - 1].strip())
                if comment:
                    comments[node.target.id] = rst_escape(comment)
    return comments


def _source_line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(inspect.unwrap(obj))[1]
    except (OSError, TypeError, ValueError):
        return 10**9


def _home_module(name: str, obj: Any, imports: dict[str, str], package: str) -> str:
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    if kind_of(obj) in ("class", "function") and isinstance(module, str):
        if module.startswith(package):
            return module
    source = imports.get(name)
    if source:
        return source
    return module if isinstance(module, str) else package


def collect(package: types.ModuleType) -> list[Entry]:
    """One :class:`Entry` per name of ``package.__all__``, in ``__all__``'s order."""
    pkg = package.__name__
    imports = init_imports(package)
    exported = list(package.__all__)
    entries: list[Entry] = []
    for name in exported:
        obj = getattr(package, name)
        kind = kind_of(obj)
        home = _home_module(name, obj, imports, pkg)
        entry = Entry(name, f"{pkg}.{name}", kind, home, obj)
        canonical = getattr(obj, "__name__", name)
        if (
            kind in ("function", "class")
            and canonical != name
            and canonical in exported
            and getattr(package, canonical) is obj
        ):
            entry.kind, entry.target = "alias", f"{pkg}.{canonical}"
        if kind == "data":
            _, _, entry.line = assignment_doc(home, name)
        else:
            entry.line = _source_line(obj)
        if kind == "module":
            entry.members = _namespace_members(package, obj, exported)
        entries.append(entry)
    return entries


def _namespace_members(package: types.ModuleType, module: Any, exported: list[str]) -> list[Entry]:
    """The members of a public namespace module; those not at the top level get an entry."""
    members = []
    top = {id(getattr(package, n)): n for n in exported}
    imports = init_imports(module) if hasattr(module, "__file__") else {}
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if id(obj) in top and top[id(obj)] == name:
            members.append(Entry(name, f"{package.__name__}.{name}", "link", "", obj))
            continue
        kind = kind_of(obj)
        home = _home_module(name, obj, imports, package.__name__)
        entry = Entry(name, f"{module.__name__}.{name}", kind, home, obj)
        if kind == "data":
            _, _, entry.line = assignment_doc(home, name)
        entry.kind = kind if kind != "module" else "data"  # a nested module: a short entry
        members.append(entry)
    return members


def group_of(home: str, package: str = "gradlab") -> Group:
    """The group of a home module: the longest matching prefix, else its subpackage."""
    best: Group | None = None
    best_len = -1
    for group in GROUPS:
        for prefix in group.prefixes:
            if (home == prefix or home.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = group, len(prefix)
    if best is not None:
        return best
    parts = home.split(".")
    if parts[0] == package and len(parts) > 1:
        sub = f"{package}.{parts[1]}"
        doc = _first_line(getattr(_import(sub), "__doc__", None)) or parts[1]
        title = doc.split(":")[0].strip().rstrip(".") or parts[1].capitalize()
        return Group(parts[1], title[:60], "", (sub,))
    return OTHER


def _import(modname: str) -> Any:
    try:
        return importlib.import_module(modname)
    except ImportError:
        return None


def _first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).splitlines()[0].strip() if doc else ""


def module_title(modname: str) -> str:
    """A section title for a home module: :data:`MODULE_TITLES`, else its docstring's start."""
    if modname in MODULE_TITLES:
        return MODULE_TITLES[modname]
    first = _first_line(getattr(_import(modname), "__doc__", None))
    title = first.split(": ")[0].strip().rstrip(".")
    if not title or len(title) > 60 or title.lower() == modname.rsplit(".", 1)[-1]:
        title = modname.rsplit(".", 1)[-1].replace("_", " ").capitalize()
    return title[0].upper() + title[1:] if not title.startswith("optax") else title


def summary(entry: Entry) -> str:
    """The first paragraph of an entry's documentation, on one line."""
    if entry.kind == "alias":
        return f"Alias of {_role(entry.kind, entry.target, entry.obj)}."
    if entry.kind == "data":
        _, doc, _ = assignment_doc(entry.home, entry.name)
        if not doc and not is_type_alias(entry.obj):
            doc = inspect.getdoc(entry.obj) or "" if _own_doc(entry.obj) else ""
    else:
        doc = inspect.getdoc(entry.obj) or ""
    return _first_paragraph(doc)


def _first_paragraph(doc: str | None) -> str:
    paragraph = []
    for line in inspect.cleandoc(doc or "").splitlines():
        if not line.strip():
            break
        paragraph.append(line.strip())
    return " ".join(paragraph)


def _own_doc(obj: Any) -> bool:
    """Whether an instance carries documentation of its own (not its type's)."""
    return getattr(type(obj), "__module__", "").startswith("gradlab")


def _role(kind: str, qualname: str, obj: Any) -> str:
    if kind == "module":
        return f":mod:`{qualname}`"
    if kind == "data":
        return f":data:`{qualname}`"
    if kind == "class" or (kind == "alias" and inspect.isclass(obj)):
        return f":class:`{qualname}`"
    return f":func:`{qualname}`"


def _indent(text: str, spaces: int = 3) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def _plain_signature(obj: Any) -> str:
    """``(a, b=1, *, c=None)``: the signature without annotations (for alias entries)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def directive(entry: Entry) -> str:
    """The reStructuredText that documents one entry (ends with a blank line)."""
    if entry.kind == "function":
        return f".. autofunction:: {entry.qualname}\n\n"
    if entry.kind == "class":
        # A docstring with a napoleon "Methods:" section documents the methods itself.
        has_methods = re.search(r"^\s*Methods:\s*$", inspect.getdoc(entry.obj) or "", re.M)
        options = "" if has_methods else "   :members:\n"
        if not _is_namedtuple(entry.obj):
            options += "   :show-inheritance:\n"
        return f".. autoclass:: {entry.qualname}\n{options}\n"
    if entry.kind == "alias":
        what = "class" if inspect.isclass(entry.obj) else "function"
        sig = "" if what == "class" else _plain_signature(entry.obj)
        text = f"Alias of {_role(entry.kind, entry.target, entry.obj)}: the same object."
        module, _, short = entry.qualname.rpartition(".")
        head = f".. py:{what}:: {short}{sig}\n   :module: {module}\n"
        return f"{head}\n{_indent(text)}\n\n"
    if entry.kind == "data":
        value, doc, _ = assignment_doc(entry.home, entry.name)
        if isinstance(entry.obj, types.ModuleType):
            value = entry.obj.__name__
            doc = doc or _first_paragraph(entry.obj.__doc__)
        if not value:
            value = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(entry.obj))
        if len(value) > 100:
            value = value[:97] + "..."
        if not doc and _own_doc(entry.obj):
            doc = inspect.getdoc(entry.obj) or ""
        if is_type_alias(entry.obj):
            doc = (doc[:1].upper() + doc[1:] + ("" if doc.endswith(".") else ".")) if doc else ""
            doc = f"Type alias. {doc}".strip()
        module, _, short = entry.qualname.rpartition(".")
        head = f".. py:data:: {short}\n   :module: {module}\n   :value: {value}\n"
        return head + ("\n" + _indent(doc) + "\n\n" if doc else "\n")
    if entry.kind == "module":
        lines = [f".. automodule:: {entry.qualname}", ""]
        links = [m for m in entry.members if m.kind == "link"]
        own = [m for m in entry.members if m.kind != "link"]
        if links:
            roles = ", ".join(_role(kind_of(m.obj), m.qualname, m.obj) for m in links)
            lines += [
                f"The members of ``{entry.qualname}``, also at the top level: {roles}.",
                "",
            ]
        for member in sorted(own, key=lambda m: m.name):
            lines.append(directive(member).rstrip("\n"))
            lines.append("")
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown kind {entry.kind!r} for {entry.qualname}")


def _is_namedtuple(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n\n"


def _table(entries: Iterable[Entry]) -> str:
    rows = [".. list-table::", "   :widths: 35 65", "   :class: api-summary", ""]
    for entry in entries:
        kind = "module" if entry.kind == "module" else entry.kind
        rows.append(f"   * - {_role(kind, entry.qualname, entry.obj)}")
        rows.append(f"     - {summary(entry) or ' '}")
    return "\n".join(rows) + "\n\n"


def grouped(entries: list[Entry], package: str = "gradlab") -> list[tuple[Group, list[Entry]]]:
    """The entries by group, the groups in :data:`GROUPS`' order, then the others."""
    by_slug: dict[str, tuple[Group, list[Entry]]] = {}
    for entry in entries:
        group = group_of(entry.home, package)
        by_slug.setdefault(group.slug, (group, []))[1].append(entry)
    order = [g.slug for g in GROUPS]
    return sorted(
        by_slug.values(),
        key=lambda item: (
            order.index(item[0].slug) if item[0].slug in order else len(order),
            item[0].slug == OTHER.slug,
            item[0].slug,
        ),
    )


def _page(group: Group, entries: list[Entry]) -> str:
    out = [".. This page is generated by docs/_ext/apigen.py from gradlab.__all__.\n\n"]
    out.append(_heading(group.title, "="))
    if group.intro:
        out.append(group.intro + "\n\n")
    modules = [e for e in entries if e.kind == "module"]
    others = [e for e in entries if e.kind != "module"]
    out.append(_table(sorted(entries, key=lambda e: (e.kind != "module", e.name.lower()))))
    for entry in sorted(modules, key=lambda e: e.name):
        out.append(_heading(f"The ``{entry.qualname}`` namespace", "-"))
        out.append(directive(entry))
    sections: dict[str, list[Entry]] = {}
    for entry in others:
        sections.setdefault(entry.home, []).append(entry)
    for home in sorted(sections, key=_module_rank):
        out.append(_heading(module_title(home), "-"))
        if _import(home) is not None and home not in {e.qualname for e in modules}:
            out.append(f".. automodule:: {home}\n\n")
        for entry in sorted(sections[home], key=lambda e: (e.line, e.name)):
            out.append(directive(entry))
    return "".join(out)


def api_pages(package: types.ModuleType) -> dict[str, str]:
    """``{file name: reStructuredText}``: ``index.rst`` and one page per group."""
    groups = grouped(collect(package), package.__name__)
    pages = {f"{group.slug}.rst": _page(group, entries) for group, entries in groups}
    toc = "\n".join(f"   {group.slug}" for group, _ in groups)
    count = len(package.__all__)
    pages["index.rst"] = (
        ".. This page is generated by docs/_ext/apigen.py from gradlab.__all__.\n\n"
        + _heading("API reference", "=")
        + f"Every public name of ``{package.__name__}`` ({count} in ``__all__``), grouped by "
        "concept. Each is importable from the top level (``gradlab.adam``); each page starts "
        "with a summary table.\n\n" + f".. toctree::\n   :maxdepth: 2\n\n{toc}\n"
    )
    return pages


_DIRECTIVE = re.compile(
    r"^(\s*)\.\. (?:auto(?:function|class|data|module|exception)|py:(?:function|class|data|"
    r"module|exception|attribute))::\s+([\w.]+)"
)
_MODULE_OPTION = re.compile(r"^\s+:module:\s+([\w.]+)\s*$")


def documented_qualnames(pages: dict[str, str]) -> list[str]:
    """The full name of every object a directive documents, once per directive.

    ``.. py:data:: Params`` with the option ``:module: gradlab`` counts as ``gradlab.Params``.
    """
    found = []
    for text in pages.values():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            match = _DIRECTIVE.match(line)
            if not match:
                continue
            name = match.group(2)
            for option in lines[i + 1 :]:
                if not option.strip().startswith(":"):
                    break
                module = _MODULE_OPTION.match(option)
                if module:
                    name = f"{module.group(1)}.{name}"
            found.append(name)
    return found


def documented_names(pages: dict[str, str], package: str = "gradlab") -> set[str]:
    """The names under ``package`` that some page documents: ``adam``, ``losses.x``..."""
    prefix = package + "."
    return {q[len(prefix) :] for q in documented_qualnames(pages) if q.startswith(prefix)}


def write_pages(pages: dict[str, str], folder: Path) -> list[Path]:
    """Writes the pages that changed (so Sphinx re-reads only those); removes stale ones."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for stale in folder.glob("*.rst"):
        if stale.name not in pages:
            stale.unlink()
    return written


# ---------------------------------------------------------------------------------------------
# The gallery


def gallery_images(docs: Path) -> list[Path]:
    """Every PNG under ``docs/`` (the examples' plots), outside the build and generated folders."""
    skip = {"_build", "_static", "_templates", "api"}
    return sorted(
        p
        for p in docs.rglob("*.png")
        if not (set(p.relative_to(docs).parts[:-1]) & skip)
        and not any(part.startswith(".") for part in p.relative_to(docs).parts)
    )


def image_producer(image: Path, repo: Path) -> str | None:
    """The example (or module) whose source names the image file, as a repository path."""
    name = image.name
    candidates = sorted((repo / "examples").glob("*.py")) if (repo / "examples").exists() else []
    demo = repo / "gradlab" / "demo"
    if demo.exists():
        candidates += sorted(demo.rglob("*.py"))
    for path in candidates:
        try:
            if name in path.read_text(encoding="utf-8"):
                return path.relative_to(repo).as_posix()
        except OSError:
            continue
    return None

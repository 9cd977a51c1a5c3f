"""Runs optax's own test files against gradlab: loading, name swapping and bookkeeping.

Each optax test file is read from the installed optax package and executed as a fresh module
whose ``import optax ...`` statements yield *shims* of optax's modules. A shim's attribute lookup
returns gradlab's object when gradlab offers the same public name with the same meaning, and
optax's own object otherwise. Every lookup is recorded against the test that is running:

* ``gradlab`` names: optax names answered by gradlab's object;
* ``optax-only`` names: optax API objects gradlab does not offer (public names such as
  ``optax.lion``, and optax internals such as ``transform._precondition_by_lbfgs``). Looking one up
  while a test runs raises :class:`NotApplicable` (a ``unittest.SkipTest``): the test would only
  test optax itself.

Names looked up while a file is imported (in ``parameterized`` decorators, module constants) are
wrapped, when they are functions, so that *calling* them inside a test is recorded the same way;
a test file's own class built on an optax-only class (``class S(base.StatefulSchedule)``) records
that class when a test creates one. Each ``subTest`` block gets its own record (pytest reports it
on its own), seeing the names its test reached before it.

Two checks read the source instead, so that tests that cannot apply are not even run: a file
that names nothing gradlab offers (:meth:`Loader.reachable_gradlab_names`), and a test whose
body surely reaches an optax-only name (:meth:`Loader.unconditional_optax_only`).

Helper modules stay optax's and are not recorded: ``optax._src.test_utils`` (assertions),
``optax.tree`` / ``optax.tree_utils`` (pytree arithmetic and state inspection) and
``optax._src.numerics`` (``abs_sq`` and friends, used to write objectives), and the objects in
``HELPER_OBJECTS`` (``utils.x64_precision``). Non-callable module attributes (typing aliases such
as ``base.Params``, constants) are returned as optax's.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import pathlib
import sys
import textwrap
import types
import unittest
from collections.abc import Callable
from typing import Any

import gradlab

# Names gradlab offers with a different meaning than optax's object of the same name.
DIFFERENT_MEANING = {
    # optax.bias_correction(moment, decay, count) is a helper dividing a moment by 1 - decay**count;
    # gradlab.bias_correction(decay) is a GradientTransformation.
    "bias_correction": "optax's is a function of (moment, decay, count); gradlab's a transform",
}

# optax modules whose objects the tests use as tools; they stay optax's and are not recorded.
HELPER_MODULES = {
    "optax._src.test_utils",
    "optax.tree",
    "optax.tree_utils",
    "optax._src.numerics",
}

# Single optax objects the tests use as tools (not optimisation API); they stay optax's.
HELPER_OBJECTS = {
    "optax._src.utils.x64_precision",  # a context manager around jax.enable_x64
}

# Namespaces whose public names make up optax's API (an object found here is "public").
_PUBLIC_NAMESPACES = (
    "optax",
    "optax.transforms",
    "optax.schedules",
    "optax.losses",
    "optax.projections",
    "optax.contrib",
    "optax.assignment",
    "optax.perturbations",
    "optax.second_order",
    "optax.experimental",
    "optax.microbatching",
)

MODULE_PREFIX = "gradlab_conformance."


# Expressions whose code runs later, or maybe never.
_DEFERRED = (ast.Lambda, ast.comprehension, ast.ListComp, ast.SetComp, ast.DictComp)
_DEFERRED += (ast.GeneratorExp,)


def _walk_eager(node: ast.AST):
    """ast.walk, minus the code that runs later or maybe never (lambdas, comprehensions)."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, _DEFERRED):
                todo.append(child)


class NotApplicable(unittest.SkipTest):
    """Raised when a running test reaches an optax object gradlab does not offer."""


@dataclasses.dataclass
class Record:
    """The optax names one test (or one file's import) reached."""

    gradlab: set[str] = dataclasses.field(default_factory=set)
    optax_only: set[str] = dataclasses.field(default_factory=set)


class _State:
    test: Record | None = None  # the running test's own lookups (outside subtests)
    subtests: list[Record] = []  # records of the subTest blocks now open, outermost first


STATE = _State()


def begin_test() -> Record:
    STATE.test, STATE.subtests = Record(), []
    return STATE.test


def end_test() -> None:
    STATE.test, STATE.subtests = None, []


def in_subtest() -> bool:
    return bool(STATE.subtests)


def visible() -> Record:
    """What the code now running has reached: the test's own lookups and the open subtests'."""
    out = Record()
    for rec in [STATE.test or Record(), *STATE.subtests]:
        out.gradlab |= rec.gradlab
        out.optax_only |= rec.optax_only
    return out


@contextlib.contextmanager
def _recorded_subtest(self: unittest.TestCase, *args: Any, **kwargs: Any) -> Any:
    """``TestCase.subTest`` that gives the block its own record (one report per subtest)."""
    STATE.subtests.append(Record())
    try:
        with unittest.TestCase.subTest(self, *args, **kwargs):
            yield
    finally:
        STATE.subtests.pop()


def optax_root() -> pathlib.Path:
    """The installed optax package's directory (read at test time, nothing is copied)."""
    spec = importlib.util.find_spec("optax")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("optax is not installed; the conformance suite needs it (extra 'dev')")
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def gradlab_names() -> set[str]:
    names = set(gradlab.__all__) | set(gradlab.schedules.__all__) | set(gradlab.losses.__all__)
    return names - set(DIFFERENT_MEANING)


@functools.cache
def gradlab_object(name: str) -> Any:
    for namespace in (gradlab, gradlab.schedules, gradlab.losses):
        if hasattr(namespace, name):
            return _with_optax_annotations(getattr(namespace, name))
    raise AttributeError(name)


def _with_optax_annotations(obj: Any) -> Any:
    """``obj``, with its signature's ``ScalarOrSchedule`` / ``Schedule`` annotations as optax's.

    gradlab's modules use postponed annotations, so ``inspect.signature`` shows the string
    ``'ScalarOrSchedule'`` where optax's shows its ``base.ScalarOrSchedule`` object; optax's
    tests skip an optimizer unless its ``learning_rate`` is annotated with that object. The
    name means the same type in both libraries, so the harness translates it as it translates
    every other name.
    """
    if not inspect.isfunction(obj):
        return obj
    from optax._src import base as optax_base

    translated = {"ScalarOrSchedule": optax_base.ScalarOrSchedule, "Schedule": optax_base.Schedule}
    signature = inspect.signature(obj)
    parameters = [
        p.replace(annotation=translated[p.annotation])
        if isinstance(p.annotation, str) and p.annotation in translated
        else p
        for p in signature.parameters.values()
    ]
    if parameters == list(signature.parameters.values()):
        return obj

    @functools.wraps(obj)
    def same(*args: Any, **kwargs: Any) -> Any:
        return obj(*args, **kwargs)

    same.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return same


def _is_api_object(obj: Any) -> bool:
    """Functions, classes and partials: the objects a test exercises (not typing aliases)."""
    if isinstance(obj, types.ModuleType):
        return False
    if inspect.isroutine(obj) or isinstance(obj, functools.partial):
        return True
    if isinstance(obj, type):
        return True
    module = getattr(type(obj), "__module__", "") or ""
    return callable(obj) and module.startswith("optax")


@functools.cache
def _public_api() -> tuple[dict[int, str], frozenset[str]]:
    """(id(object) -> one public optax name of it, every public name), over optax's namespaces.

    One object can have several names (``optax.partition is optax.multi_transform``,
    ``optax.AdaptiveGradClipState is optax.EmptyState``).
    """
    found: dict[int, str] = {}
    names: set[str] = set()
    for ns_name in _PUBLIC_NAMESPACES:
        try:
            ns = importlib.import_module(ns_name)
        except ImportError:
            continue
        for name in dir(ns):
            if name.startswith("_"):
                continue
            obj = getattr(ns, name, None)
            if _is_api_object(obj):
                found.setdefault(id(obj), f"{ns_name}.{name}")
                names.add(name)
    return found, frozenset(names)


def _public_ids() -> dict[int, str]:
    return _public_api()[0]


def _note(kind: str, name: str) -> None:
    """Records a lookup for the running test; outside a test, records nothing."""
    if STATE.test is None:
        return
    rec = STATE.subtests[-1] if STATE.subtests else STATE.test
    if kind == "gradlab":
        rec.gradlab.add(name)
    else:
        rec.optax_only.add(name)
        raise NotApplicable(f"not applicable: uses {name}, which gradlab does not offer")


def _wrap(kind: str, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A function that records itself when a test calls it (for import-time lookups)."""

    @functools.wraps(fn)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        _note(kind, label)
        return fn(*args, **kwargs)

    return recorded


class Shim(types.ModuleType):
    """Stands for one optax module inside a loaded test file."""

    def __init__(self, real: types.ModuleType, loader: Loader):
        super().__init__(real.__name__, getattr(real, "__doc__", None))
        self.__dict__["_real"] = real
        self.__dict__["_loader"] = loader
        self.__dict__["_wrapped"] = {}

    def __repr__(self) -> str:
        return f"<conformance shim of {self._real.__name__}>"

    def __dir__(self) -> list[str]:
        return dir(self._real)

    def resolve(self, name: str) -> tuple[str, Any, str]:
        """(kind, value, label) of ``name``: kind is "module", "neutral", "gradlab" or "optax"."""
        real, loader = self._real, self._loader
        full = f"{real.__name__}.{name}"
        try:
            obj = getattr(real, name)
        except AttributeError:
            if name.endswith("_test"):  # e.g. `from optax._src import alias_test`
                return "module", loader.load(full), full
            try:
                obj = importlib.import_module(full)
            except ModuleNotFoundError:
                missing = f"module {real.__name__!r} has no attribute {name!r}"
                raise AttributeError(missing) from None
        if isinstance(obj, types.ModuleType):
            return "module", loader.module(obj), full
        if not _is_api_object(obj) or full in HELPER_OBJECTS:
            return "neutral", obj, full  # typing aliases, constants, test helpers
        public = _public_ids().get(id(obj))
        if not name.startswith("_") and name in loader.swappable and public is not None:
            return "gradlab", gradlab_object(name), name
        return "optax", obj, public or full

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            return getattr(self._real, name)
        kind, value, label = self.resolve(name)
        if kind in ("module", "neutral"):
            return value
        if STATE.test is not None:
            _note(kind, label)
            return value
        # Import time: a function is wrapped so that a test calling it is recorded.
        if inspect.isfunction(value) or isinstance(value, functools.partial):
            cache = self._wrapped
            if name not in cache:
                cache[name] = _wrap(kind, label, value)
            return cache[name]
        return value


class Loader:
    """Loads optax test files as modules whose optax imports resolve to shims."""

    def __init__(self) -> None:
        self.root = optax_root()
        self.offered = gradlab_names()
        # The names a shim answers with gradlab's object: offered by both.
        self.swappable = self.offered & _public_api()[1]
        self.shims: dict[str, types.ModuleType] = {}
        self.loaded: dict[str, types.ModuleType] = {}  # dotted optax test module -> module
        self.files: dict[str, str] = {}  # loaded module's __name__ -> path relative to optax/
        self._static: dict[Any, str | None] = {}

    def module(self, real: types.ModuleType) -> types.ModuleType:
        name = real.__name__
        if not name.startswith("optax") or name in HELPER_MODULES:
            return real
        if name.endswith("_test"):
            return self.load(name)
        if name not in self.shims:
            self.shims[name] = Shim(real, self)
        return self.shims[name]

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        if level or not (name == "optax" or name.startswith("optax.")):
            return builtins.__import__(name, globals, locals, fromlist, level)
        target = importlib.import_module(name)
        for item in fromlist or ():
            if not hasattr(target, item):
                sub = f"{name}.{item}"
                if item.endswith("_test"):
                    continue
                try:
                    importlib.import_module(sub)
                except ModuleNotFoundError:
                    pass
        if fromlist:
            return self.module(target)
        return self.module(importlib.import_module("optax"))

    def relpath(self, dotted: str) -> str:
        return dotted.removeprefix("optax.").replace(".", "/") + ".py"

    def load(self, dotted: str) -> types.ModuleType:
        """Executes optax's test module ``dotted`` (e.g. ``optax._src.alias_test``) once."""
        if dotted in self.loaded:
            return self.loaded[dotted]
        rel = self.relpath(dotted)
        path = self.root / rel
        source = path.read_text()
        mod_name = MODULE_PREFIX + dotted
        module = types.ModuleType(mod_name)
        module.__file__ = str(path)
        module.__builtins__ = dict(vars(builtins), __import__=self._import)
        sys.modules[mod_name] = module
        self.loaded[dotted] = module
        self.files[mod_name] = rel
        try:
            exec(compile(source, str(path), "exec"), module.__dict__)
        except BaseException:
            del self.loaded[dotted], sys.modules[mod_name]
            raise
        self._instrument(module)
        return module

    def _instrument(self, module: types.ModuleType) -> None:
        """Per-subtest records; classes built on optax-only classes record their use.

        A test file's own class that subclasses an optax class gradlab does not offer (e.g.
        ``class ExampleStatefulSchedule(base.StatefulSchedule)``) was looked up at import time;
        creating an instance of it inside a test counts as using that optax class.
        """
        public = _public_ids()
        for obj in list(vars(module).values()):
            if not isinstance(obj, type) or obj.__module__ != module.__name__:
                continue
            if issubclass(obj, unittest.TestCase):
                obj.subTest = _recorded_subtest
                continue
            optax_bases = [
                base
                for base in obj.__mro__[1:]
                if (base.__module__ or "").startswith("optax")
                and not (base.__name__ in self.swappable and id(base) in public)
            ]
            if optax_bases:
                label = public.get(id(optax_bases[0])) or (
                    f"{optax_bases[0].__module__}.{optax_bases[0].__qualname__}"
                )
                original_init = obj.__init__

                def init(self, *args, _init=original_init, _label=label, **kwargs):
                    _note("optax", _label)
                    _init(self, *args, **kwargs)

                obj.__init__ = init

    def reachable_gradlab_names(self, dotted: str) -> set[str]:
        """Names gradlab offers that optax's test file ``dotted`` can reach, read from its source.

        Counted: attributes of names bound by ``import optax...`` / ``from optax... import``
        (``alias.adam``, ``optax.losses.l2_loss``), names imported directly, and string constants
        (``getattr(alias, "adam")``). A file reaching none of them is not applicable as a whole
        and is not run.
        """
        tree = ast.parse((self.root / self.relpath(dotted)).read_text())
        roots, found = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "optax":
                        roots.add(alias.asname or "optax")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optax"):
                for alias in node.names:
                    roots.add(alias.asname or alias.name)
                    found.add(alias.name)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                base = node
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in roots:
                    found.add(node.attr)
        return found & self.swappable

    def unconditional_optax_only(self, cls: type, method: str) -> str | None:
        """An optax-only name the test's body surely reaches, read from its source, or None.

        Only the simple statements at the top level of the test method count (not those under
        ``if``/``for``/``with``/``try``, nor lambdas): unless an earlier statement stops the test,
        they run. Such a test is not applicable, and is not run.
        """
        func = inspect.unwrap(getattr(cls, method))
        key = getattr(func, "__code__", None)
        if key is None:
            return None
        if key not in self._static:
            self._static[key] = self._scan(func)
        return self._static[key]

    def _scan(self, func: Callable[..., Any]) -> str | None:
        try:
            source = textwrap.dedent(inspect.getsource(func))
            body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        except (OSError, TypeError, SyntaxError, IndexError, AttributeError):
            return None
        module_globals = getattr(func, "__globals__", {})
        simple = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)
        for stmt in body:
            if not isinstance(stmt, simple):
                continue
            for node in _walk_eager(stmt):
                if not isinstance(node, ast.Attribute):
                    continue
                chain = []
                base: ast.expr = node
                while isinstance(base, ast.Attribute):
                    chain.append(base.attr)
                    base = base.value
                if not isinstance(base, ast.Name):
                    continue
                value = module_globals.get(base.id)
                for attr in reversed(chain):
                    if not isinstance(value, Shim):
                        break
                    try:
                        kind, value, label = value.resolve(attr)
                    except AttributeError:
                        break
                    if kind == "optax":
                        return label
        return None

    def test_modules(self) -> list[str]:
        """Every ``*_test.py`` in the installed optax package, as dotted module names."""
        found = []
        for path in sorted(self.root.rglob("*_test.py")):
            rel = path.relative_to(self.root).with_suffix("")
            found.append(".".join(("optax", *rel.parts)))
        return found


LOADER: Loader | None = None


def loader() -> Loader:
    global LOADER
    if LOADER is None:
        LOADER = Loader()
    return LOADER

"""The public API: one name per object, each documented with its math and a reference."""

import inspect

import pytest

import gradlab

TYPE_ALIASES = {
    "OptState",
    "Params",
    "ScalarOrSchedule",
    "Schedule",
    "ShouldSkipUpdateFunction",
    "Updates",
}


def public_functions():
    for name in gradlab.__all__:
        obj = getattr(gradlab, name)
        if inspect.isfunction(obj):
            yield name, obj


def test_all_is_sorted_unique_and_complete():
    assert list(gradlab.__all__) == sorted(set(gradlab.__all__))
    exported = {n for n in vars(gradlab) if not n.startswith("_")}
    modules = {n for n in exported if inspect.ismodule(getattr(gradlab, n))}
    # every object is listed; of the modules, only the public namespaces (gradlab.losses, ...)
    assert exported - modules == {n for n in gradlab.__all__ if n not in modules}
    for name in gradlab.__all__:
        assert hasattr(gradlab, name), name


def test_every_public_function_documents_args_math_and_a_reference():
    missing = []
    for name, fn in public_functions():
        doc = inspect.getdoc(fn) or ""
        if "Args:" not in doc:
            missing.append(f"{name}: no Args:")
        if ":math:" not in doc and ".. math::" not in doc:
            missing.append(f"{name}: no math")
        if "References:" not in doc and "Matches:" not in doc:
            missing.append(f"{name}: no References:/Matches:")
        if ">>>" not in doc:
            missing.append(f"{name}: no doctest example")
    assert not missing, "\n".join(missing)


def test_public_classes_have_docstrings():
    for name in gradlab.__all__:
        obj = getattr(gradlab, name)
        if inspect.isclass(obj):
            assert inspect.getdoc(obj), name


def test_version():
    assert gradlab.__version__.count(".") == 2


def test_runtime_dependencies_are_what_the_library_imports():
    """pyproject's dependencies equal the third-party modules gradlab imports (optional ones,
    inside ``try``, aside); jaxlib is jax's compiled half and is never imported by name. The demo
    (``gradlab/demo/``) imports only the library's dependencies and its ``demo`` extra, the
    benchmark (``gradlab/bench/``) only those and its ``bench`` extra; ``gradlab.testing`` uses
    flax's msgpack when flax is there."""
    import ast
    import pathlib
    import re
    import sys

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = pathlib.Path(gradlab.__file__).parent
    required, optional, demo, bench = set(), set(), set(), set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        in_try = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for n in ast.walk(t)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "gradlab" or top in sys.stdlib_module_names:
                    continue
                if path.parent.name == "demo":
                    demo.add(top)
                elif path.parent.name == "bench":
                    bench.add(top)
                else:
                    (optional if id(node) in in_try else required).add(top)
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ]", d)[0] for d in project["dependencies"]}
    assert required == declared - {"jaxlib"}, (required, declared)
    assert optional <= {"optax", "flax"}, optional
    extra = {re.split(r"[<>=!~\[ ]", d)[0] for d in project["optional-dependencies"]["demo"]}
    extra = {"sklearn" if d == "scikit-learn" else d for d in extra}
    assert demo <= declared | extra, (demo, extra)
    extra = {re.split(r"[<>=!~\[ ]", d)[0] for d in project["optional-dependencies"]["bench"]}
    assert bench <= declared | extra, (bench, extra)


def test_gradlab_works_without_optax_and_flax():
    """Neither is a runtime dependency: with both unimportable, the library still runs."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['optax'] = None; sys.modules['flax'] = None\n"
        "import jax.numpy as jnp, gradlab\n"
        "tx = gradlab.chain(gradlab.adamw(0.1), gradlab.scale(1.0))\n"
        "u, _ = tx.update(jnp.ones(2), tx.init(jnp.ones(2)), jnp.ones(2), value=1.0)\n"
        "assert isinstance(tx, gradlab.GradientTransformationExtraArgs)\n"
        "assert 'optax' not in str(type(tx).__mro__)\n"
        "print(float(u[0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 0

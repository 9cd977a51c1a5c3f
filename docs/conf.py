"""Sphinx configuration of gradlab's documentation site.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``pip install -e
".[docs]"`` first). The API pages are generated into ``docs/api/`` from ``gradlab.__all__`` at
every build (``docs/_ext/apigen.py``); the migration guide includes README.md's sections.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's gradlab, installed or not

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # importing gradlab must not probe accelerators

import apigen  # noqa: E402

import gradlab  # noqa: E402

project = "gradlab"
author = "the gradlab authors"
copyright = "the gradlab authors, Apache-2.0"
release = gradlab.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "gradlab_sphinx",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "**/.ipynb_checkpoints", ".gitignore"]
templates_path: list[str] = []

# Cross-references that do not resolve (jax.Array, optax.*, a private helper) stay plain text.
nitpicky = False

# autodoc: everything is documented under its public name, gradlab.<name> (docs/_ext/apigen.py).
autodoc_member_order = "bysource"
autodoc_default_options: dict[str, object] = {}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# Annotations name the public type aliases (``learning_rate: ScalarOrSchedule``), not their
# expansions: every type alias in gradlab.__all__, found by the same code as the API pages.
autodoc_type_aliases = {
    entry.name: entry.qualname
    for entry in apigen.collect(gradlab)
    if entry.kind == "data" and apigen.is_type_alias(entry.obj)
} | {"ArrayLike": "jax.typing.ArrayLike", "jax.typing.ArrayLike": "jax.typing.ArrayLike"}
python_use_unqualified_type_names = True
add_module_names = False
toc_object_entries_show_parents = "hide"

# napoleon: Google style only (Args:, Returns:, References:, Methods:).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_attr_annotations = True

# MyST: README.md's sections are included verbatim in migration.md.
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"gradlab {release}"
html_theme_options = {
    "description": "Optimizers, schedules and losses for JAX, composed from small primitives.",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "240px",
}
html_static_path: list[str] = []
html_show_sourcelink = False

"""Sphinx glue for gradlab's docs: API pages from ``gradlab.__all__``, the gallery, and fixes.

* ``builder-inited``: writes ``docs/api/*.rst`` from :func:`apigen.api_pages` (only the pages
  whose text changed, so incremental builds stay incremental).
* ``autodoc-process-docstring``: a NamedTuple field's docstring ("Alias for field number 0")
  is replaced by the field's trailing comment in the source, or dropped.
* ``missing-reference``: a short name in a docstring (``:func:`adam```, written inside
  ``gradlab.optimizers.adam_family``) resolves to the documented ``gradlab.<name>``.
* ``autodoc-process-docstring`` (before napoleon): an ``Args:`` section saying only
  ``(none)`` is dropped (napoleon would render "(none)" as a parameter).
* annotations: an ``autodoc_type_aliases`` name nested in a generic prints as ``Params``, not
  as ``TypeAliasForwardRef('gradlab.Params')``.
* the ``gradlab-gallery`` directive: one figure per PNG under ``docs/``, found at build time;
  the page is re-read when a PNG appears or disappears.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(Path(__file__).resolve().parent))

import apigen  # noqa: E402

PACKAGE = "gradlab"


def _generate(app: Sphinx) -> None:
    package = importlib.import_module(PACKAGE)
    pages = apigen.api_pages(package)
    apigen.write_pages(pages, Path(app.srcdir) / "api")


def _field_doc(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what != "attribute" or not lines or not lines[0].startswith("Alias for field number"):
        return
    owner, _, field = name.rpartition(".")
    module, _, cls_name = owner.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), cls_name)
    except (ImportError, AttributeError):
        lines[:] = []
        return
    comment = apigen.field_comments(cls).get(field, "")
    lines[:] = [comment] if comment else []


def _resolve_short_names(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    if "." in target and not target.startswith(PACKAGE + "."):
        return None  # jax.jit, optax.adam: another library's name, not gradlab's
    candidate = f"{PACKAGE}.{target.rsplit('.', 1)[-1]}"
    domain = env.get_domain("py")
    if candidate == target or candidate not in domain.objects:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode
    )


def _drop_empty_args(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Removes an ``Args:`` section that only says ``(none)`` (before napoleon reads it)."""
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Args:" and lines[i + 1].strip() == "(none)":
            end = i + 2
            if end < len(lines) and not lines[end].strip():
                end += 1
            del lines[i:end]
            return


def _short_type_alias_repr() -> None:
    """Shows an ``autodoc_type_aliases`` name nested in a generic (``Callable[[Params], ...]``)
    as ``Params``, not ``TypeAliasForwardRef('gradlab.Params')`` (Sphinx prints its repr)."""
    from sphinx.util import inspect as sphinx_inspect

    alias_type = getattr(sphinx_inspect, "TypeAliasForwardRef", None)
    if alias_type is not None:
        alias_type.__repr__ = lambda self: str(self.name).rsplit(".", 1)[-1]


class GalleryDirective(SphinxDirective):
    """``gradlab-gallery``: a captioned figure for every PNG under the source folder.

    The nodes are built directly (not parsed from generated text), so the directive works the
    same in a MyST page and in a reStructuredText one.
    """

    has_content = False

    def run(self) -> list[nodes.Node]:
        docs = Path(self.env.srcdir)
        repo = docs.parent
        figures: list[nodes.Node] = []
        for image in apigen.gallery_images(docs):
            rel = image.relative_to(docs).as_posix()
            title = image.stem.replace("_", " ").replace("-", " ")
            title = title[:1].upper() + title[1:]
            figure = nodes.figure(ids=[nodes.make_id("gallery-" + rel)], align="center")
            figure += nodes.image(uri="/" + rel, alt=title, width="100%")
            caption = nodes.caption()
            caption += nodes.strong(text=title)
            caption += nodes.Text(": ")
            caption += nodes.literal(text=f"docs/{rel}")
            producer = apigen.image_producer(image, repo)
            if producer:
                caption += nodes.Text(", drawn by ")
                caption += nodes.literal(text=producer)
            caption += nodes.Text(".")
            figure += caption
            figures.append(figure)
            self.env.note_dependency(str(image))
        if not figures:
            figures.append(nodes.paragraph(text="No plots yet: run the examples."))
        _gallery_docs(self.env)[self.env.docname] = _image_names(docs)
        return figures


def _gallery_docs(env: Any) -> dict[str, list[str]]:
    """``{docname: PNGs it showed}`` for the pages with a gallery, kept in the environment."""
    if not hasattr(env, "gradlab_gallery_docs"):
        env.gradlab_gallery_docs = {}
    return env.gradlab_gallery_docs


def _image_names(docs: Path) -> list[str]:
    return [p.relative_to(docs).as_posix() for p in apigen.gallery_images(docs)]


def _outdated_galleries(app: Sphinx, env: Any, added: Any, changed: Any, removed: Any) -> list:
    """Re-reads a gallery page when a PNG appeared or disappeared since the last build."""
    current = _image_names(Path(app.srcdir))
    return [doc for doc, shown in _gallery_docs(env).items() if shown != current]


def _purge_gallery(app: Sphinx, env: Any, docname: str) -> None:
    _gallery_docs(env).pop(docname, None)


def _merge_gallery(app: Sphinx, env: Any, docnames: Any, other: Any) -> None:
    _gallery_docs(env).update(_gallery_docs(other))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    _short_type_alias_repr()
    app.connect("autodoc-process-docstring", _drop_empty_args, priority=100)  # before napoleon
    app.connect("autodoc-process-docstring", _field_doc)
    app.connect("missing-reference", _resolve_short_names)
    app.add_directive("gradlab-gallery", GalleryDirective)
    app.connect("env-get-outdated", _outdated_galleries)
    app.connect("env-purge-doc", _purge_gallery)
    app.connect("env-merge-info", _merge_gallery)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

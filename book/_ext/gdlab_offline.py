"""Sphinx extension: pages that name no remote resource.

Jupyter Book always loads sphinx-thebe, which writes the address of its loader on unpkg.com into
every page (used only by a "launch Thebe" button, which this book does not have). This drops that
script and sphinx-thebe's own script from each page, so the built site refers to no CDN at all;
MathJax is served locally by sphinx-mathjax-offline.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx


def _is_thebe(script: Any) -> bool:
    """Whether a page script (Sphinx's JavaScript asset) is sphinx-thebe's."""
    return "THEBE_JS_URL" in script.attributes.get("body", "") or str(script.filename).endswith(
        "sphinx-thebe.js"
    )


def _drop_thebe(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: nodes.Node
) -> None:
    context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Sphinx extension: each notebook page offers its executed notebook (``.ipynb`` with outputs)
in sphinx-book-theme's download menu, beside ``.md`` and ``.pdf``.

myst-nb writes every notebook page, as it parsed it, to ``<build>/jupyter_execute/<doc>.ipynb``.
That file has outputs only when the page was executed in this build: when they came from the
execution cache (``execute_notebooks: cache``) it has none, so they are merged from the cache
(without the outputs that only carry glued values, as myst-nb's own file).
The notebook is written to ``_sources/<doc>.ipynb`` in the HTML output, and the theme's
``ipynb_source`` page context entry makes its download menu link to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from jupyter_cache import get_cache
from myst_nb.ext.glue import extract_glue_data_cell
from sphinx.application import Sphinx


def executed_notebook(app: Sphinx, docname: str) -> nbformat.NotebookNode | None:
    """The executed notebook of page ``docname``, None if the page is not a notebook."""
    path = Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"
    if "kernelspec" not in app.env.metadata.get(docname, {}) or not path.is_file():
        return None
    notebook = nbformat.read(path, as_version=4)
    config = app.env.mystnb_config
    if config.execution_mode != "cache":
        return notebook
    try:
        _, notebook = get_cache(config.execution_cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # no cached execution: the page's own file is all there is
        return notebook
    for cell in notebook.cells:  # as myst-nb does: glued values leave the outputs
        if cell.cell_type == "code":
            extract_glue_data_cell(cell)
    return notebook


def _offer_notebook(
    app: Sphinx,
    pagename: str,
    templatename: str,
    context: dict[str, Any],
    doctree: nodes.document | None,
) -> None:
    if doctree is None:
        return
    notebook = executed_notebook(app, pagename)
    if notebook is None:
        return
    nbformat.validate(notebook)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict[str, bool]:
    app.setup_extension("myst_nb")
    # Before sphinx-book-theme builds its header buttons from the context (priority 501).
    app.connect("html-page-context", _offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

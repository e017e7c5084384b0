"""Collect the book's MyST Markdown notebooks (``book/**/*.md``) as nbval tests.

Each chapter is converted in memory with jupytext and handed to nbval, which runs every code cell
in a fresh kernel of the current environment. nbval compares no outputs on converted notebooks
(they have none), so a chapter's claims are the ``assert`` statements in its cells.
Enabled by nbval's own switches (``--nbval-lax --nbval-current-env``, set in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import jupytext
import nbval.plugin
import pytest

ROOT = Path(__file__).parent
BOOK = ROOT / "book"
EXCLUDED_PARTS = {"_build", ".venv", ".ipynb_checkpoints"}


def _is_myst_notebook(path: Path) -> bool:
    """A book page that jupytext reads as a notebook: ``.md`` with a jupytext/kernelspec header."""
    if path.suffix != ".md" or BOOK not in path.parents:
        return False
    if EXCLUDED_PARTS.intersection(path.relative_to(ROOT).parts):
        return False
    head = path.read_text(encoding="utf-8")[:1000]
    return head.startswith("---") and "kernelspec:" in head


class MystNotebook(nbval.plugin.IPyNbFile):
    """nbval's notebook collector reading a MyST Markdown file through jupytext."""

    def collect(self):  # type: ignore[override]
        notebook = jupytext.read(self.path)
        with mock.patch.object(nbval.plugin.nbformat, "read", return_value=notebook):
            yield from super().collect()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _is_myst_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how many notebook cells ran (and in how many chapters) next to pytest's totals."""
    reports = [
        rep
        for key in ("passed", "failed", "error")
        for rep in terminalreporter.stats.get(key, [])
        if getattr(rep, "when", "call") == "call" and "::Cell " in rep.nodeid
    ]
    if reports:
        chapters = {rep.nodeid.split("::", 1)[0] for rep in reports}
        failed = sum(rep.failed for rep in reports)
        terminalreporter.write_line(
            f"book notebooks: {len(reports)} cells executed in {len(chapters)} chapters, "
            f"{failed} failed"
        )

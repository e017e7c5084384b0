"""Checks shared by the study tests: a chapter's references against its study's result, and the
result's cache round trip."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdlab.experiments.study import Result


def check_chapter_references(chapter: Path, prefix: str, result: Result) -> None:
    """Every ``{glue:text}`<prefix>name`` of ``chapter`` is a value of ``result`` and every
    ``result.tables["name"]`` it shows is a table (a renamed value would otherwise first fail
    the strict book build); both lists must be non-empty."""
    text = chapter.read_text(encoding="utf-8")
    glued = set(re.findall(rf"\{{glue:text\}}`{re.escape(prefix)}([\w.]+?)(?::[^`]*)?`", text))
    assert glued, f"{chapter.name} glues no {prefix}* value"
    assert glued <= set(result.values), sorted(glued - set(result.values))
    shown = set(re.findall(r'result\.tables\["(\w+)"\]', text))
    assert shown <= set(result.tables), sorted(shown - set(result.tables))


def check_round_trip(result: Result) -> None:
    """``result`` comes back from its cache entry with the same values, tables, claim statuses
    and arrays (bit for bit: the entry stores them as they are)."""
    again = Result.from_entry(*result.to_entry())
    assert again.values == result.values
    assert again.tables == result.tables
    assert [(c.name, c.status) for c in again.claims] == [(c.name, c.status) for c in result.claims]
    assert set(again.arrays) == set(result.arrays)
    for key, value in result.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], value)

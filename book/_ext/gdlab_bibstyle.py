"""Sphinx extension: author-year citations and bibliography labels.

Registers the referencing style ``gdlab_author_year`` (select it with ``bibtex_reference_style``):
sphinxcontrib-bibtex's author-year citations in round brackets, "Cai et al. (2024)" and
"(Cai et al., 2024)". Registers the pybtex style ``gdlab_authoryear`` (``bibtex_default_style``)
so that the bibliography lists the same labels, "Krizhevsky 2009", "Lyu and Li 2020",
"Cai et al. 2024", sorted by author, year and title; labels that coincide get the suffixes
a, b, ... ("Wu et al. 2024a").
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pybtex.database import Entry, Person
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle


def _last_name(person: Person) -> str:
    return re.sub(r"[{}]", "", " ".join(person.last_names))


def author_year(entry: Entry) -> str:
    """The label of one entry: its authors' (or editors') last names and its year."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(person) for person in people]
    if len(names) >= 3:
        who = f"{names[0]} et al."
    else:
        who = " and ".join(names) or entry.key
    year = entry.fields.get("year", "")
    return f"{who} {year}".strip()


class AuthorYearLabelStyle(BaseLabelStyle):
    """Author-year labels, made unique with letter suffixes."""

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        labels = [author_year(entry) for entry in sorted_entries]
        counts = Counter(labels)
        used: Counter[str] = Counter()
        for label in labels:
            if counts[label] > 1:
                yield label + string.ascii_lowercase[used[label]]
                used[label] += 1
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """The unsrt entry format with author-year labels, sorted by author, year and title."""

    default_label_style = "gdlab_authoryear"
    default_sorting_style = "author_year_title"


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author-year citations with round brackets."""

    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def setup(app: Sphinx) -> dict[str, bool]:
    register_bibtex_plugin(
        "sphinxcontrib.bibtex.style.referencing", "gdlab_author_year", RoundAuthorYearStyle
    )
    register_plugin("pybtex.style.labels", "gdlab_authoryear", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "gdlab_authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

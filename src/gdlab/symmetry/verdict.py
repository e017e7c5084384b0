"""A verdict table for the chapters of Part II: one row per claim, computed from the runs."""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["Claim", "Verdicts"]


@dataclass(frozen=True)
class Claim:
    """One checked claim: what was measured, what the theory says, and whether it holds."""

    claim: str
    source: str
    measured: str
    theory: str
    holds: bool


class Verdicts:
    """Rows of :class:`Claim`, rendered as a table in notebooks (HTML and Markdown)."""

    columns = ("claim", "source", "measured", "theory", "verdict")

    def __init__(self) -> None:
        self.rows: list[Claim] = []

    def add(self, claim: str, source: str, measured: str, theory: str, holds: bool) -> None:
        """Append a row; ``holds`` must be a bool (e.g. the value an ``assert`` checked)."""
        if not isinstance(holds, bool):
            raise TypeError(f"holds must be a bool, got {type(holds).__name__}")
        self.rows.append(Claim(claim, source, measured, theory, holds))

    @property
    def all_hold(self) -> bool:
        """Whether every row holds."""
        return all(row.holds for row in self.rows)

    def _cells(self, row: Claim) -> tuple[str, ...]:
        return (
            row.claim,
            row.source,
            row.measured,
            row.theory,
            "holds" if row.holds else "does not hold",
        )

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += [
            "| " + " | ".join(c.replace("|", "\\|") for c in self._cells(r)) + " |"
            for r in self.rows
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in self._cells(r)) + "</tr>"
            for r in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

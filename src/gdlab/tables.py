"""Plain data tables: rows of values under named columns, one renderer for HTML and text.

:class:`Table` is what a study shows besides its figures and its claims (sweep settings, one row
per run, fitted rates). It is JSON-able (:meth:`Table.to_dict`), so a study result can be cached
and shown again without recomputing. :func:`render_html` and :func:`render_text` are the one
renderer shared with :class:`gdlab.claims.ClaimTable`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Table", "format_cell", "render_html", "render_text"]


def format_cell(value: object) -> str:
    """A cell as text: floats with 3 significant digits, None/NaN as ``-``, bools as yes/no."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{float(value):.3g}"
    return str(value)


def render_html(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    row_classes: Sequence[str] | None = None,
    caption: str = "",
    css_class: str = "gdlab-table",
) -> str:
    """An HTML table of already formatted cells (escaped here); optional class per row."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{html.escape(row_classes[i])}"' if row_classes else ""
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="gdlab-table-wrap"><table class="{css_class}">{cap}'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def render_text(columns: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str = "") -> str:
    """A fixed-width text table of already formatted cells (for the CLI and ``print``)."""
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = [caption] if caption else []
    out.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    out.append(line)
    out += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(out)


def _plain(value: object) -> object:
    """A cell value as plain JSON data (NumPy scalars to Python, NaN/inf to None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"table cells must be None, bool, int, float or str, got {type(value).__name__}"
    )


class Table(Sequence[tuple]):
    """Rows of plain values (None, bool, int, float, str) under named columns.

    Renders as HTML in notebooks and as fixed-width text with ``str``; floats print with 3
    significant digits, None and NaN as ``-``.
    """

    def __init__(
        self, columns: Sequence[str], rows: Sequence[Sequence[object]], caption: str = ""
    ) -> None:
        self.columns = tuple(columns)
        self.caption = caption
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {list(row)!r} has {len(row)} cells, expected {len(self.columns)} "
                    f"for columns {list(self.columns)}"
                )
        self._rows = tuple(tuple(_plain(v) for v in row) for row in rows)

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, object]], caption: str = "") -> Table:
        """A table from dicts with the same keys (the columns, in the first record's order)."""
        if not records:
            raise ValueError("from_records needs at least one record")
        columns = list(records[0])
        return cls(columns, [[rec[c] for c in columns] for rec in records], caption)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> tuple:  # type: ignore[override]
        return self._rows[i]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._rows)

    def column(self, name: str) -> list[Any]:
        """The values of column ``name``."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {list(self.columns)}")
        i = self.columns.index(name)
        return [row[i] for row in self._rows]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self._rows]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` inverts it."""
        return {"columns": list(self.columns), "rows": [list(r) for r in self._rows],
                "caption": self.caption}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        """Inverse of :meth:`to_dict`."""
        return cls(data["columns"], data["rows"], data.get("caption", ""))

    def _cells(self) -> list[list[str]]:
        return [[format_cell(v) for v in row] for row in self._rows]

    def _repr_html_(self) -> str:
        return render_html(self.columns, self._cells(), caption=self.caption)

    def __str__(self) -> str:
        return render_text(self.columns, self._cells(), caption=self.caption)

    def __repr__(self) -> str:
        return f"Table({len(self)} rows x {len(self.columns)} columns)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return (self.columns, self._rows) == (other.columns, other._rows)

    __hash__ = None  # type: ignore[assignment]

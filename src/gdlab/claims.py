"""Claims: the one vocabulary for the book's verdicts.

A :class:`Claim` states what a paper asserts about a measurable quantity and what was measured:
its name, its source in the paper, the measured value, the bound or target, the relation between
them, and a tolerance with the reason for it. Its **status is computed** from those fields, never
passed in:

``holds``
    ``measured <relation> bound`` within the tolerance.
``fails``
    it does not.
``vacuous``
    it holds, but the bound is at least as loose as a value that every outcome meets anyway
    (``trivial``, e.g. the initial risk for a bound on a monotone risk): at this horizon the
    claim tests nothing. :attr:`Claim.detail` says by how much.
``untestable``
    nothing was measured (``measured`` is None or NaN, e.g. the hypothesis of a lemma was never
    met in the run); ``needs`` says what the claim would need.

A :class:`ClaimTable` is a list of claims with one renderer (HTML in the book, text in the CLI),
one aggregation over runs (:meth:`ClaimTable.aggregate`) and one check
(:meth:`ClaimTable.check`), which raises :class:`ClaimFailure` when any claim fails: a chapter
checks its table with that one call, so executing the notebook tests the paper's claims.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

import numpy as np

from gdlab.runtime import strict_claims
from gdlab.tables import Table, format_cell, render_html, render_text

__all__ = [
    "RELATIONS",
    "STATUSES",
    "Claim",
    "ClaimFailure",
    "ClaimTable",
    "ClaimWarning",
    "Status",
]

Status = Literal["holds", "fails", "vacuous", "untestable"]
STATUSES: tuple[Status, ...] = ("holds", "vacuous", "untestable", "fails")
#: ``in``: ``bound`` is an interval ``(low, high)``; ``==``: ``|measured - bound| <= tol``.
RELATIONS = ("<=", "<", ">=", ">", "==", "in")
_REVERSED = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}
#: Marks a failing contradiction row in a failure message: the paper's claim now holds.
CONTRADICTION_TAG = "; stated as contradicted by the runs, the paper's claim now holds"
_SYMBOL = {
    "holds": "✓ holds",
    "fails": "✗ FAILS",
    "vacuous": "○ vacuous",
    "untestable": "? untestable",
}


class ClaimFailure(AssertionError):
    """Raised by :meth:`ClaimTable.check` when a claim fails; the message lists the failures."""


class ClaimWarning(UserWarning):
    """Issued instead of :class:`ClaimFailure` when claims are checked without strictness."""


def _number(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a number, got the bool {value!r}: measure a quantity")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or None, got {value!r}") from None


@dataclass(frozen=True)
class Claim:
    """One claim of a paper checked against one measurement (see the module docstring).

    Parameters
    ----------
    name, source : what is claimed and where (``"Lemma A.14 upper"``, ``"Lemma A.14"``).
    measured : the measured value (for a claim checked at every step: the value at the worst
        step, see ``step``); None or NaN when nothing could be measured.
    bound : the bound or target (a pair ``(low, high)`` for ``relation="in"``); may be None
        only for an untestable claim.
    relation : one of :data:`RELATIONS`: ``measured <relation> bound``.
    tol, tol_reason : the allowance in the measured quantity's units, and why it is there
        (float64 rounding, a statistical error, a theorem's own slack). A nonzero ``tol``
        needs a reason.
    trivial : a value that every outcome meets a priori; a bound at least as loose makes a
        holding claim ``vacuous``.
    needs : for an untestable claim, what it would need (required then).
    step : the step (or index) at which ``measured`` was taken, if any.
    note : anything else a reader needs (hypotheses, counts, caveats).
    contradicts : this row states that the runs CONTRADICT the paper's claim: ``relation`` is
        the reversal of the paper's (see :meth:`ClaimTable.contradict`), so the row holds while
        the paper's claim fails in these runs. Shown and counted apart from confirmations.
    """

    name: str
    source: str
    measured: float | None
    bound: float | tuple[float, float] | None
    relation: str = "<="
    tol: float = 0.0
    tol_reason: str = ""
    trivial: float | None = None
    needs: str = ""
    step: int | None = None
    note: str = ""
    contradicts: bool = False
    status: Status = field(init=False)
    slack: float | None = field(init=False)

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(
                f"unknown relation {self.relation!r} for claim {self.name!r}; allowed: "
                f"{', '.join(RELATIONS)}"
            )
        measured = _number("measured", self.measured)
        if measured is not None and math.isnan(measured):
            measured = None
        tol = _number("tol", self.tol)
        if tol is None or not math.isfinite(tol) or tol < 0:
            raise ValueError(f"tol must be finite and >= 0 for claim {self.name!r}, got {tol!r}")
        if tol > 0 and not self.tol_reason:
            raise ValueError(f"claim {self.name!r} has tol={tol!r} but no tol_reason")
        untested = measured is None
        bound = None if untested and self.bound is None else self._checked_bound()
        object.__setattr__(self, "measured", measured)
        object.__setattr__(self, "tol", tol)
        object.__setattr__(self, "bound", bound)
        object.__setattr__(self, "trivial", _number("trivial", self.trivial))
        object.__setattr__(self, "step", None if self.step is None else int(self.step))
        if untested:
            if not self.needs:
                raise ValueError(f"claim {self.name!r} measured nothing: say what it needs")
            object.__setattr__(self, "status", "untestable")
            object.__setattr__(self, "slack", None)
            return
        slack = self._slack(measured)
        strict = self.relation in ("<", ">")
        ok = slack > 0 if strict else slack >= 0
        status: Status = "holds" if ok else "fails"
        if ok and self._vacuous():
            status = "vacuous"
        object.__setattr__(self, "slack", slack)
        object.__setattr__(self, "status", status)

    def _checked_bound(self) -> float | tuple[float, float] | None:
        if self.relation == "in":
            if not isinstance(self.bound, Sequence) or len(self.bound) != 2:
                raise ValueError(
                    f"claim {self.name!r}: relation 'in' needs bound=(low, high), "
                    f"got {self.bound!r}"
                )
            low, high = (_number("bound", b) for b in self.bound)
            if low is None or high is None or math.isnan(low) or math.isnan(high) or low > high:
                raise ValueError(f"claim {self.name!r}: bad interval {self.bound!r}")
            return (low, high)
        value = _number("bound", self.bound)
        if value is None or math.isnan(value):
            raise ValueError(f"claim {self.name!r} needs a numeric bound, got {self.bound!r}")
        return value

    def _slack(self, m: float) -> float:
        """How far the claim is from failing, in the measured quantity's units (>= 0: holds)."""
        tol, rel, b = self.tol, self.relation, self.bound
        if rel == "in":
            low, high = b  # type: ignore[misc]
            return min(m - low, high - m) + tol
        assert isinstance(b, float)
        if rel in ("<=", "<"):
            gap = b - m
        elif rel in (">=", ">"):
            gap = m - b
        else:
            return tol - abs(m - b) if m != b else tol
        # inf - inf: both sides infinite and equal, the non-strict relation holds exactly
        return (0.0 if math.isnan(gap) else gap) + tol

    def _vacuous(self) -> bool:
        t, b = self.trivial, self.bound
        if t is None or not isinstance(b, float):
            return False
        if self.relation in ("<=", "<"):
            return b >= t
        if self.relation in (">=", ">"):
            return b <= t
        return False

    @property
    def ok(self) -> bool:
        """Whether the claim does not fail (``holds``, ``vacuous`` or ``untestable``)."""
        return self.status != "fails"

    @property
    def detail(self) -> str:
        """One line on the status: the slack, how loose a vacuous bound is, what is missing."""
        if self.status == "untestable":
            return f"needs {self.needs}"
        if self.status == "vacuous":
            b, t = float(self.bound), float(self.trivial)  # type: ignore[arg-type]
            if 0 < b < math.inf and 0 < t < math.inf:
                return f"bound {b:.3g} vs a priori {t:.3g} ({math.log10(b / t):+.1f} decades)"
            return f"bound {b:.3g} vs a priori {t:.3g}"
        return f"slack {self.slack:.3g}"

    def bound_text(self) -> str:
        """The relation and bound as text, e.g. ``<= 2`` or ``in [0.1, 1]``."""
        if self.relation == "in":
            low, high = self.bound  # type: ignore[misc]
            text = f"in [{format_cell(low)}, {format_cell(high)}]"
        elif self.bound is None:
            return "-"
        else:
            text = f"{self.relation} {format_cell(self.bound)}"
        return text + (f" (tol {format_cell(self.tol)})" if self.tol else "")

    def as_stated(self) -> Claim:
        """The paper's claim behind a contradiction row (:meth:`ClaimTable.contradict`): the
        same measurement and bound with the paper's relation, and its own status. A row that
        states no contradiction is returned as it is."""
        if not self.contradicts:
            return self
        data = self.to_dict()
        data.update(relation=_REVERSED[self.relation], contradicts=False)
        return Claim.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (computed fields included); :meth:`from_dict` recomputes them."""
        out = asdict(self)
        if isinstance(out["bound"], tuple):
            out["bound"] = list(out["bound"])
        for key in ("measured", "bound", "trivial", "slack"):
            if isinstance(out[key], float) and not math.isfinite(out[key]):
                out[key] = repr(out[key])  # "inf" / "-inf" survive JSON
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claim:
        """Rebuild a claim from :meth:`to_dict`; the status is computed again."""
        kwargs = {k: v for k, v in data.items() if k not in ("status", "slack")}
        for key in ("measured", "bound", "trivial"):
            if isinstance(kwargs.get(key), str):
                kwargs[key] = float(kwargs[key])
        if isinstance(kwargs.get("bound"), list):
            kwargs["bound"] = tuple(kwargs["bound"])
        return cls(**kwargs)


_COLUMNS = ("status", "claim", "source", "measured", "bound", "detail", "note")


class ClaimTable(Sequence[Claim]):
    """An ordered list of :class:`Claim` with one renderer, one aggregation and one check.

    Index by position or by name (the first claim of that name). ``facts`` holds measurements
    that are not claims (the step a threshold was first met, a fitted slope) by name.
    """

    def __init__(
        self, claims: Iterable[Claim] = (), facts: Mapping[str, float | int | None] | None = None
    ) -> None:
        self._claims: list[Claim] = []
        for claim in claims:
            self.append(claim)
        self.facts: dict[str, float | int | None] = dict(facts or {})

    def append(self, claim: Claim) -> Claim:
        """Add a claim and return it."""
        if not isinstance(claim, Claim):
            raise TypeError(f"ClaimTable holds Claim objects, got {type(claim).__name__}")
        self._claims.append(claim)
        return claim

    def add(self, name: str, source: str, measured: float | None, bound: Any, **kw: Any) -> Claim:
        """Build a :class:`Claim` from the arguments, add it and return it."""
        return self.append(Claim(name, source, measured, bound, **kw))

    def extend(self, claims: Iterable[Claim]) -> None:
        """Add several claims."""
        for claim in claims:
            self.append(claim)

    @overload
    def __getitem__(self, key: int | str) -> Claim: ...
    @overload
    def __getitem__(self, key: slice) -> ClaimTable: ...
    def __getitem__(self, key: int | str | slice) -> Claim | ClaimTable:
        if isinstance(key, str):
            for claim in self._claims:
                if claim.name == key:
                    return claim
            raise KeyError(f"no claim {key!r}; claims: {[c.name for c in self._claims]}")
        if isinstance(key, slice):
            return ClaimTable(self._claims[key])
        return self._claims[key]

    def __len__(self) -> int:
        return len(self._claims)

    def __iter__(self) -> Iterator[Claim]:
        return iter(self._claims)

    def __add__(self, other: ClaimTable) -> ClaimTable:
        if not isinstance(other, ClaimTable):
            return NotImplemented
        return ClaimTable([*self, *other], {**self.facts, **other.facts})

    def names(self) -> list[str]:
        """The claim names, in order."""
        return [c.name for c in self._claims]

    def counts(self) -> dict[Status, int]:
        """How many claims have each status."""
        return {s: sum(c.status == s for c in self._claims) for s in STATUSES}

    @property
    def failures(self) -> list[Claim]:
        """The claims that fail."""
        return [c for c in self._claims if c.status == "fails"]

    @property
    def ok(self) -> bool:
        """Whether no claim fails."""
        return not self.failures

    def check(self, strict: bool | None = None) -> ClaimTable:
        """Raise :class:`ClaimFailure` listing every failing claim; return self otherwise.

        Not strict (``strict=False``, or ``GDLAB_STRICT=0`` for the default, see
        :func:`gdlab.runtime.strict_claims`), failures are reported by a warning instead and the
        table, whose failing rows stand out, is returned: a reader who changed a chapter's
        settings sees what no longer holds and the chapter goes on.
        """
        bad = self.failures
        if bad and not (strict_claims() if strict is None else strict):
            warnings.warn(self._failure_text(bad), ClaimWarning, stacklevel=2)
        elif bad:
            raise ClaimFailure(self._failure_text(bad))
        return self

    def _failure_text(self, bad: list[Claim]) -> str:
        lines = [f"{len(bad)} of {len(self)} claims fail:"]
        lines += [
            f"  {c.name} [{c.source}{CONTRADICTION_TAG if c.contradicts else ''}]: measured "
            f"{format_cell(c.measured)} {c.bound_text()} ({c.detail})"
            f"{'; ' + c.note if c.note else ''}"
            for c in bad
        ]
        return "\n".join(lines)

    def aggregate(self) -> ClaimTable:
        """One row per claim name: the worst claim of that name over all runs.

        The worst is the failing or holding claim with the least slack (untestable ones count
        only if all are untestable), so the row fails iff any run fails. Its note counts the
        statuses over the runs, e.g. ``"12 runs: 10 holds, 2 untestable"``.
        """
        groups: dict[str, list[Claim]] = {}
        for claim in self._claims:
            groups.setdefault(claim.name, []).append(claim)
        rows = []
        for members in groups.values():
            tested = [c for c in members if c.slack is not None]
            fails = [c for c in tested if c.status == "fails"]
            pool = fails or [c for c in tested if c.status == "holds"] or tested or members
            worst = min(pool, key=lambda c: math.inf if c.slack is None else c.slack)
            counts = {s: sum(c.status == s for c in members) for s in STATUSES}
            tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            note = f"{len(members)} runs: {tally}" + (
                f"; worst: {worst.note}" if worst.note else ""
            )
            rows.append(_replace_note(worst, note))
        return ClaimTable(rows, self.facts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` inverts it (statuses are recomputed)."""
        return {"claims": [c.to_dict() for c in self._claims], "facts": dict(self.facts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClaimTable:
        """Inverse of :meth:`to_dict`."""
        return cls((Claim.from_dict(c) for c in data["claims"]), data.get("facts"))

    def _cells(self) -> list[list[str]]:
        return [
            [
                "✗ contradicts the paper" if c.contradicts and c.ok else _SYMBOL[c.status],
                c.name,
                c.source,
                format_cell(c.measured) + (f" (step {c.step})" if c.step is not None else ""),
                c.bound_text(),
                c.detail,
                c.note,
            ]
            for c in self._claims
        ]

    def summary_line(self) -> str:
        """``"12 claims: 7 holds, 3 contradict the paper, 2 untestable"``: a row stating a
        contradiction of the paper (:meth:`contradict`) is counted as such, not as holding."""
        if not self._claims:
            return "no claims"
        against = sum(c.contradicts and c.ok for c in self._claims)
        counts = dict(self.counts())
        counts["holds"] -= against
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        if against:
            verb = "contradicts" if against == 1 else "contradict"
            parts.insert(1 if counts["holds"] else 0, f"{against} {verb} the paper")
        return f"{len(self)} claims: {', '.join(parts)}"

    def contradict(self, names: Iterable[str]) -> ClaimTable:
        """This table with every claim named in ``names`` stated as contradicted by the runs.

        A paper claim that the runs contradict (found by running the configuration, and listed
        with it) is replaced by its contradiction: the same measurement and bound, the relation
        reversed, ``contradicts=True``. The row holds while the paper's claim fails, and fails
        (so :meth:`check` fails) if the paper's claim starts to hold. ValueError for a name that
        is no claim of the table, or a claim that cannot be reversed (``==``, ``in``, a tol).
        """
        listed = set(names)
        unknown = sorted(listed - set(self.names()))
        if unknown:
            raise ValueError(
                f"contradicted={unknown!r}: not claims of this table; allowed: {self.names()}"
            )
        out = ClaimTable(facts=self.facts)
        for c in self._claims:
            if c.name in listed:
                if c.relation not in _REVERSED or c.tol or c.measured is None:
                    raise ValueError(
                        f"claim {c.name!r} (relation {c.relation!r}, tol {c.tol!r}, measured "
                        f"{c.measured!r}) cannot be stated as contradicted; allowed: a measured "
                        "claim with <=, <, >=, > and tol 0"
                    )
                data = c.to_dict()
                data.update(
                    relation=_REVERSED[c.relation],
                    contradicts=True,
                    note=f"the paper's claim needs {c.bound_text()}, which fails in these runs"
                    + (f"; {c.note}" if c.note else ""),
                )
                c = Claim.from_dict(data)
            out.append(c)
        return out

    def contradicted(self) -> list[Claim]:
        """The rows that state a contradiction of the paper (see :meth:`contradict`)."""
        return [c for c in self._claims if c.contradicts]

    def as_table(self) -> Table:
        """The claims as a plain :class:`~gdlab.tables.Table` of formatted cells."""
        return Table(_COLUMNS, self._cells())

    def _repr_html_(self) -> str:
        classes = [
            "gdlab-claim-contradicted" if c.contradicts and c.ok else f"gdlab-claim-{c.status}"
            for c in self._claims
        ]
        return render_html(
            _COLUMNS,
            self._cells(),
            row_classes=classes,
            caption=self.summary_line(),
            css_class="gdlab-table gdlab-claims",
        )

    def __str__(self) -> str:
        return render_text(_COLUMNS, self._cells(), caption=self.summary_line())

    def __repr__(self) -> str:
        return f"ClaimTable({self.summary_line()})"


def _replace_note(claim: Claim, note: str) -> Claim:
    data = claim.to_dict()
    data["note"] = note
    return Claim.from_dict(data)

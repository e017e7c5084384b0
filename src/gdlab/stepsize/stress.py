"""Randomised stress tests of Part I's theorems: random cases, one checker, profiles (spec §7).

A :class:`Case` is one full-batch GD run of eq. (2), fully determined by its fields: a small
random dataset, an activation, a width, an initialisation scale, a per-neuron stepsize
``eta`` (the GD stepsize is ``tilde-eta = m eta``, spec §1) and a number of steps. The checker
:func:`check_case` trains it (:func:`gdlab.stepsize.sweeps.run_sweep`) and returns the verdicts
of :mod:`gdlab.stepsize.certify`:

- always :func:`~gdlab.stepsize.certify.certify_stable_phase` with the radius-R Assumption 1
  constants (Theorem 2.2 needs only Assumption 1, no separability): the risk never increases
  after eq. (4), the norm and ``gamma^c`` never decrease after eq. (5), and Lemmas A.3, A.7-A.10,
  A.13-A.15 (the A.10 and A.14 sandwiches among them) wherever their hypotheses hold;
- on separable data with ``max ||x_i|| <= 1`` and an activation with ``alpha > 0``
  (Assumption 2A), also :func:`~gdlab.stepsize.certify.certify_first_phase`: the running-average
  bound of Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1 (``s* <= tau`` and the rate with
  the safe factor 8 of spec §6.4), with ``(w_*, gamma)`` from the hard-margin SVM
  (:func:`gdlab.data.max_margin_direction`), the tightest Assumption 3 certificate.

Every comparison carries the float64 rounding allowance that :mod:`gdlab.stepsize.certify`
derives (never a guessed tolerance). :class:`CaseSpace` says where cases are drawn from; it
draws through the small :class:`Draw` protocol, so the same code serves a seeded NumPy
generator (:func:`run_profile`, the command-line large profile) and hypothesis's ``st.data()``
(the property tests, which then shrink a failing case). :func:`run_profile` checks many cases
and returns a :class:`Summary`: cases tried, violations, the worst slack per claim and a
reproducer (the :class:`Case` repr, read back by :meth:`Case.from_repr`) for each violation.
"""

from __future__ import annotations

import html
import json
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import torch

from gdlab.data import Dataset, max_margin_direction, separable_gaussian
from gdlab.runtime import make_generator
from gdlab.stepsize.activations import ACTIVATION_NAMES, get_activation
from gdlab.stepsize.certify import VerdictTable, certify_first_phase, certify_stable_phase
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import run_sweep
from gdlab.stepsize.theory import THEOREM41_FACTORS, ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "CI_SPACE",
    "DATA_KINDS",
    "LARGE_SPACE",
    "Case",
    "CaseRun",
    "CaseSpace",
    "ClaimSummary",
    "Draw",
    "NumpyDraw",
    "Summary",
    "check_case",
    "evaluate",
    "run_case",
    "run_profile",
    "summarize",
    "table_html",
]

T = TypeVar("T")

#: ``gaussian``: :func:`gdlab.data.separable_gaussian`; ``hyperplane``: Gaussian points pushed
#: off a random hyperplane through the origin (labels random, so possibly unbalanced);
#: ``nonseparable``: Gaussian points with random labels plus an antipodal pair ``x, -x`` with
#: the same label, which no hyperplane through the origin separates; ``xor``: Gaussian points
#: labelled ``sign(x_1 x_2)`` (XOR of the quadrants, which a two-layer net can fit), with the
#: same antipodal pair (it keeps its XOR label), so not linearly separable either.
DATA_KINDS = ("gaussian", "hyperplane", "nonseparable", "xor")
SEPARABLE_KINDS = ("gaussian", "hyperplane")
#: Activations of Assumption 2 (alpha > 0): the leaky family of Example 3.1, the two
#: leaky-softplus variants of spec §2 and the identity (the linear model).
ASSUMPTION2_ACTIVATIONS = (
    "identity",
    "leaky_softplus_ex31",
    "leaky_softplus_half",
    "leaky_gelu",
    "leaky_softplus",
    "leaky_silu",
    "leaky_huberized_relu",
    "leaky_tanh",
    "leaky_sigmoid",
)
#: Plain activations: Assumption 1 only (alpha = 0), so only Theorem 2.2 is checked.
ASSUMPTION1_ACTIVATIONS = ("softplus", "gelu", "silu", "huberized_relu")


class Draw(Protocol):
    """A source of random choices (inclusive integer range, uniform float, one of a sequence)."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        ...

    def uniform(self, low: float, high: float) -> float:
        """A float in ``[low, high]``."""
        ...

    def choice(self, options: Sequence[T]) -> T:
        """One element of ``options``."""
        ...


class NumpyDraw:
    """:class:`Draw` from a NumPy generator seeded by ``(seed, index)`` (independent streams)."""

    def __init__(self, seed: int, index: int = 0) -> None:
        for name, value in (("seed", seed), ("index", index)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} must be an int >= 0")
        self._rng = np.random.default_rng((seed, index))

    def integer(self, low: int, high: int) -> int:
        return int(self._rng.integers(low, high, endpoint=True))

    def uniform(self, low: float, high: float) -> float:
        return float(self._rng.uniform(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return options[int(self._rng.integers(len(options)))]


# ----------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One GD run to check, reproducible from its fields alone (``eval(repr(case))``).

    Attributes
    ----------
    kind : the data family, one of :data:`DATA_KINDS`.
    n, d : sample size and input dimension.
    radius : the data are scaled to ``max_i ||x_i|| = radius``.
    margin : the margin the separable families are built with (before scaling; ignored for
        ``nonseparable`` and ``xor``). The checked ``gamma`` is the hard-margin SVM's, at least
        as large.
    activation : a name of :data:`gdlab.stepsize.activations.ACTIVATION_NAMES`.
    params : its parameters as ``(name, value)`` pairs (``c`` of the leaky family, ``h`` of
        the Huberized ReLU).
    m : width (balanced output signs, spec §5).
    init_scale : i.i.d. ``N(0, init_scale^2)`` initialisation.
    eta : the per-neuron stepsize; GD uses ``tilde-eta = m eta`` (spec §1).
    steps : number of GD steps (every step is recorded).
    seed : the data use seed ``2 seed``, the initialisation ``2 seed + 1``.
    """

    kind: str
    n: int
    d: int
    radius: float
    margin: float
    activation: str
    params: tuple[tuple[str, float], ...]
    m: int
    init_scale: float
    eta: float
    steps: int
    seed: int

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"kind={self.kind!r}; allowed: {', '.join(DATA_KINDS)}")
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation={self.activation!r}; allowed: {', '.join(ACTIVATION_NAMES)}"
            )
        low_n = 2 if self.separable else 4  # an antipodal pair plus two points
        for name, low in (("n", low_n), ("d", 2), ("m", 1), ("steps", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be an int >= {low} (kind {self.kind})")
        for name in ("radius", "init_scale", "eta"):
            value = getattr(self, name)
            if not (isinstance(value, float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a finite float > 0")
        if not (isinstance(self.margin, float) and 0.0 < self.margin < 1.0):
            raise ValueError(f"margin={self.margin!r} must be a float in (0, 1)")
        get_activation(self.activation, **dict(self.params))  # validates the parameters

    @classmethod
    def from_repr(cls, text: str) -> Case:
        """The case whose ``repr`` is ``text`` (a reproducer from a :class:`Summary`)."""
        case = eval(text, {"__builtins__": {}, "Case": cls})
        if not isinstance(case, cls):
            raise ValueError(f"{text!r} is not the repr of a Case")
        return case

    @property
    def lr(self) -> float:
        """The GD stepsize ``tilde-eta = m eta``."""
        return self.m * self.eta

    @property
    def separable(self) -> bool:
        """Whether the data satisfy Assumption 3 by construction."""
        return self.kind in SEPARABLE_KINDS

    @property
    def first_phase_applies(self) -> bool:
        """Whether Theorems 3.2 and 4.1 apply: separable, ``||x|| <= 1`` and ``alpha > 0``."""
        return self.separable and self.radius <= 1.0 and self.net().activation.alpha > 0

    def net(self) -> TwoLayerNet:
        """The network of eq. (2) with balanced output signs."""
        return TwoLayerNet.balanced(get_activation(self.activation, **dict(self.params)), self.m)

    def dataset(self) -> Dataset:
        """The case's data, scaled to ``max_i ||x_i|| = radius``."""
        if self.kind == "gaussian":
            ds = separable_gaussian(n=self.n, d=self.d, margin=self.margin, seed=2 * self.seed)
        else:
            ds = _gaussian_family(self.kind, self.n, self.d, self.margin, 2 * self.seed)
        scale = self.radius / ds.radius
        note = f"{ds.note}; scaled to radius {self.radius:.6g}"
        return replace(ds, X=ds.X * scale, note=note)


def _gaussian_family(kind: str, n: int, d: int, margin: float, seed: int) -> Dataset:
    """``hyperplane``: ``x_i = y_i (margin + margin |h_i|) w + g_i`` with ``g_i`` a standard
    Gaussian orthogonal to the random unit ``w`` (``h_i`` standard normal, labels random signs);
    ``nonseparable``: standard Gaussian points, random labels, then ``x_1 = -x_0``,
    ``y_1 = y_0``; ``xor``: the same with labels ``sign(x_i1 x_i2)``."""
    gen = make_generator(seed)
    dtype = torch.float64
    y = torch.where(torch.rand(n, generator=gen, dtype=dtype) < 0.5, -1.0, 1.0).to(dtype)
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    if kind == "hyperplane":
        w = torch.randn(d, generator=gen, dtype=dtype)
        w /= w.norm()
        along = margin * (1.0 + torch.randn(n, generator=gen, dtype=dtype).abs())
        X = X - (X @ w)[:, None] * w + (y * along)[:, None] * w
        note = f"Gaussian points pushed off a random hyperplane by margin {margin:.4g}"
    else:
        if kind == "xor":
            y = torch.where(X[:, 0] * X[:, 1] < 0, -1.0, 1.0).to(dtype)
        X[1], y[1] = -X[0], y[0]
        labels = "XOR labels sign(x_1 x_2)" if kind == "xor" else "random labels"
        note = f"Gaussian points, {labels}, antipodal pair x_1 = -x_0 with y_1 = y_0"
    return Dataset(kind, X, y, note=f"{note}, n={n}, d={d}, seed={seed}")


@dataclass(frozen=True)
class CaseSpace:
    """Where cases are drawn from (inclusive ranges; ``log10_*`` are log-uniform).

    A drawn case has a unit radius half of the time (so the first-phase theorems apply to its
    separable cases), otherwise a log-uniform radius in ``log10_radius``; ``c`` of the leaky
    activations is uniform in ``c``, ``h`` of the Huberized ReLU log-uniform in ``log10_h``.
    """

    n: tuple[int, int] = (4, 12)
    d: tuple[int, int] = (2, 6)
    m: tuple[int, int] = (1, 8)
    steps: tuple[int, int] = (100, 1000)
    log10_eta: tuple[float, float] = (-2.0, 4.0)
    log10_init: tuple[float, float] = (-3.0, 0.0)
    log10_margin: tuple[float, float] = (-2.0, -0.5)
    log10_radius: tuple[float, float] = (-0.5, 0.5)
    c: tuple[float, float] = (0.5, 0.95)
    log10_h: tuple[float, float] = (-1.0, 1.0)
    kinds: tuple[str, ...] = DATA_KINDS
    activations: tuple[str, ...] = ASSUMPTION2_ACTIVATIONS + ASSUMPTION1_ACTIVATIONS

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name in ("kinds", "activations"):
                allowed = DATA_KINDS if name == "kinds" else ACTIVATION_NAMES
                if not value or not set(value) <= set(allowed):
                    raise ValueError(f"{name}={value!r}; allowed: a non-empty subset of {allowed}")
            elif len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"{name}={value!r} must be a range (low, high) with low <= high")

    def draw(self, source: Draw) -> Case:
        """A case whose every field comes from ``source``."""

        def log_uniform(bounds: tuple[float, float]) -> float:
            return float(10.0 ** source.uniform(*bounds))

        kind = source.choice(self.kinds)
        activation = source.choice(self.activations)
        params: list[tuple[str, float]] = []
        defaults = get_activation(activation).params
        if "c" in defaults:
            params.append(("c", source.uniform(*self.c)))
        if "h" in defaults:
            params.append(("h", log_uniform(self.log10_h)))
        unit = source.choice((True, False))
        low_n = self.n[0] if kind in SEPARABLE_KINDS else max(self.n[0], 4)
        return Case(
            kind=kind,
            n=source.integer(low_n, max(low_n, self.n[1])),
            d=source.integer(*self.d),
            radius=1.0 if unit else log_uniform(self.log10_radius),
            margin=log_uniform(self.log10_margin),
            activation=activation,
            params=tuple(params),
            m=source.integer(*self.m),
            init_scale=log_uniform(self.log10_init),
            eta=log_uniform(self.log10_eta),
            steps=source.integer(*self.steps),
            seed=source.integer(0, 2**31 - 1),
        )

    def sample(self, seed: int, index: int) -> Case:
        """Case ``index`` of the profile with ``seed`` (independent of how many are drawn)."""
        return self.draw(NumpyDraw(seed, index))


#: The hypothesis CI profile's space: small n, m, d and short runs (tests/test_properties.py).
CI_SPACE = CaseSpace(n=(3, 8), d=(2, 4), m=(1, 6), steps=(50, 200))
#: The command-line large profile's space (benchmarks/stress_theorems.py).
LARGE_SPACE = CaseSpace()


# ----------------------------------------------------------------------------- checker


@dataclass(frozen=True)
class CaseRun:
    """A trained case: its single-run record and its constants (radius-R, with ``(w_*,
    gamma)`` on separable data)."""

    case: Case
    traj: Trajectory
    constants: ProblemConstants


def run_case(case: Case) -> CaseRun:
    """Train ``case`` (every step recorded; ``<w_t, bar-w_*>`` too on separable data)."""
    ds, net = case.dataset(), case.net()
    w_star = gamma = None
    if case.separable:
        w_star, gamma = max_margin_direction(ds.X, ds.y)
    sweep = run_sweep(
        ds,
        net,
        [case.lr],
        case.steps,
        init_scale=case.init_scale,
        seed=2 * case.seed + 1,
        w_star=w_star,
        gamma=gamma,
    )
    return CaseRun(case, sweep.run(0), sweep.constants[0])


def evaluate(run: CaseRun) -> VerdictTable:
    """The stable-phase verdicts, plus the first-phase ones where they apply (module doc)."""
    table = certify_stable_phase(run.traj, run.constants)
    if run.case.first_phase_applies:
        table = table + certify_first_phase(run.traj, run.constants)
    return table


def check_case(case: Case) -> VerdictTable:
    """Train ``case`` and return one :class:`~gdlab.stepsize.certify.Verdict` per checked claim
    (``.all_hold`` says whether every certificate holds; ``.facts`` has r*, s*, tau, ...)."""
    return evaluate(run_case(case))


# ----------------------------------------------------------------------------- summaries


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass
class ClaimSummary:
    """One claim over a profile: in how many cases it was checked (its hypothesis held at
    some step), how many violated it, and the smallest slack (``certify``'s ``worst_slack``,
    relative or absolute as the claim's note says; None when no finite slack was seen)
    with the case that attains it. ``slack_kind`` is ``"relative"`` (to the bound) or
    ``"absolute"`` (in the units of the claim's series), as certify states in the note.

    A failed verdict whose worst slack is NaN is counted as ``undefined``, not as a violation:
    some side of the inequality could not be evaluated in float64 (an overflow or an
    underflow produced NaN). Its case is still listed for diagnosis, since the NaN step also
    hides the slack of the other steps."""

    claim: str
    source: str
    slack_kind: str = "relative"
    checked: int = 0
    violations: int = 0
    undefined: int = 0
    worst_slack: float | None = None
    worst_case: str | None = None


_CLAIM_COLUMNS = ("claim", "source", "checked", "violations", "undefined", "worst slack", "slack")


@dataclass
class Summary:
    """The outcome of a profile (JSON-serialisable through :meth:`to_dict`).

    ``requested`` and ``max_seconds`` are the profile's arguments (``cases < requested`` when
    the time budget ran out). ``reproducers`` has one entry per case with a violated or an
    undefined verdict, ``{"case": repr, "claims": [...], "undefined": [...]}``; ``errors`` one
    per case whose run or check raised, ``{"case": repr, "error": text}``.
    ``coverage`` counts cases by data kind and activation, the cases that reached eq. (4)
    and eq. (5), and those checked for the first phase. ``max_rate_peak`` is the largest
    ``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta`` seen (Theorem 4.1, printed factor 2,
    safe factor 8; spec §6.4), with its case.
    """

    seed: int
    space: dict
    cases: int = 0
    seconds: float = 0.0
    requested: int | None = None
    max_seconds: float | None = None
    claims: list[ClaimSummary] = field(default_factory=list)
    reproducers: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    coverage: dict = field(default_factory=dict)
    max_rate_peak: float | None = None
    max_rate_peak_case: str | None = None

    @property
    def violations(self) -> int:
        """(case, claim) pairs that failed with finite numbers."""
        return sum(c.violations for c in self.claims)

    @property
    def undefined(self) -> int:
        """(case, claim) pairs that failed on a NaN (see :class:`ClaimSummary`)."""
        return sum(c.undefined for c in self.claims)

    @property
    def failing_cases(self) -> int:
        """Cases with at least one violated or undefined verdict."""
        return len(self.reproducers)

    @property
    def clean(self) -> bool:
        """No violation, no undefined verdict and no error."""
        return self.violations == 0 and self.undefined == 0 and not self.errors

    def to_dict(self) -> dict:
        """Plain data for JSON (non-finite floats become None)."""
        return {
            **asdict(self),
            "violations": self.violations,
            "undefined": self.undefined,
            "failing_cases": self.failing_cases,
            "printed_rate_factor": THEOREM41_FACTORS["printed"],
            "safe_rate_factor": THEOREM41_FACTORS["safe"],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        """Inverse of :meth:`to_dict`."""
        keys = {f for f in cls.__dataclass_fields__ if f != "claims"}
        out = cls(**{k: data[k] for k in keys})
        out.claims = [ClaimSummary(**c) for c in data["claims"]]
        return out

    def save(self, path: str | Path) -> Path:
        """Write the JSON summary to ``path`` (parent folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Summary:
        """Read a summary written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def rows(self) -> list[list[str]]:
        """One row per claim: claim, source, checked, violations, undefined, worst slack,
        slack kind."""

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.3g}"

        return [
            [
                c.claim,
                c.source,
                str(c.checked),
                str(c.violations),
                str(c.undefined),
                fmt(c.worst_slack),
                c.slack_kind,
            ]
            for c in self.claims
        ]

    def table(self) -> str:
        """The per-claim table as Markdown (the notebook renders it as HTML)."""
        head = _CLAIM_COLUMNS
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows()]
        return "\n".join(lines)

    def headline(self) -> str:
        """One line: cases, violations, undefined verdicts, errors, time."""
        return (
            f"{self.cases} cases (seed {self.seed}) in {self.seconds:.1f} s: "
            f"{self.violations} violations and {self.undefined} undefined verdicts "
            f"in {self.failing_cases} cases, {len(self.errors)} errors"
        )

    def findings(self) -> str:
        """Markdown lists of the violations, undefined verdicts and errors, with their cases."""

        def listing(key: str, entries: list[dict], what: Callable[[dict], str]) -> str:
            lines = [f"- {what(e)}: `{e['case']}`" for e in entries if e.get(key)]
            return "\n".join(lines) if lines else "none"

        return "\n\n".join(
            [
                "**Violations:**",
                listing("claims", self.reproducers, lambda e: ", ".join(e["claims"])),
                "**Undefined verdicts (NaN):**",
                listing("undefined", self.reproducers, lambda e: ", ".join(e["undefined"])),
                "**Errors:**",
                listing("error", self.errors, lambda e: e["error"]),
            ]
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.headline())}</p>{table_html(_CLAIM_COLUMNS, self.rows())}"


def table_html(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table (cells escaped) for notebook output."""
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def summarize(
    results: Sequence[tuple[Case, VerdictTable | BaseException]],
    *,
    seed: int,
    space: CaseSpace,
    seconds: float = 0.0,
) -> Summary:
    """Aggregate per-case outcomes (a verdict table, or the exception a case raised)."""
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(space).items()}
    out = Summary(seed=seed, space=plain, cases=len(results), seconds=seconds)
    claims: dict[str, ClaimSummary] = {}
    count: dict[str, int] = {}

    def bump(key: str) -> None:
        count[key] = count.get(key, 0) + 1

    for case, outcome in results:
        bump(f"kind {case.kind}")
        bump(f"activation {case.activation}")
        if isinstance(outcome, BaseException):
            bump("errors")
            text = "".join(traceback.format_exception_only(type(outcome), outcome)).strip()
            out.errors.append({"case": repr(case), "error": text})
            continue
        for key, happened in (
            ("eq. (4) reached", outcome.facts.get("r*") is not None),
            ("eq. (5) reached", outcome.facts.get("s*") is not None),
            ("first phase checked", case.first_phase_applies),
        ):
            if happened:
                bump(key)
        failed: list[str] = []
        nan: list[str] = []
        for v in outcome:
            kind = "absolute" if "absolute slack" in v.note else "relative"
            s = claims.setdefault(v.claim, ClaimSummary(v.claim, v.source, kind))
            s.checked += 1
            slack = _finite(v.worst_slack)
            if slack is not None and (s.worst_slack is None or slack < s.worst_slack):
                s.worst_slack, s.worst_case = slack, repr(case)
            if not v.holds and v.worst_slack is not None and math.isnan(v.worst_slack):
                s.undefined += 1
                nan.append(v.claim)
            elif not v.holds:
                s.violations += 1
                failed.append(v.claim)
        if failed or nan:
            out.reproducers.append({"case": repr(case), "claims": failed, "undefined": nan})
        peak = _finite(outcome.facts.get("rate peak"))
        if peak is not None and (out.max_rate_peak is None or peak > out.max_rate_peak):
            out.max_rate_peak, out.max_rate_peak_case = peak, repr(case)
    out.claims = list(claims.values())
    out.coverage = dict(sorted(count.items()))
    return out


def run_profile(
    n_cases: int,
    seed: int = 0,
    *,
    space: CaseSpace = LARGE_SPACE,
    max_seconds: float | None = None,
    progress: Callable[[int, Case, VerdictTable | BaseException], None] | None = None,
) -> Summary:
    """Check cases ``space.sample(seed, i)`` for ``i = 0, 1, ...`` and summarise them.

    Stops after ``n_cases`` cases, or earlier once ``max_seconds`` of wall time have passed
    (the cases checked so far are a prefix of the same sequence). A case that raises is
    recorded in ``Summary.errors`` (with its reproducer) and the profile goes on.
    ``progress(i, case, outcome)`` is called after each case.
    """
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise ValueError(f"n_cases={n_cases!r} must be an int >= 1")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds={max_seconds!r} must be > 0 or None")
    start = time.perf_counter()
    results: list[tuple[Case, VerdictTable | BaseException]] = []
    for i in range(n_cases):
        case = space.sample(seed, i)
        try:
            outcome: VerdictTable | BaseException = check_case(case)
        except (ValueError, RuntimeError, ArithmeticError) as err:
            outcome = err
        results.append((case, outcome))
        if progress is not None:
            progress(i, case, outcome)
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    summary = summarize(results, seed=seed, space=space, seconds=time.perf_counter() - start)
    summary.requested, summary.max_seconds = n_cases, max_seconds
    return summary

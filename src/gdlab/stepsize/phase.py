"""Chapter computations of Part I: the setting, the phase threshold, margin improvement.

What the three chapters compute that does not belong in the engine (:mod:`.gd`), the bounds
(:mod:`.theory`) or the certificates (:mod:`.certify`):

- *The setting*: the Assumption 2 constants of every activation, closed form against a grid
  estimate and the paper's printed values (:func:`activation_constants`); a sampled check of
  the Assumption 1 constants of the two-layer network (:func:`check_assumption1`).
- *The phase threshold* (Theorem 2.2, first part; Theorem 4.1's stable phase): the chapter's
  sweeps (:func:`phase_specs`, :func:`run_spec`), per run the measured start of the monotone
  phase against the certified ``r*`` (:func:`phase_runs`), the ``tilde-eta t L_t`` plateau
  (:func:`rate_checks`), the Lemma A.14 curves (:func:`lemma_a14_curves`) and the certificates
  of all runs (:func:`verdict_summary`, :func:`claim_summary`).
- *Margin improvement* (Theorem 2.2, second part; Figure 4): margin series and their checks
  per run (:func:`margin_series`, :func:`margin_runs`), the ``||w_t|| ~ log t`` fit
  (:func:`log_norm_fit`), and the per-neuron analysis of Figure 4 (:func:`figure4_analysis`).

Tables are :class:`Table` objects, which render as HTML or Markdown in notebooks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from gdlab.data import Dataset, get_dataset, max_margin_direction
from gdlab.runtime import get_scale, make_generator
from gdlab.stepsize import theory as th
from gdlab.stepsize.activations import PrintedConstants, get_activation, numerical_constants
from gdlab.stepsize.certify import Verdict, VerdictTable, risk_increase_count
from gdlab.stepsize.margins import gamma_b
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult, run_sweep

__all__ = [
    "CONSTANT_KEYS",
    "DIP_TOLERANCE",
    "GRID_ROUNDING",
    "GRID_TOL",
    "PLATEAU_TOLERANCE",
    "SAMPLE_RTOL",
    "SETTING_ACTIVATIONS",
    "A14Curves",
    "ActivationConstants",
    "Assumption1Check",
    "Figure4Analysis",
    "LogFit",
    "MarginRun",
    "MarginSeries",
    "PhaseRun",
    "RateCheck",
    "SweepSpec",
    "Table",
    "activation_constants",
    "aligned_margin",
    "check_assumption1",
    "claim_summary",
    "constants_table",
    "figure4_analysis",
    "largest_drop",
    "lemma_a14_curves",
    "log10_a10_constant",
    "log_norm_fit",
    "margin_runs",
    "margin_series",
    "margin_specs",
    "margin_table",
    "norm_table",
    "phase_runs",
    "phase_specs",
    "phase_table",
    "rate_checks",
    "rate_spread",
    "rate_table",
    "run_spec",
    "setting_verdicts",
    "sweep_table",
    "verdict_summary",
]

#: "tilde-eta t L_t levels off" (Figure 2(b)): over the last half of the horizon its max/min
#: is at most this. A chosen criterion, shared with the Figure 2 recipe
#: (:mod:`gdlab.experiments.figures`): a power law ``L ~ t^-p`` passes it on
#: ``[T/2, T]`` iff ``|p - 1| <= log2(1.25) ~ 0.32``.
PLATEAU_TOLERANCE = 1.25
#: "gamma-bar is nearly monotone" (Figure 2(c)): its largest relative one-step drop after
#: ``s*`` is at most this. A chosen criterion, shared with the Figure 2 recipe.
DIP_TOLERANCE = 0.01


# ----------------------------------------------------------------------------- tables


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "NO"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{float(value):.3g}"
    return str(value)


class Table(Sequence[tuple]):
    """Rows of plain values under named columns; renders as a table in notebooks.

    Floats print with 3 significant digits, None and NaN as ``-``, booleans as yes/NO.
    """

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.columns = tuple(columns)
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(self.columns)}")
        self._rows = tuple(tuple(row) for row in rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> tuple:  # type: ignore[override]
        return self._rows[i]

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._rows)

    def column(self, name: str) -> list[object]:
        """The values of column ``name``."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {list(self.columns)}")
        i = self.columns.index(name)
        return [row[i] for row in self._rows]

    def _repr_markdown_(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|")

        lines = ["| " + " | ".join(esc(c) for c in self.columns) + " |"]
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(esc(_cell(v)) for v in row) + " |" for row in self._rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in self._rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        return self._repr_markdown_()

    def __repr__(self) -> str:
        return f"Table({len(self)} rows x {len(self.columns)} columns)"


# ----------------------------------------------------------------------------- the setting

#: Every activation of Examples 2.1 and 3.1 (leaky ones at c = 0.5, Huberized ReLU at h = 1).
SETTING_ACTIVATIONS: tuple[str, ...] = (
    "gelu",
    "softplus",
    "silu",
    "huberized_relu",
    "tanh",
    "sigmoid",
    "leaky_softplus_ex31",
    "leaky_softplus_half",
    "leaky_gelu",
    "leaky_silu",
    "leaky_huberized_relu",
    "leaky_tanh",
    "leaky_sigmoid",
)
#: The Assumption 2 constants: ``inf|phi'|``, ``sup|phi'|``, ``sup|phi''|``, ``sup|phi - z phi'|``.
CONSTANT_KEYS = ("alpha", "sup_dphi", "beta_tilde", "kappa")
# Printed and tight constants that are the same closed form (e.g. kappa = log 2 for softplus)
# may be evaluated along different float64 paths: compare with this relative slack.
_SAME_FORM_RTOL = 1e-12


@dataclass(frozen=True)
class ActivationConstants:
    """The Assumption 2 constants of one activation, three ways.

    ``tight``: the exact values (closed forms of :mod:`.activations`); ``grid``: the estimates
    of :func:`~gdlab.stepsize.activations.numerical_constants` on a grid; ``printed``: the
    paper's values (None where it prints none; ``alpha`` is a lower bound, the others upper
    bounds).
    """

    name: str
    tight: Mapping[str, float]
    grid: Mapping[str, float]
    printed: Mapping[str, float | None]
    source: str

    def printed_is_bound(self, key: str) -> bool | None:
        """Whether the printed value bounds the tight one (``alpha``: from below; the rest: from
        above), None if the paper prints no value for ``key``."""
        if key not in CONSTANT_KEYS:
            raise ValueError(f"unknown constant {key!r}; allowed: {', '.join(CONSTANT_KEYS)}")
        p, t = self.printed[key], self.tight[key]
        if p is None:
            return None
        slack = _SAME_FORM_RTOL * abs(t)
        return p <= t + slack if key == "alpha" else p >= t - slack

    @property
    def printed_failures(self) -> list[str]:
        """The constants whose printed value is not a valid bound."""
        return [k for k in CONSTANT_KEYS if self.printed_is_bound(k) is False]


def _printed_dict(p: PrintedConstants | None) -> dict[str, float | None]:
    return {k: None if p is None else getattr(p, k) for k in CONSTANT_KEYS}


def activation_constants(
    names: Sequence[str] = SETTING_ACTIVATIONS,
    *,
    lo: float = -50.0,
    hi: float = 50.0,
    num: int = 200_001,
) -> list[ActivationConstants]:
    """Tight, grid and printed Assumption 2 constants of each activation in ``names``.

    The grid estimate takes ``num`` equispaced points of ``[lo, hi]`` (default spacing 5e-4).
    """
    out = []
    for name in names:
        act = get_activation(name)
        grid = numerical_constants(act, lo, hi, num)
        out.append(
            ActivationConstants(
                name=name,
                tight={k: float(getattr(act, k)) for k in CONSTANT_KEYS},
                grid={k: grid[k] for k in CONSTANT_KEYS},
                printed=_printed_dict(act.printed),
                source="" if act.printed is None else act.printed.source,
            )
        )
    return out


def constants_table(rows: Sequence[ActivationConstants]) -> Table:
    """One line per activation: tight value (grid estimate) and printed value of each constant;
    a printed value that is not a valid bound is flagged ``NOT A BOUND``."""
    columns = ["activation"]
    for key in CONSTANT_KEYS:
        columns += [f"{key} tight", f"{key} grid", f"{key} printed"]
    out = []
    for r in rows:
        cells: list[object] = [r.name]
        for key in CONSTANT_KEYS:
            printed = r.printed[key]
            flag = "" if r.printed_is_bound(key) is not False else " NOT A BOUND"
            cells += [
                r.tight[key],
                r.grid[key],
                None if printed is None else f"{printed:.3g}{flag}",
            ]
        out.append(cells)
    return Table(columns, out)


@dataclass(frozen=True)
class Assumption1Check:
    """Sampled maxima of the three Assumption 1 quantities against their constants.

    ``max_grad_norm``: ``max ||grad_w f(w; x)||`` (bounded by ``rho``, 1A);
    ``max_smoothness``: ``max ||grad f(w; x) - grad f(v; x)|| / ||w - v||`` (``beta``, 1B);
    ``max_homogeneity_gap``: ``max |f(w; x) - <grad f(w; x), w>|`` (``kappa``, 1C);
    over ``samples`` random ``(w, v, x)`` with ``||x|| = R``.
    """

    activation: str
    m: int
    R: float
    samples: int
    rho: float
    beta: float
    kappa: float
    max_grad_norm: float
    max_smoothness: float
    max_homogeneity_gap: float

    def ratios(self) -> dict[str, float]:
        """Each sampled maximum divided by its constant (all ``<= 1`` when Assumption 1 holds;
        a zero constant gives 0 for a zero maximum and ``inf`` otherwise)."""

        def ratio(value: float, bound: float) -> float:
            if bound > 0:
                return value / bound
            return 0.0 if value == 0 else math.inf

        return {
            "rho": ratio(self.max_grad_norm, self.rho),
            "beta": ratio(self.max_smoothness, self.beta),
            "kappa": ratio(self.max_homogeneity_gap, self.kappa),
        }


def _value_and_grad(net: TwoLayerNet, W: torch.Tensor, X: torch.Tensor) -> tuple:
    """``f(W_k; x_k)`` and ``grad_W f(W_k; x_k)`` for paired rows, by autograd of eq. (2)."""
    W = W.detach().requires_grad_(True)
    f = torch.diagonal(net.forward(W, X))
    (grad,) = torch.autograd.grad(f.sum(), W)
    return f.detach(), grad


def check_assumption1(
    net: TwoLayerNet,
    R: float,
    *,
    samples: int = 1024,
    log10_scale: tuple[float, float] = (-2.0, 2.0),
    step: float = 1e-2,
    d: int = 2,
    seed: int = 0,
    chunk: int = 64,
) -> Assumption1Check:
    """Sample the Assumption 1 quantities of ``net`` (eq. 2) and compare with its constants.

    Each sample draws a parameter whose neurons are ``s_j u_j`` (``u_j`` standard Gaussian,
    ``log10 s_j`` uniform on ``log10_scale``, so pre-activations cover small and large
    ``|x^T w_j|``), an input uniform on the sphere of radius ``R``, and a second parameter
    ``v = w + step * ||w|| g / ||g||`` (``g`` Gaussian) for the smoothness ratio; the draws do
    not depend on ``chunk``, the number of samples evaluated together. Gradients
    come from autograd through :meth:`TwoLayerNet.forward`, not from the closed form; ``d`` is
    the input dimension. The constants are :meth:`TwoLayerNet.assumption1_constants` at ``R``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} must be an int >= 1")
    if not (math.isfinite(R) and R > 0):
        raise ValueError(f"radius R={R!r} must be finite and > 0")
    lo, hi = log10_scale
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"log10_scale={log10_scale!r} must be finite with lo <= hi")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"step={step!r} must be finite and > 0")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"input dimension d={d!r} must be an int >= 1")
    gen = make_generator(seed)
    m, n = net.m, samples
    scales = 10.0 ** (lo + (hi - lo) * torch.rand(n, m, 1, generator=gen, dtype=torch.float64))
    W = torch.randn(n, m, d, generator=gen, dtype=torch.float64) * scales
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True) * R
    g = torch.randn(n, m, d, generator=gen, dtype=torch.float64)
    w_norm = W.flatten(1).norm(dim=1).view(n, 1, 1)
    V = W + step * w_norm * g / g.flatten(1).norm(dim=1).view(n, 1, 1)
    grad_max = smooth_max = gap_max = 0.0
    for sl in (slice(i, i + chunk) for i in range(0, n, chunk)):
        f_w, grad_w = _value_and_grad(net, W[sl], X[sl])
        _, grad_v = _value_and_grad(net, V[sl], X[sl])
        grad_max = max(grad_max, float(grad_w.flatten(1).norm(dim=1).max()))
        ratio = (grad_w - grad_v).flatten(1).norm(dim=1) / (W[sl] - V[sl]).flatten(1).norm(dim=1)
        smooth_max = max(smooth_max, float(ratio.max()))
        gap = (f_w - (grad_w * W[sl]).flatten(1).sum(1)).abs()
        gap_max = max(gap_max, float(gap.max()))
    rho, beta, kappa = net.assumption1_constants(R)
    return Assumption1Check(
        activation=net.activation.name,
        m=m,
        R=float(R),
        samples=samples,
        rho=rho,
        beta=beta,
        kappa=kappa,
        max_grad_norm=grad_max,
        max_smoothness=smooth_max,
        max_homogeneity_gap=gap_max,
    )


#: Grid estimates against closed forms (setting chapter). A grid of spacing h <= 5e-4 (the
#: default of :func:`activation_constants`) misses an interior extremum of a smooth g by at
#: most sup|g''| h^2 / 8 (below 3.2e-7 for the curvatures here, all below 10); the extrema
#: that are only approached as |z| -> infinity (alpha = 0 of the plain activations, sup phi'
#: of the leaky softplus, kappa of tanh and sigmoid) are missed by their tails beyond
#: |z| = 50, below e^-40.
GRID_TOL = 1e-6
#: Float64 evaluation error of phi, phi', phi'' and phi - z phi' for |z| <= 50: a few ulps of
#: values O(1) plus |z| u |phi'| for the product, below 1e-13: a grid maximum may exceed the
#: exact supremum by that much (allowed: ten times more).
GRID_ROUNDING = 1e-12
#: Sampled Assumption 1 quantities: sums of m terms and d-dimensional inner products in
#: float64 err by at most (m + d + 4) u relative (1e-14 for m <= 40): allow 1e-12 relative.
SAMPLE_RTOL = 1e-12


def setting_verdicts(
    constants: Sequence[ActivationConstants], checks: Mapping[str, Assumption1Check]
) -> Table:
    """The setting chapter's verdicts: closed-form constants against the grid (agreement within
    :data:`GRID_TOL`, grid never above a supremum beyond :data:`GRID_ROUNDING`), the printed
    constants as bounds, and each sampled Assumption 1 maximum against its constant."""
    rows: list[tuple] = []
    diffs = [abs(r.grid[k] - r.tight[k]) for r in constants for k in CONSTANT_KEYS]
    rows.append(
        ("closed-form constants = grid estimates", "Assumption 2", max(diffs), GRID_TOL,
         max(diffs) <= GRID_TOL)
    )  # fmt: skip
    # alpha is an infimum (the grid can only be above it); the others are suprema.
    excess = [
        (r.tight[k] - r.grid[k]) if k == "alpha" else (r.grid[k] - r.tight[k])
        for r in constants
        for k in CONSTANT_KEYS
    ]
    rows.append(
        ("grid never beyond the closed-form sup/inf", "Assumption 2", max(excess), GRID_ROUNDING,
         max(excess) <= GRID_ROUNDING)
    )  # fmt: skip
    failures = [f"{r.name}: {k}" for r in constants for k in r.printed_failures]
    rows.append(
        ("printed constants are valid bounds", "Examples 2.1, 3.1, App. F.1",
         "; ".join(failures) or "none fail", None, not failures)
    )  # fmt: skip
    for label, ch in checks.items():
        for what, value, bound in (
            ("1A: sup ||grad f|| <= rho", ch.max_grad_norm, ch.rho),
            ("1B: gradient Lipschitz ratio <= beta", ch.max_smoothness, ch.beta),
            ("1C: sup |f - <grad f, w>| <= kappa", ch.max_homogeneity_gap, ch.kappa),
        ):
            rows.append(
                (f"{label}, {what}", "Assumption 1", value, bound,
                 value <= bound * (1 + SAMPLE_RTOL))
            )  # fmt: skip
    return Table(["claim", "source", "measured", "bound", "holds"], rows)


# ----------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepSpec:
    """One stepsize sweep of a chapter.

    ``dataset`` and ``kwargs`` name a :func:`gdlab.data.get_dataset` call; the network is
    eq. (2) with balanced signs, ``activation`` and width ``m``; ``lrs`` are the GD stepsizes
    tilde-eta; ``separable`` asks for the Assumption 3 certificate ``(w_*, gamma)`` of
    :func:`gdlab.data.max_margin_direction`.
    """

    label: str
    dataset: str
    lrs: tuple[float, ...]
    steps: int
    m: int = 20
    activation: str = "leaky_softplus_ex31"
    kwargs: tuple[tuple[str, object], ...] = ()
    record_every: int = 1
    separable: bool = True

    def load(self) -> Dataset:
        """The dataset."""
        return get_dataset(self.dataset, **dict(self.kwargs))


def run_spec(spec: SweepSpec, *, seed: int = 0, init_scale: float = 0.1) -> SweepResult:
    """Run one sweep (:func:`gdlab.stepsize.sweeps.run_sweep`, one shared initialisation)."""
    ds = spec.load()
    net = TwoLayerNet.balanced(get_activation(spec.activation), spec.m)
    w_star, gamma = max_margin_direction(ds.X, ds.y) if spec.separable else (None, None)
    return run_sweep(
        ds,
        net,
        list(spec.lrs),
        spec.steps,
        init_scale=init_scale,
        seed=seed,
        record_every=spec.record_every,
        w_star=w_star,
        gamma=gamma,
    )


def phase_specs(scale: str | None = None) -> list[SweepSpec]:
    """The phase-threshold chapter's sweeps: XOR (Figure 2, not separable, ``m = 20``), the
    five points of Figure 4 (separable, ``m = 10``) and digits 3 vs 8 (``m = 10``), each from
    monotone to strongly oscillating stepsizes (measured, see the chapter). ``paper`` scale:
    two stepsizes per decade and five times the horizon."""
    paper = get_scale(scale) == "paper"

    def lrs(quick: tuple[float, ...], lo: float, hi: float) -> tuple[float, ...]:
        if not paper:
            return quick
        return tuple(float(v) for v in np.round(np.logspace(lo, hi, int(2 * (hi - lo)) + 1), 6))

    steps = 5 if paper else 1
    return [
        SweepSpec("XOR", "xor", lrs((1, 10, 100, 1000, 2000, 3000), 0, 3.5), 5000 * steps,
                  m=20, separable=False),
        SweepSpec("five points", "five_point", lrs((0.1, 1, 10, 100, 300, 1000, 3000), -1, 3.5),
                  4000 * steps, m=10),
        SweepSpec("digits 3 vs 8", "digits", lrs((10, 100, 1e3, 1e4, 1e5), 1, 5), 2000 * steps,
                  m=10, kwargs=(("classes", (3, 8)),)),
    ]  # fmt: skip


def margin_specs(scale: str | None = None) -> list[SweepSpec]:
    """The margin chapter's sweeps: the stepsizes of :func:`phase_specs` that reach eq. (5)
    within the first half of a longer horizon (``paper``: ten times longer), every step
    recorded so that the one-step lemmas (A.8, A.13) are checked. Theorem 2.2 needs no
    separability, so no Assumption 3 certificate is computed."""
    factor = 10 if get_scale(scale) == "paper" else 1
    return [
        SweepSpec("XOR", "xor", (300, 1000, 2000), 6000 * factor, m=20, separable=False),
        SweepSpec("five points", "five_point", (100, 300, 1000, 3000), 6000 * factor, m=10,
                  separable=False),
        SweepSpec("digits 3 vs 8", "digits", (1e5,), 3000 * factor, m=10,
                  kwargs=(("classes", (3, 8)),), separable=False),
    ]  # fmt: skip


def sweep_table(sweeps: Mapping[str, SweepResult]) -> Table:
    """One line per sweep: the data (n, d, radius R, Assumption 3 margin gamma when separable),
    the network (activation, width m), the stepsizes tilde-eta and the horizon T."""
    rows = []
    for label, sw in sweeps.items():
        c = sw.constants[0]
        rows.append(
            (
                label,
                c.n,
                c.d,
                c.R,
                c.gamma,
                c.activation,
                c.m,
                ", ".join(f"{lr:g}" for lr in sw.lrs),
                int(sw.traj.steps[-1]),
            )
        )
    return Table(
        ["data", "n", "d", "R", "gamma (A3)", "activation", "m", "stepsizes tilde-eta", "T"], rows
    )


# ----------------------------------------------------------------------------- phase threshold


@dataclass(frozen=True)
class PhaseRun:
    """The phase picture of one GD run (Theorem 2.2, first part).

    ``monotone_from``: the measured first step after which the risk never increases (beyond the
    float64 rounding allowance of :mod:`.certify`); ``monotone_reached`` says whether that
    phase covers at least the second half of the record (a run that oscillates to the end has
    ``monotone_from`` near ``T``, where one decreasing step proves nothing). ``r_star``: the
    first step satisfying eq. (4), from which the theorem certifies monotonicity.
    ``max_increase_after_r``: the largest ``L_{t+1} - L_t`` over ``t >= r*`` and
    ``after_r_holds`` its verdict (within the rounding allowance). ``increases``: risk
    increases beyond rounding over the whole run.
    """

    dataset: str
    lr: float
    eta: float
    steps: int
    initial_risk: float
    max_risk: float
    final_risk: float
    increases: int
    first_increase: int | None
    monotone_from: int
    monotone_reached: bool
    r_star: int | None
    s_star: int | None
    max_increase_after_r: float | None
    after_r_holds: bool | None

    @property
    def oscillates(self) -> bool:
        """Whether the risk increases at some step (beyond rounding)."""
        return self.increases > 0

    @property
    def certified_delay(self) -> int | None:
        """``r* - monotone_from``: how many steps the certificate lags the fact (None without
        ``r*`` or without a monotone phase)."""
        if self.r_star is None or not self.monotone_reached:
            return None
        return self.r_star - self.monotone_from


def phase_runs(sweep: SweepResult, label: str | None = None) -> list[PhaseRun]:
    """:class:`PhaseRun` of every run of ``sweep``."""
    label = sweep.dataset.name if label is None else label
    T = int(sweep.traj.steps[-1])
    out = []
    for k, verdicts in enumerate(sweep.stable_verdicts):
        run, c = sweep.run(k), sweep.constants[k]
        risk = run.risk[0].numpy()
        increases = risk_increase_count(run, c)
        mono = sweep.monotone_from(k)
        after = _row(verdicts, "risk non-increasing after r*")
        out.append(
            PhaseRun(
                dataset=label,
                lr=c.lr,
                eta=c.eta,
                steps=T,
                initial_risk=float(risk[0]),
                max_risk=float(risk.max()),
                final_risk=float(risk[-1]),
                increases=increases,
                first_increase=sweep.first_increase(k),
                monotone_from=mono,
                monotone_reached=mono <= T / 2,
                r_star=verdicts.facts["r*"],
                s_star=verdicts.facts["s*"],
                max_increase_after_r=None if after is None else after.measured,
                after_r_holds=None if after is None else after.holds,
            )
        )
    return out


def _row(table: VerdictTable, claim: str) -> Verdict | None:
    return next((row for row in table if row.claim == claim), None)


def phase_table(runs: Sequence[PhaseRun]) -> Table:
    """The phase picture of every run: oscillation, measured vs certified monotone start."""
    return Table(
        [
            "data",
            "tilde-eta",
            "eta",
            "max L / L_0",
            "risk increases",
            "monotone from (measured)",
            "r* (eq. 4)",
            "max increase after r*",
            "within rounding",
            "s* (eq. 5)",
            "L(w_T)",
        ],
        [
            (
                r.dataset,
                r.lr,
                r.eta,
                r.max_risk / r.initial_risk,
                r.increases,
                r.monotone_from if r.monotone_reached else f"not by T/2 ({r.monotone_from})",
                r.r_star,
                r.max_increase_after_r,
                r.after_r_holds,
                r.s_star,
                r.final_risk,
            )
            for r in runs
        ],
    )


@dataclass(frozen=True)
class RateCheck:
    """The ``O(1/(tilde-eta t))`` rate of one run after eq. (5) (Figure 2(b), Lemma A.14).

    ``product_mid``, ``product_end``: ``tilde-eta t L_t`` at ``t = T/2`` and ``t = T``;
    ``spread``: its max/min over ``[T/2, T]`` (``levels_off`` when at most
    :data:`PLATEAU_TOLERANCE`). ``band_low``, ``log10_band_high``: the range of
    ``tilde-eta (T - s*) L_T`` that Lemma A.14 allows, ``lr (T-s)/(1/L_s + 3 lr rho^2 (T-s))``
    and ``log10(2/gamma^c(w_s)^2)`` (in log10, as ``gamma^c(w_s)`` can underflow float64).
    """

    dataset: str
    lr: float
    s_star: int
    steps: int
    product_mid: float
    product_end: float
    spread: float
    band_low: float
    log10_band_high: float

    @property
    def levels_off(self) -> bool:
        """Whether ``tilde-eta t L_t`` varies by at most the plateau tolerance on ``[T/2, T]``."""
        return self.spread <= PLATEAU_TOLERANCE


def _log_gamma_c(c: th.ProblemConstants, log_risk: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """``log gamma^c = Phi(L) - log ||w||`` (eq. 10), finite where ``gamma^c`` underflows."""
    return np.asarray(th.Phi(c, log_x=log_risk)) - np.log(norm)


def rate_spread(lrs: np.ndarray, steps: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """``max / min`` of ``tilde-eta t L_t`` over the recorded steps ``t >= T/2``, per run (K,).

    The quantity of "tilde-eta t L_t levels off" (Figure 2(b), Theorem 4.1's ``1/(eta t)`` rate):
    at most :data:`PLATEAU_TOLERANCE` means the rate has set in. ``lrs`` (K,), ``steps`` (S,),
    ``risk`` (K, S).
    """
    steps = np.asarray(steps)
    half = steps >= steps[-1] / 2
    etl = np.asarray(lrs, dtype=float)[:, None] * np.maximum(steps[half], 1) * risk[:, half]
    return etl.max(axis=1) / etl.min(axis=1)


def _a14_log10_bounds(
    sweep: SweepResult, k: int, i: int, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log10 of Lemma A.14's bounds at steps ``t`` from ``s = steps[i]``: the upper bound is
    ``th.lemma_a14_bounds`` at ``gamma^c = 1`` divided by ``gamma^c(w_s)^2`` in log space."""
    c = sweep.constants[k]
    s = int(sweep.traj.steps[i])
    log_risk = sweep.traj.log_risk[k].numpy()
    log_gc = float(_log_gamma_c(c, log_risk[i], sweep.traj.param_norm[k, i].numpy()))
    lower, upper = th.lemma_a14_bounds(c, t, s, float(log_risk[i]), 1.0)
    with np.errstate(divide="ignore"):  # upper = inf at t = s
        return np.log10(lower), np.log10(upper) - 2 * log_gc / math.log(10)


def rate_checks(sweep: SweepResult, label: str | None = None) -> list[RateCheck]:
    """:class:`RateCheck` of every run that satisfies eq. (5) by half of the horizon."""
    label = sweep.dataset.name if label is None else label
    t = sweep.traj.steps.numpy()
    T = int(t[-1])
    half = t >= T / 2
    spread = rate_spread(sweep.lrs, t, sweep.traj.risk.numpy())
    out = []
    for k, verdicts in enumerate(sweep.stable_verdicts):
        s = verdicts.facts["s*"]
        if s is None or s > T / 2:
            continue
        c = sweep.constants[k]
        prod = c.lr * t[half] * sweep.traj.risk[k].numpy()[half]
        lower, upper = _a14_log10_bounds(sweep, k, int(np.searchsorted(t, s)), np.array([T]))
        scale = math.log10(c.lr * (T - s))
        out.append(
            RateCheck(
                dataset=label,
                lr=c.lr,
                s_star=int(s),
                steps=T,
                product_mid=float(prod[0]),
                product_end=float(prod[-1]),
                spread=float(spread[k]),
                band_low=float(10 ** (lower[0] + scale)),
                log10_band_high=float(upper[0] + scale),
            )
        )
    return out


def rate_table(checks: Sequence[RateCheck]) -> Table:
    """One line per run: ``tilde-eta t L_t`` at T/2 and T, its spread, the Lemma A.14 band."""
    return Table(
        [
            "data",
            "tilde-eta",
            "s*",
            "lr t L_t at T/2",
            "lr t L_t at T",
            "max/min on [T/2, T]",
            "levels off",
            "A.14: lr (T-s*) L_T >=",
            "A.14: log10 of upper",
        ],
        [
            (
                r.dataset,
                r.lr,
                r.s_star,
                r.product_mid,
                r.product_end,
                r.spread,
                r.levels_off,
                r.band_low,
                r.log10_band_high,
            )
            for r in checks
        ],
    )


@dataclass(frozen=True)
class A14Curves:
    """Lemma A.14 for one run from ``s = s*``: the recorded ``t > s``, ``log10 L_t`` and the
    log10 of both bounds (the upper one can exceed the float64 range)."""

    lr: float
    s: int
    t: np.ndarray
    log10_risk: np.ndarray
    log10_lower: np.ndarray
    log10_upper: np.ndarray


def lemma_a14_curves(sweep: SweepResult, k: int) -> A14Curves | None:
    """The Lemma A.14 curves of run ``k`` (None when eq. (5) is not reached before the end)."""
    s = sweep.stable_verdicts[k].facts["s*"]
    t_all = sweep.traj.steps.numpy()
    if s is None or s >= t_all[-1]:
        return None
    i = int(np.searchsorted(t_all, s))
    t = t_all[i + 1 :]
    lower, upper = _a14_log10_bounds(sweep, k, i, t)
    log10_risk = sweep.traj.log_risk[k].numpy()[i + 1 :] / math.log(10)
    return A14Curves(sweep.constants[k].lr, int(s), t, log10_risk, lower, upper)


def verdict_summary(sweeps: Mapping[str, SweepResult]) -> Table:
    """One line per run: ``r*``, ``s*``, how many Theorem 2.2 certificates were checked, how
    many hold, how many could not be checked (hypothesis never met), and the overall verdict."""
    rows = []
    for label, sweep in sweeps.items():
        for k, table in enumerate(sweep.stable_verdicts):
            rows.append(
                (
                    label,
                    sweep.constants[k].lr,
                    table.facts["r*"],
                    table.facts["s*"],
                    len(table),
                    sum(v.holds for v in table),
                    len(table.skipped),
                    table.all_hold,
                )
            )
    return Table(
        ["data", "tilde-eta", "r*", "s*", "checked", "hold", "not checkable", "all hold"], rows
    )


def claim_summary(sweeps: Mapping[str, SweepResult]) -> Table:
    """One line per certificate of :func:`~gdlab.stepsize.certify.certify_stable_phase`: on how
    many runs it was checked, on how many it holds, and its worst slack (>= 0 iff it holds)."""
    checked: dict[str, list] = {}
    for sweep in sweeps.values():
        for table in sweep.stable_verdicts:
            for v in table:
                checked.setdefault(v.claim, []).append(v)
    rows = [
        (
            claim,
            verdicts[0].source,
            len(verdicts),
            sum(v.holds for v in verdicts),
            min(v.worst_slack for v in verdicts),
        )
        for claim, verdicts in checked.items()
    ]
    return Table(["claim", "source", "runs checked", "runs holding", "worst slack"], rows)


# ----------------------------------------------------------------------------- margins


@dataclass(frozen=True)
class MarginSeries:
    """The margins of one run over its recorded steps ``t``.

    ``gamma_bar`` (eq. 3); ``log_gamma_b``, ``log_gamma_c``: natural logs of ``gamma^b``,
    ``gamma^c`` (eqs. 9, 10; NaN where undefined), kept in log space because ``gamma^c``
    underflows float64 for large stepsizes; ``norm``: ``||w_t||``; ``s``: ``s*`` (None if
    eq. (5) is never met).
    """

    lr: float
    t: np.ndarray
    gamma_bar: np.ndarray
    log_gamma_b: np.ndarray
    log_gamma_c: np.ndarray
    norm: np.ndarray
    s: int | None


def margin_series(sweep: SweepResult, k: int) -> MarginSeries:
    """:class:`MarginSeries` of run ``k``."""
    c = sweep.constants[k]
    log_risk = sweep.traj.log_risk[k].numpy()
    norm = sweep.traj.param_norm[k].numpy()
    with np.errstate(invalid="ignore"):  # gamma^b is NaN (undefined) above 1/(2 n e^kappa)
        log_gamma_b = np.log(np.asarray(gamma_b(log_risk, norm, c)))
    return MarginSeries(
        lr=c.lr,
        t=sweep.traj.steps.numpy(),
        gamma_bar=sweep.traj.normalized_margin[k].numpy(),
        log_gamma_b=log_gamma_b,
        log_gamma_c=_log_gamma_c(c, log_risk, norm),
        norm=norm,
        s=sweep.stable_verdicts[k].facts["s*"],
    )


def log10_a10_constant(c: th.ProblemConstants) -> float:
    """``log10`` of Lemma A.10's ``c = (k_2 + k_1 e^{k_1} + k_2 k_1 e^{k_1})(k_2 + 1)``, exact
    in log space (``c`` itself overflows float64 once ``k_1 = 1 + (4 rho^2 + 2 beta) lr``
    exceeds about 700): ``log c = k_1 + log(k_1 (1 + k_2) + k_2 e^{-k_1}) + log(k_2 + 1)``."""
    _, k1, k2 = th.lemma_a10_constant(c)
    return (k1 + math.log(k1 * (1 + k2) + k2 * math.exp(-k1)) + math.log(k2 + 1)) / math.log(10)


def largest_drop(series: np.ndarray) -> float:
    """``max_t (x_t - x_{t+1})`` over consecutive entries, 0 if the series never decreases."""
    x = np.asarray(series, dtype=float)
    if x.size < 2:
        return 0.0
    return max(0.0, float(np.max(x[:-1] - x[1:])))


@dataclass(frozen=True)
class LogFit:
    """Least-squares fit ``y = slope log t + intercept`` on ``t >= start``."""

    slope: float
    intercept: float
    r2: float
    start: int

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        return self.slope * np.log(np.asarray(t, dtype=float)) + self.intercept


def log_norm_fit(t: np.ndarray, norm: np.ndarray, start: int) -> LogFit:
    """Fit ``||w_t|| = slope log t + intercept`` over the recorded ``t >= start`` (>= 1)."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(norm, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"t and norm must be 1-D of equal length, got {t.shape}, {y.shape}")
    sel = t >= max(start, 1)
    if int(sel.sum()) < 3:
        raise ValueError(f"need at least 3 recorded steps t >= {max(start, 1)}, got {sel.sum()}")
    lt, ys = np.log(t[sel]), y[sel]
    slope, intercept = np.polyfit(lt, ys, 1)
    resid = ys - (slope * lt + intercept)
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return LogFit(float(slope), float(intercept), r2, int(max(start, 1)))


@dataclass(frozen=True)
class MarginRun:
    """The margin picture of one run that reaches eq. (5) (Theorem 2.2, second part).

    ``gc_decreases``: recorded pairs after ``s*`` where ``gamma^c`` decreases at all (no
    allowance); ``gc_holds``: the certificate that ``gamma^c`` is non-decreasing within the
    rounding allowance. ``a10_holds``: Lemma A.10's sandwich at every step in its hypothesis,
    ``log10_a10``: ``log10`` of its constant ``c``. ``norm_holds``: ``||w_t||`` non-decreasing
    after ``s*``. ``log10_gap_s``, ``log10_gap_end``: ``log10(gamma-bar / gamma^c)`` at ``s*``
    and at ``T`` (how far the certified margin lies below the normalized one);
    ``gamma_bar_s``, ``gamma_bar_end``: ``gamma-bar`` there. ``drop_before``, ``drop_after``:
    the largest one-step drop of ``gamma-bar`` before and after ``s*``; ``rel_drop_after``:
    the largest ``(gamma-bar_t - gamma-bar_{t+1}) / gamma-bar_t`` after ``s*`` (eq. (5) gives
    ``L <= 1/(2n)``, hence every margin ``q_i > 0`` and ``gamma-bar > 0`` there).
    ``norm_s``, ``norm_end``: ``||w||`` at ``s*`` and ``T``. ``fit``: ``||w_t||``
    against ``log t`` on the last half of the horizon. ``log10_a15_onset``: ``log10`` of the
    ``t - s*`` from which Lemma A.15's lower bound ``log[(t-s) lr gamma^c(w_s)^2/(2n)]/(2 B_0)``
    is positive, ``2n/(lr gamma^c(w_s)^2)``.
    """

    dataset: str
    lr: float
    s_star: int
    steps: int
    gc_decreases: int
    gc_holds: bool
    a10_holds: bool
    log10_a10: float
    norm_holds: bool
    log10_gap_s: float
    log10_gap_end: float
    gamma_bar_s: float
    gamma_bar_end: float
    drop_before: float
    drop_after: float
    rel_drop_after: float
    norm_s: float
    norm_end: float
    fit: LogFit
    log10_a15_onset: float


def margin_runs(sweep: SweepResult, label: str | None = None) -> list[MarginRun]:
    """:class:`MarginRun` of every run of ``sweep`` that satisfies eq. (5) by half the horizon."""
    label = sweep.dataset.name if label is None else label
    ln10 = math.log(10)
    out = []
    for k, table in enumerate(sweep.stable_verdicts):
        ms = margin_series(sweep, k)
        T = int(ms.t[-1])
        if ms.s is None or ms.s > T / 2:
            continue
        i = int(np.searchsorted(ms.t, ms.s))
        c = sweep.constants[k]
        with np.errstate(invalid="ignore"):  # gamma-bar < 0 before s*: no log gap there
            log_gap = (np.log(ms.gamma_bar) - ms.log_gamma_c) / ln10
        out.append(
            MarginRun(
                dataset=label,
                lr=c.lr,
                s_star=int(ms.s),
                steps=T,
                gc_decreases=int(np.sum(np.diff(ms.log_gamma_c[i:]) < 0)),
                gc_holds=table["gamma^c non-decreasing after s*"].holds,
                a10_holds=table["Lemma A.10"].holds,
                log10_a10=log10_a10_constant(c),
                norm_holds=table["norm non-decreasing after s*"].holds,
                log10_gap_s=float(log_gap[i]),
                log10_gap_end=float(log_gap[-1]),
                gamma_bar_s=float(ms.gamma_bar[i]),
                gamma_bar_end=float(ms.gamma_bar[-1]),
                drop_before=largest_drop(ms.gamma_bar[: i + 1]),
                drop_after=largest_drop(ms.gamma_bar[i:]),
                rel_drop_after=float(np.max(-np.diff(ms.gamma_bar[i:]) / ms.gamma_bar[i:-1])),
                norm_s=float(ms.norm[i]),
                norm_end=float(ms.norm[-1]),
                fit=log_norm_fit(ms.t, ms.norm, T // 2),
                log10_a15_onset=float((math.log(2 * c.n / c.lr) - 2 * ms.log_gamma_c[i]) / ln10),
            )
        )
    return out


def margin_table(runs: Sequence[MarginRun]) -> Table:
    """One line per run: the margin claims of Theorem 2.2 after ``s*`` and the margin drops
    before and after it."""
    return Table(
        [
            "data",
            "tilde-eta",
            "s*",
            "gamma^c decreases",
            "gamma^c certificate",
            "A.10 sandwich",
            "log10 c (A.10)",
            "gamma-bar at s*",
            "gamma-bar at T",
            "log10 gamma-bar/gamma^c at T",
            "largest gamma-bar drop before s*",
            "largest relative drop after s*",
        ],
        [
            (
                r.dataset,
                r.lr,
                r.s_star,
                r.gc_decreases,
                r.gc_holds,
                r.a10_holds,
                r.log10_a10,
                r.gamma_bar_s,
                r.gamma_bar_end,
                r.log10_gap_end,
                r.drop_before,
                r.rel_drop_after,
            )
            for r in runs
        ],
    )


def norm_table(runs: Sequence[MarginRun]) -> Table:
    """One line per run: the growth of ``||w_t||`` after ``s*`` and its ``log t`` fit."""
    return Table(
        [
            "data",
            "tilde-eta",
            "s*",
            "norm non-decreasing",
            "||w|| at s*",
            "||w|| at T",
            "d||w||/dlog t (fit)",
            "fit R^2",
            "slope x gamma-bar(T)",
            "log10 (t-s*) where A.15 lower > 0",
        ],
        [
            (
                r.dataset,
                r.lr,
                r.s_star,
                r.norm_holds,
                r.norm_s,
                r.norm_end,
                r.fit.slope,
                r.fit.r2,
                r.fit.slope * r.gamma_bar_end,
                r.log10_a15_onset,
            )
            for r in runs
        ],
    )


# ----------------------------------------------------------------------------- Figure 4


def aligned_margin(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, w_star: torch.Tensor,
                   scale: float = 1e8) -> float:  # fmt: skip
    """The normalized margin (eq. 3) of ``w = scale (a_1 w_*, ..., a_m w_*)``: every neuron on
    the data's max-margin direction, with its output sign. For large ``scale`` this is the
    network's margin along ``w_*`` (the ``phi(0)`` offset is negligible)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale={scale!r} must be finite and > 0")
    w = torch.as_tensor(w_star, dtype=torch.float64).reshape(-1)
    W = scale * net.a.view(-1, 1) * (w / w.norm()).view(1, -1)
    q = y * net.forward(W.unsqueeze(0), X.to(torch.float64))[0]
    return float(q.min() / W.norm())


@dataclass(frozen=True)
class Figure4Analysis:
    """Figure 4 per stepsize: the network's and each neuron's margins (spec §5).

    Per run k: ``positive_from[k]``: the first recorded step with ``q_min > 0`` (None if never);
    ``neuron_max_phi[k]``, ``neuron_max_linear[k]``: the largest per-neuron margin over the
    recorded steps ``t >= 1`` and the neurons, for the two definitions
    ``min_i y_i a_j phi(x_i^T w_j)/||w_j||`` and ``min_i y_i a_j x_i^T w_j/||w_j||``;
    ``neuron_init_phi[k]``, ``neuron_init_linear[k]``: the same at ``t = 0``;
    ``final_margin[k]``: ``gamma-bar`` at the last step and ``tail_increase[k]`` its change over
    the last half of the record. ``data_margin``: the data's max margin ``gamma`` (Assumption 3);
    ``aligned``: :func:`aligned_margin` of the network.
    """

    lrs: tuple[float, ...]
    etas: tuple[float, ...]
    steps: int
    positive_from: tuple[int | None, ...]
    neuron_max_phi: tuple[float, ...]
    neuron_max_linear: tuple[float, ...]
    neuron_init_phi: tuple[float, ...]
    neuron_init_linear: tuple[float, ...]
    final_margin: tuple[float, ...]
    tail_increase: tuple[float, ...]
    data_margin: float
    aligned: float
    arrays: Mapping[str, np.ndarray] = field(repr=False)


def figure4_analysis(arrays: Mapping[str, np.ndarray], data: Dataset,
                     activation: str = "leaky_softplus_half") -> Figure4Analysis:  # fmt: skip
    """Analyse Figure 4's runs from their arrays (``lr``, ``eta``, ``steps``, ``min_margin`` or
    ``normalized_margin``, ``neuron_margins``, ``neuron_linear_margins``, as recorded by
    :func:`gdlab.stepsize.gd.train` with ``per_neuron=True``, e.g. the ``fig4`` recipe's
    ``Result.arrays``) on ``data`` (the five points), for the network ``m = 2``,
    ``a = (+1, -1)`` with ``activation``."""
    required = (
        "lr",
        "eta",
        "steps",
        "normalized_margin",
        "neuron_margins",
        "neuron_linear_margins",
    )
    missing = [key for key in required if key not in arrays]
    if missing:
        raise ValueError(f"Figure 4 arrays lack {missing}; need {list(required)}")
    steps = np.asarray(arrays["steps"])
    gbar = np.asarray(arrays["normalized_margin"])
    phi_m = np.asarray(arrays["neuron_margins"])
    lin_m = np.asarray(arrays["neuron_linear_margins"])
    later = steps >= 1
    half = steps >= steps[-1] / 2
    positive = [np.flatnonzero(g > 0) for g in gbar]
    w_star, gamma = max_margin_direction(data.X, data.y)
    net = TwoLayerNet(get_activation(activation), torch.tensor([1.0, -1.0]))
    return Figure4Analysis(
        lrs=tuple(float(v) for v in arrays["lr"]),
        etas=tuple(float(v) for v in arrays["eta"]),
        steps=int(steps[-1]),
        positive_from=tuple(None if p.size == 0 else int(steps[p[0]]) for p in positive),
        neuron_max_phi=tuple(float(x[later].max()) for x in phi_m),
        neuron_max_linear=tuple(float(x[later].max()) for x in lin_m),
        neuron_init_phi=tuple(float(x[0].max()) for x in phi_m),
        neuron_init_linear=tuple(float(x[0].max()) for x in lin_m),
        final_margin=tuple(float(g[-1]) for g in gbar),
        tail_increase=tuple(float(g[half][-1] - g[half][0]) for g in gbar),
        data_margin=float(gamma),
        aligned=aligned_margin(net, data.X, data.y, w_star),
        arrays=dict(arrays),
    )

"""The finite first phase and acceleration: chapter-level computations (spec §3.2, §3.3, §7).

Two studies, one per chapter, each built on one vectorized sweep per horizon
(:func:`gdlab.stepsize.sweeps.run_sweep`):

- :func:`first_phase_study` trains a stepsize sweep and measures, for every stepsize, when the
  oscillating first phase ends: ``s*``, the first step satisfying the width-free eq. (5) of
  Theorem 4.1, and the first step after which the risk never increases again. It compares them
  with Theorem 4.1's transition time ``tau`` (resolved as in spec §6.3) and checks Theorem 3.2's
  average-risk bound at every step (:func:`gdlab.stepsize.certify.certify_first_phase`).
- :func:`budget_study` trains, for every budget ``T`` of a grid (one call per budget), GD with
  ``eta = c T`` for a few constants ``c`` (the schedule of Corollary 4.2), once with Corollary
  4.2's own stepsize, and with a grid of fixed stepsizes, among which the best run whose risk
  never increases is selected (Theorem 4.3 bounds such runs below by ``c_0 / t``).

Stepsizes: ``eta`` is the per-neuron stepsize of Theorems 3.2-4.3 and Corollary 4.2; GD steps
with ``lr = m eta`` on the stacked parameter (spec §1). "Monotone" always means: no risk
increase beyond the float64 rounding allowance of :mod:`gdlab.stepsize.certify`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
import torch

from gdlab.data import Dataset, max_margin_direction
from gdlab.stats import LineFit, loglog_fit
from gdlab.stepsize import certify
from gdlab.stepsize import theory as th
from gdlab.stepsize.certify import Verdict, VerdictTable
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult, run_sweep
from gdlab.stepsize.theory import ProblemConstants

__all__ = [
    "BudgetStudy",
    "FirstPhaseStudy",
    "budget_study",
    "first_phase_study",
    "format_risk",
    "theorem32_informative_from",
]

ExitKind = Literal["monotone_from", "s_star"]


def _positive_vector(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array of finite positive numbers."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not bool(np.all(np.isfinite(arr) & (arr > 0))):
        raise ValueError(f"{name} must be finite and > 0, got {arr.tolist()}")
    return arr


def _certificate(dataset: Dataset, separable: bool) -> tuple[torch.Tensor | None, float | None]:
    """Assumption 3's ``(w_*, gamma)`` from the hard-margin SVM, or ``(None, None)``."""
    if not separable:
        return None, None
    return max_margin_direction(dataset.X, dataset.y)


def _final_margins(sweep: SweepResult) -> np.ndarray:
    """``q_i(w_T) = y_i f(w_T; x_i)`` of every run, shape (K, n)."""
    X, y = sweep.dataset.X, sweep.dataset.y
    W = sweep.traj.w_final.to(X.dtype)
    return (sweep.net.forward(W, X) * y).numpy()


def format_risk(log_risk: float) -> str:
    """``exp(log_risk)`` in scientific notation, also below the float64 range (``2.4e-400``)."""
    exponent = math.floor(log_risk / math.log(10))
    mantissa = math.exp(log_risk - exponent * math.log(10))
    if mantissa >= 9.995:  # rounding to 3 digits would print 10.0
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent:+03d}"


def _tagged(rows: list[Verdict], tag: str) -> VerdictTable:
    """The rows as a table, every claim prefixed with ``tag`` (when given)."""
    if not tag:
        return VerdictTable(rows)
    return VerdictTable([replace(row, claim=f"{tag}: {row.claim}") for row in rows])


# ----------------------------------------------------------------------------- first phase


def theorem32_informative_from(
    c: ProblemConstants, level: float = math.log(2), t_max: float = 1e15
) -> float:
    """The first step ``t`` from which Theorem 3.2's bound stays at or below ``level``.

    The bound ``(A + 8 log^2(g t)/alpha^2)/(g t) + ||w_0||^2/(m eta t)`` (``g = gamma^2 eta``,
    ``A = 1 + 8 kappa^2/alpha^2 + eta^2``) decreases in ``t`` once ``g t >= e^2``; below
    ``level = L(w_0) ~ log 2`` it says more than "the risk did not grow". Returns the integer
    step (the bound is scanned on a geometric grid up to ``t_max``, then bisected), ``inf`` when
    the bound is still above ``level`` at ``t_max``.
    """
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"level={level!r} must be finite and > 0")
    if not (math.isfinite(t_max) and t_max > 1):
        raise ValueError(f"t_max={t_max!r} must be finite and > 1")
    t = np.geomspace(1.0, t_max, 4001)
    above = np.flatnonzero(th.theorem32_average_risk_bound(c, t) > level)
    if above.size == 0:
        return 1.0
    if above[-1] == t.size - 1:
        return math.inf
    lo, hi = math.floor(t[above[-1]]), math.ceil(t[above[-1] + 1])
    while hi - lo > 1:  # invariant: bound(lo) > level >= bound(hi)
        mid = (lo + hi) // 2
        if th.theorem32_average_risk_bound(c, mid) > level:
            lo = mid
        else:
            hi = mid
    return float(hi)


@dataclass
class FirstPhaseStudy:
    """A stepsize sweep on one dataset and when each run's first (oscillating) phase ends.

    ``sweep.constants[k]`` carries Assumption 3 (``gamma``, ``w_*``) when the study was built
    with ``separable=True``; Theorems 3.2 and 4.1 also need ``alpha > 0`` (Assumption 2A).
    """

    sweep: SweepResult

    @property
    def eta(self) -> np.ndarray:
        """The per-neuron stepsizes ``eta = lr / m`` of the K runs."""
        return self.sweep.traj.eta.numpy()

    @property
    def steps(self) -> int:
        """The common horizon T."""
        return int(self.sweep.traj.steps[-1])

    @cached_property
    def s_star(self) -> np.ndarray:
        """``s*``: the first step with ``L_t <= min{1/(2 n e^(kappa+2)), 1/(eta R^2 (4 + 2
        beta~))}`` (the width-free eq. (5) of Theorem 4.1), NaN where never reached."""
        return np.array(
            [
                np.nan if s is None else float(s)
                for s in (
                    certify.first_step_condition5(self.sweep.run(k), c, width_free=True)
                    for k, c in enumerate(self.sweep.constants)
                )
            ]
        )

    @cached_property
    def monotone_from(self) -> np.ndarray:
        """The first step after which the risk never increases (0: monotone throughout)."""
        return np.array([self.sweep.monotone_from(k) for k in range(len(self.eta))])

    @cached_property
    def first_increase(self) -> np.ndarray:
        """The first step whose successor has a larger risk, NaN for monotone runs."""
        values = (self.sweep.first_increase(k) for k in range(len(self.eta)))
        return np.array([np.nan if v is None else float(v) for v in values])

    @property
    def oscillates(self) -> np.ndarray:
        """Whether the risk of each run increases at some step (the run has a first phase)."""
        return ~np.isnan(self.first_increase)

    @cached_property
    def final_margins(self) -> np.ndarray:
        """``q_i(w_T) = y_i f(w_T; x_i)``, shape (K, n)."""
        return _final_margins(self.sweep)

    @property
    def final_preactivations(self) -> np.ndarray:
        """``x_i^T w_T^(j)`` of every run, neuron and point, shape (K, m, n)."""
        X = self.sweep.dataset.X
        return (self.sweep.traj.w_final.to(X.dtype) @ X.T).numpy()

    @cached_property
    def certificates(self) -> list[VerdictTable]:
        """:func:`~gdlab.stepsize.certify.certify_first_phase` of every run (Theorems 3.2, 4.1,
        Lemmas B.1, B.2, C.3). Raises ValueError when Assumption 2A or 3 is missing."""
        return [
            certify.certify_first_phase(self.sweep.run(k), c)
            for k, c in enumerate(self.sweep.constants)
        ]

    @cached_property
    def tau(self) -> np.ndarray:
        """Theorem 4.1's transition time ``tau`` (spec §6.3) of every run."""
        return np.array([th.theorem41_tau(c) for c in self.sweep.constants])

    @property
    def rate_peak(self) -> np.ndarray:
        """``max_{t > s*} L_t (t - s*) alpha^2 gamma^2 eta`` per run (NaN before ``s*``);
        Theorem 4.1 prints 2, the lemmas prove 8 (spec §6.4)."""
        peaks = (table.facts["rate peak"] for table in self.certificates)
        return np.array([np.nan if p is None else float(p) for p in peaks])

    def running_average(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(t, (1/t) sum_{j<t} L(w_j))`` for ``t = 1..T`` (needs every step recorded)."""
        risk = self.sweep.traj.risk[k].numpy()
        if risk.size != self.steps + 1:
            raise ValueError("running_average needs every step recorded (record_every=1)")
        t = np.arange(1, self.steps + 1, dtype=np.float64)
        return t, np.cumsum(risk[:-1]) / t

    def theorem32_bound(self, k: int) -> np.ndarray:
        """Theorem 3.2's bound on the running average at ``t = 1..T`` for run k."""
        t = np.arange(1, self.steps + 1, dtype=np.float64)
        return th.theorem32_average_risk_bound(self.sweep.constants[k], t)

    def average_risk_ratio(self) -> np.ndarray:
        """``max_t`` (running average / Theorem 3.2 bound) of every run (<= 1 if it holds)."""
        return np.array(
            [
                float(np.max(self.running_average(k)[1] / self.theorem32_bound(k)))
                for k in range(len(self.eta))
            ]
        )

    def exit_fit(self, kind: ExitKind = "monotone_from", eta_min: float = 0.0) -> LineFit:
        """Log-log fit of an exit time against ``eta`` over the oscillating runs with
        ``eta >= eta_min`` where that exit time was reached (``kind``: ``"monotone_from"`` or
        ``"s_star"``). Theorem 4.1: ``s* <= tau = O(eta)`` for large ``eta``."""
        if kind not in ("monotone_from", "s_star"):
            raise ValueError(f"kind={kind!r}; allowed: 'monotone_from', 's_star'")
        values = self.monotone_from.astype(np.float64) if kind == "monotone_from" else self.s_star
        keep = self.oscillates & (self.eta >= eta_min) & np.isfinite(values) & (values > 0)
        if int(keep.sum()) < 2:
            raise ValueError(
                f"exit_fit needs >= 2 oscillating runs with eta >= {eta_min:g} and a positive "
                f"{kind}; got {int(keep.sum())}"
            )
        return loglog_fit(self.eta[keep], values[keep])

    @property
    def has_theory(self) -> bool:
        """Whether Theorems 3.2 and 4.1 apply: Assumption 3 attached and ``alpha > 0``."""
        return all(c.gamma is not None and c.alpha > 0 for c in self.sweep.constants)

    def verdicts(self, eta_min: float = 0.0, sublinear: float = 0.5, tag: str = "") -> VerdictTable:
        """The chapter's verdicts over all runs: Theorem 3.2 at every step, Lemmas B.1, B.2,
        C.3, ``s* <= tau``, the stable rate with the safe factor 8 and the printed 2 (§6.4), and
        the exit time's growth in ``eta`` (the exponent fitted for ``eta >= eta_min`` against
        Theorem 4.1's 1, and against ``sublinear``). ``tag`` prefixes every claim."""
        tables = self.certificates

        def rows_of(*claims: str) -> list[Verdict]:
            return [v for table in tables for v in table if v.claim.startswith(claims)]

        def worst(rows: list[Verdict]) -> float | None:
            return min((v.worst_slack for v in rows), default=None)

        rows: list[Verdict] = []
        thm32 = rows_of("Theorem 3.2")
        rows.append(
            Verdict(
                "running mean of L_t <= Theorem 3.2 bound at every t",
                "Theorem 3.2",
                float(self.average_risk_ratio().max()),
                1.0,
                all(v.holds for v in thm32) and len(thm32) == len(tables),
                worst(thm32),
                None,
                f"measured: max over {len(tables)} runs and t = 1..{self.steps} of mean/bound",
            )
        )
        lemmas = rows_of("Lemma B", "Lemma C.3")
        rows.append(
            Verdict(
                "Lemmas B.1, B.2, C.3 at every step",
                "App. B, Lemma C.3",
                float(sum(v.holds for v in lemmas)),
                float(len(lemmas)),
                all(v.holds for v in lemmas) and bool(lemmas),
                worst(lemmas),
                None,
                "measured: checks that hold; bound: checks made",
            )
        )
        reached = np.isfinite(self.s_star)
        s_over_tau = self.s_star[reached] / self.tau[reached]
        tau_rows = rows_of("s* <= tau")
        rows.append(
            Verdict(
                "s* <= tau",
                "Theorem 4.1",
                float(s_over_tau.max()) if reached.any() else np.nan,
                1.0,
                all(v.holds for v in tau_rows) and bool(reached.any()),
                worst(tau_rows),
                None,
                f"measured: max s*/tau over the {int(reached.sum())} of {reached.size} runs "
                f"reaching eq. (5) by T = {self.steps}",
            )
        )
        rate = rows_of("Theorem 4.1 rate")
        peak = float(np.nanmax(self.rate_peak)) if rate else np.nan
        printed = th.THEOREM41_FACTORS["printed"]
        rows.append(
            Verdict(
                "L_t (t - s*) alpha^2 gamma^2 eta <= 8",
                "Theorem 4.1 / Lemma C.4 (spec §6.4)",
                peak,
                th.THEOREM41_FACTORS["safe"],
                all(v.holds for v in rate) and bool(rate),
                worst(rate),
                None,
                f"max over the runs past s*; the printed factor {printed:g} "
                f"{'holds' if peak <= printed else 'FAILS'}",
            )
        )
        fit = self.exit_fit("monotone_from", eta_min)
        note = f"log-log slope of the monotone-from step, eta >= {eta_min:g} (r^2 = {fit.r2:.2f})"
        rows.append(
            Verdict(
                "exit time grows at most like eta",
                "Theorem 4.1 (tau = O(eta))",
                fit.slope,
                1.0,
                fit.slope <= 1.0,
                1.0 - fit.slope,
                None,
                f"{note}; absolute slack",
            )
        )
        rows.append(
            Verdict(
                f"exit time grows slower than eta^{sublinear:g}",
                "measured (not a claim of the paper)",
                fit.slope,
                sublinear,
                fit.slope <= sublinear,
                sublinear - fit.slope,
                None,
                f"{note}; absolute slack",
            )
        )
        return _tagged(rows, tag)

    def summary(self) -> str:
        """A text table: eta, first increase, monotone-from step, s*, tau, final risk."""
        lines = [
            f"{'eta':>9} {'1st increase':>12} {'monotone from':>13} {'s*':>8} "
            f"{'tau':>9} {'L(w_T)':>10}"
        ]
        tau = self.tau if self.has_theory else np.full(self.eta.size, np.nan)
        log_risk = self.sweep.traj.log_risk[:, -1].numpy()

        def cell(x: float, fmt: str) -> str:
            return "-" if np.isnan(x) else format(x, fmt)

        for k, eta in enumerate(self.eta):
            lines.append(
                f"{eta:>9.3g} {cell(self.first_increase[k], '.0f'):>12} "
                f"{self.monotone_from[k]:>13d} {cell(self.s_star[k], '.0f'):>8} "
                f"{cell(tau[k], '.2e'):>9} {format_risk(log_risk[k]):>10}"
            )
        return "\n".join(lines)


def first_phase_study(
    dataset: Dataset,
    net: TwoLayerNet,
    etas: Sequence[float] | np.ndarray,
    steps: int,
    *,
    init_scale: float = 0.1,
    seed: int = 0,
    separable: bool = True,
) -> FirstPhaseStudy:
    """GD with every per-neuron stepsize of ``etas`` (``lr = m eta``) for ``steps`` steps, all
    in one vectorized call from one random initialisation, every step recorded.

    With ``separable=True`` the hard-margin SVM direction ``(w_*, gamma)`` (Assumption 3) is
    computed, recorded along the run (``<w_t, bar-w_*>``, for Lemmas B.1, B.2, C.3) and attached
    to the constants; it raises ValueError if the data are not linearly separable.
    """
    eta = _positive_vector("etas", etas)
    w_star, gamma = _certificate(dataset, separable)
    sweep = run_sweep(
        dataset,
        net,
        eta * net.m,
        steps,
        init_scale=init_scale,
        seed=seed,
        w_star=w_star,
        gamma=gamma,
    )
    return FirstPhaseStudy(sweep)


# ----------------------------------------------------------------------------- acceleration


@dataclass
class BudgetStudy:
    """GD runs for every budget ``T``: ``eta = c T`` for each constant ``c`` (Corollary 4.2's
    schedule), Corollary 4.2's own ``eta``, and a fixed grid of stepsizes (Theorem 4.3).

    ``sweeps[b]`` holds the runs of budget ``budgets[b]`` in the order: the ``C`` proportional
    runs, the Corollary 4.2 run, the ``G`` grid runs.
    """

    budgets: np.ndarray
    constants: np.ndarray
    grid: np.ndarray
    sweeps: list[SweepResult]
    w0_zero: bool

    @property
    def dataset(self) -> Dataset:
        """The training data."""
        return self.sweeps[0].dataset

    @property
    def problem(self) -> ProblemConstants:
        """The constants of the problem (those of the first run; ``lr`` is irrelevant here)."""
        return self.sweeps[0].constants[0]

    @property
    def _paper(self) -> int:
        return self.constants.size

    @property
    def _grid(self) -> slice:
        return slice(self.constants.size + 1, self.constants.size + 1 + self.grid.size)

    @cached_property
    def monotone(self) -> np.ndarray:
        """(B, K) whether each run's risk never increases (beyond rounding)."""
        return np.array(
            [[s.first_increase(k) is None for k in range(s.traj.num_runs)] for s in self.sweeps]
        )

    @cached_property
    def final_log_risk(self) -> np.ndarray:
        """(B, K) ``log L(w_T)`` of every run (exact also where ``L`` underflows float64)."""
        return np.stack([s.traj.log_risk[:, -1].numpy() for s in self.sweeps])

    @property
    def proportional_log_risk(self) -> np.ndarray:
        """(B, C) ``log L(w_T)`` with ``eta = c T``."""
        return self.final_log_risk[:, : self.constants.size]

    @property
    def paper_eta(self) -> np.ndarray:
        """(B,) Corollary 4.2's ``eta = alpha^2 gamma^2 T / (256 (1 + 4 kappa) c_2)``."""
        return th.corollary42_stepsize(self.problem, self.budgets)

    @property
    def paper_risk(self) -> np.ndarray:
        """(B,) ``L(w_T)`` with Corollary 4.2's stepsize."""
        return np.exp(self.final_log_risk[:, self._paper])

    def paper_bound(self, factor: Literal["printed", "derived", "safe"] = "safe") -> np.ndarray:
        """(B,) Corollary 4.2's bound ``factor (1 + 4 kappa) c_2 / (alpha^4 gamma^4 T^2)``."""
        return th.corollary42_risk_bound(self.problem, self.budgets, th.COROLLARY42_FACTORS[factor])

    @property
    def budget_condition(self) -> int:
        """The smallest budget for which Corollary 4.2 applies (its ``T >= ...`` condition)."""
        return th.corollary42_budget(self.problem)

    @property
    def vacuous_below(self) -> float:
        """The budget below which the safe Corollary 4.2 bound exceeds ``L(w_0)``."""
        L0 = float(self.sweeps[0].traj.risk[0, 0])
        return float(np.sqrt(self.paper_bound("safe")[0] * self.budgets[0] ** 2 / L0))

    def _grid_monotone(self) -> np.ndarray:
        mono = self.monotone[:, self._grid]
        if not bool(mono.any(axis=1).all()):
            raise ValueError("some budget has no monotone run in the stepsize grid")
        return mono

    @cached_property
    def best_monotone(self) -> np.ndarray:
        """(B,) index into ``grid`` of the monotone grid run with the smallest ``L(w_T)``."""
        mono = self._grid_monotone()
        log_risk = np.where(mono, self.final_log_risk[:, self._grid], np.inf)
        return np.argmin(log_risk, axis=1)

    @property
    def best_monotone_eta(self) -> np.ndarray:
        """(B,) the best monotone stepsize of each budget."""
        return self.grid[self.best_monotone]

    @property
    def best_monotone_risk(self) -> np.ndarray:
        """(B,) its final risk."""
        rows = np.arange(self.budgets.size)
        return np.exp(self.final_log_risk[:, self._grid][rows, self.best_monotone])

    @property
    def monotone_bracket(self) -> np.ndarray:
        """(B, 2): the largest grid stepsize whose run is monotone and the next grid stepsize
        (inf if none): the largest monotone stepsize lies between them."""
        mono = self._grid_monotone()
        out = np.full((self.budgets.size, 2), np.inf)
        for b, row in enumerate(mono):
            top = int(np.flatnonzero(row).max())
            out[b, 0] = self.grid[top]
            if top + 1 < self.grid.size:
                out[b, 1] = self.grid[top + 1]
        return out

    @property
    def all_larger_oscillate(self) -> bool:
        """Whether, at every budget, every run (grid and ``eta = c T`` alike) with a stepsize at
        or above the upper end of :attr:`monotone_bracket` has a risk increase."""
        above = self.all_etas >= self.monotone_bracket[:, 1:]
        return bool(np.isfinite(self.monotone_bracket[:, 1]).all() and ~self.monotone[above].any())

    @property
    def all_etas(self) -> np.ndarray:
        """(B, K) the per-neuron stepsize of every run."""
        return np.stack([s.traj.eta.numpy() for s in self.sweeps])

    def scaled_risk_floor(self) -> tuple[float, int]:
        """``(min t L(w_t), argmin t)`` over the monotone grid runs of the largest budget and
        ``1 <= t <= T``: Theorem 4.3's ``c_0`` as measured, and the step where it is attained."""
        mono = self._grid_monotone()[-1]
        sweep = self.sweeps[-1]
        t = sweep.traj.steps.numpy()[1:]
        scaled = sweep.traj.risk[self._grid].numpy()[mono][:, 1:] * t
        k, i = np.unravel_index(int(np.argmin(scaled)), scaled.shape)
        return float(scaled[k, i]), int(t[i])

    def proportional_fit(self, c: float) -> LineFit:
        """Log-log fit of ``L(w_T)`` against ``T`` with ``eta = c T``."""
        return loglog_fit(
            self.budgets, log_y=self.proportional_log_risk[:, self._constant_index(c)]
        )

    def monotone_fit(self) -> LineFit:
        """Log-log fit of the best monotone ``L(w_T)`` against ``T``."""
        return loglog_fit(self.budgets, self.best_monotone_risk)

    def _constant_index(self, c: float) -> int:
        hit = np.flatnonzero(np.isclose(self.constants, c, rtol=1e-12, atol=0.0))
        if hit.size == 0:
            raise ValueError(f"c={c!r} is not one of the constants {self.constants.tolist()}")
        return int(hit[0])

    def proportional_exit(self, c: float) -> np.ndarray:
        """(B,) the monotone-from step of the ``eta = c T`` run at each budget."""
        j = self._constant_index(c)
        return np.array([s.monotone_from(j) for s in self.sweeps])

    def figure_constant(self) -> float:
        """The smallest ``c`` whose ``eta = c T`` runs oscillate at every budget: the schedule
        that leaves the monotone regime from the first budget on. Raises ValueError if none."""
        oscillating = ~self.monotone[:, : self.constants.size].any(axis=0)
        if not oscillating.any():
            raise ValueError(
                f"no constant in {self.constants.tolist()} makes every eta = c T run oscillate; "
                "add larger constants"
            )
        return float(self.constants[oscillating].min())

    def verdicts(self, c: float, steeper_by: float = 1.0, tag: str = "") -> VerdictTable:
        """The chapter's verdicts for the schedule ``eta = c T`` against the best monotone runs:
        slopes (Corollary 4.2: <= -2; Theorem 4.3: the monotone envelope ~ 1/T), (a) steeper
        than (b) by at least ``steeper_by``, Corollary 4.2's safe bound at every budget run, and
        Theorem 4.3's two facts (finite largest monotone stepsize, ``t L_t`` bounded below).
        ``tag`` prefixes every claim."""
        fa, fb = self.proportional_fit(c), self.monotone_fit()
        T = self.budgets
        scaled_b = T * self.best_monotone_risk
        spread = float(scaled_b.max() / scaled_b.min())
        rows = [
            Verdict(
                "eta = c T: L(w_T) decays at least like T^-2",
                "Corollary 4.2",
                fa.slope,
                -2.0,
                fa.slope <= -2.0,
                -2.0 - fa.slope,
                None,
                f"log-log slope over T = {T[0]}..{T[-1]}, c = {c:g} (r^2 = {fa.r2:.2f}); "
                "absolute slack",
            ),
            Verdict(
                "best monotone run: T L(w_T) within a factor 2 over the budgets",
                "Theorem 4.3 + stable rate 1/(eta t)",
                spread,
                2.0,
                spread <= 2.0,
                2.0 - spread,
                None,
                f"measured: max/min of T L(w_T); log-log slope {fb.slope:.3f} "
                f"(r^2 = {fb.r2:.3f}); absolute slack",
            ),
            Verdict(
                f"(a) steeper than (b) by at least {steeper_by:g}",
                "Corollary 4.2 vs Theorem 4.3",
                fa.slope - fb.slope,
                -steeper_by,
                fa.slope - fb.slope <= -steeper_by,
                -steeper_by - (fa.slope - fb.slope),
                None,
                "measured: slope (a) - slope (b); absolute slack",
            ),
        ]
        ratio = self.paper_risk / self.paper_bound("safe")
        rows.append(
            Verdict(
                "L(w_T) <= safe Corollary 4.2 bound with its stepsize",
                "Corollary 4.2 (factor 4096, spec §6.6)",
                float(ratio.max()),
                1.0,
                bool(np.all(ratio <= 1.0)),
                float(1.0 - ratio.max()),
                None,
                f"measured: max L(w_T)/bound over the budgets run; its budget condition "
                f"T >= {self.budget_condition:.3g} holds at none of them, and the bound exceeds "
                f"L(w_0) below T = {self.vacuous_below:.3g}",
            ),
        )
        setting = (
            "the theorem's setting"
            if self.dataset.name == "two_point" and self.w0_zero
            else "outside the theorem's setting (w_0 != 0 or other data)"
        )
        bracket = self.monotone_bracket
        rows.append(
            Verdict(
                "the largest monotone stepsize is finite",
                "Theorem 4.3",
                float(bracket[:, 0].max()),
                float(bracket[:, 1].min()),
                self.all_larger_oscillate,
                None,
                None,
                "measured: the largest monotone grid stepsize over the budgets; bound: the "
                f"smallest stepsize from which every run oscillates at every budget; {setting}",
            )
        )
        floor, at = self.scaled_risk_floor()
        rows.append(
            Verdict(
                "monotone runs: min_(t>=1) t L_t stays bounded below",
                "Theorem 4.3",
                float(at),
                float(T[0]),
                at <= T[0],
                None,
                None,
                f"measured: the step where min_(1<=t<={T[-1]}) t L_t = {floor:.3g} is attained, "
                f"over all monotone runs; bound: the smallest budget (a longer horizon found no "
                f"smaller t L_t); {setting}",
            )
        )
        log_a = self.proportional_log_risk[-1, self._constant_index(c)]
        log10_a = float(np.log10(T[-1]) + log_a / math.log(10))
        rows.append(
            Verdict(
                "eta = c T ends below every monotone run's t L_t",
                "Corollary 4.2 vs Theorem 4.3",
                log10_a,
                math.log10(floor),
                log10_a < math.log10(floor),
                None,
                None,
                f"measured: log10 of T L(w_T) for eta = c T at T = {T[-1]}; bound: log10 of "
                "min t L_t over the monotone runs",
            )
        )
        return _tagged(rows, tag)

    def summary(self) -> str:
        """A text table per budget: ``L(w_T)`` for each ``c``, Corollary 4.2's run and the best
        monotone run (with its stepsize)."""
        head = " ".join(f"{f'c={c:g}':>10}" for c in self.constants)
        lines = [f"{'T':>7} {head} {'Cor 4.2':>10} {'best mono':>10} {'its eta':>8}"]
        for b, T in enumerate(self.budgets):
            row = " ".join(f"{format_risk(x):>10}" for x in self.proportional_log_risk[b])
            lines.append(
                f"{T:>7d} {row} {self.paper_risk[b]:>10.2e} {self.best_monotone_risk[b]:>10.2e} "
                f"{self.best_monotone_eta[b]:>8.3g}"
            )
        return "\n".join(lines)


def budget_study(
    dataset: Dataset,
    net: TwoLayerNet,
    budgets: Sequence[int] | np.ndarray,
    constants: Sequence[float] | np.ndarray,
    grid: Sequence[float] | np.ndarray,
    *,
    w0_zero: bool = False,
    init_scale: float = 0.1,
    seed: int = 0,
) -> BudgetStudy:
    """For every budget ``T`` one vectorized GD call of ``T`` steps with the per-neuron
    stepsizes ``c T`` (each ``c`` of ``constants``), Corollary 4.2's ``eta`` and every ``grid``
    value, from one shared initialisation (``w_0 = 0`` with ``w0_zero``, as in Theorem 4.3,
    else ``N(0, init_scale^2)`` with ``seed``). The data must be linearly separable
    (Corollary 4.2's stepsize needs ``gamma``).
    """
    T = np.asarray(budgets)
    if T.ndim != 1 or T.size < 2 or not np.issubdtype(T.dtype, np.integer):
        raise ValueError(f"budgets must be a 1-D sequence of >= 2 ints, got {budgets!r}")
    if not bool(np.all(T >= 1) and np.all(np.diff(T) > 0)):
        raise ValueError(f"budgets must be >= 1 and increasing, got {T.tolist()}")
    cs = _positive_vector("constants", constants)
    grid_arr = _positive_vector("grid", grid)
    w_star, gamma = _certificate(dataset, True)
    W0 = torch.zeros(net.m, dataset.d, dtype=torch.float64) if w0_zero else None
    sweeps = []
    for budget in T.tolist():
        base = th.problem_constants(net, dataset.X, dataset.y, 1.0, w_star=w_star, gamma=gamma)
        paper = float(th.corollary42_stepsize(base, budget))
        eta = np.concatenate([cs * budget, [paper], grid_arr])
        sweeps.append(
            run_sweep(
                dataset,
                net,
                eta * net.m,
                budget,
                W0=W0,
                init_scale=init_scale,
                seed=seed,
                gamma=gamma,
            )
        )
    return BudgetStudy(T.astype(np.int64), cs, grid_arr, sweeps, w0_zero)

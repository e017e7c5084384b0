"""The stress profile of Part I's theorems (appendix ``book/appendix/stress-tests.md``).

A profile checks the cases ``space.sample(seed, i)``, ``i = 0 .. cases - 1``, of a
:class:`~gdlab.stepsize.stress.CaseSpace` with :func:`~gdlab.stepsize.stress.check_outcome`
(every certificate of :mod:`gdlab.stepsize.certify` on each), ``chunk`` cases per cached unit
keyed by their indices, so a killed profile resumes from its finished chunks. Quick scale is the
small CI space, paper scale the large space.

A shard checks the cases ``start .. stop - 1`` only (settings ``start``, ``stop``; ``python -m
gdlab run stress-tests --start A --stop B``), on the same grid of chunks (``start`` a multiple
of ``chunk``, ``stop`` too or ``cases``): the shards' chunks are the whole profile's, which then
merges them from the cache without checking a case again. The chunks are declared ahead
(:meth:`~gdlab.experiments.study.RunContext.prefetch`), so on Dask they run as parallel tasks.

Claims: every certificate over all cases (one row per claim, the case of least slack, its note
counting the statuses over the cases; a row fails iff some case fails it), no case on which the
checker raises, the Theorem 4.1 rate below even the printed factor 2, and the coverage the
page describes (eq. (5) reached, first-phase cases, every data family drawn).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict

import numpy as np

from gdlab.claims import Claim, ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study, Unit
from gdlab.plotting.stress import figures
from gdlab.stepsize.stress import SPACES, CaseOutcome, CaseSpace, check_outcome
from gdlab.stepsize.theory import THEOREM41_FACTORS
from gdlab.tables import Table

__all__ = [
    "PAPER",
    "QUICK",
    "STUDY",
    "case_claims",
    "check_chunk",
    "chunk_unit",
    "profile_claims",
    "profile_tables",
    "profile_values",
    "run",
]

QUICK: Config = {"space": "ci", "cases": 30, "seed": 1, "chunk": 10, "start": 0, "stop": None}
PAPER: Config = {"space": "large", "cases": 2000, "seed": 0, "chunk": 50, "start": 0, "stop": None}

_COVERAGE = "stress profile coverage"


def _int(config: Config, key: str, low: int, default: int | None = None) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key}={value!r} must be an int >= {low}")
    return value


def _checked_config(config: Config) -> tuple[CaseSpace, int, int, range]:
    """The space, seed, chunk size and the cases (a range) of ``config``; ValueError if
    invalid (a shard off the grid of chunks, or outside the profile)."""
    if config.get("space") not in SPACES:
        raise ValueError(f"space={config.get('space')!r}; allowed: {', '.join(SPACES)}")
    cases, seed, chunk = _int(config, "cases", 1), _int(config, "seed", 0), _int(config, "chunk", 1)
    start = _int(config, "start", 0, default=0)
    stop = cases if config.get("stop") is None else _int(config, "stop", 1)
    if not start < stop <= cases:
        raise ValueError(f"cases [{start}, {stop}) must satisfy 0 <= start < stop <= {cases}")
    if start % chunk or (stop % chunk and stop != cases):
        raise ValueError(
            f"a shard [{start}, {stop}) must start on the grid of chunks of {chunk} cases and end "
            f"on it or at {cases}; allowed: multiples of {chunk}"
        )
    return SPACES[config["space"]], seed, chunk, range(start, stop)


def chunk_unit(space: str, seed: int, start: int, stop: int) -> Unit:
    """The cached unit of cases ``start .. stop - 1`` of the profile ``(space, seed)``, keyed by
    the space's fields, the seed and the indices; its metadata holds the outcomes and the
    seconds they took."""
    case_space = SPACES[space]
    key = {"space": space, "fields": asdict(case_space), "seed": seed, "cases": [start, stop]}

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        began = time.perf_counter()
        outcomes = [check_outcome(i, case_space.sample(seed, i)) for i in range(start, stop)]
        took = time.perf_counter() - began
        return {}, {"outcomes": [o.to_dict() for o in outcomes], "seconds": took}

    return Unit("stress-cases", key, compute)


def check_chunk(
    ctx: RunContext, space: str, seed: int, start: int, stop: int
) -> tuple[list[CaseOutcome], float]:
    """The outcomes of cases ``start .. stop - 1`` (:func:`chunk_unit`, cached) and the
    seconds the unit took to compute."""
    unit = chunk_unit(space, seed, start, stop)
    _, meta = ctx.cached(unit.name, unit.config, unit.compute)
    return [CaseOutcome.from_dict(o) for o in meta["outcomes"]], float(meta["seconds"])


def case_claims(outcomes: list[CaseOutcome]) -> ClaimTable:
    """Every claim of every checked case, its note prefixed with ``case <index>:`` (the
    reproducer is ``space.sample(seed, index)``)."""

    def tagged(claim: Claim, index: int) -> Claim:
        note = f"case {index}: {claim.note}" if claim.note else f"case {index}"
        return Claim.from_dict({**claim.to_dict(), "note": note})

    return ClaimTable(
        tagged(claim, o.index) for o in outcomes if o.claims is not None for claim in o.claims
    )


def _rate_peaks(outcomes: list[CaseOutcome]) -> dict[int, float]:
    """Theorem 4.1's ``max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta`` by case index, over the
    cases whose first phase was checked and reached the width-free eq. (5)."""
    return {
        o.index: o.claims.facts["rate peak"]
        for o in outcomes
        if o.claims is not None and o.claims.facts["rate peak"] is not None
    }


def profile_claims(outcomes: list[CaseOutcome], space: CaseSpace) -> ClaimTable:
    """The claims of a profile (module docstring): the certificates aggregated over the cases,
    then the checker, the printed rate and the coverage."""
    table = case_claims(outcomes).aggregate()
    values = profile_values(outcomes)
    errors = [o.index for o in outcomes if o.error is not None]
    table.add(
        "no case raises", "the checker (gdlab.stepsize.stress)", values["errors"], 0,
        note=f"cases {errors}" if errors else f"{len(outcomes)} cases",
    )  # fmt: skip
    peaks = _rate_peaks(outcomes)
    table.add(
        "Theorem 4.1 rate below the printed factor",
        "Theorem 4.1 as printed (spec §6.4)",
        values["rate_peak"],
        THEOREM41_FACTORS["printed"],
        needs="a first-phase case reaching the width-free eq. (5)",
        note=(f"max over {len(peaks)} cases at case {max(peaks, key=peaks.get)}; " if peaks else "")
        + f"the certificates check the safe factor {THEOREM41_FACTORS['safe']:g}",
    )
    kinds = {o.case.kind for o in outcomes}
    table.add("cases reaching eq. (5)", _COVERAGE, values["s_reached"], 1, relation=">=",
              note="the stable-phase claims after s* are exercised")  # fmt: skip
    table.add("first-phase cases", _COVERAGE, values["first_phase"], 1, relation=">=",
              note="separable, R <= 1, alpha > 0: Theorems 3.2 and 4.1 are checked")  # fmt: skip
    table.add("data families drawn", _COVERAGE, len(kinds), len(space.kinds), relation=">=",
              note=", ".join(sorted(kinds)))  # fmt: skip
    return table


def profile_values(outcomes: list[CaseOutcome]) -> dict[str, int | float | None]:
    """The numbers the page glues: cases, claims tested and untestable, failing (case, claim)
    pairs, failing cases, errors, cases reaching eqs. (4) and (5), first-phase cases, and the
    largest Theorem 4.1 rate factor (None without a first-phase case past s*)."""
    claims = case_claims(outcomes)
    counts = claims.counts()
    checked = [o for o in outcomes if o.claims is not None]
    peaks = _rate_peaks(outcomes)
    return {
        "cases": len(outcomes),
        "checks": len(claims) - counts["untestable"],
        "untestable": counts["untestable"],
        "violations": counts["fails"],
        "failing": sum(not o.claims.ok for o in checked),
        "errors": len(outcomes) - len(checked),
        "r_reached": sum(o.claims.facts["r*"] is not None for o in checked),
        "s_reached": sum(o.claims.facts["s*"] is not None for o in checked),
        "first_phase": sum(o.case.first_phase_applies for o in checked),
        "rate_peak": max(peaks.values()) if peaks else None,
    }


def _range(value: tuple) -> str:
    return f"[{value[0]:g}, {value[1]:g}]"


def profile_tables(outcomes: list[CaseOutcome]) -> dict[str, Table]:
    """``profiles`` (the quick and paper configurations), ``spaces`` (the CI and large spaces
    side by side), ``coverage`` (cases per data family and activation) and ``findings`` (every
    case with a failing claim or an error, with its reproducer)."""
    profiles = Table(
        ["scale", "space", "cases", "seed", "cases per cached unit"],
        [[scale, c["space"], c["cases"], c["seed"], c["chunk"]]
         for scale, c in (("quick", QUICK), ("paper", PAPER))],
    )  # fmt: skip
    ci, large = asdict(SPACES["ci"]), asdict(SPACES["large"])
    ranges = [k for k in ci if k not in ("kinds", "activations")]
    spaces = Table(
        ["field", "CI profile (quick)", "large profile (paper)"],
        [[k, _range(ci[k]), _range(large[k])] for k in ranges],
        caption="Ranges are inclusive; log10_* fields are drawn log-uniformly.",
    )
    kinds = Counter(o.case.kind for o in outcomes)
    acts = Counter(o.case.activation for o in outcomes)
    coverage = Table(
        ["data family or activation", "cases"],
        [*sorted(kinds.items()), *sorted(acts.items())],
    )
    rows = [
        [o.index, o.error or "fails: " + ", ".join(c.name for c in o.claims.failures), repr(o.case)]
        for o in outcomes
        if o.error is not None or not o.claims.ok
    ]
    findings = Table(["case", "finding", "reproducer"], rows, caption=f"{len(rows)} cases")
    return {"profiles": profiles, "spaces": spaces, "coverage": coverage, "findings": findings}


def run(config: Config, ctx: RunContext) -> Result:
    """The profile (or shard) of ``config`` chunk by chunk (cached), its claims, values and
    tables."""
    space, seed, chunk, cases = _checked_config(config)
    bounds = [(a, min(a + chunk, cases.stop)) for a in range(cases.start, cases.stop, chunk)]
    ctx.prefetch(chunk_unit(config["space"], seed, a, b) for a, b in bounds)
    outcomes: list[CaseOutcome] = []
    seconds = 0.0
    for a, b in ctx.steps(bounds, desc=f"stress {config['space']}", total=len(bounds)):
        part, took = check_chunk(ctx, config["space"], seed, a, b)
        outcomes += part
        seconds += took
    return Result(
        study="stress-tests",
        scale="",
        config=config,
        arrays={
            "eta": np.array([o.case.eta for o in outcomes]),
            "steps": np.array([o.case.steps for o in outcomes]),
            "reached": np.array([o.reached for o in outcomes]),
        },
        values={
            **profile_values(outcomes),
            "profile": config["space"],
            "seed": seed,
            "first_case": cases.start,
            "seconds": seconds,
        },
        tables=profile_tables(outcomes),
        claims=profile_claims(outcomes, space),
    )


STUDY = Study(
    name="stress-tests",
    title="Stress-testing the theorems",
    chapter="book/appendix/stress-tests.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)

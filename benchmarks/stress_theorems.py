"""The large stress profile of Part I's theorems from the command line (a script, not a test).

Draws random cases from :data:`gdlab.stepsize.stress.LARGE_SPACE` (or ``--space ci``), checks
every certificate of each (:func:`gdlab.stepsize.stress.check_case`), prints a table of the
worst slack per claim, the coverage and a reproducer for every violation, and writes the JSON
summary. Example::

    python benchmarks/stress_theorems.py --cases 2000 --seed 0 --out results/stress.json

``--max-seconds`` stops early (the cases checked are then a prefix of the same sequence);
``--threads`` pins torch's CPU threads (default 1, polite on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from gdlab.stepsize.certify import VerdictTable
from gdlab.stepsize.stress import CI_SPACE, LARGE_SPACE, Case, run_profile

SPACES = {"large": LARGE_SPACE, "ci": CI_SPACE}


def main(argv: list[str] | None = None) -> int:
    """Run the profile; exit status 1 when a violation or an error was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="number of cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="profile seed (default 0)")
    parser.add_argument("--out", default="results/stress.json", help="JSON summary path")
    parser.add_argument("--space", choices=sorted(SPACES), default="large")
    parser.add_argument("--max-seconds", type=float, default=None, help="wall-time budget")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--every", type=int, default=100, help="progress line every N cases")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    def progress(i: int, case: Case, outcome: VerdictTable | BaseException) -> None:
        bad = isinstance(outcome, BaseException) or not outcome.all_hold
        if bad:
            print(f"case {i}: VIOLATION or ERROR: {case!r}", flush=True)
        if (i + 1) % args.every == 0:
            print(f"{i + 1} cases, {time.perf_counter() - start:.0f} s", flush=True)

    summary = run_profile(
        args.cases,
        args.seed,
        space=SPACES[args.space],
        max_seconds=args.max_seconds,
        progress=progress,
    )
    print()
    print(summary.headline())
    print()
    print(summary.table())
    print()
    print("coverage:", ", ".join(f"{k}: {v}" for k, v in summary.coverage.items()))
    if summary.max_rate_peak is not None:
        print(
            f"Theorem 4.1 rate peak max_(t > s*) L_t (t - s*) alpha^2 gamma^2 eta = "
            f"{summary.max_rate_peak:.3g} (printed factor 2, safe factor 8)"
        )
    for rep in summary.reproducers:
        for key in ("claims", "undefined"):
            if rep[key]:
                print(f"{key} {', '.join(rep[key])}: {rep['case']}")
    for err in summary.errors:
        print(f"error {err['error']}: {err['case']}")
    path = summary.save(args.out)
    print(f"summary written to {path}")
    return 0 if summary.clean else 1


if __name__ == "__main__":
    sys.exit(main())

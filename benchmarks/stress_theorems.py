"""The stress profile of Part I's theorems from the command line (a script, not a test).

Runs the ``stress-tests`` study (:mod:`gdlab.studies.stress`) with its configuration at
``--scale`` (default ``paper``: the large space, seed 0), or with ``--cases``, ``--seed``,
``--space``, ``--chunk`` in its place, chunk by chunk through the result cache, so an
interrupted profile resumes from its finished chunks. Prints the claims over all cases, the
numbers of the profile, the coverage and every finding (with its reproducer), and writes the
result as JSON. Example::

    python benchmarks/stress_theorems.py --cases 2000 --seed 0 --out results/stress.json

``--threads`` pins torch's CPU threads (default 1, polite on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import RunContext
from gdlab.runtime import get_device
from gdlab.stepsize.stress import SPACES
from gdlab.studies.stress import STUDY


def main(argv: list[str] | None = None) -> int:
    """Run the profile; exit status 1 when a claim fails (a violation, an error, no coverage)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("quick", "paper"), default="paper")
    parser.add_argument("--cases", type=int, help="number of cases (default: the scale's)")
    parser.add_argument("--seed", type=int, help="profile seed (default: the scale's)")
    parser.add_argument("--space", choices=sorted(SPACES), help="case space (default: the scale's)")
    parser.add_argument("--chunk", type=int, help="cases per cached unit (default: the scale's)")
    parser.add_argument("--out", default="results/stress.json", help="JSON result path")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    config = dict(STUDY.config(args.scale))
    for key in ("cases", "seed", "space", "chunk"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    result = STUDY.run(config, RunContext(get_device(), ResultCache(), progress=True))
    print(result.claims)
    print()
    print(", ".join(f"{k}: {v}" for k, v in result.values.items()))
    print()
    print(result.tables["coverage"])
    print()
    print(result.tables["findings"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "config": config,
        "values": result.values,
        "claims": result.claims.to_dict(),
        "tables": {name: table.to_dict() for name, table in result.tables.items()},
    }
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"result written to {out}")
    return 0 if result.claims.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m gdlab list | run NAME [--scale] [--device] [--out] | report``.

- ``list``: the recipes (one per paper figure), with the scales already cached.
- ``run NAME``: run a recipe (or reuse its cached result), write its figures as PNG and SVG
  and a JSON summary of the measured claims to ``--out`` (default ``results/``), and print
  the claims.
- ``report``: the claims table of every cached result.

The cache folder is ``$GDLAB_CACHE`` (default ``.gdlab-cache``). Bad arguments are usage
errors (exit status 2) naming the bad value and the allowed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are written to files, never shown

import matplotlib.pyplot as plt

from gdlab.experiments import (
    Result,
    ResultCache,
    cached_results,
    get_recipe,
    recipe_names,
    run_recipe,
)
from gdlab.experiments.registry import result_key
from gdlab.runtime import DEVICES, SCALES, RuntimeConfigError, get_device

__all__ = ["build_parser", "main"]


def _recipe_name(value: str) -> str:
    if value not in recipe_names():
        raise argparse.ArgumentTypeError(
            f"unknown recipe {value!r}; known recipes: {', '.join(recipe_names())}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m gdlab``."""
    parser = argparse.ArgumentParser(
        prog="python -m gdlab",
        description="Run the book's experiments (one recipe per paper figure) from the shell.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,report}")
    sub.add_parser("list", help="list the recipes and which scales are cached")
    run = sub.add_parser("run", help="run a recipe, write its figures and claims")
    run.add_argument("name", type=_recipe_name, help="recipe name (see `list`)")
    run.add_argument("--scale", choices=SCALES, default=None, help="default: $GDLAB_SCALE or quick")
    run.add_argument(
        "--device", choices=DEVICES, default=None, help="default: $GDLAB_DEVICE or auto"
    )
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    run.add_argument(
        "--refresh", action="store_true", help="recompute the result (cached runs are reused)"
    )
    sub.add_parser("report", help="print the claims of every cached result")
    return parser


def _cached_scales(name: str, cache: ResultCache) -> list[str]:
    return [scale for scale in SCALES if cache.path(result_key(name, scale)).exists()]


def _list(cache: ResultCache) -> None:
    width = max(len(n) for n in recipe_names())
    for name in recipe_names():
        cached = _cached_scales(name, cache)
        mark = f"  [cached: {', '.join(cached)}]" if cached else ""
        print(f"{name:{width}}  {get_recipe(name).description}{mark}")


def _write(result: Result, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fig_name, fig in result.figures().items():
        for ext in ("png", "svg"):
            path = out / f"{result.recipe}-{result.scale}-{fig_name}.{ext}"
            fig.savefig(path)
            written.append(path)
        plt.close(fig)
    summary = result.summary()
    summary["figures"] = [str(p) for p in written]
    path = out / f"{result.recipe}-{result.scale}.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return [*written, path]


def _run(args: argparse.Namespace, cache: ResultCache) -> None:
    device = get_device(args.device)
    result = run_recipe(
        args.name,
        args.scale,
        device,
        cache,
        progress=sys.stderr.isatty(),
        refresh=args.refresh,
    )
    held = sum(c["holds"] for c in result.claims)
    source = "cache" if result.meta["from_cache"] else f"{result.meta['seconds']:.1f} s"
    print(result.claims_table())
    if result.meta.get("note"):
        print(f"note: {result.meta['note']}")
    print(f"{held} of {len(result.claims)} claims hold ({source}, device {result.meta['device']})")
    for path in _write(result, args.out):
        print(f"wrote {path}")


def _report(cache: ResultCache) -> None:
    results = cached_results(cache)
    if not results:
        print(f"no cached results in {cache.folder}")
        return
    for result in results:
        print(result.claims_table())
    total = sum(len(r.claims) for r in results)
    held = sum(c["holds"] for r in results for c in r.claims)
    print(f"{held} of {total} claims hold across {len(results)} cached results")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gdlab`` and the ``gdlab`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    cache = ResultCache()
    try:
        if args.command == "list":
            _list(cache)
        elif args.command == "run":
            _run(args, cache)
        else:
            _report(cache)
    except RuntimeConfigError as err:
        parser.error(str(err))
    return 0

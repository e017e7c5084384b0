"""Command line: ``python -m gdlab list | run NAME|all [--scale] [--device] [--out] | report``.

- ``list``: the recipes (one per paper figure), with the scales whose result for the current
  settings (``GDLAB_DEVICE``, ``GDLAB_DTYPE``) and code is cached and intact (checksum verified).
- ``run NAME`` (or ``run all``): run a recipe (or reuse its cached result), write its figures as
  PNG and SVG and a JSON summary of the measured claims to ``--out`` (default ``results/``), and
  print the claims.
- ``report``: the claims table of every cached result of the current code, with its note (e.g.
  the fallback dataset used when CIFAR-10 was missing).

Scale and device names are case-insensitive, on the command line as in the environment: both
are parsed by :mod:`gdlab.runtime`. The cache folder is ``$GDLAB_CACHE`` or the anchored default
(see :mod:`gdlab.experiments.cache`). Bad arguments are usage errors (exit status 2) naming the
bad value and the allowed ones. A bad setting, an unusable cache or output folder, missing data
or any other ``OSError`` or ``ValueError`` ends with one line ``python -m gdlab: error: ...`` on
stderr and exit status 2, before anything is computed wherever it can be checked up front.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
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
from gdlab.runtime import (
    DEVICES,
    SCALES,
    RuntimeConfigError,
    device_name,
    get_device,
    get_dtype,
    get_scale,
    show_value,
)

__all__ = ["build_parser", "main"]

PROG = "python -m gdlab"
ALL = "all"


def _recipe_name(value: str) -> str:
    name = value.strip().lower()
    if name != ALL and name not in recipe_names():
        raise argparse.ArgumentTypeError(
            f"unknown recipe {show_value(value)}; known recipes: {', '.join(recipe_names())} "
            f"(or {ALL})"
        )
    return name


def _setting(parse: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse ``type`` that parses a value as :mod:`gdlab.runtime` parses the environment."""

    def convert(value: str) -> str:
        try:
            return parse(value)
        except RuntimeConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    convert.__name__ = parse.__name__
    return convert


def _folder_arg(value: str) -> Path:
    if not value.strip():
        raise argparse.ArgumentTypeError(
            f"empty folder {show_value(value)}; allowed: a folder path (created if missing)"
        )
    return Path(value).expanduser()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m gdlab``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the book's experiments (one recipe per paper figure) from the shell.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,report}")
    sub.add_parser("list", help="list the recipes and which scales are cached")
    run = sub.add_parser("run", help="run a recipe, write its figures and claims")
    run.add_argument(
        "name",
        type=_recipe_name,
        metavar="NAME",
        help=f"a recipe ({', '.join(recipe_names())}) or {ALL}",
    )
    run.add_argument(
        "--scale",
        type=_setting(get_scale),
        metavar="{" + ",".join(SCALES) + "}",
        default=None,
        help="any case (default: $GDLAB_SCALE, else quick)",
    )
    run.add_argument(
        "--device",
        type=_setting(device_name),
        metavar="{" + ",".join(DEVICES) + "}",
        default=None,
        help="any case (default: $GDLAB_DEVICE, else auto: CUDA when present)",
    )
    run.add_argument(
        "--out",
        type=_folder_arg,
        default=Path("results"),
        help="output folder, created if missing (default: results)",
    )
    run.add_argument(
        "--refresh", action="store_true", help="recompute the result (cached runs are reused)"
    )
    sub.add_parser("report", help="print the claims of every cached result")
    return parser


def _check_settings() -> None:
    """Check ``GDLAB_SCALE``, ``GDLAB_DEVICE`` and ``GDLAB_DTYPE`` (every command uses them)."""
    get_scale()
    get_device()
    get_dtype()


def _cached_scales(name: str, cache: ResultCache) -> list[str]:
    device, dtype = get_device(), get_dtype()
    return [s for s in SCALES if cache.has(result_key(name, s, device=device, dtype=dtype))]


def _list(cache: ResultCache) -> None:
    _check_settings()
    width = max(len(n) for n in recipe_names())
    any_entries = bool(cache.keys())
    for name in recipe_names():
        cached = _cached_scales(name, cache) if any_entries else []
        mark = f"  [cached: {', '.join(cached)}]" if cached else ""
        print(f"{name:{width}}  {get_recipe(name).description}{mark}")


def _check_output_folder(out: Path) -> Path:
    """Create ``out`` if needed and check that files can be written in it (before computing)."""
    label = f"--out {show_value(out)}"
    allowed = "allowed: a writable folder (created if missing)"
    try:
        is_file = out.exists() and not out.is_dir()
        if not is_file:
            out.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=out, prefix=".write-check.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
    except (OSError, ValueError) as err:  # no permission, a name too long, a NUL byte
        reason = (err.strerror if isinstance(err, OSError) else None) or str(err)
        raise RuntimeConfigError(f"{label} is not usable ({reason}); {allowed}") from err
    if is_file:
        raise RuntimeConfigError(f"{label} is not a folder; {allowed}")
    return out


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
    scale = get_scale(args.scale)  # every setting is checked before anything is computed
    device = get_device(args.device)
    get_dtype()
    out = _check_output_folder(args.out)
    names = recipe_names() if args.name == ALL else (args.name,)
    for name in names:
        result = run_recipe(
            name, scale, device, cache, progress=sys.stderr.isatty(), refresh=args.refresh
        )
        held = sum(c["holds"] for c in result.claims)
        source = "cache" if result.meta["from_cache"] else f"{result.meta['seconds']:.1f} s"
        print(result.claims_table())
        print(
            f"{held} of {len(result.claims)} claims hold ({source}, device {result.meta['device']})"
        )
        for path in _write(result, out):
            print(f"wrote {path}")


def _report(cache: ResultCache) -> None:
    _check_settings()
    results = cached_results(cache)
    if not results:
        print(f"no cached results in {cache.folder}")
        return
    for result in results:
        print(result.claims_table())
    total = sum(len(r.claims) for r in results)
    held = sum(c["holds"] for r in results for c in r.claims)
    print(f"{held} of {total} claims hold across {len(results)} cached results")


def _one_line(err: BaseException, limit: int = 400) -> str:
    """The message of ``err`` on one line, cut to about ``limit`` characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gdlab`` and the ``gdlab`` script; returns the exit status.

    Usage errors exit through argparse (status 2); a bad setting, an unusable folder, missing
    data or another ``OSError``/``ValueError`` prints one line on stderr and returns 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cache = ResultCache()
        if args.command == "list":
            _list(cache)
        elif args.command == "run":
            _run(args, cache)
        else:
            _report(cache)
    except (OSError, ValueError) as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0

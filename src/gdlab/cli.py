"""Command line: ``python -m gdlab list | run NAME|all [--scale] [--device] [--out] [--refresh] |
report``, on the book's studies (one per chapter, :mod:`gdlab.studies`).

- ``list``: every study in book order with its title and the scales whose result for the
  current settings (``GDLAB_DEVICE``, ``GDLAB_DTYPE``) and code is cached and intact (checksum
  verified); a study whose module is missing is listed as not available.
- ``run NAME`` (or ``run all``, every study in book order): run a study (or reuse its cached
  result), write its figures as PNG and SVG and a JSON summary with its values and claims to
  ``--out`` (default ``results/``), and print its claims table and a summary line. On a tty a
  bar per study counts its units (loaded from the cache or computed): a killed run restarts
  from the units it finished. ``--workers N`` runs the units as tasks on a local Dask cluster
  of N processes, ``--scheduler ADDRESS`` on a running one (:mod:`gdlab.experiments.executor`;
  ``run all`` then runs the studies concurrently). ``--start/--stop`` run a shard of the
  stress profile (``stress-tests``): its chunks of cases are those of the whole profile, which a
  later run without them merges from the cache.
- ``report``: the claims table of every cached study result of the current code and dtype (on
  either device type), with its note (e.g. the fallback dataset used when CIFAR-10 was missing).

Study, scale and device names are case-insensitive, on the command line as in the environment:
scale and device are parsed by :mod:`gdlab.runtime`. The cache folder is ``$GDLAB_CACHE`` or the
anchored default (see :mod:`gdlab.experiments.cache`). Bad arguments are usage errors (exit
status 2) naming the bad value and the allowed ones. A bad setting, an unusable cache or output
folder, a missing study module, missing data or any other ``OSError`` or ``ValueError`` ends with
one line ``python -m gdlab: error: ...`` on stderr and exit status 2, before anything is computed
wherever it can be checked up front.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are written to files, never shown

import matplotlib.pyplot as plt
import torch

from gdlab import studies
from gdlab.claims import ClaimTable
from gdlab.experiments import Result, ResultCache, Study, result_key, run_study
from gdlab.experiments.study import UnitExecutor
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
#: The study whose cases ``--start/--stop`` select.
SHARDED = "stress-tests"
#: The device types a cached result can have been computed on (``report`` looks at both).
DEVICE_TYPES = (torch.device("cpu"), torch.device("cuda"))


def _study_name(value: str) -> str:
    name = value.strip().lower()
    if name != ALL and name not in studies.study_names():
        raise argparse.ArgumentTypeError(
            f"unknown study {show_value(value)}; known studies: {', '.join(studies.study_names())} "
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


def _count(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``low``."""

    def convert(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if number < low:
            raise argparse.ArgumentTypeError(f"{show_value(value)}; allowed: an int >= {low}")
        return number

    convert.__name__ = f"int >= {low}"
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
        description="Run the book's studies (one per chapter) from the shell.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,report}")
    sub.add_parser("list", help="list the studies and which scales are cached")
    run = sub.add_parser("run", help="run a study, write its figures and claims")
    run.add_argument("name", type=_study_name, metavar="NAME", help=f"a study (see list) or {ALL}")
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
    cluster = run.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=_count(1),
        metavar="N",
        help="run the units as tasks on a local Dask cluster of N processes (needs [cluster])",
    )
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the units as tasks on the Dask scheduler at ADDRESS, e.g. tcp://host:8786",
    )
    run.add_argument(
        "--start", type=_count(0), metavar="I", help=f"{SHARDED} only: first case of a shard"
    )
    run.add_argument(
        "--stop", type=_count(1), metavar="J", help=f"{SHARDED} only: end (excluded) of a shard"
    )
    sub.add_parser("report", help="print the claims of every cached result")
    return parser


def _check_settings() -> None:
    """Check ``GDLAB_SCALE``, ``GDLAB_DEVICE`` and ``GDLAB_DTYPE`` (every command uses them)."""
    get_scale()
    get_device()
    get_dtype()


def _available(name: str) -> Study | None:
    """Study ``name``, or None when its module ``gdlab.studies.<module>`` does not exist (an
    import error inside an existing module is raised)."""
    try:
        return studies.get_study(name)
    except ModuleNotFoundError as err:
        if err.name != f"gdlab.studies.{studies.MODULES[name]}":
            raise
        return None


def _required(name: str) -> Study:
    study = _available(name)
    if study is None:
        raise RuntimeConfigError(
            f"study {name!r} is not available (no module gdlab.studies.{studies.MODULES[name]}); "
            "allowed: the studies that python -m gdlab list shows with a title"
        )
    return study


def _list(cache: ResultCache) -> None:
    _check_settings()
    device = get_device()
    any_entries = bool(cache.keys())
    width = max(len(n) for n in studies.study_names())
    for name in studies.study_names():
        study = _available(name)
        if study is None:
            print(
                f"{name:{width}}  (not available: no module gdlab.studies.{studies.MODULES[name]})"
            )
            continue
        cached = [s for s in SCALES if any_entries and cache.has(result_key(study, s, device))]
        mark = f"  [cached: {', '.join(cached)}]" if cached else ""
        print(f"{name:{width}}  {study.title}{mark}")


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


def _print_claims(result: Result) -> None:
    """The result's header, its note (if any) and its claims table."""
    print(f"{result.study} [{result.scale}, {result.meta.get('device', '?')}]")
    if result.meta.get("note"):
        print(f"note: {result.meta['note']}")
    print(result.claims)


def _write(study: Study, result: Result, out: Path, label: str = "") -> list[Path]:
    """The study's figures (PNG and SVG) and a JSON summary of the result in ``out``, named
    ``<study>-<scale><label>``."""
    stem = f"{result.study}-{result.scale}{label}"
    written = []
    for fig_name, fig in study.plot(result).items():
        for ext in ("png", "svg"):
            path = out / f"{stem}-{fig_name}.{ext}"
            fig.savefig(path)
            written.append(path)
        plt.close(fig)
    summary = {
        "study": result.study,
        "title": study.title,
        "scale": result.scale,
        "config": result.config,
        "values": result.values,
        "claims": result.claims.to_dict(),
        "counts": result.claims.counts(),
        "ok": result.claims.ok,
        "meta": result.meta,
        "figures": [str(p) for p in written],
    }
    path = out / f"{stem}.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return [*written, path]


def _shard(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any] | None:
    """The settings of ``--start/--stop`` (None without them); only for ``stress-tests``."""
    if args.start is None and args.stop is None:
        return None
    if list(names) != [SHARDED]:
        raise RuntimeConfigError(
            f"--start/--stop select cases of the stress profile; allowed: run {SHARDED} only"
        )
    return {"start": args.start or 0, "stop": args.stop}


@contextlib.contextmanager
def _executor(args: argparse.Namespace, cache: ResultCache) -> Iterator[UnitExecutor | None]:
    """The Dask executor of ``--workers/--scheduler`` (Dask imported only then), else None."""
    if args.workers is None and args.scheduler is None:
        yield None
        return
    from gdlab.experiments.executor import dask_executor

    with dask_executor(cache, args.workers, args.scheduler) as executor:
        yield executor


def _run(args: argparse.Namespace, cache: ResultCache) -> None:
    scale = get_scale(args.scale)  # every setting is checked before anything is computed
    device = get_device(args.device)
    get_dtype()
    out = _check_output_folder(args.out)
    names = studies.study_names() if args.name == ALL else (args.name,)
    shard = _shard(args, names)
    chosen = [_required(name) for name in names]
    for study in chosen:  # resolves every configuration (e.g. the data folder) up front
        study.config(scale, shard)
    label = "" if shard is None else f"-cases-{shard['start']}-{shard['stop'] or 'end'}"
    with _executor(args, cache) as executor:
        concurrent = executor is not None and len(chosen) > 1

        def one(study: Study) -> Result:
            return run_study(
                study,
                scale,
                device,
                cache,
                progress=sys.stderr.isatty() and not concurrent,
                refresh=args.refresh,
                settings=shard,
                executor=executor,
            )

        # Concurrent studies run in client threads; on an error or an interrupt the ones not
        # started are cancelled and the running ones end with the closed cluster.
        pool = ThreadPoolExecutor(max_workers=len(chosen)) if concurrent else None
        try:
            pending = [pool.submit(one, study) for study in chosen] if pool else None
            for i, study in enumerate(chosen):
                if len(chosen) > 1:
                    print(f"[{i + 1}/{len(chosen)}] {study.name}: {study.title}", flush=True)
                result = pending[i].result() if pending else one(study)
                _print_claims(result)
                source = "cache" if result.meta["from_cache"] else f"{result.meta['seconds']:.1f} s"
                print(f"{result.claims.summary_line()} ({source}, device {result.meta['device']})")
                for path in _write(study, result, out, label):
                    print(f"wrote {path}")
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


def _report(cache: ResultCache) -> None:
    _check_settings()
    results = []
    if cache.keys():
        for name in studies.study_names():
            study = _available(name)
            for scale in SCALES if study is not None else ():
                for device in DEVICE_TYPES:
                    hit = cache.load(result_key(study, scale, device))
                    if hit is not None:
                        results.append(Result.from_entry(*hit))
    if not results:
        print(f"no cached results of the current code in {cache.folder}")
        return
    for result in results:
        _print_claims(result)
    every = ClaimTable([c for r in results for c in r.claims])
    print(f"{every.summary_line()} across {len(results)} cached results")


def _one_line(err: BaseException, limit: int = 400) -> str:
    """The message of ``err`` on one line, cut to about ``limit`` characters."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gdlab`` and the ``gdlab`` script; returns the exit status.

    Usage errors exit through argparse (status 2); a bad setting, an unusable folder, a missing
    study module, missing data or another ``OSError``/``ValueError`` prints one line on stderr
    and returns 2.
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

"""What a build ran with: package versions against the pins of ``constraints.txt``."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from gdlab.runtime import banner

__all__ = ["EnvironmentReport", "environment_report", "parse_constraints"]

_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def _canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_constraints(text: str) -> dict[str, str]:
    """``name -> version`` for every ``name==version`` line of a constraints file."""
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[_canonical(match.group(1))] = match.group(2)
    return pins


def _matches(installed: str, pinned: str) -> bool:
    """``==pinned`` semantics: a local label (``2.13.0+cpu``) matches the public pin."""
    return installed == pinned or installed.split("+", 1)[0] == pinned


@dataclass(frozen=True)
class EnvironmentReport:
    """Python, torch and the installed versions of every pinned package."""

    python: str
    torch: str
    run: str
    constraints_text: str
    checked: int
    pinned_mismatches: list[str]

    def text(self) -> str:
        """A short human-readable summary."""
        status = (
            "all match"
            if not self.pinned_mismatches
            else "MISMATCH: " + ", ".join(self.pinned_mismatches)
        )
        return (
            f"python {self.python} | torch {self.torch}\n{self.run}\n"
            f"{self.checked} pinned packages checked against constraints.txt: {status}"
        )


def environment_report(constraints: str | Path | None = None) -> EnvironmentReport:
    """Compare the installed distributions with the pins of ``constraints`` (repo root default)."""
    path = Path(constraints) if constraints else Path(__file__).parents[2] / "constraints.txt"
    if not path.is_file():
        raise FileNotFoundError(f"constraints file not found: {path}")
    text = path.read_text(encoding="utf-8")
    mismatches = []
    pins = parse_constraints(text)
    for name, pinned in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            mismatches.append(f"{name} (pinned {pinned}, not installed)")
            continue
        if not _matches(installed, pinned):
            mismatches.append(f"{name} (pinned {pinned}, installed {installed})")
    return EnvironmentReport(
        python=platform.python_version(),
        torch=torch.__version__,
        run=banner(),
        constraints_text=text,
        checked=len(pins),
        pinned_mismatches=mismatches,
    )

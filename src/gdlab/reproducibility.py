"""What a build ran with: package versions against the pins of ``constraints.txt``.

From a source checkout the pins are read from the repository's ``constraints.txt``; an
installed package has no pins file, so the report then lists the installed versions of
``gdlab``'s declared dependencies (from ``importlib.metadata``) and says the pins were not found.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

from gdlab.runtime import banner

__all__ = ["EnvironmentReport", "environment_report", "installed_versions", "parse_constraints"]

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


def _requirement_name(requirement: str) -> str:
    """The project name of a requirement string (``"torch==2.13.0; extra == 'x'"`` -> torch)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)", requirement)
    return _canonical(match.group(1)) if match else ""


def installed_versions() -> dict[str, str]:
    """``name -> installed version`` of ``gdlab`` and its declared (non-extra) dependencies;
    ``"not installed"`` for a missing one, empty if ``gdlab`` has no distribution metadata."""
    try:
        requires = metadata.requires("gdlab") or []
        versions = {"gdlab": metadata.version("gdlab")}
    except metadata.PackageNotFoundError:
        return {}
    for requirement in requires:
        name = _requirement_name(requirement)
        if not name or "extra" in requirement.partition(";")[2]:  # optional extras skipped
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class EnvironmentReport:
    """Python, torch and the installed versions of every pinned package.

    ``constraints_path`` is None when no pins file was found (an installed package): then
    ``checked`` is 0 and ``installed`` lists the versions of ``gdlab``'s dependencies.
    """

    python: str
    torch: str
    run: str
    constraints_text: str
    checked: int
    pinned_mismatches: list[str]
    constraints_path: str | None = None
    installed: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """A short human-readable summary."""
        head = f"python {self.python} | torch {self.torch}\n{self.run}\n"
        if self.constraints_path is None:
            versions = ", ".join(f"{k} {v}" for k, v in sorted(self.installed.items()))
            return head + (
                "constraints.txt not found (installed package): pins not checked; "
                f"installed: {versions or 'no distribution metadata for gdlab'}"
            )
        status = (
            "all match"
            if not self.pinned_mismatches
            else "MISMATCH: " + ", ".join(self.pinned_mismatches)
        )
        return head + f"{self.checked} pinned packages checked against constraints.txt: {status}"


def environment_report(constraints: str | Path | None = None) -> EnvironmentReport:
    """Compare the installed distributions with the pins of ``constraints``.

    Default: the repository's ``constraints.txt``; when it does not exist (an installed,
    non-editable package) the report lists the installed versions instead and says the pins
    file was not found. An explicitly given file that does not exist is a
    :class:`FileNotFoundError` naming it.
    """
    path = Path(constraints) if constraints else Path(__file__).parents[2] / "constraints.txt"
    if not path.is_file():
        if constraints:
            raise FileNotFoundError(
                f"constraints file {str(path)!r} not found; allowed: an existing pins file"
            )
        return EnvironmentReport(
            python=platform.python_version(),
            torch=torch.__version__,
            run=banner(),
            constraints_text="",
            checked=0,
            pinned_mismatches=[],
            constraints_path=None,
            installed=installed_versions(),
        )
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
        constraints_path=str(path),
        installed=installed_versions(),
    )

"""gdlab.reproducibility: parsing the pins and comparing versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdlab import reproducibility
from gdlab.reproducibility import _matches, environment_report, parse_constraints


def test_parse_constraints_normalises_names_and_skips_comments() -> None:
    text = "# comment\nSphinx==7.4.7\nsphinx_proof == 0.4.0  # pinned\n\nnot-a-pin>=1\n"
    assert parse_constraints(text) == {"sphinx": "7.4.7", "sphinx-proof": "0.4.0"}


def test_local_version_label_matches_public_pin() -> None:
    assert _matches("2.13.0+cpu", "2.13.0")
    assert _matches("1.0", "1.0")
    assert not _matches("2.13.1", "2.13.0")


def test_report_flags_missing_and_mismatched(tmp_path: Path) -> None:
    pins = tmp_path / "constraints.txt"
    pins.write_text("pytest==0.0.1\nsurely-not-installed-pkg==1.0\n")
    report = environment_report(pins)
    assert report.checked == 2
    assert any(m.startswith("pytest (pinned 0.0.1, installed") for m in report.pinned_mismatches)
    assert any("not installed" in m for m in report.pinned_mismatches)
    assert "MISMATCH" in report.text()


def test_missing_constraints_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.txt"):
        environment_report(tmp_path / "nothing.txt")


def test_installed_package_without_pins_file_reports_versions(monkeypatch, tmp_path: Path) -> None:
    """A non-editable install has no constraints.txt next to the package: no error."""
    monkeypatch.setattr(reproducibility, "__file__", str(tmp_path / "site" / "gdlab" / "x.py"))
    report = environment_report()
    assert report.constraints_path is None and report.checked == 0
    assert report.constraints_text == "" and not report.pinned_mismatches
    assert report.installed["torch"] and report.installed["numpy"]
    assert "pytest" not in report.installed  # extras are not dependencies
    text = report.text()
    assert "constraints.txt not found" in text and "pins not checked" in text and "torch " in text


def test_no_distribution_metadata_is_reported(monkeypatch) -> None:
    def missing(name: str):
        raise reproducibility.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(reproducibility.metadata, "requires", missing)
    assert reproducibility.installed_versions() == {}

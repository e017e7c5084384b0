"""The study registry as pages use it: settings a reader may change, strict and lenient checks."""

from __future__ import annotations

import warnings

import pytest

from gdlab import studies
from gdlab.claims import ClaimFailure, ClaimWarning
from gdlab.experiments.cache import ResultCache


@pytest.fixture
def cache(tmp_path) -> ResultCache:
    return ResultCache(tmp_path / "cache")


def test_every_study_module_is_registered_in_book_order() -> None:
    for name in studies.study_names():
        study = studies.get_study(name)
        assert study.name == name and study.chapter.endswith(f"{name}.md")
    with pytest.raises(ValueError, match="known studies: intro"):
        studies.get_study("nope")


def test_changed_settings_recompute_and_are_cached_apart(cache, capsys) -> None:
    s = studies.settings("intro", "quick")
    assert s == studies.get_study("intro").quick and s is not studies.get_study("intro").quick
    s["steps"] = 300
    short = studies.load("intro", s, scale="quick", device="cpu", cache=cache)
    assert "settings changed: steps" in capsys.readouterr().out
    assert short.values["steps"] == 300 and not short.meta["from_cache"]
    default = studies.load("intro", scale="quick", device="cpu", cache=cache)
    assert default.values["steps"] == studies.get_study("intro").quick["steps"]
    again = studies.load("intro", s, scale="quick", device="cpu", cache=cache)
    assert again.meta["from_cache"] and again.values == short.values
    with pytest.raises(ValueError, match=r"unknown setting\(s\) 'stepz'.*allowed: activation"):
        studies.load("intro", {"stepz": 3}, scale="quick", device="cpu", cache=cache)


def test_failing_claims_fail_strictly_and_warn_leniently(cache, monkeypatch) -> None:
    s = studies.settings("intro", "quick")
    s["steps"] = 150  # the large stepsize settles at step 93, after half of this budget
    result = studies.load("intro", s, scale="quick", device="cpu", cache=cache)
    assert result.claims.failures
    monkeypatch.setenv("GDLAB_STRICT", "1")
    with pytest.raises(ClaimFailure, match="monotone within the first half"):
        result.check()
    monkeypatch.setenv("GDLAB_STRICT", "0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = result.check()
    assert table is result.claims and any(w.category is ClaimWarning for w in caught)
    assert "gdlab-claim-fails" in table._repr_html_()
    monkeypatch.setenv("GDLAB_STRICT", "maybe")
    with pytest.raises(ValueError, match="GDLAB_STRICT"):
        result.check()

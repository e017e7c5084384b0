"""Tests of the stress-tests study (gdlab.studies.stress) and the outcomes it caches."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure

from gdlab.claims import Claim, ClaimFailure, ClaimTable
from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import RunContext
from gdlab.stepsize import stress as lib
from gdlab.stepsize.stress import CI_SPACE, CaseOutcome, check_outcome
from gdlab.studies import stress

SMALL = {"space": "ci", "cases": 4, "seed": 1, "chunk": 3}


def _ctx(tmp_path) -> RunContext:
    return RunContext(torch.device("cpu"), ResultCache(tmp_path))


def test_small_profile_holds_and_resumes_from_its_chunks(tmp_path, monkeypatch) -> None:
    result = stress.run(SMALL, _ctx(tmp_path))
    # every certificate holds; four cases draw two of the four data families
    assert [c.name for c in result.claims.failures] == ["data families drawn"], str(result.claims)
    values = result.values
    assert values["cases"] == 4 and values["errors"] == values["violations"] == 0
    assert values["checks"] + values["untestable"] > 0 and values["profile"] == "ci"
    assert result.arrays["reached"].shape == (4,)
    figures = stress.STUDY.plot(result)
    assert set(figures) == {"cases"} and isinstance(figures["cases"], Figure)
    # the chunks [0, 3) and [3, 4) are cached: a longer profile checks only its new cases
    checked: list[int] = []

    def counting(index, case):
        checked.append(index)
        return check_outcome(index, case)

    monkeypatch.setattr(stress, "check_outcome", counting)
    again = stress.run(SMALL, _ctx(tmp_path))
    assert checked == [] and again.values == {**values, "seconds": again.values["seconds"]}
    stress.run({**SMALL, "cases": 6}, _ctx(tmp_path))
    assert checked == [3, 4, 5]  # [0, 3) reused; [3, 6) is a new chunk


def _outcomes() -> list[CaseOutcome]:
    facts = {"r*": 3, "s*": None, "rate peak": None}
    holds = ClaimTable([Claim("risk non-increasing after r*", "Theorem 2.2", -1.0, 0.0)], facts)
    fails = ClaimTable([Claim("risk non-increasing after r*", "Theorem 2.2", 1e-3, 0.0)], facts)
    cases = [CI_SPACE.sample(1, i) for i in (1, 2, 3)]  # none where Theorem 3.2 applies
    assert not any(case.first_phase_applies for case in cases)
    return [
        CaseOutcome(0, cases[0], holds),
        CaseOutcome(1, cases[1], fails),
        CaseOutcome(2, cases[2], None, "ValueError: boom"),
    ]


def test_a_failing_case_and_an_error_fail_the_profile() -> None:
    outcomes = _outcomes()
    claims = stress.profile_claims(outcomes, CI_SPACE)
    row = claims["risk non-increasing after r*"]
    assert row.status == "fails" and row.note.startswith("2 runs: 1 holds, 1 fails; worst: case 1")
    assert claims["no case raises"].status == "fails" and "[2]" in claims["no case raises"].note
    assert claims["Theorem 4.1 rate below the printed factor"].status == "untestable"
    with pytest.raises(ClaimFailure, match="no case raises"):
        claims.check()
    values = stress.profile_values(outcomes)
    assert (values["violations"], values["failing"], values["errors"]) == (1, 1, 1)
    assert values["r_reached"] == 2 and values["s_reached"] == 0 and values["rate_peak"] is None
    findings = stress.profile_tables(outcomes)["findings"].records()
    assert [f["case"] for f in findings] == [1, 2]
    assert findings[0]["finding"] == "fails: risk non-increasing after r*"
    assert findings[1]["finding"] == "ValueError: boom"
    assert findings[1]["reproducer"] == repr(outcomes[2].case)


def test_coverage_claims_fail_without_coverage() -> None:
    claims = stress.profile_claims(_outcomes()[:1], CI_SPACE)
    assert claims["cases reaching eq. (5)"].status == "fails"
    assert claims["first-phase cases"].status == "fails"
    assert claims["data families drawn"].status == "fails"


def test_case_outcome_round_trips_as_json() -> None:
    outcome = check_outcome(7, CI_SPACE.sample(1, 7))
    assert outcome.error is None and outcome.reached in lib.REACHED
    data = json.loads(json.dumps(outcome.to_dict(), allow_nan=False))
    back = CaseOutcome.from_dict(data)
    assert back.case == outcome.case and back.index == 7
    assert back.claims.to_dict()["claims"] == outcome.claims.to_dict()["claims"]
    assert set(back.claims.facts) == set(lib.OUTCOME_FACTS)
    with pytest.raises(ValueError, match="claims or an error"):
        CaseOutcome(0, outcome.case, None)


def test_check_outcome_records_case_errors_only(monkeypatch) -> None:
    case = CI_SPACE.sample(1, 0)

    def broken(_case):
        raise ArithmeticError("overflow")

    monkeypatch.setattr(lib, "check_case", broken)
    outcome = check_outcome(0, case)
    assert outcome.error == "ArithmeticError: overflow" and outcome.reached == -1

    def bug(_case):
        raise TypeError("a bug, not a finding")

    monkeypatch.setattr(lib, "check_case", bug)
    with pytest.raises(TypeError, match="a bug"):
        check_outcome(0, case)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"space": "huge"}, "space='huge'"),
        ({"cases": 0}, "cases=0"),
        ({"seed": -1}, "seed=-1"),
        ({"chunk": True}, "chunk=True"),
    ],
)
def test_bad_config_raises(tmp_path, change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stress.run({**SMALL, **change}, _ctx(tmp_path))


def test_shards_merge_into_the_whole_profile(tmp_path, monkeypatch) -> None:
    """Shards on the grid of chunks fill the cache with the whole profile's chunks: the whole
    profile then checks no case again and equals a profile run in one go."""
    profile = {**SMALL, "cases": 7, "chunk": 2}
    whole = stress.run(profile, _ctx(tmp_path / "one-go"))
    first = stress.run({**profile, "stop": 4}, _ctx(tmp_path))
    second = stress.run({**profile, "start": 4}, _ctx(tmp_path))
    assert (first.values["cases"], second.values["cases"]) == (4, 3)
    assert second.values["first_case"] == 4
    checked: list[int] = []
    monkeypatch.setattr(stress, "check_outcome", lambda i, case: checked.append(i))
    merged = stress.run(profile, _ctx(tmp_path))
    assert checked == []
    assert {**merged.values, "seconds": 0} == {**whole.values, "seconds": 0}
    assert merged.claims.to_dict() == whole.claims.to_dict()


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ({"start": 1}, r"start on the grid of chunks of 3 cases"),
        ({"stop": 2}, r"end on it or at 4"),
        ({"start": 3, "stop": 3}, r"0 <= start < stop <= 4"),
        ({"stop": 9}, r"0 <= start < stop <= 4"),
        ({"start": -3}, r"start=-3 must be an int >= 0"),
    ],
)
def test_shards_off_the_grid_are_refused(shard, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        stress.run({**SMALL, **shard}, _ctx(tmp_path))

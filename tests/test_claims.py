"""The claims vocabulary: statuses are computed, tables render, aggregate and check."""

from __future__ import annotations

import json
import math

import pytest

from gdlab.claims import Claim, ClaimFailure, ClaimTable
from gdlab.tables import Table


def test_status_is_computed_from_measured_bound_and_relation() -> None:
    assert Claim("c", "Thm", 1.0, 2.0).status == "holds"
    assert Claim("c", "Thm", 3.0, 2.0).status == "fails"
    assert Claim("c", "Thm", 2.0, 2.0, relation="<").status == "fails"  # strict on a tie
    assert Claim("c", "Thm", 2.0, 2.0, relation="<=").status == "holds"
    assert Claim("c", "Thm", 3.0, 2.0, relation=">").status == "holds"
    assert Claim("c", "Thm", 0.5, (0.0, 1.0), relation="in").status == "holds"
    assert Claim("c", "Thm", 1.5, (0.0, 1.0), relation="in").status == "fails"
    assert Claim("c", "Thm", 1.0 + 1e-9, 1.0, relation="==").status == "fails"
    near = Claim("c", "Thm", 1.0 + 1e-9, 1.0, relation="==", tol=1e-8, tol_reason="rounding")
    assert near.status == "holds" and near.slack == pytest.approx(9e-9)


def test_tolerance_needs_a_reason_and_moves_the_verdict() -> None:
    with pytest.raises(ValueError, match="tol_reason"):
        Claim("c", "Thm", 2.1, 2.0, tol=0.2)
    c = Claim("c", "Thm", 2.1, 2.0, tol=0.2, tol_reason="float64 rounding of the risk")
    assert c.status == "holds" and c.slack == pytest.approx(0.1)
    with pytest.raises(ValueError, match="tol"):
        Claim("c", "Thm", 1.0, 2.0, tol=-1.0, tol_reason="x")


def test_vacuous_and_untestable() -> None:
    loose = Claim("A.14 upper", "Lemma A.14", 1e-3, 1e30, trivial=math.log(2))
    assert loose.status == "vacuous" and "decades" in loose.detail
    tight = Claim("A.14 upper", "Lemma A.14", 1e-3, 1e-2, trivial=math.log(2))
    assert tight.status == "holds"
    # a vacuous bound that is violated still fails
    assert Claim("x", "s", 1e31, 1e30, trivial=1.0).status == "fails"
    with pytest.raises(ValueError, match="needs"):
        Claim("x", "s", None, 1.0)
    u = Claim("x", "s", float("nan"), 1.0, needs="eq. (4) reached within the budget")
    assert u.status == "untestable" and u.measured is None and "eq. (4)" in u.detail


def test_bools_are_not_measurements() -> None:
    with pytest.raises(TypeError, match="bool"):
        Claim("x", "s", True, 1.0)
    with pytest.raises(ValueError, match="relation"):
        Claim("x", "s", 1.0, 1.0, relation="~")


def test_infinite_values() -> None:
    assert Claim("x", "s", 5.0, math.inf).status == "holds"
    assert Claim("x", "s", math.inf, 5.0).status == "fails"
    assert Claim("x", "s", math.inf, math.inf).status == "holds"


def test_table_check_fails_on_any_failure_with_the_numbers() -> None:
    table = ClaimTable()
    table.add("ok", "Thm 1", 1.0, 2.0)
    assert table.check() is table
    table.add("bad", "Lemma 2", 3.0, 2.0, note="run 3")
    with pytest.raises(ClaimFailure, match=r"1 of 2 claims fail:\n  bad \[Lemma 2\]: measured 3"):
        table.check()
    assert not table.ok and table.counts()["fails"] == 1
    assert table["bad"].status == "fails"
    with pytest.raises(KeyError):
        table["missing"]


def test_aggregate_keeps_the_worst_run() -> None:
    table = ClaimTable(
        [
            Claim("A", "s", 1.0, 2.0),
            Claim("A", "s", 1.9, 2.0),
            Claim("A", "s", None, 2.0, needs="hypothesis"),
            Claim("B", "s", None, 2.0, needs="hypothesis"),
            Claim("C", "s", 1.0, 2.0),
            Claim("C", "s", 2.5, 2.0),
        ]
    )
    agg = table.aggregate()
    assert agg.names() == ["A", "B", "C"]
    assert agg["A"].measured == 1.9 and agg["A"].status == "holds"
    assert agg["A"].note.startswith("3 runs: 2 holds, 1 untestable")
    assert agg["B"].status == "untestable"
    assert agg["C"].status == "fails" and agg["C"].measured == 2.5


def test_round_trip_and_render() -> None:
    table = ClaimTable(
        [
            Claim("a", "s", 1.0, (0.0, 2.0), relation="in", step=4),
            Claim("b", "s", 1.0, math.inf),
            Claim("c", "s", None, 1.0, needs="more steps"),
        ],
        facts={"r*": 3, "s*": None},
    )
    back = ClaimTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert [c.to_dict() for c in back] == [c.to_dict() for c in table]
    assert back.facts == {"r*": 3, "s*": None}
    html = table._repr_html_()
    assert "gdlab-claim-untestable" in html and "step 4" in html
    text = str(table)
    assert "3 claims: 2 holds, 1 untestable" in text.splitlines()[0]


def test_table_round_trip_and_validation() -> None:
    t = Table(["run", "lr", "ok"], [[1, 0.5, True], [2, float("nan"), False]], caption="runs")
    assert t.column("lr")[1] is None  # NaN is stored as None (JSON-able)
    assert Table.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert "runs" in str(t) and "<caption>runs</caption>" in t._repr_html_()
    with pytest.raises(ValueError, match="expected 3"):
        Table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(TypeError, match="cells"):
        Table(["a"], [[object()]])


def test_contradicted_paper_claims_are_stated_and_guarded() -> None:
    table = ClaimTable([Claim("rate is 1/t", "Fig. 2(b)", 1.6, 1.25), Claim("ok", "Thm", 1.0, 2.0)])
    assert table["rate is 1/t"].status == "fails"
    stated = table.contradict(["rate is 1/t"])
    row = stated["rate is 1/t"]
    assert row.contradicts and row.relation == ">" and row.status == "holds"
    assert "needs <= 1.25" in row.note and stated.contradicted() == [row]
    paper = row.as_stated()  # the paper's claim as printed, with its own status
    assert (paper.relation, paper.status, paper.contradicts) == ("<=", "fails", False)
    assert table["ok"].as_stated() is table["ok"]
    assert stated.summary_line() == "2 claims: 1 holds, 1 contradicts the paper"
    assert "gdlab-claim-contradicted" in stated._repr_html_()
    assert "contradicts the paper" in str(stated)
    stated.check()  # the contradiction holds: nothing fails
    # if the paper's claim starts to hold, the stated contradiction fails the check
    with pytest.raises(ClaimFailure):
        ClaimTable([Claim("rate is 1/t", "Fig. 2(b)", 1.1, 1.25)]).contradict(
            ["rate is 1/t"]
        ).check()
    with pytest.raises(ValueError, match="not claims of this table"):
        table.contradict(["nope"])
    with pytest.raises(ValueError, match="cannot be stated as contradicted"):
        ClaimTable([Claim("eq", "s", 1.0, 2.0, relation="==")]).contradict(["eq"])
    back = ClaimTable.from_dict(json.loads(json.dumps(stated.to_dict())))
    assert back["rate is 1/t"].contradicts and back.aggregate()["rate is 1/t"].contradicts

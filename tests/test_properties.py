"""Property-based tests of Part I's theorems (gdlab.stepsize.stress, spec §7).

Hypothesis draws random cases (data, activation, width, initialisation, stepsize from 1e-2 to
1e4) from :data:`gdlab.stepsize.stress.CI_SPACE` and asserts that every certificate of
:mod:`gdlab.stepsize.certify` holds, within its derived float64 rounding allowance. The
profile is chosen by ``GDLAB_STRESS_PROFILE``: ``ci`` (the default: derandomized, no example
database, a few dozen small cases) or ``thorough`` (many more cases). The doctored-case tests
show that the checker does fail when a claim is false. The profiles of the stress-tests study
are tested in tests/test_stress_study.py.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import TypeVar

import pytest
import torch
from hypothesis import HealthCheck, event, given, note, settings, target
from hypothesis import strategies as st

from gdlab.stepsize.certify import risk_first_increase
from gdlab.stepsize.stress import (
    CI_SPACE,
    DATA_KINDS,
    Case,
    CaseRun,
    CaseSpace,
    check_case,
    evaluate,
    run_case,
)

T = TypeVar("T")

_COMMON = {
    "deadline": None,  # one example trains a GD run; its time varies with the load
    "database": None,  # no state outside the repository: CI runs are reproducible
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
PROFILE = os.environ.get("GDLAB_STRESS_PROFILE", "ci")

# A non-separable case whose risk oscillates (eta = 1000 >> the eq. (4) scale) and a
# separable first-phase case; both are small and fast.
OSCILLATING = Case(
    kind="nonseparable",
    n=8,
    d=2,
    radius=1.0,
    margin=0.1,
    activation="leaky_softplus_ex31",
    params=(),
    m=4,
    init_scale=0.1,
    eta=1000.0,
    steps=100,
    seed=0,
)
SEPARABLE = dataclasses.replace(
    OSCILLATING, kind="gaussian", margin=0.2, activation="leaky_gelu", params=(("c", 0.7),)
)
SEPARABLE = dataclasses.replace(SEPARABLE, eta=10.0, steps=200)


class HypothesisDraw:
    """The :class:`gdlab.stepsize.stress.Draw` protocol over hypothesis's ``st.data()``."""

    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(st.integers(low, high))

    def uniform(self, low: float, high: float) -> float:
        return self._data.draw(st.floats(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self._data.draw(st.sampled_from(options))


@settings(parent=settings.get_profile(PROFILE))
@given(st.data())
def test_every_certificate_holds_on_random_cases(data: st.DataObject) -> None:
    case = CI_SPACE.draw(HypothesisDraw(data))
    note(repr(case))
    table = check_case(case)
    for name, step in table.facts.items():
        if name in ("r*", "s*"):
            event(f"{name} {'reached' if step is not None else 'not reached'}")
    event(f"first phase {'checked' if case.first_phase_applies else 'not checked'}")
    for claim in table:
        if claim.status == "holds" and "relative slack" in claim.note and claim.bound != 0:
            relative = claim.slack / abs(claim.bound)
            if math.isfinite(relative):
                target(-relative, label=claim.name)  # steer the search towards tight cases
    assert table.ok, f"{case!r}\n{table}"


def test_case_is_reproducible_from_its_repr() -> None:
    case = CI_SPACE.sample(seed=3, index=7)
    assert CI_SPACE.sample(seed=3, index=7) == case
    assert CI_SPACE.sample(seed=3, index=8) != case
    assert Case.from_repr(repr(case)) == case
    with pytest.raises(ValueError, match="not the repr of a Case"):
        Case.from_repr("(1, 2)")
    small = dataclasses.replace(case, steps=20)
    first, second = run_case(small).traj, run_case(Case.from_repr(repr(small))).traj
    assert torch.equal(first.risk, second.risk)
    assert torch.equal(first.w_final, second.w_final)


def test_case_data_match_their_kind() -> None:
    for kind in DATA_KINDS:
        case = dataclasses.replace(SEPARABLE, kind=kind, radius=0.7)
        ds = case.dataset()
        assert ds.radius == pytest.approx(0.7, rel=1e-15)  # one rounded scaling
        assert case.first_phase_applies == (kind in ("gaussian", "hyperplane"))
    # The antipodal pair with equal labels: no direction w has y_0 x_0^T w > 0 and
    # y_1 x_1^T w > 0 at once.
    ds = OSCILLATING.dataset()
    assert torch.equal(ds.X[1], -ds.X[0]) and ds.y[1] == ds.y[0]


def test_first_phase_only_under_its_assumptions() -> None:
    plain = dataclasses.replace(SEPARABLE, activation="softplus", params=())
    assert not plain.first_phase_applies  # alpha = 0: Assumption 2A fails
    assert not dataclasses.replace(SEPARABLE, radius=2.0).first_phase_applies  # R > 1
    table = check_case(dataclasses.replace(SEPARABLE, steps=50))
    assert table["Theorem 3.2"].status == "holds" and "Lemma A.3" in table.names()
    only_stable = check_case(dataclasses.replace(plain, steps=50))
    assert "Lemma A.3" in only_stable.names() and "Theorem 3.2" not in only_stable.names()


def test_doctored_stepsize_is_caught() -> None:
    """Certifying an oscillating run as if its stepsize were 1e6 times smaller makes eq. (4)
    hold from step 0, so the run's oscillation is reported as a violation of Theorem 2.2."""
    run = run_case(OSCILLATING)
    assert risk_first_increase(run.traj, run.constants) is not None  # it does oscillate
    assert evaluate(run).ok
    t = run.traj
    small = dataclasses.replace(t, lr=t.lr * 1e-6, eta=t.eta * 1e-6)
    table = evaluate(CaseRun(run.case, small, run.constants.with_lr(run.constants.lr * 1e-6)))
    assert table["risk non-increasing after r*"].status == "fails" and not table.ok


def test_doctored_record_is_caught() -> None:
    """Inflating the recorded risk of a separable run 1e3-fold breaks Theorem 3.2's bound."""
    run = run_case(SEPARABLE)
    assert evaluate(run).ok
    t = run.traj
    bad = dataclasses.replace(t, risk=t.risk * 1e3, log_risk=t.log_risk + math.log(1e3))
    table = evaluate(CaseRun(run.case, bad, run.constants))
    assert table["Theorem 3.2"].status == "fails"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("kind", "spiral", "kind='spiral'"),
        ("activation", "relu", "activation='relu'"),
        ("eta", 0.0, "eta=0.0"),
        ("n", 3, "n=3"),  # the non-separable family needs n >= 4
        ("margin", 1.5, "margin=1.5"),
    ],
)
def test_bad_case_fields_raise(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(OSCILLATING, **{field: value})


def test_bad_space_arguments_raise() -> None:
    with pytest.raises(ValueError, match="index=-1"):
        CaseSpace().sample(0, -1)
    with pytest.raises(ValueError, match=r"steps=\(10, 5\)"):
        CaseSpace(steps=(10, 5))
    with pytest.raises(ValueError, match=r"kinds=\('spiral',\)"):
        CaseSpace(kinds=("spiral",))

"""Tests of gdlab.stepsize.certify: certificates hold on real runs and fail on doctored ones."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

from gdlab import data
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.certify import (
    AFTER_S_STAR,
    ROUNDING_REASON,
    certify_first_phase,
    certify_stable_phase,
    first_step_condition4,
    first_step_condition5,
)
from gdlab.stepsize.gd import train
from gdlab.stepsize.margins import gamma_c
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import (
    condition4_threshold,
    condition5_threshold,
    problem_constants,
    run_constants,
    theorem41_stable_bound,
    theorem41_tau,
)
from gdlab.stepsize.trajectory import Trajectory

XOR_LRS = [0.1, 1.0, 10.0, 100.0, 1000.0]
SEP_LRS = [0.1, 1.0, 10.0, 100.0]


@pytest.fixture(scope="module")
def xor_runs() -> tuple[TwoLayerNet, data.Dataset, Trajectory]:
    """Figure 2(a-c): XOR as printed (R = sqrt 2), leaky_softplus_ex31, m = 20."""
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.xor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # R > 1 is expected: radius-R constants
        traj = train(net, ds.X, ds.y, XOR_LRS, 3000, init_scale=0.1, seed=0)
    return net, ds, traj


@pytest.fixture(scope="module")
def sep_runs() -> tuple[TwoLayerNet, data.Dataset, torch.Tensor, Trajectory]:
    """Separable data rescaled to max ||x|| = 1 (spec §5), w_* from the hard-margin SVM."""
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 20)
    ds = data.separable_gaussian(n=10, d=5, margin=0.2, seed=0).rescaled()
    w, _ = data.max_margin_direction(ds.X, ds.y)
    traj = train(net, ds.X, ds.y, SEP_LRS, 2000, init_scale=0.1, seed=0, w_star=w)
    return net, ds, w, traj


@pytest.mark.parametrize("constants", ["tight", "printed"])
def test_stable_phase_holds_on_xor_sweep(xor_runs, constants: str) -> None:
    net, ds, traj = xor_runs
    facts = {}
    for k, lr in enumerate(XOR_LRS):
        run = traj.run(k)
        c = run_constants(run, net, ds.X, ds.y, constants=constants)
        table = certify_stable_phase(run, c)
        assert table.ok, f"lr={lr}\n{table}"
        facts[lr] = table.facts
        after_s = [table[name] for name, _ in AFTER_S_STAR]
        if table.facts["s*"] is not None:
            assert all(row.status == "holds" for row in after_s), str(table)
        else:
            assert all(row.status == "untestable" for row in after_s)
    if constants == "tight":
        # every run enters the monotone phase, and the largest stepsize leaves the EoS phase
        # and reaches eq. (5) within the horizon, so every claim is exercised
        assert all(f["r*"] is not None for f in facts.values())
        assert facts[1000.0]["s*"] is not None
    else:
        # the printed constants are looser: their thresholds are smaller and reached later
        assert facts[1.0]["eq. (5) threshold"] < facts[1.0]["eq. (4) threshold"]


def test_stable_phase_holds_on_separable_sweep(sep_runs) -> None:
    net, ds, w, traj = sep_runs
    for k, lr in enumerate(SEP_LRS):
        run = traj.run(k)
        table = certify_stable_phase(run, run_constants(run, net, ds.X, ds.y, w_star=w))
        assert table.ok, f"lr={lr}\n{table}"


def test_first_phase_holds_on_separable_sweep(sep_runs) -> None:
    net, ds, w, traj = sep_runs
    for k, lr in enumerate(SEP_LRS):
        run = traj.run(k)
        c = run_constants(run, net, ds.X, ds.y, w_star=w)
        table = certify_first_phase(run, c)
        assert table.ok, f"lr={lr}\n{table}"
        tested = {row.name for row in table if row.status == "holds"}
        assert {"Theorem 3.2", "Lemma C.3 average G", "Lemma C.3 perceptron step"} <= tested
        assert {"Lemma B.1", "Lemma B.2"} <= tested
        assert all(row.tol_reason == ROUNDING_REASON for row in table if row.tol > 0)
        assert "ASSUMPTION" not in table["Theorem 3.2"].note  # rescaled: R = 1
    # lr = 100 reaches the width-free eq. (5): transition and rate are checked
    run = traj.run(3)
    c = run_constants(run, net, ds.X, ds.y, w_star=w)
    table = certify_first_phase(run, c)
    s = table.facts["s* (width-free eq. 5)"]
    assert s is not None and table["s* <= tau (Theorem 4.1)"].measured == s
    rate = table["Theorem 4.1 rate"]
    assert rate.bound == 8.0 and rate.status == "holds"
    # the peak is the largest attained factor; the claim is stated at the least slack
    assert table.facts["rate peak"] >= rate.measured > 0
    # the attained factor at the claim's step is L_t over Theorem 4.1's bound with factor 1
    bound = theorem41_stable_bound(c, rate.step, s, factor=1.0)
    assert rate.measured == float(run.risk[0, rate.step]) / bound


def test_linear_special_case_first_phase() -> None:
    """m = 1, identity (spec §3.3): Theorem 3.2 is the linear bound of Wu et al."""
    net = TwoLayerNet(get_activation("identity"), torch.tensor([1.0]))
    ds = data.separable_gaussian(n=8, d=3, margin=0.2, seed=2).rescaled()
    w, _ = data.max_margin_direction(ds.X, ds.y)
    traj = train(net, ds.X, ds.y, [0.5, 50.0], 1500, W0=torch.zeros(1, 3), w_star=w)
    for k in range(2):
        run = traj.run(k)
        c = run_constants(run, net, ds.X, ds.y, w_star=w)
        table = certify_first_phase(run, c) + certify_stable_phase(run, c)
        assert table.ok, str(table)


def test_first_steps_match_thresholds(xor_runs) -> None:
    net, ds, traj = xor_runs
    run = traj.run(4)
    c = run_constants(run, net, ds.X, ds.y)
    L = run.risk[0].numpy()
    r = first_step_condition4(run, c)
    s = first_step_condition5(run, c)
    assert r == int(np.argmax(L <= condition4_threshold(c)))
    assert s == int(np.argmax(L <= condition5_threshold(c)))
    assert r <= s  # eq. (5) implies eq. (4)
    # the width-free eq. (5) uses |phi'| <= 1 instead of sup|phi'| = 0.625: reached later
    # (here with R^2 = 2 as well: not reached within the horizon)
    s_free = first_step_condition5(run, c, width_free=True)
    assert s_free is None or s_free >= s


def _doctored(run: Trajectory, **series: np.ndarray) -> Trajectory:
    fields = {k: torch.as_tensor(v, dtype=torch.float64).reshape(1, -1) for k, v in series.items()}
    return dataclasses.replace(run, **fields)


def test_risk_increase_after_r_star_is_caught(xor_runs) -> None:
    net, ds, traj = xor_runs
    run = traj.run(3)
    c = run_constants(run, net, ds.X, ds.y)
    r = first_step_condition4(run, c)
    t = r + 500
    risk = run.risk[0].numpy().copy()
    log_risk = run.log_risk[0].numpy().copy()
    u = np.finfo(np.float64).eps / 2
    # 4 ulps: float64 rounding, within the derived allowance (eps_L >= (n + 5) u per value)
    small = risk.copy()
    small[t + 1] = small[t] * (1 + 4 * u)
    ok = certify_stable_phase(_doctored(run, risk=small), c)["risk non-increasing after r*"]
    assert ok.status == "holds" and ok.measured > 0 and "1 within it" in ok.note
    # a relative increase of 1e-9 is far beyond any float64 effect here
    risk[t + 1] = risk[t] * (1 + 1e-9)
    log_risk[t + 1] = math.log(risk[t + 1])
    table = certify_stable_phase(_doctored(run, risk=risk, log_risk=log_risk), c)
    row = table["risk non-increasing after r*"]
    assert row.status == "fails" and not table.ok
    assert row.step == t + 1 and row.measured == pytest.approx(risk[t] * 1e-9)
    assert row.slack < 0 and row.note.startswith("1 increments beyond")


def test_gamma_c_drop_is_caught(xor_runs) -> None:
    net, ds, traj = xor_runs
    run = traj.run(4)
    c = run_constants(run, net, ds.X, ds.y)
    s = first_step_condition5(run, c)
    norm = run.param_norm[0].numpy().copy()
    t = s + 100
    gc = gamma_c(run.log_risk[0], norm, c)
    # scaling ||w_k|| for k >= t by (gc_t/gc_(t-1))^2 > 1 turns the increase of
    # gamma^c = e^Phi/||w|| at step t into a decrease of the same ratio, and at t only
    norm[t:] *= (gc[t] / gc[t - 1]) ** 2
    table = certify_stable_phase(_doctored(run, param_norm=norm), c)
    row = table["gamma^c non-decreasing after s*"]
    assert row.status == "fails" and row.step == t and row.measured < 0
    assert row.note.startswith("1 decrements beyond")
    assert table["norm non-decreasing after s*"].status == "holds"  # the norm still increases


def test_theorem32_violation_is_caught(sep_runs) -> None:
    net, ds, w, traj = sep_runs
    run = traj.run(1)
    c = run_constants(run, net, ds.X, ds.y, w_star=w)
    risk = run.risk[0].numpy().copy()
    risk[:50] = 100.0  # a running average far above the Theorem 3.2 bound early on
    table = certify_first_phase(_doctored(run, risk=risk), c)
    assert table["Theorem 3.2"].status == "fails" and table["Theorem 3.2"].slack < 0
    assert table["Lemma C.3 average G"].status == "holds"  # G was not doctored


def test_theorem41_rate_violation_is_caught(sep_runs) -> None:
    """A risk 100 times the recorded one after s* exceeds the safe factor 8 of Theorem 4.1."""
    net, ds, w, traj = sep_runs
    run = traj.run(3)
    c = run_constants(run, net, ds.X, ds.y, w_star=w)
    s = certify_first_phase(run, c).facts["s* (width-free eq. 5)"]
    risk = run.risk[0].numpy().copy()
    risk[s + 1 :] *= 100.0
    table = certify_first_phase(_doctored(run, risk=risk), c)
    assert table["Theorem 4.1 rate"].status == "fails" and table.facts["rate peak"] > 8
    # log L_t was not doctored; tau ~ 1e6 >> T = 2000: the transition claim cannot fail here
    assert table["s* <= tau (Theorem 4.1)"].status == "vacuous"


def test_subsampled_record(xor_runs) -> None:
    net, ds, _ = xor_runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        traj = train(net, ds.X, ds.y, 1000.0, 3000, record_every=7)
    run = traj.run(0)
    c = run_constants(run, net, ds.X, ds.y)
    table = certify_stable_phase(run, c)
    assert table.ok, str(table)
    assert "subsampled" in table["risk non-increasing after r*"].note
    # lemmas about a single GD step need two recorded steps one apart: none here (gaps 7, 4)
    assert table["Lemma A.3"].status == "untestable" and "one-step" in table["Lemma A.3"].needs
    sep = data.separable_gaussian(n=10, d=5, margin=0.2, seed=0).rescaled()
    w, _ = data.max_margin_direction(sep.X, sep.y)
    sub = train(net, sep.X, sep.y, 10.0, 20, record_every=2).run(0)
    with pytest.raises(ValueError, match="record_every=1"):
        certify_first_phase(sub, run_constants(sub, net, sep.X, sep.y, w_star=w))


def test_unrescaled_data_flag_the_assumption() -> None:
    net = TwoLayerNet.balanced(get_activation("leaky_softplus_ex31"), 4)
    ds = data.separable_gaussian(n=6, d=3, margin=0.2, seed=1)
    X = 2 * ds.X  # R ~ 2 > 1
    w, _ = data.max_margin_direction(X, ds.y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        run = train(net, X, ds.y, 5.0, 30, w_star=w).run(0)
    table = certify_first_phase(run, run_constants(run, net, X, ds.y, w_star=w))
    tested = [row for row in table if row.status != "untestable"]
    assert tested and all("ASSUMPTION FAILS" in row.note for row in tested)


def test_input_validation(xor_runs, sep_runs) -> None:
    net, ds, traj = xor_runs
    c = run_constants(traj.run(0), net, ds.X, ds.y)
    with pytest.raises(ValueError, match="single run"):
        certify_stable_phase(traj, c)
    with pytest.raises(ValueError, match="lr="):
        certify_stable_phase(traj.run(1), c)
    with pytest.raises(ValueError, match="Assumption 3"):
        certify_first_phase(traj.run(0), c)
    net, sep, w, straj = sep_runs
    run = straj.run(0)
    c = problem_constants(net, sep.X, sep.y, SEP_LRS[0], W0=torch.zeros(20, 5), w_star=w)
    with pytest.raises(ValueError, match="w0_norm"):
        certify_first_phase(run, c)


def test_gamma_c_underflow_is_handled_in_log_space() -> None:
    """At lr = 3000, k_1 ~ 7000: gamma^c = e^Phi/||w|| underflows to 0 and A.10's c is inf."""
    net = TwoLayerNet.balanced(get_activation("leaky_tanh"), 2)
    ds = data.five_point().rescaled()
    run = train(net, ds.X, ds.y, 3000.0, 1000, init_scale=0.3, seed=1).run(0)
    c = run_constants(run, net, ds.X, ds.y)
    table = certify_stable_phase(run, c)
    s = table.facts["s*"]
    assert s is not None and gamma_c(run.log_risk[0, s], run.param_norm[0, s], c) == 0.0
    assert table.ok, str(table)
    row = table["gamma^c non-decreasing after s*"]
    assert np.isfinite(row.measured) and row.measured > 0  # increments of log gamma^c
    assert np.isfinite(table["Lemma A.13"].measured)
    # gamma^c(w_s) = 0: A.14's upper bound 2/((t - s) lr gamma^c_s^2) is infinite at every
    # step (vacuous, not NaN), and so is A.15's upper bound
    upper = table["Lemma A.14 upper"]
    assert upper.bound == math.inf and upper.status == "vacuous" and upper.tol == 0.0
    assert table["Lemma A.15 upper"].status == "vacuous"


def _large_margin_linear() -> tuple[TwoLayerNet, data.Dataset, torch.Tensor]:
    """m = 1, identity, two points of margin ~0.97: Theorem 4.1's tau ~ 8e3 at lr = 5."""
    net = TwoLayerNet(get_activation("identity"), torch.tensor([1.0]))
    ds = data.separable_gaussian(n=2, d=2, margin=0.95, seed=0).rescaled()
    w, _ = data.max_margin_direction(ds.X, ds.y)
    return net, ds, w


@pytest.mark.parametrize(("steps", "status"), [(100, "vacuous"), (9000, "holds")])
def test_theorem41_transition_is_vacuous_below_tau(steps: int, status: str) -> None:
    """s* <= T a priori: with tau ~ 8e3 a run of T = 100 steps cannot fail the claim (vacuous,
    tau/T ~ 10^1.9), one of T = 9000 > tau could (s* = T + 1 if eq. (5) were never reached)."""
    net, ds, w = _large_margin_linear()
    run = train(net, ds.X, ds.y, 5.0, steps, W0=torch.zeros(1, 2), w_star=w).run(0)
    c = run_constants(run, net, ds.X, ds.y, w_star=w)
    row = certify_first_phase(run, c)["s* <= tau (Theorem 4.1)"]
    tau = theorem41_tau(c)
    assert row.status == status and row.bound == tau and row.trivial == steps
    assert row.measured <= steps  # eq. (5) is reached within both horizons
    decades = math.log10(tau / steps)
    assert f"10^{decades:.1f}" in row.note
    if status == "vacuous":
        assert decades > 1.5 and f"{decades:+.1f} decades" in row.detail
    else:
        assert tau < steps and row.slack > 0
        # a doctored run that never reaches eq. (5) by T > tau fails with s* = T + 1
        never = _doctored(run, log_risk=np.zeros(steps + 1), risk=np.ones(steps + 1))
        late = certify_first_phase(never, c)["s* <= tau (Theorem 4.1)"]
        assert late.status == "fails" and late.measured == steps + 1


def test_gamma_c_undefined_after_s_star_is_untestable_not_an_error(xor_runs) -> None:
    """gamma^c (eq. 10) is undefined where L_t >= 1/(2 n e^kappa). A risk that climbs back that
    high after s* must not crash the certificate: the pairs with an undefined end are skipped
    (and counted), the risk claim fails, and with no defined pair left the gamma^c and A.13
    claims are untestable and say what they need."""
    net, ds, traj = xor_runs
    run = traj.run(4)
    c = run_constants(run, net, ds.X, ds.y)
    s = first_step_condition5(run, c)
    high = math.log(0.5)  # L = 1/2 >= 1/(2 n e^kappa) = 0.11 for n = 4
    assert high >= -math.log(2 * c.n) - c.kappa
    log_risk = run.log_risk[0].numpy().copy()
    log_risk[s + 1] = high  # one step: two pairs lose gamma^c, the others are still tested
    table = certify_stable_phase(_doctored(run, log_risk=log_risk, risk=np.exp(log_risk)), c)
    row = table["gamma^c non-decreasing after s*"]
    assert row.status == "holds" and "2 pairs skipped where gamma^c is undefined" in row.note
    assert "2 with gamma^c undefined skipped" in table["Lemma A.13"].note
    assert table["risk non-increasing after r*"].status == "fails"
    log_risk[s + 1 :] = high  # every step after s*: no pair with gamma^c defined at both ends
    table = certify_stable_phase(_doctored(run, log_risk=log_risk, risk=np.exp(log_risk)), c)
    for name in ("gamma^c non-decreasing after s*", "Lemma A.13"):
        assert table[name].status == "untestable" and "gamma^c" in table[name].needs
    assert table.facts["s*"] == s and not table.ok  # the risk claim still fails

"""Regression cases of the stress profile (gdlab.stepsize.stress): float64 limits, not theorems.

An early run of the large profile (seed 0) found three undefined claims of Lemma A.13 and three
ZeroDivisionErrors, a later one a "violation" of Lemma A.7. Each case has a stepsize ``eta`` in
the thousands whose first GD step separates the data with margins of several hundred, so
``L_1 < e^-300``: the squared gradient norm underflows to 0 and float64 GD stops. The fixes
(Lemmas A.14, A.15 from ``log L_s``; A.13's right-hand side 0 on a step that does not move;
gradual underflow in the rounding model of :mod:`gdlab.stepsize.certify.rounding`) must keep
every certificate of these cases computable and holding.
"""

from __future__ import annotations

import dataclasses

import pytest

from gdlab.stepsize.stress import Case, check_case, run_case

REGRESSIONS = [  # found by the large profile (seed 0); each repr reproduces its case
    # Lemma A.13 evaluated inf * 0 = NaN, or Lemmas A.14 and A.15 divided by L_s = 0
    Case(
        kind="gaussian",
        n=5,
        d=3,
        radius=1.0,
        margin=0.19695413775716578,
        activation="leaky_gelu",
        params=(("c", 0.6116465123928956),),
        m=6,
        init_scale=0.0014436749309580227,
        eta=9472.515325111326,
        steps=695,
        seed=279520044,
    ),
    Case(
        kind="gaussian",
        n=4,
        d=5,
        radius=1.819376524053768,
        margin=0.012860115179949734,
        activation="silu",
        params=(),
        m=4,
        init_scale=0.7560364643266956,
        eta=7258.2599109664225,
        steps=499,
        seed=1691658639,
    ),
    Case(
        kind="hyperplane",
        n=6,
        d=3,
        radius=1.0,
        margin=0.27138415968050167,
        activation="identity",
        params=(),
        m=7,
        init_scale=0.9241473877448924,
        eta=2670.5360713619066,
        steps=171,
        seed=882475463,
    ),
    Case(
        kind="gaussian",
        n=5,
        d=2,
        radius=1.9605016838577856,
        margin=0.15524618440908303,
        activation="identity",
        params=(),
        m=6,
        init_scale=0.42757775874425685,
        eta=2616.630202551028,
        steps=665,
        seed=1734760560,
    ),
    Case(
        kind="gaussian",
        n=4,
        d=5,
        radius=1.0,
        margin=0.017189902479207677,
        activation="identity",
        params=(),
        m=5,
        init_scale=0.0057248324084535705,
        eta=9969.76889518616,
        steps=716,
        seed=567300456,
    ),
    Case(
        kind="gaussian",
        n=11,
        d=5,
        radius=1.672253720507157,
        margin=0.19305447240012263,
        activation="identity",
        params=(),
        m=5,
        init_scale=0.0011744709821124562,
        eta=6509.665178833978,
        steps=626,
        seed=1208907793,
    ),
    # v_t underflows to 0 while Lemma A.7's bound is the subnormal 1.9e-309
    Case(
        kind="gaussian",
        n=4,
        d=2,
        radius=1.9628736542717342,
        margin=0.06180793104087501,
        activation="leaky_softplus_half",
        params=(),
        m=5,
        init_scale=0.005398590110300562,
        eta=1526.7330345766306,
        steps=640,
        seed=1709225826,
    ),
]


@pytest.mark.parametrize("case", REGRESSIONS, ids=[f"case{i}" for i in range(len(REGRESSIONS))])
def test_regression_case(case: Case) -> None:
    # the float64 diagnosis: after one step L_1 < e^-300, the gradient underflows, GD stops
    traj = run_case(dataclasses.replace(case, steps=2)).traj  # the same first two steps
    assert case.eta > 1000 and traj.log_risk[0, 1] < -300
    assert traj.grad_norm_sq[0, 1] == 0.0
    assert traj.param_norm[0, 2] == traj.param_norm[0, 1]
    # the whole case: every claim is computed (no error) and none fails
    claims = check_case(case)
    assert claims.ok, str(claims)
    assert claims.facts["s*"] is not None  # the after-s* claims (A.13-A.15) were exercised

"""Tests of gdlab.stepsize.activations: closed forms, Assumption 2 constants, printed values."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab.stepsize.activations import (
    ACTIVATION_NAMES,
    Activation,
    get_activation,
    numerical_constants,
    silu_stationary_point,
)

EPS = torch.finfo(torch.float64).eps
# The default grid of numerical_constants: 1_000_001 points on [-50, 50].
GRID_LO, GRID_HI, GRID_NUM = -50.0, 50.0, 1_000_001
SPACING = (GRID_HI - GRID_LO) / (GRID_NUM - 1)
# A constant may exceed nothing on the grid except by rounding: phi - z phi' cancels terms of
# size |c z| <= 50, so float64 rounding there is a few times 50 * eps ~ 1e-14.
ROUND = 1e-12
# A smooth interior maximum lies within SPACING/2 of a grid point, so the grid misses it by at
# most sup|g''| SPACING^2 / 8 < 1e-8 for |g''| <= 2 (true of every g here); tails decay like
# e^{-50} or faster, so the asymptotic values are attained on the grid to rounding.
GAP = 1e-8

# Each activation with non-default parameters as well, so that c and h are exercised.
CASES = [(name, {}) for name in ACTIVATION_NAMES] + [
    ("leaky_gelu", {"c": 0.9}),
    ("leaky_tanh", {"c": 0.6}),
    ("huberized_relu", {"h": 0.3}),
    ("leaky_huberized_relu", {"c": 0.8, "h": 2.5}),
]
IDS = [f"{n}{p}" if p else n for n, p in CASES]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def act_and_grid(request: pytest.FixtureRequest) -> tuple[Activation, dict[str, float]]:
    name, params = request.param
    act = get_activation(name, **params)
    return act, numerical_constants(act)


def test_names_and_errors() -> None:
    assert len(set(ACTIVATION_NAMES)) == len(ACTIVATION_NAMES) == 15
    with pytest.raises(ValueError, match=r"unknown activation 'relu'.*leaky_softplus_half"):
        get_activation("relu")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['c'\].*allowed: none"):
        get_activation("softplus", c=0.5)
    with pytest.raises(ValueError, match=r"\['beta'\].*allowed: \['c', 'h'\]"):
        get_activation("leaky_huberized_relu", beta=1.0)
    with pytest.raises(ValueError, match=r"c=0\.4 outside \[0\.5, 1\)"):
        get_activation("leaky_tanh", c=0.4)
    with pytest.raises(ValueError, match=r"c=1\.0 outside"):
        get_activation("leaky_gelu", c=1.0)
    with pytest.raises(ValueError, match=r"h=0\.0 must be finite and > 0"):
        get_activation("huberized_relu", h=0.0)
    with pytest.raises(TypeError, match="c=True must be a real number"):
        get_activation("leaky_silu", c=True)
    with pytest.raises(ValueError, match="lo < hi"):
        numerical_constants(get_activation("tanh"), lo=1.0, hi=-1.0)


def test_params_defaults_and_forms() -> None:
    assert get_activation("leaky_softplus").params == {"c": 0.5}
    assert get_activation("leaky_huberized_relu", h=2).params == {"c": 0.5, "h": 2.0}
    assert get_activation("gelu").params == {}
    z = torch.linspace(-5, 5, 101, dtype=torch.float64)
    sp = torch.log1p(torch.exp(z))
    ex31 = get_activation("leaky_softplus_ex31")
    half = get_activation("leaky_softplus_half")
    torch.testing.assert_close(ex31.phi(z), 0.5 * z + 0.125 * sp, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(half.phi(z), (z + sp) / 2, rtol=1e-15, atol=1e-15)
    # Example 3.1 at c = 0.5 is the ex31 variant (spec §6.1).
    torch.testing.assert_close(get_activation("leaky_softplus").phi(z), ex31.phi(z))
    # Corrected leaky sigmoid c x + (1 - c) sigma(x) (spec §6.8).
    c = 0.85
    torch.testing.assert_close(
        get_activation("leaky_sigmoid", c=c).phi(z), c * z + (1 - c) * torch.sigmoid(z)
    )
    # Standard GELU x Phi_N(x) = (x/2)(1 + erf(x/sqrt 2)), not the misprinted erf form (§6.2).
    gelu = get_activation("gelu").phi(z)
    torch.testing.assert_close(gelu, z / 2 * (1 + torch.erf(z / math.sqrt(2))))
    torch.testing.assert_close(gelu, torch.nn.functional.gelu(z))
    torch.testing.assert_close(get_activation("silu").phi(z), torch.nn.functional.silu(z))
    h = 0.3
    hub = get_activation("huberized_relu", h=h).phi(z)
    ref = torch.where(z < 0, 0.0, torch.where(z <= h, z**2 / (2 * h), z - h / 2))
    torch.testing.assert_close(hub, ref)
    torch.testing.assert_close(get_activation("identity").phi(z), z)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_derivatives_equal_autograd(name: str, params: dict[str, float]) -> None:
    act = get_activation(name, **params)
    gen = torch.Generator().manual_seed(1)
    z = torch.cat(
        [
            torch.randn(2000, generator=gen, dtype=torch.float64) * 4,
            torch.tensor([-1e6, -1e3, -45.0, -25.0, 25.0, 45.0, 1e3, 1e6], dtype=torch.float64),
        ]
    ).requires_grad_(True)
    (d1,) = torch.autograd.grad(act.phi(z).sum(), z)
    dphi = act.dphi(z)  # a constant (no graph) for the identity
    d2 = torch.autograd.grad(dphi.sum(), z)[0] if dphi.requires_grad else torch.zeros_like(z)
    with torch.no_grad():
        values = [act.phi(z), act.dphi(z), act.ddphi(z)]
    assert all(bool(torch.isfinite(v).all()) for v in [*values, d1, d2])
    # Both sides are float64 evaluations of the same closed forms in different orders.
    torch.testing.assert_close(values[1], d1, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(values[2], d2, rtol=1e-12, atol=1e-15)


def test_constants_bound_the_grid(act_and_grid: tuple[Activation, dict[str, float]]) -> None:
    act, grid = act_and_grid
    assert grid["sup_dphi"] <= act.sup_dphi + ROUND
    assert grid["beta_tilde"] <= act.beta_tilde + ROUND
    assert grid["kappa"] <= act.kappa + ROUND
    assert grid["alpha"] >= act.alpha - ROUND


def test_constants_are_nearly_attained(act_and_grid: tuple[Activation, dict[str, float]]) -> None:
    act, grid = act_and_grid
    assert act.sup_dphi - grid["sup_dphi"] <= GAP
    assert act.beta_tilde - grid["beta_tilde"] <= GAP
    assert act.kappa - grid["kappa"] <= GAP
    # alpha = inf |phi'| is either approached in a tail (attained to rounding) or is a zero of
    # phi' (GELU, SiLU), which lies within SPACING/2 of a grid point: |phi'| <= beta~ SPACING/2.
    assert grid["alpha"] - act.alpha <= GAP + act.beta_tilde * SPACING / 2
    sign_change = grid["min_dphi"] < 0 < grid["max_dphi"]
    assert (act.alpha == 0.0) == (sign_change or grid["alpha"] < GAP)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_constants_hold_far_out(name: str, params: dict[str, float]) -> None:
    """The constants also bound phi at |z| up to 1e6 (the asymptotes), up to the rounding of
    the cancellation in phi - z phi', of size a few eps |z|."""
    act = get_activation(name, **params)
    z = torch.tensor([-1e6, -1e4, -300.0, 300.0, 1e4, 1e6], dtype=torch.float64)
    d1 = act.dphi(z)
    assert bool((d1.abs() <= act.sup_dphi + ROUND).all())
    assert bool((d1.abs() >= act.alpha - ROUND).all())
    assert bool((act.ddphi(z).abs() <= act.beta_tilde + ROUND).all())
    gap = (act.phi(z) - z * d1).abs()
    assert bool((gap <= act.kappa + 4 * EPS * z.abs()).all())


def test_silu_stationary_point() -> None:
    z0 = silu_stationary_point()
    assert abs(z0 * math.tanh(z0 / 2) - 2) < 4 * EPS  # root to float64 rounding
    silu = get_activation("silu")
    # psi''(+-z0) = 0 and the two extrema of psi' sum to 1 (psi'(z) + psi'(-z) = 1).
    zz = torch.tensor([-z0, z0], dtype=torch.float64)
    assert float(silu.ddphi(zz).abs().max()) < 1e-15
    assert abs(float(silu.dphi(zz).sum()) - 1) < 4 * EPS


def test_tight_values_of_the_spec_tables() -> None:
    """Spec §2 tables (printed to 3-4 digits; tolerance half a unit of the last digit)."""
    gelu, silu = get_activation("gelu"), get_activation("silu")
    assert gelu.kappa == pytest.approx(0.294, abs=5e-4)
    assert gelu.sup_dphi == pytest.approx(1.129, abs=5e-4)
    assert gelu.beta_tilde == pytest.approx(2 / math.sqrt(2 * math.pi), rel=1e-15)
    assert silu.kappa == pytest.approx(0.439, abs=5e-4)
    assert silu.sup_dphi == pytest.approx(1.100, abs=5e-4)
    assert silu.beta_tilde == 0.5
    sp = get_activation("softplus")
    assert (sp.kappa, sp.sup_dphi, sp.beta_tilde) == (math.log(2), 1.0, 0.25)
    hub = get_activation("huberized_relu", h=0.3)
    assert (hub.kappa, hub.sup_dphi, hub.beta_tilde) == (0.15, 1.0, 1 / 0.3)
    ex31, half = get_activation("leaky_softplus_ex31"), get_activation("leaky_softplus_half")
    assert (ex31.alpha, ex31.sup_dphi, ex31.beta_tilde) == (0.5, 0.625, 1 / 32)
    assert ex31.kappa == pytest.approx(math.log(2) / 8, rel=1e-15)
    assert (half.alpha, half.sup_dphi, half.beta_tilde) == (0.5, 1.0, 1 / 8)
    assert half.kappa == pytest.approx(math.log(2) / 2, rel=1e-15)
    ident = get_activation("identity")
    assert (ident.alpha, ident.sup_dphi, ident.beta_tilde, ident.kappa) == (1.0, 1.0, 0.0, 0.0)


def test_assumption2() -> None:
    for name in ACTIVATION_NAMES:
        act = get_activation(name)
        leaky = name.startswith("leaky_") or name == "identity"
        assert act.satisfies_assumption2 == leaky, name
    assert get_activation("leaky_gelu", c=0.99).satisfies_assumption2


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_tight_constants_within_printed(name: str, params: dict[str, float]) -> None:
    """Every printed constant is a valid bound except GELU's kappa (spec §6.2), which is too
    small: |phi - z phi'| = z^2 phi_N(z) exceeds it near z = sqrt 2."""
    act = get_activation(name, **params)
    p = act.printed
    assert p is not None
    if p.beta_tilde is not None:
        assert act.beta_tilde <= p.beta_tilde
    if p.sup_dphi is not None:
        assert act.sup_dphi <= p.sup_dphi
    if p.alpha is not None:
        assert act.alpha >= p.alpha
    if name == "gelu":
        assert act.kappa > p.kappa
        z = torch.tensor([math.sqrt(2)], dtype=torch.float64)
        assert float((act.phi(z) - z * act.dphi(z)).abs()) > p.kappa
        assert act.kappa / p.kappa == pytest.approx(2 * math.exp(-0.5), rel=1e-14)
    else:
        assert act.kappa <= p.kappa


def test_hash_and_equality() -> None:
    assert get_activation("leaky_tanh", c=0.6) == get_activation("leaky_tanh", c=0.6)
    assert get_activation("leaky_tanh", c=0.6) != get_activation("leaky_tanh", c=0.7)
    assert len({get_activation("gelu"), get_activation("gelu")}) == 1

"""The statistics of Part II's equilibria in gdlab.stats: batch means, replica means, combined
estimates, z-scores, extrapolation to eta -> 0 and the family-wise threshold."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab.runtime import make_generator
from gdlab.stats import (
    critical_z,
    extrapolate_to_zero,
    linear_extrapolation,
    mean_of_estimates,
    pairwise_z,
    power_law,
    relative_difference,
    replica_mean,
    sum_of_estimates,
    time_average,
    z_score,
)

F64 = torch.float64


def test_time_average_batch_means():
    gen = make_generator(10)
    z = torch.randn(3, 10_000, generator=gen, dtype=F64)
    mean, se = time_average(z, blocks=20)
    # i.i.d. data: the batch-means error estimates 1/sqrt(T) within its own sampling error
    # (20 blocks: relative error of a std estimate about 1/sqrt(2 * 19) ~ 16 %, 3 sigma).
    assert ((se * math.sqrt(10_000) - 1).abs() < 0.5).all()
    assert (mean.abs() < 5 / math.sqrt(10_000)).all()


def test_time_average_sees_autocorrelation():
    """A random walk's increments summed in blocks: the batch-means error of an AR(1) series
    with rho = 0.9 is about sqrt((1 + rho) / (1 - rho)) = 4.4 times the naive one."""
    gen = make_generator(11)
    noise = torch.randn(1, 50_000, generator=gen, dtype=F64)
    series = torch.empty_like(noise)
    series[:, 0] = noise[:, 0]
    for t in range(1, noise.shape[1]):
        series[:, t] = 0.9 * series[:, t - 1] + noise[:, t]
    _, se = time_average(series, blocks=20)
    naive = series.std() / math.sqrt(series.shape[1])
    # sampling error of the batch-means estimate with 20 blocks: ~16 % (3 sigma: 50 %)
    assert 0.5 * math.sqrt(19) < float(se / naive) < 1.5 * math.sqrt(19)


def test_linear_extrapolation_and_critical_z():
    x = torch.tensor([0.01, 0.02], dtype=F64)
    a, a_se, slope = linear_extrapolation(x, 1.0 + 3.0 * x, torch.tensor([0.1, 0.2], dtype=F64))
    # two points: the line through them, a = 2 y1 - y2, se = sqrt(4 s1^2 + s2^2)
    assert a == pytest.approx(1.0, abs=1e-12) and slope == pytest.approx(3.0, rel=1e-10)
    assert a_se == pytest.approx(math.sqrt(4 * 0.01 + 0.04), rel=1e-12)
    assert critical_z(1, None, alpha=0.05) == pytest.approx(1.959964, rel=1e-6)
    assert critical_z(10, 9) > critical_z(1, 9) > critical_z(1, None)
    with pytest.raises(ValueError, match="stderr must be > 0"):
        linear_extrapolation(x, x, torch.zeros(2, dtype=F64))


def test_extrapolate_to_zero_entry_by_entry():
    etas = [0.02, 0.04]
    truth = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=F64)
    slope = torch.tensor([[4.0, 1.0], [-2.0, 0.0]], dtype=F64)
    means = torch.stack([truth + e * slope for e in etas])
    se = torch.stack([torch.full((2, 2), 0.1, dtype=F64), torch.full((2, 2), 0.3, dtype=F64)])
    value, err = extrapolate_to_zero(etas, means, se)
    # float64 rounding of a 2 x 2 weighted least-squares solve
    torch.testing.assert_close(value, truth, rtol=0, atol=1e-12)
    torch.testing.assert_close(err, torch.full((2, 2), math.sqrt(4 * 0.01 + 0.09), dtype=F64))
    # each entry is linear_extrapolation of its own column, bit for bit
    a, a_se, _ = linear_extrapolation(torch.tensor(etas, dtype=F64), means[:, 1, 0], se[:, 1, 0])
    assert (value[1, 0].item(), err[1, 0].item()) == (a, a_se)
    with pytest.raises(ValueError, match=r"means must have 3 rows \(one per x"):
        extrapolate_to_zero([0.1, 0.2, 0.3], means, se)


def test_replica_and_combined_estimates():
    values = torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=F64)
    mean, se = replica_mean(values)
    assert float(mean) == 3.0 and float(se) == pytest.approx(math.sqrt(14 / 3) / 2)
    with pytest.raises(ValueError, match="number of replicas"):
        replica_mean(values[:, :1])
    means = torch.tensor([1.0, 3.0], dtype=F64)
    errs = torch.tensor([0.3, 0.4], dtype=F64)
    total, total_se = sum_of_estimates(means, errs)
    assert float(total) == 4.0 and float(total_se) == pytest.approx(0.5)
    avg, avg_se = mean_of_estimates(means, errs)
    assert float(avg) == 2.0 and float(avg_se) == pytest.approx(0.25)


def test_z_scores():
    a, b = torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([1.5, 2.0], dtype=F64)
    se = torch.tensor([0.3, 0.3], dtype=F64)
    torch.testing.assert_close(z_score(a, b, se), torch.tensor([0.5 / 0.3, 0.0], dtype=F64))
    torch.testing.assert_close(
        z_score(a, b, se, torch.tensor([0.4, 0.4], dtype=F64)), torch.tensor([1.0, 0.0], dtype=F64)
    )
    means = torch.tensor([[0.0, 1.0], [3.0, 1.0], [4.0, 1.0]], dtype=F64)
    errs = torch.tensor([[0.0, 0.0], [3.0, 1.0], [4.0, 1.0]], dtype=F64)
    z = pairwise_z(means, errs)
    assert z.shape == (3, 3, 2)
    assert float(z[0, 1, 0]) == 1.0 and float(z[1, 2, 0]) == pytest.approx(0.2)
    assert torch.equal(z[:, :, 1], torch.zeros(3, 3, dtype=F64))  # equal means; 0/0 on (0, 0)
    assert torch.equal(z, z.transpose(0, 1))


def test_relative_difference():
    b = torch.tensor([[3.0, 0.0], [0.0, 4.0]], dtype=F64)
    assert relative_difference(b + torch.tensor([[0.0, 1.0], [0.0, 0.0]]), b) == 0.2
    with pytest.raises(ValueError, match="one shape"):
        relative_difference(b, b[0])


def test_power_law_recovers_exponents_and_rejects_wrong_ones() -> None:
    x = [0.01, 0.02, 0.04]
    y = torch.tensor([0.1 * v**0.5 for v in x], dtype=F64)
    p, se = power_law(x, y, 0.01 * y)
    assert p == pytest.approx(0.5, abs=1e-12) and se > 0
    # with 1 % errors, a sqrt law is many standard errors from the O(eta) exponent 1
    assert abs(p - 1) / se > 10
    with pytest.raises(ValueError, match="at least 3 points"):
        power_law(x[:2], y[:2], y[:2])


def test_extrapolation_widens_its_error_when_the_line_misfits() -> None:
    x = [0.1, 0.08, 0.06]
    se = torch.full((3, 1), 1e-3, dtype=F64)
    line = torch.tensor([[1.0 + 2 * v] for v in x], dtype=F64)
    value, err = extrapolate_to_zero(x, line, se, misfit=True)
    _, plain = extrapolate_to_zero(x, line, se)
    assert float(value) == pytest.approx(1.0, abs=1e-12) and torch.equal(err, plain)
    bent = line + torch.tensor([[0.0], [0.01], [0.0]], dtype=F64)  # 10 s.e. off the line
    _, wide = extrapolate_to_zero(x, bent, se, misfit=True)
    assert float(wide) > 5 * float(plain)

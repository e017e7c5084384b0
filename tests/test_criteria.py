"""Tests of gdlab.stepsize.criteria: the drop measures the margin criteria are judged by."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.stepsize.criteria import largest_drop, largest_relative_dip


def test_largest_drop() -> None:
    assert largest_drop(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_drop(np.array([1.0, 3.0, 2.5, 4.0])) == pytest.approx(0.5)
    assert largest_drop(np.array([1.0])) == 0.0


def test_largest_relative_dip() -> None:
    assert largest_relative_dip(np.array([1.0, 2.0, 3.0])) == 0.0
    assert largest_relative_dip(np.array([2.0, 4.0, 3.0, 5.0])) == pytest.approx(0.25)
    assert largest_relative_dip(np.array([-2.0, -3.0])) == pytest.approx(0.5)  # |x_t| below
    assert largest_relative_dip(np.array([1.0])) == 0.0

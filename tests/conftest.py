"""Fixtures shared by the study tests (``tests/test_study_*.py``)."""

from __future__ import annotations

import pytest
import torch

from gdlab.experiments.cache import ResultCache
from gdlab.experiments.study import RunContext


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    """A CPU run context with a fresh result cache per test module (its units are computed once
    per module and reused by that module's tests)."""
    return RunContext(torch.device("cpu"), ResultCache(tmp_path_factory.mktemp("cache")))

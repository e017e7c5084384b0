"""Time averages over a stationary window, with batch-means standard errors.

SGD iterates are autocorrelated, so the naive ``std / sqrt(T)`` understates the error of a time
average. Splitting the window into ``blocks`` contiguous blocks and treating the block means as
independent (valid once blocks are longer than the correlation time) gives the batch-means
standard error ``std(block means) / sqrt(blocks)``.
"""

from __future__ import annotations

import math

import torch

from gdlab.symmetry._checks import check_int

__all__ = ["time_average"]


def time_average(series: torch.Tensor, blocks: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the time axis (dim 1) of a (K, T, ...) series and its batch-means std error.

    The last ``T mod blocks`` points are dropped so that all blocks have equal length.
    """
    check_int("blocks", blocks, minimum=2)
    T = series.shape[1]
    if T < blocks:
        raise ValueError(f"need at least blocks={blocks} time points, got {T}")
    size = T // blocks
    chunks = series[:, : size * blocks].reshape(series.shape[0], blocks, size, *series.shape[2:])
    means = chunks.mean(2)
    return means.mean(1), means.std(1) / math.sqrt(blocks)

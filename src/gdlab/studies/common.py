"""Units of work that several Part I studies share, each cached through the run context.

:func:`two_layer_runs` trains K runs of the two-layer network of eq. (2) at once (one per
stepsize, shared initialisation) and caches the record as one unit; :func:`gd_sweep` wraps it as
a :class:`~gdlab.stepsize.sweeps.SweepResult` with each run's constants. Data are named by plain
JSON specs (``{"name": "xor"}``, ``{"name": "digits", "classes": [3, 8]}``, ``{"name":
"five_point", "rescaled": true}`` for inputs divided by their radius) so that the spec is part of
the cache key.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gdlab.data import Dataset, get_dataset, max_margin_direction
from gdlab.experiments.study import RunContext, pack, unpack
from gdlab.runtime import get_dtype
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.gd import train
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult, sweep_from_trajectory
from gdlab.stepsize.trajectory import Trajectory, concatenate

__all__ = ["dataset", "gd_sweep", "test_accuracy", "two_layer_runs"]


def dataset(spec: Mapping[str, Any]) -> Dataset:
    """The dataset of a spec ``{"name": ..., "rescaled": bool, **kwargs}`` (JSON lists become
    tuples; ``"rescaled": true`` divides the inputs by their radius, spec §5)."""
    kwargs = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in spec.items()
        if k not in ("name", "rescaled")
    }
    ds = get_dataset(spec["name"], **kwargs)
    return ds.rescaled() if spec.get("rescaled", False) else ds


def test_accuracy(net: TwoLayerNet, W: torch.Tensor, ds: Dataset) -> torch.Tensor:
    """Test accuracy of each of the K parameters ``W`` (K, m, d): the fraction with ``y f > 0``,
    computed on the device of ``W``."""
    X, y = ds.X_test.to(W.device, W.dtype), ds.y_test.to(W.device, W.dtype)
    f = net.forward(W, X)
    return ((f * y) > 0).to(W.dtype).mean(dim=1)


def two_layer_runs(
    ctx: RunContext,
    data: Mapping[str, Any],
    activation: str,
    m: int,
    lr: list[float],
    steps: int,
    *,
    init_scale: float = 0.1,
    seed: int = 0,
    record_every: int = 1,
    checkpoints: int = 1,
    per_neuron: bool = False,
    record_w_star: bool = False,
) -> tuple[Trajectory, np.ndarray, np.ndarray]:
    """K GD runs of eq. (2) (balanced signs, shared Gaussian init), cached as one unit.

    GD has no state besides ``w``, so the horizon is split into ``checkpoints`` segments, each
    started from the previous ``w_final``; the test accuracy is measured at the segment ends
    (and at step 0) when the data have a test split. ``record_w_star`` records
    ``<w_t, bar-w_*>`` along the data's hard-margin SVM direction (Assumption 3; the data must be
    linearly separable). Returns ``(trajectory, test_steps,
    test_accuracy (K, C))`` (empty arrays without a test split).
    """
    config = {
        "data": dict(data),
        "activation": activation,
        "m": m,
        "lr": [float(x) for x in lr],
        "steps": steps,
        "init_scale": init_scale,
        "seed": seed,
        "record_every": record_every,
        "checkpoints": checkpoints,
        "per_neuron": per_neuron,
        "record_w_star": record_w_star,
        "dtype": str(get_dtype()).removeprefix("torch."),
    }

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        ds = dataset(data)
        w_star = max_margin_direction(ds.X, ds.y)[0] if record_w_star else None
        net = TwoLayerNet.balanced(get_activation(activation), m)
        bounds = np.unique(np.linspace(0, steps, checkpoints + 1).round().astype(int))
        W = None
        parts: list[Trajectory] = []
        accs = []
        if ds.has_test:
            W0 = net.init(1, ds.d, init_scale, seed).to(ctx.device)
            accs.append(test_accuracy(net, W0, ds).expand(len(lr)))
        label = f"{activation} m={m} K={len(lr)}"
        for a, b in ctx.steps(list(itertools.pairwise(bounds)), desc=label):
            with warnings.catch_warnings():
                # Figure data are kept as printed (spec §6.5); R is recorded in meta.
                warnings.filterwarnings("ignore", message=r"max \|\|x_i\|\|")
                traj = train(
                    net,
                    ds.X,
                    ds.y,
                    lr,
                    int(b - a),
                    W,
                    init_scale=init_scale,
                    seed=seed,
                    record_every=record_every,
                    per_neuron=per_neuron,
                    w_star=w_star,
                    device=ctx.device,
                    meta={"dataset": ds.name, "data_note": ds.note},
                )
            W = traj.w_final
            parts.append(traj)
            if ds.has_test:
                accs.append(test_accuracy(net, W.to(ctx.device), ds))
        arrays, meta = pack(concatenate(parts))
        arrays["test_steps"] = bounds if ds.has_test else np.zeros(0, dtype=np.int64)
        arrays["test_accuracy"] = (
            torch.stack(accs, dim=1).cpu().numpy() if accs else np.zeros((len(lr), 0))
        )
        return arrays, meta

    arrays, meta = ctx.cached("two-layer-gd", config, compute)
    arrays = dict(arrays)
    test_steps, test_acc = arrays.pop("test_steps"), arrays.pop("test_accuracy")
    return unpack(Trajectory, arrays, meta), test_steps, test_acc


def gd_sweep(
    ctx: RunContext,
    data: Mapping[str, Any],
    activation: str,
    m: int,
    lr: list[float],
    steps: int,
    *,
    separable: bool = False,
    **kwargs: Any,
) -> SweepResult:
    """:func:`two_layer_runs` as a :class:`~gdlab.stepsize.sweeps.SweepResult` (record plus
    each run's Assumption 1-3 constants, see :func:`~gdlab.stepsize.sweeps.run_sweep`).

    ``separable`` attaches the data's hard-margin SVM direction and margin ``(w_*, gamma)``
    (Assumption 3) to the constants; ValueError if the data are not linearly separable."""
    traj, _, _ = two_layer_runs(ctx, data, activation, m, lr, steps, **kwargs)
    net = TwoLayerNet.balanced(get_activation(activation), m)
    ds = dataset(data)
    w_star, gamma = max_margin_direction(ds.X, ds.y) if separable else (None, None)
    return sweep_from_trajectory(ds, net, traj, w_star=w_star, gamma=gamma)

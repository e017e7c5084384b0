"""The paper's Figures 1-4 as one study (spec §4, §5, §7).

Figure 4: the five-point set with ``m = 2``, ``a = (+1, -1)``, ``(x + softplus(x))/2`` at
``tilde-eta = 3`` and ``tilde-eta = 6`` (``eta = 1.5`` and ``3``, §5), per-neuron margins recorded.
"""

from __future__ import annotations

from gdlab.experiments.study import Config, RunContext
from gdlab.stepsize.trajectory import Trajectory
from gdlab.studies.common import two_layer_runs

__all__ = ["FIGURE4", "figure4_runs"]

_FIGURE4_QUICK: Config = {
    "data": {"name": "five_point"},
    "m": 2,
    "activation": "leaky_softplus_half",
    "lr": [3.0, 6.0],
    "steps": 5_000,
    "init_scale": 0.1,
    "seed": 0,
}

#: The Figure 4 runs at each scale (the paper's horizon, recorded every 10 steps).
FIGURE4: dict[str, Config] = {
    "quick": _FIGURE4_QUICK,
    "paper": {**_FIGURE4_QUICK, "steps": 200_000, "record_every": 10},
}


def figure4_runs(ctx: RunContext, config: Config) -> Trajectory:
    """The cached Figure 4 trajectory of ``config`` (one of :data:`FIGURE4`): one GD run of
    eq. (2) per stepsize from one initialisation, with the per-neuron margins of spec §5."""
    traj, _, _ = two_layer_runs(
        ctx,
        config["data"],
        config["activation"],
        config["m"],
        config["lr"],
        config["steps"],
        init_scale=config["init_scale"],
        seed=config["seed"],
        record_every=config.get("record_every", 1),
        per_neuron=True,
    )
    return traj

"""The paper's Figures 1-4 as one study (spec §4, §5, §7).

- Figure 1: the deep bias-free GELU MLP (:mod:`gdlab.stepsize.mlp`) with a large and a small
  stepsize: risk, ``||w||^4``-normalised margin, test accuracy.
- Figure 2(a-c): eq. (2) with ``m = 20`` on XOR, both leaky-softplus variants (§6.1), a
  log-spaced stepsize sweep from monotone to strongly oscillating runs.
- Figure 2(d-f): eq. (2) with ``m = 40`` on the image task (CIFAR-10 airplane/automobile at
  paper scale when present, else scikit-learn digits 3 vs 8), both leaky variants and plain
  softplus (§6.7).
- Figure 3: test accuracy of the Figure 2(d-f) runs (the same cached runs, one config).
- Figure 4: the five-point set with ``m = 2``, ``a = (+1, -1)``, ``(x + softplus(x))/2`` at
  ``tilde-eta = 3`` and ``tilde-eta = 6`` (``eta = 1.5`` and ``3``, §5).

Quick configurations use digits and short horizons; paper configurations use CIFAR-10 when its
batches are found, else digits with a note (:func:`resolve`). The claims and their criteria are
stated in the ``_*_claims`` functions; each criterion says which wrong result it rules out.

**Contradicted claims.** A paper claim that a figure's runs contradict is listed by name in that
figure config's ``"contradicted"`` entry (found by running that config, and recorded with it: a
CIFAR-10 config and its digits fallback list their own). :meth:`ClaimTable.contradict` replaces
its row by the contradiction (the same measurement, the relation reversed, marked
``contradicts``), so the chapter's one check fails if a listed claim starts to hold, or if any
other claim fails; the ``"contradicted"`` table lists the paper's claims as stated, each marked as
failing, with the measured value against the paper's criterion.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gdlab.claims import ClaimTable
from gdlab.data import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, Dataset, cifar_folder
from gdlab.experiments.study import Config, Result, RunContext, Study, pack, unpack
from gdlab.plotting import thin
from gdlab.plotting.paper_figures import figures
from gdlab.runtime import RuntimeConfigError, get_dtype, show_value
from gdlab.stats import loglog_fit
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.criteria import PLATEAU_TOLERANCE, rate_spread
from gdlab.stepsize.mlp import MLPTrajectory, train_mlp
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult, sweep_from_trajectory
from gdlab.stepsize.theory import condition5_threshold
from gdlab.stepsize.trajectory import Trajectory
from gdlab.studies.common import dataset, two_layer_runs
from gdlab.tables import Table

__all__ = [
    "DRAWDOWN_TOLERANCE",
    "EXPONENT_TOLERANCE",
    "FIGURE4",
    "PAPER",
    "QUICK",
    "STUDY",
    "decay_exponents",
    "figure1_claims",
    "figure4_runs",
    "largest_relative_drawdown",
    "resolve",
    "run",
    "verdict",
]

_FIGURE4_QUICK: Config = {
    "data": {"name": "five_point"},
    "m": 2,
    "activation": "leaky_softplus_half",
    "lr": [3.0, 6.0],
    "steps": 5_000,
    "init_scale": 0.1,
    "seed": 0,
}

#: The Figure 4 runs at each scale (paper: the paper's horizon). Every step is recorded, so the
#: claim that every neuron margin stays negative is checked at every step, not on a subsample
#: that could miss the step where a neuron comes closest to zero.
FIGURE4: dict[str, Config] = {
    "quick": _FIGURE4_QUICK,
    "paper": {**_FIGURE4_QUICK, "steps": 200_000},
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


# ----------------------------------------------------------------------------- configs

_DIGITS = {"name": "digits", "classes": [3, 8]}
_CIFAR = {"name": "cifar10", "n_train": 6000, "seed": 0}

_FIG1_QUICK: Config = {
    "data": _DIGITS,
    "width": 64,
    "lr": [1.5, 0.2],
    "steps": 1_500,
    "test_every": 10,
    "seed": 0,
}
_XOR_LRS = {
    "leaky_softplus_ex31": [10.0, 30.0, 100.0, 300.0, 1000.0, 2000.0],
    "leaky_softplus_half": [10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0],
}
_XOR_QUICK: Config = {
    "data": {"name": "xor"},
    "m": 20,
    "activations": _XOR_LRS,
    "steps": 10_000,
    "init_scale": 0.1,
    "seed": 0,
    "contradicted": [
        "XOR, leaky_softplus_ex31: risk ordered by stepsize after r*",
        "XOR, leaky_softplus_half: eta t L_t plateaus",
        "XOR, leaky_softplus_half: risk decays as 1/t",
    ],
}
_IMAGE_LRS = [10.0, 100.0, 1000.0, 10_000.0]
_IMAGES_QUICK: Config = {
    "data": _DIGITS,
    "m": 40,
    "activations": {
        "leaky_softplus_ex31": _IMAGE_LRS,
        "leaky_softplus_half": _IMAGE_LRS,
        "softplus": _IMAGE_LRS,
    },
    "steps": 2_000,
    "checkpoints": 20,
    "init_scale": 0.1,
    "seed": 0,
    "contradicted": [
        *(
            f"images, {act}: {claim}"
            for act in ("leaky_softplus_ex31", "leaky_softplus_half", "softplus")
            for claim in ("eta t L_t plateaus", "risk decays as 1/t")
        ),
        "images, softplus: test accuracy never worse at a larger stepsize",
        "images, softplus: larger stepsize, better test accuracy",
    ],
}

#: Figure 2(d-f) and Figure 3 share ``"fig2_images"`` (Figure 3 is the test accuracy of those
#: runs).
QUICK: Config = {
    "fig1": _FIG1_QUICK,
    "fig2_xor": _XOR_QUICK,
    "fig2_images": _IMAGES_QUICK,
    "fig4": FIGURE4["quick"],
}
#: The paper's settings (spec §4); a ``"fallback"`` replaces a CIFAR-10 config when the
#: batches are not found (:func:`resolve`).
PAPER: Config = {
    "fig1": {
        "data": _CIFAR,
        "width": 200,
        "lr": [0.2, 0.005],
        "steps": 20_000,
        "test_every": 50,
        "seed": 0,
        "fallback": {**_FIG1_QUICK, "steps": 6_000},
    },
    "fig2_xor": {
        **_XOR_QUICK,
        "activations": {
            act: [float(v) for v in np.geomspace(3.0, max(lrs), 10).round(3)]
            for act, lrs in _XOR_LRS.items()
        },
        "steps": 200_000,
        "record_every": 10,
        "contradicted": [
            "XOR, leaky_softplus_half: eta t L_t plateaus",
            "XOR, leaky_softplus_half: risk decays as 1/t",
        ],
    },
    "fig2_images": {
        **_IMAGES_QUICK,
        "data": _CIFAR,
        "steps": 20_000,
        "checkpoints": 40,
        "contradicted": [],
        # the digits at the paper's horizon contradict the same claims as the quick runs
        "fallback": {**_IMAGES_QUICK, "steps": 20_000, "checkpoints": 40},
    },
    "fig4": FIGURE4["paper"],
}

# Risk comparisons between runs allow the float64 evaluation error of L (a relative
# (n + d + m) u from the margins and the mean), bounded generously by 1e-10 relative.
RISK_RTOL = 1e-10
#: A chosen threshold: a neuron whose ``max_i phi'(x_i^T w_j)`` is below it is switched off on
#: the training data; its gradient carries the same factor, so GD barely moves it any more.
SWITCHED_OFF = 1e-8
#: "Nearly monotone" (Figures 1(b), 2(c) and 4(b)), a chosen criterion since the paper gives
#: none: the margin never falls more than this fraction below its running maximum
#: (:func:`largest_relative_drawdown`). It admits a wobble of 1% and rejects a steady decline,
#: which a one-step criterion admits (a fall of 1% per step adds up).
DRAWDOWN_TOLERANCE = 0.01
#: "The risk decays as O(1/(tilde-eta t))" (Figure 2(b, e)), a chosen criterion: the exponent p
#: of the least-squares fit ``L_t ~ C t^-p`` over ``[T/2, T]`` is within this of 1. A log factor
#: (``1/(t log t)``) moves the local exponent by ``1/log T``, about 0.1 at ``T = 10^4``; the
#: exponents 0.7 and 1.3, which the plateau ratio ``PLATEAU_TOLERANCE`` admits, fail it.
EXPONENT_TOLERANCE = 0.1


def _cifar_available(spec: Mapping[str, Any]) -> bool:
    """Whether the CIFAR-10 batches are found; RuntimeConfigError (one line) for a data folder
    that cannot even be looked at (a name too long, an unknown ``~user``, a NUL byte)."""
    root = spec.get("root")
    try:
        folder = cifar_folder(root)
        return all((folder / f).is_file() for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE))
    except (OSError, RuntimeError, ValueError) as err:
        env = os.environ.get("GDLAB_DATA", "")
        setting = (
            f"GDLAB_DATA={show_value(env)}" if root is None else f"data root {show_value(root)}"
        )
        reason = (err.strerror if isinstance(err, OSError) else None) or str(err)
        raise RuntimeConfigError(
            f"{setting} cannot be used ({reason}); allowed: a folder holding cifar-10-batches-py"
        ) from err


def resolve(config: Mapping[str, Any]) -> Config:
    """The configuration that will actually run.

    A figure config whose ``data`` is CIFAR-10 carries a ``fallback``; when the CIFAR-10
    batches are not found (:func:`gdlab.data.cifar_folder`), the fallback replaces it and the
    top-level ``note`` says so. ``fallback`` entries are dropped either way.
    """
    out: Config = {}
    notes = []
    for name, value in config.items():
        if not isinstance(value, Mapping) or "data" not in value:
            out[name] = value
            continue
        figure = dict(value)
        fallback = figure.pop("fallback", None)
        data = figure["data"]
        if fallback is not None and data["name"] == "cifar10" and not _cifar_available(data):
            figure = {
                **fallback,
                "note": f"CIFAR-10 not found in {cifar_folder(data.get('root'))} (set "
                f"GDLAB_DATA): fallback dataset {fallback['data']['name']!r} used instead",
            }
            notes.append(f"{name}: {figure['note']}")
        out[name] = figure
    if notes:
        out["note"] = "; ".join(notes)
    return out


# ----------------------------------------------------------------------------- runs


def _dtype_name() -> str:
    return str(get_dtype()).removeprefix("torch.")


def _figure1_runs(ctx: RunContext, config: Config) -> MLPTrajectory:
    """The cached deep-MLP runs of Figure 1 (one per stepsize, shared initialisation)."""
    unit = {k: config[k] for k in ("data", "width", "lr", "steps", "test_every", "seed")}
    unit["dtype"] = _dtype_name()

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        traj = train_mlp(
            dataset(config["data"]),
            config["lr"],
            config["steps"],
            width=config["width"],
            seed=config["seed"],
            test_every=config["test_every"],
            device=ctx.device,
            progress=ctx.progress,
        )
        return pack(traj)

    return unpack(MLPTrajectory, *ctx.cached("deep-mlp", unit, compute))


def _sweeps(
    ctx: RunContext, config: Config, ds: Dataset
) -> dict[str, tuple[SweepResult, np.ndarray, np.ndarray]]:
    """The stepsize sweep of every activation of a Figure 2/3 config (cached units), with each
    run's radius-R constants, the test steps and the test accuracies (K, C)."""
    out = {}
    for activation, lrs in config["activations"].items():
        traj, test_steps, test_acc = two_layer_runs(
            ctx,
            config["data"],
            activation,
            config["m"],
            lrs,
            config["steps"],
            init_scale=config["init_scale"],
            seed=config["seed"],
            record_every=config.get("record_every", 1),
            checkpoints=config.get("checkpoints", 1),
        )
        net = TwoLayerNet.balanced(get_activation(activation), config["m"])
        out[activation] = (sweep_from_trajectory(ds, net, traj), test_steps, test_acc)
    return out


# ----------------------------------------------------------------------------- claims


def _risk_increases(risk: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """Steps t of a deep-MLP run (every step recorded) with ``L_{t+1} > L_t`` beyond rounding:
    a relative allowance ``(n + d + 3 h + 5) u``, the summation lengths of the risk's mean and
    of the forward pass's dot products (``h`` the width; first order, no cancellation).
    ``gdlab.stepsize.certify.risk_monotone_from`` is the two-layer counterpart."""
    u = np.finfo(risk.dtype).eps / 2
    slack = (meta["n"] + meta["d"] + 3 * meta["width"] + 5) * u
    return np.flatnonzero(np.diff(risk) > slack * risk[:-1])


def largest_relative_drawdown(series: np.ndarray) -> float:
    """``max_t (M_t - x_t) / |M_t|`` with ``M_t = max_(s <= t) x_s``: how far, relative to its
    running maximum, a series ever falls (0 if it never decreases). ``M_t`` must not vanish
    (the margins judged by it are positive). Unlike a one-step dip, a slow decline adds up."""
    x = np.asarray(series, dtype=float)
    if x.size == 0:
        return 0.0
    peak = np.maximum.accumulate(x)
    return float(np.max((peak - x) / np.abs(peak)))


def decay_exponents(steps: np.ndarray, log_risk: np.ndarray) -> np.ndarray:
    """Per run, the exponent p of the least-squares fit ``L_t ~ C t^-p`` over the recorded steps
    ``t >= T/2`` (:func:`gdlab.stats.loglog_fit` on the exact ``log L_t``); shape (K,).
    Theorem 4.1's ``1/(tilde-eta t)`` rate has ``p = 1``."""
    steps = np.asarray(steps)
    late = steps >= max(steps[-1] / 2, 1)
    return np.array([-loglog_fit(steps[late], log_y=row[late]).slope for row in log_risk])


def _settled_from(steps: np.ndarray, ok: np.ndarray) -> int | None:
    """The first recorded step from which ``ok`` holds at every later recorded step (None if it
    fails at the last one)."""
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(steps[0 if bad.size == 0 else bad[-1] + 1])


def figure1_claims(traj: MLPTrajectory) -> tuple[ClaimTable, dict[str, Any]]:
    """Claims and values of Figure 1 (spec §7) on its runs with the largest and smallest stepsize.

    - (a) Large stepsize: the risk rises (beyond rounding, :func:`_risk_increases`) and is
      non-increasing from a step in the first half of the horizon on. Small stepsize: the risk
      never rises.
    - (b) For both: after the stable phase starts (the step after the last rise) and all
      training points are classified correctly, the ``||w||^4``-normalised margin never falls
      more than ``DRAWDOWN_TOLERANCE`` below its running maximum (rules out a decline), and it
      ends above its value at that step (rules out a flat margin).
    - (c) Final test accuracy: large stepsize > small stepsize (strict; untestable when both
      are perfect, where no difference can show), and the large stepsize is perfect on the
      test set, for good, from an earlier step.
    """
    lrs, risk = traj.lr.numpy(), traj.risk.numpy()
    T = int(traj.steps[-1])
    big, small = int(np.argmax(lrs)), int(np.argmin(lrs))
    tag = {k: f"deep MLP, lr={lrs[k]:g}" for k in (big, small)}
    ups = [_risk_increases(risk[k], traj.meta) for k in range(len(lrs))]
    start = [0 if up.size == 0 else int(up[-1]) + 1 for up in ups]
    claims = ClaimTable()
    claims.add(
        f"{tag[big]}: risk rises (oscillating phase)",
        "Figure 1(a)",
        ups[big].size,
        1,
        relation=">=",
        note="measured = number of risk increases beyond rounding",
    )
    claims.add(
        f"{tag[big]}: risk decreases monotonically from the first half on",
        "Figure 1(a)",
        start[big],
        T / 2,
        relation="<=",
        note="measured = first step of the final monotone stretch",
    )
    claims.add(
        f"{tag[small]}: risk decreases monotonically throughout",
        "Figure 1(a)",
        ups[small].size,
        0,
        relation="<=",
        note="measured = number of risk increases beyond rounding",
    )
    margin, q_min = traj.normalized_margin.numpy(), traj.min_margin.numpy()
    dips: dict[int, float | None] = {}
    for k in (big, small):
        positive = np.flatnonzero(q_min[k, start[k] :] > 0)
        begin = None if positive.size == 0 else start[k] + int(positive[0])
        stable = None if begin is None else margin[k, begin:]
        dips[k] = None if stable is None else largest_relative_drawdown(stable)
        need = "every training point classified correctly in the stable phase"
        claims.add(
            f"{tag[k]}: normalized margin nearly monotone in the stable phase",
            "Figure 1(b)",
            dips[k],
            DRAWDOWN_TOLERANCE,
            relation="<=",
            step=begin,
            needs=need,
            note="largest relative fall of min_i y_i f / ||w||^4 below its running maximum, "
            "from the step given (stable and all points correct) on",
        )
        claims.add(
            f"{tag[k]}: normalized margin rises in the stable phase",
            "Figure 1(b)",
            None if stable is None else float(stable[-1]),
            None if stable is None else float(stable[0]),
            relation=">",
            step=begin,
            needs=need,
            note="min_i y_i f / ||w||^4 at the last step against its value at the step given",
        )
    acc = traj.test_accuracy.numpy()
    test_steps = traj.test_steps.numpy()
    final = acc[:, -1] if acc.size else np.full(len(lrs), math.nan)
    perfect = {
        k: _settled_from(test_steps, acc[k] == 1.0) if acc.size else None for k in (big, small)
    }
    ceiling = bool(acc.size) and final[big] == final[small] == 1.0
    claims.add(
        "deep MLP: large stepsize has better test accuracy",
        "Figure 1(c)",
        None if ceiling else final[big] - final[small],
        0.0,
        relation=">",
        needs="final test accuracies below the ceiling 1 (both runs are perfect on the test set)"
        if ceiling
        else "a test split",
        note=f"final test accuracy {final[big]:.4f} (lr={lrs[big]:g}) vs {final[small]:.4f} "
        f"(lr={lrs[small]:g})",
    )
    both = perfect[big] is not None and perfect[small] is not None
    claims.add(
        "deep MLP: large stepsize perfect on the test set sooner",
        "Figure 1(c)",
        perfect[big] if both else None,
        perfect[small] if both else None,
        relation="<",
        needs="both runs perfect on the test set from some step to the last",
        note="measured = first step from which the large stepsize classifies every test point "
        "correctly at every later test step; bound = the same step of the small stepsize",
    )
    values = {
        "f1_big": float(lrs[big]),
        "f1_small": float(lrs[small]),
        "f1_monotone_from": start[big],
        "f1_increases": int(ups[big].size),
        "f1_acc_big": float(final[big]),
        "f1_acc_small": float(final[small]),
        "f1_perfect_big": perfect[big],
        "f1_perfect_small": perfect[small],
        "f1_margin_big": float(margin[big, -1]),
        "f1_margin_small": float(margin[small, -1]),
        "f1_dip_big": dips[big],
        "f1_dip_small": dips[small],
    }
    return claims, values


def _sweep_claims(sweep: SweepResult, label: str) -> ClaimTable:
    """Claims of Figure 2 on one stepsize sweep (spec §4 observations 1-3, §7).

    - Theorem 2.2 certificates (``gdlab.stepsize.certify``, radius-R constants): the risk is
      non-increasing after ``r*`` (eq. 4) and ``gamma^c`` non-decreasing after ``s*`` (eq. 5),
      the worst run of the sweep.
    - Observation 1: from the last run's ``r*`` on, the risks are ordered by stepsize at every
      recorded step (larger stepsize, smaller risk), up to ``RISK_RTOL``; and strictly from the
      step after it (no allowance).
    - Observation 2, on the runs with ``r* <= T/2``: ``tilde-eta t L_t`` plateaus (over the
      last half of the horizon its max/min is at most ``PLATEAU_TOLERANCE``), and the risk
      decays as ``t^-1`` (:func:`decay_exponents` within ``EXPONENT_TOLERANCE`` of 1: the
      plateau ratio alone admits ``t^-0.7``).
    - Observation 3, on the runs that reach ``s*`` before ``T``: the normalised margin never
      falls more than ``DRAWDOWN_TOLERANCE`` below its running maximum after ``s*``, and it
      ends above its value at ``s*`` (relative rise > 0; a flat margin fails).
    """
    traj, lrs = sweep.traj, sweep.lrs
    K, steps, risk = traj.num_runs, traj.steps.numpy(), traj.risk.numpy()
    T = int(steps[-1])
    per_run = ClaimTable()
    for k, table in enumerate(sweep.stable_verdicts):
        for name in ("risk non-increasing after r*", "gamma^c non-decreasing after s*"):
            c = table[name]
            note = f"lr={lrs[k]:g}" + (f"; {c.note}" if c.note else "")
            per_run.append(dataclasses.replace(c, name=f"{label}: {name}", note=note))
    claims = per_run.aggregate()
    r_star = [sweep.r_star(k) for k in range(K)]
    s_star = [sweep.s_star(k) for k in range(K)]
    reached = [k for k in range(K) if r_star[k] is not None]
    order = sorted(reached, key=lambda k: lrs[k])
    t0 = max((r_star[k] for k in reached), default=None)
    source = "Figure 2(a), observation 1"
    bad = strict = last_bad = None
    if len(reached) >= 2:
        by_lr = risk[order]  # the runs that reach r*, by increasing stepsize
        at, after = steps >= t0, steps > t0
        # out of order: a larger stepsize with a larger risk than the next smaller one
        bad = by_lr[1:, at] > by_lr[:-1, at] * (1 + RISK_RTOL)
        strict = by_lr[1:, after] >= by_lr[:-1, after]
        last_bad = int(steps[at][bad.any(0)][-1]) if bad.any() else None
    not_reached = ", ".join(f"{lrs[k]:g}" for k in range(K) if r_star[k] is None) or "none"
    claims.add(
        f"{label}: risk ordered by stepsize after r*",
        source,
        None if bad is None else int(bad.sum()),
        0,
        relation="<=",
        step=last_bad,
        needs="two runs that reach eq. (4)",
        note=f"measured = (step, neighbouring-stepsize) pairs out of order for t >= {t0} (the "
        f"last r*), each risk allowed {RISK_RTOL:g} relative; runs without r*: {not_reached}",
    )
    claims.add(
        f"{label}: risk strictly ordered by stepsize after the last r* step",
        source,
        None if strict is None else int(strict.sum()),
        0,
        relation="<=",
        needs="two runs that reach eq. (4)",
        note=f"measured = (step, neighbouring-stepsize) pairs not strictly ordered for t > {t0}",
    )
    plateau = [k for k in reached if r_star[k] <= T // 2]
    spread = rate_spread(lrs, steps, risk)
    worst = max(plateau, key=lambda k: spread[k], default=None)
    obs2 = "Figure 2(b), observation 2 (Theorem 4.1 rate)"
    need2 = "a run that reaches eq. (4) within the first half of the horizon"
    claims.add(
        f"{label}: eta t L_t plateaus",
        obs2,
        None if worst is None else float(spread[worst]),
        PLATEAU_TOLERANCE,
        relation="<=",
        needs=need2,
        note=f"max/min of tilde-eta t L_t over t in [{T // 2}, {T}], worst run"
        + ("" if worst is None else f" lr={lrs[worst]:g}")
        + "; per run: "
        + ", ".join(f"{lrs[k]:g}: {spread[k]:.3g}" for k in plateau),
    )
    p = decay_exponents(steps, traj.log_risk.numpy())
    worst = max(plateau, key=lambda k: abs(p[k] - 1), default=None)
    claims.add(
        f"{label}: risk decays as 1/t",
        obs2,
        None if worst is None else float(abs(p[worst] - 1)),
        EXPONENT_TOLERANCE,
        relation="<=",
        needs=need2,
        note=f"|p - 1| for the fit L_t ~ C t^-p over t in [{T // 2}, {T}], worst run"
        + ("" if worst is None else f" lr={lrs[worst]:g}")
        + "; p per run: "
        + ", ".join(f"{lrs[k]:g}: {p[k]:.3f}" for k in plateau),
    )
    stable = [k for k in range(K) if s_star[k] is not None and s_star[k] < T]
    margin = traj.normalized_margin.numpy()
    after = {k: margin[k, steps >= s_star[k]] for k in stable}
    dips = {k: largest_relative_drawdown(after[k]) for k in stable}
    rises = {k: float((after[k][-1] - after[k][0]) / abs(after[k][0])) for k in stable}
    obs3, need3 = "Figure 2(c), observation 3", "a run that reaches eq. (5) before the last step"
    reach = f"{len(stable)} of {K} runs reach s* (eq. 5)"
    worst = max(dips, key=dips.__getitem__, default=None)
    claims.add(
        f"{label}: normalized margin nearly monotone after s*",
        obs3,
        None if worst is None else dips[worst],
        DRAWDOWN_TOLERANCE,
        relation="<=",
        needs=need3,
        note="largest relative fall of gamma-bar below its running maximum after s*"
        + ("" if worst is None else f"; worst run lr={lrs[worst]:g}")
        + f"; {reach}",
    )
    worst = min(rises, key=rises.__getitem__, default=None)
    claims.add(
        f"{label}: normalized margin rises after s*",
        obs3,
        None if worst is None else rises[worst],
        0.0,
        relation=">",
        needs=need3,
        note="relative rise (gamma-bar(w_T) - gamma-bar(w_s*))/|gamma-bar(w_s*)|"
        + ("" if worst is None else f"; worst run lr={lrs[worst]:g}")
        + f"; {reach}",
    )
    return claims


def _figure3(
    sweeps: Mapping[str, tuple[SweepResult, np.ndarray, np.ndarray]], ds: Dataset
) -> tuple[ClaimTable, dict[str, Any]]:
    """Claims and values of Figure 3, per activation, on the final test errors (counted in test
    images, so ties are exact): they never increase from one stepsize to the next larger one
    (a single worse stepsize fails, which a positive rank correlation would admit), and the
    largest stepsize has fewer than the smallest (a flat accuracy fails; untestable when both
    are perfect, where no difference can show). Values: the test errors of every run, and why
    plain softplus fails at its largest stepsize (its neurons with ``a_j = +1`` switched off,
    the risk stuck near ``p_+ log 2``)."""
    claims = ClaimTable()
    values: dict[str, Any] = {}
    n_test = int(ds.X_test.shape[0])
    for activation, (sweep, _, acc) in sweeps.items():
        order = np.argsort(sweep.lrs)
        lrs = sweep.lrs[order]
        errors = np.rint((1 - acc[order, -1]) * n_test).astype(int)
        listed = ", ".join(f"{x:g}: {e}" for x, e in zip(lrs, errors, strict=True))
        rise = int(np.max(np.diff(errors), initial=0))
        claims.add(
            f"images, {activation}: test accuracy never worse at a larger stepsize",
            "Figure 3",
            rise,
            0,
            relation="<=",
            note="largest increase of the final test errors from one stepsize to the next "
            f"larger one; test errors of {n_test}: {listed}",
        )
        ceiling = errors[0] == errors[-1] == 0
        claims.add(
            f"images, {activation}: larger stepsize, better test accuracy",
            "Figure 3",
            None if ceiling else int(errors[0] - errors[-1]),
            0,
            relation=">",
            needs="test errors above 0 (both stepsizes are perfect on the test set)",
            note=f"test errors of the smallest minus the largest stepsize; {listed}",
        )
        values[f"f3_rise_{activation}"] = rise
        for lr, e in zip(lrs, errors, strict=True):
            values[f"f3_err_{activation}_{lr:g}"] = int(e)
    sp, _, acc = sweeps["softplus"]
    kd = int(np.argmax(sp.lrs))
    slopes = _max_slopes(sp, kd)
    positive = sp.net.a.numpy() > 0
    p_plus = float((ds.y > 0).double().mean())
    values.update(
        f3_sp_lr=float(sp.lrs[kd]),
        f3_sp_acc=float(acc[kd, -1]),
        f3_sp_off=int((slopes[positive] < SWITCHED_OFF).sum()),
        f3_sp_n_pos=int(positive.sum()),
        f3_sp_slope=float(slopes[positive].max()),
        f3_sp_L=float(sp.final_risk()[kd]),
        f3_floor=p_plus * math.log(2.0),
        f3_p_plus=p_plus,
    )
    return claims, values


def _max_slopes(sweep: SweepResult, k: int) -> np.ndarray:
    """``max_i phi'(x_i^T w_T^(j))`` for every neuron j of run k (shape (m,), training inputs).

    A neuron whose value is tiny is switched off on every training point: its gradient,
    ``(1/m) a_j sum_i l'(q_i) y_i phi'(x_i^T w^(j)) x_i / n``, is that small too. Leaky
    activations have ``phi' >= alpha > 0`` (Assumption 2A) and cannot do this.
    """
    W = sweep.traj.w_final[k].to(torch.float64)  # (m, d)
    Z = sweep.dataset.X.to(torch.float64) @ W.T  # (n, m)
    return sweep.net.activation.dphi(Z).amax(dim=0).numpy()


def _figure4(traj: Trajectory) -> tuple[ClaimTable, dict[str, Any]]:
    """Claims of Figure 4 (spec §4, §7), per stepsize: the network margin turns positive, never
    falls more than ``DRAWDOWN_TOLERANCE`` below its running maximum afterwards and ends above
    its value at that step, while both per-neuron margins (spec §5) stay negative at every step
    ``t >= 1`` (:data:`FIGURE4` records every step; the value at ``t = 0`` depends only on the
    random initialisation and is reported in the note). Values: the first step with a positive
    margin, and the stepsizes."""
    claims = ClaimTable()
    steps = traj.steps.numpy()
    after = steps >= 1
    first_positive = []
    for k in range(traj.num_runs):
        tag = f"five points, lr={float(traj.lr[k]):g} (eta={float(traj.eta[k]):g})"
        q = traj.min_margin[k].numpy()
        gbar = traj.normalized_margin[k].numpy()
        positive = np.flatnonzero(q > 0)
        first = None if positive.size == 0 else int(positive[0])
        first_positive.append(None if first is None else int(steps[first]))
        claims.add(
            f"{tag}: network margin turns positive",
            "Figure 4(b)",
            float(q.max()),
            0.0,
            relation=">",
            step=int(steps[np.argmax(q)]),
            note=f"measured = max over steps of min_i y_i f; first positive at step "
            f"{first_positive[-1]}",
        )
        need = "a step with a positive network margin"
        claims.add(
            f"{tag}: network margin nearly monotone after turning positive",
            "Figure 4(b)",
            None if first is None else largest_relative_drawdown(gbar[first:]),
            DRAWDOWN_TOLERANCE,
            relation="<=",
            needs=need,
            note="largest relative fall of the normalized margin below its running maximum "
            "from the first positive step on",
        )
        claims.add(
            f"{tag}: network margin rises after turning positive",
            "Figure 4(b)",
            None if first is None else float(gbar[-1]),
            None if first is None else gbar[first],
            relation=">",
            needs=need,
            note="normalized margin at the last step against its value at the first positive step",
        )
        for field, kind, what in (
            ("neuron_margins", "phi", "min_i y_i a_j phi(x_i^T w_j)/||w_j||"),
            ("neuron_linear_margins", "linear", "min_i y_i a_j x_i^T w_j/||w_j||"),
        ):
            series = getattr(traj, field)[k].numpy()
            claims.add(
                f"{tag}: every neuron margin ({kind}) negative during training",
                "Figure 4(b)",
                float(series[after].max()),
                0.0,
                relation="<",
                note=f"max over the recorded steps t >= 1 ({int(after.sum())} of "
                f"{int(steps[-1])}) and the neurons of {what}; at the random initialisation "
                f"(t = 0) the max is {float(series[0].max()):.3g}",
            )
    values = {
        "f4_pos_first": first_positive[0],
        "f4_pos_second": first_positive[-1],
        "f4_lr_first": float(traj.lr[0]),
        "f4_lr_second": float(traj.lr[-1]),
        "f4_T": int(steps[-1]),
        "f4_recorded": int(steps.size),
    }
    return claims, values


def _contradicted_table(claims: ClaimTable) -> Table:
    """The paper's claims that the runs contradict, as the paper states them, with the measured
    value against the paper's criterion and their own status (module docstring)."""
    rows = []
    for c in claims.contradicted():
        stated = c.as_stated()
        rows.append((c.name, c.source, c.measured, stated.bound_text(), stated.status))
    columns = ["the paper's claim", "source", "measured", "paper's criterion", "status as stated"]
    return Table(columns, rows)


# ----------------------------------------------------------------------------- tables


def _describe_model(config: Mapping[str, Any]) -> str:
    if "width" in config:
        return f"4-layer bias-free GELU MLP, width {config['width']}"
    activations = config.get("activations") or {config["activation"]: config["lr"]}
    return f"eq. (2), m = {config['m']}: " + ", ".join(activations)


def _stepsizes(config: Mapping[str, Any]) -> str:
    if "activations" in config:
        lrs = sorted({lr for values in config["activations"].values() for lr in values})
    else:
        lrs = config["lr"]
    return ", ".join(f"{lr:g}" for lr in lrs)


_FIGURES = {
    "Figure 1": "fig1",
    "Figure 2(a-c)": "fig2_xor",
    "Figure 2(d-f)": "fig2_images",
    "Figure 3": "fig2_images",
    "Figure 4": "fig4",
}


def _settings_tables(config: Config) -> tuple[Table, Table]:
    """The setting each figure actually ran, as two tables that fit the page: the data (the
    data set's name, sizes ``n``, ``n test``, ``d``) with the horizon ``T``, and the model with
    its stepsizes ``tilde-eta``. The data sets' provenance notes are values for the prose."""
    data, models = [], []
    for figure, key in _FIGURES.items():
        part = config[key]
        ds = dataset(part["data"])
        n_test = None if ds.X_test is None else int(ds.X_test.shape[0])
        data.append((figure, ds.name, ds.n, n_test, ds.d, part["steps"]))
        models.append((figure, _describe_model(part), _stepsizes(part)))
    return (
        Table(["figure", "data", "n", "n test", "d", "T"], data),
        Table(["figure", "model", "stepsizes tilde-eta"], models),
    )


def _runs_tables(
    sweeps: Mapping[str, tuple[SweepResult, np.ndarray, np.ndarray]], n_test: int | None
) -> tuple[Table, Table]:
    """One row per run, in two tables: the phases of Theorem 2.2 and the rate of Theorem 4.1.

    Phases: activation, ``tilde-eta``; ``r*`` and ``s*``, the first recorded steps satisfying
    eq. (4) and eq. (5) (``-``: never within the horizon); "monotone from", the measured first
    step after which the risk never increases beyond rounding
    (:func:`~gdlab.stepsize.certify.risk_monotone_from`); ``gamma-bar(w_T)``.
    Rates: activation, ``tilde-eta``, ``L(w_T)``; ``tilde-eta t L_t`` at ``t = T/2`` and
    ``t = T`` (equal values: the ``1/(tilde-eta t)`` rate has set in); the exponent p of
    :func:`decay_exponents` (1 for that rate); with ``n_test``, the final test errors.
    """
    phases, rates = [], []
    for activation, (sw, _, acc) in sweeps.items():
        steps = sw.traj.steps.numpy()
        T = int(steps[-1])
        half = int(np.searchsorted(steps, T // 2))
        risk, margin = sw.traj.risk.numpy(), sw.traj.normalized_margin.numpy()
        p = decay_exponents(steps, sw.traj.log_risk.numpy())
        for k, lr in enumerate(sw.lrs):
            phases.append(
                (
                    activation,
                    float(lr),
                    sw.r_star(k),
                    sw.monotone_from(k),
                    sw.s_star(k),
                    float(margin[k, -1]),
                )
            )
            row = [
                activation,
                float(lr),
                float(risk[k, -1]),
                float(lr * steps[half] * risk[k, half]),
                float(lr * T * risk[k, -1]),
                float(p[k]),
            ]
            if n_test is not None:
                row.append(int(np.rint((1 - acc[k, -1]) * n_test)))
            rates.append(row)
    columns = [
        "activation",
        "tilde-eta",
        "L(w_T)",
        "tilde-eta t L_t at T/2",
        "tilde-eta t L_t at T",
        "exponent p",
    ]
    return (
        Table(
            [
                "activation",
                "tilde-eta",
                "r* (eq. 4)",
                "monotone from",
                "s* (eq. 5)",
                "gamma-bar(w_T)",
            ],
            phases,
        ),
        Table(columns + ([f"test errors of {n_test}"] if n_test is not None else []), rates),
    )


_OUTCOMES = {
    "holds": "holds",
    "vacuous": "holds vacuously",
    "untestable": "cannot be tested",
    "fails": "fails",
    "contradicted": "is contradicted",
}


def _outcome(claims: ClaimTable, name: str) -> str:
    """What became of the paper's claim ``name``: its status, or ``"contradicted"`` when the
    row states a contradiction that holds (``"holds"`` when it fails)."""
    claim = claims[name]
    if not claim.contradicts:
        return claim.status
    return {"holds": "contradicted", "fails": "holds"}.get(claim.status, claim.status)


def verdict(claims: ClaimTable, label: str, activations: list[str], claim: str) -> str:
    """The claim ``"<label>, <activation>: <claim>"`` over the activations, as a phrase for the
    prose: ``"holds for every activation"``, or the activations grouped by outcome, e.g.
    ``"holds for leaky_softplus_half and is contradicted for leaky_softplus_ex31"``."""
    groups: dict[str, list[str]] = {}
    for activation in activations:
        groups.setdefault(_outcome(claims, f"{label}, {activation}: {claim}"), []).append(
            activation
        )
    if len(groups) == 1:
        return f"{_OUTCOMES[next(iter(groups))]} for every activation"
    parts = [f"{_OUTCOMES[o]} for {', '.join(acts)}" for o, acts in groups.items()]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# ----------------------------------------------------------------------------- the study


def _reached_by(step: int | None, t: int) -> bool:
    """Whether a threshold first met at ``step`` (None: never) was met by step ``t``."""
    return step is not None and step <= t


def _xor_values(sweeps: Mapping[str, tuple[SweepResult, np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """The numbers of the XOR section: observation 1 at the largest Example 3.1 stepsize's
    ``r*``, and the rate of every run with ``r* <= T/2`` (observation 2): how many level off,
    how many decay as ``t^-1``, and the largest caption-activation stepsize in detail."""
    ex31, half = sweeps["leaky_softplus_ex31"][0], sweeps["leaky_softplus_half"][0]
    steps = ex31.traj.steps.numpy()
    T = int(steps[-1])
    i_half = int(np.searchsorted(steps, T // 2))
    kb = int(np.argmax(ex31.lrs))
    kn = int(np.argsort(ex31.lrs)[-2])  # the next smaller stepsize
    t0 = ex31.r_star(kb)
    i0 = int(np.searchsorted(steps, t0 if t0 is not None else steps[-1]))
    risk = ex31.traj.risk.numpy()
    judged = {
        act: [k for k in range(sw.traj.num_runs) if _reached_by(sw.r_star(k), T // 2)]
        for act, (sw, _, _) in sweeps.items()
    }
    ratios = {
        act: rate_spread(sw.lrs, sw.traj.steps.numpy(), sw.traj.risk.numpy())[judged[act]]
        for act, (sw, _, _) in sweeps.items()
    }
    gaps = {
        act: np.abs(decay_exponents(steps, sw.traj.log_risk.numpy())[judged[act]] - 1)
        for act, (sw, _, _) in sweeps.items()
    }
    etl = {act: sw.lrs * T * sw.traj.risk.numpy()[:, -1] for act, (sw, _, _) in sweeps.items()}
    kh = int(np.argmax(half.lrs))
    risk_h = half.traj.risk.numpy()
    others = np.delete(etl["leaky_softplus_half"], kh)
    return {
        "xor_lr_big": float(ex31.lrs[kb]),
        "xor_lr_next": float(ex31.lrs[kn]),
        "xor_t0": t0,
        "xor_L_big": float(risk[kb, i0]),
        "xor_L_next": float(risk[kn, i0]),
        "xor_n_runs": int(sum(r.size for r in ratios.values())),
        "xor_n_level": int(sum((r <= PLATEAU_TOLERANCE).sum() for r in ratios.values())),
        "xor_n_rate": int(sum((g <= EXPONENT_TOLERANCE).sum() for g in gaps.values())),
        "xor_lr_span": float(ex31.lrs.max() / ex31.lrs.min()),
        "xor_ex31_etl_min": float(etl["leaky_softplus_ex31"].min()),
        "xor_ex31_etl_max": float(etl["leaky_softplus_ex31"].max()),
        "xor_ex31_ratio": float(ratios["leaky_softplus_ex31"].max()),
        "xor_ex31_gap": float(gaps["leaky_softplus_ex31"].max()),
        "xor_half_lr": float(half.lrs[kh]),
        "xor_half_ratio": float(rate_spread(half.lrs, steps, risk_h)[kh]),
        "xor_half_p": float(decay_exponents(steps, half.traj.log_risk.numpy())[kh]),
        "xor_half_r": half.r_star(kh),
        "xor_half_L_half": float(risk_h[kh, i_half]),
        "xor_half_L_T": float(risk_h[kh, -1]),
        "xor_half_drop": float(1 - risk_h[kh, -1] / risk_h[kh, i_half]),
        "xor_half_etl": float(etl["leaky_softplus_half"][kh]),
        "xor_half_etl_min_others": float(others.min()),
        "xor_half_etl_max_others": float(others.max()),
    }


def _sweep_arrays(
    label: str, sweeps: Mapping[str, tuple[SweepResult, np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The series the Figure 2/3 plots draw, as ``label.activation.series``."""
    arrays = {}
    for activation, (sw, test_steps, acc) in sweeps.items():
        prefix = f"{label}.{activation}."
        for key in ("lr", "steps", "risk", "normalized_margin"):
            arrays[prefix + key] = getattr(sw.traj, key).numpy()
        if test_steps.size:
            arrays[prefix + "test_steps"], arrays[prefix + "test_accuracy"] = test_steps, acc
    return arrays


def _figure4_arrays(traj: Trajectory) -> dict[str, np.ndarray]:
    """The Figure 4 series the plot draws (``fig4.*``), at the steps :func:`gdlab.plotting.thin`
    keeps for any of them (the envelope of every curve on a log-time axis): the claims use every
    step, the figure needs a few hundred per decade."""
    t = traj.steps.numpy()
    series = {
        key: getattr(traj, key).numpy()
        for key in ("risk", "normalized_margin", "neuron_margins", "neuron_linear_margins")
    }
    rows = [row for value in series.values() for row in value.reshape(len(value), len(t), -1)]
    keep = np.unique(np.concatenate([thin(t, col) for row in rows for col in row.T]))
    return {
        "fig4.lr": traj.lr.numpy(),
        "fig4.eta": traj.eta.numpy(),
        "fig4.steps": t[keep],
        **{f"fig4.{key}": value[:, keep] for key, value in series.items()},
    }


#: The Figure 2 observations as claim names (after ``"<data>, <activation>: "``), by the tag of
#: their verdict value.
_OBSERVATIONS = {
    "obs1": "risk ordered by stepsize after r*",
    "obs1_strict": "risk strictly ordered by stepsize after the last r* step",
    "obs2": "eta t L_t plateaus",
    "obs2_rate": "risk decays as 1/t",
    "obs3": "normalized margin nearly monotone after s*",
    "obs3_rise": "normalized margin rises after s*",
}
#: The Figure 3 claims, likewise.
_FIGURE3 = {
    "never_worse": "test accuracy never worse at a larger stepsize",
    "better": "larger stepsize, better test accuracy",
}


def run(config: Config, ctx: RunContext) -> Result:
    """Every run of Figures 1-4 (cached units), their claims, the page's values and tables."""
    fig1 = _figure1_runs(ctx, config["fig1"])
    xor_ds, img_ds = dataset(config["fig2_xor"]["data"]), dataset(config["fig2_images"]["data"])
    xor = _sweeps(ctx, config["fig2_xor"], xor_ds)
    images = _sweeps(ctx, config["fig2_images"], img_ds)
    fig4 = figure4_runs(ctx, config["fig4"])

    claims, values = figure1_claims(fig1)
    for label, sweeps in (("XOR", xor), ("images", images)):
        for activation, (sweep, _, _) in sweeps.items():
            claims += _sweep_claims(sweep, f"{label}, {activation}")
    values.update(_xor_values(xor))
    fig3_claims, fig3_values = _figure3(images, img_ds)
    fig4_claims, fig4_values = _figure4(fig4)
    claims += fig3_claims + fig4_claims
    values.update(fig3_values, **fig4_values)
    for activation in images:
        name = f"images, {activation}: eta t L_t plateaus"
        values[f"img_ratio_{activation}"] = claims[name].measured
    constants = [c for sw, _, _ in images.values() for c in sw.constants]
    quick, paper = QUICK["fig2_images"]["steps"], PAPER["fig2_images"]["steps"]
    values.update(
        img_dataset=img_ds.name,
        img_data=img_ds.note,
        data_reason=config.get("note") or "the configured data sets were found",
        img_n=img_ds.n,
        img_n_test=int(img_ds.X_test.shape[0]),
        img_d=img_ds.d,
        img_T=config["fig2_images"]["steps"],
        img_T_factor=paper // quick,
        img_thr5=max(condition5_threshold(c) for c in constants),
        img_min_final=min(float(sw.final_risk().min()) for sw, _, _ in images.values()),
        fig1_width=config["fig1"]["width"],
        fig1_T=config["fig1"]["steps"],
        xor_T=config["fig2_xor"]["steps"],
        drawdown_tol=DRAWDOWN_TOLERANCE,
        plateau_tol=PLATEAU_TOLERANCE,
        plateau_exponent=math.log2(PLATEAU_TOLERANCE),
        exponent_tol=EXPONENT_TOLERANCE,
        leaky_alpha=min(get_activation(a).alpha for a in images if a != "softplus"),
    )
    parts = [part for part in config.values() if isinstance(part, Mapping)]
    listed = [name for part in parts for name in part.get("contradicted", [])]
    claims = claims.contradict(listed)
    contradicted = _contradicted_table(claims)
    values.update(
        n_claims=len(claims),
        n_hold=sum(c.status == "holds" and not c.contradicts for c in claims),
        n_contradicted=len(contradicted),
        n_untestable=claims.counts()["untestable"],
        f1_c_verdict=_OUTCOMES[
            _outcome(claims, "deep MLP: large stepsize has better test accuracy")
        ],
    )
    for label, key, sweeps in (("XOR", "xor", xor), ("images", "img", images)):
        for tag, claim in _OBSERVATIONS.items():
            values[f"{key}_{tag}"] = verdict(claims, label, list(sweeps), claim)
    for tag, claim in _FIGURE3.items():
        values[f"f3_{tag}"] = verdict(claims, "images", list(images), claim)
    arrays = {
        f"fig1.{key}": getattr(fig1, key).numpy()
        for key in ("lr", "steps", "risk", "normalized_margin", "test_steps", "test_accuracy")
    }
    arrays |= _sweep_arrays("xor", xor) | _sweep_arrays("images", images)
    arrays |= _figure4_arrays(fig4)
    settings, models = _settings_tables(config)
    xor_phases, xor_rates = _runs_tables(xor, None)
    img_phases, img_rates = _runs_tables(images, values["img_n_test"])
    tables = {
        "settings": settings,
        "models": models,
        "xor_phases": xor_phases,
        "xor_rates": xor_rates,
        "image_phases": img_phases,
        "image_rates": img_rates,
        "contradicted": contradicted,
    }
    return Result("paper-figures", "", config, arrays, values, tables, claims)


STUDY = Study(
    name="paper-figures",
    title="The paper's figures",
    chapter="book/part1/paper-figures.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
    resolve=resolve,
)

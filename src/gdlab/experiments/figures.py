"""The paper's Figures 1-4 as recipes (spec §4, §5, §7): configurations, runs, claims, plots.

- ``fig1``: the deep bias-free GELU MLP (:mod:`gdlab.stepsize.mlp`) with a large and a small
  stepsize: risk, ``||w||^4``-normalised margin, test accuracy.
- ``fig2-xor``: eq. (2) with ``m = 20`` on XOR, both leaky-softplus variants (§6.1), a
  log-spaced stepsize sweep from monotone to strongly oscillating runs.
- ``fig2-images``: eq. (2) with ``m = 40`` on the image task (CIFAR-10 airplane/automobile at
  paper scale when present, else scikit-learn digits 3 vs 8), both leaky variants and plain
  softplus (§6.7).
- ``fig3``: test accuracy of the ``fig2-images`` runs (the same cached runs).
- ``fig4``: the five-point set with ``m = 2``, ``a = (+1, -1)``, ``(x + softplus(x))/2`` at
  ``tilde-eta = 3`` and ``tilde-eta = 6`` (``eta = 1.5`` and ``3``, §5).

Quick configurations use digits and short horizons (each recipe well under a minute on two
cores); paper configurations use CIFAR-10 when its batches are found, else digits with a note.
The claims and their criteria are stated in each ``_*_claims`` function.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from gdlab.data import Dataset
from gdlab.experiments.registry import (
    Config,
    Recipe,
    Result,
    RunContext,
    claim,
    load_data,
    pack,
    register,
    unpack,
)
from gdlab.plotting import label_axes, stepsize_colors, subplots
from gdlab.runtime import get_dtype
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.certify import (
    certify_stable_phase,
    first_step_condition4,
    first_step_condition5,
)
from gdlab.stepsize.gd import train
from gdlab.stepsize.mlp import MLPTrajectory, train_mlp
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.phase import DIP_TOLERANCE, PLATEAU_TOLERANCE, rate_spread
from gdlab.stepsize.theory import run_constants
from gdlab.stepsize.trajectory import Trajectory

__all__ = ["FIG1", "FIG2_IMAGES", "FIG2_XOR", "FIG3", "FIG4", "fig2_runs"]

U64 = 2.0**-53
# Risk comparisons between runs allow the float64 evaluation error of L (a relative
# (n + d + m) u from the margins and the mean), bounded generously by 1e-10 relative.
RISK_RTOL = 1e-10

IMAGES_QUICK = {"name": "digits", "classes": [3, 8]}
CIFAR = {"name": "cifar10", "n_train": 6000, "seed": 0}


# ----------------------------------------------------------------------------- runs


def _dtype_name() -> str:
    return str(get_dtype()).removeprefix("torch.")


def _accuracy(net: TwoLayerNet, W: torch.Tensor, ds: Dataset) -> torch.Tensor:
    """Test accuracy of each of the K parameters ``W`` (K, m, d): fraction with ``y f > 0``."""
    f = net.forward(W.to(torch.float64), ds.X_test)
    return ((f * ds.y_test) > 0).to(torch.float64).mean(dim=1)


def _concat(parts: list[Trajectory]) -> Trajectory:
    """Consecutive GD segments (each starting where the previous ended) as one trajectory."""
    first = parts[0]
    out: dict[str, Any] = {}
    for name, value in first.__dict__.items():
        if name == "steps":
            offsets = np.cumsum([0] + [int(p.steps[-1]) for p in parts[:-1]])
            pieces = [
                p.steps[i > 0 :] + int(o)
                for i, (p, o) in enumerate(zip(parts, offsets, strict=True))
            ]
            out[name] = torch.cat(pieces)
        elif name in ("lr", "eta"):
            out[name] = value
        elif name == "w_final":
            out[name] = parts[-1].w_final
        elif name == "meta":
            out[name] = {**value, "steps": int(sum(int(p.steps[-1]) for p in parts))}
        elif isinstance(value, torch.Tensor):
            out[name] = torch.cat(
                [getattr(p, name)[:, i > 0 :] for i, p in enumerate(parts)], dim=1
            )
        else:
            out[name] = value
    return Trajectory(**out)


def two_layer_runs(
    ctx: RunContext,
    data: dict[str, Any],
    activation: str,
    m: int,
    lr: list[float],
    steps: int,
    *,
    init_scale: float,
    seed: int,
    record_every: int = 1,
    checkpoints: int = 1,
    per_neuron: bool = False,
) -> tuple[Trajectory, np.ndarray, np.ndarray]:
    """K GD runs of eq. (2) (balanced signs, shared Gaussian init), cached as one unit.

    GD has no state besides ``w``, so the horizon is split into ``checkpoints`` segments, each
    started from the previous ``w_final``; the test accuracy is measured at the segment ends
    (and at step 0) when the data have a test split. Returns ``(trajectory, test_steps,
    test_accuracy (K, C))`` (empty arrays without a test split).
    """
    config = {
        "data": data,
        "activation": activation,
        "m": m,
        "lr": lr,
        "steps": steps,
        "init_scale": init_scale,
        "seed": seed,
        "record_every": record_every,
        "checkpoints": checkpoints,
        "per_neuron": per_neuron,
        "dtype": _dtype_name(),
    }

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        ds = load_data(data)
        net = TwoLayerNet.balanced(get_activation(activation), m)
        bounds = np.unique(np.linspace(0, steps, checkpoints + 1).round().astype(int))
        W = None
        parts: list[Trajectory] = []
        accs = []
        if ds.has_test:
            accs.append(_accuracy(net, net.init(1, ds.d, init_scale, seed), ds).expand(len(lr)))
        label = f"{activation} m={m} K={len(lr)}"
        for a, b in tqdm(
            list(itertools.pairwise(bounds)), disable=not ctx.progress, desc=label, leave=False
        ):
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
                    device=ctx.device,
                    meta={"dataset": ds.name, "data_note": ds.note},
                )
            W = traj.w_final
            parts.append(traj)
            if ds.has_test:
                accs.append(_accuracy(net, W, ds))
        arrays, meta = pack(_concat(parts))
        arrays["test_steps"] = bounds if ds.has_test else np.zeros(0, dtype=np.int64)
        arrays["test_accuracy"] = (
            torch.stack(accs, dim=1).numpy() if accs else np.zeros((len(lr), 0))
        )
        return arrays, meta

    arrays, meta = ctx.cached("two-layer-gd", config, compute)
    test_steps, test_acc = arrays.pop("test_steps"), arrays.pop("test_accuracy")
    return unpack(Trajectory, arrays, meta), test_steps, test_acc


# ----------------------------------------------------------------------------- claims


def _risk_increases(risk: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """Steps t of a deep-MLP run (every step recorded) with ``L_{t+1} > L_t`` beyond float64
    rounding: a relative allowance ``(n + d + 3 h + 5) u``, the summation lengths of the risk's
    mean and of the forward pass's dot products (``h`` the width; first order, no cancellation).
    ``gdlab.stepsize.certify.risk_monotone_from`` is the two-layer counterpart."""
    slack = (meta["n"] + meta["d"] + 3 * meta["width"] + 5) * U64
    return np.flatnonzero(np.diff(risk) > slack * risk[:-1])


def _largest_dip(margin: np.ndarray) -> float:
    """``max_t (m_t - m_{t+1}) / |m_t|`` (0 if the series never decreases)."""
    if margin.size < 2:
        return 0.0
    dips = (margin[:-1] - margin[1:]) / np.abs(margin[:-1])
    return max(0.0, float(np.max(dips)))


def _aggregate(label: str, rows: list[tuple[float, Any]], total: int, source: str) -> dict:
    """One claim from the per-run verdicts of a certificate row (all runs must hold)."""
    worst_lr, worst = min(
        rows, key=lambda r: -math.inf if r[1].worst_slack is None else r[1].worst_slack
    )
    return claim(
        label,
        source,
        worst.measured,
        all(v.holds for _, v in rows),
        bound=worst.bound,
        worst_slack=worst.worst_slack,
        step=worst.step,
        note=f"checked on {len(rows)} of {total} runs; worst at lr={worst_lr:g}: {worst.note}",
    )


def _sweep_claims(
    traj: Trajectory, net: TwoLayerNet, ds: Dataset, label: str
) -> list[dict[str, Any]]:
    """Claims of Figure 2 on one stepsize sweep (spec §4 observations 1-3, §7).

    - Theorem 2.2 certificates (``gdlab.stepsize.certify``, radius-R tight constants): the risk
      is non-increasing after ``r*`` (eq. 4) and ``gamma^c`` non-decreasing after ``s*``
      (eq. 5), aggregated over the runs that reach the threshold.
    - Observation 1: after the last run's ``r*``, the risks are ordered by stepsize at every
      recorded step (larger stepsize, smaller risk), up to ``RISK_RTOL``.
    - Observation 2: ``tilde-eta t L_t`` plateaus: over the last half of the horizon its
      max/min is at most ``PLATEAU_TOLERANCE`` (runs with ``r* <= T/2``).
    - Observation 3: after ``s*`` the normalised margin's largest one-step relative dip is at
      most ``DIP_TOLERANCE``.
    """
    K, lrs = traj.num_runs, traj.lr.numpy()
    steps = traj.steps.numpy()
    T = int(steps[-1])
    rows: dict[str, list[tuple[float, Any]]] = defaultdict(list)
    r_star: list[int | None] = []
    s_star: list[int | None] = []
    for k in range(K):
        run = traj.run(k)
        c = run_constants(run, net, ds.X, ds.y)
        for verdict in certify_stable_phase(run, c):
            if verdict.claim in ("risk non-increasing after r*", "gamma^c non-decreasing after s*"):
                rows[verdict.claim].append((float(lrs[k]), verdict))
        r_star.append(first_step_condition4(run, c))
        s_star.append(first_step_condition5(run, c))
    out = [
        _aggregate(f"{label}: {name}", rows[name], K, "Theorem 2.2")
        for name in ("risk non-increasing after r*", "gamma^c non-decreasing after s*")
        if rows[name]
    ]
    reached = [k for k in range(K) if r_star[k] is not None]
    not_reached = ", ".join(f"{lrs[k]:g}" for k in range(K) if r_star[k] is None) or "none"

    risk = traj.risk.numpy()
    if len(reached) >= 2:
        t0 = max(r_star[k] for k in reached)
        idx = np.flatnonzero(steps >= t0)
        order = sorted(reached, key=lambda k: lrs[k])
        sub = risk[np.ix_(order, idx)]
        ok = sub[1:] <= sub[:-1] * (1 + RISK_RTOL)
        bad = np.flatnonzero(~ok.all(axis=0))
        where = (
            "ordered at every step"
            if bad.size == 0
            else f"{int((~ok).sum())} violations, the last at t={int(steps[idx[bad[-1]]])}"
        )
        out.append(
            claim(
                f"{label}: risk ordered by stepsize after r*",
                "Figure 2(a), observation 1",
                float(ok.mean()),
                bool(ok.all()),
                bound=1.0,
                note=f"fraction of (step, neighbouring-stepsize) pairs ordered for t >= {t0} "
                f"(the last r*): {where}; runs without r*: {not_reached}",
            )
        )
    plateau = [k for k in reached if r_star[k] <= T // 2]
    if plateau:
        spread = rate_spread(lrs, steps, risk)
        ratios = {k: float(spread[k]) for k in plateau}
        worst = max(ratios, key=ratios.get)
        out.append(
            claim(
                f"{label}: eta t L_t plateaus",
                "Figure 2(b), observation 2 (Theorem 4.1 rate)",
                ratios[worst],
                ratios[worst] <= PLATEAU_TOLERANCE,
                bound=PLATEAU_TOLERANCE,
                note=f"max/min of tilde-eta t L_t over t in [{T // 2}, {T}]; worst at "
                f"lr={lrs[worst]:g}; per run: "
                + ", ".join(f"{lrs[k]:g}: {v:.3g}" for k, v in ratios.items()),
            )
        )
    stable = [k for k in range(K) if s_star[k] is not None and s_star[k] < T]
    if stable:
        margin = traj.normalized_margin.numpy()
        dips = {k: _largest_dip(margin[k, steps >= s_star[k]]) for k in stable}
        worst = max(dips, key=dips.get)
        out.append(
            claim(
                f"{label}: normalized margin nearly monotone after s*",
                "Figure 2(c), observation 3",
                dips[worst],
                dips[worst] <= DIP_TOLERANCE,
                bound=DIP_TOLERANCE,
                note=f"largest relative one-step dip of gamma-bar after s*; worst at "
                f"lr={lrs[worst]:g}; {len(stable)} of {K} runs reach s* (eq. 5)",
            )
        )
    return out


# ----------------------------------------------------------------------------- Figure 2


def fig2_runs(
    config: Config, ctx: RunContext
) -> dict[str, tuple[Trajectory, np.ndarray, np.ndarray]]:
    """The stepsize sweep of every activation of a Figure 2/3 config (cached units)."""
    return {
        activation: two_layer_runs(
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
        for activation, lrs in config["activations"].items()
    }


def _run_fig2(name: str, config: Config, ctx: RunContext) -> Result:
    ds = load_data(config["data"])
    arrays: dict[str, np.ndarray] = {}
    claims: list[dict[str, Any]] = []
    for activation, (traj, _, _) in fig2_runs(config, ctx).items():
        net = TwoLayerNet.balanced(get_activation(activation), config["m"])
        claims += _sweep_claims(traj, net, ds, activation)
        for key in ("lr", "steps", "risk", "normalized_margin"):
            arrays[f"{activation}.{key}"] = getattr(traj, key).numpy()
    return Result(name, "", config, arrays, claims, {"dataset": ds.name, "data_note": ds.note})


def _plot_fig2(result: Result) -> dict[str, Figure]:
    figs = {}
    for activation in result.config["activations"]:
        a = {k.split(".", 1)[1]: v for k, v in result.arrays.items() if k.startswith(activation)}
        fig, (ax_risk, ax_rate, ax_margin) = subplots(3)
        sel = a["steps"] >= 1  # log-scaled time axes
        t = a["steps"][sel]
        for k, color in enumerate(stepsize_colors(a["lr"])):
            lab = f"$\\tilde\\eta$={a['lr'][k]:g}"
            ax_risk.loglog(t, a["risk"][k, sel], color=color, label=lab)
            ax_rate.loglog(t, a["lr"][k] * t * a["risk"][k, sel], color=color)
            ax_margin.semilogx(t, a["normalized_margin"][k, sel], color=color)
        label_axes(ax_risk, "step t", "risk $L(w_t)$", f"(a) risk, {activation}")
        label_axes(ax_rate, "step t", r"$\tilde\eta\, t\, L(w_t)$", "(b) asymptotic rate")
        label_axes(ax_margin, "step t", r"$\bar\gamma(w_t)$", "(c) normalized margin")
        ax_risk.legend()
        figs[activation] = fig
    return figs


def _run_fig3(config: Config, ctx: RunContext) -> Result:
    from scipy.stats import spearmanr  # slow import (1-2 s), only needed here

    arrays: dict[str, np.ndarray] = {}
    claims = []
    for activation, (traj, test_steps, test_acc) in fig2_runs(config, ctx).items():
        lrs = traj.lr.numpy()
        arrays[f"{activation}.lr"] = lrs
        arrays[f"{activation}.test_steps"] = test_steps
        arrays[f"{activation}.test_accuracy"] = test_acc
        final = test_acc[:, -1]
        rho = spearmanr(lrs, final).statistic if np.ptp(final) > 0 else math.nan
        claims.append(
            claim(
                f"{activation}: larger stepsize, better test accuracy",
                "Figure 3",
                rho,
                bool(rho > 0),
                note="Spearman rank correlation of final test accuracy with the stepsize "
                "(holds if > 0; undefined when all accuracies tie); accuracies: "
                + ", ".join(f"{lr:g}: {acc:.4f}" for lr, acc in zip(lrs, final, strict=True)),
            )
        )
    return Result("fig3", "", config, arrays, claims, {"dataset": traj.meta["dataset"]})


def _plot_fig3(result: Result) -> dict[str, Figure]:
    acts = list(result.config["activations"])
    fig, axes = subplots(len(acts) + 1)
    for ax, activation in zip(axes[:-1], acts, strict=True):
        lrs = result.arrays[f"{activation}.lr"]
        steps = result.arrays[f"{activation}.test_steps"]
        acc = result.arrays[f"{activation}.test_accuracy"]
        for k, color in enumerate(stepsize_colors(lrs)):
            ax.plot(steps, acc[k], color=color, label=f"$\\tilde\\eta$={lrs[k]:g}")
        label_axes(ax, "step t", "test accuracy", activation)
        axes[-1].semilogx(lrs, acc[:, -1], "o-", label=activation)
    axes[0].legend()
    axes[-1].legend()
    label_axes(axes[-1], r"stepsize $\tilde\eta$", "final test accuracy", "accuracy vs stepsize")
    return {"test-accuracy": fig}


# ----------------------------------------------------------------------------- Figure 1


def _run_fig1(config: Config, ctx: RunContext) -> Result:
    unit = {k: config[k] for k in ("data", "width", "lr", "steps", "test_every", "seed")}
    unit["dtype"] = _dtype_name()

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        ds = load_data(config["data"])
        traj = train_mlp(
            ds,
            config["lr"],
            config["steps"],
            width=config["width"],
            seed=config["seed"],
            test_every=config["test_every"],
            device=ctx.device,
            progress=ctx.progress,
        )
        return pack(traj)

    traj = unpack(MLPTrajectory, *ctx.cached("deep-mlp", unit, compute))
    arrays = {
        key: getattr(traj, key).numpy()
        for key in ("lr", "steps", "risk", "normalized_margin", "test_steps", "test_accuracy")
    }
    return Result("fig1", "", config, arrays, _fig1_claims(traj), {"dataset": traj.meta["dataset"]})


def _fig1_claims(traj: MLPTrajectory) -> list[dict[str, Any]]:
    """Claims of Figure 1 (spec §7), the first stepsize being the large one.

    - Large stepsize: the risk rises at some step (beyond float64 rounding, see
      :func:`_risk_increases`) and is non-increasing over at least the last half of the horizon.
    - Small stepsize: the risk never rises.
    - For both: after the stable phase starts (the step after the last rise) and all training
      points are classified correctly, the ``||w||^4``-normalised margin's largest relative
      one-step dip is at most ``DIP_TOLERANCE``.
    - Test accuracy at the last step: large stepsize >= small stepsize.
    """
    lrs = traj.lr.numpy()
    risk = traj.risk.numpy()
    T = int(traj.steps[-1])
    big, small = int(np.argmax(lrs)), int(np.argmin(lrs))
    # The stable phase starts after the last risk increase (0 if there is none).
    ups = [_risk_increases(risk[k], traj.meta) for k in range(len(lrs))]
    start = [0 if up.size == 0 else int(up[-1]) + 1 for up in ups]
    out = [
        claim(
            f"lr={lrs[big]:g}: risk oscillates, then decreases monotonically",
            "Figure 1(a)",
            start[big] if ups[big].size else math.nan,
            ups[big].size > 0 and start[big] <= T // 2,
            bound=T // 2,
            note=f"{ups[big].size} risk increases; measured = first step of the final monotone "
            f"stretch (must be <= T/2 = {T // 2})",
        ),
        claim(
            f"lr={lrs[small]:g}: risk decreases monotonically throughout",
            "Figure 1(a)",
            ups[small].size,
            ups[small].size == 0,
            bound=0,
            note="measured = number of risk increases beyond float64 rounding",
        ),
    ]
    margin, q_min = traj.normalized_margin.numpy(), traj.min_margin.numpy()
    for k in (big, small):
        positive = np.flatnonzero(q_min[k, start[k] :] > 0)
        if positive.size == 0:
            out.append(
                claim(
                    f"lr={lrs[k]:g}: normalized margin non-decreasing in the stable phase",
                    "Figure 1(b)",
                    math.nan,
                    False,
                    note="the training data are never all classified correctly in the stable phase",
                )
            )
            continue
        begin = start[k] + int(positive[0])
        dip = _largest_dip(margin[k, begin:])
        out.append(
            claim(
                f"lr={lrs[k]:g}: normalized margin non-decreasing in the stable phase",
                "Figure 1(b)",
                dip,
                dip <= DIP_TOLERANCE,
                bound=DIP_TOLERANCE,
                note=f"largest relative one-step dip of min_i y_i f / ||w||^4 for t >= {begin} "
                f"(stable and all points correct); margin {margin[k, begin]:.3g} -> "
                f"{margin[k, -1]:.3g}",
            )
        )
    if traj.test_accuracy.numel():
        acc = traj.test_accuracy.numpy()[:, -1]
        out.append(
            claim(
                "large stepsize has better test accuracy",
                "Figure 1(c)",
                float(acc[big] - acc[small]),
                bool(acc[big] >= acc[small]),
                bound=0.0,
                note=f"final test accuracy {acc[big]:.4f} (lr={lrs[big]:g}) vs "
                f"{acc[small]:.4f} (lr={lrs[small]:g})",
            )
        )
    return out


def _plot_fig1(result: Result) -> dict[str, Figure]:
    a = result.arrays
    fig, (ax_risk, ax_margin, ax_acc) = subplots(3)
    for k, color in enumerate(stepsize_colors(a["lr"])):
        lab = f"$\\tilde\\eta$={a['lr'][k]:g}"
        ax_risk.semilogy(a["steps"], a["risk"][k], color=color, label=lab)
        ax_margin.plot(a["steps"], a["normalized_margin"][k], color=color)
        if a["test_accuracy"].size:
            ax_acc.plot(a["test_steps"], a["test_accuracy"][k], color=color)
    label_axes(ax_risk, "step t", "risk $L(w_t)$", "(a) risk")
    label_axes(ax_margin, "step t", r"$\min_i y_i f(w_t;x_i)/\|w_t\|^4$", "(b) normalized margin")
    label_axes(ax_acc, "step t", "test accuracy", "(c) test accuracy")
    ax_risk.legend()
    return {"deep-mlp": fig}


# ----------------------------------------------------------------------------- Figure 4


def _run_fig4(config: Config, ctx: RunContext) -> Result:
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
    arrays = {
        key: getattr(traj, key).numpy()
        for key in (
            "lr",
            "eta",
            "steps",
            "risk",
            "normalized_margin",
            "neuron_margins",
            "neuron_linear_margins",
        )
    }
    return Result("fig4", "", config, arrays, _fig4_claims(traj), {"dataset": "five_point"})


def _fig4_claims(traj: Trajectory) -> list[dict[str, Any]]:
    """Claims of Figure 4 (spec §4, §7), per stepsize: the network margin turns positive and
    ends above its value at that step, while both per-neuron margins (spec §5) stay negative at
    every recorded step ``t >= 1`` (their maxima over steps and neurons are reported; the value
    at ``t = 0`` depends only on the random initialisation and is reported in the note)."""
    out = []
    steps = traj.steps.numpy()
    for k in range(traj.num_runs):
        tag = f"lr={float(traj.lr[k]):g} (eta={float(traj.eta[k]):g})"
        q = traj.min_margin[k].numpy()
        gbar = traj.normalized_margin[k].numpy()
        positive = np.flatnonzero(q > 0)
        first = None if positive.size == 0 else int(positive[0])
        out.append(
            claim(
                f"{tag}: network margin turns positive",
                "Figure 4(b)",
                math.nan if first is None else steps[first],
                first is not None,
                note="measured = first step with min_i y_i f > 0",
            )
        )
        if first is not None:
            out.append(
                claim(
                    f"{tag}: network margin rises after turning positive",
                    "Figure 4(b)",
                    gbar[-1] - gbar[first],
                    bool(gbar[-1] > gbar[first]),
                    bound=0.0,
                    note=f"normalized margin {gbar[first]:.4g} at step {steps[first]} -> "
                    f"{gbar[-1]:.4g} at the last step",
                )
            )
        after = steps >= 1
        for field, kind, what in (
            ("neuron_margins", "phi", "min_i y_i a_j phi(x_i^T w_j)/||w_j||"),
            ("neuron_linear_margins", "linear", "min_i y_i a_j x_i^T w_j/||w_j||"),
        ):
            series = getattr(traj, field)[k].numpy()
            top = float(series[after].max())
            out.append(
                claim(
                    f"{tag}: every neuron margin ({kind}) negative during training",
                    "Figure 4(b)",
                    top,
                    top < 0,
                    bound=0.0,
                    note=f"max over steps t >= 1 and neurons of {what}; at the random "
                    f"initialisation (t = 0) the max is {float(series[0].max()):.3g}",
                )
            )
    return out


def _plot_fig4(result: Result) -> dict[str, Figure]:
    a = result.arrays
    K = len(a["lr"])
    fig, axes = subplots(2, K)
    sel = a["steps"] >= 1  # log-scaled time axes
    t = a["steps"][sel]
    for k in range(K):
        ax_loss, ax_margin = axes[2 * k], axes[2 * k + 1]
        title = f"$\\tilde\\eta$={a['lr'][k]:g} ($\\eta$={a['eta'][k]:g})"
        ax_loss.loglog(t, a["risk"][k, sel])
        ax_margin.semilogx(t, a["normalized_margin"][k, sel], color="k", label="network")
        for j in range(a["neuron_margins"].shape[-1]):
            phi_margin = a["neuron_margins"][k, sel, j]
            linear_margin = a["neuron_linear_margins"][k, sel, j]
            ax_margin.semilogx(t, phi_margin, label=f"neuron {j + 1} (phi)")
            ax_margin.semilogx(t, linear_margin, ls="--", label=f"neuron {j + 1} (linear)")
        ax_margin.axhline(0.0, color="grey", lw=0.8)
        label_axes(ax_loss, "step t", "risk $L(w_t)$", f"(a) loss, {title}")
        label_axes(ax_margin, "step t", "normalized margin", f"(b) margins, {title}")
        ax_margin.legend()
    return {"five-point": fig}


# ----------------------------------------------------------------------------- recipes

_FIG1_QUICK = {
    "data": IMAGES_QUICK,
    "width": 64,
    "lr": [1.5, 0.2],
    "steps": 1_500,
    "test_every": 10,
    "seed": 0,
}

FIG1 = register(
    Recipe(
        name="fig1",
        description="Figure 1: bias-free 4-layer GELU MLP, large vs small stepsize; risk, "
        "||w||^4-normalized margin, test accuracy",
        quick=_FIG1_QUICK,
        paper={
            "data": CIFAR,
            "width": 200,
            "lr": [0.2, 0.005],
            "steps": 20_000,
            "test_every": 50,
            "seed": 0,
            "fallback": {**_FIG1_QUICK, "steps": 6_000},
        },
        run=_run_fig1,
        plot=_plot_fig1,
    )
)

_XOR_LRS = {
    "quick": {
        "leaky_softplus_ex31": [10.0, 30.0, 100.0, 300.0, 1000.0, 2000.0],
        "leaky_softplus_half": [10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0],
    },
}

FIG2_XOR = register(
    Recipe(
        name="fig2-xor",
        description="Figure 2(a-c): eq. (2), m = 20, both leaky softplus variants on XOR; "
        "risk, tilde-eta t L_t, normalized margin over a stepsize sweep",
        quick={
            "data": {"name": "xor"},
            "m": 20,
            "activations": _XOR_LRS["quick"],
            "steps": 10_000,
            "init_scale": 0.1,
            "seed": 0,
        },
        paper={
            "data": {"name": "xor"},
            "m": 20,
            "activations": {
                act: [float(v) for v in np.geomspace(3.0, max(lrs), 10).round(3)]
                for act, lrs in _XOR_LRS["quick"].items()
            },
            "steps": 200_000,
            "record_every": 10,
            "init_scale": 0.1,
            "seed": 0,
        },
        run=lambda config, ctx: _run_fig2("fig2-xor", config, ctx),
        plot=_plot_fig2,
    )
)

_IMAGE_LRS = [10.0, 100.0, 1000.0, 10_000.0]
_IMAGES_QUICK_CONFIG = {
    "data": IMAGES_QUICK,
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
}
_IMAGES_PAPER_CONFIG = {
    **_IMAGES_QUICK_CONFIG,
    "data": CIFAR,
    "steps": 20_000,
    "checkpoints": 40,
    "fallback": {**_IMAGES_QUICK_CONFIG, "steps": 20_000, "checkpoints": 40},
}

FIG2_IMAGES = register(
    Recipe(
        name="fig2-images",
        description="Figure 2(d-f): eq. (2), m = 40, leaky softplus (both variants) and plain "
        "softplus on the image task (digits 3 vs 8; CIFAR-10 airplane/automobile at paper scale)",
        quick=_IMAGES_QUICK_CONFIG,
        paper=_IMAGES_PAPER_CONFIG,
        run=lambda config, ctx: _run_fig2("fig2-images", config, ctx),
        plot=_plot_fig2,
    )
)

FIG3 = register(
    Recipe(
        name="fig3",
        description="Figure 3: test accuracy of the Figure 2(d-f) runs against the stepsize",
        quick=_IMAGES_QUICK_CONFIG,
        paper=_IMAGES_PAPER_CONFIG,
        run=_run_fig3,
        plot=_plot_fig3,
    )
)

_FIG4_QUICK = {
    "data": {"name": "five_point"},
    "m": 2,
    "activation": "leaky_softplus_half",
    "lr": [3.0, 6.0],
    "steps": 5_000,
    "init_scale": 0.1,
    "seed": 0,
}

FIG4 = register(
    Recipe(
        name="fig4",
        description="Figure 4: five points in R^3, m = 2, a = (+1, -1), (x + softplus(x))/2; "
        "network margin turns positive while every neuron margin stays negative",
        quick=_FIG4_QUICK,
        paper={**_FIG4_QUICK, "steps": 200_000, "record_every": 10},
        run=_run_fig4,
        plot=_plot_fig4,
    )
)

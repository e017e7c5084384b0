"""The setting of Part I (chapter ``book/part1/setting.md``): Assumptions 1-3 measured.

Computes the Assumption 2 constants of every activation of Examples 2.1 and 3.1 (closed form,
grid, printed), samples the Assumption 1 quantities of the book's networks against the constants
of the Section 2 lemma (radius-R form), and evaluates the threshold of eq. (4) at one per-neuron
stepsize and several widths.

Claims (each note says which wrong result it rules out): the closed forms agree with the grid;
every printed constant is a valid bound except GELU's kappa, which lies below the true supremum
(spec §6.2); the leaky activations satisfy Assumption 2(A) and the plain ones do not; every
sampled Assumption 1 quantity is within its constant. That the eq. (4) threshold does not depend
on the width at fixed ``eta`` is algebra (``rho^2 = R^2 sup|phi'|^2 / m``, ``beta = R^2
beta~ / m``, ``tilde-eta = m eta``): the table shows it and a unit test checks it, no claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gdlab.claims import ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.setting import figures
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.assumptions import (
    CONSTANT_KEYS,
    GRID_ROUNDING,
    GRID_SPACING,
    GRID_TOL,
    SAMPLE_RTOL,
    ActivationConstants,
    activation_constants,
    check_assumption1,
)
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.theory import condition4_threshold, problem_constants
from gdlab.studies.common import dataset
from gdlab.tables import Table

__all__ = ["PAPER", "QUICK", "STUDY", "constant_claims", "run"]

QUICK: Config = {
    # Every activation of Examples 2.1 and 3.1 (leaky ones at c = 0.5, Huberized ReLU at h = 1).
    "activations": [
        "gelu",
        "softplus",
        "silu",
        "huberized_relu",
        "tanh",
        "sigmoid",
        "leaky_softplus_ex31",
        "leaky_softplus_half",
        "leaky_gelu",
        "leaky_silu",
        "leaky_huberized_relu",
        "leaky_tanh",
        "leaky_sigmoid",
    ],
    "grid": {"lo": -50.0, "hi": 50.0, "num": 200_001},
    # Sampled Assumption 1 check: each network's radius and input dimension are those of its
    # data, or given. "signs" are the output weights a_j (default: balanced signs).
    "samples": 1024,
    "seed": 0,
    "networks": [
        {
            "key": "xor",
            "label": "XOR net",
            "activation": "leaky_softplus_ex31",
            "m": 20,
            "data": {"name": "xor"},
        },
        {
            "key": "fig4",
            "label": "Figure 4 net",
            "activation": "leaky_softplus_half",
            "signs": [1.0, -1.0],
            "data": {"name": "five_point"},
        },
        {
            "key": "gelu_net",
            "label": "GELU net",
            "activation": "gelu",
            "m": 20,
            "radius": 1.0,
            "d": 2,
        },
    ],
    "width_check": {
        "data": {"name": "xor"},
        "activation": "leaky_softplus_ex31",
        "eta": 5.0,
        "widths": [4, 20, 100],
    },
    "plot": {
        "activations": [
            "gelu",
            "softplus",
            "silu",
            "huberized_relu",
            "leaky_softplus_ex31",
            "leaky_softplus_half",
        ],
        "lim": 6.0,
        "points": 1201,
    },
}
#: The constants have no horizon: the paper scale samples eight times more parameters (the
#: sampled maxima come closer to the suprema they estimate) and draws a wider width table.
PAPER: Config = {
    **QUICK,
    "samples": 8 * QUICK["samples"],
    "width_check": {**QUICK["width_check"], "widths": [2, 4, 20, 100, 1000]},
}


def _network(spec: Mapping[str, Any]) -> tuple[TwoLayerNet, float, int]:
    """The network of a spec, its input radius R and input dimension d."""
    act = get_activation(spec["activation"])
    if "signs" in spec:
        net = TwoLayerNet(act, torch.tensor([float(a) for a in spec["signs"]]))
    else:
        net = TwoLayerNet.balanced(act, spec["m"])
    if "data" in spec:
        ds = dataset(spec["data"])
        return net, ds.radius, ds.d
    return net, float(spec["radius"]), int(spec["d"])


def _constants_table(rows: list[ActivationConstants], keys: tuple[str, ...]) -> Table:
    """One line per activation: tight value, grid estimate and printed value of each constant
    in ``keys``; a printed value that is not a valid bound is flagged ``NOT A BOUND``."""
    columns = ["activation"]
    for key in keys:
        columns += [f"{key} tight", f"{key} grid", f"{key} printed"]
    out = []
    for r in rows:
        cells: list[object] = [r.name]
        for key in keys:
            printed = r.printed[key]
            flag = "" if r.printed_is_bound(key) is not False else " NOT A BOUND"
            cells += [r.tight[key], r.grid[key],
                      None if printed is None else f"{printed:.3g}{flag}"]  # fmt: skip
        out.append(cells)
    return Table(columns, out)


def constant_claims(claims: ClaimTable, rows: list[ActivationConstants]) -> dict[str, Any]:
    """Claims on the Assumption 2 constants; returns the values the chapter glues."""
    by_name = {r.name: r for r in rows}
    if "gelu" not in by_name:
        raise ValueError(f"activations={list(by_name)} must include 'gelu' (the printed slip)")
    src = "Assumption 2"
    worst_grid = max(abs(r.grid[k] - r.tight[k]) for r in rows for k in CONSTANT_KEYS)
    claims.add(
        "closed-form constants = grid estimates", src, worst_grid, 0.0, relation="==",
        tol=GRID_TOL, tol_reason="grid resolution and the tails beyond |z| = 50 (GRID_TOL)",
        note=f"{len(rows)} activations x {len(CONSTANT_KEYS)} constants; rules out a closed "
        "form off by more than GRID_TOL",
    )  # fmt: skip
    # alpha is an infimum (the grid can only be above it); the others are suprema.
    excess = max(
        (r.tight[k] - r.grid[k]) if k == "alpha" else (r.grid[k] - r.tight[k])
        for r in rows
        for k in CONSTANT_KEYS
    )
    claims.add(
        "grid never beyond the closed-form sup/inf", src, excess, 0.0,
        tol=GRID_ROUNDING, tol_reason="float64 evaluation of phi, phi', phi'' (GRID_ROUNDING)",
        note="rules out a closed-form supremum (infimum for alpha) that is too small (too "
        "large), which GRID_TOL alone would admit",
    )  # fmt: skip
    gelu = by_name["gelu"]
    others = [f"{r.name}: {k}" for r in rows for k in r.printed_failures if r is not gelu]
    others += [f"gelu: {k}" for k in gelu.printed_failures if k != "kappa"]
    printed = sum(r.printed[k] is not None for r in rows for k in CONSTANT_KEYS)
    claims.add(
        "printed constants other than GELU's kappa are valid bounds",
        "Examples 2.1, 3.1, App. F.1", len(others), 0, relation="==",
        note="; ".join(others) or f"all {printed - 1} other printed values bound the tight ones",
    )  # fmt: skip
    for what, measured in (("closed form", gelu.tight["kappa"]), ("grid", gelu.grid["kappa"])):
        claims.add(
            f"GELU's printed kappa is below sup |phi - z phi'| ({what})",
            "Example 2.1 (spec §6.2)", measured, gelu.printed["kappa"], relation=">",
            note="the paper prints e^(-1/2)/sqrt(2 pi) from the slip phi - z phi' = -z phi_N(z)",
        )  # fmt: skip
    leaky = [r for r in rows if r.name.startswith("leaky")]
    plain = [r for r in rows if not r.name.startswith("leaky")]
    claims.add(
        "leaky activations satisfy Assumption 2(A)", "Example 3.1",
        sum(r.satisfies_2a for r in leaky), len(leaky), relation="==",
        note="alpha > 0 and sup |phi'| <= 1 (tight constants)",
    )  # fmt: skip
    claims.add(
        "plain activations violate Assumption 2(A)", "Example 2.1",
        sum(not r.satisfies_2a for r in plain), len(plain), relation="==",
        note="inf |phi'| = 0 or sup |phi'| > 1",
    )  # fmt: skip
    return {
        "gelu_kappa": gelu.tight["kappa"],
        "gelu_kappa_grid": gelu.grid["kappa"],
        "gelu_kappa_printed": gelu.printed["kappa"],
        "gelu_kappa_ratio": gelu.tight["kappa"] / gelu.printed["kappa"],
        "worst_grid": worst_grid,
        "n_activations": len(rows),
    }


def run(config: Config, ctx: RunContext) -> Result:
    """Constants, sampled Assumption 1 checks, the width-free threshold and the claims."""
    grid = config["grid"]
    spacing = (grid["hi"] - grid["lo"]) / (grid["num"] - 1)
    if spacing > GRID_SPACING or grid["lo"] > -50 or grid["hi"] < 50:
        raise ValueError(
            f"grid={grid!r} (spacing {spacing:.3g}): GRID_TOL needs spacing <= {GRID_SPACING} "
            "on a grid covering [-50, 50]"
        )
    rows = activation_constants(config["activations"], **grid)
    claims = ClaimTable()
    values = constant_claims(claims, rows)
    values["grid_points"] = grid["num"]

    a1_rows, largest_ratio = [], 0.0
    for spec in ctx.steps(config["networks"], desc="Assumption 1"):
        net, R, d = _network(spec)
        check = check_assumption1(net, R, samples=config["samples"], d=d, seed=config["seed"])
        ratios = check.ratios()
        largest_ratio = max(largest_ratio, *ratios.values())
        for key, ratio in ratios.items():
            values[f"{spec['key']}_{key}_ratio"] = ratio
        for (key, (value, bound)), part in zip(check.pairs().items(), "ABC", strict=True):
            claims.add(
                f"{spec['label']}: sampled {key} quantity <= {key}", f"Assumption 1{part}",
                value, bound, tol=SAMPLE_RTOL * bound,
                tol_reason="float64 sums of m terms and d-dim inner products (SAMPLE_RTOL)",
                note=f"ratio {ratios[key]:.3f}; {check.samples} samples, R = {R:.3g}; rules out "
                "a constant below what the network attains (a loose one passes: see the ratio)",
            )  # fmt: skip
        a1_rows.append([spec["label"], check.activation, check.m, R, check.samples,
                        ratios["rho"], ratios["beta"], ratios["kappa"]])  # fmt: skip
    values["n_samples"] = config["samples"]
    values["max_ratio"] = largest_ratio

    wc = config["width_check"]
    ds = dataset(wc["data"])
    act = get_activation(wc["activation"])
    thresholds = [
        condition4_threshold(
            problem_constants(TwoLayerNet.balanced(act, m), ds.X, ds.y, m * wc["eta"])
        )
        for m in wc["widths"]
    ]
    values.update(
        width_threshold=thresholds[0],
        width_eta=wc["eta"],
        widths=", ".join(str(m) for m in wc["widths"][:-1]) + f" and {wc['widths'][-1]}",
        width_spread=(max(thresholds) - min(thresholds)) / max(thresholds),
    )

    plot = config["plot"]
    z = torch.linspace(-plot["lim"], plot["lim"], plot["points"], dtype=torch.float64)
    acts = [get_activation(name) for name in plot["activations"]]
    return Result(
        study="setting",
        scale="",
        config=config,
        arrays={
            "z": z.numpy(),
            "phi": np.stack([a.phi(z).numpy() for a in acts]),
            "dphi": np.stack([a.dphi(z).numpy() for a in acts]),
        },
        values={**values, "plotted": plot["activations"], "claims_summary": claims.summary_line()},
        tables={
            # two tables of two constants each, so that each fits the content column
            "slopes": _constants_table(rows, CONSTANT_KEYS[:2]),
            "shapes": _constants_table(rows, CONSTANT_KEYS[2:]),
            "assumption1": Table(
                [
                    "network",
                    "activation",
                    "m",
                    "R",
                    "samples",
                    "rho ratio",
                    "beta ratio",
                    "kappa ratio",
                ],
                a1_rows,
            ),
            "widths": Table(
                ["m", "eta", "tilde-eta", "eq. (4) threshold"],
                [
                    [m, wc["eta"], m * wc["eta"], th]
                    for m, th in zip(wc["widths"], thresholds, strict=True)
                ],
            ),
        },
        claims=claims,
    )


STUDY = Study(
    name="setting",
    title="The setting",
    chapter="book/part1/setting.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)

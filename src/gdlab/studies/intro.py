"""The opening demonstration: one small and one large stepsize on the XOR data (intro page).

Claims: the large stepsize oscillates early (its risk rises at least twice, above its initial
value) and is then monotone from a step well inside the budget; the small one is monotone from
the start; the large one ends with the lower risk.
"""

from __future__ import annotations

from gdlab.claims import ClaimTable
from gdlab.experiments.study import Config, Result, RunContext, Study
from gdlab.plotting.intro import figures
from gdlab.studies.common import gd_sweep

__all__ = ["PAPER", "QUICK", "STUDY", "run"]

QUICK: Config = {
    "data": {"name": "xor"},
    "activation": "leaky_softplus_ex31",
    "m": 20,
    "lr": [10.0, 1000.0],
    "steps": 2000,
    "seed": 0,
}
#: Four points and 2000 steps take well under a second: both scales run the same experiment.
PAPER: Config = QUICK


def run(config: Config, ctx: RunContext) -> Result:
    """Both runs from one initialisation, their monotone-from steps and the claims."""
    small_lr, large_lr = config["lr"]
    if not small_lr < large_lr:
        raise ValueError(f"lr={config['lr']!r}: the first stepsize must be below the second")
    sweep = gd_sweep(
        ctx, config["data"], config["activation"], config["m"], config["lr"], config["steps"],
        seed=config["seed"],
    )  # fmt: skip
    risk = sweep.traj.risk.numpy()
    steps = int(sweep.traj.steps[-1])
    small_from, large_from = sweep.monotone_from(0), sweep.monotone_from(1)
    first_up = sweep.first_increase(1)
    increases = sweep.risk_increases(1)
    peak = float(risk[1].max() / risk[1, 0])
    final = sweep.final_risk()
    claims = ClaimTable()
    src = "Theorem 2.2 (informal, intro)"
    claims.add("large stepsize: risk rises at least twice", src, increases, 2, relation=">=")
    claims.add("large stepsize: peak risk above the initial risk", src, peak, 1.0, relation=">")
    claims.add(
        "large stepsize: first rise before the monotone phase", src,
        first_up, large_from, relation="<",
        needs="a rise of the risk (none beyond rounding)",
    )  # fmt: skip
    claims.add(
        "large stepsize: monotone within the first half of the budget", src,
        large_from, steps / 2, relation="<",
    )  # fmt: skip
    claims.add("small stepsize: monotone from step 0", src, small_from, 0, relation="==")
    claims.add(
        "large stepsize ends with the lower risk", src, final[1], final[0], relation="<",
        note=f"small-stepsize final risk {final[0]:.3g}",
    )  # fmt: skip
    return Result(
        study="intro",
        scale="",
        config=config,
        arrays={"steps": sweep.traj.steps.numpy(), "risk": risk, "lr": sweep.lrs},
        values={
            "m": config["m"],
            "lr_small": small_lr,
            "lr_large": large_lr,
            "steps": steps,
            "monotone_step": large_from,
            "increases": increases,
            "peak": peak,
            "ratio": float(final[0] / final[1]),
            "dataset": sweep.dataset.name,
        },
        claims=claims,
    )


STUDY = Study(
    name="intro",
    title="The phenomenon in one picture",
    chapter="book/intro.md",
    quick=QUICK,
    paper=PAPER,
    run=run,
    plot=figures,
)

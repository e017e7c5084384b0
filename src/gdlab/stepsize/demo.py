"""The opening demonstration of the book: one small and one large stepsize on the same data."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from gdlab.data import Dataset
from gdlab.plotting import label_axes, subplots
from gdlab.stepsize.activations import get_activation
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import SweepResult, run_sweep

__all__ = ["IntroResult", "run_intro"]


@dataclass
class IntroResult:
    """Two GD runs (small, large stepsize) from one initialisation, and what they show."""

    sweep: SweepResult

    @property
    def steps(self) -> int:
        """The common step budget T."""
        return int(self.sweep.traj.steps[-1])

    @property
    def small_monotone_from(self) -> int:
        return self.sweep.monotone_from(0)

    @property
    def large_monotone_from(self) -> int:
        return self.sweep.monotone_from(1)

    @property
    def large_first_increase(self) -> int | None:
        return self.sweep.first_increase(1)

    @property
    def large_increases(self) -> int:
        """How many steps of the large-stepsize run increase the risk (beyond rounding)."""
        return self.sweep.risk_increases(1)

    @property
    def large_peak_ratio(self) -> float:
        """The largest risk of the large-stepsize run divided by its initial risk."""
        risk = self.sweep.traj.risk[1]
        return float(risk.max() / risk[0])

    @property
    def small_final_risk(self) -> float:
        return float(self.sweep.final_risk()[0])

    @property
    def large_final_risk(self) -> float:
        return float(self.sweep.final_risk()[1])

    def summary(self) -> str:
        """A short text table: stepsize, final risk, step after which the risk is monotone."""
        lines = [f"{'stepsize':>10} {'L(w_T)':>12} {'monotone from step':>20}"]
        final = self.sweep.final_risk()
        for k, lr in enumerate(self.sweep.lrs):
            lines.append(f"{lr:>10.4g} {final[k]:>12.4e} {self.sweep.monotone_from(k):>20d}")
        return "\n".join(lines)

    def figure(self) -> Figure:
        """Risk against step on a log scale, the monotone-from step of the large run marked."""
        fig, (ax,) = subplots(width=6.0, height=3.2)
        t = self.sweep.traj.steps.numpy()
        for k, (lr, color) in enumerate(zip(self.sweep.lrs, ("tab:blue", "tab:red"), strict=True)):
            ax.semilogy(t, self.sweep.traj.risk[k].numpy(), color=color, label=f"stepsize {lr:g}")
        ax.axvline(self.large_monotone_from, color="tab:red", ls=":", lw=1)
        ax.annotate(
            "monotone from here",
            (self.large_monotone_from, self.large_final_risk),
            xytext=(8, 20),
            textcoords="offset points",
            color="tab:red",
            fontsize=8,
        )
        label_axes(ax, "step t", r"risk $L(\mathbf{w}_t)$", f"GD on {self.sweep.dataset.name}")
        ax.legend()
        return fig


def run_intro(
    dataset: Dataset,
    small_lr: float = 10.0,
    large_lr: float = 1000.0,
    steps: int = 2000,
    m: int = 20,
    activation: str = "leaky_softplus_ex31",
    seed: int = 0,
) -> IntroResult:
    """GD with stepsizes ``small_lr`` and ``large_lr`` (tilde-eta) from one initialisation."""
    if not small_lr < large_lr:
        raise ValueError(f"small_lr={small_lr!r} must be below large_lr={large_lr!r}")
    net = TwoLayerNet.balanced(get_activation(activation), m)
    return IntroResult(run_sweep(dataset, net, [small_lr, large_lr], steps, seed=seed))

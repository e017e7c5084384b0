"""The record of a batch of GD runs: per-step series as plain tensors.

A :class:`Trajectory` holds K runs (leading dimension) over the recorded steps
``steps`` (shape ``(S,)``, increasing, always including step 0 and the last step).
All series are CPU tensors of the run dtype (float64 by default), shape ``(K, S)``
unless stated otherwise, and all are finite: ``gdlab.stepsize.gd.train`` raises
``NonFiniteRecordError`` rather than record inf or NaN. Two conventions keep them finite:
``F`` saturates at the float maximum, and a ratio by a zero norm (normalised margins, the
radial part of ``mu``) is 0 at a zero parameter, which has no direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Trajectory", "concatenate"]


@dataclass
class Trajectory:
    """Per-step record of K full-batch GD runs on one dataset.

    Attributes
    ----------
    lr : (K,) the GD stepsizes tilde-eta (the step applied to the stacked parameter).
    eta : (K,) the per-neuron stepsizes eta = tilde-eta / m (equal to ``lr`` for m = 1).
    steps : (S,) int64, the recorded step indices t.
    risk : L(w_t) = (1/n) sum_i log(1 + exp(-q_i)), q_i = y_i f(w_t; x_i)  (eq. 1).
    log_risk : log L(w_t), computed stably (resolves risks far below 1e-300 in log space).
    grad_norm_sq : ||grad L(w_t)||^2.
    param_norm : rho_t = ||w_t||_2 of the whole stacked parameter.
    min_margin : q_min(t) = min_i y_i f(w_t; x_i).
    normalized_margin : gamma-bar(w_t) = q_min(t) / ||w_t||  (eq. 3); 0 where w_t = 0 (e.g. the
        zero initialisation of Theorem 4.3; ``min_margin`` keeps the raw q_min).
    v : v_t = <grad L(w_t), -w_t>.
    G : G(w_t) = (1/n) sum_i 1 / (1 + exp(q_i))  (gradient potential, App. C).
    F : F(w_t) = (1/n) sum_i exp(-q_i), saturated at ``torch.finfo(dtype).max`` where the true
        value exceeds the float range (q_min below about -709 in float64, -88 in float32); the
        saturated value is still an upper bound on ``risk``.
    w_star_inner : <w_t, bar-w_*> with bar-w_* = (a_1 w_*, ..., a_m w_*); None unless requested.
    neuron_margins : (K, S, m) min_i y_i a_j phi(x_i^T w^(j)) / ||w^(j)|| (0 where w^(j) = 0);
        None unless requested.
    neuron_linear_margins : (K, S, m) min_i y_i a_j x_i^T w^(j) / ||w^(j)|| (0 where
        w^(j) = 0); None unless requested.
    w_final : (K, m, d) parameters after the last step.
    meta : free-form description (dataset name, activation, m, n, R, ...); float32 runs add
        ``float32_resolution_lost_at``: per run, the first recorded step where float32 no longer
        resolves the risk's per-step change (monotonicity verdicts after it are unreliable), or
        None.
    """

    lr: torch.Tensor
    eta: torch.Tensor
    steps: torch.Tensor
    risk: torch.Tensor
    log_risk: torch.Tensor
    grad_norm_sq: torch.Tensor
    param_norm: torch.Tensor
    min_margin: torch.Tensor
    normalized_margin: torch.Tensor
    v: torch.Tensor
    G: torch.Tensor
    F: torch.Tensor
    w_final: torch.Tensor
    w_star_inner: torch.Tensor | None = None
    neuron_margins: torch.Tensor | None = None
    neuron_linear_margins: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_runs(self) -> int:
        """K, the number of runs trained together."""
        return int(self.risk.shape[0])

    @property
    def mu_norm_sq(self) -> torch.Tensor:
        """||mu_t||^2 = ||grad L_t||^2 - v_t^2 / rho_t^2 (the tangential gradient, App. A.3).

        At ``rho_t = 0`` (where ``v_t = 0``) the radial part is 0: all of the gradient counts as
        tangential."""
        radial = torch.where(self.param_norm > 0, self.v**2 / self.param_norm**2, 0.0)
        return (self.grad_norm_sq - radial).clamp_min(0.0)

    def run(self, k: int) -> Trajectory:
        """The k-th run as a trajectory with K = 1."""
        if not 0 <= k < self.num_runs:
            raise IndexError(f"run index {k} out of range for {self.num_runs} runs")
        sl = slice(k, k + 1)
        return Trajectory(
            **{
                name: (value[sl] if isinstance(value, torch.Tensor) and name != "steps" else value)
                for name, value in self.__dict__.items()
            }
        )


def concatenate(parts: list[Trajectory]) -> Trajectory:
    """Consecutive GD segments (each started from the previous ``w_final``) as one record.

    The first recorded step of every later segment repeats the last step of the one before and
    is dropped; its steps are shifted by the steps already taken.
    """
    if not parts:
        raise ValueError("concatenate needs at least one segment")
    offsets = [0]
    for p in parts[:-1]:
        offsets.append(offsets[-1] + int(p.steps[-1]))
    out: dict = {}
    for name, value in parts[0].__dict__.items():
        if name == "steps":
            out[name] = torch.cat(
                [p.steps[i > 0 :] + o for i, (p, o) in enumerate(zip(parts, offsets, strict=True))]
            )
        elif name in ("lr", "eta"):
            out[name] = value
        elif name == "w_final":
            out[name] = parts[-1].w_final
        elif name == "meta":
            out[name] = {**value, "steps": offsets[-1] + int(parts[-1].steps[-1])}
        elif isinstance(value, torch.Tensor):
            out[name] = torch.cat([getattr(p, name)[:, i > 0 :] for i, p in enumerate(parts)], 1)
        else:
            out[name] = value
    return Trajectory(**out)

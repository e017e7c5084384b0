"""The vectorized full-batch GD engine for eq. (2) under the logistic loss (spec §1, §5).

:func:`train` runs K GD runs at once, ``w_{t+1} = w_t - lr_k grad L(w_t)``, one stepsize
``lr_k = tilde-eta_k`` per run (the step on the stacked parameter; ``eta = tilde-eta/m`` is the
per-neuron step of Theorems 3.2-4.3). Each step costs one evaluation of the closed-form
gradient (two matrix products over all runs); that same evaluation supplies the recorded series
at step t and the gradient for step t + 1. Recording writes margins and inner products into
preallocated device buffers, reduced in batches on the device (:class:`_Recorder`): no host
synchronisation between the first and the last step, and the series come to the CPU once, at
the end. A step's recorded values do not depend on which other steps are recorded, on how many
are reduced together, or on where a run (or a segment of one) starts.

Reliability under extreme settings: every recorded series is finite (``F`` saturates at the
float maximum, normalised margins are 0 at a zero parameter); a run whose parameters overflow
the float range raises :class:`NonFiniteRecordError` naming the series, step, run and stepsize;
a float32 run warns when the risk's per-step change falls below float32 resolution. Arguments
are validated before any step: the device like ``GDLAB_DEVICE``, the memory of the records
against :data:`~gdlab.runtime.RECORD_BYTES_CAP`, and the scale of the inputs
(:func:`~gdlab.stepsize.network.check_input_scale`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from gdlab.runtime import check_device, check_record_bytes, get_dtype
from gdlab.stepsize.activations import Activation
from gdlab.stepsize.network import (
    Evaluator,
    TwoLayerNet,
    check_data,
    check_input_scale,
)
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "NonFiniteRecordError",
    "margin_statistics",
    "train",
]

# Inputs normalised to unit norm have ||x|| = 1 up to a few ulps; only a larger R is reported.
_RADIUS_SLACK = 1e-12
# Steps whose matrix products have fewer multiply-adds (K m n d) run on one thread by default.
_SMALL_WORK = 1 << 24
_MARGIN_KEYS = ("risk", "log_risk", "min_margin", "G", "F")
_PARAM_KEYS = ("grad_norm_sq", "v", "param_norm")
# Series of a Trajectory besides those: normalized_margin, and w_star_inner when asked for.
_SERIES_COUNT = len(_MARGIN_KEYS) + len(_PARAM_KEYS) + 1
# Records are reduced together, at most this many at once and with at most this many buffered
# margins (2 MiB in float64) ...
_RECORD_BATCH = 256
_RECORD_ENTRIES = 1 << 18
# ... with the margins of a record padded to blocks whose sides are multiples of 16: twice the
# widest vector of doubles (AVX-512), the unit of torch's unrolled vectorised loops.
_LANES = 16


class NonFiniteRecordError(FloatingPointError, RuntimeError):
    """A GD run left the float range: a recorded series or the final parameters are inf/NaN."""


def margin_statistics(
    q: Tensor, n: int | None = None, work: tuple[Tensor, Tensor, Tensor] | None = None
) -> dict[str, Tensor]:
    """Risk statistics of margins ``q`` (..., N), reduced over the last axis.

    Returns ``risk`` ``L = mean l(q_i)`` (eq. 1), ``log_risk`` (``log L``, finite even when L
    underflows), ``min_margin`` ``q_min``, ``G`` (mean of ``1/(1 + e^{q_i})``, App. C) and
    ``F`` (mean of ``e^{-q_i}``, saturated at ``torch.finfo(q.dtype).max`` where the true value
    exceeds the float range, i.e. ``q_min`` below about -709 in float64 or -88 in float32: the
    saturated value still bounds ``L <= F``). ``n`` (default N) is the number of margins when
    the last ``N - n`` entries of every row are ``+inf`` padding, which adds 0 to every sum and
    nothing to the minimum; means divide by n. ``work``: two float tensors and a bool tensor
    shaped like q for the temporaries (default: allocated).

    Per margin, one exp and one log1p give the loss and G: with ``e = e^{-|q|}``,
    ``l(q) = log1p(e) + max(-q, 0)`` (the two sums are of nonnegative terms) and, with
    ``t = e/(1 + e) = sigma(-|q|)``, ``sum_i 1/(1 + e^{q_i}) = N_- + sum_i sign(q_i) t_i``,
    ``N_-`` the number of margins with the sign bit set (-0 included, as for ``sign``); each
    ``t_i`` is at most the term it stands for, so the sum keeps its relative accuracy. One more
    exp gives ``e^{q_min - q} <= 1`` for ``log F = -q_min + log mean e^{q_min - q}``.
    ``log L`` is ``log`` of the mean when ``L`` is at least the square root of the smallest
    normal float (``1.5e-154`` in float64, ``1.1e-19`` in float32); below, every ``l(q_i) <=
    n L``, so ``q_i`` exceeds 350 (float64) or 40 (float32) less ``log n``, where
    ``log l(q) = -q - e^{-q}/2`` is ``-q`` to rounding: ``log L = log F``.
    """
    n = q.shape[-1] if n is None else n
    first, second, negative = work or (
        torch.empty_like(q),
        torch.empty_like(q),
        torch.empty_like(q, dtype=torch.bool),
    )
    torch.signbit(q, out=negative)
    e = torch.abs(q, out=first).neg_().exp_()
    positive_part = torch.clamp_max(q, 0.0, out=second).sum(-1)
    risk = torch.log1p(e, out=second).sum(-1).sub_(positive_part).div_(n)
    t = e.div_(torch.add(e, 1.0, out=second))  # sigma(-|q|)
    g = torch.copysign(t, q, out=second).sum(-1).add_(negative.sum(-1)).div_(n)
    q_min = q.amin(-1, keepdim=True)
    shift = q_min.nan_to_num(posinf=0.0, neginf=0.0)  # an infinite margin: no shift
    tail = torch.sub(shift, q, out=first).exp_().sum(-1)
    log_mean_exp = _aligned(torch.log, tail).sub_(shift.squeeze(-1) + math.log(n))
    direct = risk >= math.sqrt(torch.finfo(q.dtype).tiny)
    return {
        "risk": risk,
        "log_risk": torch.where(direct, _aligned(torch.log, risk), log_mean_exp),
        "min_margin": q_min.squeeze(-1),
        "G": g,
        "F": _aligned(torch.exp, log_mean_exp).clamp_max(torch.finfo(q.dtype).max),
    }


def _aligned(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn(x)`` for an elementwise ``fn``, evaluated with the last axis padded to a multiple of
    :data:`_LANES`: every row then starts a vector block and none falls in a scalar tail, so a
    row's values do not depend on how many rows are evaluated with it."""
    width = x.shape[-1] if x.ndim else 1
    padded = torch.nn.functional.pad(x.reshape(*x.shape[:-1], width), (0, _padded(width) - width))
    return fn(padded)[..., :width].reshape(x.shape)


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` where ``den > 0``, else 0: a normalised margin at a zero parameter (which
    has no direction) is recorded as 0, neither positive nor negative."""
    return torch.where(den > 0, num / den, torch.zeros((), dtype=num.dtype, device=num.device))


def _as_stepsizes(lr: float | Sequence[float] | Tensor, dtype: torch.dtype) -> Tensor:
    """The stepsizes as a CPU vector of ``dtype``, validated (finite in ``dtype``, > 0)."""
    if isinstance(lr, bool):
        raise TypeError(f"lr must be a positive number or a sequence of them, got {lr!r}")
    try:
        values = torch.as_tensor(lr, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"lr must be a positive number or a sequence of them, got {lr!r}") from err
    values = values.reshape(-1) if values.ndim == 0 else values
    if values.ndim != 1 or values.numel() < 1:
        raise ValueError(
            f"lr must be a scalar or a non-empty 1-D sequence, got shape {tuple(values.shape)}"
        )
    bad = ~(torch.isfinite(values) & (values > 0))
    if bool(bad.any()):
        raise ValueError(
            f"stepsizes must be finite and > 0, got lr={values[bad][0].item()!r} "
            f"(at index {int(bad.nonzero()[0, 0])})"
        )
    cast = values.to(dtype)
    bad = ~(torch.isfinite(cast) & (cast > 0))
    if bool(bad.any()):
        raise ValueError(
            f"stepsize lr={values[bad][0].item()!r} (at index {int(bad.nonzero()[0, 0])}) "
            f"is not a finite positive {str(dtype).removeprefix('torch.')}"
        )
    return cast


def _as_positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be an int >= 1")
    return value


def _as_init_scale(init_scale: float) -> float:
    if isinstance(init_scale, bool) or not isinstance(init_scale, numbers.Real):
        raise TypeError(f"init_scale must be a real number, got {init_scale!r}")
    if not (math.isfinite(init_scale) and init_scale >= 0):
        raise ValueError(f"init_scale={init_scale!r} must be finite and >= 0")
    return float(init_scale)


def _initial_params(
    net: TwoLayerNet, W0: Tensor | None, d: int, init_scale: float, seed: int
) -> Tensor:
    """W0 as a (K0, m, d) float64 CPU tensor (K0 = 1 when shared by all runs)."""
    if W0 is None:
        return net.init(1, d, init_scale, seed)
    if not isinstance(W0, Tensor):
        raise TypeError(f"W0 must be a torch.Tensor or None, got {type(W0).__name__}")
    W0 = W0.detach().to("cpu", torch.float64)
    if W0.ndim == 2:
        W0 = W0.unsqueeze(0)
    net.check_params(W0, d)
    if not bool(torch.isfinite(W0).all()):
        raise ValueError("W0 must have finite entries")
    return W0


def _record_count(steps: int, record_every: int) -> int:
    """S, the number of recorded steps 0, record_every, ... and ``steps`` (no list is built)."""
    return steps // record_every + 1 + (steps % record_every != 0)


def _recorded_steps(steps: int, record_every: int) -> Tensor:
    """The recorded steps as an int64 tensor of :func:`_record_count` entries."""
    grid = torch.arange(0, steps + 1, record_every, dtype=torch.int64)
    return grid if steps % record_every == 0 else torch.cat((grid, torch.tensor([steps])))


def train(
    net: TwoLayerNet,
    X: Tensor,
    y: Tensor,
    lr: float | Sequence[float] | Tensor,
    steps: int,
    W0: Tensor | None = None,
    *,
    init_scale: float = 0.1,
    seed: int = 0,
    record_every: int = 1,
    per_neuron: bool = False,
    w_star: Tensor | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    meta: dict | None = None,
    threads: int | None = None,
) -> Trajectory:
    """Full-batch GD ``w_{t+1} = w_t - lr_k grad L(w_t)`` on eq. (2), K runs at once.

    Parameters
    ----------
    net : the network (activation, output signs, scale b).
    X, y : inputs (n, d) and labels (n,) in {-1, +1}. A warning is issued when
        ``R = max ||x_i|| > 1`` (the theorems assume ``R <= 1``, spec §6.5); R is in ``meta``.
    lr : the GD stepsizes tilde-eta, one per run (a scalar is shared by all runs).
    steps : number of GD steps T >= 1.
    W0 : initial parameters, (m, d) shared by all runs or (K, m, d). ``None``: one draw of
        ``net.init(1, d, init_scale, seed)`` shared by all runs, so that the runs of a stepsize
        sweep differ only in their stepsize (pass ``net.init(K, d, ...)`` for a seed sweep).
    init_scale : std of the normal initialisation (finite, >= 0; 0 gives ``W0 = 0``).
    record_every : record steps 0, record_every, 2 record_every, ... and always the last step
        (``record_every > steps`` records steps 0 and ``steps`` only).
    per_neuron : also record the two per-neuron margins (spec §5, Fig. 4).
    w_star : (d,) a unit separator; also record ``<w_t, (a_1 w*, ..., a_m w*)>``.
    device, dtype : default ``GDLAB_DEVICE`` / ``get_dtype()``; ``device`` is a name (``auto``,
        ``cpu``, ``cuda``, any case) or a cpu/cuda ``torch.device``; ``auto`` picks CUDA only
        from :data:`~gdlab.runtime.AUTO_CUDA_MIN_WORK` multiply-adds ``K m n d`` per product.
    meta : extra entries for ``Trajectory.meta`` (the computed facts take precedence).
    threads : CPU threads for the run (restored afterwards). ``None``: one thread when a step
        has fewer than ``2**24`` multiply-adds (``K m n d``), else torch's current setting.

    Returns
    -------
    Trajectory with (K, S) CPU series over the S recorded steps, all finite (conventions in
    :class:`~gdlab.stepsize.trajectory.Trajectory`). float32 runs record in
    ``meta["float32_resolution_lost_at"]`` (one entry per run) the first recorded step where
    float32 no longer resolves the risk's per-step change, or None, and warn when one is found.

    Raises
    ------
    TypeError, ValueError : invalid arguments, before any computation; the message names them.
        Also before any step: records beyond :data:`~gdlab.runtime.RECORD_BYTES_CAP`; inputs
        so large that a GD step overflows (``lr * max ||x_i||^2`` beyond the float range,
        :func:`~gdlab.stepsize.network.check_input_scale`); margins or gradient not finite at
        the initial parameters.
    RuntimeConfigError : a ``device`` that ``GDLAB_DEVICE`` would refuse (unknown, or cuda
        without a CUDA GPU); see :func:`~gdlab.runtime.check_device`.
    NonFiniteRecordError : the parameters overflowed the float range (a recorded series or
        ``w_final`` is inf/NaN); the message names the series, step, run and stepsize.
    """
    requested, device = device, check_device(device)
    dtype = get_dtype() if dtype is None else dtype
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    check_data(X, y)
    n, d = X.shape
    steps = _as_positive_int("steps", steps)
    record_every = _as_positive_int("record_every", record_every)
    if threads is not None:
        threads = _as_positive_int("threads", threads)
    if not isinstance(per_neuron, bool):
        raise TypeError(f"per_neuron must be a bool, got {per_neuron!r}")
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping or None, got {type(meta).__name__}")
    init_scale = _as_init_scale(init_scale)
    lr_cpu = _as_stepsizes(lr, dtype)
    W_init = _initial_params(net, W0, d, init_scale, seed)
    n_lr, n_w = lr_cpu.numel(), W_init.shape[0]
    if n_lr != n_w and 1 not in (n_lr, n_w):
        raise ValueError(
            f"lr gives {n_lr} runs but W0 gives {n_w}; the counts must agree or one must be 1"
        )
    K = max(n_lr, n_w)
    device = check_device(requested, K * net.m * n * d)  # auto: CUDA only where it pays
    lr_cpu = lr_cpu.expand(K).contiguous()
    S = _record_count(steps, record_every)
    per_step = K * (_SERIES_COUNT + (w_star is not None) + (2 * net.m if per_neuron else 0))
    check_record_bytes(
        S * (8 + per_step * dtype.itemsize),
        f"{S} recorded steps x {K} runs x {per_step // K} values x {dtype.itemsize} bytes",
        "record fewer steps (record_every) or fewer runs",
    )

    X = X.detach().to(device=device, dtype=dtype)
    y = y.detach().to(device=device, dtype=dtype)
    check_input_scale(X, float(lr_cpu.max()))
    R = float(X.norm(dim=1).max())
    if R > 1.0 + _RADIUS_SLACK:
        warnings.warn(
            f"max ||x_i|| = {R:.6g} > 1: the theorems assume ||x_i|| <= 1 (spec §6.5); "
            "use radius-R constants or rescale the inputs",
            UserWarning,
            stacklevel=2,
        )
    if w_star is not None:
        if not isinstance(w_star, Tensor) or w_star.shape != (d,):
            shape = tuple(w_star.shape) if isinstance(w_star, Tensor) else type(w_star).__name__
            raise ValueError(f"w_star must be a tensor of shape ({d},), got {shape}")
        if not bool(torch.isfinite(w_star).all()):
            raise ValueError("w_star must have finite entries")
        w_star = w_star.detach().to(device=device, dtype=dtype)

    W = torch.empty(K, net.m, d, device=device, dtype=dtype)
    W.copy_(W_init.expand(K, -1, -1))  # a fresh tensor: the caller's W0 is never modified
    lr3 = lr_cpu.to(device).view(K, 1, 1)
    evaluator = Evaluator(net, X, y)
    recorder = _Recorder(net, X, y, K, S, per_neuron, w_star)
    if threads is None and K * net.m * n * d < _SMALL_WORK:
        threads = 1
    with _cpu_threads(threads if device.type == "cpu" else None):
        neg_q, grad = evaluator.neg_margins_and_grad(W)
        _check_initial(neg_q, grad, X, W)
        for t in range(steps + 1):
            if t % record_every == 0 or t == steps:
                recorder.record(neg_q, grad, W)
            if t == steps:
                break
            W.addcmul_(lr3, grad, value=-1.0)
            neg_q, grad = evaluator.neg_margins_and_grad(W)

    info = {
        **(meta or {}),
        "activation": net.activation.name,
        "activation_params": dict(net.activation.params),
        "m": net.m,
        "n": n,
        "d": d,
        "R": R,
        "b": net.b,
        "init": "normal" if W0 is None else "given",
        "init_scale": init_scale if W0 is None else None,
        "seed": seed if W0 is None else None,
        "steps": steps,
        "record_every": record_every,
        "dtype": str(dtype).removeprefix("torch."),
        "device": device.type,
    }
    traj = Trajectory(
        lr=lr_cpu,
        eta=lr_cpu / net.m,
        steps=_recorded_steps(steps, record_every),
        **recorder.series(),
        w_final=W.cpu(),
        meta=info,
    )
    _check_finite(traj)
    if dtype == torch.float32:
        info["float32_resolution_lost_at"] = _float32_resolution_lost_at(traj)
    return traj


def _check_initial(neg_q: Tensor, grad: Tensor, X: Tensor, W: Tensor) -> None:
    """Refuse a start whose margins or gradient are already inf/NaN (before any step): the
    inputs or the initial parameters are too large, whatever the stepsize."""
    if bool(torch.isfinite(neg_q).all() & torch.isfinite(grad).all()):
        return
    raise ValueError(
        f"the margins or the gradient at the initial parameters are not finite in "
        f"{str(X.dtype).removeprefix('torch.')} (max |x_ij| = {float(X.abs().max()):.3g}, max "
        f"|W0| = {float(W.abs().max()):.3g}): rescale the inputs or the initial parameters"
    )


def _check_finite(traj: Trajectory) -> None:
    """Raise :class:`NonFiniteRecordError` at the earliest inf/NaN of a series or ``w_final``."""
    S, first = len(traj.steps), None
    for name, value in traj.__dict__.items():
        if not isinstance(value, Tensor) or name in ("lr", "eta", "steps"):
            continue
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            index = tuple(int(j) for j in bad.nonzero()[0])
            when = S if name == "w_final" else index[1]  # w_final: after the last record
            if first is None or when < first[0]:
                first = (when, name, index)
    if first is None:
        return
    when, name, index = first
    k, dtype = index[0], traj.meta["dtype"]
    where = "after the last step" if when == S else f"at step {traj.steps[when]}"
    raise NonFiniteRecordError(
        f"GD run {k} (lr={traj.lr[k].item():.6g}) left the {dtype} range: "
        f"{name} = {traj.__dict__[name][index].item()} {where}; use a smaller stepsize or "
        f"fewer steps{' (or float64)' if dtype == 'float32' else ''}"
    )


def _float32_resolution_lost_at(traj: Trajectory) -> list[int | None]:
    """Per run, the first recorded step t where float32 cannot resolve the risk's change, or None.

    The next step changes the risk by about ``lr ||grad L_t||^2`` (first order). The recorded
    ``L_t`` carries the first-order rounding ``u (n + (d + m + 1) max(1, |q_min|)) L_t`` of the
    standard error model (``u = 2^-24``): ``n u`` from the mean of n losses, and the rounding
    ``(d + m + 1) u |q|`` of margins formed from d- and m-term sums, passed to ``log L`` with
    slope up to 1 (without cancellation: an estimate, not a bound). Resolution is lost when
    ``L_t`` is below the normal float32 range (``finfo.tiny``), or when the data are fit
    (``q_min > 0``: the gradient then vanishes only with the risk) and the change is below that
    rounding. A UserWarning names the earliest such step.
    """
    info, meta = torch.finfo(torch.float32), traj.meta
    risk, margin = traj.risk, traj.min_margin
    change = traj.lr.unsqueeze(1) * traj.grad_norm_sq
    terms = meta["n"] + (meta["d"] + meta["m"] + 1) * margin.abs().clamp_min(1.0)
    rounding = info.eps / 2 * terms * risk
    lost = (risk < info.tiny) | ((margin > 0) & (change <= rounding))
    first = [int(row.nonzero()[0, 0]) if bool(row.any()) else None for row in lost]
    hits = [(int(traj.steps[i]), k) for k, i in enumerate(first) if i is not None]
    if hits:
        t, k = min(hits)
        i = first[k]
        L_t = risk[k, i].item()
        why = (
            f"below the normal float32 range {info.tiny:.3g}"
            if L_t < info.tiny
            else f"its predicted change lr ||grad L_t||^2 = {change[k, i].item():.3g} is below "
            f"its float32 rounding {rounding[k, i].item():.3g}"
        )
        warnings.warn(
            f"float32 no longer resolves the risk from step {t} (run {k}, "
            f"lr={traj.lr[k].item():.6g}): L_t = {L_t:.6g} is {why}; "
            f"{len(hits)} of {traj.num_runs} runs affected (meta['float32_resolution_lost_at']). "
            "Monotonicity verdicts after that step are not reliable: use float64",
            UserWarning,
            stacklevel=3,
        )
    return [None if i is None else int(traj.steps[i]) for i in first]


class _Recorder:
    """Per-step records of a GD batch, buffered on the run's device and reduced in batches.

    Taking a record writes the margins ``q`` (K, n) into the next slot of a buffer and the inner
    products of ``(grad, W, bar-w_*)`` (one batched product) into another: four kernel
    launches and no host synchronisation. Every ``C`` records, and at the end, the buffered
    margins are reduced together by :func:`margin_statistics` (about thirty kernels for up to
    :data:`_RECORD_BATCH` records).

    A record's values do not depend on its slot or on how many records are reduced with it, so
    a run recorded sparsely or restarted from ``w_final`` records the same values: the inner
    products are one product of same-shaped tensors per record; the reductions run row by row
    along the last axis; sums of two numbers, products and quotients are correctly rounded
    wherever they are evaluated; and the transcendental functions (exp, log, log1p), whose
    vectorised and scalar tail paths round differently, see every record's block at the same
    alignment and never in a tail: the margins of a record are padded with ``+inf`` to rows of
    ``n_pad`` entries, the reduced values to ``K_pad`` (both multiples of :data:`_LANES`), and
    the reductions run on one thread (a parallel split could cut a block). Per-neuron margins
    are computed at the step itself, each by the same kernels on tensors of the same shapes.
    """

    def __init__(
        self,
        net: TwoLayerNet,
        X: Tensor,
        y: Tensor,
        K: int,
        S: int,
        per_neuron: bool,
        w_star: Tensor | None,
    ) -> None:
        kw = {"device": X.device, "dtype": X.dtype}
        (n, d), m = X.shape, net.m
        self.s, self.S, self.K, self.n = 0, S, K, n
        self.act, self.X, self.y = net.activation, X, y
        self.a = net.a.to(**kw)
        self.keys = (
            *_MARGIN_KEYS,
            *_PARAM_KEYS,
            *(("w_star_inner",) if w_star is not None else ()),
        )
        rows = 2 if w_star is None else 3
        self.C = max(1, min(_RECORD_BATCH, S, _RECORD_ENTRIES // (K * _padded(n))))
        self.q = torch.full((self.C, K, _padded(n)), math.inf, **kw)
        self.work = (
            torch.empty_like(self.q),
            torch.empty_like(self.q),
            torch.empty_like(self.q, dtype=torch.bool),
        )
        self.V = torch.empty(K, rows, m * d, **kw)  # grad, W and bar-w_* = (a_j w_*)_j
        if w_star is not None:
            self.V[:, 2] = (self.a.unsqueeze(-1) * w_star).reshape(-1)
        self.gram = torch.empty(self.C, K, rows, rows, **kw)
        self.out = torch.empty(S, len(self.keys), K, **kw)
        self.neuron = torch.empty(S, 2, K, m, **kw) if per_neuron else None
        self.one_thread = X.device.type == "cpu" and torch.get_num_threads() > 1

    def record(self, neg_q: Tensor, grad: Tensor, W: Tensor) -> None:
        """Take the next record: margins ``-neg_q`` (K, n), gradient and W (K, m, d)."""
        slot, K = self.s % self.C, self.K
        torch.neg(neg_q, out=self.q[slot, :, : self.n])
        self.V[:, 0].copy_(grad.view(K, -1))
        self.V[:, 1].copy_(W.view(K, -1))
        torch.bmm(self.V, self.V.mT, out=self.gram[slot])
        if self.neuron is not None:
            self.neuron[self.s] = _neuron_margins(self.act, W, self.X, self.y, self.a)
        self.s += 1
        if slot + 1 == self.C or self.s == self.S:
            with _cpu_threads(1 if self.one_thread else None):
                self._reduce(slot + 1)

    def _reduce(self, filled: int) -> None:
        """Reduce the ``filled`` buffered records into rows ``s - filled .. s - 1``."""
        stats = margin_statistics(self.q[:filled], self.n, [w[:filled] for w in self.work])
        gram = self.gram[:filled]
        values = [stats[key] for key in _MARGIN_KEYS]
        values += [gram[..., 0, 0], gram[..., 0, 1].neg(), gram[..., 1, 1].sqrt()]
        if len(self.keys) > len(values):
            values.append(gram[..., 1, 2])
        torch.stack(values, 1, out=self.out[self.s - filled : self.s])

    def series(self) -> dict[str, Tensor]:
        """The recorded series as (K, S) (per-neuron: (K, S, m)) CPU tensors."""
        out = {key: self.out[:, i] for i, key in enumerate(self.keys)}
        out["normalized_margin"] = _ratio(out["min_margin"], out["param_norm"])
        series = {key: value.T.contiguous().cpu() for key, value in out.items()}
        if self.neuron is not None:
            margins = self.neuron.permute(1, 2, 0, 3).contiguous().cpu()
            series["neuron_margins"], series["neuron_linear_margins"] = margins[0], margins[1]
        return series


def _padded(size: int) -> int:
    """``size`` rounded up to a multiple of :data:`_LANES`."""
    return -(-size // _LANES) * _LANES


def _neuron_margins(act: Activation, W: Tensor, X: Tensor, y: Tensor, a: Tensor) -> Tensor:
    """Per-neuron margins (spec §5, Fig. 4) of parameters W (..., m, d), shape (2, ..., m):
    ``min_i y_i a_j phi(x_i^T w^(j)) / ||w^(j)||`` and ``min_i y_i a_j x_i^T w^(j) / ||w^(j)||``
    (0 for a neuron with ``w^(j) = 0``)."""
    Z = torch.matmul(W, X.T)  # (..., m, n)
    sign = a.unsqueeze(-1) * y  # (m, n): a_j y_i
    norms = W.norm(dim=-1)
    return _ratio(torch.stack(((act.phi(Z) * sign).amin(-1), (Z * sign).amin(-1))), norms)


@contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads (``None``: unchanged), restored afterwards.

    Small problems default to one thread: a parallel region then costs more than it saves,
    and on a busy machine it stalls for a scheduler time slice (measured on 2 shared cores: a
    160x2x4 product took 15 ms on 2 threads against 8 us on one, and a K=8 step with
    n, d, m = 300, 20, 50 ran 5x slower on 2 threads than on one).
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

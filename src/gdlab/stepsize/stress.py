"""Randomised stress tests of Part I's theorems: random cases and their checker (spec §7).

A :class:`Case` is one full-batch GD run of eq. (2), fully determined by its fields: a small
random dataset, an activation, a width, an initialisation scale, a per-neuron stepsize
``eta`` (the GD stepsize is ``tilde-eta = m eta``, spec §1) and a number of steps. The checker
:func:`check_case` trains it (:func:`gdlab.stepsize.sweeps.run_sweep`) and returns the claims
of :mod:`gdlab.stepsize.certify`:

- always :func:`~gdlab.stepsize.certify.certify_stable_phase` with the radius-R Assumption 1
  constants (Theorem 2.2 needs only Assumption 1, no separability): the risk never increases
  after eq. (4), the norm and ``gamma^c`` never decrease after eq. (5), and Lemmas A.3, A.7-A.10,
  A.13-A.15 (the A.10 and A.14 sandwiches among them) wherever their hypotheses hold;
- on separable data with ``max ||x_i|| <= 1`` and an activation with ``alpha > 0``
  (Assumption 2A), also :func:`~gdlab.stepsize.certify.certify_first_phase`: the running-average
  bound of Theorem 3.2, Lemmas B.1, B.2, C.3 and Theorem 4.1 (``s* <= tau`` and the rate with
  the safe factor 8 of spec §6.4), with ``(w_*, gamma)`` from the hard-margin SVM
  (:func:`gdlab.data.max_margin_direction`), the tightest Assumption 3 certificate.

Every comparison carries the float64 rounding allowance that :mod:`gdlab.stepsize.certify`
derives (never a guessed tolerance). :class:`CaseSpace` says where cases are drawn from; it
draws through the small :class:`Draw` protocol, so the same code serves a seeded NumPy
generator (:meth:`CaseSpace.sample`, the profiles of the ``stress-tests`` study,
:mod:`gdlab.studies.stress`) and hypothesis's ``st.data()`` (the property tests, which then
shrink a failing case). :func:`check_outcome` is the checker as a profile runs it: a case that
raises is an outcome too, with its error, and a :class:`CaseOutcome` is plain data for the
result cache.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from gdlab.claims import ClaimTable
from gdlab.data import Dataset, max_margin_direction, separable_gaussian
from gdlab.runtime import make_generator
from gdlab.stepsize.activations import ACTIVATION_NAMES, get_activation
from gdlab.stepsize.certify import certify_first_phase, certify_stable_phase
from gdlab.stepsize.network import TwoLayerNet
from gdlab.stepsize.sweeps import run_sweep
from gdlab.stepsize.theory import ProblemConstants
from gdlab.stepsize.trajectory import Trajectory

__all__ = [
    "CASE_ERRORS",
    "CI_SPACE",
    "DATA_KINDS",
    "LARGE_SPACE",
    "OUTCOME_FACTS",
    "REACHED",
    "SPACES",
    "Case",
    "CaseOutcome",
    "CaseRun",
    "CaseSpace",
    "Draw",
    "NumpyDraw",
    "check_case",
    "check_outcome",
    "evaluate",
    "run_case",
]

T = TypeVar("T")

#: ``gaussian``: :func:`gdlab.data.separable_gaussian`; ``hyperplane``: Gaussian points pushed
#: off a random hyperplane through the origin (labels random, so possibly unbalanced);
#: ``nonseparable``: Gaussian points with random labels plus an antipodal pair ``x, -x`` with
#: the same label, which no hyperplane through the origin separates; ``xor``: Gaussian points
#: labelled ``sign(x_1 x_2)`` (XOR of the quadrants, which a two-layer net can fit), with the
#: same antipodal pair (it keeps its XOR label), so not linearly separable either.
DATA_KINDS = ("gaussian", "hyperplane", "nonseparable", "xor")
SEPARABLE_KINDS = ("gaussian", "hyperplane")
#: Activations of Assumption 2 (alpha > 0): the leaky family of Example 3.1, the two
#: leaky-softplus variants of spec §2 and the identity (the linear model).
ASSUMPTION2_ACTIVATIONS = (
    "identity",
    "leaky_softplus_ex31",
    "leaky_softplus_half",
    "leaky_gelu",
    "leaky_softplus",
    "leaky_silu",
    "leaky_huberized_relu",
    "leaky_tanh",
    "leaky_sigmoid",
)
#: Plain activations: Assumption 1 only (alpha = 0), so only Theorem 2.2 is checked.
ASSUMPTION1_ACTIVATIONS = ("softplus", "gelu", "silu", "huberized_relu")


class Draw(Protocol):
    """A source of random choices (inclusive integer range, uniform float, one of a sequence)."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        ...

    def uniform(self, low: float, high: float) -> float:
        """A float in ``[low, high]``."""
        ...

    def choice(self, options: Sequence[T]) -> T:
        """One element of ``options``."""
        ...


class NumpyDraw:
    """:class:`Draw` from a NumPy generator seeded by ``(seed, index)`` (independent streams)."""

    def __init__(self, seed: int, index: int = 0) -> None:
        for name, value in (("seed", seed), ("index", index)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r} must be an int >= 0")
        self._rng = np.random.default_rng((seed, index))

    def integer(self, low: int, high: int) -> int:
        return int(self._rng.integers(low, high, endpoint=True))

    def uniform(self, low: float, high: float) -> float:
        return float(self._rng.uniform(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return options[int(self._rng.integers(len(options)))]


# ----------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One GD run to check, reproducible from its fields alone (``eval(repr(case))``).

    Attributes
    ----------
    kind : the data family, one of :data:`DATA_KINDS`.
    n, d : sample size and input dimension.
    radius : the data are scaled to ``max_i ||x_i|| = radius``.
    margin : the margin the separable families are built with (before scaling; ignored for
        ``nonseparable`` and ``xor``). The checked ``gamma`` is the hard-margin SVM's, at least
        as large.
    activation : a name of :data:`gdlab.stepsize.activations.ACTIVATION_NAMES`.
    params : its parameters as ``(name, value)`` pairs (``c`` of the leaky family, ``h`` of
        the Huberized ReLU).
    m : width (balanced output signs, spec §5).
    init_scale : i.i.d. ``N(0, init_scale^2)`` initialisation.
    eta : the per-neuron stepsize; GD uses ``tilde-eta = m eta`` (spec §1).
    steps : number of GD steps (every step is recorded).
    seed : the data use seed ``2 seed``, the initialisation ``2 seed + 1``.
    """

    kind: str
    n: int
    d: int
    radius: float
    margin: float
    activation: str
    params: tuple[tuple[str, float], ...]
    m: int
    init_scale: float
    eta: float
    steps: int
    seed: int

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"kind={self.kind!r}; allowed: {', '.join(DATA_KINDS)}")
        if self.activation not in ACTIVATION_NAMES:
            raise ValueError(
                f"activation={self.activation!r}; allowed: {', '.join(ACTIVATION_NAMES)}"
            )
        low_n = 2 if self.separable else 4  # an antipodal pair plus two points
        for name, low in (("n", low_n), ("d", 2), ("m", 1), ("steps", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be an int >= {low} (kind {self.kind})")
        for name in ("radius", "init_scale", "eta"):
            value = getattr(self, name)
            if not (isinstance(value, float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a finite float > 0")
        if not (isinstance(self.margin, float) and 0.0 < self.margin < 1.0):
            raise ValueError(f"margin={self.margin!r} must be a float in (0, 1)")
        get_activation(self.activation, **dict(self.params))  # validates the parameters

    @classmethod
    def from_repr(cls, text: str) -> Case:
        """The case whose ``repr`` is ``text`` (a reproducer from a profile's findings)."""
        case = eval(text, {"__builtins__": {}, "Case": cls})
        if not isinstance(case, cls):
            raise ValueError(f"{text!r} is not the repr of a Case")
        return case

    @property
    def lr(self) -> float:
        """The GD stepsize ``tilde-eta = m eta``."""
        return self.m * self.eta

    @property
    def separable(self) -> bool:
        """Whether the data satisfy Assumption 3 by construction."""
        return self.kind in SEPARABLE_KINDS

    @property
    def first_phase_applies(self) -> bool:
        """Whether Theorems 3.2 and 4.1 apply: separable, ``||x|| <= 1`` and ``alpha > 0``."""
        return self.separable and self.radius <= 1.0 and self.net().activation.alpha > 0

    def net(self) -> TwoLayerNet:
        """The network of eq. (2) with balanced output signs."""
        return TwoLayerNet.balanced(get_activation(self.activation, **dict(self.params)), self.m)

    def dataset(self) -> Dataset:
        """The case's data, scaled to ``max_i ||x_i|| = radius``."""
        if self.kind == "gaussian":
            ds = separable_gaussian(n=self.n, d=self.d, margin=self.margin, seed=2 * self.seed)
        else:
            ds = _gaussian_family(self.kind, self.n, self.d, self.margin, 2 * self.seed)
        scale = self.radius / ds.radius
        note = f"{ds.note}; scaled to radius {self.radius:.6g}"
        return replace(ds, X=ds.X * scale, note=note)


def _gaussian_family(kind: str, n: int, d: int, margin: float, seed: int) -> Dataset:
    """``hyperplane``: ``x_i = y_i (margin + margin |h_i|) w + g_i`` with ``g_i`` a standard
    Gaussian orthogonal to the random unit ``w`` (``h_i`` standard normal, labels random signs);
    ``nonseparable``: standard Gaussian points, random labels, then ``x_1 = -x_0``,
    ``y_1 = y_0``; ``xor``: the same with labels ``sign(x_i1 x_i2)``."""
    gen = make_generator(seed)
    dtype = torch.float64
    y = torch.where(torch.rand(n, generator=gen, dtype=dtype) < 0.5, -1.0, 1.0).to(dtype)
    X = torch.randn(n, d, generator=gen, dtype=dtype)
    if kind == "hyperplane":
        w = torch.randn(d, generator=gen, dtype=dtype)
        w /= w.norm()
        along = margin * (1.0 + torch.randn(n, generator=gen, dtype=dtype).abs())
        X = X - (X @ w)[:, None] * w + (y * along)[:, None] * w
        note = f"Gaussian points pushed off a random hyperplane by margin {margin:.4g}"
    else:
        if kind == "xor":
            y = torch.where(X[:, 0] * X[:, 1] < 0, -1.0, 1.0).to(dtype)
        X[1], y[1] = -X[0], y[0]
        labels = "XOR labels sign(x_1 x_2)" if kind == "xor" else "random labels"
        note = f"Gaussian points, {labels}, antipodal pair x_1 = -x_0 with y_1 = y_0"
    return Dataset(kind, X, y, note=f"{note}, n={n}, d={d}, seed={seed}")


@dataclass(frozen=True)
class CaseSpace:
    """Where cases are drawn from (inclusive ranges; ``log10_*`` are log-uniform).

    A drawn case has a unit radius half of the time (so the first-phase theorems apply to its
    separable cases), otherwise a log-uniform radius in ``log10_radius``; ``c`` of the leaky
    activations is uniform in ``c``, ``h`` of the Huberized ReLU log-uniform in ``log10_h``.
    """

    n: tuple[int, int] = (4, 12)
    d: tuple[int, int] = (2, 6)
    m: tuple[int, int] = (1, 8)
    steps: tuple[int, int] = (100, 1000)
    log10_eta: tuple[float, float] = (-2.0, 4.0)
    log10_init: tuple[float, float] = (-3.0, 0.0)
    log10_margin: tuple[float, float] = (-2.0, -0.5)
    log10_radius: tuple[float, float] = (-0.5, 0.5)
    c: tuple[float, float] = (0.5, 0.95)
    log10_h: tuple[float, float] = (-1.0, 1.0)
    kinds: tuple[str, ...] = DATA_KINDS
    activations: tuple[str, ...] = ASSUMPTION2_ACTIVATIONS + ASSUMPTION1_ACTIVATIONS

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name in ("kinds", "activations"):
                allowed = DATA_KINDS if name == "kinds" else ACTIVATION_NAMES
                if not value or not set(value) <= set(allowed):
                    raise ValueError(f"{name}={value!r}; allowed: a non-empty subset of {allowed}")
            elif len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"{name}={value!r} must be a range (low, high) with low <= high")

    def draw(self, source: Draw) -> Case:
        """A case whose every field comes from ``source``."""

        def log_uniform(bounds: tuple[float, float]) -> float:
            return float(10.0 ** source.uniform(*bounds))

        kind = source.choice(self.kinds)
        activation = source.choice(self.activations)
        params: list[tuple[str, float]] = []
        defaults = get_activation(activation).params
        if "c" in defaults:
            params.append(("c", source.uniform(*self.c)))
        if "h" in defaults:
            params.append(("h", log_uniform(self.log10_h)))
        unit = source.choice((True, False))
        low_n = self.n[0] if kind in SEPARABLE_KINDS else max(self.n[0], 4)
        return Case(
            kind=kind,
            n=source.integer(low_n, max(low_n, self.n[1])),
            d=source.integer(*self.d),
            radius=1.0 if unit else log_uniform(self.log10_radius),
            margin=log_uniform(self.log10_margin),
            activation=activation,
            params=tuple(params),
            m=source.integer(*self.m),
            init_scale=log_uniform(self.log10_init),
            eta=log_uniform(self.log10_eta),
            steps=source.integer(*self.steps),
            seed=source.integer(0, 2**31 - 1),
        )

    def sample(self, seed: int, index: int) -> Case:
        """Case ``index`` of the profile with ``seed`` (independent of how many are drawn)."""
        return self.draw(NumpyDraw(seed, index))


#: The CI space: small n, m, d and short runs (the hypothesis tests of tests/test_properties.py
#: and the quick profile of the stress-tests study).
CI_SPACE = CaseSpace(n=(3, 8), d=(2, 4), m=(1, 6), steps=(50, 200))
#: The large space (the paper-scale profile of the stress-tests study).
LARGE_SPACE = CaseSpace()
#: The spaces by the name a profile's configuration gives them.
SPACES: dict[str, CaseSpace] = {"ci": CI_SPACE, "large": LARGE_SPACE}


# ----------------------------------------------------------------------------- checker


@dataclass(frozen=True)
class CaseRun:
    """A trained case: its single-run record and its constants (radius-R, with ``(w_*,
    gamma)`` on separable data)."""

    case: Case
    traj: Trajectory
    constants: ProblemConstants


def run_case(case: Case) -> CaseRun:
    """Train ``case`` (every step recorded; ``<w_t, bar-w_*>`` too on separable data)."""
    ds, net = case.dataset(), case.net()
    w_star = gamma = None
    if case.separable:
        w_star, gamma = max_margin_direction(ds.X, ds.y)
    sweep = run_sweep(
        ds,
        net,
        [case.lr],
        case.steps,
        init_scale=case.init_scale,
        seed=2 * case.seed + 1,
        w_star=w_star,
        gamma=gamma,
    )
    return CaseRun(case, sweep.run(0), sweep.constants[0])


def evaluate(run: CaseRun) -> ClaimTable:
    """The stable-phase claims, plus the first-phase ones where they apply (module doc)."""
    table = certify_stable_phase(run.traj, run.constants)
    if run.case.first_phase_applies:
        table = table + certify_first_phase(run.traj, run.constants)
    return table


def check_case(case: Case) -> ClaimTable:
    """Train ``case`` and return one :class:`~gdlab.claims.Claim` per checked claim
    (``.ok`` says whether none fails; ``.facts`` has r*, s*, tau, ...)."""
    return evaluate(run_case(case))


#: What a profile records when a case raises instead of returning claims (a NaN that reaches a
#: claim raises too: a claim cannot measure NaN without saying what it needs).
CASE_ERRORS = (ValueError, RuntimeError, ArithmeticError)
#: The facts of :func:`check_case` that a :class:`CaseOutcome` keeps.
OUTCOME_FACTS = ("r*", "s*", "rate peak")
#: The codes of :attr:`CaseOutcome.reached` (how far a case got) and what they mean.
REACHED = {2: "eq. (5) reached", 1: "eq. (4) only", 0: "neither", -1: "checker raised"}


@dataclass(frozen=True)
class CaseOutcome:
    """A checked case of a profile: its index in the profile, the case, and either its claims
    (with the facts of :data:`OUTCOME_FACTS`) or the error its check raised."""

    index: int
    case: Case
    claims: ClaimTable | None
    error: str | None = None

    def __post_init__(self) -> None:
        if (self.claims is None) == (self.error is None):
            raise ValueError(
                f"case {self.index}: an outcome has claims or an error, got claims="
                f"{self.claims!r} and error={self.error!r}"
            )

    @property
    def reached(self) -> int:
        """How far the run got, a code of :data:`REACHED`: 2 past eq. (5) (the stable-phase
        claims after s* are checked), 1 past eq. (4) only, 0 neither, -1 the checker raised."""
        if self.claims is None:
            return -1
        if self.claims.facts["s*"] is not None:
            return 2
        return 1 if self.claims.facts["r*"] is not None else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON data for the result cache; :meth:`from_dict` inverts it."""
        claims = None
        if self.claims is not None:
            facts = {k: self.claims.facts.get(k) for k in OUTCOME_FACTS}
            claims = ClaimTable(self.claims, facts).to_dict()
        return {"index": self.index, "case": repr(self.case), "claims": claims,
                "error": self.error}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseOutcome:
        """Inverse of :meth:`to_dict`."""
        claims = None if data["claims"] is None else ClaimTable.from_dict(data["claims"])
        return cls(data["index"], Case.from_repr(data["case"]), claims, data["error"])


def check_outcome(index: int, case: Case) -> CaseOutcome:
    """:func:`check_case` as a profile runs it: an error of :data:`CASE_ERRORS` becomes the
    outcome (one line, type and message) instead of stopping the profile."""
    try:
        return CaseOutcome(index, case, check_case(case))
    except CASE_ERRORS as err:
        text = "".join(traceback.format_exception_only(type(err), err)).strip()
        return CaseOutcome(index, case, None, text)

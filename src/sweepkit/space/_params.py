"""Parameter types: what a sweep file's `parameters` entries become, whatever dialect they came from.

Each parameter knows the Optuna distribution it is searched in (its *internal* variable) and how to turn an
internal value into the value the trial sees. Most are native Optuna distributions, so the internal value *is*
the user's value; W&B's normal/beta families and weighted choices are searched through their quantile
(u in (0, 1) → ppf(u)), which gives exactly W&B's random-search distribution while letting model-based
samplers learn over u.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweepkit.expr import Expr

# Optuna's categorical distribution stores only these; anything else (lists, dicts) is searched by index.
_PRIMITIVE = (type(None), bool, int, float, str)


def _by_index(values: tuple[Any, ...]) -> bool:
    """Search choices by index when Optuna can't store them, or would merge them (1, 1.0 and True are
    equal to Optuna, but a trial must get the one the user wrote)."""
    if not all(isinstance(v, _PRIMITIVE) for v in values):
        return True
    return len(set(values)) < len(values)  # primitives that compare equal hash equal: linear, not pairwise


class _Grid(NamedTuple):
    points: tuple[Any, ...]
    by_index: bool
    distribution: CategoricalDistribution


# A quantile internal variable stays off 0 and 1, where normal/lognormal ppf are infinite.
_U_LOW, _U_HIGH = 1e-9, 1.0 - 1e-9
# Grids larger than this are treated as continuous (no enumeration, no exhaustion tracking).
MAX_GRID_POINTS = 100_000
# A step or q finer than this many points per range cannot be sampled: Optuna counts a step's points with
# Decimal (1e-300 over [0, 1] raises), and rounding to it loses the float's precision long before.
MAX_STEPS = 10**15
# Optuna samples integers through floats: past 2**53 they can no longer all be told apart.
MAX_INT = 2**53


def _not_finite(value: Any) -> bool:
    """A value JSON can't store (NaN, ±inf), anywhere inside lists and mappings."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list | tuple):
        return any(_not_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_not_finite(v) for v in value.values())
    return False


def _range_problem(low: float, high: float, step: float | None, what: str = "step") -> str | None:
    """Why [low, high] (with an optional step) can't be sampled: a range or point count that overflows."""
    if not math.isfinite(high - low):
        return f"the range [{low:g}, {high:g}] is too wide to sample: high - low must be a finite number"
    if step is not None and (high - low) / step > MAX_STEPS:
        return (
            f"{what} {step:g} cuts [{low:g}, {high:g}] into more than {MAX_STEPS:.0e} points: "
            f"use a larger {what}, or none for a continuous range"
        )
    return None


@dataclass(frozen=True, eq=False)
class Parameter:
    """Base class. `when` makes the parameter conditional: sampled only when it evaluates true.

    `name` is how the store, `when`/`expr` and the outputs name it: a nested section's child is
    `outer.inner`, and a dotted name written as one key (W&B's `model.n_layers`) reads the same. `path` is
    where the trial finds it, which tells the two apart: `("outer", "inner")` nests, empty means the name
    is one flat key, as W&B hands `wandb.config["model.n_layers"]` and `--model.n_layers=4` to a run."""

    name: str
    when: Expr | None = field(default=None, kw_only=True)
    path: tuple[str, ...] = field(default=(), kw_only=True)

    kind: str = field(default="parameter", init=False)

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys leading to its value in the params a trial gets."""
        return self.path or (self.name,)

    @property
    def reads(self) -> frozenset[str]:
        """Names this parameter's condition (and expression) depend on: they must be sampled first."""
        return self.when.names if self.when is not None else frozenset()

    @property
    def searched(self) -> bool:
        """Whether a sampler picks this value (constants and derived values are not searched)."""
        return True

    def distribution(self, *, grid: bool = False) -> BaseDistribution:
        """The Optuna distribution of the internal variable; under `grid`, a categorical over grid points."""
        if grid:
            if self._grid is None:
                raise ValueError(f"{self.name} has no finite set of values")
            return self._grid.distribution
        return self._distribution()

    @cached_property
    def _grid(self) -> _Grid | None:
        """The grid, built once: a trial of a 100,000-point grid is sampled and decoded in O(1), not O(points)."""
        points = self.grid()
        if points is None:
            return None
        by_index = _by_index(points)
        return _Grid(points, by_index, CategoricalDistribution(list(range(len(points))) if by_index else points))

    def _distribution(self) -> BaseDistribution:
        """Searched parameter types override this; constants and derived values have no distribution."""
        raise TypeError(f"{self.kind} parameter {self.name} is not searched: it has no distribution")

    def decode(self, internal: Any, *, grid: bool = False) -> Any:
        """Internal (Optuna) value → the value the trial sees."""
        if grid:
            assert self._grid is not None
            if not self._grid.by_index:
                return internal
            return self._grid.points[int(internal)]
        return self._decode(internal)

    def _decode(self, internal: Any) -> Any:
        return internal

    def grid(self) -> tuple[Any, ...] | None:
        """Every value this parameter can take, or None when it is continuous."""
        return None

    def problem(self) -> str | None:
        """Why this parameter can't be searched or stored although each field is fine alone, or None."""
        return None

    def describe(self) -> str:
        return self.kind


@dataclass(frozen=True, eq=False)
class Constant(Parameter):
    value: Any = None
    kind: str = field(default="constant", init=False)

    @property
    def searched(self) -> bool:
        return False

    def grid(self) -> tuple[Any, ...]:
        return (self.value,)

    def describe(self) -> str:
        return f"constant {self.value!r}"

    def problem(self) -> str | None:
        return (
            f"{self.value!r} is not a finite number: a trial's values are stored as JSON"
            if _not_finite(self.value)
            else None
        )


@dataclass(frozen=True, eq=False)
class Derived(Parameter):
    """Computed from other parameters (`expr: "embedding_dim * 4"`), never searched."""

    expr: Expr | None = None
    kind: str = field(default="derived", init=False)

    @property
    def reads(self) -> frozenset[str]:
        assert self.expr is not None
        return super().reads | self.expr.names

    @property
    def searched(self) -> bool:
        return False

    def grid(self) -> tuple[Any, ...]:
        return ()  # determined by the others: contributes no factor to the grid

    def describe(self) -> str:
        assert self.expr is not None
        return f"= {self.expr.text}"


@dataclass(frozen=True, eq=False)
class Choice(Parameter):
    """One of `values`; with `probabilities`, W&B's weighted categorical."""

    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    kind: str = field(default="categorical", init=False)

    def _distribution(self) -> BaseDistribution:
        if self.probabilities is not None:
            return FloatDistribution(0.0, 1.0)
        if not _by_index(self.values):
            return CategoricalDistribution(self.values)
        return CategoricalDistribution(list(range(len(self.values))))

    def _decode(self, internal: Any) -> Any:
        if self.probabilities is not None:
            total = 0.0
            for value, p in zip(self.values, self.probabilities, strict=True):
                total += p
                if internal < total:
                    return value
            return self.values[-1]
        if not _by_index(self.values):
            return internal
        return self.values[int(internal)]

    def grid(self) -> tuple[Any, ...]:
        return self.values

    def problem(self) -> str | None:
        for i, value in enumerate(self.values):
            if _not_finite(value):
                return f"value {i} ({value!r}) is not a finite number: a trial's values are stored as JSON"
        return None

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values[:8]) + (", ..." if len(self.values) > 8 else "")
        if self.probabilities is not None:
            return f"choice of [{shown}] with probabilities {list(self.probabilities)}"
        return f"choice of [{shown}]"


@dataclass(frozen=True, eq=False)
class Float(Parameter):
    """A real in [low, high]; `log` samples uniformly in log space; `step` makes it discrete."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None
    kind: str = field(default="float", init=False)

    def _distribution(self) -> BaseDistribution:
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def problem(self) -> str | None:
        return _range_problem(self.low, self.high, self.step)

    def grid(self) -> tuple[float, ...] | None:
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        if n > MAX_GRID_POINTS:
            return None
        # Round away float noise (0.1 * 3 = 0.30000000000000004) at the step's precision.
        digits = max(0, -math.floor(math.log10(abs(self.step)))) + 6
        return tuple(round(self.low + i * self.step, digits) for i in range(n))

    def describe(self) -> str:
        extra = " log" if self.log else ""
        extra += f" step {self.step:g}" if self.step is not None else ""
        return f"float in [{self.low:g}, {self.high:g}]{extra}"


@dataclass(frozen=True, eq=False)
class Int(Parameter):
    low: int = 0
    high: int = 1
    log: bool = False
    step: int = 1
    kind: str = field(default="int", init=False)

    def _distribution(self) -> BaseDistribution:
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def problem(self) -> str | None:
        if max(abs(self.low), abs(self.high)) > MAX_INT:
            return (
                f"the bounds [{self.low:.3g}, {self.high:.3g}] are beyond ±2**53, "
                "where integers can't be sampled exactly"
            )
        return None

    def grid(self) -> tuple[int, ...] | None:
        n = (self.high - self.low) // self.step + 1
        if n > MAX_GRID_POINTS:
            return None
        return tuple(range(self.low, self.high + 1, self.step))

    def describe(self) -> str:
        extra = " log" if self.log else ""
        extra += f" step {self.step}" if self.step != 1 else ""
        return f"int in [{self.low}, {self.high}]{extra}"


def _quantize(x: float, q: float | None) -> float | int:
    if q is None:
        return x
    value = round(x / q) * q
    if isinstance(q, int):
        return int(value)
    digits = max(0, -math.floor(math.log10(abs(q)))) + 6
    return round(value, digits)


@dataclass(frozen=True, eq=False)
class Quantized(Parameter):
    """W&B's q_* distributions over a continuous base: round(x / q) * q (an int when q is an int).

    The internal variable is the continuous base (uniform or log-uniform between `low` and `high`), so the
    random sampler reproduces W&B's distribution exactly and the dashboard shows a meaningful number.
    """

    low: float = 0.0
    high: float = 1.0
    q: float = 1.0
    log: bool = False
    family: str = "q_uniform"
    # NNI's quniform/qloguniform clip the rounded value back into [low, high]; W&B's q_* do not.
    clip: tuple[float, float] | None = None
    kind: str = field(default="quantized", init=False)

    def _distribution(self) -> BaseDistribution:
        return FloatDistribution(self.low, self.high, log=self.log)

    def _clip(self, value: Any) -> Any:
        if self.clip is None:
            return value
        return min(max(value, self.clip[0]), self.clip[1])

    def _decode(self, internal: Any) -> Any:
        return self._clip(_quantize(float(internal), self.q))

    def problem(self) -> str | None:
        return _range_problem(self.low, self.high, None) or _range_problem(
            min(0.0, self.low), max(0.0, self.high), self.q, "q"
        )

    def grid(self) -> tuple[Any, ...] | None:
        first, last = round(self.low / self.q), round(self.high / self.q)
        if last - first + 1 > MAX_GRID_POINTS:
            return None
        return tuple(dict.fromkeys(self._clip(_quantize(k * self.q, self.q)) for k in range(first, last + 1)))

    def describe(self) -> str:
        clipped = " clipped" if self.clip is not None else ""
        return f"{self.family} in [{self.low:g}, {self.high:g}] q={self.q:g}{clipped}"


@dataclass(frozen=True, eq=False)
class Quantile(Parameter):
    """A distribution Optuna has no native form for (normal, log-normal, beta and their q_ variants).

    The internal variable is u in (0, 1); the value is the distribution's ppf(u), then quantized with `q`.
    Sampling u uniformly is exactly sampling the distribution (inverse-transform sampling), which is how
    W&B's own random search draws these.
    """

    family: str = "normal"  # normal | log_normal | beta
    mu: float = 0.0
    sigma: float = 1.0
    a: float = 1.0
    b: float = 1.0
    q: float | None = None
    kind: str = field(default="quantile", init=False)

    def _distribution(self) -> BaseDistribution:
        return FloatDistribution(_U_LOW, _U_HIGH)

    def _decode(self, internal: Any) -> Any:
        u = min(max(float(internal), _U_LOW), _U_HIGH)
        if self.family == "normal":
            x = statistics.NormalDist(self.mu, self.sigma).inv_cdf(u)
        elif self.family == "log_normal":
            x = math.exp(statistics.NormalDist(self.mu, self.sigma).inv_cdf(u))
        elif self.family == "beta":
            from scipy.stats import beta  # only beta needs scipy; it comes with scikit-learn and friends

            x = float(beta.ppf(u, self.a, self.b))
        else:  # pragma: no cover - the parser only builds the families above
            raise ValueError(f"unknown quantile family {self.family}")
        return _quantize(x, self.q)

    def problem(self) -> str | None:
        if self.family == "beta":  # within [0, 1] whatever a and b are
            return None
        for u in (_U_LOW, _U_HIGH):  # the extreme values a trial can get
            try:
                value = self._decode(u)
            except (ArithmeticError, ValueError):
                value = math.inf
            if not math.isfinite(value):
                return f"its values overflow a float (mu={self.mu:g}, sigma={self.sigma:g}): use a smaller mu or sigma"
        return None

    def describe(self) -> str:
        args = f"a={self.a:g}, b={self.b:g}" if self.family == "beta" else f"mu={self.mu:g}, sigma={self.sigma:g}"
        q = f", q={self.q:g}" if self.q is not None else ""
        return f"{'q_' if self.q is not None else ''}{self.family}({args}{q})"

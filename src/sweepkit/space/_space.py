"""The search space: parameters in dependency order, their conditions, derived values and constraints.

`sample` is where a trial's parameters are chosen: it walks the parameters in order, skips the ones whose
`when` is false, asks the Optuna trial (and so the strategy) for each searched one, and computes derived ones.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweepkit.errors import SpecError
from sweepkit.expr import Expr, ExprError
from sweepkit.space._params import MAX_GRID_POINTS, Constant, Derived, Parameter, _not_finite

_ABSENT = object()  # a searched parameter with no stored value (a trial of an older space)

# Enumerating a conditional grid walks every combination of its conditioned parameters: stay well below.
MAX_ENUMERATION = 200_000


class _SuggestingTrial(Protocol):
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = ..., log: bool = ...
    ) -> float: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = ..., log: bool = ...) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def _truthy_when(param: Parameter, values: Mapping[str, Any]) -> bool:
    """A condition that reads an inactive parameter is false: its subject is inactive too."""
    if param.when is None:
        return True
    if not param.when.names <= values.keys():
        return False
    return bool(param.when.evaluate(values))


@dataclass(frozen=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]
    constraints: tuple[Expr, ...] = ()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def searched(self) -> list[Parameter]:
        return [p for p in self.parameters if p.searched]

    @property
    def conditional(self) -> bool:
        return any(p.when is not None for p in self.parameters)

    # -- sampling -------------------------------------------------------------------------------------
    def sample(self, trial: _SuggestingTrial, *, grid: bool = False) -> dict[str, Any]:
        """Choose one point: the flat `{name: value}` of every active parameter, in declaration order."""

        def ask(param: Parameter) -> Any:
            return param.decode(_suggest(trial, param.name, param.distribution(grid=grid)), grid=grid)

        return self._walk(ask)

    def nest(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A point as the trial gets it: nested sections as nested dicts, a dotted name as one flat key."""
        by_name = {p.name: p.keys for p in self.parameters}
        return _nest((by_name.get(name) or (name,), value) for name, value in values.items())

    def decode(self, internal: Mapping[str, Any], *, grid: bool = False) -> dict[str, Any]:
        """Rebuild the user's values from a stored trial's internal params (same walk as `sample`)."""

        def stored(param: Parameter) -> Any:
            return param.decode(internal[param.name], grid=grid) if param.name in internal else _ABSENT

        return self._walk(stored)

    def _walk(self, searched_value: Callable[[Parameter], Any]) -> dict[str, Any]:
        """Parameters in dependency order: skip inactive ones, fill constants and derived values, and take
        each searched one from `searched_value` (which may answer _ABSENT)."""
        values: dict[str, Any] = {}
        for param in self.parameters:
            if not _truthy_when(param, values):
                continue
            if isinstance(param, Constant):
                values[param.name] = param.value
            elif isinstance(param, Derived):
                assert param.expr is not None
                if param.expr.names <= values.keys():
                    values[param.name] = _derive(param, values)
            else:
                value = searched_value(param)
                if value is not _ABSENT:
                    values[param.name] = value
        return values

    def violation(self, values: Mapping[str, Any]) -> str | None:
        """The first constraint the point breaks, or None. Constraints on inactive parameters don't apply."""
        for constraint in self.constraints:
            if not constraint.names <= values.keys():
                continue
            try:
                ok = bool(constraint.evaluate(values))
            except ExprError as exc:
                return str(exc)
            if not ok:
                return f'violates constraint "{constraint.text}"'
        return None

    # -- finiteness -----------------------------------------------------------------------------------
    @cached_property
    def finite(self) -> bool:
        """Asked for at every trial: computed once (an int range's grid is a tuple of all its values)."""
        return all(p.grid() is not None for p in self.parameters)

    def grid_upper_bound(self) -> int | None:
        """The product of every searched parameter's size, ignoring conditions (None if continuous)."""
        total = 1
        for param in self.searched:
            points = param.grid()
            if points is None:
                return None
            total *= len(points)
        return total

    def grid_points(self) -> list[dict[str, Any]] | None:
        """Every distinct point of a finite space, conditions applied; None when too many or continuous."""
        points = self._grid_points
        return None if points is None else list(points)

    @cached_property
    def _grid_points(self) -> tuple[dict[str, Any], ...] | None:
        """Enumerated once per space: `auto`, `validate` and the sweep's repeat detection all ask."""
        bound = self.grid_upper_bound()
        if bound is None or bound > MAX_ENUMERATION:
            return None
        points: dict[str, dict[str, Any]] = {}
        searched = self.searched
        choices = [p.distribution(grid=True).choices for p in searched]  # type: ignore[attr-defined]
        for combo in itertools.product(*choices):
            chosen = dict(zip((p.name for p in searched), combo, strict=True))
            try:
                values = self.sample(_FixedChoices(chosen), grid=True)
            except ExprError as exc:
                raise SpecError(f"cannot compute a point of the space: {exc}", key="parameters") from None
            if self.violation(values) is None:
                points.setdefault(point_key(values), values)
        return tuple(points.values())

    def grid_size(self) -> int | None:
        points = self._grid_points
        return len(points) if points is not None else None

    def describe(self) -> Iterator[tuple[str, str, str]]:
        """(name, what, condition) rows for `validate`."""
        for param in self.parameters:
            yield param.name, param.describe(), param.when.text if param.when is not None else ""


class DerivedError(ExprError):
    """A derived parameter that cannot be computed at a point (or computes NaN/inf), naming the parameter."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def _derive(param: Derived, values: Mapping[str, Any]) -> Any:
    assert param.expr is not None
    try:
        value = param.expr.evaluate(values)
    except ExprError as exc:
        raise DerivedError(param.name, str(exc)) from None
    if _not_finite(value):
        raise DerivedError(
            param.name, f'"{param.expr.text}" gives {value!r}: a parameter\'s value must be a finite number'
        )
    return value


class _FixedChoices:
    """A stand-in trial that answers grid suggestions from a fixed assignment (used to enumerate grids)."""

    def __init__(self, chosen: Mapping[str, Any]) -> None:
        self._chosen = chosen

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._chosen[name]

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:  # pragma: no cover
        raise AssertionError("grid enumeration suggests categoricals only")

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:  # pragma: no cover
        raise AssertionError("grid enumeration suggests categoricals only")


def _suggest(trial: _SuggestingTrial, name: str, dist: Any) -> Any:
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    raise TypeError(f"unsupported distribution {dist!r}")  # pragma: no cover


def point_key(values: Mapping[str, Any]) -> str:
    """A canonical text of a point, to tell repeated points apart (1 and 1.0 are the same point)."""

    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            f = float(v)
            return f if math.isfinite(f) else str(f)
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in sorted(v.items())}
        return repr(v)

    return json.dumps({k: norm(v) for k, v in sorted(values.items())}, sort_keys=True)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of `nest`: `{"optimizer": {"lr": 1}}` → `{"optimizer.lr": 1}` (CSV columns, one-line shows)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"optimizer.lr": 1}` → `{"optimizer": {"lr": 1}}`, every dot a level: for params whose space is
    unknown (a store without its spec); `SearchSpace.nest` keeps a dotted name that is one key whole."""
    return _nest((tuple(key.split(".")), value) for key, value in flat.items())


def _nest(items: Iterable[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for keys, value in items:
        node = out
        *parents, leaf = keys
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


__all__ = ["MAX_GRID_POINTS", "DerivedError", "SearchSpace", "flatten", "nest", "point_key"]

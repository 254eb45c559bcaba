"""Cross-validation folds and constraints a trial reports itself: `trial.report_fold(k, metrics)` and
`trial.set_constraint(name, value)`, the same on every face of `trial` (this process, a warm worker, a Ray
task). Standard library only: a worker process imports it, and must not pay for Optuna.

A fold's value of the sweep's metric goes to the pruner with the fold index as the step. The fold value, not
a running aggregate: every trial is scored on the same splits, so fold k of one trial is comparable with fold k
of another, which is what Optuna's median and percentile pruners compare (values at the same step), and a
bad early fold is seen as bad at once rather than averaged away.

A constraint is Optuna's: a value ≤ 0 is feasible, > 0 violated by that much. The last value set for a name
counts; they are written to the trial when it ends (Optuna keeps only the first write of a name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

FOLDS_SUFFIX = "_folds"  # `<metric>_folds`: a metric's per-fold values, in fold order, kept with the trial
RESERVED_CONSTRAINT = "sweepkit"  # the constraint sweepkit sets on points breaking the file's `constraints:`


def _plain(value: Any) -> Any:
    """numpy/torch scalars → Python numbers (without importing either)."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, bool | int | float) and getattr(value, "ndim", 0) == 0:
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            return value
    return value


def _number(value: Any) -> float | None:
    """A real number (NaN and infinities included, JSON's "nan"/"inf" strings too), else None."""
    value = _plain(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
        return float(value)
    return None


def fold_index(k: Any) -> int:
    """A fold's index: a whole number ≥ 0 (numpy integers accepted)."""
    k = _plain(k)
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"report_fold: the fold index must be a whole number (0, 1, ...), got {k!r}")
    if k < 0:
        raise ValueError(f"report_fold: the fold index must be ≥ 0, got {k}")
    return k


def fold_values(k: Any, metrics: Any, metric: str) -> tuple[int, dict[str, float]]:
    """One fold's report → (index, {name: number}). `metrics` is a dict holding at least the sweep's metric,
    or a bare number (the sweep's metric). Other numbers are kept; other values (strings, lists) are left out."""
    fold = fold_index(k)
    raw = {str(name): value for name, value in metrics.items()} if isinstance(metrics, Mapping) else {metric: metrics}
    if metric not in raw:
        shown = ", ".join(raw) or "nothing"
        raise ValueError(
            f'report_fold({fold}, ...): the sweep\'s metric "{metric}" is missing (got {shown}); '
            f'pass {{"{metric}": value, ...}} or the value alone'
        )
    out: dict[str, float] = {}
    for name, value in raw.items():
        number = _number(value)
        if name == metric:
            if number is None:
                raise ValueError(f'report_fold({fold}, ...): "{metric}" is {value!r}, not a number')
            if not math.isfinite(number):
                raise ValueError(f'report_fold({fold}, ...): "{metric}" is {number}; a fold\'s value must be finite')
        if number is not None:
            out[name] = number
    return fold, out


def constraint_value(name: Any, value: Any) -> tuple[str, float]:
    """A constraint as Optuna takes it: a name and a number (≤ 0 feasible, > 0 violated; not NaN)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"set_constraint: the name must be a non-empty string, got {name!r}")
    if name == RESERVED_CONSTRAINT:
        raise ValueError(f'set_constraint: "{RESERVED_CONSTRAINT}" is the name sweepkit uses itself; pick another')
    number = _number(value)
    if number is None or math.isnan(number):
        raise ValueError(
            f'set_constraint("{name}", ...): expected a number (≤ 0 feasible, > 0 violated), got {value!r}'
        )
    return name, number


def fold_lists(folds: Mapping[int, Mapping[str, float]], metric: str) -> dict[str, list[float | None]]:
    """Per-fold values as the trial keeps them: `<name>_folds`, one entry per fold in fold order (None where a
    fold did not give that metric); the sweep's metric first."""
    order = sorted(folds)
    names = dict.fromkeys([metric, *(n for k in order for n in folds[k])])
    return {f"{name}{FOLDS_SUFFIX}": [folds[k].get(name) for k in order] for name in names}


class FoldsAndConstraints:
    """`report_fold` and `set_constraint` for each face of `trial`. A subclass sets `fold_metric` (the sweep's
    metric name) and may override `_fold_reported` (a worker sends the fold to the sweep, which asks its
    pruner) and `_constraint_set`."""

    fold_metric: str = "value"

    @property
    def folds(self) -> dict[int, dict[str, float]]:
        """Each reported fold's values, by fold index."""
        return self.__dict__.setdefault("_folds", {})

    @property
    def constraints(self) -> dict[str, float]:
        """The constraints the trial set (≤ 0 feasible, > 0 violated)."""
        return self.__dict__.setdefault("_constraints", {})

    def report_fold(self, k: int, metrics: Mapping[str, Any] | float) -> None:
        """Fold `k`'s metrics (a dict with the sweep's metric, or its value alone). Its value goes to the
        pruner at step `k`; a pruned trial raises `TrialPruned` here, as `report` does. Unless the function
        returns its own value, the trial's objective is `metric.fold_aggregation` over its folds."""
        fold, values = fold_values(k, metrics, self.fold_metric)
        self.folds[fold] = values
        self._fold_reported(fold, values)

    def _fold_reported(self, fold: int, values: dict[str, float]) -> None:
        self.report(values[self.fold_metric], fold)  # type: ignore[attr-defined]

    def set_constraint(self, name: str, value: float) -> None:
        """A constraint the trial measured (memory over budget, latency too high): ≤ 0 feasible, > 0 violated.
        A trial that violates one still completes with its value, but is never the sweep's best."""
        key, number = constraint_value(name, value)
        self.constraints[key] = number
        self._constraint_set(key, number)

    def _constraint_set(self, name: str, value: float) -> None:
        return None


__all__ = ["FOLDS_SUFFIX", "FoldsAndConstraints", "constraint_value", "fold_lists", "fold_values"]

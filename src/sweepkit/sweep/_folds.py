"""The engine's side of folds and trial-reported constraints (see `sweepkit._folds` for the trial's side).

The objective of a trial that reported folds: the function's own value when it returns one (a number, or
a dict holding the sweep's metric), since the function knows best what it optimizes; otherwise (it returns
None, or a dict of other metrics) `metric.fold_aggregation` (mean by default) over the folds it reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from sweepkit._folds import FOLDS_SUFFIX, fold_lists
from sweepkit.spec import MetricSpec
from sweepkit.sweep._function import _AGGREGATE, _plain, read_result


def fold_result(
    result: Any, metric: MetricSpec, folds: Mapping[int, Mapping[str, float]]
) -> tuple[float | list[float], dict[str, Any]]:
    """`read_result`, plus the folds reported through `trial.report_fold`: (objective, metrics)."""
    if not folds:
        return read_result(result, metric)
    lists = fold_lists(folds, metric.name)
    own = result is not None and (not isinstance(result, Mapping) or metric.name in result)
    if own:
        value, metrics = read_result(result, metric)
        return value, {**lists, **metrics}  # a per-fold list the function returned itself wins
    metrics = {str(k): _plain(v) for k, v in (result or {}).items()}
    values = [v for v in lists[f"{metric.name}{FOLDS_SUFFIX}"] if v is not None]
    value = float(_AGGREGATE[metric.fold_aggregation](values))
    return value, {**lists, **metrics, metric.name: value}


def write_constraints(trial: optuna.Trial, constraints: Mapping[str, float]) -> None:
    """Hand the trial's constraints to Optuna 5 (`constraints:<name>` system attrs): its samplers (TPE, GP,
    NSGA-II) read them to learn the feasible region, and `study.best_trial` skips infeasible trials."""
    for name, value in constraints.items():
        try:
            trial.set_constraint(name, float(value))
        except (RuntimeError, ValueError):  # finished meanwhile (declared lost by another run): it says so itself
            return


__all__ = ["fold_result", "write_constraints"]

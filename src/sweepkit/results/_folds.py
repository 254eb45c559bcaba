"""Per-fold values and trial-reported constraints as the outputs, `status` and the report show them.

A trial keeps its folds as `<name>_folds` metrics (one value per fold, in fold order) and its constraints
as Optuna's (`TrialRecord.constraints`); these helpers lay them out for each place that shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepkit._folds import FOLDS_SUFFIX

if TYPE_CHECKING:
    from sweepkit.results import SweepResult
    from sweepkit.results._records import TrialRecord


def per_fold(rec: TrialRecord) -> dict[str, list[Any]]:
    """{metric: [value per fold]} for every `<metric>_folds` list the trial keeps."""
    return {
        name.removesuffix(FOLDS_SUFFIX): values
        for name, values in rec.metrics.items()
        if name.endswith(FOLDS_SUFFIX) and isinstance(values, list) and values
    }


def fold_values(rec: TrialRecord, metric: str) -> list[float | None] | None:
    """The sweep metric's value in each fold, or None when the trial reported no folds."""
    values = rec.metrics.get(f"{metric}{FOLDS_SUFFIX}")
    if not isinstance(values, list) or not values:
        return None
    return [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values]


def folds_text(values: list[float | None]) -> str:
    """`0.812 0.79 0.833`: a trial's folds on one line, short enough for a table cell."""
    return " ".join("-" if v is None else f"{v:.3g}" for v in values)


def violations(constraints: dict[str, float]) -> str:
    """The violated constraints, by how much: `memory_gb +1.5, latency_ms +20`."""
    return ", ".join(f"{name} +{value:.4g}" for name, value in constraints.items() if value > 0)


def csv_cells(rec: TrialRecord) -> dict[str, Any]:
    """Extra trials.csv columns: one per fold of each per-fold metric (`f1_fold0`, ...), one per constraint."""
    cells: dict[str, Any] = {}
    for name, values in per_fold(rec).items():
        for i, value in enumerate(values):
            cells[f"{name}_fold{i}"] = value
    for name, value in rec.constraints.items():
        cells[f"constraint_{name}"] = value
    return cells


def summary_fields(result: SweepResult) -> dict[str, Any]:
    """tuning_results.json's additions: the best trial's folds, and the completed trials a constraint ruled
    out of `best` (each with its value and constraints), present only when there are any."""
    out: dict[str, Any] = {}
    best = result.best_trial
    if best is not None and per_fold(best):
        out["best_folds"] = per_fold(best)
    infeasible = [t for t in result.trials if t.state == "COMPLETE" and not t.feasible]
    if infeasible:
        out["infeasible_trials"] = [
            {"number": t.number, "value": t.value, "constraints": t.constraints} for t in infeasible
        ]
    return out


__all__ = ["csv_cells", "fold_values", "folds_text", "per_fold", "summary_fields", "violations"]

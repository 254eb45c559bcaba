"""A sweep's trials as a pandas DataFrame (`SweepResult.to_dataframe()`); pandas loads only here.

Built from the trial records rather than Optuna's `study.trials_dataframe()`: that one shows Optuna's view
(INFEASIBLE, INTERRUPTED and DISCARDED trials as PRUNED/FAIL, the search's internal values where a W&B
distribution is searched through its quantile, sweepkit's attrs as one dict column), while users want the
states, params and metrics `status` and trials.csv show. Column names follow Optuna's (`params_<name>`,
`duration` a Timedelta) so code written against `trials_dataframe()` reads it alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepkit.errors import UsageError
from sweepkit.space import flatten

if TYPE_CHECKING:
    import pandas

    from sweepkit.results import SweepResult


def to_dataframe(result: SweepResult) -> pandas.DataFrame:
    """One row per trial (discarded points left out, as everywhere): number, state, value (and `values_<metric>`
    on a multi-objective sweep), `params_<name>` (nested names dotted), `metrics_<name>` (numbers and text;
    lists and mappings as they are), seed, steps, duration, start, end, error, reason, retry_of."""
    try:
        import pandas
    except ImportError:
        raise UsageError(
            "to_dataframe() needs pandas, which is not installed: pip install pandas (or sweepkit[pandas])"
        ) from None
    names = [name for name, _ in result.objectives]
    rows: list[dict[str, Any]] = []
    params_cols: dict[str, None] = {}
    metrics_cols: dict[str, None] = {}
    for t in result.trials:
        params = {f"params_{k}": v for k, v in flatten(t.params).items()}
        metrics = {f"metrics_{k}": v for k, v in t.metrics.items()}
        params_cols.update(dict.fromkeys(params))
        metrics_cols.update(dict.fromkeys(metrics))
        row: dict[str, Any] = {"number": t.number, "state": t.state, "value": t.value}
        for i, name in enumerate(names):
            row[f"values_{name}"] = t.values[i] if t.values is not None and i < len(t.values) else None
        row |= params | metrics
        row |= {
            "seed": t.seed,
            "steps": t.steps,
            "duration": pandas.Timedelta(seconds=t.duration) if t.duration is not None else pandas.NaT,
            "start": t.start,
            "end": t.end,
            "error": t.error,
            "reason": t.reason,
            "retry_of": t.retry_of,
        }
        rows.append(row)
    head = ["number", "state", "value", *(f"values_{name}" for name in names)]
    tail = ["seed", "steps", "duration", "start", "end", "error", "reason", "retry_of"]
    columns = head + list(params_cols) + list(metrics_cols) + tail
    frame = pandas.DataFrame(rows, columns=columns)
    for col in ("start", "end"):
        frame[col] = pandas.to_datetime(frame[col])
    frame["duration"] = pandas.to_timedelta(frame["duration"])
    return frame

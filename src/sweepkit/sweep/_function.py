"""Python trials: find `module:callable`, call it with the params, and read its result as metrics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from typing import Any

from sweepkit._callable import resolve_function, wants_trial  # noqa: F401  (re-exported)
from sweepkit.errors import MetricMissing, TrialError, did_you_mean  # noqa: F401  (re-exported)
from sweepkit.spec import MetricSpec

_AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "mean": statistics.fmean,
    "median": statistics.median,
    "min": min,
    "max": max,
}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(value, "__float__"):
        raise TrialError(f"{what} is {type(value).__name__} {value!r}, not a number")
    number = float(value)
    if math.isnan(number):
        raise TrialError(f"{what} is NaN")
    if math.isinf(number):
        raise TrialError(f"{what} is {'+' if number > 0 else '-'}inf")
    return number


def read_result(result: Any, metric: MetricSpec) -> tuple[float | list[float], dict[str, Any]]:
    """A trial's return value → (objective, every metric). A list for the metric is per-fold values.
    Several objectives (a list of values, in order) or a combined metric: sweep/_objectives.py."""
    if metric.multi or metric.combine is not None or metric.expr is not None:
        from sweepkit.sweep._objectives import read_objectives

        return read_objectives(result, metric)
    if isinstance(result, Mapping):
        metrics = {str(k): _plain(v) for k, v in result.items()}
        if metric.name not in metrics:
            if len(metrics) == 1 and metric.name == "value":
                (only,) = metrics
                return read_result(metrics[only], metric)[0], metrics
            shown = ", ".join(metrics) or "nothing"
            hint = did_you_mean(metric.name, metrics)
            raise MetricMissing(f'the trial returned {shown} but not the sweep\'s metric "{metric.name}"{hint}')
        raw = metrics[metric.name]
    else:
        raw, metrics = _plain(result), {}
    if isinstance(raw, list | tuple):
        if not raw:
            raise TrialError(f'metric "{metric.name}" is an empty list')
        folds = [_number(v, f"{metric.name}[{i}]") for i, v in enumerate(raw)]
        value = float(_AGGREGATE[metric.fold_aggregation](folds))
        metrics[f"{metric.name}_folds"] = folds
    elif result is None:
        raise TrialError("the trial returned None: return the metric value (or a dict of metrics)")
    else:
        value = _number(raw, f'metric "{metric.name}"')
    metrics[metric.name] = value
    return value, metrics


def _plain(value: Any) -> Any:
    """numpy/torch scalars → Python numbers, so metrics store as JSON."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    return value

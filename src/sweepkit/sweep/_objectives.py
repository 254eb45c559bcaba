"""Several objectives, and objectives derived from other metrics: read from a trial's result or its reports.

`read_result` (sweep/_function.py) hands a multi-objective or derived metric here; each objective is then
read as a single metric is (folds, NaN, missing), so one objective's rules never drift from one metric's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sweepkit.errors import SpecError, did_you_mean
from sweepkit.expr import ExprError, compile_expr
from sweepkit.spec import derived_inputs

if TYPE_CHECKING:
    from sweepkit.pruner import Pruning
    from sweepkit.spec import MetricSpec, Spec

_AGGREGATE: dict[str, Callable[[list[float]], float]] = {
    "mean": statistics.fmean,
    "median": statistics.median,
    "min": min,
    "max": max,
}


def pruner_conflict(spec: Spec, pruning: Pruning) -> SpecError | None:
    """A pruner on a multi-objective sweep: exit 2 before anything runs, rather than a silent full-cost sweep.

    Optuna's pruners compare one value per step (`Trial.report` raises on a multi-objective study), so the
    file's early stopping could only be dropped; a user who wrote it planned the sweep's cost around it."""
    if not spec.metric.multi or pruning.name == "none":
        return None
    native = pruning.source if pruning.source in ("pruner", "scheduler", "early_terminate") else "strategy.name"
    key = spec.origins.get(native, native)
    names = ", ".join(o.name for o in spec.metric.objectives)
    return SpecError(
        f"{pruning.name} ({pruning.source}) can't stop trials of a multi-objective sweep ({names}): Optuna's "
        "pruners judge one value per step, and a Pareto front has no single best curve. Remove it to run "
        "every trial to its end, or optimize one combined metric with early stopping "
        "(metric: {name: score, combine: {metric_a: 0.5, metric_b: 0.5}, goal: minimize})",
        file=spec.file,
        key=key,
    )


def _input(value: Any, name: str, how: str) -> float | None:
    """One input of a combined metric as a number; a per-fold list counts as its aggregate."""
    if isinstance(value, list | tuple) and value and all(_is_number(v) for v in value):
        return float(_AGGREGATE[how]([float(v) for v in value]))
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def derive(metric: MetricSpec, values: Mapping[str, Any]) -> float:
    """A combined metric's value from the metrics given: Σ weight × metric, or its expression.

    Raises KeyError naming an input the trial never gave, ValueError for one that is not a finite number."""
    inputs = derived_inputs(metric)
    missing = [name for name in inputs if name not in values]
    if missing:
        raise KeyError(missing[0])
    numbers: dict[str, float] = {}
    for name in inputs:
        number = _input(values[name], name, metric.fold_aggregation)
        if number is None:
            raise ValueError(f'"{name}" is {values[name]!r}, not a finite number')
        numbers[name] = number
    if metric.combine is not None:
        return math.fsum(weight * numbers[name] for name, weight in metric.combine.items())
    assert metric.expr is not None
    try:
        out = compile_expr(metric.expr).evaluate(numbers)
    except ExprError as exc:
        raise ValueError(str(exc)) from None
    if not _is_number(out):
        raise ValueError(f"{metric.expr} gave {out!r}, not a finite number")
    return float(out)


def with_derived(metric: MetricSpec, row: dict[str, Any], last: Mapping[str, Any]) -> dict[str, Any]:
    """A program's reported row plus each combined metric this row lets us compute (each input's latest
    value; one of them in this row), so the combined metric has a curve at the row's step."""
    out = row
    for one in metric.each:
        inputs = derived_inputs(one)
        if not inputs or one.name in row or not any(name in row for name in inputs):
            continue
        try:
            value = derive(one, {**last, **row})
        except (KeyError, ValueError):
            continue
        out = {**out, one.name: value}
    return out


def read_objectives(result: Any, metric: MetricSpec) -> tuple[float | list[float], dict[str, Any]]:
    """A trial's result → (its value, or one value per objective in order; every metric)."""
    from sweepkit.sweep._function import MetricMissing, TrialError, _plain, read_result

    if not isinstance(result, Mapping):
        names = ", ".join(o.name for o in metric.each)
        what = "a multi-objective sweep" if metric.multi else f'the combined metric "{metric.name}"'
        raise TrialError(
            f"the trial returned {type(result).__name__} {result!r:.60}; {what} needs a dict holding "
            f"{names if metric.multi else ', '.join(derived_inputs(metric))}"
        )
    metrics = {str(k): _plain(v) for k, v in result.items()}
    values: list[float] = []
    for one in metric.each:
        if derived_inputs(one) and one.name not in metrics:
            try:
                metrics[one.name] = derive(one, metrics)
            except KeyError as exc:
                name = exc.args[0]
                shown = ", ".join(metrics) or "nothing"
                raise MetricMissing(
                    f'the trial returned {shown} but not "{name}", which the metric "{one.name}" is computed '
                    f"from{did_you_mean(name, metrics)}"
                ) from None
            except ValueError as exc:
                raise TrialError(f'metric "{one.name}": {exc}') from None
        plain = one.model_copy(update={"combine": None, "expr": None})
        value, metrics = read_result(metrics, plain)
        assert isinstance(value, float)
        values.append(value)
    return (values if metric.multi else values[0]), metrics


__all__ = ["derive", "pruner_conflict", "read_objectives", "with_derived"]

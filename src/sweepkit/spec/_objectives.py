"""A sweep's objectives as written: one metric, a list of them (multi-objective), or one derived from others.

Forms read (after `_layout` has placed each dialect's keys under `metric`):
- `metric: [{name: val_loss, goal: minimize}, {name: latency_ms, goal: minimize}]` (native);
- `metric: [val_loss, latency_ms]` beside `directions: [minimize, minimize]` (Optuna's `create_study`
  word, also as `study.directions` in an `hpo:` file) or `mode: [min, min]` (Ray Tune's OptunaSearch);
- `metric: {name: combined, combine: {val_loss_a: 0.5, val_loss_b: 0.5}}` or `expr: "0.7*acc + 0.3*(1-loss)"`:
  a single objective computed from metrics the trial gives (the W&B multi-head workflow's combined score).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepkit.expr import ExprError, compile_expr

if TYPE_CHECKING:
    from sweepkit.spec._model import MetricSpec

_GOALS = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize"}
# Keys of the metric section that hold for every objective of a list unless an objective sets its own.
_SHARED = ("summary", "last_k", "fold_aggregation")
_EXAMPLE = "e.g. metric: [{name: val_loss, goal: minimize}, {name: latency_ms, goal: minimize}]"


def _goal(value: Any) -> Any:
    return _GOALS.get(value.strip().lower(), value) if isinstance(value, str) else value


def objective_list(value: Any) -> Any:
    """The metric section with a list of objectives laid out as `{name, goal, objectives: [...]}`; a
    one-item list is that one metric (a single-objective sweep), anything else is left for pydantic."""
    if isinstance(value, list | tuple):
        value = {"name": list(value)}
    if not isinstance(value, dict):
        return value
    value = dict(value)
    names, goals = value.get("name"), value.get("goal")
    if isinstance(goals, list | tuple) and not isinstance(names, list | tuple):
        raise ValueError(
            f"goal lists {len(goals)} goals (directions) but the metric names one objective: give as many "
            f"metrics, {_EXAMPLE}, or one goal"
        )
    if "objectives" in value and names is None:
        names = value.pop("objectives")
    else:
        value.pop("objectives", None)
    if not isinstance(names, list | tuple):
        return value
    if not names:
        raise ValueError(f"an empty list of metrics: name at least one, {_EXAMPLE}")
    if isinstance(goals, list | tuple) and len(goals) != len(names):
        raise ValueError(
            f"{len(names)} metrics but {len(goals)} goal{'' if len(goals) == 1 else 's'} (directions): "
            "give one goal per metric, in order"
        )
    objectives = []
    for i, item in enumerate(names):
        if isinstance(item, str):
            item = {"name": item}
        elif not isinstance(item, dict):
            raise ValueError(f"metric {i + 1} is {item!r}: expected a name or {{name, goal}}, {_EXAMPLE}")
        item = dict(item)
        if isinstance(goals, list | tuple):
            own = item.get("goal")
            if own is not None and _goal(own) != _goal(goals[i]):
                raise ValueError(
                    f'metric "{item.get("name")}" says goal {own} but the goals (directions) list says {goals[i]}'
                )
            item["goal"] = goals[i]
        elif goals is not None:
            item.setdefault("goal", goals)  # one goal for every metric of the list
        for key in _SHARED:
            if key in value:
                item.setdefault(key, value[key])
        if "target" in value or "target" in item:
            raise ValueError(
                "target stops a sweep when its one best value is good enough, and a multi-objective sweep has "
                "a Pareto front instead of one best value: remove target, or optimize one combined metric "
                "(metric: {name: score, combine: {metric_a: 0.5, metric_b: 0.5}})"
            )
        item["goal"] = _goal(item.get("goal", "minimize"))
        objectives.append(item)
    if len(objectives) == 1:  # `metric: [{name: loss}]`: one objective, an ordinary sweep
        return {**{k: v for k, v in value.items() if k not in ("name", "goal")}, **objectives[0]}
    rest = {k: v for k, v in value.items() if k not in ("name", "goal", *_SHARED)}
    if rest.get("combine") is not None or rest.get("expr") is not None:
        raise ValueError(
            "combine/expr derive one metric and belong to one objective: put it inside that objective's "
            "{name, combine} entry of the list"
        )
    return {**value, "name": objectives[0].get("name"), "goal": objectives[0]["goal"], "objectives": objectives}


def check_metric(metric: MetricSpec) -> None:
    """What pydantic's types can't say: distinct names, no nested lists, a combination that can be computed."""
    seen: set[str] = set()
    for objective in metric.objectives:
        if objective.objectives:
            raise ValueError(f'metric "{objective.name}" is itself a list: objectives are one level deep')
        if objective.name in seen:
            raise ValueError(f'metric "{objective.name}" is listed twice: each objective needs its own name')
        seen.add(objective.name)
    for one in metric.each:
        inputs = derived_inputs(one)
        if one.combine is not None and one.expr is not None:
            raise ValueError(f'metric "{one.name}": give combine (weights) or expr (an expression), not both')
        if one.combine is not None and not one.combine:
            raise ValueError(f'metric "{one.name}": combine is empty: name the metrics and their weights')
        if one.name in inputs:
            raise ValueError(
                f'metric "{one.name}" is computed from itself: give the combined metric its own name '
                f"(e.g. {one.name}_combined)"
            )


def derived_inputs(metric: MetricSpec) -> tuple[str, ...]:
    """The metrics a combined one is computed from (none for a metric the trial gives itself)."""
    if metric.combine is not None:
        return tuple(metric.combine)
    if metric.expr is not None:
        try:
            return tuple(sorted(compile_expr(metric.expr).names))
        except ExprError as exc:
            raise ValueError(f'metric "{metric.name}" expr: {exc}') from None
    return ()

"""A multi-objective sweep's results: its Pareto front, and the best trial for one chosen objective.

The front is computed from the trial records (what every output is written from) rather than asked of
Optuna (`study.best_trials`): outputs are refreshed from records without a study at hand, and the same
records give `best`, `status` and the report the same front.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sweepkit.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    import optuna

    from sweepkit.results import SweepResult
    from sweepkit.results._records import TrialRecord


def _scored(trials: list[TrialRecord], goals: list[str]) -> list[tuple[tuple[float, ...], TrialRecord]]:
    """Complete, feasible trials with every objective's value, as losses (lower is better on every axis). A trial
    that violated a constraint it reported is never on the front, as it is never `best` of one metric."""
    out = []
    for t in trials:
        values = t.values
        if t.state != "COMPLETE" or not t.feasible or values is None or len(values) != len(goals):
            continue
        if all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            out.append((tuple(v if g == "minimize" else -v for v, g in zip(values, goals, strict=True)), t))
    return out


def pareto_front(trials: list[TrialRecord], goals: list[str]) -> list[TrialRecord]:
    """The non-dominated complete trials, by trial number. Ties (equal values) all stay on the front, as in
    Optuna's `study.best_trials`.

    Sorted lexicographically, a point can only be dominated by one before it, so each point is compared
    with the front found so far: O(n × front) rather than O(n²), fine at 10,000 trials."""
    front: list[tuple[tuple[float, ...], TrialRecord]] = []
    for loss, t in sorted(_scored(trials, goals), key=lambda pair: (pair[0], pair[1].number)):
        dominated = any(all(a <= b for a, b in zip(other, loss, strict=True)) and other != loss for other, _ in front)
        if not dominated:
            front.append((loss, t))
    return sorted((t for _, t in front), key=lambda t: t.number)


def front_summary(objectives: list[tuple[str, str]], front: list[TrialRecord]) -> dict[str, Any]:
    """`tuning_results.json`'s multi-objective keys: the objectives, and each front trial's values by name."""
    names = [name for name, _ in objectives]
    return {
        "objectives": [{"name": name, "goal": goal} for name, goal in objectives],
        "pareto_front": [
            {"number": t.number, "values": dict(zip(names, t.values or [], strict=False)), "params": t.params}
            for t in front
        ],
    }


def picked(result: SweepResult, name: str) -> TrialRecord | None:
    """The best complete trial for one objective (`best --pick NAME`), taken from the Pareto front (ties on
    it go to the earlier trial).
    An unknown name is a user error listing the objectives. One metric: its best trial, when named."""
    names = [n for n, _ in result.objectives]
    if not names and name == result.metric:
        return result.best_trial
    if name not in names:
        listed = ", ".join(names) or result.metric
        raise UsageError(f'--pick {name}: the sweep has no objective "{name}"{did_you_mean(name, names)}; '
                         f"its objectives: {listed}")  # fmt: skip
    index = names.index(name)
    maximize = result.objectives[index][1] == "maximize"
    # from the front: among trials tied on this objective, the one the others don't beat on the rest
    scored = [(t.values[index], t) for t in result.pareto_front if t.values]
    if not scored:
        return None
    return min(scored, key=lambda pair: ((-pair[0] if maximize else pair[0]), pair[1].number))[1]


def stored_objectives(study: optuna.Study) -> list[tuple[str, str]]:
    """A stored study's objectives (metric names as the sweep set them), or [] for one objective."""
    directions = study.directions
    if len(directions) < 2:
        return []
    names = study.metric_names or [f"objective {i}" for i in range(len(directions))]
    return [(str(n), d.name.lower()) for n, d in zip(names, directions, strict=True)]


__all__ = ["front_summary", "pareto_front", "picked", "stored_objectives"]

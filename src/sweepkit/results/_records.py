"""Trial records: what sweepkit says about a trial, read back from the store (Optuna's FrozenTrial)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from sweepkit.space import SearchSpace, nest
from sweepkit.trial_state import CONSTRAINT, FIXED_PARAMS, State, attrs_of, params_of, state_of


@dataclass
class TrialRecord:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    duration: float | None = None
    error: str | None = None
    traceback: str | None = None
    retry_of: int | None = None
    reason: str | None = None  # why a PRUNED trial was stopped: the pruner, the step, the comparison
    # What the trial used, sampled while it ran: cpu_percent_mean/max, peak_rss_mb, and on NVIDIA GPUs
    # gpu_util_mean/max, gpu_mem_peak_mb, plus the devices it was given ("gpus": "0,1").
    resources: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None  # "host:pid/slot" of the worker that ran it (the report's timeline)
    steps: int | None = None  # training steps it spent (steps_spent); None when it reported no step
    # Constraints the trial reported (`trial.set_constraint`, `run.set_constraint`): ≤ 0 feasible, > 0 violated.
    constraints: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """False when the trial violated a constraint it reported: it keeps its value but is never the best."""
        return all(v <= 0 for v in self.constraints.values())

    values: list[float] | None = None  # a multi-objective sweep's: one per objective, in order (value: the first)
    seed: int | None = None  # the seed the trial was handed (trial.seed, run.seed, $SWEEPKIT_SEED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, built by hand: `dataclasses.asdict` deep-copies, which shows at 10,000 trials."""
        return {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "params": self.params,
            "metrics": self.metrics,
            "start": self.start.isoformat(timespec="seconds") if self.start else None,
            "end": self.end.isoformat(timespec="seconds") if self.end else None,
            "duration_seconds": round(self.duration, 4) if self.duration is not None else None,
            "error": self.error,
            "traceback": self.traceback,
            "retry_of": self.retry_of,
            "reason": self.reason,
            "resources": self.resources,
            "worker": self.worker,
            "steps": self.steps,
            **({"constraints": self.constraints, "feasible": self.feasible} if self.constraints else {}),
            **({"values": self.values} if self.values is not None else {}),
            "seed": self.seed,
        }


def steps_spent(reported: Mapping[int, float]) -> int | None:
    """Training steps a trial spent, from the steps it reported: its last step, plus one when it counts from 0.

    Optuna's pruners and W&B count steps from 0 (`for epoch in range(n): report(value, epoch)`), so a trial
    that reported steps 0..s trained s + 1 of them; one that counts epochs done (1..s, or every 5th: 5, 10)
    trained s."""
    if not reported:
        return None
    last = max(reported)
    return last + 1 if min(reported) == 0 else last


def _steps(stored: Any, trial: FrozenTrial) -> int | None:
    """The steps stored when the trial ran on past its last report to the pruner (a pruned program, until
    the stop reached it), else those it reported."""
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    return steps_spent(trial.intermediate_values)


def user_params(trial: FrozenTrial, space: SearchSpace | None, *, grid: bool) -> dict[str, Any]:
    """The flat params the trial saw (or, queued, will see): as stored with it (every trial sweepkit sampled),
    else rebuilt from Optuna's internal params (a queued or lost trial, an older store)."""
    stored = params_of(trial)
    if stored is not None:
        return stored
    internal = trial.params or trial.system_attrs.get(FIXED_PARAMS) or {}
    if space is None:
        return dict(internal)
    try:
        return space.decode(internal, grid=grid)
    except Exception:  # a space edited since the trial ran: show what the store holds
        return dict(internal)


def record(trial: FrozenTrial, space: SearchSpace | None, *, grid: bool, sweep_seed: int | None = None) -> TrialRecord:
    attrs = attrs_of(trial)
    state = state_of(trial)
    flat = user_params(trial, space, grid=grid)
    multi = trial.values is not None and len(trial.values) > 1  # FrozenTrial.value raises on such a trial
    value = (trial.values[0] if multi else trial.value) if trial.state == TrialState.COMPLETE else None
    if value is None and state == State.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    if value is not None and not math.isfinite(value):
        value = None
    start, end = trial.datetime_start, trial.datetime_complete
    return TrialRecord(
        number=trial.number,
        state=state.value,
        value=value,
        params=nest(flat) if space is None else space.nest(flat),
        metrics=dict(attrs.get("metrics") or {}),
        start=start,
        end=end,
        duration=(end - start).total_seconds() if start and end else None,
        error=attrs.get("error"),
        traceback=attrs.get("traceback"),
        retry_of=attrs.get("retry_of"),
        reason=attrs.get("reason"),
        resources=dict(attrs.get("resources") or {}),
        worker=attrs.get("worker"),
        steps=_steps(attrs.get("steps"), trial),
        constraints={k: v for k, v in trial.constraints.items() if k != CONSTRAINT},
        values=list(trial.values) if multi and trial.state == TrialState.COMPLETE else None,
        seed=_seed(attrs.get("seed"), sweep_seed, trial.number),
    )


def _seed(stored: Any, sweep_seed: Any, number: int) -> int | None:
    """The seed a retry carries, else the one derived from the sweep's seed (none for a sweep stored without)."""
    if isinstance(stored, int) and not isinstance(stored, bool):
        return stored
    if isinstance(sweep_seed, int) and not isinstance(sweep_seed, bool):
        from sweepkit.seeding import trial_seed

        return trial_seed(sweep_seed, number)
    return None

"""Output files of a sweep (`sweeps/<name>/`): written atomically, refreshed as trials finish.

A killed run leaves complete files from its last refresh, never half-written ones (write + rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweepkit.results._checkpoints import FOLDER as CHECKPOINTS
from sweepkit.results._checkpoints import best_folder, first_attempt, folder_of
from sweepkit.results._checkpoints import prune as prune_checkpoints
from sweepkit.results._folds import csv_cells, fold_values, folds_text, per_fold, summary_fields, violations
from sweepkit.results._pareto import front_summary, pareto_front, picked
from sweepkit.results._records import TrialRecord, record, steps_spent, user_params
from sweepkit.results._stored import budget_of, load, load_result, stored_space, sweep_label
from sweepkit.space import flatten
from sweepkit.trial_state import State

if TYPE_CHECKING:
    import optuna
    import pandas

# The states a sweep's counts list (discarded points are left out of results), in the order shown.
STATES = tuple(s.value for s in State if s != State.DISCARDED)


@dataclass
class SweepResult:
    """What a sweep found: every trial's record and the best one. Returned by `sweepkit.run` and
    `sweepkit.load`; `to_dataframe()` and `study` (the Optuna study) for working with it in Python."""

    name: str
    metric: str
    goal: str
    strategy: str
    strategy_reason: str
    output: Path
    trials: list[TrialRecord]
    stop_reason: str = ""
    dialect: str = "native"
    extra: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None  # the store's URL (None: embedded), kept out of the output files
    max_steps: int | None = None  # budget.steps, when the sweep set it: a trial's full budget of steps
    # A multi-objective sweep's (name, goal) per objective, in order; empty for one metric. `metric`/`goal`
    # and the best_* of the summary are then the first objective's (as `best --pick <first>`).
    objectives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pareto_front(self) -> list[TrialRecord]:
        """The complete trials no other trial beats on every objective (multi-objective sweeps only)."""
        return pareto_front(self.trials, [goal for _, goal in self.objectives]) if self.objectives else []

    seed: int | None = None  # the sweep's seed: each trial's is derived from it (docs/reproducibility.md)
    workdir: Path | None = None  # the folder `storage` is relative to (the embedded store: its .sweepkit/)

    @cached_property
    def study(self) -> optuna.Study:
        """The sweep's Optuna study, loaded from its store on first use (Optuna's own tools: visualization,
        importance, `trials_dataframe()`). sweepkit's own states and attrs read through `sweepkit.trial_state`."""
        from sweepkit.store import Store

        return Store(self.storage, cwd=self.workdir).load(self.name)

    def to_dataframe(self) -> pandas.DataFrame:
        """The trials as a pandas DataFrame, one row per trial: number, state, value, `params_*`, `metrics_*`,
        seed, duration, ... (results/_frame.py). Needs pandas (`pip install pandas`)."""
        from sweepkit.results._frame import to_dataframe

        return to_dataframe(self)

    @property
    def steps(self) -> dict[str, Any] | None:
        """Training steps spent, against the full-budget equivalent: what the same trials would have spent with
        no early stopping (each pruned one run to budget.steps, or, when that is not set, to the longest
        complete trial's steps). None when no trial reported a step."""
        ran = [t for t in self.trials if t.steps is not None and t.state in ("COMPLETE", "PRUNED", "FAILED")]
        if not ran:
            return None
        complete = [t.steps for t in ran if t.state == "COMPLETE" and t.steps is not None]
        per_trial = self.max_steps or max(complete or [t.steps or 0 for t in ran])
        spent = sum(t.steps or 0 for t in ran)
        full = sum(max(per_trial, t.steps or 0) if t.state == "PRUNED" else t.steps or 0 for t in ran)
        saved = 100.0 * (1 - spent / full) if full else 0.0
        return {"spent": spent, "full_budget": full, "saved_percent": round(saved, 1), "steps_per_trial": per_trial}

    @property
    def best_trial(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None and t.feasible]
        if not done:
            return None
        pick = max if self.goal == "maximize" else min
        return pick(done, key=lambda t: (t.value, -t.number) if self.goal == "maximize" else (t.value, t.number))

    @property
    def best_checkpoint(self) -> Path | None:
        """The best trial's checkpoint folder (`sweeps/<name>/checkpoints/trial-<n>/`), when it saved one."""
        best = self.best_trial
        return best_folder(self.output, self.trials, best.number if best else None)

    @property
    def best_params(self) -> dict[str, Any] | None:
        best = self.best_trial
        return best.params if best else None

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return best.value if best else None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(t.state for t in self.trials)
        return {state: found.get(state, 0) for state in STATES}

    @property
    def finished(self) -> int:
        """Trials that used up the budget (complete, pruned, failed): what `N/budget` counts."""
        return sum(n for state, n in self.counts.items() if State(state).counts_toward_budget)

    def top(self, k: int = 5) -> list[TrialRecord]:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None and t.feasible]
        return sorted(done, key=lambda t: t.value or 0.0, reverse=self.goal == "maximize")[:k]

    def summary(self) -> dict[str, Any]:
        best = self.best_trial
        checkpoint = self.best_checkpoint
        return {
            "sweep": self.name,
            "metric": self.metric,
            "goal": self.goal,
            "best_trial": best.number if best else None,
            "best_value": best.value if best else None,
            f"best_{self.metric}": best.value if best else None,
            "best_params": best.params if best else None,
            "best_checkpoint": str(checkpoint) if checkpoint else None,
            "counts": self.counts,
            "total_trials": len(self.trials),
            "strategy": self.strategy,
            "strategy_reason": self.strategy_reason,
            "stop_reason": self.stop_reason,
            "dialect": self.dialect,
            "steps": self.steps,
            "seed": self.seed,
            "trial_seeds": {str(t.number): t.seed for t in self.trials if t.seed is not None},
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            **summary_fields(self),  # the best trial's folds; trials a constraint they reported ruled out
            **(front_summary(self.objectives, self.pareto_front) if self.objectives else {}),
            **self.extra,
        }


def steps_line(result: SweepResult) -> str | None:
    """`status` and the end-of-run summary: the steps spent and what early stopping saved."""
    steps = result.steps
    if steps is None:
        return None
    spent, full, per_trial = steps["spent"], steps["full_budget"], steps["steps_per_trial"]
    if spent >= full:
        return f"steps: {spent:,} spent ({per_trial:,} per trial, none saved by early stopping)"
    return (
        f"steps: {spent:,} spent of {full:,} at full budget ({per_trial:,} per trial): "
        f"{steps['saved_percent']:g}% saved by early stopping"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n"


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: the umask can only be read by setting it


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for sharing, as a plain open() would
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def trials_csv(result: SweepResult) -> str:
    rows = []
    param_cols: dict[str, None] = {}
    metric_cols: dict[str, None] = {}
    for t in result.trials:
        params = flatten(t.params)
        metrics = {k: v for k, v in t.metrics.items() if not isinstance(v, list | dict)} | csv_cells(t)
        param_cols.update(dict.fromkeys(params))
        metric_cols.update(dict.fromkeys(metrics))
        rows.append((t, params, metrics))
    header = ["number", "state", "value", "duration_seconds", "start", "end"]
    header += [f"params_{c}" for c in param_cols] + [f"metrics_{c}" for c in metric_cols] + ["error", "reason"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for t, params, metrics in rows:
        d = t.to_dict()
        writer.writerow(
            [
                t.number,
                t.state,
                "" if t.value is None else t.value,
                d["duration_seconds"] or "",
                d["start"] or "",
                d["end"] or "",
            ]
            + [_cell(params.get(c)) for c in param_cols]
            + [_cell(metrics.get(c)) for c in metric_cols]
            + [(t.error or "").splitlines()[0] if t.error else "", t.reason or ""]
        )
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def best_config_yaml(result: SweepResult) -> str:
    best = result.best_trial
    if best is None:
        return "# no trial has completed yet\n"
    head = f"# best of sweep {result.name}: trial {best.number}, {result.metric} = {best.value}\n"
    if result.objectives:  # the best for the first objective: the others trade against it
        head += (
            f"# (the best for {result.metric}, the first objective; the Pareto front: sweepkit best {result.name})\n"
        )
    return head + yaml.safe_dump(best.params, sort_keys=False, default_flow_style=False)


def write_outputs(result: SweepResult, resolved_spec: dict[str, Any] | None = None) -> None:
    out = result.output
    atomic_write(out / "tuning_results.json", to_json(result.summary()))
    atomic_write(out / "trials_history.json", to_json([t.to_dict() for t in result.trials]))
    atomic_write(out / "trials.csv", trials_csv(result))
    atomic_write(out / "best_config.yaml", best_config_yaml(result))
    if resolved_spec is not None:
        text = yaml.safe_dump(json.loads(to_json(resolved_spec)), sort_keys=False)
        atomic_write(out / "sweep.yaml", f"# the sweep as sweepkit resolved it\n{text}")


__all__ = [
    "CHECKPOINTS",
    "SweepResult",
    "TrialRecord",
    "atomic_write",
    "best_folder",
    "budget_of",
    "first_attempt",
    "fold_values",
    "folder_of",
    "folds_text",
    "front_summary",
    "load",
    "load_result",
    "per_fold",
    "picked",
    "prune_checkpoints",
    "record",
    "steps_line",
    "steps_spent",
    "stored_space",
    "sweep_label",
    "to_json",
    "user_params",
    "violations",
    "write_outputs",
]

"""The sweep's side of a running trial: what its reports and folds told the pruner, and the answers.

Every executor hands a trial's reports here, wherever the trial runs: `InProcess` passes this object to the
trial as its link (direct calls), `WorkerPool` calls it for each report on the worker's pipe, `RayExecutor` for
each report the relay actor carries. So a report is judged by one rule (`report`) in every executor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweepkit._folds import fold_lists
from sweepkit._trial import INTERRUPTED, PRUNED, TrialStart
from sweepkit.results import first_attempt, folder_of
from sweepkit.spec import Spec
from sweepkit.sweep._recovery import seed_of
from sweepkit.trial_state import attrs_of


class LiveTrial:
    """One running trial, as the engine sees it: its Optuna trial, its start record, the folds and
    constraints heard so far, and `cancelled` (the sweep is stopping it)."""

    def __init__(
        self,
        trial: optuna.Trial,
        start: TrialStart,
        *,
        env: dict[str, str] | None = None,
        watch: Callable[[int], None] | None = None,
    ) -> None:
        self.trial = trial
        self.start = start
        self.flat: dict[str, Any] | None = None  # the user's flat params, as the space decoded them
        self.env = env or {}  # the slot's environment (its GPUs)
        self.watch_pid = watch
        self.cancelled = threading.Event()
        self.folds: dict[int, dict[str, float]] = {}
        self.constraints: dict[str, float] = {}
        self.metrics: dict[str, Any] = {}  # the per-fold lists (`<metric>_folds`), kept even if a fold prunes it
        self._multi = len(trial.study.directions) > 1  # Optuna can't report on a multi-objective study

    @property
    def number(self) -> int:
        return self.start.number

    def report(self, value: float, step: int, fold: dict[str, float] | None = None) -> str | None:
        """A step's value (or fold `step`'s metrics) → the pruner: None to go on, PRUNED, or INTERRUPTED
        when the sweep is stopping."""
        if fold is not None:
            self.folds[step] = dict(fold)
            self.metrics.update(fold_lists(self.folds, self.start.metric))
        if self.cancelled.is_set():
            return INTERRUPTED
        if self._multi:
            return None
        self.trial.report(float(value), int(step))
        return PRUNED if self.trial.should_prune() else None

    def constraint(self, name: str, value: float) -> None:
        self.constraints[name] = value

    def stopping(self) -> bool:
        return self.cancelled.is_set()

    def watch(self, pid: int) -> None:
        """The process running the trial (a worker, a program): its CPU, memory and GPU use are sampled."""
        if self.watch_pid is not None:
            self.watch_pid(pid)


def trial_start(
    spec: Spec, trial: optuna.Trial, params: dict[str, Any], trials: Callable[[], list[FrozenTrial]]
) -> TrialStart:
    """What a trial is told: its number and params, the sweep's budget of steps and metric, its seed, and for
    a retry the attempt it repeats and the checkpoint folder of the first attempt of its line."""
    retry_of = attrs_of(trial).get("retry_of")  # Optuna's copy read at ask: no store read here
    first = trial.number
    if retry_of is not None:
        parent = {t.number: attrs_of(t).get("retry_of") for t in trials()}
        parent[trial.number] = int(retry_of)
        retry_of, first = int(retry_of), first_attempt(trial.number, parent)
    folder = folder_of(spec.output, first)
    return TrialStart(
        number=trial.number,
        params=params,
        sweep=spec.name,
        max_steps=spec.budget.steps,
        seed=seed_of(trial, spec.strategy.seed),
        resumed=retry_of is not None,
        retry_of=retry_of,
        checkpoint_dir=str(folder) if folder is not None else None,
        metric=spec.metric.name,
    )


def live_trial(
    trial: optuna.Trial, params: dict[str, Any], sweep: str = "sweep", metric: str = "value", **start: Any
) -> LiveTrial:
    """A LiveTrial for an Optuna trial (the engine's tests and the executors' tests)."""
    return LiveTrial(trial, TrialStart(trial.number, params, sweep, metric=metric, **start))


__all__ = ["LiveTrial", "live_trial", "trial_start"]

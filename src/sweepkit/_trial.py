"""The `trial` a function gets as `fn(params, trial)`: one protocol (`sweepkit.Trial`), one class behind it
(`BaseTrial`) on every executor, built from one record of what the trial is told (`TrialStart`), and one record
of how it ended (`Outcome`).

What differs between running here, in a warm worker process and as a Ray task is only how a report reaches the
sweep's pruner and its answer comes back: a `Link` (in this process: a direct call; in a worker: its pipe; on
Ray: the relay actor). So a new thing a trial is told is one field of `TrialStart`, and `should_prune()` follows
one rule everywhere (see `BaseTrial.should_prune`).

Standard library only: a worker process imports this, and must not pay for Optuna.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

from sweepkit._folds import FoldsAndConstraints
from sweepkit.client import _in_trial
from sweepkit.errors import MetricMissing, TrialError, TrialInterrupted, TrialPruned

TRACEBACK_LINES = 25
PRUNED = "pruned"  # a link's answer to a report: the pruner stops the trial
INTERRUPTED = "interrupted"  # ... or the sweep is stopping (Ctrl+C, `--until`): the trial runs again later


@runtime_checkable
class Trial(Protocol):
    """What `fn(params, trial)` gets, the same in this process, in a worker process and on a Ray node.

    `report(value, step)` gives the pruner an intermediate value and raises `TrialPruned` when it stops the
    trial; `report_fold(k, metrics)` does so for cross-validation fold `k`; `should_prune()` is True once the
    trial was told to stop; `seed` is the trial's own seed; `params` its parameters."""

    number: int
    params: dict[str, Any]
    sweep: str
    max_steps: int | None
    seed: int | None
    resumed: bool

    @property
    def checkpoint_dir(self) -> Path: ...
    def report(self, value: float, step: int) -> None: ...
    def report_fold(self, k: int, metrics: Mapping[str, Any] | float) -> None: ...
    def should_prune(self) -> bool: ...
    def log(self, metrics: dict[str, Any]) -> None: ...
    def set_constraint(self, name: str, value: float) -> None: ...


class _Message:
    """A dataclass sent as JSON (to a worker, to a Ray task and back): its fields by name, and back. Unknown
    keys are dropped, so a newer sender's extra field never breaks an older reader."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]  # not asdict: it deep-copies

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrialStart(_Message):
    """Everything a trial is told when it starts. It travels as a dict (`to_dict`/`from_dict`) in a worker's
    message and a Ray task's arguments: a new field is added here, once."""

    number: int
    params: dict[str, Any]
    sweep: str
    max_steps: int | None = None  # budget.steps: the full budget of steps (epochs) a trial may train for
    seed: int | None = None  # the trial's own seed (from the sweep's seed and its number; a retry keeps it)
    resumed: bool = False  # cut short before (a crash, a lost worker, a killed run), running again
    retry_of: int | None = None  # the attempt it repeats
    checkpoint_dir: str | None = None  # its first attempt's checkpoint folder (results/_checkpoints.py)
    metric: str = "value"  # the sweep's metric: what `report_fold` sends to the pruner


class Link(Protocol):
    """How a trial's reports reach the sweep's pruner, and its answers come back."""

    def report(self, value: float, step: int, fold: dict[str, float] | None) -> str | None:
        """A step's value (or fold `step`'s metrics): None to go on, `PRUNED` or `INTERRUPTED`."""
        ...

    def constraint(self, name: str, value: float) -> None: ...
    def stopping(self) -> bool:
        """Is the sweep stopping this trial (Ctrl+C, `--until`), told without a report?"""
        ...


class BaseTrial(FoldsAndConstraints):
    """The one implementation of `sweepkit.Trial`: what it was told (`start`), what it logged and set, and
    its link to the sweep."""

    def __init__(
        self,
        start: TrialStart,
        link: Link,
        *,
        env: dict[str, str] | None = None,
        cancelled: threading.Event | None = None,
        watch: Callable[[int], None] | None = None,
    ) -> None:
        self.start = start
        self._link = link
        self.number = start.number
        self.params = start.params
        self.sweep = start.sweep
        self.max_steps = start.max_steps
        self.seed = start.seed
        self.resumed = start.resumed
        self.retry_of = start.retry_of
        self.checkpoint_folder = start.checkpoint_dir
        self.fold_metric = start.metric
        self.metrics: dict[str, Any] = {}
        self.env = env or {}  # the slot's environment for a program (its GPUs); Ray sets a task's itself
        self.cancelled = cancelled or threading.Event()  # set when the sweep stops it: a program stops
        self._watch = watch
        self._decision: str | None = None

    @property
    def checkpoint_dir(self) -> Path:
        """This trial's checkpoint folder, created on first use, the same one when it runs again."""
        from sweepkit.client import checkpoint_dir

        with _in_trial(self.checkpoint_folder, self.resumed):
            return checkpoint_dir()

    def report(self, value: float, step: int) -> None:
        """An intermediate value of the objective at `step` (an epoch, a round): the pruner may stop the
        trial here (raises `TrialPruned`)."""
        self._decide(self._link.report(float(value), int(step), None), step)

    def _fold_reported(self, fold: int, values: dict[str, float]) -> None:
        self._decide(self._link.report(values[self.fold_metric], fold, values), fold)

    def _constraint_set(self, name: str, value: float) -> None:
        self._link.constraint(name, value)

    def _decide(self, decision: str | None, step: int) -> None:
        if decision is None:
            return
        self._decision = decision
        if decision == PRUNED:
            raise TrialPruned(f"pruned at step {step}")
        self.cancelled.set()
        raise TrialInterrupted("interrupted: the sweep was stopped")

    def should_prune(self) -> bool:
        """True once the trial was told to stop: the pruner's answer to one of its reports (a report that
        raised `TrialPruned`), or the sweep stopping it. The answer is the one its reports got, never a
        second opinion: the same in this process, in a worker and on Ray."""
        return self._decision is not None or self.cancelled.is_set() or self._link.stopping()

    def log(self, metrics: dict[str, Any]) -> None:
        """Extra metrics to keep with the trial (the last value of each is stored)."""
        self.metrics.update(metrics)

    def watch(self, pid: int) -> None:
        """The process running the trial (a program): its CPU, memory and GPU use are sampled."""
        if self._watch is not None:
            self._watch(pid)


End = Literal["done", "pruned", "interrupted", "error", "lost"]


@dataclass
class Outcome(_Message):
    """How a trial ended, as every executor returns it (a value, never a raised exception, so the engine
    reads every ending in one place)."""

    end: End
    result: Any = None  # done: the function's return value
    metrics: dict[str, Any] = field(default_factory=dict)  # what it logged (`trial.log`)
    constraints: dict[str, float] = field(default_factory=dict)  # what it set (`trial.set_constraint`)
    message: str = ""  # pruned, interrupted, error, lost: why
    traceback: str | None = None  # error: the user's frames
    steps: int | None = None  # pruned: the steps a program really spent, when more than it reported
    missing: bool = False  # error: the trial never gave the sweep's metric


def call(fn: Callable[..., Any], trial: BaseTrial, *, pass_trial: bool) -> Outcome:
    """Call the user's function with the trial's params (and the trial), in its checkpoint context, and say
    how it ended. Only the sweep's own faults (KeyboardInterrupt, SystemExit) pass through."""
    try:
        with _in_trial(trial.checkpoint_folder, trial.resumed):  # for `sweepkit.checkpoint_dir()`
            result = fn(trial.params, trial) if pass_trial else fn(trial.params)
    except TrialPruned as exc:
        steps = getattr(exc, "steps", None)  # a program's: what it ran until the stop reached it
        return Outcome("pruned", metrics=trial.metrics, constraints=trial.constraints, message=str(exc), steps=steps)
    except TrialInterrupted as exc:
        return Outcome("interrupted", metrics=trial.metrics, message=str(exc))
    except Exception as exc:  # the user's code failed: the trial fails, the sweep goes on
        return failed(exc, trial)
    return Outcome("done", result=result, metrics=trial.metrics, constraints=trial.constraints)


def failed(exc: BaseException, trial: BaseTrial | None = None) -> Outcome:
    """An error outcome: a `TrialError`'s message alone, else the exception and the user's frames."""
    metrics = trial.metrics if trial is not None else {}
    constraints = trial.constraints if trial is not None else {}
    if isinstance(exc, TrialError):
        missing = isinstance(exc, MetricMissing)
        return Outcome("error", metrics=metrics, constraints=constraints, message=str(exc), missing=missing)
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # the first frame is ours
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip().splitlines()[-TRACEBACK_LINES:]
    message = f"{type(exc).__name__}: {exc}"
    return Outcome("error", metrics=metrics, constraints=constraints, message=message, traceback="\n".join(lines))


__all__ = ["INTERRUPTED", "PRUNED", "BaseTrial", "Link", "Outcome", "Trial", "TrialStart", "call", "failed"]

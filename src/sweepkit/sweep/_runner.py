"""The sweep loop: ask the strategy for a point, run the trial, tell the store, until the budget is spent.

One loop for every way a sweep ends (budget, timeout, exhausted space, target reached, failing trials,
Ctrl+C), each recorded as `stop_reason`. Nothing completed is ever lost: the store is written after every
trial and a trial cut short is marked INTERRUPTED and queued again with the same params.
"""

from __future__ import annotations

import math
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepkit.errors import SweepFailed, TrialPruned
from sweepkit.expr import ExprError
from sweepkit.pruner import Pruning, explain
from sweepkit.results import SweepResult, TrialRecord, counts_toward_budget, own_state, record, write_outputs
from sweepkit.results._records import DISCARDED, INFEASIBLE, INTERRUPTED, sweepkit_attrs
from sweepkit.space import Parameter, SearchSpace, nest, point_key
from sweepkit.space._params import Choice
from sweepkit.spec import Spec
from sweepkit.store import ATTR
from sweepkit.strategy import Strategy
from sweepkit.sweep._function import TrialError, read_result, wants_trial
from sweepkit.sweep._owners import RunLock

FIRST_TRIALS_ALL_FAILING = 5  # this many failures before any success: almost surely a bug in the trial
MAX_REPEATS_IN_A_ROW = 100  # the strategy keeps proposing tried points: treat the space as exhausted
MAX_INFEASIBLE_IN_A_ROW = 1000
OUTPUT_REFRESH_SECONDS = 2.0
TRACEBACK_LINES = 25


class Reporter(Protocol):
    def started(self, sweep: str, total: int | None, done: int, strategy: str, reason: str, goal: str) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def trial_finished(self, rec: TrialRecord, best: TrialRecord | None, counts: dict[str, int]) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, result: SweepResult) -> None: ...


class TrialContext:
    """The `trial` handed to `fn(params, trial)`: report progress, learn whether to stop early."""

    def __init__(self, trial: optuna.Trial, params: dict[str, Any], sweep: str, max_steps: int | None = None) -> None:
        self._trial = trial
        self.number = trial.number
        self.params = params
        self.sweep = sweep
        self.max_steps = max_steps  # the full budget of steps (epochs) a trial may train for: budget.steps
        self.metrics: dict[str, Any] = {}

    def report(self, value: float, step: int) -> None:
        """An intermediate value of the objective at `step` (an epoch, a round): feeds early stopping."""
        self._trial.report(float(value), int(step))
        if self._trial.should_prune():
            raise TrialPruned(f"pruned at step {step}")

    def should_prune(self) -> bool:
        return self._trial.should_prune()

    def log(self, metrics: dict[str, Any]) -> None:
        """Extra metrics to keep with the trial (the last value of each is stored)."""
        self.metrics.update(metrics)


@dataclass
class _Stats:
    started_here: int = 0
    failed_in_a_row: int = 0
    succeeded_here: int = 0
    repeats_in_a_row: int = 0
    infeasible_in_a_row: int = 0
    last_error: str = ""
    seen: dict[int, str | None] = field(default_factory=dict)  # finished trial number → point key


def _encode(param: Parameter, value: Any, *, grid: bool) -> Any:
    """A user value → the internal value that decodes to it (to queue a chosen point)."""
    if grid:
        points = param.grid() or ()
        choices = param.distribution(grid=True).choices  # type: ignore[attr-defined]
        return choices[list(points).index(value)]
    if isinstance(param, Choice):
        index = list(param.values).index(value)
        if param.probabilities is not None:
            return sum(param.probabilities[:index]) + param.probabilities[index] / 2
        choices = param.distribution().choices  # type: ignore[attr-defined]
        return choices[index]
    return value


class Engine:
    """Runs one sweep in this process (Python trials, one at a time)."""

    def __init__(
        self,
        spec: Spec,
        study: optuna.Study,
        strategy: Strategy,
        objective: Callable[..., Any],
        reporter: Reporter,
        *,
        lock: RunLock,
        seed: int | None,
        pruning: Pruning | None = None,
    ) -> None:
        self.spec = spec
        self.study = study
        self.strategy = strategy
        self.space: SearchSpace = spec.space
        self.grid = strategy.grid
        self.objective = objective
        self.pass_trial = wants_trial(objective)
        self.reporter = reporter
        self.pruning = pruning
        self.lock = lock
        self.rng = random.Random(seed)
        self.stats = _Stats()
        self.points = self.space.grid_points() if self.space.finite else None
        self.stop_reason = ""
        self.failing = False  # stopped because trials keep failing: the sweep failed (exit 1)
        self._last_write = 0.0
        self._write_cost = 0.0
        self._counted = 0  # trials[:_counted] are finished: their budget share is in _counted_done
        self._counted_done = 0
        self._records: dict[int, TrialRecord] = {}

    # -- store reads ----------------------------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def records(self) -> list[TrialRecord]:
        out = []
        for t in self.trials():
            if own_state(t) == DISCARDED:
                continue
            finished = t.state.is_finished()
            cached = self._records.get(t.number) if finished else None
            if cached is None:
                cached = record(t, self.space, grid=self.grid)
                if finished:
                    self._records[t.number] = cached
            out.append(cached)
        return out

    def result(self) -> SweepResult:
        return SweepResult(
            name=self.spec.name,
            metric=self.spec.metric.name,
            goal=self.spec.metric.goal,
            strategy=self.strategy.name,
            strategy_reason=self.strategy.reason,
            output=self.spec.output,
            trials=self.records(),
            stop_reason=self.stop_reason,
            dialect=self.spec.dialect,
        )

    def write(self, *, force: bool = False) -> SweepResult | None:
        """Refresh the output files, at most every 2 s, and rarer as they grow: writing them never takes
        more than a tenth of the sweep's time (10,000 trials take ~0.7 s to write)."""
        now = time.monotonic()
        if not force and now - self._last_write < max(OUTPUT_REFRESH_SECONDS, 10 * self._write_cost):
            return None
        result = self.result()
        write_outputs(result, self.spec.resolved if force else None)
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - now
        return result

    # -- crash recovery -------------------------------------------------------------------------------
    def recover(self) -> int:
        """Trials left RUNNING by a dead run: mark them INTERRUPTED and queue their params again."""
        cutoff = self.lock.earliest_live_start()
        storage = self.study._storage
        recovered = 0
        for t in self.trials():
            if t.state != TrialState.RUNNING or t.datetime_start is None:
                continue
            if t.datetime_start.timestamp() >= cutoff:
                continue  # may belong to a run that is still alive
            attrs = {**sweepkit_attrs(t), "state": INTERRUPTED, "error": "interrupted: the run that ran it stopped"}
            storage.set_trial_user_attr(t._trial_id, ATTR, attrs)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            self._retry(t)
            recovered += 1
        return recovered

    def _retry(self, t: FrozenTrial) -> None:
        self.study.enqueue_trial(dict(t.params), user_attrs={ATTR: {"retry_of": t.number}}, skip_if_exists=False)

    # -- repeated points (finite spaces) --------------------------------------------------------------
    def _key_of(self, t: FrozenTrial) -> str | None:
        if own_state(t) in (DISCARDED, INTERRUPTED):
            return None
        internal = t.params or t.system_attrs.get("fixed_params") or {}
        if not internal:
            return None
        try:
            return point_key(self.space.decode(internal, grid=self.grid))
        except Exception:
            return None

    def _seen(self, trials: list[FrozenTrial], exclude: int | None = None) -> set[str]:
        keys: set[str] = set()
        for t in trials:
            if t.number == exclude:
                continue
            if t.state.is_finished():
                if t.number not in self.stats.seen:
                    self.stats.seen[t.number] = self._key_of(t)
                key = self.stats.seen[t.number]
            else:
                key = self._key_of(t)
            if key is not None:
                keys.add(key)
        return keys

    def _queue_unseen(self, seen: set[str]) -> bool:
        if self.points is None:
            return False
        unseen = [p for p in self.points if point_key(p) not in seen]
        if not unseen:
            return False
        point = self.rng.choice(unseen)
        internal = {}
        for param in self.space.searched:
            if param.name in point:
                internal[param.name] = _encode(param, point[param.name], grid=self.grid)
        self.study.enqueue_trial(internal, skip_if_exists=False)
        return True

    # -- the loop -------------------------------------------------------------------------------------
    def _budget_spent(self, trials: list[FrozenTrial]) -> bool:
        budget = self.spec.budget.trials
        if budget is None:
            return False
        # Finished trials never change: count the finished prefix once, then only the rest (O(1) per trial).
        while self._counted < len(trials) and trials[self._counted].state.is_finished():
            self._counted_done += counts_toward_budget(trials[self._counted])
            self._counted += 1
        rest = trials[self._counted :]
        done = self._counted_done + sum(counts_toward_budget(t) for t in rest)
        running = sum(t.state == TrialState.RUNNING for t in rest)
        return done + running >= budget

    def loop(self) -> None:
        start = time.monotonic()
        timeout = self.spec.budget.timeout
        while True:
            trials = self.trials()
            if self._budget_spent(trials):
                self.stop_reason = "budget: all trials done"
                return
            if timeout is not None and time.monotonic() - start >= timeout:
                self.stop_reason = "timeout reached"
                return
            if self.points is not None:
                started = [t for t in trials if t.state != TrialState.WAITING]  # queued points are still to run
                if len(self._seen(started)) >= len(self.points):
                    self.stop_reason = f"space exhausted: all {len(self.points)} points have been tried"
                    return
            if not self.step(trials):
                return

    def step(self, trials: list[FrozenTrial]) -> bool:
        """Run one trial (or dismiss one repeated or infeasible point). False when the sweep must stop."""
        trial = self.study.ask()
        try:
            flat = self.space.sample(trial, grid=self.grid)
        except ExprError as exc:
            return self._finish_failed(trial, {}, f"cannot compute parameters: {exc}", None)

        if self.space.finite:
            seen = self._seen(self.trials(), exclude=trial.number)
            if point_key(flat) in seen:
                trial.set_user_attr(ATTR, {"state": DISCARDED, "error": "repeats a point already tried"})
                self.study.tell(trial, state=TrialState.FAIL)
                self.stats.repeats_in_a_row += 1
                if self.stats.repeats_in_a_row >= MAX_REPEATS_IN_A_ROW:
                    self.stop_reason = "space exhausted: the strategy only proposes points already tried"
                    return False
                self._queue_unseen(seen | {point_key(flat)})
                return True
            self.stats.repeats_in_a_row = 0

        violation = self.space.violation(flat)
        if violation is not None:
            trial.set_constraint("sweepkit", 1.0)
            trial.set_user_attr(ATTR, {"state": INFEASIBLE, "error": violation})
            self.study.tell(trial, state=TrialState.PRUNED)
            self.stats.infeasible_in_a_row += 1
            if self.stats.infeasible_in_a_row >= MAX_INFEASIBLE_IN_A_ROW:
                self.stop_reason = f"{MAX_INFEASIBLE_IN_A_ROW} points in a row broke the constraints: relax them"
                return False
            return True
        self.stats.infeasible_in_a_row = 0
        return self._run(trial, flat)

    def _run(self, trial: optuna.Trial, flat: dict[str, Any]) -> bool:
        params = nest(flat)
        self.stats.started_here += 1
        self.reporter.trial_started(trial.number, params)
        context = TrialContext(trial, params, self.spec.name, self.spec.budget.steps)
        try:
            result = self.objective(params, context) if self.pass_trial else self.objective(params)
            value, metrics = read_result(result, self.spec.metric)
        except TrialPruned as exc:
            # Why, in users' words, computed before the study hears of it (W&B users never learn why).
            if self.pruning is not None and self.pruning.name != "none":
                reason = f"{self.pruning.name}: {explain(self.pruning, self.study, trial)}"
            else:
                reason = str(exc) or "stopped by the trial (TrialPruned)"
            return self._finish(trial, TrialState.PRUNED, None, {**context.metrics}, None, None, reason=reason)
        except KeyboardInterrupt:
            attrs = {"state": INTERRUPTED, "error": "interrupted: the sweep was stopped (Ctrl+C or SIGTERM)"}
            trial.set_user_attr(ATTR, attrs)
            self.study.tell(trial, state=TrialState.FAIL)
            self._retry(self.study._storage.get_trial(trial._trial_id))
            raise
        except TrialError as exc:
            return self._finish_failed(trial, context.metrics, str(exc), None)
        except Exception as exc:  # the user's code failed: record it and go on with the sweep
            tb = traceback.format_exc().rstrip().splitlines()[-TRACEBACK_LINES:]
            return self._finish_failed(trial, context.metrics, f"{type(exc).__name__}: {exc}", "\n".join(tb))
        return self._finish(trial, TrialState.COMPLETE, value, {**context.metrics, **metrics}, None, None)

    def _finish_failed(self, trial: optuna.Trial, metrics: dict[str, Any], error: str, tb: str | None) -> bool:
        return self._finish(trial, TrialState.FAIL, None, metrics, error, tb)

    def _finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | None,
        metrics: dict[str, Any],
        error: str | None,
        tb: str | None,
        *,
        reason: str | None = None,
    ) -> bool:
        attrs: dict[str, Any] = {}
        if reason:
            attrs["reason"] = reason
        extra = {k: v for k, v in metrics.items() if k != self.spec.metric.name or state != TrialState.COMPLETE}
        if extra:
            attrs["metrics"] = metrics
        if error:
            attrs["error"] = error
        if tb:
            attrs["traceback"] = tb
        if attrs:  # one store write, and none at all for a plain number (keeps per-trial overhead low)
            trial.set_user_attr(ATTR, {**sweepkit_attrs_of(trial), **attrs})
        frozen = self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)

        if state == TrialState.FAIL:
            self.stats.failed_in_a_row += 1
            self.stats.last_error = error or ""
        else:
            self.stats.failed_in_a_row = 0
            self.stats.succeeded_here += 1
        result = self.write()
        rec = record(frozen, self.space, grid=self.grid)
        if result is None:
            self.reporter.trial_finished(rec, None, {})
        else:
            self.reporter.trial_finished(rec, result.best_trial, result.counts)

        if state == TrialState.FAIL:
            limit = self.spec.budget.max_failures
            if self.stats.succeeded_here == 0 and self.stats.started_here >= FIRST_TRIALS_ALL_FAILING:
                self.failing = True
                self.stop_reason = (
                    f"the first {self.stats.started_here} trials all failed, which is probably a bug in the trial; "
                    f"the last error: {self.stats.last_error}"
                )
                return False
            if limit is not None and self.stats.failed_in_a_row >= limit:
                self.failing = True
                self.stop_reason = (
                    f"{self.stats.failed_in_a_row} trials failed in a row (budget.max_failures); "
                    f"the last error: {self.stats.last_error}"
                )
                return False
        target = self.spec.metric.target
        if state == TrialState.COMPLETE and target is not None and value is not None and math.isfinite(value):
            reached = value >= target if self.spec.metric.maximize else value <= target
            if reached:
                self.stop_reason = f"target reached: {self.spec.metric.name} = {value:g} (target {target:g})"
                return False
        return True


def sweepkit_attrs_of(trial: optuna.Trial) -> dict[str, Any]:
    """Attrs set on a live trial before it ran (a retry's `retry_of`)."""
    attrs = trial.user_attrs.get(ATTR)
    return attrs if isinstance(attrs, dict) else {}


__all__ = ["Engine", "Reporter", "SweepFailed", "TrialContext"]

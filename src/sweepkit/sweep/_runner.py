"""The sweep loop: ask the strategy for a point, run the trial, tell the store, until the budget is spent.

One loop for every way a sweep ends (budget, timeout, exhausted space, target reached, failing trials,
Ctrl+C), each recorded as `stop_reason`. Nothing completed is ever lost: the store is written after every
trial and a trial cut short is marked INTERRUPTED and queued again with the same params.

The loop alone lives here; its policies are units of their own: `_budget` (what counts toward the budget),
`_stops` (timeout, `--until`, target, failures), `_repeats` (repeat-free finite spaces), `_recovery` (lost
trials, retries). Every executor returns an `Outcome`, read in one place (`Engine._settle`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepkit._trial import BaseTrial, Outcome, failed
from sweepkit.errors import SpecError, StoreError, SweepFailed
from sweepkit.expr import ExprError
from sweepkit.pruner import Pruning, explain
from sweepkit.results import SweepResult, TrialRecord
from sweepkit.space import SearchSpace
from sweepkit.spec import Spec
from sweepkit.strategy import Strategy
from sweepkit.sweep._budget import Budget
from sweepkit.sweep._folds import fold_result, write_constraints
from sweepkit.sweep._heartbeat import Heartbeat, owner_id
from sweepkit.sweep._live import LiveTrial, trial_start
from sweepkit.sweep._outputs import Outputs
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._recovery import Recovery
from sweepkit.sweep._repeats import Repeats
from sweepkit.sweep._slots import Executor, InProcess

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing's own from Python 3.13
from sweepkit.sweep._stops import Stops
from sweepkit.trial_state import ATTR, CONSTRAINT, FIXED_PARAMS, State, attrs_of, marked, requeued, with_params

WAIT_FOR_OTHERS_SECONDS = 0.5  # budget taken by other runs' trials: wait to see whether they finish or are lost
TrialContext = BaseTrial  # the trial's first name here


class Reporter(Protocol):
    def started(self, sweep: str, total: int | None, done: int, strategy: str, reason: str, goal: str) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def trial_finished(self, rec: TrialRecord, best: TrialRecord | None, counts: dict[str, int]) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, result: SweepResult) -> None: ...


class Engine:
    """Runs one sweep from this process: one trial at a time in the main thread, or one per slot thread
    (`workers` > 1), each slot handing its trial to the executor (a warm worker process, a program)."""

    def __init__(
        self,
        spec: Spec,
        study: optuna.Study,
        strategy: Strategy,
        objective: Callable[..., Any] | Executor,
        reporter: Reporter,
        *,
        lock: RunLock,
        seed: int | None,
        pruning: Pruning | None = None,
        retries: int = 1,
        slot_envs: list[dict[str, str]] | None = None,
        monitor: Callable[[int, int], Any] | None = None,
        trackers: list[Any] | None = None,
    ) -> None:
        self.spec = spec
        self.study = study
        self.strategy = strategy
        self.space: SearchSpace = spec.space
        self.grid = strategy.grid
        self.executor: Executor = objective if _is_executor(objective) else InProcess(objective)
        self.workers = self.executor.slots
        self.slot_envs = slot_envs or [{} for _ in range(self.workers)]
        self.reporter = reporter
        self.pruning = pruning
        self.lock = lock
        self.monitor = monitor
        self.trackers = trackers or []
        self.owner = owner_id()
        self.budget = Budget(spec.budget.trials)
        budget, metric = spec.budget, spec.metric
        self.stops = Stops(budget.timeout, budget.max_failures, metric.target, metric.maximize, metric.name)
        self.repeats = Repeats(self.space, grid=self.grid, rng=random.Random(seed))
        self.recovery = Recovery(study, lock, self.owner, retries=retries, sweep_seed=spec.strategy.seed)
        self.stop_reason = ""
        self.failing = False  # stopped because trials keep failing: the sweep failed (exit 1)
        self.user_error: SpecError | None = None  # stopped because the sweep file is wrong (exit 2)
        self.stopping = threading.Event()
        self.deadline_reached = False
        self._mutex = threading.RLock()  # one slot at a time asks, tells and writes outputs
        self._running: dict[int, LiveTrial] = {}  # slot → the trial it runs
        self._slot_error: BaseException | None = None
        self.outputs = Outputs(spec, study, strategy)

    @property
    def max_trials(self) -> int | None:
        """`sweepkit agent --count N`: the most trials this run launches."""
        return self.budget.max_trials

    @max_trials.setter
    def max_trials(self, value: int | None) -> None:
        self.budget.max_trials = value

    # -- store reads and outputs ----------------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def result(self) -> SweepResult:
        return self.outputs.result(self.stop_reason)

    # -- the loop -------------------------------------------------------------------------------------
    def loop(self) -> None:
        """Run until the budget is spent or a stop condition holds. Ctrl+C (KeyboardInterrupt in the main
        thread) stops every slot: running trials are interrupted and queued again."""
        heartbeat = Heartbeat(self.study._storage, self.study._study_id, self._running_ids, self._lost_elsewhere)
        heartbeat.start()
        try:
            if self.workers == 1:
                self._slot(0)
                return
            threads = [
                threading.Thread(target=self._slot_guarded, args=(slot,), name=f"sweepkit-slot-{slot}", daemon=True)
                for slot in range(self.workers)
            ]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    while thread.is_alive():
                        thread.join(0.2)
            except KeyboardInterrupt:
                self.interrupt()
                for thread in threads:
                    thread.join()
                raise
            if self._slot_error is not None:
                raise self._slot_error
        finally:
            heartbeat.stop()

    def _slot_guarded(self, slot: int) -> None:
        try:
            self._slot(slot)
        except BaseException as exc:  # a store fault in one slot stops them all, and the run says why
            with self._mutex:
                if self._slot_error is None:
                    self._slot_error = exc
            self.stopping.set()
            self.interrupt()

    def interrupt(self) -> None:
        """Stop launching, and stop the trials running now (they are queued again)."""
        self.stopping.set()
        for slot in list(self._running):
            live = self._running.get(slot)
            if live is not None:
                live.cancelled.set()
            self.executor.cancel(slot)

    def reach_deadline(self, label: str) -> None:
        with self._mutex:
            self.deadline_reached = True
            self.stop_reason = f"{label} reached: running trials were stopped and will run again next time"
        self.interrupt()

    def _running_ids(self) -> list[int]:
        return [live.trial._trial_id for live in list(self._running.values())]

    def _lost_elsewhere(self, t: FrozenTrial, why: str) -> None:
        with self._mutex:
            if self.recovery.lost(t, why):
                self.reporter.note(f"note: trial {t.number} {why}; it will run again")

    def _slot(self, slot: int) -> None:
        start = time.monotonic()
        while not self.stopping.is_set():
            with self._mutex:
                if self.stopping.is_set():
                    return
                timed_out = self.stops.timed_out(start)
                if timed_out:
                    self._stop(timed_out)
                    return
                decision = self._next(slot)
            if decision is None:
                continue
            if decision is _WAIT:
                self.stopping.wait(WAIT_FOR_OTHERS_SECONDS)
                continue
            if decision is _STOP:
                return
            trial, _flat = decision
            if not self._run(slot, trial):
                return

    def _next(self, slot: int) -> tuple[optuna.Trial, dict[str, Any]] | _Signal | None:
        """Under the mutex: the next trial to run, or _STOP, _WAIT, or None (a point dismissed: ask again)."""
        trials = self.trials()
        done, running = self.budget.count(trials)
        others_running = running > len(self._running)  # if their worker dies, their retry is ours to run
        if self.budget.spent(done, running):
            if others_running:
                return _WAIT
            if not self.stop_reason:
                self.stop_reason = "budget: all trials done"
            return _STOP
        if self.repeats.exhausted(trials):
            if others_running:
                return _WAIT
            self.stop_reason = f"space exhausted: all {len(self.repeats.points or ())} points have been tried"
            return _STOP
        if self.budget.count_reached():
            self.stop_reason = f"--count {self.max_trials}: this agent ran its {self.max_trials} trials"
            return _STOP
        decision = self.step(slot, self.budget.remaining(done, running))
        if isinstance(decision, tuple):
            self.budget.launched += 1
        return decision

    def step(self, slot: int, remaining: int | None) -> tuple[optuna.Trial, dict[str, Any]] | _Signal | None:
        """Ask the study for a trial and sample its point: the trial to run, or None when the point was
        dismissed (a repeat, infeasible, a parameter that can't be computed), _WAIT or _STOP."""
        trial = self.study.ask()
        if self.budget.near_end(remaining) and not self.lock.alone() and self.budget.taken(trial.number, self.trials()):
            self._discard(trial, "over budget: other runs took the last trials")
            return _WAIT
        try:
            flat = self.space.sample(trial, grid=self.grid)
        except ExprError as exc:
            keep_going = self._finish(trial, TrialState.FAIL, None, {}, f"cannot compute parameters: {exc}")
            return None if keep_going else _STOP
        if self.space.finite:
            live = self.repeats.is_repeat(flat, self.trials(), trial.number)
            if live is not None:
                self._mark(trial, State.DISCARDED, "repeats a point already tried", flat)
                reason = self.stops.repeated()
                if reason:
                    self._stop(reason)
                    return _STOP
                self.repeats.queue_unseen(self.study, live)
                return None
            self.stops.repeats_in_a_row = 0
        violation = self.space.violation(flat)
        if violation is not None:
            trial.set_constraint(CONSTRAINT, 1.0)
            self._mark(trial, State.INFEASIBLE, violation, flat)
            reason = self.stops.infeasible()
            if reason:
                self._stop(reason)
                return _STOP
            return None
        self.stops.infeasible_in_a_row = 0
        start = trial_start(self.spec, trial, self.space.nest(flat), self.trials)
        live_trial = LiveTrial(trial, start, env=self.slot_envs[slot])
        live_trial.flat = flat
        self._running[slot] = live_trial
        self.stops.started_here += 1
        self.reporter.trial_started(trial.number, live_trial.start.params)
        return trial, flat

    def _discard(self, trial: optuna.Trial, why: str) -> None:
        """A trial asked for but never run: out of the results and the budget; a queued point goes back,
        with its history (a retry's `retry_of`) and without the mark, so that it counts when it runs."""
        fixed = self.study._storage.get_trial(trial._trial_id).system_attrs.get(FIXED_PARAMS)
        history = requeued(attrs_of(trial))
        self._mark(trial, State.DISCARDED, why)
        if fixed:
            self.study.enqueue_trial(fixed, user_attrs={ATTR: history}, skip_if_exists=False)

    def _mark(self, trial: optuna.Trial, state: State, why: str, params: dict[str, Any] | None = None) -> None:
        """Tell the study a trial ended in one of sweepkit's own states (infeasible, interrupted, discarded);
        `params`, the user's flat params when it was sampled, go in the same write."""
        trial.set_user_attr(ATTR, with_params(marked(attrs_of(trial), state, why), params))
        self.study.tell(trial, state=state.told_as)

    def _stop(self, reason: str) -> None:
        """Stop launching trials, saying why (the running ones finish)."""
        self.stop_reason = reason
        self.stopping.set()

    # -- running a trial and reading its outcome ------------------------------------------------------
    def _run(self, slot: int, trial: optuna.Trial) -> bool:
        """Hand the trial to the executor (outside the mutex) and settle its outcome; False: stop this slot."""
        live = self._running[slot]
        sampler: Any = None
        if self.monitor is not None:

            def watch(pid: int) -> None:
                nonlocal sampler
                sampler = self.monitor(pid, slot)  # type: ignore[misc]

            live.watch_pid = watch
        try:
            outcome = self.executor.call(slot, live)
        except KeyboardInterrupt:
            self._settle(slot, trial, live, Outcome("interrupted", message=_BY_SIGNAL), sampler)
            raise
        except StoreError:  # the store is down (a report could not be written): the sweep stops, saying so
            with self._mutex:
                self._running.pop(slot, None)
            _stop_sampler(sampler)
            raise
        except Exception as exc:  # the executor itself failed (a worker that can't start again): the trial fails
            outcome = failed(exc)
        return self._settle(slot, trial, live, outcome, sampler)

    def _settle(self, slot: int, trial: optuna.Trial, live: LiveTrial, outcome: Outcome, sampler: Any) -> bool:
        """Every executor's outcome, read here: tell the store, or mark the trial interrupted or lost and queue
        it again. False: this slot stops."""
        if outcome.end in ("interrupted", "lost"):
            with self._mutex:
                self._running.pop(slot, None)
                frozen = self.study._storage.get_trial(trial._trial_id)
                if outcome.end == "lost":
                    self.recovery.lost(frozen, outcome.message, live.flat)
                    self.reporter.note(f"note: trial {trial.number} {outcome.message}; it will run again")
                else:  # Ctrl+C says so; anything else (`--until`, a missing metric) by the run's stop reason
                    why = outcome.message if outcome.message == _BY_SIGNAL else self.stop_reason or outcome.message
                    self._mark(trial, State.INTERRUPTED, why, live.flat)
                    self.recovery.retry(self.study._storage.get_trial(trial._trial_id))
            _stop_sampler(sampler)
            return outcome.end == "lost"
        metrics = {**live.metrics, **outcome.metrics}
        constraints = {**live.constraints, **outcome.constraints}
        value: float | list[float] | None = None
        if outcome.end == "done":
            try:
                value, scored = fold_result(outcome.result, self.spec.metric, live.folds)
                metrics = {**metrics, **scored}
            except Exception as exc:  # NaN, a missing metric, a value that is no number: the trial fails
                outcome = failed(exc)
        write_constraints(trial, constraints)
        resources = _stop_sampler(sampler)
        state = _STATES[outcome.end]
        with self._mutex:
            self._running.pop(slot, None)
            return self._finish(
                trial,
                state,
                value,
                metrics,
                outcome.message if state == TrialState.FAIL else None,
                outcome.traceback,
                reason=self._why(trial, outcome.message) if state == TrialState.PRUNED else None,
                slot=slot,
                resources=resources,
                steps=outcome.steps,
                missing=outcome.missing,
                params=live.flat,
            )

    def _why(self, trial: optuna.Trial, message: str) -> str:
        """Why, in users' words, computed before the study hears of it (W&B users never learn why)."""
        if self.pruning is not None and self.pruning.name != "none":
            return f"{self.pruning.name}: {explain(self.pruning, self.study, trial)}"
        return message or "stopped by the trial (TrialPruned)"

    def _finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | list[float] | None,
        metrics: dict[str, Any],
        error: str | None = None,
        tb: str | None = None,
        *,
        reason: str | None = None,
        slot: int | None = None,
        resources: dict[str, Any] | None = None,
        steps: int | None = None,
        missing: bool = False,
        params: dict[str, Any] | None = None,
    ) -> bool:
        """Under the mutex: tell the store, refresh outputs, apply the stop policies. False: stop.

        `steps`: the steps the trial really spent, when more than it reported to the pruner; `missing`: it
        failed for want of the sweep's metric; `params`: the user's flat params, stored with every trial
        (Optuna's own differ for derived, constant, W&B quantile and inactive conditional ones), so a trial
        reads back as it ran from the store alone; they ride in the one write of sweepkit's attr it makes."""
        attrs = {"reason": reason, "steps": steps, "error": error, "traceback": tb, "resources": resources}
        attrs = {k: v for k, v in attrs.items() if v}
        if steps is not None:
            attrs["steps"] = steps
        if any(k != self.spec.metric.name or state != TrialState.COMPLETE for k in metrics):
            attrs["metrics"] = metrics
        if self.workers > 1 and slot is not None:
            attrs["worker"] = f"{self.owner}/{slot}"
        if attrs or params is not None:  # one store write per trial, whatever it holds
            # its history, what it did and the params it ran with
            trial.set_user_attr(ATTR, with_params({**requeued(attrs_of(trial)), **attrs}, params))
        try:
            frozen = self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except (RuntimeError, ValueError) as exc:  # another run declared it lost and queued it again
            self.reporter.note(f"note: trial {trial.number} finished after it was declared lost: {exc}")
            return True
        self.stops.finished(state == TrialState.FAIL, error)
        rec = self._told(frozen)
        if state == TrialState.FAIL:
            return self._after_failure(trial.number, error or "", missing)
        reached = self.stops.target_reached(value) if state == TrialState.COMPLETE and rec.feasible else None
        if reached:
            self._stop(reached)
        return not reached

    def _told(self, frozen: FrozenTrial) -> TrialRecord:
        """A trial was told: outputs, the display, the trackers, the checkpoints to keep."""
        result = self.outputs.write(self.stop_reason)
        rec = self.outputs.record(frozen)
        if result is None:
            self.reporter.trial_finished(rec, None, {})
        else:
            self.reporter.trial_finished(rec, result.best_trial, result.counts)
        for tracker in self.trackers:
            try:
                tracker.trial_finished(frozen, rec)
            except Exception as exc:  # tracking is a copy of what the store holds: never stop the sweep
                self.reporter.note(f"note: {type(tracker).__name__} could not log trial {rec.number}: {exc}")
        self.outputs.keep_checkpoints(self.reporter.note)
        return rec

    def _after_failure(self, number: int, error: str, missing: bool) -> bool:
        """The failure policy: a metric no trial ever gave stops the sweep (exit 2), failing trials fail it."""
        if missing and not self._metric_seen():
            self._stop_for_missing_metric(number, error)
            return False
        reason = self.stops.failing()
        if reason:
            self.failing = True
            self._stop(reason)
        return not reason

    def _metric_seen(self) -> bool:
        """Did any trial of the sweep, in any run, ever give its metric (as a result or a reported step)?"""
        return any(t.state == TrialState.COMPLETE or t.intermediate_values for t in self.trials())

    def _stop_for_missing_metric(self, number: int, error: str) -> None:
        """No trial has ever given the metric: its name in the sweep file is wrong (or never logged), and
        every trial would train in vain. Stop now, trials running elsewhere in this run too (they run again
        next time), and exit 2 naming the file and the key."""
        key = self.spec.origins.get("metric.name", "metric.name")
        self.user_error = SpecError(
            f"expected a metric the trials log; trial {number}: {error}", file=self.spec.file, key=key
        )
        self.stop_reason = (
            f'no trial has given the metric "{self.spec.metric.name}" ({key}): stopped after trial {number}'
        )
        self.stopping.set()
        self.interrupt()


def _stop_sampler(sampler: Any) -> dict[str, Any]:
    """The resources a trial used (CPU, memory, GPUs), from its sampler, if it had one."""
    if sampler is None:
        return {}
    try:
        return dict(sampler.stop() or {})
    except Exception:  # monitoring is a nicety: never fail a trial over it
        return {}


def _is_executor(objective: Callable[..., Any] | Executor) -> TypeIs[Executor]:
    """An executor has `slots`; anything else is the objective itself, run in process."""
    return hasattr(objective, "slots")


class _Signal(Enum):
    """What a slot is told instead of a trial: stop, or wait for the other slots' trials."""

    STOP = "stop"
    WAIT = "wait"


_STOP: Final = _Signal.STOP
_WAIT: Final = _Signal.WAIT
_BY_SIGNAL = "interrupted: the sweep was stopped (Ctrl+C or SIGTERM)"
_STATES = {"done": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "error": TrialState.FAIL}


__all__ = ["Engine", "Reporter", "SweepFailed", "TrialContext"]

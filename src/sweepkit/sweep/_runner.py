"""The sweep loop: ask the strategy for a point, run the trial, tell the store, until the budget is spent.

One loop for every way a sweep ends (budget, timeout, exhausted space, target reached, failing trials,
Ctrl+C), each recorded as `stop_reason`. Nothing completed is ever lost: the store is written after every
trial and a trial cut short is marked INTERRUPTED and queued again with the same params.
"""

from __future__ import annotations

import math
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepkit._folds import FoldsAndConstraints, fold_lists
from sweepkit.client import _in_trial
from sweepkit.errors import SpecError, StoreError, SweepFailed, TrialPruned
from sweepkit.expr import ExprError
from sweepkit.pruner import Pruning, explain
from sweepkit.results import SweepResult, TrialRecord, record, write_outputs
from sweepkit.results._checkpoints import FOLDER as CHECKPOINTS
from sweepkit.results._checkpoints import first_attempt, folder_of
from sweepkit.results._checkpoints import prune as prune_checkpoints
from sweepkit.seeding import trial_seed
from sweepkit.space import Parameter, SearchSpace, point_key
from sweepkit.space._params import Choice
from sweepkit.spec import Spec
from sweepkit.spec._model import CheckpointsSpec
from sweepkit.strategy import Strategy
from sweepkit.sweep._folds import fold_result, write_constraints
from sweepkit.sweep._function import MetricMissing, TrialError
from sweepkit.sweep._heartbeat import Heartbeat, owner_id
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._slots import Executor, InProcess, TrialInterrupted, WorkerLost, _UserError
from sweepkit.trial_state import (
    ATTR,
    BEAT,
    CONSTRAINT,
    FIXED_PARAMS,
    State,
    attrs_of,
    counts_toward_budget,
    marked,
    requeued,
    state_of,
    unmarked,
)

FIRST_TRIALS_ALL_FAILING = 5  # this many failures before any success: almost surely a bug in the trial
MAX_REPEATS_IN_A_ROW = 100  # the strategy keeps proposing tried points: treat the space as exhausted
MAX_INFEASIBLE_IN_A_ROW = 1000
OUTPUT_REFRESH_SECONDS = 2.0
TRACEBACK_LINES = 25
# Near the end of the budget, a trial just asked for is checked against every trial numbered before it,
# so runs and agents racing for the last trials never launch beyond the budget. Further from the end, no
# race of fewer than this many simultaneous asks can overshoot, and the extra read is saved.
RECHECK_WITHIN = 64
WAIT_FOR_OTHERS_SECONDS = 0.5  # budget taken by other runs' trials: wait to see whether they finish or are lost


class Reporter(Protocol):
    def started(self, sweep: str, total: int | None, done: int, strategy: str, reason: str, goal: str) -> None: ...
    def trial_started(self, number: int, params: dict[str, Any]) -> None: ...
    def trial_finished(self, rec: TrialRecord, best: TrialRecord | None, counts: dict[str, int]) -> None: ...
    def note(self, text: str) -> None: ...
    def finished(self, result: SweepResult) -> None: ...


class TrialContext(FoldsAndConstraints):
    """The `trial` handed to `fn(params, trial)`: report progress (steps, or folds with `report_fold`), learn
    whether to stop early, set constraints it measured (`set_constraint`)."""

    def __init__(
        self,
        trial: optuna.Trial,
        params: dict[str, Any],
        sweep: str,
        max_steps: int | None = None,
        *,
        slot: int = 0,
        env: dict[str, str] | None = None,
        watch: Callable[[int], None] | None = None,
        resumed: bool = False,
        retry_of: int | None = None,
        checkpoint_folder: Path | None = None,
        seed: int | None = None,
    ) -> None:
        self._trial = trial
        self.number = trial.number
        self.seed = seed  # the trial's own seed (from the sweep's seed and its number; a retry keeps it)
        self.params = params
        self.sweep = sweep
        self.max_steps = max_steps  # the full budget of steps (epochs) a trial may train for: budget.steps
        self.metrics: dict[str, Any] = {}
        self.slot = slot
        self.env = env or {}  # the slot's environment for a program (its GPUs)
        self.cancelled = threading.Event()  # the sweep is stopping (Ctrl+C, --until): stop at the next report
        self._watch = watch
        # A trial cut short before (crash, lost worker, killed run) runs again: `resumed`, and the checkpoint
        # folder of its first attempt (results/_checkpoints.py), so it can go on from what it saved.
        self.resumed = resumed
        self.retry_of = retry_of  # the attempt it repeats
        self.checkpoint_folder = checkpoint_folder

    @property
    def checkpoint_dir(self) -> Path:
        """This trial's checkpoint folder, created on first use, the same one on a retry."""
        if self.checkpoint_folder is None:  # a TrialContext made outside a sweep (tests)
            from sweepkit.client import checkpoint_dir

            return checkpoint_dir()
        self.checkpoint_folder.mkdir(parents=True, exist_ok=True)
        return self.checkpoint_folder

    def report(self, value: float, step: int) -> None:
        """An intermediate value of the objective at `step` (an epoch, a round): feeds early stopping."""
        if self.cancelled.is_set():
            raise TrialInterrupted("interrupted: the sweep was stopped")
        if len(self._trial.study.directions) > 1:  # Optuna can't report on a multi-objective study: no pruner
            return
        self._trial.report(float(value), int(step))
        if self._trial.should_prune():
            raise TrialPruned(f"pruned at step {step}")

    def should_prune(self) -> bool:
        if len(self._trial.study.directions) > 1:  # Optuna raises here on a multi-objective study: no pruner
            return self.cancelled.is_set()
        return self.cancelled.is_set() or self._trial.should_prune()

    def log(self, metrics: dict[str, Any]) -> None:
        """Extra metrics to keep with the trial (the last value of each is stored)."""
        self.metrics.update(metrics)

    def watch(self, pid: int) -> None:
        """The process running the trial (a worker, a program): its CPU, memory and GPU use are sampled."""
        if self._watch is not None:
            self._watch(pid)

    def _fold_reported(self, fold: int, values: dict[str, float]) -> None:
        self.metrics.update(fold_lists(self.folds, self.fold_metric))  # kept even if this fold prunes it
        self.report(values[self.fold_metric], fold)


@dataclass
class _Stats:
    started_here: int = 0
    failed_in_a_row: int = 0
    succeeded_here: int = 0
    repeats_in_a_row: int = 0
    infeasible_in_a_row: int = 0
    last_error: str = ""


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
        self.executor: Executor = objective if hasattr(objective, "slots") else InProcess(objective)  # type: ignore[assignment,arg-type]
        self.workers = self.executor.slots
        self.slot_envs = slot_envs or [{} for _ in range(self.workers)]
        self.reporter = reporter
        self.pruning = pruning
        self.lock = lock
        self.retries = retries
        self.monitor = monitor
        self.trackers = trackers or []
        self.rng = random.Random(seed)
        self.stats = _Stats()
        self.points = self.space.grid_points() if self.space.finite else None
        # Repeat detection on a finite space, kept up to date as trials finish, so that a step costs
        # O(trials running or queued), not O(all trials) or O(points):
        self._keys: dict[int, str | None] = {}  # finished trial number → its point's key (None: not a tried point)
        self._tried: set[str] = set()  # keys of finished trials' points: only ever grows
        self._folded = 0  # trials[:_folded] are finished and in _tried
        self._untried: list[str] | None = None  # point keys in random order, popped to queue an untried point
        self._point_of: dict[str, dict[str, Any]] = {}
        self.stop_reason = ""
        self.failing = False  # stopped because trials keep failing: the sweep failed (exit 1)
        self.user_error: SpecError | None = None  # stopped because the sweep file is wrong (exit 2)
        self.stopping = threading.Event()
        self.deadline_reached = False
        self.owner = owner_id()
        self._mutex = threading.RLock()  # one slot at a time asks, tells and writes outputs
        self._running: dict[int, TrialContext] = {}  # slot → the trial it runs
        self._slot_error: BaseException | None = None
        self._last_write = 0.0
        self._write_cost = 0.0
        self._counted = 0  # trials[:_counted] are finished: their budget share is in _counted_done
        self._counted_done = 0
        self._records: dict[int, TrialRecord] = {}
        self.max_trials: int | None = None  # `sweepkit agent --count N`: the most trials this run launches
        self.launched = 0
        self.checkpoints: CheckpointsSpec | None = spec.checkpoints

    # -- store reads ----------------------------------------------------------------------------------
    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def records(self) -> list[TrialRecord]:
        out = []
        for t in self.trials():
            if state_of(t) == State.DISCARDED:
                continue
            finished = t.state.is_finished()
            cached = self._records.get(t.number) if finished else None
            if cached is None:
                cached = record(t, self.space, grid=self.grid, sweep_seed=self.spec.strategy.seed)
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
            max_steps=self.spec.budget.steps,
            objectives=[(o.name, o.goal) for o in self.spec.metric.objectives],
            seed=self.spec.strategy.seed,
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
        """Trials left RUNNING by a dead run on this machine (its run lock is free): lost, retried."""
        cutoff = self.lock.earliest_live_start()
        recovered = 0
        for t in self.trials():
            if t.state != TrialState.RUNNING or t.datetime_start is None:
                continue
            if not self._local_and_dead(t, cutoff):
                continue
            if self.lost(t, "worker lost: the run that ran it stopped"):
                recovered += 1
        return recovered

    def _local_and_dead(self, t: FrozenTrial, cutoff: float) -> bool:
        beat = t.system_attrs.get(BEAT)
        if isinstance(beat, dict) and beat.get("owner"):
            host, _, pid = str(beat["owner"]).rpartition(":")
            return host == self.owner.rpartition(":")[0] and pid.isdigit() and self.lock.is_dead(int(pid))
        # No heartbeat yet (a short trial): only a store on this machine's disk can tell by start time; a
        # shared database may hold other machines' live trials, found by heartbeats instead.
        return self.lock.local_store and t.datetime_start.timestamp() < cutoff  # type: ignore[union-attr]

    def lost(self, t: FrozenTrial, why: str) -> bool:
        """A trial whose worker died: FAILED "worker lost", and run again with the same params up to
        `retries` times (then it stays FAILED and counts toward the budget). False if another run got
        to it first or it finished after all."""
        attrs = attrs_of(t)
        tries = int(attrs.get("retries", 0))
        storage = self.study._storage
        retry = tries < self.retries
        if retry:  # not counted: its retry takes its place in the budget
            new_attrs = marked(attrs, State.INTERRUPTED, why)
        else:
            new_attrs = unmarked(attrs, f"{why} (retried {tries} time(s) already: retries exhausted)")
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR, new_attrs)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except Exception:  # finished meanwhile, or another run declared it lost first
            return False
        if retry:
            self._retry(t, tries + 1)
        return True

    def _retry(self, t: FrozenTrial, tries: int | None = None) -> None:
        attrs = requeued(attrs_of(t), retry_of=t.number, retries=tries, seed=self.seed_of(t))
        self.study.enqueue_trial(dict(t.params), user_attrs={ATTR: attrs}, skip_if_exists=False)

    def seed_of(self, trial: optuna.Trial | FrozenTrial) -> int | None:
        """A trial's seed: a retry's is carried on it from the trial it repeats; others derive theirs."""
        carried = attrs_of(trial).get("seed")
        if isinstance(carried, int) and not isinstance(carried, bool):
            return carried
        sweep_seed = self.spec.strategy.seed
        return None if sweep_seed is None else trial_seed(sweep_seed, trial.number)

    def _mark(self, trial: optuna.Trial, state: State, why: str) -> None:
        """Tell the study a trial ended in one of sweepkit's own states (infeasible, interrupted, discarded)."""
        trial.set_user_attr(ATTR, marked(attrs_of(trial), state, why))
        self.study.tell(trial, state=state.told_as)

    # -- repeated points (finite spaces) --------------------------------------------------------------
    def _key_of(self, t: FrozenTrial) -> str | None:
        if state_of(t) in (State.DISCARDED, State.INTERRUPTED):
            return None
        internal = t.params or t.system_attrs.get(FIXED_PARAMS) or {}
        if not internal:
            return None
        try:
            return point_key(self.space.decode(internal, grid=self.grid))
        except Exception:
            return None

    def _seen(self, trials: list[FrozenTrial], *, exclude: int | None = None, queued: bool = True) -> set[str]:
        """Keys of the points tried by finished trials (`self._tried`, updated here) and the set of those of
        trials running now (and queued ones, with `queued`), which is what this returns."""
        while self._folded < len(trials) and trials[self._folded].state.is_finished():
            self._fold(trials[self._folded])
            self._folded += 1
        live: set[str] = set()
        for t in trials[self._folded :]:
            if t.number == exclude:
                continue
            if t.state.is_finished():
                self._fold(t)
            elif queued or t.state != TrialState.WAITING:
                key = self._key_of(t)
                if key is not None:
                    live.add(key)
        return live

    def _fold(self, t: FrozenTrial) -> None:
        if t.number not in self._keys:
            key = self._keys[t.number] = self._key_of(t)
            if key is not None:
                self._tried.add(key)

    def _queue_unseen(self, live: set[str]) -> bool:
        """Queue a point neither tried, running nor queued, drawn at random. The points are shuffled once and
        popped: a point passed over is tried or about to be, so each is looked at about once per sweep."""
        if self.points is None:
            return False
        if self._untried is None:
            self._point_of = {point_key(p): p for p in self.points}
            self._untried = list(self._point_of)
            self.rng.shuffle(self._untried)
        for _ in range(2):
            while self._untried:
                key = self._untried.pop()
                if key not in self._tried and key not in live:
                    self._enqueue_point(self._point_of[key])
                    return True
            # Passed-over points may have come free again (a queued point discarded): look once more.
            self._untried = [k for k in self._point_of if k not in self._tried and k not in live]
            self.rng.shuffle(self._untried)
        return False

    def _enqueue_point(self, point: dict[str, Any]) -> None:
        internal = {}
        for param in self.space.searched:
            if param.name in point:
                internal[param.name] = _encode(param, point[param.name], grid=self.grid)
        self.study.enqueue_trial(internal, skip_if_exists=False)

    # -- the budget -----------------------------------------------------------------------------------
    def _budget(self, trials: list[FrozenTrial]) -> tuple[int, int]:
        """(trials that count toward the budget, trials running now), anywhere."""
        # Finished trials never change: count the finished prefix once, then only the rest (O(1) per trial).
        while self._counted < len(trials) and trials[self._counted].state.is_finished():
            self._counted_done += counts_toward_budget(trials[self._counted])
            self._counted += 1
        rest = trials[self._counted :]
        done = self._counted_done + sum(counts_toward_budget(t) for t in rest)
        running = sum(t.state == TrialState.RUNNING for t in rest)
        return done, running

    def _over_budget(self, trial: optuna.Trial, remaining: int) -> bool:
        """Did other runs take the last trials between our count and our ask?"""
        budget = self.spec.budget.trials
        if budget is None or remaining > RECHECK_WITHIN or self.lock.alone():
            return False
        before = [t for t in self.trials() if t.number < trial.number]
        taken = sum(counts_toward_budget(t) or t.state == TrialState.RUNNING for t in before)
        return taken >= budget

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
            context = self._running.get(slot)
            if context is not None:
                context.cancelled.set()
            self.executor.cancel(slot)

    def reach_deadline(self, label: str) -> None:
        with self._mutex:
            self.deadline_reached = True
            self.stop_reason = f"{label} reached: running trials were stopped and will run again next time"
        self.interrupt()

    def _running_ids(self) -> list[int]:
        return [c._trial._trial_id for c in list(self._running.values())]

    def _lost_elsewhere(self, t: FrozenTrial, why: str) -> None:
        with self._mutex:
            if self.lost(t, why):
                self.reporter.note(f"note: trial {t.number} {why}; it will run again")

    def _slot(self, slot: int) -> None:
        start = time.monotonic()
        timeout = self.spec.budget.timeout
        while not self.stopping.is_set():
            with self._mutex:
                if self.stopping.is_set():
                    return
                if timeout is not None and time.monotonic() - start >= timeout:
                    self.stop_reason = "timeout reached"
                    self.stopping.set()
                    return
                decision = self._next(slot)
            if decision is None:
                continue
            if decision is _WAIT:
                self.stopping.wait(WAIT_FOR_OTHERS_SECONDS)
                continue
            if decision is _STOP:
                return
            trial, flat = decision
            if not self._run(slot, trial, flat):
                return

    def _next(self, slot: int) -> tuple[optuna.Trial, dict[str, Any]] | object | None:
        """Under the mutex: the next trial to run, or _STOP, _WAIT, or None (a point dismissed: ask again)."""
        trials = self.trials()
        budget = self.spec.budget.trials
        done, running = self._budget(trials)
        if budget is not None and done + running >= budget:
            if running > len(self._running):
                return _WAIT  # other runs' trials: if their worker dies, their retry is ours to run
            if not self.stop_reason:
                self.stop_reason = "budget: all trials done"
            return _STOP
        if self.points is not None:
            live = self._seen(trials, queued=False)  # queued points are still to run
            if len(self._tried) + len(live - self._tried) >= len(self.points):
                if running > len(self._running):
                    return _WAIT
                self.stop_reason = f"space exhausted: all {len(self.points)} points have been tried"
                return _STOP
        if self.max_trials is not None and self.launched >= self.max_trials:
            self.stop_reason = f"--count {self.max_trials}: this agent ran its {self.max_trials} trials"
            return _STOP
        decision = self.step(slot, None if budget is None else budget - done - running)
        if isinstance(decision, tuple):
            self.launched += 1
        return decision

    def step(self, slot: int, remaining: int | None) -> tuple[optuna.Trial, dict[str, Any]] | object | None:
        trial = self.study.ask()
        if remaining is not None and self._over_budget(trial, remaining):
            self._discard(trial, "over budget: other runs took the last trials")
            return _WAIT
        try:
            flat = self.space.sample(trial, grid=self.grid)
        except ExprError as exc:
            keep_going = self._finish_failed(trial, {}, f"cannot compute parameters: {exc}", None)
            return None if keep_going else _STOP

        if self.space.finite:
            live = self._seen(self.trials(), exclude=trial.number)
            key = point_key(flat)
            if key in self._tried or key in live:
                self._mark(trial, State.DISCARDED, "repeats a point already tried")
                self.stats.repeats_in_a_row += 1
                if self.stats.repeats_in_a_row >= MAX_REPEATS_IN_A_ROW:
                    self.stop_reason = "space exhausted: the strategy only proposes points already tried"
                    self.stopping.set()
                    return _STOP
                self._queue_unseen(live | {key})
                return None
            self.stats.repeats_in_a_row = 0

        violation = self.space.violation(flat)
        if violation is not None:
            trial.set_constraint(CONSTRAINT, 1.0)
            self._mark(trial, State.INFEASIBLE, violation)
            self.stats.infeasible_in_a_row += 1
            if self.stats.infeasible_in_a_row >= MAX_INFEASIBLE_IN_A_ROW:
                self.stop_reason = f"{MAX_INFEASIBLE_IN_A_ROW} points in a row broke the constraints: relax them"
                self.stopping.set()
                return _STOP
            return None
        self.stats.infeasible_in_a_row = 0
        retry_of, first = self._attempt(trial)
        context = TrialContext(
            trial,
            self.space.nest(flat),
            self.spec.name,
            self.spec.budget.steps,
            slot=slot,
            env=self.slot_envs[slot],
            watch=None,
            resumed=retry_of is not None,
            retry_of=retry_of,
            checkpoint_folder=folder_of(self.spec.output, first),
            seed=self.seed_of(trial),
        )
        context.fold_metric = self.spec.metric.name
        self._running[slot] = context
        self.stats.started_here += 1
        self.reporter.trial_started(trial.number, context.params)
        return trial, flat

    def _attempt(self, trial: optuna.Trial) -> tuple[int | None, int]:
        """(the attempt this trial repeats, the first attempt of its line): a retry's checkpoints are its first's."""
        retry_of = attrs_of(trial).get("retry_of")  # Optuna's copy read at ask: no store read here
        if retry_of is None:
            return None, trial.number
        parent = {t.number: attrs_of(t).get("retry_of") for t in self.trials()}
        parent[trial.number] = int(retry_of)
        return int(retry_of), first_attempt(trial.number, parent)

    def _discard(self, trial: optuna.Trial, why: str) -> None:
        """A trial asked for but never run: out of the results and the budget; a queued point goes back,
        with its history (a retry's `retry_of`) and without the mark, so that it counts when it runs."""
        fixed = self.study._storage.get_trial(trial._trial_id).system_attrs.get(FIXED_PARAMS)
        history = requeued(attrs_of(trial))
        self._mark(trial, State.DISCARDED, why)
        if fixed:
            self.study.enqueue_trial(fixed, user_attrs={ATTR: history}, skip_if_exists=False)

    def _run(self, slot: int, trial: optuna.Trial, flat: dict[str, Any]) -> bool:
        context = self._running[slot]
        sampler = None
        if self.monitor is not None:

            def watch(pid: int) -> None:
                nonlocal sampler
                sampler = self.monitor(pid, slot)  # type: ignore[misc]

            context._watch = watch
        finish: dict[str, Any]
        try:
            folder = str(context.checkpoint_folder) if context.checkpoint_folder else None
            with _in_trial(folder, context.resumed):  # `sweepkit.checkpoint_dir()` in a function run here
                result = self.executor.call(slot, context.params, context)
            value, metrics = fold_result(result, self.spec.metric, context.folds)
            finish = {"state": TrialState.COMPLETE, "value": value, "metrics": {**context.metrics, **metrics}}
        except TrialPruned as exc:
            finish = {"state": TrialState.PRUNED, "metrics": {**context.metrics}, "reason": self._why(trial, exc)}
            finish["steps"] = getattr(exc, "steps", None)  # a program's: what it ran until the stop reached it
        except (KeyboardInterrupt, TrialInterrupted) as exc:
            with self._mutex:
                self._running.pop(slot, None)
                why = (
                    "interrupted: the sweep was stopped (Ctrl+C or SIGTERM)"
                    if isinstance(exc, KeyboardInterrupt)
                    else self.stop_reason or str(exc)
                )
                self._mark(trial, State.INTERRUPTED, why)
                self._retry(self.study._storage.get_trial(trial._trial_id))
            self._stop_sampler(sampler)
            if isinstance(exc, KeyboardInterrupt):
                raise
            return False
        except WorkerLost as exc:
            with self._mutex:
                self._running.pop(slot, None)
                self.lost(self.study._storage.get_trial(trial._trial_id), str(exc))
                self.reporter.note(f"note: trial {trial.number} {exc}; it will run again")
            self._stop_sampler(sampler)
            return True
        except _UserError as exc:
            finish = {"state": TrialState.FAIL, "metrics": context.metrics, "error": exc.message, "tb": exc.traceback}
        except TrialError as exc:
            finish = {"state": TrialState.FAIL, "metrics": context.metrics, "error": str(exc)}
            finish["missing"] = isinstance(exc, MetricMissing)
        except StoreError:  # the store is down (a report could not be written): the sweep stops, saying so
            with self._mutex:
                self._running.pop(slot, None)
            self._stop_sampler(sampler)
            raise
        except Exception as exc:  # the user's code failed: record it and go on with the sweep
            tb = traceback.format_exc().rstrip().splitlines()[-TRACEBACK_LINES:]
            error = f"{type(exc).__name__}: {exc}"
            finish = {"state": TrialState.FAIL, "metrics": context.metrics, "error": error, "tb": "\n".join(tb)}
        write_constraints(trial, context.constraints)
        resources = self._stop_sampler(sampler)
        with self._mutex:
            self._running.pop(slot, None)
            return self._finish(
                trial,
                finish["state"],
                finish.get("value"),
                finish["metrics"],
                finish.get("error"),
                finish.get("tb"),
                reason=finish.get("reason"),
                slot=slot,
                resources=resources,
                steps=finish.get("steps"),
                missing=finish.get("missing", False),
            )

    @staticmethod
    def _stop_sampler(sampler: Any) -> dict[str, Any]:
        if sampler is None:
            return {}
        try:
            return dict(sampler.stop() or {})
        except Exception:  # monitoring is a nicety: never fail a trial over it
            return {}

    def _why(self, trial: optuna.Trial, exc: TrialPruned) -> str:
        """Why, in users' words, computed before the study hears of it (W&B users never learn why)."""
        if self.pruning is not None and self.pruning.name != "none":
            return f"{self.pruning.name}: {explain(self.pruning, self.study, trial)}"
        return str(exc) or "stopped by the trial (TrialPruned)"

    def _finish_failed(self, trial: optuna.Trial, metrics: dict[str, Any], error: str, tb: str | None) -> bool:
        return self._finish(trial, TrialState.FAIL, None, metrics, error, tb)

    def _finish(
        self,
        trial: optuna.Trial,
        state: TrialState,
        value: float | list[float] | None,
        metrics: dict[str, Any],
        error: str | None,
        tb: str | None,
        *,
        reason: str | None = None,
        slot: int | None = None,
        resources: dict[str, Any] | None = None,
        steps: int | None = None,
        missing: bool = False,
    ) -> bool:
        """Under the mutex: tell the store, refresh outputs, apply the failure policy and the target.

        `steps`: the steps the trial really spent, when more than it reported to the pruner; `missing`: it
        failed for want of the sweep's metric."""
        attrs: dict[str, Any] = {}
        if reason:
            attrs["reason"] = reason
        if steps is not None:
            attrs["steps"] = steps
        extra = {k: v for k, v in metrics.items() if k != self.spec.metric.name or state != TrialState.COMPLETE}
        if extra:
            attrs["metrics"] = metrics
        if error:
            attrs["error"] = error
        if tb:
            attrs["traceback"] = tb
        if resources:
            attrs["resources"] = resources
        if self.workers > 1 and slot is not None:
            attrs["worker"] = f"{self.owner}/{slot}"
        if attrs:  # one store write, and none at all for a plain number (keeps per-trial overhead low)
            trial.set_user_attr(ATTR, {**requeued(attrs_of(trial)), **attrs})  # its history, and what it did
        try:
            frozen = self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except (RuntimeError, ValueError) as exc:  # another run declared it lost and queued it again
            self.reporter.note(f"note: trial {trial.number} finished after it was declared lost: {exc}")
            return True

        if state == TrialState.FAIL:
            self.stats.failed_in_a_row += 1
            self.stats.last_error = error or ""
        else:
            self.stats.failed_in_a_row = 0
            self.stats.succeeded_here += 1
        result = self.write()
        rec = record(frozen, self.space, grid=self.grid, sweep_seed=self.spec.strategy.seed)
        if result is None:
            self.reporter.trial_finished(rec, None, {})
        else:
            self.reporter.trial_finished(rec, result.best_trial, result.counts)
        for tracker in self.trackers:
            try:
                tracker.trial_finished(frozen, rec)
            except Exception as exc:  # tracking is a copy of what the store holds: never stop the sweep
                self.reporter.note(f"note: {type(tracker).__name__} could not log trial {rec.number}: {exc}")
        self.keep_checkpoints()

        if state == TrialState.FAIL:
            if missing and not self._metric_seen():
                self._stop_for_missing_metric(trial.number, error or "")
                return False
            limit = self.spec.budget.max_failures
            if self.stats.succeeded_here == 0 and self.stats.started_here >= FIRST_TRIALS_ALL_FAILING:
                self.failing = True
                self.stop_reason = (
                    f"the first {self.stats.started_here} trials all failed, which is probably a bug in the trial; "
                    f"the last error: {self.stats.last_error}"
                )
                self.stopping.set()
                return False
            if limit is not None and self.stats.failed_in_a_row >= limit:
                self.failing = True
                self.stop_reason = (
                    f"{self.stats.failed_in_a_row} trials failed in a row (budget.max_failures); "
                    f"the last error: {self.stats.last_error}"
                )
                self.stopping.set()
                return False
        target = self.spec.metric.target
        if (
            state == TrialState.COMPLETE
            and target is not None
            and value is not None
            and math.isfinite(value)
            and rec.feasible
        ):
            reached = value >= target if self.spec.metric.maximize else value <= target
            if reached:
                self.stop_reason = f"target reached: {self.spec.metric.name} = {value:g} (target {target:g})"
                self.stopping.set()
                return False
        return True

    def keep_checkpoints(self) -> None:
        """`checkpoints: {keep: ...}`: drop the checkpoint folders of trials out of the best k (and of pruned
        and failed ones), never those of trials running or queued to run again."""
        rule = self.checkpoints
        if rule is None or rule.keep == "all":
            return
        try:
            folders = self.spec.output / CHECKPOINTS
            if not folders.is_dir() or next(folders.iterdir(), None) is None:
                return  # nothing saved yet: no need to read the trials back
            prune_checkpoints(
                self.spec.output, self.records(), keep=rule.keep, k=rule.count, maximize=self.spec.metric.maximize
            )
        except OSError as exc:  # a checkpoint folder left is disk space, not a reason to stop the sweep
            self.reporter.note(f"note: could not remove old checkpoints: {exc}")

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


_STOP = object()
_WAIT = object()


__all__ = ["Engine", "Reporter", "SweepFailed", "TrialContext"]

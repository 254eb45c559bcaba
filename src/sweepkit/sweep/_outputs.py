"""The sweep's outputs while it runs: its trials read back as records (finished ones cached), the files in
`sweeps/<name>/` refreshed at a bounded cost, and `checkpoints: {keep: ...}` applied after each trial."""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna

from sweepkit.results import CHECKPOINTS, SweepResult, TrialRecord, prune_checkpoints, record, write_outputs
from sweepkit.spec import CheckpointsSpec, Spec
from sweepkit.strategy import Strategy
from sweepkit.trial_state import State, state_of

OUTPUT_REFRESH_SECONDS = 2.0


class Outputs:
    """Records and output files of one sweep, as this run sees them."""

    def __init__(self, spec: Spec, study: optuna.Study, strategy: Strategy) -> None:
        self.spec = spec
        self.study = study
        self.strategy = strategy
        self._records: dict[int, TrialRecord] = {}
        self._last_write = 0.0
        self._write_cost = 0.0
        self.checkpoints: CheckpointsSpec | None = spec.checkpoints

    def record(self, trial: optuna.trial.FrozenTrial) -> TrialRecord:
        return record(trial, self.spec.space, grid=self.strategy.grid, sweep_seed=self.spec.strategy.seed)

    def records(self) -> list[TrialRecord]:
        out = []
        for t in self.study.get_trials(deepcopy=False):
            if state_of(t) == State.DISCARDED:
                continue
            finished = t.state.is_finished()
            cached = self._records.get(t.number) if finished else None
            if cached is None:
                cached = self.record(t)
                if finished:
                    self._records[t.number] = cached
            out.append(cached)
        return out

    def result(self, stop_reason: str) -> SweepResult:
        spec = self.spec
        return SweepResult(
            name=spec.name,
            metric=spec.metric.name,
            goal=spec.metric.goal,
            strategy=self.strategy.name,
            strategy_reason=self.strategy.reason,
            output=spec.output,
            trials=self.records(),
            stop_reason=stop_reason,
            dialect=spec.dialect,
            max_steps=spec.budget.steps,
            objectives=[(o.name, o.goal) for o in spec.metric.objectives],
            seed=spec.strategy.seed,
        )

    def write(self, stop_reason: str, *, force: bool = False) -> SweepResult | None:
        """Refresh the output files, at most every 2 s, and rarer as they grow: writing them never takes
        more than a tenth of the sweep's time (10,000 trials take ~0.7 s to write)."""
        now = time.monotonic()
        if not force and now - self._last_write < max(OUTPUT_REFRESH_SECONDS, 10 * self._write_cost):
            return None
        result = self.result(stop_reason)
        write_outputs(result, self.spec.resolved if force else None)
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - now
        return result

    def keep_checkpoints(self, note: Callable[[str], None]) -> None:
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
            note(f"note: could not remove old checkpoints: {exc}")


__all__ = ["OUTPUT_REFRESH_SECONDS", "Outputs"]

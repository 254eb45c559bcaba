"""Crash recovery: a trial whose worker died (a lost worker process or Ray node, a killed run) is marked
"worker lost" and queued again with the same params, its history (`retry_of`, `retries`) and its seed, up to
`trial.retries` times; trials a dead run on this machine left RUNNING are found by its free run lock.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepkit.seeding import trial_seed
from sweepkit.sweep._owners import RunLock
from sweepkit.trial_state import ATTR, BEAT, State, attrs_of, marked, requeued, unmarked, with_params


def seed_of(trial: optuna.Trial | FrozenTrial, sweep_seed: int | None) -> int | None:
    """A trial's seed: a retry's is carried on it from the trial it repeats; others derive theirs."""
    carried = attrs_of(trial).get("seed")
    if isinstance(carried, int) and not isinstance(carried, bool):
        return carried
    return None if sweep_seed is None else trial_seed(sweep_seed, trial.number)


class Recovery:
    """Lost trials of this sweep: declared lost, and run again."""

    def __init__(
        self, study: optuna.Study, lock: RunLock, owner: str, *, retries: int = 1, sweep_seed: int | None = None
    ) -> None:
        self.study = study
        self.lock = lock
        self.owner = owner  # host:pid of this run (heartbeats name it)
        self.retries = retries
        self.sweep_seed = sweep_seed

    def recover(self, trials: list[FrozenTrial]) -> int:
        """Trials left RUNNING by a dead run on this machine (its run lock is free): lost, retried."""
        cutoff = self.lock.earliest_live_start()
        recovered = 0
        for t in trials:
            if t.state != TrialState.RUNNING or t.datetime_start is None:
                continue
            if self._local_and_dead(t, cutoff) and self.lost(t, "worker lost: the run that ran it stopped"):
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

    def lost(self, t: FrozenTrial, why: str, params: dict[str, Any] | None = None) -> bool:
        """A trial whose worker died: FAILED "worker lost", and run again with the same params up to
        `retries` times (then it stays FAILED and counts toward the budget). False if another run got
        to it first or it finished after all. `params`: the user's flat params, when this run sampled it."""
        attrs = attrs_of(t)
        tries = int(attrs.get("retries", 0))
        storage = self.study._storage
        retry = tries < self.retries
        if retry:  # not counted: its retry takes its place in the budget
            new_attrs = marked(attrs, State.INTERRUPTED, why)
        else:
            new_attrs = unmarked(attrs, f"{why} (retried {tries} time(s) already: retries exhausted)")
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR, with_params(new_attrs, params))
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except Exception:  # finished meanwhile, or another run declared it lost first
            return False
        if retry:
            self.retry(t, tries + 1)
        return True

    def retry(self, t: FrozenTrial, tries: int | None = None) -> None:
        """Queue a trial's point again, with its history and its seed (an interrupted one keeps its count)."""
        attrs = requeued(attrs_of(t), retry_of=t.number, retries=tries, seed=seed_of(t, self.sweep_seed))
        self.study.enqueue_trial(dict(t.params), user_attrs={ATTR: attrs}, skip_if_exists=False)


__all__ = ["Recovery", "seed_of"]

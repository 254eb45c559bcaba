"""Heartbeats: finding trials whose worker died on any machine, in bounded time, without trusting clocks.

Optuna 5 keeps heartbeats only in RDBStorage (its JournalStorage, our embedded store, has none), so this is
our own and works on every store: while a trial runs, its run bumps a counter in the trial's system attrs
every `interval` seconds. Any run watching the sweep notes when each counter last changed *by its own clock*;
a counter that hasn't moved for `grace` seconds belongs to a lost worker. No clock is compared across
machines. The same thread also finds trials of dead runs on this machine at once, through their run locks.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweepkit.trial_state import BEAT

DEFAULT_INTERVAL = 10.0


def interval_seconds() -> float:
    """`SWEEPKIT_HEARTBEAT_SECONDS` lets tests (and impatient clusters) find lost workers faster."""
    try:
        return max(0.05, float(os.environ.get("SWEEPKIT_HEARTBEAT_SECONDS", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat(threading.Thread):
    """Beats for this run's running trials; calls `lost(trial, why)` for others' trials that went silent."""

    def __init__(
        self,
        storage: BaseStorage,
        study_id: int,
        running: Callable[[], list[int]],
        lost: Callable[[FrozenTrial, str], None],
        *,
        interval: float | None = None,
    ) -> None:
        super().__init__(name="sweepkit-heartbeat", daemon=True)
        self.storage = storage
        self.study_id = study_id
        self.running = running
        self.lost = lost
        self.interval = interval or interval_seconds()
        self.grace = 3 * self.interval
        self.owner = owner_id()
        self._count = 0
        self._seen: dict[int, tuple[Any, float]] = {}  # trial id → (last beat seen, when it changed)
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                self.check()
            except Exception:  # a store hiccup must not kill the thread; the loop's own calls will say so
                # Beats could not get through meanwhile: silence is no evidence, start watching afresh.
                self._seen.clear()
                continue

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> None:
        self._count += 1
        for trial_id in self.running():
            try:
                self.storage.set_trial_system_attr(trial_id, BEAT, {"owner": self.owner, "n": self._count})
            except Exception:  # finished between the listing and the write
                continue

    def check(self) -> None:
        now = time.monotonic()
        mine = set(self.running())
        alive: set[int] = set()
        for trial in self.storage.get_all_trials(self.study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            if trial._trial_id in mine:
                continue
            alive.add(trial._trial_id)
            beat = trial.system_attrs.get(BEAT)
            marker = (beat or {}).get("n") if isinstance(beat, dict) else None
            seen = self._seen.get(trial._trial_id)
            if seen is None or seen[0] != marker:
                self._seen[trial._trial_id] = (marker, now)
                continue
            silent = now - seen[1]
            if silent >= self.grace:
                self._seen.pop(trial._trial_id, None)
                who = beat.get("owner") if isinstance(beat, dict) else "an unknown worker"
                self.lost(trial, f"worker lost: no heartbeat from {who} for {silent:.0f}s")
        for trial_id in list(self._seen):
            if trial_id not in alive:
                del self._seen[trial_id]


__all__ = ["BEAT", "Heartbeat", "interval_seconds", "owner_id"]

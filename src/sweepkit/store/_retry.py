"""Riding out a store that drops mid-sweep: retry with exponential backoff, then stop saying so.

Two wrappers, one per kind of shared store, each at the level where a retry is safe:

- `RetryingStorage` wraps a whole Optuna storage (SQLAlchemy stores: `_CachedStorage` around `RDBStorage`).
  Optuna's RDBStorage already pings pooled connections before use (`pool_pre_ping`, set by `Store`) and
  retries a deadlocked `create_new_trial` five times, but a server that is down for seconds still surfaces as
  `StorageInternalError`/`OperationalError` on the next call. Each call is one transaction, so a call that
  failed changed nothing, and retrying it is safe, with three exceptions where the server may have committed
  but the reply was lost with the connection:
    * `create_new_study` / `delete_study`: the retry finds the study already created / already gone; both
      are recognised and reported as success.
    * `set_trial_state_values`: the retry finds the trial already finished; if it is in the state we asked
      for, that is success. Moving a WAITING trial to RUNNING (popping an enqueued trial) whose first attempt
      went through comes back False as if another worker took it: the trial stays RUNNING with nobody on it.
    * `create_new_trial`: a retry after a lost reply creates a second trial, and the first stays RUNNING
      with nobody on it.
  Those strays (only possible when a connection drops in the instant between commit and reply) are what
  crash recovery already handles: a RUNNING trial whose run is gone is marked INTERRUPTED by the run lock
  check on the same machine and by heartbeats across machines, and its params are queued again.
- `RetryingJournalBackend` wraps the log backend under Optuna's `JournalStorage` (Redis). Retrying above
  JournalStorage would append an operation twice; below it, reads resume at the first unread log and each log
  is appended in its own atomic Redis call, so a retry re-sends nothing that already went through (again
  except a reply lost after the write, which at worst leaves the stray trial described above).

Before the store has been opened, nothing is retried: a wrong host or a closed port should fail in a second,
not after a minute. Once the store has been unreachable for the whole retry window, the call raises
`StoreError` (the sweep exits 1, its finished trials safe in the store), and later calls make one attempt each
instead of waiting again, so the sweep's last writes of its outputs fail fast too.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Container, Sequence
from typing import Any, TypeVar

from optuna._typing import JSONSerializable
from optuna.distributions import BaseDistribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal._base import BaseJournalSnapshot
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from sweepkit.errors import StoreError, UsageError
from sweepkit.store._faults import Fault, classify

T = TypeVar("T")

FIRST_DELAY = 0.5
MAX_DELAY = 8.0


def fault_error(fault: Fault, where: str) -> UsageError | StoreError:
    """The one message for a store that cannot be used, and whose fault it is (exit 2 yours, 1 the store's)."""
    if fault.kind == "login":
        return UsageError(f"the store at {where} refused the login ({fault.detail}): check the user and password")
    if fault.kind == "database":
        if fault.database:
            return UsageError(
                f'the store at {where} has no database "{fault.database}": create it '
                f"(CREATE DATABASE {fault.database}) or fix the URL"
            )
        return UsageError(f"the store at {where} has no such database ({fault.detail}): fix the URL")
    if fault.kind == "unreachable":
        return StoreError(f"cannot reach the store at {where}: {fault.detail}")
    return StoreError(f"cannot use the store at {where}: {fault.detail}")


class Retry:
    """The retry policy of one store, shared by all its calls (and threads)."""

    def __init__(self, seconds: float, where: str, *, scrub: Callable[[str], str] = str) -> None:
        self.seconds = seconds
        self.where = where
        self.scrub = scrub
        self.armed = False  # off until the store is open: opening fails fast
        self.gave_up: str | None = None  # the message, once the store stayed down for the whole window
        self.sleep: Callable[[float], None] = time.sleep

    def _raise(self, exc: BaseException, fault: Fault) -> None:
        error = fault_error(Fault(fault.kind, self.scrub(fault.detail), fault.database), self.where)
        raise error from exc

    def call(self, fn: Callable[..., T], *args: Any, recover: Callable[[Exception], T] | None = None) -> T:
        """`fn(*args)`, retried while the store is unreachable. `recover(exc)` decides about an error raised
        by a retry: it may say the first attempt went through after all (see the module docstring)."""
        started: float | None = None
        delay = FIRST_DELAY
        fault: Fault | None = None
        while True:
            try:
                result = fn(*args)
            except Exception as exc:
                if isinstance(exc, StoreError | UsageError):
                    raise
                fault = classify(exc)
                if not fault.retryable:
                    if fault.kind in ("login", "database"):
                        self._raise(exc, fault)
                    if started is not None and recover is not None:
                        return recover(exc)
                    raise
                if not self.armed or self.seconds <= 0:
                    self._raise(exc, fault)
                if self.gave_up is not None:  # already waited a whole window: one attempt per call
                    raise StoreError(self.gave_up) from exc
                now = time.monotonic()
                if started is None:
                    started = now
                    print(
                        f"sweepkit: the store at {self.where} is unreachable ({self.scrub(fault.detail)}); "
                        f"retrying for up to {self.seconds:g} s",
                        file=sys.stderr,
                    )
                waited = now - started
                if waited + delay > self.seconds:
                    self.gave_up = (
                        f"the store at {self.where} has been unreachable for {self.seconds:g} s "
                        f"({self.scrub(fault.detail)}); finished trials are kept in it; run again to resume"
                    )
                    raise StoreError(self.gave_up) from exc
                # Jitter: agents on many machines that lost the store together do not all come back at once.
                self.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, MAX_DELAY)
                continue
            if started is not None or self.gave_up is not None:
                took = f" after {time.monotonic() - started:.1f} s" if started is not None else ""
                print(f"sweepkit: the store at {self.where} is back{took}", file=sys.stderr)
                self.gave_up = None
            return result


class RetryingStorage(BaseStorage, BaseHeartbeat):
    """An Optuna storage whose every call is retried while the store is unreachable (see the module doc).

    Heartbeat calls pass through when the storage underneath keeps heartbeats, so Optuna's own heartbeat
    machinery (`is_heartbeat_enabled`, `fail_stale_trials`) works through the wrapper.
    """

    def __init__(self, inner: BaseStorage, retry: Retry) -> None:
        self.inner = inner
        self.retry = retry

    # -- studies ----------------------------------------------------------------------------------------
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        def recover(exc: Exception) -> int:
            if isinstance(exc, DuplicatedStudyError) and study_name is not None:
                return self.inner.get_study_id_from_name(study_name)  # our first attempt created it
            raise exc

        return self.retry.call(self.inner.create_new_study, directions, study_name, recover=recover)

    def delete_study(self, study_id: int) -> None:
        def recover(exc: Exception) -> None:
            if not isinstance(exc, KeyError):  # KeyError: gone already, by our first attempt
                raise exc

        self.retry.call(self.inner.delete_study, study_id, recover=recover)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.retry.call(self.inner.set_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self.retry.call(self.inner.set_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.retry.call(self.inner.get_study_id_from_name, study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.retry.call(self.inner.get_study_name_from_id, study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.retry.call(self.inner.get_study_directions, study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.retry.call(self.inner.get_study_user_attrs, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.retry.call(self.inner.get_study_system_attrs, study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self.retry.call(self.inner.get_all_studies)

    # -- trials -----------------------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        # Not idempotent: see the module docstring for the stray trial a lost reply can leave.
        return self.retry.call(self.inner.create_new_trial, study_id, template_trial)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: BaseDistribution
    ) -> None:
        self.retry.call(self.inner.set_trial_param, trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self.retry.call(self.inner.get_trial_id_from_study_id_trial_number, study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self.retry.call(self.inner.get_trial_number_from_id, trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self.retry.call(self.inner.get_trial_param, trial_id, param_name)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        def recover(exc: Exception) -> bool:
            if isinstance(exc, UpdateFinishedTrialError):
                stored = self.inner.get_trial(trial_id)
                same_values = values is None or list(stored.values or []) == list(values)
                if stored.state == state and same_values:
                    return True  # our first attempt went through; only its reply was lost
            raise exc

        return self.retry.call(self.inner.set_trial_state_values, trial_id, state, values, recover=recover)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.retry.call(self.inner.set_trial_intermediate_value, trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.retry.call(self.inner.set_trial_user_attr, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        self.retry.call(self.inner.set_trial_system_attr, trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self.retry.call(self.inner.get_trial, trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self.retry.call(self.inner.get_all_trials, study_id, deepcopy, states)

    def get_n_trials(self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        return self.retry.call(self.inner.get_n_trials, study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self.retry.call(self.inner.get_best_trial, study_id)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        return self.retry.call(self.inner.get_trial_params, trial_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return self.retry.call(self.inner.get_trial_user_attrs, trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return self.retry.call(self.inner.get_trial_system_attrs, trial_id)

    def remove_session(self) -> None:
        self.inner.remove_session()

    # -- heartbeats (when the storage underneath has them) ----------------------------------------------
    def record_heartbeat(self, trial_id: int) -> None:
        if isinstance(self.inner, BaseHeartbeat):
            self.retry.call(self.inner.record_heartbeat, trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        if isinstance(self.inner, BaseHeartbeat):
            return self.retry.call(self.inner._get_stale_trial_ids, study_id)
        return []

    def get_heartbeat_interval(self) -> int | None:
        return self.inner.get_heartbeat_interval() if isinstance(self.inner, BaseHeartbeat) else None

    def get_heartbeat_stale_trial_callback(self) -> Callable[[Any, FrozenTrial], None] | None:
        if isinstance(self.inner, BaseHeartbeat):
            return self.inner.get_heartbeat_stale_trial_callback()
        return None


class RetryingJournalBackend(BaseJournalBackend, BaseJournalSnapshot):
    """A journal log backend (Redis) whose reads and appends are retried while it is unreachable."""

    def __init__(self, inner: BaseJournalBackend, retry: Retry) -> None:
        self.inner = inner
        self.retry = retry

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        # Read to the end before handing anything on; a drop halfway resumes at the first log not yet read.
        collected: list[dict[str, Any]] = []

        def read_rest() -> list[dict[str, Any]]:
            for log in self.inner.read_logs(log_number_from + len(collected)):
                collected.append(log)
            return collected

        return self.retry.call(read_rest)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        for log in logs:  # one at a time: a retry re-sends only the log whose write failed
            self.retry.call(self.inner.append_logs, [log])

    def save_snapshot(self, snapshot: bytes) -> None:
        if isinstance(self.inner, BaseJournalSnapshot):
            self.retry.call(self.inner.save_snapshot, snapshot)

    def load_snapshot(self) -> bytes | None:
        if isinstance(self.inner, BaseJournalSnapshot):
            return self.retry.call(self.inner.load_snapshot)
        return None


__all__ = ["Retry", "RetryingJournalBackend", "RetryingStorage", "fault_error"]

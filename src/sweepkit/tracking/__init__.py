"""Trackers: copies of a sweep's trials in MLflow or W&B, for people who browse runs there.

The store stays the record; a tracker only mirrors it. The engine calls, in this order and never from two
threads at once: `sweep_started(spec, study)` once the study is open, `trial_finished(frozen, record)` after
each trial is told to the store, `sweep_finished(result)` after the output files are written. MLflow and W&B
are optional extras, imported only by the tracker that needs them, and only when a sweep file asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sweepkit.errors import SweepkitError

if TYPE_CHECKING:
    import optuna

    from sweepkit.results import SweepResult, TrialRecord
    from sweepkit.spec import Spec, TrackingSpec


class TrackingError(SweepkitError):
    """A tracker cannot start (its library is missing, its server cannot be reached): exit 1, before any trial."""

    exit_code = 1


class Tracker(Protocol):
    def sweep_started(self, spec: Spec, study: optuna.Study) -> None: ...
    def trial_finished(self, trial: optuna.trial.FrozenTrial, record: TrialRecord) -> None: ...
    def sweep_finished(self, result: SweepResult) -> None: ...


Note = Callable[[str], None]


def sweep_key(spec: Spec, study: optuna.Study) -> str:
    """The same sweep in every process that runs it (how a resumed sweep finds its MLflow parent run or its
    W&B runs); a `--fresh` start, a new study, gets a new key."""
    import hashlib

    identity = f"{spec.name}|{spec.output}|{spec.storage or 'embedded'}|{study._study_id}"
    return hashlib.sha1(identity.encode()).hexdigest()[:16]


def settings(spec: Spec) -> TrackingSpec:
    """The sweep file's `tracking:` section (also written `mlflow:` / `wandb:` at the top), validated."""
    return spec.tracking


def build(spec: Spec, *, note: Note | None = None) -> list[Tracker]:
    """The trackers the sweep file asks for; [] when none. `note` receives warnings (a trial that could not
    be logged); it defaults to stderr."""
    config = settings(spec)
    trackers: list[Tracker] = []
    if config.mlflow.enabled:
        from sweepkit.tracking.mlflow import MlflowTracker

        trackers.append(MlflowTracker(config.mlflow, note=note))
    if config.wandb.enabled and config.wandb.mode != "disabled":
        from sweepkit.tracking.wandb import WandbTracker

        trackers.append(WandbTracker(config.wandb, note=note))
    return trackers


def replay(spec: Spec, study: optuna.Study, trackers: list[Tracker], result: SweepResult) -> None:
    """Log a finished sweep read back from the store: what the engine does live, after the fact.

    Used by tests, and to copy a sweep that ran without tracking into MLflow or W&B later.
    """
    from sweepkit.trial_state import state_of

    by_number = {t.number: t for t in result.trials}
    for tracker in trackers:
        tracker.sweep_started(spec, study)
    for frozen in study.get_trials(deepcopy=False):
        if not state_of(frozen).counts_toward_budget:  # as live: trials that never ran or run again
            continue
        if frozen.number in by_number:
            for tracker in trackers:
                tracker.trial_finished(frozen, by_number[frozen.number])
    for tracker in trackers:
        tracker.sweep_finished(result)


__all__ = ["Tracker", "TrackingError", "build", "replay", "settings", "sweep_key"]

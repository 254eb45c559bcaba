"""Crash recovery (sweep/_recovery.py): lost trials marked and queued again with their history and seed,
and trials a dead run left RUNNING found by its free run lock."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from sweepkit.seeding import trial_seed
from sweepkit.sweep._heartbeat import owner_id
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._recovery import Recovery, seed_of
from sweepkit.trial_state import ATTR, State, attrs_of, state_of


def _recovery(tmp_path: Path, study: optuna.Study, retries: int = 1) -> tuple[Recovery, RunLock]:
    lock = RunLock(tmp_path / "runs", "s").__enter__()
    lock.local_store = True
    return Recovery(study, lock, owner_id(), retries=retries, sweep_seed=5), lock


def test_a_lost_trial_is_interrupted_and_runs_again_with_its_params_and_seed(tmp_path: Path) -> None:
    study = optuna.create_study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    recovery, lock = _recovery(tmp_path, study)
    try:
        frozen = study.get_trials(deepcopy=False)[0]
        assert recovery.lost(frozen, "worker lost: killed")
        lost, retry = study.get_trials(deepcopy=False)
        assert state_of(lost) == State.INTERRUPTED and attrs_of(lost)["error"] == "worker lost: killed"
        assert retry.state == TrialState.WAITING
        assert attrs_of(retry) == {"retry_of": trial.number, "retries": 1, "seed": trial_seed(5, trial.number)}
        assert not recovery.lost(frozen, "again")  # told already: another run got to it first
    finally:
        lock.__exit__()


def test_retries_exhausted_the_trial_stays_failed(tmp_path: Path) -> None:
    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={ATTR: {"retry_of": 0, "retries": 1}})
    study.ask()
    recovery, lock = _recovery(tmp_path, study, retries=1)
    try:
        assert recovery.lost(study.get_trials(deepcopy=False)[0], "worker lost: killed")
        (t,) = study.get_trials(deepcopy=False)  # nothing queued
        assert state_of(t) == State.FAILED and "retries exhausted" in attrs_of(t)["error"]
    finally:
        lock.__exit__()


def test_a_retry_keeps_the_seed_it_carries() -> None:
    study = optuna.create_study()
    study.enqueue_trial({}, user_attrs={ATTR: {"retry_of": 0, "seed": 123}})
    assert seed_of(study.ask(), 5) == 123
    assert seed_of(study.ask(), 5) == trial_seed(5, 1)
    assert seed_of(study.ask(), None) is None


def test_running_trials_older_than_every_live_run_are_a_dead_runs(tmp_path: Path) -> None:
    """On a store on this machine's disk, a RUNNING trial (no heartbeat yet) that started before every live
    run of the sweep belongs to a dead run; one started after belongs to a live run and is left alone."""
    study = optuna.create_study()
    study.ask()  # a dead run's trial, left RUNNING
    recovery, lock = _recovery(tmp_path, study)
    try:
        study.ask()  # a trial of a run started after this one's start: alive
        assert recovery.recover(study.get_trials(deepcopy=False)) == 1
        first, second, retry = study.get_trials(deepcopy=False)
        assert state_of(first) == State.INTERRUPTED and second.state == TrialState.RUNNING
        assert attrs_of(retry)["retry_of"] == first.number
        assert recovery.recover(study.get_trials(deepcopy=False)) == 0
    finally:
        lock.__exit__()

"""Budget accounting (sweep/_budget.py) on a real Optuna study: what counts, what runs, racing runs."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from sweepkit.sweep._budget import RECHECK_WITHIN, Budget
from sweepkit.trial_state import ATTR, State, marked


def _study() -> optuna.Study:
    study = optuna.create_study()
    for value in (1.0, 2.0):
        study.tell(study.ask(), value)  # two complete: they count
    study.tell(study.ask(), state=TrialState.PRUNED)  # counts
    study.tell(study.ask(), state=TrialState.FAIL)  # a real failure counts
    interrupted = study.ask()
    interrupted.set_user_attr(ATTR, marked({}, State.INTERRUPTED, "Ctrl+C"))
    study.tell(interrupted, state=TrialState.FAIL)  # retried: its retry takes its place
    study.ask()  # running
    return study


def test_complete_pruned_and_failed_count_interrupted_not_and_running_apart() -> None:
    budget = Budget(10)
    assert budget.count(_study().get_trials(deepcopy=False)) == (4, 1)


def test_the_finished_prefix_is_counted_once_and_later_changes_are_seen() -> None:
    study = _study()
    budget = Budget(10)
    budget.count(study.get_trials(deepcopy=False))
    running = study.get_trials(deepcopy=False)[-1]
    study.tell(running.number, 3.0)
    assert budget.count(study.get_trials(deepcopy=False)) == (5, 0)
    assert budget.count(study.get_trials(deepcopy=False)) == (5, 0)  # not counted twice


def test_spent_and_remaining() -> None:
    assert Budget(5).spent(4, 1) and not Budget(5).spent(3, 1)
    assert Budget(5).remaining(3, 1) == 1
    assert not Budget(None).spent(100, 100) and Budget(None).remaining(1, 1) is None


def test_an_agents_count_is_its_own_launches() -> None:
    budget = Budget(None, max_trials=2)
    assert not budget.count_reached()
    budget.launched = 2
    assert budget.count_reached()
    assert not Budget(None).count_reached()


def test_near_the_end_a_new_trial_is_checked_against_the_ones_before_it() -> None:
    budget = Budget(4)
    assert budget.near_end(RECHECK_WITHIN) and not budget.near_end(RECHECK_WITHIN + 1)
    assert not Budget(None).near_end(1)
    study = _study()  # 4 counted and 1 running before the next trial
    asked = study.ask()
    assert budget.taken(asked.number, study.get_trials(deepcopy=False))
    assert not Budget(6).taken(asked.number, study.get_trials(deepcopy=False))

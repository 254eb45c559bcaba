"""Repeat-free finite spaces (sweep/_repeats.py) on a real study and a real search space."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
from optuna.trial import TrialState

from sweepkit.space import point_key
from sweepkit.spec import load_spec
from sweepkit.sweep._repeats import Repeats
from sweepkit.trial_state import ATTR, State, marked


def _repeats(tmp_path: Path) -> Repeats:
    spec = load_spec(
        {"name": "r", "trial": {"function": "m:f"}, "parameters": {"a": [1, 2, 3], "b": ["x", "y"]}}, cwd=tmp_path
    )
    return Repeats(spec.space, grid=False, rng=random.Random(0))


def _run(study: optuna.Study, repeats: Repeats, point: dict[str, object] | None = None) -> dict[str, object]:
    if point is not None:
        study.enqueue_trial(point)
    trial = study.ask()
    flat = repeats.space.sample(trial, grid=False)
    study.tell(trial, 1.0)
    return flat


def test_a_tried_point_is_a_repeat_and_another_is_not(tmp_path: Path) -> None:
    repeats = _repeats(tmp_path)
    study = optuna.create_study()
    _run(study, repeats, {"a": 1, "b": "x"})
    asked = study.ask()
    trials = study.get_trials(deepcopy=False)
    assert repeats.is_repeat({"a": 1, "b": "x"}, trials, asked.number) == {point_key({"a": 1, "b": "x"})}
    assert repeats.is_repeat({"a": 2, "b": "x"}, trials, asked.number) is None


def test_discarded_and_interrupted_points_are_not_tried(tmp_path: Path) -> None:
    repeats = _repeats(tmp_path)
    study = optuna.create_study()
    for state in (State.DISCARDED, State.INTERRUPTED):
        study.enqueue_trial({"a": 3, "b": "y"})
        trial = study.ask()
        repeats.space.sample(trial, grid=False)
        trial.set_user_attr(ATTR, marked({}, state, "why"))
        study.tell(trial, state=TrialState.FAIL)
    repeats.seen(study.get_trials(deepcopy=False))
    assert repeats.tried == set()


def test_untried_points_are_queued_until_the_space_is_exhausted(tmp_path: Path) -> None:
    repeats = _repeats(tmp_path)
    study = optuna.create_study()
    seen = set()
    for _ in range(6):
        assert not repeats.exhausted(study.get_trials(deepcopy=False))
        live = repeats.seen(study.get_trials(deepcopy=False))
        assert repeats.queue_unseen(study, live)
        seen.add(point_key(_run(study, repeats)))  # the queued point runs next
    assert len(seen) == 6  # every point once
    assert repeats.exhausted(study.get_trials(deepcopy=False))
    assert not repeats.queue_unseen(study, repeats.seen(study.get_trials(deepcopy=False)))


def test_a_continuous_space_has_no_points(tmp_path: Path) -> None:
    spec = load_spec({"name": "c", "trial": {"function": "m:f"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    repeats = Repeats(spec.space, grid=False, rng=random.Random(0))
    assert repeats.points is None and not repeats.exhausted([])
    assert not repeats.queue_unseen(optuna.create_study(), set())

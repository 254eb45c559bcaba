"""The client says what a function trial says (`sweepkit.Trial`'s words), and its first names still work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sweepkit
from sweepkit.client import Run


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("fold", "constraint"), [("report_fold", "set_constraint"), ("log_fold", "constraint")])
def test_folds_and_constraints_under_either_name_write_the_same_lines(
    fold: str, constraint: str, tmp_path: Path
) -> None:
    channel = tmp_path / "metrics.jsonl"
    run = Run({"x": 1}, in_sweep=True, trial=3, channel=str(channel), stop_file=str(tmp_path / "STOP"))
    getattr(run, fold)(0, {"f1": 0.5})
    getattr(run, constraint)("memory_gb", 1.5)
    run.finish()
    assert [line for line in _lines(channel) if line.get("event") != "stop_check"] == [
        {"event": "fold", "fold": 0, "metrics": {"f1": 0.5}},
        {"event": "constraint", "name": "memory_gb", "value": 1.5},
        {"event": "finish"},
    ]


def test_should_prune_and_should_stop_read_the_stop_file(tmp_path: Path) -> None:
    stop = tmp_path / "STOP"
    run = Run({}, in_sweep=True, trial=3, channel=str(tmp_path / "m.jsonl"), stop_file=str(stop))
    assert (run.should_prune(), run.should_stop()) == (False, False)
    stop.write_text("")
    assert (run.should_prune(), run.should_stop()) == (True, True)
    with pytest.raises(sweepkit.TrialPruned):
        run.report_fold(1, 0.5)
    assert run.number == run.trial == 3
    run.finish()


def test_the_client_has_the_trial_protocols_words() -> None:
    for name in ("report_fold", "set_constraint", "should_prune", "number", "seed", "params", "max_steps", "resumed"):
        assert hasattr(Run, name) or name in Run.__annotations__, name

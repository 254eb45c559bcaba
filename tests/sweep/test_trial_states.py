"""sweepkit's own trial states (interrupted, discarded, infeasible) as runs, resumes, `status`, `ls` and the
output files see them: a queued point never inherits a mark, and the counts always add up to the budget."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.progress import Progress
from sweepkit.results._stored import load_result
from sweepkit.spec import load_spec
from sweepkit.store import Store
from sweepkit.sweep import _open_study, early_stopping, prepare
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._runner import _WAIT, Engine
from sweepkit.trial_state import ATTR, State, counts_toward_budget, state_of
from tests.cli_run import cli as _cli


def _shared_engine(workdir: Path, spec: dict[str, Any], run: str) -> Engine:
    """One run of a sweep whose store other runs share (a database): no run knows it is alone."""
    loaded = load_spec(spec, cwd=workdir)
    store, strategy = prepare(loaded, cwd=workdir)
    study = _open_study(loaded, store, strategy, early_stopping(loaded))
    lock = RunLock(workdir / run, loaded.name).__enter__()
    lock.local_store = False
    return Engine(loaded, study, strategy, lambda p: {"loss": p["x"]}, Progress(quiet=True), lock=lock, seed=None)


def test_a_point_put_back_over_budget_counts_when_it_runs(workdir: Path) -> None:
    """Two runs near the budget: the one that finds it spent puts a queued point back; when that point runs
    later (another run's trial was lost meanwhile), it is in the results and uses up the budget."""
    spec = {
        "name": "shared",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 0},
        "budget": {"trials": 2},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    a, b = _shared_engine(workdir, spec, "runs-a"), _shared_engine(workdir, spec, "runs-b")
    first = a.step(0, remaining=2)  # trial 0, run A's
    assert isinstance(first, tuple)
    assert isinstance(b.step(0, remaining=1), tuple)  # trial 1, run B's: the budget is taken
    a.study.enqueue_trial({"x": 0.25})  # trial 2: a point queued to run next
    assert b.step(0, remaining=1) is _WAIT  # B asks it, finds the budget taken, puts it back (trial 3)
    a.recovery.lost(a.study.trials[1], "worker lost: run B died")  # B dies: its trial 1 runs again (trial 4)
    assert a._run(0, first[0])
    a.loop()

    trials = a.study.get_trials(deepcopy=False)
    assert sum(counts_toward_budget(t) for t in trials) == 2
    result = a.result()
    ran = [t for t in result.trials if t.params == {"x": 0.25}]
    assert [t.state for t in ran] == ["COMPLETE"], [(t.number, t.state, t.error) for t in result.trials]
    assert ran[0].error is None
    shown = {t.number for t in result.trials}
    assert [t.number for t in trials if t.number not in shown] == [2]  # discarded, never run
    assert state_of(trials[2]) == State.DISCARDED
    assert result.counts["COMPLETE"] == 2
    for engine in (a, b):
        engine.lock.__exit__()


def test_a_stale_mark_never_hides_a_trial_that_ran() -> None:
    """Stores written before marks were checked: a COMPLETE trial marked DISCARDED is still complete."""
    import optuna

    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr(ATTR, {"state": "DISCARDED", "error": "over budget"})
    study.tell(trial, 1.0)
    frozen = study.trials[0]
    assert state_of(frozen) == State.COMPLETE and counts_toward_budget(frozen)


INTERRUPT_ONCE = """
from pathlib import Path

def objective(params):
    marker = Path("interrupt-once")
    if marker.exists() and Path("done-one").exists():
        marker.unlink()
        raise KeyboardInterrupt
    Path("done-one").write_text("")
    return {"loss": params["x"]}
"""

SWEEP = """
name: cc
trial: {function: "ccmod:objective"}
metric: {name: loss}
strategy: {name: random, seed: 0}
budget: {trials: 3}
parameters:
  x: {min: 0.0, max: 1.0}
"""


def test_ctrl_c_shows_the_trial_interrupted_and_resume_runs_its_params(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "ccmod.py").write_text(INTERRUPT_ONCE)
    (workdir / "sweep.yaml").write_text(SWEEP)
    (workdir / "interrupt-once").write_text("")
    code, _, err = _cli(capsys, "run", "sweep.yaml")
    assert code == 130
    assert "trials: 1 complete, 1 interrupted, 1 waiting" in err

    result = load_result(Store(cwd=workdir), "cc")
    assert [t.state for t in result.trials] == ["COMPLETE", "INTERRUPTED", "WAITING"]
    cut = result.trials[1]
    assert cut.error == "interrupted: the sweep was stopped (Ctrl+C or SIGTERM)"
    assert result.trials[2].retry_of == 1 and result.trials[2].params == cut.params  # queued, same params
    out = workdir / "sweeps" / "cc"
    counts = json.loads((out / "tuning_results.json").read_text())["counts"]
    assert counts["INTERRUPTED"] == 1 and counts["FAILED"] == 0 and counts["COMPLETE"] == 1
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["state"] for r in rows] == ["COMPLETE", "INTERRUPTED", "WAITING"]

    code, text, _ = _cli(capsys, "status", "cc")
    assert code == 0
    assert "sweep cc: 1/3 trials finished" in text
    assert "1 complete, 1 interrupted, 1 waiting" in text
    code, text, _ = _cli(capsys, "ls")
    row = next(line for line in text.splitlines() if "cc" in line).split("│")
    assert [c.strip() for c in row[2:6]] == ["stopped", "1", "0", "0"]  # state, complete, pruned, failed

    code, _, err = _cli(capsys, "run", "sweep.yaml")
    assert code == 0, err
    assert "resuming with 1 done" in err
    result = load_result(Store(cwd=workdir), "cc")
    assert [t.state for t in result.trials] == ["COMPLETE", "INTERRUPTED", "COMPLETE", "COMPLETE"]
    assert result.trials[2].retry_of == 1 and result.trials[2].params == cut.params
    code, text, _ = _cli(capsys, "status", "cc")
    assert "sweep cc: 3/3 trials finished" in text and "3 complete, 1 interrupted" in text
    code, text, _ = _cli(capsys, "ls")
    row = next(line for line in text.splitlines() if "cc" in line).split("│")
    assert [c.strip() for c in row[2:6]] == ["done", "3", "0", "0"]


def test_max_steps_is_the_sweeps_budget_of_steps(workdir: Path) -> None:
    """Steps saved are counted against budget.steps, not against the longest trial."""

    def short(params: dict[str, Any], trial: Any) -> float:
        for step in range(3):  # every trial stops at 3 of its 10 steps
            trial.report(params["x"], step)
        return params["x"]

    spec = {
        "name": "steps",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 0},
        "budget": {"trials": 2, "steps": 10},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    result = sweepkit.run(spec, objective=short, quiet=True)
    assert result.max_steps == 10
    stored = load_result(Store(cwd=workdir), "steps")
    assert stored.max_steps == 10
    assert stored.steps is not None and stored.steps["steps_per_trial"] == 10

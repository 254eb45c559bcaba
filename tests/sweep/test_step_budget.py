"""Step budgets: `--epochs-per-trial` / `budget.steps` reaches every trial, and the steps a sweep spent are
counted against the full-budget equivalent (what the same trials would have spent with no early stopping)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.client import init
from sweepkit.results._records import steps_spent

TRAIN = """\
def objective(params, trial):
    value = 0.0
    for step in range(trial.max_steps):  # budget.steps: --epochs-per-trial
        value = params["level"] + 1.0 / (step + 1)
        trial.report(value, step)
    trial.log({"max_steps": trial.max_steps})
    return value
"""


def test_epochs_per_trial_sets_the_steps_each_trial_trains(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "sweep.yaml").write_text(
        "name: epochs\nmetric: {name: loss}\nstrategy: grid\ntrial: {function: train:objective}\n"
        "parameters:\n  level: [0.1, 0.2, 0.3]\n"
    )
    assert main(["run", "sweep.yaml", "--epochs-per-trial", "4"]) == 0
    summary = json.loads((workdir / "sweeps" / "epochs" / "tuning_results.json").read_text())
    assert summary["steps"] == {"spent": 12, "full_budget": 12, "saved_percent": 0.0, "steps_per_trial": 4}
    history = json.loads((workdir / "sweeps" / "epochs" / "trials_history.json").read_text())
    assert [t["metrics"]["max_steps"] for t in history] == [4, 4, 4]
    assert [t["steps"] for t in history] == [4, 4, 4]
    assert "steps: 12 spent (4 per trial, none saved by early stopping)" in capsys.readouterr().err
    # --steps is the same flag; the validated file shows it
    assert main(["run", "sweep.yaml", "--steps", "6", "--fresh", "-q"]) == 0
    history = json.loads((workdir / "sweeps" / "epochs" / "trials_history.json").read_text())
    assert [t["steps"] for t in history] == [6, 6, 6]
    assert main(["validate", "sweep.yaml", "budget.steps=6"]) == 0
    assert "budget: 6 steps per trial" in capsys.readouterr().out


def test_a_bad_step_budget_is_a_user_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "sweep.yaml").write_text("parameters:\n  level: [0.1]\ntrial: {function: train:objective}\n")
    assert main(["run", "sweep.yaml", "--epochs-per-trial", "0"]) == 2
    assert "--epochs-per-trial must be at least 1, got 0" in capsys.readouterr().err
    assert main(["run", "sweep.yaml", "budget.steps=true"]) == 2
    assert "budget.steps" in capsys.readouterr().err


def test_steps_saved_by_early_stopping(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 10 steps per trial; the threshold stops the two high curves at step 2 (3 steps spent, 0-based).
    spec = {
        "name": "saved",
        "metric": {"name": "loss"},
        "strategy": {"name": "grid"},
        "budget": {"steps": 10},
        "pruner": {"type": "threshold", "upper": 0.8, "n_warmup_steps": 2},
        "parameters": {"level": [0.1, 0.2, 0.9, 0.95]},
    }
    result = sweepkit.run(spec, objective=TrialCurves(), quiet=True)
    assert sorted((t.params["level"], t.state, t.steps) for t in result.trials) == [
        (0.1, "COMPLETE", 10), (0.2, "COMPLETE", 10), (0.9, "PRUNED", 3), (0.95, "PRUNED", 3),
    ]  # fmt: skip
    # without early stopping: 4 trials x 10 steps
    assert result.steps == {"spent": 26, "full_budget": 40, "saved_percent": 35.0, "steps_per_trial": 10}
    capsys.readouterr()
    assert main(["status", "saved"]) == 0
    assert "steps: 26 spent of 40 at full budget (10 per trial): 35% saved by early stopping" in capsys.readouterr().out


class TrialCurves:
    def __call__(self, params: dict[str, Any], trial: Any) -> float:
        value = 0.0
        for step in range(trial.max_steps):
            value = params["level"] + 1.0 / (step + 1)
            trial.report(value, step)
        return value


def test_steps_are_counted_from_zero_or_from_one() -> None:
    assert steps_spent({0: 1.0, 1: 0.5, 2: 0.4}) == 3  # 0-based: Optuna's and W&B's counting
    assert steps_spent({1: 1.0, 2: 0.5, 3: 0.4}) == 3  # epochs done: 1, 2, 3
    assert steps_spent({5: 1.0, 10: 0.5}) == 10  # every 5th epoch
    assert steps_spent({}) is None


def test_without_budget_steps_the_longest_complete_trial_sets_the_full_budget(workdir: Path) -> None:
    def objective(params: dict[str, Any], trial: Any) -> float:
        for step in range(1, 9):  # epochs 1..8
            trial.report(params["level"], step)
        return params["level"]

    spec = {"name": "nosteps", "metric": {"name": "loss"}, "strategy": {"name": "grid"},
            "pruner": {"type": "threshold", "upper": 0.5}, "parameters": {"level": [0.1, 0.9]}}  # fmt: skip
    result = sweepkit.run(spec, objective=objective, quiet=True)
    assert result.steps == {"spent": 9, "full_budget": 16, "saved_percent": 43.8, "steps_per_trial": 8}


def test_program_trials_get_the_step_budget(workdir: Path) -> None:
    (workdir / "train.py").write_text(
        textwrap.dedent(
            """\
            import json, os, sys
            import sweepkit
            run = sweepkit.init()
            for step in range(run.max_steps):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
            seen = {"argv": sys.argv[1:], "env": os.environ.get("SWEEPKIT_MAX_STEPS"), "run": run.max_steps}
            json.dump(seen, open("seen-%d.json" % run.trial, "w"))
            """
        )
    )
    spec = {
        "name": "prog",
        "metric": {"name": "loss"},
        "strategy": {"name": "grid"},
        "budget": {"steps": 7},
        "command": ["python", "train.py", "--epochs=${envvar:SWEEPKIT_MAX_STEPS}"],
        "parameters": {"level": [1, 2]},
    }
    result = sweepkit.run(spec, quiet=True)
    assert [t.state for t in result.trials] == ["COMPLETE", "COMPLETE"]
    assert [t.steps for t in result.trials] == [7, 7]
    seen = json.loads((workdir / "seen-0.json").read_text())
    assert seen == {"argv": ["--epochs=7"], "env": "7", "run": 7}


def test_seed_files_spell_the_step_budget_their_way() -> None:
    spec = sweepkit.load_spec(
        {
            "hyperopt": {
                "strategy": "combined",
                "epochs_per_trial": 9,
                "search_space": {"lr": {"type": "loguniform", "low": 1e-5, "high": 1e-3}},
            }
        }
    )
    assert spec.budget.steps == 9


def test_the_client_reads_the_step_budget(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    monkeypatch.delenv("SWEEPKIT_MAX_STEPS", raising=False)
    assert init({"lr": 0.1}).max_steps is None  # outside a sweep, or with no budget.steps
    monkeypatch.setenv("SWEEPKIT_MAX_STEPS", "12")
    assert init({"lr": 0.1}).max_steps == 12

"""`sweepkit retrain NAME [--steps N]`: the best params once more at full budget, recorded as `NAME-retrain`.

The sweep files live in a subfolder and the commands run from the project folder, as users do
(`sweepkit run experiments/sweep.yaml`): the retrain must find the trial's code from the store alone.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.export import RETRAIN_ATTR, constants, retrain
from sweepkit.results._stored import load_result
from sweepkit.spec import load_spec
from sweepkit.store import Store

# A trial that trains for `max_steps` epochs (the budget it is given) and reports a rising loss after epoch 3:
# the sweep's threshold pruner would stop such a trial, so the retrain ran to the end only if it has no pruner.
TRAIN = """
def objective(params, trial):
    steps = trial.max_steps
    for step in range(steps):
        trial.report(params["x"] + (10.0 * step if step >= 3 else 0.0), step)
    trial.log({"steps_run": steps, "lr_seen": params["opt"]["lr"]})
    return {"loss": (params["x"] - 0.3) ** 2 + params["opt"]["lr"]}
"""

SWEEP = """
name: rt
trial: {function: "rttrain:objective"}
metric: {name: loss, goal: minimize}
strategy: {name: tpe, seed: 4}
budget: {trials: 5, steps: 3}
pruner: {type: threshold, upper: 5.0}
parameters:
  x: {min: 0.0, max: 1.0}
  opt:
    parameters:
      lr: {distribution: log_uniform_values, min: 0.0001, max: 0.01}
      name: [adam, sgd]
  width: {expr: "x * 100"}
"""


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("rttrain", None)
    exp = workdir / "experiments"
    exp.mkdir()
    (exp / "rttrain.py").write_text(textwrap.dedent(TRAIN).lstrip())
    (exp / "sweep.yaml").write_text(textwrap.dedent(SWEEP).lstrip())
    assert main(["run", "experiments/sweep.yaml", "-q"]) == 0
    sys.modules.pop("rttrain", None)  # the retrain imports it again, from the store's record of where it is
    return workdir


def test_retrain_runs_the_best_params_once_at_full_budget(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(cwd=project)
    sweep = load_result(store, "rt")
    best = sweep.best_trial
    assert best is not None
    capsys.readouterr()
    assert main(["retrain", "rt", "--steps", "6"]) == 0
    out = capsys.readouterr().out
    assert "as sweep rt-retrain" in out and str(project / "sweeps" / "rt-retrain") in out

    again = load_result(store, "rt-retrain")
    assert [t.state for t in again.trials] == ["COMPLETE"]  # one trial, not pruned despite its rising curve
    (trial,) = again.trials
    assert trial.params == best.params  # derived `width` included: the very values the best trial had
    assert trial.metrics["steps_run"] == 6 and trial.metrics["lr_seen"] == best.params["opt"]["lr"]
    assert trial.value == pytest.approx(best.value)
    frozen = store.load("rt-retrain").trials[0]
    assert sorted(frozen.intermediate_values) == list(range(6))
    assert store.load("rt-retrain").user_attrs[RETRAIN_ATTR]["trial"] == best.number
    assert (project / "sweeps" / "rt-retrain" / "tuning_results.json").is_file()
    # The sweep itself is untouched.
    assert len(load_result(store, "rt").trials) == len(sweep.trials)
    resolved = (project / "sweeps" / "rt-retrain" / "sweep.yaml").read_text()
    assert "pruner" not in resolved and "steps: 6" in resolved


def test_retrain_again_keeps_the_previous_one(project: Path) -> None:
    assert main(["retrain", "rt", "-q"]) == 0
    assert main(["retrain", "rt", "-q"]) == 0
    names = Store(cwd=project).names()
    assert {"rt", "rt-retrain", "rt-retrain.1"} <= set(names)
    # Without --steps, the sweep's own budget.steps is the full budget.
    assert load_result(Store(cwd=project), "rt-retrain").trials[0].metrics["steps_run"] == 3


def test_retrain_bad_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["retrain", "nope"]) == 2
    err = capsys.readouterr().err
    assert 'no sweep named "nope"' in err and "rt" in err
    assert main(["retrain", "rt", "--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_a_sweep_run_from_python_needs_its_objective(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"name": "py", "budget": {"trials": 3}, "parameters": {"a": [1, 2, 3]}}
    sweepkit.run(spec, objective=lambda p: p["a"], quiet=True)
    capsys.readouterr()
    assert main(["retrain", "py"]) == 2
    assert "retrain it from Python" in capsys.readouterr().err
    seen: list[dict[str, int]] = []
    result = retrain("py", objective=lambda p: seen.append(p) or p["a"] * 10, quiet=True)
    assert seen == [{"a": 1}] and result.best_value == 10


PROGRAM = """
import sweepkit

run = sweepkit.init()
run.log({"loss": (run.params.x - 0.3) ** 2, "x_seen": run.params.x})
"""


def test_a_program_sweep_retrains_from_the_project_folder(workdir: Path) -> None:
    exp = workdir / "exp"
    exp.mkdir()
    (exp / "train_prog.py").write_text(textwrap.dedent(PROGRAM).lstrip())
    (exp / "prog.yaml").write_text(
        "name: prog\nprogram: train_prog.py\nmetric: {name: loss}\nmethod: random\nrun_cap: 2\n"
        "parameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    assert main(["run", "exp/prog.yaml", "-q"]) == 0
    best = load_result(Store(cwd=workdir), "prog").best_trial
    assert best is not None
    assert main(["retrain", "prog", "-q"]) == 0
    (trial,) = load_result(Store(cwd=workdir), "prog-retrain").trials
    assert trial.state == "COMPLETE" and trial.metrics["x_seen"] == best.params["x"]


def test_constants_make_a_spec_of_fixed_values() -> None:
    flat = {"lr": 0.01, "opt.name": "adam", "opt.betas": [0.9, 0.99], "cfg": {"a": 1}}
    spec = load_spec({"name": "c", "trial": {"function": "m:f"}, "parameters": constants(flat)})
    assert [p.name for p in spec.space.searched] == []  # nothing left to search
    assert sorted(p.name for p in spec.space.parameters) == sorted(flat)


def test_a_dotted_name_stays_one_flat_key_in_the_retrain(workdir: Path) -> None:
    spec = {
        "name": "dots",
        "budget": {"trials": 2},
        "parameters": {"model.n_layers": [1, 2], "opt": {"parameters": {"lr": {"value": 0.1}}}},
    }
    sweepkit.run(spec, objective=lambda p: p["model.n_layers"] * p["opt"]["lr"], quiet=True)
    seen: list[dict[str, object]] = []
    retrain("dots", objective=lambda p: seen.append(p) or 1.0, quiet=True)
    assert seen == [{"model.n_layers": 1, "opt": {"lr": 0.1}}]

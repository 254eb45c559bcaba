"""Multi-objective sweeps end to end: Optuna's multi-objective study, every objective read from functions and
programs, the Pareto front in tuning_results.json, `best` (the front, `--pick`), `status`, the refusals (a
pruner, CMA-ES), and combined metrics (a weighted sum or an expression) with early stopping on them."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest

from sweepkit.cli import main
from sweepkit.results import TrialRecord
from sweepkit.results._pareto import pareto_front
from sweepkit.store import Store
from tests.cli_run import cli

TWO = """\
import math

def objective(params, trial):
    x = params["x"]
    for step in range(2):
        trial.report(x, step)  # no pruner on a multi-objective sweep: accepted, never raises
    return {"loss": x ** 2, "speed": 3 - (x - 2) ** 2, "note": 1.0}
"""


def write(workdir: Path, text: str, name: str = "sweep.yaml") -> None:
    (workdir / name).write_text(textwrap.dedent(text))


def results(workdir: Path, name: str) -> dict[str, Any]:
    return json.loads((workdir / "sweeps" / name / "tuning_results.json").read_text())


def dominated(a: list[float], b: list[float]) -> bool:
    """`a` (losses) is dominated by `b`."""
    return all(y <= x for x, y in zip(a, b, strict=True)) and a != b


@pytest.fixture
def two(workdir: Path) -> Path:
    (workdir / "train.py").write_text(TWO)
    write(
        workdir,
        """\
        name: two
        trial: {function: train:objective}
        metric: [{name: loss, goal: minimize}, {name: speed, goal: maximize}]
        budget: {trials: 14}
        strategy: {name: tpe, seed: 3}
        parameters:
          x: {min: -1.0, max: 3.0}
        """,
    )
    assert main(["run", "sweep.yaml"]) == 0
    return workdir


def test_a_list_metric_runs_an_optuna_multi_objective_study_and_writes_its_front(two: Path) -> None:
    study = Store(None, cwd=two).load("two")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert study.metric_names == ["loss", "speed"]
    out = results(two, "two")
    assert out["objectives"] == [{"name": "loss", "goal": "minimize"}, {"name": "speed", "goal": "maximize"}]
    front = out["pareto_front"]
    # the same front as Optuna's own, and each entry's values are the trial's, by objective name
    assert [f["number"] for f in front] == sorted(t.number for t in study.best_trials)
    trials = {t.number: t for t in study.get_trials()}
    for entry in front:
        t = trials[entry["number"]]
        assert entry["values"] == {"loss": t.values[0], "speed": t.values[1]}
        assert entry["params"] == {"x": t.params["x"]}
    history = json.loads((two / "sweeps" / "two" / "trials_history.json").read_text())
    assert all(len(h["values"]) == 2 and h["metrics"]["note"] == 1.0 for h in history)


def test_best_prints_the_front_and_pick_takes_one_objective(two: Path, capsys: pytest.CaptureFixture[str]) -> None:
    front = results(two, "two")["pareto_front"]
    code, out, _ = cli(capsys, "best", "two")
    assert code == 0 and "Pareto front of sweep two" in out and "--pick loss" in out
    for entry in front:
        assert f"│ {entry['number']} " in out
    code, out, _ = cli(capsys, "best", "two", "--format", "json")
    assert code == 0 and json.loads(out) == front
    lowest = min(front, key=lambda e: e["values"]["loss"])
    fastest = max(front, key=lambda e: e["values"]["speed"])
    code, out, _ = cli(capsys, "best", "two", "--pick", "loss", "--format", "json")
    assert code == 0 and json.loads(out) == lowest["params"]
    code, out, _ = cli(capsys, "best", "two", "--pick", "speed", "--format", "args")
    assert code == 0 and out == f"--x={fastest['params']['x']}\n"
    code, _, err = cli(capsys, "best", "two", "--format", "yaml")
    assert code == 2 and "--pick METRIC" in err
    code, _, err = cli(capsys, "best", "two", "--pick", "los")
    assert code == 2 and 'did you mean "loss"?' in err and "loss, speed" in err
    (two / "config.yaml").write_text("model:\n  x: 0.0  # the knob\n")
    code, _, err = cli(capsys, "best", "two", "--pick", "speed", "--into", "config.yaml", "--map", "x=model.x")
    assert code == 0 and f"(trial {fastest['number']})" in err
    assert f"x: {fastest['params']['x']} # the knob" in (two / "config.yaml").read_text()


def test_status_shows_the_front_size_and_each_objective(two: Path, capsys: pytest.CaptureFixture[str]) -> None:
    size = len(results(two, "two")["pareto_front"])
    code, out, _ = cli(capsys, "status", "two")
    assert code == 0 and f"Pareto front: {size} trials (minimize loss, maximize speed)" in out.replace("\n", " ")


def test_a_missing_objective_fails_the_trial_and_stops_a_sweep_that_never_gave_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "train.py").write_text("def objective(params):\n    return {'loss': params['x'], 'sped': 1.0}\n")
    write(
        workdir,
        """\
        name: missing
        trial: {function: train:objective}
        metric: [loss, {name: speed, goal: maximize}]
        budget: {trials: 4}
        parameters:
          x: {min: 0.0, max: 1.0}
        """,
    )
    code, _, err = cli(capsys, "run", "sweep.yaml")
    assert code == 2 and 'metric "speed"' in err and 'did you mean "sped"?' in err
    (trial,) = json.loads((workdir / "sweeps" / "missing" / "trials_history.json").read_text())
    assert trial["state"] == "FAILED"


PROGRAM = """\
import sweepkit
run = sweepkit.init()
x = run.params["x"]
for step in range(4):
    # loss bottoms out at step 1; accuracy's last value is its best
    run.log({"loss": x + abs(step - 1), "accuracy": x * step}, step=step)
"""


def test_a_program_logs_every_objective_and_each_is_summarized_by_its_own_rule(workdir: Path) -> None:
    (workdir / "train.py").write_text(PROGRAM)
    write(
        workdir,
        """\
        name: prog
        program: train.py
        method: random
        metric:
          - {name: loss, goal: minimize, summary: best}
          - {name: accuracy, goal: maximize}
        run_cap: 3
        parameters:
          x: {min: 0.0, max: 1.0}
        """,
    )
    assert main(["run", "sweep.yaml"]) == 0
    for t in Store(None, cwd=workdir).load("prog").get_trials():
        x = t.params["x"]
        assert t.values == pytest.approx([x, 3 * x])  # loss's best (step 1), accuracy's last (step 3)


@pytest.mark.parametrize(
    ("extra", "key", "says"),
    [
        ("early_terminate: {type: hyperband, min_iter: 2}\n", "early_terminate", "can't stop trials"),
        ("pruner: {type: median}\n", "pruner", "can't stop trials"),
        ("hyperopt: {strategy: asha, asha_max_t: 8}\n", "hyperopt.asha_max_t", "can't stop trials"),
        ("hyperopt: {strategy: combined}\n", "hyperopt.strategy", "can't stop trials"),
        ("method: cmaes\n", "strategy.name", "strategy cmaes optimizes one metric"),
    ],
)
def test_what_cannot_search_or_stop_a_multi_objective_sweep_is_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: str, key: str, says: str
) -> None:
    (workdir / "train.py").write_text(TWO)
    write(
        workdir,
        "trial: {function: train:objective}\nmetric: [loss, {name: speed, goal: maximize}]\n"
        "parameters: {x: {min: 0.0, max: 1.0}}\n" + extra,
    )
    code, _, err = cli(capsys, "validate", "sweep.yaml")
    assert code == 2 and f"sweep.yaml: {key}: " in err and says in err
    assert cli(capsys, "run", "sweep.yaml")[0] == 2
    assert not (workdir / "sweeps").exists()  # refused before anything ran


@pytest.mark.parametrize("strategy", ["nsga2", "random", "qmc", "grid", pytest.param("gp", marks=pytest.mark.slow)])
def test_every_strategy_that_searches_a_front_runs(workdir: Path, strategy: str) -> None:
    if strategy == "gp":
        pytest.importorskip("torch", reason="strategy gp needs torch")
    (workdir / "train.py").write_text(TWO)
    step = ", step: 0.5" if strategy == "grid" else ""
    write(
        workdir,
        f"name: s\ntrial: {{function: train:objective}}\nmetric: [loss, {{name: speed, goal: maximize}}]\n"
        f"strategy: {{name: {strategy}, seed: 1}}\nbudget: {{trials: 5}}\n"
        f"parameters: {{x: {{min: 0.0, max: 2.0{step}}}}}\n",
    )
    assert main(["run", "sweep.yaml"]) == 0
    out = results(workdir, "s")
    assert out["strategy"] == strategy and out["counts"]["COMPLETE"] == 5 and out["pareto_front"]


def test_auto_picks_a_strategy_that_searches_a_front() -> None:
    from sweepkit.spec import load_spec
    from sweepkit.strategy import build

    space = load_spec({"parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}}}).space
    two = build("auto", space, trials=30, seed=0, objectives=2)
    four = build("auto", space, trials=30, seed=0, objectives=4)
    assert four.name == "tpe" and "4 objectives" in four.reason
    assert two.name in ("gp", "tpe")  # gp with torch (log EHVI), tpe without
    if two.name == "gp":
        assert "hypervolume" in two.reason


def test_a_resumed_sweep_with_other_goals_is_refused(two: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (two / "sweep.yaml").read_text().replace("{name: speed, goal: maximize}", "{name: speed, goal: minimize}")
    (two / "sweep.yaml").write_text(text)
    code, _, err = cli(capsys, "run", "sweep.yaml")
    assert code == 2 and "minimize, maximize" in err and "--fresh" in err


COMBINED = """\
def objective(params):
    return {"val_loss_a": params["x"], "val_loss_b": 1 - params["x"] / 2, "acc": 0.9}
"""


@pytest.mark.parametrize(
    "metric",
    [
        "{name: combined, combine: {val_loss_a: 0.25, val_loss_b: 0.75}, goal: minimize}",
        "{name: combined, expr: '0.25 * val_loss_a + 0.75 * val_loss_b', goal: minimize}",
    ],
)
def test_a_combined_metric_is_the_weighted_sum_of_what_the_trial_returns(workdir: Path, metric: str) -> None:
    (workdir / "train.py").write_text(COMBINED)
    write(
        workdir,
        f"name: c\ntrial: {{function: train:objective}}\nmetric: {metric}\nbudget: {{trials: 3}}\n"
        "strategy: random\nparameters: {x: {min: 0.0, max: 1.0}}\n",
    )
    assert main(["run", "sweep.yaml"]) == 0
    for t in Store(None, cwd=workdir).load("c").get_trials():
        x = t.params["x"]
        assert t.value == pytest.approx(0.25 * x + 0.75 * (1 - x / 2))
    assert results(workdir, "c")["metric"] == "combined"


def test_a_combined_metric_missing_an_input_fails_naming_it(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "train.py").write_text("def objective(params):\n    return {'val_loss_a': 1.0}\n")
    write(
        workdir,
        "name: c\ntrial: {function: train:objective}\nmetric: {name: combined, combine: {val_loss_a: 1, "
        "val_loss_b: 1}}\nbudget: {trials: 3}\nparameters: {x: {min: 0.0, max: 1.0}}\n",
    )
    code, _, err = cli(capsys, "run", "sweep.yaml")
    assert code == 2 and '"val_loss_b", which the metric "combined" is computed from' in err


HEADS = """\
import sweepkit
run = sweepkit.init()
x = run.params["x"]
for epoch in range(6):
    run.log({"val_loss_a": x + 1.0 / (epoch + 1)}, step=epoch)
    run.log({"val_loss_b": 2 * x}, step=epoch)
"""


@pytest.mark.slow
def test_a_program_combined_metric_has_a_curve_the_pruner_watches(workdir: Path) -> None:
    (workdir / "train.py").write_text(HEADS)
    write(
        workdir,
        """\
        name: heads
        program: train.py
        method: random
        metric: {name: combined, combine: {val_loss_a: 0.5, val_loss_b: 0.5}, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 2, eta: 2}
        run_cap: 8
        parameters:
          x: {min: 0.0, max: 1.0}
        """,
    )
    assert main(["run", "sweep.yaml"]) == 0
    trials = Store(None, cwd=workdir).load("heads").get_trials()
    for t in trials:
        x = t.params["x"]
        # what the pruner judged: each step's combined value, once both heads have logged that step
        assert t.intermediate_values
        for step, value in t.intermediate_values.items():
            assert value == pytest.approx(0.5 * (x + 1.0 / (step + 1)) + 0.5 * 2 * x)
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.value == pytest.approx(0.5 * (x + 1.0 / 6) + 0.5 * 2 * x)


def _record(number: int, values: list[float], state: str = "COMPLETE") -> TrialRecord:
    return TrialRecord(number=number, state=state, value=values[0], params={}, values=values)


@pytest.mark.parametrize("goals", [["minimize", "minimize"], ["minimize", "maximize"], ["maximize"] * 3])
def test_the_front_is_exactly_the_non_dominated_trials(goals: list[str]) -> None:
    rng = random.Random(7)
    records = [_record(i, [rng.choice([0.0, 1.0, 2.0, rng.random()]) for _ in goals]) for i in range(300)]
    records.append(_record(300, [-9.0] * len(goals), state="FAILED"))  # not complete: never on the front
    records.append(_record(301, records[5].values or []))  # a tie with trial 5: both or neither
    front = {t.number for t in pareto_front(records, goals)}
    losses = {
        t.number: [v if g == "minimize" else -v for v, g in zip(t.values or [], goals, strict=True)]
        for t in records
        if t.state == "COMPLETE"
    }
    expected = {n for n, a in losses.items() if not any(dominated(a, b) for b in losses.values())}
    assert front == expected and (5 in front) == (301 in front) and 300 not in front


def test_pick_breaks_a_tie_on_its_objective_by_the_others() -> None:
    from sweepkit.results import SweepResult
    from sweepkit.results._pareto import picked

    trials = [_record(0, [0.2, 100.0]), _record(1, [0.5, 100.0]), _record(2, [0.1, 900.0])]
    result = SweepResult(
        name="s", metric="acc", goal="maximize", strategy="tpe", strategy_reason="", output=Path("."),
        trials=trials, objectives=[("acc", "maximize"), ("size", "minimize")],
    )  # fmt: skip
    assert picked(result, "size").number == 1  # trials 0 and 1 are as small; 1 is more accurate
    assert picked(result, "acc").number == 1


def test_each_objective_is_read_as_one_metric_is() -> None:
    from sweepkit.spec import load_spec
    from sweepkit.sweep._function import TrialError, read_result

    metric = load_spec({"metric": ["loss", {"name": "acc", "goal": "max"}], "parameters": {"x": [1, 2]}}).metric
    values, metrics = read_result({"loss": [1.0, 2.0, 6.0], "acc": 0.5, "epoch": 3}, metric)
    assert values == [3.0, 0.5]  # per-fold values: their mean (fold_aggregation)
    assert metrics["loss_folds"] == [1.0, 2.0, 6.0] and metrics["epoch"] == 3
    with pytest.raises(TrialError, match='acc is NaN|"acc" is NaN'):
        read_result({"loss": 1.0, "acc": float("nan")}, metric)
    with pytest.raises(TrialError, match="needs a dict holding loss, acc"):
        read_result(0.5, metric)


def test_a_conditional_space_searched_for_two_objectives_warns_nothing(workdir: Path) -> None:
    import warnings

    (workdir / "train.py").write_text(
        "def objective(params):\n    x = params.get('x', 0.5)\n    return {'a': x, 'b': 1 - x}\n"
    )
    spec = {
        "name": "cond",
        "trial": {"function": "train:objective"},
        "metric": ["a", "b"],
        "strategy": {"name": "tpe", "seed": 0, "n_startup_trials": 2},
        "budget": {"trials": 6},
        "parameters": {"kind": {"values": ["x", "none"]}, "x": {"min": 0.0, "max": 1.0, "when": "kind == 'x'"}},
    }
    import sweepkit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sweepkit.run(spec, quiet=True)
    assert result.counts["COMPLETE"] == 6 and result.pareto_front
    assert not [w for w in caught if "multivariate" in str(w.message)]


def test_a_trial_that_violated_a_constraint_it_reported_is_never_on_the_front() -> None:
    best_everywhere = _record(0, [-5.0, -5.0])
    best_everywhere.constraints = {"memory_gb": 0.5}  # violated: it keeps its values, but is ruled out
    rest = [_record(1, [1.0, 2.0]), _record(2, [2.0, 1.0])]
    assert [t.number for t in pareto_front([best_everywhere, *rest], ["minimize", "minimize"])] == [1, 2]
    best_everywhere.constraints = {"memory_gb": -0.5}  # satisfied: it dominates both
    assert [t.number for t in pareto_front([best_everywhere, *rest], ["minimize", "minimize"])] == [0]

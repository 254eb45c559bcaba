"""Cross-validation folds (`trial.report_fold`, `run.log_fold`) and constraints a trial reports itself
(`trial.set_constraint`, `run.constraint`): the objective, the pruner, what is stored and where it is shown,
the same in this process, in the warm worker pool and for programs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit.errors import SweepFailed
from sweepkit.results._stored import load_result
from sweepkit.store import Store
from tests.cli_run import cli

TRAIN = """
def objective(params, trial):
    x = params["x"]
    for k in range(4):
        # fold 2 is the hard one; "auc" is another metric kept per fold
        trial.report_fold(k, {"f1": x - (0.3 if k == 2 else 0.0), "auc": 0.5 + k / 10, "note": "text"})
    trial.set_constraint("memory_gb", x - 0.6)  # > 0 (violated) when x > 0.6
    if params.get("own"):
        return {"f1": 42.0, "extra": 1}
    return None


def bare(params, trial):
    for k in range(3):
        trial.report_fold(k, params["x"] + k)  # a bare number is the sweep's metric


def missing(params, trial):
    trial.report_fold(0, {"acc": 0.5})
    return 0.5


def pruned(params, trial):
    x = params["x"]
    for k in range(5):
        trial.report_fold(k, x if k == 0 else 1.0)  # fold 0 tells good from bad
    return None
"""


def _spec(name: str, fn: str = "objective", trials: int = 8, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "trial": {"function": f"cvtrain:{fn}"},
        "metric": {"name": "f1", "goal": "maximize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "budget": {"trials": trials},
        "strategy": {"name": "random", "seed": 5},
    }
    spec.update(extra)
    return spec


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (workdir / "cvtrain.py").write_text(TRAIN)
    monkeypatch.syspath_prepend(str(workdir))
    sys.modules.pop("cvtrain", None)
    return workdir


def _check_folds_and_constraints(result: Any, aggregation: str = "mean") -> None:
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(done) == 8
    for t in done:
        x = t.params["x"]
        folds = [x, x, x - 0.3, x]
        assert t.metrics["f1_folds"] == pytest.approx(folds)
        assert t.metrics["auc_folds"] == pytest.approx([0.5, 0.6, 0.7, 0.8])
        assert "note_folds" not in t.metrics  # only numbers are kept per fold
        expected = {"mean": sum(folds) / 4, "min": x - 0.3, "max": x, "median": x}[aggregation]
        assert t.value == pytest.approx(expected)
        assert t.constraints == {"memory_gb": pytest.approx(x - 0.6)}
        assert t.feasible == (x <= 0.6)
        assert t.steps == 4  # folds 0..3 were the steps
    assert any(not t.feasible for t in done) and any(t.feasible for t in done)
    best = result.best_trial
    assert best is not None and best.feasible  # a violated constraint is never the best...
    assert best.value == max(t.value for t in done if t.feasible)
    assert any(t.value > best.value for t in done if not t.feasible)  # ...even with a better value


@pytest.mark.parametrize("aggregation", ["mean", "min"])
def test_folds_make_the_objective_and_are_stored(project: Path, aggregation: str) -> None:
    spec = _spec(f"cv-{aggregation}", metric={"name": "f1", "goal": "maximize", "fold_aggregation": aggregation})
    result = sweepkit.run(spec, quiet=True)
    _check_folds_and_constraints(result, aggregation)
    study = Store(cwd=project).load(f"cv-{aggregation}")
    for frozen in study.get_trials():
        x = frozen.params["x"]
        assert frozen.intermediate_values == pytest.approx({0: x, 1: x, 2: x - 0.3, 3: x})  # fold index = step
        assert frozen.constraints == {"memory_gb": pytest.approx(x - 0.6)}  # Optuna 5's own constraint attrs
    assert study.best_trial.number == result.best_trial.number  # Optuna agrees on the best feasible trial


@pytest.mark.slow
def test_the_worker_pool_gives_the_same_as_this_process(project: Path) -> None:
    here = sweepkit.run(_spec("cv-here"), quiet=True)
    pool = sweepkit.run(_spec("cv-pool"), workers=2, quiet=True)
    _check_folds_and_constraints(pool)
    assert {t.worker for t in pool.trials} != {None}  # it did run in workers
    key = lambda t: (t.params["x"], t.value, t.metrics["f1_folds"], t.constraints)  # noqa: E731
    assert sorted(map(key, here.trials)) == sorted(map(key, pool.trials))


def test_a_value_the_function_returns_wins_over_the_folds(project: Path) -> None:
    spec = _spec("cv-own", trials=3, parameters={"x": {"min": 0.0, "max": 0.5}, "own": {"value": True}})
    result = sweepkit.run(spec, quiet=True)
    for t in result.trials:
        assert t.state == "COMPLETE" and t.value == 42.0 and t.metrics["extra"] == 1
        assert len(t.metrics["f1_folds"]) == 4  # the folds are still kept


def test_a_bare_number_is_the_metric_and_median_aggregates(project: Path) -> None:
    spec = _spec("cv-bare", "bare", trials=3, metric={"name": "f1", "fold_aggregation": "median"})
    result = sweepkit.run(spec, quiet=True)
    for t in result.trials:
        x = t.params["x"]
        assert t.metrics["f1_folds"] == pytest.approx([x, x + 1, x + 2]) and t.value == pytest.approx(x + 1)


def test_a_fold_without_the_metric_fails_the_trial_saying_why(project: Path) -> None:
    with pytest.raises(SweepFailed, match='metric "f1" is missing'):
        sweepkit.run(_spec("cv-missing", "missing", trials=2), quiet=True)
    for t in load_result(Store(cwd=project), "cv-missing").trials:
        assert t.state == "FAILED"
        assert 'the sweep\'s metric "f1" is missing (got acc)' in (t.error or "")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_early_fold_is_pruned_at_that_fold(project: Path, workers: int) -> None:
    spec = _spec(
        f"cv-prune-{workers}",
        "pruned",
        trials=12,
        pruner={"type": "median", "n_startup_trials": 3, "n_warmup_steps": 0},
    )
    result = sweepkit.run(spec, workers=workers, quiet=True)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, "the median pruner never stopped a trial after fold 0"
    for t in pruned:
        assert t.metrics["f1_folds"] == [pytest.approx(t.params["x"])]  # the fold it ran is kept
        assert t.steps == 1 and "median" in (t.reason or "")
    for t in result.trials:
        if t.state == "COMPLETE":
            assert len(t.metrics["f1_folds"]) == 5


def test_outputs_and_status_show_folds_and_infeasible_trials(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = sweepkit.run(_spec("cv-out"), quiet=True)
    out = project / "sweeps" / "cv-out"
    summary = json.loads((out / "tuning_results.json").read_text())
    best = result.best_trial
    assert summary["best_trial"] == best.number
    assert summary["best_folds"]["f1"] == pytest.approx(best.metrics["f1_folds"])
    assert summary["best_folds"]["auc"] == pytest.approx([0.5, 0.6, 0.7, 0.8])
    infeasible = {t.number for t in result.trials if not t.feasible}
    assert {row["number"] for row in summary["infeasible_trials"]} == infeasible
    history = {row["number"]: row for row in json.loads((out / "trials_history.json").read_text())}
    assert all(history[n]["feasible"] is False for n in infeasible)
    with (out / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        x = float(row["params_x"])
        assert float(row["metrics_f1_fold2"]) == pytest.approx(x - 0.3)
        assert float(row["metrics_constraint_memory_gb"]) == pytest.approx(x - 0.6)

    code, text, _ = cli(capsys, "status", "cv-out", "--last", "8")
    assert code == 0
    assert "folds" in text
    worst = next(t for t in result.trials if not t.feasible)
    assert f"infeasible: memory_gb +{worst.constraints['memory_gb']:.4g}" in text
    assert f"{best.metrics['f1_folds'][2]:.3g}" in text


PROGRAM = """
import sweepkit

run = sweepkit.init()
x = run.params["x"]
for k in range(3):
    run.log({"loss": 1.0 - x}, step=None)  # a plain metric: not a fold
    run.log_fold(k, {"f1": x + k / 10, "auc": 0.7})
run.constraint("latency_ms", x * 100 - 50)  # violated when x > 0.5
"""

PRUNED_PROGRAM = """
import sweepkit

run = sweepkit.init()
x = run.params["x"]
for k in range(4):
    run.log_fold(k, x if k == 0 else 1.0)
    import time; time.sleep(0.2)
"""


def _program_spec(name: str, program: str, trials: int = 6, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "trial": {"program": program},
        "metric": {"name": "f1", "goal": "maximize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "budget": {"trials": trials},
        "strategy": {"name": "random", "seed": 2},
        **extra,
    }


@pytest.mark.slow
def test_a_program_reports_folds_and_constraints_through_the_client(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PROGRAM)
    result = sweepkit.run(_program_spec("cv-prog", "prog.py"), quiet=True)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(done) == 6
    for t in done:
        x = t.params["x"]
        assert t.metrics["f1_folds"] == pytest.approx([x, x + 0.1, x + 0.2])
        assert t.metrics["auc_folds"] == pytest.approx([0.7, 0.7, 0.7])
        assert t.value == pytest.approx(x + 0.1)  # the mean of the folds
        assert t.metrics["loss"] == pytest.approx(1.0 - x)
        assert t.constraints == {"latency_ms": pytest.approx(x * 100 - 50)}
    best = result.best_trial
    assert best is not None and best.params["x"] <= 0.5
    assert any(not t.feasible for t in done)
    lines = [json.loads(line) for line in (workdir / "sweeps/cv-prog/trials/0/metrics.jsonl").read_text().splitlines()]
    assert {"event": "fold", "fold": 0, "metrics": {"f1": pytest.approx(done[0].params["x"]), "auc": 0.7}} in lines


@pytest.mark.slow
def test_a_program_is_pruned_after_a_bad_fold(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PRUNED_PROGRAM)
    spec = _program_spec("cv-prog-prune", "prog.py", 8, pruner={"type": "median", "n_startup_trials": 2})
    result = sweepkit.run(spec, quiet=True)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned
    for t in pruned:
        assert t.metrics["f1_folds"][0] == pytest.approx(t.params["x"]) and len(t.metrics["f1_folds"]) < 4


def test_a_malformed_fold_line_fails_the_program_trial(workdir: Path) -> None:
    channel_writer = (
        "import json, os\n"
        'line = json.dumps({"event": "fold", "fold": 0, "metrics": {"acc": 1}})\n'
        'open(os.environ["SWEEPKIT_CHANNEL"], "a").write(line + "\\n")\n'
    )
    (workdir / "prog.py").write_text(channel_writer)
    with pytest.raises(SweepFailed):
        sweepkit.run(_program_spec("cv-prog-bad", "prog.py", 1), quiet=True)
    (t,) = load_result(Store(cwd=workdir), "cv-prog-bad").trials
    assert t.state == "FAILED" and "fold line" in (t.error or "") and '"f1" is missing' in (t.error or "")


def test_the_client_outside_a_sweep_prints_and_stays_light(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import sweepkit
        run = sweepkit.init({"x": 1})
        run.log_fold(0, {"f1": 0.5, "auc": 0.25})
        run.log_fold(1, 0.75)
        run.constraint("memory_gb", 1.5)
        run.constraint("latency_ms", -3)
        heavy = ["optuna", "sqlalchemy", "numpy", "torch", "sweepkit.sweep", "yaml", "pydantic"]
        print([name for name in heavy if name in sys.modules])
        """
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(sweepkit.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "fold 0: f1=0.5 auc=0.25",
        "fold 1: value=0.75",
        "constraint memory_gb: 1.5 (violated)",
        "constraint latency_ms: -3 (feasible)",
        "[]",
    ]


def test_bad_fold_and_constraint_arguments_say_what_to_pass() -> None:
    study = optuna.create_study()
    from sweepkit._trial import BaseTrial
    from sweepkit.sweep._live import live_trial

    live = live_trial(study.ask(), {}, "t", metric="f1")
    context = BaseTrial(live.start, live)
    with pytest.raises(ValueError, match="whole number"):
        context.report_fold(0.5, {"f1": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be finite"):
        context.report_fold(0, {"f1": float("nan")})
    with pytest.raises(ValueError, match="name sweepkit uses itself"):
        context.set_constraint("sweepkit", 1.0)
    with pytest.raises(ValueError, match="expected a number"):
        context.set_constraint("memory", "lots")  # type: ignore[arg-type]
    context.set_constraint("memory", 2.0)
    context.set_constraint("memory", -1.0)  # the last value counts
    assert context.constraints == {"memory": -1.0}


def test_a_status_of_a_sweep_without_folds_has_no_folds_column(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweepkit.run({**_spec("plain"), "trial": {}}, objective=lambda p: {"f1": p["x"]}, quiet=True)
    code, text, _ = cli(capsys, "status", "plain")
    assert code == 0 and "folds" not in text and "infeasible" not in text
    assert load_result(Store(cwd=project), "plain").best_trial is not None


@pytest.mark.slow
def test_reported_constraints_steer_a_model_based_strategy(workdir: Path) -> None:
    """TPE reads Optuna 5's constraints: told that x > 0.5 is infeasible, it proposes such points less often
    than the same seeded sweep that is not told, and the best trial is feasible."""

    def sweep(report: bool) -> Any:
        def fn(params: dict[str, Any], trial: Any) -> float:
            if report:
                trial.set_constraint("latency", params["x"] - 0.5)
            return params["x"]

        spec = {
            "name": f"steer-{report}",
            "metric": {"name": "value", "goal": "maximize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "budget": {"trials": 40},
            "strategy": {"name": "tpe", "seed": 0, "n_startup_trials": 10},
        }
        return sweepkit.run(spec, objective=fn, quiet=True)

    blind, told = sweep(False), sweep(True)
    late = {name: sum(t.params["x"] > 0.5 for t in r.trials[20:]) for name, r in (("blind", blind), ("told", told))}
    assert late["told"] < late["blind"], late
    assert told.best_value is not None and told.best_value <= 0.5 < blind.best_value

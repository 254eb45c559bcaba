"""The sweep loop end to end, with real Optuna studies in a real embedded store."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.errors import SpecError, SweepFailed
from sweepkit.space import point_key


def spec(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "t",
        "metric": {"name": "loss", "goal": "minimize"},
        "strategy": {"name": "random", "seed": 0},
        "parameters": {
            "x": {"distribution": "uniform", "min": -1.0, "max": 1.0},
            "opt": {"values": ["adam", "sgd"]},
        },
    }
    base.update(extra)
    return base


def quadratic(params: dict[str, Any]) -> dict[str, float]:
    return {"loss": params["x"] ** 2 + (0.5 if params["opt"] == "sgd" else 0.0), "aux": 1.0}


def test_run_returns_records_and_writes_outputs(workdir: Path) -> None:
    result = sweepkit.run(spec(), objective=quadratic, trials=6, quiet=True)
    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.state == "COMPLETE" for t in result.trials)
    best = result.best_trial
    assert best is not None and best.value == min(t.value for t in result.trials)
    assert result.best_params == best.params and result.best_value == best.value
    assert best.metrics == {"loss": best.value, "aux": 1.0}
    assert all(t.duration is not None and t.start and t.end for t in result.trials)
    out = workdir / "sweeps" / "t"
    summary = json.loads((out / "tuning_results.json").read_text())
    assert summary["best_trial"] == best.number and summary["best_params"] == best.params
    assert summary["counts"]["COMPLETE"] == 6 and summary["strategy"] == "random"
    history = json.loads((out / "trials_history.json").read_text())
    assert len(history) == 6 and history[0]["params"] == result.trials[0].params
    csv_lines = (out / "trials.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and "params_x" in csv_lines[0] and "metrics_aux" in csv_lines[0]
    assert "learning" not in (out / "best_config.yaml").read_text()
    assert "opt:" in (out / "best_config.yaml").read_text()
    assert (out / "sweep.yaml").exists()


def test_resume_counts_done_trials_and_fresh_keeps_the_old_sweep(workdir: Path) -> None:
    first = sweepkit.run(spec(), objective=quadratic, trials=4, quiet=True)
    again = sweepkit.run(spec(), objective=quadratic, trials=7, quiet=True)
    assert len(again.trials) == 7
    assert [t.params for t in again.trials[:4]] == [t.params for t in first.trials]
    assert [t.value for t in again.trials[:4]] == [t.value for t in first.trials]
    fresh = sweepkit.run(spec(), objective=quadratic, trials=2, fresh=True, quiet=True)
    assert len(fresh.trials) == 2
    from sweepkit.store import Store

    assert Store(cwd=workdir).names() == ["t", "t.1"]
    assert (workdir / "sweeps" / "t.1" / "tuning_results.json").exists()


def test_failures_are_recorded_and_the_sweep_goes_on(workdir: Path) -> None:
    def flaky(params: dict[str, Any]) -> float:
        if params["opt"] == "sgd":
            raise ValueError("sgd diverged")
        if params["x"] > 0.5:
            return math.nan
        return params["x"]

    result = sweepkit.run(spec(), objective=flaky, trials=12, quiet=True)
    states = {t.state for t in result.trials}
    assert states == {"COMPLETE", "FAILED"}
    failed = [t for t in result.trials if t.state == "FAILED"]
    sgd = [t for t in failed if t.params["opt"] == "sgd"]
    assert sgd and all(t.error == "ValueError: sgd diverged" for t in sgd)
    assert all("raise ValueError" in (t.traceback or "") for t in sgd)
    nan = [t for t in failed if t.params["opt"] == "adam"]
    assert all(t.error == 'metric "loss" is NaN' for t in nan)
    assert len(result.trials) == 12


def test_first_trials_all_failing_stop_the_sweep(workdir: Path) -> None:
    calls = []

    def broken(params: dict[str, Any]) -> float:
        calls.append(params)
        raise KeyError("lr")

    with pytest.raises(SweepFailed, match=r"first 5 trials all failed.*probably a bug.*KeyError: 'lr'"):
        sweepkit.run(spec(), objective=broken, trials=50, quiet=True)
    assert len(calls) == 5
    summary = json.loads((workdir / "sweeps" / "t" / "tuning_results.json").read_text())
    assert summary["counts"]["FAILED"] == 5


def test_max_failures_in_a_row(workdir: Path) -> None:
    n = {"calls": 0}

    def later_broken(params: dict[str, Any]) -> float:
        n["calls"] += 1
        if n["calls"] > 2:
            raise RuntimeError("disk full")
        return 1.0

    with pytest.raises(SweepFailed, match="3 trials failed in a row"):
        sweepkit.run(spec(budget={"max_failures": 3}), objective=later_broken, trials=50, quiet=True)
    assert n["calls"] == 5


def test_missing_metric_and_bad_return_fail_with_reason(workdir: Path) -> None:
    result = sweepkit.run(spec(), objective=lambda p: {"loss": 1.0}, trials=1, quiet=True)
    assert result.trials[0].state == "COMPLETE"
    # no trial ever gave the metric: the first one stops the sweep (tests/sweep/test_missing_metric.py)
    with pytest.raises(SpecError, match="metric.name: expected a metric the trials log"):
        sweepkit.run(spec(name="u"), objective=lambda p: {"acc": 1.0}, trials=4, quiet=True)
    with pytest.raises(SweepFailed):
        sweepkit.run(spec(name="v"), objective=lambda p: "high", trials=2, quiet=True)
    from sweepkit.results._stored import load_result
    from sweepkit.store import Store

    errors = {name: [t.error for t in load_result(Store(), name).trials] for name in ("u", "v")}
    assert errors["u"] == ['the trial returned acc but not the sweep\'s metric "loss"']
    assert errors["v"] == ["metric \"loss\" is str 'high', not a number"] * 2


@pytest.mark.parametrize("strategy", ["grid", "random", "tpe", "qmc"])
def test_finite_space_never_repeats_a_point_and_ends_when_exhausted(workdir: Path, strategy: str) -> None:
    calls: list[str] = []

    def f(params: dict[str, Any]) -> float:
        calls.append(point_key(params))
        return params["a"] * 10 + params["b"] + (0.5 if params["c"] else 0)

    space = {"a": {"values": [1, 2, 3]}, "b": {"type": "int", "low": 0, "high": 1}, "c": [True, False]}
    result = sweepkit.run(
        spec(parameters=space, strategy={"name": strategy, "seed": 3}), objective=f, trials=40, quiet=True
    )
    assert len(calls) == 12 == len(set(calls))
    assert result.stop_reason == "space exhausted: all 12 points have been tried"
    assert [t.state for t in result.trials] == ["COMPLETE"] * 12


def test_conditional_and_derived_parameters(workdir: Path) -> None:
    seen: list[dict[str, Any]] = []
    params = {
        "loss_function": {"values": ["weighted_ce", "focal"]},
        "focal_gamma": {"type": "uniform", "low": 1.0, "high": 3.0, "when": "loss_function == 'focal'"},
        "embedding_dim": {"values": [32, 64, 128]},
        "d_model": {"expr": "embedding_dim * 4"},
    }
    sweepkit.run(spec(parameters=params), objective=lambda p: seen.append(p) or 0.0, trials=16, quiet=True)
    assert {p["loss_function"] for p in seen} == {"weighted_ce", "focal"}
    for p in seen:
        assert ("focal_gamma" in p) == (p["loss_function"] == "focal")
        assert p["d_model"] == p["embedding_dim"] * 4


def test_every_trial_reads_back_the_params_it_ran_with_from_the_store_alone(workdir: Path) -> None:
    """A plain space's trial and a derived/constant/W&B-quantile one alike: the params the function got are
    stored with the trial, read back through `trial_state` without the space to decode them."""
    import optuna

    from sweepkit.space import flatten
    from sweepkit.store import Store
    from sweepkit.trial_state import params_of

    seen: dict[tuple[str, float], dict[str, Any]] = {}

    def remembering(name: str) -> Any:
        def remember(p: dict[str, Any]) -> float:
            seen[name, p["x"]] = flatten(dict(p))
            return 0.0

        return remember

    special = {
        "x": {"distribution": "uniform", "min": 0.0, "max": 1.0},
        "double": {"expr": "x * 2"},
        "fixed": {"value": 7},
        "noise": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
    }
    plain = {"x": {"distribution": "uniform", "min": 0.0, "max": 1.0}, "n": {"values": [1, 2, 3]}}
    sweepkit.run(spec(name="special", parameters=special), objective=remembering("special"), trials=4, quiet=True)
    sweepkit.run(spec(name="plain", parameters=plain), objective=remembering("plain"), trials=4, quiet=True)
    store = Store(None, cwd=workdir)
    for name in ("special", "plain"):
        trials = store.load(name).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert len(trials) == 4
        for t in trials:
            stored = params_of(t)
            assert stored is not None and stored == seen[name, stored["x"]], (name, t.number)
            if name == "special":
                assert stored["double"] == stored["x"] * 2 and stored["fixed"] == 7
                assert "noise" not in t.params or t.params["noise"] != stored["noise"]  # Optuna keeps its quantile


def test_constraints_are_never_run_and_recorded_infeasible(workdir: Path) -> None:
    ran: list[dict[str, Any]] = []
    params = {"d_model": {"values": [64, 96, 128]}, "num_heads": {"values": [3, 4, 8]}}
    result = sweepkit.run(
        spec(parameters=params, constraints=["d_model % num_heads == 0"], strategy={"name": "tpe", "seed": 1}),
        objective=lambda p: ran.append(p) or p["d_model"] / p["num_heads"],
        trials=30,
        quiet=True,
    )
    assert ran and all(p["d_model"] % p["num_heads"] == 0 for p in ran)
    infeasible = [t for t in result.trials if t.state == "INFEASIBLE"]
    assert infeasible and all(t.error == 'violates constraint "d_model % num_heads == 0"' for t in infeasible)
    from sweepkit.store import Store
    from sweepkit.trial_state import params_of

    stored = {t.number: params_of(t) for t in Store(None, cwd=workdir).load("t").get_trials()}
    assert all(stored[t.number] == t.params for t in infeasible)  # a point never run is stored as sampled
    # 6 of the 9 points are feasible; the sweep runs each once and ends
    assert len(ran) == 6 and result.stop_reason.startswith("space exhausted")


def test_target_ends_the_sweep(workdir: Path) -> None:
    result = sweepkit.run(spec(metric={"name": "loss", "target": 0.3}), objective=quadratic, trials=200, quiet=True)
    assert result.stop_reason.startswith("target reached")
    assert result.best_value is not None and result.best_value <= 0.3
    assert len(result.trials) < 200


@pytest.mark.slow
def test_timeout_stops_launching(workdir: Path) -> None:
    import time

    def slow(params: dict[str, Any]) -> float:
        time.sleep(0.2)
        return 0.0

    result = sweepkit.run(spec(), objective=slow, timeout="1s", quiet=True)
    assert result.stop_reason == "timeout reached"
    assert 1 <= len(result.trials) <= 6  # trials of 0.2 s in a 1 s budget: never more, fewer when loaded


@pytest.mark.parametrize("strategy", ["random", "tpe"])
def test_a_seed_makes_a_sequential_sweep_reproducible(tmp_path: Path, strategy: str) -> None:
    runs = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        result = sweepkit.run(
            spec(strategy={"name": strategy}), objective=quadratic, trials=15, seed=7, quiet=True, cwd=tmp_path / folder
        )
        runs.append([t.params for t in result.trials])
    assert runs[0] == runs[1]


def test_trial_context_reports_intermediate_values(workdir: Path) -> None:
    def curve(params: dict[str, Any], trial: Any) -> float:
        for step in range(3):
            trial.report(params["x"] + step, step)
        trial.log({"epochs": 3})
        assert trial.number >= 0 and trial.params is params
        return params["x"]

    result = sweepkit.run(spec(), objective=curve, trials=2, quiet=True)
    assert result.trials[0].metrics["epochs"] == 3
    study_values = sweepkit.run(spec(), objective=curve, trials=2, quiet=True).trials
    assert len(study_values) == 2


def test_objective_from_the_sweep_file(workdir: Path) -> None:
    (workdir / "train.py").write_text("def objective(params):\n    return {'loss': params['x'] ** 2}\n")
    (workdir / "sweep.yaml").write_text(
        "trial: {function: 'train:objective'}\nmetric: {name: loss}\n"
        "parameters:\n  x: {min: -1.0, max: 1.0}\nbudget: {trials: 3}\n"
    )
    result = sweepkit.run("sweep.yaml", quiet=True)
    assert result.name == "sweep" and len(result.trials) == 3
    with pytest.raises(SpecError, match='"train" has no callable "objectiv" \\(did you mean "objective"\\?\\)'):
        sweepkit.run("sweep.yaml", quiet=True, overrides=["trial.function=train:objectiv"])
    with pytest.raises(SpecError) as info:
        sweepkit.run("sweep.yaml", quiet=True, overrides=["trial.function=nosuchmodule:f"])
    assert info.value.key == "trial.function" and 'module "nosuchmodule" not found' in info.value.message


def test_goal_change_on_resume_is_a_user_error(workdir: Path) -> None:
    sweepkit.run(spec(), objective=quadratic, trials=1, quiet=True)
    from sweepkit.errors import UsageError

    with pytest.raises(UsageError, match="--fresh"):
        sweepkit.run(spec(metric={"name": "loss", "goal": "maximize"}), objective=quadratic, trials=2, quiet=True)


def test_choices_that_compare_equal_stay_distinct(workdir: Path) -> None:
    seen: list[Any] = []
    params = {"n": {"values": [1, True, 0, False]}}
    result = sweepkit.run(
        spec(parameters=params), objective=lambda p: seen.append(p["n"]) or 0.0, trials=20, quiet=True
    )
    assert sorted(map(repr, seen)) == sorted(["1", "True", "0", "False"])
    assert result.stop_reason.startswith("space exhausted")


def test_a_small_sweep_whose_trials_all_fail_is_a_failed_sweep(workdir: Path) -> None:
    def broken(params: dict[str, Any]) -> float:
        raise RuntimeError("no data")

    with pytest.raises(SweepFailed, match="all 3 trials failed.*RuntimeError: no data"):
        sweepkit.run(spec(), objective=broken, trials=3, quiet=True)


def test_a_derived_value_that_cannot_be_computed_is_a_spec_error(workdir: Path) -> None:
    params = {"x": [0, 1], "d": {"expr": "1 / x"}}
    with pytest.raises(SpecError, match="cannot compute a point of the space"):
        sweepkit.run(spec(parameters=params), objective=lambda p: 0.0, trials=3, quiet=True)

"""The Python API around a sweep's result: `sweepkit.run`'s typed result (`to_dataframe()`, `study`),
`sweepkit.load(name)` for a past sweep, and the typed `Spec` users read."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit.errors import UsageError
from sweepkit.results import SweepResult
from sweepkit.spec._model import CheckpointsSpec, NotifySpec, ResourcesSpec, SpecModel, TrackingSpec
from sweepkit.spec._names import folder_name
from sweepkit.store import Store
from sweepkit.trial_state import ATTR, SCHEMA_VERSION, State, state_of, sweep_meta


def _objective(params: dict[str, Any], trial: Any) -> dict[str, float]:
    if params["opt"] == "broken":
        raise ValueError("this optimizer is broken")
    return {"loss": (params["lr"] - 0.3) ** 2, "acc": 1 - params["lr"]}


SPEC: dict[str, Any] = {
    "name": "api/sweep",  # a label: the store's name is NAME
    "metric": {"name": "loss", "goal": "minimize"},
    "strategy": {"name": "random", "seed": 3},
    "budget": {"trials": 12},
    "parameters": {
        "lr": {"min": 0.0, "max": 1.0},
        "opt": {"values": ["adam", "sgd", "broken"]},
        "model": {"parameters": {"depth": {"values": [2, 4]}}},  # nested: params_model.depth
    },
    "constraints": ["lr < 0.9"],
}


NAME = folder_name("api/sweep")


@pytest.fixture
def ran(workdir: Path) -> SweepResult:
    return sweepkit.run(SPEC, objective=_objective, quiet=True)


def test_run_result_as_a_dataframe(ran: SweepResult) -> None:
    frame = ran.to_dataframe()
    assert list(frame["number"]) == [t.number for t in ran.trials]
    assert {"number", "state", "value", "params_lr", "params_opt", "params_model.depth"} <= set(frame.columns)
    assert {"metrics_acc", "seed", "duration", "start", "end", "error", "reason"} <= set(frame.columns)
    by_number = frame.set_index("number")
    for t in ran.trials:
        row = by_number.loc[t.number]
        assert row["state"] == t.state  # sweepkit's states (INFEASIBLE, FAILED), not Optuna's
        assert row["params_lr"] == pytest.approx(t.params["lr"])
        assert row["params_model.depth"] == t.params["model"]["depth"]
        assert row["seed"] == t.seed
        if t.value is None:
            assert math.isnan(row["value"])
        else:
            assert row["value"] == pytest.approx(t.value)
    states = set(frame["state"])
    assert {"COMPLETE", "FAILED", "INFEASIBLE"} <= states  # the seed gives each
    best = frame.loc[frame["value"].idxmin()]
    assert best["number"] == ran.best_trial.number  # type: ignore[union-attr]
    complete = frame[frame["state"] == "COMPLETE"]
    assert (complete["duration"].dt.total_seconds() >= 0).all()
    assert list(complete["metrics_acc"]) == pytest.approx(list(1 - complete["params_lr"]))
    failed = frame[frame["params_opt"] == "broken"]
    assert all(s in ("FAILED", "INFEASIBLE") for s in failed["state"])
    assert all(
        "this optimizer is broken" in e for e, s in zip(failed["error"], failed["state"], strict=True) if s == "FAILED"
    )


def test_run_result_study_is_loaded_from_the_store_when_asked(ran: SweepResult) -> None:
    assert "study" not in vars(ran)  # nothing loaded until asked
    study = ran.study
    assert isinstance(study, optuna.Study)
    assert study.study_name == NAME
    numbers = {t.number for t in study.get_trials(deepcopy=False) if state_of(t) != State.DISCARDED}
    assert numbers == {t.number for t in ran.trials}
    assert ran.study is study  # loaded once


def test_load_reads_a_past_sweep_by_name_or_label(ran: SweepResult, workdir: Path) -> None:
    for name in (NAME, "api/sweep"):
        loaded = sweepkit.load(name)
        assert loaded.name == NAME
        assert [t.number for t in loaded.trials] == [t.number for t in ran.trials]
        assert [t.state for t in loaded.trials] == [t.state for t in ran.trials]
        assert loaded.best_trial is not None and loaded.best_trial.number == ran.best_trial.number  # type: ignore[union-attr]
        assert loaded.best_params == ran.best_params
        assert loaded.seed == ran.seed == 3
        assert loaded.to_dataframe().equals(ran.to_dataframe())
        assert loaded.study.study_name == NAME


@pytest.mark.slow
def test_load_from_elsewhere_and_from_a_url(ran: SweepResult, workdir: Path, tmp_path_factory: Any) -> None:
    other = tmp_path_factory.mktemp("elsewhere")
    with pytest.raises(UsageError):  # no store there
        sweepkit.load(NAME, cwd=other)
    assert sweepkit.load(NAME, cwd=workdir).best_value == ran.best_value
    url = f"sqlite:///{other / 'db.sqlite'}"
    sql = sweepkit.run({**SPEC, "name": "on-sql"}, objective=_objective, storage=url, quiet=True, cwd=other)
    loaded = sweepkit.load("on-sql", storage=url)
    assert loaded.best_value == sql.best_value
    assert loaded.study.study_name == "on-sql" and sql.study.study_name == "on-sql"


def test_load_names_the_sweeps_there_when_the_name_is_unknown(ran: SweepResult) -> None:
    with pytest.raises(UsageError) as caught:
        sweepkit.load("api-swep")
    assert NAME in str(caught.value)


def test_dataframe_of_a_multi_objective_sweep(workdir: Path) -> None:
    spec = {
        **SPEC,
        "name": "two",
        "constraints": [],
        "metric": [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
        "parameters": {"lr": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd"]}},
        "budget": {"trials": 5},
    }
    result = sweepkit.run(spec, objective=_objective, quiet=True)
    frame = result.to_dataframe()
    assert {"value", "values_loss", "values_acc"} <= set(frame.columns)
    assert (frame["values_loss"] == frame["value"]).all()  # value: the first objective
    assert list(frame["values_acc"]) == pytest.approx(list(1 - frame["params_lr"]))


def test_dataframe_without_pandas_says_how_to_get_it(ran: SweepResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    with pytest.raises(UsageError, match="pip install pandas"):
        ran.to_dataframe()


def test_the_sweep_is_stored_with_its_schema_version(ran: SweepResult) -> None:
    meta = ran.study.user_attrs[ATTR]
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["spec"]["name"] == "api/sweep"  # the sweep file as resolved: loads back to the same Spec
    spec = sweepkit.load_spec(meta["spec"])
    assert spec.name == NAME and spec.metric.name == "loss" and spec.strategy.seed == 3


def _as_old_format(workdir: Path, name: str) -> None:
    """Rewrite the sweep's metadata as a sweepkit that kept no schema version wrote it."""
    study = optuna.load_study(study_name=name, storage=Store(None, cwd=workdir).storage)
    old = {k: v for k, v in study.user_attrs[ATTR].items() if k != "schema_version"}
    study.set_user_attr(ATTR, old)
    assert "schema_version" not in study.user_attrs[ATTR]


@pytest.mark.slow
def test_a_sweep_stored_before_schema_versions_loads_resumes_and_upgrades(ran: SweepResult, workdir: Path) -> None:
    _as_old_format(workdir, NAME)
    loaded = sweepkit.load(NAME)
    assert sweep_meta(loaded.study)["schema_version"] == 1  # read as the old version
    assert loaded.best_params == ran.best_params and loaded.seed == 3
    assert [t.params for t in loaded.trials] == [t.params for t in ran.trials]
    status = subprocess.run(
        [sys.executable, "-m", "sweepkit", "status", NAME], capture_output=True, text=True, cwd=workdir
    )
    assert status.returncode == 0, status.stderr
    assert "api/sweep" in status.stdout
    resumed = sweepkit.run(SPEC, objective=_objective, quiet=True, trials=14)  # same space: resumes
    assert resumed.finished == 14
    assert resumed.study.user_attrs[ATTR]["schema_version"] == SCHEMA_VERSION  # written anew


def test_spec_sections_are_typed(workdir: Path) -> None:
    spec = sweepkit.load_spec(
        {
            "parameters": {"x": {"min": 0, "max": 1}},
            "resources": {"workers": 2, "backend": "Ray"},
            "tracking": {"mlflow": True},
            "checkpoints": {"keep": "top-k", "k": 2},
            "notify": {"command": ["true"], "on": "finish"},
            "pruner": {"type": "median"},
        }
    )
    assert isinstance(spec, SpecModel)  # the validated model is the spec
    assert isinstance(spec.resources, ResourcesSpec) and spec.resources.workers == 2
    assert spec.resources.backend == "ray"
    assert isinstance(spec.tracking, TrackingSpec) and spec.tracking.mlflow.enabled and not spec.tracking.wandb.enabled
    assert isinstance(spec.checkpoints, CheckpointsSpec) and spec.checkpoints.count == 2
    assert isinstance(spec.notify, NotifySpec) and spec.notify.on == ["finish"]
    assert spec.pruner == {"type": "median"} and spec.scheduler is None and spec.early_terminate is None
    assert spec.extra == {"pruner": {"type": "median"}, "resources": {"workers": 2, "backend": "ray"}}
    bare = sweepkit.load_spec({"parameters": {"x": {"min": 0, "max": 1}}, "pruner": {}})
    assert bare.resources is None and bare.checkpoints is None and bare.notify is None and bare.pruner is None
    assert not bare.tracking.mlflow.enabled and bare.extra == {}

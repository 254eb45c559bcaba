"""`trial.report_fold` feeds MLflow's grandchild runs (one per fold, under the trial's child run), on a real
MLflow file store: the folds a trial reported, its other per-fold metrics under their own names, and a
pruned trial's folds up to the one that stopped it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import sweepkit

pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'sweepkit[mlflow]'")
from mlflow import MlflowClient  # noqa: E402

pytestmark = pytest.mark.slow

TRAIN = """
def objective(params, trial):
    x = params["x"]
    for k in range(3):
        trial.report_fold(k, {"macro_f1": x + k / 10, "pos_f1": 0.5 - k / 10})
    trial.set_constraint("memory_gb", 1.0 if x > 0.8 else -1.0)
"""

SWEEP = """
name: mlfolds
trial: {{function: "mlfolds_train:objective"}}
metric: {{name: macro_f1, goal: maximize}}
strategy: {{name: grid}}
parameters:
  x: {{values: [0.25, 0.5, 0.9, 0.05]}}
pruner: {{type: threshold, lower: 0.1}}
tracking:
  mlflow: {{tracking_uri: "{uri}", experiment: cv-folds}}
"""


def _runs(client: MlflowClient, role: str, **tags: str) -> list[Any]:
    exp = client.get_experiment_by_name("cv-folds")
    assert exp is not None
    where = [f"tags.`sweepkit.role` = '{role}'", *(f"tags.`{k}` = '{v}'" for k, v in tags.items())]
    return list(client.search_runs([exp.experiment_id], filter_string=" and ".join(where), max_results=1000))


def test_reported_folds_become_grandchild_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in for its file store
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    sys.modules.pop("mlfolds_train", None)
    (tmp_path / "mlfolds_train.py").write_text(textwrap.dedent(TRAIN).lstrip())
    store = tmp_path / "mlruns"
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(SWEEP.format(uri=store.as_uri())).lstrip())

    result = sweepkit.run(path, quiet=True)
    states = {t.params["x"]: t.state for t in result.trials}
    assert states == {0.25: "COMPLETE", 0.5: "COMPLETE", 0.9: "COMPLETE", 0.05: "PRUNED"}
    assert result.best_trial is not None and result.best_trial.params["x"] == 0.5  # 0.9 violates memory_gb

    client = MlflowClient(tracking_uri=store.as_uri())
    (parent,) = _runs(client, "sweep")
    assert parent.data.tags["best_trial"] == str(result.best_trial.number)
    children = {float(r.data.params["x"]): r for r in _runs(client, "trial")}
    for x, child in children.items():
        folds = _runs(client, "fold", **{"mlflow.parentRunId": child.info.run_id})
        per_fold = sorted(
            (int(r.data.tags["sweepkit.fold"]), r.data.metrics["macro_f1"], r.data.metrics["pos_f1"]) for r in folds
        )
        ran = 1 if x == 0.05 else 3  # the pruned trial stopped after fold 0 (0.05 < the threshold 0.1)
        assert per_fold == [(k, pytest.approx(x + k / 10), pytest.approx(0.5 - k / 10)) for k in range(ran)]
        if ran == 3:
            assert child.data.metrics["macro_f1"] == pytest.approx(x + 0.1)  # the trial's value: the fold mean
            assert child.data.metrics["constraint.memory_gb"] == (1.0 if x > 0.8 else -1.0)
        assert child.data.tags.get("sweepkit.feasible") == ("false" if x > 0.8 else None)

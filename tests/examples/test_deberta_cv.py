"""examples/deberta-cv runs from its README: the Hydra + MLflow 5-fold CV workflow's `hpo:` config, a PyTorch
text classifier reporting each fold with `trial.report_fold`, MLflow grandchild runs per fold."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest
import yaml

from tests.examples._readme import copy_example, run_readme

pytest.importorskip("torch", reason="the deberta-cv example trains a PyTorch model: pip install torch")
pytest.importorskip("mlflow", reason="the deberta-cv example logs to MLflow: pip install 'sweepkit[mlflow]'")
pytestmark = pytest.mark.slow

NAME = "deberta-cv-hpo"


def test_the_readme_commands_run_and_leave_folds_everywhere(tmp_path: Path) -> None:
    folder = copy_example("deberta-cv", tmp_path)
    env = {**os.environ, "COLUMNS": "200"}
    outputs = [run.stdout + run.stderr for run in run_readme(folder, env)]
    assert len(outputs) == 4

    out = folder / "sweeps" / NAME
    summary = json.loads((out / "tuning_results.json").read_text())
    assert summary["total_trials"] == 12 and summary["metric"] == "macro_f1"
    best_folds = summary["best_folds"]
    assert set(best_folds) == {"macro_f1", "pos_f1", "roc_auc"} and len(best_folds["macro_f1"]) == 5
    assert summary["best_value"] == pytest.approx(statistics.fmean(best_folds["macro_f1"]))  # fold_aggregation
    trials = json.loads((out / "trials_history.json").read_text())
    for t in trials:
        folds = t["metrics"]["macro_f1_folds"]
        assert t["state"] in ("COMPLETE", "PRUNED")
        assert len(folds) == 5 if t["state"] == "COMPLETE" else 1 <= len(folds) < 5  # pruned after a fold
        assert ("focal_gamma" in t["params"]) == (t["params"]["loss_function"] == "focal")  # conditional
    assert (out / "folds.png").read_bytes()[:4] == b"\x89PNG"
    assert '<section id="folds">' in (out / "report.html").read_text()

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    roles = [r.data.tags.get("sweepkit.role") for r in runs]
    assert roles.count("sweep") == 1 and roles.count("trial") == 12
    assert roles.count("fold") == sum(len(t["metrics"]["macro_f1_folds"]) for t in trials)  # one per fold run
    fold_run = next(r for r in runs if r.data.tags.get("sweepkit.role") == "fold")
    assert {"macro_f1", "pos_f1", "roc_auc"} <= set(fold_run.data.metrics)

    assert "folds" in outputs[2]  # status shows each trial's folds
    best = yaml.safe_load((folder / "configs" / "trainer" / "hpo_best.yaml").read_text())
    assert best == summary["best_params"]

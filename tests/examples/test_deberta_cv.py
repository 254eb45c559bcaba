"""examples/deberta-cv runs from its README: the Hydra + MLflow 5-fold CV workflow's `hpo:` config, a PyTorch
text classifier reporting each fold with `trial.report_fold`, MLflow grandchild runs per fold."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch", reason="the deberta-cv example trains a PyTorch model: pip install torch")
pytest.importorskip("mlflow", reason="the deberta-cv example logs to MLflow: pip install 'sweepkit[mlflow]'")
pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deberta-cv"
NAME = "deberta-cv-hpo"


def _commands(readme: str) -> list[list[str]]:
    """The README's first bash block, each line as an argv list (no shell)."""
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None, "the README has no bash block"
    commands = []
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        if argv[0] == "sweepkit":
            argv = [sys.executable, "-m", "sweepkit", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        commands.append(argv)
    return commands


def test_the_readme_commands_run_and_leave_folds_everywhere(tmp_path: Path) -> None:
    folder = tmp_path / "deberta-cv"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("sweeps", "*.db", "mlruns", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "SWEEPKIT_NO_REPORT"}  # the report draws folds.png
    env["COLUMNS"] = "200"
    outputs = []
    for argv in _commands((folder / "README.md").read_text()):
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout + done.stderr)
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

"""examples/gbm-farm: the README's commands, run as written, in a copy of the folder: two runs of the same
sweep with the same seed agree trial by trial, with seeded params, Hyperband pruning and the environment
record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sweepkit.seeding import trial_seed
from tests.examples._readme import copy_example, run_readme

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gbm-farm"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_readme_runs_and_the_same_seed_repeats_every_trial(tmp_path: Path) -> None:
    for module in ("lightgbm", "xgboost", "catboost", "sklearn"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install 'sweepkit[gbm,examples]'")
    folder = copy_example("gbm-farm", tmp_path)
    env = dict(os.environ)
    env.pop("CUDA_VISIBLE_DEVICES", None)  # the README's commands train on the CPU
    outputs = [run.stdout + run.stderr for run in run_readme(folder, env)]
    assert len(outputs) == 3
    assert "24 of 24 trials identical (seed, params, state, value)" in outputs[2]

    out = folder / "sweeps" / "gbm-farm"
    summary = json.loads((out / "tuning_results.json").read_text())
    assert summary["seed"] == 123456
    assert summary["counts"]["COMPLETE"] + summary["counts"]["PRUNED"] == 24
    assert summary["counts"]["PRUNED"] > 0  # Hyperband stopped some configurations early
    assert summary["trial_seeds"] == {str(n): trial_seed(123456, n) for n in range(24)}
    history = json.loads((out / "trials_history.json").read_text())
    models = {t["params"]["model"] for t in history}
    assert models == {"lightgbm", "xgboost", "catboost"}
    for t in history:  # a model's section only for trials of that model; each trial saw its own seed
        assert set(t["params"]) == {"model", t["params"]["model"]}
        if t["state"] == "COMPLETE":
            assert t["metrics"]["seed"] == t["seed"]
            assert 0 < t["value"] < 0.7 and t["metrics"]["val_auc"] > 0.9
    first = json.loads((folder / "sweeps" / "gbm-farm.1" / "trials_history.json").read_text())
    assert [(t["params"], t["value"]) for t in first] == [(t["params"], t["value"]) for t in history]

    record = json.loads((out / "environment.json").read_text())
    (run,) = record["runs"]  # the first run's record went with it into gbm-farm.1
    assert run["seed"] == 123456 and run["command"][-1] == "--fresh"
    assert {"lightgbm", "catboost", "optuna"} <= set(run["packages"])
    assert run["gpu"]["devices"] == [] or run["gpu"]["driver"]  # no GPU here; a GPU machine names its driver

"""examples/wandb-multihead: the README's commands, run as a user would, from a copy of the folder.

The W&B multi-head workflow's sweep file loads unchanged (bayes, hyperband early termination) and drives a
torch script that only knows `wandb.init()`/`wandb.log`; its multi-objective variant gives a Pareto front
that `sweepkit best` lists and `--pick` chooses from."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml

from tests.examples._readme import copy_example, run_readme

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wandb-multihead"
GUIDE_FILE = EXAMPLE / "configs" / "sweep_config.yaml"


@pytest.mark.slow
def test_the_readme_commands_run_the_wandb_file_and_its_multi_objective_variant(tmp_path: Path) -> None:
    for module in ("torch", "wandb"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'sweepkit[wandb]' torch): the example needs it")
    workdir = copy_example("wandb-multihead", tmp_path)
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    env.pop("WANDB_API_KEY", None)  # no account, no network: W&B runs offline
    outputs = [run.stdout for run in run_readme(workdir, env)]

    single = json.loads((workdir / "sweeps" / "sweep_config" / "tuning_results.json").read_text())
    assert single["metric"] == "val/gcode_acc" and single["goal"] == "maximize" and single["strategy"] == "gp"
    assert single["counts"]["COMPLETE"] + single["counts"]["PRUNED"] == 5
    history = json.loads((workdir / "sweeps" / "sweep_config" / "trials_history.json").read_text())
    assert all(t["params"]["max_epochs"] == 12 for t in history)
    assert all(t["reason"].startswith("wandb-hyperband: ") for t in history if t["state"] == "PRUNED")

    multi = json.loads((workdir / "sweeps" / "sweep_multiobjective" / "tuning_results.json").read_text())
    assert multi["objectives"] == [
        {"name": "val/gcode_acc", "goal": "maximize"},
        {"name": "model/params", "goal": "minimize"},
    ]
    front = multi["pareto_front"]
    assert front and multi["counts"]["COMPLETE"] == 8
    for entry in front:
        assert 0.0 <= entry["values"]["val/gcode_acc"] <= 1.0 and entry["values"]["model/params"] > 1000
    # on the front, a bigger model is there only for a better accuracy
    by_size = sorted(front, key=lambda e: e["values"]["model/params"])
    accuracies = [e["values"]["val/gcode_acc"] for e in by_size]
    assert accuracies == sorted(accuracies)
    # `best` lists every front trial; `--pick model/params --format args` gives the smallest model
    table = outputs[-2]
    assert "Pareto front of sweep sweep_multiobjective" in table
    assert all(f"│ {e['number']} " in table for e in front)
    smallest = min(front, key=lambda e: (e["values"]["model/params"], e["number"]))
    assert f"--d_model={smallest['params']['d_model']} " in outputs[-1]
    assert f"--command_weight={smallest['params']['command_weight']}" in outputs[-1]
    assert (workdir / "sweeps" / "sweep_multiobjective" / "pareto_front.png").stat().st_size > 10_000


def test_the_wandb_file_is_the_workflow_file_as_written(tmp_path: Path) -> None:
    """What the README promises: W&B's own keys, read without edits (bayes, early_terminate, the metric)."""
    from sweepkit.spec import load_spec

    raw = yaml.safe_load(GUIDE_FILE.read_text())
    assert raw["method"] == "bayes" and raw["early_terminate"]["type"] == "hyperband"
    assert raw["program"] == "scripts/train_multihead.py"
    spec = load_spec(GUIDE_FILE)
    assert spec.dialect == "wandb" and spec.metric.name == "val/gcode_acc"
    multi = load_spec(EXAMPLE / "configs" / "sweep_multiobjective.yaml")
    assert [(o.name, o.goal) for o in multi.metric.objectives] == [
        ("val/gcode_acc", "maximize"),
        ("model/params", "minimize"),
    ]
    combined = load_spec(EXAMPLE / "configs" / "sweep_combined.yaml")
    assert combined.metric.combine == {"val/gcode_acc": 0.7, "val/loss": -0.3}
    assert combined.extra.get("early_terminate")  # a combined metric keeps early stopping

"""The NER LoRA workflow's example runs from its README: the `hyperopt:` file under `combined` (TPE with ASHA
stopping trials on their per-epoch F1), the best config written into a copy of the training config, the
training script run on that copy, and the retrain."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.examples._readme import copy_example, run_readme

pytest.importorskip("torch", reason="the NER LoRA example trains a PyTorch model: pip install torch")


@pytest.mark.slow
def test_ner_lora_example_runs_from_its_readme(tmp_path: Path) -> None:
    workdir = copy_example("ner-lora", tmp_path)
    outputs = [run.stdout + run.stderr for run in run_readme(workdir)]
    assert len(outputs) == 5

    # The sweep: the file's own name, metric, budget and results_dir; `combined` ran TPE and stopped trials early.
    results = json.loads((workdir / "hyperopt_results" / "tuning_results.json").read_text())
    assert (results["sweep"], results["metric"], results["goal"]) == ("ner_lora", "eval_f1", "maximize")
    assert results["strategy"] == "tpe"
    counts = results["counts"]
    assert counts["COMPLETE"] + counts["PRUNED"] == 20 and counts["FAILED"] == 0
    assert counts["PRUNED"] >= 1, "combined stopped no trial early"
    assert "successive_halving" in outputs[1] and "rungs at steps 1, 3, 9" in outputs[1]
    best = results["best_params"]
    assert set(best) == {"learning_rate", "warmup_ratio", "lora_dropout", "lora_r", "lora_alpha",
                         "per_device_train_batch_size"}  # fmt: skip
    assert results["best_value"] > 0.5  # a real tagger learned: random tags score near 0

    # `best --into`: a copy of the training config with the best values in their own sections.
    saved = yaml.safe_load((workdir / "best.yaml").read_text())
    assert saved["lora"]["lora_r"] == best["lora_r"] and saved["lora"]["lora_alpha"] == best["lora_alpha"]
    assert saved["training"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert saved["training"]["num_train_epochs"] == 9 and saved["model"]["num_labels"] == 7  # the rest kept
    assert saved["hyperopt"]["strategy"] == "combined"
    assert "# Recommended: Bayesian + Hyperband" in (workdir / "best.yaml").read_text()  # comments kept
    original = yaml.safe_load((workdir / "hyperopt.yaml").read_text())
    assert original["lora"]["lora_r"] == 8  # --output: the config itself is left as it was

    # The training script trained on the saved config.
    trained = re.search(r"eval_f1 = ([0-9.]+)", outputs[3])
    assert trained and f"lora_r={best['lora_r']}" in outputs[3] and float(trained.group(1)) > 0.5

    # The retrain: one trial of the best params at the full budget, as its own sweep.
    retrain = json.loads((workdir / "hyperopt_results-retrain" / "tuning_results.json").read_text())
    assert retrain["sweep"] == "ner_lora-retrain"
    assert retrain["counts"]["COMPLETE"] == 1
    assert retrain["best_params"] == best
    assert retrain["steps"]["spent"] == 9  # all 9 epochs, no early stopping

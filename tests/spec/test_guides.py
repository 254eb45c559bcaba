"""The workflow guides' own config files run unchanged: a Hydra config's `hpo:` section, a `hyperopt:`
section inside a training config, and a GPU sweep farm's `sweep_config.json` (with its `//` comments).

Each file is written as the guide shows it (the guide's blocks, completed only as the guide itself
describes), loaded whole, then run for real through the `sweepkit` command with what to run given on the
command line (`--function module:fn` or `-- python train.py ...`), from the project's root folder while the
file sits in a config folder, as the guides lay projects out.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import sweepkit
from sweepkit import SpecError
from sweepkit.results._stored import load_result
from sweepkit.store import Store
from sweepkit.sweep import early_stopping, prepare
from tests.cli_run import cli as _cli

# -- the files ---------------------------------------------------------------------------------------------

HPO = """
hpo:
  study:
    study_name: "deberta-v3-hpo"
    storage: "sqlite:///optuna.db"  # Persistent study storage
    direction: "maximize"  # Maximize macro F1
    load_if_exists: true  # Resume from existing study
  trials:
    n_trials: 50  # Number of trials to run
    timeout: null  # Optional timeout in seconds
    n_jobs: 1  # Number of parallel jobs
  metric:
    name: "macro_f1"  # Options: macro_f1, pos_f1, roc_auc, pr_auc
    fold_aggregation: "mean"  # Options: mean, median, min, max
  pruner:
    type: "median"  # Prune trials performing worse than median
    n_startup_trials: 5  # Don't prune first 5 trials
    n_warmup_steps: 0  # Start pruning from beginning
    interval_steps: 1  # Check every step
  search_space:
    learning_rate:
      type: "log_uniform"
      low: 1e-6
      high: 1e-4
    per_device_train_batch_size:
      type: "categorical"
      choices: [8, 16, 32]
    num_train_epochs:
      type: "int"
      low: 2
      high: 5
    warmup_ratio:
      type: "uniform"
      low: 0.0
      high: 0.1
    weight_decay:
      type: "uniform"
      low: 0.0
      high: 0.05
    loss_function:
      type: "categorical"
      choices: [weighted_ce, focal]
    focal_gamma:
      type: "uniform"
      low: 1.0
      high: 3.0
    focal_alpha:
      type: "uniform"
      low: 0.1
      high: 0.5
"""

HYPEROPT = """
# Your existing config
model:
  model_name: "mistralai/Mistral-7B-v0.3"
  # ... other settings

training:
  num_train_epochs: 5
  # ... other settings

# Add hyperopt section
hyperopt:
  enabled: true
  strategy: "combined"  # Recommended: Bayesian + Hyperband
  optuna_enabled: true
  asha_enabled: true
  num_trials: 50
  max_concurrent: 4        # Parallel trials
  timeout: 3600           # Max time in seconds

  # Metric to optimize
  metric: "eval_f1"
  mode: "max"             # "max" or "min"

  # Optuna settings
  optuna_sampler: "TPE"           # TPE, CMA, Random, GPSampler
  optuna_pruner: "median"         # median, hyperband, none
  optuna_n_startup_trials: 10

  # ASHA settings
  asha_max_t: 100                 # Max training iterations
  asha_grace_period: 1            # Min iterations before pruning
  asha_reduction_factor: 3        # Aggressiveness of pruning

  # Storage and logging
  results_dir: "./hyperopt_results"
  study_name: "mistral_ner_optimization"
  log_to_file: true

  ray_address: "ray://head_node_ip:10001"
  resources_per_trial:
    cpu: 2.0
    gpu: 1.0

  search_space:
    # Continuous parameters
    learning_rate:
      type: "loguniform"
      low: 1e-5
      high: 1e-3
    warmup_ratio:
      type: "uniform"
      low: 0.0
      high: 0.1
    # Discrete parameters
    lora_r:
      type: "choice"
      choices: [8, 16, 32, 64]
    per_device_train_batch_size:
      type: "choice"
      choices: [4, 8, 16]
    # Integer parameters
    num_epochs:
      type: "int"
      low: 1
      high: 10
"""

# The guide's template, with `parameter_ranges` filled in for the models it names (CatBoost, LightGBM,
# XGBoost), as `[low, high]` ranges.
SWEEP_CONFIG = """
{
    "sweep_type": "hyperband",  // Options: hyperband, grid, random, bayesian
    "hyperband": {
        "iterations": 10,        // Number of Hyperband iterations
        "max_iter": 81,         // Maximum resource allocation
        "eta": 3                // Reduction factor
    },
    "parameter_ranges": {
        // Define parameter search spaces for each model
        "catboost": {
            "depth": [4, 10],
            "learning_rate": [0.01, 0.3],
            "l2_leaf_reg": [1, 10]
        },
        "lightgbm": {
            "num_leaves": [15, 255],
            "learning_rate": [0.01, 0.3],
            "boosting_type": ["gbdt", "dart", "goss"]
        },
        "xgboost": {
            "max_depth": [3, 10],
            "subsample": [0.5, 1.0]
        }
    },
    "gpu_settings": {
        "memory_fraction": 0.8,  // GPU memory allocation
        "deterministic": true    // Force deterministic ops
    }
}
"""

# Tiny stand-ins for the guides' training code: a function with trial.report, and a script that reads its
# params from the command line and reports through sweepkit's client.
TRAIN = """
import math


def macro_f1(params, trial):
    folds = []
    for fold in range(3):
        folds.append(1 - abs(math.log10(params["learning_rate"]) + 5) / 3 - params["weight_decay"])
        trial.report(sum(folds) / len(folds), fold)
    return {"macro_f1": folds}


def eval_f1(params, trial):
    for step in range(trial.max_steps or 12):
        f1 = (1 - abs(math.log10(params["learning_rate"]) + 4) / 3) * (1 - math.exp(-(step + 1) / 4))
        trial.report(f1, step)
    return {"eval_f1": f1}


def loss(params, trial):
    lr = params["catboost"]["learning_rate"]
    for step in range(trial.max_steps):
        value = (lr - 0.1) ** 2 + 1 / (step + 1)
        trial.report(value, step)
    return value
"""

SCRIPT = """
import argparse, math
import sweepkit

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--learning_rate", type=float)
args, _ = parser.parse_known_args()
run = sweepkit.init()
for step in range(6):
    f1 = (1 - abs(math.log10(args.learning_rate) + 4) / 3) * (1 - math.exp(-(step + 1) / 4))
    run.log({"eval_f1": f1}, step=step)
    if run.should_stop():
        break
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project laid out as the guides lay theirs: configs in a folder, the training code at the root,
    sweepkit started from the root."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    sys.modules.pop("guidetrain", None)
    _write(tmp_path, "guidetrain.py", TRAIN)
    _write(tmp_path, "scripts/train.py", SCRIPT)
    yield tmp_path
    sys.modules.pop("guidetrain", None)


def _results(folder: Path) -> dict:
    return json.loads((folder / "tuning_results.json").read_text(encoding="utf-8"))


# -- a Hydra config's `hpo:` section -------------------------------------------------------------------------


@pytest.mark.slow
def test_hpo_section_runs_with_the_function_from_the_command_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project, "configs/hpo/default.yaml", HPO)
    code, out, err = _cli(capsys, "validate", "configs/hpo/default.yaml", "--function", "guidetrain:macro_f1")
    assert code == 0, err
    out = " ".join(out.split())
    assert "metric: macro_f1 (maximize)" in out and "budget: 50 trials" in out
    assert "early stopping: median" in out
    assert "warning" not in out  # the function is found from where sweepkit runs
    code, _, err = _cli(
        capsys, "run", "configs/hpo/default.yaml", "--function", "guidetrain:macro_f1", "--trials", "7", "--no-report"
    )
    assert code == 0, err
    assert "early stopping: median: after 5 finished trials" in err
    result = load_result(Store("sqlite:///optuna.db", cwd=project), "deberta-v3-hpo")  # the file's own storage
    assert len(result.trials) == 7
    assert result.metric == "macro_f1"
    assert all(len(t.metrics["macro_f1_folds"]) == 3 for t in result.trials if t.state == "COMPLETE")
    assert all("median" in (t.reason or "") for t in result.trials if t.state == "PRUNED")


def test_hpo_section_runs_a_program_given_after_the_double_dash(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's `python scripts/hpo_search.py` becomes `sweepkit run FILE -- python scripts/train.py`."""
    text = HPO.replace('name: "macro_f1"', 'name: "eval_f1"').replace('storage: "sqlite:///optuna.db"', "")
    _write(project, "configs/hpo/default.yaml", text)
    argv = ["configs/hpo/default.yaml", "--trials", "3", "--no-report", "--", "python", "scripts/train.py"]
    code, _, err = _cli(capsys, "run", *argv)
    assert code == 0, err
    results = _results(project / "sweeps/deberta-v3-hpo")
    assert results["counts"]["COMPLETE"] == 3 and results["metric"] == "eval_f1"
    command = json.loads((project / "sweeps/deberta-v3-hpo/trials/0/command.json").read_text())
    argv_run = command["argv"] if isinstance(command, dict) else command
    assert argv_run[1:2] == ["scripts/train.py"] and any(a.startswith("--learning_rate=") for a in argv_run)


def test_hydra_config_group_file_without_the_hpo_header(tmp_path: Path) -> None:
    """Hydra's `configs/hpo/default.yaml` holds the section's keys at its top (Hydra puts them under `hpo`)."""
    bare = "\n".join(line[2:] for line in textwrap.dedent(HPO).strip().splitlines()[1:])
    wrapped = sweepkit.load_spec(_write(tmp_path, "wrapped.yaml", HPO), cwd=tmp_path)
    spec = sweepkit.load_spec(_write(tmp_path, "default.yaml", bare), cwd=tmp_path)
    assert spec.dialect == "optuna"
    assert (spec.name, spec.storage, spec.budget.trials) == ("deberta-v3-hpo", "sqlite:///optuna.db", 50)
    assert (spec.metric.name, spec.metric.goal, spec.metric.fold_aggregation) == ("macro_f1", "maximize", "mean")
    assert spec.extra == wrapped.extra
    assert spec.space.names == wrapped.space.names
    assert any("study.load_if_exists is ignored" in note for note in spec.notes)


def test_hpo_section_inside_a_larger_training_config(tmp_path: Path) -> None:
    config = """
    defaults:
      - _self_
    model:
      name: microsoft/deberta-v3-base
    training:
      n_folds: 5
      learning_rate: 2e-5
    """
    spec = sweepkit.load_spec(_write(tmp_path, "config.yaml", textwrap.dedent(config) + HPO), cwd=tmp_path)
    assert spec.name == "deberta-v3-hpo" and spec.budget.trials == 50
    notes = "\n".join(spec.notes)
    assert '"defaults"' in notes and '"model"' in notes and '"training"' in notes


# -- a `hyperopt:` section in a training config -------------------------------------------------------------


def test_hyperopt_section_every_key_acts_or_is_noted_with_its_reason(tmp_path: Path) -> None:
    spec = sweepkit.load_spec(_write(tmp_path, "configs/hyperopt.yaml", HYPEROPT), cwd=tmp_path)
    assert (spec.name, spec.metric.name, spec.metric.goal) == ("mistral_ner_optimization", "eval_f1", "maximize")
    assert (spec.budget.trials, spec.budget.timeout, spec.family, spec.strategy_name) == (50, 3600.0, "combined", "tpe")
    assert spec.extra["resources"]["workers"] == 4
    assert spec.output == tmp_path / "hyperopt_results"
    notes = {note.partition(" ")[0]: note for note in spec.notes}
    # Each ignored key says why, in its own words (not "another tool's server").
    assert "runs the sweep" in notes["hyperopt.enabled"]
    assert ".sweepkit/logs" in notes["hyperopt.log_to_file"]
    assert "strategy" in notes["hyperopt.optuna_enabled"] and "strategy" in notes["hyperopt.asha_enabled"]
    assert "server" not in " ".join(notes.values())
    ray = next(note for note in spec.notes if "resources_per_trial" in note)
    assert "backend" in ray and "gpus_per_trial" in ray
    pruning = early_stopping(spec)
    assert pruning.name == "successive_halving" and pruning.source == "scheduler"
    dropped = "hyperopt.optuna_pruner (with hyperopt.optuna_n_startup_trials) is ignored: strategy combined stops"
    assert any(note.startswith(dropped) for note in pruning.notes)  # each key of the section it drops is named


def test_hyperopt_random_strategy_stops_no_trial_early(tmp_path: Path) -> None:
    """The guide's table: `random` is the baseline, random search without early stopping, whatever the
    optuna_* and asha_* settings beside it say (they are noted)."""
    text = HYPEROPT.replace('strategy: "combined"', 'strategy: "random"')
    spec = sweepkit.load_spec(_write(tmp_path, "configs/hyperopt.yaml", text), cwd=tmp_path)
    assert spec.strategy_name == "random"
    assert early_stopping(spec).name == "none"
    notes = "\n".join(spec.notes)
    assert "hyperopt.optuna_pruner" in notes and "hyperopt.asha_max_t" in notes and "stops no trial early" in notes


@pytest.mark.slow
def test_hyperopt_training_config_runs_its_training_script(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's `python scripts/train.py --config configs/hyperopt.yaml`, each trial with its params."""
    _write(project, "configs/hyperopt.yaml", HYPEROPT)
    argv = ["configs/hyperopt.yaml", "--trials", "6", "--no-report", "--seed", "3"]
    code, _, err = _cli(capsys, "run", *argv, "--", "python", "scripts/train.py", "--config", "configs/hyperopt.yaml")
    assert code == 0, err
    assert "successive_halving (ASHA): rungs at steps 1, 3" in err
    results = _results(project / "hyperopt_results")
    assert (results["metric"], results["goal"], results["strategy"]) == ("eval_f1", "maximize", "tpe")
    assert results["counts"]["COMPLETE"] + results["counts"]["PRUNED"] == 6
    command = json.loads((project / "hyperopt_results/trials/0/command.json").read_text())
    argv_run = command["argv"] if isinstance(command, dict) else command
    assert "--config" in argv_run and any(a.startswith("--lora_r=") for a in argv_run)


@pytest.mark.slow
def test_hyperopt_section_runs_with_the_function_flag(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = HYPEROPT.replace("max_concurrent: 4", "max_concurrent: 1")
    _write(project, "configs/hyperopt.yaml", text)
    code, _, err = _cli(
        capsys, "run", "configs/hyperopt.yaml", "--function", "guidetrain:eval_f1", "--trials", "8", "--no-report"
    )
    assert code == 0, err
    results = _results(project / "hyperopt_results")
    assert results["counts"]["COMPLETE"] + results["counts"]["PRUNED"] == 8
    assert results["strategy"] == "tpe"


# -- a GPU sweep farm's sweep_config.json -------------------------------------------------------------------


def test_sweep_config_json_with_comments_loads_whole(tmp_path: Path) -> None:
    spec = sweepkit.load_spec(_write(tmp_path, "sweep_config.json", SWEEP_CONFIG), cwd=tmp_path)
    assert spec.dialect == "sweep_config"
    assert spec.name == "sweep_config"
    # sweep_type hyperband: random configurations, stopped early by Hyperband.
    assert (spec.family, spec.strategy_name) == ("hyperband", "random")
    assert spec.extra["pruner"] == {"type": "hyperband", "max_resource": 81, "reduction_factor": 3}
    pruning = early_stopping(spec)
    assert pruning.name == "hyperband"
    assert isinstance(pruning.pruner, __import__("optuna").pruners.HyperbandPruner)
    assert "5 brackets" in pruning.description
    # max_iter is a trial's full budget of steps; each of the 10 iterations runs Hyperband's 5 brackets,
    # 81 + 34 + 15 + 8 + 5 = 143 configurations.
    assert spec.budget.steps == 81
    assert spec.budget.trials == 10 * 143
    params = {p.name: p for p in spec.space.parameters}
    assert (params["catboost.depth"].low, params["catboost.depth"].high) == (4, 10)
    assert type(params["catboost.depth"]).__name__ == "Int"
    assert (params["catboost.learning_rate"].low, params["catboost.learning_rate"].high) == (0.01, 0.3)
    assert type(params["catboost.learning_rate"]).__name__ == "Float"
    assert params["lightgbm.boosting_type"].values == ("gbdt", "dart", "goss")
    notes = "\n".join(spec.notes)
    assert "gpu_settings.deterministic" in notes and "gpu_settings.memory_fraction" in notes


@pytest.mark.parametrize(
    ("sweep_type", "strategy", "pruner"),
    [("bayesian", "bayes", "none"), ("random", "random", "none"), ("grid", "grid", "none")],
)
def test_sweep_config_other_sweep_types(tmp_path: Path, sweep_type: str, strategy: str, pruner: str) -> None:
    text = SWEEP_CONFIG.replace('"sweep_type": "hyperband"', f'"sweep_type": "{sweep_type}"')
    if sweep_type == "grid":  # a grid needs a finite set of values: ranges of integers and choices
        text = text.replace("[0.01, 0.3]", "[0.01, 0.1, 0.3]").replace("[0.5, 1.0]", "[0.5, 0.75, 1.0]")
    spec = sweepkit.load_spec(_write(tmp_path, "sweep_config.json", text), cwd=tmp_path)
    assert spec.strategy_name == strategy
    assert early_stopping(spec).name == pruner
    assert spec.budget.trials is None  # Hyperband's iterations size Hyperband's budget only
    assert any(note.startswith("hyperband is ignored") for note in spec.notes)


def test_sweep_config_bayesian_is_model_based(tmp_path: Path) -> None:
    text = SWEEP_CONFIG.replace('"sweep_type": "hyperband"', '"sweep_type": "bayesian"')
    spec = sweepkit.load_spec(_write(tmp_path, "sweep_config.json", text), cwd=tmp_path)
    _, strategy = prepare(spec, cwd=tmp_path)
    assert type(strategy.sampler).__name__ in ("GPSampler", "TPESampler")  # GP with torch, else TPE


def test_sweep_config_model_parameters_named_like_distribution_keys(tmp_path: Path) -> None:
    """A model's parameter may be called `a`, `max` or `step`: a mapping of ranges is still the model's."""
    ranges = {"m": {"a": [1, 5], "step": [0.1, 0.5]}, "choice": {"values": [2, 4]}, "c": ["x", "y"]}
    spec = sweepkit.load_spec({"sweep_type": "random", "parameter_ranges": ranges}, cwd=tmp_path)
    params = {p.name: p for p in spec.space.parameters}
    assert (params["m.a"].low, params["m.a"].high, params["m.step"].high) == (1, 5, 0.5)
    assert params["choice"].values == (2, 4) and params["c"].values == ("x", "y")


@pytest.mark.parametrize(
    ("key", "value", "where", "fragment"),
    [
        ("hyperband", [81, 3], "hyperband", "expected a mapping"),
        ("hyperband", {"iters": 3, "max_iter": 81}, "hyperband.iters", 'did you mean "iterations"'),
        ("hyperband", {"iterations": 2}, "hyperband.iterations", "needs max_iter"),
        ("hyperband", {"max_iter": 0}, "hyperband.max_iter", "whole number ≥ 1"),
        ("hyperband", {"max_iter": 81, "eta": 1}, "hyperband.eta", "whole number ≥ 2"),
        ("hyperband", {"max_iter": 9.5}, "hyperband.max_iter", "9.5"),
        ("gpu_settings", [1], "gpu_settings", "expected a mapping"),
        ("gpu_settings", {"determinstic": True}, "gpu_settings.determinstic", 'did you mean "deterministic"'),
        ("parameter_ranges", {"m": {"depth": [10, 4]}}, "parameter_ranges.m.depth", "low above high"),
    ],
)
def test_sweep_config_errors_name_the_key(tmp_path: Path, key: str, value: object, where: str, fragment: str) -> None:
    raw = {"sweep_type": "hyperband", "parameter_ranges": {"m": {"depth": [4, 10]}}, key: value}
    path = tmp_path / "sweep_config.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(path, cwd=tmp_path)
    assert info.value.key == where and fragment in str(info.value)


def test_sweep_config_inside_a_larger_training_config(tmp_path: Path) -> None:
    text = SWEEP_CONFIG.replace("{\n", '{\n    "trading_params": {"fee": 0.001},\n    "data": "btc.csv",\n', 1)
    spec = sweepkit.load_spec(_write(tmp_path, "config.json", text), cwd=tmp_path)
    assert spec.dialect == "sweep_config" and spec.family == "hyperband"
    notes = "\n".join(spec.notes)
    assert '"trading_params"' in notes and '"data"' in notes


@pytest.mark.slow
def test_sweep_config_runs_real_hyperband(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project, "sweep_config.json", SWEEP_CONFIG)
    code, out, err = _cli(capsys, "validate", "sweep_config.json", "--function", "guidetrain:loss")
    assert code == 0, err
    out = " ".join(out.split())  # as one line, wherever the terminal wrapped it
    assert "budget: 1430 trials, 81 steps per trial" in out
    assert "hyperband: 5 brackets" in out
    argv = ["sweep_config.json", "--function", "guidetrain:loss", "--trials", "20", "--seed", "1", "--no-report"]
    code, _, err = _cli(capsys, "run", *argv)
    assert code == 0, err
    results = _results(project / "sweeps/sweep_config")
    assert (results["strategy"], results["dialect"], results["goal"]) == ("random", "sweep_config", "minimize")
    assert results["total_trials"] == 20
    result = load_result(Store(cwd=project), "sweep_config")
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned and all("hyperband" in (t.reason or "") or "successive" in (t.reason or "") for t in pruned)
    assert all(isinstance(t.params["catboost"]["depth"], int) for t in result.trials)


def test_json_comments_keep_strings_and_positions(tmp_path: Path) -> None:
    text = """
    {
        /* a block
           comment */
        "name": "comments",  // a comment after a value
        "description": "see http://example.com /* not a comment */ // nor this",
        "parameters": {"x": [1, 2]},
        "trial": {"function": "t:f"}
    }
    """
    spec = sweepkit.load_spec(_write(tmp_path, "s.json", text), cwd=tmp_path)
    assert spec.name == "comments"
    assert spec.description == "see http://example.com /* not a comment */ // nor this"
    broken = _write(tmp_path, "broken.json", text.replace('"trial"', "trial"))
    with pytest.raises(SpecError, match="line 7"):
        sweepkit.load_spec(broken, cwd=tmp_path)


# -- numbers written as text ---------------------------------------------------------------------------------


def test_numeric_strings_in_numeric_fields(tmp_path: Path) -> None:
    """YAML 1.1 tools write `1e-5` as a string, and some authors quote numbers: they mean the numbers."""
    text = (
        HYPEROPT.replace("num_trials: 50", 'num_trials: "50"')
        .replace("max_concurrent: 4", 'max_concurrent: "4"')
        .replace("asha_max_t: 100", 'asha_max_t: "1e2"')
        .replace("asha_reduction_factor: 3", 'asha_reduction_factor: "3"')
        .replace("optuna_n_startup_trials: 10", 'optuna_n_startup_trials: "10"')
        .replace("low: 1e-5", 'low: "1e-5"')
    )
    spec = sweepkit.load_spec(_write(tmp_path, "h.yaml", text), cwd=tmp_path)
    assert spec.budget.trials == 50 and spec.extra["resources"]["workers"] == 4
    assert spec.extra["scheduler"] == {"max_t": 100, "grace_period": 1, "reduction_factor": 3}
    assert early_stopping(spec).name == "successive_halving"
    hpo = HPO.replace("n_startup_trials: 5", 'n_startup_trials: "5"').replace("n_trials: 50", 'n_trials: "1e2"')
    spec = sweepkit.load_spec(_write(tmp_path, "d.yaml", hpo), cwd=tmp_path)
    assert spec.budget.trials == 100 and early_stopping(spec).name == "median"
    config = SWEEP_CONFIG.replace('"max_iter": 81', '"max_iter": "81"').replace('"eta": 3', '"eta": "3"')
    config = config.replace("[0.01, 0.3]", '["1e-2", "0.3"]')
    spec = sweepkit.load_spec(_write(tmp_path, "sweep_config.json", config), cwd=tmp_path)
    assert spec.budget.steps == 81 and spec.budget.trials == 1430
    assert {p.name: p for p in spec.space.parameters}["catboost.learning_rate"].low == 0.01


# -- what to run, from the command line ---------------------------------------------------------------------


def test_command_line_says_what_to_run_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project, "configs/hpo/default.yaml", HPO)
    code, _, err = _cli(
        capsys, "validate", "configs/hpo/default.yaml", "--function", "guidetrain:macro_f1", "--", "python", "x.py"
    )
    assert code == 2 and "--function" in err and "not both" in err
    code, _, err = _cli(capsys, "run", "configs/hpo/default.yaml", "--function", "objective")
    assert code == 2 and "module:callable" in err


def test_command_line_replaces_what_the_file_runs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flag given on the command line wins over the file, as --trials does over budget.trials."""
    text = "trial: {function: nowhere:fn}\n" + textwrap.dedent(HPO)
    _write(project, "configs/hpo/default.yaml", text)
    code, out, err = _cli(capsys, "validate", "configs/hpo/default.yaml", "--", "python", "scripts/train.py")
    assert code == 0, err
    assert "its command: " in out and "scripts/train.py --learning_rate=" in out
    wandb = """
    program: scripts/train.py
    command: [python, "${program}", "${args}"]
    method: random
    metric: {name: eval_f1, goal: maximize}
    parameters:
      learning_rate: {min: 0.00001, max: 0.001}
    """
    _write(project, "wandb.yaml", wandb)
    code, out, err = _cli(capsys, "validate", "wandb.yaml", "--", "python", "scripts/train.py", "--config", "c.yaml")
    assert code == 0, err
    assert "scripts/train.py --config c.yaml --learning_rate=" in out

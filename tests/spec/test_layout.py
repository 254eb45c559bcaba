"""Dialects: each one is detected and laid out in the native shape, and the workflow guides' snippets load unchanged.

The YAML below is copied from the guides users follow (Hydra + MLflow, `hyperopt:`, W&B, and NNI formats);
it is written to a file and read through `sweepkit.load_spec`, as a user's file would be.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import sweepkit
from sweepkit import SpecError
from sweepkit.spec._layout import detect, lay_out


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _load(tmp_path: Path, name: str, text: str, overrides: list[str] | None = None) -> sweepkit.Spec:
    return sweepkit.load_spec(_write(tmp_path, name, text), overrides or [], cwd=tmp_path)


def _error(tmp_path: Path, name: str, text: str, overrides: list[str] | None = None) -> SpecError:
    path = _write(tmp_path, name, text)
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(path, overrides or [], cwd=tmp_path)
    assert info.value.file == str(path)
    return info.value


# -- the Hydra + MLflow workflow: a Hydra config with an Optuna `hpo:` section --

HYDRA_HPO = """
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
    # Add or modify hyperparameters
    learning_rate:
      type: "log_uniform"
      low: 1.0e-6
      high: 1.0e-4
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
training:
  n_folds: 5
"""

HYDRA_HPO_PARAMS = [
    "learning_rate",
    "per_device_train_batch_size",
    "num_train_epochs",
    "warmup_ratio",
    "weight_decay",
    "loss_function",
    "focal_gamma",
    "focal_alpha",
]


def test_hydra_hpo_section(tmp_path: Path) -> None:
    spec = _load(tmp_path, "default.yaml", HYDRA_HPO)
    assert spec.dialect == "optuna"
    assert spec.name == "deberta-v3-hpo"
    assert (spec.metric.name, spec.metric.goal, spec.metric.fold_aggregation) == ("macro_f1", "maximize", "mean")
    assert spec.budget.trials == 50
    assert spec.budget.timeout is None
    assert spec.storage == "sqlite:///optuna.db"
    assert spec.strategy_name == "auto"
    assert spec.space.names == HYDRA_HPO_PARAMS
    params = {p.name: p for p in spec.space.parameters}
    assert (params["learning_rate"].low, params["learning_rate"].high, params["learning_rate"].log) == (
        1e-6,
        1e-4,
        True,
    )
    assert params["per_device_train_batch_size"].values == (8, 16, 32)
    assert (params["num_train_epochs"].low, params["num_train_epochs"].high) == (2, 5)
    assert spec.extra["pruner"] == {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1}
    assert spec.extra["resources"] == {"workers": 1}
    # The training config and Optuna's own resume switch are ignored, each with a one-line note.
    assert any('"training"' in note for note in spec.notes)
    assert any("hpo.study.load_if_exists" in note for note in spec.notes)
    assert all("\n" not in note for note in spec.notes)


def test_hydra_focal_params_conditional_on_the_loss(tmp_path: Path) -> None:
    """The guide's focal params apply only with the focal loss: native `when` says so in the same file."""
    text = HYDRA_HPO.replace(
        "      high: 3.0\n", "      high: 3.0\n      when: \"loss_function == 'focal'\"\n"
    ).replace("      high: 0.5\n", "      high: 0.5\n      when: \"loss_function == 'focal'\"\n")
    spec = _load(tmp_path, "default.yaml", text)
    assert spec.space.conditional
    when = {name: cond for name, _, cond in spec.space.describe()}
    assert when["focal_gamma"] == when["focal_alpha"] == "loss_function == 'focal'"
    assert when["learning_rate"] == ""


def test_hydra_overrides(tmp_path: Path) -> None:
    overrides = [
        "hpo.trials.n_trials=20",
        "hpo.search_space.loss_function.choices=[focal]",
        "hpo.metric.name=pos_f1",
        "training.n_folds=3",  # the training config: still ignored
        "hpo.trials.n_jobs=2",
    ]
    spec = _load(tmp_path, "default.yaml", HYDRA_HPO, overrides)
    assert spec.budget.trials == 20
    assert spec.metric.name == "pos_f1"
    assert {p.name: p for p in spec.space.parameters}["loss_function"].values == ("focal",)
    assert spec.extra["resources"] == {"workers": 2}


# -- the `hyperopt:` workflow: a Mistral NER config with a flat `hyperopt:` section --

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
  asha_grace_period: 10           # Min iterations before pruning
  asha_reduction_factor: 3        # Aggressiveness of pruning

  # Storage and logging
  results_dir: "./hyperopt_results"
  study_name: "mistral_ner_optimization"
  log_to_file: true

  search_space:
    learning_rate:
      type: "loguniform"
      low: 1e-5
      high: 1e-3
    lora_r:
      type: "choice"
      choices: [8, 16, 32, 64]
"""


def test_hyperopt_section(tmp_path: Path) -> None:
    spec = _load(tmp_path, "hyperopt.yaml", HYPEROPT)
    assert spec.dialect == "optuna"
    assert spec.name == "mistral_ner_optimization"
    assert (spec.metric.name, spec.metric.goal) == ("eval_f1", "maximize")
    assert (spec.budget.trials, spec.budget.timeout) == (50, 3600.0)
    # `strategy: combined` is TPE + ASHA; `optuna_sampler` names the sampler inside it.
    assert spec.strategy.name == "TPE"
    assert spec.strategy_name == "tpe"
    assert spec.space.names == ["learning_rate", "lora_r"]
    lr = spec.space.parameters[0]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-3, True)  # `1e-5` is a string to PyYAML: still a number
    assert spec.output == tmp_path / "hyperopt_results"
    assert spec.extra["pruner"] == {"type": "median", "n_startup_trials": 10}
    assert spec.extra["scheduler"] == {"max_t": 100, "grace_period": 10, "reduction_factor": 3}
    assert spec.extra["resources"] == {"workers": 4}
    notes = "\n".join(spec.notes)
    assert '"model"' in notes and '"training"' in notes  # the training config: ignored with a note
    assert "hyperopt.enabled" in notes and "hyperopt.log_to_file" in notes


@pytest.mark.parametrize(
    ("strategy", "expected", "noted"),
    [("combined", "tpe", False), ("optuna", "tpe", False), ("asha", "random", True), ("random", "random", True)],
)
def test_hyperopt_strategy_words_with_a_sampler(tmp_path: Path, strategy: str, expected: str, noted: bool) -> None:
    text = HYPEROPT.replace('strategy: "combined"', f'strategy: "{strategy}"')
    spec = _load(tmp_path, "hyperopt.yaml", text)
    assert spec.strategy_name == expected
    assert any("hyperopt.optuna_sampler is ignored" in note for note in spec.notes) == noted


def test_hyperopt_strategy_words_alone(tmp_path: Path) -> None:
    for strategy, expected in [("combined", "tpe"), ("optuna", "tpe"), ("asha", "random"), ("random", "random")]:
        text = f"hyperopt:\n  strategy: {strategy}\n  search_space:\n    lr: {{type: uniform, low: 0, high: 1}}\n"
        assert _load(tmp_path, "h.yaml", text).strategy_name == expected


def test_hyperopt_search_space_and_distributed_snippets(tmp_path: Path) -> None:
    """The guide's `Search Space Definition` block (top-level `search_space:`) with every parameter type, and
    its distributed settings."""
    spec = _load(
        tmp_path,
        "space.yaml",
        """
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

          hidden:
            type: "logint"
            low: 16
            high: 256
        hyperopt:
          ray_address: "ray://head_node_ip:10001"
          max_concurrent: 16        # More parallel trials
          resources_per_trial:
            cpu: 2.0
            gpu: 1.0
        """,
    )
    assert spec.dialect == "optuna"
    assert spec.space.names == [
        "learning_rate",
        "warmup_ratio",
        "lora_r",
        "per_device_train_batch_size",
        "num_epochs",
        "hidden",
    ]
    params = {p.name: p for p in spec.space.parameters}
    assert (params["num_epochs"].low, params["num_epochs"].high, params["num_epochs"].log) == (1, 10, False)
    assert params["hidden"].log
    assert spec.extra["resources"] == {
        "ray_address": "ray://head_node_ip:10001",
        "workers": 16,
        "per_trial": {"cpu": 2.0, "gpu": 1.0},
    }


# -- the W&B multi-head workflow: a W&B sweep file --

WANDB_MULTIHEAD = """
# Hyperparameter Sweep Configuration for G-code Fingerprinting
# Uses Bayesian optimization to find optimal model parameters

program: scripts/train_multihead.py
method: bayes

metric:
  name: val/gcode_acc
  goal: maximize

# Early termination to save compute
early_terminate:
  type: hyperband
  min_iter: 10
  s: 2

parameters:
  # Learning rate (log-uniform for wide search)
  learning_rate:
    distribution: log_uniform_values
    min: 0.0001
    max: 0.01

  # Batch size (categorical - must fit in memory)
  batch_size:
    values: [8, 16, 32, 64]

  # Model architecture
  d_model:
    values: [64, 128, 256, 512]

  nhead:
    values: [2, 4, 8]

  num_layers:
    values: [2, 3, 4, 6]

  # Regularization
  dropout:
    distribution: uniform
    min: 0.1
    max: 0.5

  weight_decay:
    distribution: log_uniform_values
    min: 0.00001
    max: 0.001

  # Data augmentation
  augmentation_prob:
    values: [0.0, 0.2, 0.3, 0.5]

  # Training
  max_epochs:
    value: 50

  # Label smoothing
  label_smoothing:
    distribution: uniform
    min: 0.0
    max: 0.2

  # Gradient clipping
  grad_clip:
    values: [0.5, 1.0, 2.0, 5.0]

  # Optimizer
  optimizer:
    values: ['adam', 'adamw', 'sgd']

  # Command loss weight (important for hierarchical model)
  command_weight:
    distribution: uniform
    min: 1.0
    max: 5.0
"""


def test_wandb_multihead_wandb_sweep_config_verbatim(tmp_path: Path) -> None:
    spec = _load(tmp_path, "sweep_config.yaml", WANDB_MULTIHEAD)
    assert spec.dialect == "wandb"
    assert spec.name == "sweep_config"  # no name in the file: the file's stem
    assert (spec.metric.name, spec.metric.goal) == ("val/gcode_acc", "maximize")
    assert (spec.budget.trials, spec.budget.timeout) == (None, None)
    assert spec.strategy_name == "bayes"
    assert spec.trial.program == "scripts/train_multihead.py"
    assert spec.extra["early_terminate"] == {"type": "hyperband", "min_iter": 10, "s": 2}
    assert spec.space.names == [
        "learning_rate", "batch_size", "d_model", "nhead", "num_layers", "dropout", "weight_decay",
        "augmentation_prob", "max_epochs", "label_smoothing", "grad_clip", "optimizer", "command_weight",
    ]  # fmt: skip
    params = {p.name: p for p in spec.space.parameters}
    assert (params["learning_rate"].low, params["learning_rate"].high, params["learning_rate"].log) == (
        0.0001,
        0.01,
        True,
    )
    assert params["max_epochs"].value == 50
    assert params["optimizer"].values == ("adam", "adamw", "sgd")
    assert spec.notes == []


@pytest.mark.parametrize(
    ("text", "method", "trials", "names"),
    [
        (  # Phase 1: quick exploration
            """
            method: random  # Fast exploration
            max_runs: 10    # Limit runs
            parameters:
              learning_rate:
                values: [0.0001, 0.001, 0.01]  # Coarse grid
              d_model:
                values: [128, 256]  # 2 options only
            """,
            "random",
            10,
            ["learning_rate", "d_model"],
        ),
        (  # Phase 2: focused optimization
            """
            method: bayes  # Intelligent search
            max_runs: 100
            parameters:
              learning_rate:
                distribution: log_uniform_values
                min: 0.0005  # Narrow range based on Phase 1
                max: 0.002
              d_model:
                values: [256, 512]  # Best from Phase 1
            """,
            "bayes",
            100,
            ["learning_rate", "d_model"],
        ),
        (  # Grid search
            """
            method: grid
            parameters:
              learning_rate: {values: [0.0001, 0.001, 0.01]}
              batch_size: {values: [16, 32]}
              # Total runs: 3 × 2 = 6
            """,
            "grid",
            None,
            ["learning_rate", "batch_size"],
        ),
    ],
    ids=["phase1", "phase2", "grid"],
)
def test_wandb_multihead_other_snippets(
    tmp_path: Path, text: str, method: str, trials: int | None, names: list[str]
) -> None:
    spec = _load(tmp_path, "sweep.yaml", text)
    assert spec.dialect == "wandb"
    assert spec.strategy_name == method
    assert spec.budget.trials == trials
    assert spec.space.names == names
    if method == "grid":
        assert spec.space.grid_size() == 6


def test_wandb_every_documented_key(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        "sweep.yaml",
        """
        name: lr-sweep
        description: a sweep over the learning rate
        project: my-project
        entity: my-team
        method: random
        metric: {name: val_loss, goal: minimize, target: 0.1}
        run_cap: 12
        program: train.py
        command:
          - ${env}
          - ${interpreter}
          - ${program}
          - ${args}
        early_terminate: {type: hyperband, min_iter: 3}
        parameters:
          optimizer:
            parameters:
              lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
              momentum: {values: [0.0, 0.9]}
        """,
    )
    assert spec.dialect == "wandb"
    assert spec.name == "lr-sweep"
    assert spec.description == "a sweep over the learning rate"
    assert (spec.metric.name, spec.metric.goal, spec.metric.target) == ("val_loss", "minimize", 0.1)
    assert spec.budget.trials == 12
    assert spec.trial.program == "train.py"
    assert spec.trial.command == ["${env}", "${interpreter}", "${program}", "${args}"]
    assert spec.space.names == ["optimizer.lr", "optimizer.momentum"]
    # Server-only keys: accepted and ignored, one one-line note each.
    assert len(spec.notes) == 2
    assert spec.notes[0].startswith("project is ignored") and spec.notes[1].startswith("entity is ignored")


# -- NNI -------------------------------------------------------------------------------------------------

NNI_CONFIG = """
experimentName: mnist-pytorch
searchSpace:
  batch_size:
    _type: choice
    _value: [16, 32, 64, 128]
  hidden_size:
    _type: choice
    _value: [128, 256, 512, 1024]
  lr:
    _type: loguniform
    _value: [0.0001, 0.1]
  momentum:
    _type: uniform
    _value: [0, 1]
trialCommand: python3 mnist.py --epochs 3
trialCodeDirectory: .
trialGpuNumber: 0
trialConcurrency: 2
maxTrialNumber: 10
maxExperimentDuration: 1h
tuner:
  name: TPE
  classArgs:
    optimize_mode: maximize
trainingService:
  platform: local
"""


def test_nni_experiment_config(tmp_path: Path) -> None:
    spec = _load(tmp_path, "config.yml", NNI_CONFIG)
    assert spec.dialect == "nni"
    assert spec.name == "mnist-pytorch"
    assert (spec.metric.name, spec.metric.goal) == ("default", "maximize")  # nni.report_final_result's
    assert (spec.budget.trials, spec.budget.timeout) == (10, 3600.0)
    assert spec.strategy_name == "tpe"
    assert spec.trial.command == ["python3", "mnist.py", "--epochs", "3"]
    assert spec.trial.cwd == "."
    assert spec.space.names == ["batch_size", "hidden_size", "lr", "momentum"]
    assert spec.extra["resources"] == {"gpus_per_trial": 0, "workers": 2}
    assert spec.notes == ["trainingService is ignored: it only means something to another tool's server"]


def test_nni_tuner_goal_and_seed(tmp_path: Path) -> None:
    text = NNI_CONFIG.replace("optimize_mode: maximize", "optimize_mode: minimize\n    seed: 7")
    spec = _load(tmp_path, "config.yml", text)
    assert spec.metric.goal == "minimize"
    assert spec.strategy.seed == 7


def test_nni_tuner_shorthand_and_v1_name(tmp_path: Path) -> None:
    assert _load(tmp_path, "config.yml", NNI_CONFIG.replace("name: TPE", "builtinTunerName: Random")).strategy_name == (
        "random"
    )
    text = "tuner: GridSearch\nsearchSpace: {x: {_type: choice, _value: [1, 2]}}\n"
    assert _load(tmp_path, "config.yml", text).strategy_name == "grid"


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("trialCommand: python3 mnist.py --epochs 3", 'trialCommand: python3 "mnist.py', "trialCommand", "quotation"),
        ("    optimize_mode: maximize", "    - maximize", "tuner.classArgs", "expected a mapping"),
        ("tuner:\n  name: TPE", "tuner:\n  - TPE\nold:\n  name: TPE", "tuner", "expected a mapping such as"),
    ],
)
def test_nni_config_errors(tmp_path: Path, old: str, new: str, key: str, fragment: str) -> None:
    assert old in NNI_CONFIG
    err = _error(tmp_path, "config.yml", NNI_CONFIG.replace(old, new))
    assert err.key == key
    assert fragment in err.message


def test_nni_search_space_file_is_not_read_yet(tmp_path: Path) -> None:
    text = NNI_CONFIG[: NNI_CONFIG.index("searchSpace:")] + "searchSpaceFile: search_space.json\n"
    text += NNI_CONFIG[NNI_CONFIG.index("trialCommand:") :]
    err = _error(tmp_path, "config.yml", text)
    assert err.key == "searchSpaceFile"
    assert "inline under searchSpace:" in err.message


NNI_SPACE = {
    "dropout_rate": {"_type": "uniform", "_value": [0.5, 0.9]},
    "conv_size": {"_type": "choice", "_value": [2, 3, 5, 7]},
    "hidden_size": {"_type": "choice", "_value": [124, 512, 1024]},
    "batch_size": {"_type": "choice", "_value": [1, 4, 8, 16, 32]},
    "learning_rate": {"_type": "choice", "_value": [0.0001, 0.001, 0.01, 0.1]},
}


def test_nni_bare_search_space_json(tmp_path: Path) -> None:
    path = tmp_path / "search_space.json"
    path.write_text(json.dumps(NNI_SPACE, indent=2))
    spec = sweepkit.load_spec(path, cwd=tmp_path)
    assert spec.dialect == "nni"
    assert spec.name == "search_space"
    assert (spec.metric.name, spec.metric.goal) == ("default", "maximize")  # NNI: report_final_result, maximize
    assert (spec.budget.trials, spec.budget.timeout) == (None, None)
    assert spec.strategy_name == "auto"
    assert spec.space.names == list(NNI_SPACE)
    assert spec.notes == []


def test_nni_bare_search_space_overrides(tmp_path: Path) -> None:
    """Overrides reach both sweepkit's keys and the file's own entries (at the paths written in the file)."""
    path = tmp_path / "search_space.json"
    path.write_text(json.dumps(NNI_SPACE))
    spec = sweepkit.load_spec(path, ["metric.goal=maximize", "budget.trials=5", "conv_size._value=[3]"], cwd=tmp_path)
    assert spec.metric.goal == "maximize"
    assert spec.budget.trials == 5
    assert {p.name: p for p in spec.space.parameters}["conv_size"].values == (3,)


# -- detection and the native superset ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "dialect"),
    [
        ({"method": "grid", "parameters": {"x": {"values": [1]}}}, "wandb"),
        ({"hpo": {"search_space": {}}}, "optuna"),
        ({"hyperopt": {"num_trials": 3}}, "optuna"),
        ({"search_space": {"x": {"type": "int", "low": 1, "high": 2}}}, "optuna"),
        ({"searchSpace": {}, "tuner": {"name": "TPE"}}, "nni"),
        ({"trialCommand": "python t.py"}, "nni"),
        (NNI_SPACE, "nni"),
        ({"trial": {"function": "t:f"}, "parameters": {"x": [1]}}, "native"),
        ({"parameters": {"x": [1]}}, "native"),
        # W&B's `method` with native `when`: a native file using W&B's spelling
        ({"method": "random", "parameters": {"x": [1, 2], "y": {"values": [1], "when": "x == 1"}}}, "native"),
        ({"method": "random", "budget": {"trials": 3}, "parameters": {"x": [1]}}, "native"),
    ],
)
def test_detect(raw: dict, dialect: str) -> None:
    assert detect(raw) == dialect
    assert lay_out(raw, file=None).dialect == dialect


def test_native_superset_accepts_every_dialects_keys(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        "mixed.yaml",
        """
        name: mixed
        trial: {function: "train:objective"}
        metric: {name: acc, goal: maximize}
        strategy: {name: tpe, seed: 3, n_startup_trials: 4}
        budget: {trials: 8, timeout: 30m, max_failures: 2}
        run_cap: 8                # W&B's spelling of the same budget: agreeing is fine
        storage: journal:my.journal
        output: out/mixed
        parameters:
          depth_width: {expr: "layers * width"}                            # reads two declared later
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}   # W&B
          layers: {type: int, low: 1, high: 4}                             # Optuna
          act: {_type: choice, _value: [relu, gelu]}                       # NNI
          width: [32, 64]                                                  # native shorthand
          dropout: {min: 0.0, max: 0.5, when: "layers > 1"}
        constraints:
          - "depth_width <= 192"
        """,
    )
    assert spec.dialect == "native"
    assert spec.strategy.options == {"n_startup_trials": 4}
    assert (spec.budget.trials, spec.budget.timeout, spec.budget.max_failures) == (8, 1800.0, 2)
    assert spec.output == tmp_path / "out" / "mixed"
    names = spec.space.names
    assert sorted(names) == ["act", "depth_width", "dropout", "layers", "lr", "width"]
    assert names.index("depth_width") > max(names.index("layers"), names.index("width"))  # dependencies first
    assert [c.text for c in spec.space.constraints] == ["depth_width <= 192"]


def test_two_dialects_disagreeing_on_one_setting(tmp_path: Path) -> None:
    err = _error(tmp_path, "s.yaml", "budget: {trials: 8}\nrun_cap: 9\nparameters: {x: [1]}\n")
    assert err.key == "run_cap"
    assert "both set budget.trials" in err.message


# -- key paths through aliases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        (HYPEROPT.replace("num_trials: 50", "num_trials: fifty"), "hyperopt.num_trials", "valid integer"),
        (HYPEROPT.replace("num_trials: 50", "num_trials: 0"), "hyperopt.num_trials", "greater than or equal to 1"),
        (HYPEROPT.replace('mode: "max"', 'mode: "up"'), "hyperopt.mode", "'minimize' or 'maximize'"),
        (HYPEROPT.replace("timeout: 3600", "timeout: soon"), "hyperopt.timeout", "expected a duration"),
        (HYPEROPT.replace("num_trials: 50", "num_trails: 50"), "hyperopt.num_trails", 'did you mean "num_trials"'),
        (HYPEROPT.replace("high: 1e-3", "high: 1e-6"), "hyperopt.search_space.learning_rate.high", "less than low"),
        (HYPEROPT.replace('optuna_sampler: "TPE"', 'optuna_sampler: "TPX"'), "hyperopt.optuna_sampler", "TPX"),
        (HYDRA_HPO.replace("n_trials: 50", "n_trials: many"), "hpo.trials.n_trials", "valid integer"),
        (HYDRA_HPO.replace("n_trials: 50", "n_trial: 50"), "hpo.trials.n_trial", 'did you mean "n_trials"'),
        (HYDRA_HPO.replace('direction: "maximize"', 'direction: "upward"'), "hpo.study.direction", "maximize"),
        (HYDRA_HPO.replace('study_name: "deberta-v3-hpo"', "study_nam: x"), "hpo.study.study_nam", "study_name"),
        (HYDRA_HPO.replace('fold_aggregation: "mean"', "fold_aggregation: sum"), "hpo.metric.fold_aggregation", "mean"),
        (HYDRA_HPO.replace('name: "macro_f1"', "nme: x"), "hpo.metric.nme", 'did you mean "name"'),
        (
            HYDRA_HPO.replace("choices: [8, 16, 32]", "choices: []"),
            "hpo.search_space.per_device_train_batch_size.choices",
            "empty",
        ),
        (HYDRA_HPO.replace("  trials:\n", "  trials: 5\n  old_trials:\n"), "hpo.trials", "expected a mapping"),
        (WANDB_MULTIHEAD.replace("max: 0.01", "max: 0.00001"), "parameters.learning_rate.max", "less than min"),
        (WANDB_MULTIHEAD + "run_cap: -3\n", "run_cap", "greater than or equal to 1"),
        (WANDB_MULTIHEAD.replace("method: bayes", "method: bayse"), "method", 'did you mean "bayes"'),
        (NNI_CONFIG.replace("maxTrialNumber: 10", "maxTrialNumber: ten"), "maxTrialNumber", "valid integer"),
        (
            NNI_CONFIG.replace("maxExperimentDuration: 1h", "maxExperimentDuration: 1y"),
            "maxExperimentDuration",
            "duration",
        ),
        (NNI_CONFIG.replace("_value: [0, 1]", "_value: [1, 0]"), "searchSpace.momentum._value[1]", "greater than low"),
        (NNI_CONFIG.replace("name: TPE", "name: Evolutionn"), "tuner.name", "unknown strategy"),
        (
            NNI_CONFIG.replace("optimize_mode: maximize", "optimize_mode: most"),
            "tuner.classArgs.optimize_mode",
            "maximize",
        ),
    ],
)
def test_errors_are_reported_where_the_user_wrote_them(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    err = _error(tmp_path, "sweep.yaml", text)
    assert err.key == key
    assert fragment in err.message
    assert str(err).startswith(f"{tmp_path / 'sweep.yaml'}: {key}: ")


def test_error_in_a_bare_search_space_is_at_its_own_key(tmp_path: Path) -> None:
    path = tmp_path / "search_space.json"
    path.write_text(json.dumps({**NNI_SPACE, "dropout_rate": {"_type": "uniform", "_value": [0.9, 0.5]}}))
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(path, cwd=tmp_path)
    assert info.value.key == "dropout_rate._value[1]"
    path.with_name("ok.json").write_text(json.dumps(NNI_SPACE))
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(path.with_name("ok.json"), ["conv_size._value=[]"], cwd=tmp_path)
    assert info.value.key == "conv_size._value"


def test_wrapper_section_must_be_a_mapping(tmp_path: Path) -> None:
    err = _error(tmp_path, "s.yaml", "hyperopt: [1, 2]\nsearch_space: {x: [1]}\n")
    assert (err.key, err.message) == ("hyperopt", "expected a mapping (the hyperopt section), found a list")

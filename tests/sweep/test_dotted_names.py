"""Dotted parameter names (`model.n_layers`, LightningCLI/Hydra/jsonargparse style) as W&B takes them: one
flat key, so `${args}` is `--model.n_layers=4` and the trial reads `params["model.n_layers"]`, while a
nested `parameters:` section still hands the trial a nested dict. End to end, through the CLI."""

from __future__ import annotations

import json
import shlex
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_run import cli as _cli

SWEEP = """\
program: train.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  model.n_layers: {values: [4]}
  optimizer.init_args.lr: {value: 0.01}
  data:
    parameters:
      variant: {value: small}
command: [python, "${program}", "${args}", "--", "${args_no_hyphens}"]
"""

TRAIN = """\
import json, os, sys
import sweepkit

run = sweepkit.init({"model": {"n_layers": 2, "width": 8}})
with open(os.environ["SWEEPKIT_PARAMS_FILE"]) as f:
    params_file = json.load(f)
seen = {"argv": sys.argv[1:], "params_file": params_file, "params": run.params.to_dict(),
        "by_attribute": run.params.model.n_layers}
with open(os.path.join(os.environ["SWEEPKIT_TRIAL_DIR"], "seen.json"), "w") as out:
    json.dump(seen, out)
run.log({"loss": float(run.params["model.n_layers"])})
"""


@pytest.fixture
def ran(workdir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "sweep.yaml").write_text(SWEEP)
    code, _, err = _cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0, err
    seen: dict[str, Any] = json.loads((workdir / "sweeps" / "sweep" / "trials" / "0" / "seen.json").read_text())
    return seen


def test_validate_accepts_dotted_names(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "sweep.yaml").write_text(SWEEP)
    code, out, err = _cli(capsys, "validate", "sweep.yaml")
    assert code == 0, err
    assert "model.n_layers" in out and "optimizer.init_args.lr" in out


def test_a_program_gets_dotted_names_as_flat_keys(ran: dict[str, Any]) -> None:
    argv = ran["argv"]
    cut = argv.index("--")
    assert argv[:cut] == ["--model.n_layers=4", "--optimizer.init_args.lr=0.01", "--data={'variant': 'small'}"]
    assert argv[cut + 1 :] == ["model.n_layers=4", "optimizer.init_args.lr=0.01", "data={'variant': 'small'}"]
    assert ran["params_file"] == {"model.n_layers": 4, "optimizer.init_args.lr": 0.01, "data": {"variant": "small"}}


def test_the_client_reads_a_dotted_name_both_ways(ran: dict[str, Any]) -> None:
    params = ran["params"]
    assert params["model.n_layers"] == 4  # as wandb.config["model.n_layers"]
    # ... and the defaults' nested model.n_layers is the sweep's value too, its siblings kept.
    assert params["model"] == {"n_layers": 4, "width": 8}
    assert ran["by_attribute"] == 4


def test_best_formats_and_into_a_nested_config(
    ran: dict[str, Any], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "best", "sweep", "--format", "hydra")
    assert code == 0
    assert out.splitlines() == ["model.n_layers=4", "optimizer.init_args.lr=0.01", "data.variant=small"]
    code, out, _ = _cli(capsys, "best", "sweep", "--format", "args")
    assert code == 0
    assert shlex.split(out) == ["--model.n_layers=4", "--optimizer.init_args.lr=0.01", "--data={'variant': 'small'}"]
    code, out, _ = _cli(capsys, "best", "sweep", "--format", "json")
    assert json.loads(out) == {"model.n_layers": 4, "optimizer.init_args.lr": 0.01, "data": {"variant": "small"}}

    config = workdir / "config.yaml"
    config.write_text(
        textwrap.dedent("""\
            model:
              n_layers: 2  # depth
            optimizer:
              init_args:
                lr: 0.1
            data:
              variant: big
            """)
    )
    code, _, err = _cli(capsys, "best", "sweep", "--into", "config.yaml")
    assert code == 0, err
    assert yaml.safe_load(config.read_text()) == {
        "model": {"n_layers": 4},
        "optimizer": {"init_args": {"lr": 0.01}},
        "data": {"variant": "small"},
    }
    assert "# depth" in config.read_text()


def test_a_function_gets_dotted_names_as_flat_keys(workdir: Path) -> None:
    import sweepkit

    seen: list[dict[str, Any]] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append(params)
        return float(params["agent.optim.ppo_lr"])

    spec = {
        "name": "fn",
        "method": "grid",
        "metric": {"name": "value"},
        "parameters": {
            "agent.optim.ppo_lr": {"values": [0.1, 0.2]},
            "agent": {"parameters": {"gamma": {"value": 0.99}}},
        },
    }
    result = sweepkit.run(spec, objective=objective, quiet=True)
    assert {p["agent.optim.ppo_lr"] for p in seen} == {0.1, 0.2}
    assert all(p["agent"] == {"gamma": 0.99} for p in seen)
    assert result.best_params == {"agent.optim.ppo_lr": 0.1, "agent": {"gamma": 0.99}}


WANDB_TRAIN = """\
import json, os
import wandb

wandb.init(project="p", config={"model": {"n_layers": 2}})
with open(os.path.join(os.environ["SWEEPKIT_TRIAL_DIR"], "config.json"), "w") as out:
    json.dump(dict(wandb.config), out)
wandb.log({"loss": float(wandb.config["model.n_layers"])})
wandb.finish()
"""


@pytest.mark.slow
def test_an_unmodified_wandb_script_reads_a_dotted_name_from_its_config(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("HOME", str(workdir))  # anything W&B writes under ~ stays in the test's folder
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # and nothing it fetches gets out
    (workdir / "train.py").write_text(WANDB_TRAIN)
    (workdir / "sweep.yaml").write_text(
        "program: train.py\nmethod: grid\nmetric: {name: loss}\nparameters:\n  model.n_layers: {values: [3]}\n"
    )
    code, _, err = _cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0, err
    config = json.loads((workdir / "sweeps" / "sweep" / "trials" / "0" / "config.json").read_text())
    assert config["model.n_layers"] == 3  # W&B's own flat key, as `wandb agent` would set it
    code, out, _ = _cli(capsys, "best", "sweep", "--format", "json")
    assert json.loads(out) == {"model.n_layers": 3}

"""`sweepkit best NAME --into config.yaml`: the best params land in the user's own config, and nothing else
in the file changes (comments, key order, quoting); bad input changes nothing and says why (exit 2)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepkit.cli import main
from sweepkit.errors import UsageError
from sweepkit.export import write_into
from sweepkit.results._stored import load_result
from sweepkit.space import flatten
from sweepkit.store import Store

# The transformer workflow's "apply the best parameters to your config", with its comments.
CONFIG = """\
# config.yaml: the training run's settings
model:
  embedding_dim: 64  # From best_params
  num_layers: 2       # From best_params
  dropout: 0.1       # From best_params
  d_model: 256        # Automatically derived

training:
  learning_rate: 0.001      # From best_params
  batch_size: 32            # From best_params
  optimizer: 'adamw'        # quoted on purpose
  warmup:
    epochs: 1                  # From best_params
  schedule: [cosine, 10]
data:
  path: /data/train.pt  # not a parameter: must not change
"""

SWEEP = """
name: seed0
trial: {function: "intotrain:objective"}
metric: {name: val_loss}
strategy: {name: random, seed: 5}
budget: {trials: 4}
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.000005, max: 0.005}
  batch_size: [64, 128, 256]
  optimizer: [adam, sgd]
  warmup_epochs: {min: 2, max: 5}
  model:
    parameters:
      embedding_dim: [32, 64, 128]
      dropout: {min: 0.05, max: 0.3}
  d_model: {expr: "model.embedding_dim * 4"}
"""


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "intotrain.py").write_text("def objective(p):\n    return p['learning_rate'] + p['model']['dropout']\n")
    (workdir / "sweep.yaml").write_text(textwrap.dedent(SWEEP).lstrip())
    (workdir / "config.yaml").write_text(CONFIG)
    assert main(["run", "sweep.yaml", "-q"]) == 0
    return workdir


def _best(folder: Path) -> dict[str, Any]:
    best = load_result(Store(cwd=folder), "seed0").best_params
    assert best is not None
    return flatten(best)


def _lines_other_than(text: str, keys: tuple[str, ...]) -> list[str]:
    return [line for line in text.splitlines() if not line.strip().startswith(keys)]


def test_into_a_commented_config_keeps_everything_but_the_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    best = _best(project)
    capsys.readouterr()
    code = main(["best", "seed0", "--into", "config.yaml", "--map", "warmup_epochs=training.warmup.epochs"])
    out, err = capsys.readouterr()
    assert code == 0, err
    text = (project / "config.yaml").read_text()
    data = yaml.safe_load(text)  # PyYAML (YAML 1.1), as most training scripts read it: floats stay floats
    assert data["training"]["learning_rate"] == best["learning_rate"]
    assert isinstance(data["training"]["learning_rate"], float)
    assert data["training"]["batch_size"] == best["batch_size"]
    assert data["training"]["optimizer"] == best["optimizer"]
    assert data["training"]["warmup"]["epochs"] == best["warmup_epochs"]
    assert data["model"] == {
        "embedding_dim": best["model.embedding_dim"],
        "num_layers": 2,  # not a parameter of the sweep
        "dropout": best["model.dropout"],
        "d_model": best["d_model"],  # a derived parameter maps itself too
    }
    assert data["data"] == {"path": "/data/train.pt"}
    assert data["training"]["schedule"] == ["cosine", 10]
    # Comments and key order as written; the untouched lines byte for byte.
    changed = ("embedding_dim", "dropout", "d_model", "learning_rate", "batch_size", "optimizer", "epochs")
    assert _lines_other_than(text, changed) == _lines_other_than(CONFIG, changed)
    for key in changed:
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        original = next(line for line in CONFIG.splitlines() if line.strip().startswith(f"{key}:"))
        assert line.partition("#")[2] == original.partition("#")[2], line  # its comment stays
    assert f"optimizer: '{best['optimizer']}'" in text  # quoting style kept
    assert "training.warmup.epochs" in out and "--map" in out
    assert "not written" not in err


def test_output_writes_a_copy_and_leaves_the_config_alone(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(project / "config.yaml", 0o640)
    code = main(["best", "seed0", "--into", "config.yaml", "--output", "configs/trainer/hpo_best.yaml"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert (project / "config.yaml").read_text() == CONFIG
    copy = project / "configs" / "trainer" / "hpo_best.yaml"
    assert yaml.safe_load(copy.read_text())["training"]["batch_size"] == _best(project)["batch_size"]
    assert copy.stat().st_mode & 0o777 == 0o640  # the original's permissions, not a temp file's 0600
    # warmup_epochs has no key of its name: left out, and said so
    assert "not written: warmup_epochs: no key of that name in the file" in err


def test_a_nested_param_maps_by_its_dotted_suffix(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("encoder:\n  opt:\n    lr: 1.0  # enc\ndecoder:\n  opt:\n    lr: 2.0  # dec\n")
    report = write_into(config, {"decoder.opt.lr": 0.5}, [])
    assert yaml.safe_load(config.read_text()) == {"encoder": {"opt": {"lr": 1.0}}, "decoder": {"opt": {"lr": 0.5}}}
    assert [(c.key, c.old, c.new) for c in report.changes] == [("decoder.opt.lr", 2.0, 0.5)]
    assert "# dec" in config.read_text()


def test_an_ambiguous_name_is_left_out_with_the_candidates(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("a:\n  lr: 1\nb:\n  lr: 2\nbatch: 3\n")
    report = write_into(config, {"lr": 0.5, "batch": 8}, [])
    assert report.skipped == {"lr": "several keys match (a.lr, b.lr): pick one with --map lr=KEY"}
    assert yaml.safe_load(config.read_text()) == {"a": {"lr": 1}, "b": {"lr": 2}, "batch": 8}
    write_into(config, {"lr": 0.5}, ["lr=b.lr"])
    assert yaml.safe_load(config.read_text())["b"]["lr"] == 0.5


def test_small_floats_read_as_floats_by_yaml_1_1_and_1_2(tmp_path: Path) -> None:
    from ruamel.yaml import YAML

    config = tmp_path / "c.yaml"
    config.write_text("lr: 0.1\nwd: 0.1\nbig: 1\n")
    write_into(config, {"lr": 1e-05, "wd": 2.5e-07, "big": 1e16}, [])
    for data in (yaml.safe_load(config.read_text()), YAML(typ="safe").load(config.read_text())):
        assert data == {"lr": 1e-05, "wd": 2.5e-07, "big": 1e16}


def test_indentation_of_the_file_is_kept(tmp_path: Path) -> None:
    text = "train:\n    lr: 0.1\n    tags:\n      - a\n      - b\n"
    config = tmp_path / "c.yaml"
    config.write_text(text)
    write_into(config, {"lr": 0.2}, [])
    assert config.read_text() == text.replace("0.1", "0.2")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("- a\n- b\n", "expected a YAML mapping of keys at the top, found a list"),
        ("just a sentence\n", 'found the text "just a sentence"'),
        ("", "found nothing (the file is empty)"),
        ("a: [1, 2\n", "invalid YAML at line 2"),
    ],
)
def test_a_file_that_is_not_a_yaml_mapping_is_left_as_it_was(
    project: Path, capsys: pytest.CaptureFixture[str], content: str, why: str
) -> None:
    (project / "bad.yaml").write_text(content)
    capsys.readouterr()
    assert main(["best", "seed0", "--into", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert why in err and "nothing was changed" in err and "Traceback" not in err
    assert (project / "bad.yaml").read_text() == content


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        ("warmup_epochs=training.warmup.epoch", 'config.yaml has no key "training.warmup.epoch"'),
        ("warmup_epochs=training", 'has no key "training"'),  # a section, not a value
        ("warmup=training.warmup.epochs", 'the best trial has no parameter "warmup"'),
        ("warmup_epochs", "expected param=dotted.key"),
    ],
)
def test_a_bad_map_changes_nothing(project: Path, capsys: pytest.CaptureFixture[str], flag: str, why: str) -> None:
    capsys.readouterr()
    assert main(["best", "seed0", "--into", "config.yaml", "--map", flag]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err
    assert (project / "config.yaml").read_text() == CONFIG


def test_no_param_matching_any_key_changes_nothing(project: Path) -> None:
    (project / "other.yaml").write_text("# unrelated\nseed: 1\n")
    with pytest.raises(UsageError, match="no parameter of the best trial .* matches a key in .*other.yaml"):
        write_into(project / "other.yaml", _best(project), [])
    assert (project / "other.yaml").read_text() == "# unrelated\nseed: 1\n"


def test_into_a_missing_file_or_map_without_into(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["best", "seed0", "--into", "nope.yaml"]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    assert not (project / "nope.yaml").exists()
    assert main(["best", "seed0", "--map", "a=b"]) == 2
    assert "--map goes with --into" in capsys.readouterr().err


def test_a_json_config_stays_json_with_its_indentation(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text('{\n    "model": {"lr": 0.1, "name": "x"},\n    "epochs": 3\n}\n')
    write_into(config, {"lr": 1e-05, "epochs": 10}, [])
    text = config.read_text()
    assert json.loads(text) == {"model": {"lr": 1e-05, "name": "x"}, "epochs": 10}
    assert '\n    "epochs": 10' in text
    config.write_text("[1, 2]\n")
    with pytest.raises(UsageError, match="expected a JSON object at the top, found a list"):
        write_into(config, {"lr": 0.5}, [])

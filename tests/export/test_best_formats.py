"""`sweepkit best --format hydra|yaml|json|args`: text that each consumer parses back to the same params.

Hydra overrides are checked with Hydra's own override parser (and OmegaConf for `${` escapes), not by
comparing strings: the point is what Hydra reads.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepkit.cli import main
from sweepkit.errors import UsageError
from sweepkit.export import format_best, hydra_overrides, hydra_value

hydra_parser = pytest.importorskip("hydra.core.override_parser.overrides_parser")
omegaconf = pytest.importorskip("omegaconf")

_PARSER = hydra_parser.OverridesParser.create()


def _hydra_reads(line: str) -> tuple[str, Any]:
    """What Hydra sets for one `key=value` override: the key and the value after OmegaConf resolves it."""
    override = _PARSER.parse_override(line)
    value = override.value()
    resolved = omegaconf.OmegaConf.to_container(omegaconf.OmegaConf.create({"v": value}), resolve=True)["v"]
    return override.key_or_group, resolved


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


@pytest.mark.parametrize(
    "value",
    [
        0.000234, 1.5e-05, 1e-05, 256, 0, -3, True, False, None, 1e300, float("inf"), float("-inf"),
        "adam", "a b", "x,y", "it's", "1e-5", "true", "null", "NaN", "3", "1_000", "", " lead", "a=b",
        "${oops}", "back\\slash", "ends\\", "quote\\'d", "[1]", "choice(a,b)", "/path/to-file.pt", "über",
        [1, 2, 3], ["a b", None, 0.5], {"a": 1, "b": "x y"}, [],
    ],
)  # fmt: skip
def test_hydra_reads_back_each_value(value: Any) -> None:
    key, got = _hydra_reads(f"k={hydra_value(value)}")
    assert key == "k"
    assert _same(got, value) or (isinstance(value, list | dict) and got == value), (hydra_value(value), got)


def test_hydra_reads_back_nan() -> None:
    _, got = _hydra_reads(f"k={hydra_value(float('nan'))}")
    assert math.isnan(got)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.text(max_size=20))
def test_hydra_reads_back_any_text(text: str) -> None:
    _, got = _hydra_reads(f"k={hydra_value(text)}")
    assert got == text


def test_nested_params_become_dotted_keys() -> None:
    params = {"lr": 0.001, "model": {"dropout": 0.1, "layers": {"n": 4}}, "opt": "adam"}
    lines = hydra_overrides(params)
    assert lines == ["lr=0.001", "model.dropout=0.1", "model.layers.n=4", "opt=adam"]
    read = dict(_hydra_reads(line) for line in lines)
    assert read == {"lr": 0.001, "model.dropout": 0.1, "model.layers.n": 4, "opt": "adam"}


def test_a_name_hydra_cannot_take_as_a_key_is_an_error() -> None:
    with pytest.raises(UsageError, match='"2nd" cannot be a Hydra key'):
        hydra_overrides({"2nd": 1})


def test_every_format_parses_back() -> None:
    params = {"learning_rate": 1e-05, "batch_size": 256, "name": "a b", "model": {"dropout": 0.15}}
    assert yaml.safe_load(format_best(params, "yaml")) == params
    assert json.loads(format_best(params, "json")) == params
    assert "--batch_size=256" in format_best(params, "args")
    with pytest.raises(UsageError, match="unknown format"):
        format_best(params, "toml")


SWEEP = """
name: fmt
trial: {function: "fmttrain:objective"}
metric: {name: loss}
strategy: {name: random, seed: 2}
budget: {trials: 3}
parameters:
  opt: ['adam w', 'sgd']
  model:
    parameters:
      lr: {distribution: log_uniform_values, min: 0.00001, max: 0.001}
"""


@pytest.fixture
def swept(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "fmttrain.py").write_text("def objective(p):\n    return p['model']['lr']\n")
    (workdir / "sweep.yaml").write_text(textwrap.dedent(SWEEP).lstrip())
    assert main(["run", "sweep.yaml", "-q"]) == 0
    return workdir


def test_cli_best_hydra_and_output_file(swept: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["best", "fmt", "--format", "json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert main(["best", "fmt", "--format", "hydra"]) == 0
    lines = capsys.readouterr().out.splitlines()
    read = dict(_hydra_reads(line) for line in lines)
    assert read == {"opt": best["opt"], "model.lr": best["model"]["lr"]}
    assert main(["best", "fmt", "--format", "hydra", "--output", "best.txt"]) == 0
    assert (swept / "best.txt").read_text().splitlines() == lines


def test_cli_best_of_an_unknown_sweep_lists_the_sweeps(swept: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["best", "fmtt", "--format", "hydra"]) == 2
    err = capsys.readouterr().err
    assert 'no sweep named "fmtt"' in err and "sweeps there: fmt" in err
    assert "Traceback" not in err

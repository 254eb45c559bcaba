"""A metric the trials never log: the first trial fails naming what it did log, and the sweep stops (exit 2)
instead of training the whole budget for nothing. A sweep that has seen the metric is not stopped."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import sweepkit
from sweepkit.cli import main

MISNAMED_PROGRAM = """\
import json, os
with open(os.environ["SWEEPKIT_CHANNEL"], "a") as channel:
    for epoch in range(3):
        channel.write(json.dumps({"step": epoch, "val_los": 1.0 / (epoch + 1), "epoch": epoch}) + "\\n")
"""


def history(workdir: Path, name: str) -> list[dict]:
    return json.loads((workdir / "sweeps" / name / "trials_history.json").read_text())


def test_a_program_that_never_logs_the_metric_stops_the_sweep(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "train.py").write_text(MISNAMED_PROGRAM)
    (workdir / "sweep.yaml").write_text(
        "name: typo\nprogram: train.py\nmethod: random\nmetric: {name: val_loss, goal: minimize}\n"
        "run_cap: 5\nparameters:\n  lr: {min: 0.001, max: 0.1}\n"
    )
    assert main(["run", "sweep.yaml"]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml: metric.name: " in err
    assert 'never reported "val_loss"' in err and 'did you mean "val_los"?' in err
    (trial,) = history(workdir, "typo")  # one trial, not five
    assert trial["state"] == "FAILED"
    assert "val_los, epoch" in trial["error"] and 'did you mean "val_los"?' in trial["error"]


def test_a_program_that_reports_nothing_stops_the_sweep_saying_how_to_report(workdir: Path) -> None:
    (workdir / "train.py").write_text("print('loading data')\n")
    spec = {"name": "silent", "metric": {"name": "val_loss"}, "budget": {"trials": 5},
            "trial": {"command": ["python", "train.py"]}, "parameters": {"lr": {"min": 0.001, "max": 0.1}}}  # fmt: skip
    with pytest.raises(sweepkit.SpecError, match="report it with sweepkit.init") as raised:
        sweepkit.run(spec, quiet=True)
    assert raised.value.exit_code == 2 and raised.value.key == "metric.name"
    (trial,) = history(workdir, "silent")
    assert trial["error"].startswith('the program exited 0 but never reported "val_loss": report it with')


def test_a_function_that_never_returns_the_metric_stops_the_sweep(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "train.py").write_text("def objective(params):\n    return {'val_los': params['lr'], 'acc': 0.5}\n")
    (workdir / "sweep.yaml").write_text(
        "name: typo\ntrial: {function: train:objective}\nmetric: {name: val_loss}\n"
        "budget: {trials: 5}\nparameters:\n  lr: {min: 0.001, max: 0.1}\n"
    )
    assert main(["run", "sweep.yaml"]) == 2
    err = capsys.readouterr().err
    assert "sweep.yaml: metric.name: " in err and 'did you mean "val_los"?' in err
    (trial,) = history(workdir, "typo")
    assert trial["state"] == "FAILED" and "val_los, acc" in trial["error"]


def test_a_sweep_that_has_seen_the_metric_goes_on(workdir: Path) -> None:
    (workdir / "train.py").write_text(
        textwrap.dedent(
            """\
            def objective(params):
                with open("calls", "a+") as calls:
                    calls.write("x")
                    calls.seek(0)
                    if len(calls.read()) == 2:  # the second trial misses it: its own failure, not the sweep's
                        return {"val_los": 1.0}
                return {"val_loss": params["level"]}
            """
        )
    )
    (workdir / "sweep.yaml").write_text(
        "name: once\ntrial: {function: train:objective}\nmetric: {name: val_loss}\nstrategy: grid\n"
        "parameters:\n  level: [1, 2, 3, 4]\n"
    )
    assert main(["run", "sweep.yaml", "-q"]) == 0
    assert [t["state"] for t in history(workdir, "once")] == ["COMPLETE", "FAILED", "COMPLETE", "COMPLETE"]


def test_a_wandb_the_shim_cannot_read_is_named_in_the_error(workdir: Path) -> None:
    """A `wandb` that is no W&B (here the script's own wandb.py): the program runs on, and the trial's error
    quotes the shim's note from its stderr, so the user learns why its wandb.log went unread."""
    (workdir / "wandb.py").write_text("def log(row):\n    print('logged', row)\n")
    (workdir / "train.py").write_text("import wandb\n\nwandb.log({'val_loss': 0.5})\n")
    spec = {"name": "notwandb", "metric": {"name": "val_loss"}, "budget": {"trials": 2},
            "trial": {"program": "train.py"}, "parameters": {"lr": {"min": 0.001, "max": 0.1}}}  # fmt: skip
    with pytest.raises(sweepkit.SpecError, match="never reported"):
        sweepkit.run(spec, quiet=True)
    (trial,) = history(workdir, "notwandb")
    assert "or wandb.log (sweepkit: wandb.log is not read in this trial (AttributeError: " in trial["error"]
    stdout = (workdir / "sweeps" / "notwandb" / "trials" / "0" / "stdout.log").read_text()
    assert "logged {'val_loss': 0.5}" in stdout  # the program itself ran to its end

"""Early stopping in the engine: pruned trials end PRUNED with the reason, for functions and programs."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.cli import main
from tests.sweep.test_program import alive, gone


def curves(params: dict[str, Any], trial: Any) -> float:
    """A deterministic learning curve per trial: its level is the parameter `level`."""
    value = 0.0
    for step in range(6):
        value = params["level"] + 1.0 / (step + 1)
        trial.report(value, step)
    return value


def test_median_pruner_stops_worse_trials_and_says_why(workdir: Path) -> None:
    spec = {
        "name": "median",
        "metric": {"name": "loss"},
        "strategy": {"name": "grid", "seed": 5},  # a fixed order (0.2, 0.05, 0.1, 0.8, 0.9): pruning depends on it
        "pruner": {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        "parameters": {"level": [0.1, 0.2, 0.9, 0.8, 0.05]},
    }
    result = sweepkit.run(spec, objective=curves, quiet=True)
    assert [t.params["level"] for t in result.trials] == [0.2, 0.05, 0.1, 0.8, 0.9]
    assert [t.state for t in result.trials] == ["COMPLETE"] * 3 + ["PRUNED"] * 2
    # at step 1 the three finished curves stand at 0.7, 0.55 and 0.6; 0.8's stands at 1.3
    assert result.trials[3].reason == "median: 1.3 is worse than the median 0.6 of 3 trials at step 1"
    assert result.trials[3].value == 1.3  # a pruned trial keeps its last reported value


def test_no_pruner_no_pruning(workdir: Path) -> None:
    spec = {"name": "none", "metric": {"name": "loss"}, "strategy": {"name": "grid"},
            "parameters": {"level": [0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 0.5]}}  # fmt: skip
    result = sweepkit.run(spec, objective=curves, quiet=True)
    assert {t.state for t in result.trials} == {"COMPLETE"}


def test_wandb_early_terminate_from_a_sweep_file(workdir: Path, capsys: Any) -> None:
    (workdir / "train.py").write_text(
        textwrap.dedent(
            """\
            def objective(params, trial):
                value = 0.0
                for step in range(12):
                    value = params["level"] + 1.0 / (step + 1)
                    trial.report(value, step)
                return value
            """
        )
    )
    (workdir / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "early_terminate: {type: hyperband, min_iter: 3, eta: 2}\n"
        "parameters:\n  level: {values: [0.1, 0.2, 0.9, 0.8, 0.05, 0.7]}\n"
    )
    assert main(["validate", "sweep.yaml", "trial.function=train:objective"]) == 0
    shown = capsys.readouterr().out
    assert "early stopping: wandb-hyperband" in shown and "3rd, 6th, 12th" in shown
    result = sweepkit.run("sweep.yaml", overrides=["trial.function=train:objective"], seed=0, quiet=True)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned and all(t.reason and t.reason.startswith("wandb-hyperband: ") for t in pruned)
    assert min(t.params["level"] for t in pruned) >= 0.7


@pytest.mark.slow
def test_a_pruned_program_is_asked_to_stop_then_stopped(workdir: Path) -> None:
    marker = f"sweepkit-test-{uuid.uuid4().hex}"
    (workdir / "train.py").write_text(
        textwrap.dedent(
            f"""\
            import subprocess, sys, time
            import sweepkit
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"])
            open("child-%s.pid" % sweepkit.init().trial, "w").write(str(child.pid))
            run = sweepkit.init()
            level = float(sys.argv[1].split("=")[1])
            for step in range(20):
                run.log({{"val_loss": level + 1.0 / (step + 1)}}, step=step)  # raises TrialPruned when told
                time.sleep(0.05)
            """
        )
    )
    spec = {
        "name": "prog",
        "metric": {"name": "val_loss"},
        "strategy": {"name": "grid"},
        "trial": {"command": ["python", "train.py", "${args}"]},
        "pruner": {"type": "threshold", "upper": 1.5},
        "parameters": {"level": [0.1, 2.0]},
    }
    result = sweepkit.run(spec, quiet=True)
    by_level = {t.params["level"]: t for t in result.trials}
    assert by_level[0.1].state == "COMPLETE"
    stopped = by_level[2.0]
    assert stopped.state == "PRUNED" and stopped.reason.startswith("threshold: ")
    assert gone(int((workdir / f"child-{stopped.number}.pid").read_text()))
    assert alive(marker) == []


# A program that reports by hand and never looks at the stop file, as most scripts are written.
IGNORES_STOP = """\
import json, os, sys, time
level = float(sys.argv[1].split("=")[1])
for step in range(20):
    with open(os.environ["SWEEPKIT_CHANNEL"], "a") as channel:
        channel.write(json.dumps({"step": step, "val_loss": level + 1.0 / (step + 1)}) + "\\n")
    time.sleep(0.1)
open("finished-%s" % os.environ["SWEEPKIT_TRIAL"], "w").close()
"""


def reported_steps(workdir: Path, sweep: str, number: int) -> int:
    lines = (workdir / "sweeps" / sweep / "trials" / str(number) / "metrics.jsonl").read_text().splitlines()
    return len([line for line in lines if '"step"' in line])


@pytest.mark.slow
def test_a_pruned_program_that_ignores_the_stop_file_is_stopped_at_once(workdir: Path) -> None:
    (workdir / "train.py").write_text(IGNORES_STOP)
    spec = {
        "name": "deaf",
        "metric": {"name": "val_loss"},
        "strategy": {"name": "grid"},
        "budget": {"steps": 20},
        "trial": {"command": ["python", "train.py", "${args}"]},
        "pruner": {"type": "threshold", "upper": 1.5},
        "parameters": {"level": [0.1, 2.0]},
    }
    result = sweepkit.run(spec, quiet=True)
    by_level = {t.params["level"]: t for t in result.trials}
    assert by_level[0.1].state == "COMPLETE" and (workdir / f"finished-{by_level[0.1].number}").exists()
    pruned = by_level[2.0]
    assert pruned.state == "PRUNED"
    # SIGTERM at once: it never got to its last line (its 20 steps take 2 s; waiting for the stop file, 5 s)
    assert not (workdir / f"finished-{pruned.number}").exists()
    # the steps it spent are those it really reported before it ended, not the step the pruner judged
    ran = reported_steps(workdir, "deaf", pruned.number)
    assert pruned.steps == ran < 20
    assert result.steps is not None and result.steps["spent"] == 20 + ran


@pytest.mark.slow
def test_a_pruned_program_that_checks_the_stop_file_may_exit_cleanly(workdir: Path) -> None:
    (workdir / "train.py").write_text(
        textwrap.dedent(
            """\
            import os, signal, sys, time
            import sweepkit
            signal.signal(signal.SIGTERM, lambda *_: (open("sigterm", "w").close(), sys.exit(143)))
            run = sweepkit.init()
            try:
                for step in range(50):
                    if run.should_stop():
                        break
                    time.sleep(0.1)  # an epoch, then its report
                    run.log({"val_loss": 2.0 + 1.0 / (step + 1)}, step=step)  # raises TrialPruned when told
            finally:
                open("cleaned-up", "w").close()
            """
        )
    )
    spec = {
        "name": "polite",
        "metric": {"name": "val_loss"},
        "trial": {"command": ["python", "train.py"]},
        "pruner": {"type": "threshold", "upper": 2.3, "n_warmup_steps": 2},
        "parameters": {"level": [1]},
    }
    result = sweepkit.run(spec, quiet=True)
    (trial,) = result.trials
    assert trial.state == "PRUNED"
    assert (workdir / "cleaned-up").exists() and not (workdir / "sigterm").exists()
    assert trial.steps == reported_steps(workdir, "polite", 0)

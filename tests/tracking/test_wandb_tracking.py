"""W&B tracking, offline: a run per trial appears under the sweep's output folder; no account, no network.

W&B's base URL points at a closed local port, so a run that tried to reach a server would fail, not leak.
What the tracker hands W&B is read back through W&B's public API, by the shim program trials use
(`sweepkit._wandb_shim`), installed in this process: each run's rows, then its summary as it finishes.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit import tracking
from sweepkit.results._stored import load_result
from sweepkit.spec import load_spec
from sweepkit.store import Store
from sweepkit.tracking import sweep_key
from tests.conftest import IN_CI

# W&B runs, and importing W&B takes seconds: the fast lane leaves the file out.
pytestmark = pytest.mark.slow

if not IN_CI:
    pytest.importorskip("wandb", reason="W&B is an optional extra: pip install 'sweepkit[wandb]'")
from sweepkit._wandb_shim import install  # noqa: E402

TRAIN = """
def objective(params, trial):
    for step in range(4):
        trial.report(params["lr"] * (4 - step), step)
    if params["bs"] == 64:
        raise RuntimeError("out of memory")
    return {"val_loss": params["lr"], "acc": 0.9}
"""

SWEEP = """
name: wb
trial: {function: "wbtrain:objective"}
metric: {name: val_loss}
method: grid
parameters:
  lr: [0.1, 0.01]
  bs: [32, 64]
wandb: {project: gcode-fingerprinting, tags: [hpo]}
"""


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[Path]:
    """The channel that what this process passes to W&B's public API is copied to, while the test runs."""
    import wandb

    channel = tmp_path / "wandb-api.jsonl"
    undo = install(wandb, str(channel))
    try:
        yield channel
    finally:
        undo()


def _runs(channel: Path) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each finished run's rows and summary, in order (the tracker writes one run at a time)."""
    runs, rows = [], []
    for line in channel.read_text().splitlines():
        row = json.loads(line)
        if row.get("event") == "summary":
            runs.append((rows, row["metrics"]))
            rows = []
        else:
            rows.append(row)
    assert rows == []
    return runs


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("WANDB_API_KEY", "")
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    sys.modules.pop("wbtrain", None)
    (tmp_path / "wbtrain.py").write_text(textwrap.dedent(TRAIN).lstrip())
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent(SWEEP).lstrip())
    return tmp_path


def _replay(folder: Path) -> str:
    spec = load_spec(folder / "sweep.yaml")
    store = Store(cwd=folder)
    trackers = tracking.build(spec)
    assert [type(t).__name__ for t in trackers] == ["WandbTracker"]
    study = store.load("wb")
    tracking.replay(spec, study, trackers, load_result(store, "wb"))
    return sweep_key(spec, study)[:12]


def test_a_run_per_trial_offline_under_the_sweep_folder(offline: Path, logged: Path) -> None:
    result = sweepkit.run(offline / "sweep.yaml", quiet=True)
    assert result.counts["COMPLETE"] == 2 and result.counts["FAILED"] == 2
    prefix = sweep_key(load_spec(offline / "sweep.yaml"), Store(cwd=offline).load("wb"))[:12]  # logged live

    wandb_dir = offline / "sweeps" / "wb" / "wandb"
    runs = sorted(p.name.rpartition("-")[2] for p in wandb_dir.glob("offline-run-*"))
    assert runs == sorted([*(f"{prefix}t{t.number}" for t in result.trials), f"{prefix}sweep"])
    *trial_runs, (sweep_rows, sweep_summary) = _runs(logged)
    runs = {summary["trial"]: (rows, summary) for rows, summary in trial_runs}
    assert sorted(runs) == sorted(t.number for t in result.trials)
    for trial in result.trials:
        rows, summary = runs[trial.number]
        assert [row["step"] for row in rows] == [0, 1, 2, 3]
        assert rows[0] == {"step": 0, "val_loss": pytest.approx(trial.params["lr"] * 4)}
        assert summary["state"] == trial.state and summary["trial"] == trial.number
        if trial.state == "COMPLETE":
            assert summary["val_loss"] == pytest.approx(trial.value) and summary["acc"] == 0.9
        else:
            assert "out of memory" in summary["error"]
    best = result.best_trial
    assert best is not None
    assert sweep_rows == []
    assert sweep_summary["best_trial"] == best.number and sweep_summary["trials_complete"] == 2
    assert not (offline / "wandb").exists()  # nothing outside the sweep's folder

    # A resumed sweep (fresh trackers) logs no trial twice.
    _replay(offline)
    assert len(list(wandb_dir.glob(f"offline-run-*-{prefix}t*"))) == len(result.trials)


def test_wandb_settings_in_the_sweep_file(offline: Path) -> None:
    spec = load_spec(offline / "sweep.yaml")
    config = tracking.settings(spec)
    assert config.wandb.enabled and config.wandb.mode == "offline" and config.wandb.project == "gcode-fingerprinting"
    assert not config.mlflow.enabled
    off = load_spec(offline / "sweep.yaml", ["wandb.enabled=false"])
    assert tracking.build(off) == []
    disabled = load_spec(offline / "sweep.yaml", ["wandb.mode=disabled"])
    assert tracking.build(disabled) == []

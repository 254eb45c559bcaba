"""examples/crypto-transformer runs from its README: the commands of its first bash block, as a user types them;
and a run killed mid-trial resumes the trial from its last epoch's checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.examples._readme import copy_example, run_readme

# Trains a PyTorch model (and imports torch): the fast lane leaves the file out.
pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch", reason="the crypto-transformer example trains a PyTorch model: pip install torch")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crypto-transformer"
SWEEPKIT = [sys.executable, "-m", "sweepkit"]


@pytest.mark.slow
def test_the_readme_commands_run(tmp_path: Path) -> None:
    folder = copy_example("crypto-transformer", tmp_path)
    outputs = run_readme(folder)
    out = folder / "sweeps" / "crypto-transformer"
    summary = json.loads((out / "tuning_results.json").read_text())
    assert summary["total_trials"] == 8 and summary["counts"]["COMPLETE"] >= 5  # 5 run fully before pruning
    assert summary["best_value"] < 1.0986  # better than guessing among 3 classes (ln 3)
    history = json.loads((out / "trials_history.json").read_text())
    for trial in history:
        params = trial["params"]
        assert params["d_model"] == params["embedding_dim"] * 4  # derived, never searched
        assert trial["state"] != "COMPLETE" or trial["steps"] == 4  # --epochs-per-trial 4
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert len(kept) <= 3  # checkpoints: {keep: top_k, k: 3}
    best = Path(summary["best_checkpoint"])
    assert best.name in kept and (best / "last.pt").exists()
    state = torch.load(best / "last.pt", weights_only=True)
    assert state["epoch"] == 3
    best_out = outputs[-1]
    assert "d_model:" in best_out.stdout and f"checkpoints: {best}" in best_out.stderr


def _saved_epoch(checkpoint: Path) -> int:
    try:
        return int(torch.load(checkpoint, weights_only=True)["epoch"])
    except (OSError, RuntimeError, EOFError, KeyError):
        return -1


@pytest.mark.slow
def test_a_killed_run_resumes_its_trial_from_the_last_epoch(tmp_path: Path) -> None:
    folder = copy_example("crypto-transformer", tmp_path)
    argv = [*SWEEPKIT, "run", "sweep.yaml", "--num-trials", "1", "--epochs-per-trial", "8", "-q"]
    env = {**os.environ, "SWEEPKIT_NO_REPORT": "1"}
    proc = subprocess.Popen(argv, cwd=folder, env=env, start_new_session=True, stderr=subprocess.PIPE)
    checkpoint = folder / "sweeps" / "crypto-transformer" / "checkpoints" / "trial-0" / "last.pt"
    deadline = time.monotonic() + 300
    while _saved_epoch(checkpoint) < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no epoch was saved"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run, mid-trial
    proc.wait()
    saved = _saved_epoch(checkpoint)
    assert 1 <= saved < 7

    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    history = json.loads((folder / "sweeps" / "crypto-transformer" / "trials_history.json").read_text())
    first, retry = history
    assert first["state"] == "INTERRUPTED" and retry["state"] == "COMPLETE" and retry["retry_of"] == 0
    assert retry["metrics"]["resumed_from_epoch"] == saved + 1  # on from the last checkpoint, not epoch 0
    assert _saved_epoch(checkpoint) == 7

"""Finite spaces of 100,000 points: `validate` and a sweep with repeat detection take seconds, not hours
(each trial used to compare every pair of an int range's values, and each repeat to key every point)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweepkit.results._stored import load_result
from sweepkit.store import Store

SWEEP = """\
name: big
trial: {function: "big:objective"}
metric: {name: loss}
strategy: {name: tpe, seed: 0}
budget: {trials: 200}
parameters:
  n: {distribution: int_uniform, min: 0, max: 99999}
"""


@pytest.mark.slow
def test_a_100000_point_space_validates_and_runs_without_repeats(workdir: Path) -> None:
    (workdir / "sweep.yaml").write_text(SWEEP)
    (workdir / "big.py").write_text("def objective(params):\n    return {'loss': abs(params['n'] - 500)}\n")
    sweepkit = [sys.executable, "-m", "sweepkit"]
    # Generous bounds (the old code took hours); on 2 shared cores this takes ~3 s and ~5 s.
    shown = subprocess.run([*sweepkit, "validate", "sweep.yaml"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "grid size: 100000 points" in shown.stdout
    ran = subprocess.run([*sweepkit, "run", "sweep.yaml", "-q"], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    trials = load_result(Store(cwd=workdir), "big").trials
    assert len(trials) == 200 and all(t.state == "COMPLETE" for t in trials)
    assert len({t.params["n"] for t in trials}) == 200  # TPE proposes repeats here: each was replaced

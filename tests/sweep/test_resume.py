"""A run killed with SIGKILL and started again completes exactly its budget, losing and repeating nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepkit.results._stored import load_result
from sweepkit.store import Store

SWEEP = """\
name: killme
trial: {function: "train:objective"}
metric: {name: loss}
strategy: {name: tpe, seed: 0}
budget: {trials: 12}
parameters:
  x: {distribution: uniform, min: -2.0, max: 2.0}
  y: {type: loguniform, low: 0.001, high: 1.0}
"""

TRAIN = """\
import time

def objective(params):
    time.sleep(0.3)
    return {"loss": params["x"] ** 2 + params["y"]}
"""


def _complete(workdir: Path) -> list:
    store = Store(cwd=workdir)
    if "killme" not in store.names():
        return []
    return [t for t in load_result(store, "killme").trials if t.state == "COMPLETE"]


@pytest.mark.slow
def test_sigkill_then_resume_completes_exactly_the_budget(workdir: Path) -> None:
    (workdir / "sweep.yaml").write_text(SWEEP)
    (workdir / "train.py").write_text(TRAIN)
    cmd = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_complete(workdir)) < 4:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.05)
    time.sleep(0.1)  # now inside a trial
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.params, t.value) for t in _complete(workdir)}
    result = load_result(Store(cwd=workdir), "killme")
    cut = [t for t in result.trials if t.state == "RUNNING"]
    assert len(cut) == 1, [t.state for t in result.trials]

    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cut short by an earlier run will run again" not in done.stderr  # --quiet hides notes
    result = load_result(Store(cwd=workdir), "killme")
    complete = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(complete) == 12
    for number, (params, value) in before.items():  # nothing completed was lost or changed
        kept = next(t for t in complete if t.number == number)
        assert (kept.params, kept.value) == (params, value)
    keys = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(keys)) == 12  # nothing ran twice
    interrupted = [t for t in result.trials if t.state == "INTERRUPTED"]  # shown so, not failed: it runs again
    assert len(interrupted) == 1 and interrupted[0].error.startswith("worker lost: the run that ran it stopped")
    retry = [t for t in complete if t.retry_of == cut[0].number]
    assert len(retry) == 1 and retry[0].params == cut[0].params
    # the outputs agree with the store
    summary = (workdir / "sweeps" / "killme" / "tuning_results.json").read_text()
    assert '"COMPLETE": 12' in summary and '"FAILED": 0' in summary and '"INTERRUPTED": 1' in summary

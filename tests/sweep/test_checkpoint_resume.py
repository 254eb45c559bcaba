"""A trial cut short runs again told so (`run.resumed`, `trial.resumed`), with the checkpoint folder of its first
attempt, so it goes on from its last checkpoint instead of starting over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepkit.results._checkpoints import first_attempt, folder_of
from sweepkit.results._stored import load_result
from sweepkit.store import Store

EPOCHS = 200  # more than a killed run's program (it lives on) can train before the next run stops it

PROGRAM = """\
import json, os, time
import sweepkit

run = sweepkit.init({"lr": 0.1})
state = sweepkit.checkpoint_dir() / "state.json"
saved = json.loads(state.read_text()) if state.exists() else {"epoch": -1, "history": []}
for epoch in range(saved["epoch"] + 1, EPOCHS):
    time.sleep(float(os.environ["NAP"]))
    saved = {"epoch": epoch, "history": [*saved["history"], [run.trial, epoch, run.resumed]]}
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved))
    os.replace(tmp, state)  # a checkpoint is whole or absent, even under SIGKILL
    with open(os.environ["EPOCH_LOG"], "a") as log:
        line = {"trial": run.trial, "resumed": run.resumed, "pid": os.getpid(),
                "dir": str(sweepkit.checkpoint_dir()), "env": os.environ["SWEEPKIT_RESUMED"]}
        log.write(json.dumps(line) + "\\n")
    run.log({"loss": run.params.lr / (epoch + 1)}, step=epoch)
""".replace("EPOCHS", str(EPOCHS))

SWEEP = """\
name: resumable
trial: {program: prog.py, retries: 2}
metric: {name: loss}
strategy: {name: random, seed: 0}
budget: {trials: 1}
parameters:
  lr: {values: [0.1, 0.2]}
"""


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _run(workdir: Path, nap: float, log: Path, *, kill_after: int | None) -> subprocess.CompletedProcess[str] | None:
    """`sweepkit run`; with `kill_after`, SIGKILL its whole process group once a new attempt of the trial
    logged that many epochs (the program, in a session of its own, lives on, as after an OOM kill)."""
    env = {**os.environ, "EPOCH_LOG": str(log), "NAP": str(nap)}
    cmd = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "-q"]
    if kill_after is None:
        return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    earlier = {line["trial"] for line in _lines(log)}
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while sum(line["trial"] not in earlier for line in _lines(log)) < kill_after:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the trial made no progress"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return None


@pytest.mark.slow
def test_a_killed_program_resumes_from_its_last_checkpoint(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PROGRAM)
    (workdir / "sweep.yaml").write_text(SWEEP)
    log = workdir / "epochs.jsonl"
    _run(workdir, 0.2, log, kill_after=2)  # the first attempt, killed after 2 epochs
    _run(workdir, 0.2, log, kill_after=2)  # its retry, killed after 2 more
    done = _run(workdir, 0.002, log, kill_after=None)  # the retry of the retry runs to the end
    assert done is not None and done.returncode == 0, done and done.stderr

    folder = workdir / "sweeps" / "resumable" / "checkpoints" / "trial-0"
    saved = json.loads((folder / "state.json").read_text())
    history = saved["history"]  # [attempt, epoch, resumed] of every epoch trained, carried in the checkpoint
    assert [epoch for _, epoch, _ in history] == list(range(EPOCHS))  # each epoch once: none lost, none twice
    attempts: list[int] = []
    for trial, _, _ in history:
        if not attempts or attempts[-1] != trial:
            attempts.append(trial)
    assert len(attempts) == 3 and attempts[0] == 0, attempts  # no attempt wrote after the next one started
    for trial, _, resumed in history:
        assert resumed == (trial != attempts[0])  # run.resumed: true on each retry only
    lines = _lines(log)
    assert {line["env"] for line in lines if line["trial"] == 0} == {"0"}
    assert {line["env"] for line in lines if line["trial"] != 0} == {"1"}  # $SWEEPKIT_RESUMED
    assert {line["dir"] for line in lines} == {str(folder)}  # a retry of a retry: the first attempt's folder
    for pid in {line["pid"] for line in lines}:
        assert not _alive(pid)  # each killed run's program was stopped before its retry started

    result = load_result(Store(cwd=workdir), "resumable")
    states = {t.number: (t.state, t.retry_of) for t in result.trials}
    assert states == {
        attempts[0]: ("INTERRUPTED", None),
        attempts[1]: ("INTERRUPTED", attempts[0]),
        attempts[2]: ("COMPLETE", attempts[1]),
    }
    assert result.best_checkpoint == folder
    summary = json.loads((workdir / "sweeps" / "resumable" / "tuning_results.json").read_text())
    assert summary["best_checkpoint"] == str(folder)


FUNCTION = """\
import json, os, signal
import sweepkit

def objective(params, trial):
    state = trial.checkpoint_dir / "state.json"
    start = json.loads(state.read_text())["epoch"] + 1 if state.exists() else 0
    with open(os.environ["EPOCH_LOG"], "a") as log:
        same = sweepkit.checkpoint_dir() == trial.checkpoint_dir
        line = {"trial": trial.number, "resumed": trial.resumed, "start": start, "dir": str(trial.checkpoint_dir)}
        log.write(json.dumps({**line, "same": same}) + "\\n")
    for epoch in range(start, 4):
        state.write_text(json.dumps({"epoch": epoch}))
        if epoch == 1 and not trial.resumed:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies under the trial (out of memory, say)
    return {"loss": params["x"] ** 2}
"""


@pytest.mark.slow
def test_a_function_whose_worker_died_resumes_from_its_checkpoint(workdir: Path) -> None:
    import sweepkit

    (workdir / "train.py").write_text(FUNCTION)
    log = workdir / "starts.jsonl"
    spec = {
        "name": "lost",
        "trial": {"function": "train:objective"},
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 3},
        "budget": {"trials": 2},
        "parameters": {"x": {"min": -1.0, "max": 1.0}},
    }
    os.environ["EPOCH_LOG"] = str(log)
    try:
        result = sweepkit.run(spec, workers=2, quiet=True)  # warm worker processes
    finally:
        del os.environ["EPOCH_LOG"]
    starts = _lines(log)
    fresh = [s for s in starts if not s["resumed"]]
    retries = [s for s in starts if s["resumed"]]
    assert len(fresh) == 2 and len(retries) == 2
    assert all(s["start"] == 0 for s in fresh) and all(s["start"] == 2 for s in retries)
    assert all(s["same"] for s in starts)
    records = {t.number: t for t in result.trials}
    for retry in retries:
        original = records[retry["trial"]].retry_of
        assert retry["dir"] == str(folder_of(result.output, original))
    assert result.counts["COMPLETE"] == 2 and result.counts["INTERRUPTED"] == 2


def test_first_attempt_follows_retries_back() -> None:
    parent = {0: None, 1: None, 2: 0, 3: 2, 4: 1, 5: 3}
    assert [first_attempt(n, parent) for n in range(6)] == [0, 1, 0, 0, 1, 0]
    assert first_attempt(7, {7: 6, 6: 7}) in (6, 7)  # a damaged store's loop ends


def test_client_outside_a_sweep(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWEEPKIT_CHECKPOINT_DIR", "SWEEPKIT_RESUMED", "SWEEPKIT_PARAMS_FILE", "SWEEPKIT_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    import sweepkit

    run = sweepkit.init({"lr": 0.1})
    assert run.resumed is False
    assert sweepkit.checkpoint_dir() == workdir / "checkpoints" and (workdir / "checkpoints").is_dir()
    monkeypatch.setenv("SWEEPKIT_CHECKPOINT_DIR", str(workdir / "ck"))
    monkeypatch.setenv("SWEEPKIT_RESUMED", "1")
    assert sweepkit.init().resumed is True
    assert run.checkpoint_dir == workdir / "ck" and (workdir / "ck").is_dir()


def test_checkpoint_dir_keeps_the_client_light() -> None:
    code = (
        "import sys, sweepkit; sweepkit.checkpoint_dir; "
        "heavy = [m for m in ('optuna', 'sqlalchemy', 'torch', 'numpy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

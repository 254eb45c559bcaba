"""Many trials at once: warm worker processes for Python trials, slot threads for programs, the budget
kept exactly, lost workers found and their trials run again, `--until`, run logs, agents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.results._stored import load_result
from sweepkit.store import Store
from sweepkit.sweep._heartbeat import BEAT

SWEEPKIT = [sys.executable, "-m", "sweepkit"]

TRAIN = """
import json, os, time
from pathlib import Path

Path("imports").mkdir(exist_ok=True)
(Path("imports") / str(os.getpid())).write_text("imported")

def objective(params, trial):
    start = time.time()
    marker = Path("die-once")
    if params["x"] >= 0.5 and marker.exists() and params.get("die"):
        marker.unlink()
        os._exit(9)  # the worker dies in the middle of a trial
    for step in range(3):
        time.sleep(params.get("nap", 0.15) / 3)
        trial.report(params["x"] * (step + 1), step)
    if params.get("boom") and params["x"] < 0.2:
        raise ValueError("bad x")
    return {"score": params["x"], "pid": os.getpid(), "start": start, "end": time.time()}
"""


def _spec(name: str, trials: int, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": name,
        "trial": {"function": "train:objective"},
        "metric": {"name": "score", "goal": "maximize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "budget": {"trials": trials},
        "strategy": {"name": "random", "seed": 3},
    }
    spec.update(extra)
    return spec


def _overlapped(records: list) -> int:
    """The most trials that ran at the same moment, from their own start/end stamps."""
    spans = [(t.metrics["start"], t.metrics["end"]) for t in records if "start" in t.metrics]
    return max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)


@pytest.mark.slow
def test_python_trials_run_in_warm_worker_processes(workdir: Path) -> None:
    (workdir / "train.py").write_text(TRAIN)
    result = sweepkit.run(_spec("pool", 12), workers=3, quiet=True)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(done) == 12
    pids = {t.metrics["pid"] for t in done}
    assert len(pids) == 3 and os.getpid() not in pids  # three worker processes, not this one
    assert len(list((workdir / "imports").iterdir())) == 3  # the module was imported once per worker
    assert _overlapped(done) >= 2
    assert {t.worker.rsplit("/", 1)[1] for t in done} == {"0", "1", "2"}
    for pid in pids:  # the pool is gone with the sweep
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_pool_trials_are_pruned_and_fail_like_local_ones(workdir: Path) -> None:
    (workdir / "train.py").write_text(TRAIN)
    spec = _spec(
        "pool-prune",
        10,
        parameters={"x": {"min": 0.0, "max": 1.0}, "boom": {"value": True}},
        pruner={"type": "threshold", "upper": 1.2},
    )
    result = sweepkit.run(spec, workers=2, quiet=True)
    by_state: dict[str, list] = {}
    for t in result.trials:
        by_state.setdefault(t.state, []).append(t)
    for t in by_state.get("PRUNED", []):
        assert t.params["x"] > 0.4 and "threshold" in t.reason  # x·(step+1) passed 1.2 at step 1 or 2
    for t in by_state.get("FAILED", []):
        assert t.params["x"] < 0.2 and t.error == "ValueError: bad x"
        assert 'raise ValueError("bad x")' in t.traceback  # the worker's own traceback
    for t in by_state.get("COMPLETE", []):
        assert 0.2 <= t.params["x"] <= 0.4
    assert sum(len(v) for v in by_state.values()) == 10
    assert by_state.get("PRUNED") and by_state.get("COMPLETE")


@pytest.mark.slow
def test_a_worker_that_dies_loses_its_trial_which_runs_again(workdir: Path) -> None:
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "die-once").write_text("")
    spec = _spec("pool-die", 8, parameters={"x": {"min": 0.0, "max": 1.0}, "die": {"value": True}})
    result = sweepkit.run(spec, workers=2, quiet=True)
    lost = [t for t in result.trials if t.error and t.error.startswith("worker lost")]
    assert len(lost) == 1 and "exited with code 9" in lost[0].error
    again = [t for t in result.trials if t.retry_of == lost[0].number]
    assert len(again) == 1 and again[0].state == "COMPLETE" and again[0].params == lost[0].params
    assert sum(t.state == "COMPLETE" for t in result.trials) == 8  # the lost one did not use up the budget


def test_an_import_error_stops_the_sweep_before_any_trial(workdir: Path) -> None:
    (workdir / "train.py").write_text("import no_such_module_anywhere\n")
    (workdir / "sweep.yaml").write_text(json.dumps(_spec("bad-import", 4)))
    assert main(["run", "sweep.yaml", "--workers", "2", "-q"]) == 2


@pytest.mark.slow
def test_a_module_that_hangs_on_import_stops_the_sweep_naming_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from sweepkit.errors import SpecError

    slots = sys.modules["sweepkit.sweep._slots"]  # sweepkit.sweep's `_slots` is a function of that name
    monkeypatch.setattr(slots, "WORKER_START_SECONDS", 1.0)
    (workdir / "train.py").write_text("import time\ntime.sleep(3600)\n")
    errors: list[Exception] = []

    def run() -> None:
        try:
            sweepkit.run(_spec("hang", 4), workers=2, quiet=True)
        except Exception as exc:
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)  # if it hangs, its workers die with the test process
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the sweep hung on a worker that never finished importing its module"
    assert len(errors) == 1 and isinstance(errors[0], SpecError), errors  # exit code 2: a user error
    assert str(errors[0]).startswith("trial.function: ")
    assert 'module "train" did not finish importing in 1 s' in str(errors[0])


def test_a_lambda_objective_runs_in_threads_with_a_note(workdir: Path) -> None:
    notes: list[str] = []

    class Notes:
        def started(self, *a: object) -> None: ...
        def trial_started(self, *a: object) -> None: ...
        def trial_finished(self, *a: object) -> None: ...
        def finished(self, *a: object) -> None: ...
        def note(self, text: str) -> None:
            notes.append(text)

    result = sweepkit.run(
        {k: v for k, v in _spec("lam", 6).items() if k != "trial"},
        objective=lambda p: {"score": p["x"]},
        workers=2,
        reporter=Notes(),
    )
    assert sum(t.state == "COMPLETE" for t in result.trials) == 6
    assert any("threads of this process" in n for n in notes)


PROGRAM = """
import os, sys, time, json
import sweepkit
run = sweepkit.init()
start = time.time()
for step in range(4):
    time.sleep(float(os.environ.get("NAP", "0.1")))
    run.log({"score": run.params["x"], "gpu": os.environ.get("CUDA_VISIBLE_DEVICES", "")}, step=step)
run.log({"score": run.params["x"], "start": start, "end": time.time()})
"""


def _program_spec(name: str, trials: int) -> dict[str, object]:
    return {
        "name": name,
        "trial": {"program": "prog.py"},
        "metric": {"name": "score", "goal": "maximize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "budget": {"trials": trials},
        "strategy": {"name": "random", "seed": 1},
    }


@pytest.mark.slow
def test_program_trials_run_side_by_side_and_are_monitored(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PROGRAM)
    result = sweepkit.run(_program_spec("progs", 6), workers=3, quiet=True)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(done) == 6
    assert _overlapped(done) >= 2
    for t in done:
        assert t.resources.get("samples", 0) >= 1 and t.resources.get("peak_rss_mb", 0) > 1


@pytest.mark.slow
def test_two_runs_of_one_sweep_share_its_budget_exactly(workdir: Path) -> None:
    (workdir / "train.py").write_text(TRAIN)
    spec = _spec("shared", 10, parameters={"x": {"min": 0.0, "max": 1.0}, "nap": {"value": 0.3}})
    (workdir / "sweep.yaml").write_text(json.dumps(spec))
    procs = [subprocess.Popen([*SWEEPKIT, "run", "sweep.yaml", "-q", "--workers", "2"]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    trials = load_result(Store(cwd=workdir), "shared").trials
    assert [t.state for t in trials] == ["COMPLETE"] * 10  # exactly the budget, nothing beyond it
    assert len({t.metrics["pid"] for t in trials if t.state == "COMPLETE"}) > 2  # both runs' workers ran some


@pytest.mark.slow
def test_an_agent_joins_a_running_sweep(workdir: Path) -> None:
    (workdir / "train.py").write_text(TRAIN)
    spec = _spec("joined", 8, parameters={"x": {"min": 0.0, "max": 1.0}, "nap": {"value": 0.4}})
    (workdir / "sweep.yaml").write_text(json.dumps(spec))
    first = subprocess.Popen([*SWEEPKIT, "run", "sweep.yaml", "-q"])
    deadline = time.monotonic() + 60
    while "joined" not in Store(cwd=workdir).names() and time.monotonic() < deadline:
        time.sleep(0.1)
    agent = subprocess.run([*SWEEPKIT, "agent", "joined", "-q"], capture_output=True, text=True, timeout=120)
    assert agent.returncode == 0, agent.stderr
    assert first.wait(timeout=120) == 0
    trials = load_result(Store(cwd=workdir), "joined").trials
    assert sum(t.state == "COMPLETE" for t in trials) == 8
    assert len({t.metrics["pid"] for t in trials}) == 2  # the run's process and the agent's


def test_agent_on_an_unknown_sweep_lists_the_known_ones(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "train.py").write_text(TRAIN)
    sweepkit.run(_spec("known", 1), quiet=True)
    assert main(["agent", "nope"]) == 2
    assert "known" in capsys.readouterr().err


@pytest.mark.slow
def test_until_stops_running_trials_and_queues_them(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PROGRAM)
    os.environ["NAP"] = "1.0"
    try:
        result = sweepkit.run(_program_spec("night", 6), workers=2, quiet=True, until=time.time() + 1.5)
    finally:
        del os.environ["NAP"]
    assert "--until" in result.stop_reason
    stopped = [t for t in result.trials if t.error and "--until" in t.error]
    assert len(stopped) == 2
    waiting = [t for t in result.trials if t.state == "WAITING"]
    assert sorted(t.retry_of for t in waiting) == sorted(t.number for t in stopped)
    logs = list((workdir / ".sweepkit" / "logs" / "night").glob("*.log"))
    assert len(logs) == 1 and "--until" in logs[0].read_text()


@pytest.mark.slow
def test_exclusive_skips_when_another_run_is_alive(workdir: Path) -> None:
    (workdir / "prog.py").write_text(PROGRAM)
    (workdir / "sweep.yaml").write_text(json.dumps(_program_spec("cron", 3)))
    env = {**os.environ, "NAP": "1.0"}
    first = subprocess.Popen([*SWEEPKIT, "run", "sweep.yaml", "-q"], env=env)
    try:
        deadline = time.monotonic() + 30
        while not list((workdir / ".sweepkit" / "runs").glob("cron@*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(
            [*SWEEPKIT, "run", "sweep.yaml", "--exclusive", "-q"], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 0 and "another run of cron is running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)


def test_run_logs_rotate(workdir: Path) -> None:
    from sweepkit.sweep._runlog import RunLog

    class Quiet:
        def note(self, text: str) -> None: ...

    folder = workdir / "logs"
    for i in range(25):
        log = RunLog(Quiet(), folder, "s", keep=20)
        log.note(f"run {i}")
        log._file.close()
        os.utime(log.path, (time.time() - 100 + i, time.time() - 100 + i))
    kept = sorted((folder / "s").glob("*.log"), key=lambda p: p.stat().st_mtime)
    assert len(kept) == 20
    assert "run 24" in kept[-1].read_text()


def test_parse_until() -> None:
    import datetime as dt

    from sweepkit.errors import SpecError
    from sweepkit.sweep._runlog import parse_until

    now = dt.datetime(2026, 11, 25, 23, 0)
    assert parse_until("06:00", now=now) == dt.datetime(2026, 11, 26, 6, 0).timestamp()
    assert parse_until("23:30", now=now) == dt.datetime(2026, 11, 25, 23, 30).timestamp()
    assert parse_until("2026-11-27T01:00", now=now) == dt.datetime(2026, 11, 27, 1, 0).timestamp()
    for bad in ("6am", "2020-01-01T00:00"):
        with pytest.raises(SpecError):
            parse_until(bad, now=now)


POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_or_skip() -> None:
    import socket

    from tests.conftest import IN_CI

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        if IN_CI:
            raise
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")


@pytest.mark.slow
def test_a_run_killed_on_another_machine_is_found_by_its_silent_heartbeat(workdir: Path) -> None:
    """On a shared database no lock file can tell a dead run: the trial's heartbeat stops, an agent notices
    within the grace period, marks it "worker lost" and runs it again."""
    TRIALS = 6
    import optuna

    _postgres_or_skip()
    name = f"hb-{os.getpid()}-{int(time.time())}"
    (workdir / "train.py").write_text(TRAIN)
    spec = _spec(name, TRIALS, parameters={"x": {"min": 0.0, "max": 1.0}, "nap": {"value": 1.5}}, storage=POSTGRES)
    (workdir / "sweep.yaml").write_text(json.dumps(spec))
    env = {**os.environ, "SWEEPKIT_HEARTBEAT_SECONDS": "0.3"}
    victim = subprocess.Popen([*SWEEPKIT, "run", "sweep.yaml", "-q"], env=env)
    try:
        store = Store(POSTGRES, cwd=workdir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if name in store.names() and store.load(name).get_trials(deepcopy=False):
                break
            time.sleep(0.1)
        agent = subprocess.Popen([*SWEEPKIT, "agent", name, "--storage", POSTGRES, "-q"], env=env)

        def running_of(pid: int) -> bool:
            trials = store.load(name).get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            return any(str((t.system_attrs.get(BEAT) or {}).get("owner", "")).endswith(f":{pid}") for t in trials)

        # The agent runs a trial of its own, so it is past its start-up recovery (which, on this machine, would
        # find the killed run by its free lock file): only the silent heartbeat can tell now. The victim is
        # killed mid-trial (on a loaded machine the agent may start only after some of the victim's trials).
        while not (both := running_of(agent.pid) and running_of(victim.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert both, "the agent and the run never had a trial running at the same time"
        victim.kill()
        victim.wait()
        assert agent.wait(timeout=120) == 0
        trials = load_result(Store(POSTGRES, cwd=workdir), name).trials
        lost = [t for t in trials if t.error and t.error.startswith("worker lost: no heartbeat")]
        assert len(lost) == 1, [(t.number, t.state, t.error) for t in trials]
        assert [t.state for t in trials if t.retry_of == lost[0].number] == ["COMPLETE"]
        assert sum(t.state == "COMPLETE" for t in trials) == TRIALS
    finally:
        victim.kill()
        optuna.delete_study(study_name=name, storage=POSTGRES)

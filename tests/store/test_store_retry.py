"""A store that drops mid-sweep, for real: a TCP relay in front of the real server is cut while a sweep runs.

Cut for a few seconds, the sweep waits it out and every trial is done exactly once. Cut for good, the sweep
stops after the retry window with one message, exit 1, and the trials finished before the cut are still in
the server; run again, it resumes.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.storage_url import RETRY_ENV
from sweepkit.store import Store
from tests.conftest import IN_CI
from tests.store._tcp_proxy import TcpProxy

# Each test waits out a store cut for seconds: the fast lane leaves the file out.
pytestmark = pytest.mark.slow

SERVERS = {
    "postgresql": (5432, "PostgreSQL", "postgresql+psycopg://postgres:secret@127.0.0.1:{port}/test"),
    "mariadb": (3306, "MariaDB", "mysql+pymysql://root@127.0.0.1:{port}/test"),
    "redis": (6379, "Redis", "redis://127.0.0.1:{port}/0?prefix={name}"),
}


def _require(port: int, what: str) -> None:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return
    if IN_CI:
        pytest.fail(f"{what} is not listening on 127.0.0.1:{port} in CI")
    pytest.skip(f"{what} is not listening on 127.0.0.1:{port} on this machine")


@pytest.fixture
def name() -> str:
    return f"drop-{uuid.uuid4().hex[:8]}"


def _cleanup(kind: str, direct: str, name: str) -> None:
    if kind == "redis":
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        keys = list(client.scan_iter(f"{name}:*"))
        if keys:
            client.delete(*keys)
    else:
        store = Store(direct)
        if name in store.names():
            optuna.delete_study(study_name=name, storage=store.storage)


@pytest.fixture(params=list(SERVERS))
def relayed(request: pytest.FixtureRequest, name: str) -> Iterator[tuple[TcpProxy, str, str]]:
    """(relay, URL through the relay, URL straight to the server) for each kind of shared store."""
    kind = request.param
    port, what, template = SERVERS[kind]
    _require(port, what)
    proxy = TcpProxy(("127.0.0.1", port)).start()
    try:
        yield proxy, template.format(port=proxy.port, name=name), template.format(port=port, name=name)
    finally:
        proxy.cut()
        _cleanup(kind, template.format(port=port, name=name), name)


SPEC: dict[str, Any] = {
    "metric": {"name": "loss"},
    "strategy": {"name": "random", "seed": 1},
    "parameters": {"x": {"min": -1.0, "max": 1.0}},
}


def test_a_store_cut_for_seconds_is_waited_out(
    tmp_path: Path,
    relayed: tuple[TcpProxy, str, str],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy, url, direct = relayed
    monkeypatch.setenv(RETRY_ENV, "60")
    calls: list[float] = []

    def objective(params: dict[str, Any]) -> float:
        calls.append(params["x"])
        if len(calls) == 3:  # mid-sweep, while this trial runs: the store goes away for 3 s
            proxy.cut()
            threading.Timer(3.0, proxy.restore).start()
        return params["x"] ** 2

    result = sweepkit.run({**SPEC, "name": name}, objective=objective, trials=6, storage=url, quiet=True, cwd=tmp_path)
    err = capsys.readouterr().err
    assert "is unreachable" in err and "retrying for up to 60 s" in err and "is back after" in err
    assert "secret" not in err
    assert [t.state for t in result.trials] == ["COMPLETE"] * 6
    # Read straight from the server: each trial once, each value the one its call returned.
    stored = Store(direct).load(name).trials
    assert [t.state.name for t in stored] == ["COMPLETE"] * 6
    assert sorted(t.params["x"] for t in stored) == sorted(calls) and len(calls) == 6
    assert all(t.value == t.params["x"] ** 2 for t in stored)


TRIAL = """
import time
from pathlib import Path


def objective(params, trial):
    Path(f"started-{trial.number}").touch()
    if trial.number == 3:  # the test cuts the store now; finish only once it is cut
        deadline = time.time() + 30
        while not Path("cut").exists() and time.time() < deadline:
            time.sleep(0.02)
    return params["x"] ** 2
"""


def test_a_store_that_stays_down_stops_the_sweep(
    workdir: Path,
    relayed: tuple[TcpProxy, str, str],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy, url, direct = relayed
    monkeypatch.setenv(RETRY_ENV, "2")
    (workdir / "trial.py").write_text(TRIAL)
    (workdir / "sweep.yaml").write_text(
        f"name: {name}\nmetric: {{name: loss}}\nstrategy: {{name: random, seed: 1}}\n"
        "trial: {function: 'trial:objective'}\nbudget: {trials: 5}\nparameters: {x: {min: -1.0, max: 1.0}}\n"
    )

    def cut_when_trial_3_starts() -> None:
        deadline = time.time() + 60
        while not (workdir / "started-3").exists() and time.time() < deadline:
            time.sleep(0.02)
        proxy.cut()
        (workdir / "cut").touch()

    watcher = threading.Thread(target=cut_when_trial_3_starts, daemon=True)
    watcher.start()
    code = main(["run", "sweep.yaml", "--storage", url, "-q"])
    watcher.join()
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "secret" not in err
    shown = url.replace("secret", "***")
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"sweepkit: sweep failed: the store at {shown} has been unreachable for 2 s (")
    )
    assert err.strip().endswith("); finished trials are kept in it; run again to resume")

    trials = Store(direct).load(name).trials
    assert [t.state.name for t in trials[:3]] == ["COMPLETE"] * 3  # finished before the cut: kept
    assert all(t.value == t.params["x"] ** 2 for t in trials[:3])

    # The store is back: run again and the sweep resumes, trial 3 (cut short) running again once the
    # heartbeats show nobody runs it (a shared store cannot tell by run locks on this machine's disk).
    monkeypatch.setenv("SWEEPKIT_HEARTBEAT_SECONDS", "0.3")
    proxy.restore()
    assert main(["run", "sweep.yaml", "--storage", url, "-q"]) == 0
    counted = [t for t in Store(direct).load(name).trials if t.state.name == "COMPLETE"]
    assert len(counted) == 5
    assert [t.number for t in counted[:3]] == [0, 1, 2]

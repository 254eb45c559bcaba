"""Redis as a shared store (Optuna's journal on Redis), on the real server on loopback.

Each test keeps its sweeps under a key prefix of its own (`?prefix=` in the URL) and deletes those keys after,
so tests never see each other's sweeps and leave nothing behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.store import Store
from tests.conftest import IN_CI

SPEC: dict[str, Any] = {
    "metric": {"name": "loss"},
    "strategy": {"name": "tpe", "seed": 0},
    "parameters": {"x": {"min": -1.0, "max": 1.0}, "k": {"values": [1, 2, 3]}},
}


def objective(params: dict[str, Any]) -> float:
    return params["x"] ** 2 + params["k"]


@pytest.fixture
def redis_url() -> Iterator[str]:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", 6379)) != 0:
            if IN_CI:
                pytest.fail("Redis is not listening on 127.0.0.1:6379 in CI")
            pytest.skip("Redis is not listening on 127.0.0.1:6379 on this machine")
    import redis

    prefix = f"sweepkit-test-{uuid.uuid4().hex[:8]}"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_a_sweep_runs_and_resumes_in_redis(tmp_path: Path, redis_url: str) -> None:
    spec = {**SPEC, "name": "redis-sweep"}
    first = sweepkit.run(spec, objective=objective, trials=3, storage=redis_url, quiet=True, cwd=tmp_path)
    again = sweepkit.run(spec, objective=objective, trials=5, storage=redis_url, quiet=True, cwd=tmp_path)
    assert [t.value for t in again.trials[:3]] == [t.value for t in first.trials]
    assert [t.state for t in again.trials] == ["COMPLETE"] * 5
    # A fresh Store (another machine) reads the same sweep back from Redis alone.
    store = Store(redis_url, cwd=tmp_path / "elsewhere")
    assert store.names() == ["redis-sweep"]
    assert len(store.load("redis-sweep").trials) == 5


def test_the_prefix_keeps_sweeps_apart(tmp_path: Path, redis_url: str) -> None:
    sweepkit.run({**SPEC, "name": "mine"}, objective=objective, trials=1, storage=redis_url, quiet=True, cwd=tmp_path)
    other = redis_url.replace("prefix=", "prefix=other-")
    try:
        assert Store(other).names() == []
        assert Store(redis_url).names() == ["mine"]
    finally:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        keys = list(client.scan_iter(f"{other.rpartition('prefix=')[2]}:*"))
        if keys:
            client.delete(*keys)


TRIAL = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    SHARED = Path(os.environ["SWEEPKIT_TEST_SHARED"])


    def objective(params):
        (SHARED / f"trial-{os.getpid()}-{params['x']!r}").touch()
        # Until the other run has started a trial too, wait: both runs then surely overlap.
        deadline = time.time() + 60
        while len({p.name.split("-")[1] for p in SHARED.glob("trial-*")}) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        return params["x"] ** 2
    """
)


@pytest.mark.slow
def test_two_runs_of_one_sweep_share_its_budget(tmp_path: Path, redis_url: str) -> None:
    """Two machines (two processes, two folders that share nothing but the Redis URL) run one sweep."""
    shared = tmp_path / "shared"
    shared.mkdir()
    sweep = (
        "name: shared-budget\nmetric: {name: loss}\nstrategy: {name: random, seed: 0}\n"
        "trial: {function: 'trial:objective'}\nbudget: {trials: 10}\nparameters: {x: {min: 0.0, max: 1.0}}\n"
    )
    procs = []
    for machine in ("a", "b"):
        folder = tmp_path / machine
        folder.mkdir()
        (folder / "sweep.yaml").write_text(sweep)
        (folder / "trial.py").write_text(TRIAL)
        env = {**os.environ, "SWEEPKIT_TEST_SHARED": str(shared)}
        argv = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--storage", redis_url, "-q"]
        procs.append(subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    try:
        outputs = [p.communicate(timeout=240)[0].decode() for p in procs]
    finally:
        for p in procs:  # a run still going after a failure would keep writing to Redis
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = Store(redis_url).load("shared-budget").trials
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") == 10, (states, outputs)
    assert "RUNNING" not in states
    ran_by = {p.name.split("-")[1] for p in shared.glob("trial-*")}
    assert len(ran_by) == 2  # both runs ran trials of the one sweep
    assert len(list(shared.glob("trial-*"))) == 10  # and no trial ran twice

"""Two machines that share no network but a link to PostgreSQL: agents in network namespaces, one killed.

Each "machine" is a network namespace with a veth pair to the host, a hostname of its own (a UTS namespace)
and a folder of its own (no shared disk state, so no run lock can tell one machine about the other).
PostgreSQL listens on 127.0.0.1 only, so on the host side of each link a TCP relay (tests/store/_tcp_proxy.py)
listens on the link's address and forwards to it: the machines reach the store across the link only. Both
run one sweep of 12 short trials (a starts it, b joins as an agent); machine "a" is SIGKILLed mid-trial.
Machine "b" must finish the sweep: exactly 12 trials COMPLETE, each grid point once, and the killed
machine's trial not left RUNNING (found by heartbeats, failed "worker lost" and run again).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest

from sweepkit.store import Store
from tests.conftest import IN_CI
from tests.store._tcp_proxy import TcpProxy

# Agents in other network namespaces: the fast lane leaves the file out.
pytestmark = pytest.mark.slow

PG_PORT = 5432
TRIALS = 12
SWEEPKIT = [str(Path(sys.executable).with_name("sweepkit"))]


def sweepkit_argv(machine: str, name: str, url: str) -> list[str]:
    """What each machine runs: "a" starts the sweep from its file, "b" joins it as an agent (by name alone)."""
    if machine == "a":
        return [*SWEEPKIT, "run", "sweep.yaml", "--storage", url, "--verbose"]
    return [*SWEEPKIT, "agent", name, "--storage", url, "--verbose"]


TRIAL = """
import os
import time
from pathlib import Path

SHARED = Path(os.environ["SWEEPKIT_TEST_SHARED"])
MACHINE = os.environ["SWEEPKIT_TEST_MACHINE"]


def objective(params, trial):
    (SHARED / f"start-{MACHINE}-{trial.number}").touch()
    # Until the other machine has started a trial too, wait: both then surely share the sweep.
    deadline = time.time() + 120
    while len({p.name.split("-")[1] for p in SHARED.glob("start-*")}) < 2 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)
    (SHARED / f"done-{MACHINE}-{trial.number}").touch()
    return float(params["x"])
"""


def _own_hostname(hostname: str) -> list[str]:
    """A prefix giving the command a hostname of its own (a UTS namespace): separate machines have separate
    names, and a network namespace alone keeps the host's."""
    become = "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])"
    return ["unshare", "--uts", sys.executable, "-c", become, hostname]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"network namespaces must work in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Machine:
    name: str  # "a", "b"
    netns: str
    host_veth: str
    host_ip: str
    ns_ip: str
    folder: Path
    proxy: TcpProxy | None = None
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)


def _stop(machines: list[Machine]) -> None:
    for m in machines:
        if m.proc is not None and m.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(m.proc.pid, signal.SIGKILL)
            m.proc.wait(timeout=10)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[list[Machine]]:
    """Two namespaces, each with a veth link to the host and a relay to PostgreSQL on the host's end.
    Everything is taken down in the finalizer, whatever happened."""
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            _unavailable(f"the `{tool}` command ({package}) is not installed")
    if os.geteuid() != 0:
        _unavailable("network namespaces need root")
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", PG_PORT)) != 0:
            _unavailable(f"PostgreSQL is not listening on 127.0.0.1:{PG_PORT}")
    tag = uuid.uuid4().hex[:6]
    octet = random.randrange(0, 250)
    made: list[Machine] = []
    try:
        for i, name in enumerate(("a", "b")):
            m = Machine(
                name=name, netns=f"sweepkit-{tag}-{name}", host_veth=f"skh{tag}{name}",
                host_ip=f"10.231.{octet}.{4 * i + 1}", ns_ip=f"10.231.{octet}.{4 * i + 2}", folder=tmp_path / name,
            )  # fmt: skip
            added = _ip("netns", "add", m.netns, check=False)
            if added.returncode != 0:
                _unavailable(f"the kernel refused a network namespace: {added.stderr.strip()}")
            made.append(m)
            peer = f"skn{tag}{name}"
            _ip("link", "add", m.host_veth, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", m.netns)
            _ip("addr", "add", f"{m.host_ip}/30", "dev", m.host_veth)
            _ip("link", "set", m.host_veth, "up")
            _ip("netns", "exec", m.netns, "ip", "addr", "add", f"{m.ns_ip}/30", "dev", peer)
            _ip("netns", "exec", m.netns, "ip", "link", "set", peer, "up")
            _ip("netns", "exec", m.netns, "ip", "link", "set", "lo", "up")
            m.proxy = TcpProxy(("127.0.0.1", PG_PORT), listen=(m.host_ip, PG_PORT)).start()
            m.folder.mkdir()
        yield made
    finally:
        _stop(made)
        for m in made:
            if m.proxy is not None:
                m.proxy.cut()
            _ip("netns", "del", m.netns, check=False)
            _ip("link", "del", m.host_veth, check=False)  # gone with its peer already, unless setup failed


def test_agents_across_network_namespaces_survive_one_killed(tmp_path: Path, machines: list[Machine]) -> None:
    name = f"netns-{uuid.uuid4().hex[:8]}"
    shared = tmp_path / "shared"
    shared.mkdir()
    sweep = (
        f"name: {name}\nmetric: {{name: x, goal: minimize}}\nstrategy: {{name: grid}}\n"
        f"trial: {{function: 'trial:objective'}}\nbudget: {{trials: {TRIALS}}}\n"
        f"parameters: {{x: {{values: {list(range(TRIALS))}}}}}\n"
    )
    direct = f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/test"
    try:
        for m in machines:
            (m.folder / "sweep.yaml").write_text(sweep)
            (m.folder / "trial.py").write_text(TRIAL)
            url = f"postgresql+psycopg://postgres@{m.host_ip}:{PG_PORT}/test"
            env = {
                **os.environ,
                "SWEEPKIT_TEST_SHARED": str(shared),
                "SWEEPKIT_TEST_MACHINE": m.name,
                "SWEEPKIT_HEARTBEAT_SECONDS": "0.5",  # a lost worker is noticed after 1.5 s, not 30
            }
            m.log = m.folder / "output.log"
            if m.name == "b":  # an agent joins a sweep already in the store: wait until a has put it there
                deadline = time.monotonic() + 120
                while name not in Store(direct).names() and time.monotonic() < deadline:
                    time.sleep(0.1)
            with m.log.open("wb") as log:
                inside = ["ip", "netns", "exec", m.netns, *_own_hostname(f"machine-{m.name}")]
                m.proc = subprocess.Popen(
                    [*inside, *sweepkit_argv(m.name, name, url)],
                    cwd=m.folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,  # the machine dies whole: killpg takes any worker it started
                )  # fmt: skip
        a, b = machines
        assert a.proc is not None and b.proc is not None

        # Kill machine a in the middle of a trial, once it has finished two.
        killed: int | None = None
        deadline = time.monotonic() + 180
        while killed is None and time.monotonic() < deadline and a.proc.poll() is None:
            started = {int(p.name.rsplit("-", 1)[1]) for p in shared.glob("start-a-*")}
            done = {int(p.name.rsplit("-", 1)[1]) for p in shared.glob("done-a-*")}
            if len(done) >= 2 and started - done:
                os.killpg(a.proc.pid, signal.SIGKILL)
                a.proc.wait(timeout=10)
                killed = min(started - done)
            time.sleep(0.01)
        assert killed is not None, f"machine a never got mid-trial:\n{a.log.read_text()}"
        assert a.proc.returncode == -signal.SIGKILL

        b.proc.wait(timeout=240)
        output = f"machine a:\n{a.log.read_text()}\nmachine b:\n{b.log.read_text()}"
        assert b.proc.returncode == 0, output
        assert a.proxy is not None and b.proxy is not None
        assert a.proxy.connections > 0 and b.proxy.connections > 0  # both reached the store over their link

        trials = Store(direct).load(name).trials
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        assert len(complete) == TRIALS, (trials, output)
        assert sorted(t.params["x"] for t in complete) == list(range(TRIALS))  # each point once: no duplicate
        assert len(list(shared.glob("done-*"))) == TRIALS  # and no trial ran to its end twice
        assert not [t.number for t in trials if t.state.name == "RUNNING"], output
        lost = next(t for t in trials if t.number == killed)
        assert lost.state.name == "FAIL", (lost, output)  # the killed machine's trial: lost, run again by b
        assert "worker lost" in str(lost.user_attrs.get("sweepkit", {}).get("error")), lost.user_attrs
    finally:
        _stop(machines)  # first: a machine still running would create the sweep again
        store = Store(direct)
        if name in store.names():
            optuna.delete_study(study_name=name, storage=store.storage)

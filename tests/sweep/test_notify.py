"""`notify:`: when a sweep ends, an argv command gets its summary as JSON on stdin and a webhook gets the same
JSON in a POST; a notification that fails is a warning, never a failed sweep."""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import sweepkit
from sweepkit.errors import SpecError
from tests.cli_run import cli

TRAIN = """\
def objective(params):
    if params["x"] > 100:
        raise ValueError("x is far too big")
    return {"loss": (params["x"] - 1) ** 2}
"""
WRITE_STDIN = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())"]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A webhook on loopback: its URL and what it received."""
    received: list[tuple[str, str, bytes]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sweep-done", received
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once it is closed


def _sweep(workdir: Path, notify: dict[str, Any], *, values: list[float] | None = None, name: str = "nightly") -> None:
    (workdir / "notified_train.py").write_text(TRAIN)
    spec = {
        "name": name,
        "trial": {"function": "notified_train:objective"},
        "metric": {"name": "loss"},
        "strategy": {"name": "grid"},
        "parameters": {"x": {"values": values or [0.0, 1.5, 3.0]}},
        "notify": notify,
    }
    (workdir / "sweep.yaml").write_text(yaml.safe_dump(spec))


@pytest.mark.slow
def test_the_command_and_the_webhook_get_the_summary(workdir: Path, capsys: pytest.CaptureFixture[str], hook) -> None:
    url, received = hook
    _sweep(workdir, {"command": [*WRITE_STDIN, "summary.json"], "webhook": url})
    code, _, err = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0, err
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["sweep"] == "nightly" and summary["state"] == "finished" and summary["event"] == "finish"
    assert summary["trials"] == {"COMPLETE": 3} and summary["total_trials"] == 3
    assert summary["best"]["value"] == 0.25 and summary["best"]["params"] == {"x": 1.5}
    assert summary["output"] == str(workdir / "sweeps" / "nightly") and summary["duration_seconds"] >= 0
    assert "budget" in summary["stop_reason"] or "exhausted" in summary["stop_reason"]
    assert len(received) == 1
    path, content_type, body = received[0]
    assert path == "/sweep-done" and content_type == "application/json"
    assert json.loads(body) == summary  # the same JSON both ways
    assert "warning" not in err


def test_a_failed_sweep_notifies_failure_only_when_asked(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sweep(workdir, {"on": ["failure"], "command": [*WRITE_STDIN, "failed.json"]}, values=[200.0, 300.0])
    code, _, _ = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 1
    summary = json.loads((workdir / "failed.json").read_text())
    assert summary["state"] == "failed" and summary["trials"] == {"FAILED": 2} and summary["best"] is None

    _sweep(workdir, {"on": ["finish"], "command": [*WRITE_STDIN, "finish.json"]}, values=[200.0, 300.0], name="b")
    code, _, _ = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 1 and not (workdir / "finish.json").exists()


def test_failed_notifications_are_warnings_not_failures(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = [
        sys.executable,
        "-c",
        "import sys; sys.stdin.read(); print('no route to chat', file=sys.stderr); exit(3)",
    ]
    _sweep(workdir, {"command": failing, "webhook": f"http://127.0.0.1:{_closed_port()}/x", "timeout": 5})
    code, _, err = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0
    assert "warning: notify: command" in err and "exited with code 3: no route to chat" in err
    assert "warning: notify: webhook" in err and "unreachable" in err
    log = next((workdir / ".sweepkit" / "logs" / "nightly").glob("*.log")).read_text()
    assert "exited with code 3" in log and "unreachable" in log  # the run log keeps them too


@pytest.mark.slow
def test_missing_and_slow_commands_are_warnings(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sweep(workdir, {"command": ["no-such-notifier-here", "x"]})
    code, _, err = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0 and 'command "no-such-notifier-here" not found' in err
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    _sweep(workdir, {"command": slow, "timeout": "0.5s"}, name="slow")
    code, _, err = cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0 and "took longer than 0.5s (notify.timeout)" in err


def test_an_interrupted_sweep_notifies_interrupted(workdir: Path) -> None:
    def stopped(params: dict[str, Any]) -> float:
        raise KeyboardInterrupt

    out = workdir / "interrupted.json"
    spec = {
        "name": "ctrlc",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [1, 2]}},
        "notify": {"on": ["interrupted"], "command": [*WRITE_STDIN, str(out)]},
    }
    with pytest.raises(KeyboardInterrupt):
        sweepkit.run(spec, objective=stopped, quiet=True)
    summary = json.loads(out.read_text())
    assert summary["state"] == "interrupted" and summary["trials"] == {"INTERRUPTED": 1, "WAITING": 1}


def test_yaml_reads_on_as_the_key_it_is(workdir: Path) -> None:
    (workdir / "s.yaml").write_text(
        "parameters: {x: {values: [1, 2]}}\nnotify:\n  on: [finish]\n  webhook: http://127.0.0.1:1/h\n"
    )
    from sweepkit.sweep._notify import settings

    config = settings(sweepkit.load_spec("s.yaml"))
    assert config is not None and config.on == ["finish"] and config.timeout == 30.0


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"command": "notify-send done"}, "notify.command", "a list of words"),
        ({"webhook": "hooks.example/x"}, "notify.webhook", "http:// or https:// URL"),
        ({"on": ["finish"]}, "notify", "a command (a list of words) or a webhook"),
        ({"on": ["finnish"], "command": ["true"]}, "notify.on", 'did you mean "finish"'),
        ({"command": ["true"], "timeout": 0}, "notify.timeout", "a duration must be positive"),
        ({"command": ["true"], "url": "http://x"}, "notify.url", 'unknown key "url"'),
    ],
)
def test_notify_section_errors(section: dict[str, Any], key: str, says: str) -> None:
    spec = {"parameters": {"x": {"values": [1, 2]}}, "notify": section}
    with pytest.raises(SpecError) as err:
        sweepkit.load_spec(spec)
    assert err.value.key == key and says in str(err.value)

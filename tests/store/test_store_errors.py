"""Bad store URLs and store faults through the `sweepkit` command: one line, the right exit code, no traceback,
never a password. The servers are the real ones on loopback; a closed port is a real refused connection."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.storage_url import parse, password_of, retry_seconds, scrub
from sweepkit.store import Store, redact
from tests.conftest import IN_CI

PG = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB = "mysql://root@127.0.0.1:3306/test"


def _closed_port() -> int:
    """A port nothing listens on: bound and closed again, so connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(port: int, what: str) -> None:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return
    if IN_CI:
        pytest.fail(f"{what} is not listening on 127.0.0.1:{port} in CI")
    pytest.skip(f"{what} is not listening on 127.0.0.1:{port} on this machine")


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    """Run the command, expect `code` and exactly one line on stderr; return that line."""
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql//x", '"postgresql//x" is not a storage URL: use sqlite:///'),
        ("foo://", 'no database is called "foo"'),
        (
            "mysql+nodriver://",
            "\"nodriver\" is not a driver for mysql; use mysql+pymysql:// (pip install 'sweepkit[mysql]')",
        ),
        ("", "is not a storage URL"),
        ("postgresql://u:secret@host/db?retry=soon", "retry= in"),
        ("postgresql://u:secret@host/db?prefix=a", "prefix= is an option of Redis stores only"),
    ],
)
def test_malformed_urls_are_user_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    line = _fails(capsys, ["ls", "--storage", url], 2)
    assert line.startswith("sweepkit: error: ")
    assert message in line
    assert "secret" not in line


@pytest.mark.parametrize(
    ("blocked", "url", "hint"),
    [
        ("psycopg", "postgresql://u:secret@127.0.0.1/db", "psycopg (pip install 'sweepkit[postgres]')"),
        ("pymysql", "mysql+pymysql://u:secret@127.0.0.1/db", "PyMySQL (pip install 'sweepkit[mysql]')"),
        (
            "pymysql",
            "mysql://u:secret@127.0.0.1/db",
            "use mysql+pymysql:// with PyMySQL (pip install 'sweepkit[mysql]')",
        ),
        ("redis", "redis://:secret@127.0.0.1:6379/0", "redis (pip install 'sweepkit[redis]')"),
    ],
)
def test_a_missing_driver_names_the_extra(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    blocked: str,
    url: str,
    hint: str,
) -> None:
    # `None` in sys.modules is how Python spells "this module cannot be imported": the driver is absent.
    monkeypatch.setitem(sys.modules, blocked, None)
    line = _fails(capsys, ["ls", "--storage", url], 2)
    assert "needs the database driver " in line and hint in line
    assert "secret" not in line and "***" in line


@pytest.mark.parametrize("scheme", ["postgresql", "mysql", "redis"])
def test_a_closed_port_is_a_runtime_fault(workdir: Path, capsys: pytest.CaptureFixture[str], scheme: str) -> None:
    port = _closed_port()
    url = f"{scheme}://someone:secret@127.0.0.1:{port}/{'0' if scheme == 'redis' else 'test'}"
    line = _fails(capsys, ["ls", "--storage", url], 1)
    assert line.startswith("sweepkit: error: cannot reach the store")  # `ls` ran no sweep: not "sweep failed"
    assert line.endswith(f"cannot reach the store at {scheme}://someone:***@127.0.0.1:{port}/"
                         f"{'0' if scheme == 'redis' else 'test'}: connection refused")  # fmt: skip


def test_an_unknown_host_is_a_runtime_fault(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails(capsys, ["ls", "--storage", "postgresql://postgres@no-such-host.invalid/test"], 1)
    assert "cannot reach the store at postgresql://postgres@no-such-host.invalid/test: host not found" in line


def test_postgresql_login_and_database_mistakes_are_user_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _server(5432, "PostgreSQL")
    line = _fails(capsys, ["ls", "--storage", "postgresql://nobody:secret@127.0.0.1:5432/test"], 2)
    assert 'refused the login (role "nobody" does not exist): check the user and password' in line
    assert "secret" not in line
    line = _fails(capsys, ["status", "x", "--storage", "postgresql://postgres:secret@127.0.0.1:5432/nosuchdb_sk"], 2)
    assert line == (
        "sweepkit: error: the store at postgresql://postgres:***@127.0.0.1:5432/nosuchdb_sk has no database "
        '"nosuchdb_sk": create it (CREATE DATABASE nosuchdb_sk) or fix the URL'
    )


def test_mariadb_login_and_database_mistakes_are_user_errors(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _server(3306, "MariaDB")
    line = _fails(capsys, ["ls", "--storage", "mysql://nobody:secret@127.0.0.1:3306/test"], 2)
    assert "refused the login (Access denied for user 'nobody'" in line and "secret" not in line
    line = _fails(capsys, ["best", "x", "--storage", "mysql://root@127.0.0.1:3306/nosuchdb_sk"], 2)
    assert 'has no database "nosuchdb_sk": create it' in line


def test_redis_database_out_of_range_is_a_user_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _server(6379, "Redis")
    line = _fails(capsys, ["ls", "--storage", "redis://127.0.0.1:6379/999"], 2)
    assert "has no such database (DB index is out of range)" in line


SPEC: dict[str, Any] = {"metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}


def _square(params: dict[str, Any]) -> float:
    return params["x"] ** 2


@pytest.mark.parametrize("command", [["status"], ["best"], ["logs", "@", "0"]])
def test_a_sweep_not_in_the_store_is_named_with_those_that_are(
    workdir: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    sweepkit.run({**SPEC, "name": "alpha"}, objective=_square, trials=1, quiet=True)
    capsys.readouterr()
    argv = [part.replace("@", "alpah") for part in command]
    if len(argv) == 1:
        argv.append("alpah")
    line = _fails(capsys, argv, 2)
    assert line == (
        'sweepkit: error: no sweep named "alpah" in journal file .sweepkit/sweeps.journal '
        '(did you mean "alpha"?) (sweeps there: alpha)'
    )


def test_a_sweep_not_in_a_shared_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _server(5432, "PostgreSQL")
    name = f"absent-{uuid.uuid4().hex[:8]}"
    line = _fails(capsys, ["status", name, "--storage", "postgresql://postgres:secret@127.0.0.1:5432/test"], 2)
    assert line.startswith(f'sweepkit: error: no sweep named "{name}" in postgresql://postgres:***@127.0.0.1:5432/test')


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:pw@host/db", "postgresql://me:***@host/db"),
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("mysql://me:p@ss/w@host:3306/db", "mysql://me:***@host:3306/db"),  # raw @ and / in the password
        ("postgresql://me@host/db?password=pw&sslmode=require", "postgresql://me@host/db?password=***&sslmode=require"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert Store(url).describe() == shown
    password = password_of(url)
    if password:
        assert password not in scrub(f"driver said: {password} is wrong", url)


def test_own_options_are_taken_out_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWEEPKIT_STORE_RETRY_SECONDS", raising=False)
    parsed = parse("postgres://u@h/db?sslmode=require&retry=2m")
    assert parsed.url == "postgresql://u@h/db?sslmode=require"
    assert retry_seconds(parsed.options, "") == 120
    assert retry_seconds({}, "") == 60
    assert retry_seconds({"retry": "0"}, "") == 0
    monkeypatch.setenv("SWEEPKIT_STORE_RETRY_SECONDS", "5")
    assert retry_seconds({}, "") == 5
    assert retry_seconds({"retry": "7"}, "") == 7  # the URL says more precisely which store

"""Stores: the embedded journal file, SQLite, and the real PostgreSQL and MariaDB servers on loopback."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.errors import StoreError, UsageError
from sweepkit.store import Store, redact
from tests.conftest import IN_CI


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _server(port: int, what: str) -> None:
    if not _listening(port):
        if IN_CI:
            pytest.fail(f"{what} is not listening on 127.0.0.1:{port} in CI")
        pytest.skip(f"{what} is not listening on 127.0.0.1:{port} on this machine")


SPEC: dict[str, Any] = {
    "metric": {"name": "loss"},
    "strategy": {"name": "tpe", "seed": 0},
    "parameters": {"x": {"min": -1.0, "max": 1.0}, "k": {"values": [1, 2, 3]}},
}


def objective(params: dict[str, Any]) -> float:
    return params["x"] ** 2 + params["k"]


def _roundtrip(url: str, tmp_path: Path) -> None:
    name = f"store-{uuid.uuid4().hex[:8]}"
    spec = {**SPEC, "name": name}
    first = sweepkit.run(spec, objective=objective, trials=3, storage=url, quiet=True, cwd=tmp_path)
    again = sweepkit.run(spec, objective=objective, trials=5, storage=url, quiet=True, cwd=tmp_path)
    assert [t.value for t in again.trials[:3]] == [t.value for t in first.trials]
    assert len(again.trials) == 5
    store = Store(url, cwd=tmp_path)
    assert name in store.names()
    import optuna

    optuna.delete_study(study_name=name, storage=store.storage)


def test_embedded_store_is_a_journal_file(workdir: Path) -> None:
    sweepkit.run({**SPEC, "name": "e"}, objective=objective, trials=2, quiet=True)
    assert (workdir / ".sweepkit" / "sweeps.journal").stat().st_size > 0
    assert Store(cwd=workdir).describe() == "journal file .sweepkit/sweeps.journal"


@pytest.mark.slow
def test_sqlite_url(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'sweeps.db'}", tmp_path)


def test_journal_file_url(tmp_path: Path) -> None:
    _roundtrip("journal:elsewhere/my.journal", tmp_path)
    assert (tmp_path / "elsewhere" / "my.journal").exists()


@pytest.mark.slow
def test_postgresql(tmp_path: Path) -> None:
    _server(5432, "PostgreSQL")
    _roundtrip("postgresql://postgres@127.0.0.1:5432/postgres", tmp_path)


@pytest.mark.slow
def test_mariadb(tmp_path: Path) -> None:
    _server(3306, "MariaDB")
    _roundtrip("mysql+pymysql://root@127.0.0.1:3306/test", tmp_path)


@pytest.mark.slow
def test_cli_reads_a_shared_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _server(5432, "PostgreSQL")
    monkeypatch.chdir(tmp_path)
    url = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"cli-{uuid.uuid4().hex[:8]}"
    sweepkit.run({**SPEC, "name": name}, objective=objective, trials=2, storage=url, quiet=True)
    assert main(["ls", "--storage", url]) == 0
    assert name in capsys.readouterr().out
    assert main(["best", name, "--storage", url, "--format", "json"]) == 0
    import optuna

    optuna.delete_study(study_name=name, storage=Store(url).storage)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("not a url", UsageError, "is not a storage URL"),
        ("mssql+pyodbc://u:secret@host/db", UsageError, "needs the database driver pyodbc"),
        (
            "postgresql://postgres:secret@127.0.0.1:1/postgres",
            StoreError,
            "cannot reach the store at .*: connection refused",
        ),
        ("nosuchdialect://host/db", UsageError, 'no database is called "nosuchdialect"'),
    ],
)
def test_bad_stores_say_what_is_wrong(tmp_path: Path, url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        Store(url, cwd=tmp_path).names()
    assert "secret" not in str(info.value)


def test_cli_exit_codes_for_store_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--storage", "not a url"]) == 2
    assert main(["ls", "--storage", "postgresql://postgres@127.0.0.1:1/postgres"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 2


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://me:pw@host/db") == "postgresql://me:***@host/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def _open_at_once(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


_BARRIER: Any = None


def _open_store(url: str) -> str:
    _BARRIER.wait(timeout=60)
    try:
        Store(url).storage  # noqa: B018  (opening creates Optuna's tables on a fresh database)
        return "ok"
    except Exception as exc:
        return str(exc)


@pytest.mark.slow
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_agents_opening_a_fresh_database_at_once(server: str) -> None:
    """Six agents started together on an empty database all create Optuna's tables at the same moment."""
    import multiprocessing

    db = f"sk_fresh_{uuid.uuid4().hex[:8]}"
    if server == "postgresql":
        _server(5432, "PostgreSQL")
        import psycopg

        def admin(sql: str) -> None:
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(sql)  # type: ignore[arg-type]

        url, drop = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}", f"DROP DATABASE {db} WITH (FORCE)"
    else:
        _server(3306, "MariaDB")
        import pymysql

        def admin(sql: str) -> None:
            conn = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
            with conn, conn.cursor() as cursor:
                cursor.execute(sql)

        url, drop = f"mysql+pymysql://root@127.0.0.1:3306/{db}", f"DROP DATABASE {db}"
    admin(f"CREATE DATABASE {db}")
    try:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(6)
        with context.Pool(6, initializer=_open_at_once, initargs=(barrier,)) as pool:
            assert pool.map(_open_store, [url] * 6) == ["ok"] * 6
    finally:
        admin(drop)


@pytest.mark.slow
def test_a_password_in_the_storage_url_is_stored_nowhere(tmp_path: Path) -> None:
    """The password of a storage URL written in the sweep file is masked in sweeps/<name>/ (sweep.yaml, the
    report), in the study's attrs in the store, in the run logs and in what the dashboard serves."""
    import json
    import os
    import subprocess
    import sys
    import urllib.request

    _server(5432, "PostgreSQL")
    from tests.test_dashboard import Dashboard

    url = "postgresql://postgres:secret@127.0.0.1:5432/postgres"  # trust auth: any password is accepted
    name = f"pw-{uuid.uuid4().hex[:8]}"
    (tmp_path / "pwtrain.py").write_text("def objective(params):\n    return params['x'] ** 2\n")
    (tmp_path / "sweep.yaml").write_text(
        f"name: {name}\nstorage: {url}\ntrial: {{function: 'pwtrain:objective'}}\nmetric: {{name: loss}}\n"
        "budget: {trials: 3}\nparameters:\n  x: {min: -1.0, max: 1.0}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SWEEPKIT_NO_REPORT"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])
    store = Store(url)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sweepkit", "run", "sweep.yaml"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "secret" not in done.stdout + done.stderr
        written = [p for p in tmp_path.rglob("*") if p.is_file() and p != tmp_path / "sweep.yaml"]
        assert any(p.name == "sweep.yaml" and p.parent.name == name for p in written)
        for path in written:
            assert b"secret" not in path.read_bytes(), path
        study = store.load(name)
        assert "secret" not in json.dumps(study.user_attrs)
        assert "postgres:***@127.0.0.1" in json.dumps(study.user_attrs)
        board = Dashboard(tmp_path, "--storage", url)
        try:
            for path in ("/api/studies", f"/api/studies/{study._study_id}?after=0", "/dashboard"):
                with urllib.request.urlopen(f"{board.base}{path}", timeout=30) as response:
                    assert b"secret" not in response.read(), path
        finally:
            board.stop()
        assert "secret" not in "".join(board.lines)
    finally:
        import optuna

        if name in store.names():
            optuna.delete_study(study_name=name, storage=store.storage)


def test_delete_removes_one_sweep(workdir: Path) -> None:
    for name in ("keep", "drop"):
        sweepkit.run({**SPEC, "name": name}, objective=objective, trials=1, quiet=True)
    store = Store(cwd=workdir)
    with pytest.raises(UsageError, match='no sweep named "dorp".*did you mean "drop"'):
        store.delete("dorp")
    store.delete("drop")
    assert Store(cwd=workdir).names() == ["keep"]

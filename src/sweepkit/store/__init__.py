"""Stores: where sweeps live. The embedded default is Optuna's journal file; any SQLAlchemy URL or Redis works too.

Why the journal file by default: it needs no server, appends one line per change under a file lock (so
parallel workers and a dashboard reading it never hit SQLite's "database is locked"), and measured ~6x
cheaper per trial than SQLite here (benchmarks/RESULTS.md). Machines that share no disk share a server
instead: PostgreSQL or MySQL/MariaDB through Optuna's RDBStorage, or Redis through Optuna's journal on Redis.
`sweepkit.storage_url` reads the URL (standard library only: the spec uses it too), `_faults` names what
went wrong in users' words, `_retry` waits out a store that drops.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from sweepkit.errors import StoreError, UsageError, did_you_mean
from sweepkit.spec import folder_name
from sweepkit.storage_url import DIALECT_HINTS, DRIVER_HINTS, EXAMPLES, ParsedURL, parse, redact, retry_seconds, scrub
from sweepkit.store._faults import classify
from sweepkit.store._flock import FlockLock
from sweepkit.store._retry import Retry, RetryingJournalBackend, RetryingStorage, fault_error
from sweepkit.trial_state import ATTR

EMBEDDED_DIR = ".sweepkit"
EMBEDDED_FILE = "sweeps.journal"

CONNECT_TIMEOUT = 10  # seconds: a host that does not answer fails in 10 s, not after TCP's two minutes


class Store:
    """One storage location, possibly holding many sweeps (Optuna studies).

    `url` is None for the embedded journal file, `journal:path` for another journal file, a SQLAlchemy URL
    (sqlite, postgresql, mysql/mariadb) or `redis://host:port/db`. Shared stores (SQL servers, Redis) are
    retried for `retry=` seconds of the URL ($SWEEPKIT_STORE_RETRY_SECONDS, default 60) when they drop
    mid-sweep; opening one fails at once with what is wrong (`StoreError` unreachable, `UsageError` for a
    bad URL, a missing driver, a refused login or a missing database). Messages never show a password.
    """

    def __init__(self, url: str | None = None, *, cwd: Path | None = None) -> None:
        self.cwd = Path.cwd() if cwd is None else cwd
        self.url = url
        self._storage: BaseStorage | None = None

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def journal_path(self) -> Path | None:
        if self.url is None:
            return self.cwd / EMBEDDED_DIR / EMBEDDED_FILE
        if self.url.startswith("journal:"):
            return self.cwd / self.url.removeprefix("journal:").removeprefix("//")
        if self.url.endswith((".journal", ".jsonl", ".log")) and "://" not in self.url:
            return self.cwd / self.url
        return None

    def describe(self) -> str:
        """The store as messages name it: a journal file's path, or the URL with its password masked."""
        path = self.journal_path
        if path is not None:
            try:
                return f"journal file {path.relative_to(self.cwd)}"
            except ValueError:
                return f"journal file {path}"
        return redact(self.url or "")

    @property
    def storage(self) -> BaseStorage:
        if self._storage is None:
            self._storage = self._open()
        return self._storage

    def _open(self) -> BaseStorage:
        path = self.journal_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=FlockLock(str(path)))
            return optuna.storages.JournalStorage(backend)
        parsed = parse(self.url or "")
        retry = Retry(retry_seconds(parsed.options, self.url or ""), self.describe(), scrub=self._scrub)
        try:
            storage = self._open_redis(parsed, retry) if parsed.is_redis else self._open_sql(parsed, retry)
        except (StoreError, UsageError):
            raise
        except ImportError as exc:
            raise self._missing_driver(exc) from None
        except Exception as exc:  # SQLAlchemy, the drivers and redis raise many types: sort them by cause
            raise self._open_error(parsed, exc) from None
        retry.armed = True  # opened: from now on a drop is waited out
        return storage

    def _open_sql(self, parsed: ParsedURL, retry: Retry) -> BaseStorage:
        url = parsed.url
        if parsed.dialect == "sqlite" and url.startswith(f"{parsed.scheme}:///"):
            relative = url.removeprefix(f"{parsed.scheme}:///")
            if relative and not relative.startswith("/"):
                # a relative SQLite path is relative to the sweep's working folder, like the embedded store
                url = f"{parsed.scheme}:///{self.cwd / relative}"
        rdb = _create_rdb(url, _engine_kwargs(parsed))
        # Optuna wraps an RDBStorage in its trial cache itself, but not a wrapper around one: do it here.
        return RetryingStorage(optuna.storages._CachedStorage(rdb), retry)

    def _open_redis(self, parsed: ParsedURL, retry: Retry) -> BaseStorage:
        try:
            import redis  # noqa: F401  (Optuna imports it lazily and would say only "install redis")
        except ImportError as exc:
            raise self._missing_driver(exc) from None
        url = parsed.url
        for key, value in (("socket_connect_timeout", CONNECT_TIMEOUT), ("socket_timeout", 60)):
            if not parsed.query_has(key):  # redis-py waits forever on a silent host by default
                url += f"{'&' if '?' in url else '?'}{key}={value}"
        with warnings.catch_warnings():  # "experimental since 3.1": stable in use, and users cannot act on it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = optuna.storages.journal.JournalRedisBackend(url, prefix=parsed.options.get("prefix", ""))
        return optuna.storages.JournalStorage(RetryingJournalBackend(backend, retry))

    def _scrub(self, text: str) -> str:
        return scrub(text, self.url)

    def _missing_driver(self, exc: ImportError) -> UsageError:
        # Optuna re-raises the driver's ModuleNotFoundError as a generic ImportError: name the driver.
        cause = exc if isinstance(exc, ModuleNotFoundError) else exc.__cause__
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            missing = cause.name.split(".")[0]
            hint = DRIVER_HINTS.get(missing, f"{missing} (pip install {missing})")
            return UsageError(f"the store {self.describe()} needs the database driver {hint}")
        return UsageError(f"the store {self.describe()} needs a driver that is not installed: {self._scrub(str(exc))}")

    def _open_error(self, parsed: ParsedURL, exc: Exception) -> UsageError | StoreError:
        name = type(exc).__name__
        where = self.describe()
        if name == "NoSuchModuleError":  # SQLAlchemy knows no such dialect, or no such driver for it
            from sqlalchemy.dialects import registry

            try:
                registry.load(parsed.dialect)
            except Exception:
                return UsageError(
                    f'"{where}" is not a storage URL sweepkit can use: no database is called "{parsed.dialect}"; '
                    f"use {EXAMPLES}"
                )
            better = DIALECT_HINTS.get(parsed.dialect, f"{parsed.dialect}://")
            return UsageError(f'"{where}": "{parsed.driver}" is not a driver for {parsed.dialect}; use {better}')
        if name == "ArgumentError" or isinstance(exc, ValueError):
            return UsageError(f'"{where}" is not a valid storage URL: {self._scrub(_first_line(exc))}')
        fault = classify(exc)
        if fault.kind == "other":
            return StoreError(f"cannot open the store {where}: {self._scrub(_first_line(exc))}")
        return fault_error(replace(fault, detail=self._scrub(fault.detail)), where)

    # -- sweeps in the store ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        if self.journal_path is not None and not self.journal_path.exists():
            return []
        try:
            return sorted(s.study_name for s in self.storage.get_all_studies())
        except (StoreError, UsageError):
            raise
        except Exception as exc:
            raise StoreError(f"cannot list sweeps in {self.describe()}: {_first_line(exc)}") from None

    def exists(self, name: str) -> bool:
        return name in self.names()

    def load(self, name: str) -> optuna.Study:
        """The sweep named `name`, or labelled so: `resnet/lr sweep` finds `resnet-lr-sweep-<hash>`."""
        names = self.names()
        if name not in names and folder_name(name) in names:
            name = folder_name(name)
        if name not in names:
            raise UsageError(f'no sweep named "{name}" in {self.describe()}{did_you_mean(name, names)}{_listed(names)}')
        return optuna.load_study(study_name=name, storage=self.storage)

    def delete(self, name: str) -> None:
        """Delete a sweep and its trials from the store (`sweepkit rm`): Optuna's `delete_study`."""
        study = self.load(name)  # an unknown name: UsageError listing the sweeps there; a label: its sweep
        optuna.delete_study(study_name=study.study_name, storage=self.storage)

    def archive(self, name: str) -> str:
        """Keep an existing sweep under `name.N` (for --fresh): nothing is silently deleted."""
        taken = set(self.names())
        n = 1
        while f"{name}.{n}" in taken:
            n += 1
        new = f"{name}.{n}"
        optuna.copy_study(from_study_name=name, from_storage=self.storage, to_storage=self.storage, to_study_name=new)
        optuna.delete_study(study_name=name, storage=self.storage)
        return new


def _engine_kwargs(parsed: ParsedURL) -> dict[str, Any]:
    if parsed.dialect == "sqlite":
        # Wait for the lock instead of failing at once when another process writes.
        return {"connect_args": {"timeout": 60}}
    # Test pooled connections before use, so one the server dropped is replaced instead of failing a call.
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    connect: dict[str, Any] = {}
    if parsed.dialect == "postgresql" and parsed.driver in ("", "psycopg", "psycopg2"):
        # libpq: give up connecting after 10 s, and notice a server that vanished without closing the
        # connection (a cable, a dead VM) in about a minute instead of TCP's ~15.
        connect = {"connect_timeout": CONNECT_TIMEOUT, "keepalives": 1, "keepalives_idle": 30}
        connect |= {"keepalives_interval": 10, "keepalives_count": 3}
    elif parsed.dialect in ("mysql", "mariadb") and parsed.driver in ("", "pymysql", "mysqldb"):
        connect = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": 300, "write_timeout": 300}
    # Keys written in the URL's query win: SQLAlchemy would let connect_args override them.
    kwargs["connect_args"] = {k: v for k, v in connect.items() if not parsed.query_has(k)}
    return kwargs


def _listed(names: list[str], most: int = 10) -> str:
    if not names:
        return " (it holds no sweeps yet)"
    shown = ", ".join(names[:most])
    more = f" and {len(names) - most} more (sweepkit ls)" if len(names) > most else ""
    return f" (sweeps there: {shown}{more})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _create_rdb(url: str, engine_kwargs: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage, waiting out agents that create the same tables and version row at the same moment
    on a fresh database: the losers get a unique-key violation ("duplicate key", "Duplicate entry") or "already
    exists", and find the schema in place when they try again."""
    attempt = 0
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except Exception as exc:
            racing = type(exc).__name__ == "IntegrityError" or "already exists" in str(exc)
            if not racing or attempt == 5:
                raise
            attempt += 1
            time.sleep(0.2 * attempt)


__all__ = ["ATTR", "EMBEDDED_DIR", "Store", "redact"]

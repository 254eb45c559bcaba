"""Stores: where sweeps live. The embedded default is Optuna's journal file; any SQLAlchemy URL works too.

Why the journal file by default: it needs no server, appends one line per change under a file lock (so
parallel workers and a dashboard reading it never hit SQLite's "database is locked"), and measured ~6x
cheaper per trial than SQLite here (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from sweepkit.errors import StoreError, UsageError

EMBEDDED_DIR = ".sweepkit"
EMBEDDED_FILE = "sweeps.journal"
ATTR = "sweepkit"  # study/trial user-attr key holding sweepkit's own metadata

_DRIVERS = {
    "psycopg2": "psycopg2-binary (pip install 'sweepkit[postgres]')",
    "psycopg": "psycopg (pip install 'sweepkit[postgres]')",
    "pymysql": "PyMySQL (pip install 'sweepkit[mysql]')",
    "MySQLdb": "mysqlclient, or use mysql+pymysql:// with PyMySQL (pip install 'sweepkit[mysql]')",
    "redis": "redis (pip install 'sweepkit[redis]')",
}


def redact(url: str) -> str:
    """A URL safe to print: the password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class Store:
    """One storage location, possibly holding many sweeps (Optuna studies)."""

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
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            return optuna.storages.JournalStorage(backend)
        url = self.url or ""
        scheme = url.partition("://")[0] if "://" in url else ""
        if not scheme:
            raise UsageError(
                f'"{redact(url)}" is not a storage URL: use a SQLAlchemy URL (sqlite:///sweeps.db, '
                "postgresql://user@host/db, mysql+pymysql://user@host/db), redis://host:6379, "
                "or a journal file (journal:path/to/file.journal)"
            )
        try:
            if scheme.startswith("redis"):
                backend = optuna.storages.journal.JournalRedisBackend(url)
                return optuna.storages.JournalStorage(backend)
            if scheme.startswith("sqlite") and url.startswith(f"{scheme}:///") and not url.startswith(f"{scheme}:////"):
                # a relative SQLite path is relative to the sweep's working folder, like the embedded store
                url = f"{scheme}:///{self.cwd / url.removeprefix(f'{scheme}:///')}"
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(scheme))
        except ImportError as exc:
            # Optuna re-raises the driver's ModuleNotFoundError as a generic ImportError: name the driver.
            cause = exc if isinstance(exc, ModuleNotFoundError) else exc.__cause__
            if isinstance(cause, ModuleNotFoundError) and cause.name:
                missing = cause.name.split(".")[0]
                hint = _DRIVERS.get(missing, missing)
                raise UsageError(f"the store {redact(url)} needs the database driver {hint}") from None
            raise UsageError(f"the store {redact(url)} needs a driver that is not installed: {exc}") from None
        except Exception as exc:  # sqlalchemy/redis raise many types: all mean "cannot use this store"
            if type(exc).__name__ in ("ArgumentError", "NoSuchModuleError"):
                raise UsageError(f'"{redact(url)}" is not a valid storage URL: {exc}') from None
            raise StoreError(f"cannot open the store {redact(url)}: {_first_line(exc)}") from None

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
        names = self.names()
        if name not in names:
            listed = ", ".join(names) if names else "none yet"
            raise UsageError(f'no sweep named "{name}" in {self.describe()} (sweeps there: {listed})')
        return optuna.load_study(study_name=name, storage=self.storage)

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


def _engine_kwargs(scheme: str) -> dict[str, Any]:
    if scheme.startswith("sqlite"):
        # Wait for the lock instead of failing at once when another process writes.
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["ATTR", "EMBEDDED_DIR", "Store", "redact"]

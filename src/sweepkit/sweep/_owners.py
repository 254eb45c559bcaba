"""Which runs of a sweep are alive on this machine, to tell a crashed run's RUNNING trials from live ones.

Each run holds an exclusive lock on a file of its own under `.sweepkit/runs/` for as long as it lives; the
file records when the run started. A lock that can be taken belongs to a dead run (the OS drops locks of
dead processes, even after SIGKILL), so no PID guessing is needed. A trial still RUNNING that started before
every live run did was left by a dead one.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import socket
import time
from pathlib import Path


class RunLock:
    def __init__(self, folder: Path, sweep: str) -> None:
        self.folder = folder
        self.sweep = sweep
        self.started = time.time()
        self.path = folder / f"{sweep}@{socket.gethostname()}@{os.getpid()}.lock"
        self._fd: int | None = None
        # The store lives on this machine's disk (the embedded journal, a journal or SQLite file): every run
        # that can write to it is on this machine, so the locks here see all of them.
        self.local_store = False
        self.dead: set[int] = set()  # PIDs of this machine's runs of this sweep whose locks we found free

    def __enter__(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps({"sweep": self.sweep, "started": self.started, "pid": os.getpid()}).encode())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None

    def is_dead(self, pid: int) -> bool:
        """Did the run of this sweep with that PID, started from this folder on this machine, die? Only a
        lock found free says so: no lock file here may mean another machine with the same hostname."""
        if pid == os.getpid():
            return False
        if pid in self.dead:
            return True
        path = self.folder / f"{self.sweep}@{socket.gethostname()}@{pid}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        self.dead.add(pid)
        return True

    def alone(self) -> bool:
        """No other run of this sweep can write to the store: no race for its budget is possible."""
        return self.local_store and self.earliest_live_start() == self.started and not self._others()

    def _others(self) -> bool:
        return any(p != self.path for p in self._locks())

    def _locks(self) -> list[Path]:
        """This sweep's lock files: a sweep's name may hold `@` itself (`exp@v2`), a host name may not, so a
        file belongs to the sweep whose name is all before its last two `@`s (not every `exp@*` is exp's)."""
        pattern = f"{glob.escape(self.sweep)}@*.lock"
        return [p for p in self.folder.glob(pattern) if p.stem.rsplit("@", 2)[0] == self.sweep]

    def earliest_live_start(self) -> float:
        """The start time of the oldest other run of this sweep still alive here (ours if none)."""
        earliest = self.started
        for path in self._locks():
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # held: that run is alive
                    with contextlib.suppress(OSError, ValueError):
                        started = float(json.loads(os.pread(fd, 4096, 0) or b"{}").get("started", 0))
                        earliest = min(earliest, started)
                    continue
                with contextlib.suppress(ValueError):
                    self.dead.add(int(path.stem.rpartition("@")[2]))
                with contextlib.suppress(OSError):  # we got it: its run is gone
                    path.unlink()
            finally:
                os.close(fd)
        return earliest

"""A journal-file lock the OS releases when its holder dies.

Optuna's own journal locks (a symlink or an O_EXCL file) outlive a process SIGKILLed while holding them,
and every other worker then waits out their 30 s grace period before forcing them. `flock` is dropped
by the kernel on any death, so a killed agent never stalls the rest of the sweep.
"""

from __future__ import annotations

import fcntl
import os
import threading

from optuna.storages.journal import JournalFileOpenLock


class FlockLock(JournalFileOpenLock):  # its base class is private in Optuna 5; this one is public
    def __init__(self, filepath: str) -> None:  # no super().__init__: none of its grace-period machinery
        self._path = filepath + ".flock"
        self._fd: int | None = None
        self._thread_lock = threading.Lock()  # flock is per open file: threads of one process need their own

    def acquire(self) -> bool:
        self._thread_lock.acquire()
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the flock
        self._thread_lock.release()

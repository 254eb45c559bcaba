"""Unattended runs (cron, nightly sweeps): a log file per run, kept in rotation, and `--until` times.

Every `run`/`agent` appends what it reports (notes, one line per finished trial, the summary) to
`.sweepkit/logs/<sweep>/<start time>-<pid>.log`; the newest `KEEP_LOGS` per sweep are kept. Plain text,
whatever the terminal shows, so a morning look at last night's sweep needs no terminal scrollback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from pathlib import Path
from typing import IO, Any

from sweepkit.errors import SpecError
from sweepkit.results import SweepResult, TrialRecord

KEEP_LOGS = 20


def parse_until(text: str, *, now: dt.datetime | None = None) -> float:
    """`06:00` (the next 06:00, local time), `2026-11-26T06:00` or `2026-11-26 06:00` → a `time.time()`."""
    now = now or dt.datetime.now()
    text = text.strip()
    try:
        clock = dt.time.fromisoformat(text)
    except ValueError:
        clock = None
    if clock is not None:
        moment = now.replace(hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=0)
        if moment <= now:
            moment += dt.timedelta(days=1)
        return moment.timestamp()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(f'--until: expected a time like "06:00" or "2026-11-26T06:00", got "{text}"') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.astimezone().tzinfo) if now.tzinfo else moment
    if moment.timestamp() <= now.timestamp():
        raise SpecError(f"--until {text} is in the past")
    return moment.timestamp()


class RunLog:
    """A reporter that writes plain lines to this run's log file and passes everything on to `inner`."""

    def __init__(self, inner: Any, folder: Path, sweep: str, *, keep: int = KEEP_LOGS) -> None:
        self.inner = inner
        folder = folder / sweep
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.path = folder / f"{stem}.log"
        n = 1
        while self.path.exists():  # several runs from one process in one second (the Python API)
            n += 1
            self.path = folder / f"{stem}-{n}.log"
        self._file: IO[str] = self.path.open("a", encoding="utf-8")
        logs = sorted((p for p in folder.glob("*.log") if p != self.path), key=lambda p: p.stat().st_mtime)
        for old in logs[: max(0, len(logs) - keep + 1)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _line(self, text: str) -> None:
        self._file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        self._file.flush()

    def started(self, sweep: str, total: int | None, done: int, strategy: str, reason: str, goal: str) -> None:
        self._line(f"sweep {sweep}: {done}/{total if total is not None else '?'} trials done; {strategy} ({reason})")
        self.inner.started(sweep, total, done, strategy, reason, goal)

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self._line(f"trial {number} started: {params}")
        self.inner.trial_started(number, params)

    def trial_finished(self, rec: TrialRecord, best: TrialRecord | None, counts: dict[str, int]) -> None:
        why = rec.reason or rec.error or ""
        value = "" if rec.value is None else f" value={rec.value:g}"
        took = "" if rec.duration is None else f" in {rec.duration:.1f}s"
        self._line(f"trial {rec.number} {rec.state}{value}{took}{': ' + why if why else ''}")
        self.inner.trial_finished(rec, best, counts)

    def note(self, text: str) -> None:
        self._line(text)
        self.inner.note(text)

    def finished(self, result: SweepResult) -> None:
        best = result.best_trial
        counts = ", ".join(f"{k.lower()} {v}" for k, v in result.counts.items() if v)
        best_text = f"best trial {best.number}: {result.metric}={best.value:g}" if best else "no trial completed"
        self._line(f"finished ({result.stop_reason or 'done'}): {counts}; {best_text}")
        self._file.close()
        self.inner.finished(result)

"""Checkpoint folders: one per trial, kept across its retries, and the sweep's `checkpoints: {keep: ...}` rule.

A trial cut short (a crash, a lost worker, a killed run) runs again as a new Optuna trial with `retry_of`
pointing at the one it repeats. Its checkpoints must outlive that: the folder is named after the first
attempt (`sweeps/<name>/checkpoints/trial-<first>/`), found by following `retry_of` back, so a retry of a
retry gets the same folder. Logs stay per attempt (`trials/<n>/`); only checkpoints carry over.

`keep` decides which folders stay as the sweep goes: `all` (the default), `best` (the best trial's) or
`top_k` (the best `k` complete trials'). A folder whose trial is still running or queued is never touched;
those of pruned, failed and infeasible trials go, unless `keep: all`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

FOLDER = "checkpoints"  # under the sweep's output folder
_NAME = re.compile(r"trial-(\d+)")


class _Attempt(Protocol):
    number: int
    state: str
    value: float | None
    retry_of: int | None

    @property
    def feasible(self) -> bool: ...  # False: it broke a constraint it reported (never the best: no top-k slot)


def folder_of(output: Path, first: int) -> Path:
    """The checkpoint folder of the trial whose first attempt is `first` (not created)."""
    return output / FOLDER / f"trial-{first}"


def first_attempt(number: int, retry_of: Mapping[int, int | None]) -> int:
    """Follow `retry_of` back to the attempt that started it all (`retry_of`: trial number → the one it repeats)."""
    seen = {number}
    while (before := retry_of.get(number)) is not None and before not in seen:
        seen.add(before)
        number = before
    return number


def groups(trials: Iterable[_Attempt]) -> dict[int, list[_Attempt]]:
    """Every attempt by the first attempt it descends from, oldest first."""
    trials = list(trials)
    parent = {t.number: t.retry_of for t in trials}
    out: dict[int, list[_Attempt]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        out.setdefault(first_attempt(t.number, parent), []).append(t)
    return out


def best_folder(output: Path, trials: Iterable[_Attempt], best: int | None) -> Path | None:
    """The checkpoint folder of trial `best` when it exists (None when the trial never saved a checkpoint)."""
    if best is None:
        return None
    parent = {t.number: t.retry_of for t in trials}
    folder = folder_of(output, first_attempt(best, parent))
    return folder if folder.is_dir() else None


_LIVE = ("RUNNING", "WAITING", "INTERRUPTED")  # still to run, or running: its checkpoints are in use


def to_drop(trials: Iterable[_Attempt], *, keep: str, k: int, maximize: bool) -> set[int]:
    """First-attempt numbers whose folders the rule drops now. A trial's outcome is its last attempt's."""
    if keep == "all":
        return set()
    ranked: list[tuple[float, int]] = []
    drop: set[int] = set()
    for first, attempts in groups(trials).items():
        last = attempts[-1]
        if any(a.state in ("RUNNING", "WAITING") for a in attempts) or last.state in _LIVE:
            continue
        if last.state == "COMPLETE" and last.value is not None and last.feasible:
            ranked.append((-last.value if maximize else last.value, first))
        else:  # pruned, failed, infeasible: nothing worth resuming or keeping
            drop.add(first)
    ranked.sort()
    drop.update(first for _, first in ranked[(1 if keep == "best" else k) :])
    return drop


def prune(output: Path, trials: Iterable[_Attempt], *, keep: str, k: int, maximize: bool) -> list[Path]:
    """Delete the folders `keep` no longer wants; the ones deleted. Only folders that exist are looked at."""
    root = output / FOLDER
    try:
        present = {int(m.group(1)): p for p in root.iterdir() if (m := _NAME.fullmatch(p.name)) and p.is_dir()}
    except OSError:  # no checkpoint saved yet
        return []
    if not present:
        return []
    removed = []
    for first in sorted(to_drop(trials, keep=keep, k=k, maximize=maximize) & present.keys()):
        with contextlib.suppress(OSError):  # a file held open on another machine's share: try next time
            shutil.rmtree(present[first])
            removed.append(present[first])
    return removed


__all__ = ["FOLDER", "best_folder", "first_attempt", "folder_of", "groups", "prune", "to_drop"]

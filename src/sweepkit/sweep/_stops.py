"""Stop policies: when a sweep stops before its budget is spent, and the reason it gives.

`timeout` (budget.timeout, from the run's start), `--until` (a wall-clock deadline that interrupts running
trials), the metric's `target`, failing trials (the first few all failing, or `budget.max_failures` in a
row), a strategy that only proposes points already tried, and one whose points all break the constraints.
Each check returns the reason to stop, or None.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_TRIALS_ALL_FAILING = 5  # this many failures before any success: almost surely a bug in the trial
MAX_REPEATS_IN_A_ROW = 100  # the strategy keeps proposing tried points: treat the space as exhausted
MAX_INFEASIBLE_IN_A_ROW = 1000


@dataclass
class Stops:
    """The counters the stop policies read, and the policies."""

    timeout: float | None = None  # budget.timeout, seconds
    max_failures: int | None = None  # budget.max_failures
    target: float | None = None  # metric.target
    maximize: bool = False
    metric: str = "value"
    started_here: int = 0
    failed_in_a_row: int = 0
    succeeded_here: int = 0
    repeats_in_a_row: int = 0
    infeasible_in_a_row: int = 0
    last_error: str = ""

    def timed_out(self, started: float) -> str | None:
        if self.timeout is not None and time.monotonic() - started >= self.timeout:
            return "timeout reached"
        return None

    def finished(self, failed: bool, error: str | None) -> None:
        """A trial of this run was told to the store."""
        if failed:
            self.failed_in_a_row += 1
            self.last_error = error or ""
        else:
            self.failed_in_a_row = 0
            self.succeeded_here += 1

    def failing(self) -> str | None:
        """After a failure: do the trials keep failing? (the sweep then failed: exit 1)"""
        if self.succeeded_here == 0 and self.started_here >= FIRST_TRIALS_ALL_FAILING:
            return (
                f"the first {self.started_here} trials all failed, which is probably a bug in the trial; "
                f"the last error: {self.last_error}"
            )
        if self.max_failures is not None and self.failed_in_a_row >= self.max_failures:
            return (
                f"{self.failed_in_a_row} trials failed in a row (budget.max_failures); "
                f"the last error: {self.last_error}"
            )
        return None

    def target_reached(self, value: float | list[float] | None) -> str | None:
        """After a feasible trial completed: did it reach `metric.target`?"""
        if self.target is None or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        if value >= self.target if self.maximize else value <= self.target:
            return f"target reached: {self.metric} = {value:g} (target {self.target:g})"
        return None

    def repeated(self) -> str | None:
        """The strategy proposed a point already tried (a finite space)."""
        self.repeats_in_a_row += 1
        if self.repeats_in_a_row >= MAX_REPEATS_IN_A_ROW:
            return "space exhausted: the strategy only proposes points already tried"
        return None

    def infeasible(self) -> str | None:
        """The strategy proposed a point that breaks the file's `constraints:`."""
        self.infeasible_in_a_row += 1
        if self.infeasible_in_a_row >= MAX_INFEASIBLE_IN_A_ROW:
            return f"{MAX_INFEASIBLE_IN_A_ROW} points in a row broke the constraints: relax them"
        return None


class Deadline:
    """`--until HH:MM`: at that time, `reach(label)` stops launching and interrupts the running trials (they
    run again next time)."""

    def __init__(self, until: float | None, reach: Callable[[str], None]) -> None:
        self._timer: threading.Timer | None = None
        if until is not None:
            label = "--until " + time.strftime("%H:%M", time.localtime(until))
            self._timer = threading.Timer(max(0.0, until - time.time()), reach, args=(label,))
            self._timer.daemon = True

    def __enter__(self) -> Deadline:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


__all__ = ["FIRST_TRIALS_ALL_FAILING", "MAX_INFEASIBLE_IN_A_ROW", "MAX_REPEATS_IN_A_ROW", "Deadline", "Stops"]

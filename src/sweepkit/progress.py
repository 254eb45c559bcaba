"""What a sweep shows in the terminal: a live panel on a TTY, plain lines otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sweepkit.results import SweepResult, TrialRecord, steps_line, violations
from sweepkit.space import flatten
from sweepkit.spec import format_duration


def _value(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _params(params: dict[str, Any], limit: int = 90) -> str:
    text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in flatten(params).items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Panel:
    """Rebuilt at every refresh, so the clock and ETA move between trials too."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __rich__(self) -> Table:
        return self.progress._panel()


class Progress:
    """Reporter for the engine. `quiet` prints only the final summary; `verbose` adds params per trial."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.verbose = verbose
        self.live_mode = self.console.is_terminal and not quiet
        self._live: Live | None = None
        self.total: int | None = None
        self.done_before = 0
        self.finished_here = 0
        self.counts: dict[str, int] = {}
        self.best: TrialRecord | None = None
        self.running: dict[int, float] = {}
        self.t0 = time.monotonic()
        self.sweep = ""
        self.maximize = False

    # -- Reporter -------------------------------------------------------------------------------------
    def started(self, sweep: str, total: int | None, done: int, strategy: str, reason: str, goal: str) -> None:
        self.sweep, self.total, self.done_before = sweep, total, done
        self.maximize = goal == "maximize"
        if self.quiet:
            return
        resumed = f", resuming with {done} done" if done else ""
        budget = f"{total} trials" if total else "no trial budget"
        line = f"{budget}{resumed}; strategy {escape(strategy)} ({escape(reason)})"
        self.console.print(f"sweep [bold]{escape(sweep)}[/]: {line}", highlight=False, soft_wrap=True)
        if self.live_mode:
            self._live = Live(_Panel(self), console=self.console, refresh_per_second=4, transient=True)
            self._live.start()

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.running[number] = time.monotonic()
        if self.verbose and not self.quiet:
            self._print(f"trial {number} started: {_params(params)}")
        self._refresh()

    def trial_finished(self, rec: TrialRecord, best: TrialRecord | None, counts: dict[str, int]) -> None:
        self.running.pop(rec.number, None)
        self.finished_here += 1
        if counts:
            self.counts = counts
        else:
            self.counts[rec.state] = self.counts.get(rec.state, 0) + 1
        if best is not None:
            self.best = best
        elif rec.state == "COMPLETE" and rec.value is not None and rec.feasible and self._better(rec):
            self.best = rec
        if not self.quiet and (not self.live_mode or self.verbose):
            extra = f" ({rec.error or rec.reason})" if rec.error or rec.reason else ""
            extra += "" if rec.feasible else f" (infeasible: {violations(rec.constraints)})"
            best_value = _value(self.best.value if self.best else None)
            if rec.values is not None:  # a multi-objective sweep's trial: each objective's value, in order
                shown = ", ".join(_value(v) for v in rec.values)
                self._print(f"trial {rec.number} {rec.state} values=({shown}){extra}")
            else:
                self._print(f"trial {rec.number} {rec.state} value={_value(rec.value)}{extra}  best={best_value}")
        self._refresh()

    def note(self, text: str) -> None:
        if not self.quiet or text.startswith("warning:"):  # a warning shows even with --quiet (cron mails it)
            self._print(text)

    def finished(self, result: SweepResult) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        counts = ", ".join(f"{n} {s.lower()}" for s, n in result.counts.items() if n)
        best = result.best_trial
        self._print(f"sweep {result.name} stopped: {result.stop_reason}")
        self._print(f"trials: {counts or 'none'}")
        steps = steps_line(result)
        if steps is not None:
            self._print(steps)
        if result.objectives:  # no one best trial: a front of them
            goals = ", ".join(f"{goal} {name}" for name, goal in result.objectives)
            front = len(result.pareto_front)
            self._print(f"Pareto front: {front} trials ({goals}): sweepkit best {result.name} lists them")
        elif best is not None:
            self._print(f"best: trial {best.number}, {result.metric} = {best.value:.6g}: {_params(best.params, 400)}")
        self._print(f"results in {result.output}")

    # -- display --------------------------------------------------------------------------------------
    def _better(self, rec: TrialRecord) -> bool:
        if self.best is None or self.best.value is None or rec.value is None:
            return True
        return rec.value > self.best.value if self.maximize else rec.value < self.best.value

    def _print(self, text: str) -> None:
        """Plain text: messages carry users' and trials' words (`cannot open [/data/train]`,
        `pip install 'sweepkit[gp]'`), which rich would read as markup, eat or fail on."""
        console = self._live.console if self._live is not None else self.console
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _panel(self) -> Table:
        done = sum(self.counts.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAILED"))
        elapsed = time.monotonic() - self.t0
        eta = ""
        if self.total and self.finished_here:
            left = max(0, self.total - done)
            eta = f"  ETA {format_duration(elapsed / self.finished_here * left)}"
        table = Table.grid(padding=(0, 2))
        total = f"/{self.total}" if self.total else ""
        table.add_row(
            f"[bold]{escape(self.sweep)}[/] {done}{total} done",
            f"running {len(self.running)}",
            f"pruned {self.counts.get('PRUNED', 0)}",
            f"failed {self.counts.get('FAILED', 0)}",
            f"best {_value(self.best.value if self.best else None)}",
            f"elapsed {format_duration(elapsed)}{eta}",
        )
        return table


def default_progress(quiet: bool, verbose: bool) -> Progress:
    return Progress(
        quiet=quiet,
        verbose=verbose,
        console=Console(stderr=True, force_terminal=None if sys.stderr.isatty() else False),
    )

"""What an unmodified W&B script logs, read through W&B's public API inside the trial's own process.

`site/sitecustomize.py` (first on a program trial's PYTHONPATH) calls `install` once the program has imported
wandb. `install` wraps `wandb.Run.log` (which `wandb.log` is, once a run exists), `Run.finish`,
`Run.__exit__` and `wandb.init`, so that each call also appends a line to sweepkit's channel
($SWEEPKIT_CHANNEL, docs/line-protocol.md), written by the client's own writer:

* each `run.log(data, step=, commit=)` after W&B took it: `{"step": s, ...}`, `s` being the W&B step
  (`_step`) the row goes to, kept as W&B documents it (the given `step`, else the current one; the step moves
  on after a committed row), nested dicts as dotted names (`val.acc`), as W&B names them;
* when the run ends (`finish()`, the end of a `with` block, or the process's exit, before W&B's own exit
  hook): `{"event": "summary", "metrics": {...}}`, the run's public `run.summary`.

W&B itself runs as it would without sweepkit: the same offline run files, `wandb sync` later. Only scalar
values are written (numbers, strings, booleans, numpy/torch scalars): media, tables, histograms and arrays
are W&B's alone. The step and event keys are the protocol's words, so metrics named `step` or `event` are
left out. Nothing here may break the program: a failure is one line on stderr, once, and the program runs
on; whatever W&B refuses (a call that raises) is not written either.

Standard library only, like the client: it loads in the trial's process, never Optuna or sweepkit's engine.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping

from sweepkit.client import _append, _jsonable, _line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SITE_DIR", "install"]

# The folder sweepkit puts first on a program trial's PYTHONPATH (it holds only sitecustomize.py).
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")
# Keys W&B adds to every row and summary; `step` and `event` are the line protocol's own keys.
_SKIPPED = frozenset({"_step", "_runtime", "_timestamp", "_wandb", "step", "event"})
_SKIP = object()  # a value that is no metric (media, a table, an array)


class _RunState:
    """What sweepkit keeps of one W&B run: the step its next row goes to, and whether its summary was sent."""

    __slots__ = ("ended", "step")

    def __init__(self, step: int) -> None:
        self.step = step
        self.ended = False


def _scalar(value: Any, name: str) -> Any:
    """A logged value as a protocol value, or _SKIP: numbers (NaN as "nan"), strings, booleans, None, and
    numpy/torch scalars through the client's own conversion; anything else is W&B media or an array."""
    if isinstance(value, list | tuple | set | bytes):
        return _SKIP
    try:
        converted = _jsonable(value, name)
    except (TypeError, ValueError):
        return _SKIP
    return _SKIP if isinstance(converted, list | dict) else converted


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted names, as W&B names them ("val.acc"); W&B's serialized media (`_type`) left out."""
    row: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if not prefix and name in _SKIPPED:
            continue
        if isinstance(value, Mapping):
            if "_type" not in value:
                row.update(_flat(value, f"{name}."))
            continue
        converted = _scalar(value, name)
        if converted is not _SKIP:
            row[name] = converted
    return row


class _Shim:
    """The channel and the runs seen in this process; every method that W&B's wrappers call never raises."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._fd: int | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._runs: weakref.WeakKeyDictionary[Any, _RunState] = weakref.WeakKeyDictionary()
        self._exit_hook = False
        self._failed = False

    def fail(self, exc: BaseException) -> None:
        """One line on stderr, once: the program runs on; only the sweep misses what it logs."""
        if not self._failed:
            self._failed = True
            with contextlib.suppress(Exception):  # no usable stderr: nothing more to do
                print(
                    f"sweepkit: wandb.log is not read in this trial ({type(exc).__name__}: {exc}); the program runs on",
                    file=sys.stderr,
                    flush=True,
                )

    def _write(self, row: dict[str, Any]) -> None:
        if self._fd is None or self._pid != os.getpid():  # opened on the first row (again in a forked child)
            self._fd = os.open(self.channel, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        _append(self._fd, _line(row))

    def _state(self, run: Any) -> _RunState:
        state = self._runs.get(run)
        if state is None:
            start = getattr(run, "starting_step", 0)  # public: a resumed run's first step
            state = self._runs[run] = _RunState(start if isinstance(start, int) else 0)
        return state

    def started(self, run: Any) -> None:
        """After `wandb.init()`: know the run (its summary is sent even if it never logs), and hook the exit
        once. Registered after W&B's own exit hook (set during its first init), so it runs before it."""
        try:
            with self._lock:
                if run is not None:
                    self._state(run)
                if not self._exit_hook:
                    self._exit_hook = True
                    atexit.register(self.at_exit)
        except Exception as exc:
            self.fail(exc)

    def logged(self, run: Any, data: Any, step: Any, commit: Any) -> None:
        """A row W&B accepted: its step as W&B counts it (`run.step` would ask W&B's service each time)."""
        try:
            with self._lock:
                state = self._state(run)
                if step is not None:
                    step = int(step.__index__())
                    if step < state.step:
                        return  # W&B drops it too: steps only go up
                    state.step = step
                at = state.step
                if (step is None and commit is None) or commit:
                    state.step += 1
                row = _flat(data) if isinstance(data, Mapping) else {}
                if row:
                    self._write({"step": at, **row})
        except Exception as exc:
            self.fail(exc)

    def ended(self, run: Any) -> None:
        """Before W&B finishes a run: its public summary (each metric's last value, or what the script set)."""
        try:
            with self._lock:
                state = self._state(run)
                if state.ended:
                    return
                state.ended = True
            summary = run.summary
            # keys(), not iteration: W&B's Summary has no __iter__; get() gives nested dicts as plain dicts
            values = _flat({key: summary.get(key) for key in summary.keys()})  # noqa: SIM118
            metrics = {key: value for key, value in values.items() if not key.startswith("_")}
            if metrics:
                with self._lock:
                    self._write({"event": "summary", "metrics": metrics})
        except Exception as exc:
            self.fail(exc)

    def at_exit(self) -> None:
        """The runs the script never finished: W&B finishes them at exit, after this has read their summary."""
        if self._pid != os.getpid():
            return
        for run, state in list(self._runs.items()):
            if not state.ended:
                self.ended(run)


def install(wandb: Any, channel: str) -> Callable[[], None]:
    """Wrap the loaded `wandb` module's public API to copy what it logs to `channel`; returns the undo."""
    run_class = getattr(wandb, "Run", None) or wandb.sdk.wandb_run.Run  # public as wandb.Run in recent W&B
    shim = _Shim(channel)
    originals: dict[tuple[Any, str], Any] = {
        (run_class, "log"): run_class.__dict__["log"],
        (run_class, "finish"): run_class.__dict__["finish"],
        (run_class, "__exit__"): run_class.__dict__["__exit__"],
        (wandb, "init"): wandb.init,
    }
    log, finish, leave, init = originals.values()

    @functools.wraps(log)
    def logged(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = log(self, *args, **kwargs)  # W&B first: what it refuses (raises on) is not written
        data = args[0] if args else kwargs.get("data")
        step = args[1] if len(args) > 1 else kwargs.get("step")
        commit = args[2] if len(args) > 2 else kwargs.get("commit")
        shim.logged(self, data, step, commit)
        return result

    @functools.wraps(finish)
    def finished(self: Any, *args: Any, **kwargs: Any) -> Any:
        shim.ended(self)  # before: a finished run's summary is no longer readable
        return finish(self, *args, **kwargs)

    @functools.wraps(leave)
    def left(self: Any, *args: Any, **kwargs: Any) -> Any:
        shim.ended(self)
        return leave(self, *args, **kwargs)

    @functools.wraps(init)
    def initialized(*args: Any, **kwargs: Any) -> Any:
        run = init(*args, **kwargs)
        shim.started(run)
        return run

    wrappers = {"log": logged, "finish": finished, "__exit__": left, "init": initialized}
    for owner, name in originals:
        setattr(owner, name, wrappers[name])

    def undo() -> None:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
        atexit.unregister(shim.at_exit)

    return undo

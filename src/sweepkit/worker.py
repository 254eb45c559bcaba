"""A pool worker: one long-lived process per slot that imports the user's trial function once and runs
trial after trial in it, so a sweep of N workers pays the import (torch, transformers, a dataset load at
module level) N times, not once per trial.

Started by `sweep/_slots.py` as `python -m sweepkit.worker IN_FD OUT_FD`; it speaks JSON lines on two
pipes of its own (stdout and stderr stay the user's). It imports nothing heavy of ours: no Optuna.

    parent → worker: {"op": "trial", **TrialStart.to_dict()} | {"op": "decision", "decision": None|"pruned"|...}
    worker → parent: {"op": "ready"} | {"op": "error", "error"} (the function can't be imported)
                     | {"op": "report", "value", "step"} | {"op": "fold", "fold", "metrics"}
                     | {"op": "constraint", "name", "value"} (no answer) | {"op": "end", **Outcome.to_dict()}

A "report" and a "fold" wait for the pruner's "decision". The trial is the same `BaseTrial` as in the sweep's
own process (`sweepkit/_trial.py`); only its link (this pipe) differs.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

from sweepkit._trial import BaseTrial, TrialStart
from sweepkit._trial import call as call_function
from sweepkit.errors import SweepkitError

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """A SIGKILLed sweep must not leave workers running trials nobody will record (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the prctl took effect
        os._exit(1)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    return str(value)


class _Link:
    def __init__(self, inbox: IO[str], outbox: IO[str]) -> None:
        self.inbox, self.outbox = inbox, outbox

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.write(json.dumps(message, default=_jsonable) + "\n")
        self.outbox.flush()

    def receive(self) -> dict[str, Any]:
        line = self.inbox.readline()
        if not line:  # the sweep went away
            os._exit(0)
        return json.loads(line)


class PipeLink:
    """A worker trial's link to the sweep: each report goes up the pipe and waits for the pruner's answer."""

    def __init__(self, link: _Link) -> None:
        self._link = link

    def report(self, value: float, step: int, fold: dict[str, float] | None) -> str | None:
        if fold is None:
            self._link.send({"op": "report", "value": value, "step": step})
        else:
            self._link.send({"op": "fold", "fold": step, "metrics": fold})
        decision: str | None = self._link.receive().get("decision")
        return decision

    def constraint(self, name: str, value: float) -> None:
        self._link.send({"op": "constraint", "name": name, "value": value})

    def stopping(self) -> bool:
        return False  # a sweep stopping this trial stops its worker process


def serve(link: _Link, ref: str, base_dir: str | None, sys_path: list[str]) -> None:
    from sweepkit._callable import resolve_function, wants_trial

    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        fn = resolve_function(ref, Path(base_dir) if base_dir else Path.cwd(), file=None)
    except SweepkitError as exc:
        link.send({"op": "error", "error": str(exc)})
        return
    pass_trial = wants_trial(fn)
    link.send({"op": "ready"})
    while True:
        message = link.receive()
        if message.get("op") != "trial":
            return
        trial = BaseTrial(TrialStart.from_dict(message), PipeLink(link))
        outcome = call_function(fn, trial, pass_trial=pass_trial)
        link.send({"op": "end", **outcome.to_dict()})


def main(argv: list[str]) -> None:
    in_fd, out_fd, parent = int(argv[0]), int(argv[1]), int(argv[2])
    _die_with_parent(parent)
    config = json.loads(os.environ.pop("SWEEPKIT_WORKER", "{}"))
    link = _Link(os.fdopen(in_fd, "r", encoding="utf-8"), os.fdopen(out_fd, "w", encoding="utf-8"))
    serve(link, config["function"], config.get("base_dir"), config.get("sys_path", []))


if __name__ == "__main__":
    main(sys.argv[1:])

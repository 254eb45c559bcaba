"""A pool worker: one long-lived process per slot that imports the user's trial function once and runs
trial after trial in it, so a sweep of N workers pays the import (torch, transformers, a dataset load at
module level) N times, not once per trial.

Started by `sweep/_slots.py` as `python -m sweepkit.worker IN_FD OUT_FD`; it speaks JSON lines on two
pipes of its own (stdout and stderr stay the user's). It imports nothing heavy of ours: no Optuna.

    parent → worker: {"op": "trial", "number", "params", "max_steps", "sweep", "seed"} | {"op": "decision", "prune"}
    worker → parent: {"op": "ready"} | {"op": "report", "value", "step"} | {"op": "done", "result", "metrics"}
                     | {"op": "pruned", "message", "metrics"} | {"op": "error", "error", "traceback", "metrics"}
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import IO, Any

from sweepkit.errors import SweepkitError, TrialPruned

TRACEBACK_LINES = 25
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


class WorkerTrial:
    """The `trial` a function gets in a worker: `report` asks the sweep's pruner in the parent."""

    def __init__(self, link: _Link, message: dict[str, Any]) -> None:
        self._link = link
        self.number: int = message["number"]
        self.params: dict[str, Any] = message["params"]
        self.sweep: str = message["sweep"]
        self.max_steps: int | None = message.get("max_steps")
        self.seed: int | None = message.get("seed")
        self.metrics: dict[str, Any] = {}
        self._pruned = False

    def report(self, value: float, step: int) -> None:
        self._link.send({"op": "report", "value": float(value), "step": int(step)})
        reply = self._link.receive()
        if reply.get("prune"):
            self._pruned = True
            raise TrialPruned(f"pruned at step {step}")

    def should_prune(self) -> bool:
        return self._pruned

    def log(self, metrics: dict[str, Any]) -> None:
        self.metrics.update(metrics)


def serve(link: _Link, ref: str, base_dir: str | None, sys_path: list[str]) -> None:
    from sweepkit._callable import resolve_function, wants_trial

    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        fn = resolve_function(ref, Path(base_dir) if base_dir else Path.cwd(), file=None)
    except SweepkitError as exc:
        link.send({"op": "error", "error": str(exc), "traceback": None, "metrics": {}})
        return
    pass_trial = wants_trial(fn)
    link.send({"op": "ready"})
    while True:
        message = link.receive()
        if message.get("op") != "trial":
            return
        trial = WorkerTrial(link, message)
        try:
            result = fn(trial.params, trial) if pass_trial else fn(trial.params)
        except TrialPruned as exc:
            link.send({"op": "pruned", "message": str(exc), "metrics": trial.metrics})
        except Exception as exc:  # the user's code failed: the parent records it and the worker goes on
            tb = traceback.format_exc().rstrip().splitlines()[-TRACEBACK_LINES:]
            link.send(
                {
                    "op": "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": "\n".join(tb),
                    "metrics": trial.metrics,
                }
            )
        else:
            link.send({"op": "done", "result": result, "metrics": trial.metrics})


def main(argv: list[str]) -> None:
    in_fd, out_fd, parent = int(argv[0]), int(argv[1]), int(argv[2])
    _die_with_parent(parent)
    config = json.loads(os.environ.pop("SWEEPKIT_WORKER", "{}"))
    link = _Link(os.fdopen(in_fd, "r", encoding="utf-8"), os.fdopen(out_fd, "w", encoding="utf-8"))
    serve(link, config["function"], config.get("base_dir"), config.get("sys_path", []))


if __name__ == "__main__":
    main(sys.argv[1:])

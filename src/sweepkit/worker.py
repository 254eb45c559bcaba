"""A pool worker: one long-lived process per slot that imports the user's trial function once and runs
trial after trial in it, so a sweep of N workers pays the import (torch, transformers, a dataset load at
module level) N times, not once per trial.

Started by `sweep/_slots.py` as `python -m sweepkit.worker IN_FD OUT_FD`; it speaks JSON lines on two
pipes of its own (stdout and stderr stay the user's). It imports nothing heavy of ours: no Optuna.

    parent → worker: {"op": "trial", "number", "params", "max_steps", "sweep", "metric", "seed",
                      "resumed", "checkpoint_dir"} | {"op": "decision", "prune"}
    worker → parent: {"op": "ready"} | {"op": "report", "value", "step"} | {"op": "fold", "fold", "metrics"}
                     | {"op": "constraint", "name", "value"} (no answer) | {"op": "done", "result", "metrics"}
                     | {"op": "pruned", "message", "metrics"} | {"op": "error", "error", "traceback", "metrics"}

A "report" and a "fold" wait for the pruner's "decision".
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

from sweepkit._folds import FoldsAndConstraints
from sweepkit.client import _in_trial
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


class WorkerTrial(FoldsAndConstraints):
    """The `trial` a function gets in a worker: `report` and `report_fold` ask the sweep's pruner in the parent."""

    def __init__(self, link: _Link, message: dict[str, Any]) -> None:
        self._link = link
        self.number: int = message["number"]
        self.params: dict[str, Any] = message["params"]
        self.sweep: str = message["sweep"]
        self.max_steps: int | None = message.get("max_steps")
        self.fold_metric = message.get("metric") or self.fold_metric
        self.resumed: bool = bool(message.get("resumed"))  # cut short before, running again
        self.checkpoint_folder: str | None = message.get("checkpoint_dir")
        self.seed: int | None = message.get("seed")
        self.metrics: dict[str, Any] = {}
        self._pruned = False

    @property
    def checkpoint_dir(self) -> Path:
        """This trial's checkpoint folder (created on first use), the same one when it runs again."""
        from sweepkit.client import checkpoint_dir

        with _in_trial(self.checkpoint_folder, self.resumed):
            return checkpoint_dir()

    def report(self, value: float, step: int) -> None:
        self._ask({"op": "report", "value": float(value), "step": int(step)}, step)

    def _ask(self, message: dict[str, Any], step: int) -> None:
        self._link.send(message)
        reply = self._link.receive()
        if reply.get("prune"):
            self._pruned = True
            raise TrialPruned(f"pruned at step {step}")

    def _fold_reported(self, fold: int, values: dict[str, float]) -> None:
        self._ask({"op": "fold", "fold": fold, "metrics": values}, fold)

    def _constraint_set(self, name: str, value: float) -> None:
        self._link.send({"op": "constraint", "name": name, "value": value})

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
            with _in_trial(trial.checkpoint_folder, trial.resumed):  # for `sweepkit.checkpoint_dir()`
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

"""Where a trial runs: in this process, in a thread, or in a warm worker process, one slot each.

The engine hands a trial to `Executor.call(slot, live)` (`live`: the sweep's side of the trial, with its
`TrialStart`), which returns one `Outcome` for every way a trial ends: done (its result), pruned, interrupted
(the sweep stopped it: Ctrl+C, `--until`), error (the user's exception, a timeout) or lost (the process running
it died). Only the sweep's own faults raise (the store down, Ctrl+C in the main thread). The trial itself is a
`BaseTrial` everywhere; only its link to the sweep differs (here: the `LiveTrial` itself; a worker: its pipe).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from sweepkit._trial import BaseTrial, Outcome
from sweepkit._trial import call as call_function
from sweepkit.errors import SpecError, TrialInterrupted
from sweepkit.sweep._function import wants_trial
from sweepkit.sweep._live import LiveTrial

# Importing a big training module (torch, transformers) can take a while; one that takes longer waits for
# something that never comes (input, a lock, the network): the sweep says so instead of hanging.
WORKER_START_SECONDS = 120.0


class Executor(Protocol):
    """Where trials run: `slots` at once, each `call` blocking until its trial ends."""

    slots: int

    def call(self, slot: int, live: LiveTrial) -> Outcome: ...
    def cancel(self, slot: int) -> None: ...
    def close(self) -> None: ...


class InProcess:
    """Calls the objective in the calling thread: the main thread for one worker (so Ctrl+C and the user's
    signal handlers behave as in a plain script), slot threads for programs (they wait on a subprocess) and
    for objectives a worker process can't import (a lambda, a function defined in `__main__`)."""

    def __init__(self, objective: Callable[..., Any], slots: int = 1) -> None:
        self.objective = objective
        self.pass_trial = wants_trial(objective)
        self.slots = slots
        self._live: dict[int, LiveTrial] = {}

    def call(self, slot: int, live: LiveTrial) -> Outcome:
        trial = BaseTrial(live.start, live, env=live.env, cancelled=live.cancelled, watch=live.watch)
        self._live[slot] = live
        try:
            return call_function(self.objective, trial, pass_trial=self.pass_trial)
        finally:
            self._live.pop(slot, None)

    def cancel(self, slot: int) -> None:
        live = self._live.get(slot)
        if live is not None:
            live.cancelled.set()  # programs stop; a Python function sees it at its next report

    def close(self) -> None:
        pass


def importable_ref(objective: Callable[..., Any]) -> str | None:
    """`module:qualname` when a fresh process can import the objective by name, else None."""
    module = getattr(objective, "__module__", None)
    qualname = getattr(objective, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    return f"{module}:{qualname}"


class _Worker:
    """One warm worker process and its two pipes."""

    def __init__(self, slot: int, config: dict[str, Any], env: Mapping[str, str], cwd: Path) -> None:
        self.slot = slot
        to_worker = os.pipe()
        from_worker = os.pipe()
        child_env = {**os.environ, **env, "SWEEPKIT_WORKER": json.dumps(config)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sweepkit.worker", str(to_worker[0]), str(from_worker[1]), str(os.getpid())],
            pass_fds=(to_worker[0], from_worker[1]),
            env=child_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C reaches the sweep, which stops workers itself
        )
        os.close(to_worker[0])
        os.close(from_worker[1])
        self.outbox = os.fdopen(to_worker[1], "w", encoding="utf-8")
        self.inbox = os.fdopen(from_worker[0], "r", encoding="utf-8")
        self.started = time.monotonic()
        self.ready = False
        self.killed_because: str | None = None

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.write(json.dumps(message) + "\n")
            self.outbox.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: the next receive says how

    def receive(self) -> dict[str, Any] | None:
        line = self.inbox.readline()
        return json.loads(line) if line else None

    def exit_note(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def stop(self, *, grace: float = 2.0) -> None:
        with contextlib.suppress(OSError):
            self.outbox.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything the trial started
        with contextlib.suppress(OSError):
            self.inbox.close()

    def kill(self, because: str) -> None:
        self.killed_because = because
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                continue


class WorkerPool:
    """N warm worker processes, one per slot, each with its slot's environment (its GPUs).

    Built on our own pipes rather than `multiprocessing`/`concurrent.futures`: those start workers by
    fork (unsafe in a threaded sweep) or by re-importing the user's `__main__`, and give no way to talk to a
    trial while it runs, which `trial.report` → the pruner needs."""

    def __init__(
        self,
        ref: str,
        base_dir: Path | None,
        slot_envs: list[dict[str, str]],
        *,
        cwd: Path,
        timeout: float | None = None,
        file: str | None = None,
    ) -> None:
        self.ref = ref
        self.file = file  # the sweep file, named in a start-up error
        self.config = {"function": ref, "base_dir": str(base_dir) if base_dir else None, "sys_path": sys.path}
        self.slot_envs = slot_envs
        self.slots = len(slot_envs)
        self.cwd = cwd
        self.timeout = timeout
        self._workers: dict[int, _Worker] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start every worker and wait until each has imported the function: an import error is a spec
        error, said once, before any trial runs."""
        workers = [self._spawn(slot) for slot in range(self.slots)]
        for worker in workers:
            self._await_ready(worker)

    def _spawn(self, slot: int) -> _Worker:
        worker = _Worker(slot, self.config, self.slot_envs[slot], self.cwd)
        with self._lock:
            self._workers[slot] = worker
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        """Wait for the worker to import the function, at most WORKER_START_SECONDS from its start."""
        module = self.ref.partition(":")[0]
        late = (
            f'module "{module}" did not finish importing in {WORKER_START_SECONDS:g} s in a worker process: '
            "does it wait for input, a lock or the network at import? (the worker was stopped)"
        )
        left = max(0.0, worker.started + WORKER_START_SECONDS - time.monotonic())
        timer = threading.Timer(left, worker.kill, args=(late,))
        timer.daemon = True
        timer.start()
        try:
            message = worker.receive()
        finally:
            timer.cancel()
        if message is None:
            self.close()
            if worker.killed_because:
                raise SpecError(worker.killed_because, file=self.file, key="trial.function")
            raise SpecError(f"a worker process could not start the trial function: it {worker.exit_note()}")
        if message.get("op") == "error":
            self.close()
            raise SpecError(message["error"], file=self.file, key="trial.function")
        worker.ready = True

    def _worker(self, slot: int) -> _Worker:
        worker = self._workers.get(slot)
        if worker is None or worker.proc.poll() is not None:
            if worker is not None:
                worker.stop(grace=0)
            worker = self._spawn(slot)
            self._await_ready(worker)
        return worker

    def call(self, slot: int, live: LiveTrial) -> Outcome:
        worker = self._worker(slot)
        live.watch(worker.proc.pid)
        worker.send({"op": "trial", **live.start.to_dict()})
        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, worker.kill, args=(f"timed out after {self.timeout:g}s",))
            timer.daemon = True
            timer.start()
        try:
            return self._converse(worker, live)
        finally:
            if timer is not None:
                timer.cancel()

    def _converse(self, worker: _Worker, live: LiveTrial) -> Outcome:
        while True:
            message = worker.receive()
            if message is None:
                return self._died(worker, live)
            op = message.get("op")
            if op == "constraint":
                live.constraint(message["name"], message["value"])
            elif op in ("report", "fold"):
                fold = message["metrics"] if op == "fold" else None
                value = fold[live.start.metric] if fold is not None else message["value"]
                step = message["fold"] if fold is not None else message["step"]
                worker.send({"op": "decision", "decision": live.report(value, step, fold)})
            elif op == "end":
                return Outcome.from_dict(message)
            else:
                return Outcome("lost", message=f"worker lost: it sent an unknown message {op!r}")

    def _died(self, worker: _Worker, live: LiveTrial) -> Outcome:
        note = worker.exit_note()
        because = worker.killed_because
        worker.stop(grace=0)
        with self._lock:
            self._workers.pop(worker.slot, None)
        if live.cancelled.is_set():
            return Outcome("interrupted", message="interrupted: the sweep was stopped")
        if because:
            return Outcome("error", message=because)
        return Outcome("lost", message=f"worker lost: its worker process {note}")

    def cancel(self, slot: int) -> None:
        worker = self._workers.get(slot)
        if worker is not None:
            worker.kill("interrupted")

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.send({"op": "exit"})
        for worker in workers:
            worker.stop()


__all__ = ["Executor", "InProcess", "TrialInterrupted", "WorkerPool", "importable_ref"]

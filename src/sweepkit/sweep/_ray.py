"""`backend: ray`: each trial is a Ray task on an existing cluster (`ray start --head`, `ray start --address=...`).

The driver (this process) keeps the study: the strategy's proposals, the pruner's decisions, the store. A
trial's task resolves the user's function on whichever node Ray picks and calls it there. Its
`trial.report(value, step)` travels through a small relay actor (no CPU) to the driver, which asks the pruner
and answers "go on" or "stop" before the task goes on: a pruned trial stops at the very report that pruned
it, as it does on this machine, and frees its CPUs and GPUs at once.

Ray is imported here only, and only when a sweep asks for it; the function runs from the sweep file's
folder, which must exist at the same path on every node (docs/ray.md).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit._callable import resolve_function, wants_trial
from sweepkit._trial import INTERRUPTED, PRUNED, BaseTrial, Outcome, TrialStart, failed
from sweepkit._trial import call as call_function
from sweepkit.errors import SpecError, TrialError, UsageError
from sweepkit.sweep._function import _plain
from sweepkit.sweep._live import LiveTrial

if TYPE_CHECKING:
    from sweepkit.spec import Spec

INSTALL_HINT = "backend: ray needs Ray: pip install 'sweepkit[ray]'"
POLL_SECONDS = 0.5  # how often a waiting slot looks at the sweep's stop flag and the trial's deadline
# A stopped trial (pruned, interrupted, timed out) gets this long to end before its worker is killed. Ray's
# KeyboardInterrupt only lands between Python bytecodes (not in a sleep or a long C call), hence a kill at all;
# a program trial needs longer: it stops its program with SIGTERM, 10 s of grace, then SIGKILL, and killing
# its worker first would leave the program (in a session of its own) running on the node.
FUNCTION_GRACE_SECONDS = 5.0
PROGRAM_GRACE_SECONDS = 30.0
CONNECT_PROBE_SECONDS = 10.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _unreachable(address: str) -> str | None:
    """Why nothing answers at the address's host:port, or None. Checked by hand because Ray retries an
    unreachable cluster for minutes before giving up: a wrong address should say so in seconds."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return None  # `auto`, or a form Ray judges itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_PROBE_SECONDS):
            return None
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc})"


# -- the task's side ------------------------------------------------------------------------------------------


class RelayLink:
    """A Ray task's link to the sweep: each report travels through the relay actor to the driver's pruner,
    and waits for its answer, so a pruned trial stops at this very step. A relay that died (its node went
    away) leaves the trial unsteerable: `lost`, and the task's outcome says so."""

    def __init__(self, relay: Any, key: int) -> None:
        self._relay = relay
        self._key = key
        self.lost: str | None = None

    def _ask(self, call: Any) -> str | None:
        import ray

        try:
            answer: str | None = ray.get(call)
            return answer
        except ray.exceptions.RayActorError as exc:
            self.lost = f"the relay to the sweep's driver died: {_first_line(exc)}"
            return INTERRUPTED

    def report(self, value: float, step: int, fold: dict[str, float] | None) -> str | None:
        return self._ask(self._relay.report.remote(self._key, value, step, fold))

    def constraint(self, name: str, value: float) -> None:
        """Constraints travel back with the task's outcome."""

    def stopping(self) -> bool:
        return self._ask(self._relay.decision.remote(self._key)) is not None


def _where() -> str:
    import ray

    try:
        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # outside a Ray worker (tests calling _run_trial directly)
        node = "?"
    return f"{socket.gethostname()} (Ray node {node})"


def _load(payload: Mapping[str, Any]) -> Callable[..., Any]:
    """The user's function, on this node: resolved by name from the sweep's folder, or unpickled."""
    base_dir = Path(payload["base_dir"])
    if not base_dir.is_dir():
        raise TrialError(
            f"the sweep's folder {base_dir} does not exist on {_where()}: with backend: ray every node needs "
            "the trial's code at the same path (a shared file system or the same checkout), see docs/ray.md"
        )
    for entry in payload.get("sys_path", ()):  # the driver's import path, where this node has the same folders
        if entry and entry not in sys.path and os.path.isdir(entry):
            sys.path.append(entry)
    if payload.get("function_ref"):
        return resolve_function(payload["function_ref"], base_dir, file=payload.get("file"))
    from ray import cloudpickle

    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    return cloudpickle.loads(payload["function"])


def _plain_result(result: Any) -> Any:
    """numpy/torch values → Python ones here, so the driver unpickles the result without those libraries."""
    if isinstance(result, Mapping):
        return {str(k): _plain(v) for k, v in result.items()}
    return _plain(result)


def _run_trial(payload: dict[str, Any], key: int, start: dict[str, Any], relay: Any) -> dict[str, Any]:
    """The Ray task: call the user's function and say how it ended (`Outcome.to_dict()`). Every ending is a
    value, not a raised exception, so the driver tells a user's error (a failed trial) from Ray's (a lost
    worker) for sure."""
    relay.begin.remote(key)
    link = RelayLink(relay, key)
    trial = BaseTrial(TrialStart.from_dict(start), link)
    try:
        fn = _load(payload)
        outcome = call_function(fn, trial, pass_trial=wants_trial(fn))
    except SpecError as exc:  # the function could not be imported on this node
        outcome = Outcome("error", message=f"on {_where()}: {exc}")
    except TrialError as exc:  # the sweep's folder is missing on this node
        outcome = failed(exc)
    except SystemExit as exc:
        outcome = failed(exc, trial)
    if link.lost is not None:
        outcome = Outcome("lost", message=f"{link.lost} (on {_where()})")
    elif outcome.traceback is not None:
        outcome.traceback = f"on {_where()}:\n{outcome.traceback}"
    outcome.result = _plain_result(outcome.result)  # numpy/torch → Python: the driver needs neither
    outcome.metrics = _plain_result(outcome.metrics)
    return outcome.to_dict()


class _Relay:
    """One per sweep, an async actor holding no CPU: carries each running trial's reports to the driver and
    the driver's answers back. Keys are per launch, so a retried trial never reads its first run's answers."""

    def __init__(self) -> None:
        self._reports: dict[int, Any] = {}  # key → asyncio.Queue of ("begin",) and ("report", value, step)
        self._answers: dict[int, Any] = {}  # key → the future the report in flight waits on
        self._decided: dict[int, str] = {}  # key → "pruned" / "interrupted": every later report gets it at once

    async def report(self, key: int, value: float, step: int, fold: dict[str, float] | None = None) -> str | None:
        """A step's value, or (with `fold`) fold `step`'s metrics; waits for the driver's answer."""
        import asyncio

        if key in self._decided:
            return self._decided[key]
        answer = asyncio.get_running_loop().create_future()
        self._answers[key] = answer
        await _queue(self._reports, key).put(("report", value, step, fold))
        return await answer

    async def begin(self, key: int) -> None:
        """The task started running (a trial's timeout counts from here, not from its wait for a node)."""
        await _queue(self._reports, key).put(("begin",))

    async def next_report(self, key: int) -> tuple[Any, ...] | None:
        return await _queue(self._reports, key).get()

    async def answer(self, key: int, decision: str | None) -> None:
        if decision is not None:
            self._decided[key] = decision
        waiting = self._answers.pop(key, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(decision)

    async def decision(self, key: int) -> str | None:
        return self._decided.get(key)

    async def forget(self, key: int) -> None:
        reports = self._reports.pop(key, None)
        if reports is not None:
            reports.put_nowait(None)  # wakes the driver's pending next_report
        self._answers.pop(key, None)
        self._decided.pop(key, None)


def _queue(queues: dict[int, Any], key: int) -> Any:
    import asyncio

    if key not in queues:
        queues[key] = asyncio.Queue()
    return queues[key]


# -- the driver's side ----------------------------------------------------------------------------------------


@dataclass
class _Connection:
    """This process's connection to Ray, shared by the executors open at once (a sweep, its tests)."""

    address: str | None = None
    users: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_CONNECTION = _Connection()


@dataclass
class _Launch:
    ref: Any
    key: int
    relay: Any
    cancelled: bool = False
    forced: bool = False


class RayExecutor:
    """Runs each trial as a Ray task holding `resources_per_trial` ({cpu, gpu}, fractions allowed) on a
    cluster: `address` is `auto`, the `host:port` of `ray start --head`, or `ray://host:10001`. Without an
    address, Ray's own rule applies: `RAY_ADDRESS`, else the cluster `ray start` last started on this
    machine, else a local Ray instance for this sweep alone.

    `slots` is `max_concurrent`, or as many trials as the cluster's nodes hold at once. The function is
    named by `fn_ref` ("module:callable", imported on each node from `base_dir`), or is `function` itself
    (a callable or a program trial, pickled with Ray's cloudpickle)."""

    def __init__(
        self,
        address: str | None,
        resources_per_trial: Mapping[str, float],
        max_concurrent: int | None,
        fn_ref: str | None,
        base_dir: Path,
        *,
        function: Callable[..., Any] | None = None,
        sweep: str = "sweep",
        timeout: float | None = None,
        file: str | None = None,
        grace: float = FUNCTION_GRACE_SECONDS,
    ) -> None:
        if (fn_ref is None) == (function is None):
            raise ValueError("RayExecutor needs exactly one of fn_ref and function")
        self._ray = ray = _import_ray()
        self.address = address
        self.cpu = float(resources_per_trial.get("cpu", 1.0))
        self.gpu = float(resources_per_trial.get("gpu", 0.0))
        self.sweep = sweep
        self.timeout = timeout
        self.grace = grace
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._keys = itertools.count()
        self._running: dict[int, _Launch] = {}
        self._relay: Any = None
        self._connected = self._connect(address)
        try:
            capacity = self._capacity()
            self.slots = max_concurrent or capacity
            payload: dict[str, Any] = {"base_dir": str(base_dir), "file": file, "sys_path": list(sys.path)}
            if fn_ref is not None:
                payload["function_ref"] = fn_ref
            else:
                from ray import cloudpickle

                payload["function"] = cloudpickle.dumps(function)
            self._payload = ray.put(payload)  # stored once, not shipped with every task
            # No retries by Ray: a lost trial goes back to the engine, which retries it `trial.retries` times.
            self._task = ray.remote(num_cpus=self.cpu, num_gpus=self.gpu, max_retries=0, retry_exceptions=False)(
                _run_trial
            )
        except BaseException:
            self.close()
            raise

    # -- connecting ---------------------------------------------------------------------------------------
    def _connect(self, address: str | None) -> bool:
        """True when this executor holds a share of sweepkit's connection (closed with the last share);
        False when the process was connected to Ray by someone else (a notebook's `ray.init()`): that
        connection is used as it is. A process talks to one Ray cluster at a time."""
        ray = self._ray
        target = address or os.environ.get("RAY_ADDRESS")
        where = target or "this machine"
        unreachable = _unreachable(target) if target else None
        if unreachable:
            raise UsageError(
                f"cannot connect to the Ray cluster at {where}: {unreachable} "
                "(start one with `ray start --head`, or fix resources.ray_address)"
            )
        with _CONNECTION.lock:
            if ray.is_initialized():
                if not _CONNECTION.users:
                    self.notes.append("Ray was already initialized in this process: trials run on that cluster")
                    return False
                if _CONNECTION.address != address:
                    raise UsageError(
                        f"this process already runs trials on the Ray cluster at {_CONNECTION.address or 'auto'}; "
                        f"a process talks to one Ray cluster at a time, so it cannot also use {where}"
                    )
                _CONNECTION.users += 1
                return True
            # ray.init installs its own SIGTERM handler in the driver; the sweep's own (stop cleanly: trials
            # interrupted and queued) must stay in charge, so it is put back.
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                ray.init(
                    address=address,
                    ignore_reinit_error=True,
                    log_to_driver=False,  # the trials' output stays in the cluster's logs; the display stays readable
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:  # ConnectionError, ValueError (a malformed address), RuntimeError, ...
                raise UsageError(
                    f"cannot connect to the Ray cluster at {where}: {_first_line(exc)} "
                    "(start one with `ray start --head`, or fix resources.ray_address)"
                ) from None
            finally:
                if threading.current_thread() is threading.main_thread():
                    for sig, handler in handlers.items():
                        if handler is not None:
                            signal.signal(sig, handler)
            _CONNECTION.address, _CONNECTION.users = address, 1
        if target is None:
            self.notes.append("no resources.ray_address: trials run on a Ray instance of this machine")
        return True

    def _capacity(self) -> int:
        """How many trials the alive nodes hold at once; a trial no node can hold is a user error (Ray would
        wait for such a node forever)."""
        ray = self._ray
        try:
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        except Exception:  # Ray Client may not list nodes: the cluster's totals are the next best answer
            nodes = [ray.cluster_resources()]

        def fits(resources: Mapping[str, float]) -> float:
            counts = [
                math.floor(resources.get(name, 0.0) / need + 1e-9)
                for name, need in (("CPU", self.cpu), ("GPU", self.gpu))
                if need > 0
            ]
            return min(counts) if counts else math.floor(resources.get("CPU", 1.0)) or 1

        capacity = int(sum(fits(node) for node in nodes))
        if capacity < 1:
            largest: dict[str, float] = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
            raise UsageError(
                f"no node of the Ray cluster can hold a trial that needs {self.cpu:g} CPU and {self.gpu:g} GPU "
                f"(resources_per_trial); the largest has {largest.get('CPU', 0.0):g} CPU and "
                f"{largest.get('GPU', 0.0):g} GPU"
            )
        return capacity

    def _relay_handle(self) -> Any:
        """The sweep's relay, made on first use (again if its node died), on the driver's node if it has one."""
        ray = self._ray
        with self._lock:
            if self._relay is None:
                options: dict[str, Any] = {"num_cpus": 0, "max_restarts": 0}
                try:
                    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                    here = ray.get_runtime_context().get_node_id()
                    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=here, soft=True)
                except Exception:  # Ray Client: the driver is on no node
                    pass
                self._relay = ray.remote(_Relay).options(**options).remote()
            return self._relay

    def _relay_died(self, relay: Any) -> None:
        with self._lock:
            if self._relay is relay:
                self._relay = None

    # -- running a trial ----------------------------------------------------------------------------------
    def call(self, slot: int, live: LiveTrial) -> Outcome:
        """Run one trial on the cluster; its reports reach `live` (the pruner) as they would here."""
        relay = self._relay_handle()
        key = next(self._keys)
        start = {**live.start.to_dict(), "sweep": self.sweep}
        ref = self._task.options(name=f"{self.sweep} trial {live.number}").remote(self._payload, key, start, relay)
        launch = _Launch(ref, key, relay)
        with self._lock:
            self._running[slot] = launch
        try:
            return self._follow(launch, live)
        finally:
            with self._lock:
                self._running.pop(slot, None)
            relay.forget.remote(key)

    def _follow(self, launch: _Launch, live: LiveTrial) -> Outcome:
        ray = self._ray
        waiter = launch.relay.next_report.remote(launch.key)
        stop: str | None = None  # PRUNED, INTERRUPTED or "timeout": the trial's end is decided here
        stop_message = ""
        started: float | None = None  # when the task began to run
        deadline: float | None = None  # when a stopped trial's task is killed if it has not ended
        finished = False
        try:
            while True:
                ready, _ = ray.wait([waiter, launch.ref], num_returns=1, timeout=POLL_SECONDS)
                if waiter in ready:
                    try:
                        item = ray.get(waiter)
                    except ray.exceptions.RayActorError as exc:
                        self._relay_died(launch.relay)
                        why = f"worker lost: the relay to trial {live.number} died: {_first_line(exc)}"
                        return Outcome("lost", message=why)
                    waiter = launch.relay.next_report.remote(launch.key)
                    if item is not None and item[0] == "begin":
                        started = time.monotonic()
                    elif item is not None:
                        _, value, step, fold = item
                        if stop is None:
                            stop = live.report(value, step, fold)
                            if stop is not None:
                                deadline = time.monotonic() + self.grace
                                stop_message = f"pruned at step {step}"
                        launch.relay.answer.remote(launch.key, stop if stop != "timeout" else INTERRUPTED)
                    continue
                if launch.ref in ready:
                    finished = True
                    return self._outcome(launch, live, stop, stop_message)
                now = time.monotonic()
                if stop is None and (launch.cancelled or live.cancelled.is_set()):
                    stop, deadline = INTERRUPTED, now + self.grace
                    self._interrupt(launch)
                elif stop is None and self.timeout and started is not None and now - started > self.timeout:
                    stop, deadline = "timeout", now + self.grace
                    self._interrupt(launch)
                if deadline is not None and now > deadline and not launch.forced:
                    launch.forced = True
                    ray.cancel(launch.ref, force=True)
        finally:
            if not finished:  # the driver failed (a store error, Ctrl+C) or lost the relay: nothing may run on
                self._stop_now(launch)

    def _stop_now(self, launch: _Launch) -> None:
        """Stop the task as gracefully as the grace allows (a program trial stops its program first); a
        second Ctrl+C meanwhile kills it at once."""
        try:
            self._interrupt(launch)
            self._ray.wait([launch.ref], timeout=self.grace)
        finally:
            launch.forced = True
            self._ray.cancel(launch.ref, force=True)

    def _interrupt(self, launch: _Launch) -> None:
        """Stop a trial gracefully: its next report raises, and Ray raises KeyboardInterrupt in the task (a
        program trial then stops its program's whole process group)."""
        launch.relay.answer.remote(launch.key, INTERRUPTED)
        self._ray.cancel(launch.ref, force=False)

    def _outcome(self, launch: _Launch, live: LiveTrial, stop: str | None, stop_message: str) -> Outcome:
        ray = self._ray
        try:
            outcome = Outcome.from_dict(ray.get(launch.ref))
        except ray.exceptions.RayError as exc:
            if stop is None:  # else the trial's end is decided already: pruned, interrupted or timed out
                return self._ray_error(exc)
            outcome = Outcome("interrupted")
        metrics, constraints = outcome.metrics, outcome.constraints  # what it did until it stopped
        if stop == PRUNED:
            return Outcome("pruned", metrics=metrics, constraints=constraints, message=stop_message)
        if stop == INTERRUPTED:
            return Outcome("interrupted", message="interrupted: the sweep was stopped")
        if stop == "timeout":
            return Outcome(
                "error",
                metrics=metrics,
                constraints=constraints,
                message=f"timed out after {self.timeout:g}s (trial.timeout)",
            )
        if outcome.end == "pruned" and not outcome.message:  # the function raised TrialPruned itself
            outcome.message = "stopped by the trial (TrialPruned)"
        if outcome.end == "lost":
            self._relay_died(launch.relay)
            outcome.message = f"worker lost: {outcome.message}"
        return outcome

    def _ray_error(self, exc: BaseException) -> Outcome:
        """Ray's own failures, in the engine's words: a lost worker is retried, the rest fail the trial."""
        ray = self._ray
        if isinstance(exc, ray.exceptions.TaskCancelledError):  # cancelled from outside (`ray job stop`)
            return Outcome("interrupted", message="interrupted: the trial's Ray task was cancelled")
        if isinstance(exc, ray.exceptions.OutOfMemoryError):  # it would only run out of memory again
            return Outcome("error", message=f"Ray killed the trial for lack of memory on its node: {_first_line(exc)}")
        if isinstance(exc, ray.exceptions.RayTaskError):  # our wrapper failed, not the user's function
            return Outcome("error", message=f"the trial's Ray task failed: {_first_line(exc)}", traceback=str(exc))
        # WorkerCrashedError, NodeDiedError, ObjectLostError, LocalRayletDiedError, ...
        return Outcome("lost", message=f"worker lost: {type(exc).__name__}: {_first_line(exc)}")

    def cancel(self, slot: int) -> None:
        """The sweep is stopping (Ctrl+C, `--until`): stop the slot's trial; its call returns an interrupted outcome."""
        with self._lock:
            launch = self._running.get(slot)
        if launch is not None and not launch.cancelled:
            launch.cancelled = True
            self._interrupt(launch)

    def close(self) -> None:
        """Kill what is left (nothing, after a normal end) and disconnect; the cluster itself stays up."""
        ray = self._ray
        with self._lock:
            launches, self._running = list(self._running.values()), {}
            relay, self._relay = self._relay, None
        if ray.is_initialized():
            for launch in launches:
                ray.cancel(launch.ref, force=True)
            if relay is not None:
                with contextlib.suppress(Exception):  # already gone with its node
                    ray.kill(relay)
        if self._connected:
            self._connected = False
            with _CONNECTION.lock:
                _CONNECTION.users -= 1
                if _CONNECTION.users == 0:
                    ray.shutdown()


def build_ray_executor(
    spec: Spec,
    *,
    objective: Callable[..., Any] | None = None,
    workers: int | None = None,
    workdir: Path | None = None,
) -> RayExecutor:
    """The executor for a sweep with `resources.backend: ray`. `objective` is what `sweepkit.run(objective=...)`
    was given, or a ProgramTrial; without it the file's `trial.function` is imported on each node by name, and
    a `trial.program` / `trial.command` runs on the node the task lands on. `workers` (`--workers`) overrides
    `resources.workers` (`max_concurrent`)."""
    from sweepkit.spec import ResourcesSpec
    from sweepkit.sweep._program import ProgramTrial

    resources = spec.resources or ResourcesSpec()
    per_trial = dict(resources.per_trial or {})
    gpus = resources.gpus_per_trial  # NNI's trialGpuNumber
    if "gpu" not in per_trial and isinstance(gpus, int | float) and not isinstance(gpus, bool) and gpus > 0:
        per_trial["gpu"] = float(gpus)
    limit = workers if workers is not None else resources.workers
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        key = spec.origins.get("resources.workers", "resources.workers")
        raise SpecError(f"expected a whole number of trials at once ≥ 1, got {limit!r}", file=spec.file, key=key)
    fn_ref: str | None = None
    function: Callable[..., Any] | None = None
    timeout = spec.trial.timeout  # a program trial keeps its own (it stops the program's process group)
    grace = FUNCTION_GRACE_SECONDS
    if objective is not None:
        function = objective
    elif spec.trial.function:
        fn_ref = spec.trial.function
    elif spec.trial.program or spec.trial.command:
        function = ProgramTrial(spec, workdir=workdir or Path.cwd())
    else:
        raise SpecError(
            "nothing to run: set trial.function (module:callable), trial.program or trial.command",
            file=spec.file,
            key="trial",
        )
    if isinstance(function, ProgramTrial):
        function.stream = False  # a task's output stays in the cluster's logs and the trial's folder
        timeout, grace = None, PROGRAM_GRACE_SECONDS
    return RayExecutor(
        resources.ray_address,
        per_trial,
        limit,
        fn_ref,
        spec.base_dir,
        function=function,
        sweep=spec.name,
        timeout=timeout,
        file=spec.file,
        grace=grace,
    )


__all__ = ["INSTALL_HINT", "RayExecutor", "RelayLink", "build_ray_executor"]

"""Program trials: run the user's training program as it is, one subprocess per trial.

The program gets its params as `--key=value` flags (W&B's command macros), a JSON file and environment
variables, and reports metrics through `sweepkit.init().log`, JSON lines on `$SWEEPKIT_CHANNEL`, or an
unmodified `wandb.log` (W&B's library in offline mode; a sitecustomize first on the program's PYTHONPATH
copies what it logs to the channel, `_wandb.with_shim`). Every program runs in a process group of its own,
so a timeout, a pruning decision or Ctrl+C stops it and everything it started: SIGTERM, a grace period,
then SIGKILL. No orphans. A pruned program that said it checks the stop file (`{"event": "stop_check"}`,
which `sweepkit.init()`'s `log` and `should_prune` write) first gets a few seconds to leave on its own; any
other (a W&B script, a script that only writes lines) would never notice, so it gets SIGTERM at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sweepkit.errors import TrialPruned, did_you_mean
from sweepkit.results import steps_spent
from sweepkit.seeding import trial_seed
from sweepkit.spec import MetricSpec, Spec, derived_inputs
from sweepkit.sweep._command import build_argv
from sweepkit.sweep._function import MetricMissing, TrialError
from sweepkit.sweep._objectives import derive, with_derived
from sweepkit.sweep._slots import TrialInterrupted
from sweepkit.sweep._wandb import wandb_env, with_shim, without_wandb

POLL_SECONDS = 0.1
GRACE_SECONDS = 10.0  # after SIGTERM, before SIGKILL
STOP_WAIT_SECONDS = 5.0  # after the stop file appears, before SIGTERM, for a program that checks it
TAIL_LINES = 20
SHIM_NOTE = "sweepkit: wandb.log is not read"  # how the W&B shim's note on the program's stderr begins
TRIAL_LOGS = ("stdout.log", "stderr.log", "sweepkit.log")  # in sweeps/<name>/trials/<n>/, shown by `logs`


def trial_dir(spec: Spec, number: int) -> Path:
    return spec.output / "trials" / str(number)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


LAUNCH_FILE = "program.json"  # the program's process group and start time, to find it again after a crash


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the PID it names
    one process for sure, since a PID may be reused once its process is gone. None: ended, or not Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name, in parentheses, may hold spaces
    if len(fields) <= 19 or fields[0] in ("Z", "X"):  # a zombie has ended: waiting for a reaper only
        return None
    return fields[19]


def record_launch(folder: Path, pid: int) -> None:
    """Note the program's process group in its trial folder: if the sweep dies (SIGKILL, out of memory) the
    program, in a session of its own, lives on; the retry stops it before it starts, so two attempts never
    write the same checkpoint folder at once."""
    with contextlib.suppress(OSError):
        (folder / LAUNCH_FILE).write_text(json.dumps({"pid": pid, "started": _started_at(pid)}))


def stop_leftover(folder: Path, grace: float) -> bool:
    """Stop the program an earlier attempt launched from `folder`, if it is still running; True if it was."""
    try:
        launch = json.loads((folder / LAUNCH_FILE).read_text())
        pid, started = int(launch["pid"]), launch["started"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if started is None or _started_at(pid) != started:
        return False  # gone (or another process has its PID now)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while _started_at(pid) == started and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        if _started_at(pid) != started:
            break
    return True


class ProgramPruned(TrialPruned):
    """A pruned program, with the steps it really reported before it ended (it may have gone on past the
    step the pruner judged, until the stop reached it)."""

    def __init__(self, message: str, steps: int | None = None) -> None:
        super().__init__(message)
        self.steps = steps


class Channel:
    """Reads the JSON lines a program appends to its channel file, a complete line at a time."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self.warn = warn
        self.stop_check = False  # the program said it checks the stop file
        self.events: list[dict[str, Any]] = []  # "fold" and "constraint" lines not yet handled, in order
        self.summary: dict[str, Any] = {}  # "summary" lines (a W&B run's summary at its end), merged in order
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[tuple[int | None, dict[str, Any]]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        rows = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                self.warn(f"ignored a line that is not JSON on the channel: {raw[:200]!r}")
                continue
            if not isinstance(row, dict):
                self.warn(f"ignored a channel line that is not a JSON object: {raw[:200]!r}")
                continue
            if "event" in row:  # protocol events, never metrics
                self.stop_check = self.stop_check or row["event"] == "stop_check"
                if row["event"] in ("fold", "constraint"):
                    self.events.append(row)
                elif row["event"] == "summary" and isinstance(row.get("metrics"), dict):
                    self.summary.update(row["metrics"])
                continue
            step = row.pop("step", None)
            rows.append((step if isinstance(step, int) and not isinstance(step, bool) else None, row))
        return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        return float(value)
    return None


class _Tee(threading.Thread):
    """--stream: copy a program's output to its log file and to the terminal, prefixed with the trial."""

    def __init__(self, source: IO[bytes], log: IO[bytes], prefix: str, out: IO[str]) -> None:
        super().__init__(daemon=True)
        self.source, self.log, self.prefix, self.out = source, log, prefix, out

    def run(self) -> None:
        for line in iter(self.source.readline, b""):
            self.log.write(line)
            self.log.flush()
            self.out.write(f"{self.prefix}{line.decode('utf-8', 'replace')}")
            self.out.flush()


def terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the program's whole process group, then SIGKILL after `grace` seconds.

    A second Ctrl+C while waiting kills at once: impatience must not leave the program running."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        # the leader is gone; make sure nothing else of its group lives on
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def _exit_waiter(proc: subprocess.Popen[bytes]) -> Callable[[float | None], None]:
    """Sleep up to `timeout` but wake the moment the program exits (`None` closes the waiter).

    Popen.wait(timeout) polls with growing sleeps, which added up to half a short trial's run time; a
    pidfd (Linux ≥ 5.3) becomes readable exactly when the process ends."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel

        def wait(timeout: float | None) -> None:
            if timeout is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=timeout)

        return wait

    def wait_fd(timeout: float | None) -> None:
        nonlocal fd
        if timeout is None:
            if fd >= 0:
                os.close(fd)
                fd = -1
        elif fd >= 0:
            select.select([fd], [], [], timeout)

    return wait_fd


class ProgramTrial:
    """The objective of a program sweep: `objective(params, trial)` runs the program and returns its metrics."""

    def __init__(
        self, spec: Spec, *, stream: bool = False, grace: float = GRACE_SECONDS, workdir: Path | None = None
    ) -> None:
        if not spec.trial.program and not spec.trial.command:
            raise ValueError("a program trial needs trial.program or trial.command")
        self.spec = spec
        self.stream = stream
        self.grace = grace
        # Like W&B's agent, the program runs in the folder the sweep was started from, unless trial.cwd says.
        self.cwd = (spec.base_dir / spec.trial.cwd) if spec.trial.cwd else (workdir or Path.cwd())

    def seed_of(self, number: int) -> int:
        """The seed of trial `number` when the trial does not carry one (a retry carries its original's)."""
        return trial_seed(self.spec.strategy.seed or 0, number)

    def __call__(self, params: dict[str, Any], trial: Any) -> dict[str, Any]:
        number: int = trial.number
        seed = getattr(trial, "seed", None)
        seed = self.seed_of(number) if seed is None else seed
        folder = trial_dir(self.spec, number)
        folder.mkdir(parents=True, exist_ok=True)
        retry_of = getattr(trial, "retry_of", None)
        if retry_of is not None:  # the attempt it repeats may have outlived its run (a SIGKILLed sweep)
            stop_leftover(trial_dir(self.spec, retry_of), self.grace)
        checkpoints = getattr(trial, "checkpoint_folder", None)
        for stale in ("metrics.jsonl", "STOP"):
            (folder / stale).unlink(missing_ok=True)
        params_file = folder / "params.json"
        params_file.write_text(json.dumps(params, indent=2, default=str))
        # budget.steps (--epochs-per-trial): in the environment, and for `${envvar:SWEEPKIT_MAX_STEPS}` in a command
        steps = {"SWEEPKIT_MAX_STEPS": str(self.spec.budget.steps)} if self.spec.budget.steps else {}
        argv = build_argv(
            self.spec.trial.command,
            self.spec.trial.program,
            params,
            interpreter=sys.executable,
            params_file=params_file,
            base_dir=self.spec.base_dir,
            environ={**os.environ, **steps},
        )
        (folder / "command.json").write_text(json.dumps(argv))
        env = {
            **without_wandb(os.environ),  # no inherited WANDB_RESUME/WANDB_DISABLED steering the trial's run
            **wandb_env(folder, params, sweep=self.spec.name, trial=number),
            "SWEEPKIT_SWEEP": self.spec.name,
            "SWEEPKIT_TRIAL": str(number),
            "SWEEPKIT_SEED": str(seed),
            "SWEEPKIT_TRIAL_SEED": str(seed),  # its first name, still set for programs that read it
            "SWEEPKIT_TRIAL_DIR": str(folder),
            "SWEEPKIT_PARAMS_FILE": str(params_file),
            "SWEEPKIT_CHANNEL": str(folder / "metrics.jsonl"),
            "SWEEPKIT_STOP_FILE": str(folder / "STOP"),
            # a trial cut short runs again: told so, with the checkpoint folder of its first attempt
            "SWEEPKIT_RESUMED": "1" if getattr(trial, "resumed", False) else "0",
            **({"SWEEPKIT_CHECKPOINT_DIR": str(checkpoints)} if checkpoints is not None else {}),
            **steps,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": with_shim(os.environ.get("PYTHONPATH")),  # wandb.log, read in the program's process
            # `python` in a command means the environment sweepkit runs in, activated or not.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **getattr(trial, "env", {}),  # the worker slot's GPUs (CUDA_VISIBLE_DEVICES)
        }
        return _Execution(self, trial, folder, argv, env).run()


class _Execution:
    """One launch of the program: start, watch metrics and limits, stop, and read the outcome."""

    def __init__(self, owner: ProgramTrial, trial: Any, folder: Path, argv: list[str], env: dict[str, str]) -> None:
        self.owner = owner
        self.spec = owner.spec
        self.trial = trial
        self.folder = folder
        self.argv = argv
        self.env = env
        self.log = (folder / "sweepkit.log").open("a", encoding="utf-8")
        self.channel = Channel(folder / "metrics.jsonl", self._warn)
        self.history: dict[str, list[tuple[int | None, Any]]] = {}
        self.last: dict[str, Any] = {}
        self._reported_steps: set[int] = set()

    def _warn(self, text: str) -> None:
        self.log.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.log.flush()

    def _absorb(self, rows: list[tuple[int | None, dict[str, Any]]], *, judge: bool = True) -> None:
        """Keep every row; with `judge`, show each new step of the sweep's metric to the pruner (rows after
        the one it prunes at are still kept: they are steps the program spent)."""
        name = self.spec.metric.name
        pruned: TrialPruned | None = None
        for step, row in rows:
            metrics = with_derived(self.spec.metric, row, self.last)  # a combined metric's curve, step by step
            for key, value in metrics.items():
                self.history.setdefault(key, []).append((step, value))
                self.last[key] = value
            value = _number(metrics.get(name))
            if not judge or pruned is not None or value is None or step is None or step in self._reported_steps:
                continue
            self._reported_steps.add(step)
            if value == value and abs(value) != float("inf"):
                try:
                    self.trial.report(value, step)
                except TrialPruned as exc:  # the pruner says stop
                    pruned = exc
        if pruned is not None:
            raise pruned

    def _poll(self) -> None:
        self._absorb(self.channel.poll())
        self._take_events()

    def _take_events(self) -> None:
        """The folds and constraints the program reported (`run.report_fold`, `run.set_constraint`), handed to the
        trial as a function's `report_fold` and `set_constraint` are: a fold goes to the pruner."""
        events, self.channel.events = self.channel.events, []
        pruned: TrialPruned | None = None
        for row in events:
            kind = row["event"]
            try:
                if kind == "constraint":
                    self.trial.set_constraint(row.get("name"), row.get("value"))
                elif pruned is None:
                    metrics = row["metrics"] if isinstance(row.get("metrics"), dict) else row.get("value")
                    self.trial.report_fold(row.get("fold"), metrics)
            except TrialPruned as exc:
                pruned = exc
            except ValueError as exc:  # a malformed line: the program's bug, said as such
                raise TrialError(f"the program's {kind} line {json.dumps(row)[:200]}: {exc}") from None
        if pruned is not None:
            raise pruned

    def run(self) -> dict[str, Any]:
        stdout = (self.folder / "stdout.log").open("wb")
        stderr = (self.folder / "stderr.log").open("wb")
        pipe = subprocess.PIPE if self.owner.stream else None
        try:
            proc = subprocess.Popen(
                self.argv,
                cwd=self.owner.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=pipe or stdout,
                stderr=pipe or stderr,
                start_new_session=True,  # its own process group: we can stop all of it, and Ctrl+C reaches only us
            )
        except FileNotFoundError:
            raise TrialError(f'cannot start the program: "{self.argv[0]}" not found') from None
        except PermissionError:
            raise TrialError(f'cannot start the program: "{self.argv[0]}" is not executable') from None
        record_launch(self.folder, proc.pid)
        watch = getattr(self.trial, "watch", None)
        if watch is not None:
            watch(proc.pid)  # CPU, memory and GPU use of the program's process tree
        cancelled = getattr(self.trial, "cancelled", None)
        tees = []
        if self.owner.stream:
            assert proc.stdout is not None and proc.stderr is not None
            prefix = f"[trial {self.trial.number}] "
            tees = [_Tee(proc.stdout, stdout, prefix, sys.stdout), _Tee(proc.stderr, stderr, prefix, sys.stderr)]
            for tee in tees:
                tee.start()
        timeout = self.spec.trial.timeout
        started = time.monotonic()
        exited = _exit_waiter(proc)
        try:
            while proc.poll() is None:
                now = time.monotonic()
                self._poll()
                if timeout is not None and now - started > timeout:
                    terminate_group(proc, self.owner.grace)
                    raise TrialError(f"timed out after {timeout:g}s (trial.timeout){self._tail_note()}")
                if cancelled is not None and cancelled.is_set():
                    raise TrialInterrupted("interrupted: the sweep was stopped")
                exited(POLL_SECONDS)
        except TrialPruned as exc:
            self._stop_pruned(proc)
            raise ProgramPruned(str(exc), self._steps_reported()) from None
        except BaseException:
            terminate_group(proc, self.owner.grace)
            raise
        finally:
            exited(None)  # releases the waiter
            for tee in tees:
                tee.join(timeout=5)
            stdout.close()
            stderr.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the program exited: nothing it started may outlive it
        try:
            self._poll()
        except TrialPruned:
            pass  # it finished anyway: keep its full result
        finally:
            self.log.close()
        return self._outcome(proc.returncode)

    def _stop_pruned(self, proc: subprocess.Popen[bytes]) -> None:
        """The stop file; a few seconds to leave for a program that checks it; then SIGTERM, SIGKILL.

        Then what it reported until it ended is read, for the pruner no longer: its steps are what it spent."""
        (self.folder / "STOP").write_text("pruned\n")
        if self.channel.stop_check:
            deadline = time.monotonic() + min(STOP_WAIT_SECONDS, self.owner.grace)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        else:
            self._warn("pruned: the program never said it checks the stop file, so it is stopped now (SIGTERM)")
        terminate_group(proc, self.owner.grace)
        self._absorb(self.channel.poll(), judge=False)  # a W&B script's rows too: written as it logged them
        self.log.close()

    def _shim_note(self) -> str:
        """Why a W&B script's rows may be missing: the note the shim wrote on the program's stderr, if any."""
        for line in reversed(tail(self.folder / "stderr.log", 200).splitlines()):
            if line.startswith(SHIM_NOTE):
                return f" ({line.strip()})"
        return ""

    def _steps_reported(self) -> int | None:
        """Training steps the program spent: counted from every step it reported, of any metric."""
        steps = {step for series in self.history.values() for step, _ in series if step is not None}
        return steps_spent(dict.fromkeys(steps | self._reported_steps, 0.0))

    def _tail_note(self) -> str:
        text = tail(self.folder / "stderr.log") or tail(self.folder / "stdout.log")
        return f"; last output:\n{text}" if text else ""

    def _outcome(self, code: int) -> dict[str, Any]:
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            raise TrialError(f"the program was killed by {name}{self._tail_note()}")
        if code != 0:
            raise TrialError(f"the program exited with code {code}{self._tail_note()}")
        summary = self.channel.summary
        for key, value in summary.items():
            self.last.setdefault(key, value)
        finals = {metric.name: self._final(metric, summary) for metric in self.spec.metric.each}
        metrics = {k: v for k, v in self.last.items() if not k.startswith("_")}
        return {**metrics, **{name: value for name, value in finals.items() if value is not None}}

    def _final(self, metric: MetricSpec, summary: dict[str, Any]) -> float | None:
        """One objective's value: its series per `metric.summary`, or W&B's summary (as on W&B); None when the
        trial reported folds instead (the objective is then their `fold_aggregation`)."""
        series = [v for _, v in self.history.get(metric.name, []) if _number(v) is not None]
        if not series and metric.name in summary:
            series = [summary[metric.name]]
        if not series and getattr(self.trial, "folds", None):  # the objective comes from its folds
            return None
        inputs = derived_inputs(metric)
        if not series and inputs:
            try:  # inputs logged only to W&B's summary: the combined metric from their final values
                series = [derive(metric, {**self.last, **summary})]
            except KeyError as exc:
                logged = [key for key in self.last if not key.startswith("_")]
                raise MetricMissing(
                    f'the program exited 0 but never reported "{exc.args[0]}", which the metric "{metric.name}" '
                    f"is computed from ({', '.join(inputs)}){did_you_mean(exc.args[0], logged)}"
                ) from None
            except ValueError as exc:
                raise TrialError(f'metric "{metric.name}": {exc}') from None
        if not series:
            logged = [key for key in self.last if not key.startswith("_")]
            if logged:
                shown = ", ".join(logged[:20]) + (", ..." if len(logged) > 20 else "")
                raise MetricMissing(
                    f'the program exited 0 but never reported "{metric.name}"; it reported {shown}'
                    f"{did_you_mean(metric.name, logged)}"
                )
            raise MetricMissing(
                f'the program exited 0 but never reported "{metric.name}": report it with sweepkit.init().log, '
                f"a JSON line on $SWEEPKIT_CHANNEL, or wandb.log{self._shim_note()}"
            )
        values = [_number(v) for v in series]
        numbers = [v for v in values if v is not None]
        if metric.summary == "best":
            value: float = max(numbers) if metric.maximize else min(numbers)
        elif metric.summary == "mean_last_k":
            value = statistics.fmean(numbers[-metric.last_k :])
        elif metric.name in summary and _number(summary[metric.name]) is not None:
            value = _number(summary[metric.name])  # type: ignore[assignment]  # W&B's summary wins, as on W&B
        else:
            value = numbers[-1]
        return value

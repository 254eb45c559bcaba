"""The checks a sweep passes before anything runs, shared by `sweepkit validate`, `sweepkit run`, `agent` and
`sweepkit.run()`: what `validate` calls valid must not fail `run` at its first trial. Nothing here opens the
store, imports the user's module or starts a process.
"""

from __future__ import annotations

import importlib.util
import math
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepkit.errors import SpecError, UsageError
from sweepkit.expr import ExprError
from sweepkit.space import DerivedError
from sweepkit.spec import Spec
from sweepkit.storage_url import check as check_url
from sweepkit.store import Store
from sweepkit.sweep._command import DEFAULT_COMMAND, _resolve_program, build_argv

DRAWS = 200  # points tried for one that computes and meets the constraints


@dataclass
class Checked:
    """What the checks found on the way: one sampled point (or why none), and its program's argv."""

    sample: dict[str, Any] | None = None
    why: str = ""
    argv: list[str] = field(default_factory=list)


def preflight(spec: Spec, *, cwd: Path, grid: bool = False, objective: Callable[..., Any] | None = None) -> Checked:
    """Raise SpecError (exit 2) for anything that would fail the sweep once it runs; `objective` is the
    callable `sweepkit.run(objective=)` was given, which replaces the file's trial."""
    if objective is None:
        _check_function(spec)
    _check_storage(spec, cwd)
    _check_output(spec)
    checked = _sample(spec, grid)
    if objective is None and (spec.trial.program or spec.trial.command) and not spec.trial.function:
        checked.argv = _check_program(spec, cwd, checked.sample or {})
    return checked


def _key(spec: Spec, native: str) -> str:
    """The key path as the user wrote it (`program`, in a W&B file, for trial.program)."""
    return spec.origins.get(native, native)


def _check_function(spec: Spec) -> None:
    """`module:callable` whose module exists: found, not imported (a training module may load torch)."""
    ref = spec.trial.function
    if not ref:
        return
    key = _key(spec, "trial.function")
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise SpecError(f'expected "module:callable" (e.g. "train:objective"), got "{ref}"', file=spec.file, key=key)
    if module.endswith(".py") or "/" in module:
        if not (spec.base_dir / module).is_file():
            raise SpecError(f"{spec.base_dir / module} does not exist", file=spec.file, key=key)
        return
    sys.path.insert(0, str(spec.base_dir))
    try:
        found = importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        found = False
    finally:
        sys.path.remove(str(spec.base_dir))
    if not found:
        raise SpecError(
            f'module "{module}" not found (looked in {spec.base_dir} and the Python path)', file=spec.file, key=key
        )


def _fail(spec: Spec, key: str, message: str) -> Exception:
    """A problem with a value the file set (its key) or a flag/argument replaced (no key to name)."""
    written = spec.resolved.get(key)
    if written is not None and str(written) == str(getattr(spec, key)):
        return SpecError(message, file=spec.file, key=spec.origins.get(key, key))
    return UsageError(f"--{key}: {message}")


def _check_storage(spec: Spec, cwd: Path) -> None:
    if spec.storage is None:
        return
    store = Store(spec.storage, cwd=cwd)  # opens nothing
    path = store.journal_path
    if path is None:
        try:
            check_url(spec.storage)
        except UsageError as exc:
            raise _fail(spec, "storage", str(exc)) from None
        return
    if path.is_dir():
        raise _fail(
            spec, "storage", f"{path} is a folder: name a journal file in it, e.g. journal:{path}/sweeps.journal"
        )
    parent = _first_existing(path.parent)
    if not parent.is_dir():
        raise _fail(spec, "storage", f"{parent} is a file, so the journal {path} can't be created under it")


def _check_output(spec: Spec) -> None:
    """sweeps/<name>/ is a folder the run writes files into: not a device, not under a file."""
    output, key = spec.output, spec.origins.get("output", "output")
    if output.exists() and not output.is_dir():
        raise SpecError(f"{output} exists and is not a folder: name a folder for the results", file=spec.file, key=key)
    parent = _first_existing(output)
    if not parent.is_dir():
        raise SpecError(f"{parent} is a file, so the folder {output} can't be made", file=spec.file, key=key)


def _first_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


class _RandomTrial:
    """A stand-in for an Optuna trial that draws each value uniformly (log-uniformly with `log`).

    Written here rather than an in-memory Optuna study because that costs ~0.3 ms per parameter per draw
    (6 s for a 20,000-parameter space); this point is only checked and shown, never stored."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if step is not None:
            return low + step * self.rng.randint(0, int((high - low) / step + 1e-9))
        if log:
            return math.exp(self.rng.uniform(math.log(low), math.log(high)))
        return self.rng.uniform(low, high)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        if log:
            return min(high, max(low, round(math.exp(self.rng.uniform(math.log(low), math.log(high))))))
        return low + step * self.rng.randint(0, (high - low) // step)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.rng.choice(list(choices))


def _sample(spec: Spec, grid: bool) -> Checked:
    """One feasible point. A derived value that cannot be computed at any point drawn is an error of the file
    (`expr: "float('inf')"`); one that fails only at some points fails those trials, as the engine does."""
    rng = random.Random(spec.strategy.seed or 0)
    why, failure = f"none feasible in {DRAWS} draws", None
    for _ in range(DRAWS):
        try:
            values = spec.space.sample(_RandomTrial(rng), grid=grid)
        except DerivedError as exc:
            failure = failure or exc
            why = f"none in {DRAWS} draws: {exc}"
            continue
        except ExprError as exc:  # a condition that cannot be computed at this point
            why = f"none in {DRAWS} draws: {exc}"
            continue
        if spec.space.violation(values) is None:
            return Checked(sample=spec.space.nest(values))
    if isinstance(failure, DerivedError):
        key = f"{spec.origins.get('parameters', 'parameters') or 'parameters'}.{failure.parameter}"
        raise SpecError(f"cannot be computed at any point drawn: {failure}", file=spec.file, key=key)
    return Checked(why=why)


def _check_program(spec: Spec, cwd: Path, sample: dict[str, Any]) -> list[str]:
    """The command's macros, and a program that exists where the trial will look for it (the same
    resolution as `_command.build_argv`, from the folder the trial runs in)."""
    command, program = spec.trial.command, spec.trial.program
    try:
        with tempfile.TemporaryDirectory() as tmp:
            argv = build_argv(
                command, program, sample, interpreter=sys.executable,
                params_file=Path(tmp) / "params.json", base_dir=spec.base_dir,
            )  # fmt: skip
    except ValueError as exc:
        raise SpecError(
            str(exc), file=spec.file, key=_key(spec, "trial.command" if command else "trial.program")
        ) from None
    run_in = (spec.base_dir / spec.trial.cwd) if spec.trial.cwd else cwd
    uses_program = program is not None and "${program}" in [str(item) for item in (command or DEFAULT_COMMAND)]
    if uses_program:
        assert program is not None
        resolved = Path(_resolve_program(program, spec.base_dir))
        if not (run_in / resolved).exists() and not ("/" not in program and shutil.which(program)):
            raise SpecError(
                f"{program} not found: looked in {spec.base_dir} (the sweep file's folder) and {run_in}",
                file=spec.file,
                key=_key(spec, "trial.program"),
            )
    first = argv[0]
    where = f"in {run_in}" if "/" in first else "on the PATH"
    if not ((run_in / first).exists() if "/" in first else shutil.which(first)):
        key = _key(spec, "trial.command" if command else "trial.program")
        raise SpecError(f'"{first}", the program the command starts, is not found {where}', file=spec.file, key=key)
    return argv


__all__ = ["Checked", "preflight"]

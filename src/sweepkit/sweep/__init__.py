"""Running a sweep: the `run` entry point used by the CLI and by `sweepkit.run` from Python."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import optuna

from sweepkit import pruner
from sweepkit.errors import SpecError, SweepFailed, UsageError
from sweepkit.pruner import Pruning
from sweepkit.results import SweepResult, counts_toward_budget, write_outputs
from sweepkit.spec import Spec, load_spec
from sweepkit.spec._units import parse_duration
from sweepkit.store import ATTR, EMBEDDED_DIR, Store
from sweepkit.strategy import Strategy, build
from sweepkit.sweep._function import resolve_function
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._program import ProgramTrial
from sweepkit.sweep._runner import Engine, Reporter, TrialContext

DEFAULT_TRIALS = 100  # when a continuous space has no budget at all (W&B would run until stopped)


def _resolve(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str],
    *,
    trials: int | None,
    timeout: float | str | None,
    seed: int | None,
    storage: str | None,
    cwd: Path | None,
) -> Spec:
    spec = load_spec(source, overrides, cwd=cwd)
    updates: dict[str, Any] = {}
    if trials is not None:
        if trials < 1:
            raise SpecError(f"--trials must be at least 1, got {trials}")
        updates["trials"] = trials
    if timeout is not None:
        try:
            updates["timeout"] = parse_duration(timeout)
        except ValueError as exc:
            raise SpecError(f"--timeout: {exc}") from None
    if updates:
        spec.budget = spec.budget.model_copy(update=updates)
    if seed is not None:
        spec.strategy = spec.strategy.model_copy(update={"seed": seed})
    if storage is not None:
        spec.storage = storage
    if spec.budget.trials is None and spec.budget.timeout is None and not spec.space.finite:
        spec.budget = spec.budget.model_copy(update={"trials": DEFAULT_TRIALS})
        spec.notes.append(f"no budget given: running {DEFAULT_TRIALS} trials (set budget.trials or --trials)")
    spec.resolved.setdefault("budget", {}).update({k: v for k, v in spec.budget.model_dump().items() if v is not None})
    return spec


def prepare(spec: Spec, *, cwd: Path, resume: bool = False) -> tuple[Store, Strategy]:
    """The store and the strategy. When resuming, a seeded sampler's seed moves on by the number of trials
    already in the sweep: reseeded as at the start, it would propose the very points it already tried."""
    store = Store(spec.storage, cwd=cwd)
    seed = spec.strategy.seed
    if resume and seed is not None and spec.strategy_name != "qmc" and spec.name in store.names():
        done = len(store.load(spec.name).get_trials(deepcopy=False))
        seed = (seed + done) % 2**32
    strategy = build(
        spec.strategy_name,
        spec.space,
        trials=spec.budget.trials,
        seed=seed,
        options=spec.strategy.options,
        file=spec.file,
    )
    return store, strategy


def early_stopping(spec: Spec) -> Pruning:
    """The sweep's pruner, from its `pruner` / `scheduler` / `early_terminate` or its strategy word."""
    return pruner.build(
        pruner=spec.extra.get("pruner"),
        scheduler=spec.extra.get("scheduler"),
        early_terminate=spec.extra.get("early_terminate"),
        strategy=spec.family or spec.strategy_name,
        max_steps=spec.budget.steps,
        maximize=spec.metric.maximize,
        file=spec.file,
        origins=spec.origins,
    )


def _open_study(spec: Spec, store: Store, strategy: Strategy, pruning: Pruning) -> optuna.Study:
    direction = "maximize" if spec.metric.maximize else "minimize"
    study = optuna.create_study(
        study_name=spec.name,
        storage=store.storage,
        sampler=strategy.sampler,
        pruner=pruning.pruner,  # NopPruner unless the file asks: never Optuna's default median pruner
        direction=direction,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise UsageError(
            f'sweep "{spec.name}" in {store.describe()} was started to {study.direction.name.lower()}, '
            f"but the sweep file says {direction}: use --fresh to start over (the old one is kept)"
        )
    meta = {
        "spec": json.loads(json.dumps(spec.resolved, default=str)),
        "dialect": spec.dialect,
        "strategy": strategy.name,
        "strategy_reason": strategy.reason,
        "grid": strategy.grid,
        "metric": spec.metric.name,
        "output": str(spec.output),
    }
    if study.user_attrs.get(ATTR) != meta:
        study.set_user_attr(ATTR, meta)
    return study


def _silent_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def run(
    source: str | Path | Mapping[str, Any],
    *,
    objective: Callable[..., Any] | None = None,
    trials: int | None = None,
    timeout: float | str | None = None,
    seed: int | None = None,
    storage: str | None = None,
    fresh: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    overrides: Iterable[str] = (),
    cwd: str | Path | None = None,
    reporter: Reporter | None = None,
    stream: bool = False,
) -> SweepResult:
    """Run (or resume) a sweep and return its results.

    `source` is a sweep file or a dict spec; `objective` replaces the file's `trial.function` (or program).
    `stream` interleaves program trials' output on the terminal, prefixed with the trial number. A sweep whose
    name is already in the store resumes, counting its finished trials toward the budget; `fresh=True`
    keeps the old one as `<name>.N` and starts over. Raises `SpecError` for a bad spec and `SweepFailed`
    when trials keep failing.
    """
    from sweepkit.progress import Progress

    _silent_optuna()
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    spec = _resolve(source, overrides, trials=trials, timeout=timeout, seed=seed, storage=storage, cwd=workdir)
    if objective is None:
        if spec.trial.function:
            objective = resolve_function(spec.trial.function, spec.base_dir, file=spec.file)
        elif spec.trial.program or spec.trial.command:
            objective = ProgramTrial(spec, stream=stream, workdir=workdir)
        else:
            raise SpecError(
                "nothing to run: set trial.function (module:callable), trial.program or trial.command, "
                "or pass objective= from Python",
                file=spec.file,
                key="trial",
            )
    store, strategy = prepare(spec, cwd=workdir, resume=not fresh)
    pruning = early_stopping(spec)
    reporter = reporter or Progress(quiet=quiet, verbose=verbose)
    for note in [*spec.notes, *pruning.notes]:
        reporter.note(f"note: {note}")
    if pruning.name != "none":
        reporter.note(f"early stopping: {pruning.description}")
    if "resources" in spec.extra:
        reporter.note("note: resources are read but trials run one at a time in this version")

    if fresh and spec.name in store.names():
        kept = store.archive(spec.name)
        if spec.output.exists():
            shutil.move(str(spec.output), str(spec.output.with_name(kept)))
        reporter.note(f"note: the previous sweep {spec.name} is kept as {kept}")
    study = _open_study(spec, store, strategy, pruning)

    with RunLock(workdir / EMBEDDED_DIR / "runs", spec.name) as lock:
        engine = Engine(
            spec, study, strategy, objective, reporter, lock=lock, seed=spec.strategy.seed, pruning=pruning
        )
        recovered = engine.recover()
        if recovered:
            reporter.note(f"note: {recovered} trial(s) cut short by an earlier run will run again")
        done = sum(counts_toward_budget(t) for t in engine.trials())
        reporter.started(spec.name, spec.budget.trials, done, strategy.name, strategy.reason, spec.metric.goal)
        interrupted = False
        try:
            engine.loop()
        except KeyboardInterrupt:
            engine.stop_reason = "interrupted (Ctrl+C): run again to resume"
            interrupted = True
        finally:
            result = engine.result()
            write_outputs(result, spec.resolved)
            reporter.finished(result)
    if interrupted:
        raise KeyboardInterrupt
    if engine.failing:
        raise SweepFailed(result.stop_reason)
    counts = result.counts
    if counts["FAILED"] and not counts["COMPLETE"] and not counts["PRUNED"]:
        last = next((t.error for t in reversed(result.trials) if t.error), "")
        raise SweepFailed(
            f"all {counts['FAILED']} trials failed, which is probably a bug in the trial; the last error: {last}"
        )
    return result


__all__ = ["SweepFailed", "TrialContext", "early_stopping", "prepare", "run"]

"""Running a sweep: the `run` entry point used by the CLI and by `sweepkit.run` from Python."""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from sweepkit import pruner, tracking
from sweepkit.errors import SpecError, SweepFailed, UsageError
from sweepkit.pruner import Pruning
from sweepkit.resources import SlotPlan, TrialMonitor, monitor_unavailable, resolve_slots
from sweepkit.results import SweepResult, write_outputs
from sweepkit.seeding import SEED_LIMIT
from sweepkit.spec import ResourcesSpec, Spec, folder_name, load_spec, parse_duration
from sweepkit.store import EMBEDDED_DIR, Store
from sweepkit.strategy import Strategy, build
from sweepkit.sweep._command import format_args
from sweepkit.sweep._function import resolve_function
from sweepkit.sweep._objectives import pruner_conflict
from sweepkit.sweep._owners import RunLock
from sweepkit.sweep._preflight import preflight
from sweepkit.sweep._program import TRIAL_LOGS, ProgramTrial
from sweepkit.sweep._runlog import RunLog, parse_until
from sweepkit.sweep._runner import Engine, Reporter, TrialContext
from sweepkit.sweep._slots import Executor, InProcess, WorkerPool, importable_ref
from sweepkit.sweep._stops import Deadline
from sweepkit.trial_state import State, SweepMeta, counts_toward_budget, state_of, store_sweep_meta, sweep_meta

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
    steps: int | None = None,
) -> Spec:
    spec = load_spec(source, overrides, cwd=cwd)
    updates: dict[str, Any] = {}
    if trials is not None:
        if trials < 1:
            raise SpecError(f"--trials must be at least 1, got {trials}")
        updates["trials"] = trials
    if steps is not None:  # --epochs-per-trial: the most steps a trial trains for (budget.steps)
        if steps < 1:
            raise SpecError(f"--epochs-per-trial must be at least 1, got {steps}")
        updates["steps"] = steps
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


def _sweep_seed(spec: Spec, stored: optuna.Study | None) -> int:
    """The sweep's seed: the file's or --seed; else the one stored when the sweep began (so a resume and every
    agent derive the same trial seeds); else one chosen now, stored with the sweep when it opens."""
    kept = sweep_meta(stored).get("seed") if stored is not None else None
    kept = kept if isinstance(kept, int) and not isinstance(kept, bool) else None
    given = spec.strategy.seed
    if given is not None and kept is not None and given != kept:
        raise SpecError(
            f'sweep "{spec.name}" was started with seed {kept} (its trials\' seeds derive from it), but this run '
            f"gives seed {given}: leave the seed out (or give {kept}) to resume it, or use --fresh to start over "
            "(the old one is kept)",
            file=spec.file,
            key="strategy.seed",
        )
    if given is not None:
        return given
    if kept is not None:
        return kept
    import secrets

    return secrets.randbelow(SEED_LIMIT)


def prepare(spec: Spec, *, cwd: Path, resume: bool = False) -> tuple[Store, Strategy]:
    """The store and the strategy. A sweep always has a seed (`spec.strategy.seed` is set here: given, stored
    or chosen). When resuming, a seeded sampler's seed moves on by the number of trials already in the
    sweep: reseeded as at the start, it would propose the very points it already tried."""
    store = Store(spec.storage, cwd=cwd)
    stored = store.load(spec.name) if resume and spec.name in store.names() else None
    spec.strategy = spec.strategy.model_copy(update={"seed": _sweep_seed(spec, stored)})
    seed = spec.strategy.seed
    if stored is not None and seed is not None and spec.strategy_name != "qmc":
        done = len(stored.get_trials(deepcopy=False))
        seed = (seed + done) % 2**32
    strategy = build(
        spec.strategy_name,
        spec.space,
        trials=spec.budget.trials,
        seed=seed,
        options=spec.strategy.options,
        file=spec.file,
        objectives=len(spec.metric.each),
    )
    return store, strategy


def early_stopping(spec: Spec) -> Pruning:
    """The sweep's pruner, from its `pruner` / `scheduler` / `early_terminate` or its strategy word."""
    pruning = pruner.build(
        pruner=spec.pruner,
        scheduler=spec.scheduler,
        early_terminate=spec.early_terminate,
        strategy=spec.family or spec.strategy_name,
        max_steps=spec.budget.steps,
        maximize=spec.metric.maximize,
        file=spec.file,
        origins=spec.origins,
    )
    conflict = pruner_conflict(spec, pruning)  # none on a multi-objective sweep: exit 2, saying why
    if conflict is not None:
        raise conflict
    return pruning


def _open_study(spec: Spec, store: Store, strategy: Strategy, pruning: Pruning) -> optuna.Study:
    directions = [o.goal for o in spec.metric.each]  # one per objective: Optuna's multi-objective study
    study = optuna.create_study(
        study_name=spec.name,
        storage=store.storage,
        sampler=strategy.sampler,
        pruner=pruning.pruner,  # NopPruner unless the file asks: never Optuna's default median pruner
        directions=directions,
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise UsageError(
            f'sweep "{spec.name}" in {store.describe()} was started to {", ".join(stored)}, '
            f"but the sweep file says {', '.join(directions)}: use --fresh to start over (the old one is kept)"
        )
    meta: SweepMeta = {
        "spec": json.loads(json.dumps(spec.resolved, default=str)),
        "dialect": spec.dialect,
        "strategy": strategy.name,
        "strategy_reason": strategy.reason,
        "grid": strategy.grid,
        "metric": spec.metric.name,
        "output": str(spec.output),
        "base_dir": str(spec.base_dir),  # where `sweepkit agent` finds the trial's code
        "seed": spec.strategy.seed,  # the sweep's seed, given or chosen: agents and resumes derive trial seeds from it
    }
    changed = _space_changes(sweep_meta(study).get("spec"), meta["spec"])
    if changed and study.get_trials(deepcopy=False):
        # Resumed, the old trials would steer the strategy and count toward the budget, and nothing would run.
        raise SpecError(
            f'sweep "{spec.name}" in {store.describe()} was run with another search space ({"; ".join(changed)}): '
            "use --fresh to start over (the old one is kept), or give the sweep another name",
            file=spec.file,
        )
    store_sweep_meta(study, meta)  # with its schema version; written when it changed
    names = [o.name for o in spec.metric.each]
    if study.metric_names != names:
        with warnings.catch_warnings():  # marked experimental since Optuna 3.2; the dashboard reads it
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)  # the dashboard's axes say "val_loss", not "Objective 0"
    return study


# What the stored trials' values mean; the budget, the strategy and metric.target may change on a resume.
_SPACE_KEYS = ("parameters", "constraints", "metric.name")


def _space_changes(before: Any, after: dict[str, Any], most: int = 5) -> list[str]:
    """The key paths where the stored sweep's space differs from this run's: `parameters.x.max: 1 → 2`."""
    if not isinstance(before, dict):
        return []
    found: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in [*a, *(k for k in b if k not in a)]:
                walk(a.get(key), b.get(key), f"{path}.{key}")
        elif a != b:
            shown = "added" if a is None else "removed" if b is None else f"{json.dumps(a)} → {json.dumps(b)}"
            found.append(f"{path.lstrip('.')}: {shown}")

    def get(spec: dict[str, Any], path: str) -> Any:
        for key in path.split("."):
            spec = spec.get(key) if isinstance(spec, dict) else None  # type: ignore[assignment]
        return spec

    for key in _SPACE_KEYS:
        walk(get(before, key), get(after, key), key)
    return found[:most] + ([f"{len(found) - most} more"] if len(found) > most else [])


def _record_environment(spec: Spec, note: Callable[[str], None], *, role: str) -> None:
    """This run's entry in sweeps/<name>/environment.json (docs/reproducibility.md); a record that can't be
    written is a note, never a failed sweep."""
    from sweepkit import environment

    entry = environment.collect(seed=spec.strategy.seed, folder=spec.base_dir, role=role)
    try:
        environment.record(spec.output, sweep=spec.name, seed=spec.strategy.seed, entry=entry)
    except OSError as exc:
        note(f"note: could not write {spec.output / environment.FILE}: {exc}")


def _silent_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _slots(spec: Spec, workers: int | None, gpu_ids: Any) -> SlotPlan:
    """How many trials at once, and each slot's GPUs: `--workers`/`resources.workers`, `gpus_per_trial`,
    `--gpu-ids`/`resources.gpu_ids`."""
    resources = spec.resources or ResourcesSpec()  # validated when the file was loaded
    if workers is not None:
        if workers < 1:
            raise SpecError(f"--workers must be at least 1, got {workers}")
    else:
        workers = resources.workers
    ids = gpu_ids if gpu_ids is not None else resources.gpu_ids
    return resolve_slots(workers, resources.gpus_per_trial, ids)


def _objective(
    spec: Spec, objective: Callable[..., Any] | None, *, stream: bool, workdir: Path, in_workers: bool
) -> Any:
    """What a trial calls. A function that worker processes will import is not imported here too: a
    training module that loads torch or a dataset at import would cost the sweep process as much."""
    if objective is not None:
        return objective
    if spec.trial.function:
        if in_workers:
            return None
        return resolve_function(spec.trial.function, spec.base_dir, file=spec.file)
    if spec.trial.program or spec.trial.command:
        return ProgramTrial(spec, stream=stream, workdir=workdir)
    raise SpecError(
        "nothing to run: set trial.function (module:callable), trial.program or trial.command, "
        "or pass objective= from Python",
        file=spec.file,
        key="trial",
    )


def _executor(
    spec: Spec, objective: Any, workers: int, slot_envs: list[dict[str, str]], *, workdir: Path
) -> tuple[Executor, str | None]:
    """Where trials run: the main thread for one worker; N slot threads for programs; N warm worker
    processes for Python functions (threads when the function can't be imported by a fresh process)."""
    if objective is not None and workers == 1 and not any(slot_envs[0].values()):
        return InProcess(objective), None
    if isinstance(objective, ProgramTrial):
        return InProcess(objective, slots=workers), None
    if objective is None:
        ref, base_dir = spec.trial.function, spec.base_dir
    else:
        ref, base_dir = importable_ref(objective), None
    if ref is None:
        note = (
            "the objective is defined in __main__ or is a lambda, so a worker process can't import it: "
            f"its {workers} workers are threads of this process (move it into a module for real processes)"
        )
        return InProcess(objective, slots=workers), note
    pool = WorkerPool(ref, base_dir, slot_envs, cwd=workdir, timeout=spec.trial.timeout, file=spec.file)
    pool.start()
    return pool, None


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
    workers: int | None = None,
    gpu_ids: Any = None,
    until: float | None = None,
    steps: int | None = None,
) -> SweepResult:
    """Run (or resume) a sweep and return its results.

    `source` is a sweep file or a dict spec; `objective` replaces the file's `trial.function` (or program).
    `workers` runs that many trials at once (else `resources.workers`, else 1); `gpu_ids` ("0,1") gives
    each slot its GPUs with `resources.gpus_per_trial`. `until` is a wall-clock
    time (`time.time()`) at which running trials are stopped and queued for the next run. `steps` sets
    budget.steps (`--epochs-per-trial`): the most steps a trial trains for. `stream`
    interleaves program trials' output on the terminal, prefixed with the trial number. A sweep whose
    name is already in the store resumes, counting its finished trials toward the budget; `fresh=True`
    keeps the old one as `<name>.N` and starts over. Raises `SpecError` for a bad spec and `SweepFailed`
    when trials keep failing.
    """
    _silent_optuna()
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    spec = _resolve(
        source, overrides, trials=trials, timeout=timeout, seed=seed, storage=storage, cwd=workdir, steps=steps
    )
    return _execute(
        spec,
        objective=objective,
        workdir=workdir,
        fresh=fresh,
        quiet=quiet,
        verbose=verbose,
        reporter=reporter,
        stream=stream,
        workers=workers,
        gpu_ids=gpu_ids,
        until=until,
    )


def join(
    name: str,
    *,
    storage: str | None = None,
    workers: int | None = None,
    cwd: str | Path | None = None,
    quiet: bool = False,
    verbose: bool = False,
    reporter: Reporter | None = None,
    stream: bool = False,
    gpu_ids: Any = None,
    until: float | None = None,
    count: int | None = None,
) -> SweepResult:
    """`sweepkit agent`: join a sweep that is already in the store (started by `run` on any machine) and
    run its trials until its budget is spent, sharing the strategy through the store; `count` (W&B's
    `--count`) stops this agent after that many trials."""
    if count is not None and count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    _silent_optuna()
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    store = Store(storage, cwd=workdir)
    study = store.load(name)  # an unknown name: the store lists the known ones
    name = study.study_name  # `name` may have been the sweep's label
    meta = sweep_meta(study)
    if not isinstance(meta.get("spec"), dict):
        raise UsageError(f'sweep "{name}" was not started by sweepkit: nothing tells an agent what to run')
    stored_dir = Path(meta.get("base_dir") or workdir)
    base = stored_dir if stored_dir.is_dir() else workdir
    label = meta["spec"].get("name")  # the label it was run under, kept while it still names this sweep
    spec = load_spec({**meta["spec"], "name": label if label and folder_name(label) == name else name}, cwd=base)
    spec.storage = storage
    if isinstance(meta.get("seed"), int):  # the sweep's seed, which a --seed may have set over the file's
        spec.strategy = spec.strategy.model_copy(update={"seed": meta["seed"]})
    return _execute(
        spec,
        objective=None,
        workdir=workdir,
        fresh=False,
        quiet=quiet,
        verbose=verbose,
        reporter=reporter,
        stream=stream,
        workers=workers,
        gpu_ids=gpu_ids,
        until=until,
        agent=True,
        count=count,
    )


@dataclass
class _Placement:
    """Where the trials run: the executor (a Ray one is built before the study opens: a cluster that can't
    hold a trial is a user error said first), the slots' environments, and resource sampling."""

    objective: Callable[..., Any] | None
    slot_envs: list[dict[str, str]]
    executor: Executor | None = None
    monitor: Callable[[int, int], Any] | None = None
    notes: list[str] = field(default_factory=list)


def _place(
    spec: Spec, objective: Callable[..., Any] | None, *, stream: bool, workdir: Path, workers: int | None, gpu_ids: Any
) -> _Placement:
    if spec.resources is not None and spec.resources.backend == "ray":  # Ray places the trials and their GPUs
        from sweepkit.sweep._ray import build_ray_executor

        objective = _objective(spec, objective, stream=stream, workdir=workdir, in_workers=True)
        ray_executor = build_ray_executor(spec, objective=objective, workers=workers, workdir=workdir)
        slot_envs: list[dict[str, str]] = [{} for _ in range(ray_executor.slots)]
        return _Placement(objective, slot_envs, ray_executor, notes=list(getattr(ray_executor, "notes", [])))
    plan = _slots(spec, workers, gpu_ids)
    in_workers = len(plan) > 1 or any(slot.gpus for slot in plan)
    objective = _objective(spec, objective, stream=stream, workdir=workdir, in_workers=in_workers)
    placement = _Placement(objective, [slot.env() for slot in plan], notes=list(plan.notes))
    unmonitored = monitor_unavailable() if in_workers or isinstance(objective, ProgramTrial) else None
    if unmonitored:
        placement.notes.append(unmonitored)
    else:
        placement.monitor = lambda pid, slot: TrialMonitor(pid, gpus=plan[slot].gpus).start()
    return placement


def _execute(
    spec: Spec,
    *,
    objective: Callable[..., Any] | None,
    workdir: Path,
    fresh: bool,
    quiet: bool,
    verbose: bool,
    reporter: Reporter | None,
    stream: bool,
    workers: int | None,
    gpu_ids: Any,
    until: float | None,
    agent: bool = False,
    count: int | None = None,
) -> SweepResult:
    from sweepkit.progress import Progress

    run_started = time.time()
    preflight(spec, cwd=workdir, objective=objective)  # the checks `validate` makes, before anything runs
    placement = _place(spec, objective, stream=stream, workdir=workdir, workers=workers, gpu_ids=gpu_ids)
    store, strategy = prepare(spec, cwd=workdir, resume=not fresh)
    pruning = early_stopping(spec)
    reporter = RunLog(reporter or Progress(quiet=quiet, verbose=verbose), workdir / EMBEDDED_DIR / "logs", spec.name)
    for note in [*spec.notes, *pruning.notes, *placement.notes]:
        reporter.note(f"note: {note}")
    if pruning.name != "none":
        reporter.note(f"early stopping: {pruning.description}")

    if fresh and spec.name in store.names():
        kept = store.archive(spec.name)
        if spec.output.exists():
            shutil.move(str(spec.output), str(spec.output.with_name(kept)))
        reporter.note(f"note: the previous sweep {spec.name} is kept as {kept}")
    study = _open_study(spec, store, strategy, pruning)
    _record_environment(spec, reporter.note, role="agent" if agent else "run")
    trackers = tracking.build(spec, note=reporter.note)
    for tracker in trackers:
        tracker.sweep_started(spec, study)  # a tracking server that is down stops the run before any trial
    executor = placement.executor
    if executor is None:
        n_workers = len(placement.slot_envs)
        executor, executor_note = _executor(spec, placement.objective, n_workers, placement.slot_envs, workdir=workdir)
        if executor_note:
            reporter.note(f"note: {executor_note}")

    with RunLock(workdir / EMBEDDED_DIR / "runs", spec.name) as lock:
        lock.local_store = store.journal_path is not None or (store.url or "").startswith("sqlite")
        engine = _engine(spec, study, strategy, executor, reporter, lock, pruning, placement, trackers, agent=agent)
        engine.max_trials = count
        event = "failure"  # unless the loop ends as below (a store fault raises through)
        try:
            with Deadline(until, engine.reach_deadline):
                engine.loop()
            event = "failure" if engine.failing or engine.user_error is not None else "finish"
        except KeyboardInterrupt:
            engine.stop_reason = "interrupted (Ctrl+C): run again to resume"
            event = "interrupted"
        finally:
            executor.close()
            result = _close_run(spec, engine, trackers, reporter, event, run_started, workdir)
    if event == "interrupted":
        raise KeyboardInterrupt
    if engine.user_error is not None:
        raise engine.user_error
    if engine.failing:
        raise SweepFailed(result.stop_reason)
    all_failed = _all_failed(engine, result)
    if all_failed:
        raise SweepFailed(all_failed)
    return result


def _engine(
    spec: Spec,
    study: optuna.Study,
    strategy: Strategy,
    executor: Executor,
    reporter: Reporter,
    lock: RunLock,
    pruning: Pruning,
    placement: _Placement,
    trackers: list[Any],
    *,
    agent: bool,
) -> Engine:
    """The engine of this run, after crash recovery (trials a dead run left are queued again)."""
    engine = Engine(
        spec,
        study,
        strategy,
        executor,
        reporter,
        lock=lock,
        seed=spec.strategy.seed,
        pruning=pruning,
        retries=spec.trial.retries,
        slot_envs=placement.slot_envs,
        monitor=placement.monitor,
        trackers=trackers,
    )
    if agent or not lock.alone():
        # Other processes ask the same sweep: a sampler seeded like theirs would propose their points.
        study.sampler.reseed_rng()
    recovered = engine.recovery.recover(engine.trials())
    if recovered:
        reporter.note(f"note: {recovered} trial(s) cut short by an earlier run will run again")
    done = sum(counts_toward_budget(t) for t in engine.trials())
    reporter.started(spec.name, spec.budget.trials, done, strategy.name, strategy.reason, spec.metric.goal)
    return engine


def _close_run(
    spec: Spec,
    engine: Engine,
    trackers: list[Any],
    reporter: Reporter,
    event: str,
    run_started: float,
    workdir: Path,
) -> SweepResult:
    """The run ended (any way): the outputs, the trackers, the notification, the display."""
    result = engine.result()
    result.storage = spec.storage  # where `sweepkit report` and `result.study` find it
    result.workdir = workdir
    write_outputs(result, spec.resolved)
    for tracker in trackers:  # after the outputs: trackers attach trials.csv and the report
        try:
            tracker.sweep_finished(result)
        except Exception as exc:  # a copy of what the store holds: never lose the sweep over it
            reporter.note(f"note: {type(tracker).__name__} could not finish: {exc}")
    if event == "finish" and _all_failed(engine, result):
        event = "failure"
    _notify_end(spec, result, event, started=run_started, warn=reporter.note, cwd=workdir)
    reporter.finished(result)
    return result


def _all_failed(engine: Engine, result: SweepResult) -> str | None:
    """Why the sweep failed when every trial that ran failed (None when any completed or was pruned)."""
    counts = result.counts
    failed = sum(state_of(t) == State.FAILED for t in engine.trials())  # not those interrupted or lost and retried
    if failed and not counts["COMPLETE"] and not counts["PRUNED"]:
        last = next((t.error for t in reversed(result.trials) if t.error), "")
        return f"all {failed} trials failed, which is probably a bug in the trial; the last error: {last}"
    return None


def _notify_end(
    spec: Spec, result: SweepResult, event: str, *, started: float, warn: Callable[[str], None], cwd: Path
) -> None:
    """The file's `notify:` section, when the run ends: never fatal (a warning, on screen and in the run log)."""
    from sweepkit.sweep._notify import notify, settings

    try:
        notify(settings(spec), result, event, started=started, warn=warn, cwd=str(cwd))
    except Exception as exc:  # noqa: BLE001 - a notification must never turn a sweep's outcome into a traceback
        warn(f"warning: notify: {type(exc).__name__}: {exc}")


__all__ = [
    "TRIAL_LOGS",
    "RunLock",
    "SweepFailed",
    "TrialContext",
    "early_stopping",
    "format_args",
    "join",
    "parse_until",
    "preflight",
    "prepare",
    "run",
]

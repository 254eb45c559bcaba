"""Per-trial overhead of sweepkit over raw Optuna, same sampler, same store, measured in the same run.

    python benchmarks/overhead.py               # 1000 trials per random run, 500 per TPE run (RESULTS.md)
    python benchmarks/overhead.py --quick       # 200 trials per run
    python benchmarks/overhead.py --trials 500 --tpe-trials 500 --repeats 5
    python benchmarks/overhead.py --profile     # cProfile of one sweepkit random/journal run instead

The objective is a no-op over a small space (two floats, one of them log-scaled, a categorical of three, an
int), so the time measured is the framework's own: ask, suggest, tell, store writes and, for sweepkit, its
engine loop, records and output files. Both sides are timed end to end (opening the store and creating the
study included; for sweepkit also reading the spec and writing its output files) and divided by the number of
trials.

Raw anchor: `optuna.create_study(storage=..., sampler=...)` + `study.optimize(objective, n_trials=N)`.
sweepkit:   `sweepkit.run(spec, objective=fn, trials=N, quiet=True, cwd=folder, storage=...)`.

Stores: the journal file is sweepkit's embedded store (`.sweepkit/sweeps.journal`, `storage=None`), which the
raw side opens as `JournalStorage(JournalFileBackend(<same path>))`; SQLite is `sqlite:///<folder>/sweeps.db`
on both sides. Every measurement gets a fresh temporary folder and store file. Each configuration runs
`--repeats` times, raw and sweepkit interleaved (the order flips every repeat, and each repeat walks all
configurations before the next one starts, so slow drift on the machine hits both sides alike); the median is
reported. The targets are printed as PASS/MISS figures: the script exits 0 either way.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

import sweepkit

SAMPLERS = ("random", "tpe")
STORES = ("journal", "sqlite")
RATIO_TARGET = 1.15  # sweepkit ms/trial ÷ raw Optuna ms/trial, same sampler and store
EMBEDDED_TARGET_MS = 5.0  # sweepkit, random, embedded (journal) store, at TARGET_TRIALS trials
TARGET_TRIALS = 1000
# TPE rows run at most this many trials unless --tpe-trials says otherwise: at 1000 trials the full run
# (4 configurations x 3 repeats x 2 sides) takes ~10 min on 2 cores, mostly SQLite commits; TPE at 500 keeps
# it near 8 min.
TPE_DEFAULT_TRIALS = 500
OPTIMIZERS = ("adam", "sgd", "rmsprop")

SPEC_PARAMETERS: dict[str, Any] = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
    "optimizer": {"distribution": "categorical", "values": list(OPTIMIZERS)},
    "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
}


# -- the two sides ----------------------------------------------------------------------------------------
def _cheap(lr: float, dropout: float, optimizer: str, layers: int) -> float:
    return lr * layers + dropout + OPTIMIZERS.index(optimizer)


def raw_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    optimizer = trial.suggest_categorical("optimizer", list(OPTIMIZERS))
    layers = trial.suggest_int("layers", 1, 8)
    return _cheap(lr, dropout, optimizer, layers)


def sweepkit_objective(params: dict[str, Any]) -> float:
    return _cheap(params["lr"], params["dropout"], params["optimizer"], params["layers"])


def make_sampler(name: str) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0)


def journal_path(folder: Path) -> Path:
    """Where sweepkit's embedded store lives under its working folder (sweepkit.store)."""
    from sweepkit.store import EMBEDDED_DIR, EMBEDDED_FILE

    return folder / EMBEDDED_DIR / EMBEDDED_FILE


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'sweeps.db'}"


def spec_dict(sampler: str) -> dict[str, Any]:
    return {
        "name": "overhead",
        "metric": {"name": "value", "goal": "minimize"},
        "strategy": {"name": sampler, "seed": 0},
        "parameters": SPEC_PARAMETERS,
    }


def run_raw(sampler: str, store: str, trials: int, folder: Path) -> float:
    """Seconds for raw Optuna: open the store, create the study, optimize."""
    start = time.perf_counter()
    storage: str | optuna.storages.BaseStorage
    if store == "journal":
        path = journal_path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    else:
        storage = sqlite_url(folder)
    study = optuna.create_study(storage=storage, sampler=make_sampler(sampler))
    study.optimize(raw_objective, n_trials=trials)
    elapsed = time.perf_counter() - start
    if len(study.trials) != trials:
        raise RuntimeError(f"raw Optuna ran {len(study.trials)} trials, expected {trials}")
    return elapsed


def run_sweepkit(sampler: str, store: str, trials: int, folder: Path) -> float:
    """Seconds for `sweepkit.run`: spec, store, study, engine loop, output files."""
    storage = None if store == "journal" else sqlite_url(folder)  # None: the embedded journal file
    with contextlib.redirect_stderr(io.StringIO()):  # quiet=True still prints the final summary
        start = time.perf_counter()
        result = sweepkit.run(
            spec_dict(sampler),
            objective=sweepkit_objective,
            trials=trials,
            quiet=True,
            cwd=folder,
            storage=storage,
        )
        elapsed = time.perf_counter() - start
    if len(result.trials) != trials or result.counts["COMPLETE"] != trials:
        raise RuntimeError(f"sweepkit ran {result.counts}, expected {trials} complete trials")
    return elapsed


RUNNERS: dict[str, Callable[[str, str, int, Path], float]] = {"raw": run_raw, "sweepkit": run_sweepkit}


def measure(side: str, sampler: str, store: str, trials: int) -> float:
    """Seconds for one run in a fresh temporary folder (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix=f"sweepkit-overhead-{side}-"))
    try:
        gc.collect()
        return RUNNERS[side](sampler, store, trials, folder)
    finally:
        gc.collect()  # let SQLAlchemy engines and file handles go before the folder does
        shutil.rmtree(folder, ignore_errors=True)


# -- the benchmark ----------------------------------------------------------------------------------------
@dataclass
class Row:
    sampler: str
    store: str
    trials: int
    raw: list[float] = field(default_factory=list)  # seconds per run
    sweepkit: list[float] = field(default_factory=list)

    @property
    def raw_ms(self) -> float:
        return statistics.median(self.raw) / self.trials * 1000

    @property
    def sweepkit_ms(self) -> float:
        return statistics.median(self.sweepkit) / self.trials * 1000

    @property
    def ratio(self) -> float:
        return self.sweepkit_ms / self.raw_ms

    @property
    def pair_ratios(self) -> list[float]:
        """sweepkit ÷ raw within each interleaved pair: the spread of the ratio."""
        return [s / r for r, s in zip(self.raw, self.sweepkit, strict=True)]


def _machine() -> str:
    cores = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}"


def _versions() -> str:
    import sqlalchemy

    versions = f"sweepkit {sweepkit.__version__}, Optuna {optuna.__version__}"
    return f"{versions}, SQLAlchemy {sqlalchemy.__version__}"


def warm_up() -> None:
    """A few trials of every configuration, not timed: the first run would otherwise pay for imports
    (sweepkit loads its engine lazily, Optuna its samplers and SQLAlchemy its dialect) and cold caches."""
    for sampler in SAMPLERS:
        for store in STORES:
            for side in RUNNERS:
                measure(side, sampler, store, 5)


def run_benchmark(trials: int, tpe_trials: int, repeats: int) -> list[Row]:
    rows = [Row(s, store, tpe_trials if s == "tpe" else trials) for s in SAMPLERS for store in STORES]
    warm_up()
    for rep in range(repeats):
        sides = ("raw", "sweepkit") if rep % 2 == 0 else ("sweepkit", "raw")
        for row in rows:
            for side in sides:
                seconds = measure(side, row.sampler, row.store, row.trials)
                getattr(row, side).append(seconds)
                print(
                    f"  [{rep + 1}/{repeats}] {row.sampler:<6} {row.store:<7} {side:<8} "
                    f"{row.trials} trials: {seconds:7.2f} s ({seconds / row.trials * 1000:.2f} ms/trial)",
                    flush=True,
                )
    return rows


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(rows: list[Row], trials: int, tpe_trials: int, repeats: int, wall: float) -> None:
    print()
    print(f"sweepkit per-trial overhead vs raw Optuna (median of {repeats} interleaved runs each)")
    print(f"{_machine()}; {_versions()}; {datetime.now().isoformat(timespec='minutes')}")
    if tpe_trials != trials:
        print(f"note: TPE rows ran {tpe_trials} trials per run (random rows {trials}) to keep the run short")
    print()
    header = f"| {'sampler':<7} | {'store':<7} | {'trials':>6} | {'raw ms/trial':>12} "
    header += f"| {'sweepkit ms/trial':>17} | {'ratio':>5} | {'ratio range':>11} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for row in rows:
        pair = row.pair_ratios
        spread = f"{min(pair):.2f}–{max(pair):.2f}"
        print(
            f"| {row.sampler:<7} | {row.store:<7} | {row.trials:>6} | {row.raw_ms:>12.2f} | "
            f"{row.sweepkit_ms:>17.2f} | {row.ratio:>5.2f} | {spread:>11} |"
        )

    by_key = {(row.sampler, row.store): row for row in rows}
    print()
    print("raw Optuna, SQLite vs journal file (why the embedded store is the journal file):")
    for sampler in SAMPLERS:
        journal, sqlite = by_key[(sampler, "journal")], by_key[(sampler, "sqlite")]
        print(
            f"  {sampler:<6} journal {journal.raw_ms:6.2f} ms/trial, SQLite {sqlite.raw_ms:6.2f} ms/trial: "
            f"SQLite costs {sqlite.raw_ms / journal.raw_ms:.1f}x per trial ({sqlite.trials} trials)"
        )

    print()
    print("targets (figures, not assertions):")
    for sampler in SAMPLERS:
        for store in STORES:
            row = by_key[(sampler, store)]
            print(
                f"  ratio ≤ {RATIO_TARGET:.2f}, {sampler}, {store} (vs raw Optuna on the same store): "
                f"{row.ratio:.2f}  {_verdict(row.ratio <= RATIO_TARGET)}"
            )
    embedded = by_key[("random", "journal")]
    at = "" if embedded.trials == TARGET_TRIALS else f" (measured at {embedded.trials}, target set at 1000)"
    print(
        f"  embedded store (journal), random, {TARGET_TRIALS} trials: sweepkit ≤ {EMBEDDED_TARGET_MS:g} "
        f"ms/trial: {embedded.sweepkit_ms:.2f} ms{at}  {_verdict(embedded.sweepkit_ms <= EMBEDDED_TARGET_MS)}"
    )
    print()
    print(f"benchmark wall time: {wall / 60:.1f} min")


def profile(trials: int, top: int) -> None:
    """cProfile one sweepkit random/journal run, then one raw Optuna run of the same for comparison."""
    warm_up()
    for side in ("sweepkit", "raw"):
        folder = Path(tempfile.mkdtemp(prefix=f"sweepkit-overhead-profile-{side}-"))
        profiler = cProfile.Profile()
        try:
            profiler.enable()
            seconds = RUNNERS[side]("random", "journal", trials, folder)
            profiler.disable()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        per_trial = seconds / trials * 1000
        print(f"== {side}, random, journal, {trials} trials: {per_trial:.2f} ms/trial under cProfile")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=TARGET_TRIALS, help="trials per run (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 trials per run")
    tpe_help = f"trials per TPE run (default: --trials, at most {TPE_DEFAULT_TRIALS})"
    parser.add_argument("--tpe-trials", type=int, default=None, help=tpe_help)
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration and side (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile sweepkit and raw, random/journal")
    parser.add_argument("--top", type=int, default=40, help="rows of the profile to print (default 40)")
    args = parser.parse_args(argv)
    trials = 200 if args.quick else args.trials
    tpe_trials = args.tpe_trials or min(trials, TPE_DEFAULT_TRIALS)
    if trials < 1 or tpe_trials < 1 or args.repeats < 1:
        parser.error("--trials, --tpe-trials and --repeats must be at least 1")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    if args.profile:
        profile(trials, args.top)
        return 0
    print(
        f"measuring {len(SAMPLERS) * len(STORES)} configurations x {args.repeats} repeats x raw/sweepkit "
        f"({trials} trials per random run, {tpe_trials} per TPE run)",
        flush=True,
    )
    start = time.perf_counter()
    rows = run_benchmark(trials, tpe_trials, args.repeats)
    report(rows, trials, tpe_trials, args.repeats, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

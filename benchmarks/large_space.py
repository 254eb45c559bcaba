"""Repeat detection on large finite spaces: `sweepkit validate` and 200-trial sweeps, next to raw Optuna.

    python benchmarks/large_space.py                    # N = 1,000 / 10,000 / 100,000 and a 317 x 316 grid
    python benchmarks/large_space.py --quick            # one repeat, no run to exhaustion
    python benchmarks/large_space.py --sizes 1000,100000 --repeats 1

The spaces: one int parameter `n` in [0, N-1] (`int_uniform`) for each N of `--sizes`, and a 2-parameter
grid of two int ranges, 317 x 316 = 100,172 points. On a finite space sweepkit guarantees that no point runs
twice: a proposal of a point already tried (or running, or queued) is replaced by an untried one.

What is timed, each in a fresh temporary folder:

- `validate`: `python -m sweepkit validate sweep.yaml` in a subprocess, as a user runs it (interpreter
  start-up, imports, reading the file, the space's grid size, one sampled trial). Anchor: the same command on
  a 10-value range, i.e. what validate costs when the space's size costs nothing.
- `run`: `sweepkit.run(spec, objective=fn, trials=200, quiet=True, cwd=folder)` with strategy `random` or
  `tpe` (seed 0) on the embedded store (the journal file `.sweepkit/sweeps.journal`), then a check that the
  200 points are distinct. Anchor: raw Optuna with the same sampler (`RandomSampler(seed=0)` /
  `TPESampler(seed=0)`) running `study.optimize(objective, n_trials=200)` on `suggest_int` over the same
  range(s), once with in-memory storage and once with `JournalStorage(JournalFileBackend(...))`, the store
  sweepkit uses. Raw Optuna does not avoid repeats: the script counts how many trials re-ran a point.
- `exhaust` (not with --quick): a 3,000-value range run to exhaustion (3,000 trials, strategy random, every
  point exactly once), next to raw Optuna random running 3,000 trials on the journal file.

Both sides are timed end to end (for sweepkit: spec, store, study, engine loop, output files; for raw Optuna:
store, study, optimize). Each configuration runs `--repeats` times, sides interleaved (the order flips every
repeat); the median is reported, and the ratio is sweepkit ÷ raw Optuna on the same store (journal), with
the in-memory figure alongside. Figures, not assertions: the script exits 0 unless a sweep runs a point twice.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna

import sweepkit

DEFAULT_SIZES = (1_000, 10_000, 100_000)
GRID = (317, 316)  # 100,172 points
TRIALS = 200
EXHAUST_SIZE = 3_000
ANCHOR_SIZE = 10  # validate's anchor: a space whose size costs nothing
SAMPLERS = ("random", "tpe")
RAW_STORES = ("memory", "journal")


# -- the spaces -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Space:
    label: str
    ranges: tuple[tuple[str, int], ...]  # (parameter name, number of values): ints in [0, count - 1]

    @property
    def points(self) -> int:
        total = 1
        for _, count in self.ranges:
            total *= count
        return total

    def parameters(self) -> dict[str, Any]:
        return {name: {"distribution": "int_uniform", "min": 0, "max": count - 1} for name, count in self.ranges}

    def loss(self, params: dict[str, int]) -> float:
        return float(sum(abs(params[name] - count // 3) for name, count in self.ranges))

    def raw_objective(self, trial: optuna.Trial) -> float:
        params = {name: trial.suggest_int(name, 0, count - 1) for name, count in self.ranges}
        return self.loss(params)

    def key(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(params[name] for name, _ in self.ranges)


def int_range(count: int) -> Space:
    return Space(f"int range {count:,}", (("n", count),))


def grid_space() -> Space:
    a, b = GRID
    return Space(f"grid {a} x {b}", (("a", a), ("b", b)))


def spec_dict(space: Space, sampler: str) -> dict[str, Any]:
    return {
        "name": "large",
        "metric": {"name": "loss", "goal": "minimize"},
        "strategy": {"name": sampler, "seed": 0},
        "parameters": space.parameters(),
    }


def sweep_file(space: Space) -> str:
    lines = [
        "name: large",
        'trial: {function: "large:objective"}',
        "metric: {name: loss}",
        "strategy: {name: tpe, seed: 0}",
        f"budget: {{trials: {TRIALS}}}",
        "parameters:",
    ]
    lines += [f"  {name}: {{distribution: int_uniform, min: 0, max: {count - 1}}}" for name, count in space.ranges]
    return "\n".join(lines) + "\n"


OBJECTIVE_MODULE = "def objective(params):\n    return {'loss': float(sum(params.values()))}\n"


# -- the sides --------------------------------------------------------------------------------------------
def _fresh_folder(prefix: str) -> Path:
    gc.collect()
    return Path(tempfile.mkdtemp(prefix=f"sweepkit-large-{prefix}-"))


def _remove(folder: Path) -> None:
    gc.collect()
    shutil.rmtree(folder, ignore_errors=True)


def time_validate(space: Space) -> float:
    """Seconds for `python -m sweepkit validate sweep.yaml` in a subprocess."""
    folder = _fresh_folder("validate")
    try:
        (folder / "sweep.yaml").write_text(sweep_file(space))
        (folder / "large.py").write_text(OBJECTIVE_MODULE)
        start = time.perf_counter()
        shown = subprocess.run(
            [sys.executable, "-m", "sweepkit", "validate", "sweep.yaml"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if shown.returncode != 0:
            raise RuntimeError(f"validate exited {shown.returncode}: {shown.stderr.strip()}")
        if f"grid size: {space.points} points" not in shown.stdout:
            raise RuntimeError(f"validate did not report a grid of {space.points} points:\n{shown.stdout}")
        return elapsed
    finally:
        _remove(folder)


def make_sampler(name: str) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0)


@dataclass
class Outcome:
    seconds: float
    repeats: int  # trials that ran a point an earlier trial had run


def _repeats(keys: list[tuple[Any, ...]]) -> int:
    return len(keys) - len(set(keys))


def run_sweepkit(space: Space, sampler: str, trials: int) -> Outcome:
    """`sweepkit.run` on the embedded journal store in a fresh folder."""
    folder = _fresh_folder("sweepkit")
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # quiet=True still prints the final summary
            start = time.perf_counter()
            result = sweepkit.run(
                spec_dict(space, sampler), objective=space.loss, trials=trials, quiet=True, cwd=folder
            )
            elapsed = time.perf_counter() - start
        if len(result.trials) != trials or result.counts["COMPLETE"] != trials:
            raise RuntimeError(f"sweepkit ran {result.counts}, expected {trials} complete trials")
        repeats = _repeats([space.key(t.params) for t in result.trials])
        if repeats:
            raise RuntimeError(f"sweepkit ran {repeats} repeated points on {space.label} ({sampler})")
        return Outcome(elapsed, repeats)
    finally:
        _remove(folder)


def run_raw(space: Space, sampler: str, trials: int, store: str) -> Outcome:
    """Raw Optuna: open the store, create the study, optimize; count the repeated points."""
    folder = _fresh_folder(f"raw-{store}")
    try:
        start = time.perf_counter()
        storage: optuna.storages.BaseStorage | None = None
        if store == "journal":
            path = folder / "sweeps.journal"
            storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
        study = optuna.create_study(storage=storage, sampler=make_sampler(sampler))
        study.optimize(space.raw_objective, n_trials=trials)
        elapsed = time.perf_counter() - start
        if len(study.trials) != trials:
            raise RuntimeError(f"raw Optuna ran {len(study.trials)} trials, expected {trials}")
        return Outcome(elapsed, _repeats([space.key(t.params) for t in study.trials]))
    finally:
        _remove(folder)


# -- the benchmark ----------------------------------------------------------------------------------------
@dataclass
class Row:
    space: Space
    sampler: str
    trials: int
    sides: tuple[str, ...]
    seconds: dict[str, list[float]] = field(default_factory=dict)
    repeats: dict[str, list[int]] = field(default_factory=dict)

    def add(self, side: str, outcome: Outcome) -> None:
        self.seconds.setdefault(side, []).append(outcome.seconds)
        self.repeats.setdefault(side, []).append(outcome.repeats)

    def median(self, side: str) -> float:
        return statistics.median(self.seconds[side])

    def ratio(self, side: str) -> float:
        return self.median("sweepkit") / self.median(side)


def measure(row: Row, side: str) -> Outcome:
    if side == "sweepkit":
        return run_sweepkit(row.space, row.sampler, row.trials)
    return run_raw(row.space, row.sampler, row.trials, side)


def warm_up() -> None:
    """A few trials of each side, not timed: imports (sweepkit's engine, Optuna's samplers) and caches."""
    small = int_range(50)
    time_validate(int_range(ANCHOR_SIZE))
    for sampler in SAMPLERS:
        run_sweepkit(small, sampler, 5)
        for store in RAW_STORES:
            run_raw(small, sampler, 5, store)


def _line(text: str) -> None:
    print(text, flush=True)


def run_benchmark(spaces: list[Space], repeats: int, exhaust: bool) -> tuple[dict[str, list[float]], list[Row]]:
    validate: dict[str, list[float]] = {}
    rows = [Row(space, sampler, TRIALS, ("sweepkit", *RAW_STORES)) for space in spaces for sampler in SAMPLERS]
    if exhaust:
        rows.append(Row(int_range(EXHAUST_SIZE), "random", EXHAUST_SIZE, ("sweepkit", "journal")))
    warm_up()
    anchor = int_range(ANCHOR_SIZE)
    for rep in range(repeats):
        for space in [anchor, *spaces]:
            seconds = time_validate(space)
            validate.setdefault(space.label, []).append(seconds)
            _line(f"  [{rep + 1}/{repeats}] validate {space.label:<18} {seconds:7.2f} s")
        for row in rows:
            sides = row.sides if rep % 2 == 0 else tuple(reversed(row.sides))
            for side in sides:
                outcome = measure(row, side)
                row.add(side, outcome)
                _line(
                    f"  [{rep + 1}/{repeats}] {row.space.label:<18} {row.sampler:<6} {side:<8} "
                    f"{row.trials} trials: {outcome.seconds:6.2f} s, {outcome.repeats} repeated points"
                )
    return validate, rows


def _machine() -> str:
    cores = os.cpu_count() or 0
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    system = f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}"
    return f"{system}; sweepkit {sweepkit.__version__}, Optuna {optuna.__version__}; load average {load}"


def report(validate: dict[str, list[float]], rows: list[Row], repeats: int, wall: float) -> None:
    anchor = statistics.median(validate[int_range(ANCHOR_SIZE).label])
    _line("")
    _line(f"repeat detection on large finite spaces (median of {repeats} interleaved runs each)")
    _line(f"{_machine()}; {datetime.now().isoformat(timespec='minutes')}")
    _line("")
    _line(f"`python -m sweepkit validate` (anchor: the same on a {ANCHOR_SIZE}-value range, {anchor:.2f} s)")
    _line("")
    _line("| space | points | validate s | ÷ anchor |")
    _line("|---|---|---|---|")
    for label, seconds in validate.items():
        if label == int_range(ANCHOR_SIZE).label:
            continue
        points = next(r.space.points for r in rows if r.space.label == label)
        median = statistics.median(seconds)
        _line(f"| {label} | {points:,} | {median:.2f} | {median / anchor:.2f} |")
    _line("")
    _line("sweeps: sweepkit (embedded journal store, no point twice) vs raw Optuna (same sampler and seed)")
    _line("")
    _line(
        "| space | sampler | trials | sweepkit s | raw journal s | ratio | raw memory s | ratio "
        "| raw repeated points (journal / memory) |"
    )
    _line("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ours, journal = row.median("sweepkit"), row.median("journal")
        memory = f"{row.median('memory'):.2f} | {row.ratio('memory'):.2f}" if "memory" in row.sides else "– | –"
        journal_r = statistics.median(row.repeats["journal"])
        memory_r = f"{statistics.median(row.repeats['memory']):g}" if "memory" in row.sides else "–"
        raw_repeats = f"{journal_r:g} / {memory_r}"
        _line(
            f"| {row.space.label} | {row.sampler} | {row.trials:,} | {ours:.2f} | {journal:.2f} | "
            f"{row.ratio('journal'):.2f} | {memory} | {raw_repeats} |"
        )
    _line("")
    _line("sweepkit ran no point twice in any run (checked on every run).")
    _line(f"benchmark wall time: {wall / 60:.1f} min")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES), help="int range sizes")
    parser.add_argument("--no-grid", action="store_true", help=f"leave out the {GRID[0]} x {GRID[1]} grid")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration and side (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repeat, no run to exhaustion")
    parser.add_argument("--no-exhaust", action="store_true", help=f"leave out the {EXHAUST_SIZE:,}-value run")
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    except ValueError:
        parser.error("--sizes takes integers separated by commas (1000,10000)")
    if any(size < 2 * TRIALS for size in sizes) or args.repeats < 1:
        parser.error(f"every size must be at least {2 * TRIALS} and --repeats at least 1")
    repeats = 1 if args.quick else args.repeats
    spaces: list[Space] = [int_range(size) for size in sizes]
    if not args.no_grid:
        spaces.append(grid_space())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    exhaust = not (args.quick or args.no_exhaust)
    _line(f"measuring {len(spaces)} spaces x {len(SAMPLERS)} samplers x {repeats} repeats")
    start = time.perf_counter()
    validate, rows = run_benchmark(spaces, repeats, exhaust)
    report(validate, rows, repeats, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

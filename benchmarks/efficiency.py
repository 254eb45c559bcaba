"""Parallel efficiency: 8 workers × 80 trials of sleep(1 s) should take the ideal 10 s, give or take.

Side by side in one run: raw Optuna (`study.optimize(n_jobs=8)`, threads), sweepkit with Python trials
(warm worker processes) and sweepkit with program trials (one subprocess per trial). Each figure is the
wall time from the call to the end, divided by the ideal (trials × seconds / workers). Target: ≤ 1.15.

    python benchmarks/efficiency.py [--workers 8] [--trials 80] [--seconds 1.0] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

TRAIN = """
import time

def objective(params):
    time.sleep(params["seconds"])
    return params["x"]
"""

PROGRAM = """
import sys, time, json, os
seconds = float(next(a for a in sys.argv if a.startswith("--seconds=")).split("=")[1])
time.sleep(seconds)
with open(os.environ["SWEEPKIT_CHANNEL"], "a") as f:
    f.write(json.dumps({"value": 1.0}) + "\\n")
"""


def raw_optuna(args: argparse.Namespace) -> float:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="eff-optuna-"))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "j.log")))
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        time.sleep(args.seconds)
        return x

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=args.trials, n_jobs=args.workers)
    return time.perf_counter() - t0


def sweepkit_cli(args: argparse.Namespace, kind: str, *, in_process: bool = False) -> float:
    """The whole `sweepkit run` command (interpreter start and imports included), or `sweepkit.run()`
    called in this process, which is what the raw Optuna figure measures (its imports are paid already)."""
    folder = Path(tempfile.mkdtemp(prefix=f"eff-{kind}-"))
    spec: dict = {
        "name": "eff",
        "metric": {"name": "value", "goal": "minimize"},
        "strategy": {"name": "random", "seed": 1},
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "seconds": {"value": args.seconds}},
        "budget": {"trials": args.trials},
    }
    if kind == "python":
        (folder / "train.py").write_text(TRAIN)
        spec["trial"] = {"function": "train:objective"}
    else:
        (folder / "prog.py").write_text(PROGRAM)
        spec["trial"] = {"program": "prog.py"}
    (folder / "sweep.yaml").write_text(json.dumps(spec))
    if in_process:
        import sweepkit

        t0 = time.perf_counter()
        sweepkit.run(folder / "sweep.yaml", cwd=folder, workers=args.workers, quiet=True)
        return time.perf_counter() - t0
    argv = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "-q", "--workers", str(args.workers)]
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    ideal = args.trials * args.seconds / args.workers
    print(f"{args.workers} workers × {args.trials} trials of sleep({args.seconds:g} s): ideal {ideal:.2f} s")
    print(f"on {os.cpu_count()} CPUs; each figure is wall time (whole command for sweepkit) / ideal")
    rows = {
        "raw Optuna optimize(n_jobs)": lambda: raw_optuna(args),
        "sweepkit.run(), Python trials": lambda: sweepkit_cli(args, "python", in_process=True),
        "sweepkit.run(), programs": lambda: sweepkit_cli(args, "program", in_process=True),
        "`sweepkit run` command, Python": lambda: sweepkit_cli(args, "python"),
        "`sweepkit run` command, programs": lambda: sweepkit_cli(args, "program"),
    }
    for label, measure in rows.items():
        times = [measure() for _ in range(args.repeat)]
        best = min(times)
        verdict = "PASS" if best / ideal <= 1.15 else "MISS"
        print(f"{label:<33} {best:6.2f} s  ratio {best / ideal:.3f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()

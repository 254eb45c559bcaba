"""`sweepkit report` on a big sweep: 10,000 trials with 50 reported steps each.

    python benchmarks/report10k.py                     # 10,000 trials x 50 steps (RESULTS.md)
    python benchmarks/report10k.py --trials 1000       # a quick look
    python benchmarks/report10k.py --keep DIR          # keep the folder (store + report) to look at

The sweep is written straight through Optuna's API (`study.add_trials` of `FrozenTrial`s into the embedded
journal store), with what a real sweepkit run leaves there: the sweep's meta (its resolved spec), per-trial
params, metrics, worker and resources in the trial's user attrs, learning curves as intermediate values, and
a mix of states (about 60% pruned at a rung, 2% failed, the rest complete) spread over 8 workers. Writing it
is not part of the figure.

Timed: `sweepkit report NAME` as a user runs it (the CLI in a subprocess, so interpreter start-up and
imports count), end to end. Anchor: Optuna's own `optuna.visualization` plots (history, importances with the
same PED-ANOVA evaluator, parallel coordinates, intermediate values, slice, contour, timeline) for the same
study, built and written with `write_html(include_plotlyjs=True)` per figure (Optuna's usual way to keep a
figure), timed in a subprocess the same way (it needs plotly, which the report itself does not). The script
prints the figures next to the targets (30 s, 20 MB) and exits 0 either way.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

import sweepkit
from sweepkit.store import ATTR, Store

TIME_TARGET_S = 30.0
SIZE_TARGET_MB = 20.0
NAME = "big"
RUNGS = (4, 12, 36)  # the steps where a trial may be pruned (a hyperband-like ladder)
WORKERS = 8

SPEC: dict[str, Any] = {
    "name": NAME,
    "metric": {"name": "val_loss", "goal": "minimize"},
    "strategy": {"name": "random", "seed": 0},
    "pruner": {"type": "median"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "batch_size": {"values": [16, 32, 64, 128]},
        "layers": {"type": "int", "low": 1, "high": 8},
        "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
    },
}
DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
    "batch_size": CategoricalDistribution([16, 32, 64, 128]),
    "layers": IntDistribution(1, 8),
    "optimizer": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
}


def _sample(rng: random.Random) -> dict[str, Any]:
    return {
        "lr": math.exp(rng.uniform(math.log(1e-5), math.log(1e-1))),
        "dropout": rng.uniform(0.0, 0.5),
        "batch_size": rng.choice([16, 32, 64, 128]),
        "layers": rng.randint(1, 8),
        "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
    }


def _curve(params: dict[str, Any], steps: int, rng: random.Random) -> list[float]:
    """A plausible validation loss curve: lr matters most, then the optimizer and dropout."""
    floor = 0.2 + 0.08 * (math.log10(params["lr"]) + 3) ** 2 + 0.4 * (params["dropout"] - 0.2) ** 2
    floor += {"adam": 0.0, "rmsprop": 0.05, "sgd": 0.15}[params["optimizer"]] + 0.01 * abs(params["layers"] - 4)
    speed = 3.0 + 10 * params["batch_size"] / 128
    return [floor + 2.0 * math.exp(-s / speed) + rng.gauss(0, 0.003) for s in range(steps)]


def build(folder: Path, trials: int, steps: int, seed: int = 0) -> None:
    """Write the sweep into `folder/.sweepkit/sweeps.journal` through Optuna's API."""
    rng = random.Random(seed)
    store = Store(None, cwd=folder)
    study = optuna.create_study(study_name=NAME, storage=store.storage, direction="minimize")
    spec = sweepkit.load_spec(SPEC, cwd=folder)
    study.set_user_attr(
        ATTR,
        {
            "spec": spec.resolved,
            "dialect": "native",
            "strategy": "random",
            "strategy_reason": "benchmark",
            "grid": False,
            "metric": "val_loss",
            "output": str(folder / "sweeps" / NAME),
        },
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lanes = [start] * WORKERS
    made: list[FrozenTrial] = []
    for number in range(trials):
        params = _sample(rng)
        curve = _curve(params, steps, rng)
        roll = rng.random()
        if roll < 0.02:
            state, ran = TrialState.FAIL, rng.randint(1, steps)
        elif roll < 0.62:
            state, ran = TrialState.PRUNED, rng.choice([r for r in RUNGS if r < steps] or [steps])
        else:
            state, ran = TrialState.COMPLETE, steps
        lane = min(range(WORKERS), key=lambda i: lanes[i])
        begin = lanes[lane]
        end = begin + timedelta(seconds=ran * rng.uniform(0.8, 1.2))
        lanes[lane] = end + timedelta(seconds=0.05)
        attrs: dict[str, Any] = {
            "params": params,
            "worker": f"bench:{1000 + lane}/{lane}",
            "resources": {
                "cpu_percent_mean": round(rng.uniform(60, 99), 1),
                "peak_rss_mb": round(rng.uniform(300, 900)),
            },
        }
        if state == TrialState.PRUNED:
            attrs["reason"] = f"median: {curve[ran - 1]:.4g} is worse than the median of the trials at step {ran - 1}"
        if state == TrialState.FAIL:
            attrs["error"] = "RuntimeError: CUDA out of memory (synthetic)"
        made.append(
            FrozenTrial(
                number=number,
                state=state,
                value=curve[-1] if state == TrialState.COMPLETE else None,
                datetime_start=begin,
                datetime_complete=end,
                params=params,
                distributions=DISTRIBUTIONS,
                user_attrs={ATTR: attrs},
                system_attrs={},
                intermediate_values=dict(enumerate(curve[:ran])),
                trial_id=number,
            )
        )
    study.add_trials(made)


def _timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


_OPTUNA_PLOTS = """
import sys, time
from pathlib import Path
import optuna
from optuna.importance import PedAnovaImportanceEvaluator
import optuna.visualization as vis
optuna.logging.set_verbosity(optuna.logging.ERROR)
storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(".sweepkit/sweeps.journal"))
study = optuna.load_study(study_name=sys.argv[1], storage=storage)
out = Path("optuna_plots"); out.mkdir(exist_ok=True)
imp = optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
top = list(imp)[:2]
figs = {
    "history": vis.plot_optimization_history(study),
    "importance": vis.plot_param_importances(study, evaluator=PedAnovaImportanceEvaluator()),
    "parallel": vis.plot_parallel_coordinate(study),
    "intermediate": vis.plot_intermediate_values(study),
    "slice": vis.plot_slice(study, params=top),
    "contour": vis.plot_contour(study, params=top),
    "timeline": vis.plot_timeline(study),
}
for name, fig in figs.items():
    fig.write_html(out / f"{name}.html", include_plotlyjs=True)
print(sum(p.stat().st_size for p in out.iterdir()))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--keep", type=Path, help="build and report in this folder and keep it")
    ap.add_argument("--repeats", type=int, default=3, help="time `sweepkit report` this many times (median)")
    ap.add_argument("--no-anchor", action="store_true", help="skip timing Optuna's own plots")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sweepkit-report10k-"))
    if args.keep:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    try:
        began = time.perf_counter()
        build(folder, args.trials, args.steps)
        print(f"built {args.trials} trials x {args.steps} steps in {time.perf_counter() - began:.1f} s", flush=True)
        sweepkit_bin = [sys.executable, "-m", "sweepkit"]
        runs = []
        for _ in range(max(args.repeats, 1)):
            seconds, shown = _timed([*sweepkit_bin, "report", NAME], folder)
            runs.append(seconds)
        seconds = statistics.median(runs)
        html = folder / "sweeps" / NAME / "report.html"
        size_mb = html.stat().st_size / 1e6
        print(shown, end="")
        spread = f" (runs: {', '.join(f'{r:.1f}' for r in runs)})" if len(runs) > 1 else ""
        verdict = "PASS" if seconds < TIME_TARGET_S else "MISS"
        print(f"sweepkit report: median {seconds:.1f} s{spread} (target < {TIME_TARGET_S:g} s): {verdict}")
        verdict = "PASS" if size_mb < SIZE_TARGET_MB else "MISS"
        print(f"report.html: {size_mb:.1f} MB (target < {SIZE_TARGET_MB:g} MB): {verdict}")
        pngs = sorted(p for p in html.parent.glob("*.png"))
        print(f"PNGs: {len(pngs)}, {sum(p.stat().st_size for p in pngs) / 1e6:.1f} MB in all")
        if not args.no_anchor and importlib.util.find_spec("plotly") is None:
            print("anchor skipped: Optuna's figures need plotly, which the report does not use (pip install plotly)")
        elif not args.no_anchor:
            seconds, shown = _timed([sys.executable, "-c", _OPTUNA_PLOTS, NAME], folder)
            print(
                f"anchor, optuna.visualization (7 figures, one HTML file each): {seconds:.1f} s, "
                f"{int(shown) / 1e6:.1f} MB in all"
            )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"Optuna {optuna.__version__}"
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

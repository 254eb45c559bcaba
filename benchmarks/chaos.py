"""Chaos: agents SIGKILLed at random while they run one sweep; does the sweep still come out exact?

8 processes (1 `sweepkit run` + 7 `sweepkit agent`) share one sweep of 200 trials of 50–500 ms, on the
embedded store and on PostgreSQL. Every `--every` seconds one random process is SIGKILLed (mid-trial,
mid-write, wherever it is) and a new agent takes its place. At the end we count, from the store:

- completed: COMPLETE trials (target: exactly the budget)
- lost:      points whose worker died and that never completed (target 0)
- duplicated: points that completed twice (target 0)
- store errors: processes that exited with a store fault or printed a traceback (target 0)

    python benchmarks/chaos.py [--trials 200] [--agents 8] [--every 3] [--stores embedded,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

TRAIN = """
import time

def objective(params):
    time.sleep(params["ms"] / 1000)
    return (params["x"] - 0.3) ** 2
"""


def sweep_file(name: str, trials: int, storage: str | None) -> dict:
    spec = {
        "name": name,
        "trial": {"function": "train:objective", "retries": 10},
        "metric": {"name": "loss", "goal": "minimize"},
        "strategy": {"name": "random", "seed": 1},
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "ms": {"values": list(range(50, 501, 10))}},
        "budget": {"trials": trials},
    }
    if storage:
        spec["storage"] = storage
    return spec


def run_one(store: str, args: argparse.Namespace) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"chaos-{store}-"))
    (folder / "train.py").write_text(TRAIN)
    name = f"chaos-{store}-{os.getpid()}-{int(time.time())}"
    storage = POSTGRES if store == "postgres" else None
    (folder / "sweep.yaml").write_text(json.dumps(sweep_file(name, args.trials, storage)))
    env = {**os.environ, "SWEEPKIT_HEARTBEAT_SECONDS": "1"}
    sweepkit = [sys.executable, "-m", "sweepkit"]
    agent_argv = [*sweepkit, "agent", name, "-q", *(["--storage", storage] if storage else [])]
    logs = folder / "logs"
    logs.mkdir()
    started = 0

    def launch(argv: list[str]) -> subprocess.Popen[bytes]:
        nonlocal started
        started += 1
        err = (logs / f"{started}.err").open("wb")
        return subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=err)

    procs = [launch([*sweepkit, "run", "sweep.yaml", "-q"])]
    time.sleep(2.0)  # the sweep exists in the store before agents join it
    procs += [launch(agent_argv) for _ in range(args.agents - 1)]
    rng = random.Random(0)
    kills = 0
    t0 = time.monotonic()
    exits: list[int] = []
    next_kill = time.monotonic() + args.every
    while True:
        alive = [p for p in procs if p.poll() is None]
        for p in procs:
            if p.poll() is not None and p not in alive and p.returncode != -signal.SIGKILL:
                exits.append(p.returncode)
        procs = alive
        if not procs:
            break
        if time.monotonic() >= next_kill and time.monotonic() - t0 < args.chaos_seconds:
            victim = rng.choice(procs)
            victim.kill()
            victim.wait()
            kills += 1
            procs.remove(victim)
            procs.append(launch(agent_argv))
            next_kill = time.monotonic() + args.every
        time.sleep(0.05)
    elapsed = time.monotonic() - t0

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import optuna

    from sweepkit.store import Store

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = Store(storage, cwd=folder).load(name)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    points = Counter(json.dumps(t.params, sort_keys=True) for t in complete)
    duplicated = sum(n - 1 for n in points.values() if n > 1)
    lost_points = set()
    for t in trials:
        error = (t.user_attrs.get("sweepkit") or {}).get("error", "")
        if t.state == optuna.trial.TrialState.FAIL and error.startswith("worker lost"):
            lost_points.add(json.dumps(t.params, sort_keys=True))
    lost = len(lost_points - set(points))
    errors = 0
    for err in logs.glob("*.err"):
        text = err.read_text(errors="replace")
        errors += ("Traceback" in text) or ("store" in text.lower() and "error" in text.lower())
    errors += sum(code not in (0,) for code in exits)
    if storage:
        optuna.delete_study(study_name=name, storage=storage)
    return {
        "store": store,
        "budget": args.trials,
        "completed": len(complete),
        "lost": lost,
        "duplicated": duplicated,
        "store_errors": errors,
        "kills": kills,
        "retried_after_kill": len(lost_points),
        "seconds": round(elapsed, 1),
        "folder": str(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--chaos-seconds", type=float, default=60.0, help="stop killing after this long")
    parser.add_argument("--stores", default="embedded,postgres")
    args = parser.parse_args()
    print("store     budget completed lost duplicated store_errors kills retried seconds  verdict")
    for store in args.stores.split(","):
        r = run_one(store, args)
        ok = r["completed"] == r["budget"] and not (r["lost"] or r["duplicated"] or r["store_errors"])
        print(
            f"{r['store']:<9} {r['budget']:>6} {r['completed']:>9} {r['lost']:>4} {r['duplicated']:>10} "
            f"{r['store_errors']:>12} {r['kills']:>5} {r['retried_after_kill']:>7} {r['seconds']:>7}  "
            f"{'PASS' if ok else 'MISS'}  ({r['folder']})",
            flush=True,
        )


if __name__ == "__main__":
    main()

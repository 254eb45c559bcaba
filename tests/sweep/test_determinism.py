"""Reproducible sweeps: the same sweep run twice with the same seed proposes the same params, trial by
trial, for every strategy that is deterministic given its seed; every trial gets a seed of its own, derived
from the sweep's, the same when the trial is retried (its worker SIGKILLed, the whole run SIGKILLed); a sweep
without a seed gets one, stored, so resumes and agents agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.errors import SpecError
from sweepkit.results._stored import load_result
from sweepkit.seeding import trial_seed
from sweepkit.store import Store
from sweepkit.strategy import _SAMPLERS, _torch_available
from sweepkit.sweep import join

SEED = 1234
MIXED = {  # continuous, log, integer and categorical: what every model-based strategy must handle
    "x": {"min": -3.0, "max": 3.0},
    "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    "depth": {"type": "int", "low": 2, "high": 9},
    "booster": {"values": ["gbdt", "dart", "goss"]},
}
FINITE = {"x": {"values": [-2, -1, 0, 1, 2]}, "depth": {"values": [2, 4, 8]}, "booster": {"values": ["a", "b"]}}
# Every strategy the strategy module builds, plus the two words that pick one; a strategy added there is
# tested here without a change to this file.
STRATEGIES = sorted({*_SAMPLERS, "auto", "bayes"})
NEEDS_TORCH = {"gp"}


def _objective(params: dict[str, Any], trial: Any) -> dict[str, Any]:
    depth = params.get("depth", 4)
    penalty = {"gbdt": 0.0, "dart": 0.3, "goss": 0.6, "a": 0.0, "b": 0.5}[params.get("booster", "a")]
    lr = params.get("lr", 0.01)
    return {"loss": (params["x"] - 0.7) ** 2 + abs(depth - 5) / 4 + penalty + abs(lr - 0.01), "seed": trial.seed}


def _spec(strategy: str) -> dict[str, Any]:
    return {
        "name": f"det-{strategy}",
        "metric": {"name": "loss", "goal": "minimize"},
        "strategy": {"name": strategy},
        "parameters": FINITE if strategy == "grid" else MIXED,
    }


def _sweep(strategy: str, folder: Path, seed: int, trials: int) -> sweepkit.SweepResult:
    folder.mkdir()
    return sweepkit.run(_spec(strategy), objective=_objective, trials=trials, seed=seed, quiet=True, cwd=folder)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_seed_gives_the_same_params_trial_by_trial(strategy: str, tmp_path: Path) -> None:
    if strategy in NEEDS_TORCH and not _torch_available():
        pytest.skip(f"strategy {strategy} needs torch (pip install 'sweepkit[gp]')")
    # Past the model-based strategies' 10 random start-up trials, so their models' proposals are compared too.
    trials = 13
    first = _sweep(strategy, tmp_path / "a", SEED, trials)
    second = _sweep(strategy, tmp_path / "b", SEED, trials)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.value for t in first.trials] == [t.value for t in second.trials]
    assert len(first.trials) == trials
    # Each trial's seed: derived from the sweep's seed and its number, handed to the trial, recorded.
    seeds = [trial_seed(SEED, t.number) for t in first.trials]
    assert [t.seed for t in first.trials] == seeds == [t.metrics["seed"] for t in second.trials]
    assert len(set(seeds)) == trials
    assert first.seed == SEED
    summary = json.loads((tmp_path / "a" / "sweeps" / f"det-{strategy}" / "tuning_results.json").read_text())
    assert summary["seed"] == SEED
    assert summary["trial_seeds"] == {str(t.number): s for t, s in zip(first.trials, seeds, strict=True)}
    # And the seed matters: another one proposes other points (a grid walks its 30 points in another order).
    other = _sweep(strategy, tmp_path / "c", SEED + 1, trials)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


def test_a_sweep_without_a_seed_gets_one_stored_for_its_resumes(workdir: Path) -> None:
    spec = _spec("random")
    first = sweepkit.run(spec, objective=_objective, trials=3, quiet=True)
    assert isinstance(first.seed, int)
    assert [t.seed for t in first.trials] == [trial_seed(first.seed, n) for n in range(3)]
    resumed = sweepkit.run(spec, objective=_objective, trials=6, quiet=True)  # no seed: the stored one
    assert resumed.seed == first.seed
    assert [t.seed for t in resumed.trials] == [trial_seed(first.seed, n) for n in range(6)]
    assert load_result(Store(cwd=workdir), spec["name"]).trials[5].seed == trial_seed(first.seed, 5)
    env = json.loads((workdir / "sweeps" / spec["name"] / "environment.json").read_text())
    assert env["seed"] == first.seed and [run["seed"] for run in env["runs"]] == [first.seed] * 2
    fresh = sweepkit.run(spec, objective=_objective, trials=2, quiet=True, fresh=True)
    assert fresh.seed != first.seed  # a new sweep, a new seed (equal by chance once in 2**31)


def test_another_seed_on_a_resume_is_refused(workdir: Path) -> None:
    spec = _spec("random")
    sweepkit.run(spec, objective=_objective, trials=2, seed=5, quiet=True)
    with pytest.raises(SpecError, match="was started with seed 5") as info:
        sweepkit.run(spec, objective=_objective, trials=4, seed=6, quiet=True)
    assert info.value.key == "strategy.seed"
    assert len(sweepkit.run(spec, objective=_objective, trials=4, seed=5, quiet=True).trials) == 4


STOPS_AT_THE_THIRD = """
from pathlib import Path


def objective(params, trial):
    calls = Path("calls")
    n = int(calls.read_text()) if calls.exists() else 0
    calls.write_text(str(n + 1))
    if n == 2 and Path("interrupt").exists():
        raise KeyboardInterrupt  # Ctrl+C in the third trial: it is queued again, with its seed
    return {"loss": params["x"], "seed": trial.seed}
"""


def test_an_agent_uses_the_seed_the_sweep_was_started_with_and_an_interrupted_trial_keeps_its_own(
    workdir: Path,
) -> None:
    (workdir / "train.py").write_text(STOPS_AT_THE_THIRD)
    (workdir / "interrupt").write_text("")
    spec = {**_spec("random"), "trial": {"function": "train:objective"}, "strategy": {"name": "random", "seed": 3}}
    with pytest.raises(KeyboardInterrupt):
        sweepkit.run(spec, trials=4, seed=5, quiet=True)  # --seed 5 over the file's 3
    (workdir / "interrupt").unlink()
    with pytest.raises(SpecError, match="was started with seed 5"):
        sweepkit.run(spec, trials=4, quiet=True)  # the file's 3 alone would give the trials to come other seeds
    result = join(spec["name"], quiet=True)
    assert result.seed == 5
    by_number = {t.number: t for t in result.trials}
    assert by_number[2].state == "INTERRUPTED" and by_number[3].retry_of == 2
    seeds = {n: t.metrics.get("seed") for n, t in by_number.items() if t.state == "COMPLETE"}
    assert seeds == {0: trial_seed(5, 0), 1: trial_seed(5, 1), 3: trial_seed(5, 2), 4: trial_seed(5, 4)}


# -- retries keep the seed --------------------------------------------------------------------------------

DIES_TWICE = """
import json, os, signal
from pathlib import Path


def objective(params, trial):
    log = Path("attempts.jsonl")
    attempts = log.read_text().splitlines() if log.exists() else []
    with log.open("a") as out:
        out.write(json.dumps({"number": trial.number, "seed": trial.seed}) + "\\n")
    if len(attempts) < 2:
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies in the middle of the trial
    return {"loss": params["x"] ** 2}
"""


@pytest.mark.slow
def test_a_trial_whose_worker_is_sigkilled_twice_keeps_its_seed(workdir: Path) -> None:
    (workdir / "train.py").write_text(DIES_TWICE)
    spec = {**_spec("random"), "trial": {"function": "train:objective", "retries": 2}}
    # Two workers: trials run in worker processes (one at a time: the budget is one trial).
    result = sweepkit.run(spec, trials=1, workers=2, seed=SEED, quiet=True)
    attempts = [json.loads(line) for line in (workdir / "attempts.jsonl").read_text().splitlines()]
    assert [a["number"] for a in attempts] == [0, 1, 2]
    assert [a["seed"] for a in attempts] == [trial_seed(SEED, 0)] * 3  # the retry of a retry: trial 0's seed
    by_number = {t.number: t for t in result.trials}
    assert (by_number[1].retry_of, by_number[2].retry_of) == (0, 1)
    assert by_number[2].state == "COMPLETE" and by_number[2].seed == trial_seed(SEED, 0)
    assert {t.seed for t in result.trials} == {trial_seed(SEED, 0)}


PROGRAM_SWEEP = """\
name: killed-run
trial: {command: ["${interpreter}", "train.py"]}
metric: {name: loss}
strategy: {name: random}
seed: 99
budget: {trials: 2}
parameters:
  x: {min: 0.0, max: 1.0}
"""

PROGRAM = """\
import json, os, time
import sweepkit

run = sweepkit.init()
with open("seeds.jsonl", "a") as out:
    out.write(json.dumps({"trial": run.trial, "seed": run.seed, "env": os.environ["SWEEPKIT_SEED"],
                          "old": os.environ["SWEEPKIT_TRIAL_SEED"]}) + "\\n")
if not os.path.exists("killed"):
    time.sleep(60)  # the test SIGKILLs the whole run meanwhile
run.log({"loss": run.params.x})
"""


@pytest.mark.slow
def test_a_program_trial_cut_short_by_a_killed_run_gets_its_seed_back(workdir: Path) -> None:
    (workdir / "sweep.yaml").write_text(PROGRAM_SWEEP)
    (workdir / "train.py").write_text(PROGRAM)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, start_new_session=True, stderr=subprocess.PIPE)
    seeds = workdir / "seeds.jsonl"
    deadline = time.monotonic() + 60
    while not seeds.exists() or not seeds.read_text().endswith("\n"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first trial never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its program: trial 0 is left RUNNING in the store
    proc.wait()
    (workdir / "killed").write_text("")

    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in seeds.read_text().splitlines()]
    assert rows[0]["trial"] == 0 and rows[0]["seed"] == trial_seed(99, 0)
    result = load_result(Store(cwd=workdir), "killed-run")
    retry = next(t for t in result.trials if t.retry_of == 0)
    again = next(r for r in rows if r["trial"] == retry.number)
    assert again["seed"] == rows[0]["seed"] == retry.seed
    assert all(str(r["seed"]) == r["env"] == r["old"] for r in rows)  # $SWEEPKIT_SEED, and its first name
    assert result.counts["COMPLETE"] == 2 and result.counts["INTERRUPTED"] == 1


SLEEPY = """
import time


def objective(params):
    time.sleep(0.02 + 0.08 * (params["x"] + 3) / 6)  # trials finish out of the order they started in
    return {"loss": params["x"] ** 2}
"""


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["random", "qmc"])
def test_strategies_blind_to_results_give_each_trial_number_its_point_with_parallel_workers(
    strategy: str, tmp_path: Path
) -> None:
    runs = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.py").write_text(SLEEPY)
        spec = {**_spec(strategy), "parameters": {"x": MIXED["x"], "lr": MIXED["lr"]}}
        spec["trial"] = {"function": "train:objective"}
        result = sweepkit.run(spec, trials=12, workers=3, seed=SEED, quiet=True, cwd=tmp_path / folder)
        runs.append({t.number: (t.params, t.seed) for t in result.trials})
    assert runs[0] == runs[1]

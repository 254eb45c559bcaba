"""One `sweepkit.Trial`: one class built from one start record, one outcome type, and `should_prune()` by one
rule in this process and in a warm worker (tests/sweep/test_ray_backend.py checks it on Ray with the same
function)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit._trial import BaseTrial, Outcome, TrialStart
from sweepkit.sweep._live import LiveTrial, live_trial
from sweepkit.sweep._slots import InProcess, WorkerPool

# The same trial function in every executor: what should_prune() says before any report, after a report the
# pruner lets go, and after one it prunes (caught, to ask should_prune(), then raised again).
SHOULD_PRUNE = """

def should_prune_seen(trial, marks):
    import json
    from pathlib import Path

    from sweepkit import TrialPruned

    seen = [trial.should_prune()]
    pruned = None
    for step, value in enumerate([0.5, 2.0]):
        try:
            trial.report(value, step)
        except TrialPruned as exc:
            pruned = exc
        seen.append(trial.should_prune())
    (Path(marks) / "should_prune.json").write_text(json.dumps(seen))
    if pruned is not None:
        raise pruned
    return 0.0
"""
SHOULD_PRUNE_SEEN = [False, False, True]  # ThresholdPruner(upper=1.0): 0.5 goes on, 2.0 is pruned

KINDS = (
    textwrap.dedent("""
    import os


    def helper(x):
        raise ValueError(f"boom {x}")


    def run(params, trial):
        kind = params["kind"]
        if kind == "should_prune":
            return should_prune_seen(trial, params["marks"])
        if kind == "told":
            trial.log({"logged": 1})
            trial.set_constraint("memory_gb", 2.5)
            return {"loss": 1.0, "told": [trial.number, trial.sweep, trial.max_steps, trial.seed, trial.resumed,
                                          str(trial.checkpoint_dir), trial.params["kind"]]}
        if kind == "fail":
            trial.log({"logged": 2})
            helper(3)
        if kind == "crash":
            os._exit(3)
        if kind == "wait":
            while not trial.should_prune():
                trial.report(0.0, 0)
            return "stopped"
        raise AssertionError(kind)
    """)
    + SHOULD_PRUNE
)


def _load_kinds(folder: Path) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(KINDS, str(folder / "kinds.py"), "exec"), namespace)  # the in-process copy of the module
    return namespace["run"]


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code")
    (folder / "kinds.py").write_text(KINDS)
    return folder


@pytest.fixture(scope="module")
def pool(code: Path) -> Iterator[WorkerPool]:
    workers = WorkerPool("kinds:run", code, [{}], cwd=code)
    workers.start()
    yield workers
    workers.close()


def _executor(where: str, code: Path, pool: WorkerPool) -> Any:
    return pool if where == "worker" else InProcess(_load_kinds(code))


def _live(params: dict[str, Any], *, upper: float = 10.0, **start: Any) -> LiveTrial:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=upper))
    return live_trial(study.ask(), params, "t", **start)


# -- the records ------------------------------------------------------------------------------------------


def test_a_start_record_round_trips_and_ignores_fields_it_does_not_know() -> None:
    start = TrialStart(3, {"lr": 0.1}, "s", max_steps=9, seed=7, resumed=True, retry_of=1, checkpoint_dir="/c")
    assert TrialStart.from_dict(json.loads(json.dumps(start.to_dict()))) == start
    assert TrialStart.from_dict({**start.to_dict(), "added_later": 1}) == start  # an older worker's reading


def test_an_outcome_round_trips() -> None:
    outcome = Outcome("error", metrics={"a": 1}, constraints={"m": 0.5}, message="boom", traceback="tb")
    assert Outcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_the_trial_class_is_a_sweepkit_trial_and_is_told_its_start() -> None:
    start = TrialStart(4, {"x": 1}, "s", max_steps=5, seed=11, resumed=True, metric="f1")
    trial = BaseTrial(start, _live({}))
    assert isinstance(trial, sweepkit.Trial)
    assert (trial.number, trial.params, trial.sweep, trial.max_steps, trial.seed, trial.resumed) == (
        4,
        {"x": 1},
        "s",
        5,
        11,
        True,
    )
    assert trial.fold_metric == "f1"


def test_sweepkit_trial_is_public_and_light() -> None:
    heavy = "('optuna', 'sqlalchemy', 'numpy')"
    code = f"import sys, sweepkit; sweepkit.Trial; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- should_prune(): one rule ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("where", ["in process", "worker"])
def test_should_prune_follows_one_rule(where: str, code: Path, pool: WorkerPool, tmp_path: Path) -> None:
    live = _live({"kind": "should_prune", "marks": str(tmp_path)}, upper=1.0)
    outcome = _executor(where, code, pool).call(0, live)
    assert (outcome.end, outcome.message) == ("pruned", "pruned at step 1")
    assert json.loads((tmp_path / "should_prune.json").read_text()) == SHOULD_PRUNE_SEEN
    assert live.trial.study._storage.get_trial(live.trial._trial_id).intermediate_values == {0: 0.5, 1: 2.0}


def test_should_prune_is_true_once_the_sweep_stops_the_trial(code: Path) -> None:
    live = _live({"kind": "wait"})
    executor = InProcess(_load_kinds(code))
    live.cancelled.set()  # as Engine.interrupt does (Ctrl+C, --until)
    outcome = executor.call(0, live)
    assert (outcome.end, outcome.result) == ("done", "stopped")  # told without a report


def test_a_report_while_the_sweep_stops_interrupts_the_trial() -> None:
    def fn(params: dict[str, Any], trial: Any) -> float:
        live.cancelled.set()
        trial.report(1.0, 0)
        return 1.0

    live = _live({})
    outcome = InProcess(fn).call(0, live)
    assert outcome.end == "interrupted"


# -- one outcome type --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("where", ["in process", "worker"])
def test_every_executor_returns_one_outcome(where: str, code: Path, pool: WorkerPool, tmp_path: Path) -> None:
    executor = _executor(where, code, pool)
    folder = tmp_path / "checkpoints" / "trial-0"
    live = _live({"kind": "told"}, max_steps=9, seed=42, resumed=True, retry_of=0, checkpoint_dir=str(folder))
    done = executor.call(0, live)
    assert done.end == "done"
    assert done.result["told"] == [live.number, "t", 9, 42, True, str(folder), "told"]
    assert (done.metrics, done.constraints) == ({"logged": 1}, {"memory_gb": 2.5})
    assert live.constraints == {"memory_gb": 2.5}  # heard while it ran, too

    error = executor.call(0, _live({"kind": "fail"}))
    assert (error.end, error.message, error.metrics) == ("error", "ValueError: boom 3", {"logged": 2})
    assert "in helper" in (error.traceback or "") and "sweepkit" not in (error.traceback or "")


@pytest.mark.slow
def test_a_dead_worker_is_a_lost_outcome_and_the_next_trial_runs(code: Path, pool: WorkerPool) -> None:
    lost = pool.call(0, _live({"kind": "crash"}))
    assert lost.end == "lost" and lost.message.startswith("worker lost: its worker process exited with code 3")
    assert pool.call(0, _live({"kind": "told"})).end == "done"


# -- the engine reads every outcome in one place ----------------------------------------------------------


def test_each_ending_is_stored_as_before(tmp_path: Path) -> None:
    """Done, pruned by the trial itself, an error, a result that can't be used: states, errors, metrics and
    constraints as the store keeps them."""

    def fn(params: dict[str, Any], trial: Any) -> Any:
        trial.log({"logged": params["kind"]})
        trial.set_constraint("memory_gb", 1.0)
        if params["kind"] == "pruned":
            raise sweepkit.TrialPruned("enough")
        if params["kind"] == "error":
            raise ValueError("boom")
        return {"loss": float("nan") if params["kind"] == "nan" else 0.5}

    spec = {
        "name": "endings",
        "metric": {"name": "loss"},
        "strategy": {"name": "grid"},
        "parameters": {"kind": ["done", "pruned", "error", "nan"]},
    }
    result = sweepkit.run(spec, objective=fn, quiet=True, cwd=tmp_path)
    by_kind = {t.params["kind"]: t for t in result.trials}
    assert {k: t.state for k, t in by_kind.items()} == {
        "done": "COMPLETE",
        "pruned": "PRUNED",
        "error": "FAILED",
        "nan": "FAILED",
    }
    assert by_kind["done"].value == 0.5 and by_kind["pruned"].reason == "enough"
    assert by_kind["error"].error == "ValueError: boom" and "raise ValueError" in (by_kind["error"].traceback or "")
    assert by_kind["nan"].error is not None and "NaN" in by_kind["nan"].error and by_kind["nan"].traceback is None
    for kind, trial in by_kind.items():
        assert trial.metrics.get("logged") == kind, kind
        assert trial.constraints == {"memory_gb": 1.0}, kind  # kept, a failed trial's too

"""`checkpoints: {keep: best|top_k|all, k}`: checkpoint folders of trials out of the best k go as the sweep
goes; `best` names the best trial's folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.errors import SpecError
from sweepkit.results._checkpoints import to_drop
from tests.cli_run import cli

VALUES = [5.0, 3.0, 9.0, 1.0, 7.0, 2.0, 8.0, 0.5]  # trial n's loss; trials 2 and 6 are pruned on the way


def _spec(keep: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "kept",
        "metric": {"name": "loss"},
        "strategy": {"name": "grid"},
        "parameters": {"i": {"values": list(range(len(VALUES)))}},
    }
    if keep is not None:
        spec["checkpoints"] = keep
    return spec


def _objective(seen: list[tuple[int, list[str]]]) -> Any:
    def objective(params: dict[str, Any], trial: Any) -> float:
        folder = trial.checkpoint_dir
        assert folder == sweepkit.checkpoint_dir()  # the same folder from the light client
        assert folder.name == f"trial-{trial.number}"
        (folder / "model.pt").write_text(str(params["i"]))
        seen.append((trial.number, sorted(p.name for p in folder.parent.iterdir())))
        if params["i"] in (2, 6):
            raise sweepkit.TrialPruned("pruned")
        return VALUES[params["i"]]

    return objective


def _kept(output: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("trial-")) for p in (output / "checkpoints").iterdir())


def _by_i(result: Any) -> dict[int, int]:
    return {t.params["i"]: t.number for t in result.trials}


def test_top_k_keeps_the_best_k_as_the_sweep_goes(workdir: Path) -> None:
    seen: list[tuple[int, list[str]]] = []
    result = sweepkit.run(_spec({"keep": "top_k", "k": 2}), objective=_objective(seen), quiet=True)
    number = _by_i(result)
    best_two = sorted([number[7], number[3]])  # losses 0.5 and 1.0
    assert _kept(result.output) == best_two
    # as it went: never more than k complete trials' folders plus the running trial's own
    assert all(len(folders) <= 3 for _, folders in seen)
    assert result.best_checkpoint == result.output / "checkpoints" / f"trial-{number[7]}"
    summary = json.loads((result.output / "tuning_results.json").read_text())
    assert summary["best_checkpoint"] == str(result.best_checkpoint)


def test_best_keeps_one_and_all_keeps_every_folder(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = sweepkit.run(_spec({"keep": "best"}), objective=_objective([]), quiet=True)
    best = _by_i(result)[7]
    assert _kept(result.output) == [best]
    code, out, err = cli(capsys, "best", "kept")
    assert code == 0 and "i: 7" in out and f"checkpoints/trial-{best}" in err
    code, out, _ = cli(capsys, "best", "kept", "--checkpoint")
    assert code == 0 and out.strip() == str(result.output / "checkpoints" / f"trial-{best}")

    result = sweepkit.run(_spec({"keep": "all"}), objective=_objective([]), quiet=True, fresh=True)
    assert _kept(result.output) == sorted(t.number for t in result.trials)
    result = sweepkit.run(_spec(None), objective=_objective([]), quiet=True, fresh=True)  # default: all
    assert len(_kept(result.output)) == len(VALUES)


def test_best_says_when_the_best_trial_saved_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweepkit.run(_spec({"keep": "best"}), objective=lambda params: VALUES[params["i"]], quiet=True)
    code, out, err = cli(capsys, "best", "kept")
    assert code == 0 and "checkpoints" not in err
    code, _, err = cli(capsys, "best", "kept", "--checkpoint")
    assert code == 2 and "has no checkpoint folder" in err
    summary = json.loads((workdir / "sweeps" / "kept" / "tuning_results.json").read_text())
    assert summary["best_checkpoint"] is None


@dataclass
class _T:
    number: int
    state: str
    value: float | None = None
    retry_of: int | None = None
    feasible: bool = True


def test_the_rule_spares_running_and_queued_trials_and_judges_a_retry_by_its_last_attempt() -> None:
    trials = [
        _T(0, "COMPLETE", 1.0),
        _T(1, "COMPLETE", 3.0),
        _T(2, "RUNNING"),  # running: never touched
        _T(3, "INTERRUPTED"),  # cut short, its retry queued: kept for the retry
        _T(4, "WAITING", retry_of=3),
        _T(5, "INTERRUPTED"),  # cut short, its retry done: judged by the retry's value
        _T(6, "COMPLETE", 0.5, retry_of=5),
        _T(7, "PRUNED", 9.0),
        _T(8, "FAILED"),
        _T(9, "COMPLETE", 2.0),
    ]
    assert to_drop(trials, keep="top_k", k=2, maximize=False) == {1, 7, 8, 9}
    assert to_drop(trials, keep="best", k=1, maximize=False) == {0, 1, 7, 8, 9}
    assert to_drop(trials, keep="best", k=1, maximize=True) == {0, 5, 7, 8, 9}
    assert to_drop(trials, keep="all", k=1, maximize=False) == set()


def test_a_trial_that_broke_a_constraint_it_reported_keeps_no_checkpoint_slot() -> None:
    trials = [_T(0, "COMPLETE", 0.1, feasible=False), _T(1, "COMPLETE", 1.0), _T(2, "COMPLETE", 2.0)]
    assert to_drop(trials, keep="top_k", k=2, maximize=False) == {0}
    assert to_drop(trials, keep="best", k=1, maximize=False) == {0, 2}


@pytest.mark.parametrize(
    ("section", "key", "says"),
    [
        ({"keep": "bets"}, "checkpoints.keep", 'did you mean "best"'),
        ({"keep": "best", "k": 3}, "checkpoints.k", "k goes with keep: top_k"),
        ({"keep": "top_k", "k": 0}, "checkpoints.k", "greater than or equal to 1"),
        ({"keep": "top_k", "count": 2}, "checkpoints.count", 'unknown key "count"'),
    ],
)
def test_checkpoints_section_errors(section: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(SpecError) as err:
        sweepkit.load_spec(_spec(section))
    assert err.value.key == key and says in str(err.value)


def test_top_k_spellings() -> None:
    spec = sweepkit.load_spec(_spec({"keep": "top-k"}))
    assert spec.resolved["checkpoints"] == {"keep": "top-k"}  # read as top_k, with k 3
    from sweepkit.spec._model import CheckpointsSpec

    rule = CheckpointsSpec.model_validate(spec.resolved["checkpoints"])
    assert (rule.keep, rule.count) == ("top_k", 3)

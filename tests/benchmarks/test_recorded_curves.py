"""The learning curves benchmarks/multifidelity.py replays (benchmarks/curves/): the shape its replay relies on,
and the configurations being the documented Sobol sample of each problem's space."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import multifidelity as mf  # noqa: E402
import record_curves as rc  # noqa: E402


@pytest.mark.parametrize("name", list(mf.PROBLEMS))
def test_the_sobol_sample_stays_in_the_space_and_reaches_every_choice_and_int(name: str) -> None:
    space = mf.PROBLEMS[name].space
    configs = rc.sobol_configs(space, 64)
    assert len(configs) == 64
    for key, p in space.items():
        values = [c[key] for c in configs]
        if p.kind == "choice":
            assert set(values) == set(p.values)
        elif p.kind == "int":
            assert all(type(v) is int and p.low <= v <= p.high for v in values)
            if not p.log:  # the ends get a full share (a log int's low end is rarer, but reached in 512)
                assert {int(p.low), int(p.high)} <= set(values)
        else:
            assert all(isinstance(v, float) and p.low <= v <= p.high for v in values)
        if p.log and p.kind == "float":  # log-uniform: about half the points below the geometric middle
            below = sum(v < math.sqrt(p.low * p.high) for v in values)
            assert 24 <= below <= 40


def test_a_shorter_sample_is_a_prefix_of_a_longer_one() -> None:
    space = mf.PROBLEMS["seq"].space
    assert rc.sobol_configs(space, 100) == rc.sobol_configs(space, 256)[:100]


@pytest.mark.parametrize("name", list(mf.PROBLEMS))
def test_each_problem_ships_its_curves_in_the_documented_shape(name: str) -> None:
    path = rc.CURVES / f"{name}.json.gz"
    assert path.stat().st_size < 1_000_000
    data: dict[str, Any] = rc.load(path)
    prob = mf.PROBLEMS[name]
    assert (data["problem"], data["metric"], data["steps"]) == (name, prob.metric, 81)
    assert all(isinstance(data[k], str) and data[k] for k in ("created", "command", "machine"))
    assert list(data["space"]) == list(prob.space)
    n = len(data["configs"])
    assert n >= 64
    seeds = data["seeds"]
    assert seeds == sorted(set(seeds)) and seeds[: n // 4] == list(range(n // 4))  # Sobol order, no gaps early on
    sample = rc.sobol_configs(prob.space, seeds[-1] + 1)
    assert data["configs"] == [sample[i] for i in seeds]  # the i-th point of the sample, trained with seed i
    assert len(data["curves"]) == len(data["seconds"]) == n
    for curve in data["curves"]:
        assert len(curve) == 81
        assert all(math.isfinite(v) and v > 0 for v in curve)  # losses; a diverged net shows as mf.DIVERGED
    assert all(s > 0 for s in data["seconds"])


def test_a_second_recording_trains_only_the_configurations_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bookkeeping only: a stand-in trainer that counts its calls (its curve is the seed, every step)
    trained: list[int] = []

    def train(prob: Any, params: dict[str, Any], seed: int, steps: int) -> list[float]:
        trained.append(seed)
        return [float(seed)] * steps

    monkeypatch.setattr(rc, "_train", train)
    monkeypatch.setattr(rc, "CURVES", tmp_path)
    rc.record("mlp", 3, 60, "first")
    assert trained == [0, 0, 0, 1, 2]  # seed 0 twice more: the 27-of-81 prefix check
    trained.clear()
    for r in (0, 1):  # two shards adding configurations 3..6, the second merges
        rc.record("mlp", 7, 60, f"second {r}", shard=(r, 2))
    assert sorted(trained) == [0, 0, 3, 4, 5, 6]
    data = rc.load(tmp_path / "mlp.json.gz")
    assert data["seeds"] == list(range(7))
    assert [curve[0] for curve in data["curves"]] == list(range(7))
    assert data["configs"] == rc.sobol_configs(mf.problem("mlp").space, 7)
    assert data["command"] == "first & second 0 & second 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.json.gz"]

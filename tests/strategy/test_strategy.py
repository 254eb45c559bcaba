"""Strategies: each sampler runs a sweep; `auto` and W&B's `bayes` choose, and say why."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import sweepkit
import sweepkit.strategy as strategy_module
from sweepkit.errors import SpecError
from sweepkit.spec import load_spec
from sweepkit.strategy import build, choose
from tests.conftest import IN_CI

HAS_TORCH = importlib.util.find_spec("torch") is not None


def space(params: dict[str, Any]) -> Any:
    return load_spec({"parameters": params}).space


CONTINUOUS = {"lr": {"min": 1e-4, "max": 1e-1, "log": True}, "dropout": {"min": 0.0, "max": 0.5}}


def test_auto_picks_grid_when_every_point_fits_in_the_budget() -> None:
    s = space({"a": [1, 2, 3], "b": {"type": "int", "low": 0, "high": 1}})
    assert choose(s, trials=6) == ("grid", "every parameter is discrete and all 6 points fit in the budget")
    assert choose(s, trials=5)[0] == "tpe"


def test_auto_picks_tpe_for_conditional_and_categorical_spaces() -> None:
    cond = space({**CONTINUOUS, "opt": ["adam", "sgd"], "mom": {"min": 0.5, "max": 0.9, "when": "opt == 'sgd'"}})
    assert choose(cond, trials=20) == ("tpe", "the space has conditional parameters, which TPE models as a tree")
    cats = space({"a": ["x", "y"], "b": ["u", "v", "w"], "c": {"min": 0.0, "max": 1.0}})
    assert choose(cats, trials=20)[1] == "2 of 3 parameters are categorical, which TPE handles well"


def test_auto_picks_gp_for_small_continuous_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    s = space(CONTINUOUS)
    assert choose(s, trials=1000)[0] == "tpe"
    monkeypatch.setattr(strategy_module, "_torch_available", lambda: True)
    assert choose(s, trials=40)[0] == "gp"
    monkeypatch.setattr(strategy_module, "_torch_available", lambda: False)
    name, reason = choose(s, trials=40)
    assert name == "tpe" and "needs torch" in reason


def test_bayes_maps_to_gp_or_says_why_not(monkeypatch: pytest.MonkeyPatch) -> None:
    s = space(CONTINUOUS)
    monkeypatch.setattr(strategy_module, "_torch_available", lambda: False)
    picked = build("bayes", s, trials=10, seed=0)
    assert picked.name == "tpe" and "needs torch" in picked.reason
    with pytest.raises(SpecError, match=r"strategy gp needs torch: pip install 'sweepkit\[gp\]'"):
        build("gp", s, trials=10, seed=0)


def test_grid_refuses_continuous_parameters_by_name() -> None:
    s = space({"lr": {"min": 0.001, "max": 0.1}, "bs": [16, 32], "wd": {"min": 0.0, "max": 1.0, "step": 0.5}})
    with pytest.raises(
        SpecError, match=r"grid needs every parameter to have a finite set of values, but lr is continuous"
    ):
        build("grid", s, trials=10, seed=0)


def test_unknown_sampler_option_gets_did_you_mean() -> None:
    with pytest.raises(
        SpecError, match='unknown option "n_startup_trial" for strategy tpe \\(did you mean "n_startup_trials"\\?\\)'
    ):
        build("tpe", space(CONTINUOUS), trials=10, seed=0, options={"n_startup_trial": 3})
    assert build("tpe", space(CONTINUOUS), trials=10, seed=0, options={"n_startup_trials": 3}).name == "tpe"


@pytest.mark.parametrize(
    "name",
    [
        "random",
        "tpe",
        "cmaes",
        "qmc",
        pytest.param("gp", marks=pytest.mark.slow),
        "grid",
        pytest.param("auto", marks=pytest.mark.slow),
    ],
)
def test_each_strategy_runs_a_sweep(tmp_path: Path, name: str) -> None:
    if name == "gp" and not HAS_TORCH:
        if IN_CI:
            pytest.fail("CI installs torch so the GP strategy is tested")
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    params: dict[str, Any] = {"x": {"min": -2.0, "max": 2.0}, "y": {"min": -2.0, "max": 2.0}}
    if name == "grid":
        params = {"x": {"min": -2.0, "max": 2.0, "step": 1.0}, "y": [-1.0, 0.0, 1.0]}
    spec = {"name": name, "metric": {"name": "f"}, "strategy": {"name": name, "seed": 0}, "parameters": params}
    result = sweepkit.run(
        spec, objective=lambda p: (p["x"] - 0.5) ** 2 + p["y"] ** 2, trials=12, quiet=True, cwd=tmp_path
    )
    assert len([t for t in result.trials if t.state == "COMPLETE"]) == 12
    assert result.strategy != "auto" and result.strategy_reason
    if name == "auto":
        expected = "gp" if HAS_TORCH else "tpe"
        assert result.strategy == expected


@pytest.mark.parametrize(
    "name, options, key, message",
    [
        ("tpe", {"n_ei_candidates": 0}, "n_ei_candidates", "strategy tpe: n_ei_candidates must be at least 1, got 0"),
        ("tpe", {"n_startup_trials": 2.5}, "n_startup_trials", "n_startup_trials expected a whole number, got 2.5"),
        ("tpe", {"n_startup_trials": True}, "n_startup_trials", "n_startup_trials expected a whole number, got True"),
        ("tpe", {"multivariate": "yes"}, "multivariate", "strategy tpe: multivariate expected bool, got 'yes'"),
        ("tpe", {"prior_weight": 0}, "prior_weight", "strategy tpe: prior_weight must be > 0, got 0"),
        ("cmaes", {"sigma0": float("inf")}, "sigma0", "strategy cmaes: sigma0 expected a finite number, got inf"),
        ("cmaes", {"x0": 3}, "x0", "strategy cmaes: x0 expected a mapping, got 3"),
        ("cmaes", {"popsize": 0}, "popsize", "strategy cmaes: popsize must be at least 1, got 0"),
        ("qmc", {"qmc_type": 3}, "qmc_type", "strategy qmc: qmc_type expected str, got 3"),
        ("qmc", {"scramble": None}, "scramble", "strategy qmc: scramble can't be null"),
        ("tpe", {"gamma": 5}, "gamma", "strategy tpe: gamma takes a Python object (Callable[[int], int] | None)"),
        ("nsga2", {"crossover": "sbx"}, "crossover", "strategy nsga2: crossover takes a Python object"),
        ("random", {"seed": 1}, "seed", 'unknown option "seed" for strategy random; random accepts: no options'),
    ],
)
def test_bad_sampler_options_name_the_option(name: str, options: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        build(name, space(CONTINUOUS), trials=10, seed=0, options=options, file="sweep.yaml")
    assert (info.value.file, info.value.key) == ("sweep.yaml", f"strategy.{key}")
    assert message in info.value.message


def test_checked_options_reach_the_sampler() -> None:
    sampler: Any = build("tpe", space(CONTINUOUS), trials=10, seed=0, options={"n_startup_trials": 3}).sampler
    assert sampler._n_startup_trials == 3
    cmaes: Any = build(
        "cmaes", space(CONTINUOUS), trials=10, seed=0, options={"popsize": 6, "n_startup_trials": 2}
    ).sampler
    assert (cmaes._popsize, cmaes._n_startup_trials) == (6, 2)

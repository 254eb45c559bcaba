"""W&B's early_terminate (hyperband): bands, thresholds and stops worked out by hand from W&B's own rule in
wandb/sweeps src/sweeps/hyperband_stopping.py (`hyperband_stop_runs`), run through a real Optuna study.

W&B's rule at the latest band b a run has reached: threshold = sorted(values at b of every run that reached b,
this one included, a maximized metric negated)[int(n / eta)]; stop if the run's value at b (strict, the
default) or its best so far (strict: false) is worse than the threshold.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import create_trial

from sweepkit.errors import SpecError
from sweepkit.pruner import Pruning, WandbHyperbandPruner, build
from sweepkit.spec import load_spec
from tests.pruner.test_pruner_build import drive

BASES = [0.5, 0.3, 0.8, 0.1, 0.6, 0.9, 0.2, 0.7, 0.45, 0.05, 0.95, 0.35]


def make(early_terminate: dict[str, Any], *, max_steps: int | None = None, maximize: bool = False) -> Pruning:
    return build(
        pruner=None,
        scheduler=None,
        early_terminate=early_terminate,
        strategy="bayes",
        max_steps=max_steps,
        maximize=maximize,
        file="sweep.yaml",
    )


@pytest.mark.parametrize(
    "config, bands",
    [
        ({"min_iter": 3, "eta": 3}, [3, 9, 27]),  # W&B's test_hyperband_min_iter_bands
        ({"max_iter": 81, "eta": 3, "s": 3}, [3, 9, 27]),  # test_hyperband_max_iter_bands
        ({"max_iter": 18, "eta": 3, "s": 2}, [2, 6]),  # test_init_from_max_iter
        ({"max_iter": 27, "s": 5}, [1, 3, 9]),  # 27/3=9, 3, 1, then below 1: stops early
        ({"min_iter": 10, "s": 2}, [10, 30, 90]),  # the W&B multi-head workflow: s is ignored with min_iter
    ],
)
def test_bands(config: dict[str, Any], bands: list[int]) -> None:
    pruning = make({"type": "hyperband", **config})
    assert isinstance(pruning.pruner, WandbHyperbandPruner)
    assert pruning.pruner.bands[: len(bands)] == bands


def test_fractional_eta_bands_follow_wandb_float_arithmetic() -> None:
    # max_iter 10, eta 2.5, s 3: 10/2.5 = 4.0 → 4; 4/2.5 = 1.6 → 1; 1.6/2.5 = 0.64 < 1 → stop. Sorted: [1, 4].
    assert make({"type": "hyperband", "max_iter": 10, "s": 3, "eta": 2.5}).pruner.bands == [1, 4]


def test_min_iter_strict_minimize() -> None:
    # min_iter 2, eta 2 → bands 2, 4, 8; steps 1..8, so band k is step k. Index int(n/2) of the sorted bases:
    #   band 2: 2 (.8) n=3 → .5; 4 (.6) n=5 → .5; 5 (.9) n=6 → .6; 7 (.7) n=8 → .6; 10 (.95) n=11 → .5: stopped
    #   band 4 (only 0, 1, 3, 6 ... reach it): 8 (.45) vs .5 .3 .1 .2 → n=5 → .3: stopped at step 4;
    #           11 (.35) vs .5 .3 .1 .2 .45 .05 → n=7 → .3: stopped at step 4.
    pruning = make({"type": "hyperband", "min_iter": 2, "eta": 2})
    assert pruning.description.startswith("wandb-hyperband: at the 2nd, 4th, 8th, 16th, … reported value")
    pruned, why = drive(pruning, [lambda s, b=b: b + 1 / (s + 1) for b in BASES], range(1, 9), direction="minimize")
    assert pruned == {2: 2, 4: 2, 5: 2, 7: 2, 8: 4, 10: 2, 11: 4}
    assert why[11] == "at band step 4, 0.55 is worse than the threshold 0.5 (the best 1/2 of 7 trials there, eta=2)"


def test_max_iter_not_strict_maximize_from_step_0() -> None:
    # max_iter 9, s 2, eta 3 → bands 1, 3. Steps 0..5, so band 1 is step 0 and band 3 is step 2 (W&B counts
    # rows, as wandb.log's _step from 0). Rising curves, maximize: a run is stopped when its best so far is
    # below the value at rank int(n/3) of the band's values, best first.
    #   band 1: 1 (.3) n=2 → .5; 3 (.1) n=4 → .5; 6 (.2) n=7 → .6; 8 (.45) n=9 → .6; 9 (.05) n=10 → .6;
    #           11 (.35) n=12 → .6: stopped at step 0.
    #   band 3 (reached by 0, 2, 4, 5, ...): 7 (.7) vs .5 .8 .6 .9 → n=5 → .8: stopped at step 2.
    pruning = make({"type": "hyperband", "max_iter": 9, "s": 2, "strict": False}, maximize=True)
    pruned, why = drive(pruning, [lambda s, b=b: b - 1 / (s + 1) for b in BASES], range(6), direction="maximize")
    assert pruned == {1: 0, 3: 0, 6: 0, 7: 2, 8: 0, 9: 0, 11: 0}
    assert why[7] == (
        "at band 3 (its 3rd reported value, step 2), its best value 0.3667 is worse than the threshold 0.4667 "
        "(the best 1/3 of 5 trials there, eta=3)"
    )


def test_wandb_doctest_case() -> None:
    # hyperband_stop_runs' docstring: loss, max_iter 5, eta 2, s 2 → bands 1, 2 (5/2 = 2.5, 1.25).
    # a (finished) 10, 9; b (running) 10, 10; c (running) 10, 8, 8; d (running) 10, 7, 7; e (finished) 10, 6, 6.
    # At band 2 the values are 9, 10, 8, 7, 6 → sorted, index int(5/2) = 2 → 8: b (10) stops, c (8) and d do not.
    pruning = make({"type": "hyperband", "max_iter": 5, "eta": 2, "s": 2})
    assert pruning.pruner.bands == [1, 2]
    study = optuna.create_study(pruner=pruning.pruner)
    for values in ([10, 9], [10, 6, 6]):
        study.add_trial(create_trial(value=values[-1], intermediate_values=dict(enumerate(values))))
    running = {}
    for name, values in {"b": [10, 10], "c": [10, 8, 8], "d": [10, 7, 7]}.items():
        trial = study.ask()
        for step, value in enumerate(values):
            trial.report(value, step)
        running[name] = trial.should_prune()
    assert running == {"b": True, "c": False, "d": False}


def test_non_finite_values_are_not_rows() -> None:
    # W&B's metric_history(filter_invalid=True) skips NaN/inf rows: band 2 is the 2nd finite value.
    pruning = make({"type": "hyperband", "min_iter": 2, "eta": 2})
    study = optuna.create_study(pruner=pruning.pruner)
    for _ in range(2):  # with this run, 3 values at band 2: the threshold is sorted([1, 1, 5])[int(3 / 2)] = 1
        study.add_trial(create_trial(value=1.0, intermediate_values={0: 1.0, 1: 1.0, 2: 1.0}))
    trial = study.ask()
    trial.report(5.0, 0)
    trial.report(float("nan"), 1)
    assert not trial.should_prune()  # one finite row: before band 2
    trial.report(5.0, 2)
    assert trial.should_prune()


def test_rungs_show_the_bands_within_the_steps() -> None:
    assert make({"type": "hyperband", "min_iter": 10, "s": 2}, max_steps=50).rungs == [
        "bands at the 10th, 30th reported value: stop a trial whose value at the band is not in the best 1/3 "
        "of all trials there"
    ]
    unbounded = make({"type": "hyperband", "min_iter": 10, "s": 2})
    assert unbounded.rungs[0].startswith("bands at the 10th, 30th, 90th, 270th, … reported value")
    assert "early_terminate.s 2 is ignored with min_iter, as W&B does: bands are min_iter·eta^k" in unbounded.notes
    never = make({"type": "hyperband", "min_iter": 10}, max_steps=5)
    assert never.rungs == []
    assert never.notes == [
        "no band is within the 5 steps a trial runs (the first is at the 10th reported value): "
        "early_terminate never stops a trial"
    ]


def test_wandb_multihead_file_loads() -> None:
    spec = load_spec(
        {
            "program": "scripts/train_multihead.py",
            "method": "bayes",
            "metric": {"name": "val/gcode_acc", "goal": "maximize"},
            "early_terminate": {"type": "hyperband", "min_iter": 10, "s": 2},
            "parameters": {"learning_rate": {"distribution": "log_uniform_values", "min": 0.0001, "max": 0.01}},
        }
    )
    pruning = build(  # as the engine calls it
        pruner=spec.extra.get("pruner"),
        scheduler=spec.extra.get("scheduler"),
        early_terminate=spec.extra.get("early_terminate"),
        strategy=spec.strategy.name,
        max_steps=50,
        maximize=spec.metric.maximize,
        file=spec.file,
    )
    assert (pruning.name, pruning.source) == ("wandb-hyperband", "early_terminate")
    assert pruning.pruner.bands[:3] == [10, 30, 90] and pruning.pruner.strict


def test_min_and_max_iter_both_use_max_iter_as_wandb_does() -> None:
    pruning = make({"type": "hyperband", "min_iter": 2, "max_iter": 27, "s": 2})
    assert pruning.pruner.bands == [3, 9]
    assert pruning.notes == ["early_terminate.min_iter 2 is ignored: W&B uses max_iter and s when both are given"]


@pytest.mark.parametrize(
    "config, key, message",
    [
        ({"type": "hyperband", "min_iter": 3, "eta": -3}, "early_terminate.eta", "eta must be more than 1"),
        ({"type": "hyperband", "min_iter": 3, "eta": 1}, "early_terminate.eta", "eta must be more than 1"),
        (
            {"type": "hyperband", "min_iter": 10, "max_iter": 5, "s": 2},
            "early_terminate.min_iter",
            "more than max_iter",
        ),
        ({"type": "hyperband", "max_iter": 27}, "early_terminate.s", "max_iter needs s"),
        ({"type": "hyperband", "max_iter": 2, "s": 2}, "early_terminate.max_iter", "no band"),
        ({"type": "hyperband"}, "early_terminate", "needs min_iter, or max_iter and s"),
        ({"min_iter": 3}, "early_terminate", "needs a type"),
        ({"type": "envelope", "min_iter": 3}, "early_terminate.type", 'unknown early_terminate type "envelope"'),
        ({"type": "hyperband", "min_iters": 3}, "early_terminate.min_iters", 'did you mean "min_iter"'),
        ({"type": "hyperband", "min_iter": 0}, "early_terminate.min_iter", "must be at least 1"),
        ({"type": "hyperband", "min_iter": 2.5}, "early_terminate.min_iter", "expected an integer"),
        ({"type": "hyperband", "min_iter": 3, "strict": "yes"}, "early_terminate.strict", "expected true or false"),
    ],
)
def test_bad_configs(config: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        make(config)
    assert info.value.key == key
    assert info.value.file == "sweep.yaml"
    assert message in info.value.message

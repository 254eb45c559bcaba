"""Each pruner, from each dialect, run on deterministic learning curves through a real Optuna study.

The curves are `value(step) = base + 1/(step + 1)` (falling: minimize) with the bases below, so at any step
trials compare exactly as their bases do. The expected prunings are worked out by hand in the comments from
each pruner's rule; the study name is fixed because Optuna's Hyperband assigns brackets by hashing it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import pytest
from optuna.samplers import RandomSampler
from optuna.trial import TrialState

from sweepkit.pruner import Pruning, build, explain
from sweepkit.spec import load_spec

BASES = [0.5, 0.3, 0.8, 0.1, 0.6, 0.9, 0.2, 0.7, 0.45, 0.05, 0.95, 0.35]
STUDY = "pruner-test"


def falling(base: float) -> Callable[[int], float]:
    return lambda step: base + 1 / (step + 1)


def rising(base: float) -> Callable[[int], float]:
    return lambda step: base - 1 / (step + 1)


def drive(
    pruning: Pruning,
    curves: Sequence[Callable[[int], float]],
    steps: Sequence[int],
    *,
    direction: str = "minimize",
) -> tuple[dict[int, int], dict[int, str]]:
    """Run the trials one after another; {trial: step it was pruned at}, {trial: explain's sentence}."""
    study = optuna.create_study(
        study_name=STUDY, direction=direction, pruner=pruning.pruner, sampler=RandomSampler(seed=0)
    )
    pruned: dict[int, int] = {}
    why: dict[int, str] = {}
    for number, curve in enumerate(curves):
        trial = study.ask()
        for step in steps:
            trial.report(curve(step), step)
            if trial.should_prune():
                pruned[number] = step
                why[number] = explain(pruning, study, trial, step)
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, curve(steps[-1]))
    return pruned, why


def make(
    *,
    pruner: dict[str, Any] | None = None,
    scheduler: dict[str, Any] | None = None,
    early_terminate: dict[str, Any] | None = None,
    strategy: str = "tpe",
    max_steps: int | None = None,
    maximize: bool = False,
) -> Pruning:
    return build(
        pruner=pruner,
        scheduler=scheduler,
        early_terminate=early_terminate,
        strategy=strategy,
        max_steps=max_steps,
        maximize=maximize,
        file="sweep.yaml",
    )


# -- median / percentile ---------------------------------------------------------------------------------------

# Median of the finished trials' bases when each later trial starts (trials 0-4 are the startup):
#   5 (0.9): median of .5 .3 .8 .1 .6 = .5 → pruned;   6 (0.2): kept, median of 6 becomes .4
#   7 (0.7), 8 (0.45): > .4 → pruned;                    9 (0.05): kept, median of 7 becomes .3
#   10 (0.95), 11 (0.35): > .3 → pruned.   With n_warmup_steps 3, all at step 3.
MEDIAN_PRUNED = {5: 3, 7: 3, 8: 3, 10: 3, 11: 3}


def test_median_prunes_the_trials_worse_than_the_median() -> None:
    pruning = make(pruner={"type": "median", "n_startup_trials": 5, "n_warmup_steps": 3})
    assert isinstance(pruning.pruner, optuna.pruners.MedianPruner)
    assert (pruning.name, pruning.source, pruning.rungs) == ("median", "pruner", [])
    assert pruning.description.startswith("median: after 5 finished trials, from step 3, every step")
    pruned, why = drive(pruning, [falling(b) for b in BASES], range(10))
    assert pruned == MEDIAN_PRUNED
    # 0.35 + 1/4 against the median of 7 finished trials' bases (.3) + 1/4
    assert why[11] == "0.6 is worse than the median 0.55 of 7 trials at step 3"
    assert why[5] == "1.15 is worse than the median 0.75 of 5 trials at step 3"


def test_hydra_hpo_pruner_section_loads_as_a_median_pruner() -> None:
    spec = load_spec(
        {
            "hpo": {
                "study": {"direction": "minimize"},
                "search_space": {"lr": {"type": "log_uniform", "low": 1e-6, "high": 1e-4}},
                "pruner": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1},
            }
        }
    )
    pruning = make(pruner=spec.extra["pruner"], strategy=spec.strategy.name)
    pruned, _ = drive(pruning, [falling(b) for b in BASES], range(10))
    assert pruned == {n: 0 for n in MEDIAN_PRUNED}


def test_percentile_keeps_the_best_quarter_when_maximizing() -> None:
    # Rising curves, maximize: a trial is pruned when below the 75th percentile of the finished bases
    # (percentile 25 keeps the best 25%). Finished 0-3: .5 .3 .8 .1 → 4 (0.6) vs .575 kept → 5 (0.9) vs .6 kept
    # → cutoff of 6 finished = .75: 6 (.2), 7 (.7), 8 (.45), 9 (.05) pruned; 10 (.95) kept → .85: 11 pruned.
    pruning = make(pruner={"type": "percentile", "percentile": 25, "n_startup_trials": 4, "n_warmup_steps": 1})
    pruned, why = drive(pruning, [rising(b) for b in BASES], range(10), direction="maximize")
    assert pruned == {6: 1, 7: 1, 8: 1, 9: 1, 11: 1}
    assert why[7] == "0.2 is worse than the 25th percentile 0.25 of 6 trials at step 1"


# -- successive halving (ASHA) ---------------------------------------------------------------------------------

# min_resource 1, reduction_factor 3: rungs at steps 1, 3, 9. A trial goes on if its value at the rung is
# within the best n//3 (at least the best one) of the n trials that reached the rung, itself included:
#   rung 1: 2 (.8) n=3 → only .3 goes on: pruned; 4 (.6) n=5, 5 (.9) n=6 (cutoff .3), 7 (.7) n=8 (cutoff .2),
#           8 (.45) n=9 (cutoff .3), 10 (.95), 11 (.35) n=12 (cutoff .3): pruned; 6 (.2) n=7 cutoff .2 goes on,
#   rung 3: 6 (.2) against .5 .3 .1: n=4, only the best (.1) goes on → pruned at step 3.
ASHA_PRUNED = {2: 1, 4: 1, 5: 1, 6: 3, 7: 1, 8: 1, 10: 1, 11: 1}


def test_asha_pruner_prunes_at_rungs() -> None:
    pruning = make(pruner={"type": "asha", "min_resource": 1, "reduction_factor": 3}, max_steps=9)
    assert isinstance(pruning.pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruning.name == "successive_halving"
    assert pruning.rungs == ["rungs at steps 1, 3, 9 (keep the best 1/3)"]
    pruned, why = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == ASHA_PRUNED
    assert why[11] == "at rung step 1, 0.85 is not in the best 1/3 of 12 trials (cutoff 0.8)"
    assert why[6] == "at rung step 3, 0.45 is not in the best 1/3 of 4 trials (cutoff 0.35)"


def test_ray_asha_scheduler_is_the_same_pruner() -> None:
    pruning = make(scheduler={"type": "ASHA", "max_t": 9, "grace_period": 1, "reduction_factor": 3})
    assert (pruning.name, pruning.source) == ("successive_halving", "scheduler")
    pruned, _ = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == ASHA_PRUNED


def test_hyperopt_flat_asha_keys_load_as_asha() -> None:
    spec = load_spec(
        {
            "hyperopt": {
                "strategy": "asha",
                "num_trials": 12,
                "metric": "eval_f1",
                "mode": "min",
                "asha_max_t": 9,
                "asha_grace_period": 1,
                "asha_reduction_factor": 3,
                "search_space": {"lr": {"type": "loguniform", "low": 1e-5, "high": 1e-3}},
            }
        }
    )
    pruning = make(**spec.extra, strategy=spec.strategy.name, maximize=spec.metric.maximize)
    assert (pruning.name, pruning.source) == ("successive_halving", "scheduler")
    assert pruning.rungs == ["rungs at steps 1, 3, 9 (keep the best 1/3)"]
    pruned, _ = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == ASHA_PRUNED


def test_ray_asha_defaults() -> None:
    # Ray's ASHAScheduler: max_t 100, grace_period 1, reduction_factor 4, brackets 1.
    pruning = make(scheduler={"type": "asha"})
    assert isinstance(pruning.pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruning.rungs == ["rungs at steps 1, 4, 16, 64 (keep the best 1/4)"]
    assert make(scheduler={"type": "asha"}, max_steps=20).rungs == ["rungs at steps 1, 4, 16 (keep the best 1/4)"]


def test_ray_asha_brackets_become_hyperband_brackets() -> None:
    pruning = make(scheduler={"type": "async_hyperband", "grace_period": 1, "reduction_factor": 3, "brackets": 3})
    assert isinstance(pruning.pruner, optuna.pruners.HyperbandPruner)
    assert pruning.rungs == [
        "bracket 0: rungs at steps 1, 3, 9, 27, 81 (keep the best 1/3)",
        "bracket 1: rungs at steps 3, 9, 27, 81 (keep the best 1/3)",
        "bracket 2: rungs at steps 9, 27, 81 (keep the best 1/3)",
    ]
    for brackets in (2, 3, 4, 5, 6):  # Optuna's own bracket count matches, float logs and all
        built = make(scheduler={"reduction_factor": 3, "brackets": brackets, "max_t": 10_000})
        study = optuna.create_study()
        study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={1: 1.0}))
        built.pruner._try_initialization(study)
        assert len(built.pruner._pruners) == brackets


# -- hyperband -------------------------------------------------------------------------------------------------

# min_resource 1, max_resource 9, reduction_factor 3: 3 brackets (rungs 1,3,9 / 3,9 / 9). With the study name
# "pruner-test", Optuna's hash puts trials 0, 6 in bracket 2, trials 3, 4 in bracket 1, the others in bracket 0.
#   bracket 2: 0 (.5), 6 (.2) → both finish (6 is the best at step 9).   bracket 1: 3 (.1) finishes; 4 (.6) is
#   not the best of 2 at step 3 → pruned.   bracket 0: 1 (.3) finishes; 2, 5, 7, 8 worse than .3 at step 1
#   (n < 6: only the best goes on); 9 (.05) goes on; 10 (.95) and 11 (.35) above the cutoff .3 (n=7, 8).
HYPERBAND_PRUNED = {2: 1, 4: 3, 5: 1, 7: 1, 8: 1, 10: 1, 11: 1}
HYPERBAND_RUNGS = [
    "bracket 0: rungs at steps 1, 3, 9 (keep the best 1/3)",
    "bracket 1: rungs at steps 3, 9 (keep the best 1/3)",
    "bracket 2: rung at step 9 (keep the best 1/3)",
]


@pytest.mark.parametrize(
    "kwargs, source",
    [
        ({"pruner": {"type": "hyperband", "min_resource": 1, "reduction_factor": 3}, "max_steps": 9}, "pruner"),
        ({"pruner": {"type": "HyperbandPruner", "max_resource": 9}}, "pruner"),
        ({"scheduler": {"type": "hyperband", "max_t": 9, "reduction_factor": 3}}, "scheduler"),
        ({"strategy": "hyperband", "max_steps": 9}, "strategy hyperband"),
    ],
)
def test_hyperband_from_every_dialect(kwargs: dict[str, Any], source: str) -> None:
    pruning = make(**kwargs)
    assert isinstance(pruning.pruner, optuna.pruners.HyperbandPruner)
    assert (pruning.name, pruning.source) == ("hyperband", source)
    assert pruning.rungs == HYPERBAND_RUNGS
    pruned, why = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == HYPERBAND_PRUNED
    assert why[4] == "at rung step 3 (bracket 1), 0.85 is not the best of the 2 trials there (best 0.35)"
    assert why[11] == "at rung step 1 (bracket 0), 0.85 is not in the best 1/3 of 8 trials (cutoff 0.8)"


def test_hyperband_without_max_steps_waits_for_the_first_trial() -> None:
    pruning = make(pruner={"type": "hyperband"})
    assert pruning.pruner._max_resource == "auto"
    assert pruning.rungs[0] == "bracket 0: rungs at steps 1, 3, 9, 27, … (keep the best 1/3)"


# -- strategies ------------------------------------------------------------------------------------------------


def test_strategy_asha_is_asha_with_min_resource_from_the_steps() -> None:
    # max_steps 9 → min_resource max(1, 9 // 100) = 1, reduction_factor 4: rungs at 1 and 4.
    # rung 1: only the best of the first 7 arrivals goes on; 6 (.2) loses to .1 there; from n=8 the best 2 go on
    # (cutoff .2, then .1 once .05 arrives): 9 (.05) goes on and wins rung 4 too.
    pruning = make(strategy="asha", max_steps=9)
    assert (pruning.name, pruning.source) == ("successive_halving", "strategy asha")
    assert pruning.rungs == ["rungs at steps 1, 4 (keep the best 1/4)"]
    pruned, _ = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == {2: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 10: 1, 11: 1}
    assert make(strategy="asha").pruner._min_resource is None  # auto: set when the first trial finishes


def test_strategy_combined_has_asha_rungs_from_2_9_of_the_steps() -> None:
    # the first rung at 2/9 of the steps (at least step 1), then x3; ASHA's rule (the best third kept at each)
    # until 5 trials have finished, then the forecast (tests/pruner/test_forecast.py)
    pruning = make(strategy="combined", max_steps=27)
    assert (pruning.name, pruning.source) == ("forecast", "strategy combined")
    rule = "keep the best 1/3 until 5 have finished, then a 5% chance to beat the best"
    assert pruning.rungs == [f"rungs at steps 6, 18 ({rule})"]
    assert make(strategy="combined", max_steps=81).rungs == [f"rungs at steps 18, 54 ({rule})"]
    assert make(strategy="combined", max_steps=100).rungs == [f"rungs at steps 22, 66 ({rule})"]
    # with 5 steps the rungs are 1 and 3, and only 4 of these trials finish: the ASHA of the hand-worked cases
    pruned, why = drive(make(strategy="combined", max_steps=5), [falling(b) for b in BASES], range(1, 10))
    assert pruned == ASHA_PRUNED
    assert why[2] == (
        "at rung step 1, 1.3 is not in the best 1/3 of 3 trials (cutoff 0.8) (ASHA's rule until 5 trials have finished)"
    )
    assert make(strategy="combined").pruner.min_resource == 1  # no budget.steps: from step 1


@pytest.mark.parametrize("strategy", ["random", "tpe", "optuna", "grid", "auto"])
def test_other_strategies_do_not_prune(strategy: str) -> None:
    pruning = make(strategy=strategy, max_steps=9)
    assert isinstance(pruning.pruner, optuna.pruners.NopPruner)
    assert (pruning.name, pruning.source, pruning.rungs) == ("none", "default", [])
    pruned, why = drive(pruning, [falling(b) for b in BASES], range(1, 10))
    assert pruned == {}


def test_an_explicit_section_beats_the_strategy_default() -> None:
    pruning = make(pruner={"type": "median"}, strategy="asha", max_steps=9)
    assert (pruning.name, pruning.source) == ("median", "pruner")


def test_hyperopt_combined_with_optuna_pruner_and_asha_keys_uses_asha() -> None:
    spec = load_spec(
        {
            "hyperopt": {
                "strategy": "combined",
                "optuna_pruner": "median",
                "optuna_n_startup_trials": 10,
                "asha_max_t": 100,
                "asha_grace_period": 10,
                "asha_reduction_factor": 3,
                "search_space": {"lr": {"type": "loguniform", "low": 1e-5, "high": 1e-3}},
            }
        }
    )
    pruning = make(**spec.extra, strategy=spec.strategy.name)
    assert (pruning.name, pruning.source) == ("successive_halving", "scheduler")
    assert pruning.rungs == ["rungs at steps 10, 30, 90 (keep the best 1/3)"]
    assert pruning.notes == ["pruner is ignored: strategy combined stops trials with the scheduler"]
    optuna_family = make(**spec.extra, strategy="optuna")
    assert (optuna_family.name, optuna_family.source) == ("median", "pruner")


def test_hyperopt_optuna_n_startup_trials_beside_a_pruner_without_startup_is_noted() -> None:
    pruning = make(pruner={"type": "hyperband", "n_startup_trials": 10}, max_steps=27)
    assert pruning.name == "hyperband"
    assert pruning.notes == ["pruner.n_startup_trials is ignored: the hyperband pruner has no startup phase"]
    assert make(pruner={"type": "none", "n_startup_trials": 10}).name == "none"


# -- threshold, patient, wilcoxon, none ------------------------------------------------------------------------


def test_threshold_prunes_outside_the_bounds() -> None:
    # from step 2: 0.05 + 1/3 = .383 stays under 0.4; 0.1 and 0.25 go over; -0.6 + 1/4 = -.35 falls under -0.3.
    pruning = make(pruner={"type": "threshold", "lower": -0.3, "upper": 0.4, "n_warmup_steps": 2})
    assert (
        pruning.description == "threshold: from step 2, every step: stop a trial whose value is below -0.3 or above 0.4"
    )
    pruned, why = drive(pruning, [falling(b) for b in (0.05, 0.1, 0.25, -0.6)], range(10))
    assert pruned == {1: 2, 2: 2, 3: 3}
    assert why[1] == "0.4333 is above the upper threshold 0.4 at step 2"
    assert why[3] == "-0.35 is below the lower threshold -0.3 at step 3"


def test_patient_prunes_after_patience_steps_without_improvement() -> None:
    curves = [
        lambda step: 1 / (step + 1),  # always improving
        lambda step: [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7][step],  # best at step 3, then worse
    ]
    pruning = make(pruner={"type": "patient", "patience": 2})
    assert pruning.pruner._wrapped_pruner is None  # stops on patience alone
    pruned, why = drive(pruning, curves, range(8))
    # steps 4, 5, 6 (patience + 1 values) are all worse than the 0.5 of step 3
    assert pruned == {1: 6}
    assert why[1] == "no improvement of more than 0 for 2 steps (best 0.5 before step 4, 0.55 since)"


def test_patient_wraps_another_pruner() -> None:
    pruning = make(pruner={"type": "patient", "patience": 3, "min_delta": 0.01, "wrapped": {"type": "median"}})
    assert isinstance(pruning.pruner._wrapped_pruner, optuna.pruners.MedianPruner)
    assert pruning.description.startswith(
        "patient: stop a trial after 3 steps without an improvement of more than 0.01, once the wrapped median"
    )
    assert isinstance(
        make(pruner={"type": "patient", "patience": 1, "wrapped": "none"}).pruner._wrapped_pruner, type(None)
    )


def test_wilcoxon_prunes_a_trial_worse_at_every_instance() -> None:
    # Trial 0 sets the best; trial 1 is 0.5 worse at every instance: all differences positive, so the one-sided
    # signed-rank p-value halves with each instance: 1/8 at 3, 1/16 < 0.1 at 4 instances (step 3).
    curves = [lambda step: [1.0, 2.0, 1.5, 3.0, 2.5, 1.0][step], lambda step: [1.5, 2.5, 2.0, 3.5, 3.0, 1.5][step]]
    pruning = make(pruner={"type": "wilcoxon", "p_threshold": 0.1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned, why = drive(pruning, curves, range(6))
    assert pruned == {1: 3}
    assert why[1] == (
        "its values at 4 steps are higher than the best trial #0's at the same steps "
        "(Wilcoxon signed-rank test, p = 0.0625 < 0.1)"
    )


def test_none_never_prunes() -> None:
    pruning = make(pruner={"type": "none"})
    assert isinstance(pruning.pruner, optuna.pruners.NopPruner)
    pruned, _ = drive(pruning, [falling(b) for b in BASES], range(5))
    assert pruned == {}


# -- explain ---------------------------------------------------------------------------------------------------


def test_explain_a_trial_that_stopped_itself() -> None:
    pruning = make(pruner={"type": "median", "n_startup_trials": 0})
    study = optuna.create_study(pruner=pruning.pruner)
    trial = study.ask()
    trial.report(1.0, 0)
    assert explain(pruning, study, trial, 0) == (
        "stopped at step 0 by the trial itself: the median pruner did not call for it"
    )
    none = make()
    assert explain(none, study, trial) == "stopped at step 0 by the trial itself (no pruner is configured)"


def test_explain_never_raises() -> None:
    pruning = make(pruner={"type": "median"})
    assert explain(pruning, object(), object(), 4) == "pruned at step 4 by the median pruner"  # type: ignore[arg-type]

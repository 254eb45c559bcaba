"""Bad early-stopping settings are SpecErrors naming the file and the key, with a did-you-mean where one fits."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from sweepkit.errors import SpecError
from sweepkit.pruner import build
from sweepkit.pruner._build import PRUNER_TYPES
from sweepkit.pruner._models import PRUNER_OPTIONS


def make(**kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "pruner": None,
        "scheduler": None,
        "early_terminate": None,
        "strategy": "tpe",
        "max_steps": None,
        "maximize": False,
        "file": "sweep.yaml",
    }
    return build(**{**args, **kwargs})


def error(**kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        make(**kwargs)
    assert info.value.file == "sweep.yaml"
    return info.value


@pytest.mark.parametrize(
    "section, key, message",
    [
        ({"type": "medain"}, "pruner.type", 'unknown pruner type "medain" (did you mean "median"?)'),
        ({"type": "bogus"}, "pruner.type", "expected one of none, median, percentile, hyperband"),
        (
            {"type": "median", "n_startup_trial": 3},
            "pruner.n_startup_trial",
            'unknown option "n_startup_trial" for pruner median (did you mean "n_startup_trials"?)',
        ),
        (
            {"type": "hyperband", "percentile": 25},
            "pruner.percentile",
            'unknown option "percentile" for pruner hyperband',
        ),
        ({"type": "threshold", "upper": 1, "n_startup_trials": 5, "patience": 2}, "pruner.patience", "unknown option"),
        ({"type": "median", "n_startup_trials": -1}, "pruner.n_startup_trials", "must be at least 0, got -1"),
        ({"type": "median", "n_startup_trials": True}, "pruner.n_startup_trials", "expected an integer, found true"),
        ({"type": "median", "interval_steps": 0}, "pruner.interval_steps", "must be at least 1"),
        ({"type": "percentile"}, "pruner", "needs `percentile`"),
        ({"type": "percentile", "percentile": 150}, "pruner.percentile", "must be at most 100"),
        ({"type": "asha", "reduction_factor": 1}, "pruner.reduction_factor", "must be at least 2"),
        ({"type": "asha", "min_resource": "soon"}, "pruner.min_resource", 'or "auto"'),
        ({"type": "hyperband", "min_resource": 10, "max_resource": 5}, "pruner.min_resource", "more than max_resource"),
        ({"type": "hyperband", "max_resource": "sometimes"}, "pruner.max_resource", 'or "auto"'),
        ({"type": "threshold"}, "pruner", "needs `lower`, `upper` or both"),
        ({"type": "threshold", "lower": 2, "upper": 1}, "pruner.lower", "lower 2 is above upper 1"),
        ({"type": "patient"}, "pruner", "needs `patience`"),
        ({"type": "patient", "patience": 2, "min_delta": -1}, "pruner.min_delta", "must be at least 0"),
        ({"type": "patient", "patience": 2, "wrapped": {"type": "medain"}}, "pruner.wrapped.type", "did you mean"),
        ({"type": "patient", "patience": 2, "wrapped": [1]}, "pruner.wrapped", "expected a pruner"),
        ({"type": "wilcoxon", "p_threshold": 2}, "pruner.p_threshold", "must be at most 1"),
    ],
)
def test_bad_pruner(section: dict[str, Any], key: str, message: str) -> None:
    exc = error(pruner=section)
    assert exc.key == key
    assert message in exc.message


def test_hyperband_min_resource_beyond_the_steps() -> None:
    exc = error(pruner={"type": "hyperband", "min_resource": 10}, max_steps=5)
    assert exc.key == "pruner.min_resource"
    assert exc.message == "min_resource 10 is more than the sweep's 5 steps per trial (budget.steps)"


@pytest.mark.parametrize(
    "section, key, message",
    [
        ({"type": "pbt"}, "scheduler.type", 'unknown scheduler type "pbt"'),
        ({"type": "ashaa"}, "scheduler.type", 'did you mean "asha"'),
        ({"type": "asha", "grace_periods": 2}, "scheduler.grace_periods", 'did you mean "grace_period"'),
        (
            {"type": "hyperband", "brackets": 2},
            "scheduler.brackets",
            'unknown option "brackets" for scheduler hyperband',
        ),
        ({"type": "asha", "time_attr": "time_total_s"}, "scheduler.time_attr", "reported steps"),
        ({"type": "asha", "reduction_factor": 1}, "scheduler.reduction_factor", "must be at least 2"),
        ({"type": "asha", "reduction_factor": 2.5}, "scheduler.reduction_factor", "expected an integer, found 2.5"),
        ({"type": "asha", "grace_period": 0}, "scheduler.grace_period", "must be at least 1"),
        ({"type": "asha", "grace_period": 20, "max_t": 10}, "scheduler.grace_period", "more than max_t 10"),
        ({"type": "asha", "brackets": 0}, "scheduler.brackets", "must be at least 1"),
        ({"type": "asha", "mode": "max"}, "scheduler.mode", "disagrees with the sweep's goal (minimize)"),
        ({"type": "asha", "mode": "sideways"}, "scheduler.mode", "mode must be min or max"),
    ],
)
def test_bad_scheduler(section: dict[str, Any], key: str, message: str) -> None:
    exc = error(scheduler=section)
    assert exc.key == key
    assert message in exc.message


def test_scheduler_notes() -> None:
    pruning = make(scheduler={"type": "asha", "metric": "loss", "mode": "min", "max_t": 50}, max_steps=20)
    assert pruning.notes == [
        "scheduler.metric is ignored: the pruner watches the sweep's metric",
        "scheduler.max_t 50 sets the rungs only: trials run the sweep's 20 steps (Ray would stop them at max_t)",
    ]
    fifo = make(scheduler={"type": "FIFOScheduler"})
    assert fifo.name == "none"


@pytest.mark.parametrize(
    "sections, key",
    [
        ({"pruner": {"type": "median"}, "early_terminate": {"type": "hyperband", "min_iter": 3}}, "early_terminate"),
        ({"scheduler": {"type": "asha"}, "early_terminate": {"type": "hyperband", "min_iter": 3}}, "early_terminate"),
        ({"pruner": {"type": "median"}, "scheduler": {"type": "asha"}}, "scheduler"),
    ],
)
def test_two_sections_at_once(sections: dict[str, Any], key: str) -> None:
    exc = error(**sections)
    assert exc.key == key
    assert "both set early stopping; keep one" in exc.message


def test_two_sections_with_hyperopt_family_words() -> None:
    both = {"pruner": {"type": "median"}, "scheduler": {"grace_period": 2}}
    assert make(**both, strategy="combined").source == "scheduler"
    assert make(**both, strategy="asha").source == "scheduler"
    assert make(**both, strategy="optuna").source == "pruner"
    assert "strategy: combined or asha for the scheduler" in error(**both, strategy="random").message


def test_user_keys_in_errors() -> None:
    with pytest.raises(SpecError) as info:
        build(
            pruner={"type": "median", "n_startup_trials": -5},
            scheduler=None,
            early_terminate=None,
            strategy="tpe",
            max_steps=None,
            maximize=False,
            file="hyperopt.yaml",
            origins={"pruner.n_startup_trials": "hyperopt.optuna_n_startup_trials"},
        )
    assert info.value.key == "hyperopt.optuna_n_startup_trials"


def test_a_section_that_is_not_a_mapping() -> None:
    assert error(pruner="median").key == "pruner"  # type: ignore[arg-type]


def test_empty_sections_count_as_absent() -> None:
    assert make(pruner={}, early_terminate={}).name == "none"


def test_grace_period_beyond_the_steps() -> None:
    never = make(scheduler={"grace_period": 10}, max_steps=5)  # asha: its first rung is never reached
    assert never.notes == ["the first rung (step 10) is beyond the 5 steps a trial runs: it never stops a trial"]
    exc = error(scheduler={"type": "hyperband", "grace_period": 100})
    assert exc.message == "grace_period 100 is more than Ray's default max_t 81"


def test_type_defaults() -> None:
    assert make(pruner={"n_startup_trials": 10}).name == "median"  # Optuna's default pruner
    assert make(pruner={"type": None}).name == "none"
    assert make(pruner={"type": "MedianPruner"}).name == "median"
    assert make(pruner={"type": "successive-halving"}).name == "successive_halving"


def test_brackets_beyond_the_steps_say_so() -> None:
    pruning = make(scheduler={"grace_period": 4, "reduction_factor": 2, "brackets": 3, "max_t": 10})
    assert pruning.rungs == [
        "bracket 0: rungs at steps 4, 8 (keep the best 1/2)",
        "bracket 1: rung at step 8 (keep the best 1/2)",
        "bracket 2: no rung within 10 steps (the first is at step 16)",
    ]


def test_each_pruner_model_is_its_optuna_class_arguments() -> None:
    """The models' defaults stand for what Optuna does with an option left out (descriptions read them): an Optuna
    that renames, adds or re-defaults an argument fails here rather than in a wrong description."""
    for name, model in PRUNER_OPTIONS.items():
        params = inspect.signature(PRUNER_TYPES[name]).parameters
        fields = {"wrapped_pruner" if key == "wrapped" else key: info for key, info in model.model_fields.items()}
        assert set(fields) == set(params), name
        for key, param in params.items():
            if param.default is not inspect.Parameter.empty:
                assert fields[key].default == param.default, (name, key)


def test_unknown_option_lists_what_the_type_accepts() -> None:
    exc = error(pruner={"type": "patient", "patience": 2, "zzz": 1})
    assert exc.key == "pruner.zzz"
    accepts = "pruner patient accepts: wrapped, patience, min_delta"
    assert exc.message == f'unknown option "zzz" for pruner patient; {accepts}'
    assert make(pruner={"type": "patient", "patience": 2, "wrapped_pruner": "median"}).name == "patient"

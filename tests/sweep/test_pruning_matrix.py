"""Every pruner type from every dialect that can express it, through the engine, for both trial kinds.

Each trial follows a deterministic learning curve picked by its number (whatever the sampler proposes), so
which trials are pruned, and at which step, is fixed by the pruner's rule alone. The expected prunings for the
12 falling curves `base + 1/(step + 1)` are worked out by hand in tests/pruner/test_pruner_build.py (median,
ASHA, Hyperband) and below (the others); the sweep is named "pruner-test" there and here, because Optuna's
Hyperband puts trials in brackets by hashing the study name and the trial number.

Function trials cover the dialect mapping (native `pruner:`, a Hydra `hpo:` section, `hyperopt:` flat keys, Ray's
`scheduler:`, W&B's `early_terminate:`, the strategy words). Program trials, slower (a process each), run one
case per pruner type, through a different dialect each where one can express it, and check that a pruned
program and the process it started are gone.
"""

from __future__ import annotations

import textwrap
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.store import Store
from tests.pruner.test_pruner_build import ASHA_PRUNED, BASES, HYPERBAND_PRUNED, MEDIAN_PRUNED, STUDY
from tests.sweep.test_program import gone

Curve = Callable[[int], float]

# Percentile 25, 4 startup trials, warm-up 1 (minimizing: keep the best quarter). The finished bases when each
# trial starts: .5 .3 .8 .1 → 25th percentile .25: 4 (.6), 5 (.9) pruned; 6 (.2) kept → .2: 7 (.7), 8 (.45)
# pruned; 9 (.05) kept → .125: 10 (.95), 11 (.35) pruned. All at step 1, where the warm-up ends.
PERCENTILE_PRUNED = {4: 1, 5: 1, 7: 1, 8: 1, 10: 1, 11: 1}
# Upper threshold 0.8 from step 2: base + 1/3 > 0.8 for the bases above 0.467.
THRESHOLD_PRUNED = {0: 2, 2: 2, 4: 2, 5: 2, 7: 2, 10: 2}
# Wilcoxon, p < 0.1: a trial worse than the best finished one at every step is pruned when the one-sided
# signed-rank p-value, 1/2^n for n steps all worse, first drops below 0.1: at 4 steps (step 3). Trials that
# beat the best so far (0, 1, 3, 9) finish and become the best.
WILCOXON_PRUNED = {n: 3 for n in (2, 4, 5, 6, 7, 8, 10, 11)}
# W&B, min_iter 3, eta 2: bands at the 3rd and 6th reported values (steps 2 and 5). At a band, a trial stops
# when its value is worse than the value at position int(n/2) of the n trials' values there, best first.
# Band 3: 2 (.8) vs .3 of {.5 .3 .8}; 4, 5, 7, 10 likewise; 8 (.45) is 5th of 9 → goes on. Band 6 (trials
# with 6 values: 0, 1, 3, 6 and itself): 8 (.45) vs .3 → stops; 11 (.35) vs .3 of {.5 .3 .1 .2 .05 .35} → stops.
WANDB_PRUNED = {2: 2, 4: 2, 5: 2, 7: 2, 8: 5, 10: 2, 11: 5}
# Strategy asha with 9 steps: min_resource 1, reduction factor 4 (tests/pruner: test_strategy_asha_...).
STRATEGY_ASHA_PRUNED = {2: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 10: 1, 11: 1}


def falling(base: float) -> Curve:
    return lambda step: base + 1 / (step + 1)


STALLING = [1.0, 0.8, 0.6, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]  # best at step 3, worse after


def patient_curve(number: int) -> Curve:
    """Even trials always improve; odd ones stall after step 3 (patience 2 → pruned at step 6)."""
    return (lambda step: 1 / (step + 1)) if number % 2 == 0 else (lambda step: STALLING[step])


FALLING = [falling(b) for b in BASES]
PATIENT = [patient_curve(n) for n in range(4)]
SPACE = {"x": {"min": 0.0, "max": 1.0}}  # searched, never read: the curve comes from the trial number


@dataclass
class Case:
    spec: dict[str, Any]
    steps: Sequence[int]
    pruned: dict[int, int]
    name: str  # the pruner's name, which starts each pruned trial's reason
    curves: list[Curve] = field(default_factory=lambda: FALLING)


def native(section: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"pruner": section, "strategy": {"name": "random", "seed": 0}, **extra}


def hyperopt(**keys: Any) -> dict[str, Any]:
    """The `hyperopt:` workflow's `hyperopt:` section with its flat keys."""
    return {"hyperopt": {"study_name": STUDY, "metric": "loss", "mode": "min", "search_space": SEARCH, **keys}}


SEARCH = {"x": {"type": "uniform", "low": 0.0, "high": 1.0}}
R1 = range(1, 10)  # rung cases report steps 1..9 as tests/pruner does (rungs at 1, 3, 9)
R0 = range(10)

FUNCTION_CASES: dict[str, Case] = {
    # native / Optuna `pruner:`
    "native-none": Case(native({"type": "none"}), R0, {}, "none"),
    "native-median": Case(native({"type": "median", "n_startup_trials": 5, "n_warmup_steps": 3}), R0,
                          MEDIAN_PRUNED, "median"),
    "native-percentile": Case(native({"type": "percentile", "percentile": 25, "n_startup_trials": 4,
                                      "n_warmup_steps": 1}), R0, PERCENTILE_PRUNED, "percentile"),
    "native-hyperband": Case(native({"type": "hyperband", "min_resource": 1, "reduction_factor": 3},
                                    budget={"steps": 9}), R1, HYPERBAND_PRUNED, "hyperband"),
    "native-asha": Case(native({"type": "asha", "min_resource": 1, "reduction_factor": 3}), R1, ASHA_PRUNED,
                        "successive_halving"),
    "native-successive-halving": Case(native({"type": "SuccessiveHalvingPruner", "min_resource": 1,
                                              "reduction_factor": 3}), R1, ASHA_PRUNED, "successive_halving"),
    "native-threshold": Case(native({"type": "threshold", "upper": 0.8, "n_warmup_steps": 2}), R0,
                             THRESHOLD_PRUNED, "threshold"),
    "native-patient": Case(native({"type": "patient", "patience": 2}), R0, {1: 6, 3: 6}, "patient", PATIENT),
    "native-wilcoxon": Case(native({"type": "wilcoxon", "p_threshold": 0.1}), R0, WILCOXON_PRUNED, "wilcoxon"),
    # the Hydra + MLflow workflow: hpo.pruner
    "hydra-hpo-median": Case(
        {"hpo": {"study": {"study_name": STUDY, "direction": "minimize"}, "sampler": {"type": "random", "seed": 0},
                 "search_space": SEARCH, "pruner": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 3}}},
        R0, MEDIAN_PRUNED, "median",
    ),
    # the `hyperopt:` workflow: optuna_pruner (no warm-up: the median prunes from step 0), asha_* keys, epochs_per_trial
    "hyperopt-optuna-median": Case(hyperopt(strategy="optuna", optuna_sampler="Random", optuna_pruner="median",
                                           optuna_n_startup_trials=5), R0, {n: 0 for n in MEDIAN_PRUNED}, "median"),
    "hyperopt-optuna-hyperband": Case(hyperopt(strategy="optuna", optuna_sampler="Random", optuna_pruner="hyperband",
                                              epochs_per_trial=9), R1, HYPERBAND_PRUNED, "hyperband"),
    "hyperopt-optuna-none": Case(hyperopt(strategy="optuna", optuna_sampler="Random", optuna_pruner="none"), R0, {},
                                "none"),
    "hyperopt-asha-keys": Case(hyperopt(strategy="asha", asha_max_t=9, asha_grace_period=1, asha_reduction_factor=3),
                              R1, ASHA_PRUNED, "successive_halving"),
    # Ray Tune: scheduler
    "ray-asha": Case({"scheduler": {"type": "asha", "max_t": 9, "grace_period": 1, "reduction_factor": 3},
                      "strategy": {"name": "random", "seed": 0}}, R1, ASHA_PRUNED, "successive_halving"),
    "ray-hyperband": Case({"scheduler": {"type": "HyperBandScheduler", "max_t": 9, "reduction_factor": 3},
                           "strategy": {"name": "random", "seed": 0}}, R1, HYPERBAND_PRUNED, "hyperband"),
    "ray-fifo": Case({"scheduler": {"type": "fifo"}, "strategy": {"name": "random"}}, R0, {}, "none"),
    # W&B: early_terminate
    "wandb-hyperband": Case({"method": "random", "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2}},
                            R0, WANDB_PRUNED, "wandb-hyperband"),
    # strategy words
    "strategy-asha": Case({"strategy": {"name": "asha", "seed": 0}, "budget": {"steps": 9}}, R1,
                          STRATEGY_ASHA_PRUNED, "successive_halving"),
    "strategy-hyperband": Case({"strategy": {"name": "hyperband", "seed": 0}, "budget": {"steps": 9}}, R1,
                               HYPERBAND_PRUNED, "hyperband"),
    # combined: TPE + ASHA's rungs, at 1 and 3 for 5 steps (2/9 of them, at least 1, then x3); ASHA's rule while
    # fewer than 5 trials have finished, which is all of these (0, 1, 3, 9 finish)
    "strategy-combined": Case({"strategy": {"name": "combined", "seed": 0}, "budget": {"steps": 5}}, R1, ASHA_PRUNED,
                              "forecast"),
    # the `hyperopt:` workflow's combined with its asha_* keys: the scheduler's ASHA (Optuna's), with TPE
    "hyperopt-combined-asha-keys": Case(hyperopt(strategy="combined", optuna_sampler="TPE", asha_max_t=9,
                                                asha_grace_period=1, asha_reduction_factor=3),
                                       R1, ASHA_PRUNED, "successive_halving"),
    "strategy-optuna": Case({"strategy": {"name": "optuna", "seed": 0}, "budget": {"steps": 9}}, R1, {}, "none"),
}  # fmt: skip


def with_space(spec: dict[str, Any]) -> dict[str, Any]:
    """The case's sections plus the sweep's name, metric and space, in the dialect's own keys."""
    if "hpo" in spec or "hyperopt" in spec:
        return spec
    return {"name": STUDY, "metric": {"name": "loss", "goal": "minimize"}, "parameters": SPACE, **spec}


def pruned_steps(result: sweepkit.SweepResult, last_step: dict[int, int]) -> dict[int, int]:
    return {t.number: last_step[t.number] for t in result.trials if t.state == "PRUNED"}


@pytest.mark.parametrize(
    "case_id",
    [pytest.param(c, marks=pytest.mark.slow) if c == "native-wilcoxon" else c for c in FUNCTION_CASES],
)
def test_function_trials(case_id: str, workdir: Path) -> None:
    case = FUNCTION_CASES[case_id]
    last_step: dict[int, int] = {}

    def objective(params: dict[str, Any], trial: Any) -> float:
        curve, value = case.curves[trial.number], 0.0
        for step in case.steps:
            value = curve(step)
            last_step[trial.number] = step
            trial.report(value, step)  # raises TrialPruned when the pruner says stop
        return value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's small-sample note for the Wilcoxon test
        result = sweepkit.run(with_space(case.spec), objective=objective, trials=len(case.curves), quiet=True)
    assert len(result.trials) == len(case.curves)
    assert pruned_steps(result, last_step) == case.pruned
    assert {t.state for t in result.trials if t.number not in case.pruned} <= {"COMPLETE"}
    for t in result.trials:
        if t.state == "PRUNED":
            assert t.reason and t.reason.startswith(f"{case.name}: "), t.reason


# -- program trials ----------------------------------------------------------------------------------------------

PROGRAM = """\
import os, subprocess, sys, time
import sweepkit

FIRST, BASES, PATIENT = {first}, {bases}, {patient}
STALLING = {stalling}
run = sweepkit.init()
child = subprocess.Popen(["sleep", "300"])  # the program's own child: it must go when the program is stopped
open("pids-%d" % run.trial, "w").write("%d %d" % (os.getpid(), child.pid))


def value(step):
    if PATIENT:
        return 1 / (step + 1) if run.trial % 2 == 0 else STALLING[step]
    return BASES[run.trial] + 1 / (step + 1)


for step in range(FIRST, FIRST + run.max_steps):  # run.max_steps: the sweep's budget.steps
    run.log({{"loss": value(step)}}, step=step)  # raises TrialPruned once the runner asked it to stop
    time.sleep(0.01)
for _ in range(60):  # time for the runner (it polls every 0.1 s) to read the last steps before the exit
    if run.should_stop():
        break
    time.sleep(0.01)
"""


@dataclass
class ProgramCase:
    spec: dict[str, Any]
    bases: list[float]
    pruned: dict[int, int]
    name: str
    first: int = 0
    steps: int = 10
    patient: bool = False
    reason: str = ""  # in each pruned trial's reason


PROGRAM_CASES: dict[str, ProgramCase] = {
    # the default: no early stopping (a strategy word without one)
    "none": ProgramCase({"strategy": {"name": "random"}}, [0.5, 0.9], {}, "none"),
    # 1 startup trial, warm-up 1: trial 1 (.5) is above the median .3 at step 1; trial 2 (.1) is below.
    "median": ProgramCase({"pruner": {"type": "median", "n_startup_trials": 1, "n_warmup_steps": 1}},
                          [0.3, 0.5, 0.1], {1: 1}, "median"),
    # 25th percentile of .3 and .5 is .35: trial 2 (.6) goes at step 1.
    "percentile": ProgramCase({"hpo": {"pruner": {"type": "percentile", "percentile": 25, "n_startup_trials": 2,
                                                  "n_warmup_steps": 1}}}, [0.3, 0.5, 0.6], {2: 1}, "percentile"),
    # HYPERBAND_PRUNED's first five trials: 2 at step 1 (bracket 0), 4 at step 3 (bracket 1).
    "hyperband": ProgramCase({"strategy": {"name": "hyperband"}}, BASES[:5], {2: 1, 4: 3}, "hyperband", first=1,
                             steps=9),
    # ASHA_PRUNED's first three: 2 (.8) is not the best of 3 at rung 1.
    "successive_halving": ProgramCase({"scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3}},
                                      BASES[:3], {2: 1}, "successive_halving", first=1, steps=9),
    "threshold": ProgramCase({"pruner": {"type": "threshold", "upper": 0.8, "n_warmup_steps": 2}}, [0.1, 0.9],
                             {1: 2}, "threshold"),
    "patient": ProgramCase({"pruner": {"type": "patient", "patience": 2}}, [0.0, 0.0], {1: 6}, "patient",
                           patient=True),
    "wilcoxon": ProgramCase({"pruner": {"type": "wilcoxon", "p_threshold": 0.1}}, [0.3, 0.8], {1: 3}, "wilcoxon"),
    # combined's ASHA, rungs 2 and 6 for 9 steps: 2 (.8) goes at rung 2.
    "combined": ProgramCase({"strategy": {"name": "combined"}}, BASES[:3], {2: 2}, "forecast", first=1, steps=9),
    # combined once 5 trials have finished: each of .9 .8 .7 .6 .5 is the best at every rung, so all 5 finish; at
    # rung 2, .55 is in ASHA's best 1/3 (second of 6) but the finished trials, which all gained the same since
    # step 1, lie on a line that forecasts it ends at .65, worse than the best .6: stopped; .4 forecasts .5 and
    # goes on.
    "combined-forecast": ProgramCase({"strategy": {"name": "combined"}}, [0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.4],
                                     {5: 2}, "forecast", first=1, steps=9,
                                     reason="forecasts a final 0.65 ± 0 from 5 finished trials: a 0.0% chance of "
                                            "beating the best 0.6 (below 5%)"),
    # band 3 (step 2): trial 2 (.9) is worse than .2, the value at int(3/2) of {.1 .2 .9}.
    "wandb-hyperband": ProgramCase({"method": "random", "early_terminate": {"type": "hyperband", "min_iter": 3,
                                                                           "eta": 2}},
                                   [0.1, 0.2, 0.9], {2: 2}, "wandb-hyperband"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case_id", list(PROGRAM_CASES))
def test_program_trials(case_id: str, workdir: Path) -> None:
    case = PROGRAM_CASES[case_id]
    (workdir / "train.py").write_text(
        textwrap.dedent(PROGRAM).format(first=case.first, bases=case.bases, patient=case.patient, stalling=STALLING)
    )
    spec: dict[str, Any] = {
        "name": STUDY,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": SPACE,
        "budget": {"steps": case.steps},
        "command": ["python", "train.py"],
        **case.spec,
    }
    if not {"strategy", "method", "hpo"} & spec.keys():
        spec["strategy"] = {"name": "random"}
    if "hpo" in spec:  # the Hydra + MLflow workflow keeps the space and the study inside hpo:
        spec["hpo"] = {"study": {"study_name": STUDY}, "search_space": SEARCH, **spec["hpo"]}
        spec["hpo"]["sampler"] = {"type": "random"}
        del spec["name"], spec["parameters"]
    result = sweepkit.run(spec, trials=len(case.bases), quiet=True)
    assert len(result.trials) == len(case.bases)
    # the step each pruned trial was judged at: its last report to the pruner (the program may have gone on
    # reporting until the stop reached it, and those steps count as spent)
    stored = {t.number: t for t in Store().load(STUDY).get_trials(deepcopy=False)}
    pruned = {t.number: max(stored[t.number].intermediate_values) for t in result.trials if t.state == "PRUNED"}
    assert pruned == case.pruned, [(t.number, t.state, t.error) for t in result.trials]
    assert all((t.steps or 0) - 1 + case.first >= pruned[t.number] for t in result.trials if t.state == "PRUNED")
    assert {t.state for t in result.trials if t.number not in case.pruned} <= {"COMPLETE"}
    for t in result.trials:
        program, child = map(int, (workdir / f"pids-{t.number}").read_text().split())
        assert gone(program) and gone(child), f"trial {t.number} ({t.state}) left a process behind"
        if t.state == "PRUNED":
            assert t.reason and t.reason.startswith(f"{case.name}: ") and case.reason in t.reason, t.reason


def test_combined_is_asynchronous(workdir: Path) -> None:
    """No worker waits for a rung to fill: trial 0 is held before its first step while the other worker's
    trials pass the rungs, each judged against the trials that reached the rung so far."""
    done: list[int] = []
    changed = threading.Condition()

    def objective(params: dict[str, Any], trial: Any) -> float:
        try:
            if trial.number == 0:
                with changed:
                    held = changed.wait_for(lambda: len(done) >= 3, timeout=60)
                assert held, "the other worker's trials waited for trial 0"
            value = 0.0
            for step in range(1, 10):
                value = BASES[trial.number] + 1 / (step + 1)
                trial.report(value, step)
            return value
        finally:
            with changed:
                done.append(trial.number)
                changed.notify_all()

    spec = with_space({"strategy": {"name": "combined", "seed": 0}, "budget": {"steps": 9}})
    result = sweepkit.run(spec, objective=objective, trials=4, workers=2, quiet=True)
    # at rung 1: trial 1 (.3) alone goes on; 2 (.8) is not the best of 2; 3 (.1) is; 0 (.5), judged last
    # against all four, is not in the best 1/3
    assert done[-1] == 0
    assert {t.number: t.state for t in result.trials} == {0: "PRUNED", 1: "COMPLETE", 2: "PRUNED", 3: "COMPLETE"}


@pytest.mark.slow
def test_combined_is_optuna_tpe_with_the_forecast_pruner_trial_by_trial(workdir: Path) -> None:
    """`combined` is raw Optuna's TPESampler + our ForecastPruner (rungs 6, 18 for 27 steps), nothing added
    by the engine: the same seed proposes the same points and stops them at the same steps (what benchmarks/
    multifidelity.py's figures for `combined` rest on). The curves depend on the point, so TPE learns from them,
    and they cross, so the forecast and ASHA's rule disagree on some trials."""
    import optuna

    from sweepkit.pruner._forecast import ForecastPruner

    def curve(x: float, y: float, step: int) -> float:
        return (x - 0.3) ** 2 + (y - 0.6) ** 2 + (0.2 + x * y) / (step + 1)

    sweepkit_trials: list[tuple[tuple[float, float], int, bool]] = []

    def objective(params: dict[str, Any], trial: Any) -> float:
        point = (params["x"], params["y"])
        value, step = 0.0, 0
        try:
            for step in range(27):
                value = curve(*point, step)
                trial.report(value, step)
        except sweepkit.TrialPruned:
            sweepkit_trials.append((point, step, True))
            raise
        sweepkit_trials.append((point, step, False))
        return value

    spec = {
        "name": "combined-vs-optuna",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}},
        "strategy": {"name": "combined", "seed": 7},
        "budget": {"steps": 27},
    }
    sweepkit.run(spec, objective=objective, trials=60, quiet=True)

    optuna_trials: list[tuple[tuple[float, float], int, bool]] = []

    def optuna_objective(trial: optuna.Trial) -> float:
        point = (trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("y", 0.0, 1.0))
        value = 0.0
        for step in range(27):
            value = curve(*point, step)
            trial.report(value, step)
            if trial.should_prune():
                optuna_trials.append((point, step, True))
                raise optuna.TrialPruned()
        optuna_trials.append((point, step, False))
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=7),
        pruner=ForecastPruner(6, 3),
    )
    study.optimize(optuna_objective, n_trials=60)

    assert sweepkit_trials == optuna_trials
    pruned_at = {step for _, step, pruned in optuna_trials if pruned}
    assert pruned_at and pruned_at <= {6, 18}, pruned_at  # the rungs: steps 6, 18 (Optuna counts from 0)
    assert len({point for point, _, _ in optuna_trials}) == 60

    forecast_trials = list(optuna_trials)
    optuna_trials.clear()
    asha = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=7),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=6, reduction_factor=3),
    )
    asha.optimize(optuna_objective, n_trials=60)
    # the same first trials (ASHA's rule until 5 have finished), then the forecast decides otherwise
    assert optuna_trials[:5] == forecast_trials[:5]
    assert optuna_trials != forecast_trials

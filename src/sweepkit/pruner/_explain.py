"""Why a trial was pruned, in users' words: each pruner's rule recomputed from the study at the pruning step.

Optuna's pruners only answer yes or no. The numbers here come from the same trials and the same arithmetic,
read right after the decision (before the trial is told PRUNED), so they are the ones the pruner used. Some
settings are private attributes of Optuna's classes; a missing one only falls back to a plainer sentence.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    WilcoxonPruner,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweepkit.pruner._common import num, ordinal
from sweepkit.pruner._forecast import ForecastPruner
from sweepkit.pruner._wandb import WandbHyperbandPruner


def _maximize(study: optuna.Study) -> bool:
    return study.direction == StudyDirection.MAXIMIZE


def _worse(study: optuna.Study) -> str:
    return "lower" if _maximize(study) else "higher"


def why(pruner: BasePruner, study: optuna.Study, trial: FrozenTrial, step: int) -> str | None:
    """The rule that stopped `trial` at `step`, or None when the rule does not call for it (the trial stopped
    itself, raising TrialPruned)."""
    if isinstance(pruner, WandbHyperbandPruner):
        return _wandb(pruner, study, trial)
    if isinstance(pruner, ForecastPruner):
        return _forecast(pruner, study, trial, step)
    if isinstance(pruner, PatientPruner):
        return _patient(pruner, study, trial, step)
    if isinstance(pruner, PercentilePruner):
        return _percentile(pruner, study, trial, step)
    if isinstance(pruner, HyperbandPruner):
        return _hyperband(pruner, study, trial)
    if isinstance(pruner, SuccessiveHalvingPruner):
        return _sha(pruner, study, trial, None)
    if isinstance(pruner, ThresholdPruner):
        return _threshold(pruner, trial, step)
    if isinstance(pruner, WilcoxonPruner):
        return _wilcoxon(pruner, study, trial)
    if isinstance(pruner, NopPruner):
        return None
    return None


def _percentile(pruner: PercentilePruner, study: optuna.Study, trial: FrozenTrial, step: int) -> str | None:
    pct = float(pruner._percentile)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < pruner._n_startup_trials or not completed:
        return None
    reported = np.asarray(list(trial.intermediate_values.values()), dtype=float)
    best = float(np.nanmax(reported) if _maximize(study) else np.nanmin(reported))
    if math.isnan(best):
        return f"it reported only NaN up to step {step}"
    values = [t.intermediate_values[step] for t in completed if step in t.intermediate_values]
    if len(values) < pruner._n_min_trials:
        return None
    cutoff = float(np.nanpercentile(np.array(values, dtype=float), 100 - pct if _maximize(study) else pct))
    if not (best < cutoff if _maximize(study) else best > cutoff):
        return None
    label = "the median" if pct == 50 else f"the {ordinal(pct)} percentile"
    at_step = trial.intermediate_values.get(step)
    subject = num(best) if at_step is None or at_step == best else f"its best value {num(best)}"
    return f"{subject} is worse than {label} {num(cutoff)} of {len(values)} trials at step {step}"


def _rung_values(trial: FrozenTrial) -> dict[int, float]:
    out = {}
    for key, value in trial.system_attrs.items():
        if key.startswith("completed_rung_") and key[len("completed_rung_") :].isdigit():
            out[int(key[len("completed_rung_") :])] = float(value)
    return out


def _sha(pruner: SuccessiveHalvingPruner, study: optuna.Study, trial: FrozenTrial, bracket: int | None) -> str | None:
    rungs = _rung_values(trial)
    if not rungs or pruner._min_resource is None:
        return None
    rung = max(rungs)
    value = rungs[rung]
    rf = pruner._reduction_factor
    at = f"at rung step {pruner._min_resource * rf ** (pruner._min_early_stopping_rate + rung)}"
    if bracket is not None:
        at += f" (bracket {bracket})"
    if math.isnan(value):
        return f"{at}, it reported NaN"
    key = f"completed_rung_{rung}"
    competing = sorted(float(t.system_attrs[key]) for t in study.get_trials(deepcopy=False) if key in t.system_attrs)
    n = len(competing)
    if n <= pruner._bootstrap_count:
        return f"{at}, only {n} trials had reached the rung (bootstrap_count {pruner._bootstrap_count})"
    index = max(n // rf - 1, 0)
    cutoff = competing[-(index + 1)] if _maximize(study) else competing[index]
    if value >= cutoff if _maximize(study) else value <= cutoff:
        return None
    if n < rf:
        return f"{at}, {num(value)} is not the best of the {n} trials there (best {num(cutoff)})"
    return f"{at}, {num(value)} is not in the best 1/{rf} of {n} trials (cutoff {num(cutoff)})"


def _signed(value: float) -> str:
    return num(value) if value < 0 else f"+{num(value)}"


def _forecast(pruner: ForecastPruner, study: optuna.Study, trial: FrozenTrial, step: int) -> str | None:
    crossed = pruner.crossed(trial, step)
    forecast = None
    if crossed is not None:
        rung_step, value = crossed
        if math.isnan(value):
            return f"at rung step {rung_step}, it reported NaN"
        forecast = pruner.forecast(study, trial, rung_step, value)
    if forecast is None:  # ASHA's rule decided: too few finished trials yet
        reason = _sha(pruner.asha, study, trial, None)
        return None if reason is None else f"{reason} (ASHA's rule until {pruner.min_finished} trials have finished)"
    if forecast.chance >= pruner.chance:
        return None
    return (
        f"at rung step {forecast.step}, {num(forecast.value)} ({_signed(forecast.gain)} since step {forecast.since}) "
        f"forecasts a final {num(forecast.predicted)} ± "
        f"{num(forecast.spread)} from {forecast.finished} finished trials: a {forecast.chance:.1%} chance of beating "
        f"the best {num(forecast.best)} (below {pruner.chance:.0%})"
    )


def _hyperband(pruner: HyperbandPruner, study: optuna.Study, trial: FrozenTrial) -> str | None:
    if not pruner._pruners:
        return None
    bracket = pruner._get_bracket_id(study, trial)
    return _sha(pruner._pruners[bracket], pruner._create_bracket_study(study, bracket), trial, bracket)


def _threshold(pruner: ThresholdPruner, trial: FrozenTrial, step: int) -> str | None:
    value = trial.intermediate_values.get(step)
    if value is None:
        return None
    if math.isnan(value):
        return f"it reported NaN at step {step}"
    if value < pruner._lower:
        return f"{num(value)} is below the lower threshold {num(pruner._lower)} at step {step}"
    if value > pruner._upper:
        return f"{num(value)} is above the upper threshold {num(pruner._upper)} at step {step}"
    return None


def _patient(pruner: PatientPruner, study: optuna.Study, trial: FrozenTrial, step: int) -> str | None:
    patience, delta = pruner._patience, pruner._min_delta
    steps = sorted(trial.intermediate_values)
    if len(steps) <= patience + 1:
        return None
    before = [trial.intermediate_values[s] for s in steps[: -patience - 1]]
    after = [trial.intermediate_values[s] for s in steps[-patience - 1 :]]
    if _maximize(study):
        best_before, best_after = float(np.nanmax(before)), float(np.nanmax(after))
        stalled = best_before - delta > best_after
    else:
        best_before, best_after = float(np.nanmin(before)), float(np.nanmin(after))
        stalled = best_before + delta < best_after
    if not stalled:
        return None
    text = (
        f"no improvement of more than {num(delta)} for {patience} steps "
        f"(best {num(best_before)} before step {steps[-patience - 1]}, {num(best_after)} since)"
    )
    if pruner._wrapped_pruner is None:
        return text
    inner = why(pruner._wrapped_pruner, study, trial, step)
    return None if inner is None else f"{text}, and {inner}"


def _wilcoxon(pruner: WilcoxonPruner, study: optuna.Study, trial: FrozenTrial) -> str | None:
    threshold = pruner._p_threshold
    try:
        best = study.best_trial
    except ValueError:
        return None
    shared = sorted(set(trial.intermediate_values) & set(best.intermediate_values))
    general = (
        f"its values at {len(trial.intermediate_values)} steps are {_worse(study)} than the best trial "
        f"#{best.number}'s at the same steps (Wilcoxon signed-rank test, p < {num(threshold)})"
    )
    try:
        import scipy.stats as ss

        diffs = [trial.intermediate_values[s] - best.intermediate_values[s] for s in shared]
        alternative: Literal["less", "greater"] = "less" if _maximize(study) else "greater"
        p = float(ss.wilcoxon(diffs, alternative=alternative, zero_method="zsplit").pvalue)
    except Exception:
        return general
    return (
        f"its values at {len(shared)} steps are {_worse(study)} than the best trial #{best.number}'s at the same "
        f"steps (Wilcoxon signed-rank test, p = {p:.3g} < {num(threshold)})"
    )


def _wandb(pruner: WandbHyperbandPruner, study: optuna.Study, trial: FrozenTrial) -> str | None:
    decision = pruner.decide(study, trial)
    if decision is None or not decision.stop:
        return None
    where = (
        f"at band step {decision.band}"
        if decision.step == decision.band
        else f"at band {decision.band} (its {ordinal(decision.band)} reported value, step {decision.step})"
    )
    value = num(decision.value) if pruner.strict else f"its best value {num(decision.value)}"
    return (
        f"{where}, {value} is worse than the threshold {num(decision.threshold)} "
        f"(the best 1/{num(pruner.eta)} of {decision.trials} trials there, eta={num(pruner.eta)})"
    )

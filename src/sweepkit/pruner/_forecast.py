"""`combined`'s early stopping: ASHA's rungs, judged by a forecast from the sweep's own finished trials.

Why a pruner of our own: ASHA keeps the best 1/3 of the trials at a rung. Once TPE has learnt, most proposals
are good and close together, and a rung ranks them poorly (benchmarks/rung_correlation.py: Spearman ρ 0.27 to
0.71 at the first rung among the better half), so ASHA stops trials that would have won and promotes ones that
cannot. Optuna has no pruner that asks the question that matters: can this trial still end better than the
best one? Once `min_finished` trials have finished, the trials that finished answer it: a least-squares fit of
their final values on their value at the rung and their gain since the rung before (a slow starter still falling
fast forecasts better than its value alone says) forecasts this trial's final value, with the spread of the
finished trials around the fit (a Student t prediction interval), and the trial is stopped only when the chance
that it ends better than the best is below `chance` (the rule of Domhan et al., IJCAI 2015, with a model fitted
on the sweep instead of a parametric curve). Until then, ASHA's own rule decides.
benchmarks/RESULTS.md has the screen that chose it over plain ASHA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.pruners import BasePruner, SuccessiveHalvingPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweepkit.pruner._common import steps_list

MIN_FINISHED = 5
CHANCE = 0.05


@dataclass(frozen=True)
class Forecast:
    """What the finished trials forecast for a trial at a rung (values in the metric's own direction)."""

    step: int  # the rung's step
    value: float  # the trial's value there
    since: int  # the step of the report its gain is counted from
    gain: float  # value - its value at `since` (negative: it fell)
    predicted: float  # its forecast final value
    spread: float  # the standard error of that forecast (prediction interval, not the line's)
    best: float  # the best final value so far
    chance: float  # of ending better than `best`
    finished: int  # trials the line was fitted on


class ForecastPruner(BasePruner):
    def __init__(
        self, min_resource: int, reduction_factor: int, *, min_finished: int = MIN_FINISHED, chance: float = CHANCE
    ) -> None:
        self.asha = SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=reduction_factor)
        self.min_resource, self.reduction_factor = min_resource, reduction_factor
        # at least 4: the fit has up to 3 coefficients and its interval needs a degree of freedom left over
        self.min_finished, self.chance = max(min_finished, 4), chance

    def rung_step(self, rung: int) -> int:
        return self.min_resource * self.reduction_factor**rung

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        asha_stops = self.asha.prune(study, trial)  # always asked: it keeps its own rung records up to date
        crossed = self.crossed(trial, trial.last_step)
        if crossed is None:  # no rung at this report: only ASHA, while it still decides, can stop the trial here
            return asha_stops and self._finished(study) < self.min_finished
        step, value = crossed
        if math.isnan(value):
            return True
        forecast = self.forecast(study, trial, step, value)
        return asha_stops if forecast is None else forecast.chance < self.chance

    def crossed(self, trial: FrozenTrial, step: int | None) -> tuple[int, float] | None:
        """(rung step, value) when the report at `step` is the trial's first at or past a rung (the highest such
        rung, if a report skipped several), else None. Stateless: read again from the values when explaining."""
        values = trial.intermediate_values
        if step is None or step not in values:
            return None
        # the report before this one: step - 1 when a trial reports every step (O(1) on every report), else a scan
        before = step - 1 if step - 1 in values else max((s for s in values if s < step), default=-1)
        rung_steps = [r for r in steps_list(self.min_resource, self.reduction_factor, step) if before < r]
        return (rung_steps[-1], trial.intermediate_values[step]) if rung_steps else None

    def forecast(self, study: optuna.Study, trial: FrozenTrial, rung_step: int, value: float) -> Forecast | None:
        """None until `min_finished` finished trials have reported at or past the rung (ASHA decides until
        then)."""
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0  # below, lower is better
        since = rung_step // self.reduction_factor  # the rung before (a third of the way, for the first)
        inputs, finals = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            at, before = _value_at(t, rung_step), _value_at(t, since)
            if at is None or before is None or t.value is None:
                continue
            row = (sign * at, sign * (at - before), sign * t.value)
            if all(map(math.isfinite, row)):
                inputs.append((1.0, row[0], row[1]))
                finals.append(row[2])
        n = len(inputs)
        if n < self.min_finished:
            return None
        earlier = _first_report(trial, since)  # (step, value): the trial's report the gain counts from
        since, before_now = earlier if earlier is not None and math.isfinite(earlier[1]) else (rung_step, value)
        gain = value - before_now
        x, y, x0 = np.array(inputs), np.array(finals), np.array([1.0, sign * value, sign * gain])
        # Least squares with a prediction interval, by SVD: when every finished trial gained the same, the inputs
        # are collinear and this is the line through the values alone (rank 2, one more degree of freedom).
        u, singular, vt = np.linalg.svd(x, full_matrices=False)
        keep = singular > singular[0] * 1e-10
        df = n - int(keep.sum())
        coefficients = vt[keep].T @ ((u[:, keep].T @ y) / singular[keep])
        leverage = float(np.sum((vt[keep] @ x0 / singular[keep]) ** 2))  # x0ᵀ (XᵀX)⁺ x0
        predicted = float(x0 @ coefficients)
        residual = float(((y - x @ coefficients) ** 2).sum()) / df
        spread = math.sqrt(residual * (1.0 + leverage))
        best = float(y.min())
        if spread > 1e-12 * max(1.0, abs(best)):
            chance = _student_t_cdf((best - predicted) / spread, df)
        else:  # the finished trials lie on the plane: the forecast is exact
            spread, chance = 0.0, 1.0 if predicted < best else 0.0
        return Forecast(rung_step, value, since, gain, sign * predicted, spread, sign * best, chance, n)

    @staticmethod
    def _finished(study: optuna.Study) -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _first_report(trial: FrozenTrial, step: int) -> tuple[int, float] | None:
    """A trial's first report at or past a step, as (step, value): how ASHA records a rung."""
    values = trial.intermediate_values
    if step in values:
        return step, values[step]
    later = [s for s in values if s > step]
    return (min(later), values[min(later)]) if later else None


def _value_at(trial: FrozenTrial, step: int) -> float | None:
    """A trial's value at a rung: its first report at or past the rung's step."""
    report = _first_report(trial, step)
    return None if report is None else report[1]


def _student_t_cdf(t: float, df: int) -> float:
    """P(T ≤ t) for Student's t with `df` degrees of freedom, by the finite series for integer df (Abramowitz
    and Stegun 26.7.3-4): scipy is not a dependency of sweepkit's core, and this is all it would be used for."""
    if df > 1000:  # the series gets long; the normal is within 2e-4 of it there
        return 0.5 * math.erfc(-t / math.sqrt(2))
    theta = math.atan2(abs(t), math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:  # odd
        total, term = 0.0, math.cos(theta)
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        inside = (2 / math.pi) * (theta + math.sin(theta) * total)
    else:
        total, term = 0.0, 1.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= cos2 * (2 * k - 1) / (2 * k)
        inside = math.sin(theta) * total
    return 0.5 + math.copysign(0.5 * min(inside, 1.0), t)

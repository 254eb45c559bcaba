"""`combined`'s early stopping: ASHA's rungs, judged by a forecast chained from every trial's partial curve.

Why a pruner of our own: ASHA keeps the best 1/3 of the trials at a rung. Once TPE has learnt, most proposals
are good and close together, and a rung ranks them poorly (benchmarks/rung_correlation.py: Spearman ρ 0.27 to
0.71 at the first rung among the better half), so ASHA stops trials that would have won and promotes ones that
cannot. Optuna has no pruner that asks the question that matters: can this trial still end better than the
best one? The sweep's own curves answer it. Each link between consecutive rungs (and from the last rung to the
final value) is a straight line fitted on every trial that reached both ends, pruned ones included, so the
early links have data from the first trials on; chaining the links from the trial's rung forecasts its final
value, each link adding its own Student t prediction interval (the variance carried through the slopes). The
trial is stopped only when its chance of ending better than the best finished trial is below `chance` (the rule
of Domhan et al., IJCAI 2015, with a model fitted on the sweep instead of a parametric curve). While too few
trials have finished for the last link, the chain goes as deep as it has data, and the trial is stopped when it
has less than that chance of being in the best 1/reduction_factor there; with no link at all, ASHA's own rule
decides. benchmarks/RESULTS.md has the screens that chose it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import optuna
from optuna.pruners import BasePruner, SuccessiveHalvingPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweepkit.pruner._common import steps_list

MIN_POINTS = 4  # trials a link is fitted on (at least 3: the t interval needs a degree of freedom)
CHANCE = 0.05
_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
Row = tuple[dict[int, float], float | None]  # a trial's values at the rungs it reached, its final value


@dataclass(frozen=True)
class Link:
    """value at `end` ≈ mean_y + slope·(value at `start` − mean_x), fitted on `n` trials."""

    n: int
    mean_x: float
    mean_y: float
    slope: float
    sxx: float
    residual: float  # the residuals' variance (n − 2 degrees of freedom)


@dataclass(frozen=True)
class Forecast:
    """What the sweep's curves forecast for a trial at a rung (values in the metric's own direction)."""

    step: int  # the rung's step
    value: float  # the trial's value there
    predicted: float  # its forecast value at `horizon`
    spread: float  # the standard error of that forecast (prediction interval, not the line's)
    best: float  # what it must beat there: the best final value, or the best 1/reduction_factor's cutoff
    chance: float  # of ending better than `best`
    trials: int  # trials the first link was fitted on
    horizon: int | None  # the rung step forecast while too few trials have finished; None: the final value


class ForecastPruner(BasePruner):
    def __init__(
        self, min_resource: int, reduction_factor: int, *, min_points: int = MIN_POINTS, chance: float = CHANCE
    ) -> None:
        self.asha = SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=reduction_factor)
        self.min_resource, self.reduction_factor = min_resource, reduction_factor
        self.min_points, self.chance = max(min_points, 3), chance
        # per (study, trial number): a pruned or finished trial's row never changes; per (study, link, trials in
        # it): its fit, since a link's trials only ever grow. Both keep a call's cost to one pass over the trials.
        self._rows: dict[tuple[str, int], Row] = {}
        self._links: dict[tuple[str, int, int | None, int], Link] = {}

    def rung_step(self, rung: int) -> int:
        return self.min_resource * self.reduction_factor**rung

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        asha_stops = self.asha.prune(study, trial)  # always asked: it keeps its own rung records up to date
        crossed = self.crossed(trial, trial.last_step)
        if crossed is None:  # ASHA only stops at a rung, which `crossed` sees too
            return asha_stops
        step, value = crossed
        if math.isnan(value):
            return True
        forecast = self.forecast(study, step, value)
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

    def forecast(self, study: optuna.Study, rung_step: int, value: float) -> Forecast | None:
        """None when no link from the rung has `min_points` trials yet (ASHA decides then)."""
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0  # below, lower is better
        rows, final_step = self._rows_of(study, sign)
        if final_step is not None:  # the rungs before the final step, then the final value (None)
            deeper: list[int | None] = [*steps_list(self.min_resource, self.reduction_factor, final_step - 1), None]
        else:  # none has finished: the rungs some trial reached
            deeper = [*sorted({r for at, _ in rows for r in at})]
        nodes = [rung_step, *(r for r in deeper if r is None or r > rung_step)]
        links: list[Link] = []
        for start, end in zip(nodes, nodes[1:], strict=False):
            link = self._link(study, rows, start, end)  # type: ignore[arg-type]  # a start is never None
            if link is None:
                break
            links.append(link)
        if not links:
            return None
        horizon = nodes[len(links)]
        predicted, variance, df = sign * value, 0.0, 10**9
        for link in links:
            leverage = 1 / link.n + ((predicted - link.mean_x) ** 2 / link.sxx if link.sxx > 0 else 0.0)
            variance = link.slope**2 * variance + link.residual * (1 + leverage)
            predicted = link.mean_y + link.slope * (predicted - link.mean_x)
            df = min(df, link.n - 2)
        if horizon is None:
            best = min(final for _, final in rows if final is not None)
        else:  # ASHA's cutoff there: the value of the (n // reduction_factor)-th best
            there = sorted(at[horizon] for at, _ in rows if horizon in at)
            best = there[max(len(there) // self.reduction_factor - 1, 0)]
        spread = math.sqrt(variance)
        if spread > 1e-12 * max(1.0, abs(best)):
            chance = _student_t_cdf((best - predicted) / spread, df)
        else:  # the trials lie on the lines: the forecast is exact
            spread, chance = 0.0, 1.0 if predicted < best else 0.0
        return Forecast(rung_step, value, sign * predicted, spread, sign * best, chance, links[0].n, horizon)

    def _rows_of(self, study: optuna.Study, sign: float) -> tuple[list[Row], int | None]:
        """Every trial's values at the rungs it reached and its final value (times `sign`), and the last step of
        the finished trials (None while none has finished)."""
        rows: list[Row] = []
        final_step: int | None = None
        for t in study.get_trials(deepcopy=False, states=_STATES):
            key = (study.study_name, t.number)
            row = self._rows.get(key)
            if row is None:
                rungs = (
                    steps_list(self.min_resource, self.reduction_factor, t.last_step) if t.last_step is not None else []
                )
                at = {r: sign * v for r in rungs if (v := _value_at(t, r)) is not None and math.isfinite(v)}
                done = t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
                row = (at, sign * t.value if done and t.value is not None else None)
                if t.state != TrialState.RUNNING:
                    self._rows[key] = row
            if row[1] is not None and t.last_step is not None:
                final_step = max(final_step or 0, t.last_step)
            rows.append(row)
        return rows, final_step

    def _link(self, study: optuna.Study, rows: list[Row], start: int, end: int | None) -> Link | None:
        """The line from the values at rung `start` to those at rung `end` (None: the final values), over every
        trial that has both; None with fewer than `min_points` of them."""
        pairs: list[tuple[float, float]] = []
        for at, final in rows:
            x, y = at.get(start), final if end is None else at.get(end)
            if x is not None and y is not None:
                pairs.append((x, y))
        key = (study.study_name, start, end, len(pairs))
        if key in self._links:
            return self._links[key]
        n = len(pairs)
        if n < self.min_points:
            return None
        x_mean, y_mean = sum(x for x, _ in pairs) / n, sum(y for _, y in pairs) / n
        sxx = sum((x - x_mean) ** 2 for x, _ in pairs)
        slope = sum((x - x_mean) * (y - y_mean) for x, y in pairs) / sxx if sxx > 0 else 0.0
        residual = sum((y - y_mean - slope * (x - x_mean)) ** 2 for x, y in pairs) / (n - 2)
        self._links[key] = link = Link(n, x_mean, y_mean, slope, sxx, residual)
        return link


def _value_at(trial: FrozenTrial, step: int) -> float | None:
    """A trial's value at a rung: its first report at or past the rung's step (as ASHA records it)."""
    values = trial.intermediate_values
    if step in values:
        return values[step]
    later = [s for s in values if s > step]
    return values[min(later)] if later else None


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

"""`combined`'s ForecastPruner on learning curves whose finished trials are known, through a real Optuna study.

Its rule is checked two ways: by hand where the finished trials lie exactly on a line (the forecast is then
exact), and against an independent computation (numpy's least squares, scipy's Student t) where they scatter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import optuna
import pytest
from scipy import stats

from sweepkit.pruner import Pruning
from sweepkit.pruner._forecast import ForecastPruner, _student_t_cdf
from tests.pruner.test_pruner_build import drive as drive_steps
from tests.pruner.test_pruner_build import falling, make

Curve = Callable[[int], float]
STEPS = range(1, 9)  # rungs at steps 1 and 3 (9 steps per trial); the last report, step 8, is the final value


def combined(*, maximize: bool = False) -> Pruning:
    return make(strategy="combined", max_steps=9, maximize=maximize)


def plain_asha() -> Pruning:
    return make(pruner={"type": "asha", "min_resource": 1, "reduction_factor": 3})


def drive(
    pruning: Pruning, curves: Sequence[Curve], *, direction: str = "minimize"
) -> tuple[dict[int, int], dict[int, str]]:
    """Trials one after another: {trial: step it was pruned at}, {trial: explain's sentence}."""
    return drive_steps(pruning, curves, STEPS, direction=direction)


def line(start: float, end: float) -> Curve:
    """From `start` at step 1 to `end` at step 8, straight."""
    return lambda step: start + (end - start) * (step - 1) / 7


def test_asha_decides_until_four_trials_reach_the_next_rung_then_the_forecast() -> None:
    # .9 .8 .7 .6 .5 are each the best at every rung, so all five finish, ending at base + 1/9. Every trial's
    # curve lies on the same lines (value at step 3 = value at step 1 - 1/4, final = value at step 3 - 5/36), so
    # the chained forecast is exact. At rung 1, .55 is second of 6: ASHA would keep it (the best 6//3 = 2), but
    # the lines forecast .55 + 1/9 = .661, worse than the best .611: a 0% chance, stopped. .4 forecasts .511 and
    # goes on. .58 (forecast .691, best now .511) is stopped, as ASHA too would stop it.
    bases = [0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.4, 0.58]
    pruned, why = drive(combined(), [falling(b) for b in bases])
    assert pruned == {5: 1, 7: 1}
    assert why[5] == (
        "at rung step 1, 1.05 forecasts a final 0.6611 ± 0 from 5 trials' curves: a 0.0% chance of beating the "
        "best 0.6111 (below 5%)"
    )
    assert why[7].endswith("from 6 trials' curves: a 0.0% chance of beating the best 0.5111 (below 5%)")
    asha_pruned, _ = drive(plain_asha(), [falling(b) for b in bases])
    assert asha_pruned == {7: 1}  # ASHA alone lets .55 run to the end


def bent(at_1: float, at_3: float, final: float) -> Curve:
    """at_1 at step 1, at_3 at step 3 and final at step 8, straight in between."""
    return lambda step: float(np.interp(step, [1, 3, 8], [at_1, at_3, final]))


# Trials that lead at step 1 and fall behind by step 3 (a short-horizon bias): value at step 3 = 1.6 - value at
# step 1. Trial 0 finishes; 1 to 3 are each the best at rung 1 and worse than trial 0 at rung 3, so ASHA stops
# them there: one trial has finished, four curves have reached step 3.
CROSSING = [bent(1.0, 0.6, 0.5), bent(0.9, 0.7, 0.6), bent(0.8, 0.8, 0.7), bent(0.7, 0.9, 0.8)]


def test_pruned_trials_curves_forecast_before_trials_finish() -> None:
    # Too few have finished for the last link, so the forecast goes to step 3, the deepest rung the curves reach,
    # from the four curves (three of them pruned): .65 at rung 1, the best there (ASHA keeps it), forecasts .95
    # at step 3, where the best third's cutoff of the four is .6: stopped at rung 1.
    pruned, why = drive(combined(), [*CROSSING, bent(0.65, 0.95, 0.9)])
    assert pruned == {1: 3, 2: 3, 3: 3, 4: 1}
    assert why[4] == (
        "at rung step 1, 0.65 forecasts 0.95 ± 0 at step 3 from 4 trials' curves: a 0.0% chance of being in the "
        "best 1/3 there (cutoff 0.6) (below 5%)"
    )
    assert drive(plain_asha(), [*CROSSING, bent(0.65, 0.95, 0.9)])[0] == {1: 3, 2: 3, 3: 3, 4: 3}  # 2 steps later
    # 1.05 is the worst at rung 1 (ASHA stops it) but forecasts .55 at step 3: it goes on, and is judged again
    # at rung 3, where it is the best
    assert drive(combined(), [*CROSSING, bent(1.05, 0.55, 0.45)])[0] == {1: 3, 2: 3, 3: 3}
    assert drive(plain_asha(), [*CROSSING, bent(1.05, 0.55, 0.45)])[0] == {1: 3, 2: 3, 3: 3, 4: 1}


def test_maximizing_mirrors_minimizing() -> None:
    bases = [0.1, 0.2, 0.3, 0.4, 0.5, 0.45, 0.6]
    pruned, why = drive(combined(maximize=True), [lambda s, b=b: b - 1 / (s + 1) for b in bases], direction="maximize")
    assert pruned == {5: 1}
    assert why[5].startswith("at rung step 1, -0.05 forecasts a final 0.3389 ± 0 from 5 trials' curves")
    assert why[5].endswith("chance of beating the best 0.3889 (below 5%)")


# Five finished trials that do not lie on a line: (value at step 1, final value). Each is the best so far at
# rungs 1 and 3, so ASHA lets all five finish.
SCATTERED = [(1.3, 0.60), (1.2, 0.50), (1.1, 0.56), (1.05, 0.47), (1.0, 0.50)]


def fit(x: np.ndarray, y: np.ndarray, x0: float, variance: float) -> tuple[float, float]:
    """numpy's least squares line through (x, y) at x0, with x0's variance carried through: (mean, variance)."""
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    s2 = residuals @ residuals / (len(x) - 2)
    leverage = 1 / len(x) + (x0 - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum()
    return float(intercept + slope * x0), float(slope**2 * variance + s2 * (1 + leverage))


def independent_chance(start: float, step: int) -> float:
    """The chance a `line(start, 0.3)` trial ends below the best, forecast at a rung `step` by chaining the line
    from step 1 to step 3 and the one from step 3 to the end: numpy and scipy rather than the pruner's code."""
    at = {r: np.array([line(s, e)(r) for s, e in SCATTERED]) for r in (1, 3)}
    final = np.array([e for _, e in SCATTERED])
    mean, variance = line(start, 0.3)(step), 0.0
    if step == 1:
        mean, variance = fit(at[1], at[3], mean, variance)
    mean, variance = fit(at[3], final, mean, variance)
    return float(stats.t.cdf((final.min() - mean) / np.sqrt(variance), len(SCATTERED) - 2))


@pytest.mark.parametrize("start", [1.02, 1.08, 1.25, 1.6, 2.5])
def test_the_forecast_chains_prediction_intervals(start: float) -> None:
    pruned, why = drive(combined(), [line(s, e) for s, e in SCATTERED] + [line(start, 0.3)])
    at_1, at_3 = independent_chance(start, 1), independent_chance(start, 3)
    expected = {5: 1} if at_1 < 0.05 else {5: 3} if at_3 < 0.05 else {}
    assert pruned == expected, (at_1, at_3)
    if pruned:
        assert f"a {min(at_1, at_3):.1%} chance of beating the best 0.47 (below 5%)" in why[5]


def test_the_forecast_spares_a_trial_asha_would_stop() -> None:
    # 1.08 at rung 1 is 4th of 6 there (ASHA keeps the best 2): plain ASHA stops it, while the scattered finished
    # trials leave it a fair chance at both rungs
    spared = [line(s, e) for s, e in SCATTERED] + [line(1.08, 0.3)]
    assert min(independent_chance(1.08, 1), independent_chance(1.08, 3)) >= 0.05
    assert drive(combined(), spared)[0] == {}
    assert drive(plain_asha(), spared)[0] == {5: 1}


def test_nan_at_a_rung_is_stopped() -> None:
    curves = [falling(b) for b in (0.9, 0.8, 0.7, 0.6, 0.5)] + [lambda step: float("nan")]
    pruned, why = drive(combined(), curves)
    assert pruned == {5: 1}
    assert why[5] == "at rung step 1, it reported NaN"


def test_a_report_that_skips_rungs_is_judged_at_the_highest_it_passed() -> None:
    pruner = ForecastPruner(1, 3)
    study = optuna.create_study(pruner=pruner)
    trial = study.ask()
    for step, value in [(0, 1.0), (5, 0.5)]:
        trial.report(value, step)
    frozen = study._storage.get_trial(trial._trial_id)
    assert pruner.crossed(frozen, 5) == (3, 0.5)  # rungs 1 and 3 passed in one report
    assert pruner.crossed(frozen, 0) is None


def test_student_t_cdf_matches_scipy() -> None:
    for df in (1, 2, 3, 4, 5, 8, 13, 30, 101, 999, 1500):
        for t in (-40.0, -3.0, -1.2, -0.1, 0.0, 0.4, 2.0, 6.5):
            assert _student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=2e-4 if df > 1000 else 1e-12)


def test_a_pruner_that_has_seen_the_sweep_forecasts_as_a_fresh_one() -> None:
    # the pruner keeps the rows of pruned and finished trials and its fits between calls: as the sweep grows
    # (trials pruned at each rung, finished, and one still running), what it says stays what a pruner that
    # reads the sweep for the first time says
    pruner = ForecastPruner(1, 3)
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    rng = np.random.default_rng(0)
    for _ in range(30):
        trial = study.ask()
        start, end = rng.uniform(0.8, 1.5), rng.uniform(0.2, 0.7)
        for step in STEPS:
            trial.report(line(start, end)(step), step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, line(start, end)(STEPS[-1]))
    running = study.ask()
    running.report(1.1, 1)
    running.report(0.9, 3)
    states = {t.state for t in study.trials}
    assert len(states) == 3  # pruned, finished and running trials all feed the lines
    for value in (0.8, 1.0, 1.2):
        for rung in (1, 3):
            assert pruner.forecast(study, rung, value) == ForecastPruner(1, 3).forecast(study, rung, value)

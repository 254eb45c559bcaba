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


def test_asha_decides_until_five_trials_have_finished_then_the_forecast() -> None:
    # .9 .8 .7 .6 .5 are each the best at every rung, so all five finish, ending at base + 1/9. At rung 1, .55 is
    # second of 6: ASHA would keep it (the best 6//3 = 2), but the finished trials lie on a line (final = value at
    # step 1 - 1/2 + 1/9) that forecasts .55 + 1/9 = .661, worse than the best .611: a 0% chance, stopped. .4
    # forecasts .511 and goes on. .58 (forecast .691, best now .511) is stopped, as ASHA too would stop it.
    bases = [0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.4, 0.58]
    pruned, why = drive(combined(), [falling(b) for b in bases])
    assert pruned == {5: 1, 7: 1}
    assert why[5] == (
        "at rung step 1, 1.05 forecasts a final 0.6611 ± 0 from 5 finished trials: a 0.0% chance of beating the "
        "best 0.6111 (below 5%)"
    )
    assert why[7].endswith("from 6 finished trials: a 0.0% chance of beating the best 0.5111 (below 5%)")
    asha_pruned, _ = drive(plain_asha(), [falling(b) for b in bases])
    assert asha_pruned == {7: 1}  # ASHA alone lets .55 run to the end


def test_maximizing_mirrors_minimizing() -> None:
    bases = [0.1, 0.2, 0.3, 0.4, 0.5, 0.45, 0.6]
    pruned, why = drive(combined(maximize=True), [lambda s, b=b: b - 1 / (s + 1) for b in bases], direction="maximize")
    assert pruned == {5: 1}
    assert why[5].startswith("at rung step 1, -0.05 forecasts a final 0.3389 ± 0 from 5 finished trials")
    assert why[5].endswith("chance of beating the best 0.3889 (below 5%)")


# Five finished trials that do not lie on a line: (value at step 1, final value). Each is the best so far at
# rungs 1 and 3, so ASHA lets all five finish.
SCATTERED = [(1.3, 0.60), (1.2, 0.50), (1.1, 0.56), (1.05, 0.47), (1.0, 0.50)]


def independent_chance(start: float, step: int) -> float:
    """The chance a `line(start, 0.3)` trial ends below the best, forecast at a rung `step`: numpy and scipy
    rather than the pruner's code."""
    x = np.array([line(s, e)(step) for s, e in SCATTERED])
    y = np.array([e for _, e in SCATTERED])
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    s2 = residuals @ residuals / (len(x) - 2)
    x0 = line(start, 0.3)(step)
    se = np.sqrt(s2 * (1 + 1 / len(x) + (x0 - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum()))
    return float(stats.t.cdf((y.min() - (intercept + slope * x0)) / se, len(x) - 2))


@pytest.mark.parametrize("start", [1.02, 1.08, 1.25, 1.6, 2.5])
def test_the_forecast_is_a_prediction_interval_from_the_finished_trials(start: float) -> None:
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

"""`combined`'s ForecastPruner on learning curves whose finished trials are known, through a real Optuna study.

Its rule is checked two ways: by hand where the finished trials lie exactly on a line (the forecast is then
exact), and against an independent computation (numpy's least squares, scipy's Student t) where they scatter.
The forecast reads two inputs, a trial's value at the rung and its gain since the rung before.
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
STEPS = range(1, 9)  # rungs at steps 2 and 6 (9 steps per trial); the last report, step 8, is the final value


def combined(*, maximize: bool = False) -> Pruning:
    return make(strategy="combined", max_steps=9, maximize=maximize)


def plain_asha() -> Pruning:
    return make(pruner={"type": "asha", "min_resource": 2, "reduction_factor": 3})


def drive(
    pruning: Pruning, curves: Sequence[Curve], *, direction: str = "minimize"
) -> tuple[dict[int, int], dict[int, str]]:
    """Trials one after another: {trial: step it was pruned at}, {trial: explain's sentence}."""
    return drive_steps(pruning, curves, STEPS, direction=direction)


def test_asha_decides_until_five_trials_have_finished_then_the_forecast() -> None:
    # .9 .8 .7 .6 .5 are each the best at every rung, so all five finish, ending at base + 1/9. Every one gains
    # the same from step 1 to the rung (-1/6), so the forecast is the line through the values alone: final =
    # value at step 2 - 1/3 + 1/9. At rung 2, .55 is second of 6: ASHA would keep it (the best 6//3 = 2), but the
    # line forecasts .55 + 1/9 = .661, worse than the best .611: a 0% chance, stopped. .4 forecasts .511 and goes
    # on. .58 (forecast .691, best now .511) is stopped, as ASHA too would stop it.
    bases = [0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.4, 0.58]
    pruned, why = drive(combined(), [falling(b) for b in bases])
    assert pruned == {5: 2, 7: 2}
    assert why[5] == (
        "at rung step 2, 0.8833 (-0.1667 since step 1) forecasts a final 0.6611 ± 0 from 5 finished trials: a 0.0% "
        "chance of beating the best 0.6111 (below 5%)"
    )
    assert why[7].endswith("from 6 finished trials: a 0.0% chance of beating the best 0.5111 (below 5%)")
    asha_pruned, _ = drive(plain_asha(), [falling(b) for b in bases])
    assert asha_pruned == {7: 2}  # ASHA alone lets .55 run to the end


def test_maximizing_mirrors_minimizing() -> None:
    bases = [0.1, 0.2, 0.3, 0.4, 0.5, 0.45, 0.6]
    pruned, why = drive(combined(maximize=True), [lambda s, b=b: b - 1 / (s + 1) for b in bases], direction="maximize")
    assert pruned == {5: 2}
    assert why[5].startswith("at rung step 2, 0.1167 (+0.1667 since step 1) forecasts a final 0.3389 ± 0 from 5")
    assert why[5].endswith("chance of beating the best 0.3889 (below 5%)")


def curve(start: float, end: float, rate: float) -> Curve:
    """From `start` at step 1 toward `end`, closing the gap by a factor `rate` a step: slow or fast learners."""
    return lambda step: end + (start - end) * rate ** (step - 1)


# Five finished trials that lie on no plane of (value at a rung, gain since the rung before): (start, end, rate).
# Each is the best so far at rungs 2 and 6, so ASHA lets all five finish.
SCATTERED = [(1.3, 0.60, 0.6), (1.2, 0.52, 0.55), (1.1, 0.47, 0.65), (1.05, 0.42, 0.6), (1.0, 0.40, 0.5)]
# The sixth trial: stopped at rung 2, stopped at rung 6, spared (a fast learner), spared where ASHA stops it.
SIXTH = [(1.1, 0.5, 0.6), (1.0, 0.3, 0.8), (1.0, 0.3, 0.3), (1.0, 0.35, 0.7)]
BEST = min(curve_end for curve_end in (end + (start - end) * rate**7 for start, end, rate in SCATTERED))


def independent_chance(sixth: tuple[float, float, float], rung: int) -> float:
    """The chance the sixth trial ends below the best, forecast at a rung: numpy and scipy rather than the
    pruner's code."""
    since = max(rung // 3, STEPS[0])  # the first report at or past rung // 3

    def inputs(c: Curve) -> list[float]:
        return [1.0, c(rung), c(rung) - c(since)]

    x = np.array([inputs(curve(*t)) for t in SCATTERED])
    y = np.array([curve(*t)(STEPS[-1]) for t in SCATTERED])
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ coefficients
    s2 = residuals @ residuals / (len(x) - 3)
    x0 = np.array(inputs(curve(*sixth)))
    se = np.sqrt(s2 * (1 + x0 @ np.linalg.inv(x.T @ x) @ x0))
    return float(stats.t.cdf((y.min() - x0 @ coefficients) / se, len(x) - 3))


def expected(sixth: tuple[float, float, float]) -> dict[int, int]:
    return {5: 2} if independent_chance(sixth, 2) < 0.05 else {5: 6} if independent_chance(sixth, 6) < 0.05 else {}


@pytest.mark.parametrize("sixth", SIXTH)
def test_the_forecast_is_a_prediction_interval_from_the_finished_trials(sixth: tuple[float, float, float]) -> None:
    pruned, why = drive(combined(), [curve(*t) for t in SCATTERED] + [curve(*sixth)])
    assert pruned == expected(sixth)
    if pruned:
        chance = independent_chance(sixth, pruned[5])  # at the rung that stopped it
        assert f"a {chance:.1%} chance of beating the best {BEST:.4g} (below 5%)" in why[5]


def test_the_cases_stop_at_each_rung_and_spare() -> None:
    assert [expected(sixth) for sixth in SIXTH] == [{5: 2}, {5: 6}, {}, {}]


def test_the_forecast_spares_a_slow_learner_asha_would_stop() -> None:
    # third of 6 at rung 2 (ASHA keeps the best 2), still falling fast toward a value below every finished one
    slow = [curve(*t) for t in SCATTERED] + [curve(*SIXTH[3])]
    assert drive(combined(), slow)[0] == {}
    assert drive(plain_asha(), slow)[0] == {5: 2}


def test_nan_at_a_rung_is_stopped() -> None:
    curves = [falling(b) for b in (0.9, 0.8, 0.7, 0.6, 0.5)] + [lambda step: float("nan")]
    pruned, why = drive(combined(), curves)
    assert pruned == {5: 2}
    assert why[5] == "at rung step 2, it reported NaN"


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

"""Stop policies (sweep/_stops.py): each returns the reason a sweep stops, or None."""

from __future__ import annotations

import threading
import time

from sweepkit.sweep._stops import (
    FIRST_TRIALS_ALL_FAILING,
    MAX_INFEASIBLE_IN_A_ROW,
    MAX_REPEATS_IN_A_ROW,
    Deadline,
    Stops,
)


def test_timeout_counts_from_the_start() -> None:
    assert Stops(timeout=60).timed_out(time.monotonic()) is None
    assert Stops(timeout=60).timed_out(time.monotonic() - 61) == "timeout reached"
    assert Stops().timed_out(0.0) is None


def test_the_first_trials_all_failing_is_a_bug_in_the_trial() -> None:
    stops = Stops()
    for n in range(FIRST_TRIALS_ALL_FAILING):
        stops.started_here += 1
        stops.finished(True, f"ValueError: {n}")
    reason = stops.failing()
    assert reason is not None and reason.startswith(f"the first {FIRST_TRIALS_ALL_FAILING} trials all failed")
    assert reason.endswith("the last error: ValueError: 4")


def test_max_failures_in_a_row_and_a_success_resets_the_count() -> None:
    stops = Stops(max_failures=2)
    stops.started_here = 10
    stops.finished(False, None)
    stops.finished(True, "boom")
    assert stops.failing() is None
    stops.finished(False, None)
    stops.finished(True, "boom")
    assert stops.failing() is None
    stops.finished(True, "again")
    assert stops.failing() == "2 trials failed in a row (budget.max_failures); the last error: again"


def test_the_target_in_the_metrics_direction() -> None:
    low = Stops(target=0.1, maximize=False, metric="loss")
    assert low.target_reached(0.2) is None
    assert low.target_reached(0.05) == "target reached: loss = 0.05 (target 0.1)"
    high = Stops(target=0.9, maximize=True, metric="acc")
    assert high.target_reached(0.8) is None and high.target_reached(0.95) is not None
    assert high.target_reached(float("nan")) is None and high.target_reached(None) is None
    assert Stops().target_reached(1.0) is None


def test_repeats_and_infeasible_points_in_a_row() -> None:
    stops = Stops()
    assert all(stops.repeated() is None for _ in range(MAX_REPEATS_IN_A_ROW - 1))
    assert stops.repeated() == "space exhausted: the strategy only proposes points already tried"
    assert all(stops.infeasible() is None for _ in range(MAX_INFEASIBLE_IN_A_ROW - 1))
    assert stops.infeasible() == f"{MAX_INFEASIBLE_IN_A_ROW} points in a row broke the constraints: relax them"


def test_until_calls_back_at_its_time_and_not_after_the_run() -> None:
    reached = threading.Event()
    labels: list[str] = []

    def reach(label: str) -> None:
        labels.append(label)
        reached.set()

    with Deadline(time.time() + 0.05, reach):
        assert reached.wait(5)
    assert labels and labels[0].startswith("--until ")
    late: list[str] = []
    with Deadline(time.time() + 30, late.append):
        pass
    time.sleep(0.05)
    assert late == []
    with Deadline(None, late.append):  # no --until
        pass

"""Budget accounting: how many trials count toward `budget.trials`, how many run now, and whether another
run's agent took the last ones between our count and our ask.

Only COMPLETE, PRUNED and real FAILs count (trial_state.counts_toward_budget); an interrupted, discarded or
lost-and-retried trial does not, since its retry takes its place.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from sweepkit.trial_state import counts_toward_budget

# Near the end of the budget, a trial just asked for is checked against every trial numbered before it,
# so runs and agents racing for the last trials never launch beyond the budget. Further from the end, no
# race of fewer than this many simultaneous asks can overshoot, and the extra read is saved.
RECHECK_WITHIN = 64


class Budget:
    """`budget.trials` for the whole sweep (every run and agent), and `--count` for this run alone."""

    def __init__(self, trials: int | None, *, max_trials: int | None = None) -> None:
        self.trials = trials
        self.max_trials = max_trials  # `sweepkit agent --count N`: the most trials this run launches
        self.launched = 0
        self._counted = 0  # trials[:_counted] are finished: their share is in _counted_done
        self._counted_done = 0

    def count(self, trials: Sequence[FrozenTrial]) -> tuple[int, int]:
        """(trials that count toward the budget, trials running now), anywhere."""
        # Finished trials never change: count the finished prefix once, then only the rest (O(1) per trial).
        while self._counted < len(trials) and trials[self._counted].state.is_finished():
            self._counted_done += counts_toward_budget(trials[self._counted])
            self._counted += 1
        rest = trials[self._counted :]
        done = self._counted_done + sum(counts_toward_budget(t) for t in rest)
        running = sum(t.state == TrialState.RUNNING for t in rest)
        return done, running

    def spent(self, done: int, running: int) -> bool:
        return self.trials is not None and done + running >= self.trials

    def remaining(self, done: int, running: int) -> int | None:
        return None if self.trials is None else self.trials - done - running

    def count_reached(self) -> bool:
        """This run launched its `--count` trials."""
        return self.max_trials is not None and self.launched >= self.max_trials

    def near_end(self, remaining: int | None) -> bool:
        """Close enough to the budget's end that other runs may have taken the last trials between our count
        and our ask (then `taken` checks)."""
        return self.trials is not None and remaining is not None and remaining <= RECHECK_WITHIN

    def taken(self, number: int, trials: Sequence[FrozenTrial]) -> bool:
        """Do the trials numbered before `number` (counted, or running) already fill the budget?"""
        before = [t for t in trials if t.number < number]
        taken = sum(counts_toward_budget(t) or t.state == TrialState.RUNNING for t in before)
        return self.trials is not None and taken >= self.trials


__all__ = ["RECHECK_WITHIN", "Budget"]

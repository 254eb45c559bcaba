"""W&B's `early_terminate: {type: hyperband}`, with W&B's own rule, as an Optuna pruner.

Semantics taken from wandb/sweeps `src/sweeps/hyperband_stopping.py` (`hyperband_stop_runs`) at commit
035d000437acd2e885c63f3ce546571258bdd3fe ("Hyperband now correctly stops more runs", the newest change to the
file; repository HEAD b1dfc5f95e7fa179519718e92371d1423c116893), and the defaults of `hyperband_stopping` in
`src/sweeps/config/schema.json` at 130c679df5a17ec1bbefb3eee30eb6b63732b040 (eta 3, strict true).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

# W&B fills `min_iter` bands for 100 rounds (`for i in range(100)`); kept, though only the first few matter.
WANDB_MIN_ITER_BANDS = 100


@dataclass(frozen=True)
class Decision:
    """What W&B's rule says about one running trial at its latest band."""

    band: int  # W&B's iteration: the band-th reported value
    step: int  # our step number of that value
    value: float  # what was compared (signed as the user reported it)
    threshold: float  # the cutoff (signed as the user reported it)
    trials: int  # how many trials had reached the band
    stop: bool


class WandbHyperbandPruner(BasePruner):
    """W&B's hyperband early termination, decision for decision.

    No Optuna pruner has these semantics. Optuna's HyperbandPruner runs several brackets of successive halving,
    each trial in one bracket, compared with a rank at rungs min_resource·η^k. W&B's rule is simpler and
    different: one list of bands; at the latest band a run has passed, the run is stopped when its value (the
    value at the band when `strict`, its best so far otherwise) is worse than the value at position
    `int(n / eta)` of the n runs' values at that band, sorted best first. Every run of the sweep counts (running,
    finished, stopped, crashed, this one included), and a run that passed a band is judged there again at every
    check until it reaches the next band. Files written for W&B expect exactly that, so it is kept here.

    Mapping of W&B's "iteration": W&B counts history rows that hold the metric as a finite number (`wandb.log`
    calls; its `_step` starts at 0). Here a trial's history is its reported intermediate values in step order,
    non-finite ones left out, and band k is its k-th reported value, whatever its step number: a trial that
    reports epochs 1, 2, 3 meets band 10 at step 10, one that reports from step 0 (as `wandb.log` does) at
    step 9. W&B's controller checks running runs every few seconds; Optuna asks at every `report`, which is the
    same rule applied at every new value.
    """

    def __init__(self, bands: Sequence[int], eta: float, strict: bool = True) -> None:
        if not bands:
            raise ValueError("W&B hyperband needs at least one band")
        if not eta > 1:
            raise ValueError(f"eta must be more than 1, got {eta}")
        self.bands = sorted(int(b) for b in bands)
        self.eta = float(eta)
        self.strict = bool(strict)
        self._r = 1.0 / self.eta  # as W&B computes it: r = 1.0 / eta; index int(r * n)
        self._finished: dict[tuple[str, int], list[float]] = {}

    def _history(self, study: optuna.Study, trial: FrozenTrial, flip: bool) -> list[float]:
        key = (study.study_name, trial.number)
        if trial.state.is_finished() and key in self._finished:
            return self._finished[key]
        values = [v for _, v in sorted(trial.intermediate_values.items()) if math.isfinite(v)]
        if flip:  # W&B negates a maximized metric, so smaller is always better below
            values = [-v for v in values]
        if trial.state.is_finished():
            self._finished[key] = values
        return values

    def decide(self, study: optuna.Study, trial: FrozenTrial) -> Decision | None:
        """W&B's rule for `trial` now; None before its first band."""
        flip = study.direction == StudyDirection.MAXIMIZE
        own = self._history(study, trial, flip)
        band = next((b for b in reversed(self.bands) if b <= len(own)), None)
        if band is None:
            return None
        at_band = [own[band - 1]]
        for other in study.get_trials(deepcopy=False):
            if other.number == trial.number:
                continue
            history = self._history(study, other, flip)
            if len(history) >= band:
                at_band.append(history[band - 1])
        at_band.sort()
        threshold = at_band[int(self._r * len(at_band))]
        value = own[band - 1] if self.strict else min(own)
        steps = sorted(s for s, v in trial.intermediate_values.items() if math.isfinite(v))
        sign = -1.0 if flip else 1.0
        return Decision(
            band=band,
            step=steps[band - 1],
            value=sign * value,
            threshold=sign * threshold,
            trials=len(at_band),
            stop=value > threshold,
        )

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        decision = self.decide(study, trial)
        return decision is not None and decision.stop


def bands_from(min_iter: int | None, max_iter: int | None, s: int | None, eta: float) -> list[int]:
    """W&B's bands, computed as `hyperband_stop_runs` does (max_iter wins when both are given)."""
    bands: list[int] = []
    if max_iter is not None:
        band: float = max_iter
        for _ in range(s or 0):
            band /= eta
            if band < 1:
                break
            bands.append(int(band))
        return sorted(bands)
    assert min_iter is not None
    band = min_iter
    for _ in range(WANDB_MIN_ITER_BANDS):
        bands.append(int(band))
        band *= eta
    return bands

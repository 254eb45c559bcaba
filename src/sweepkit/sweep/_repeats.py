"""Repeat-free finite spaces: on a space of finitely many points (a grid, choices only), a point tried
already is never run twice; an untried point, drawn at random, is queued instead, and the sweep ends when
every point has been tried.

Kept up to date as trials finish, so that a step costs O(trials running or queued), not O(all trials) or
O(points).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepkit.space import Choice, Parameter, SearchSpace, point_key
from sweepkit.trial_state import FIXED_PARAMS, State, state_of


def encode(param: Parameter, value: Any, *, grid: bool) -> Any:
    """A user value → the internal value that decodes to it (to queue a chosen point)."""
    if grid:
        points = param.grid() or ()
        choices = param.distribution(grid=True).choices  # type: ignore[attr-defined]
        return choices[list(points).index(value)]
    if isinstance(param, Choice):
        index = list(param.values).index(value)
        if param.probabilities is not None:
            return sum(param.probabilities[:index]) + param.probabilities[index] / 2
        choices = param.distribution().choices  # type: ignore[attr-defined]
        return choices[index]
    return value


class Repeats:
    """The points of a finite space: which were tried (finished trials), which are live (running or queued),
    and which are still untried."""

    def __init__(self, space: SearchSpace, *, grid: bool, rng: random.Random) -> None:
        self.space = space
        self.grid = grid
        self.rng = rng
        self.points = space.grid_points() if space.finite else None
        self.keys: dict[int, str | None] = {}  # finished trial number → its point's key (None: not a tried point)
        self.tried: set[str] = set()  # keys of finished trials' points: only ever grows
        self._folded = 0  # trials[:_folded] are finished and in `tried`
        self._untried: list[str] | None = None  # point keys in random order, popped to queue an untried point
        self._point_of: dict[str, dict[str, Any]] = {}

    def key_of(self, t: FrozenTrial) -> str | None:
        if state_of(t) in (State.DISCARDED, State.INTERRUPTED):
            return None
        internal = t.params or t.system_attrs.get(FIXED_PARAMS) or {}
        if not internal:
            return None
        try:
            return point_key(self.space.decode(internal, grid=self.grid))
        except Exception:
            return None

    def seen(self, trials: Sequence[FrozenTrial], *, exclude: int | None = None, queued: bool = True) -> set[str]:
        """Keys of the points tried by finished trials (`tried`, updated here) and the set of those of trials
        running now (and queued ones, with `queued`), which is what this returns."""
        while self._folded < len(trials) and trials[self._folded].state.is_finished():
            self._fold(trials[self._folded])
            self._folded += 1
        live: set[str] = set()
        for t in trials[self._folded :]:
            if t.number == exclude:
                continue
            if t.state.is_finished():
                self._fold(t)
            elif queued or t.state != TrialState.WAITING:
                key = self.key_of(t)
                if key is not None:
                    live.add(key)
        return live

    def _fold(self, t: FrozenTrial) -> None:
        if t.number not in self.keys:
            key = self.keys[t.number] = self.key_of(t)
            if key is not None:
                self.tried.add(key)

    def exhausted(self, trials: Sequence[FrozenTrial]) -> bool:
        """Has every point been tried or is running? (queued points are still to run)"""
        if self.points is None:
            return False
        live = self.seen(trials, queued=False)
        return len(self.tried) + len(live - self.tried) >= len(self.points)

    def is_repeat(self, flat: dict[str, Any], trials: Sequence[FrozenTrial], number: int) -> set[str] | None:
        """The live keys when the point of trial `number` was tried or is live already, else None."""
        live = self.seen(trials, exclude=number)
        key = point_key(flat)
        if key in self.tried or key in live:
            return live | {key}
        return None

    def queue_unseen(self, study: optuna.Study, live: set[str]) -> bool:
        """Queue a point neither tried, running nor queued, drawn at random. The points are shuffled once and
        popped: a point passed over is tried or about to be, so each is looked at about once per sweep."""
        if self.points is None:
            return False
        if self._untried is None:
            self._point_of = {point_key(p): p for p in self.points}
            self._untried = list(self._point_of)
            self.rng.shuffle(self._untried)
        for _ in range(2):
            while self._untried:
                key = self._untried.pop()
                if key not in self.tried and key not in live:
                    self._enqueue(study, self._point_of[key])
                    return True
            # Passed-over points may have come free again (a queued point discarded): look once more.
            self._untried = [k for k in self._point_of if k not in self.tried and k not in live]
            self.rng.shuffle(self._untried)
        return False

    def _enqueue(self, study: optuna.Study, point: dict[str, Any]) -> None:
        internal = {}
        for param in self.space.searched:
            if param.name in point:
                internal[param.name] = encode(param, point[param.name], grid=self.grid)
        study.enqueue_trial(internal, skip_if_exists=False)


__all__ = ["Repeats", "encode"]

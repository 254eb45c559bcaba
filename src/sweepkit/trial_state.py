"""A trial's state as sweepkit names it, and every attribute sweepkit keeps on a trial or a sweep in the store.

Optuna knows five states (COMPLETE, PRUNED, FAIL, RUNNING, WAITING); sweepkit needs three more, kept inside
Optuna's so that any Optuna tool still reads the store: INFEASIBLE is told PRUNED, DISCARDED and INTERRUPTED
are told FAIL, each marked in the trial's `sweepkit` user attr. Every package reads and writes them through
this module only, and two rules here keep a mark from ever landing on the wrong trial:

- a mark counts only on a trial told the Optuna state it stands for (a COMPLETE trial is complete, whatever
  an older store marked on it), and
- a point queued again (a retry, a discarded point put back) carries its history (`retry_of`, `retries`),
  never the mark, the error or the results of the trial it came from (`requeued`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from optuna.trial import TrialState

ATTR = "sweepkit"  # the user attr (of a study and of each trial) holding sweepkit's own metadata
BEAT = "sweepkit:beat"  # a running trial's system attr: its run's heartbeat {"owner": "host:pid", "n": count}
CONSTRAINT = "sweepkit"  # the Optuna constraint an infeasible point violates (samplers learn to avoid it)
FIXED_PARAMS = "fixed_params"  # Optuna's own system attr: the params a queued (enqueued) trial will run with
RETRAIN_ATTR = "sweepkit.retrain_of"  # a retrain sweep's study user attr: which sweep and trial it repeats
# The version of the study's `sweepkit` attr (SweepMeta). 1: stores written before it was kept (read as is);
# 2: adds `schema_version`. A reader takes any version: keys it does not know are left alone, missing ones
# have defaults, so an older sweep still loads, resumes and reports.
SCHEMA_VERSION = 2


class State(StrEnum):
    """What `status`, `ls`, the outputs and the report call a trial's state."""

    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"  # cut short (Ctrl+C, --until, its worker lost): runs again, same params
    INFEASIBLE = "INFEASIBLE"  # broke a constraint: never ran (Optuna PRUNED + a violated constraint)
    RUNNING = "RUNNING"
    WAITING = "WAITING"  # queued: a retry, or a point chosen to run next
    DISCARDED = "DISCARDED"  # asked for but never run (a repeated point, over budget): left out of results

    @property
    def told_as(self) -> TrialState:
        """The Optuna state a trial of this state is told (and must have for its mark to count)."""
        return _TOLD_AS[self]

    @property
    def counts_toward_budget(self) -> bool:
        """Trials that ran to an end. Infeasible and discarded ones cost nothing; interrupted ones are retried."""
        return self in (State.COMPLETE, State.PRUNED, State.FAILED)


_TOLD_AS = {
    State.COMPLETE: TrialState.COMPLETE,
    State.PRUNED: TrialState.PRUNED,
    State.FAILED: TrialState.FAIL,
    State.RUNNING: TrialState.RUNNING,
    State.WAITING: TrialState.WAITING,
    State.INFEASIBLE: TrialState.PRUNED,
    State.INTERRUPTED: TrialState.FAIL,
    State.DISCARDED: TrialState.FAIL,
}
_OPTUNA = {
    TrialState.COMPLETE: State.COMPLETE,
    TrialState.PRUNED: State.PRUNED,
    TrialState.FAIL: State.FAILED,
    TrialState.RUNNING: State.RUNNING,
    TrialState.WAITING: State.WAITING,
}
MARKS = (State.INFEASIBLE, State.INTERRUPTED, State.DISCARDED)  # the states sweepkit marks on top of Optuna's


class TrialAttrs(TypedDict, total=False):
    """The keys of a trial's `sweepkit` user attr."""

    state: str  # one of MARKS, written by `marked` only
    error: str  # why it failed, was interrupted, infeasible or discarded
    traceback: str
    reason: str  # why it was pruned
    metrics: dict[str, Any]
    resources: dict[str, Any]  # CPU, memory and GPU use while it ran
    worker: str  # "host:pid/slot"
    params: dict[str, Any]  # the user's flat params, as the trial saw them: on every trial sweepkit sampled
    steps: int  # steps a pruned program really ran (it may go on past the report the pruner judged)
    retry_of: int  # the trial it runs again
    retries: int  # how many times its point was lost already
    seed: int  # on a retry: the seed of the trial it runs again (the same seed, however often it is retried)


class SweepMeta(TypedDict, total=False):
    """The keys of a sweep's (a study's) `sweepkit` user attr: what `agent`, `status`, `best`, `report` and
    `sweepkit.load` read back without the sweep file."""

    schema_version: int  # SCHEMA_VERSION when written; 1 for a sweep stored before it was kept
    spec: dict[str, Any]  # the sweep file laid out in the native shape: `load_spec(spec)` gives the Spec back
    dialect: str
    strategy: str  # the strategy it ran (auto's pick), and why
    strategy_reason: str
    grid: bool
    metric: str
    output: str  # sweeps/<name>/
    base_dir: str  # where `sweepkit agent` finds the trial's code
    seed: int | None  # the sweep's seed: agents and resumes derive each trial's seed from it


class RetrainOf(TypedDict):
    """A retrain sweep's RETRAIN_ATTR: the sweep and trial it repeats."""

    sweep: str
    trial: int
    value: float | None
    params: dict[str, Any]
    steps: int | None


class _HasStudyAttrs(Protocol):
    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


def sweep_meta(study: _HasUserAttrs) -> SweepMeta:
    """The study's `sweepkit` attr, whatever version wrote it (an older one: `schema_version` 1); empty when
    sweepkit did not start the study."""
    meta = study.user_attrs.get(ATTR)
    if not isinstance(meta, dict):
        return {}
    version = meta.get("schema_version")
    ok = isinstance(version, int) and not isinstance(version, bool) and version >= 1
    return {**meta, "schema_version": version if ok else 1}  # type: ignore[typeddict-item]


def store_sweep_meta(study: _HasStudyAttrs, meta: SweepMeta) -> bool:
    """Write the sweep's metadata at this SCHEMA_VERSION; one store write, only when it changed."""
    current: SweepMeta = {**meta, "schema_version": SCHEMA_VERSION}
    if study.user_attrs.get(ATTR) == current:
        return False
    study.set_user_attr(ATTR, current)
    return True


def mark_retrain(study: _HasStudyAttrs, of: RetrainOf) -> None:
    """Mark a retrain sweep with the sweep and trial it repeats."""
    study.set_user_attr(RETRAIN_ATTR, dict(of))


class _HasUserAttrs(Protocol):
    @property
    def user_attrs(self) -> dict[str, Any]: ...


class _StoredTrial(_HasUserAttrs, Protocol):
    @property
    def state(self) -> TrialState: ...


def attrs_of(trial: _HasUserAttrs) -> TrialAttrs:
    """The trial's `sweepkit` attr (a live `optuna.Trial` or a stored `FrozenTrial`); empty when none."""
    attrs = trial.user_attrs.get(ATTR)
    return attrs if isinstance(attrs, dict) else {}  # type: ignore[return-value]


def params_of(trial: _HasUserAttrs) -> dict[str, Any] | None:
    """The user's flat params as stored with the trial (derived, constant and W&B quantile ones as the trial
    saw them, inactive conditional ones left out); None for a trial stored without them (never sampled, lost
    before it ended, or written by an older sweepkit)."""
    params = attrs_of(trial).get("params")
    return dict(params) if isinstance(params, dict) else None


def with_params(attrs: Mapping[str, Any], params: Mapping[str, Any] | None) -> TrialAttrs:
    """`attrs` carrying the user's flat params, so they go to the store in the write sweepkit makes anyway."""
    out: TrialAttrs = {**attrs}  # type: ignore[typeddict-item]
    if params is not None:
        out["params"] = dict(params)
    return out


def state_of(trial: _StoredTrial) -> State:
    """The state as sweepkit names it. A mark counts only where Optuna agrees (see the module's rules)."""
    marked = attrs_of(trial).get("state")
    if marked in MARKS and _TOLD_AS[State(marked)] == trial.state:
        return State(marked)
    return _OPTUNA[trial.state]


def counts_toward_budget(trial: _StoredTrial) -> bool:
    return state_of(trial).counts_toward_budget


def marked(attrs: Mapping[str, Any], state: State, error: str) -> TrialAttrs:
    """`attrs` with a mark and its reason, ready to write before telling the study `state.told_as`."""
    assert state in MARKS, state
    return {**attrs, "state": state.value, "error": error}  # type: ignore[typeddict-item]


def unmarked(attrs: Mapping[str, Any], error: str) -> TrialAttrs:
    """`attrs` of a trial that really failed (a lost one out of retries): no mark, its reason."""
    out = {k: v for k, v in attrs.items() if k != "state"}
    return {**out, "error": error}  # type: ignore[typeddict-item]


def requeued(
    attrs: Mapping[str, Any], *, retry_of: int | None = None, retries: int | None = None, seed: int | None = None
) -> TrialAttrs:
    """The attrs a point queued again starts with: its history only (and a retry's seed), never its old
    trial's mark or results."""
    out: TrialAttrs = {}
    if retry_of is not None or "retry_of" in attrs:
        out["retry_of"] = int(retry_of if retry_of is not None else attrs["retry_of"])
    tries = retries if retries is not None else attrs.get("retries", 0)
    if tries:
        out["retries"] = int(tries)
    kept = seed if seed is not None else attrs.get("seed")
    if isinstance(kept, int) and not isinstance(kept, bool):
        out["seed"] = kept
    return out


__all__ = [
    "ATTR",
    "BEAT",
    "CONSTRAINT",
    "FIXED_PARAMS",
    "MARKS",
    "RETRAIN_ATTR",
    "SCHEMA_VERSION",
    "RetrainOf",
    "State",
    "SweepMeta",
    "TrialAttrs",
    "attrs_of",
    "counts_toward_budget",
    "mark_retrain",
    "marked",
    "params_of",
    "requeued",
    "state_of",
    "store_sweep_meta",
    "sweep_meta",
    "unmarked",
    "with_params",
]

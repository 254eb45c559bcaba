"""Early stopping: the sweep file's `pruner`, `scheduler` or `early_terminate` (or a strategy's default) as
one Optuna pruner, plus the words to show users what it will do (`validate`) and why it stopped a trial.

Optuna's pruners do the work wherever one has the semantics the file asks for; only W&B's `early_terminate`
has a pruner of our own (`WandbHyperbandPruner`: no Optuna pruner stops runs the way W&B does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweepkit.pruner import _build
from sweepkit.pruner._build import Built
from sweepkit.pruner._common import Where, join_steps, num, ordinal, word
from sweepkit.pruner._explain import why
from sweepkit.pruner._models import EarlyStopping, EarlyTerminate, check
from sweepkit.pruner._wandb import WandbHyperbandPruner

SECTIONS = ("pruner", "scheduler", "early_terminate")


@dataclass(frozen=True)
class Pruning:
    """The sweep's early stopping, ready for `optuna.create_study(pruner=...)`, and how to describe it."""

    pruner: optuna.pruners.BasePruner
    name: str  # none, median, percentile, hyperband, successive_halving, threshold, patient, wilcoxon, wandb-hyperband
    source: str  # where it was configured: pruner, scheduler, early_terminate, strategy asha, default
    description: str  # one line: what it does, with the numbers
    rungs: list[str] = field(default_factory=list)  # the rungs / brackets / bands it implies; [] for other pruners
    notes: list[str] = field(default_factory=list)  # settings read but ignored, rungs never reached, ...


def build(
    *,
    pruner: dict[str, Any] | None,
    scheduler: dict[str, Any] | None,
    early_terminate: dict[str, Any] | None,
    strategy: str,
    max_steps: int | None,
    maximize: bool,
    file: str | None,
    origins: Mapping[str, str] | None = None,
) -> Pruning:
    """The pruner a sweep file asks for. Raises SpecError (with the file and key) for anything it cannot be.

    `strategy`: the strategy word as the user wrote it (`hyperopt:`'s `combined`/`asha`/`optuna`/`random`, or any
    sampler name); `max_steps`: steps per trial when known (budget.steps), the default top rung. `origins`
    (native key → the user's key, e.g. pruner.n_startup_trials → hyperopt.optuna_n_startup_trials) only
    changes the key errors name.
    """
    where = Where(file, origins)
    sections = {"pruner": pruner, "scheduler": scheduler, "early_terminate": early_terminate}
    stopping = check(EarlyStopping, sections, where, "", strategy=strategy)
    given, source = stopping.given, stopping.source
    notes: list[str] = []
    if source is None:
        built = _build.from_strategy(strategy, max_steps=max_steps, where=where)
        if built is None:
            return Pruning(optuna.pruners.NopPruner(), "none", "default", "none: no early stopping configured")
        source = f"strategy {word(strategy)}"
        return Pruning(built.pruner, built.name, source, built.description, built.rungs, built.notes)
    if len(given) > 1:
        ignored = next(name for name in given if name != source)
        notes.append(f"{where.key(ignored)} is ignored: strategy {strategy} stops trials with the {source}")
    section = given[source]
    if source == "pruner":
        built = _build.native(section, max_steps=max_steps, where=where)
    elif source == "scheduler":
        built = _build.scheduler(section, max_steps=max_steps, maximize=maximize, where=where)
    else:
        built = _from_wandb(section, max_steps, where)
    return Pruning(built.pruner, built.name, source, built.description, built.rungs, notes + built.notes)


def _from_wandb(section: Mapping[str, Any], max_steps: int | None, where: Where) -> Built:
    config = check(EarlyTerminate, section, where, "early_terminate")
    pruner = WandbHyperbandPruner(config.bands, config.eta, config.strict)
    eta = num(config.eta)
    shown = [b for b in config.bands if max_steps is None or b <= max_steps]
    more = max_steps is None and not config.from_max_iter
    if more:
        shown = shown[:4]
    rule = "value at the band" if config.strict else "best value so far"
    settings = f"W&B's rule, eta={eta}, strict={str(config.strict).lower()}"
    notes = list(config.notes)
    if not shown:
        notes.append(
            f"no band is within the {max_steps} steps a trial runs (the first is at the {ordinal(config.bands[0])} "
            "reported value): early_terminate never stops a trial"
        )
        return Built(
            pruner, "wandb-hyperband", f"wandb-hyperband: no band within {max_steps} steps ({settings})", [], notes
        )
    bands = join_steps([ordinal(b) for b in sorted(set(shown))], more=more)
    rungs = [
        f"bands at the {bands} reported value: stop a trial whose {rule} is not in the best 1/{eta} of all trials there"
    ]
    text = (
        f"wandb-hyperband: at the {bands} reported value, stop a trial whose {rule} is worse than the best "
        f"1/{eta} of all trials' values there ({settings})"
    )
    return Built(pruner, "wandb-hyperband", text, rungs, notes)


def explain(
    pruning: Pruning,
    study: optuna.Study,
    trial: FrozenTrial | optuna.Trial,
    step: int | None = None,
) -> str:
    """Why `trial` was pruned at `step`, from the study's trials: call it when TrialPruned arrives, before the
    trial is told PRUNED. Never raises; `step` None means the trial's last reported step."""
    try:
        frozen = next(
            (t for t in study.get_trials(deepcopy=False) if t.number == trial.number),
            trial if isinstance(trial, FrozenTrial) else None,
        )
        if frozen is None:
            return _generic(pruning, step)
        if step is None:
            step = frozen.last_step
        if step is None:
            return "stopped before reporting any value: the trial raised TrialPruned itself"
        reason = why(pruning.pruner, study, frozen, step)
        if reason is not None:
            return reason
        if pruning.name == "none":
            return f"stopped at step {step} by the trial itself (no pruner is configured)"
        return f"stopped at step {step} by the trial itself: the {pruning.name} pruner did not call for it"
    except Exception:
        return _generic(pruning, step)


def _generic(pruning: Pruning, step: int | None) -> str:
    try:
        at = f" at step {step}" if step is not None else ""
        return f"pruned{at} by the {pruning.name} pruner"
    except Exception:
        return "pruned"


__all__ = ["SECTIONS", "Pruning", "WandbHyperbandPruner", "build", "explain"]

"""Strategies: which Optuna sampler searches the space, and `auto`'s reasoned choice of one."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from pydantic import ValidationError

from sweepkit._validation import validation_error
from sweepkit.errors import SpecError
from sweepkit.space import Choice, SearchSpace
from sweepkit.strategy._options import options_model

# GP fits slow down cubically with trials and suit few, mostly continuous dimensions.
GP_MAX_TRIALS = 300
GP_MAX_DIMS = 20


@dataclass(frozen=True)
class Strategy:
    name: str  # the strategy that runs (never "auto")
    reason: str  # why: shown by `validate`, stored in the results
    sampler: optuna.samplers.BaseSampler

    @property
    def grid(self) -> bool:
        """Grid sweeps search each parameter as a categorical over its points."""
        return self.name == "grid"


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def choose(space: SearchSpace, trials: int | None) -> tuple[str, str]:
    """`auto`: pick a strategy from the space's shape and the budget, and say why."""
    return _installed(*_suits(space, trials))


def _installed(name: str, reason: str) -> tuple[str, str]:
    """A Gaussian process needs torch: without it, TPE, saying so."""
    if name == "gp" and not _torch_available():
        return (
            "tpe",
            "a Gaussian process would suit this small continuous space, but it needs torch "
            "(pip install 'sweepkit[gp]'); TPE instead",
        )
    return name, reason


def _suits(space: SearchSpace, trials: int | None) -> tuple[str, str]:
    """The strategy the space's shape and the budget call for, installed or not."""
    searched = space.searched
    size = space.grid_size() if space.finite else None
    if size is not None and (trials is None or size <= trials):
        return "grid", f"every parameter is discrete and all {size} points fit in the budget"
    if size is not None or space.finite:
        return (
            "tpe",
            "every parameter is discrete but the points outnumber the budget: TPE samples them without repeats",
        )
    if space.conditional:
        return "tpe", "the space has conditional parameters, which TPE models as a tree"
    categorical = sum(isinstance(p, Choice) for p in searched)
    if categorical * 2 > len(searched):
        return "tpe", f"{categorical} of {len(searched)} parameters are categorical, which TPE handles well"
    if trials is not None and trials > GP_MAX_TRIALS:
        return "tpe", f"{trials} trials is more than a Gaussian process fits quickly (≤ {GP_MAX_TRIALS})"
    if len(searched) > GP_MAX_DIMS:
        return "tpe", f"{len(searched)} parameters are more than a Gaussian process models well"
    return "gp", "a small, mostly continuous space with a modest budget: a Gaussian process learns fastest"


class GridSampler(optuna.samplers.BruteForceSampler):
    """Optuna's BruteForceSampler (it walks conditional spaces, unlike GridSampler), minus its
    `study.stop()` on exhaustion: that only works inside `study.optimize`, and the engine ends exhausted
    sweeps itself, saying so."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


# Constructors, each taking `seed=` (BaseSampler itself does not, so `type[BaseSampler]` would not say it).
_SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "random": optuna.samplers.RandomSampler,
    "grid": GridSampler,
    "tpe": optuna.samplers.TPESampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,  # a genetic algorithm made for multi-objective sweeps
}

# Samplers that can't search a multi-objective study (Optuna's CmaEsSampler raises on one).
SINGLE_OBJECTIVE_ONLY = ("cmaes",)
# More objectives than this make a GP's expected hypervolume improvement slow to compute: TPE instead.
GP_MAX_OBJECTIVES = 3


def choose_multi(space: SearchSpace, trials: int | None, objectives: int) -> tuple[str, str]:
    """`auto` for several objectives: the single-objective choice, where it can search a Pareto front well.
    Grid and TPE (Optuna's MOTPE) stay; a GP (log expected hypervolume improvement) up to a few objectives."""
    name, reason = _suits(space, trials)
    if name == "gp" and objectives > GP_MAX_OBJECTIVES:
        return (
            "tpe",
            f"{objectives} objectives: a Gaussian process's hypervolume improvement is slow past "
            f"{GP_MAX_OBJECTIVES}, and TPE (multi-objective) scales",
        )
    if name == "gp":
        return _installed(name, reason + " (multi-objective: log expected hypervolume improvement)")
    return name, reason


def _check_grid(space: SearchSpace, file: str | None) -> None:
    continuous = [p.name for p in space.parameters if p.grid() is None]
    if continuous:
        names = ", ".join(continuous)
        raise SpecError(
            f"grid needs every parameter to have a finite set of values, but {names} "
            f"{'is' if len(continuous) == 1 else 'are'} continuous: give {'it' if len(continuous) == 1 else 'them'} "
            "`values`, or a `step` (or W&B's `q`), or use another strategy",
            file=file,
            key="strategy.name",
        )


def build(
    name: str,
    space: SearchSpace,
    *,
    trials: int | None,
    seed: int | None,
    options: dict[str, Any] | None = None,
    file: str | None = None,
    objectives: int = 1,
) -> Strategy:
    """The sampler for a strategy name (already normalized: random, grid, tpe, gp, cmaes, qmc, nsga2, bayes,
    auto), for a sweep of `objectives` metrics."""
    options = dict(options or {})
    if name == "auto":
        name, reason = choose(space, trials) if objectives == 1 else choose_multi(space, trials, objectives)
    elif name == "bayes":
        if _torch_available():
            name, reason = "gp", "W&B's bayes is a Gaussian process: Optuna's GPSampler"
        else:
            name, reason = (
                "tpe",
                "W&B's bayes maps to a Gaussian process, which needs torch "
                "(pip install 'sweepkit[gp]'); TPE, the other Bayesian method, instead",
            )
    else:
        reason = "chosen in the sweep file"
    if name == "grid":
        _check_grid(space, file)
    if name == "gp" and not _torch_available():
        raise SpecError("strategy gp needs torch: pip install 'sweepkit[gp]'", file=file, key="strategy.name")
    if objectives > 1 and name in SINGLE_OBJECTIVE_ONLY:
        raise SpecError(
            f"strategy {name} optimizes one metric, and this sweep has {objectives}: use tpe, gp, nsga2, random, "
            "qmc or grid (auto picks one), or combine the metrics into one (metric.combine)",
            file=file,
            key="strategy.name",
        )
    if name == "tpe" and space.conditional and "multivariate" not in options:
        options.setdefault("group", True)  # model each branch of a conditional space jointly
        if objectives > 1:  # group needs the multivariate TPE, which Optuna leaves off for several objectives
            options.setdefault("multivariate", True)
    cls = _SAMPLERS[name]
    model = options_model(name, cls)
    try:
        model.model_validate(options)
    except ValidationError as exc:
        raise validation_error(exc, model, file=file, key=str, prefix="strategy") from None
    try:
        with warnings.catch_warnings():
            # `group` and friends are marked experimental in Optuna; the user chose them knowingly.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = cls(seed=seed, **options)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"strategy {name}: {exc}", file=file, key="strategy") from None
    return Strategy(name=name, reason=reason, sampler=sampler)


__all__ = ["Strategy", "build", "choose"]

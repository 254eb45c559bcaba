"""Sweep-file sections → Optuna pruners: native/Optuna `pruner`, Ray Tune `scheduler`, `hyperopt:` strategies.

W&B's `early_terminate` (`_wandb.py`) and the `combined` strategy (`_forecast.py`) have pruners of our own.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    WilcoxonPruner,
)

from sweepkit.errors import did_you_mean
from sweepkit.pruner._common import Where, join_steps, num, ordinal, steps_list, word
from sweepkit.pruner._forecast import ForecastPruner
from sweepkit.pruner._models import (
    PRUNER_OPTIONS,
    SCHEDULER_OPTIONS,
    HyperbandOptions,
    MedianOptions,
    NoneOptions,
    PatientOptions,
    PercentileOptions,
    RayAshaOptions,
    RayHyperbandOptions,
    SuccessiveHalvingOptions,
    ThresholdOptions,
    WilcoxonOptions,
    check,
)


@dataclass
class Built:
    pruner: BasePruner
    name: str
    description: str
    rungs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Native / Optuna style: pruner: {type: median, n_startup_trials: 5, ...}

PRUNER_TYPES: dict[str, type[BasePruner]] = {
    "none": NopPruner,
    "median": MedianPruner,
    "percentile": PercentilePruner,
    "hyperband": HyperbandPruner,
    "successive_halving": SuccessiveHalvingPruner,
    "threshold": ThresholdPruner,
    "patient": PatientPruner,
    "wilcoxon": WilcoxonPruner,
}
# Spellings users bring (Optuna class names, ASHA, nop) → the type names above.
_TYPE_WORDS = {word(name): name for name in PRUNER_TYPES} | {
    "asha": "successive_halving",
    "sha": "successive_halving",
    "nop": "none",
    "off": "none",
    "false": "none",
}
TYPE_NAMES = (*PRUNER_TYPES, "asha")

# `hyperopt:` sections write `optuna_n_startup_trials` by any `optuna_pruner` (median, hyperband, none): for types
# without a startup phase it is noted, not an error.
_NOTED_ONLY = ("n_startup_trials",)


def pruner_type(value: Any, path: str, where: Where) -> str:
    text = word(value)
    if text.endswith("pruner") and text != "pruner":
        text = text[: -len("pruner")]
    name = _TYPE_WORDS.get(text)
    if name is None:
        raise where.error(
            f'unknown pruner type "{value}"{did_you_mean(str(value).lower(), TYPE_NAMES)}; '
            f"expected one of {', '.join(TYPE_NAMES)}",
            path,
        )
    return name


def native(section: Mapping[str, Any], *, max_steps: int | None, where: Where, prefix: str = "pruner") -> Built:
    """One `pruner` section (or a patient pruner's `wrapped`): options are the Optuna class's arguments, checked
    by the type's model (`_models.py`)."""
    if (
        "type" not in section
    ):  # the `hyperopt:` workflow's `optuna_n_startup_trials` alone: options of Optuna's default pruner
        name, defaulted = "median", " (no type given: Optuna's default pruner)"
    else:  # `type: null` (YAML's `~`) reads as no pruner
        name = "none" if section["type"] is None else pruner_type(section["type"], f"{prefix}.type", where)
        defaulted = ""
    model = PRUNER_OPTIONS[name]
    options = {key: value for key, value in section.items() if key != "type"}
    notes = []
    for key in _NOTED_ONLY:
        if key in options and key not in model.model_fields:
            notes.append(f"{where.key(f'{prefix}.{key}')} is ignored: the {name} pruner has no startup phase")
            del options[key]
    built = _NATIVE[name](check(model, options, where, prefix, max_steps=max_steps), max_steps, where, prefix)
    built.notes[:0] = notes
    built.description += defaulted
    return built


def _construct(cls: Callable[..., BasePruner], prefix: str, where: Where, **kwargs: Any) -> BasePruner:
    try:
        with warnings.catch_warnings():
            # PatientPruner and WilcoxonPruner are marked experimental; the user chose them knowingly.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise where.error(f"{exc}", prefix) from None


def _every(n: int) -> str:
    return "every step" if n == 1 else f"every {n} steps"


def _none(options: NoneOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    return Built(NopPruner(), "none", "none: no early stopping, every trial runs to its end")


def _percentile(options: MedianOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    if isinstance(options, PercentileOptions):
        assert options.percentile is not None
        pruner = _construct(PercentilePruner, prefix, where, **options.given())
        name, label = "percentile", f"the {ordinal(options.percentile)} percentile (best first)"
    else:
        pruner = _construct(MedianPruner, prefix, where, **options.given())
        name, label = "median", "the median"
    text = (
        f"{name}: after {options.n_startup_trials} finished trials, from step {options.n_warmup_steps}, "
        f"{_every(options.interval_steps)}: stop a trial whose best value so far is worse than {label} of finished "
        "trials at the same step"
    )
    if options.n_min_trials > 1:
        text += f" (once {options.n_min_trials} trials have a value there)"
    return Built(pruner, name, text)


def sha_rungs(min_resource: int | str, rf: int, rate: int, limit: int | None) -> tuple[str, bool]:
    """The rungs min_resource·rf^(rate+k) up to `limit` ("rungs at steps 1, 4, 16"), and whether any is reached."""
    if min_resource == "auto":
        first = "r" if rate == 0 else f"{rf**rate}r"
        return (
            f"rungs at steps {first}, {rf ** (rate + 1)}r, {rf ** (rate + 2)}r, …, where r is 1% of the first "
            "finished trial's last step (min_resource auto)",
            True,
        )
    assert isinstance(min_resource, int)
    steps = steps_list(min_resource * rf**rate, rf, limit)
    if not steps:
        return f"no rung within {limit} steps (the first is at step {min_resource * rf**rate})", False
    if len(steps) == 1:
        return f"rung at step {steps[0]}", True
    return f"rungs at steps {join_steps(steps, more=limit is None)}", True


def _sha(options: SuccessiveHalvingOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    pruner = _construct(SuccessiveHalvingPruner, prefix, where, **options.given())
    return _describe_sha(
        pruner, options.min_resource, options.reduction_factor, max_steps, "successive_halving (ASHA)",
        rate=options.min_early_stopping_rate,
    )  # fmt: skip


def _describe_sha(
    pruner: BasePruner, min_resource: int | str, rf: int, limit: int | None, label: str, *, rate: int = 0
) -> Built:
    rungs, reached = sha_rungs(min_resource, rf, rate, limit)
    if not reached:
        assert isinstance(min_resource, int)
        first = min_resource * rf**rate
        note = f"the first rung (step {first}) is beyond the {limit} steps a trial runs: it never stops a trial"
        return Built(pruner, "successive_halving", f"{label}: no rung within {limit} steps", [], [note])
    text = f"{label}: {rungs}; at each, stop a trial that is not in the best 1/{rf} of the trials there"
    return Built(pruner, "successive_halving", text, [f"{rungs} (keep the best 1/{rf})"])


def hyperband_brackets(min_resource: int, max_resource: int, rf: int) -> int:
    """Optuna's own count: floor(log_rf(max_resource / min_resource)) + 1."""
    return math.floor(math.log(max_resource / min_resource, rf)) + 1


def _hyperband(options: HyperbandOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    pruner = _construct(HyperbandPruner, prefix, where, **options.given())
    low, high, rf = options.min_resource, options.max_resource, options.reduction_factor
    return describe_hyperband(pruner, low, high, rf, "hyperband")


def describe_hyperband(
    pruner: BasePruner, low: int, high: int | str, rf: int, label: str, top: int | None = None
) -> Built:
    """Its brackets' rungs, up to `top` (default: max_resource, past which no trial runs)."""
    if high == "auto":
        rungs, _ = sha_rungs(low, rf, 0, None)
        lines = [
            f"bracket 0: {rungs} (keep the best 1/{rf})",
            "brackets k ≥ 1 start at the k-th of those rungs; how many is set when the first trial finishes "
            "(max_resource auto: its last step + 1)",
        ]
        text = f"{label}: brackets of ASHA from step {low}, keep the best 1/{rf} at each rung (max_resource auto)"
        return Built(pruner, "hyperband", text, lines)
    assert isinstance(high, int)
    top = high if top is None else top
    n = hyperband_brackets(low, high, rf)
    lines = []
    for bracket in range(n):
        rungs, reached = sha_rungs(low, rf, bracket, top)
        lines.append(f"bracket {bracket}: {rungs}" + (f" (keep the best 1/{rf})" if reached else ""))
    text = (
        f"{label}: {n} bracket{'s' if n != 1 else ''} of ASHA with rungs from step {low} to {top}, "
        f"keep the best 1/{rf} at each rung"
    )
    return Built(pruner, "hyperband", text, lines)


def _threshold(options: ThresholdOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    low, high = options.lower, options.upper
    pruner = _construct(ThresholdPruner, prefix, where, **options.given())
    bounds = " or ".join(
        part for part in (low is not None and f"below {num(low)}", high is not None and f"above {num(high)}") if part
    )
    text = (
        f"threshold: from step {options.n_warmup_steps}, {_every(options.interval_steps)}: stop a trial whose value "
        f"is {bounds}"
    )
    return Built(pruner, "threshold", text)


def _patient(options: PatientOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    inner: Built | None = None
    if options.wrapped:
        inner = native(options.wrapped, max_steps=max_steps, where=where, prefix=f"{prefix}.wrapped")
    # No wrapped pruner, or `none`: Optuna's `wrapped_pruner=None`, which stops the trial as soon as patience
    # runs out. (A NopPruner inside would never stop anything, which nobody writes a patient pruner for.)
    wrapped = inner.pruner if inner is not None and inner.name != "none" else None
    given = {key: value for key, value in options.given().items() if key != "wrapped"}
    pruner = _construct(PatientPruner, prefix, where, wrapped_pruner=wrapped, **given)
    text = (
        f"patient: stop a trial after {options.patience} steps without an improvement of more than "
        f"{num(options.min_delta)}"
    )
    if wrapped is None or inner is None:
        return Built(pruner, "patient", text, [], inner.notes if inner else [])
    text += f", once the wrapped {inner.name} pruner also says so ({inner.description})"
    return Built(pruner, "patient", text, inner.rungs, inner.notes)


def _wilcoxon(options: WilcoxonOptions, max_steps: int | None, where: Where, prefix: str) -> Built:
    if importlib.util.find_spec("scipy") is None:
        raise where.error("the wilcoxon pruner needs scipy: pip install scipy", f"{prefix}.type")
    pruner = _construct(WilcoxonPruner, prefix, where, **options.given())
    text = (
        f"wilcoxon: after {options.n_startup_steps} steps, stop a trial whose values are worse than the best "
        f"trial's at the same steps (Wilcoxon signed-rank test, p < {num(options.p_threshold)}); "
        "steps are instances (folds, data sets), not epochs"
    )
    return Built(pruner, "wilcoxon", text)


# Each type's builder, given its checked options (a model of `_models.PRUNER_OPTIONS`).
_NATIVE: dict[str, Callable[[Any, int | None, Where, str], Built]] = {
    "none": _none,
    "median": _percentile,
    "percentile": _percentile,
    "successive_halving": _sha,
    "hyperband": _hyperband,
    "threshold": _threshold,
    "patient": _patient,
    "wilcoxon": _wilcoxon,
}


# ---------------------------------------------------------------------------------------------------------------
# Ray Tune style: scheduler: {type: asha, max_t, grace_period, reduction_factor, brackets}

_RAY_TYPES = {"asha": "asha", "asynchyperband": "asha", "hyperband": "hyperband", "fifo": "fifo"}


def scheduler(section: Mapping[str, Any], *, max_steps: int | None, maximize: bool, where: Where) -> Built:
    """Ray Tune's schedulers as Optuna pruners: ASHA → SuccessiveHalvingPruner, HyperBand → HyperbandPruner.

    Ray's ASHA with `brackets: n` is n brackets of successive halving whose rungs start one rung later each:
    Optuna's HyperbandPruner with exactly n brackets (it derives the count from max_resource, set to match).
    Ray's synchronous HyperBand pauses trials to compare them, which Optuna cannot; its asynchronous
    Hyperband is the nearest.
    """
    raw_type = section.get("type")
    if raw_type is None:
        kind = "asha"  # the `hyperopt:` workflow's flat asha_* keys give only max_t / grace_period / reduction_factor
    else:
        text = word(raw_type)
        if text.endswith("scheduler") and text != "scheduler":
            text = text[: -len("scheduler")]
        kind = _RAY_TYPES.get(text, "")
        if not kind:
            raise where.error(
                f'unknown scheduler type "{raw_type}"{did_you_mean(str(raw_type).lower(), ["asha", "hyperband"])}; '
                "sweepkit reads Ray Tune's asha (async_hyperband), hyperband and fifo",
                "scheduler.type",
            )
    options = check(SCHEDULER_OPTIONS[kind], section, where, "scheduler", max_steps=max_steps, maximize=maximize)
    notes: list[str] = []
    if options.metric is not None:
        notes.append(f"{where.key('scheduler.metric')} is ignored: the pruner watches the sweep's metric")
    if "stop_last_trials" in options.model_fields_set:
        notes.append(f"{where.key('scheduler.stop_last_trials')} is ignored: trials run to their own end")
    if not isinstance(options, RayHyperbandOptions):
        return Built(NopPruner(), "none", "none: Ray's FIFO scheduler, no early stopping", notes=notes)

    rf, grace, max_t = options.reduction_factor, options.grace_period, options.top(max_steps)
    if options.max_t is not None and max_steps is not None and max_t != max_steps:
        notes.append(
            f"{where.key('scheduler.max_t')} {max_t} sets the rungs only: trials run the sweep's "
            f"{max_steps} steps (Ray would stop them at max_t)"
        )
    label = "Ray's HyperBand, as Optuna's asynchronous Hyperband"
    high = max_t
    if isinstance(options, RayAshaOptions):
        if options.brackets == 1:
            pruner = SuccessiveHalvingPruner(min_resource=grace, reduction_factor=rf)
            built = _describe_sha(pruner, grace, rf, max_t, "successive_halving (ASHA)")
            built.notes[:0] = notes
            return built
        high = _max_resource_for(grace, rf, options.brackets)
        label = f"ASHA with {options.brackets} brackets"
    hyperband = HyperbandPruner(min_resource=grace, max_resource=high, reduction_factor=rf)
    # The rungs go up to max_t; for ASHA's brackets, max_resource only sets how many brackets there are.
    built = describe_hyperband(hyperband, grace, high, rf, f"hyperband ({label})", top=max_t)
    built.notes[:0] = notes
    return built


def _max_resource_for(low: int, rf: int, brackets: int) -> int:
    """A max_resource for which Optuna's floor(log_rf(max/min)) + 1 is `brackets` (float logs, checked)."""
    high = low * rf ** (brackets - 1)
    while hyperband_brackets(low, high, rf) < brackets:
        high += 1
    return high


# ---------------------------------------------------------------------------------------------------------------
# Strategies (the `hyperopt:` workflow's table): the early stopping a strategy word implies when no section sets one.

STRATEGY_DEFAULTS = {"asha": "asha", "hyperband": "hyperband", "combined": "combined"}
# `combined`'s rungs: the first at 2/9 of a trial's steps (at least step 1), then x3. At each, ASHA keeps the best
# 1/3 until 5 trials have finished; from then on a forecast from the finished trials decides (`_forecast.py`).
# Earlier rungs did worse in benchmarks/multifidelity.py's screens (RESULTS.md): on real training curves the
# configurations that end best are often mid-pack at 2/27 of their steps.
COMBINED_REDUCTION_FACTOR = 3
COMBINED_FIRST_RUNG = 2 / 9


def combined_rungs(max_steps: int | None) -> tuple[int, int]:
    """(min_resource, reduction_factor) of `combined`'s rungs for trials of `max_steps` steps."""
    first = max(1, round(max_steps * COMBINED_FIRST_RUNG)) if max_steps else 1
    return first, COMBINED_REDUCTION_FACTOR


def _forecast(max_steps: int | None) -> Built:
    first, rf = combined_rungs(max_steps)
    pruner = ForecastPruner(first, rf)
    asha = _describe_sha(pruner.asha, first, rf, max_steps, "forecast")
    if not asha.rungs:  # no rung within the steps: ASHA's own note says so
        return Built(pruner, "forecast", asha.description, [], asha.notes)
    rungs, _ = sha_rungs(first, rf, 0, max_steps)
    chance = f"{pruner.chance:.0%}"
    text = (
        f"forecast: {rungs}; at each, until {pruner.min_finished} trials have finished, stop a trial that is not in "
        f"the best 1/{rf} of the trials there (ASHA); from then on, stop a trial only when the finished trials' "
        f"values there, gains since the rung before and final values forecast less than a {chance} chance that it "
        "ends better than the best"
    )
    rule = f"keep the best 1/{rf} until {pruner.min_finished} have finished, then a {chance} chance to beat the best"
    return Built(pruner, "forecast", text, [f"{rungs} ({rule})"])


def from_strategy(strategy: str, *, max_steps: int | None, where: Where) -> Built | None:
    kind = STRATEGY_DEFAULTS.get(word(strategy))
    if kind in ("asha", "hyperband"):
        name = "successive_halving" if kind == "asha" else "hyperband"
        options = check(PRUNER_OPTIONS[name], {}, where, "strategy", max_steps=max_steps)
        built = _NATIVE[name](options, max_steps, where, "strategy")
    elif kind == "combined":
        built = _forecast(max_steps)
    else:
        return None
    built.description += f" (strategy {word(strategy)}'s early stopping)"
    return built

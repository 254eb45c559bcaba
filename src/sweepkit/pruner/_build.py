"""Sweep-file sections → Optuna pruners: native/Optuna `pruner`, Ray Tune `scheduler`, `hyperopt:` strategies.

W&B's `early_terminate` (`_wandb.py`) and the `combined` strategy (`_forecast.py`) have pruners of our own.
"""

from __future__ import annotations

import importlib.util
import inspect
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

from sweepkit.pruner._common import (
    Where,
    did_you_mean,
    integer,
    join_steps,
    num,
    number,
    ordinal,
    steps_list,
    unknown_option,
    word,
)
from sweepkit.pruner._forecast import ForecastPruner


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

# Each option's check: a count, a bounded number, or a special form.
_COUNTS = {
    "n_startup_trials": 0,
    "n_warmup_steps": 0,
    "interval_steps": 1,
    "n_min_trials": 1,
    "reduction_factor": 2,
    "min_early_stopping_rate": 0,
    "bootstrap_count": 0,
    "patience": 0,
    "n_startup_steps": 0,
}
_NUMBERS: dict[str, tuple[float | None, float | None]] = {
    "percentile": (0.0, 100.0),
    "lower": (None, None),
    "upper": (None, None),
    "min_delta": (0.0, None),
    "p_threshold": (0.0, 1.0),
}
# `hyperopt:` sections write `optuna_n_startup_trials` by any `optuna_pruner` (median, hyperband, none): for types
# without a startup phase it is noted, not an error.
_NOTED_ONLY = {"n_startup_trials"}


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


def _accepted(cls: type[BasePruner]) -> list[str]:
    params = [p for p in inspect.signature(cls).parameters if p != "self"]
    return ["wrapped" if p == "wrapped_pruner" else p for p in params]


def _resource(value: Any, path: str, where: Where, *, auto: bool) -> int | str:
    if auto and isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if auto and isinstance(value, str):
        raise where.error(f'expected a number of steps or "auto", found {value!r}', path)
    return integer(value, path, where, minimum=1)


def native(section: Mapping[str, Any], *, max_steps: int | None, where: Where, prefix: str = "pruner") -> Built:
    """One `pruner` section (or a patient pruner's `wrapped`): options are the Optuna class's arguments."""
    if (
        "type" not in section
    ):  # the `hyperopt:` workflow's `optuna_n_startup_trials` alone: options of Optuna's default pruner
        name, defaulted = "median", " (no type given: Optuna's default pruner)"
    else:  # `type: null` (YAML's `~`) reads as no pruner
        name = "none" if section["type"] is None else pruner_type(section["type"], f"{prefix}.type", where)
        defaulted = ""
    cls = PRUNER_TYPES[name]
    accepted = _accepted(cls)
    options: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in section.items():
        path = f"{prefix}.{key}"
        if key == "type":
            continue
        if key == "wrapped_pruner" and name == "patient":
            key = "wrapped"
        if key not in accepted:
            if key in _NOTED_ONLY:
                notes.append(f"{where.key(path)} is ignored: the {name} pruner has no startup phase")
                continue
            raise unknown_option(str(key), prefix, accepted, f"pruner {name}", where)
        if key in _COUNTS:
            options[key] = integer(value, path, where, minimum=_COUNTS[key])
        elif key in _NUMBERS:
            low, high = _NUMBERS[key]
            options[key] = (
                None
                if value is None and key in ("lower", "upper")
                else number(value, path, where, minimum=low, maximum=high)
            )
        elif key == "min_resource":
            options[key] = _resource(value, path, where, auto=name == "successive_halving")
        elif key == "max_resource":
            options[key] = _resource(value, path, where, auto=True)
        else:  # `wrapped`, or an argument a later Optuna added: passed as written, checked when built
            options[key] = value
    built = _NATIVE[name](options, max_steps, where, prefix)
    built.notes[:0] = notes
    built.description += defaulted
    return built


def option(options: Mapping[str, Any], cls: type[BasePruner], name: str) -> Any:
    """An option as given, else the Optuna class's own default (read from its signature: v5 changed some)."""
    if name in options:
        return options[name]
    return inspect.signature(cls).parameters[name].default


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


def _none(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    return Built(NopPruner(), "none", "none: no early stopping, every trial runs to its end")


def _percentile(
    options: dict[str, Any], max_steps: int | None, where: Where, prefix: str, *, median: bool = False
) -> Built:
    if median:
        pruner = _construct(MedianPruner, prefix, where, **options)
        pct, label, name = 50.0, "the median", "median"
    else:
        if "percentile" not in options:
            raise where.error("the percentile pruner needs `percentile` (0-100: keep the best that %)", prefix)
        pruner = _construct(PercentilePruner, prefix, where, **options)
        pct, name = options["percentile"], "percentile"
        label = f"the {ordinal(pct)} percentile (best first)"
    cls = MedianPruner if median else PercentilePruner
    startup = option(options, cls, "n_startup_trials")
    warmup = option(options, cls, "n_warmup_steps")
    interval = option(options, cls, "interval_steps")
    text = (
        f"{name}: after {startup} finished trials, from step {warmup}, {_every(interval)}: stop a trial whose best "
        f"value so far is worse than {label} of finished trials at the same step"
    )
    if option(options, cls, "n_min_trials") > 1:
        text += f" (once {options['n_min_trials']} trials have a value there)"
    return Built(pruner, name, text)


def _median(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    return _percentile(options, max_steps, where, prefix, median=True)


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


def _sha(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    if "min_resource" not in options:
        options["min_resource"] = max(1, max_steps // 100) if max_steps else "auto"
    if options.get("bootstrap_count", 0) > 0 and options["min_resource"] == "auto":
        raise where.error("bootstrap_count needs a min_resource (a number of steps), not auto", prefix)
    pruner = _construct(SuccessiveHalvingPruner, prefix, where, **options)
    return _describe_sha(pruner, options, max_steps, "successive_halving (ASHA)")


def _describe_sha(pruner: BasePruner, options: dict[str, Any], limit: int | None, label: str) -> Built:
    rf = option(options, SuccessiveHalvingPruner, "reduction_factor")
    rate = option(options, SuccessiveHalvingPruner, "min_early_stopping_rate")
    rungs, reached = sha_rungs(options["min_resource"], rf, rate, limit)
    if not reached:
        first = options["min_resource"] * rf**rate
        note = f"the first rung (step {first}) is beyond the {limit} steps a trial runs: it never stops a trial"
        return Built(pruner, "successive_halving", f"{label}: no rung within {limit} steps", [], [note])
    text = f"{label}: {rungs}; at each, stop a trial that is not in the best 1/{rf} of the trials there"
    return Built(pruner, "successive_halving", text, [f"{rungs} (keep the best 1/{rf})"])


def hyperband_brackets(min_resource: int, max_resource: int, rf: int) -> int:
    """Optuna's own count: floor(log_rf(max_resource / min_resource)) + 1."""
    return math.floor(math.log(max_resource / min_resource, rf)) + 1


def _hyperband(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    options.setdefault("min_resource", 1)
    given = "max_resource" in options
    if not given:
        options["max_resource"] = max_steps if max_steps else "auto"
    if options.get("bootstrap_count", 0) > 0 and options["max_resource"] == "auto":
        raise where.error("bootstrap_count needs a max_resource (a number of steps), not auto", prefix)
    low, high = options["min_resource"], options["max_resource"]
    if high != "auto" and high < low:
        what = f"max_resource {high}" if given else f"the sweep's {high} steps per trial (budget.steps)"
        raise where.error(f"min_resource {low} is more than {what}", f"{prefix}.min_resource")
    pruner = _construct(HyperbandPruner, prefix, where, **options)
    return describe_hyperband(pruner, low, high, option(options, HyperbandPruner, "reduction_factor"), "hyperband")


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


def _threshold(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    if options.get("lower") is None and options.get("upper") is None:
        raise where.error("the threshold pruner needs `lower`, `upper` or both", prefix)
    low, high = options.get("lower"), options.get("upper")
    if low is not None and high is not None and low > high:
        raise where.error(f"lower {num(low)} is above upper {num(high)}", f"{prefix}.lower")
    pruner = _construct(ThresholdPruner, prefix, where, **options)
    warmup = option(options, ThresholdPruner, "n_warmup_steps")
    interval = option(options, ThresholdPruner, "interval_steps")
    bounds = " or ".join(
        part for part in (low is not None and f"below {num(low)}", high is not None and f"above {num(high)}") if part
    )
    text = f"threshold: from step {warmup}, {_every(interval)}: stop a trial whose value is {bounds}"
    return Built(pruner, "threshold", text)


def _patient(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    if "patience" not in options:
        raise where.error("the patient pruner needs `patience` (steps without improvement)", prefix)
    wrapped_section = options.pop("wrapped", None)
    inner: Built | None = None
    if isinstance(wrapped_section, str):  # `wrapped: median`
        wrapped_section = {"type": wrapped_section}
    if wrapped_section is not None and not isinstance(wrapped_section, Mapping):
        raise where.error(
            f"expected a pruner such as {{type: median}}, found {type(wrapped_section).__name__}", f"{prefix}.wrapped"
        )
    if wrapped_section:
        inner = native(wrapped_section, max_steps=max_steps, where=where, prefix=f"{prefix}.wrapped")
    # No wrapped pruner, or `none`: Optuna's `wrapped_pruner=None`, which stops the trial as soon as patience
    # runs out. (A NopPruner inside would never stop anything, which nobody writes a patient pruner for.)
    wrapped = inner.pruner if inner is not None and inner.name != "none" else None
    pruner = _construct(PatientPruner, prefix, where, wrapped_pruner=wrapped, **options)
    delta = option(options, PatientPruner, "min_delta")
    text = f"patient: stop a trial after {options['patience']} steps without an improvement of more than {num(delta)}"
    if wrapped is None or inner is None:
        return Built(pruner, "patient", text, [], inner.notes if inner else [])
    text += f", once the wrapped {inner.name} pruner also says so ({inner.description})"
    return Built(pruner, "patient", text, inner.rungs, inner.notes)


def _wilcoxon(options: dict[str, Any], max_steps: int | None, where: Where, prefix: str) -> Built:
    if importlib.util.find_spec("scipy") is None:
        raise where.error("the wilcoxon pruner needs scipy: pip install scipy", f"{prefix}.type")
    pruner = _construct(WilcoxonPruner, prefix, where, **options)
    text = (
        f"wilcoxon: after {option(options, WilcoxonPruner, 'n_startup_steps')} steps, stop a trial whose values "
        f"are worse than the best trial's at the same steps (Wilcoxon signed-rank test, "
        f"p < {num(option(options, WilcoxonPruner, 'p_threshold'))}); "
        "steps are instances (folds, data sets), not epochs"
    )
    return Built(pruner, "wilcoxon", text)


_NATIVE: dict[str, Callable[[dict[str, Any], int | None, Where, str], Built]] = {
    "none": _none,
    "median": _median,
    "percentile": _percentile,
    "successive_halving": _sha,
    "hyperband": _hyperband,
    "threshold": _threshold,
    "patient": _patient,
    "wilcoxon": _wilcoxon,
}


# ---------------------------------------------------------------------------------------------------------------
# Ray Tune style: scheduler: {type: asha, max_t, grace_period, reduction_factor, brackets}

# ray.tune.schedulers.AsyncHyperBandScheduler / ASHAScheduler and HyperBandScheduler defaults (docs.ray.io).
RAY_ASHA = {"max_t": 100, "grace_period": 1, "reduction_factor": 4, "brackets": 1}
RAY_HYPERBAND = {"max_t": 81, "reduction_factor": 3}
_RAY_TYPES = {"asha": "asha", "asynchyperband": "asha", "hyperband": "hyperband", "fifo": "fifo"}
_RAY_KEYS = {
    "asha": ("type", "time_attr", "metric", "mode", "max_t", "grace_period", "reduction_factor", "brackets",
             "stop_last_trials"),
    "hyperband": ("type", "time_attr", "metric", "mode", "max_t", "grace_period", "reduction_factor",
                  "stop_last_trials"),
    "fifo": ("type", "time_attr", "metric", "mode"),
}  # fmt: skip
_TIME_ATTRS = ("training_iteration", "step", "steps", "epoch", "epochs", "iteration")


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
    accepted = _RAY_KEYS[kind]
    notes: list[str] = []
    for key in section:
        if key not in accepted:
            raise unknown_option(str(key), "scheduler", accepted, f"scheduler {kind}", where)
    attr = section.get("time_attr")
    if attr is not None and str(attr) not in _TIME_ATTRS:
        raise where.error(
            f'time_attr "{attr}" is not supported: sweepkit measures progress in reported steps '
            "(time_attr: training_iteration)",
            "scheduler.time_attr",
        )
    mode = section.get("mode")
    if mode is not None:
        goal = str(mode).strip().lower()
        if goal not in ("min", "max", "minimize", "maximize"):
            raise where.error(f'mode must be min or max, got "{mode}"', "scheduler.mode")
        if goal.startswith("max") != maximize:
            raise where.error(
                f"scheduler.mode {mode} disagrees with the sweep's goal ({'maximize' if maximize else 'minimize'})",
                "scheduler.mode",
            )
    if section.get("metric") is not None:
        notes.append(f"{where.key('scheduler.metric')} is ignored: the pruner watches the sweep's metric")
    if "stop_last_trials" in section:
        notes.append(f"{where.key('scheduler.stop_last_trials')} is ignored: trials run to their own end")
    if kind == "fifo":
        return Built(NopPruner(), "none", "none: Ray's FIFO scheduler, no early stopping", notes=notes)

    defaults = RAY_ASHA if kind == "asha" else RAY_HYPERBAND
    rf = integer(section.get("reduction_factor", defaults["reduction_factor"]), "scheduler.reduction_factor", where,
                 minimum=2)  # fmt: skip
    grace = integer(section.get("grace_period", 1), "scheduler.grace_period", where, minimum=1)
    if section.get("max_t") is not None:
        max_t = integer(section["max_t"], "scheduler.max_t", where, minimum=1)
        if max_steps is not None and max_t != max_steps:
            notes.append(
                f"{where.key('scheduler.max_t')} {max_t} sets the rungs only: trials run the sweep's "
                f"{max_steps} steps (Ray would stop them at max_t)"
            )
    else:
        max_t = max_steps or defaults["max_t"]
    if grace > max_t and (section.get("max_t") is not None or kind == "hyperband"):
        if section.get("max_t") is not None:
            what = f"max_t {max_t}"
        else:
            what = f"the sweep's {max_t} steps per trial" if max_steps else f"Ray's default max_t {max_t}"
        raise where.error(f"grace_period {grace} is more than {what}", "scheduler.grace_period")
    label = "ASHA" if kind == "asha" else "Ray's HyperBand, as Optuna's asynchronous Hyperband"
    if kind == "asha":
        brackets = integer(section.get("brackets", 1), "scheduler.brackets", where, minimum=1)
        if brackets == 1:
            pruner = SuccessiveHalvingPruner(min_resource=grace, reduction_factor=rf)
            options = {"min_resource": grace, "reduction_factor": rf}
            built = _describe_sha(pruner, options, max_t, "successive_halving (ASHA)")
            built.notes[:0] = notes
            return built
        high = _max_resource_for(grace, rf, brackets)
        label = f"ASHA with {brackets} brackets"
    else:
        high = max_t
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
# `combined`'s rungs: the first at 2/27 of a trial's steps (at least step 1), then x3. At each, ASHA keeps the best
# 1/3 until 5 trials have finished; from then on a forecast from the finished trials decides (`_forecast.py`).
# A first rung at step 1 (Ray's ASHA default) did worse in benchmarks/multifidelity.py's screen (RESULTS.md).
COMBINED_REDUCTION_FACTOR = 3
COMBINED_FIRST_RUNG = 2 / 27


def combined_rungs(max_steps: int | None) -> tuple[int, int]:
    """(min_resource, reduction_factor) of `combined`'s rungs for trials of `max_steps` steps."""
    first = max(1, round(max_steps * COMBINED_FIRST_RUNG)) if max_steps else 1
    return first, COMBINED_REDUCTION_FACTOR


def _forecast(max_steps: int | None) -> Built:
    first, rf = combined_rungs(max_steps)
    pruner = ForecastPruner(first, rf)
    asha = _describe_sha(pruner.asha, {"min_resource": first, "reduction_factor": rf}, max_steps, "forecast")
    if not asha.rungs:  # no rung within the steps: ASHA's own note says so
        return Built(pruner, "forecast", asha.description, [], asha.notes)
    rungs, _ = sha_rungs(first, rf, 0, max_steps)
    chance = f"{pruner.chance:.0%}"
    text = (
        f"forecast: {rungs}; at each, until {pruner.min_finished} trials have finished, stop a trial that is not in "
        f"the best 1/{rf} of the trials there (ASHA); from then on, stop a trial only when the finished trials' "
        f"values there and at their end forecast less than a {chance} chance that it ends better than the best"
    )
    rule = f"keep the best 1/{rf} until {pruner.min_finished} have finished, then a {chance} chance to beat the best"
    return Built(pruner, "forecast", text, [f"{rungs} ({rule})"])


def from_strategy(strategy: str, *, max_steps: int | None, where: Where) -> Built | None:
    kind = STRATEGY_DEFAULTS.get(word(strategy))
    if kind == "asha":
        built = _sha({}, max_steps, where, "strategy")
    elif kind == "hyperband":
        built = _hyperband({}, max_steps, where, "strategy")
    elif kind == "combined":
        built = _forecast(max_steps)
    else:
        return None
    built.description += f" (strategy {word(strategy)}'s early stopping)"
    return built

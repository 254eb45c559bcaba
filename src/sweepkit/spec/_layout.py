"""Dialects: lay a W&B, Optuna/Ray/hyperopt-style, NNI, sweep_config.json or native file out in the native shape.

Every dialect's keys are accepted in every file (native is a superset), so this is one mapping of known keys
to native places rather than four parsers. `origins` remembers where each native key came from, so an error
in `num_trials` is reported at `hyperopt.num_trials`, where the user wrote it.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from sweepkit.errors import SpecError, did_you_mean
from sweepkit.spec._params import _ALL_KEYS as PARAMETER_KEYS

NATIVE_KEYS = (
    "name", "description", "trial", "metric", "strategy", "budget", "storage", "output", "parameters",
    "constraints", "pruner", "scheduler", "early_terminate", "resources", "tracking", "checkpoints", "notify",
)  # fmt: skip

# Top-level keys of the other dialects → their native place ("a.b" = key b of section a).
ALIASES: dict[str, str] = {
    # tracking: a Hydra config's `mlflow:` and a `wandb:` section, at the top or inside hpo:/hyperopt:
    "mlflow": "tracking.mlflow",
    "wandb": "tracking.wandb",
    # W&B
    "method": "strategy.name",
    "run_cap": "budget.trials",
    "program": "trial.program",
    "command": "trial.command",
    # Optuna / Ray Tune / hyperopt configs (a Hydra config's `hpo:`, a `hyperopt:` section)
    "search_space": "parameters",
    "study_name": "name",
    "num_trials": "budget.trials",
    "n_trials": "budget.trials",
    "max_trials": "budget.trials",
    "max_runs": "budget.trials",
    "epochs_per_trial": "budget.steps",  # --epochs-per-trial, written in a file
    "steps_per_trial": "budget.steps",
    "timeout": "budget.timeout",
    "direction": "metric.goal",
    "directions": "metric.goal",  # Optuna's multi-objective create_study(directions=[...])
    "mode": "metric.goal",
    "max_concurrent": "resources.workers",
    "n_jobs": "resources.workers",
    "results_dir": "output",
    "optuna_sampler": "strategy.name",
    "seed": "strategy.seed",
    "optuna_pruner": "pruner.type",
    "optuna_n_startup_trials": "pruner.n_startup_trials",
    "asha_max_t": "scheduler.max_t",
    "asha_grace_period": "scheduler.grace_period",
    "asha_reduction_factor": "scheduler.reduction_factor",
    "ray_address": "resources.ray_address",
    "resources_per_trial": "resources.per_trial",
    "backend": "resources.backend",
    # a GPU sweep farm's sweep_config.json (its `hyperband`, `parameter_ranges`, `gpu_settings`: below)
    "sweep_type": "strategy.name",
    # NNI experiment configs
    "searchSpace": "parameters",
    "experimentName": "name",
    "maxTrialNumber": "budget.trials",
    "maxExperimentDuration": "budget.timeout",
    "trialConcurrency": "resources.workers",
    "trialCommand": "trial.command",
    "trialCodeDirectory": "trial.cwd",
    "trialGpuNumber": "resources.gpus_per_trial",
}

# Keys accepted and noted once, with why they are ignored: most only mean something to another tool's
# server or UI; the others are switches whose job sweepkit always does, or does another way.
_ELSEWHERE = "it only means something to another tool's server"
_FAMILY_DECIDES = "the strategy word decides what searches and what stops trials (combined: TPE and ASHA's rungs)"
IGNORED: dict[str, str] = {
    **dict.fromkeys(
        (
            "project", "entity", "controller", "job", "image_uri", "launch", "run_settings",
            "trainingService", "useAnnotation", "debug", "logLevel", "experimentWorkingDirectory", "nniManagerIp",
            "searchSpaceFile", "assessor", "advisor", "tunerGpuIndices", "experimentType",
        ),
        _ELSEWHERE,
    ),
    "enabled": "running sweepkit on this file is what runs the sweep",
    "log_to_file": "sweepkit always writes each run's log to .sweepkit/logs/<sweep>/",
    "optuna_enabled": _FAMILY_DECIDES,
    "asha_enabled": _FAMILY_DECIDES,
    "load_if_exists": "sweepkit always resumes a sweep of the same name",
}  # fmt: skip

# Section-level synonyms inside native sections (W&B/Optuna spellings).
_RESOURCE_KEYS = {"max_concurrent": "workers", "n_jobs": "workers", "resources_per_trial": "per_trial"}
_METRIC_GOALS = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize"}

# Strategy names of the other dialects → sweepkit's strategy names.
STRATEGY_ALIASES = {
    "bayes": "bayes", "bayesian": "bayes", "tpe": "tpe", "random": "random", "grid": "grid",
    "gridsearch": "grid", "gpsampler": "gp", "gp": "gp", "cma": "cmaes", "cmaes": "cmaes",
    "cmaessampler": "cmaes", "tpesampler": "tpe", "randomsampler": "random", "qmc": "qmc",
    "qmcsampler": "qmc", "anneal": "tpe", "auto": "auto", "optuna": "tpe",
    "nsga2": "nsga2", "nsgaii": "nsga2", "nsgaiisampler": "nsga2",
    "combined": "tpe", "asha": "random",  # a `hyperopt:` section's: TPE + ASHA, random search + ASHA
    "hyperband": "random",  # a sweep_config.json's: Hyperband over random samples
}  # fmt: skip

# Strategy words that also choose early stopping (the pruner package reads them).
FAMILIES = ("combined", "asha", "hyperband", "optuna")

# A `hyperopt:` section's `strategy:` words: which use the sampler `optuna_sampler` names, and which search at random.
_SAMPLER_FAMILIES = ("combined", "optuna")
_RANDOM_FAMILIES = ("asha", "random")


@dataclass
class Layout:
    raw: dict[str, Any]
    dialect: str
    notes: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # native key path → the user's key path
    family: str | None = None  # a strategy word (combined, asha, hyperband, ...), before a sampler refines it
    hyperband: tuple[Any, str] | None = None  # sweep_config.json's `hyperband` section and where it was written


def _is_nni_space(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) and "_type" in v for v in value.values())


def _is_hpo_group(raw: dict[str, Any]) -> bool:
    """Hydra's config group file `configs/hpo/default.yaml`: the `hpo:` section's keys at its top."""
    return any(isinstance(raw.get(key), dict) for key in ("study", "trials"))


def detect(raw: dict[str, Any]) -> str:
    """The dialect a file was written in (reported in results; layout accepts every dialect's keys)."""
    if _is_nni_space(raw) or "searchSpace" in raw or "trialCommand" in raw:
        return "nni"
    if "hpo" in raw or "hyperopt" in raw or "search_space" in raw or _is_hpo_group(raw):
        return "optuna"
    if "sweep_type" in raw or "parameter_ranges" in raw:
        return "sweep_config"
    native_only = {"trial", "strategy", "budget", "constraints", "output", "storage", "resources"}
    if native_only & raw.keys():
        return "native"
    params = raw.get("parameters")
    uses_native_extras = isinstance(params, dict) and any(
        isinstance(v, dict) and ("when" in v or "expr" in v) for v in params.values()
    )
    if "method" in raw and not uses_native_extras:
        return "wandb"
    return "native"


def _sampler_refines(old: Any, old_origin: str, new: Any, new_origin: str, layout: Layout) -> tuple[Any, str] | None:
    """A `hyperopt:` section writes `strategy: combined` (the family) beside `optuna_sampler: TPE` (its sampler)."""
    pairs = ((old, old_origin, new, new_origin), (new, new_origin, old, old_origin))
    for word, word_origin, sampler, sampler_origin in pairs:
        if sampler_origin.rpartition(".")[2] != "optuna_sampler" or not isinstance(word, str):
            continue
        family = word.strip().lower()
        if family in FAMILIES:
            layout.family = family
        if family in _SAMPLER_FAMILIES:
            return sampler, sampler_origin
        if family in _RANDOM_FAMILIES:
            layout.notes.append(f'{sampler_origin} is ignored: strategy "{word}" searches at random')
            return word, word_origin
    return None


def _put(out: dict[str, Any], path: str, value: Any, origin: str, layout: Layout, *, file: str | None) -> None:
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            # e.g. `metric: "eval_f1"` (a string) beside `mode: max`: promote to {name: ...}
            if part == "metric" and isinstance(child, str | list):  # a list: several objectives (Ray's form)
                child = node[part] = {"name": child}
            else:
                raise SpecError(f'"{origin}" needs "{part}" to be a mapping', file=file, key=origin)
        node = child
    if leaf in node and node[leaf] != value:
        first = layout.origins.get(path, path)
        refined = _sampler_refines(node[leaf], first, value, origin, layout) if path == "strategy.name" else None
        if refined is not None:
            node[leaf], layout.origins[path] = refined
            return
        raise SpecError(f'"{origin}" and "{first}" both set {path}; keep one', file=file, key=origin)
    node[leaf] = value
    layout.origins[path] = origin


_STUDY_KEYS = {"study_name": "name", "storage": "storage", "direction": "metric.goal", "directions": "metric.goal"}
_TRIALS_KEYS = {"n_trials": "budget.trials", "timeout": "budget.timeout", "n_jobs": "resources.workers"}
_SAMPLER_KEYS = {"type": "strategy.name", "name": "strategy.name", "seed": "strategy.seed"}
_OPTUNA_SECTIONS = ("study", "trials", "sampler")


def _unknown(sub: Any, origin: str, options: Any, file: str | None) -> SpecError:
    hint = did_you_mean(str(sub), options) or f"; expected one of {', '.join(options)}"
    return SpecError(f'unknown key "{sub}" in {origin}{hint}', file=file, key=f"{origin}.{sub}")


def _place_optuna_section(
    key: str, value: dict[str, Any], origin: str, out: dict[str, Any], layout: Layout, file: str | None
) -> None:
    """A Hydra config's `hpo.study`, `hpo.trials` and `hpo.sampler` sections (or a config group file's)."""
    if key == "study":  # {study_name, storage, direction, load_if_exists}
        for sub, sub_value in value.items():
            target = _STUDY_KEYS.get(sub)
            if target:
                _put(out, target, sub_value, f"{origin}.{sub}", layout, file=file)
            elif sub == "load_if_exists":
                layout.notes.append(f"{origin}.{sub} is ignored: {IGNORED[sub]}")
            else:
                raise _unknown(sub, origin, [*_STUDY_KEYS, "load_if_exists"], file)
    elif key == "trials":  # {n_trials, timeout, n_jobs}
        for sub, sub_value in value.items():
            target = _TRIALS_KEYS.get(sub)
            if target is None:
                raise _unknown(sub, origin, _TRIALS_KEYS, file)
            if sub_value is not None:
                _put(out, target, sub_value, f"{origin}.{sub}", layout, file=file)
    else:  # sampler: {type or name, seed, options of the sampler}
        for sub, sub_value in value.items():
            target = _SAMPLER_KEYS.get(sub)
            _put(out, target or f"strategy.{sub}", sub_value, f"{origin}.{sub}", layout, file=file)


def _merge_wrapper(section: dict[str, Any], prefix: str, out: dict[str, Any], layout: Layout, file: str | None) -> None:
    """A Hydra config's `hpo:` and a training config's `hyperopt:` sections: their nested and flat keys."""
    for key, value in section.items():
        origin = f"{prefix}.{key}"
        if key in _OPTUNA_SECTIONS and value is not None and not isinstance(value, dict):
            raise SpecError(f"expected a mapping, found {type(value).__name__}", file=file, key=origin)
        _place(key, value, origin, out, layout, file)


def _place(key: str, value: Any, origin: str, out: dict[str, Any], layout: Layout, file: str | None) -> None:
    if key in IGNORED:
        layout.notes.append(f"{origin} is ignored: {IGNORED[key]}")
    elif key in _OPTUNA_SECTIONS and (value is None or isinstance(value, dict)):
        if value:  # an empty section (`trials:` with nothing under it) sets nothing
            _place_optuna_section(key, value, origin, out, layout, file)
    elif key == "parameter_ranges":
        _put(out, "parameters", _ranges(value, origin, file), origin, layout, file=file)
    elif key == "hyperband":  # it applies only when sweep_type is hyperband: resolved once the file is read
        layout.hyperband = (value, origin)
    elif key == "gpu_settings":
        _gpu_settings(value, origin, layout, file)
    elif value is None and (key in ALIASES or key in NATIVE_KEYS or key == "tuner"):
        if ALIASES.get(key, key) == "parameters":  # `searchSpace:` left empty: "no parameters" names it
            layout.origins.setdefault("parameters", origin)
    elif key in ALIASES:
        if key == "trialCommand" and isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:  # an unclosed quote
                raise SpecError(f"cannot split the command into words: {exc}", file=file, key=origin) from None
        _put(out, ALIASES[key], value, origin, layout, file=file)
    elif key in ("metric", "strategy") and isinstance(value, str):  # `metric: eval_f1`, `strategy: combined`
        _put(out, f"{key}.name", value, origin, layout, file=file)
    elif key == "metric" and isinstance(value, list):  # several objectives (spec/_objectives.py reads them)
        _put(out, "metric.name", value, origin, layout, file=file)
    elif key == "tuner":  # NNI: tuner: {name: TPE, classArgs: {optimize_mode: maximize, seed: 7}}
        _place_tuner(value, origin, out, layout, file)
    elif key == "resources" and isinstance(value, dict) and isinstance(out.get(key, {}), dict):
        # a `hyperopt:` section's spellings also inside `resources:`
        section = out.setdefault("resources", {})
        layout.origins.setdefault("resources", origin)
        for sub, sub_value in value.items():
            native = _RESOURCE_KEYS.get(sub, sub) if isinstance(sub, str) else sub
            path, sub_origin = f"resources.{native}", f"{origin}.{sub}"
            if native in section and section[native] != sub_value:
                first = layout.origins.get(path, path)
                raise SpecError(f'"{sub_origin}" and "{first}" both set {path}; keep one', file=file, key=sub_origin)
            section[native] = sub_value
            layout.origins[path] = sub_origin
    elif isinstance(out.get(key), dict) and isinstance(value, dict):
        for sub, sub_value in value.items():
            _put(out, f"{key}.{sub}", sub_value, f"{origin}.{sub}", layout, file=file)
    else:
        if key in out and out[key] != value:
            first = layout.origins.get(key, key)
            raise SpecError(f'"{origin}" and "{first}" both set {key}; keep one', file=file, key=origin)
        out[key] = value
        layout.origins.setdefault(key, origin)
        if key in _STOPPING and isinstance(value, dict):  # the pruner package names options by their full path
            _remember(value, key, origin, layout)


def _remember(section: dict[str, Any], path: str, origin: str, layout: Layout) -> None:
    for sub, sub_value in section.items():
        layout.origins.setdefault(f"{path}.{sub}", f"{origin}.{sub}")
        if isinstance(sub_value, dict):
            _remember(sub_value, f"{path}.{sub}", f"{origin}.{sub}", layout)


def _place_tuner(value: Any, origin: str, out: dict[str, Any], layout: Layout, file: str | None) -> None:
    if isinstance(value, str):  # `tuner: TPE`, a shorthand for {name: TPE}
        value = {"name": value}
    if not isinstance(value, dict):
        raise SpecError(
            f"expected a mapping such as {{name: TPE, classArgs: {{optimize_mode: maximize}}}}, "
            f"found {type(value).__name__}",
            file=file,
            key=origin,
        )
    for name_key in ("name", "builtinTunerName"):  # NNI v2, v1
        if name_key in value:
            _put(out, "strategy.name", value[name_key], f"{origin}.{name_key}", layout, file=file)
    args = value.get("classArgs")
    if args is None:
        return
    if not isinstance(args, dict):
        raise SpecError(f"expected a mapping, found {type(args).__name__}", file=file, key=f"{origin}.classArgs")
    if "optimize_mode" in args:
        _put(out, "metric.goal", args["optimize_mode"], f"{origin}.classArgs.optimize_mode", layout, file=file)
    if "seed" in args:
        _put(out, "strategy.seed", args["seed"], f"{origin}.classArgs.seed", layout, file=file)


# -- a GPU sweep farm's sweep_config.json ---------------------------------------------------------------------

SWEEP_CONFIG_KEYS = ("sweep_type", "hyperband", "parameter_ranges", "gpu_settings")
_HYPERBAND_KEYS = ("iterations", "max_iter", "eta")
_GPU_SETTINGS = {
    "deterministic": "sweepkit cannot make your framework's GPU operations deterministic from the file: call "
    "sweepkit.seed_everything(trial.seed) (run.seed in a program) first thing in the training code, which seeds "
    "every library and turns on deterministic kernels, and give --seed (docs/reproducibility.md)",
    "memory_fraction": "a trial's framework sets its own share of GPU memory (e.g. "
    "torch.cuda.set_per_process_memory_fraction); sweepkit gives each trial its GPUs (resources.gpus_per_trial, "
    "--gpu-ids)",
}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def number(value: Any) -> int | float | None:
    """A number, or a numeric string such as "1e-5" (YAML 1.1 tools write it as a string; authors quote
    numbers) as the number its author meant; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    return None


def _ranges(value: Any, origin: str, file: str | None) -> Any:
    """`parameter_ranges` → `parameters`: `[low, high]` (two numbers) is a range, integers giving an integer
    one; one model's ranges (`"catboost": {"depth": [4, 10]}`) are a nested section, searched only for trials
    that choose that model when it says so (`"when": "model == 'catboost'"`); anything else is read as any
    `parameters` entry is (a longer list is a choice)."""
    if not isinstance(value, dict):
        return value  # the schema says what is wrong with it
    out: dict[Any, Any] = {}
    for name, entry in value.items():
        low, high = (
            (number(entry[0]), number(entry[1])) if isinstance(entry, list) and len(entry) == 2 else (None, None)
        )
        if low is not None and high is not None:
            if low > high:  # said here: the laid-out entry's key path would name a `low` never written
                raise SpecError(
                    f"expected [low, high], found {entry} (low above high)", file=file, key=f"{origin}.{name}"
                )
            out[name] = {"low": low, "high": high}
        elif _is_model(ranges := _section_keys_apart(entry)):
            out[name] = {"parameters": _ranges(ranges, f"{origin}.{name}", file)}
            out[name].update({k: entry[k] for k in ("when", "description") if k in entry and k not in ranges})
        else:
            out[name] = entry
    return out


def _section_keys_apart(entry: Any) -> Any:
    """A model's ranges without its section keys: a text `when` (the condition) or `description`. A `when`
    that is a range or a list is a parameter of that name, and stays."""
    if not isinstance(entry, dict):
        return entry
    return {k: v for k, v in entry.items() if not (k in ("when", "description") and isinstance(v, str))}


def _is_model(entry: Any) -> bool:
    """One model's ranges, not one parameter: no parameter form's key, or (a model may have a parameter named
    `a`, `max` or `step`) only lists and mappings below it, none of them a choice's `values`."""
    if not isinstance(entry, dict) or not entry:
        return False
    if not entry.keys() & PARAMETER_KEYS:
        return True
    nested = all(isinstance(v, list | dict) for v in entry.values())
    return nested and not entry.keys() & {"values", "choices", "probabilities", "parameters", "_value"}


def _gpu_settings(value: Any, origin: str, layout: Layout, file: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise SpecError(
            f"expected a mapping such as {{deterministic: true}}, found {type(value).__name__}", file=file, key=origin
        )
    for sub in value:
        if sub not in _GPU_SETTINGS:
            raise _unknown(sub, origin, _GPU_SETTINGS, file)
        layout.notes.append(f"{origin}.{sub} is ignored: {_GPU_SETTINGS[sub]}")


def _positive_int(section: dict[str, Any], key: str, origin: str, file: str | None, *, minimum: int) -> int | None:
    if section.get(key) is None:
        return None
    value = number(section[key])
    if value is None or value != int(value) or value < minimum:
        raise SpecError(
            f"expected a whole number ≥ {minimum}, found {section[key]!r}", file=file, key=f"{origin}.{key}"
        )
    return int(value)


def hyperband_trials(max_iter: int, eta: int) -> int:
    """The configurations one Hyperband iteration runs: n_s of each bracket s (Li et al., Algorithm 1), with
    the bracket count and rounding of Optuna's HyperbandPruner (min_resource 1), which allocates trials to
    its brackets in the same proportions. 143 for max_iter 81, eta 3."""
    brackets = math.floor(math.log(max_iter, eta)) + 1
    return sum(math.ceil(brackets * eta**s / (s + 1)) for s in range(brackets))


def _apply_hyperband(out: dict[str, Any], layout: Layout, file: str | None) -> None:
    """`hyperband: {iterations, max_iter, eta}` beside `sweep_type: hyperband`: Optuna's HyperbandPruner with
    max_resource max_iter and reduction_factor eta; max_iter is also each trial's full budget of steps, and
    `iterations` full passes over Hyperband's brackets are the trial budget."""
    assert layout.hyperband is not None
    section, origin = layout.hyperband
    strategy = out.get("strategy")
    word = str(strategy.get("name", "")) if isinstance(strategy, dict) else ""
    if word.strip().lower() != "hyperband":
        said = f'sweep_type is "{word}"' if word else "no sweep_type says hyperband"
        layout.notes.append(f"{origin} is ignored: {said}, so Hyperband does not run")
        return
    if section is None:
        return
    if not isinstance(section, dict):
        raise SpecError(
            f"expected a mapping such as {{max_iter: 81, eta: 3}}, found {type(section).__name__}",
            file=file,
            key=origin,
        )
    for sub in section:
        if sub not in _HYPERBAND_KEYS:
            raise _unknown(sub, origin, _HYPERBAND_KEYS, file)
    max_iter = _positive_int(section, "max_iter", origin, file, minimum=1)
    eta = _positive_int(section, "eta", origin, file, minimum=2)
    iterations = _positive_int(section, "iterations", origin, file, minimum=1)
    _put(out, "pruner.type", "hyperband", layout.origins.get("strategy.name", origin), layout, file=file)
    layout.origins.setdefault("pruner", origin)
    if max_iter is not None:
        _put(out, "pruner.max_resource", max_iter, f"{origin}.max_iter", layout, file=file)
        _put(out, "budget.steps", max_iter, f"{origin}.max_iter", layout, file=file)
    if eta is not None:
        _put(out, "pruner.reduction_factor", eta, f"{origin}.eta", layout, file=file)
    if iterations is not None:
        if max_iter is None:
            raise SpecError(
                "needs max_iter beside it: an iteration runs every bracket, and max_iter sizes them",
                file=file,
                key=f"{origin}.iterations",
            )
        trials = iterations * hyperband_trials(max_iter, eta or 3)  # 3: Hyperband's (and Optuna's) default eta
        _put(out, "budget.trials", trials, f"{origin}.iterations", layout, file=file)


# -- after every key is placed --------------------------------------------------------------------------------

_STOPPING = ("pruner", "scheduler", "early_terminate")
# Sections whose numbers may be written as text, and their keys that are text (or lists) by nature.
_NUMERIC_SECTIONS = {
    "budget": ("timeout",),  # a duration: "3600" and "2h" are both read by it
    "strategy": ("name",),
    "resources": ("backend", "ray_address", "gpu_ids"),
    **dict.fromkeys(_STOPPING, ("type", "metric", "mode", "time_attr")),
}


def _numbers_from_text(section: dict[str, Any], textual: tuple[str, ...]) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _numbers_from_text(value, textual)
        elif isinstance(value, str) and key not in textual and (found := number(value)) is not None:
            section[key] = found


def _random_stops_nothing(out: dict[str, Any], layout: Layout) -> None:
    """A `hyperopt:` section's `strategy: random` is its baseline, random search with no early stopping: its
    flat `optuna_pruner`/`optuna_*` and `asha_*` settings (kept for the other strategy words) are noted."""
    strategy = out.get("strategy")
    if not isinstance(strategy, dict) or str(strategy.get("name", "")).strip().lower() != "random":
        return
    if layout.family is not None or layout.origins.get("strategy.name", "").endswith("optuna_sampler"):
        return  # `strategy: optuna` with `optuna_sampler: Random`: the pruner it names still stops trials
    for section, flat in (("pruner", "optuna_"), ("scheduler", "asha_")):
        written = [origin for path, origin in layout.origins.items() if str(path).startswith(f"{section}.")]
        if section in out and written and all(o.rpartition(".")[2].startswith(flat) for o in written):
            del out[section]
            verb = "is" if len(written) == 1 else "are"
            layout.notes.append(f"{', '.join(written)} {verb} ignored: strategy random stops no trial early")


def is_bare_space(raw: Any) -> bool:
    """A bare NNI search_space.json: the whole file is the `parameters` section."""
    return _is_nni_space(raw)


def lay_out(raw: dict[str, Any], *, file: str | None, bare_space: bool = False) -> Layout:
    """Native-shaped dict of any dialect's file. Unknown keys pass through, for the schema to reject.

    `bare_space`: `raw` is `{"parameters": <a bare NNI search space>, ...overridden keys}`, and the space's
    entries are reported at their own names (as written in the file), not under `parameters.`.
    """
    if not bare_space and is_bare_space(raw):
        raw, bare_space = {"parameters": raw}, True
    dialect = "nni" if bare_space else detect(raw)
    layout = Layout(raw={}, dialect=dialect)
    out = layout.raw
    wrappers: list[str] = [k for k in ("hpo", "hyperopt") if k in raw]
    for key in wrappers:
        if not isinstance(raw[key], dict):
            found = "nothing" if raw[key] is None else f"a {type(raw[key]).__name__}"
            raise SpecError(f"expected a mapping (the {key} section), found {found}", file=file, key=key)
    for key, value in raw.items():
        if key in wrappers:
            continue
        if wrappers and key not in NATIVE_KEYS and key not in ALIASES:
            note = f'section "{key}" is ignored: it is your training config (sweepkit reads {wrappers[0]}:)'
            layout.notes.append(note)
            continue
        if dialect == "sweep_config" and key not in (*NATIVE_KEYS, *ALIASES, *SWEEP_CONFIG_KEYS):
            reads = ", ".join(SWEEP_CONFIG_KEYS)
            layout.notes.append(f'section "{key}" is ignored: it is your training config (sweepkit reads {reads})')
            continue
        _place(key, value, key, out, layout, file)
    for key in wrappers:
        _merge_wrapper(raw[key], key, out, layout, file)
    if layout.hyperband is not None:
        _apply_hyperband(out, layout, file)
    for section, textual in _NUMERIC_SECTIONS.items():
        if isinstance(out.get(section), dict):
            _numbers_from_text(out[section], textual)
    _random_stops_nothing(out, layout)
    for section in _STOPPING:  # made of flat keys (`optuna_pruner`, `asha_*`): named by them, so a note
        written = [origin for path, origin in layout.origins.items() if str(path).startswith(f"{section}.")]
        if section in out and section not in layout.origins and written:  # that drops the section names each
            more = f" (with {', '.join(written[1:])})" if len(written) > 1 else ""
            layout.origins[section] = written[0] + more
    if isinstance(out.get("metric"), dict) and isinstance(out["metric"].get("goal"), str):
        goal = out["metric"]["goal"].strip().lower()
        out["metric"]["goal"] = _METRIC_GOALS.get(goal, out["metric"]["goal"])
    elif isinstance(out.get("metric"), dict) and isinstance(out["metric"].get("goal"), list):  # `mode: [min, max]`
        goals = out["metric"]["goal"]
        out["metric"]["goal"] = [_METRIC_GOALS.get(g.strip().lower(), g) if isinstance(g, str) else g for g in goals]
    notify = out.get("notify")
    if isinstance(notify, dict) and True in notify and "on" not in notify:  # YAML 1.1 reads the key `on:` as true
        out["notify"] = {"on" if key is True else key: value for key, value in notify.items()}
    if "searchSpaceFile" in raw and "parameters" not in out:
        raise SpecError(
            "sweepkit does not read searchSpaceFile yet: write the space inline under searchSpace:, "
            "or give sweepkit the search-space file itself",
            file=file,
            key="searchSpaceFile",
        )
    resources = out.get("resources")
    if isinstance(resources, dict) and str(resources.get("backend")).lower() != "ray":
        if "ray_address" in resources:
            where = layout.origins.get("resources.ray_address", "resources.ray_address")
            layout.notes.append(f"{where} is read, but trials run on this machine unless resources.backend is ray")
        if "per_trial" in resources:
            where = layout.origins.get("resources.per_trial", "resources.per_trial")
            layout.notes.append(
                f"{where} is ignored: it is what a trial holds on Ray (resources.backend: ray); on this machine, "
                "resources.gpus_per_trial gives each trial its GPUs"
            )
    if bare_space:
        layout.origins["parameters"] = ""
    if dialect == "nni":
        out.setdefault("metric", {}).setdefault("name", "default")  # nni.report_final_result's metric
        out["metric"].setdefault("goal", "maximize")  # NNI tuners' optimize_mode default
    return layout

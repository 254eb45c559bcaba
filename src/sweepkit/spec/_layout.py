"""Dialects: lay a W&B, Optuna/Ray/hyperopt-style, NNI or native file out in the native shape.

Every dialect's keys are accepted in every file (native is a superset), so this is one mapping of known keys
to native places rather than four parsers. `origins` remembers where each native key came from, so an error
in `num_trials` is reported at `hyperopt.num_trials`, where the user wrote it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from sweepkit.errors import SpecError, did_you_mean

NATIVE_KEYS = (
    "name", "description", "trial", "metric", "strategy", "budget", "storage", "output", "parameters",
    "constraints", "pruner", "scheduler", "early_terminate", "resources", "tracking",
)  # fmt: skip

# Top-level keys of the other dialects → their native place ("a.b" = key b of section a).
ALIASES: dict[str, str] = {
    # tracking: seed 001's `mlflow:` and a `wandb:` section, at the top or inside hpo:/hyperopt:
    "mlflow": "tracking.mlflow",
    "wandb": "tracking.wandb",
    # W&B
    "method": "strategy.name",
    "run_cap": "budget.trials",
    "program": "trial.program",
    "command": "trial.command",
    # Optuna / Ray Tune / hyperopt configs (seeds 001, 002)
    "search_space": "parameters",
    "study_name": "name",
    "num_trials": "budget.trials",
    "n_trials": "budget.trials",
    "max_trials": "budget.trials",
    "max_runs": "budget.trials",
    "epochs_per_trial": "budget.steps",  # seed 000's --epochs-per-trial, written in a file
    "steps_per_trial": "budget.steps",
    "timeout": "budget.timeout",
    "direction": "metric.goal",
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

# Keys that only mean something on another tool's servers or UI: accepted, noted once, ignored.
IGNORED = {
    "project", "entity", "controller", "job", "image_uri", "launch", "run_settings",
    "enabled", "log_to_file", "optuna_enabled", "asha_enabled", "load_if_exists",
    "trainingService", "useAnnotation", "debug", "logLevel", "experimentWorkingDirectory", "nniManagerIp",
    "searchSpaceFile", "assessor", "advisor", "tunerGpuIndices", "experimentType",
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
    "combined": "tpe", "asha": "random",  # seed 002: TPE + ASHA, random search + ASHA
    "hyperband": "random",  # seed 003: Hyperband over random samples
}  # fmt: skip

# Strategy words that also choose early stopping (the pruner package reads them).
FAMILIES = ("combined", "asha", "hyperband", "optuna")

# Seed 002's `strategy:` words: which use the sampler `optuna_sampler` names, and which search at random.
_SAMPLER_FAMILIES = ("combined", "optuna")
_RANDOM_FAMILIES = ("asha", "random")


@dataclass
class Layout:
    raw: dict[str, Any]
    dialect: str
    notes: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # native key path → the user's key path
    family: str | None = None  # seed 002's strategy word (combined, asha, ...), before a sampler refines it


def _is_nni_space(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) and "_type" in v for v in value.values())


def detect(raw: dict[str, Any]) -> str:
    """The dialect a file was written in (reported in results; layout accepts every dialect's keys)."""
    if _is_nni_space(raw) or "searchSpace" in raw or "trialCommand" in raw:
        return "nni"
    if "hpo" in raw or "hyperopt" in raw or "search_space" in raw:
        return "optuna"
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
    """Seed 002 writes `strategy: combined` (the family) beside `optuna_sampler: TPE` (the sampler in it)."""
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
            if part == "metric" and isinstance(child, str):
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


_STUDY_KEYS = {"study_name": "name", "storage": "storage", "direction": "metric.goal"}
_TRIALS_KEYS = {"n_trials": "budget.trials", "timeout": "budget.timeout", "n_jobs": "resources.workers"}
_SAMPLER_KEYS = {"type": "strategy.name", "name": "strategy.name", "seed": "strategy.seed"}


def _unknown(sub: Any, origin: str, options: Any, file: str | None) -> SpecError:
    hint = did_you_mean(str(sub), options) or f"; expected one of {', '.join(options)}"
    return SpecError(f'unknown key "{sub}" in {origin}{hint}', file=file, key=f"{origin}.{sub}")


def _merge_wrapper(section: dict[str, Any], prefix: str, out: dict[str, Any], layout: Layout, file: str | None) -> None:
    """Seed 001's `hpo:` and seed 002's `hyperopt:` sections: their nested and flat keys."""
    for key, value in section.items():
        origin = f"{prefix}.{key}"
        if key in ("study", "trials", "sampler"):
            if value is None:  # an empty section (`trials:` with nothing under it)
                continue
            if not isinstance(value, dict):
                raise SpecError(f"expected a mapping, found {type(value).__name__}", file=file, key=origin)
        if key == "study":  # hpo.study.{study_name, storage, direction, load_if_exists}
            for sub, sub_value in value.items():
                target = _STUDY_KEYS.get(sub)
                if target:
                    _put(out, target, sub_value, f"{origin}.{sub}", layout, file=file)
                elif sub in IGNORED:
                    layout.notes.append(f"{origin}.{sub} is ignored: sweepkit always resumes a sweep of the same name")
                else:
                    raise _unknown(sub, origin, [*_STUDY_KEYS, "load_if_exists"], file)
        elif key == "trials":  # hpo.trials.{n_trials, timeout, n_jobs}
            for sub, sub_value in value.items():
                target = _TRIALS_KEYS.get(sub)
                if target is None:
                    raise _unknown(sub, origin, _TRIALS_KEYS, file)
                if sub_value is not None:
                    _put(out, target, sub_value, f"{origin}.{sub}", layout, file=file)
        elif key == "sampler":
            for sub, sub_value in value.items():
                target = _SAMPLER_KEYS.get(sub)
                _put(out, target or f"strategy.{sub}", sub_value, f"{origin}.{sub}", layout, file=file)
        else:
            _place(key, value, origin, out, layout, file)


def _place(key: str, value: Any, origin: str, out: dict[str, Any], layout: Layout, file: str | None) -> None:
    if key in IGNORED:
        layout.notes.append(f"{origin} is ignored (it only means something to another tool's server)")
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
    elif key == "tuner":  # NNI: tuner: {name: TPE, classArgs: {optimize_mode: maximize, seed: 7}}
        _place_tuner(value, origin, out, layout, file)
    elif key == "resources" and isinstance(value, dict) and isinstance(out.get(key, {}), dict):
        # seed 002's spellings also inside `resources:`
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
    wrappers = [k for k in ("hpo", "hyperopt") if k in raw]
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
        _place(key, value, key, out, layout, file)
    for key in wrappers:
        _merge_wrapper(raw[key], key, out, layout, file)
    if isinstance(out.get("metric"), dict) and isinstance(out["metric"].get("goal"), str):
        goal = out["metric"]["goal"].strip().lower()
        out["metric"]["goal"] = _METRIC_GOALS.get(goal, out["metric"]["goal"])
    if "searchSpaceFile" in raw and "parameters" not in out:
        raise SpecError(
            "sweepkit does not read searchSpaceFile yet: write the space inline under searchSpace:, "
            "or give sweepkit the search-space file itself",
            file=file,
            key="searchSpaceFile",
        )
    resources = out.get("resources")
    if isinstance(resources, dict) and "ray_address" in resources and str(resources.get("backend")).lower() != "ray":
        where = layout.origins.get("resources.ray_address", "resources.ray_address")
        layout.notes.append(f"{where} is read, but trials run on this machine unless resources.backend is ray")
    if bare_space:
        layout.origins["parameters"] = ""
    if dialect == "nni":
        out.setdefault("metric", {}).setdefault("name", "default")  # nni.report_final_result's metric
        out["metric"].setdefault("goal", "maximize")  # NNI tuners' optimize_mode default
    return layout

"""`sweepkit retrain NAME`: the best trial once more, at full budget, as a sweep of its own.

The record is a new sweep `<name>-retrain` in the same store, built from the resolved spec the store keeps
(so no sweep file is needed): every parameter a constant at the best trial's value, one trial, no early
stopping, `budget.steps` = `--steps` when given. Its results go to `<output>-retrain/` beside the sweep's
folder. The sweep itself is left untouched, and retraining again keeps the previous retrain as
`<name>-retrain.1` (as `--fresh` does). A sweep (rather than a tag on the original) because then `status`,
`best`, the output files, the dashboard and MLflow/W&B tracking all work on it unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit.errors import UsageError
from sweepkit.trial_state import RETRAIN_ATTR, mark_retrain, sweep_meta

if TYPE_CHECKING:
    from sweepkit.space import SearchSpace

SUFFIX = "-retrain"
_DROPPED = ("pruner", "scheduler", "early_terminate", "constraints")


def constants(flat: dict[str, Any], space: SearchSpace | None = None) -> dict[str, Any]:
    """A native `parameters:` section fixing each name to its value: `{lr: {value: 0.01}}`, a nested
    section's parameters in nested sections, a dotted name that is one key (`model.n_layers`) as one key.
    Without the space every dot nests. Derived and conditional parameters become the values the best trial had."""
    keys = {p.name: p.keys for p in space.parameters} if space is not None else {}
    section: dict[str, Any] = {}
    for name, value in flat.items():
        node = section
        *parents, leaf = keys.get(name) or name.split(".")
        for part in parents:
            node = node.setdefault(part, {"parameters": {}})["parameters"]
        node[leaf] = {"value": value}
    return section


def _absolute_trial(trial: dict[str, Any], base_dir: Path, workdir: Path) -> dict[str, Any] | None:
    """Paths in `trial:` were relative to the sweep file's folder; the retrain's spec has no file, so they
    become absolute. Returns None when the function can only be found from `base_dir` as a package."""
    trial = dict(trial)
    if base_dir == workdir:
        return trial
    for key in ("program", "cwd"):
        if isinstance(trial.get(key), str) and not Path(trial[key]).is_absolute():
            trial[key] = str(base_dir / trial[key])
    ref = trial.get("function")
    if isinstance(ref, str):
        module, sep, attr = ref.partition(":")
        if module.endswith(".py") or "/" in module:
            trial["function"] = f"{(base_dir / module).resolve()}{sep}{attr}"
        elif "." not in module and (base_dir / f"{module}.py").is_file():
            trial["function"] = f"{base_dir / module}.py{sep}{attr}"
        else:
            return None
    return trial


def retrain(
    name: str,
    *,
    steps: int | None = None,
    storage: str | None = None,
    objective: Callable[..., Any] | None = None,
    cwd: str | Path | None = None,
    quiet: bool = False,
    verbose: bool = False,
) -> Any:
    """Run sweep `name`'s best params once at full budget; returns the retrain sweep's `SweepResult`.

    `objective` is needed only when the sweep ran with `objective=` from Python (its store holds no
    trial function or program to run again).
    """
    import sweepkit
    from sweepkit.results import load_result, stored_space, user_params
    from sweepkit.store import Store

    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    workdir = Path(cwd) if cwd is not None else Path.cwd()
    store = Store(storage, cwd=workdir)
    study = store.load(name)
    name = study.study_name  # `name` may have been the sweep's label
    meta = sweep_meta(study)
    resolved = meta.get("spec")
    if not isinstance(resolved, dict):
        raise UsageError(f'sweep "{name}" was stored without its spec (an older sweepkit?): run it again to retrain')
    best = load_result(store, name).best_trial
    if best is None:
        raise UsageError(f'sweep "{name}" has no completed trial yet: nothing to retrain')
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == best.number)
    space = stored_space(meta)
    flat = user_params(frozen, space, grid=bool(meta.get("grid")))

    spec = copy.deepcopy(resolved)
    for key in _DROPPED:
        spec.pop(key, None)
    spec["name"] = f"{name}{SUFFIX}"
    spec.pop("storage", None)  # the store the sweep was found in (`storage` below), not the file's
    spec["parameters"] = constants(flat, space)
    old_strategy: dict[str, Any] = spec["strategy"] if isinstance(spec.get("strategy"), dict) else {}
    spec["strategy"] = {"name": "random", **({"seed": old_strategy["seed"]} if "seed" in old_strategy else {})}
    old_budget: dict[str, Any] = spec["budget"] if isinstance(spec.get("budget"), dict) else {}
    full = steps if steps is not None else old_budget.get("steps")
    spec["budget"] = {"trials": 1, **({"steps": full} if full is not None else {})}
    if isinstance(spec.get("metric"), dict):
        spec["metric"] = {k: v for k, v in spec["metric"].items() if k != "target"}
    if isinstance(spec.get("resources"), dict) and "workers" in spec["resources"]:
        spec["resources"] = {**spec["resources"], "workers": 1}
    output = Path(str(meta.get("output") or workdir / "sweeps" / name))
    spec["output"] = str(output.with_name(output.name + SUFFIX))
    what = f"{full} steps" if full is not None else "the trial's own budget"
    spec["description"] = (
        f"retrain of sweep {name}: trial {best.number} ({meta.get('metric', 'value')} = {best.value:g}) "
        f"with its params, {what}"
    )
    base_dir = Path(str(meta.get("base_dir") or workdir))
    if isinstance(spec.get("trial"), dict) and objective is None:
        trial = _absolute_trial(spec["trial"], base_dir, workdir)
        if trial is None:  # a package module: import it from where the sweep found it, in this process
            from sweepkit._callable import resolve_function

            objective = resolve_function(spec["trial"]["function"], base_dir, file=None)
        else:
            spec["trial"] = trial
    elif objective is None:
        raise UsageError(
            f'sweep "{name}" ran a Python objective passed from code, which its store cannot run again: '
            f'retrain it from Python with sweepkit.export.retrain("{name}", objective=...)'
        )
    result = sweepkit.run(
        spec, objective=objective, storage=storage, fresh=True, cwd=workdir, quiet=quiet, verbose=verbose
    )
    retrained = store.load(spec["name"])
    mark_retrain(retrained, {"sweep": name, "trial": best.number, "value": best.value, "params": flat, "steps": full})
    return result


__all__ = ["RETRAIN_ATTR", "SUFFIX", "constants", "retrain"]

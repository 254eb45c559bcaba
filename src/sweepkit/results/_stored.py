"""Reading a sweep back from the store alone (for `ls`, `status`, `best`), without its sweep file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit.errors import SweepkitError
from sweepkit.results._pareto import stored_objectives
from sweepkit.results._records import record
from sweepkit.space import SearchSpace
from sweepkit.store import Store
from sweepkit.trial_state import State, SweepMeta, state_of, sweep_meta

if TYPE_CHECKING:
    from sweepkit.results import SweepResult


def stored_space(meta: SweepMeta) -> SearchSpace | None:
    """The space as the sweep was last run, rebuilt from the resolved spec kept in the store."""
    spec = meta.get("spec")
    if not isinstance(spec, dict):
        return None
    from sweepkit.spec import load_spec

    try:
        return load_spec(spec).space
    except SweepkitError:
        return None


def load(name: str, storage: str | None = None, *, cwd: str | Path | None = None) -> SweepResult:
    """`sweepkit.load`: a past sweep's result, read from its store alone (no sweep file): the same
    `SweepResult` `sweepkit.run` returned, with `to_dataframe()` and `study`. `storage` is the store's URL
    as `run` was given it (None: the embedded store under `cwd`, the current folder by default); `name` is
    the sweep's name or its label. An unknown name is a UsageError listing the sweeps in the store."""
    return load_result(Store(storage, cwd=Path(cwd) if cwd is not None else None), name)


def load_result(store: Store, name: str) -> SweepResult:
    """The sweep's result as `load` gives it, from a store already open."""
    from sweepkit.results import SweepResult  # here: the package imports this module before defining it

    study = store.load(name)
    name = study.study_name  # `name` may have been the sweep's label
    meta = sweep_meta(study)
    space = stored_space(meta)
    grid = bool(meta.get("grid"))
    seed = meta.get("seed") if isinstance(meta.get("seed"), int) else None
    trials = [
        record(t, space, grid=grid, sweep_seed=seed)
        for t in study.get_trials(deepcopy=False)
        if state_of(t) != State.DISCARDED
    ]
    steps = _budget(meta).get("steps")
    return SweepResult(
        name=name,
        metric=str(meta.get("metric", "value")),
        goal=study.directions[0].name.lower(),  # the first objective's, on a multi-objective sweep
        strategy=str(meta.get("strategy", "?")),
        strategy_reason=str(meta.get("strategy_reason", "")),
        output=Path(meta.get("output") or Path("sweeps") / name),
        trials=trials,
        dialect=str(meta.get("dialect", "native")),
        max_steps=steps if isinstance(steps, int) else None,
        objectives=stored_objectives(study),
        seed=seed,
        storage=store.url,
        workdir=store.cwd,
    )


def sweep_label(meta: SweepMeta, name: str) -> str | None:
    """The name the sweep file gave, when it is not the store's name for it (`resnet/lr sweep`)."""
    label = (meta.get("spec") or {}).get("name")
    return label if isinstance(label, str) and label != name else None


def _budget(meta: SweepMeta) -> dict[str, Any]:
    budget = (meta.get("spec") or {}).get("budget")
    return budget if isinstance(budget, dict) else {}


def budget_of(store: Store, name: str) -> int | None:
    """The sweep's `budget.trials`, as its stored spec says; None when it set none."""
    trials = _budget(sweep_meta(store.load(name))).get("trials")
    return trials if isinstance(trials, int) else None

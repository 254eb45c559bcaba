"""`sweepkit report`: a sweep's figures, text summaries and one self-contained `report.html`, from its store.

    from sweepkit.report import write_report
    paths = write_report(Store(None), "quickstart")   # into sweeps/quickstart/ (the sweep's output folder)

Everything is read from the store alone, so a report can be made for a sweep that ran elsewhere (a shared
PostgreSQL store, agents on other machines). Situations that are ordinary for a sweep (no finished trial,
one parameter, no learning curves, too few trials to rank parameters) give figures and text that say so; a
figure that fails to draw becomes an image saying why, and the other files are still written. Each figure is
drawn once (matplotlib, `_figures.py`): the same PNG is the file and the picture in report.html.

matplotlib loads here, never from `import sweepkit`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from sweepkit.errors import UsageError
from sweepkit.report._data import IMPORTANCE_METHODS, collect, output_folder
from sweepkit.store import Store

RUN_FILES = ("tuning_results.json", "trials_history.json", "trials.csv", "best_config.yaml")


def write_report(
    store: Store,
    name: str,
    out: Path | None = None,
    *,
    importance: str = "ped-anova",
    run_files: bool = True,
) -> list[Path]:
    """Write the report of sweep `name` into `out` (default: the sweep's output folder); return the paths.

    `importance`: Optuna's evaluator, one of "ped-anova" (default), "fanova", "mean-decrease-impurity".
    `run_files`: also refresh the files a run keeps (tuning_results.json, trials_history.json, trials.csv,
    best_config.yaml) from the store; a run that has just written them passes False.
    Raises UsageError (listing the sweeps there) when the store has no sweep `name`.
    """
    _needs_extra()
    from sweepkit.report._figures import draw_all, write_pngs
    from sweepkit.report._html import write_html
    from sweepkit.report._text import best_configs, summary_text
    from sweepkit.results import atomic_write

    data = collect(store, name, importance=importance)
    folder = output_folder(data, out)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if run_files:
        written += _refresh_run_files(data.result, folder)
    atomic_write(folder / "best_configs.json", best_configs(data))
    written.append(folder / "best_configs.json")
    drawn = draw_all(data)
    written += write_pngs(drawn, folder)
    html = folder / "report.html"
    names = [p.name for p in [*written, folder / "summary.txt", html]]
    write_html(data, drawn, html, names)
    atomic_write(folder / "summary.txt", summary_text(data, names))  # last: it lists notes the figures left
    return [*written, folder / "summary.txt", html]


def _needs_extra() -> None:
    """One clear message when matplotlib is missing, naming what to install."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("sweepkit report needs matplotlib: pip install 'sweepkit[report]'")


def _refresh_run_files(result: object, folder: Path) -> list[Path]:
    """Rewrite the run's files from the store, keeping the run's stop reason, which the store does not hold."""
    from sweepkit.results import SweepResult, write_outputs

    assert isinstance(result, SweepResult)
    kept = folder / "tuning_results.json"
    if not result.stop_reason and kept.exists():
        with contextlib.suppress(OSError, ValueError, AttributeError):  # unreadable: it is about to be replaced
            result.stop_reason = str(json.loads(kept.read_text(encoding="utf-8")).get("stop_reason") or "")
    result.output = folder
    write_outputs(result)
    return [folder / n for n in RUN_FILES]


__all__ = ["IMPORTANCE_METHODS", "RUN_FILES", "write_report"]

"""A multi-objective sweep's Pareto front, drawn for the report: `pareto_front.png` (matplotlib's object API),
shown in report.html too. Only made when the sweep has two or more objectives, so a
single-objective report's files stay as they were.

Drawn here rather than with Optuna's `plot_pareto_front`: its matplotlib version draws on pyplot's global
state (the report never touches it), and the front drawn must be the one `best` and tuning_results.json
list, computed from the same trial records (results/_pareto.py). Two objectives: one scatter with the
front as a staircase; three or more: one panel per pair of objectives, the front's trials highlighted.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from matplotlib.figure import Figure

from sweepkit.report._data import ReportData, log_worthy
from sweepkit.report._figures import Spec, _figure
from sweepkit.report._style import BEST, STATES

MAX_LABELLED = 25  # front trials labelled with their number; past this the labels are a smudge
MAX_PANELS = 15  # 6 objectives' pairs: more objectives are drawn for their first six


def _points(data: ReportData) -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(objective names, goals, every complete trial's values as rows, their numbers, on-the-front mask)."""
    names = [name for name, _ in data.result.objectives]
    goals = [goal for _, goal in data.result.objectives]
    rows = [t for t in data.trials if t.state == "COMPLETE" and t.values and len(t.values) == len(names)]
    values = np.array([t.values for t in rows], dtype=float).reshape(len(rows), len(names))
    numbers = np.array([t.number for t in rows], dtype=np.int64)
    front = {t.number for t in data.result.pareto_front}
    return names, goals, values, numbers, np.array([n in front for n in numbers], dtype=bool)


def _pairs(n: int) -> list[tuple[int, int]]:
    return list(combinations(range(n), 2))[:MAX_PANELS]


def _staircase(x: np.ndarray, y: np.ndarray, goals: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The front of two objectives as the boundary of what it dominates: sorted along x, a step at each."""
    order = np.argsort(x if goals[0] == "minimize" else -x, kind="stable")
    return x[order], y[order]


def _label(name: str, goal: str) -> str:
    return f"{name} ({goal}: {'lower' if goal == 'minimize' else 'higher'} is better)"


def draw_pareto(data: ReportData) -> Figure | str:
    names, goals, values, numbers, on_front = _points(data)
    if not len(values):
        return data.no_finished_text()
    pairs = _pairs(len(names))
    cols = 1 if len(pairs) == 1 else min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    width, height = (9.0, 6.0) if len(pairs) == 1 else (4.6 * cols, 4.0 * rows + 0.6)
    fig = _figure(width, height)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    size = 40.0 if len(values) <= 200 else 14.0
    for ax, (i, j) in zip(axes, pairs, strict=False):
        x, y = values[:, i], values[:, j]
        rest = ~on_front
        look = STATES["COMPLETE"]
        ax.scatter(x[rest], y[rest], s=size, color=look.colour, alpha=0.45, linewidths=0,
                   label=f"other complete trials ({rest.sum():,})", rasterized=True)  # fmt: skip
        ax.scatter(x[on_front], y[on_front], s=size * 1.8, color=BEST, edgecolors="black", linewidths=0.6,
                   zorder=4, label=f"Pareto front ({on_front.sum():,})")  # fmt: skip
        if len(names) == 2 and on_front.sum() > 1:
            sx, sy = _staircase(x[on_front], y[on_front], (goals[i], goals[j]))
            ax.step(sx, sy, where="post", color=BEST, lw=1.4, alpha=0.8, zorder=3)
        if on_front.sum() <= MAX_LABELLED:
            for xv, yv, n in zip(x[on_front], y[on_front], numbers[on_front], strict=True):
                ax.annotate(str(n), (xv, yv), xytext=(4, 4), textcoords="offset points", fontsize=8, color="#333333")
        for values_of, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
            if log_worthy(values_of):
                setter("log")
        ax.set_xlabel(_label(names[i], goals[i]) if len(pairs) == 1 else f"{names[i]} ({goals[i]})")
        ax.set_ylabel(_label(names[j], goals[j]) if len(pairs) == 1 else f"{names[j]} ({goals[j]})")
        ax.grid(alpha=0.3)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    axes[0].legend(loc="best", fontsize=9, framealpha=0.9)
    shown = "" if len(names) * (len(names) - 1) // 2 <= MAX_PANELS else f" (the first {MAX_PANELS} pairs)"
    title = f"Pareto front: {on_front.sum():,} of {len(values):,} complete trials{shown} — sweep {data.result.name}"
    fig.suptitle(title, fontsize=12)
    return fig


PARETO = Spec(
    "pareto_front",
    "pareto",
    "Pareto front",
    "Each complete trial by its objectives; the front (red) holds the trials no other trial beats on every "
    "objective: sweepkit best NAME lists them, --pick METRIC takes one.",
    draw_pareto,
)

__all__ = ["PARETO", "draw_pareto"]

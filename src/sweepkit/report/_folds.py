"""The report's cross-validation view, drawn only for a sweep whose trials reported folds: each trial's
metric fold by fold (`folds.png`, shown in report.html with a per-fold table).

The best trials are drawn as lines over the folds (a wide spread between folds says the split matters more
than the parameters); pruned trials are drawn up to the fold that stopped them, infeasible ones dashed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sweepkit.report._data import ReportData
from sweepkit.report._figures import Spec, _figure, _title
from sweepkit.report._style import BEST, STATES
from sweepkit.report._text import fmt
from sweepkit.results import fold_values, per_fold

TOP_LINES = 10  # complete trials drawn as lines: the best ones
MAX_OTHERS = 200  # pruned and infeasible trials drawn, the most recent ones
TABLE_ROWS = 10


@dataclass
class FoldLine:
    number: int
    state: str  # COMPLETE, PRUNED, INFEASIBLE (a complete trial that violated a constraint it reported)
    values: list[float | None]
    value: float | None  # the trial's objective
    best: bool = False


def fold_lines(data: ReportData) -> list[FoldLine]:
    """The trials drawn: the best complete ones, then pruned and infeasible ones; empty when none has folds."""
    best = data.result.best_trial
    top = {t.number for t in data.result.top(TOP_LINES)}
    lines, others = [], []
    for t in data.trials:
        values = fold_values(t, data.metric)
        if values is None:
            continue
        if t.state == "COMPLETE" and not t.feasible:
            others.append(FoldLine(t.number, "INFEASIBLE", values, t.value))
        elif t.state == "PRUNED":
            others.append(FoldLine(t.number, "PRUNED", values, t.value))
        elif t.number in top:
            lines.append(
                FoldLine(t.number, "COMPLETE", values, t.value, best=best is not None and best.number == t.number)
            )
    lines.sort(key=lambda line: line.best)  # the best drawn last, on top
    return others[-MAX_OTHERS:] + lines


def _xy(line: FoldLine) -> tuple[list[int], list[float]]:
    pairs = [(i, v) for i, v in enumerate(line.values) if v is not None]
    return [i for i, _ in pairs], [v for _, v in pairs]


def _label(line: FoldLine) -> str:
    return f"trial {line.number}" + (f" ({line.value:.4g})" if line.value is not None else "")


def draw_folds(data: ReportData) -> Figure | str:
    """folds.png: the metric in each fold, one line per trial."""
    lines = fold_lines(data)
    if not lines:
        return "no trial reported per-fold values (trial.report_fold or run.report_fold)"
    fig = _figure(9.0, 4.6)
    ax = fig.add_subplot()
    handles, seen = [], set()
    for line in lines:
        xs, ys = _xy(line)
        if line.best:
            ax.plot(xs, ys, color=BEST, lw=2.4, marker="o", ms=5, zorder=5)
            handles.append(Line2D([], [], color=BEST, lw=2.4, marker="o", label=f"best: {_label(line)}"))
            continue
        s = STATES[line.state]
        dashed = line.state == "INFEASIBLE"
        ax.plot(xs, ys, color=s.colour, lw=1.0, alpha=0.6, ls="--" if dashed else "-", marker=".", ms=4)
        if line.state == "PRUNED" and xs:  # where the pruner stopped it
            ax.scatter(xs[-1:], ys[-1:], marker=s.marker, color=s.colour, s=30, zorder=4)
        if line.state not in seen:
            seen.add(line.state)
            name = "best complete" if line.state == "COMPLETE" else s.name
            marker = s.marker if line.state == "PRUNED" else None
            handles.append(
                Line2D([], [], color=s.colour, lw=1.2, ls="--" if dashed else "-", marker=marker, label=name)
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("fold")
    ax.set_ylabel(data.metric)
    ax.set_title(_title(data, f"{data.metric} per fold"), fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="best", fontsize=9, framealpha=0.9)
    return fig


def folds_table(data: ReportData) -> str:
    """The best trials' every per-fold metric, one row per trial and metric (HTML)."""
    rows = []
    for t in data.result.top(TABLE_ROWS):
        for name, values in per_fold(t).items():
            rows.append((t.number, name, values, fmt(t.value) if name == data.metric else ""))
    if not rows:
        return ""
    width = max(len(values) for _, _, values, _ in rows)
    head = ["trial", "metric", *(f"fold {i}" for i in range(width)), "trial's value"]
    out = ['<table class="grid"><thead><tr>', *(f"<th>{html.escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for number, name, values, value in rows:
        cells = [str(number), name, *(fmt(v) if v is not None else "" for v in values)]
        cells += [""] * (width - len(values)) + [value]
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def has_folds(data: ReportData) -> bool:
    return any(fold_values(t, data.metric) is not None for t in data.trials)


FOLDS = Spec(
    "folds",
    "folds",
    "Folds",
    "The metric in each cross-validation fold: the best complete trials, pruned ones up to the fold that "
    "stopped them, and (dashed) complete ones that violated a constraint they reported.",
    draw_folds,
)


__all__ = ["FOLDS", "draw_folds", "fold_lines", "folds_table", "has_folds"]

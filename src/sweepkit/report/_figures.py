"""The report's figures, each defined once and drawn once with matplotlib's object API (no pyplot: nothing
global is touched, so a report drawn inside a user's notebook or training script leaves its backend and
figures alone). Each becomes `<name>.png`, and report.html shows those same PNG bytes.

Each `draw_*` returns a figure, or a sentence saying why there is nothing to draw; that sentence becomes
the image, so a stale figure from an earlier report never stays behind looking current.

Why matplotlib rather than plotly, with Optuna's own `optuna.visualization` figures where they serve (measured
on the 10,000-trial sweep of benchmarks/report10k.py, RESULTS.md): plotly PNGs need kaleido and a Chrome, and
took 18 s there against 2.5 s for these; Optuna's figures draw each learning curve and each parallel line as
its own trace (9,798 and 3,750 traces) and each trial as a timeline row (10.6 MB), show only complete trials
in the history, know neither sweepkit's states nor the user's values of W&B-style parameters (Optuna holds
their quantile), and recompute the importance the report already has. Its matplotlib figures draw on pyplot.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.axis import Axis as MplAxis
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter

from sweepkit.report._data import (
    Axis,
    Column,
    ReportData,
    colour_limits,
    column,
    landscape,
    lanes,
    log_worthy,
    ran,
    spread,
)
from sweepkit.report._style import BEST, BEST_SO_FAR, CURVE_ORDER, STATES, colormap
from sweepkit.report._text import duration_text

DPI = 110
MAX_LANES_LABELLED = 40


def _best_star(ax: Axes, xs: Any, ys: Any, label: str) -> None:
    """The best trial, marked the same way on every figure that shows it."""
    ax.scatter(xs, ys, marker="*", s=260, color=BEST, edgecolors="white", zorder=5, label=label)


def _figure(width: float = 9.0, height: float = 5.0) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _message(title: str, text: str) -> Figure:
    fig = _figure(9.0, 2.2)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.text(0.5, 0.45, text, ha="center", va="center", fontsize=11, wrap=True, color="#444444")
    return fig


def _marker_size(n: int) -> float:
    return 36.0 if n <= 100 else 16.0 if n <= 1000 else 5.0


def _scale(ax: Axes, axis: Axis, which: str = "x") -> None:
    """Log axes for log parameters; a categorical parameter gets one labelled tick per category."""
    set_scale, set_ticks, set_lim = (
        (ax.set_xscale, ax.set_xticks, ax.set_xlim) if which == "x" else (ax.set_yscale, ax.set_yticks, ax.set_ylim)
    )
    if axis.log:
        set_scale("log")
    elif axis.integer:
        (ax.xaxis if which == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    elif axis.categorical:
        n = len(axis.categories)
        long = n > 6 or max((len(c) for c in axis.categories), default=0) > 8
        slanted: dict[str, Any] = {"rotation": 30, "ha": "right"} if long and which == "x" else {}
        set_ticks(range(n), axis.categories, **slanted)
        set_lim(-0.5, n - 0.5)


def _norm(data: ReportData, values: np.ndarray) -> Normalize:
    """The metric's colours: log when it spans more than 30x, the bad end cut past a few outliers."""
    lo, hi = colour_limits(values, data.maximize)
    return LogNorm(lo, hi, clip=True) if log_worthy(values) and lo > 0 else Normalize(lo, hi, clip=True)


def _extend(data: ReportData, values: np.ndarray) -> str:
    """Where the colour bar gets an arrow: the end cut by `colour_limits`."""
    lo, hi = colour_limits(values, data.maximize)
    v = values[np.isfinite(values)]
    return "max" if v.size and v.max() > hi else "min" if v.size and v.min() < lo else "neither"


def _colour_bar(
    fig: Figure, mappable: ScalarMappable, ax: Axes, data: ReportData, values: np.ndarray, **kw: Any
) -> None:
    bar = fig.colorbar(mappable, ax=ax, pad=0.01, extend=_extend(data, values), **kw)
    bar.set_label(f"{data.metric} (brighter is better)")
    if isinstance(bar.norm, LogNorm):
        _plain_log_ticks(bar.ax.yaxis, values)
    if bar.solids is not None:  # the bar's colour patch (matplotlib types it optional)
        bar.solids.set(alpha=1)


def _metric_scale(ax: Axes, values: np.ndarray, which: str = "y") -> bool:
    if not log_worthy(values):
        return False
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    _plain_log_ticks((ax.yaxis if which == "y" else ax.xaxis), values)
    return True


def _plain_log_ticks(axis: MplAxis, values: np.ndarray) -> None:
    """A metric's log axis labelled in plain numbers (0.2, 0.5, 1, 2), at 1-2-5 steps when it spans under
    three decades: powers of ten alone would leave one or two labels."""
    v = values[np.isfinite(values) & (values > 0)]
    decades = math.log10(v.max() / v.min()) if v.size else 0.0
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _title(data: ReportData, what: str) -> str:
    return f"{what} — sweep {data.result.name}"


# -- tuning_history.png -----------------------------------------------------------------------------------
def draw_history(data: ReportData) -> Figure | str:
    done = data.done
    pruned = (data.state == "PRUNED") & np.isfinite(data.value)
    if not done.any() and not pruned.any():
        return data.no_finished_text()
    fig = _figure()
    ax = fig.add_subplot()
    n = len(data.trials)
    size = _marker_size(n)
    groups = [
        (pruned, "PRUNED", 0.55, f"pruned ({pruned.sum():,}), at its last reported value"),
        (done, "COMPLETE", 0.8, f"complete ({done.sum():,})"),
    ]
    for mask, state, alpha, label in groups:
        if mask.any():
            look = STATES[state]
            ax.scatter(data.number[mask], data.value[mask], s=size, marker=look.marker, color=look.colour,
                       alpha=alpha, linewidths=0, label=label, rasterized=True)  # fmt: skip
    if done.any():
        order = np.argsort(data.number[done], kind="stable")
        xs, ys = data.number[done][order], data.value[done][order]
        best_so_far = np.maximum.accumulate(ys) if data.maximize else np.minimum.accumulate(ys)
        xs_line = np.append(xs, data.number.max())
        ax.step(
            xs_line, np.append(best_so_far, best_so_far[-1]), where="post", color=BEST_SO_FAR, lw=2, label="best so far"
        )
        best = data.result.best_trial
        if best is not None and best.value is not None:
            _best_star(ax, [best.number], [best.value], f"best: trial {best.number} ({best.value:.4g})")
    _no_value_marks(ax, data, size)
    logged = _metric_scale(ax, data.value[done | pruned])
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{data.metric} ({data.result.goal})" + (", log scale" if logged else ""))
    ax.set_title(_title(data, f"{data.metric} per trial"), fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, framealpha=0.9)
    return fig


def _no_value_marks(ax: Axes, data: ReportData, size: float) -> None:
    """Failed, interrupted and infeasible trials have no value: a row of marks along the bottom edge, in the legend."""
    for state in ("FAILED", "INTERRUPTED", "INFEASIBLE"):
        mask = data.state == state
        if mask.any():
            s = STATES[state]
            ax.scatter(
                data.number[mask],
                np.full(mask.sum(), 0.02),
                transform=ax.get_xaxis_transform(),
                s=max(size, 16.0),
                marker=s.marker,
                color=s.colour,
                clip_on=False,
                label=f"{s.name} ({mask.sum():,}), no value",
                rasterized=True,
            )


# -- param_importance.png ---------------------------------------------------------------------------------
def draw_importance(data: ReportData) -> Figure | str:
    imp = data.importance
    if not imp.values:
        why = "; ".join(imp.notes) or "nothing to rank"
        return f"Parameter importance ({imp.title}) for {data.metric}: {why}."
    names = list(imp.values)[::-1]  # most important on top
    shares = [imp.values[n] for n in names]
    kinds = {a.name: a for a in data.axes}
    labels = [kinds[n].label if n in kinds else n for n in names]
    fig = _figure(9.0, 1.6 + 0.42 * len(names) + 0.25 * len(imp.notes))
    ax = fig.add_subplot()
    bars = ax.barh(labels, shares, color="#1f77b4")
    ax.bar_label(bars, labels=[f"{s:.0%}" if s >= 0.01 else f"{s:.1%}" for s in shares], padding=3, fontsize=9)
    ax.set_xlim(0, max(shares) * 1.15 or 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("share of importance (the shares sum to 100%)")
    ax.set_title(_title(data, f"Parameter importance for {data.metric}: {imp.title}"), fontsize=12)
    if imp.notes:  # under the axis label: the layout makes room for it at any height
        notes = "\n".join(f"note: {n}" for n in imp.notes)
        fig.supxlabel(notes, x=0.01, ha="left", fontsize=8.5, color="#555555", multialignment="left")
    ax.grid(axis="x", alpha=0.3)
    return fig


# -- parallel_coordinates.png -----------------------------------------------------------------------------
def parallel_columns(data: ReportData) -> list[Column]:
    done = data.done
    columns = [column(a.label, a, data.coords(a)[done]) for a in data.axes]
    values = data.value[done]
    metric_axis = Axis(data.metric, "log" if log_worthy(values) else "linear")
    columns.append(column(metric_axis.label, metric_axis, values))
    return columns


def draw_parallel(data: ReportData) -> Figure | str:
    done = data.done
    if not done.any():
        return data.no_finished_text()
    if not data.axes:
        return "no searched parameter: nothing to draw across"
    columns = parallel_columns(data)
    values = data.value[done]
    ys = np.stack([c.normalized() for c in columns], axis=1)
    xs = np.arange(len(columns), dtype=float)
    order = np.argsort(values if data.maximize else -values, kind="stable")  # the best drawn last, on top
    segments = np.stack([np.broadcast_to(xs, ys.shape), ys], axis=2)[order]
    fig = _figure(max(9.0, 1.6 * len(columns)), 5.5)
    ax = fig.add_subplot()
    lines = LineCollection(
        list(segments),
        cmap=colormap(data.maximize),
        norm=_norm(data, values),
        linewidths=1.0 if len(values) < 500 else 0.5,
        alpha=0.7 if len(values) < 500 else 0.35,
        rasterized=True,
    )
    lines.set_array(values[order])
    ax.add_collection(lines)
    best = data.result.best_trial
    if best is not None:
        at = int(np.flatnonzero(data.number[done] == best.number)[0])
        ax.plot(xs, ys[at], color=BEST, lw=2.5, label=f"best: trial {best.number}", zorder=4)
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.12), fontsize=9, frameon=False)
    for x, col in zip(xs, columns, strict=True):
        ax.axvline(x, color="#333333", lw=0.8, zorder=3)
        for tick, text in zip(col.ticks, col.labels, strict=True):
            y = (tick - col.lo) / (col.hi - col.lo)
            ax.plot([x - 0.03, x], [y, y], color="#333333", lw=0.8, zorder=3)
            ax.text(
                x - 0.05,
                y,
                text,
                ha="right",
                va="center",
                fontsize=7.5,
                zorder=5,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
            )
    ax.set_xticks(xs, [c.title.replace(" (log scale)", "\n(log scale)") for c in columns], fontsize=9)
    ax.set_xlim(-0.45, len(columns) - 0.75)
    ax.set_ylim(min(c.normalized().min() for c in columns) - 0.04, 1.04)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    _colour_bar(fig, lines, ax, data, values, fraction=0.03)
    left_out = len(data.trials) - int(done.sum())
    note = f"{int(done.sum()):,} complete trials" + (
        f"; {left_out:,} pruned/failed/other not drawn" if left_out else ""
    )
    ax.set_title(_title(data, "Parallel coordinates") + f"\n{note}", fontsize=12)
    return fig


# -- intermediate_values.png ------------------------------------------------------------------------------
def draw_intermediate(data: ReportData) -> Figure | str:
    if not data.curves:
        return "no trial reported intermediate values (trial.report(value, step) or run.log(..., step=...))"
    fig = _figure()
    ax = fig.add_subplot()
    many = len(data.curves) > 200
    handles = []
    for state in CURVE_ORDER:
        curves = [c for c in data.curves if c.state == state]
        if not curves:
            continue
        s = STATES[state]
        segments = [np.column_stack([c.steps, c.values]) for c in curves]
        alpha = 0.15 if many else 0.6
        ax.add_collection(LineCollection(segments, colors=s.colour, linewidths=0.8, alpha=alpha, rasterized=True))
        if state != "COMPLETE":  # where each stopped trial stopped
            ends = np.array([[c.steps[-1], c.values[-1]] for c in curves])
            ax.scatter(
                ends[:, 0],
                ends[:, 1],
                s=8 if many else 22,
                marker=s.marker,
                color=s.colour,
                alpha=0.7,
                linewidths=0,
                rasterized=True,
            )
        total = data.count(state)
        shown = f"{len(curves):,} of {total:,}" if len(curves) != total else f"{total:,}"
        handles.append(
            Line2D(
                [],
                [],
                color=s.colour,
                marker=None if state == "COMPLETE" else s.marker,
                lw=1.5,
                label=f"{s.name} ({shown})",
            )
        )
    best = data.result.best_trial
    best_curve = next((c for c in data.curves if best is not None and c.number == best.number), None)
    if best_curve is not None:
        ax.plot(best_curve.steps, best_curve.values, color=BEST, lw=2.2, zorder=5)
        handles.append(Line2D([], [], color=BEST, lw=2.2, label=f"best: trial {best_curve.number}"))
    ax.autoscale_view()
    reported = np.concatenate([c.values for c in data.curves])
    logged = _metric_scale(ax, reported)
    if not logged:
        _robust_ylim(ax, reported)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel(f"reported {data.metric}" + (", log scale" if logged else ""))
    sub = f"\n{data.curves_note}" if data.curves_note else ""
    ax.set_title(_title(data, "Learning curves (intermediate values)") + sub, fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="best", fontsize=9, framealpha=0.9)
    return fig


def _robust_ylim(ax: Axes, values: np.ndarray) -> None:
    """Keep a few wild values (a diverged run at 1e6) from flattening every other curve: the limits cover
    the 0.5-99.5% range; the wild ones still run off the edge, visibly."""
    v = values[np.isfinite(values)]
    if v.size < 50:
        return
    lo, hi = np.percentile(v, [0.5, 99.5])
    full_lo, full_hi = float(v.min()), float(v.max())
    if (full_hi - full_lo) > 3 * (hi - lo) > 0:
        pad = 0.05 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)


# -- slice.png ----------------------------------------------------------------------------------------------
def draw_slice(data: ReportData) -> Figure | str:
    done = data.done
    if not done.any():
        return data.no_finished_text()
    axes = data.top_axes(2)
    if not axes:
        return "no searched parameter to slice along"
    fig = _figure(5.0 * len(axes) + 1.0, 4.6)
    plots = fig.subplots(1, len(axes), sharey=True, squeeze=False)[0]
    numbers, values = data.number[done], data.value[done]
    cmap = "viridis"
    scatter = None
    for i, (ax, axis) in enumerate(zip(plots, axes, strict=True)):
        coords = data.coords(axis)[done]
        ok = np.isfinite(coords)
        scatter = ax.scatter(
            spread(coords[ok], axis, i),
            values[ok],
            c=numbers[ok],
            cmap=cmap,
            s=_marker_size(int(ok.sum())),
            alpha=0.8,
            linewidths=0,
            rasterized=True,
        )
        _scale(ax, axis)
        best = data.result.best_trial
        if best is not None and axis.name in data.flat[data.trials.index(best)]:
            bx = axis.coords([data.flat[data.trials.index(best)][axis.name]])
            _best_star(ax, bx, [best.value], f"best: trial {best.number}")
        share = data.importance.values.get(axis.name)
        ax.set_xlabel(axis.label + (f" — importance {share:.0%}" if share is not None else ""))
        ax.grid(alpha=0.3)
        inactive = int((~ok).sum())
        if inactive:
            ax.set_title(f"{inactive:,} trials without {axis.name} not shown", fontsize=9, color="#555555")
    logged = _metric_scale(plots[0], values)
    plots[0].set_ylabel(f"{data.metric} ({data.result.goal})" + (", log scale" if logged else ""))
    # The best trial's star is on the plots of the parameters it has (a conditional space: maybe not the first).
    starred = next((ax for ax in plots if ax.get_legend_handles_labels()[0]), None)
    if starred is not None:
        starred.legend(loc="best", fontsize=9)
    if scatter is not None:
        fig.colorbar(scatter, ax=list(plots), pad=0.01, fraction=0.04).set_label("trial number")
    which = "most important parameters" if data.importance.values else "first parameters"
    fig.suptitle(_title(data, f"{data.metric} along the {which} (complete trials)"), fontsize=12)
    return fig


# -- contour.png --------------------------------------------------------------------------------------------
def draw_contour(data: ReportData) -> Figure | str:
    if not data.done.any():
        return data.no_finished_text()
    axes = data.top_axes(2)
    if len(axes) < 2:
        return "one searched parameter: a contour needs two (see slice.png)"
    ax_x, ax_y = axes
    land = landscape(data, ax_x, ax_y)
    if isinstance(land, str):
        return land
    fig = _figure(8.0, 6.0)
    ax = fig.add_subplot()
    cmap = colormap(data.maximize)
    values = data.value[data.done]
    norm, extend = _norm(data, values), _extend(data, values)
    filled: ScalarMappable
    if land.kind == "interpolated":
        assert norm.vmin is not None and norm.vmax is not None
        space = np.geomspace if isinstance(norm, LogNorm) else np.linspace
        levels = space(norm.vmin, norm.vmax, 15)
        filled = ax.contourf(land.x, land.y, land.z, levels=levels, cmap=cmap, norm=norm, extend=extend)
        ax.contour(land.x, land.y, land.z, levels=levels, colors="white", linewidths=0.3, alpha=0.5)
        how = "interpolated between complete trials"
    else:
        assert land.x_edges is not None and land.y_edges is not None
        mesh = np.ma.masked_invalid(land.z)
        filled = ax.pcolormesh(land.x_edges, land.y_edges, mesh, cmap=cmap, norm=norm, shading="flat")
        how = "mean of the complete trials in each cell" + ("; blank cells have none" if np.isnan(land.z).any() else "")
    done = data.done
    px, py = data.coords(ax_x)[done], data.coords(ax_y)[done]
    ax.scatter(
        spread(px, ax_x, 1),
        spread(py, ax_y, 2),
        s=min(_marker_size(int(done.sum())), 16),
        c="black",
        alpha=0.5,
        linewidths=0,
        label="complete trials",
        rasterized=True,
    )
    best = data.result.best_trial
    if best is not None:
        flat = data.flat[data.trials.index(best)]
        bx, by = ax_x.coords([flat.get(ax_x.name)]), ax_y.coords([flat.get(ax_y.name)])
        ax.scatter(
            bx, by, marker="*", s=300, color=BEST, edgecolors="white", zorder=5, label=f"best: trial {best.number}"
        )
    _scale(ax, ax_x, "x")
    _scale(ax, ax_y, "y")
    _pad(ax, ax_x, px, "x")
    _pad(ax, ax_y, py, "y")
    ax.set_xlabel(ax_x.label)
    ax.set_ylabel(ax_y.label)
    _colour_bar(fig, filled, ax, data, values)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    which = "the two most important parameters" if data.importance.values else "the first two parameters"
    ax.set_title(_title(data, f"{data.metric} over {which}") + f"\n{how}", fontsize=12)
    return fig


def _pad(ax: Axes, axis: Axis, coords: np.ndarray, which: str) -> None:
    """Room around the outermost trials, so their markers are not cut in half by the frame."""
    if axis.categorical:
        return
    t = coords[np.isfinite(coords)]
    if axis.log:
        t = np.log10(t)
    lo, hi = float(t.min()), float(t.max())
    pad = 0.03 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    if axis.log:
        lo, hi = 10**lo, 10**hi
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)


# -- timeline.png -------------------------------------------------------------------------------------------
def draw_timeline(data: ReportData) -> Figure | str:
    started = ran(data)
    if not started:
        return "no trial has started yet"
    labels, lane_of = lanes(data)
    now = datetime.now(started[0].start.tzinfo)  # type: ignore[union-attr]  # Optuna's times are naive local
    x0 = mdates.date2num([t.start for t in started])
    x1 = mdates.date2num([t.end or (now if t.state == "RUNNING" else t.start) for t in started])
    lane = np.array([lane_of[t.number] for t in started])
    state = np.array([t.state for t in started], dtype=object)
    begin, finish = float(x0.min()), float(x1.max())
    span = max(finish - begin, 1e-9)
    width = np.maximum(x1 - x0, span * 0.002)  # a very short trial stays visible
    fig = _figure(10.0, min(2.0 + 0.35 * len(labels), 9.0))
    ax = fig.add_subplot()
    handles = []
    # White edges part neighbouring trials, unless a lane holds so many that the edges would hide the colours.
    edge = {"edgecolors": "white", "linewidth": 0.3} if len(started) / len(labels) < 300 else {"linewidth": 0}
    for name, s in STATES.items():
        of_state = state == name
        if not of_state.any():
            continue
        for row in range(len(labels)):
            chosen = of_state & (lane == row)
            if chosen.any():
                bars = list(zip(x0[chosen], width[chosen], strict=True))
                ax.broken_barh(bars, (row - 0.38, 0.76), facecolors=s.colour, rasterized=True, **edge)
        handles.append(Line2D([], [], color=s.colour, lw=8, label=f"{s.name} ({int(of_state.sum()):,})"))
    ax.set_yticks(range(len(labels)), labels if len(labels) <= MAX_LANES_LABELLED else [""] * len(labels), fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(begin - span * 0.01, finish + span * 0.01)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time")
    ax.set_ylabel("worker")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(handles), fontsize=9, frameon=False
    )
    wall = duration_text(span * 86400)
    lanes_text = "1 worker" if len(labels) == 1 else f"{len(labels)} workers"
    fig.suptitle(_title(data, f"Timeline: {len(started):,} trials on {lanes_text} over {wall}"), fontsize=12)
    return fig


class Spec(NamedTuple):
    """One figure of the report: its file (`<name>.png`), its section in report.html (`key`), and how to draw it."""

    name: str
    key: str
    title: str
    about: str
    draw: Callable[[ReportData], Figure | str]


class Drawn(NamedTuple):
    """A figure drawn: the PNG's bytes (written to `<name>.png` and shown in report.html), and when there was
    nothing to draw or it failed, the sentence saying why (the image says it too)."""

    spec: Spec
    png: bytes
    message: str | None


FIGURES = [
    Spec(
        "tuning_history",
        "history",
        "Tuning history",
        "The metric of every trial, with the best value so far. Pruned trials show the last value they "
        "reported; failed ones sit on the bottom edge.",
        draw_history,
    ),
    Spec(
        "param_importance",
        "importance",
        "Parameter importance",
        "How much each parameter decides whether a trial is among the best (Optuna's evaluator, named in the title).",
        draw_importance,
    ),
    Spec(
        "parallel_coordinates",
        "parallel",
        "Parallel coordinates",
        "One line per complete trial across every parameter, coloured by the metric (brighter is better).",
        draw_parallel,
    ),
    Spec(
        "intermediate_values",
        "curves",
        "Learning curves",
        "What each trial reported step by step; a marker shows where a pruned or failed trial stopped.",
        draw_intermediate,
    ),
    Spec(
        "slice",
        "slice",
        "Slice",
        "The metric against each of the two most important parameters, coloured by trial number: where the "
        "search went over time.",
        draw_slice,
    ),
    Spec("contour", "contour", "Contour", "The metric over the two most important parameters together.", draw_contour),
    Spec("timeline", "timeline", "Timeline", "When each trial ran, on which worker, and how it ended.", draw_timeline),
]


def figures(data: ReportData) -> list[Spec]:
    """The figures this sweep gets: a multi-objective sweep's Pareto front first, cross-validation folds last."""
    from sweepkit.report._folds import FOLDS, has_folds
    from sweepkit.report._pareto import PARETO

    return [*([PARETO] if data.result.objectives else []), *FIGURES, *([FOLDS] if has_folds(data) else [])]


def draw_all(data: ReportData) -> list[Drawn]:
    """Every figure as PNG bytes. A figure that fails to draw becomes an image saying so (and a note), so one
    bad figure never costs the others or the run's results."""
    drawn = []
    for spec in figures(data):
        try:
            fig = spec.draw(data)
        except Exception as exc:
            data.notes.append(f"{spec.name}.png could not be drawn: {type(exc).__name__}: {exc}")
            fig = f"could not be drawn: {type(exc).__name__}: {exc}"
        message = fig if isinstance(fig, str) else None
        if isinstance(fig, str):
            fig = _message(_title(data, spec.title), fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
        drawn.append(Drawn(spec, buffer.getvalue(), message))
    return drawn


def write_pngs(drawn: list[Drawn], folder: Path) -> list[Path]:
    """Each figure as `<name>.png`, replaced atomically (a reader never sees half a file)."""
    written = []
    for figure in drawn:
        path = folder / f"{figure.spec.name}.png"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(figure.png)
        tmp.replace(path)
        written.append(path)
    return written


__all__ = ["FIGURES", "Drawn", "Spec", "draw_all", "figures", "write_pngs"]

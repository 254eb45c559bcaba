"""`report.html`: one self-contained page with every figure (interactive, plotly), the summaries and a
sortable table of all trials. It works offline: plotly.js is inlined once in the page's head, and nothing
is fetched from anywhere (no CDN, no fonts, no MathJax).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sweepkit.report._data import (
    Axis,
    ReportData,
    colour_limits,
    column,
    discrete,
    label,
    landscape,
    lanes,
    log_worthy,
    ran,
    spread,
)
from sweepkit.report._folds import folds_table
from sweepkit.report._png import parallel_columns
from sweepkit.report._style import BEST, BEST_SO_FAR, CURVE_ORDER, STATES
from sweepkit.report._text import TOP_K, fmt, resource_rows, time_rows
from sweepkit.results import atomic_write
from sweepkit.results._folds import violations
from sweepkit.space import flatten

CONFIG = {"displaylogo": False, "responsive": True}
TEMPLATE = "plotly_white"
MAX_HOVER_PARAMS = 160  # characters of params shown when hovering a trial in the history


def _colorscale(maximize: bool) -> tuple[str, bool]:
    """Brighter is better, as in the PNGs: plotly's Viridis ends bright at high values."""
    return "Viridis", not maximize


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        height=height,
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    )
    return fig


def _f32(values: Any) -> np.ndarray:
    """Plot data as float32: plotly writes numpy arrays as base64, 4 bytes a value instead of ~18 as text."""
    return np.asarray(values, dtype=np.float32)


def _i32(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)


def _axis_layout(axis: Axis, coords: np.ndarray | None = None) -> dict[str, Any]:
    if axis.log:
        return {"type": "log", "exponentformat": "power", "title": {"text": axis.label}}
    if axis.categorical:
        n = len(axis.categories)
        return {
            "tickvals": list(range(n)),
            "ticktext": list(axis.categories),
            "range": [-0.5, n - 0.5],
            "title": {"text": axis.name},
        }
    if axis.integer and coords is not None:
        values = discrete(axis, coords)
        if values is not None:  # an int's few values, each labelled (never 1.5 layers)
            return {"tickvals": values.tolist(), "title": {"text": axis.name}}
        return {"tickformat": "d", "title": {"text": axis.name}}
    return {"title": {"text": axis.name}}


def _size(n: int) -> int:
    return 7 if n <= 300 else 5 if n <= 3000 else 4


@dataclass
class Colours:
    """The metric as colour, as in the PNGs: log10 of it when it spans more than 30x (the colour bar still
    reads in the metric's own values), the bad end cut past a few outliers."""

    transform: Callable[[np.ndarray], np.ndarray]
    cmin: float
    cmax: float
    bar: dict[str, Any]


def colours(data: ReportData, values: np.ndarray) -> Colours:
    lo, hi = colour_limits(values, data.maximize)
    bar: dict[str, Any] = {"title": {"text": data.metric}}
    if log_worthy(values) and lo > 0:
        ticks = column(data.metric, Axis(data.metric, "log"), np.array([lo, hi]))
        bar.update(tickvals=ticks.ticks, ticktext=ticks.labels)
        return Colours(lambda v: np.log10(np.where(v > 0, v, np.nan)), math.log10(lo), math.log10(hi), bar)
    return Colours(lambda v: v, lo, hi, bar)


def _metric_axis(fig: go.Figure, values: np.ndarray, title: str, **where: Any) -> None:
    logged = log_worthy(values)
    fig.update_yaxes(title_text=title + (", log scale" if logged else ""), **where)
    if logged:
        v = values[np.isfinite(values) & (values > 0)]
        few = math.log10(v.max() / v.min()) < 3  # label 1-2-5 under three decades, as the PNGs do
        fig.update_yaxes(type="log", exponentformat="power", dtick="D2" if few else None, **where)


# -- figures --------------------------------------------------------------------------------------------
def fig_history(data: ReportData) -> go.Figure | str:
    done = data.done
    pruned = (data.state == "PRUNED") & np.isfinite(data.value)
    if not done.any() and not pruned.any():
        return data.no_finished_text()
    fig = go.Figure()
    hover = "trial %{customdata}<br>%{y:.6g}<br>%{text}<extra>%{fullData.name}</extra>"
    for state, mask in (("PRUNED", pruned), ("COMPLETE", done)):
        if not mask.any():
            continue
        s = STATES[state]
        text = [_params_text(data.flat[i]) for i in np.flatnonzero(mask)]
        name = f"{s.name} ({mask.sum():,})" + (", last reported value" if state == "PRUNED" else "")
        fig.add_trace(
            go.Scatter(
                x=_i32(data.number[mask]),
                y=_f32(data.value[mask]),
                mode="markers",
                name=name,
                marker={
                    "color": s.colour,
                    "symbol": s.symbol,
                    "size": _size(len(data.trials)),
                    "opacity": 0.55 if state == "PRUNED" else 0.85,
                },
                customdata=_i32(data.number[mask]),
                text=text,
                hovertemplate=hover,
            )
        )
    if done.any():
        order = np.argsort(data.number[done], kind="stable")
        xs, ys = data.number[done][order], data.value[done][order]
        best_so_far = np.maximum.accumulate(ys) if data.maximize else np.minimum.accumulate(ys)
        fig.add_trace(
            go.Scatter(
                x=_i32(np.append(xs, data.number.max())),
                y=_f32(np.append(best_so_far, best_so_far[-1])),
                mode="lines",
                line={"shape": "hv", "color": BEST_SO_FAR, "width": 2},
                name="best so far",
                hoverinfo="skip",
            )
        )
        best = data.result.best_trial
        if best is not None:
            fig.add_trace(
                go.Scatter(
                    x=[best.number],
                    y=[best.value],
                    mode="markers",
                    name=f"best: trial {best.number}",
                    marker={"symbol": "star", "size": 16, "color": BEST, "line": {"color": "white", "width": 1}},
                )
            )
    valued = data.value[done | pruned]
    if log_worthy(valued):
        floor = float(valued.min() / 1.3)
    else:
        floor = float(valued.min() - 0.04 * (valued.max() - valued.min() or 1.0))
    for state in ("FAILED", "INTERRUPTED", "INFEASIBLE"):
        mask = data.state == state
        if mask.any():
            s = STATES[state]
            errors = [_first_line(data.trials[i].error) for i in np.flatnonzero(mask)]
            fig.add_trace(
                go.Scatter(
                    x=_i32(data.number[mask]),
                    y=_f32(np.full(mask.sum(), floor)),
                    mode="markers",
                    name=f"{s.name} ({mask.sum():,}), no value",
                    text=errors,
                    marker={"color": s.colour, "symbol": s.symbol, "size": 7},
                    hovertemplate="trial %{x}<br>%{text}<extra></extra>",
                )
            )
    fig.update_xaxes(title_text="trial")
    _metric_axis(fig, valued, f"{data.metric} ({data.result.goal})")
    return _layout(fig, f"{data.metric} per trial")


def _params_text(flat: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={fmt(v)}" for k, v in flat.items())
    return text if len(text) <= MAX_HOVER_PARAMS else text[: MAX_HOVER_PARAMS - 1] + "…"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if text and text.strip() else ""


def fig_importance(data: ReportData) -> go.Figure | str:
    imp = data.importance
    if not imp.values:
        return f"Parameter importance ({imp.title}): {'; '.join(imp.notes) or 'nothing to rank'}."
    names = list(imp.values)[::-1]
    kinds = {a.name: a for a in data.axes}
    shares = [imp.values[n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=shares,
            y=[kinds[n].label if n in kinds else n for n in names],
            orientation="h",
            text=[f"{s:.1%}" for s in shares],
            textposition="outside",
            marker_color="#1f77b4",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(
        title_text="share of importance (the shares sum to 100%)", tickformat=".0%", range=[0, max(shares) * 1.18]
    )
    return _layout(fig, f"Parameter importance for {data.metric}: {imp.title}", 170 + 34 * len(names))


def fig_parallel(data: ReportData) -> go.Figure | str:
    done = data.done
    if not done.any():
        return data.no_finished_text()
    if not data.axes:
        return "no searched parameter: nothing to draw across"
    scale, reverse = _colorscale(data.maximize)
    tint = colours(data, data.value[done])
    dims = [
        {"label": c.title, "values": _f32(c.t), "range": [c.lo, c.hi], "tickvals": c.ticks, "ticktext": c.labels}
        for c in parallel_columns(data)
    ]
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": _f32(tint.transform(data.value[done])),
                "cmin": tint.cmin,
                "cmax": tint.cmax,
                "colorscale": scale,
                "reversescale": reverse,
                "showscale": True,
                "colorbar": tint.bar,
            },
        )
    )
    left_out = len(data.trials) - int(done.sum())
    note = f"{int(done.sum()):,} complete trials" + (
        f"; {left_out:,} pruned/failed/other not drawn" if left_out else ""
    )
    fig = _layout(fig, f"Parallel coordinates ({note}); drag along an axis to filter", 500)
    fig.update_layout(margin={"l": 90, "r": 40, "t": 100, "b": 40})
    return fig


def fig_intermediate(data: ReportData) -> go.Figure | str:
    if not data.curves:
        return "no trial reported intermediate values (trial.report(value, step) or run.log(..., step=...))"
    fig = go.Figure()
    many = len(data.curves) > 200
    for state in CURVE_ORDER:
        curves = [c for c in data.curves if c.state == state]
        if not curves:
            continue
        s = STATES[state]
        # One trace per state, curves separated by NaN gaps: one SVG path instead of thousands of traces.
        xs = np.concatenate([np.append(c.steps, np.nan) for c in curves])
        ys = np.concatenate([np.append(c.values, np.nan) for c in curves])
        who = np.concatenate([np.full(len(c.steps) + 1, c.number) for c in curves])
        total = data.count(state)
        shown = f"{len(curves):,} of {total:,}" if len(curves) != total else f"{total:,}"
        fig.add_trace(
            go.Scatter(
                x=_f32(xs),
                y=_f32(ys),
                customdata=_i32(who),
                mode="lines",
                name=f"{s.name} ({shown})",
                line={"color": s.colour, "width": 1},
                opacity=0.25 if many else 0.7,
                hovertemplate="trial %{customdata}<br>step %{x}: %{y:.6g}<extra></extra>",
            )
        )
        if state != "COMPLETE":
            fig.add_trace(
                go.Scatter(
                    x=_f32([c.steps[-1] for c in curves]),
                    y=_f32([c.values[-1] for c in curves]),
                    customdata=_i32([c.number for c in curves]),
                    mode="markers",
                    showlegend=False,
                    marker={"color": s.colour, "symbol": s.symbol, "size": 6},
                    name=f"{s.name}: stopped",
                    hovertemplate="trial %{customdata} stopped at step %{x}<extra></extra>",
                )
            )
    best = data.result.best_trial
    best_curve = next((c for c in data.curves if best is not None and c.number == best.number), None)
    if best_curve is not None:
        fig.add_trace(
            go.Scatter(
                x=_f32(best_curve.steps),
                y=_f32(best_curve.values),
                mode="lines",
                name=f"best: trial {best_curve.number}",
                line={"color": BEST, "width": 3},
            )
        )
    fig.update_xaxes(title_text="step")
    _metric_axis(fig, np.concatenate([c.values for c in data.curves]), f"reported {data.metric}")
    title = "Learning curves (intermediate values)" + (f": {data.curves_note}" if data.curves_note else "")
    return _layout(fig, title)


def fig_slice(data: ReportData) -> go.Figure | str:
    done = data.done
    if not done.any():
        return data.no_finished_text()
    axes = data.top_axes(2)
    if not axes:
        return "no searched parameter to slice along"
    fig = make_subplots(rows=1, cols=len(axes), shared_yaxes=True, horizontal_spacing=0.06)
    numbers, values = data.number[done], data.value[done]
    for i, axis in enumerate(axes):
        coords = data.coords(axis)[done]
        ok = np.isfinite(coords)
        fig.add_trace(
            go.Scatter(
                x=_f32(spread(coords[ok], axis, i)),
                y=_f32(values[ok]),
                mode="markers",
                customdata=_i32(numbers[ok]),
                showlegend=False,
                name=axis.name,
                marker={
                    "color": _i32(numbers[ok]),
                    "colorscale": "Viridis",
                    "size": _size(int(ok.sum())),
                    "opacity": 0.8,
                    "showscale": i == 0,
                    "colorbar": {"title": {"text": "trial"}},
                },
                hovertemplate="trial %{customdata}<br>%{y:.6g}<extra></extra>",
            ),
            row=1,
            col=i + 1,
        )
        layout = _axis_layout(axis, coords)
        share = data.importance.values.get(axis.name)
        if share is not None:
            layout["title"] = {"text": f"{layout['title']['text']} (importance {share:.0%})"}
        fig.update_xaxes(layout, row=1, col=i + 1)
    _metric_axis(fig, values, f"{data.metric} ({data.result.goal})", row=1, col=1)
    if log_worthy(values):  # shared y: every panel on the same log scale
        fig.update_yaxes(type="log")
    which = "most important parameters" if data.importance.values else "first parameters"
    return _layout(fig, f"{data.metric} along the {which} (complete trials)")


def fig_contour(data: ReportData) -> go.Figure | str:
    if not data.done.any():
        return data.no_finished_text()
    axes = data.top_axes(2)
    if len(axes) < 2:
        return "one searched parameter: a contour needs two (see the slice above)"
    ax_x, ax_y = axes
    land = landscape(data, ax_x, ax_y)
    if isinstance(land, str):
        return land
    scale, reverse = _colorscale(data.maximize)
    tint = colours(data, data.value[data.done])
    span = {"zmin": tint.cmin, "zmax": tint.cmax, "zauto": False, "colorbar": tint.bar}
    if land.kind == "interpolated":
        step = (tint.cmax - tint.cmin) / 14 or 1.0
        surface = go.Contour(
            x=_f32(land.x),
            y=_f32(land.y),
            z=_f32(tint.transform(land.z)),
            colorscale=scale,
            reversescale=reverse,
            autocontour=False,
            contours={"start": tint.cmin, "end": tint.cmax, "size": step},
            hoverinfo="skip",
            connectgaps=False,
            **span,
        )
        how = "interpolated between complete trials"
    else:
        surface = go.Heatmap(
            x=_f32(land.x_edges),
            y=_f32(land.y_edges),
            z=_f32(tint.transform(land.z)),
            customdata=_f32(land.z),
            colorscale=scale,
            reversescale=reverse,
            hovertemplate="mean %{customdata:.6g}<extra></extra>",
            **span,
        )
        how = "mean of the complete trials in each cell"
    fig = go.Figure(surface)
    done = data.done
    fig.add_trace(
        go.Scatter(
            x=_f32(spread(data.coords(ax_x)[done], ax_x, 1)),
            y=_f32(spread(data.coords(ax_y)[done], ax_y, 2)),
            mode="markers",
            name="complete trials",
            customdata=_i32(data.number[done]),
            text=_f32(data.value[done]),
            marker={"color": "black", "size": 4, "opacity": 0.5},
            hovertemplate="trial %{customdata}: %{text:.6g}<extra></extra>",
        )
    )
    best = data.result.best_trial
    if best is not None:
        flat = data.flat[data.trials.index(best)]
        fig.add_trace(
            go.Scatter(
                x=ax_x.coords([flat.get(ax_x.name)]),
                y=ax_y.coords([flat.get(ax_y.name)]),
                mode="markers",
                name=f"best: trial {best.number}",
                marker={"symbol": "star", "size": 16, "color": BEST, "line": {"color": "white", "width": 1}},
            )
        )
    fig.update_xaxes(_axis_layout(ax_x, data.coords(ax_x)))
    fig.update_yaxes(_axis_layout(ax_y, data.coords(ax_y)))
    which = "the two most important parameters" if data.importance.values else "the first two parameters"
    return _layout(fig, f"{data.metric} over {which} ({how})", 560)


def fig_timeline(data: ReportData) -> go.Figure | str:
    started = ran(data)
    if not started:
        return "no trial has started yet"
    labels, lane_of = lanes(data)
    now = datetime.now(started[0].start.tzinfo)  # type: ignore[union-attr]  # Optuna's times are naive local
    fig = go.Figure()
    for state, s in STATES.items():
        chosen = [t for t in started if t.state == state]
        if not chosen:
            continue
        ends = [t.end or (now if state == "RUNNING" else t.start) for t in chosen]
        ms = [max((e - t.start).total_seconds() * 1000, 1.0) for t, e in zip(chosen, ends, strict=True)]  # type: ignore[operator]
        fig.add_trace(
            go.Bar(
                base=[t.start.isoformat() for t in chosen],
                x=_f32(ms),  # type: ignore[union-attr]
                y=[labels[lane_of[t.number]] for t in chosen],
                orientation="h",
                name=f"{s.name} ({len(chosen):,})",
                marker={"color": s.colour, "line": {"width": 0}},
                customdata=_i32([t.number for t in chosen]),
                hovertemplate="trial %{customdata}<br>%{base|%H:%M:%S} + %{x:,.0f} ms<extra></extra>",
            )
        )
    fig.update_xaxes(type="date", title_text="time")
    fig.update_yaxes(title_text="worker", categoryorder="array", categoryarray=labels[::-1], type="category")
    fig.update_layout(barmode="overlay", bargap=0.25)
    lanes_text = "1 worker" if len(labels) == 1 else f"{len(labels)} workers"
    return _layout(fig, f"Timeline: {len(started):,} trials on {lanes_text}", min(220 + 28 * len(labels), 900))


FIGURES: list[tuple[str, str, str, Callable[[ReportData], go.Figure | str]]] = [
    (
        "history",
        "Tuning history",
        "The metric of every trial, with the best value so far. Pruned trials show "
        "the last value they reported; failed ones sit on the bottom edge.",
        fig_history,
    ),
    (
        "importance",
        "Parameter importance",
        "How much each parameter decides whether a trial is among the best (Optuna's evaluator, named in the title).",
        fig_importance,
    ),
    (
        "parallel",
        "Parallel coordinates",
        "One line per complete trial across every parameter, coloured by the metric (brighter is better).",
        fig_parallel,
    ),
    (
        "curves",
        "Learning curves",
        "What each trial reported step by step; a marker shows where a pruned or failed trial stopped.",
        fig_intermediate,
    ),
    (
        "slice",
        "Slice",
        "The metric against each of the two most important parameters, coloured by trial "
        "number: where the search went over time.",
        fig_slice,
    ),
    ("contour", "Contour", "The metric over the two most important parameters together.", fig_contour),
    ("timeline", "Timeline", "When each trial ran, on which worker, and how it ended.", fig_timeline),
]


# -- tables ---------------------------------------------------------------------------------------------
def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _top_table(data: ReportData) -> str:
    top = data.result.top(TOP_K)
    if not top:
        return ""
    names = list(dict.fromkeys(n for t in top for n in flatten(t.params)))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["rank", "trial", data.metric, *names])
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in [str(r), str(t.number), fmt(t.value), *(fmt(flatten(t.params).get(n)) for n in names)]
        )
        + "</tr>"
        for r, t in enumerate(top, 1)
    )
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _trials_table(data: ReportData) -> str:
    """Every trial, one row each; columns sort on a click (the script at the end of the page)."""
    params = list(dict.fromkeys(n for p in data.flat for n in p))
    metrics = list(
        dict.fromkeys(k for t in data.trials for k, v in t.metrics.items() if k != data.metric and _scalar(v))
    )
    workers = any(t.worker for t in data.trials)
    head = [
        "trial",
        "state",
        data.metric,
        "seconds",
        "start",
        *(["worker"] if workers else []),
        *params,
        *metrics,
        "reason / error",
    ]
    out = ['<table class="grid sortable" id="trials"><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    esc = html.escape
    for t, flat in zip(data.trials, data.flat, strict=True):
        cells = [
            str(t.number),
            t.state if t.feasible else f"{t.state} (infeasible: {violations(t.constraints)})",
            fmt(t.value),
            f"{t.duration:.3f}" if t.duration is not None else "",
            t.start.isoformat(sep=" ", timespec="seconds") if t.start else "",
            *([t.worker or ""] if workers else []),
            *(_cell(flat.get(n)) for n in params),
            *(_cell(t.metrics.get(m)) for m in metrics),
            t.reason or _first_line(t.error),
        ]
        out.append(f'<tr class="{t.state.lower()}"><td>' + "</td><td>".join(esc(c) for c in cells) + "</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, int | float | str | bool)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return fmt(value) if isinstance(value, int | float) else label(value)


# -- the page -------------------------------------------------------------------------------------------
def write_html(data: ReportData, path: Path, files: list[str]) -> None:
    r = data.result
    best = r.best_trial
    overview = [
        ("metric", f"{r.metric} ({r.goal})"),
        ("strategy", f"{r.strategy}" + (f" ({r.strategy_reason})" if r.strategy_reason else "")),
        ("trials", f"{len(r.trials):,} ({data.counts_text()})"),
    ]
    if r.stop_reason:
        overview.append(("stopped", r.stop_reason))
    if best is not None:
        overview.append(("best", f"trial {best.number}: {r.metric} = {fmt(best.value)}"))
        overview += [(f"  {k}", fmt(v)) for k, v in flatten(best.params).items()]
    parts = [f"<h1>Sweep {html.escape(r.name)}</h1>"]
    if best is None:
        parts.append(f'<p class="empty big">{html.escape(data.no_finished_text())}</p>')
    parts.append(_kv_table(overview))
    nav = ['<a href="#summary">summary</a>']
    figures = []
    shown = FIGURES + _fold_figure(data)
    if r.objectives:  # a multi-objective sweep: its Pareto front first
        from sweepkit.report._pareto import HTML

        shown = [*HTML, *shown]
    for key, title, about, build in shown:
        try:
            fig = build(data)
        except Exception as exc:  # one figure failing never costs the page
            data.notes.append(f"report.html {title.lower()} could not be drawn: {type(exc).__name__}: {exc}")
            fig = f"could not be drawn: {type(exc).__name__}: {exc}"
        nav.append(f'<a href="#{key}">{title.lower()}</a>')
        if isinstance(fig, str):
            body = f'<p class="empty">{html.escape(fig)}</p>'
        else:
            body = to_html(fig, full_html=False, include_plotlyjs=False, config=CONFIG, div_id=f"fig-{key}")
        if key == "folds":
            body += folds_table(data)
        if key == "importance" and data.importance.values:
            body += "".join(f'<p class="about">note: {html.escape(n)}</p>' for n in data.importance.notes)
        figures.append(f'<section id="{key}"><h2>{title}</h2><p class="about">{html.escape(about)}</p>{body}</section>')
    nav += ['<a href="#top">best trials</a>', '<a href="#resources">resources</a>', '<a href="#trials">all trials</a>']
    parts.append(f'<nav id="summary">{" · ".join(nav)}</nav>')
    parts += figures
    top = _top_table(data)
    parts.append(f'<section id="top"><h2>Best {len(r.top(TOP_K))} trials</h2>{top or _empty(data)}</section>')
    res = [*time_rows(data), *resource_rows(data)]
    parts.append(f'<section id="resources"><h2>Time and resources</h2>{_kv_table(res)}</section>')
    if data.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
        parts.append(f'<section id="notes"><h2>Notes</h2><ul>{notes}</ul></section>')
    parts.append(
        f'<section id="trials-section"><h2>All trials</h2><p class="about">Click a column to sort it; type to '
        f'keep the rows that contain the text. <input id="filter" placeholder="filter, e.g. pruned"></p>'
        f'<div class="scroll">{_trials_table(data)}</div></section>'
    )
    listed = ", ".join(html.escape(f) for f in files)
    made = datetime.now(UTC).isoformat(sep=" ", timespec="seconds")
    parts.append(f"<footer>Written by sweepkit report at {made} UTC, next to: {listed}.</footer>")
    page = _PAGE.format(title=html.escape(f"sweep {r.name}: report"), plotly=get_plotlyjs(), body="\n".join(parts))
    atomic_write(path, page)


def _fold_figure(data: ReportData) -> list[tuple[str, str, str, Callable[[ReportData], go.Figure | str]]]:
    """The cross-validation section, for a sweep whose trials reported folds."""
    from sweepkit.report._folds import fig_folds, has_folds

    if not has_folds(data):
        return []
    about = (
        "The metric in each cross-validation fold: the best complete trials, pruned ones up to the fold that "
        "stopped them, and (dashed) complete ones that violated a constraint they reported."
    )
    return [("folds", "Folds", about, fig_folds)]


def _empty(data: ReportData) -> str:
    return f'<p class="empty">{html.escape(data.no_finished_text())}</p>'


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0 auto;max-width:1280px;padding:12px 24px;color:#222}
h1{margin:8px 0 12px}
h2{margin:28px 0 4px;border-bottom:1px solid #ddd;padding-bottom:2px}
nav{margin:12px 0;padding:8px 0;border-top:1px solid #eee;border-bottom:1px solid #eee}
nav a{color:#1f77b4}
.about{color:#555;margin:2px 0 8px}
.empty{background:#fff8e1;border-left:4px solid #f0b400;padding:10px 14px}
.big{font-size:16px}
table{border-collapse:collapse}
table.kv th{text-align:left;padding:2px 14px 2px 0;font-weight:600;white-space:pre}
table.grid{font-size:12.5px}
table.grid th,table.grid td{border:1px solid #e3e3e3;padding:3px 7px;text-align:left;white-space:nowrap}
table.grid thead th{background:#f5f5f5;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"}
table.sortable th[data-dir=desc]::after{content:" \\25BC"}
tr.pruned td:nth-child(2){color:#c25e00}
tr.failed td:nth-child(2){color:#d62728}
tr.complete td:nth-child(2){color:#1f77b4}
.scroll{max-height:640px;overflow:auto;border:1px solid #e3e3e3}
#filter{margin-left:8px;padding:2px 6px}
footer{margin:30px 0 10px;color:#777;font-size:12px}
"""

# A few lines of our own rather than a table library: no dependency, nothing to fetch, works offline.
_SCRIPT = """
(function(){
  var table=document.getElementById("trials"); if(!table) return;
  var body=table.tBodies[0];
  function num(s){return s===""?NaN:Number(s);}
  table.querySelectorAll("th").forEach(function(th,col){th.addEventListener("click",function(){
    var asc=th.dataset.dir!=="asc";
    table.querySelectorAll("th").forEach(function(h){delete h.dataset.dir;}); th.dataset.dir=asc?"asc":"desc";
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[col].textContent,y=b.cells[col].textContent,nx=num(x),ny=num(y);
      if(x===""||y==="") return x===y?0:(x===""?1:-1);          /* empty cells last, either way */
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return asc?c:-c;});
    var frag=document.createDocumentFragment(); rows.forEach(function(r){frag.appendChild(r);}); body.appendChild(frag);
  });});
  var filter=document.getElementById("filter");
  filter.addEventListener("input",function(){var q=filter.value.toLowerCase();
    Array.prototype.forEach.call(body.rows,function(r){r.hidden=q!==""&&r.textContent.toLowerCase().indexOf(q)<0;});});
})();
"""

_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
    "<style>" + _STYLE.replace("{", "{{").replace("}", "}}") + "</style>"
    '<script type="text/javascript">{plotly}</script></head>\n<body>\n{body}\n'
    "<script>" + _SCRIPT.replace("{", "{{").replace("}", "}}") + "</script>\n</body></html>\n"
)

"""What a report shows, read once from the store: trial records, parameter axes, learning curves, importance.

Every figure and text file is drawn from one `ReportData`, so the PNGs, `summary.txt` and `report.html`
never disagree, and the store is read once however many figures there are.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from sweepkit.errors import UsageError, did_you_mean
from sweepkit.results import SweepResult, TrialRecord, load_result, stored_space
from sweepkit.space import Choice, Float, Int, Quantile, Quantized, SearchSpace, flatten
from sweepkit.store import Store
from sweepkit.trial_state import sweep_meta

# Learning curves drawn at most: beyond this a plot is a solid block of ink and report.html grows by
# ~0.4 MB per 1,000 curves of 50 steps. The best trials are always drawn; the others are a fixed sample.
MAX_CURVES = 1000
BEST_CURVES = 20
TOP_K = 5

# PED-ANOVA looks at the best 10% of trials (Optuna's default target quantile): with fewer than this many
# finished trials that is one or two trials, so the figure says the ranking is rough.
STEADY_IMPORTANCE_TRIALS = 50

IMPORTANCE_METHODS = {
    "ped-anova": "PED-ANOVA",
    "fanova": "fANOVA",
    "mean-decrease-impurity": "mean decrease impurity",
}


@dataclass(frozen=True)
class Axis:
    """How one searched parameter is drawn: its scale (linear, log, or labelled categories)."""

    name: str
    scale: str  # "linear" | "log" | "category"
    categories: tuple[str, ...] = ()
    integer: bool = False  # ticks at whole numbers only

    @property
    def log(self) -> bool:
        return self.scale == "log"

    @property
    def categorical(self) -> bool:
        return self.scale == "category"

    @property
    def label(self) -> str:
        return f"{self.name} (log scale)" if self.log else self.name

    def coords(self, values: list[Any]) -> np.ndarray:
        """Plot coordinates: the number itself (the axis does the log), or a category's index; NaN when the
        parameter was inactive in that trial (a condition was false) or is not a usable number."""
        if self.categorical:
            index = {c: i for i, c in enumerate(self.categories)}
            return np.array([index.get(label(v), np.nan) if v is not None else np.nan for v in values], dtype=float)
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            number = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if number and (not self.log or v > 0):
                out[i] = v
        return out


def label(value: Any) -> str:
    """A category's name on an axis or in a table: what the user wrote in the sweep file."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass
class Importance:
    method: str  # as named on the plot, e.g. "PED-ANOVA"
    values: dict[str, float]  # normalized to sum 1, most important first; empty when not computed
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.method} (Optuna)"


@dataclass
class Curve:
    number: int
    state: str
    steps: np.ndarray
    values: np.ndarray


@dataclass
class ReportData:
    result: SweepResult
    axes: list[Axis]
    importance: Importance
    curves: list[Curve]  # learning curves drawn (all of them, or a sample: see curves_note)
    curves_total: int  # trials that reported at least one intermediate value
    curves_note: str
    flat: list[dict[str, Any]]  # each trial's flat params, in `result.trials` order
    number: np.ndarray
    value: np.ndarray  # NaN where a trial has no value
    state: np.ndarray  # sweepkit's state names
    notes: list[str] = field(default_factory=list)

    @property
    def trials(self) -> list[TrialRecord]:
        return self.result.trials

    @property
    def metric(self) -> str:
        return self.result.metric

    @property
    def maximize(self) -> bool:
        return self.result.goal == "maximize"

    @property
    def done(self) -> np.ndarray:
        """Trials with a final value: COMPLETE ones."""
        return (self.state == "COMPLETE") & np.isfinite(self.value)

    def count(self, state: str) -> int:
        return int(np.count_nonzero(self.state == state))

    def coords(self, axis: Axis) -> np.ndarray:
        return axis.coords([p.get(axis.name) for p in self.flat])

    def top_axes(self, k: int = 2) -> list[Axis]:
        """The k most important parameters (the first k searched ones when importance is unknown)."""
        by_name = {a.name: a for a in self.axes}
        ranked = [by_name[n] for n in self.importance.values if n in by_name]
        ranked += [a for a in self.axes if a not in ranked]
        return ranked[:k]

    def counts_text(self) -> str:
        counts = self.result.counts
        parts = [f"{n:,} {s.lower()}" for s, n in counts.items() if n]
        return ", ".join(parts) if parts else "no trials yet"

    def no_finished_text(self) -> str:
        """Why there is nothing to plot, in words (a sweep with no COMPLETE trial)."""
        if not self.trials:
            return f'Sweep "{self.result.name}" has no trials yet: nothing to plot.'
        return (
            f'No trial of sweep "{self.result.name}" has finished with a value yet ({self.counts_text()}): '
            "nothing to plot."
        )


def collect(store: Store, name: str, *, importance: str = "ped-anova") -> ReportData:
    """Read a sweep back from its store. An unknown name is a user error that lists the sweeps there."""
    if importance not in IMPORTANCE_METHODS:
        raise UsageError(
            f'unknown importance method "{importance}": use one of {", ".join(IMPORTANCE_METHODS)}'
            + did_you_mean(importance, IMPORTANCE_METHODS)
        )
    result = load_result(store, name)  # UsageError naming the sweeps in the store when `name` is not one
    study = store.load(name)  # the store caches its storage: this second read costs little
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    output = result.output
    if not output.is_absolute():
        result.output = store.cwd / output
    flat = [flatten(t.params) for t in result.trials]
    axes = _axes(stored_space(sweep_meta(study)), [frozen[t.number] for t in result.trials if t.number in frozen])
    data = ReportData(
        result=result,
        axes=axes,
        importance=Importance(IMPORTANCE_METHODS[importance], {}),
        curves=[],
        curves_total=0,
        curves_note="",
        flat=flat,
        number=np.array([t.number for t in result.trials], dtype=np.int64),
        value=np.array([np.nan if t.value is None else t.value for t in result.trials], dtype=float),
        state=np.array([t.state for t in result.trials], dtype=object),
    )
    _fill_categories(data)
    data.importance = importances(study, [a.name for a in axes], importance)
    _pick_curves(data, frozen)
    return data


# -- parameter axes ---------------------------------------------------------------------------------------
def _axes(space: SearchSpace | None, trials: list[FrozenTrial]) -> list[Axis]:
    """Each searched parameter's scale, from the sweep's own space when the store holds it (it knows a log
    parameter behind a quantized or W&B form), else from Optuna's distributions on the trials."""
    if space is not None:
        return [_axis_of(p) for p in space.searched]
    seen: dict[str, Any] = {}
    for t in trials:
        for n, dist in t.distributions.items():
            seen.setdefault(n, dist)
    axes = []
    for n, dist in seen.items():
        if isinstance(dist, CategoricalDistribution):
            axes.append(Axis(n, "category", tuple(label(c) for c in dist.choices)))
        else:
            scale = "log" if isinstance(dist, FloatDistribution | IntDistribution) and dist.log else "linear"
            axes.append(Axis(n, scale, integer=isinstance(dist, IntDistribution)))
    return axes


def _axis_of(param: Any) -> Axis:
    if isinstance(param, Choice):
        return Axis(param.name, "category", tuple(dict.fromkeys(label(v) for v in param.values)))
    if isinstance(param, Float | Int | Quantized) and param.log:
        return Axis(param.name, "log", integer=isinstance(param, Int))
    if isinstance(param, Int):
        return Axis(param.name, "linear", integer=True)
    if isinstance(param, Quantile) and param.family == "log_normal":
        return Axis(param.name, "log")
    return Axis(param.name, "linear")


def _fill_categories(data: ReportData) -> None:
    """Add category values found in trials but not declared (a sweep file edited since they ran)."""
    for i, axis in enumerate(data.axes):
        if not axis.categorical:
            continue
        found = dict.fromkeys(axis.categories)
        for p in data.flat:
            if axis.name in p and p[axis.name] is not None:
                found.setdefault(label(p[axis.name]))
        if len(found) != len(axis.categories):
            data.axes[i] = Axis(axis.name, "category", tuple(found))


# -- importance -------------------------------------------------------------------------------------------
def _evaluator(method: str) -> optuna.importance.BaseImportanceEvaluator:
    if method == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    if method == "mean-decrease-impurity":
        return optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=0)
    return optuna.importance.PedAnovaImportanceEvaluator()


def importances(study: optuna.Study, searched: list[str], method: str = "ped-anova") -> Importance:
    """Optuna's importance of each searched parameter for the sweep's metric. Never raises: when it cannot
    be computed (too few finished trials, no parameter), the notes say why, and the figure shows them."""
    found = Importance(IMPORTANCE_METHODS[method], {})
    finished = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None and all(math.isfinite(v) for v in t.values)  # FrozenTrial.value raises on 2+
    ]
    target = first_objective(study)
    present = {n for t in finished for n in t.distributions}
    names = [n for n in searched if n in present] or sorted(present)
    if not finished:
        found.notes.append("no trial has finished with a value yet: importance needs finished trials")
        return found
    if not names:
        found.notes.append("no parameter was searched (constants and derived values only)")
        return found
    if len(finished) < 2:
        found.notes.append("one finished trial: importance needs at least 2")
        return found
    if len(names) == 1:
        found.values = {names[0]: 1.0}
        found.notes.append(f"only {names[0]} is searched: its share is 1 by definition")
        return found
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = optuna.importance.get_param_importances(
                study, evaluator=_evaluator(method), params=names, normalize=False, target=target
            )
        except Exception as exc:  # conditional params for fANOVA/MDI, or a library limit: say so, draw the rest
            found.notes.append(f"could not be computed: {type(exc).__name__}: {exc}")
            return found
    total = sum(raw.values())
    if total > 0:
        found.values = {n: v / total for n, v in sorted(raw.items(), key=lambda kv: -kv[1])}
    else:
        found.values = {n: 1.0 / len(raw) for n in raw}
        found.notes.append("no parameter stands out: the best trials look like the rest, so all shares are equal")
    if len(finished) < STEADY_IMPORTANCE_TRIALS:
        found.notes.append(
            f"only {len(finished)} finished trials: a rough ranking"
            + (" (PED-ANOVA compares the best 10% with the rest)" if method == "ped-anova" else "")
        )
    elif method == "ped-anova":
        found.notes.append("which parameters it takes to reach the best 10% of trials")
    for message in dict.fromkeys(str(w.message) for w in caught):
        if "regime" in message and "`" in message:  # a conditional parameter seen in too few trials
            found.notes.append(f"{message.split('`')[1]}: active in too few trials, its share may be off")
    return found


def first_objective(study: optuna.Study) -> Callable[[FrozenTrial], float] | None:
    """A multi-objective sweep's importance is for its first objective (Optuna needs a target there), as
    lower-is-better: PED-ANOVA with a target ranks what it takes to reach low values."""
    if len(study.directions) < 2:
        return None
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return lambda t: sign * t.values[0]


# -- learning curves --------------------------------------------------------------------------------------
def _pick_curves(data: ReportData, frozen: dict[int, FrozenTrial]) -> None:
    """The learning curves to draw: all of them up to MAX_CURVES, else the best ones and a fixed random
    sample of the others (the same sample every time, so reports of the same sweep compare)."""
    with_curve = [t for t in data.trials if t.number in frozen and frozen[t.number].intermediate_values]
    data.curves_total = len(with_curve)
    chosen = with_curve
    if len(with_curve) > MAX_CURVES:
        best = {t.number for t in data.result.top(BEST_CURVES)}
        rest = [t for t in with_curve if t.number not in best]
        sample = random.Random(len(with_curve)).sample(rest, MAX_CURVES - len(best & {t.number for t in with_curve}))
        keep = best | {t.number for t in sample}
        chosen = [t for t in with_curve if t.number in keep]
        data.curves_note = (
            f"{len(chosen):,} of {len(with_curve):,} curves drawn: the {len(best)} best trials and a random sample"
        )
    for t in chosen:
        iv = frozen[t.number].intermediate_values
        steps = np.fromiter(sorted(iv), dtype=float, count=len(iv))
        values = np.fromiter((iv[int(s)] for s in steps), dtype=float, count=len(iv))
        values[~np.isfinite(values)] = np.nan
        data.curves.append(Curve(t.number, t.state, steps, values))


def output_folder(data: ReportData, out: Path | None) -> Path:
    return Path(out) if out is not None else data.result.output


# -- scales and colours shared by the PNG and HTML figures --------------------------------------------
def log_worthy(values: np.ndarray) -> bool:
    """A metric spread over more than 30x (losses falling from 2.3 to 0.07) reads better on a log axis."""
    v = values[np.isfinite(values)]
    return bool(v.size > 1 and (v > 0).all() and v.max() / v.min() >= 30)


def colour_limits(values: np.ndarray, maximize: bool) -> tuple[float, float]:
    """The colour range of the metric. A few very bad trials (a diverged run) would spend the whole colour
    scale on themselves and paint every good trial the same: the bad end is cut at the 95th percentile
    then (the colour bar shows an arrow there). The good end is never cut: it is what the figure is for."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    p5, p95 = (float(p) for p in np.percentile(v, [5, 95]))
    if (hi - lo) > 3 * (p95 - p5) > 0:
        lo, hi = (p5, hi) if maximize else (lo, p95)
    return lo, hi


# -- shapes shared by the PNG and HTML figures ------------------------------------------------------------
@dataclass
class Column:
    """One axis of the parallel-coordinates plot, in drawing units (log10 for a log parameter, the index
    for a category), with its tick positions and labels in the user's values."""

    title: str
    t: np.ndarray  # one value per trial drawn; inactive ones sit just below the range, labelled so
    lo: float
    hi: float
    ticks: list[float]
    labels: list[str]

    def normalized(self) -> np.ndarray:
        return (self.t - self.lo) / (self.hi - self.lo)


INACTIVE = "inactive"


def transform(axis: Axis, coords: np.ndarray) -> np.ndarray:
    return np.log10(coords) if axis.log else coords


def column(title: str, axis: Axis, coords: np.ndarray) -> Column:
    from matplotlib.ticker import MaxNLocator

    t = transform(axis, coords)
    finite = t[np.isfinite(t)]
    if axis.categorical:
        lo, hi = 0.0, float(max(len(axis.categories) - 1, 0))
        ticks, labels = [float(i) for i in range(len(axis.categories))], list(axis.categories)
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if axis.log:
            ticks = [float(p) for p in range(math.ceil(lo), math.floor(hi) + 1)]
            if len(ticks) < 3:  # under two decades: 1-2-5 steps
                steps = [math.log10(m * 10.0**p) for p in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
                ticks = [s for s in steps if lo <= s <= hi]
            labels = [f"{10**p:g}" for p in ticks]
        else:
            ticks = [float(v) for v in MaxNLocator(5, integer=axis.integer).tick_values(lo, hi) if lo <= v <= hi]
            labels = [f"{v:g}" for v in ticks]
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    if not np.isfinite(t).all():
        below = lo - 0.1 * (hi - lo)
        t = np.where(np.isfinite(t), t, below)
        ticks, labels, lo = [below, *ticks], [INACTIVE, *labels], below
    return Column(title, t, lo, hi, ticks, labels)


@dataclass
class Landscape:
    """The metric over two parameters, for the contour figure: interpolated between trials when both are
    numbers, else the mean per cell (a category is one cell wide): never invented across categories."""

    kind: str  # "interpolated" | "binned"
    x: np.ndarray  # grid coordinates in the user's units (category index for a category)
    y: np.ndarray
    z: np.ndarray  # shape (len(y), len(x)); NaN where no trial says anything
    x_edges: np.ndarray | None = None  # cell edges, for "binned"
    y_edges: np.ndarray | None = None


def landscape(data: ReportData, ax: Axis, ay: Axis) -> Landscape | str:
    done = data.done
    x, y, z = data.coords(ax)[done], data.coords(ay)[done], data.value[done]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, z = x[ok], y[ok], z[ok]
    if x.size < 3:
        return f"fewer than 3 finished trials with both {ax.name} and {ay.name}: no landscape to draw"
    tx, ty = transform(ax, x), transform(ay, y)
    if discrete(ax, tx) is None and discrete(ay, ty) is None:
        found = _interpolate(tx, ty, z)
        if found is not None:
            gx, gy, gz = found
            return Landscape("interpolated", _back(ax, gx), _back(ay, gy), gz)
    rows_x, rows_y = discrete(ax, tx), discrete(ay, ty)
    ex, cx = _edges(ax, tx, None if rows_y is None else rows_y.size)
    ey, cy = _edges(ay, ty, None if rows_x is None else rows_x.size)
    ix = np.clip(np.searchsorted(ex, tx, side="right") - 1, 0, len(ex) - 2)
    iy = np.clip(np.searchsorted(ey, ty, side="right") - 1, 0, len(ey) - 2)
    total = np.zeros((len(ey) - 1, len(ex) - 1))
    count = np.zeros_like(total)
    np.add.at(total, (iy, ix), z)
    np.add.at(count, (iy, ix), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return Landscape("binned", _back(ax, cx), _back(ay, cy), mean, _back(ax, ex), _back(ay, ey))


def _back(axis: Axis, t: np.ndarray) -> np.ndarray:
    return 10.0**t if axis.log else t


def discrete(axis: Axis, t: np.ndarray) -> np.ndarray | None:
    """The few values an axis takes (a category's indices, an int's values when 12 or fewer), or None for
    a continuous one. Between the rows of a discrete axis there is nothing to interpolate."""
    if axis.categorical:
        return np.arange(len(axis.categories), dtype=float)
    if axis.integer:
        found = np.unique(t[np.isfinite(t)])
        return found if found.size <= 12 else None
    return None


def spread(coords: np.ndarray, axis: Axis, seed: int) -> np.ndarray:
    """Points of one category (or one of an int's few values) spread sideways so they don't hide each
    other; a fixed seed draws the same image every time."""
    values = None if axis.log else discrete(axis, coords)
    if values is None:
        return coords
    width = 0.18 * (float(np.diff(values).min()) if values.size > 1 else 1.0)
    return coords + np.random.default_rng(seed).uniform(-width, width, coords.size)


def _edges(axis: Axis, t: np.ndarray, rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges and centres in drawing units: one cell per value of a discrete axis, else even cells
    holding ~3 trials each on average (`rows`: how many values the other axis has when it is discrete)."""
    values = discrete(axis, t)
    if values is not None:
        gaps = np.diff(values) / 2 if values.size > 1 else np.array([0.5])
        edges = np.concatenate([[values[0] - gaps[0]], values[:-1] + gaps, [values[-1] + gaps[-1]]])
        return edges, values
    lo, hi = float(t.min()), float(t.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    cells = int(np.clip(t.size / (3 * rows) if rows else math.sqrt(t.size / 3), 3, 25))
    edges = np.linspace(lo, hi, cells + 1)
    return edges, (edges[:-1] + edges[1:]) / 2


def _interpolate(tx: np.ndarray, ty: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """Linear interpolation over the Delaunay triangulation of the trials (matplotlib's, no SciPy call),
    on a 100x100 grid; None when the points are too few or on a line (an int with 2 values, say)."""
    from matplotlib.tri import LinearTriInterpolator, Triangulation

    # One point per distinct (x, y): the mean of its trials; the triangulation rejects duplicates.
    points, where = np.unique(np.stack([tx, ty], axis=1), axis=0, return_inverse=True)
    where = where.ravel()
    zs = np.bincount(where, weights=z) / np.bincount(where)
    if len(points) < 3:
        return None
    span = points.max(axis=0) - points.min(axis=0)
    if (span <= 0).any():
        return None
    unit = (points - points.min(axis=0)) / span  # equal footing for both axes, whatever their units
    try:
        tri = Triangulation(unit[:, 0], unit[:, 1])
        interp = LinearTriInterpolator(tri, zs)
    except (ValueError, RuntimeError):
        return None
    g = np.linspace(0.0, 1.0, 100)
    gx, gy = np.meshgrid(g, g)
    gz = np.ma.filled(interp(gx, gy).astype(float), np.nan)
    if not np.isfinite(gz).any():
        return None
    lo = points.min(axis=0)
    return lo[0] + g * span[0], lo[1] + g * span[1], gz


# -- the timeline's lanes (the PNG, the HTML and summary.txt count workers with them) ----------------------
def ran(data: ReportData) -> list[TrialRecord]:
    """The trials that ran: infeasible points are told to the store without running, they have no place in
    a timeline."""
    return [t for t in data.trials if t.start and t.state != "INFEASIBLE"]


def lanes(data: ReportData) -> tuple[list[str], dict[int, int]]:
    """The timeline's lanes and each trial's lane (by trial number): one lane per recorded worker, in order
    of its first trial. A worker is recorded only where a run had several; the trials of single-worker runs
    (two `sweepkit agent`s, say) are packed into as few lanes as never hold two trials at once, which is how
    many of those workers ran at the same time."""
    now = datetime.now()
    labels: list[str] = []
    lane_of: dict[int, int] = {}
    recorded: dict[str, int] = {}
    free_at: list[datetime] = []  # per unrecorded lane: when its last trial ended
    unrecorded: list[int] = []  # their indices in `labels`
    for t in sorted(ran(data), key=lambda t: t.start):  # type: ignore[arg-type,return-value]
        if t.worker is not None:
            if t.worker not in recorded:
                recorded[t.worker] = len(labels)
                labels.append(t.worker)
            lane_of[t.number] = recorded[t.worker]
            continue
        start = t.start.replace(tzinfo=None)  # type: ignore[union-attr]
        end = (t.end or (now if t.state == "RUNNING" else t.start)).replace(tzinfo=None)  # type: ignore[union-attr]
        row = next((i for i, free in enumerate(free_at) if free <= start), None)
        if row is None:
            row = len(free_at)
            free_at.append(end)
            unrecorded.append(len(labels))
            labels.append("")
        free_at[row] = end
        lane_of[t.number] = unrecorded[row]
    for n, index in enumerate(unrecorded, 1):
        if len(labels) == 1:
            labels[index] = "trials"
        else:
            labels[index] = f"worker {n}" if not recorded else f"worker not recorded {n}"
    return labels, lane_of

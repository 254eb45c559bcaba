"""The report's text files: `summary.txt` (what the sweep found, in plain words) and `best_configs.json`."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sweepkit.report._data import TOP_K, ReportData, lanes
from sweepkit.results import TrialRecord, to_json
from sweepkit.space import flatten


def fmt(value: Any) -> str:
    """A number as a table shows it: 6 significant digits; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# -- time and resources ------------------------------------------------------------------------------------
def time_rows(data: ReportData) -> list[tuple[str, str]]:
    """When the sweep ran, how long its trials took, on how many workers."""
    starts = [t.start for t in data.trials if t.start]
    ends = [t.end for t in data.trials if t.end]
    durations = [t.duration for t in data.trials if t.duration is not None]
    if not starts:
        return []
    rows = [("first trial started", _when(min(starts)))]
    if ends:
        rows.append(("last trial ended", _when(max(ends))))
        wall = (max(ends) - min(starts)).total_seconds()
        rows.append(("wall time", duration_text(wall)))
    if durations:
        total = sum(durations)
        rows.append(("trial time, summed", duration_text(total)))
        rows.append(("trial time, median", duration_text(statistics.median(durations))))
    rows.append(("workers", str(len(lanes(data)[0]))))  # recorded ones and those seen running at once
    return rows


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


def resource_rows(data: ReportData) -> list[tuple[str, str]]:
    """What trials used, over the trials that measured it (the GPU sweep farm's "resource usage" summary)."""
    measured = [t.resources for t in data.trials if t.resources]
    if not measured:
        return [("measured", "no trial recorded its CPU, memory or GPU use")]

    def numbers(key: str) -> list[float]:
        return [float(r[key]) for r in measured if isinstance(r.get(key), int | float)]

    rows = [("measured", f"{len(measured):,} of {len(data.trials):,} trials")]
    cpu_mean, cpu_max = numbers("cpu_percent_mean"), numbers("cpu_percent_max")
    if cpu_mean:
        text = f"mean {statistics.fmean(cpu_mean):.0f}% per trial"
        if cpu_max:
            text += f", highest {max(cpu_max):.0f}%"
        rows.append(("CPU (100% = one core)", text))
    rss = numbers("peak_rss_mb")
    if rss:
        rows.append(("peak memory (RSS)", f"median {statistics.median(rss):,.0f} MB, highest {max(rss):,.0f} MB"))
    gpu_util, gpu_max = numbers("gpu_util_mean"), numbers("gpu_util_max")
    if gpu_util:
        text = f"mean {statistics.fmean(gpu_util):.0f}% per trial"
        if gpu_max:
            text += f", highest {max(gpu_max):.0f}%"
        rows.append(("GPU utilisation", text))
    gpu_mem = numbers("gpu_mem_peak_mb")
    if gpu_mem:
        rows.append(("peak GPU memory", f"median {statistics.median(gpu_mem):,.0f} MB, highest {max(gpu_mem):,.0f} MB"))
    devices: dict[str, int] = {}
    for r in measured:
        if r.get("gpus") not in (None, ""):
            devices[str(r["gpus"])] = devices.get(str(r["gpus"]), 0) + 1
    if devices:
        rows.append(("GPUs given", ", ".join(f"{d}: {n:,} trials" for d, n in sorted(devices.items()))))
    return rows


# -- summary.txt ---------------------------------------------------------------------------------------
def summary_text(data: ReportData, files: list[str]) -> str:
    r = data.result
    lines = [
        f"sweep: {r.name}",
        f"metric: {r.metric} ({r.goal})"
        if not r.objectives
        else "objectives: "
        + ", ".join(f"{name} ({goal})" for name, goal in r.objectives)
        + f"; Pareto front: {len(r.pareto_front)} trials (sweepkit best {r.name}); best below: the first's",
        f"strategy: {r.strategy}" + (f" ({r.strategy_reason})" if r.strategy_reason else ""),
        f"trials: {len(r.trials):,} ({data.counts_text()})",
    ]
    if r.stop_reason:
        lines.append(f"stopped: {r.stop_reason}")
    best = r.best_trial
    lines.append("")
    if best is None:
        lines.append(data.no_finished_text())
    else:
        lines.append(f"best: trial {best.number}, {r.metric} = {fmt(best.value)}")
        for name, value in flatten(best.params).items():
            lines.append(f"  {name}: {fmt(value)}")
        lines += ["", f"top {len(r.top(TOP_K))} trials (best first):"]
        lines += _table(_top_rows(data))
    lines += ["", f"parameter importance by {data.importance.title}:"]
    if data.importance.values:
        width = max(len(n) for n in data.importance.values)
        for name, share in data.importance.values.items():
            lines.append(f"  {name:<{width}}  {share:6.1%}  {'#' * round(share * 40)}")
    for note in data.importance.notes:
        lines.append(f"  note: {note}")
    rows = time_rows(data)
    if rows:
        lines += ["", "time:"] + [f"  {k}: {v}" for k, v in rows]
    lines += ["", "resources:"] + [f"  {k}: {v}" for k, v in resource_rows(data)]
    if data.notes:
        lines += ["", "notes:"] + [f"  {n}" for n in data.notes]
    lines += ["", "files:"] + [f"  {f}" for f in files]
    return "\n".join(lines) + "\n"


def _top_rows(data: ReportData) -> list[list[str]]:
    top = data.result.top(TOP_K)
    names = list(dict.fromkeys(n for t in top for n in flatten(t.params)))
    head = ["rank", "trial", data.metric, *names]
    return [head] + [
        [str(rank), str(t.number), fmt(t.value), *(fmt(flatten(t.params).get(n)) for n in names)]
        for rank, t in enumerate(top, 1)
    ]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


# -- best_configs.json -----------------------------------------------------------------------------------
def best_configs(data: ReportData) -> str:
    """The top-k configurations, best first. `configurations[i]` is ready to train with (the GPU sweep farm reads
    `best_configs["configurations"][0]`); `trials[i]` says where it came from and how it scored."""
    r = data.result
    top = r.top(TOP_K)
    return to_json(
        {
            "sweep": r.name,
            "metric": r.metric,
            "goal": r.goal,
            "k": len(top),
            "configurations": [t.params for t in top],
            "trials": [_entry(rank, t) for rank, t in enumerate(top, 1)],
            **({} if top else {"note": data.no_finished_text()}),
        }
    )


def _entry(rank: int, t: TrialRecord) -> dict[str, Any]:
    return {
        "rank": rank,
        "trial": t.number,
        "value": t.value,
        "metrics": t.metrics,
        "duration_seconds": round(t.duration, 3) if t.duration is not None else None,
        "params": t.params,
    }

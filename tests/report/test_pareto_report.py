"""A multi-objective sweep's report: pareto_front.png and a Pareto section in report.html, drawn from the same
front as tuning_results.json; a single-objective report gets neither."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import sweepkit
from sweepkit.report import write_report
from sweepkit.report._data import collect
from sweepkit.report._pareto import draw_pareto
from sweepkit.store import Store

# Each test draws a report (matplotlib imported): the fast lane leaves the file out.
pytestmark = pytest.mark.slow


def objective(params: dict[str, float]) -> dict[str, float]:
    x, y = params["x"], params["y"]
    return {"loss": x**2 + y, "latency": (x - 1) ** 2 + 0.1, "size": y + 1.0}


def run(name: str, metric: object, trials: int = 12) -> None:
    sweepkit.run(
        {
            "name": name,
            "trial": {"function": f"{__name__}:objective"},
            "metric": metric,
            "budget": {"trials": trials},
            "strategy": {"name": "random", "seed": 0},
            "parameters": {"x": {"min": 0.0, "max": 2.0}, "y": {"min": 0.0, "max": 1.0}},
        },
        quiet=True,
    )


@pytest.mark.slow
def test_a_two_objective_report_draws_its_front(workdir: Path) -> None:
    run("two", [{"name": "loss"}, {"name": "latency"}])
    paths = {p.name for p in write_report(Store(None), "two")}
    assert "pareto_front.png" in paths
    front = json.loads((workdir / "sweeps" / "two" / "tuning_results.json").read_text())["pareto_front"]
    fig = draw_pareto(collect(Store(None), "two"))
    assert isinstance(fig, Figure)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    highlighted = ax.collections[1].get_offsets()  # the front's markers, drawn over the other trials
    expected = sorted((f["values"]["loss"], f["values"]["latency"]) for f in front)
    assert np.allclose(sorted(map(tuple, np.asarray(highlighted))), expected)
    assert "loss (minimize" in ax.get_xlabel() and "latency (minimize" in ax.get_ylabel()
    page = (workdir / "sweeps" / "two" / "report.html").read_text()
    section = page[page.index('<section id="pareto">') :]
    assert section.index('<img class="figure"') < section.index("</section>")


@pytest.mark.slow
def test_three_objectives_draw_one_panel_per_pair(workdir: Path) -> None:
    run("three", ["loss", "latency", {"name": "size", "goal": "maximize"}])
    fig = draw_pareto(collect(Store(None), "three"))
    assert isinstance(fig, Figure)
    labels = [(a.get_xlabel(), a.get_ylabel()) for a in fig.axes if a.get_visible()]
    assert labels == [
        ("loss (minimize)", "latency (minimize)"),
        ("loss (minimize)", "size (maximize)"),
        ("latency (minimize)", "size (maximize)"),
    ]


@pytest.mark.slow
def test_a_single_objective_report_has_no_pareto_figure(workdir: Path) -> None:
    run("one", {"name": "loss"}, trials=5)
    paths = {p.name for p in write_report(Store(None), "one")}
    assert "pareto_front.png" not in paths
    assert 'id="pareto"' not in (workdir / "sweeps" / "one" / "report.html").read_text()
    assert "pareto_front" not in json.loads((workdir / "sweeps" / "one" / "tuning_results.json").read_text())

"""The report of a cross-validation sweep: folds.png and a folds section in report.html (figure and per-fold
table), pruned trials drawn to the fold that stopped them, infeasible trials kept out of the best."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.report import write_report
from sweepkit.report._data import collect
from sweepkit.report._folds import draw_folds, fold_lines
from sweepkit.store import Store

pytest.importorskip("matplotlib", reason="the report needs matplotlib: pip install 'sweepkit[report]'")
pytestmark = pytest.mark.slow


def cv(params: dict[str, Any], trial: Any) -> None:
    x = params["x"]
    for k in range(5):
        trial.report_fold(k, {"f1": x + (0.1 if k % 2 else 0.0), "recall": 0.5})
    trial.set_constraint("latency_ms", 1.0 if x > 0.85 else 0.0)


SPEC = {
    "name": "cvrep",
    "metric": {"name": "f1", "goal": "maximize"},
    "strategy": {"name": "random", "seed": 4},
    "budget": {"trials": 16},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "pruner": {"type": "median", "n_startup_trials": 4},
}


def test_folds_figure_and_section(workdir: Path) -> None:
    result = sweepkit.run(SPEC, objective=cv, quiet=True)
    paths = write_report(Store(None, cwd=workdir), "cvrep")
    out = workdir / "sweeps" / "cvrep"
    assert out / "folds.png" in paths
    assert (out / "folds.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = collect(Store(None, cwd=workdir), "cvrep")
    lines = fold_lines(data)
    best = result.best_trial
    assert best is not None and best.params["x"] <= 0.85  # the infeasible ones are never the best
    assert [line.number for line in lines if line.best] == [best.number]
    states = {line.number: line.state for line in lines}
    for t in result.trials:
        if t.state == "PRUNED":
            assert states[t.number] == "PRUNED"
            assert len(next(line for line in lines if line.number == t.number).values) < 5
        elif not t.feasible:
            assert states[t.number] == "INFEASIBLE"
    fig = draw_folds(data)
    assert not isinstance(fig, str) and "f1 per fold" in fig.axes[0].get_title()

    page = (out / "report.html").read_text()
    section = page[page.index('<section id="folds">') :]
    assert section.index('<img class="figure"') < section.index("</section>")  # folds.png, inlined
    assert "<th>fold 4</th>" in page and "<td>recall</td>" in page
    assert any(not t.feasible for t in result.trials)
    assert "COMPLETE (infeasible: latency_ms +1)" in page


def test_a_sweep_without_folds_has_no_folds_figure(workdir: Path) -> None:
    plain = {**SPEC, "name": "plainrep", "budget": {"trials": 5}}
    sweepkit.run(plain, objective=lambda p: {"f1": p["x"]}, quiet=True)
    paths = write_report(Store(None, cwd=workdir), "plainrep")
    assert not any(p.name == "folds.png" for p in paths)
    assert '<section id="folds">' not in (workdir / "sweeps" / "plainrep" / "report.html").read_text()
    assert draw_folds(collect(Store(None, cwd=workdir), "plainrep")).startswith("no trial reported per-fold")

"""`sweepkit report`: real sweeps run through `sweepkit.run`, then their report read back and checked."""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit.cli import main
from sweepkit.errors import SweepFailed, UsageError
from sweepkit.report import _data as report_data
from sweepkit.report import write_report
from sweepkit.report._data import collect, lanes
from sweepkit.report._figures import draw_contour, draw_history, draw_intermediate, draw_slice, draw_timeline
from sweepkit.report._text import time_rows
from sweepkit.store import Store
from tests.conftest import IN_CI

PNGS = [
    "tuning_history.png",
    "param_importance.png",
    "parallel_coordinates.png",
    "intermediate_values.png",
    "slice.png",
    "contour.png",
    "timeline.png",
]
WRITTEN = [
    "tuning_results.json",
    "trials_history.json",
    "trials.csv",
    "best_config.yaml",
    "best_configs.json",
    *PNGS,
    "summary.txt",
    "report.html",
]


def spec(name: str = "rep", trials: int = 40, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "metric": {"name": "val_loss", "goal": "minimize"},
        "strategy": {"name": "random", "seed": 3},
        "pruner": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 2},
        "budget": {"trials": trials},
        "parameters": {
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
            "layers": {"type": "int", "low": 1, "high": 6},
        },
    }
    base.update(extra)
    return base


def training(params: dict[str, Any], trial: Any) -> float:
    """A learning curve whose floor is set almost only by lr (best at 1e-3); sgd with a high lr diverges."""
    if params["optimizer"] == "sgd" and params["lr"] > 0.03:
        raise RuntimeError("loss is NaN: diverged")
    floor = 0.1 + (math.log10(params["lr"]) + 3) ** 2 + 0.01 * params["layers"]
    value = 0.0
    for step in range(8):
        value = floor + 2.0 / (step + 1)
        trial.report(value, step)
    return value


@dataclass
class Swept:
    """One sweep and its report, made once for the tests that only read them (a sweep + report take ~3 s)."""

    folder: Path
    result: sweepkit.SweepResult
    paths: list[Path]

    @property
    def store(self) -> Store:
        return Store(None, cwd=self.folder)

    @property
    def out(self) -> Path:
        return self.folder / "sweeps" / "rep"

    @property
    def url(self) -> str:
        return f"journal:{self.folder / '.sweepkit' / 'sweeps.journal'}"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Swept:
    folder = tmp_path_factory.mktemp("swept")
    result = sweepkit.run(spec(), objective=training, quiet=True, cwd=folder)
    return Swept(folder, result, write_report(Store(None, cwd=folder), "rep"))


@pytest.mark.slow
def test_report_writes_every_file_into_the_sweeps_folder(swept: Swept) -> None:
    out, paths = swept.out, swept.paths
    assert [p.name for p in paths] == WRITTEN
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    for name in PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


@pytest.mark.slow
def test_summary_and_best_configs_name_the_best_trials_in_order(swept: Swept) -> None:
    out = swept.out
    best = swept.result.best_trial
    assert best is not None
    summary = (out / "summary.txt").read_text()
    assert f"best: trial {best.number}, val_loss = {best.value:.6g}" in summary
    assert "PED-ANOVA" in summary and "resources:" in summary
    counts = swept.result.counts
    assert f"{counts['COMPLETE']} complete" in summary and f"{counts['PRUNED']} pruned" in summary
    configs = json.loads((out / "best_configs.json").read_text())
    values = [t["value"] for t in configs["trials"]]
    assert configs["k"] == 5 and values == sorted(values) and values[0] == best.value
    assert configs["trials"][0]["trial"] == best.number and configs["configurations"][0] == best.params
    completed = sorted(t.value for t in swept.result.trials if t.state == "COMPLETE")
    assert values == completed[:5]


@pytest.mark.slow
def test_importance_finds_the_parameter_that_matters(swept: Swept) -> None:
    data = collect(swept.store, "rep")
    assert data.importance.method == "PED-ANOVA"
    assert list(data.importance.values)[0] == "lr"
    assert math.isclose(sum(data.importance.values.values()), 1.0)
    assert [a.name for a in data.top_axes(2)][0] == "lr"


@pytest.mark.slow
def test_axes_follow_the_parameter_types(swept: Swept) -> None:
    data = collect(swept.store, "rep")
    axes = {a.name: a for a in data.axes}
    assert axes["lr"].log and axes["layers"].integer and not axes["layers"].log
    assert axes["optimizer"].categories == ("adam", "sgd", "rmsprop")  # the file's order, labelled
    fig = draw_slice(data)
    assert not isinstance(fig, str)
    slices = {ax.get_xlabel().split(" ")[0]: ax for ax in fig.axes if ax.get_xlabel()}
    assert slices["lr"].get_xscale() == "log"
    contour = draw_contour(data)
    assert not isinstance(contour, str)
    assert contour.axes[0].get_xscale() == "log"  # lr is the most important, on x


@pytest.mark.slow
def test_pruned_and_failed_trials_are_told_apart(swept: Swept) -> None:
    counts = swept.result.counts
    assert counts["PRUNED"] and counts["FAILED"]  # the fixture's sweep has both, or this test shows nothing
    data = collect(swept.store, "rep")
    history = draw_history(data)
    assert not isinstance(history, str)
    labels = [t.get_text() for t in history.axes[0].get_legend().get_texts()]
    assert any(label.startswith(f"pruned ({counts['PRUNED']})") for label in labels)
    assert any(label.startswith(f"failed ({counts['FAILED']})") for label in labels)
    assert any(label.startswith(f"complete ({counts['COMPLETE']})") for label in labels)
    curves = draw_intermediate(data)
    assert not isinstance(curves, str)
    labels = [t.get_text() for t in curves.axes[0].get_legend().get_texts()]
    assert f"pruned ({counts['PRUNED']})" in labels and f"complete ({counts['COMPLETE']})" in labels


@pytest.mark.slow
def test_report_html_is_self_contained_and_lists_every_trial(swept: Swept) -> None:
    page = (swept.out / "report.html").read_text()
    assert not re.search(r"<script[^>]*\ssrc=", page)  # nothing loaded from anywhere
    assert not re.search(r"<link[^>]*\shref=", page)
    assert not re.search(r"<img[^>]*\ssrc=\"(?!data:image/png;base64,)", page)  # every figure inlined
    assert page.count('<img class="figure"') == 7
    history = re.search(r'<section id="history">.*?src="data:image/png;base64,([^"]+)"', page)
    assert history and base64.b64decode(history[1]) == (swept.out / "tuning_history.png").read_bytes()
    assert "PED-ANOVA" in page
    table = page[page.index('<table class="grid sortable" id="trials">') :]
    table = table[: table.index("</table>")]
    numbers = [int(n) for n in re.findall(r"<tr class=\"\w+\"><td>(\d+)</td>", table)]
    assert numbers == [t.number for t in swept.result.trials]
    assert "diverged" in table  # a failed trial's error, in its row


@pytest.mark.slow
def test_a_sweep_with_no_finished_trial_says_so(workdir: Path) -> None:
    def broken(params: dict[str, Any]) -> float:
        raise ValueError("no data")

    with pytest.raises(SweepFailed):
        sweepkit.run(spec(name="broken", trials=3), objective=broken, quiet=True)
    paths = write_report(Store(None, cwd=workdir), "broken")
    out = workdir / "sweeps" / "broken"
    assert [p.name for p in paths] == WRITTEN
    said = 'No trial of sweep "broken" has finished with a value yet (3 failed)'
    assert said in (out / "summary.txt").read_text()
    configs = json.loads((out / "best_configs.json").read_text())
    assert configs["k"] == 0 and configs["configurations"] == [] and said in configs["note"]
    page = (out / "report.html").read_text()
    assert f'<p class="empty big">{said}' in page.replace("&quot;", '"')
    assert page.count('<img class="figure"') == 1  # only the timeline: the failed trials did run
    assert "no data" in page


@pytest.mark.slow
def test_one_parameter_and_no_curves(workdir: Path) -> None:
    one = {
        "name": "one",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 0},
        "budget": {"trials": 12},
        "parameters": {"x": {"min": -2.0, "max": 2.0}},
    }
    sweepkit.run(one, objective=lambda p: p["x"] ** 2, quiet=True)
    write_report(Store(None, cwd=workdir), "one")
    summary = (workdir / "sweeps" / "one" / "summary.txt").read_text()
    assert "only x is searched: its share is 1 by definition" in summary
    data = collect(Store(None, cwd=workdir), "one")
    assert draw_contour(data) == "one searched parameter: a contour needs two (see slice.png)"
    assert isinstance(draw_intermediate(data), str)
    page = (workdir / "sweeps" / "one" / "report.html").read_text()
    assert "a contour needs two" in page and "no trial reported intermediate values" in page


@pytest.mark.slow
def test_conditional_parameters_are_shown_inactive(workdir: Path) -> None:
    cond = {
        "name": "cond",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 1},
        "budget": {"trials": 30},
        "parameters": {
            "early": [True, False],
            "patience": {"type": "int", "low": 1, "high": 9, "when": "early"},
            "x": {"min": 0.0, "max": 1.0},
        },
    }
    sweepkit.run(cond, objective=lambda p: p["x"] + p.get("patience", 0) / 10, quiet=True)
    paths = write_report(Store(None, cwd=workdir), "cond")
    assert [p.name for p in paths] == WRITTEN
    from sweepkit.report._figures import parallel_columns

    data = collect(Store(None, cwd=workdir), "cond")
    patience = next(c for c in parallel_columns(data) if c.title == "patience")
    assert patience.labels[0] == "inactive" and set(data.importance.values) == {"early", "patience", "x"}


@pytest.mark.slow
def test_many_learning_curves_are_sampled_and_the_plot_says_so(swept: Swept, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_data, "MAX_CURVES", 25)
    monkeypatch.setattr(report_data, "BEST_CURVES", 3)
    data = collect(swept.store, "rep")
    with_curves = sum(1 for t in swept.result.trials if t.state in ("COMPLETE", "PRUNED"))
    assert len(data.curves) == 25 and data.curves_total == with_curves
    assert data.curves_note == f"25 of {with_curves} curves drawn: the 3 best trials and a random sample"
    assert {t.number for t in swept.result.top(3)} <= {c.number for c in data.curves}
    fig = draw_intermediate(data)
    assert not isinstance(fig, str) and data.curves_note in fig.axes[0].get_title()


@pytest.mark.slow
def test_the_run_files_are_refreshed_and_keep_the_stop_reason(workdir: Path) -> None:
    small = sweepkit.run(spec(trials=6), objective=training, quiet=True)
    out = workdir / "sweeps" / "rep"
    before = json.loads((out / "tuning_results.json").read_text())
    assert before["stop_reason"]
    (out / "trials.csv").unlink()
    write_report(Store(None, cwd=workdir), "rep")
    after = json.loads((out / "tuning_results.json").read_text())
    assert after["stop_reason"] == before["stop_reason"] and after["best_trial"] == before["best_trial"]
    assert len((out / "trials.csv").read_text().splitlines()) == len(small.trials) + 1


@pytest.mark.slow
def test_cli_report_prints_the_files_and_honours_out(
    workdir: Path, swept: Swept, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "rep", "--storage", swept.url, "--out", "elsewhere"]) == 0
    shown = capsys.readouterr().out.split()
    assert shown == [str(Path("elsewhere") / name) for name in WRITTEN]
    assert (workdir / "elsewhere" / "report.html").exists()


@pytest.mark.slow
def test_cli_report_on_an_unknown_sweep_lists_the_sweeps(
    workdir: Path, swept: Swept, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "rpe", "--storage", swept.url]) == 2
    err = capsys.readouterr().err
    assert 'no sweep named "rpe"' in err and "sweeps there: rep)" in err and "Traceback" not in err
    assert not (workdir / "sweeps" / "rpe").exists()


def test_cli_report_on_an_empty_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "anything"]) == 2
    err = capsys.readouterr().err
    assert 'no sweep named "anything"' in err and "no sweeps yet" in err


@pytest.mark.slow
def test_unknown_importance_method_is_a_user_error(workdir: Path, swept: Swept) -> None:
    with pytest.raises(UsageError, match="unknown importance method"):
        write_report(swept.store, "rep", workdir, importance="shap")
    assert not list(workdir.iterdir())


@pytest.mark.slow
def test_fanova_is_named_on_the_plot(workdir: Path, swept: Swept) -> None:
    paths = write_report(swept.store, "rep", workdir, importance="fanova")
    summary = next(p for p in paths if p.name == "summary.txt").read_text()
    assert "parameter importance by fANOVA (Optuna)" in summary


def _postgres() -> None:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", 5432)) != 0:
            if IN_CI:
                pytest.fail("PostgreSQL is not listening on 127.0.0.1:5432 in CI")
            pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432 on this machine")


@pytest.mark.slow
def test_report_from_a_postgresql_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _postgres()
    url = "postgresql://postgres@127.0.0.1:5432/test"
    name = f"report-{uuid.uuid4().hex[:8]}"
    try:
        sweepkit.run(spec(name=name, trials=12), objective=training, storage=url, quiet=True)
        assert main(["report", name, "--storage", url, "--out", "pg"]) == 0
        page = (workdir / "pg" / "report.html").read_text()
        assert f"Sweep {name}" in page and page.count('<img class="figure"') == 7
    finally:
        optuna.delete_study(study_name=name, storage=url)


def test_infeasible_points_are_marked_but_never_on_the_timeline(workdir: Path) -> None:
    spec_ = {
        "name": "cons",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 2},
        "budget": {"trials": 16},
        "constraints": ["x < 0.5"],
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    result = sweepkit.run(spec_, objective=lambda p: p["x"], quiet=True)
    infeasible = result.counts["INFEASIBLE"]
    assert infeasible  # the constraint cuts half the range: some points break it
    data = collect(Store(None, cwd=workdir), "cons")
    history = draw_history(data)
    assert not isinstance(history, str)
    labels = [t.get_text() for t in history.axes[0].get_legend().get_texts()]
    assert f"infeasible ({infeasible}), no value" in labels
    timeline = draw_timeline(data)
    assert not isinstance(timeline, str)
    assert f"Timeline: {len(result.trials) - infeasible} trials on 1 worker" in timeline.texts[0].get_text()


@pytest.mark.slow
def test_sweepkit_run_ends_with_the_report(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepkit.cli import main

    monkeypatch.delenv("SWEEPKIT_NO_REPORT", raising=False)
    (workdir / "obj.py").write_text("def f(params):\n    return (params['x'] - 0.3) ** 2\n")
    (workdir / "s.yaml").write_text(
        "name: auto\ntrial: {function: 'obj:f'}\nmetric: {name: loss}\n"
        "parameters: {x: {min: 0.0, max: 1.0}}\nbudget: {trials: 4}\n"
    )
    assert main(["run", "s.yaml", "-q", "--no-report"]) == 0
    assert not (workdir / "sweeps" / "auto" / "report.html").exists()
    assert main(["run", "s.yaml", "-q", "--trials", "5"]) == 0
    assert (workdir / "sweeps" / "auto" / "report.html").exists()
    assert "5 complete" in (workdir / "sweeps" / "auto" / "summary.txt").read_text()  # all five, the resumed run's too


@pytest.mark.slow
def test_a_sweep_run_by_two_agents_has_two_lanes(workdir: Path) -> None:
    """Two runs of one sweep at once, one worker each (as two `sweepkit agent`s): their trials overlap in
    time, so the timeline and summary count two workers, and no lane holds two trials at once."""
    import os
    import subprocess
    import sys

    # each trial waits until both runs have started one (at most 60 s), so their trials surely overlap
    (workdir / "slow.py").write_text(
        "import os, pathlib, time\n\n\ndef f(params):\n"
        "    pathlib.Path(f'pid-{os.getpid()}').touch()\n"
        "    deadline = time.monotonic() + 60\n"
        "    while len(list(pathlib.Path().glob('pid-*'))) < 2 and time.monotonic() < deadline:\n"
        "        time.sleep(0.05)\n"
        "    time.sleep(0.5)\n"
        "    return params['x']\n"
    )
    (workdir / "s.yaml").write_text(
        "name: two\ntrial: {function: 'slow:f'}\nmetric: {name: loss}\n"
        "parameters: {x: {min: 0.0, max: 1.0}}\nbudget: {trials: 6}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), *sys.path])}
    argv = [sys.executable, "-m", "sweepkit", "run", "s.yaml", "-q"]
    runs = [subprocess.Popen(argv, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read() if run.stderr else ""
    data = collect(Store(None, cwd=workdir), "two")
    started = sorted((t for t in data.trials if t.start and t.end), key=lambda t: t.start)  # type: ignore[arg-type,return-value]
    assert len(started) == 6
    overlapping = any(b.start < a.end for a, b in itertools.pairwise(started))  # type: ignore[operator]
    assert overlapping  # the two runs ran trials at the same time

    labels, lane_of = lanes(data)
    assert len(labels) == 2
    for lane in range(len(labels)):
        mine = [t for t in started if lane_of[t.number] == lane]
        assert all(b.start >= a.end for a, b in itertools.pairwise(mine)), lane  # type: ignore[operator]
    timeline = draw_timeline(data)
    assert not isinstance(timeline, str)
    assert "Timeline: 6 trials on 2 workers" in timeline.texts[0].get_text()
    assert ("workers", "2") in time_rows(data)

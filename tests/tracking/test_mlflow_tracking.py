"""MLflow tracking against a real `mlflow server` (started here, sqlite backend in tmp) and a local file store.

The trackers are driven from real finished sweeps read back from the store (`tracking.replay`), the way the
engine calls them; the last test goes through `sweepkit.run` itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit import tracking
from sweepkit.results._stored import load_result
from sweepkit.spec import load_spec
from sweepkit.store import Store
from sweepkit.tracking import TrackingError
from tests.conftest import IN_CI

if not IN_CI:
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'sweepkit[mlflow]'")
from mlflow import MlflowClient  # noqa: E402

pytestmark = pytest.mark.slow

TRAIN = """
import sweepkit


def objective(params, trial):
    case = params["case"]
    for step in range(3):
        trial.report(params["x"] * (3 - step), step)
    if case == "pruned":
        raise sweepkit.TrialPruned("stopped on purpose")
    if case == "failed":
        raise RuntimeError("boom")
    x = params["x"]
    return {"f1": [x, x + 0.1, x + 0.2], "auc": [0.9, 0.8, 0.7], "epochs": 3}
"""

SWEEP = """
name: {name}
trial: {{function: "mltrain:objective"}}
metric: {{name: f1, goal: maximize}}
strategy: {{name: grid}}
parameters:
  case: {cases}
  x: {{expr: "0.5 if case == 'b' else 0.25"}}
  opt:
    parameters:
      lr: {{value: 0.001}}
tracking:
  mlflow: {{tracking_uri: "{uri}", experiment: hpo-tests, tags: {{team: sweepkit}}}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server on 127.0.0.1 (it takes 10-30 s to start on a busy machine)."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (folder / "server.log").open("wb")
    argv = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "art"),
    ]  # fmt: skip
    server = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = (folder / "server.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"mlflow server did not start: {tail}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it forked
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        with contextlib.suppress(ProcessLookupError):  # a job runner that outlived the server
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _project(
    folder: Path, name: str, uri: str, monkeypatch: pytest.MonkeyPatch, cases: str = "[a, b, pruned, failed]"
) -> Path:
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    sys.modules.pop("mltrain", None)
    (folder / "mltrain.py").write_text(textwrap.dedent(TRAIN).lstrip())
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(SWEEP.format(name=name, uri=uri, cases=cases)).lstrip())
    return path


def _replay(path: Path, name: str) -> None:
    """What the engine does during a run, after the fact, with fresh trackers (as a new process would)."""
    spec = load_spec(path)
    store = Store(cwd=path.parent)
    result = load_result(store, name)
    trackers = tracking.build(spec)
    assert [type(t).__name__ for t in trackers] == ["MlflowTracker"]
    tracking.replay(spec, store.load(name), trackers, result)


def _runs(client: MlflowClient, experiment: str, role: str, **tags: str) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    where = [f"tags.`sweepkit.role` = '{role}'", *(f"tags.`{k}` = '{v}'" for k, v in tags.items())]
    return list(client.search_runs([exp.experiment_id], filter_string=" and ".join(where), max_results=1000))


def test_parent_child_and_fold_runs_on_a_server(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _project(tmp_path, "mlserver", mlflow_server, monkeypatch)
    result = sweepkit.run(path, quiet=True)
    assert result.counts["COMPLETE"] == 2 and result.counts["PRUNED"] == 1 and result.counts["FAILED"] == 1
    _replay(path, "mlserver")

    client = MlflowClient(tracking_uri=mlflow_server)
    (parent,) = _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mlserver"})
    best = result.best_trial
    assert best is not None
    assert parent.info.run_name == "mlserver" and parent.info.status == "FINISHED"
    assert parent.data.tags["best_trial"] == str(best.number)
    assert json.loads(parent.data.tags["best_params"]) == best.params
    assert parent.data.tags["team"] == "sweepkit"
    assert parent.data.metrics["best_f1"] == pytest.approx(best.value)
    assert parent.data.metrics["trials_complete"] == 2 and parent.data.metrics["trials_failed"] == 1
    assert parent.data.params["metric"] == "f1" and parent.data.params["goal"] == "maximize"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "best_config.yaml", "sweep.yaml"} <= artifacts

    children = _runs(client, "hpo-tests", "trial", **{"mlflow.parentRunId": parent.info.run_id})
    by_case = {run.data.params["case"]: run for run in children}
    assert sorted(by_case) == ["a", "b", "failed", "pruned"]
    assert {c: r.info.status for c, r in by_case.items()} == {
        "a": "FINISHED", "b": "FINISHED", "pruned": "KILLED", "failed": "FAILED"
    }  # fmt: skip
    assert by_case["pruned"].data.tags["sweepkit.state"] == "PRUNED"
    assert "boom" in by_case["failed"].data.tags["sweepkit.error"]
    winner = by_case["b"]
    assert winner.data.tags.get("sweepkit.best") == "true"
    assert all("sweepkit.best" not in r.data.tags for c, r in by_case.items() if c != "b")
    assert winner.data.params["opt.lr"] == "0.001" and winner.data.params["x"] == "0.5"
    assert winner.data.metrics["f1"] == pytest.approx(0.6)  # the fold mean: the trial's value
    assert winner.data.metrics["epochs"] == 3 and winner.data.metrics["duration_seconds"] >= 0
    history = client.get_metric_history(winner.info.run_id, "f1")
    assert [(m.step, round(m.value, 6)) for m in history if m.timestamp <= winner.info.end_time] == [
        (0, 1.5), (1, 1.0), (2, 0.5)
    ]  # fmt: skip  # the reported steps, then the final value at the last step
    assert winner.info.end_time - winner.info.start_time >= 0

    folds = _runs(client, "hpo-tests", "fold", **{"mlflow.parentRunId": winner.info.run_id})
    per_fold = sorted((int(r.data.tags["sweepkit.fold"]), r.data.metrics["f1"], r.data.metrics["auc"]) for r in folds)
    assert per_fold == [(0, pytest.approx(0.5), 0.9), (1, pytest.approx(0.6), 0.8), (2, pytest.approx(0.7), 0.7)]
    assert _runs(client, "hpo-tests", "fold", **{"mlflow.parentRunId": by_case["pruned"].info.run_id}) == []

    # Logging the same sweep again (a resumed run, a second process) reuses the parent and duplicates nothing.
    _replay(path, "mlserver")
    assert [r.info.run_id for r in _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mlserver"})] == [
        parent.info.run_id
    ]
    assert len(_runs(client, "hpo-tests", "trial", **{"mlflow.parentRunId": parent.info.run_id})) == 4


def test_a_resumed_sweep_logs_under_the_same_parent_and_fresh_gets_a_new_one(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _project(tmp_path, "mlresume", mlflow_server, monkeypatch)
    sweepkit.run(path, trials=2, quiet=True)
    _replay(path, "mlresume")
    client = MlflowClient(tracking_uri=mlflow_server)
    (parent,) = _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mlresume"})
    sweepkit.run(path, quiet=True)  # resumes: the other 2 points of the grid
    _replay(path, "mlresume")
    (again,) = _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mlresume"})
    assert again.info.run_id == parent.info.run_id
    numbers = sorted(
        int(r.data.tags["sweepkit.trial"])
        for r in _runs(client, "hpo-tests", "trial", **{"mlflow.parentRunId": parent.info.run_id})
    )
    assert numbers == [t.number for t in load_result(Store(cwd=tmp_path), "mlresume").trials]

    sweepkit.run(path, fresh=True, quiet=True)  # a new study: a new parent run; the old one stays
    _replay(path, "mlresume")
    parents = _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mlresume"})
    assert len(parents) == 2 and parent.info.run_id in {p.info.run_id for p in parents}


def test_local_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in for its file store
    store_dir = tmp_path / "mlruns"
    path = _project(tmp_path, "mlfile", store_dir.as_uri(), monkeypatch)
    sweepkit.run(path, quiet=True)
    _replay(path, "mlfile")
    client = MlflowClient(tracking_uri=store_dir.as_uri())
    (parent,) = _runs(client, "hpo-tests", "sweep")
    assert len(_runs(client, "hpo-tests", "trial", **{"mlflow.parentRunId": parent.info.run_id})) == 4
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"trials.csv"}
    assert (store_dir / parent.info.experiment_id / parent.info.run_id / "artifacts" / "trials.csv").is_file()


def test_a_store_mlflow_refuses_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    path = _project(tmp_path, "mlrefused", "mlruns", monkeypatch, "[a]")  # a plain folder: MLflow's file store
    with pytest.raises(TrackingError, match=r"MLflow at .*mlruns.*(file|filesystem)"):
        sweepkit.run(path, trials=1, quiet=True)  # said before any trial runs


def test_a_server_that_is_down_is_said_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _project(tmp_path, "mldown", f"http://127.0.0.1:{_free_port()}", monkeypatch, "[a]")
    started = time.monotonic()
    with pytest.raises(TrackingError, match="cannot reach the MLflow server at http://127.0.0.1"):
        sweepkit.run(path, trials=1, quiet=True)
    assert time.monotonic() - started < 30  # not MLflow's minutes of retries


def test_a_sweep_run_logs_itself(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _project(tmp_path, "mllive", mlflow_server, monkeypatch)
    result = sweepkit.run(path, quiet=True)
    client = MlflowClient(tracking_uri=mlflow_server)
    (parent,) = _runs(client, "hpo-tests", "sweep", **{"sweepkit.sweep": "mllive"})
    assert parent.info.status == "FINISHED"
    best = result.best_trial
    assert best is not None and parent.data.tags["best_trial"] == str(best.number)
    children = _runs(client, "hpo-tests", "trial", **{"mlflow.parentRunId": parent.info.run_id})
    assert sorted(int(r.data.tags["sweepkit.trial"]) for r in children) == [t.number for t in result.trials]
    assert "trials.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}

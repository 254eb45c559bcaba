"""backend: ray on a real two-node Ray cluster started here (`ray start --head`, `ray start --address`).

Both nodes run on this machine, each with one CPU, its own temp dir and its own ports; the fixture stops
exactly the processes it started (never `ray stop`, which stops every Ray process of the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest

import sweepkit
from sweepkit.errors import SpecError, UsageError
from sweepkit.spec import load_spec
from sweepkit.sweep._live import LiveTrial, live_trial
from tests.conftest import IN_CI
from tests.sweep.test_trial_protocol import SHOULD_PRUNE, SHOULD_PRUNE_SEEN

START_SECONDS = 240  # two Ray nodes on a busy 2-core machine
RAY = Path(sys.executable).with_name("ray")

TRIALS = '''
"""Trial functions for the Ray tests: one entry point, the behaviour picked by params["kind"]."""
import os
import sys
import time
from pathlib import Path


def node():
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return "local"
    return ray.get_runtime_context().get_node_id()


def helper(x):
    raise ValueError(f"boom {x}")


def run(params, trial):
    kind = params["kind"]
    marks = Path(params.get("marks", "."))
    if kind == "value":
        return params["x"] * 2
    if kind == "info":
        import numpy as np

        trial.log({"logged": 7})
        return {
            "loss": np.float64(params["x"]),
            "number": trial.number,
            "max_steps": trial.max_steps,
            "seed": trial.seed,
            "node": node(),
        }
    if kind == "report":
        for step, value in enumerate([0.5, 2.0, 3.0]):
            (marks / f"step{step}").write_text("")
            trial.report(value, step)
        (marks / "finished").write_text("")
        return 0.0
    if kind == "fail":
        helper(params["x"])
    if kind == "folds":
        for k, value in enumerate([0.5, 2.0, 3.0]):
            trial.report_fold(k, {"f1": value, "auc": k / 10})
        trial.set_constraint("memory_gb", 1.5)
        return None
    if kind == "meet":  # both trials wait for each other: they can only both finish if they run at once
        (marks / f"here-{params['x']}").write_text(node())
        deadline = time.monotonic() + 120
        while len(list(marks.glob("here-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"loss": 0.0, "node": node(), "met": len(list(marks.glob("here-*")))}
    if kind == "retry":  # a retry: told so, with its first attempt's checkpoint folder
        import sweepkit

        folder = trial.checkpoint_dir
        return {"resumed": trial.resumed, "dir": str(folder), "client": str(sweepkit.checkpoint_dir())}
    if kind == "crash":
        os._exit(3)
    if kind == "sleep":
        (marks / "started").write_text("")
        time.sleep(300)
        (marks / "done").write_text("")
        return 0.0
    if kind == "should_prune":
        return should_prune_seen(trial, marks)
    raise AssertionError(kind)
'''
TRIALS += SHOULD_PRUNE

PROGRAM = """
import sweepkit

run = sweepkit.init()
run.log({"loss": run.params["x"] * 3}, step=0)
run.log({"loss": run.params["x"] * 3 - 1}, step=1)
"""


SLEEPER = """
import os
import time
from pathlib import Path

import sweepkit

run = sweepkit.init()
Path(run.params["marks"], "pid").write_text(str(os.getpid()))
time.sleep(300)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    address: str
    code: Path  # the sweep's folder: ray_trials.py, prog.py
    nodes: list[subprocess.Popen[bytes]]
    node_ids: set[str]


def _start_node(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the auth variables are set by `cluster`
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(RAY), "start", "--block", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own session: teardown finds every process it started, and only those
        )


def _wait_started(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"a Ray node did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _stop_node(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `ray start --block` drains and stops its node; then anything left of its session dies."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        with contextlib.suppress(OSError):
            if os.getsid(pid) == proc.pid:
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _token_auth(root: Path) -> Iterator[None]:
    """Ray 2.5x clusters check a token: the nodes and this process (the driver) share one of the test's
    own, so neither a token in ~/.ray nor its absence changes what the test runs against."""
    from ray._private.authentication_test_utils import reset_auth_token_state

    names = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    saved = {name: os.environ.get(name) for name in names}
    (root / "token").write_text(secrets.token_hex(32))
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(root / "token"))
    reset_auth_token_state()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_auth_token_state()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        import ray
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("Ray is not installed: pip install 'sweepkit[ray]'")
    # A short path: Ray's Unix sockets live under the temp dir, and socket paths are limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="skray-", dir="/tmp"))
    with _token_auth(root):
        yield from _cluster(ray, root)


def _cluster(ray: Any, root: Path) -> Iterator[Cluster]:
    code = root / "code"
    code.mkdir()
    (code / "ray_trials.py").write_text(TRIALS)
    (code / "prog.py").write_text(PROGRAM)
    (code / "sleeper.py").write_text(SLEEPER)
    port = _free_port()
    common = [
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        "--disable-usage-stats",
        "--object-store-memory=100000000",
    ]
    head_args = [
        "--head",
        f"--port={port}",
        "--include-dashboard=false",
        f"--dashboard-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--temp-dir={root}/h",
        *common,
    ]
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + START_SECONDS
        nodes.append(_start_node(head_args, root / "head.log"))
        _wait_started(nodes[0], root / "head.log", deadline)
        worker_args = [
            f"--address=127.0.0.1:{port}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--temp-dir={root}/w",
            *common,
        ]
        nodes.append(_start_node(worker_args, root / "worker.log"))
        _wait_started(nodes[1], root / "worker.log", deadline)
        address = f"127.0.0.1:{port}"
        sigterm = signal.getsignal(signal.SIGTERM)  # ray.init replaces it; later tests expect the default
        ray.init(address=address, log_to_driver=False, include_dashboard=False, logging_level="WARNING")
        signal.signal(signal.SIGTERM, sigterm)
        try:
            alive: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                alive = [n for n in ray.nodes() if n.get("Alive")]
                if len(alive) == 2:
                    break
                time.sleep(0.5)
            assert len(alive) == 2, f"the cluster has {len(alive)} live nodes, expected 2"
            node_ids = {n["NodeID"] for n in alive}
        finally:
            ray.shutdown()
        yield Cluster(address, code, nodes, node_ids)
    finally:
        for proc in reversed(nodes):
            _stop_node(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def executor(cluster: Cluster) -> Iterator[Any]:
    """One executor (one connection) for the tests of single trials: its function picks what to do."""
    from sweepkit.sweep._ray import RayExecutor

    ex = RayExecutor(cluster.address, {"cpu": 1}, None, "ray_trials:run", cluster.code, sweep="t")
    yield ex
    ex.close()


def context_for(
    study: optuna.Study, params: dict[str, Any], max_steps: int | None = None, seed: int | None = None
) -> LiveTrial:
    return live_trial(study.ask(), params, "t", max_steps=max_steps, seed=seed)


# -- single trials through RayExecutor -----------------------------------------------------------------------


@pytest.mark.slow
def test_slots_are_what_the_cluster_holds(executor: Any) -> None:
    assert executor.slots == 2  # two nodes of one CPU, one CPU per trial


@pytest.mark.slow
def test_a_function_returns_its_value(executor: Any) -> None:
    study = optuna.create_study()
    assert executor.call(0, context_for(study, {"kind": "value", "x": 21})).result == 42


@pytest.mark.slow
def test_the_trial_object_and_logged_metrics_arrive(executor: Any, cluster: Cluster) -> None:
    study = optuna.create_study()
    context = context_for(study, {"kind": "info", "x": 1.5}, max_steps=9, seed=4242)
    outcome = executor.call(0, context)
    result = outcome.result
    assert result["loss"] == 1.5 and type(result["loss"]) is float  # numpy turned into Python on the node
    assert (result["number"], result["max_steps"], result["seed"]) == (context.number, 9, 4242)
    assert result["node"] in cluster.node_ids  # it ran on the cluster, not here
    assert outcome.metrics == {"logged": 7}


@pytest.mark.slow
def test_a_report_that_prunes_stops_the_function_at_that_step(executor: Any, tmp_path: Path) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    context = context_for(study, {"kind": "report", "marks": str(tmp_path)})
    outcome = executor.call(0, context)
    assert (outcome.end, outcome.message) == ("pruned", "pruned at step 1")
    trial = study._storage.get_trial(context.trial._trial_id)
    assert trial.intermediate_values == {0: 0.5, 1: 2.0}  # the driver's pruner heard both reports
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step0", "step1"]  # never went on to step 2


@pytest.mark.slow
def test_reports_that_do_not_prune_let_the_function_finish(executor: Any, tmp_path: Path) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=10.0))
    context = context_for(study, {"kind": "report", "marks": str(tmp_path)})
    assert executor.call(0, context).result == 0.0
    assert study._storage.get_trial(context.trial._trial_id).intermediate_values == {0: 0.5, 1: 2.0, 2: 3.0}
    assert (tmp_path / "finished").exists()


@pytest.mark.slow
def test_folds_reach_the_pruner_and_constraints_come_back(executor: Any) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=10.0))
    context = live_trial(study.ask(), {"kind": "folds"}, "t", metric="f1")
    outcome = executor.call(0, context)
    assert (outcome.end, outcome.result) == ("done", None)
    assert study._storage.get_trial(context.trial._trial_id).intermediate_values == {0: 0.5, 1: 2.0, 2: 3.0}
    assert context.folds == {k: {"f1": v, "auc": k / 10} for k, v in enumerate([0.5, 2.0, 3.0])}
    assert context.metrics["f1_folds"] == [0.5, 2.0, 3.0]
    assert outcome.constraints == {"memory_gb": 1.5}

    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    context = live_trial(study.ask(), {"kind": "folds"}, "t", metric="f1")
    outcome = executor.call(0, context)
    assert (outcome.end, outcome.message) == ("pruned", "pruned at step 1")  # fold 1's value passed the threshold
    assert context.metrics["f1_folds"] == [0.5, 2.0]


@pytest.mark.slow
def test_an_error_comes_back_with_the_remote_traceback(executor: Any) -> None:
    study = optuna.create_study()
    outcome = executor.call(0, context_for(study, {"kind": "fail", "x": 3}))
    assert (outcome.end, outcome.message) == ("error", "ValueError: boom 3")
    tb = outcome.traceback or ""
    assert "ray_trials.py" in tb and "in helper" in tb and "ValueError: boom 3" in tb
    assert "Ray node" in tb  # where it ran
    assert "_run_trial" not in tb  # the user's frames, not sweepkit's wrapper


@pytest.mark.slow
def test_two_trials_at_once_land_on_both_nodes(executor: Any, cluster: Cluster, tmp_path: Path) -> None:
    study = optuna.create_study()
    results: dict[int, Any] = {}

    def slot(n: int) -> None:
        results[n] = executor.call(n, context_for(study, {"kind": "meet", "x": n, "marks": str(tmp_path)})).result

    threads = [threading.Thread(target=slot, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(results) == {0, 1}
    assert all(r["met"] == 2 for r in results.values())  # they ran at the same time
    assert {r["node"] for r in results.values()} == cluster.node_ids  # one CPU each: one on each node


@pytest.mark.slow
def test_a_retry_on_a_node_is_told_so_with_its_checkpoint_folder(executor: Any, tmp_path: Path) -> None:
    study = optuna.create_study()
    folder = tmp_path / "checkpoints" / "trial-0"
    context = live_trial(study.ask(), {"kind": "retry"}, "t", resumed=True, retry_of=0, checkpoint_dir=str(folder))
    result = executor.call(0, context).result
    assert result == {"resumed": True, "dir": str(folder), "client": str(folder)}
    assert folder.is_dir()  # made on first use, on the node (here: this machine's disk)
    first = live_trial(study.ask(), {"kind": "retry"}, "t", checkpoint_dir=str(tmp_path / "checkpoints" / "trial-1"))
    assert executor.call(0, first).result["resumed"] is False


@pytest.mark.slow
def test_a_crashed_worker_is_a_lost_worker(executor: Any) -> None:
    study = optuna.create_study()
    outcome = executor.call(0, context_for(study, {"kind": "crash"}))
    assert outcome.end == "lost" and outcome.message.startswith("worker lost: ")
    assert executor.call(0, context_for(study, {"kind": "value", "x": 1})).result == 2  # and the next one runs


@pytest.mark.slow
def test_should_prune_follows_the_rule_it_follows_in_process_and_in_a_worker(executor: Any, tmp_path: Path) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    outcome = executor.call(0, context_for(study, {"kind": "should_prune", "marks": str(tmp_path)}))
    assert (outcome.end, outcome.message) == ("pruned", "pruned at step 1")
    assert json.loads((tmp_path / "should_prune.json").read_text()) == SHOULD_PRUNE_SEEN


@pytest.mark.slow
def test_cancel_interrupts_a_running_trial(executor: Any, tmp_path: Path) -> None:
    study = optuna.create_study()
    outcome: list[Any] = []

    def slot() -> None:
        outcome.append(executor.call(1, context_for(study, {"kind": "sleep", "marks": str(tmp_path)})))

    thread = threading.Thread(target=slot)
    thread.start()
    deadline = time.monotonic() + 120
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "started").exists()
    executor.cancel(1)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert len(outcome) == 1 and outcome[0].end == "interrupted"
    assert not (tmp_path / "done").exists()


@pytest.mark.slow
def test_a_function_trial_times_out(cluster: Cluster, tmp_path: Path) -> None:
    from sweepkit.sweep._ray import RayExecutor

    ex = RayExecutor(cluster.address, {"cpu": 1}, 1, "ray_trials:run", cluster.code, sweep="t", timeout=1.0)
    try:
        study = optuna.create_study()
        outcome = ex.call(0, context_for(study, {"kind": "sleep", "marks": str(tmp_path)}))
        assert (outcome.end, outcome.message) == ("error", "timed out after 1s (trial.timeout)")
        assert not (tmp_path / "done").exists()
    finally:
        ex.close()


def _program_executor(cluster: Cluster, tmp_path: Path, metric: str) -> Any:
    """A Ray executor for `prog.py` (it reports loss 6 then 5 for x=2), one trial at a time."""
    from sweepkit.sweep._ray import build_ray_executor

    spec = load_spec(
        {
            "name": "prog",
            "trial": {"program": "prog.py"},
            "metric": {"name": metric},
            "parameters": {"x": [1, 2]},
            "output": str(tmp_path / "out"),
            "resources": {"backend": "ray", "ray_address": cluster.address, "max_concurrent": 1},
        },
        cwd=cluster.code,
    )
    return build_ray_executor(spec, workdir=tmp_path)


@pytest.mark.slow
def test_a_program_trial_runs_on_a_node_and_reports(cluster: Cluster, tmp_path: Path) -> None:
    ex = _program_executor(cluster, tmp_path, "loss")
    try:
        assert ex.slots == 1
        study = optuna.create_study()
        context = context_for(study, {"x": 2})
        result = ex.call(0, context).result
        assert result["loss"] == 5
        assert study._storage.get_trial(context.trial._trial_id).intermediate_values == {0: 6.0, 1: 5.0}
        assert (tmp_path / "out" / "trials" / str(context.number) / "stdout.log").exists()
    finally:
        ex.close()


@pytest.mark.slow
def test_a_program_that_never_logs_the_metric_says_so_on_ray(cluster: Cluster, tmp_path: Path) -> None:
    """The engine stops a sweep whose metric no trial ever gave: on Ray it must get the same error type."""
    ex = _program_executor(cluster, tmp_path, "los")
    try:
        study = optuna.create_study()
        outcome = ex.call(0, context_for(study, {"x": 2}))
        assert outcome.end == "error" and outcome.missing and "loss" in outcome.message
    finally:
        ex.close()


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_an_interrupted_program_trial_leaves_no_program_running(cluster: Cluster, tmp_path: Path) -> None:
    from sweepkit.sweep._ray import build_ray_executor

    spec = load_spec(
        {
            "name": "sleepy",
            "trial": {"program": "sleeper.py"},
            "parameters": {"marks": [str(tmp_path)]},
            "output": str(tmp_path / "out"),
            "resources": {"backend": "ray", "ray_address": cluster.address},
        },
        cwd=cluster.code,
    )
    ex = build_ray_executor(spec, workdir=tmp_path)
    outcome: list[Any] = []

    def slot() -> None:
        outcome.append(ex.call(0, context_for(optuna.create_study(), {"marks": str(tmp_path)})))

    thread = threading.Thread(target=slot)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int((tmp_path / "pid").read_text())
        assert _pid_alive(pid)
        ex.cancel(0)
        thread.join(timeout=120)
        assert len(outcome) == 1 and outcome[0].end == "interrupted"
        assert not _pid_alive(pid)  # the program was stopped with its trial, not left behind on the node
    finally:
        ex.close()


@pytest.mark.slow
def test_a_trial_no_node_can_hold_is_a_user_error(cluster: Cluster) -> None:
    from sweepkit.sweep._ray import RayExecutor

    with pytest.raises(UsageError, match="no node of the Ray cluster can hold a trial that needs 2 CPU and 0 GPU"):
        RayExecutor(cluster.address, {"cpu": 2}, None, "ray_trials:run", cluster.code)
    with pytest.raises(UsageError, match="needs 1 CPU and 1 GPU"):
        RayExecutor(cluster.address, {"gpu": 1}, None, "ray_trials:run", cluster.code)


@pytest.mark.slow
def test_fractional_cpus_fit_more_trials_per_node(cluster: Cluster) -> None:
    from sweepkit.sweep._ray import RayExecutor

    ex = RayExecutor(cluster.address, {"cpu": 0.5}, None, "ray_trials:run", cluster.code)
    try:
        assert ex.slots == 4
    finally:
        ex.close()


# -- the whole sweep ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweep_runs_its_trials_on_the_cluster(cluster: Cluster, workdir: Path) -> None:
    sweep = cluster.code / "on-ray.yaml"  # beside ray_trials.py: the file's folder is where trials import it from
    sweep.write_text(
        textwrap.dedent(
            f"""
        trial: {{function: "ray_trials:run"}}
        metric: {{name: loss}}
        strategy: grid
        parameters:
          kind: {{value: info}}
          x: {{values: [1, 2, 3, 4]}}
        hyperopt:
          backend: ray
          ray_address: "{cluster.address}"
          max_concurrent: 2
          resources_per_trial: {{cpu: 1}}
        """
        )
    )
    result = sweepkit.run(sweep, cwd=workdir, quiet=True)
    assert sorted(t.params["x"] for t in result.trials if t.state == "COMPLETE") == [1, 2, 3, 4]
    assert {t.metrics["node"] for t in result.trials} <= cluster.node_ids


# -- the sweep file's keys, and errors before any cluster is reached ---------------------------------------------


def _spec(resources: dict[str, Any], **top: Any) -> Any:
    return load_spec({"trial": {"function": "t:f"}, "parameters": {"x": [1, 2]}, "resources": resources, **top})


def test_hyperopt_keys_are_read_at_the_top_and_in_resources() -> None:
    top = load_spec(
        {
            "trial": {"function": "t:f"},
            "parameters": {"x": [1, 2]},
            "backend": "Ray",
            "ray_address": "ray://head:10001",
            "max_concurrent": 16,
            "resources_per_trial": {"CPU": 2, "gpu": 0.5},
        }
    )
    inside = _spec(
        {
            "backend": "ray",
            "ray_address": "ray://head:10001",
            "max_concurrent": 16,
            "resources_per_trial": {"cpu": 2.0, "GPU": 0.5},
        }
    )
    expected = {"backend": "ray", "ray_address": "ray://head:10001", "workers": 16, "per_trial": {"cpu": 2, "gpu": 0.5}}
    assert top.extra["resources"] == expected
    assert inside.extra["resources"] == expected
    assert not top.notes and not inside.notes


def test_a_ray_address_without_backend_ray_says_trials_run_here() -> None:
    spec = load_spec({"hyperopt": {"ray_address": "auto", "search_space": {"x": {"type": "choice", "choices": [1]}}}})
    assert spec.extra["resources"] == {"ray_address": "auto"}
    assert any("hyperopt.ray_address" in note and "backend is ray" in note for note in spec.notes)


@pytest.mark.parametrize(
    ("resources", "key", "fragment"),
    [
        ({"backend": "rey"}, "resources.backend", "got 'rey' (did you mean \"ray\"?)"),
        ({"backend": "ray", "ray_address": ""}, "resources.ray_address", "expected a Ray address"),
        ({"resources_per_trial": {"cpus": 1}}, "resources.resources_per_trial", '"cpus" (did you mean "cpu"?)'),
        ({"resources_per_trial": {"cpu": -1}}, "resources.resources_per_trial", "cpu: expected a number of CPUs ≥ 0"),
        ({"per_trial": {"gpu": True}}, "resources.per_trial", "expected a number of GPUs ≥ 0"),
        ({"per_trial": [1, 2]}, "resources.per_trial", "expected a mapping such as {cpu: 2, gpu: 1}"),
        ({"max_concurrent": 2, "workers": 3}, "resources.workers", "both set resources.workers"),
    ],
)
def test_bad_ray_keys_are_one_clear_error(resources: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        _spec(resources)
    assert info.value.key == key
    assert fragment in info.value.message


def test_an_error_names_the_key_where_the_user_wrote_it() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(
            {
                "trial": {"function": "t:f"},
                "hyperopt": {
                    "backend": "ray",
                    "resources_per_trial": {"cpu": "two"},
                    "search_space": {"x": {"type": "choice", "choices": [1]}},
                },
            }
        )
    assert info.value.key == "hyperopt.resources_per_trial"


@pytest.mark.slow
def test_an_unreachable_cluster_says_so_in_seconds() -> None:
    from sweepkit.sweep._ray import RayExecutor

    started = time.monotonic()
    with pytest.raises(UsageError, match=r"cannot connect to the Ray cluster at 127\.0\.0\.1:\d+: nothing answers"):
        RayExecutor(f"127.0.0.1:{_free_port()}", {}, None, "t:f", Path.cwd())
    assert time.monotonic() - started < 60  # Ray alone retries for minutes


def test_missing_ray_is_a_usage_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepkit.sweep._ray import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does when the package is not installed
    with pytest.raises(UsageError, match=r"pip install 'sweepkit\[ray\]'"):
        RayExecutor("auto", {}, None, "t:f", Path.cwd())


def test_a_concurrency_of_zero_is_refused_before_connecting() -> None:
    """Loading the file already refuses it (as `validate` does), long before a Ray cluster is asked."""
    with pytest.raises(SpecError) as info:
        _spec({"backend": "ray", "ray_address": "127.0.0.1:1", "max_concurrent": 0})
    assert info.value.key == "resources.max_concurrent"


@pytest.mark.slow
def test_importing_sweepkit_does_not_import_ray() -> None:
    code = "import sys, sweepkit, sweepkit.client; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

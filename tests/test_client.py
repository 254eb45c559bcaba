"""The trial-side client and the line protocol, with the runner simulated: env vars set by hand, the channel read
back and parsed strictly. Covers `sweepkit.client`, the bash and C++ examples, and the snippets in
docs/line-protocol.md, so the documented protocol is the one that is tested."""

from __future__ import annotations

import copy
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sweepkit import client
from sweepkit.errors import TrialPruned

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI") == "true"
ENV_NAMES = (
    "SWEEPKIT_SWEEP",
    "SWEEPKIT_TRIAL",
    "SWEEPKIT_TRIAL_SEED",
    "SWEEPKIT_SEED",
    "SWEEPKIT_TRIAL_DIR",
    "SWEEPKIT_PARAMS_FILE",
    "SWEEPKIT_PARAMS",
    "SWEEPKIT_CHANNEL",
    "SWEEPKIT_STOP_FILE",
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_channel(path: Path) -> list[dict[str, Any]]:
    """Every line, strictly: valid JSON (no bare NaN), an object, newline-terminated."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    assert text == "" or text.endswith("\n"), "the last line lacks its newline"
    rows = [json.loads(line, parse_constant=_reject_constant) for line in text.splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def metric_rows(path: Path) -> list[dict[str, Any]]:
    return [row for row in read_channel(path) if "event" not in row]


def trial_env(tmp_path: Path, params: dict[str, Any] | None = None, number: int = 3) -> dict[str, str]:
    """What the runner puts in a trial's environment, with the files in a fresh trial folder."""
    folder = tmp_path / "trials" / str(number)
    folder.mkdir(parents=True, exist_ok=True)
    params_file = folder / "params.json"
    params_file.write_text(json.dumps(params or {}))
    return {
        "SWEEPKIT_SWEEP": "demo",
        "SWEEPKIT_TRIAL": str(number),
        "SWEEPKIT_TRIAL_SEED": "1234",
        "SWEEPKIT_TRIAL_DIR": str(folder),
        "SWEEPKIT_PARAMS_FILE": str(params_file),
        "SWEEPKIT_CHANNEL": str(folder / "metrics.jsonl"),
        "SWEEPKIT_STOP_FILE": str(folder / "STOP"),
    }


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return {**env, **(extra or {})}


@pytest.fixture
def make_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., client.Run]]:
    """`init` in this process, undone afterwards: no atexit hooks, open descriptors or SIGTERM handler left over."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    handler = signal.getsignal(signal.SIGTERM)
    runs: list[client.Run] = []

    def make(*args: Any, **kwargs: Any) -> client.Run:
        run = client.init(*args, **kwargs)
        runs.append(run)
        return run

    yield make
    signal.signal(signal.SIGTERM, handler)
    for run in runs:
        run.finish()
        if run._fd is not None:
            os.close(run._fd)


@pytest.fixture
def in_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_run: Any) -> Callable[..., dict[str, str]]:
    def enter(params: dict[str, Any] | None = None) -> dict[str, str]:
        env = trial_env(tmp_path, params)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return enter


# --- init and params ------------------------------------------------------------------------------------------


def test_outside_a_sweep_the_params_are_the_defaults_and_log_prints(
    make_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    handler = signal.getsignal(signal.SIGTERM)
    defaults = {"lr": 0.1, "optimizer": {"name": "adam"}}
    run = make_run(defaults)
    assert run.params == defaults and run.params is not defaults
    assert run.params.optimizer.name == "adam"
    assert (run.in_sweep, run.trial, run.sweep, run.seed) == (False, None, None, None)
    assert run.dir == tmp_path
    assert not run.should_stop()
    run.log({"val_loss": 0.41, "acc": 0.8}, step=3)
    run.log({"val_loss": np.float32(0.25)})
    run.finish()
    assert capsys.readouterr().out == "step 3: val_loss=0.41 acc=0.8\nval_loss=0.25\n"
    assert not list(tmp_path.iterdir())  # nothing written anywhere
    assert signal.getsignal(signal.SIGTERM) is handler  # standalone: signals are left alone


def test_in_a_sweep_the_trial_params_deep_merge_over_the_defaults(in_trial: Any, make_run: Any) -> None:
    env = in_trial({"lr": 0.003, "optimizer": {"beta1": 0.8}, "layers": [{"width": 64}]})
    defaults = {"lr": 0.1, "epochs": 5, "optimizer": {"name": "adam", "beta1": 0.9}}
    run = make_run(defaults)
    assert run.params == {
        "lr": 0.003,
        "epochs": 5,
        "optimizer": {"name": "adam", "beta1": 0.8},
        "layers": [{"width": 64}],
    }
    assert defaults["optimizer"] == {"name": "adam", "beta1": 0.9}  # the defaults are not modified
    assert run.params.optimizer.beta1 == 0.8 and run.params.layers[0].width == 64
    assert (run.in_sweep, run.trial, run.sweep, run.seed) == (True, 3, "demo", 1234)
    assert run.dir == Path(env["SWEEPKIT_TRIAL_DIR"])
    assert "sweep='demo', trial=3" in repr(run)


def test_inline_params_and_config_alias(make_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPKIT_PARAMS", '{"lr": 0.5}')
    run = make_run(config={"lr": 0.1, "depth": 2})
    assert run.in_sweep and run.params == {"lr": 0.5, "depth": 2}
    with pytest.raises(TypeError, match="not both"):
        client.init({"a": 1}, config={"a": 2})


def test_unreadable_or_malformed_params_name_the_file(make_run: Any, tmp_path: Path, monkeypatch: Any) -> None:
    missing = tmp_path / "nope" / "params.json"
    monkeypatch.setenv("SWEEPKIT_PARAMS_FILE", str(missing))
    with pytest.raises(RuntimeError, match=re.escape(str(missing))):
        make_run({})
    broken = tmp_path / "params.json"
    broken.write_text("{lr: 0.1")
    monkeypatch.setenv("SWEEPKIT_PARAMS_FILE", str(broken))
    with pytest.raises(RuntimeError, match=re.escape(str(broken)) + ".*not valid JSON"):
        make_run({})
    broken.write_text("[1, 2]")
    with pytest.raises(RuntimeError, match="expected an object"):
        make_run({})


def test_params_attribute_access_and_did_you_mean() -> None:
    params = client.Params({"learning_rate": 0.1, "optimizer": {"momentum": 0.9}, "items": 3})
    assert params.learning_rate == 0.1 and params.optimizer.momentum == 0.9
    assert params["items"] == 3  # a key that clashes with a dict method: by item
    with pytest.raises(AttributeError, match=r'no parameter "learning_rat" \(did you mean "learning_rate"\?\)'):
        _ = params.learning_rat
    with pytest.raises(AttributeError, match='did you mean "momentum"'):
        _ = params.optimizer.momentun
    assert not hasattr(params, "batch_size")
    params.batch_size = 32
    params.extra = {"a": 1}
    assert params["batch_size"] == 32 and params.extra.a == 1
    del params.batch_size
    assert "batch_size" not in params
    assert "learning_rate" in dir(params)
    for clone in (copy.deepcopy(params), pickle.loads(pickle.dumps(params))):
        assert clone == params and isinstance(clone.optimizer, client.Params)
    plain = params.to_dict()
    assert type(plain) is dict and type(plain["optimizer"]) is dict and json.loads(json.dumps(plain)) == plain


# --- log, stop, finish ----------------------------------------------------------------------------------------


def test_log_writes_protocol_lines(in_trial: Any, make_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env = in_trial({})
    run = make_run()
    run.log({"val_loss": 0.5, "acc": 0.75}, step=0)
    run.log({"val_loss": np.float32(0.25), "count": np.int64(7), "ok": np.bool_(True), "grid": np.arange(3)}, step=1)
    run.log({"step": np.int64(2), "val_loss": np.array(0.125), "note": "warm-up", "cfg": {"a": [1, 2]}})
    run.log({"val_loss": float("nan"), "up": float("inf"), "down": -float("inf")}, step=3)
    run.log({"epoch_time": 1.5})  # no step
    assert metric_rows(Path(env["SWEEPKIT_CHANNEL"])) == [
        {"step": 0, "val_loss": 0.5, "acc": 0.75},
        {"step": 1, "val_loss": 0.25, "count": 7, "ok": True, "grid": [0, 1, 2]},
        {"step": 2, "val_loss": 0.125, "note": "warm-up", "cfg": {"a": [1, 2]}},
        {"step": 3, "val_loss": "nan", "up": "inf", "down": "-inf"},
        {"epoch_time": 1.5},
    ]
    assert capsys.readouterr().out == ""  # in a sweep, log reports; it doesn't print


def test_log_refuses_what_the_protocol_cannot_carry(in_trial: Any, make_run: Any) -> None:
    env = in_trial({})
    run = make_run()
    with pytest.raises(ValueError, match="reserved"):
        run.log({"event": "done"})
    with pytest.raises(ValueError, match="not both"):
        run.log({"step": 1, "loss": 1.0}, step=1)
    with pytest.raises(ValueError, match=">= 0"):
        run.log({"loss": 1.0}, step=-1)
    with pytest.raises(TypeError, match="step must be an int"):
        run.log({"loss": 1.0}, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='metric "model" has type object'):
        run.log({"model": object()})
    with pytest.raises(TypeError, match="mapping"):
        run.log([("loss", 1.0)])  # type: ignore[arg-type]
    assert read_channel(Path(env["SWEEPKIT_CHANNEL"])) == []


def test_a_long_line_warns_once(in_trial: Any, make_run: Any) -> None:
    env = in_trial({})
    run = make_run()
    with pytest.warns(UserWarning, match="over 4096"):
        run.log({"blob": "x" * 5000})
    run.log({"blob": "y" * 5000})  # no second warning (pytest's default filter would show it)
    assert len(metric_rows(Path(env["SWEEPKIT_CHANNEL"]))) == 2


def test_the_stop_file_prunes(in_trial: Any, make_run: Any) -> None:
    env = in_trial({})
    run = make_run()
    run.log({"val_loss": 1.0}, step=0)
    assert not run.should_stop()
    Path(env["SWEEPKIT_STOP_FILE"]).write_text("pruned\n")
    assert run.should_stop()
    with pytest.raises(TrialPruned):
        run.log({"val_loss": 0.9}, step=1)
    assert [row["step"] for row in metric_rows(Path(env["SWEEPKIT_CHANNEL"]))] == [0, 1]  # written, then raised


def test_a_run_that_checks_the_stop_file_says_so_once(in_trial: Any, make_run: Any) -> None:
    """The runner gives a program that checks the stop file time to leave; any other it stops at once."""
    env = in_trial({})
    channel = Path(env["SWEEPKIT_CHANNEL"])
    run = make_run()
    assert read_channel(channel) == []  # init alone checks nothing
    run.log({"val_loss": 1.0}, step=0)
    run.log({"val_loss": 0.9}, step=1)
    assert not run.should_stop()
    assert read_channel(channel) == [
        {"event": "stop_check"},
        {"step": 0, "val_loss": 1.0},
        {"step": 1, "val_loss": 0.9},
    ]
    other = make_run()
    assert not other.should_stop()  # should_stop alone counts too
    assert read_channel(channel)[-1] == {"event": "stop_check"}


def test_finish_is_written_once_and_the_with_block_reraises(in_trial: Any, make_run: Any) -> None:
    env = in_trial({})
    channel = Path(env["SWEEPKIT_CHANNEL"])
    run = make_run()
    with pytest.raises(TrialPruned), run:
        run.log({"val_loss": 1.0}, step=0)
        Path(env["SWEEPKIT_STOP_FILE"]).touch()
        run.log({"val_loss": 0.5}, step=1)
    run.finish()
    run.finish()
    assert read_channel(channel)[-1] == {"event": "finish"}
    assert sum(row.get("event") == "finish" for row in read_channel(channel)) == 1


def test_init_installs_a_sigterm_handler_only_where_none_is(in_trial: Any, make_run: Any) -> None:
    in_trial({})
    make_run()
    assert signal.getsignal(signal.SIGTERM) is client._exit_on_sigterm

    def mine(signum: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGTERM, mine)
    make_run()
    assert signal.getsignal(signal.SIGTERM) is mine


# --- in real processes ----------------------------------------------------------------------------------------


def run_python(code: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=clean_environ(env),
        capture_output=True,
        text=True,
        timeout=30,
        **kwargs,
    )


def test_import_is_light() -> None:
    heavy = ["optuna", "sqlalchemy", "yaml", "rich", "numpy", "pydantic", "torch", "sweepkit.sweep"]
    done = run_python(
        f"""
        import sys
        import sweepkit.client
        print([name for name in {heavy!r} if name in sys.modules])
        """,
        {},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_atexit_finishes_and_a_forked_child_does_not(tmp_path: Path) -> None:
    env = trial_env(tmp_path, {"lr": 0.2})
    done = run_python(
        """
        import os, sys
        import sweepkit
        from sweepkit.client import init

        run = init({"lr": 0.1})
        run.log({"lr_seen": run.params.lr}, step=0)
        pid = os.fork()
        if pid == 0:
            run.log({"from_child": 1})
            sys.exit(0)  # the child runs the inherited atexit hooks: they must not finish the parent's run
        os.waitpid(pid, 0)
        run.log({"val_loss": 0.5}, step=1)
        """,
        env,
    )
    assert done.returncode == 0, done.stderr
    rows = read_channel(Path(env["SWEEPKIT_CHANNEL"]))
    assert rows == [
        {"event": "stop_check"},
        {"step": 0, "lr_seen": 0.2},
        {"from_child": 1},
        {"step": 1, "val_loss": 0.5},
        {"event": "finish"},
    ]


def test_sigterm_runs_cleanup_and_exits_143(tmp_path: Path) -> None:
    env = trial_env(tmp_path)
    script = tmp_path / "loop.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            import sweepkit.client

            with sweepkit.client.init() as run:
                try:
                    for step in range(1000):
                        run.log({"val_loss": 1.0 / (step + 1)}, step=step)
                        time.sleep(0.02)
                finally:
                    print("cleaned up", flush=True)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=clean_environ(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    channel = Path(env["SWEEPKIT_CHANNEL"])
    wait_for_lines(channel, 2, proc)
    os.killpg(proc.pid, signal.SIGTERM)  # as the runner does: the whole process group
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    assert "cleaned up" in out
    assert read_channel(channel)[-1] == {"event": "finish"}


def test_concurrent_appends_stay_whole(tmp_path: Path) -> None:
    """4 processes x 200 lines of 2.5-3.7 KiB each on one channel: every line arrives whole."""
    env = trial_env(tmp_path)
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import os, sys, time
        import sweepkit.client

        worker = int(sys.argv[1])
        run = sweepkit.client.init()
        pad = chr(ord("a") + worker) * (2500 + 400 * worker)
        open({str(tmp_path)!r} + f"/ready-{{worker}}", "w").close()
        while not os.path.exists({str(go)!r}):  # spin: start writing together
            pass
        for n in range(200):
            run.log({{"worker": worker, "n": n, "pad": pad}}, step=n)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(worker)], env=clean_environ(env), stderr=subprocess.PIPE)
        for worker in range(4)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < 4:
        assert all(proc.poll() is None for proc in procs) and time.monotonic() < deadline
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    rows = read_channel(Path(env["SWEEPKIT_CHANNEL"]))
    metrics = [row for row in rows if "worker" in row]
    assert len(rows) == 808 and len(metrics) == 800  # and each process says once that it checks the stop file
    assert {(row["worker"], row["n"]) for row in metrics} == {(w, n) for w in range(4) for n in range(200)}
    assert all(set(row["pad"]) == {chr(ord("a") + row["worker"])} for row in metrics)
    assert sum(row == {"event": "finish"} for row in rows) == 4


# --- the examples and the documented snippets, with the runner simulated --------------------------------------


def wait_for_lines(channel: Path, count: int, proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not channel.exists() or len(channel.read_text().splitlines()) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the program did not report in time"
        time.sleep(0.02)


def simulate_trial(
    argv: list[str], tmp_path: Path, *, stop_after: int | None = None, cwd: Path | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    """Run a trial program as the runner does; with `stop_after`, create the stop file after that many lines
    and expect the program to leave within 5 s. Returns (exit status, channel rows, stdout)."""
    env = trial_env(tmp_path)
    channel = Path(env["SWEEPKIT_CHANNEL"])
    proc = subprocess.Popen(
        argv,
        cwd=cwd or tmp_path,
        env=clean_environ(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if stop_after is not None:
            wait_for_lines(channel, stop_after, proc)
            Path(env["SWEEPKIT_STOP_FILE"]).write_text("pruned\n")
        out, err = proc.communicate(timeout=5 if stop_after is not None else 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    return proc.returncode, metric_rows(channel), out


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI")
        pytest.skip(f"{tool} is not installed")
    return path


def doc_block(language: str, must_contain: str) -> str:
    text = (ROOT / "docs" / "line-protocol.md").read_text()
    blocks = [code for lang, code in re.findall(r"```(\w+)\n(.*?)```", text, re.S) if lang == language]
    (block,) = [code for code in blocks if must_contain in code]
    return block


@pytest.fixture(scope="module")
def cpp_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The C++ example, built with its own build.sh, and the docs' C++ snippet; compiled side by side."""
    need("g++")
    folder = tmp_path_factory.mktemp("cpp")
    (folder / "snippet.cpp").write_text(doc_block("cpp", "int main"))
    builds = {
        "example": subprocess.Popen(
            ["bash", str(ROOT / "examples" / "cpp" / "build.sh"), str(folder / "train")], stderr=subprocess.PIPE
        ),
        "snippet": subprocess.Popen(
            ["g++", "-O2", "-std=c++17", "-o", str(folder / "snippet"), str(folder / "snippet.cpp")],
            stderr=subprocess.PIPE,
        ),
    }
    for name, build in builds.items():
        _, err = build.communicate(timeout=120)
        assert build.returncode == 0, f"{name}: {err.decode()}"
    return {"example": folder / "train", "snippet": folder / "snippet"}


def check_curve(rows: list[dict[str, Any]], epochs: int) -> None:
    assert [row["step"] for row in rows] == list(range(epochs))
    losses = [row["val_loss"] for row in rows]
    assert all(isinstance(v, float) for v in losses) and losses == sorted(losses, reverse=True)


def test_bash_example_reports_and_stops(tmp_path: Path) -> None:
    bash = need("bash")
    need("awk")
    script = str(ROOT / "examples" / "bash" / "train.sh")
    args = ["--lr=0.05", "--dropout=0.2", "--epochs=4", "--epoch_seconds=0.01"]
    _, rows, _ = simulate_trial([bash, script, *args], tmp_path / "full")
    check_curve(rows, 4)
    assert rows[-1]["val_loss"] == pytest.approx(0.2 + 0.1 * np.log(0.05 / 0.03) ** 2 + 0.3 * 0.04 + 0.25, abs=1e-5)
    slow = ["--epochs=500", "--epoch_seconds=0.05"]
    _, rows, out = simulate_trial([bash, script, *slow], tmp_path / "stopped", stop_after=2)
    assert 2 <= len(rows) < 10 and "stopped by the sweep" in out


@pytest.mark.slow
def test_cpp_example_reports_and_stops(tmp_path: Path, cpp_programs: dict[str, Path]) -> None:
    train = str(cpp_programs["example"])
    _, rows, _ = simulate_trial([train, "--lr=0.05", "--epochs=4", "--epoch_seconds=0.01"], tmp_path / "full")
    check_curve(rows, 4)
    _, rows, out = simulate_trial([train, "--epochs=500", "--epoch_seconds=0.05"], tmp_path / "stopped", stop_after=2)
    assert 2 <= len(rows) < 10 and "stopped by the sweep" in out


@pytest.mark.slow
def test_cpp_example_leaves_on_sigterm(tmp_path: Path, cpp_programs: dict[str, Path]) -> None:
    env = trial_env(tmp_path)
    proc = subprocess.Popen(
        [str(cpp_programs["example"]), "--epochs=500", "--epoch_seconds=0.05"],
        env=clean_environ(env),
        start_new_session=True,
    )
    wait_for_lines(Path(env["SWEEPKIT_CHANNEL"]), 1, proc)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=5) == 143


@pytest.mark.slow
def test_doc_snippets_speak_the_protocol(tmp_path: Path, cpp_programs: dict[str, Path]) -> None:
    python = tmp_path / "train.py"
    python.write_text(doc_block("python", 'os.environ["SWEEPKIT_PARAMS_FILE"]'))
    bash = tmp_path / "train.sh"
    bash.write_text(doc_block("bash", "printf"))
    programs = {
        "python": [sys.executable, str(python)],
        "bash": ["bash", str(bash)],
        "cpp": [str(cpp_programs["snippet"])],
    }
    for name, argv in programs.items():
        _, rows, _ = simulate_trial(argv, tmp_path / name)
        check_curve(rows, 5)
        _, rows, _ = simulate_trial(argv, tmp_path / f"{name}-stopped", stop_after=1)
        assert 1 <= len(rows) < 5, name

"""Program trials: any executable, argv only, metrics over the line protocol, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.results._stored import load_result
from sweepkit.store import Store


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def alive(marker: str) -> list[str]:
    """Command lines of live processes that mention `marker` (zombies excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and int(proc.name) != os.getpid():
            found.append(cmdline)
    return found


def gone(pid: int) -> bool:
    """The process has exited (a zombie left for its dead parent's reaper counts as gone)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def program_spec(command: list[str], **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "prog",
        "metric": {"name": "val_loss"},
        "strategy": {"name": "random", "seed": 0},
        "trial": {"command": command},
        "parameters": {"lr": {"min": 0.001, "max": 0.1}, "layers": [1, 2]},
    }
    base.update(extra)
    return base


REPORTER = """\
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
with open(os.environ["SWEEPKIT_CHANNEL"], "a") as channel:
    for epoch in range(3):
        loss = float(args["lr"]) * 10 / (epoch + 1) + int(args["layers"])
        channel.write(json.dumps({"step": epoch, "val_loss": loss, "train_loss": loss * 2}) + "\\n")
        channel.flush()
seen = {k: os.environ[k] for k in os.environ if k.startswith("SWEEPKIT_")}
with open("seen-%s.json" % os.environ["SWEEPKIT_TRIAL"], "w") as out:
    json.dump({"argv": sys.argv[1:], "env": seen, "cwd": os.getcwd()}, out)
"""


def test_a_program_reports_over_the_line_protocol(workdir: Path) -> None:
    write(workdir / "train.py", REPORTER)
    result = sweepkit.run(program_spec(["${env}", "${interpreter}", "train.py", "${args}"]), trials=3, quiet=True)
    assert [t.state for t in result.trials] == ["COMPLETE"] * 3
    for t in result.trials:
        expected = t.params["lr"] * 10 / 3 + t.params["layers"]
        assert t.value == pytest.approx(expected)
        assert t.metrics["train_loss"] == pytest.approx(expected * 2)
        seen = json.loads((workdir / f"seen-{t.number}.json").read_text())
        assert f"--layers={t.params['layers']}" in seen["argv"]
        folder = workdir / "sweeps" / "prog" / "trials" / str(t.number)
        assert seen["env"]["SWEEPKIT_TRIAL_DIR"] == str(folder)
        assert json.loads((folder / "params.json").read_text()) == t.params
        assert seen["env"]["SWEEPKIT_SWEEP"] == "prog" and seen["env"]["SWEEPKIT_TRIAL"] == str(t.number)
        assert seen["env"]["SWEEPKIT_TRIAL_SEED"].isdigit()
        assert seen["cwd"] == str(workdir)


def test_program_path_is_relative_to_the_sweep_file(workdir: Path) -> None:
    (workdir / "cfg").mkdir()
    write(workdir / "cfg" / "train.py", REPORTER)
    (workdir / "cfg" / "sweep.yaml").write_text(
        "program: train.py\nmethod: random\nmetric: {name: val_loss, goal: minimize}\n"
        "parameters:\n  lr: {min: 0.001, max: 0.1}\n  layers: {values: [1, 2]}\n"
    )
    result = sweepkit.run("cfg/sweep.yaml", trials=2, quiet=True)
    assert [t.state for t in result.trials] == ["COMPLETE"] * 2


NASTY = ["a; touch PWNED", "$(touch PWNED)", "`touch PWNED`", 'it\'s "quoted"', "with space", "new\nline", "--x=1"]


@pytest.mark.slow
def test_no_parameter_value_can_inject_a_command(workdir: Path) -> None:
    write(
        workdir / "echo.py",
        """\
        import json, os, sys
        open(os.environ["SWEEPKIT_CHANNEL"], "a").write(json.dumps({"val_loss": 1.0}) + "\\n")
        json.dump(sys.argv[1:], open("argv-%s.json" % os.environ["SWEEPKIT_TRIAL"], "w"))
        """,
    )
    spec = program_spec(
        ["${interpreter}", "echo.py", "${args}", "${args_no_hyphens}", "${args_json}"],
        parameters={"v": {"values": NASTY}},
        strategy={"name": "grid"},
    )
    result = sweepkit.run(spec, quiet=True)
    assert len(result.trials) == len(NASTY) and {t.state for t in result.trials} == {"COMPLETE"}
    for t in result.trials:
        argv = json.loads((workdir / f"argv-{t.number}.json").read_text())
        value = t.params["v"]
        assert argv[0] == f"--v={value}" and argv[1] == f"v={value}"
        assert json.loads(argv[2]) == {"v": value}
    assert not list(workdir.rglob("PWNED"))


def test_bash_programs_work_too(workdir: Path) -> None:
    write(
        workdir / "run.sh",
        """\
        #!/usr/bin/env bash
        set -eu
        for arg in "$@"; do case $arg in --lr=*) lr=${arg#--lr=};; esac; done
        for step in 0 1 2; do
          printf '{"step": %d, "val_loss": %s}\\n' "$step" "$lr" >> "$SWEEPKIT_CHANNEL"
        done
        """,
    )
    result = sweepkit.run(program_spec(["bash", "run.sh", "${args}"]), trials=2, quiet=True)
    assert [t.value for t in result.trials] == [pytest.approx(t.params["lr"]) for t in result.trials]


def test_crashes_fail_the_trial_with_the_reason(workdir: Path) -> None:
    write(
        workdir / "crash.py",
        """\
        import os, signal, sys
        mode = sys.argv[1].split("=", 1)[1]
        print("loading data", flush=True)
        if mode == "exit":
            print("CUDA out of memory", file=sys.stderr)
            sys.exit(3)
        if mode == "signal":
            os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    spec = program_spec(
        ["${interpreter}", "crash.py", "${args_no_hyphens}"],
        parameters={"mode": {"values": ["exit", "signal"]}},
        strategy={"name": "grid"},
    )
    with pytest.raises(sweepkit.SweepFailed, match="all 2 trials failed"):
        sweepkit.run(spec, quiet=True)
    trials = load_result(Store(), "prog").trials
    errors = {t.params["mode"]: t.error or "" for t in trials}
    assert {t.state for t in trials} == {"FAILED"}
    assert errors["exit"].startswith("the program exited with code 3; last output:\nCUDA out of memory")
    assert errors["signal"].startswith("the program was killed by SIGKILL")


@pytest.mark.slow
def test_timeout_kills_the_whole_process_group(workdir: Path) -> None:
    marker = f"sweepkit-test-{uuid.uuid4().hex}"
    write(
        workdir / "hang.py",
        f"""\
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"])
        open("child.pid", "w").write(str(child.pid))  # a grandchild that would outlive a naive kill
        time.sleep(300)
        """,
    )
    spec = program_spec(["${interpreter}", "hang.py"], trial={"command": ["python", "hang.py"], "timeout": "1s"})
    started = time.monotonic()
    with pytest.raises(sweepkit.SweepFailed, match="timed out after 1s"):
        sweepkit.run(spec, trials=1, quiet=True)
    assert time.monotonic() - started < 30
    trial = load_result(Store(), "prog").trials[0]
    assert trial.state == "FAILED" and trial.error.startswith("timed out after 1s (trial.timeout)")
    assert gone(int((workdir / "child.pid").read_text()))
    assert alive(marker) == []


def test_a_program_that_exits_leaves_no_children(workdir: Path) -> None:
    marker = f"sweepkit-test-{uuid.uuid4().hex}"
    write(
        workdir / "spawn.py",
        f"""\
        import json, os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"])
        open("child.pid", "w").write(str(child.pid))
        open(os.environ["SWEEPKIT_CHANNEL"], "a").write(json.dumps({{"val_loss": 0.5}}) + "\\n")
        """,
    )
    result = sweepkit.run(program_spec(["python", "spawn.py"]), trials=1, quiet=True)
    assert result.trials[0].state == "COMPLETE"
    assert gone(int((workdir / "child.pid").read_text()))
    assert alive(marker) == []


@pytest.mark.parametrize(("summary", "expected"), [("last", 3.0), ("best", 1.0), ("mean_last_k", 2.5)])
def test_metric_summary(workdir: Path, summary: str, expected: float) -> None:
    write(
        workdir / "curve.py",
        """\
        import json, os
        with open(os.environ["SWEEPKIT_CHANNEL"], "a") as c:
            for step, v in enumerate([4.0, 1.0, 2.0, 3.0]):
                c.write(json.dumps({"step": step, "val_loss": v}) + "\\n")
        """,
    )
    spec = program_spec(["python", "curve.py"], metric={"name": "val_loss", "summary": summary, "last_k": 2})
    result = sweepkit.run(spec, trials=1, quiet=True)
    assert result.trials[0].value == expected


def test_logs_are_kept_per_trial_and_shown_by_the_cli(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        workdir / "talk.py",
        """\
        import json, os, sys
        print("hello from stdout")
        print("hello from stderr", file=sys.stderr)
        open(os.environ["SWEEPKIT_CHANNEL"], "a").write(json.dumps({"val_loss": 1}) + "\\n")
        """,
    )
    sweepkit.run(program_spec(["python", "talk.py"]), trials=1, quiet=True)
    from sweepkit.cli import main

    assert main(["logs", "prog", "0"]) == 0
    out = capsys.readouterr().out
    assert "hello from stdout" in out and "hello from stderr" in out
    assert main(["logs", "prog", "7"]) == 2


@pytest.mark.slow
def test_ctrl_c_stops_the_program_and_a_later_run_resumes(workdir: Path) -> None:
    marker = f"sweepkit-test-{uuid.uuid4().hex}"
    write(
        workdir / "slow.py",
        f"""\
        import json, os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"])
        for step in range(40):
            with open(os.environ["SWEEPKIT_CHANNEL"], "a") as c:
                c.write(json.dumps({{"step": step, "val_loss": 1.0 / (step + 1)}}) + "\\n")
            time.sleep(0.1)
        """,
    )
    (workdir / "sweep.yaml").write_text(
        "name: ctrlc\ntrial: {command: [python, slow.py]}\nmetric: {name: val_loss}\nbudget: {trials: 3}\n"
        "parameters:\n  lr: {min: 0.001, max: 0.1}\n"
    )
    cmd = [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not alive(marker):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert alive(marker) == []
    trials = load_result(Store(cwd=workdir), "ctrlc").trials
    assert [t.state for t in trials if t.state != "WAITING"][-1] == "INTERRUPTED"
    assert trials[-1].state == "WAITING" or any(t.error and "Ctrl+C" in t.error for t in trials)
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    trials = load_result(Store(cwd=workdir), "ctrlc").trials
    assert sum(t.state == "COMPLETE" for t in trials) == 3
    assert alive(marker) == []


@pytest.mark.slow
def test_stream_interleaves_output_with_a_trial_prefix(workdir: Path) -> None:
    write(
        workdir / "talk.py",
        """\
        import json, os, sys
        print("epoch 1 done")
        print("warning: slow", file=sys.stderr)
        open(os.environ["SWEEPKIT_CHANNEL"], "a").write(json.dumps({"val_loss": 1}) + "\\n")
        """,
    )
    (workdir / "sweep.yaml").write_text(
        "name: s\ntrial: {command: [python, talk.py]}\nmetric: {name: val_loss}\nbudget: {trials: 2}\n"
        "parameters:\n  lr: {min: 0.001, max: 0.1}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--stream", "--quiet"],
        cwd=workdir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[trial 0] epoch 1 done" in done.stdout and "[trial 1] epoch 1 done" in done.stdout
    assert "[trial 1] warning: slow" in done.stderr
    # the logs are still kept
    assert (workdir / "sweeps" / "s" / "trials" / "0" / "stdout.log").read_text() == "epoch 1 done\n"


@pytest.mark.slow
def test_sigterm_to_sweepkit_stops_its_programs_too(workdir: Path) -> None:
    marker = f"sweepkit-test-{uuid.uuid4().hex}"
    write(
        workdir / "slow.py",
        f"""\
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{marker}"])
        time.sleep(300)
        """,
    )
    (workdir / "sweep.yaml").write_text(
        "name: term\ntrial: {command: [python, slow.py]}\nmetric: {name: val_loss}\nbudget: {trials: 2}\n"
        "parameters:\n  lr: {min: 0.001, max: 0.1}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepkit", "run", "sweep.yaml", "--quiet"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not alive(marker):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert alive(marker) == []
    trials = load_result(Store(cwd=workdir), "term").trials
    assert any(t.error == "interrupted: the sweep was stopped (Ctrl+C or SIGTERM)" for t in trials)


@pytest.mark.slow
def test_a_first_sweep_needs_no_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sweepkit.cli import main

    write(
        workdir / "train.py",
        """\
        import argparse, sweepkit
        parser = argparse.ArgumentParser()
        for flag in ("--lr", "--epochs"):
            parser.add_argument(flag, type=float)
        parser.add_argument("--bs", type=int)
        args = parser.parse_args()
        run = sweepkit.init()
        for epoch in range(int(args.epochs)):
            run.log({"val_loss": args.lr * 100 / (epoch + 1) + args.bs / 100}, step=epoch)
        """,
    )
    flags = ["--param", "lr=loguniform(1e-5,1e-1)", "--param", "bs=choice(16,32,64)", "--metric", "val_loss:minimize"]
    command = ["--", "python", "train.py", "--epochs", "3"]
    assert main(["validate", *flags, *command]) == 0
    shown = capsys.readouterr().out
    assert "its command: python train.py --epochs 3 --lr=" in shown and "--bs=" in shown
    assert main(["run", *flags, "--trials", "4", "--save-spec", "sweep.yaml", "--quiet", *command]) == 0
    result = load_result(Store(), "train")
    assert [t.state for t in result.trials] == ["COMPLETE"] * 4
    for t in result.trials:
        assert t.value == pytest.approx(t.params["lr"] * 100 / 3 + t.params["bs"] / 100)
    # the saved file is the same sweep: running it resumes, with nothing left to do
    spec = sweepkit.load_spec(workdir / "sweep.yaml")
    assert spec.name == "train" and spec.trial.command == ["python", "train.py", "--epochs", "3", "${args}"]
    assert main(["run", "sweep.yaml", "--trials", "4", "--quiet"]) == 0
    assert len(load_result(Store(), "train").trials) == 4
    assert main(["run", "sweep.yaml", "--param", "x=uniform(0,1)", "--", "python", "t.py"]) == 2

"""Unmodified W&B scripts as trials: W&B's real library, offline, fed its config; what it logs reaches the sweep
through W&B's public API (sweepkit's sitecustomize in the trial's Python), as it logs it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepkit._wandb_shim import SITE_DIR
from sweepkit.sweep._program import Channel
from sweepkit.sweep._wandb import wandb_env, with_shim, without_wandb
from tests.conftest import IN_CI

HAVE_WANDB = importlib.util.find_spec("wandb") is not None
needs_wandb = pytest.mark.skipif(
    not HAVE_WANDB and not IN_CI, reason="W&B's library is not installed: pip install 'sweepkit[wandb]'"
)
DEAD_PROXY = "http://127.0.0.1:9"  # anything fetched through it fails at once

PARAMS: dict[str, Any] = {
    "learning_rate": 0.0025,
    "batch_size": 32,
    "dropout": 0.25,
    "optimizer": {"name": "adamw", "betas": [0.9, 0.98], "weight_decay": 1e-4},
}

# Written as a W&B user writes it (the W&B multi-head workflow's train_multihead.py): nothing here knows about sweepkit.
SCRIPT = """\
import json
import os
import time

import wandb

started = time.perf_counter()
wandb.init(project="gcode-fingerprinting", config={"learning_rate": 0.1, "max_epochs": EPOCHS})
init_seconds = time.perf_counter() - started
config = wandb.config
with open("seen.json", "w") as out:
    json.dump({"config": dict(config), "sweep_id": wandb.run.sweep_id, "init_seconds": init_seconds}, out)

acc = 0.2
for epoch in range(config.max_epochs):
    acc += config.learning_rate * 40 * (1 - acc)
    wandb.log({
        "val/gcode_acc": acc,
        "train/loss": 1 - acc,
        "epoch": epoch,
        "gcode_sample": "G1 X10 Y20 F1500\\n" * REPEAT,
    })
    time.sleep(SLEEP)
wandb.run.summary["best_val_acc"] = acc
wandb.finish()
"""


def user_script(folder: Path, *, epochs: int, sleep: float, sample_lines: int) -> Path:
    """`sample_lines` sets the size of a text logged each epoch: 2500 lines (~42 KB) span LevelDB blocks."""
    path = folder / "train_multihead.py"
    script = SCRIPT.replace("EPOCHS", str(epochs)).replace("SLEEP", str(sleep)).replace("REPEAT", str(sample_lines))
    path.write_text(script)
    return path


def offline_command(script: Path) -> list[str]:
    """The script's command, where the OS allows it in a network namespace of its own with loopback only
    (older W&B talks to its service over localhost TCP): no route, no DNS. Otherwise the dead proxy is all."""
    command = [sys.executable, str(script)]
    unshare = shutil.which("unshare")
    isolated = [unshare or "unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    if unshare and subprocess.run([*isolated, "true"], capture_output=True).returncode == 0:
        return [*isolated, *command]
    return command


def trial_env(trial_dir: Path, home: Path) -> dict[str, str]:
    """As a program trial gets it: W&B offline, the channel, and the shim first on PYTHONPATH."""
    return {
        **without_wandb(os.environ),
        **wandb_env(trial_dir, PARAMS, sweep="gcode sweep", trial=7),
        "SWEEPKIT_CHANNEL": str(trial_dir / "metrics.jsonl"),
        "PYTHONPATH": with_shim(os.environ.get("PYTHONPATH")),
        "HOME": str(home),  # anything written under ~ would show up here
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
    }


def read_channel(trial_dir: Path) -> Channel:
    """The trial's channel, read as the runner reads it (a malformed line fails the test)."""
    return Channel(trial_dir / "metrics.jsonl", warn=pytest.fail)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One W&B script run to its end as a trial, in a project folder of its own."""
    root = tmp_path_factory.mktemp("wandb-run")
    project, trial_dir, home = root / "project", root / "trial", root / "home"
    for folder in (project, trial_dir, home):
        folder.mkdir()
    script = user_script(project, epochs=5, sleep=0, sample_lines=2500)
    started = time.perf_counter()
    done = subprocess.run(
        offline_command(script),
        cwd=project,
        env=trial_env(trial_dir, home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.perf_counter() - started
    return {"done": done, "seconds": seconds, "project": project, "trial_dir": trial_dir, "home": home}


@pytest.mark.slow
@needs_wandb
def test_script_runs_offline_with_the_params_as_its_config(finished: dict[str, Any]) -> None:
    done = finished["done"]
    assert done.returncode == 0, done.stderr
    seen = json.loads((finished["project"] / "seen.json").read_text())
    # The sweep's values win over the script's defaults, nested params arrive nested, other defaults stay.
    assert seen["config"] == {**PARAMS, "max_epochs": 5}
    assert seen["sweep_id"] == "gcode-sweep"
    assert "sweepkit" not in done.stderr  # the shim said nothing: it had nothing to complain about
    print(f"\nwandb.init() offline: {seen['init_seconds']:.2f}s; whole process: {finished['seconds']:.2f}s")


@pytest.mark.slow
@needs_wandb
def test_nothing_is_written_outside_the_trial_folder(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    assert list(finished["home"].iterdir()) == []
    assert sorted(p.name for p in finished["project"].iterdir()) == ["seen.json", "train_multihead.py"]
    runs = list((finished["trial_dir"] / "wandb").glob("offline-run-*-7-*/run-7-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 32 * 1024  # W&B's own run, for `wandb sync`, as ever


@pytest.mark.slow
@needs_wandb
def test_every_logged_row_comes_back_with_its_step(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    channel = read_channel(finished["trial_dir"])
    rows = channel.poll()
    assert [step for step, _ in rows] == [0, 1, 2, 3, 4]
    for step, row in rows:
        assert set(row) == {"val/gcode_acc", "train/loss", "epoch", "gcode_sample"}  # no _step, _runtime, ...
        assert row["epoch"] == step
        assert row["val/gcode_acc"] + row["train/loss"] == pytest.approx(1)
        assert len(row["gcode_sample"]) > 32 * 1024
    assert channel.poll() == []  # nothing twice
    assert not channel.stop_check  # a W&B script never checks the stop file: it is stopped at once


@pytest.mark.slow
@needs_wandb
def test_summary_holds_the_last_values(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    channel = read_channel(finished["trial_dir"])
    last = channel.poll()[-1][1]
    summary = channel.summary
    assert summary["val/gcode_acc"] == last["val/gcode_acc"]
    assert summary["epoch"] == 4
    assert summary["best_val_acc"] == pytest.approx(last["val/gcode_acc"])  # set by the script itself
    assert not [key for key in summary if key.startswith("_")]


@pytest.mark.slow
@needs_wandb
def test_rows_arrive_while_the_script_runs(tmp_path: Path) -> None:
    """Each row is written by the script's own wandb.log call, not when W&B flushes its file."""
    trial_dir, home = tmp_path / "trial", tmp_path / "home"
    trial_dir.mkdir()
    home.mkdir()
    script = user_script(tmp_path, epochs=6, sleep=0.8, sample_lines=1)
    proc = subprocess.Popen(
        offline_command(script),
        cwd=tmp_path,
        env=trial_env(trial_dir, home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    channel = read_channel(trial_dir)
    seen: list[tuple[float, int | None]] = []  # (when it was read, step)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen += [(time.monotonic(), step) for step, _ in channel.poll()]
            time.sleep(0.2)
    finally:
        proc.kill()
        _, stderr = proc.communicate()
    ended = time.monotonic()
    assert proc.returncode == 0, stderr.decode()
    seen += [(ended, step) for step, _ in channel.poll()]
    assert [step for _, step in seen] == [0, 1, 2, 3, 4, 5]
    early = [step for when, step in seen if when < ended - 1.5]
    assert len(early) >= 4, f"rows read 1.5 s or more before the end: {early}"
    assert channel.summary["epoch"] == 5


# W&B's step rules, exercised through its public API; each call notes W&B's own step before and after it.
STEPS_SCRIPT = """\
import json

import numpy as np
import wandb

calls = []


def log(run, *args, **kwargs):
    before = run.step
    run.log(*args, **kwargs)
    calls.append({"before": before, "after": run.step, "step": kwargs.get("step")})


with wandb.init(project="steps") as run:
    log(run, {"a": 1})
    log(run, {"b": 2}, commit=False)
    log(run, {"c": 3})
    log(run, {"d": 4}, step=5)
    log(run, {"e": 5}, step=5)
    log(run, {"f": 6}, step=3)  # behind W&B's step: W&B drops it
    log(run, {
        "g": 7, "nested": {"x": 1.5, "y": {"z": "deep"}}, "nan": float("nan"), "np": np.float32(0.25),
        "array": np.arange(4), "hist": wandb.Histogram([1, 2, 3]), "step": 99, "event": "not a protocol event",
    })
    run.summary["best"] = 0.5
second = wandb.init(project="steps")  # never finished: its summary is read at exit, before W&B's own hook
wandb.log({"h": 8})
second.summary["best"] = 0.75
json.dump(calls, open("calls.json", "w"))
"""


@needs_wandb
@pytest.mark.slow
def test_rows_follow_w_and_b_s_own_step_and_runs_end_with_their_summary(tmp_path: Path) -> None:
    trial_dir, home = tmp_path / "trial", tmp_path / "home"
    trial_dir.mkdir()
    home.mkdir()
    (tmp_path / "steps.py").write_text(STEPS_SCRIPT)
    done = subprocess.run(
        offline_command(tmp_path / "steps.py"),
        cwd=tmp_path,
        env=trial_env(trial_dir, home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "sweepkit" not in done.stderr
    lines = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [line for line in lines if "event" not in line]
    calls = json.loads((tmp_path / "calls.json").read_text())
    assert [row["step"] for row in rows] == [0, 1, 1, 5, 5, 5, 0]
    # W&B's own count agrees: a call without a step goes to the step W&B said was next
    kept = [call for call in calls if call["step"] is None or call["step"] >= call["before"]]
    assert [call["step"] if call["step"] is not None else call["before"] for call in kept] == [0, 1, 1, 5, 5, 5]
    assert [sorted(set(row) - {"step"}) for row in rows] == [
        ["a"],
        ["b"],
        ["c"],
        ["d"],
        ["e"],
        ["g", "nan", "nested.x", "nested.y.z", "np"],
        ["h"],
    ]
    odd = rows[5]
    assert odd["nan"] == "nan" and odd["np"] == 0.25 and odd["nested.x"] == 1.5 and odd["nested.y.z"] == "deep"
    summaries = [line["metrics"] for line in lines if line.get("event") == "summary"]
    assert len(summaries) == 2 and not [line for line in lines if line.get("event") not in (None, "summary")]
    first, second = summaries
    assert first["best"] == 0.5 and first["a"] == 1 and first["g"] == 7 and first["nested.x"] == 1.5
    assert not {"hist", "array", "step", "event"} & set(first) and not [k for k in first if k.startswith("_")]
    assert second == {"h": 8, "best": 0.75}
    channel = read_channel(trial_dir)
    channel.poll()
    assert channel.summary["best"] == 0.75  # the runner takes the runs' summaries in order: the last run's wins


@needs_wandb
@pytest.mark.slow
def test_a_broken_channel_never_breaks_the_program(tmp_path: Path) -> None:
    trial_dir, home = tmp_path / "trial", tmp_path / "home"
    trial_dir.mkdir()
    home.mkdir()
    script = user_script(tmp_path, epochs=3, sleep=0, sample_lines=1)
    env = {**trial_env(trial_dir, home), "SWEEPKIT_CHANNEL": str(tmp_path)}  # a folder: it cannot be opened
    done = subprocess.run(
        offline_command(script), cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "seen.json").read_text())["config"]["learning_rate"] == PARAMS["learning_rate"]
    notes = [line for line in done.stderr.splitlines() if line.startswith("sweepkit:")]
    assert len(notes) == 1 and "wandb.log is not read in this trial" in notes[0] and "IsADirectoryError" in notes[0]


@pytest.mark.slow
@needs_wandb
def test_params_file_is_the_one_wandb_reads(tmp_path: Path) -> None:
    from wandb.sdk.lib import config_util

    env = wandb_env(tmp_path, PARAMS, sweep="s", trial=0)
    assert config_util.dict_from_config_file(env["WANDB_SWEEP_PARAM_PATH"], must_exist=True) == PARAMS


def test_env_keeps_every_w_and_b_file_in_the_trial_folder(tmp_path: Path) -> None:
    env = wandb_env(tmp_path, PARAMS, sweep="my/sweep: #1", trial=3, project="gcode?fingerprinting")
    assert env["WANDB_MODE"] == "offline"
    assert env["WANDB_SERVICE"] == ""
    assert env["WANDB_SWEEP_ID"] == "my-sweep-1"
    assert env["WANDB_PROJECT"] == "gcode-fingerprinting"
    assert env["WANDB_RUN_ID"].startswith("3-")
    for key in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        assert Path(env[key]).is_relative_to(tmp_path.resolve()), key
    param_file = Path(env["WANDB_SWEEP_PARAM_PATH"])
    assert param_file == tmp_path.resolve() / "wandb" / "sweep-my-sweep-1" / f"config-{env['WANDB_RUN_ID']}.yaml"
    loaded = yaml.safe_load(param_file.read_text())
    assert loaded.pop("wandb_version") == 1
    assert loaded == {name: {"value": value} for name, value in PARAMS.items()}
    assert all(isinstance(value, str) for value in env.values())


def test_each_attempt_is_a_w_and_b_run_of_its_own(tmp_path: Path) -> None:
    first = wandb_env(tmp_path, PARAMS, sweep="s", trial=3)
    second = wandb_env(tmp_path, PARAMS, sweep="s", trial=3)
    assert first["WANDB_RUN_ID"] != second["WANDB_RUN_ID"]
    assert Path(first["WANDB_SWEEP_PARAM_PATH"]).exists() and Path(second["WANDB_SWEEP_PARAM_PATH"]).exists()


def test_inherited_wandb_variables_are_dropped_but_labels() -> None:
    inherited = {"PATH": "/bin", "WANDB_SERVICE": "2-1-tcp-localhost-1", "WANDB_RESUME": "must", "WANDB_TAGS": "a"}
    assert without_wandb(inherited) == {"PATH": "/bin", "WANDB_TAGS": "a"}


def test_the_shim_comes_first_on_the_python_path_once() -> None:
    assert with_shim(None) == SITE_DIR
    assert with_shim(os.pathsep.join(["/a", "/b"])) == os.pathsep.join([SITE_DIR, "/a", "/b"])
    assert with_shim(with_shim("/a")) == with_shim("/a")  # a sweep run from a trial: not twice
    assert sorted(os.listdir(SITE_DIR)) in (["sitecustomize.py"], ["__pycache__", "sitecustomize.py"])


PROBE = """\
import json, sys
finders = [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sweepkit", "wandb", "importlib"))
custom = getattr(sys.modules.get("sitecustomize"), "MARK", None)
print(json.dumps({"finders": finders, "loaded": loaded, "custom": custom}))
"""


def probe(tmp_path: Path, pythonpath: str, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={**os.environ, "SWEEPKIT_CHANNEL": str(tmp_path / "metrics.jsonl"), "PYTHONPATH": pythonpath, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout), "stderr": done.stderr}


def test_a_program_that_never_imports_wandb_loads_nothing_of_the_shim(tmp_path: Path) -> None:
    seen = probe(tmp_path, with_shim(os.environ.get("PYTHONPATH")))
    assert seen["finders"][0] == "_WandbFinder"  # waiting for `import wandb`, and nothing more
    assert [m for m in seen["loaded"] if not m.startswith("importlib.")] == []  # neither sweepkit nor wandb
    assert "importlib.util" not in seen["loaded"]
    assert seen["stderr"] == ""
    assert not (tmp_path / "metrics.jsonl").exists()
    outside = probe(tmp_path, with_shim(os.environ.get("PYTHONPATH")), SWEEPKIT_CHANNEL="")
    assert "_WandbFinder" not in outside["finders"]  # no channel, no sweep: the hook stays out of the way


def test_the_sitecustomize_it_hides_still_runs(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nMARK = 'theirs'\nopen('ran', 'w').close()\n")
    seen = probe(tmp_path, with_shim(os.pathsep.join([str(theirs), os.environ.get("PYTHONPATH", "")])))
    assert seen["custom"] == "theirs" and (tmp_path / "ran").exists()  # `import sitecustomize` gives theirs
    assert seen["finders"][0] == "_WandbFinder"
    # one that fails is reported by Python as it always is; the hook is in place all the same
    (theirs / "sitecustomize.py").write_text("raise RuntimeError('broken on purpose')\n")
    seen = probe(tmp_path, with_shim(os.pathsep.join([str(theirs), os.environ.get("PYTHONPATH", "")])))
    assert "Error in sitecustomize" in seen["stderr"] and "broken on purpose" in seen["stderr"]
    assert seen["finders"][0] == "_WandbFinder"


def test_only_scalars_are_copied_and_nested_names_are_dotted() -> None:
    from sweepkit._wandb_shim import _flat

    class Scalar:  # what numpy and torch scalars look like to the client's conversion
        def item(self) -> float:
            return 0.5

    row = _flat(
        {
            "loss": 1.0,
            "acc": float("inf"),
            "name": "adamw",
            "ok": True,
            "none": None,
            "val": {"acc": 0.9, "deep": {"f1": Scalar()}},
            "image": {"_type": "image-file", "path": "media/x.png"},
            "list": [1, 2, 3],
            "obj": object(),
            "_step": 3,
            "step": 3,
            "event": "x",
        }
    )
    assert row == {
        "loss": 1.0,
        "acc": "inf",
        "name": "adamw",
        "ok": True,
        "none": None,
        "val.acc": 0.9,
        "val.deep.f1": 0.5,
    }


# An unmodified W&B script: it never looks at sweepkit's stop file, it only calls wandb.log.
EPOCHS_SCRIPT = """\
import time

import wandb

wandb.init(project="early-stop", config={"learning_rate": 0.1, "epochs": 8})
config = wandb.config
acc = 0.2
for epoch in range(config.epochs):
    acc += config.learning_rate * (1 - acc)
    wandb.log({"val_acc": acc, "epoch": epoch})
    time.sleep(0.5)
open("finished-%s" % config.learning_rate, "w").close()
wandb.finish()
"""


@needs_wandb
@pytest.mark.slow
def test_a_pruned_wandb_script_is_stopped_and_its_steps_counted(workdir: Path) -> None:
    from sweepkit.cli import main

    (workdir / "train.py").write_text(EPOCHS_SCRIPT)
    (workdir / "sweep.yaml").write_text(
        "name: wandb-prune\nprogram: train.py\nmethod: grid\nmetric: {name: val_acc, goal: maximize}\n"
        "pruner: {type: threshold, lower: 0.5}\nparameters:\n  learning_rate: {values: [0.5, 0.01]}\n"
    )
    assert main(["run", "sweep.yaml", "-q"]) == 0
    trials = {t["params"]["learning_rate"]: t for t in read_history(workdir / "sweeps" / "wandb-prune")}
    assert trials[0.5]["state"] == "COMPLETE" and trials[0.5]["steps"] == 8
    pruned = trials[0.01]
    assert pruned["state"] == "PRUNED"
    assert not (workdir / "finished-0.01").exists()  # stopped at once, not after its last epoch
    logged = read_channel(workdir / "sweeps" / "wandb-prune" / "trials" / str(pruned["number"])).poll()
    assert pruned["steps"] == len(logged) < 8  # what it really logged before it ended
    summary = json.loads((workdir / "sweeps" / "wandb-prune" / "tuning_results.json").read_text())
    assert summary["steps"]["spent"] == 8 + len(logged)


def read_history(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "trials_history.json").read_text())

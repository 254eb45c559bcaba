"""Unmodified W&B scripts as trials: W&B's real library, offline, fed its config and read back while it runs."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepkit.sweep._wandb import MISSING_HINT, WandbReader, _scan, wandb_env, without_wandb
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


def wandb_version() -> tuple[int, ...]:
    from wandb import __version__

    return tuple(int(part) for part in __version__.split(".")[:2] if part.isdigit())


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
    return {
        **without_wandb(os.environ),
        **wandb_env(trial_dir, PARAMS, sweep="gcode sweep", trial=7),
        "HOME": str(home),  # anything written under ~ would show up here
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
    }


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


@needs_wandb
def test_script_runs_offline_with_the_params_as_its_config(finished: dict[str, Any]) -> None:
    done = finished["done"]
    assert done.returncode == 0, done.stderr
    seen = json.loads((finished["project"] / "seen.json").read_text())
    # The sweep's values win over the script's defaults, nested params arrive nested, other defaults stay.
    assert seen["config"] == {**PARAMS, "max_epochs": 5}
    assert seen["sweep_id"] == "gcode-sweep"
    print(f"\nwandb.init() offline: {seen['init_seconds']:.2f}s; whole process: {finished['seconds']:.2f}s")


@needs_wandb
def test_nothing_is_written_outside_the_trial_folder(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    assert list(finished["home"].iterdir()) == []
    assert sorted(p.name for p in finished["project"].iterdir()) == ["seen.json", "train_multihead.py"]
    runs = list((finished["trial_dir"] / "wandb").glob("offline-run-*-7-*/run-7-*.wandb"))
    assert len(runs) == 1


@needs_wandb
def test_every_logged_row_comes_back_with_its_step(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    reader = WandbReader(finished["trial_dir"])
    rows = reader.poll()
    assert [step for step, _ in rows] == [0, 1, 2, 3, 4]
    for step, row in rows:
        assert set(row) == {"val/gcode_acc", "train/loss", "epoch", "gcode_sample"}  # no _step, _runtime, ...
        assert row["epoch"] == step
        assert row["val/gcode_acc"] + row["train/loss"] == pytest.approx(1)
        assert len(row["gcode_sample"]) > 32 * 1024
    assert reader.poll() == []  # nothing twice


@needs_wandb
def test_summary_holds_the_last_values(finished: dict[str, Any]) -> None:
    assert finished["done"].returncode == 0, finished["done"].stderr
    reader = WandbReader(finished["trial_dir"])
    rows = reader.poll()
    summary = reader.summary()
    last = rows[-1][1]
    assert summary["val/gcode_acc"] == last["val/gcode_acc"]
    assert summary["epoch"] == 4
    assert summary["best_val_acc"] == pytest.approx(last["val/gcode_acc"])
    assert not [key for key in summary if key.startswith("_")]


@needs_wandb
def test_summary_first_keeps_the_rows_for_the_next_poll(finished: dict[str, Any]) -> None:
    reader = WandbReader(finished["trial_dir"])
    assert reader.summary()["epoch"] == 4
    assert [step for step, _ in reader.poll()] == [0, 1, 2, 3, 4]


@needs_wandb
def test_rows_arrive_while_the_script_runs(tmp_path: Path) -> None:
    """Small rows, well under a 32 KiB block: they reach the file because wandb_env sets the flush interval."""
    if HAVE_WANDB and wandb_version() < (0, 31):
        pytest.skip("W&B before 0.31 writes its run file only as 32 KiB blocks fill: no live rows to read")
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
    reader = WandbReader(trial_dir)
    seen: list[tuple[float, int | None]] = []  # (when it was read, step)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen += [(time.monotonic(), step) for step, _ in reader.poll()]
            time.sleep(0.2)
    finally:
        proc.kill()
        _, stderr = proc.communicate()
    ended = time.monotonic()
    assert proc.returncode == 0, stderr.decode()
    seen += [(ended, step) for step, _ in reader.poll()]
    assert [step for _, step in seen] == [0, 1, 2, 3, 4, 5]
    # Rows read in the last moments could come from the file written at exit; these came epochs before it.
    early = [step for when, step in seen if when < ended - 1.5]
    assert len(early) >= 2, f"rows read 1.5 s or more before the end: {early}"
    assert reader.summary()["epoch"] == 5


@needs_wandb
def test_a_growing_file_is_read_once_whatever_the_cut(finished: dict[str, Any], tmp_path: Path) -> None:
    """The real file, copied a few bytes at a time: torn chunks and half-written records wait for the rest."""
    source = next((finished["trial_dir"] / "wandb").glob("offline-run-*/run-*.wandb"))
    data = source.read_bytes()
    expected = WandbReader(finished["trial_dir"]).poll()
    assert len(data) > 4 * 32 * 1024 and len(expected) == 5
    for step_bytes in (1000, 4093, 32 * 1024 - 3, 50_000):
        copy = tmp_path / str(step_bytes) / "wandb" / "offline-run-20250101_000000-x" / "run-x.wandb"
        copy.parent.mkdir(parents=True)
        reader = WandbReader(tmp_path / str(step_bytes))
        rows = []
        with copy.open("wb") as out:
            for cut in range(0, len(data), step_bytes):
                out.write(data[cut : cut + step_bytes])
                out.flush()
                rows += reader.poll()
        assert rows == expected
        assert reader.summary() == WandbReader(finished["trial_dir"]).summary()


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


def test_inherited_wandb_variables_are_dropped_but_labels() -> None:
    inherited = {"PATH": "/bin", "WANDB_SERVICE": "2-1-tcp-localhost-1", "WANDB_RESUME": "must", "WANDB_TAGS": "a"}
    assert without_wandb(inherited) == {"PATH": "/bin", "WANDB_TAGS": "a"}


@needs_wandb
def test_a_new_attempt_ignores_the_runs_of_an_old_one(finished: dict[str, Any], tmp_path: Path) -> None:
    trial_dir = tmp_path / "trial"
    shutil.copytree(finished["trial_dir"], trial_dir)
    assert WandbReader(trial_dir).poll()
    wandb_env(trial_dir, PARAMS, sweep="gcode sweep", trial=7)
    reader = WandbReader(trial_dir)
    assert reader.poll() == []
    assert reader.summary() == {}


def test_without_wandb_installed_nothing_is_read(
    finished: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now fails, as when it isn't installed
    for name in [n for n in sys.modules if n.startswith("wandb.")]:
        monkeypatch.delitem(sys.modules, name)
    for folder in (finished["trial_dir"], tmp_path):
        reader = WandbReader(folder)
        assert reader.poll() == []
        assert reader.summary() == {}
        assert not reader.available
    assert "pip install 'sweepkit[wandb]'" in MISSING_HINT


def test_an_empty_folder_has_nothing() -> None:
    reader = WandbReader(Path("/nonexistent/trial"))
    assert reader.poll() == []
    assert reader.summary() == {}


# The LevelDB log format itself, with a writer that follows wandb-core's (core/pkg/leveldb/record.go).
BLOCK = 32 * 1024


def leveldb_log(records: list[bytes]) -> bytes:
    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
    for record in records:
        first = True
        rest = record
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < 7:
                out += b"\0" * left
                left = BLOCK
            chunk, rest = rest[: left - 7], rest[left - 7 :]
            kind = (1 if not rest else 2) if first else (4 if not rest else 3)
            out += struct.pack("<IHB", zlib.crc32(chunk, zlib.crc32(bytes([kind]))), len(chunk), kind) + chunk
            first = False
            if not rest:
                break
    return bytes(out)


def payloads(count: int, largest: int = 70_000) -> list[bytes]:
    """Records from 1 byte to two blocks and more, so some start, end or sit whole in every spot of a block."""
    return [bytes([65 + i % 26]) * (i * 9001 % largest + 1) for i in range(count)]


def test_scan_reads_records_across_blocks() -> None:
    records = payloads(12)
    data = leveldb_log(records)
    found, offset = _scan(data[7:], 7, final=False)
    assert found == records
    assert offset == len(data)


@pytest.mark.parametrize("step", [3, 7, 4096, 32 * 1024 + 5])
def test_scan_takes_a_growing_log_a_record_at_a_time(step: int) -> None:
    records = payloads(8, largest=30_000)
    data = leveldb_log(records)
    found: list[bytes] = []
    offset = 7
    for size in range(7, len(data) + step, step):
        got, offset = _scan(data[offset:size], offset, final=False)
        found += got
    assert found == records


def test_scan_skips_a_corrupt_block_once_it_is_finished() -> None:
    records = payloads(12)
    data = bytearray(leveldb_log(records))
    data[BLOCK + 100] ^= 0xFF  # inside block 1
    whole, _ = _scan(bytes(data[7:]), 7, final=False)
    assert whole and len(whole) < len(records)
    assert set(whole) <= set(records)
    assert whole[-1] == records[-1]  # reading goes on after the bad block
    torn, offset = _scan(bytes(data[7 : BLOCK + 200]), 7, final=False)
    assert torn == records[: len(torn)]
    assert offset <= BLOCK + 100  # block 1 is still being written: wait, its bytes may be torn
    rest, _ = _scan(bytes(data[offset:]), offset, final=False)
    assert torn + rest == whole
    cut, _ = _scan(bytes(data[offset : BLOCK + 200]), offset, final=True)  # the writer is gone: skip it
    assert cut == []


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
    logged = WandbReader(workdir / "sweeps" / "wandb-prune" / "trials" / str(pruned["number"])).poll()
    assert pruned["steps"] == len(logged) < 8  # what it really logged before it ended
    summary = json.loads((workdir / "sweeps" / "wandb-prune" / "tuning_results.json").read_text())
    assert summary["steps"]["spent"] == 8 + len(logged)


def read_history(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "trials_history.json").read_text())

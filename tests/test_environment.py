"""`sweeps/<name>/environment.json`: every run and agent of a sweep records what ran it, and collecting the
record never fails a sweep (no git, no GPU, no NVML)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import sweepkit
from sweepkit import environment
from sweepkit.sweep import join

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


SPEC = {
    "name": "env",
    "parameters": {"x": {"min": -1.0, "max": 1.0}},
    "metric": {"name": "loss"},
    "trial": {"function": "train:objective"},
}
TRAIN = "def objective(params):\n    return params['x'] ** 2\n"


def _repo(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([*GIT, "init", "-q", str(folder)], check=True)
    (folder / "train.py").write_text(TRAIN)
    subprocess.run([*GIT, "-C", str(folder), "add", "train.py"], check=True)
    subprocess.run([*GIT, "-C", str(folder), "commit", "-qm", "first"], check=True)
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_git_records_the_commit_and_whether_tracked_files_changed(tmp_path: Path) -> None:
    commit = _repo(tmp_path / "repo")
    (tmp_path / "repo" / "sweeps").mkdir()
    (tmp_path / "repo" / "sweeps" / "out.json").write_text("{}")  # untracked outputs: not a change
    clean = environment.git(tmp_path / "repo")
    assert clean is not None
    assert (clean["commit"], clean["dirty"], clean["changed"]) == (commit, False, [])
    assert Path(clean["root"]).resolve() == (tmp_path / "repo").resolve()
    (tmp_path / "repo" / "train.py").write_text(TRAIN + "# changed\n")
    dirty = environment.git(tmp_path / "repo")
    assert dirty is not None and dirty["dirty"] is True and dirty["changed"] == ["train.py"]


def test_no_repository_or_no_git_is_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment.git(tmp_path) is None
    _repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # git can't be found
    assert environment.git(tmp_path / "repo") is None


def test_collect_reads_versions_without_importing_the_packages() -> None:
    code = (
        "import json, sys; from sweepkit import environment; "
        "entry = environment.collect(seed=3, folder=None); "
        "heavy = ('numpy', 'torch', 'lightgbm', 'xgboost', 'catboost', 'sklearn', 'optuna'); "
        "print(json.dumps({'entry': entry, 'imported': [m for m in heavy if m in sys.modules]}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["imported"] == []
    entry = out["entry"]
    assert entry["packages"]["optuna"] == metadata.version("optuna")
    assert entry["packages"]["sweepkit"] == sweepkit.__version__
    assert entry["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert entry["cpu"]["count"] == os.cpu_count() and entry["os"]["system"]
    assert entry["seed"] == 3 and entry["git"] is None


def test_gpus_never_fail_and_say_why_there_are_none() -> None:
    found = environment.gpus()
    assert set(found) == {"driver", "cuda_driver", "devices", "note"}
    if not found["devices"]:  # this machine has no NVIDIA GPU, or no nvidia-ml-py: the reason is kept
        assert found["note"]
    else:
        assert found["driver"] and all(d["name"] and d["memory_mb"] > 0 for d in found["devices"])


def test_each_run_and_agent_appends_its_entry(workdir: Path) -> None:
    commit = _repo(workdir)
    first = sweepkit.run(SPEC, trials=2, seed=11, quiet=True)
    path = workdir / "sweeps" / "env" / "environment.json"
    record = json.loads(path.read_text())
    assert (record["sweep"], record["seed"]) == ("env", 11)
    (run,) = record["runs"]
    assert run["role"] == "run" and run["seed"] == 11 == first.seed
    assert run["git"]["commit"] == commit and run["git"]["dirty"] is False
    assert run["command"] == list(getattr(sys, "orig_argv", sys.argv))
    assert run["pid"] == os.getpid() and run["cwd"] == str(workdir)

    (workdir / "train.py").write_text(TRAIN + "# changed\n")  # the code changed between runs: the record says so
    sweepkit.run(SPEC, trials=3, quiet=True)
    join("env", quiet=True)  # the budget is spent: the agent stops at once, and is recorded all the same
    runs = json.loads(path.read_text())["runs"]
    assert [r["role"] for r in runs] == ["run", "run", "agent"]
    assert [r["seed"] for r in runs] == [11, 11, 11]
    assert [r["git"]["dirty"] for r in runs] == [False, True, True]


def test_the_record_keeps_the_last_runs_and_survives_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / environment.FILE).write_text("{not json")
    for n in range(environment.KEEP_RUNS + 5):
        environment.record(tmp_path, sweep="s", seed=1, entry={"n": n})
    runs = json.loads((tmp_path / environment.FILE).read_text())["runs"]
    assert [r["n"] for r in runs] == list(range(5, environment.KEEP_RUNS + 5))


def test_an_output_folder_that_cannot_be_made_is_a_note_not_a_failed_sweep(workdir: Path) -> None:
    from sweepkit.spec import load_spec
    from sweepkit.sweep import _record_environment

    (workdir / "sweeps").mkdir()
    (workdir / "sweeps" / "env").write_text("a file where the sweep's folder should be")  # even root can't mkdir
    notes: list[str] = []
    _record_environment(load_spec(SPEC, cwd=workdir), notes.append, role="run")
    assert len(notes) == 1 and "could not write" in notes[0]

"""`sweeps/<name>/environment.json`: what ran the sweep, recorded by every run and agent.

A result is only as reproducible as its record: the Python and package versions, the OS, CPU and GPUs (with
the driver), the git commit of the sweep file's folder and whether it had uncommitted changes, the command
line and the sweep's seed. Everything is read without importing the packages (`importlib.metadata`), git is
run as an argv list with a timeout, and NVML is asked only when nvidia-ml-py is installed: collecting never
fails a sweep, it records `null` (and why) for what it could not learn.

Each run of the sweep (the first, a resume, an agent on another host) appends its own entry to `runs`, so a
sweep resumed after an upgrade, or farmed out to mixed machines, shows every environment its trials ran in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE = "environment.json"
KEEP_RUNS = 100  # a nightly sweep resumed for months keeps its last 100 runs' entries
GIT_SECONDS = 5.0
# Distribution names, as pip knows them; those installed are recorded.
PACKAGES = (
    "sweepkit",
    "optuna",
    "cmaes",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "torch",
    "torchvision",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",  # the CPU-only build's distribution name (module xgboost)
    "catboost",
    "tensorflow",
    "jax",
    "jaxlib",
    "transformers",
    "peft",
    "accelerate",
    "lightning",
    "ray",
    "mlflow",
    "wandb",
    "nvidia-ml-py",
)
# Environment variables that change results or placement (never secrets: only these names are read).
ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUDA_LAUNCH_BLOCKING",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "TF_DETERMINISTIC_OPS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


def packages(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """{distribution: version} of those installed, from their metadata (nothing is imported)."""
    from importlib import metadata

    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _torch_cuda() -> str | None:
    """The CUDA version torch was built for, read from torch/version.py's text: importing torch takes seconds."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except (OSError, StopIteration):
        return None
    found = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return found.group(1) if found else None


def cpu() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(("model name", "Model", "cpu model")):
                model = line.partition(":")[2].strip() or None
                break
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = None
    return {"model": model or platform.processor() or None, "count": os.cpu_count(), "usable": usable}


def gpus() -> dict[str, Any]:
    """NVIDIA GPUs and driver from NVML; none (with the reason) without nvidia-ml-py, a driver or a GPU."""
    out: dict[str, Any] = {"driver": None, "cuda_driver": None, "devices": [], "note": None}
    try:
        import pynvml  # nvidia-ml-py, the `monitor` extra
    except ImportError:
        out["note"] = "nvidia-ml-py is not installed: no GPU information (pip install 'sweepkit[monitor]')"
        return out
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError (no library, no driver) or OSError (a broken library)
        out["note"] = f"NVML unavailable: {exc}"
        return out
    try:
        out["driver"] = _text(pynvml.nvmlSystemGetDriverVersion())
        with contextlib.suppress(Exception):
            version = int(pynvml.nvmlSystemGetCudaDriverVersion())
            out["cuda_driver"] = f"{version // 1000}.{version % 1000 // 10}"
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            out["devices"].append(
                {
                    "index": index,
                    "name": _text(pynvml.nvmlDeviceGetName(handle)),
                    "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
                    "memory_mb": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20,
                }
            )
    except Exception as exc:  # a GPU that fell off the bus: keep what was read, and say why the rest is missing
        out["note"] = f"NVML error: {exc}"
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},  # status must not take the index lock
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    return done.stdout.rstrip("\n") if done.returncode == 0 else None  # not strip(): porcelain lines start " M"


def git(folder: Path) -> dict[str, Any] | None:
    """The commit checked out where the sweep file is, and whether tracked files differ from it. Untracked
    files don't make it dirty: sweepkit's own outputs (`sweeps/`, `.sweepkit/`) are usually untracked there.
    None outside a repository or without git."""
    root = _git(folder, "rev-parse", "--show-toplevel")
    if root is None:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    changed = [line[3:] for line in status.splitlines()] if status else []
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    return {
        "root": root,
        "commit": _git(folder, "rev-parse", "HEAD"),  # None in a repository with no commit yet
        "branch": None if branch in (None, "HEAD") else branch,
        "dirty": None if status is None else bool(changed),
        "changed": changed[:50],
    }


def collect(*, seed: int | None, folder: Path | None, role: str = "run") -> dict[str, Any]:
    """This process's entry: who ran the sweep, where, with what."""
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "role": role,  # "run" (sweepkit run, sweepkit.run) or "agent"
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": list(getattr(sys, "orig_argv", sys.argv)),
        "cwd": os.getcwd(),
        "seed": seed,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": packages(),
        "torch_cuda": _torch_cuda(),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
            "machine": platform.machine(),
        },
        "cpu": cpu(),
        "gpu": gpus(),
        "env": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
        "git": git(folder) if folder is not None else None,
    }


def record(output: Path, *, sweep: str, seed: int | None, entry: dict[str, Any]) -> Path:
    """Append `entry` to `output/environment.json` (written whole, atomically), under a lock on the folder so
    that agents sharing it append one at a time."""
    from sweepkit.results import atomic_write, to_json

    output.mkdir(parents=True, exist_ok=True)
    path = output / FILE
    fd = os.open(output, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a folder's flock: the file itself is replaced on every write
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
            runs = before.get("runs") if isinstance(before, dict) else None
        except (OSError, ValueError):
            runs = None
        runs = [*(runs if isinstance(runs, list) else []), entry][-KEEP_RUNS:]
        atomic_write(path, to_json({"sweep": sweep, "seed": seed, "runs": runs}))
    finally:
        os.close(fd)  # closing drops the lock
    return path


__all__ = ["FILE", "collect", "cpu", "git", "gpus", "packages", "record"]

"""Shared fixtures: every test runs sweeps in its own folder, so stores and outputs never mix."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# `sweepkit run` writes a report at its end (plots: seconds each); tests that want one ask for it.
os.environ.setdefault("SWEEPKIT_NO_REPORT", "1")


# The fast lane: `pytest -m "not slow"` (README, "Development"). `slow` marks a test that takes 0.25 s or more
# on an idle 2-core machine, or that starts a sweep in a subprocess, Ray, MLflow, a browser or another network
# namespace (pyproject.toml's markers). Two things keep the lane quick: a test module marked slow as a whole
# (`pytestmark = pytest.mark.slow` at its top) is not even imported there, since importing it can cost seconds
# (torch, MLflow, W&B, optuna-dashboard); and the lane ends with a warning listing its tests that took longer
# than FAST_LANE_WARN_S, so a test that grew slow gets marked. A warning, never a failure: timings are noisy
# on a shared machine, and tests check behaviour, not time.
FAST_LANE_GOAL_S = 60.0
FAST_LANE_WARN_S = float(os.environ.get("SWEEPKIT_FAST_LANE_WARN_S", "1.0"))
_lane_durations: dict[str, float] = {}
_lane_started = time.monotonic()


def _in_fast_lane(config: pytest.Config) -> bool:
    """True for `-m "not slow"` exactly: with any other marker expression a slow module may still be wanted."""
    return " ".join(str(config.option.markexpr or "").split()) == "not slow"


def _module_marked_slow(path: Path) -> bool:
    """Whether a test file's top level sets `pytestmark` to `pytest.mark.slow` (alone or in a list), read from its
    syntax tree so that the file is not imported."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # let pytest import it and report the problem itself
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(ast.unparse(mark) == "pytest.mark.slow" for mark in marks)
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_") and _in_fast_lane(config):
        return True if _module_marked_slow(collection_path) else None
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _lane_durations[report.nodeid] = _lane_durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _in_fast_lane(config):
        return
    over = sorted(((s, nodeid) for nodeid, s in _lane_durations.items() if s >= FAST_LANE_WARN_S), reverse=True)
    elapsed = time.monotonic() - _lane_started
    if not over and elapsed < FAST_LANE_GOAL_S:
        return
    terminalreporter.write_sep("=", "fast lane", yellow=True)
    if elapsed >= FAST_LANE_GOAL_S:
        terminalreporter.write_line(
            f"the fast lane took {elapsed:.0f} s, over its {FAST_LANE_GOAL_S:.0f} s goal (load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
    if over:
        terminalreporter.write_line(
            f"{len(over)} test(s) took {FAST_LANE_WARN_S:g} s or more (setup + call + teardown): if they always "
            "do, mark them @pytest.mark.slow"
        )
        for seconds, nodeid in over[:20]:
            terminalreporter.write_line(f"  {seconds:5.2f}s {nodeid}")
        if len(over) > 20:
            terminalreporter.write_line(f"  ... and {len(over) - 20} more")

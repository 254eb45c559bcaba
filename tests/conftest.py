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


# The fast lane: `pytest -m "not slow"` (README, "Development"; pyproject.toml's markers say what `slow` means:
# about 0.25 s or more on 2 cores, or Ray, MLflow, a browser, torch, training a model, fuzzing...). Two things keep
# the lane quick: a test file marked slow as a whole (`pytestmark = pytest.mark.slow` at its top) is not even
# imported there, since importing one can cost seconds (torch, MLflow, W&B, optuna-dashboard); and the lane ends
# with a warning naming its tests that took FAST_LANE_WARN_S or more, so a test that grew slow gets marked. A
# warning, never a failure: timings are noisy on a shared machine, and tests check behaviour, not time.
FAST_LANE_GOAL_S = 60.0
FAST_LANE_WARN_S = 1.0  # $SWEEPKIT_FAST_LANE_WARN_S overrides it
_lane_durations: dict[str, float] = {}
_lane_started = time.monotonic()


def _in_fast_lane(config: pytest.Config) -> bool:
    """True for `-m "not slow"` exactly: with any other marker expression a slow file may still be wanted."""
    return " ".join(str(config.option.markexpr or "").split()) == "not slow"


def module_marked_slow(path: Path) -> bool:
    """Whether a test file's top level sets `pytestmark` to `pytest.mark.slow` (alone or in a list), read from its
    syntax tree so that the file is not imported."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # pytest imports it and reports the problem itself
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(ast.unparse(mark) == "pytest.mark.slow" for mark in marks)
    return False


def fast_lane_warnings(
    durations: dict[str, float], elapsed: float, warn_s: float, load: float, goal_s: float = FAST_LANE_GOAL_S
) -> list[str]:
    """The lines the fast lane ends with: its tests that took `warn_s` or more, slowest first, and its own time
    if over its goal; none when all is well."""
    lines = []
    if elapsed >= goal_s:
        lines.append(f"the fast lane took {elapsed:.0f} s, over its {goal_s:.0f} s goal (load average {load:.1f})")
    over = sorted(((seconds, nodeid) for nodeid, seconds in durations.items() if seconds >= warn_s), reverse=True)
    if over:
        lines.append(
            f"{len(over)} test(s) took {warn_s:g} s or more (setup + call + teardown; load average {load:.1f}): "
            "if one always does, mark it @pytest.mark.slow"
        )
        lines += [f"  {seconds:5.2f}s {nodeid}" for seconds, nodeid in over[:20]]
        if len(over) > 20:
            lines.append(f"  ... and {len(over) - 20} more")
    return lines


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_") and _in_fast_lane(config):
        return True if module_marked_slow(collection_path) else None
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _lane_durations[report.nodeid] = _lane_durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _in_fast_lane(config):
        return
    text = os.environ.get("SWEEPKIT_FAST_LANE_WARN_S", "")
    try:
        warn_s = float(text) if text else FAST_LANE_WARN_S
    except ValueError:
        terminalreporter.write_line(
            f"SWEEPKIT_FAST_LANE_WARN_S={text!r} is not a number of seconds: using {FAST_LANE_WARN_S:g}"
        )
        warn_s = FAST_LANE_WARN_S
    lines = fast_lane_warnings(_lane_durations, time.monotonic() - _lane_started, warn_s, os.getloadavg()[0])
    if lines:
        terminalreporter.write_sep("=", "fast lane", yellow=True)
        for line in lines:
            terminalreporter.write_line(line)

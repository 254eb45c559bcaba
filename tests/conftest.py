"""Shared fixtures: every test runs sweeps in its own folder, so stores and outputs never mix."""

from __future__ import annotations

import os
from pathlib import Path

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

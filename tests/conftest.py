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

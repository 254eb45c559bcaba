"""Run locks (`.sweepkit/runs/<sweep>@<host>@<pid>.lock`): each sweep sees its own runs only, whatever its name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sweepkit.sweep._owners import RunLock


@pytest.mark.parametrize(("mine", "other"), [("exp", "exp@v2"), ("exp", "exp@host"), ("a[1]", "a[1]@b")])
def test_a_sweep_does_not_take_another_sweeps_lock_for_its_own(tmp_path: Path, mine: str, other: str) -> None:
    with RunLock(tmp_path, other) as theirs:
        time.sleep(0.01)
        probe = RunLock(tmp_path, mine)
        assert probe.earliest_live_start() == probe.started  # no other run of `mine` (--exclusive goes ahead)
        with probe:
            probe.local_store = True
            assert probe.alone()
        assert theirs.path.exists()

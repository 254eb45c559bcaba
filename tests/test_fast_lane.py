"""The fast lane's own rules (tests/conftest.py): which files it leaves unimported, and what it warns about."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import fast_lane_warnings, module_marked_slow, pytest_ignore_collect

TESTS = Path(__file__).parent


def lane(markexpr: str) -> Any:
    """A stand-in for pytest's config: the hooks read only the `-m` expression."""
    return SimpleNamespace(option=SimpleNamespace(markexpr=markexpr))


@pytest.mark.parametrize(
    ("top", "slow"),
    [
        ("pytestmark = pytest.mark.slow\n", True),
        ("pytestmark = [pytest.mark.slow, pytest.mark.skipif(True, reason='x')]\n", True),
        ("pytestmark = (pytest.mark.skipif(True, reason='x'), pytest.mark.slow)\n", True),
        ("pytestmark = pytest.mark.skipif(True, reason='x')\n", False),
        ("pytestmark = pytest.mark.slowish\n", False),
        ("def test_x():\n    pytestmark = pytest.mark.slow\n", False),  # not at the top: pytest ignores it too
        ("@pytest.mark.slow\ndef test_x():\n    pass\n", False),  # one test, not the file
        ("def broken(:\n", False),  # pytest imports it and reports the syntax error itself
    ],
)
def test_a_file_is_slow_as_a_whole_only_by_its_top_level_pytestmark(tmp_path: Path, top: str, slow: bool) -> None:
    path = tmp_path / "test_mod.py"
    path.write_text("import pytest\n\n" + top)
    assert module_marked_slow(path) is slow


def test_the_lane_leaves_out_whole_slow_files_and_only_with_not_slow() -> None:
    whole, mixed = TESTS / "test_dashboard.py", TESTS / "sweep" / "test_workers.py"
    assert module_marked_slow(whole) and not module_marked_slow(mixed)
    assert pytest_ignore_collect(whole, lane("not slow")) is True
    assert pytest_ignore_collect(whole, lane("  not   slow ")) is True
    assert pytest_ignore_collect(mixed, lane("not slow")) is None
    for other in ("", "slow", "not slow and not gpu", "slow or not slow"):
        assert pytest_ignore_collect(whole, lane(other)) is None, other
    assert pytest_ignore_collect(TESTS / "sweep", lane("not slow")) is None  # folders are always walked


def test_the_warning_names_slow_tests_slowest_first_and_a_lane_over_its_goal() -> None:
    durations = {"t::fast": 0.1, "t::slow": 1.5, "t::slower": 3.0, "t::edge": 1.0}
    lines = fast_lane_warnings(durations, elapsed=75.0, warn_s=1.0, load=6.2)
    assert lines[0] == "the fast lane took 75 s, over its 60 s goal (load average 6.2)"
    assert lines[1].startswith("3 test(s) took 1 s or more") and "load average 6.2" in lines[1]
    assert [line.split()[-1] for line in lines[2:]] == ["t::slower", "t::slow", "t::edge"]
    assert fast_lane_warnings(durations, elapsed=30.0, warn_s=5.0, load=1.0) == []
    many = {f"t::{i}": 2.0 for i in range(25)}
    assert fast_lane_warnings(many, elapsed=30.0, warn_s=1.0, load=1.0)[-1] == "  ... and 5 more"

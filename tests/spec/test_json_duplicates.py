"""A JSON sweep file that writes one key twice: json keeps the last silently, sweepkit names both lines."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from sweepkit.errors import SpecError
from sweepkit.spec import read_file


def test_a_nested_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "sweep_config.json"
    path.write_text(
        '{\n  "method": "random",\n  "parameters": {\n    "lr": {"min": 0.001, "max": 0.1},\n'
        '    "depth": {"values": [2, 4]},\n\t"lr" : {"min": 0.01, "max": 0.2}\n  }\n}\n'
    )
    with pytest.raises(SpecError, match='duplicate key "lr" at line 4 and line 6'):
        read_file(path)


def test_the_same_key_in_two_objects_is_no_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "sweep_config.json"
    path.write_text('{"parameters": {"a": {"values": [1, {"a": 2}]}, "b": {"a": 1}}, "a": 3}\n')
    assert read_file(path)["parameters"]["b"] == {"a": 1}


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: type checkers read sweepkit's hints only when the package ships `py.typed`."""
    assert importlib.resources.files("sweepkit").joinpath("py.typed").is_file()

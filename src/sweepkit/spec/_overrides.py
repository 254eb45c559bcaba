"""Dotted overrides (`budget.trials=20`, Hydra style `hpo.trials.n_trials=20`) applied to the raw file."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import yaml

from sweepkit.errors import SpecError


def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    key = key.strip().lstrip("+")  # Hydra's "+key=value" adds a key; we add missing keys anyway
    if not sep or not key or any(not part for part in key.split(".")):
        raise SpecError(f'override "{text}" is not of the form key.path=value')
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value  # not YAML: take the text as it is
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str], *, file: str | None = None) -> dict[str, Any]:
    """A copy of `raw` with each `key.path=value` set; intermediate mappings are created when missing."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise SpecError(f'cannot set "{".".join(path)}": "{where}" is not a mapping', file=file)
            node = child
        node[path[-1]] = value
    return out

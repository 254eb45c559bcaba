"""Dotted overrides (`budget.trials=20`, Hydra style `hpo.trials.n_trials=20`) applied to the raw file."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any

import yaml

from sweepkit.errors import SpecError


def parse_override(text: str, *, file: str | None = None) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    key = key.strip().lstrip("+")  # Hydra's "+key=value" adds a key; we add missing keys anyway
    if not sep or not key or any(not part for part in key.split(".")):
        raise SpecError(
            f'override "{text}" is not of the form key.path=value (e.g. budget.trials=20)',
            file=file,
            key=key or None,
        )
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value  # not YAML: take the text as it is
    return key.split("."), parsed


def apply_overrides(
    raw: dict[str, Any],
    overrides: Iterable[str],
    *,
    file: str | None = None,
    under: tuple[str, Collection[str]] | None = None,
) -> dict[str, Any]:
    """A copy of `raw` with each `key.path=value` set; intermediate mappings are created when missing.

    `under=(section, names)`: an override whose first part is one of `names` goes into `section` (the keys
    of a bare NNI search space, which `raw` holds under `parameters`).
    """
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text, file=file)
        written, skip = ".".join(path), 0
        if under is not None and path[0] in under[1]:
            path, skip = [under[0], *path], 1
        node: Any = out
        depth = 0
        while True:
            taken = _key_length(node, path[depth:])
            part, depth = ".".join(path[depth : depth + taken]), depth + taken
            if depth == len(path):
                node[part] = value
                break
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[skip:depth])
                raise SpecError(
                    f'cannot set "{written}": "{where}" is {type(child).__name__}, not a mapping',
                    file=file,
                    key=written,
                )
            node = child
    return out


def _key_length(node: dict[str, Any], parts: list[str]) -> int:
    """How many parts the next key spans: a key of the file that holds dots itself (W&B's parameter
    `model.n_layers`, set by `parameters.model.n_layers.values=...`) is taken whole, the longest first."""
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in node:
            return n
    return 1

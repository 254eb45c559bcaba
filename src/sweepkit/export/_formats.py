"""The best params as text: YAML, JSON, command-line flags, or Hydra overrides."""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping
from typing import Any

from sweepkit.errors import UsageError

FORMATS = ("yaml", "json", "args", "hydra")

# Hydra's override grammar (hydra/grammar/OverrideLexer.g4): a key is IDs joined by dots; a value left
# unquoted may hold letters, digits and `_ - + . / % * @ ? |` (no `$`: `${...}` would be interpolated).
_HYDRA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")
_HYDRA_PLAIN = re.compile(r"[A-Za-z0-9_\-+./%*@?|]+")
_HYDRA_WORDS = {"null", "true", "false", "inf", "+inf", "-inf", "nan", "+nan", "-nan"}
_BACKSLASHES_BEFORE_QUOTE = re.compile(r"(\\+)(?='|$)")


def format_best(params: Mapping[str, Any], fmt: str) -> str:
    """`params` (nested, as trials get them) in one of FORMATS, ending with a newline."""
    if fmt == "json":
        return json.dumps(params, indent=2) + "\n"
    if fmt == "args":  # exactly what a program trial gets for ${args}
        from sweepkit.sweep import format_args  # here: the engine loads only for this format

        return shlex.join(format_args(params, "args")) + "\n"
    if fmt == "hydra":
        return "".join(f"{line}\n" for line in hydra_overrides(params))
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(dict(params), sort_keys=False)
    raise UsageError(f'unknown format "{fmt}": expected one of {", ".join(FORMATS)}')


def hydra_overrides(params: Mapping[str, Any]) -> list[str]:
    """`key=value` lines Hydra parses back to the same values: nested params as dotted keys, strings quoted
    where Hydra would read them as another type or split them (`'1e-5'`, `'true'`, `'a b'`, `'x,y'`)."""
    from sweepkit.space import flatten

    lines = []
    for key, value in flatten(dict(params)).items():
        if not _HYDRA_KEY.fullmatch(key):
            raise UsageError(
                f'parameter "{key}" cannot be a Hydra key (letters, digits, _ and - joined by dots, '
                "not starting with a digit): use --format yaml or json"
            )
        lines.append(f"{key}={hydra_value(value)}")
    return lines


def hydra_value(value: Any) -> str:
    """One value in Hydra's override syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str) or not _HYDRA_KEY.fullmatch(key) or "." in key:
                raise UsageError(f'"{key}" cannot be a key of a Hydra dict value: use --format yaml or json')
            items.append(f"{key}:{hydra_value(item)}")
        return "{" + ",".join(items) + "}"
    return _hydra_string(str(value))


def _hydra_string(text: str) -> str:
    if _HYDRA_PLAIN.fullmatch(text) and text.lower() not in _HYDRA_WORDS and not _looks_numeric(text):
        return text
    # Quoted: a run of backslashes before a quote (or the closing quote) doubles, a quote is \', and
    # `${` is escaped so Hydra keeps it as text instead of resolving an interpolation.
    body = _BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2, text)
    body = body.replace("'", "\\'").replace("${", "\\${")
    return f"'{body}'"


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True


__all__ = ["FORMATS", "format_best", "hydra_overrides", "hydra_value"]

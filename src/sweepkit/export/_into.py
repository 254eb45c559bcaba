"""`sweepkit best NAME --into config.yaml`: the best params written into the user's own config file.

Round-trip YAML (ruamel.yaml): comments, key order, quoting style and indentation stay as written; only the
values of the keys the params map to change. A param maps to a key by `--map param=dotted.key`, else by
itself when exactly one key of the file ends with its name (`model.lr` matches `train.model.lr`; failing
that, `lr` matches any one key named `lr`). Nothing is written unless every `--map` is valid and at least one
param found its key; a file that is not a YAML mapping is left as it was.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepkit.errors import UsageError, did_you_mean


@dataclass
class Change:
    param: str
    key: str
    old: Any
    new: Any
    how: str  # "--map" or "by name"


@dataclass
class IntoReport:
    """What `write_into` did: the keys it set, and the params it left out (with why)."""

    path: Path
    changes: list[Change] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # param → why it was not written


def _yaml() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class _Representer(RoundTripRepresenter):
        """Floats that YAML 1.1 readers (PyYAML, so most training scripts) read as floats too: ruamel writes
        1e-05, which PyYAML reads as the *string* "1e-05"; 1.0e-05 is a float to both."""

    def _float(representer: Any, value: float) -> Any:
        if math.isnan(value):
            text = ".nan"
        elif math.isinf(value):
            text = ".inf" if value > 0 else "-.inf"
        else:
            text = repr(value)
            mantissa, e, exponent = text.partition("e")
            if e and "." not in mantissa:
                text = f"{mantissa}.0e{exponent}"
        return representer.represent_scalar("tag:yaml.org,2002:float", text)

    _Representer.add_representer(float, _float)
    yaml = YAML()  # round-trip
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long lines
    return yaml


def _load(path: Path) -> tuple[Any, Any]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (--into edits an existing config; --output names the copy)") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (expected a YAML config)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    yaml = _yaml()
    try:
        _, indent, block_seq_indent = load_yaml_guess_indent(text)
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise UsageError(f"{path}: invalid YAML{where}: {exc.problem}; nothing was changed") from None
    except YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}; nothing was changed") from None
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(data, CommentedMap):
        found = "nothing (the file is empty)" if data is None else _kind(data)
        raise UsageError(f"{path}: expected a YAML mapping of keys at the top, found {found}; nothing was changed")
    if indent is not None:
        yaml.indent(mapping=indent, sequence=indent, offset=block_seq_indent or 0)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml, data


def _kind(value: Any) -> str:
    if _is_sequence(value):
        return "a list"
    if isinstance(value, str):
        return f'the text "{value[:40]}"'
    if isinstance(value, bool):
        return f"the value {str(value).lower()}"
    return f"the number {value}" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _is_mapping(node: Any) -> bool:
    return isinstance(node, dict)  # ruamel's CommentedMap is one


def _is_sequence(node: Any) -> bool:
    return isinstance(node, list)  # ruamel's CommentedSeq is one


def _leaves(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every key path of the file whose value is not a mapping (a value a param can replace)."""
    out: dict[tuple[str, ...], Any] = {}
    items: Any = node.items() if _is_mapping(node) else enumerate(node) if _is_sequence(node) else ()
    for key, value in items:
        path = (*prefix, str(key))
        if _is_mapping(value):
            out.update(_leaves(value, path))
        else:
            out[path] = value
            if _is_sequence(value):
                out.update(_leaves(value, path))
    return out


def _parent_of(data: Any, path: tuple[str, ...]) -> tuple[Any, Any]:
    node = data
    for part in path[:-1]:
        node = node[int(part)] if _is_sequence(node) else node[part]
    leaf = path[-1]
    return node, int(leaf) if _is_sequence(node) else leaf


def _key_of(node: Any, text: str) -> Any:
    """The mapping's own key for a dotted part (`1` may be the integer key 1)."""
    for key in node:
        if str(key) == text:
            return key
    return text


def _styled(old: Any, new: Any) -> Any:
    """A new string keeps the old one's quoting (`'adam'` stays single-quoted)."""
    from ruamel.yaml.scalarstring import ScalarString

    if isinstance(new, str) and isinstance(old, ScalarString) and type(old) is not ScalarString:
        return type(old)(new)
    return new


def _plain(value: Any) -> Any:
    from ruamel.yaml.scalarstring import ScalarString

    return str(value) if isinstance(value, ScalarString) else value


def _parse_maps(
    maps: list[str], params: dict[str, Any], leaves: dict[tuple[str, ...], Any], path: Path
) -> dict[str, tuple[str, ...]]:
    explicit: dict[str, tuple[str, ...]] = {}
    targets: dict[tuple[str, ...], str] = {}
    shown = {".".join(p) for p in leaves}
    for item in maps:
        param, sep, key = item.partition("=")
        param, key = param.strip(), key.strip()
        if not sep or not param or not key:
            raise UsageError(f'--map "{item}": expected param=dotted.key, e.g. --map lr=training.optimizer.lr')
        if param not in params:
            raise UsageError(
                f'--map "{item}": the best trial has no parameter "{param}"{did_you_mean(param, params)} '
                f"(its parameters: {', '.join(params)}); nothing was changed"
            )
        parts = tuple(key.split("."))
        if parts not in leaves:
            raise UsageError(
                f'--map "{item}": {path} has no key "{key}"{did_you_mean(key, shown)} '
                "(it must exist and hold a value, not a section); nothing was changed"
            )
        if parts in targets:
            raise UsageError(f'--map: "{key}" is the target of both "{targets[parts]}" and "{param}"')
        explicit[param] = parts
        targets[parts] = param
    return explicit


def _auto(param: str, leaves: dict[tuple[str, ...], Any], taken: set[tuple[str, ...]]) -> tuple[Any, str]:
    """The unique key a param maps itself to, or None and why not."""
    free = [p for p in leaves if p not in taken]
    parts = tuple(param.split("."))
    found = [p for p in free if p[-len(parts) :] == parts]
    if not found and len(parts) > 1:
        found = [p for p in free if p[-1] == parts[-1]]
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, "no key of that name in the file"
    listed = ", ".join(".".join(p) for p in found[:5])
    return None, f"several keys match ({listed}): pick one with --map {param}=KEY"


def _load_json(path: Path) -> tuple[Any, Any]:
    """A .json config: read and written with `json` (ruamel would write it back as one line of flow YAML)."""
    import json
    import re

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (--into edits an existing config; --output names the copy)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise UsageError(f"{path}: invalid JSON at {where}: {exc.msg}; nothing was changed") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object at the top, found {_kind(data)}; nothing was changed")
    found = re.search(r"^( +)\S", text, re.MULTILINE)
    indent = len(found.group(1)) if found else None

    def dump(value: Any, stream: io.StringIO) -> None:
        stream.write(json.dumps(value, indent=indent, ensure_ascii=False) + "\n")

    return dump, data


def write_into(path: Path, params: dict[str, Any], maps: list[str], *, output: Path | None = None) -> IntoReport:
    """Set the keys of `path` that `params` (flat, dotted names) map to; write `output` instead when given."""
    if Path(path).suffix.lower() == ".json":
        dump, data = _load_json(Path(path))
    else:
        yaml, data = _load(path)
        dump = yaml.dump
    leaves = _leaves(data)
    explicit = _parse_maps(maps, params, leaves, path)
    report = IntoReport(path=output or path)
    plan: list[tuple[str, tuple[str, ...], str]] = [(p, k, "--map") for p, k in explicit.items()]
    taken = set(explicit.values())
    for param in params:
        if param in explicit:
            continue
        key, why = _auto(param, leaves, taken)
        if key is None:
            report.skipped[param] = why
            continue
        taken.add(key)
        plan.append((param, key, "by name"))
    if not plan:
        listed = ", ".join(params)
        raise UsageError(
            f"no parameter of the best trial ({listed}) matches a key in {path}: map them with "
            "--map param=dotted.key; nothing was changed"
        )
    for param, key, how in plan:
        node, leaf = _parent_of(data, key)
        if not _is_sequence(node):
            leaf = _key_of(node, str(leaf))
        old = node[leaf]
        node[leaf] = _styled(old, params[param])
        report.changes.append(Change(param, ".".join(key), _plain(old), params[param], how))
    buffer = io.StringIO()
    dump(data, buffer)
    _write(output or path, buffer.getvalue(), like=path)
    return report


def _write(target: Path, text: str, *, like: Path) -> None:
    """Write + rename (a crash never leaves half a config), keeping the original file's permissions."""
    target = Path(target)
    if target.is_dir():
        raise UsageError(f"{target}: is a folder; --output names the file to write")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        mode = (target if target.exists() else like).stat().st_mode & 0o7777
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["Change", "IntoReport", "write_into"]

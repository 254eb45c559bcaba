"""Sweep files → a validated `Spec`. Every problem is one `SpecError` naming the file and the key path."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweepkit._validation import validation_error
from sweepkit.errors import SpecError
from sweepkit.expr import ExprError, compile_expr
from sweepkit.space import Parameter, SearchSpace
from sweepkit.spec._inline import PARAM_MACROS, inline_spec, to_yaml, with_run_flags
from sweepkit.spec._layout import FAMILIES, STRATEGY_ALIASES, detect, is_bare_space, lay_out
from sweepkit.spec._model import (
    STRATEGIES,
    BudgetSpec,
    CheckpointsSpec,
    MetricSpec,
    MlflowSpec,
    NotifySpec,
    ResourcesSpec,
    SpecModel,
    StrategySpec,
    TrackingSpec,
    TrialSpec,
    WandbSpec,
)
from sweepkit.spec._names import folder_name, label_problem
from sweepkit.spec._objectives import derived_inputs
from sweepkit.spec._overrides import apply_overrides
from sweepkit.spec._params import parse_parameters
from sweepkit.spec._units import format_duration, parse_duration
from sweepkit.storage_url import redact

_EXTRA_SECTIONS = ("pruner", "scheduler", "early_terminate", "resources")


class Spec(SpecModel):
    """A sweep, fully resolved: the validated sweep file (`SpecModel`, every section typed) plus what loading
    settles: the store's `name`, the parsed `space`, the `output` folder, where each key came from.

    `name` is the sweep's name in the store, `sweeps/<name>/` and the CLI; the name as written (W&B's
    `name:` may hold `/` or spaces: a label, see `_names`) is `resolved["name"]`. `resolved` is the file laid
    out in the native shape, as written: it goes to `sweeps/<name>/sweep.yaml` and the store (where it loads
    back to the same spec); code reads the typed sections, never `resolved`.

    Not frozen, unlike the sections: `run` sets the budget, seed and store given as flags."""

    model_config = ConfigDict(extra="forbid", frozen=False, arbitrary_types_allowed=True)

    # The file's `name` (a label, optional) and `output` (text, optional) settled: the store's name, a path.
    name: str
    dialect: str
    space: SearchSpace
    output: Path  # type: ignore[assignment]
    base_dir: Path
    file: str | None = None
    notes: list[str] = Field(default_factory=list)
    resolved: dict[str, Any] = Field(default_factory=dict)  # the native dict, for sweeps/<name>/sweep.yaml
    family: str | None = None  # a strategy word that also picks early stopping: combined, asha, hyperband, optuna
    origins: dict[str, str] = Field(default_factory=dict)  # native key path → where the user wrote it

    @property
    def strategy_name(self) -> str:
        key = self.strategy.name.lower().replace("-", "").replace("_", "")
        return STRATEGY_ALIASES.get(key, self.strategy.name)

    @property
    def extra(self) -> dict[str, Any]:
        """The `pruner`, `scheduler`, `early_terminate` and `resources` sections that are set, as plain dicts
        (kept for code written against the older `Spec`; read the typed attributes instead)."""
        return {k: v for k in _EXTRA_SECTIONS if (v := _section(getattr(self, k)))}


# Sweep files are a few kilobytes; the cap keeps `validate /dev/zero` (or a stray dataset) from eating memory.
MAX_FILE_BYTES = 1 << 20
# Aliases may share a block (`*defaults`) but not multiply it: a billion-laughs file of under 900 bytes expands
# to 9**9 strings. Nodes reached through aliases, counted with repeats, stay under this.
MAX_ALIAS_NODES = 10_000


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's parser when installed: ~20x faster on large files), with two YAML 1.1
    readings that surprise sweep files changed to YAML 1.2's:

    * `1e-5` (no dot) is a number, not the string "1e-5" (a choice `[1e-5, 1e-4]` hands trials floats);
    * `2024-01-01` stays the text written, not a `datetime.date`: values stay plain JSON, so a sweep stored
      and read back (`best`, `status`) decodes its points the same way.

    It also refuses what PyYAML lets through: a key written twice in one mapping (PyYAML keeps the last
    silently), an alias inside the node it names (a cycle), and aliases that expand past MAX_ALIAS_NODES.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: own keys override merged ones
                    continue
                # a scalar key by its tag and text (cheap: a big file has thousands); others by value
                key = (
                    (key_node.tag, key_node.value)
                    if isinstance(key_node, yaml.ScalarNode)
                    else self.construct_object(key_node, deep=False)
                )
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: PyYAML's own error names it
                    continue
                if first is not key_node:
                    shown = getattr(key_node, "value", key)
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f'duplicate key "{shown}" at line {first.start_mark.line + 1} and line '
                        f"{key_node.start_mark.line + 1}: keep one",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _check_aliases(root: yaml.Node) -> None:
    """Refuse alias cycles, and aliases that expand past MAX_ALIAS_NODES, on the composed node graph before
    any value is built. Sizes are memoized per node, so the check stays linear in the file's size."""
    written, shared = _count_written(root)
    if not shared:  # no node is reached twice: the file has no aliases to expand
        return
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to a node that contains it: a sweep file cannot be recursive",
                node.start_mark,
            )  # fmt: skip
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        open_nodes.discard(id(node))
        if total - written > MAX_ALIAS_NODES:
            raise yaml.composer.ComposerError(
                None, None,
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values beyond those written out "
                "(a YAML alias bomb?): write the values out, or share fewer",
                node.start_mark,
            )  # fmt: skip
        sizes[id(node)] = total
        return total

    size(root)


def _count_written(root: yaml.Node) -> tuple[int, bool]:
    """How many nodes the file writes (each once, aliases not followed again), and whether any is shared."""
    seen: set[int] = set()
    shared = False
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            shared = True
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)
    return len(seen), shared


def _load_yaml(text: str) -> Any:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_aliases(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


# A string (kept; an unclosed one runs to the end), a `// line` comment or a `/* block */` comment (an
# unclosed one runs to the end): every alternative ends where it must, so the scan is linear in the text.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|//[^\n]*|/\*(?:.*?\*/|.*)', re.DOTALL)


def _without_comments(text: str) -> str:
    """JSON with `//` and `/* */` comments (as guides write sweep_config.json) → JSON, each comment blanked
    so the parser's line and column numbers still point into the file. Hand-written because json5-style
    libraries would be a new dependency for these two comment forms only; `json` does the parsing."""

    def blank(match: re.Match[str]) -> str:
        token = match.group()
        return token if token.startswith('"') else re.sub(r"[^\n]", " ", token)

    return _JSON_TOKENS.sub(blank, text)


def read_file(path: Path) -> dict[str, Any]:
    """YAML or JSON text → a mapping, with the parser's line and column on errors."""
    name = str(path)
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_FILE_BYTES + 1)  # never more: /dev/zero or a huge file must not fill memory
        if len(content) > MAX_FILE_BYTES:
            raise SpecError(
                f"larger than {MAX_FILE_BYTES >> 20} MiB: expected a sweep file (YAML or JSON), not data", file=name
            )
        text = content.decode("utf-8-sig")  # -sig: a leading byte-order mark is not content
    except FileNotFoundError:
        raise SpecError("no such file", file=name) from None
    except IsADirectoryError:
        raise SpecError("is a folder, not a sweep file", file=name) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not a text file: byte {exc.object[exc.start]:#04x} at offset {exc.start} is not UTF-8; "
            "expected a YAML or JSON sweep file",
            file=name,
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read it: {exc.strerror or exc}", file=name) from None
    try:
        is_json = path.suffix.lower() == ".json"
        data = _load_json(_without_comments(text)) if is_json else _load_yaml(text)
    except _DuplicateKey as exc:
        raise SpecError(f"invalid JSON: {exc}", file=name) from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=name) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's own limit, where PyYAML's would recurse
            raise SpecError("nested too deeply to read", file=name) from None
        raise SpecError(f"invalid YAML{where}: {problem}", file=name) from None
    except RecursionError:
        raise SpecError("nested too deeply to read", file=name) from None
    except Exception as exc:  # the parsers' value conversions: a 5000-digit int, a 13th month, `!!int abc`
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise SpecError(f"invalid {kind}: {_first_line(exc)}", file=name) from None
    if data is None:
        raise SpecError("the file is empty: expected a mapping of keys (name, parameters, ...)", file=name)
    if not isinstance(data, dict):
        raise SpecError(f"expected a mapping of keys at the top, found {type(data).__name__}", file=name)
    return data


class _DuplicateKey(ValueError):
    """A JSON object that writes one key twice (json keeps the last one silently)."""


# The pure-Python pieces of CPython's json module, undocumented but unchanged since Python 2.7; typeshed's stubs
# leave them out, so they are read from the modules' namespaces with the types they have.
_JSONObject: Callable[..., tuple[list[tuple[str, Any]], int]] = vars(json.decoder)["JSONObject"]
_scanstring: Callable[[str, int], tuple[str, int]] = vars(json.decoder)["scanstring"]
_py_make_scanner: Callable[[json.JSONDecoder], Callable[[str, int], tuple[Any, int]]] = vars(json.scanner)[
    "py_make_scanner"
]


class _Decoder(json.JSONDecoder):
    """json's decoder, with the attributes its `__init__` sets and its scanner reads (absent from the stubs)."""

    parse_object: Callable[..., tuple[dict[str, Any], int]]
    memo: dict[str, str]
    scan_once: Callable[[str, int], tuple[Any, int]]


def _load_json(text: str) -> Any:
    """json.loads, refusing duplicate keys with the line of each. The pure-Python scanner is used because it
    hands each object's start position to `parse_object`; the C one doesn't (sweep files are small)."""
    decoder = _Decoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[dict[str, Any], int]:
        doc, start = s_and_end
        pairs, end = _JSONObject(s_and_end, decoder.strict, scan_once, None, list, memo)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                lines = _json_key_lines(doc, start, end, key)
                raise _DuplicateKey(f'duplicate key "{key}" at line {lines[0]} and line {lines[1]}: keep one')
            seen.add(key)
        return dict(pairs), end

    memo: dict[str, str] = {}
    decoder.parse_object = parse_object
    decoder.memo = memo
    scan_once = _py_make_scanner(decoder)
    decoder.scan_once = scan_once
    return decoder.decode(text)


def _past_space(doc: str, pos: int) -> int:
    """The first position at or after `pos` that is not JSON whitespace (space, tab, newline, return)."""
    while pos < len(doc) and doc[pos] in " \t\n\r":
        pos += 1
    return pos


def _json_key_lines(doc: str, start: int, end: int, key: str) -> list[int]:
    """The lines of `key` among one object's own keys (the object is doc[start-1:end], already parsed)."""
    scan = _py_make_scanner(json.JSONDecoder())
    lines, pos = [], start
    while pos < end:
        pos = _past_space(doc, pos)
        if doc[pos] != '"':  # "}" or ","
            pos += 1
            continue
        name, after = _scanstring(doc, pos + 1)
        if name == key:
            lines.append(doc.count("\n", 0, pos) + 1)
        pos = _past_space(doc, after) + 1  # past ":"
        _, pos = scan(doc, _past_space(doc, pos))
    return lines


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def origin_of(path: str, origins: Mapping[str, str]) -> str:
    """The user's key path for a native one: its own origin, or its closest laid-out parent's plus the rest."""
    if path in origins:
        return origins[path]
    head, _, rest = path.rpartition(".")
    while head:
        if head in origins:
            return ".".join(part for part in (origins[head], rest) if part)
        head, _, tail = head.rpartition(".")
        rest = f"{tail}.{rest}"
    return path


def _section(value: Any) -> Any:
    """A section as the plain dict the rest of sweepkit reads (`resources` is checked by a model)."""
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


def _order(params: list[Parameter], file: str | None, key: str) -> tuple[Parameter, ...]:
    """Dependencies first, declaration order otherwise; a cycle is a user error."""
    by_name = {p.name: p for p in params}
    done: dict[str, Parameter] = {}
    visiting: list[str] = []

    def visit(param: Parameter) -> None:
        if param.name in done:
            return
        if param.name in visiting:
            cycle = " → ".join([*visiting[visiting.index(param.name) :], param.name])
            raise SpecError(f"parameters depend on each other in a cycle: {cycle}", file=file, key=key)
        visiting.append(param.name)
        for dep in sorted(param.reads):
            if dep in by_name:
                visit(by_name[dep])
        visiting.pop()
        done[param.name] = param

    for param in params:
        visit(param)
    return tuple(done.values())


def load_spec(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    cwd: Path | None = None,
) -> Spec:
    """Read, lay out and validate a sweep file (or a dict spec) with dotted overrides applied."""
    cwd = Path.cwd() if cwd is None else cwd
    if isinstance(source, Mapping):
        file, base_dir, default_name = None, cwd, "sweep"
        raw = dict(source)
    else:
        path = Path(source)
        file, base_dir = str(path), (cwd / path).resolve().parent
        default_name = path.stem
        raw = read_file(path)
    try:
        return _load(raw, overrides, file=file, cwd=cwd, base_dir=base_dir, default_name=default_name)
    except RecursionError:  # a pathologically nested document (the parsers allow ~1000 levels)
        raise SpecError("nested too deeply to read", file=file) from None


def _load(
    raw: dict[str, Any],
    overrides: Iterable[str],
    *,
    file: str | None,
    cwd: Path,
    base_dir: Path,
    default_name: str,
) -> Spec:
    bare = is_bare_space(raw)  # a bare NNI search_space.json: the file is the parameters section
    written_in = "nni" if bare else detect(raw)  # the file's dialect, whatever the overrides add
    if bare:
        raw = apply_overrides({"parameters": raw}, overrides, file=file, under=("parameters", raw.keys()))
    else:
        raw = apply_overrides(raw, overrides, file=file)
    layout = lay_out(raw, file=file, bare_space=bare)
    layout.dialect = written_in
    strategy_section = layout.raw.get("strategy")
    if layout.family is None and isinstance(strategy_section, dict):
        word = str(strategy_section.get("name", "")).strip().lower()
        layout.family = word if word in FAMILIES else None
    try:
        model = SpecModel.model_validate(layout.raw)
    except ValidationError as exc:
        raise validation_error(exc, SpecModel, file=file, key=lambda path: origin_of(path, layout.origins)) from None

    params_key = layout.origins.get("parameters", "parameters")
    parameters = parse_parameters(model.parameters, file=file, key=params_key)
    params_key = params_key or "parameters"
    names = [p.name for p in parameters]
    constraints = []
    for i, text in enumerate(model.constraints):
        try:
            constraints.append(compile_expr(text, allowed_names=names))
        except ExprError as exc:
            raise SpecError(str(exc), file=file, key=f"{origin_of('constraints', layout.origins)}.{i}") from None
    space = SearchSpace(_order(parameters, file, params_key), tuple(constraints))

    if not parameters:
        raise SpecError("no parameters to search: add a `parameters:` section", file=file, key=params_key)

    if model.name is not None:  # a label `SpecModel` checked
        label = model.name
    else:  # the file's name (`..` from `...yaml`): made safe alike, shown safe if it cannot be a label
        label = default_name if label_problem(default_name) is None else folder_name(default_name)
    name = folder_name(label)
    output = Path(model.output) if model.output else Path("sweeps") / name
    if not output.is_absolute():
        output = cwd / output
    notes = list(layout.notes)
    if label != name:
        notes.append(f'sweep "{label}" is {name} in the store and sweeps/; the CLI takes either name')
    resolved = {k: v for k, v in layout.raw.items() if v is not None}
    resolved["name"] = label  # sweeps/<name>/sweep.yaml and the store's copy load back to the same name
    if isinstance(resolved.get("storage"), str):  # written to sweeps/<name>/sweep.yaml and the store's attrs
        resolved["storage"] = redact(resolved["storage"])
    sections = {key: getattr(model, key) for key in SpecModel.model_fields if key not in ("name", "output")}
    for key in ("pruner", "scheduler", "early_terminate"):  # an empty section asks for nothing
        sections[key] = sections[key] or None
    return Spec(
        **sections,
        name=name,
        dialect=layout.dialect,
        space=space,
        output=output,
        base_dir=base_dir,
        file=file,
        notes=notes,
        resolved=resolved,
        family=layout.family,
        origins=dict(layout.origins),
    )


__all__ = [
    "PARAM_MACROS",
    "STRATEGIES",
    "BudgetSpec",
    "CheckpointsSpec",
    "MetricSpec",
    "MlflowSpec",
    "NotifySpec",
    "ResourcesSpec",
    "Spec",
    "StrategySpec",
    "TrackingSpec",
    "TrialSpec",
    "WandbSpec",
    "apply_overrides",
    "derived_inputs",
    "folder_name",
    "format_duration",
    "inline_spec",
    "load_spec",
    "origin_of",
    "parse_duration",
    "read_file",
    "to_yaml",
    "with_run_flags",
]

"""A sweep with no file: `--param`/`--metric` flags and a command after `--` become a native dict spec.

`sweepkit run --param 'lr=loguniform(1e-5,1e-1)' --param 'bs=choice(16,32,64)' --metric val_loss:min
-- python train.py --epochs 3` is one line to try a search before writing a sweep file; `--save-spec` keeps
it as that file (`to_yaml`). Each `--param` is `name=fn(args)`, `name=[a,b,...]` (a choice) or `name=value`
(a constant). The entries use the Optuna-style forms `spec/_params.py` reads, and each is checked there at
once, so every mistake is reported against its own `--param` rather than a `parameters.x` the user never wrote.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml

from sweepkit.errors import SpecError
from sweepkit.spec._params import parse_parameter

__all__ = ["FUNCTIONS", "PARAM_MACROS", "inline_spec", "parse_metric", "parse_param", "to_yaml", "with_run_flags"]


@dataclass(frozen=True)
class _Function:
    type: str  # the Optuna-style `type:` it becomes
    fields: tuple[str, ...]  # the keys its arguments fill, in order; () for choice (any number)
    signature: str  # what it takes, for messages
    note: str = ""

    def usage(self, name: str) -> str:
        return f"{name}{self.signature}{self.note}"


FUNCTIONS: dict[str, _Function] = {
    "uniform": _Function("uniform", ("low", "high"), "(low, high)"),
    "loguniform": _Function("loguniform", ("low", "high"), "(low, high)", ", low > 0"),
    "int": _Function("int", ("low", "high"), "(low, high)", ", both included"),
    "randint": _Function(
        "randint", ("low", "high"), "(low, high)", ", high excluded as in Ray Tune (int(low, high) includes it)"
    ),
    "logint": _Function("logint", ("low", "high"), "(low, high)", ", both included, low > 0"),
    "choice": _Function("choice", (), "(a, b, ...)", ": one or more values"),
    "normal": _Function("normal", ("mu", "sigma"), "(mu, sigma)"),
    "quniform": _Function("quniform", ("low", "high", "q"), "(low, high, q)"),
    "const": _Function("const", ("value",), "(value)"),
}
# Other tools' spellings, for a better hint than difflib's.
_HINTS = {
    "log_uniform": "loguniform",
    "log": "loguniform",
    "categorical": "choice",
    "values": "choice",
    "float": "uniform",
    "integer": "int",
    "int_uniform": "int",
    "randn": "normal",
    "gauss": "normal",
    "q_uniform": "quniform",
    "constant": "const",
    "value": "const",
}
_GOALS = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}
# Macros that already hand the program its params: a command using one gets no extra `${args}`.
PARAM_MACROS = (
    "${args}", "${args_no_hyphens}", "${args_no_boolean_flags}", "${args_no_equals}", "${args_append_hydra}",
    "${args_override_hydra}", "${args_json}", "${args_json_file}",
)  # fmt: skip

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_INT = re.compile(r"[-+]?[0-9]+")
_HEX_OCT = re.compile(r"[-+]?0(x[0-9a-fA-F]+|o[0-7]+)")
_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
_NULLS = ("null", "Null", "NULL", "~")
_MAX_DIGITS = 1000  # Python refuses to read integers of more than 4300 digits
_Fail = Callable[[str], SpecError]  # builds the error for the --param being read
_EXAMPLE = "lr=loguniform(1e-5,1e-1), bs=choice(16,32,64), layers=[1,2,3] or epochs=3"


def _shown(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------------
# Values: the YAML 1.2 core schema's plain scalars, plus quoted strings


def _scalar(text: str, fail: _Fail) -> Any:
    """One argument: a number, true/false, null, a quoted string, or else the text itself as a string.

    YAML 1.2 rules rather than PyYAML's 1.1 ones: `1e-5` is a number (1.1: a string) and `yes`, `on`,
    `1:30` stay strings (1.1: true, true, 90), which is what a command-line user means."""
    text = text.strip()
    if not text:
        raise fail("an empty value (two commas in a row, or a trailing comma?)")
    if text[0] in "\"'":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, str):
            raise fail(f"cannot read {_shown(text)} as a quoted string (is a quote missing?)")
        return value
    if text[0] in "[{":
        raise fail(f"expected a single value (a number, true/false or a string), found {_shown(text)}")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if text in _NULLS:
        return None
    if lowered in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[lowered]
    if len(text) > _MAX_DIGITS and (_INT.fullmatch(text) or _HEX_OCT.fullmatch(text)):
        raise fail(f"the number {_shown(text, 20)} has too many digits")
    if _INT.fullmatch(text):
        return int(text)
    if _HEX_OCT.fullmatch(text):
        return int(text, 0)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _split(text: str, fail: _Fail) -> list[str]:
    """Split on the commas outside quotes (a double-quoted string may escape a quote with a backslash)."""
    parts: list[str] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote is not None:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote is not None:
        raise fail(f"a {quote} quote is not closed")
    parts.append("".join(current))
    return parts


# --------------------------------------------------------------------------------------------------------
# --param


def _unknown_function(word: str) -> str:
    target = _HINTS.get(word) or _HINTS.get(word.lower())
    if target is None:
        close = difflib.get_close_matches(word.lower(), FUNCTIONS, n=1, cutoff=0.6)
        target = close[0] if close else None
    hint = f' (did you mean "{target}"?)' if target else ""
    text = "" if target else "; for a value with parentheses, quote it"
    return f'unknown function "{word}"{hint}; expected one of {", ".join(FUNCTIONS)}{text}'


def _entry(fn_name: str, fn: _Function, args: list[Any], fail: _Fail) -> dict[str, Any]:
    if not fn.fields:  # choice
        if not args:
            raise fail(f"{fn_name} takes {fn.signature}{fn.note}; found none")
        return {"type": fn.type, "choices": args}
    if len(args) != len(fn.fields):
        found = f"{len(args)} argument{'s' if len(args) != 1 else ''}"
        raise fail(f"{fn_name} takes {fn.signature}{fn.note}; found {found}")
    return {"type": fn.type, **dict(zip(fn.fields, args, strict=True))}


def parse_param(text: str) -> tuple[str, Any]:
    """One `--param` → (name, its `parameters` entry), checked as the sweep file reader would check it."""
    if not isinstance(text, str):
        raise SpecError(f"expected text like {_EXAMPLE}", key="--param")
    name, eq, value = text.partition("=")
    name, value = name.strip(), value.strip()
    where = f'--param "{_shown(text)}"'

    def bad_text(message: str) -> SpecError:
        return SpecError(message, key=where)

    if not eq:
        raise bad_text(f'expected name=value, e.g. {_EXAMPLE}; found no "="')
    # A dotted name (`model.n_layers`) is one key, as in a sweep file: `${args}` gives --model.n_layers=...
    if not all(_NAME.fullmatch(part) for part in name.split(".")):
        what = f'"{_shown(name)}"' if name else "nothing"
        raise bad_text(
            f'expected a parameter name (letters, digits, _ or -, parts joined by dots) before "=", found {what}'
        )

    key = f"--param {name}"

    def fail(message: str) -> SpecError:
        return SpecError(message, key=key)

    if not value:
        raise fail(f'no value after "=": e.g. {name}=uniform(0,1), {name}=[a,b] or {name}=3')
    call = _CALL.match(value)
    if call is not None:
        word = call.group(1)
        fn = FUNCTIONS.get(word)
        if fn is None:
            raise fail(_unknown_function(word))
        if not value.endswith(")"):
            raise fail(f"missing the closing parenthesis: expected {fn.usage(word)}")
        inner = value[call.end() : -1]
        args = [] if not inner.strip() else [_scalar(part, fail) for part in _split(inner, fail)]
        entry = _entry(word, fn, args, fail)
        what = word
    elif value.startswith("["):
        if not value.endswith("]"):
            raise fail('a list needs its closing "]": e.g. [16, 32, 64]')
        inner = value[1:-1]
        if not inner.strip():
            raise fail("an empty list: a choice needs at least one value")
        entry = {"type": "choice", "choices": [_scalar(part, fail) for part in _split(inner, fail)]}
        what = "choice"
    else:
        if value in FUNCTIONS:
            raise fail(f"{value} needs its arguments: {FUNCTIONS[value].usage(value)}")
        if value.endswith(")") and "(" in value:
            raise fail(f"cannot read {_shown(value)} as a function call: expected e.g. uniform(0, 1)")
        entry = {"type": "const", "value": _scalar(value, fail)}
        what = "const"
    try:
        parse_parameter(name, entry, file=None, key=key)
    except SpecError as exc:
        raise fail(f"{what}: {exc.message}") from None
    return name, entry


# --------------------------------------------------------------------------------------------------------
# --metric, the name, the spec


def parse_metric(text: str) -> dict[str, str]:
    """`name[:goal]` with goal minimize/maximize (or min/max); minimize when omitted."""
    name, colon, goal = text.strip().rpartition(":")
    if not colon:
        name, goal = goal, "minimize"
    name, goal = name.strip(), goal.strip()
    if not name:
        raise SpecError(f'expected name[:minimize|maximize], e.g. val_loss:minimize; found "{text}"', key="--metric")
    if goal.lower() not in _GOALS:
        close = difflib.get_close_matches(goal.lower(), _GOALS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        colon_hint = "" if close else f'; a name with ":" needs its goal too, e.g. {text.strip()}:minimize'
        raise SpecError(
            f'unknown goal "{goal}"{hint}; expected minimize or maximize (or min, max){colon_hint}', key="--metric"
        )
    return {"name": name, "goal": _GOALS[goal.lower()]}


def _derived_name(command: list[str]) -> str:
    """The program's file stem (`python train.py` → train), or the module of `-m`, or the executable's name."""
    candidates = command[1:] or command
    for i, item in enumerate(command):
        if item == "-m" and i + 1 < len(command):
            return _clean(command[i + 1].rpartition(".")[2])
    for item in candidates:
        if not item.startswith("-") and PurePath(item).suffix:
            return _clean(PurePath(item).stem)
    return _clean(PurePath(command[0]).name)


def _clean(text: str) -> str:
    """A valid sweep name: no "/", no leading ".", no spaces."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-").lstrip(".")
    return cleaned or "sweep"


def inline_spec(
    params: list[str], metric: str | None, command: list[str], *, name: str | None = None
) -> dict[str, Any]:
    """A native dict spec from `--param` texts, a `--metric` and the command after `--`.

    The command gets `${args}` appended (the params as `--name=value` flags, as W&B passes them) unless it
    already places the params itself with one of W&B's argument macros."""
    if not command or not any(str(part).strip() for part in command):
        raise SpecError(
            "no command to run: put it after --, e.g. sweepkit run --param 'lr=loguniform(1e-5,1e-1)' "
            "-- python train.py",
            key="command",
        )
    command = [str(part) for part in command]
    if not params:
        raise SpecError(f"no parameters to search: give one or more --param, e.g. {_EXAMPLE}", key="--param")
    parameters: dict[str, Any] = {}
    for text in params:
        param_name, entry = parse_param(text)
        if param_name in parameters:
            raise SpecError(f'parameter "{param_name}" is given twice', key=f"--param {param_name}")
        parameters[param_name] = entry
    spec: dict[str, Any] = {"name": name if name is not None else _derived_name(command)}
    if metric is not None:
        spec["metric"] = parse_metric(metric)
    uses_params = any(part in PARAM_MACROS for part in command)
    spec["trial"] = {"command": command if uses_params else [*command, "${args}"]}
    spec["parameters"] = parameters
    return spec


_HEADER = """\
# sweepkit sweep file, saved from the command line (--save-spec).
# Run it with: sweepkit run {file}
# Each trial runs trial.command; ${{args}} there becomes one --name=value flag per parameter.
"""


def with_run_flags(
    spec: dict[str, Any], *, trials: int | None, steps: int | None, timeout: Any, seed: int | None
) -> dict[str, Any]:
    """The spec with `run`'s budget and seed flags written in, for `--save-spec`: the saved file is the
    sweep that ran, so running it again resumes it instead of starting one with another budget."""
    budget = {k: v for k, v in (("trials", trials), ("steps", steps), ("timeout", timeout)) if v is not None}
    saved = {k: v for k, v in spec.items() if k != "parameters"}
    if budget:
        saved["budget"] = {**spec.get("budget", {}), **budget}
    if seed is not None:
        saved["strategy"] = {**spec.get("strategy", {}), "seed": seed}
    saved["parameters"] = spec["parameters"]
    return saved


def to_yaml(spec: dict[str, Any], file: str = "<this file>") -> str:
    """A readable sweep file for `--save-spec`: a header comment, then the spec in block style."""
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000)
    return _HEADER.format(file=file) + body

"""A program trial's argv: W&B's command macros, expanded the way W&B's agent expands them.

Mirrors wandb/wandb `wandb/wandb_agent.py` (`Agent._command_run`) and `wandb/sdk/launch/sweeps/utils.py`
(`create_sweep_command`, `create_sweep_command_args`), so a sweep file written for `wandb agent` hands the
program the very same argv:

* a macro is a whole command item, `${name}`, replaced by zero or more items; text around a macro is not a
  macro (`--cfg=${args_json_file}` stays as written), except `${envvar:NAME}`, replaced anywhere in an item;
* `${args}` is `--key=value` per top-level parameter, the value formatted with Python's `str()` (`True`,
  `None`, `[1, 2]`, `1e-05`); a nested section is one flag holding its dict (`--opt={'lr': 0.1}`): W&B does
  not flatten it (its program reads `wandb.config`);
* `${args_no_boolean_flags}` turns `True` into `--key` and drops `False`; `${args_json}` is `json.dumps`.

The result is a list for `subprocess` and never goes through a shell, so no value can inject a command.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_COMMAND", "ENV_PROGRAM", "MACROS", "build_argv", "check_command", "format_args"]

# W&B's default command (wandb_agent.py: Agent.DEFAULT_SWEEP_COMMAND).
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
# What `${env}` becomes off Windows (W&B hard-codes it and omits it on Windows).
ENV_PROGRAM = "/usr/bin/env"
# utils.py: SWEEP_COMMAND_ENV_VAR_REGEX. Upper-case names only, as in W&B.
_ENVVAR = re.compile(r"\$\{envvar\:([A-Z0-9_]*)\}")


def _value(value: Any) -> str:
    """W&B formats a value with an f-string (`f"{param}={_value}"`), i.e. `str()`."""
    return f"{value}"


def _json_default(value: Any) -> Any:
    """json.dumps fallback for what a spec may hold but JSON lacks (numpy scalars, YAML dates)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def _args_json(params: Mapping[str, Any]) -> str:
    # W&B: json.dumps(flags_dict) with the default separators and ASCII escapes.
    return json.dumps(dict(params), default=_json_default)


def _no_boolean_flags(key: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [f"--{key}"] if value else []
    return [f"--{key}={_value(value)}"]


_FORMATS: dict[str, Callable[[str, Any], list[str]]] = {
    "args": lambda key, value: [f"--{key}={_value(value)}"],
    "args_no_hyphens": lambda key, value: [f"{key}={_value(value)}"],
    "args_no_boolean_flags": _no_boolean_flags,
    "args_no_equals": lambda key, value: [f"--{key}", _value(value)],
    "args_append_hydra": lambda key, value: [f"+{key}={_value(value)}"],
    "args_override_hydra": lambda key, value: [f"++{key}={_value(value)}"],
}

# Every macro W&B's agent expands for a command (`args_dict`, which W&B "expands" to the parameter names
# only because it extends a list with a dict, is left out on purpose).
MACROS: tuple[str, ...] = ("env", "interpreter", "program", *_FORMATS, "args_json", "args_json_file")


def format_args(params: Mapping[str, Any], macro: str = "args") -> list[str]:
    """The argv items one params macro (`args`, `args_no_hyphens`, ...) stands for."""
    if macro == "args_json":
        return [_args_json(params)]
    fmt = _FORMATS[macro]
    return [item for key, value in params.items() for item in fmt(str(key), value)]


def _macro_name(item: str) -> str | None:
    """W&B's test: the item starts with `${` and ends with `}` (the whole item is the macro)."""
    return item[2:-1] if item.startswith("${") and item.endswith("}") else None


def _substitute_envvars(item: str, environ: Mapping[str, str]) -> str:
    # W&B: an unset variable leaves its name in place, not an empty string.
    return _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), item)


def _unknown(name: str) -> str:
    hint = ""
    if name.startswith("envvar:"):
        hint = ": ${envvar:NAME} takes an upper-case name (A-Z, 0-9, _)"
    else:
        close = difflib.get_close_matches(name, MACROS, n=1)
        if close:
            hint = f' (did you mean "${{{close[0]}}}"?)'
    known = ", ".join(f"${{{m}}}" for m in MACROS)
    return f'unknown macro "${{{name}}}" in the command{hint}; known: {known}, ${{envvar:NAME}}'


def _items(command: Iterable[Any], environ: Mapping[str, str]) -> list[str]:
    # W&B: `c = str(c)` for every item (YAML numbers stay usable); envvars first, then the macros.
    return [_substitute_envvars(str(item), environ) for item in command]


def check_command(command: list[Any] | None, program: str | None, *, environ: Mapping[str, str] | None = None) -> None:
    """Raise ValueError for a command that cannot run: unknown macros, or `${program}` without a program.

    Cheap and free of side effects, so a sweep file can be checked before its first trial."""
    environ = os.environ if environ is None else environ
    if not command and program is None:
        raise ValueError("nothing to run: give a program or a command")
    for item in _items(command or DEFAULT_COMMAND, environ):
        name = _macro_name(item)
        if name is None:
            continue
        if name not in MACROS:
            raise ValueError(_unknown(name))
        if name == "program" and program is None:
            raise ValueError("the command uses ${program} but no program is given")


def build_argv(
    command: list[Any] | None,
    program: str | None,
    params: Mapping[str, Any],
    *,
    interpreter: str,
    params_file: Path,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv of one trial, macros expanded; `params` is the trial's nested dict of values.

    An empty or missing command is W&B's default (`${env} ${interpreter} ${program} ${args}`), and
    `${args_json_file}` writes `params` as JSON to `params_file` first (W&B writes it only when used).
    `interpreter` is what `${interpreter}` becomes: W&B puts the bare word `python` there, resolved on PATH.
    """
    environ = os.environ if environ is None else environ
    check_command(command, program, environ=environ)
    items = _items(command or DEFAULT_COMMAND, environ)
    argv: list[str] = []
    for item in items:
        name = _macro_name(item)
        if name is None:
            argv.append(item)
        elif name == "env":
            if sys.platform != "win32" and os.path.exists(ENV_PROGRAM):
                argv.append(ENV_PROGRAM)
        elif name == "interpreter":
            argv.append(interpreter)
        elif name == "program":
            assert program is not None  # check_command
            argv.append(_resolve_program(program, base_dir))
        elif name == "args_json_file":
            params_file.parent.mkdir(parents=True, exist_ok=True)
            params_file.write_text(_args_json(params), encoding="utf-8")
            argv.append(str(params_file))
        else:
            argv.extend(format_args(params, name))
    if not argv:
        raise ValueError("the command expands to nothing: there is no program to run")
    return argv


def _resolve_program(program: str, base_dir: Path) -> str:
    """Relative to the sweep file when it is there (a sweep file travels with its script); else as written."""
    path = Path(program)
    if not path.is_absolute() and (base_dir / path).is_file():
        return str(base_dir / path)
    return program

"""Finding the user's trial function (`module:callable`): light enough for a pool worker process.

Kept apart from `sweep/` (which loads Optuna) so a worker that imports it starts in milliseconds.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweepkit.errors import SpecError


def resolve_function(ref: str, base_dir: Path, *, file: str | None) -> Callable[..., Any]:
    """`train:objective` or `pkg.module:fn` or `path/train.py:fn`, relative to the sweep file's folder."""
    key = "trial.function"
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f'expected "module:callable" (e.g. "train:objective"), got "{ref}"', file=file, key=key)
    if module_name.endswith(".py") or "/" in module_name:
        path = (base_dir / module_name).resolve()
        base_dir, module_name = path.parent, path.stem if path.suffix == ".py" else path.name
    if str(base_dir) in sys.path:
        sys.path.remove(str(base_dir))
    sys.path.insert(0, str(base_dir))
    _forget_other(module_name, base_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SpecError(
                f'module "{module_name}" not found (looked in {base_dir} and the Python path)', file=file, key=key
            ) from None
        raise SpecError(f'importing "{module_name}" failed: {exc}', file=file, key=key) from None
    except SyntaxError as exc:
        raise SpecError(
            f'"{module_name}" has a syntax error at line {exc.lineno}: {exc.msg}', file=file, key=key
        ) from None
    except Exception as exc:  # the user's module raised while importing: tell them what and where
        raise SpecError(f'importing "{module_name}" failed: {type(exc).__name__}: {exc}', file=file, key=key) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n, None))]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise SpecError(f'"{module_name}" has no callable "{attr}"{hint}', file=file, key=key)
        target = getattr(target, part)
    if not callable(target):
        raise SpecError(f'"{ref}" is a {type(target).__name__}, not a function', file=file, key=key)
    return target


def _forget_other(module_name: str, base_dir: Path) -> None:
    """Two sweeps in one process may each have their own `train.py`: drop a cached module of the same
    name loaded from another folder, so this sweep imports its own."""
    top = module_name.split(".")[0]
    cached = sys.modules.get(top)
    origin = getattr(cached, "__file__", None)
    if cached is None or origin is None:
        return
    if Path(origin).resolve().is_relative_to(base_dir.resolve()):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
        del sys.modules[name]


def wants_trial(fn: Callable[..., Any]) -> bool:
    """fn(params) or fn(params, trial): the second form gets report()/should_prune()."""
    try:
        params = [
            p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]  # fmt: skip
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)

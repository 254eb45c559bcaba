"""Python trials: find `module:callable`, call it with the params, and read its result as metrics."""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sweepkit.errors import SpecError
from sweepkit.spec import MetricSpec


class TrialError(Exception):
    """The trial ran but its result can't be used (NaN, missing metric, ...): the trial FAILS."""


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


_AGGREGATE = {"mean": statistics.fmean, "median": statistics.median, "min": min, "max": max}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(value, "__float__"):
        raise TrialError(f"{what} is {type(value).__name__} {value!r}, not a number")
    number = float(value)
    if math.isnan(number):
        raise TrialError(f"{what} is NaN")
    if math.isinf(number):
        raise TrialError(f"{what} is {'+' if number > 0 else '-'}inf")
    return number


def read_result(result: Any, metric: MetricSpec) -> tuple[float, dict[str, Any]]:
    """A trial's return value → (objective, every metric). A list for the metric is per-fold values."""
    if isinstance(result, Mapping):
        metrics = {str(k): _plain(v) for k, v in result.items()}
        if metric.name not in metrics:
            if len(metrics) == 1 and metric.name == "value":
                (only,) = metrics
                return read_result(metrics[only], metric)[0], metrics
            shown = ", ".join(metrics) or "nothing"
            raise TrialError(f'the trial returned {shown} but not the sweep\'s metric "{metric.name}"')
        raw = metrics[metric.name]
    else:
        raw, metrics = _plain(result), {}
    if isinstance(raw, list | tuple):
        if not raw:
            raise TrialError(f'metric "{metric.name}" is an empty list')
        folds = [_number(v, f"{metric.name}[{i}]") for i, v in enumerate(raw)]
        value = float(_AGGREGATE[metric.fold_aggregation](folds))
        metrics[f"{metric.name}_folds"] = folds
    elif result is None:
        raise TrialError("the trial returned None: return the metric value (or a dict of metrics)")
    else:
        value = _number(raw, f'metric "{metric.name}"')
    metrics[metric.name] = value
    return value, metrics


def _plain(value: Any) -> Any:
    """numpy/torch scalars → Python numbers, so metrics store as JSON."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    return value

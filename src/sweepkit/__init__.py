"""sweepkit: self-hosted hyperparameter sweeps.

`import sweepkit` stays light (it runs once in every trial process): the engine, Optuna and SQLAlchemy load
only when `sweepkit.run` or `sweepkit.load_spec` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepkit.errors import SpecError, StoreError, SweepFailed, SweepkitError, TrialPruned, UsageError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sweepkit.results import SweepResult, TrialRecord
    from sweepkit.spec import Spec, load_spec
    from sweepkit.sweep import run

_LAZY = {
    "run": ("sweepkit.sweep", "run"),
    "load_spec": ("sweepkit.spec", "load_spec"),
    "Spec": ("sweepkit.spec", "Spec"),
    "SweepResult": ("sweepkit.results", "SweepResult"),
    "TrialRecord": ("sweepkit.results", "TrialRecord"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sweepkit' has no attribute {name!r}")


__all__ = [
    "Spec",
    "SpecError",
    "StoreError",
    "SweepFailed",
    "SweepResult",
    "SweepkitError",
    "TrialPruned",
    "TrialRecord",
    "UsageError",
    "__version__",
    "load_spec",
    "run",
]

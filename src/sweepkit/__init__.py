"""sweepkit: self-hosted hyperparameter sweeps.

`import sweepkit` stays light (it runs once in every trial process): the engine, Optuna and SQLAlchemy load
only when `sweepkit.run`, `sweepkit.load` or `sweepkit.load_spec` is first used.
"""

from __future__ import annotations

from sweepkit.errors import SpecError, StoreError, SweepFailed, SweepkitError, TrialPruned, UsageError

__version__ = "0.1.0"

TYPE_CHECKING = False  # not `from typing import ...`: typing alone costs ~9 ms in every trial process
if TYPE_CHECKING:
    from sweepkit._trial import Trial
    from sweepkit.client import Params, Run, checkpoint_dir, init
    from sweepkit.results import SweepResult, TrialRecord, load
    from sweepkit.seeding import dataloader_seeding, seed_everything, seed_params, seed_worker, seeded
    from sweepkit.spec import Spec, load_spec
    from sweepkit.sweep import run

_LAZY = {
    "init": ("sweepkit.client", "init"),
    "Run": ("sweepkit.client", "Run"),
    "Params": ("sweepkit.client", "Params"),
    "checkpoint_dir": ("sweepkit.client", "checkpoint_dir"),
    "run": ("sweepkit.sweep", "run"),
    "load": ("sweepkit.results", "load"),
    "Trial": ("sweepkit._trial", "Trial"),  # what `fn(params, trial)` gets (docs/sweep-file.md)
    "load_spec": ("sweepkit.spec", "load_spec"),
    "Spec": ("sweepkit.spec", "Spec"),
    "SweepResult": ("sweepkit.results", "SweepResult"),
    "TrialRecord": ("sweepkit.results", "TrialRecord"),
    # Reproducibility (docs/reproducibility.md): standard library only until called
    "seed_everything": ("sweepkit.seeding", "seed_everything"),
    "seeded": ("sweepkit.seeding", "seeded"),
    "seed_params": ("sweepkit.seeding", "seed_params"),
    "seed_worker": ("sweepkit.seeding", "seed_worker"),
    "dataloader_seeding": ("sweepkit.seeding", "dataloader_seeding"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sweepkit' has no attribute {name!r}")


__all__ = [
    "Params",
    "Run",
    "Spec",
    "SpecError",
    "StoreError",
    "SweepFailed",
    "SweepResult",
    "SweepkitError",
    "Trial",
    "TrialPruned",
    "TrialRecord",
    "UsageError",
    "__version__",
    "checkpoint_dir",
    "dataloader_seeding",
    "init",
    "load",
    "load_spec",
    "run",
    "seed_everything",
    "seed_params",
    "seed_worker",
    "seeded",
]

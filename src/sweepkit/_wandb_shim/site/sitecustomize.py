"""sweepkit's hook in a program trial's Python: what the program passes to `wandb.log` also reaches the sweep.

sweepkit puts this folder first on a program trial's PYTHONPATH, so Python's `site` imports this file when
the interpreter starts. It adds a finder that answers only `import wandb`: once W&B has loaded,
`sweepkit._wandb_shim.install` wraps W&B's public `wandb.Run.log`/`finish` and `wandb.init`, so each logged
row (and the run's summary at its end) is also written to `$SWEEPKIT_CHANNEL`. Then it runs the
sitecustomize this one hides, if there is one further along sys.path, as Python would have.

A program that never imports wandb pays for this file and one string comparison per module it imports.
Nothing here may break the program: a failure in the hook is one line on stderr, and the program runs on.
An error in the hidden sitecustomize is left to Python, which reports it as it always does.
"""

import os
import sys

# Annotations in quotes, and no typing or __future__ import: this file runs at every start of every program trial.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_HERE = os.path.dirname(os.path.abspath(__file__))
_NOTE = "sweepkit: wandb.log is not read in this trial"
_noted = False


def _note(reason: object) -> None:
    """One line on stderr, at most once per process: the program goes on, only the sweep misses its metrics."""
    global _noted
    if not _noted:
        _noted = True
        try:
            sys.stderr.write(f"{_NOTE} ({reason}); the program runs on\n")
            sys.stderr.flush()
        except Exception:  # no usable stderr: nothing else to tell
            pass


class _WandbFinder:
    """On sys.meta_path: finds nothing itself; on `import wandb` it runs the hook once W&B's module has loaded."""

    @staticmethod
    def find_spec(
        name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        if name != "wandb":
            return None
        try:
            sys.meta_path.remove(_WandbFinder)  # once is enough: later imports pay nothing
            import importlib.util

            spec = importlib.util.find_spec("wandb")  # the real one, by the finders after this one
            if spec is None:  # not installed: the program's ImportError is its own
                return None
            loader = getattr(spec, "loader", None)
            load = getattr(loader, "exec_module", None)
            # (a class as loader would be patched for every module it loads: leave such a one alone)
            if loader is None or load is None or isinstance(loader, type):
                _note(f"wandb is loaded by {loader!r}")
                return spec

            def exec_module(module: "ModuleType") -> None:
                load(module)  # W&B's own import: its errors are the program's, as without sweepkit
                vars(loader).pop("exec_module", None)  # the loader as it was
                _hook(module)

            loader.exec_module = exec_module  # this module's loader only (one loader object per module)
            return spec
        except Exception as exc:
            _note(exc)
            return None


def _hook(wandb: "ModuleType") -> None:
    try:
        from sweepkit._wandb_shim import install

        install(wandb, os.environ["SWEEPKIT_CHANNEL"])
    except Exception as exc:
        _note(f"{type(exc).__name__}: {exc}")


def _chain() -> None:
    """Run the sitecustomize this one hides (the environment's or the system's), as Python would have."""
    names = ("sitecustomize.py", "sitecustomize.pyc", os.path.join("sitecustomize", "__init__.py"))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _HERE]
    # a cheap look first: importlib's machinery is loaded only when there is another one to run
    if not any(os.path.exists(os.path.join(entry or os.curdir, name)) for entry in rest for name in names):
        return
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module  # `import sitecustomize` gives it, as without sweepkit
    spec.loader.exec_module(module)


if os.environ.get("SWEEPKIT_CHANNEL"):
    sys.meta_path.insert(0, _WandbFinder)
_chain()

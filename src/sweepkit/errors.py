"""The exceptions sweepkit raises, one per kind of cause, so the CLI can map them to exit codes.

User errors (a bad sweep file, a bad flag, an unknown sweep) exit 2; runtime faults of the sweep itself exit 1.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`/`collections.abc` at run time: every trial process imports this module
if TYPE_CHECKING:
    from collections.abc import Iterable


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """` (did you mean "x"?)` for the closest option, or "": every unknown-name message ends the same way."""
    import difflib  # here, not at the top: this module is imported by every trial process

    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class SweepkitError(Exception):
    """Base class: every error sweepkit raises on purpose."""

    exit_code = 1


class SpecError(SweepkitError):
    """The sweep file (or a dict spec, or a flag) is wrong. Carries the file and the key path at fault."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):  # keep file/key across pickling (worker processes)
        return (_rebuild_spec_error, (self.message, self.file, self.key))


def _rebuild_spec_error(message: str, file: str | None, key: str | None) -> SpecError:
    return SpecError(message, file=file, key=key)


class UsageError(SweepkitError):
    """A command-line or API use that cannot work (unknown sweep name, bad storage URL, ...)."""

    exit_code = 2


class StoreError(SweepkitError):
    """The store could not be reached or answered with an error."""

    exit_code = 1


class SweepFailed(SweepkitError):
    """The sweep stopped because its trials keep failing (probably a bug in the trial)."""

    exit_code = 1


class TrialPruned(Exception):  # noqa: N818 - named like Optuna's, which users know
    """Raised inside a trial to stop it early; the trial ends PRUNED with its last reported value."""


class TrialInterrupted(Exception):  # noqa: N818 - an outcome, like TrialPruned
    """The sweep stopped this trial (Ctrl+C, SIGTERM, `--until`): it is queued again, not failed."""


class TrialError(Exception):
    """The trial ran but its result can't be used (NaN, missing metric, a program's non-zero exit): it FAILS,
    with this message and no traceback."""


class MetricMissing(TrialError):
    """The trial never gave the sweep's metric. When no trial of the sweep ever has, the sweep stops: the
    metric's name is probably wrong, and every other trial would train in vain."""

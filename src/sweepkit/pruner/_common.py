"""Small helpers shared by the pruner builders: where an option was written, number wording."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepkit.errors import SpecError


class Where:
    """Where an option was written: the native key path, shown as the user's own key when it is known.

    `hyperopt:` writes `optuna_n_startup_trials`: it lands in `pruner.n_startup_trials`: an error in it reads
    better at the key the user typed, so `origins` (native path → user path) translates when given.
    """

    def __init__(self, file: str | None, origins: Mapping[str, str] | None = None) -> None:
        self.file = file
        self.origins = dict(origins or {})

    def key(self, path: str) -> str:
        return self.origins.get(path, path)

    def error(self, message: str, path: str) -> SpecError:
        return SpecError(message, file=self.file, key=self.key(path))


def word(value: Any) -> str:
    """A type name as users write it (`ASHA`, `successive-halving`, `MedianPruner`) → comparable text."""
    return str(value).strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def num(value: float) -> str:
    """A metric value in a sentence: short, exact enough to compare (0.41, 1.25e-05, 3)."""
    return f"{value:.4g}"


def ordinal(value: float) -> str:
    if not float(value).is_integer():
        return f"{value:g}th"
    n = int(value)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def steps_list(first: int, factor: int | float, limit: int | None, *, most: int = 4) -> list[int]:
    """first, first·factor, first·factor², … up to `limit` (or the first `most` when there is no limit)."""
    out: list[int] = []
    value = float(first)
    while len(out) < 100:
        if limit is not None and value > limit:
            break
        if limit is None and len(out) >= most:
            break
        out.append(int(value))
        value *= factor
    return out


def join_steps(values: list[int] | list[str], *, more: bool) -> str:
    text = ", ".join(str(v) for v in values)
    return f"{text}, …" if more else text

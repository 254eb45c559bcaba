"""Durations as people write them in sweep files and flags: 7200, "2h", "30m", "1h30m", "90s", "1.5h"."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)", re.IGNORECASE)  # "ms" before "m"
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> float:
    """Seconds from a number (already seconds) or a text like "2h" / "1h30m"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as 3600, "30m" or "2h", got {value!r:.40}')
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float range
            seconds = math.inf
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or _PART.sub("", text).strip():
                raise ValueError(f'expected a duration such as 3600, "30m" or "2h", got {value!r:.40}') from None
            seconds = sum(float(n) * _SECONDS[unit.lower()] for n, unit in parts)
    else:
        raise ValueError(f'expected a duration such as 3600, "30m" or "2h", got {value!r:.40}')
    if not math.isfinite(seconds):
        raise ValueError(f'expected a finite duration such as 3600, "30m" or "2h", got {value!r:.40}')
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r:.40}")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"

"""Compare two runs of the sweep trial by trial: `python same_trials.py sweeps/gbm-farm.1 sweeps/gbm-farm`.

Reads each run's trials_history.json and says whether every trial got the same seed, params, state and value;
exits 1 when any differs, naming the first few."""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("seed", "params", "state", "value")


def main(first: str, second: str) -> int:
    a, b = (json.loads((Path(folder) / "trials_history.json").read_text()) for folder in (first, second))
    differ = [(x["number"], key) for x, y in zip(a, b, strict=False) for key in KEYS if x[key] != y[key]]
    if len(a) != len(b):
        differ.append((min(len(a), len(b)), "trial count"))
    for number, key in differ[:5]:
        print(f"trial {number}: {key} differs")
    differing = len({number for number, _ in differ})
    print(f"{len(a) - differing} of {len(a)} trials identical ({', '.join(KEYS)})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

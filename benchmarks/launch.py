"""Per-trial wall time of a no-op Python program trial, next to a plain loop spawning the same program.

The anchor is what a user's own shell loop costs: `subprocess.run([python, noop.py, --x=...])` N times. The
sweepkit figure includes everything a program trial does: sampling, the store, the trial folder, params
file, environment, the metric read back from the line protocol, and the outputs. Also `import sweepkit` time,
which every trial process that uses the client pays.

    python benchmarks/launch.py [--trials 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOOP = """\
import json, os, sys
channel = os.environ.get("SWEEPKIT_CHANNEL")
if channel:
    with open(channel, "a") as handle:
        handle.write(json.dumps({"loss": 0.5}) + "\\n")
"""


def plain_loop(folder: Path, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        subprocess.run([sys.executable, str(folder / "noop.py"), f"--x={i / n}"], check=True)
    return (time.perf_counter() - start) / n


def sweepkit_loop(folder: Path, n: int) -> float:
    import sweepkit
    import sweepkit.sweep  # noqa: F401  # imports are paid once per sweep, not per trial: keep them out

    spec = {
        "name": f"launch-{time.time_ns()}",
        "metric": {"name": "loss"},
        "strategy": {"name": "random", "seed": 0},
        "trial": {"command": [sys.executable, str(folder / "noop.py"), "${args}"]},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    start = time.perf_counter()
    result = sweepkit.run(spec, trials=n, quiet=True, cwd=folder)
    elapsed = time.perf_counter() - start
    assert sum(t.state == "COMPLETE" for t in result.trials) == n, result.counts
    return elapsed / n


def import_time_ms(repeats: int = 7) -> float:
    """Median self-reported cumulative import time of `sweepkit` (python -X importtime)."""
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sweepkit; sweepkit.init"],
                             capture_output=True, text=True, check=True).stderr  # fmt: skip
        total = sum(
            int(line.split("|")[1]) for line in out.splitlines()
            if line.startswith("import time:") and line.rstrip().endswith(("| sweepkit", "| sweepkit.client"))
        )  # fmt: skip
        times.append(total / 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    plain, ours = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "noop.py").write_text(NOOP)
            plain.append(plain_loop(folder, args.trials))
            ours.append(sweepkit_loop(folder, args.trials))
    p, s = statistics.median(plain), statistics.median(ours)
    print(f"no-op Python program trial, {args.trials} trials x {args.repeats} repeats (median)")
    print(f"  plain subprocess loop : {p * 1000:7.1f} ms/trial")
    print(f"  sweepkit program trial: {s * 1000:7.1f} ms/trial")
    print(f"  ratio                 : {s / p:7.2f}x   (target <= 1.5x: {'PASS' if s / p <= 1.5 else 'MISS'})")
    ms = import_time_ms()
    print(f"import sweepkit (+ client): {ms:.1f} ms   (target <= 50 ms: {'PASS' if ms <= 50 else 'MISS'})")
    print(json.dumps({"plain_ms": p * 1000, "sweepkit_ms": s * 1000, "ratio": s / p, "import_ms": ms}))


if __name__ == "__main__":
    main()

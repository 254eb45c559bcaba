"""Record real learning curves of benchmarks/multifidelity.py's problems once, for the benchmark to replay.

    python benchmarks/record_curves.py --problems mlp --configs 512 --minutes 25
    python benchmarks/record_curves.py --problems seq --configs 256 --minutes 50 --shard 0/2 &   # two processes:
    python benchmarks/record_curves.py --problems seq --configs 256 --minutes 50 --shard 1/2     # the last merges
    python benchmarks/record_curves.py --report           # the sanity table of the saved files only

Twenty seeds x five problems x six strategies of real training do not fit a 2-core machine; replaying recorded
curves does (issue #15). For each problem this trains a fixed set of configurations for 81 steps each and keeps
every step's validation value, in benchmarks/curves/<problem>.json.gz:

    {"problem", "metric", "steps": 81, "created", "command", "machine",
     "space": {param: {"kind", "low", "high", "log", "values"}},
     "configs": [{param: value}], "seeds": [int], "curves": [[81 floats, 6 significant digits]],
     "seconds": [training seconds per config]}

Configurations: a scrambled Sobol sample (seed 0) of the unit cube mapped onto the space: floats uniform, or
log-uniform when `log`; ints as floats over [low - 0.5, high + 0.5] (log-spaced when `log`) rounded, so each
end gets its full share; choices by equal bins of the coordinate. The i-th configuration trains with seed i.
`--minutes` stops a problem cleanly at a wall-time cap; every finished configuration is kept, in Sobol order
(so with shards, or a cap, the seeds say which of the sample's points are there: configs[j] is point seeds[j]).
A recording already in benchmarks/curves/ is added to: a second run with a larger `--configs` trains only the
configurations it lacks (same space, same Sobol sample) and merges them in.

Replaying a shorter trial as a prefix is exact: no trainer knows how many steps it will get (none has a schedule
over the steps: MLPClassifier.partial_fit runs one epoch at a constant Adam rate, the gradient boosting adds 5
trees a step, the torch nets train at a fixed rate), so a 27-step trial is the first 27 steps of an 81-step one.
Each problem's first configuration is trained twice here (27 then 81 steps) to check that, and the run stops if
the shared steps differ.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import multifidelity as mf  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import qmc, spearmanr  # noqa: E402

STEPS = 81
CURVES = Path(__file__).resolve().parent / "curves"
PROBES = (2, 6, 18)  # 0-based steps whose rank correlation with the last step the table shows


def sobol_configs(space: dict[str, mf.Param], n: int) -> list[dict[str, Any]]:
    """The first n points of a scrambled Sobol sample (seed 0) mapped onto the space, as the trainers take them."""
    m = max(0, math.ceil(math.log2(max(n, 1))))
    unit = qmc.Sobol(d=len(space), scramble=True, seed=0).random_base2(m)[:n]
    return [{name: _map(p, float(u)) for (name, p), u in zip(space.items(), row, strict=True)} for row in unit]


def _map(p: mf.Param, u: float) -> Any:
    if p.kind == "choice":
        return p.values[min(int(u * len(p.values)), len(p.values) - 1)]
    low, high = (p.low - 0.5, p.high + 0.5) if p.kind == "int" else (p.low, p.high)
    value = math.exp(math.log(low) + u * math.log(high / low)) if p.log else low + u * (high - low)
    if p.kind == "int":
        return int(min(max(round(value), p.low), p.high))
    return value


def _sig(value: float) -> float:
    return float(f"{value:.6g}")


def _train(prob: mf.Problem, params: dict[str, Any], seed: int, steps: int) -> list[float]:
    step = prob.trainer(params, seed)
    return [step() for _ in range(steps)]


def record(name: str, n: int, minutes: float, command: str, shard: tuple[int, int] = (0, 1)) -> Path:
    """Train configurations r, r + k, r + 2k, ... of the first n (shard r of k), saving after every 16 and at the
    end; the last shard to finish merges all k into <problem>.json.gz. Returns the file it wrote last."""
    prob = mf.problem(name)
    configs = sobol_configs(prob.space, n)
    r, k = shard
    if r == 0:
        short, long = _train(prob, configs[0], 0, 27), _train(prob, configs[0], 0, STEPS)
        if short != long[:27]:
            raise SystemExit(f"{name}: 27 steps are not the first 27 of 81 (seed 0): replaying prefixes is wrong")
    out: dict[str, Any] = {
        "problem": name,
        "metric": prob.metric,
        "steps": STEPS,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {_versions(name)}",
        "space": {key: asdict(p) for key, p in prob.space.items()},
        "configs": [],
        "seeds": [],
        "curves": [],
        "seconds": [],
    }
    CURVES.mkdir(exist_ok=True)
    final = CURVES / f"{name}.json.gz"
    shards = [CURVES / f"{name}.shard{j}of{k}.json.gz" for j in range(k)]
    # A recording already there is kept and added to: only the configurations it lacks are trained.
    kept = [load(final)] if final.exists() else []
    if kept and kept[0]["space"] != json.loads(json.dumps(out["space"])):  # as saved: tuples become lists
        raise SystemExit(f"{final} was recorded over another space than {name}'s: move it away to record anew")
    have = set(kept[0]["seeds"]) if kept else set()

    def save(finished: bool) -> None:
        """One process saves into the recording itself (a run cut short leaves it resumable); a shard into its own
        file, which the last shard to finish merges."""
        if k == 1:
            _save(final, _merge(kept + [out]))
        else:
            _save(shards[r], {**out, "finished": True} if finished else out)

    start = time.perf_counter()
    for done, i in enumerate(i for i in range(r, n, k) if i not in have):
        if time.perf_counter() - start > minutes * 60:
            print(f"{name}: --minutes {minutes:g} reached after {done} configurations", file=sys.stderr, flush=True)
            break
        began = time.perf_counter()
        values = _train(prob, configs[i], i, STEPS)
        out["configs"].append(configs[i])
        out["seeds"].append(i)
        out["curves"].append([_sig(v) for v in values])
        out["seconds"].append(round(time.perf_counter() - began, 3))
        if (done + 1) % 16 == 0:
            save(finished=False)
            print(
                f"{name}: {done + 1} configs, {(time.perf_counter() - start) / 60:.1f} min", file=sys.stderr, flush=True
            )
    save(finished=True)
    if k == 1:
        return final
    parts = [load(s) for s in shards if s.exists()]
    if len(parts) == k and all(part.get("finished") for part in parts):
        _save(final, _merge(kept + parts))
        for s in shards:
            s.unlink()
        return final
    return shards[r]


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One recording of the shards' configurations, in Sobol order."""
    keys = ("seeds", "configs", "curves", "seconds")
    rows = sorted(
        (row for part in parts for row in zip(*(part[key] for key in keys), strict=True)), key=lambda row: row[0]
    )
    merged = {key: parts[0][key] for key in ("problem", "metric", "steps", "space")}
    merged["created"] = min(part["created"] for part in parts)
    for key in ("command", "machine"):  # each recording's, once
        merged[key] = " & ".join(dict.fromkeys(part[key] for part in parts))
    for j, key in enumerate(keys):
        merged[key] = [row[j] for row in rows]
    return merged


def _save(path: Path, data: dict[str, Any]) -> None:
    """Atomically, and mtime 0 in the gzip header: the same curves give the same bytes."""
    part = path.with_suffix(".tmp")
    part.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
    part.replace(path)


def _versions(name: str) -> str:
    from importlib.metadata import version

    library = "torch" if name in mf.TORCH_PROBLEMS else "scikit-learn"
    return f"{library} {version(library)}"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return data


def sanity(data: dict[str, Any]) -> str:
    """One table row: rank correlation of the value at PROBES with the last step's, all and better half; diverged."""
    curves = np.array(data["curves"], dtype=float)
    last = curves[:, -1]
    better = last <= np.median(last)
    cells = []
    for rows in (np.ones(len(last), dtype=bool), better):
        for s in PROBES:
            cells.append(f"{spearmanr(curves[rows, s], last[rows]).statistic:.2f}")
    # where the 5 best at the end stood at each probe (0 = first): how slow the best starters are
    best = np.argsort(last)[:5]
    for s in PROBES[1:]:
        places = [int(np.sum(curves[:, s] < curves[i, s])) for i in best]
        cells.append(f"{min(places)}–{max(places)}")
    diverged = float(np.mean(np.any(~np.isfinite(curves) | (curves >= mf.DIVERGED), axis=1)))
    seconds = sum(data["seconds"])
    return (
        f"| {data['problem']} | {len(curves)} | {' | '.join(cells)} | {diverged:.1%} | {seconds:.0f} "
        f"| {float(np.min(last)):.4g} | {float(np.median(last)):.4g} |"
    )


def table(paths: list[Path]) -> str:
    probes = " | ".join(f"step {s}" for s in PROBES)
    head = (
        f"| problem | configs | {probes} (all) | {probes} (better half) | "
        + " | ".join(f"5 best: place at step {s}" for s in PROBES[1:])
        + " | diverged | training s "
        "| best final | median final |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    return "\n".join(lines + [sanity(load(p)) for p in paths])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default=",".join(mf.PROBLEMS), help="comma-separated: " + ", ".join(mf.PROBLEMS))
    parser.add_argument("--configs", type=int, default=256, help="configurations per problem (Sobol prefix)")
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-time cap per problem")
    parser.add_argument("--shard", default="0/1", help="r/k: record configurations r, r + k, ... (k processes)")
    parser.add_argument("--report", action="store_true", help="print the sanity table of the saved files only")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",") if n.strip()]
    unknown = [n for n in names if n not in mf.PROBLEMS]
    if unknown:
        parser.error(f"unknown problem {', '.join(unknown)}: use one of {', '.join(mf.PROBLEMS)}")
    if args.configs < 1 or args.minutes <= 0:
        parser.error("--configs and --minutes must be positive")
    r, _, k = args.shard.partition("/")
    if not (r.isdigit() and k.isdigit() and int(r) < int(k)):
        parser.error(f"--shard {args.shard}: give r/k with 0 <= r < k, e.g. 1/2")
    shard = (int(r), int(k))
    command = " ".join(["python benchmarks/record_curves.py", *(argv if argv is not None else sys.argv[1:])])
    if not args.report:
        for name in names:
            path = record(name, args.configs, args.minutes, command, shard)
            print(f"{path}: {path.stat().st_size / 1024:.0f} KiB", file=sys.stderr, flush=True)
    paths = [CURVES / f"{n}.json.gz" for n in names if (CURVES / f"{n}.json.gz").exists()]
    print(table(paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

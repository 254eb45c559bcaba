"""How well a trial's value at an early step predicts its final value, on benchmarks/multifidelity.py's problems.

    python benchmarks/rung_correlation.py --configs 48      # ~5 min on 2 cores

Early stopping can only save steps when the trials that look bad early are bad at the end. For each problem,
random configurations from its space are trained for all their steps. At each of `combined`'s rungs (Optuna's
step numbers, counted from 0, where successive halving judges a trial) this prints the Spearman rank correlation
between the value there and the final value (over all of them, and over the better half, where a search spends
its trials once it has learnt), and how many of the configurations that end among the best 10% would be stopped
there by successive halving (not in the best third at that step).
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import get_context
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import multifidelity as mf  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402

from sweepkit.pruner._common import steps_list  # noqa: E402


def learning_curve(args: tuple[str, int, int]) -> tuple[str, list[float]]:
    """One random configuration of a problem (the k-th draw of a seeded random sampler), trained all its steps."""
    name, k, steps = args
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prob = mf.problem(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=k))
    params = prob.suggest(study.ask())
    step = prob.trainer(params, mf.trial_seed(0, k))
    return name, [step() for _ in range(steps)]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks_a, ranks_b = a.argsort().argsort(), b.argsort().argsort()
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=48)
    parser.add_argument("--steps", type=int, default=27)
    parser.add_argument("--problems", default=",".join(mf.PROBLEMS))
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",") if n.strip()]
    jobs = [(n, k, args.steps) for n in names for k in range(args.configs)]
    curves: dict[str, list[list[float]]] = {n: [] for n in names}
    with get_context("spawn").Pool(args.workers) as pool:
        for name, values in pool.imap_unordered(learning_curve, jobs):
            curves[name].append(values)
    first, factor = mf.combined_rungs(args.steps)
    rungs = steps_list(first, factor, args.steps - 1)  # below the last step, as `combined` puts them
    print(
        f"{args.configs} random configurations per problem, {args.steps} steps; rungs (step numbers, from 0): {rungs}"
    )
    header = [f"ρ at step {r} (all / better half)" for r in rungs] + [f"best 10% stopped at step {r}" for r in rungs]
    print("| problem | " + " | ".join(header) + " |")
    print("|---" * (1 + len(header)) + "|")
    for name in names:
        table = np.array(curves[name])
        final = table[:, -1]
        order = np.argsort(final)
        best, better = set(order[: max(1, len(final) // 10)].tolist()), order[: len(final) // 2]
        cells = [f"{spearman(table[:, r], final):.2f} / {spearman(table[better, r], final[better]):.2f}" for r in rungs]
        for r in rungs:
            kept = set(np.argsort(table[:, r])[: max(1, len(final) // factor)].tolist())
            cells.append(f"{len(best - kept)} of {len(best)}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

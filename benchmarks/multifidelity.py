"""Early stopping pays: training steps to reach full-budget TPE's quality, per strategy, on real learning curves.

    python benchmarks/multifidelity.py              # 4 problems x 10 seeds x 4 strategies (~45 min on 2 cores)
    python benchmarks/multifidelity.py --quick      # a smoke run: 2 problems x 3 seeds, half the budget
    python benchmarks/multifidelity.py --seeds 20 --workers 2 --json out.json
    python benchmarks/multifidelity.py --steps 81   # longer trials: more for early stopping to save (~35 min)
    python benchmarks/multifidelity.py --from-json out.json   # redo the table and the figure from a saved run

Problems (each step is one unit of real training, validated after it; none saturates within its steps):

* `mlp`: scikit-learn's MLPClassifier, one `partial_fit` epoch per step, on a hard synthetic 3-class problem
  (`make_classification`, 3 clusters per class, label noise, 1,200 validation rows); metric: validation log-loss.
* `gbm`: scikit-learn's GradientBoostingRegressor grown by rounds (`warm_start`, 5 trees per step) on
  Friedman #1 with noise and 5 irrelevant features (1,000 validation rows); metric: validation RMSE.
* `cnn`: a small 1-D CNN in torch (embedding, convolution, max-pool) classifying synthetic token sequences by
  a planted motif, one epoch per step (800 validation sequences); metric: validation cross-entropy.
* `seq`: the W&B multi-head sweep, 10 of its 11 parameters with its ranges (learning rate, batch size, width, depth,
  dropout, weight decay, augmentation, label smoothing, gradient clipping, optimizer; sizes scaled down to a
  CPU), on a 1-D conv net that must find two class motifs, one in each half of a sequence, one epoch per step
  (1,120 validation sequences); metric: validation cross-entropy. The first three search 4-5 parameters; this
  one searches as many as users do, where 40 trials leave TPE far from done.

Each searches a space as wide as users' (learning rates over 4-5 decades): most of it trains badly, which is
where stopping early can save. Metrics are continuous and validation sets large so that a better value means a
better model, not a lucky draw of the validation rows (an error rate on 400 rows, the first version, moved by
0.0025 a row).

Strategies, side by side in one run, each with the same budget of training steps (full-budget TPE's: trials x
steps per trial):

* `full TPE`: raw Optuna, `TPESampler(seed)`, no pruner: every trial trains all its steps.
* `TPE + Hyperband`: raw Optuna, `TPESampler(seed)` + `HyperbandPruner(min_resource=1, max_resource=steps)`.
* `random + ASHA`: raw Optuna, `RandomSampler(seed)` + `SuccessiveHalvingPruner` with the same rungs sweepkit's
  `combined` uses (so the difference is the search, not the rungs).
* `sweepkit combined`: `sweepkit.run({... "strategy": {"name": "combined", "seed": seed}, "budget": {"steps":
  steps}})`, the objective reporting with `trial.report(value, step)`: what users get (TPE; at the same rungs,
  ASHA's rule until 5 trials have finished, then the forecast from the finished trials). One sweep, stopped once
  the steps are spent.

Steps are counted as Optuna counts them: a trial reports steps 0, 1, 2, ...; one that stops after reporting
step s has spent s + 1 steps. A strategy's best value at a number of steps is the best *final* value of the
trials that ran to their last step within those steps (a pruned trial's early value does not count).

The figure: target = the value full-budget TPE reaches with its whole budget, as its median curve over seeds
does (the median of its final best values). For each strategy, the steps its median curve needs to reach the
target; speed-up = full TPE's steps / the strategy's steps. The IQR is over a bootstrap of the seeds (each
strategy's seeds resampled, the target recomputed), so it says how sure the median is. An anytime plot (best
value vs cumulative steps, median and 25-75% band over seeds) goes to benchmarks/multifidelity.png.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# One thread per worker: the machine is shared, and BLAS/OpenMP threads fighting over 2 cores only add noise.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from sweepkit.pruner._build import combined_rungs  # noqa: E402  (the rungs `combined` uses)

HERE = Path(__file__).resolve().parent
STRATEGIES = ("full TPE", "TPE + Hyperband", "random + ASHA", "sweepkit combined")
DIVERGED = 1e3  # a value reported instead of NaN/inf (a diverged net), so every sampler and pruner can rank it


# -- problems ---------------------------------------------------------------------------------------------------
Step = Callable[[], float]


@dataclass(frozen=True)
class Param:
    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()  # a choice's values

    def spec(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"values": list(self.values)}
        if self.kind == "int":
            return {"type": "int", "low": int(self.low), "high": int(self.high), "log": self.log}
        return {"min": self.low, "max": self.high, "log": self.log}

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)


def choice(*values: Any) -> Param:
    return Param("choice", values=values)


class Problem:
    name = ""
    metric = "validation loss"
    space: dict[str, Param] = {}
    max_steps = 27  # steps per trial
    full_trials = 40  # full-budget TPE's trials, as in issue #5's measurement: the budget is max_steps x full_trials

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        """A fresh model for `params`; each call of the returned function trains one more step and validates."""
        raise NotImplementedError

    def parameters(self) -> dict[str, Any]:
        return {name: p.spec() for name, p in self.space.items()}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {name: p.suggest(trial, name) for name, p in self.space.items()}


def _finite(value: float) -> float:
    return value if math.isfinite(value) else DIVERGED


def _channels_first() -> Any:
    """(batch, length, embedding) → (batch, embedding, length), as Conv1d wants it after an Embedding."""
    from torch import nn

    class ChannelsFirst(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.transpose(1, 2)

    return ChannelsFirst()


class MLP(Problem):
    name = "mlp"
    metric = "validation log-loss"
    space = {
        "lr": Param("float", 1e-5, 1.0, log=True),
        "alpha": Param("float", 1e-7, 1.0, log=True),
        "batch_size": Param("int", 8, 512, log=True),
        "hidden": Param("int", 4, 128, log=True),
    }

    def __init__(self) -> None:
        from sklearn.datasets import make_classification
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        X, y = make_classification(
            n_samples=2400, n_features=20, n_informative=10, n_redundant=4, n_classes=3,
            n_clusters_per_class=3, class_sep=0.8, flip_y=0.03, random_state=0,
        )  # fmt: skip
        X_train, X_val, self.y_train, self.y_val = train_test_split(X, y, test_size=0.5, random_state=0)
        scaler = StandardScaler().fit(X_train)
        self.X_train, self.X_val = scaler.transform(X_train), scaler.transform(X_val)

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=(int(params["hidden"]),), learning_rate_init=params["lr"], alpha=params["alpha"],
            batch_size=int(params["batch_size"]), random_state=seed,
        )  # fmt: skip
        classes = np.unique(self.y_train)

        def step() -> float:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning: one epoch never converges
                model.partial_fit(self.X_train, self.y_train, classes=classes)
            return _finite(float(log_loss(self.y_val, model.predict_proba(self.X_val), labels=classes)))

        return step


class GBM(Problem):
    name = "gbm"
    metric = "validation RMSE"
    space = {
        "learning_rate": Param("float", 0.003, 1.0, log=True),
        "max_depth": Param("int", 1, 8),
        "min_samples_leaf": Param("int", 1, 128, log=True),
        "subsample": Param("float", 0.2, 1.0),
        "max_features": Param("float", 0.1, 1.0),
    }
    trees_per_step = 5

    def __init__(self) -> None:
        from sklearn.datasets import make_friedman1

        X, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
        self.X_train, self.X_val, self.y_train, self.y_val = X[:1000], X[1000:], y[:1000], y[1000:]

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        from sklearn.ensemble import GradientBoostingRegressor

        model = GradientBoostingRegressor(
            learning_rate=params["learning_rate"], max_depth=int(params["max_depth"]),
            min_samples_leaf=int(params["min_samples_leaf"]), subsample=params["subsample"],
            max_features=params["max_features"], n_estimators=0, warm_start=True, random_state=seed,
        )  # fmt: skip
        predicted: np.ndarray | None = None

        def step() -> float:
            # The validation prediction grows with the new trees only (predict() would sum all of them again).
            nonlocal predicted
            before = model.n_estimators
            model.n_estimators += self.trees_per_step
            model.fit(self.X_train, self.y_train)
            if predicted is None:
                predicted = np.asarray(model.init_.predict(self.X_val), dtype=float).ravel()
            for tree in model.estimators_[before:, 0]:
                predicted = predicted + model.learning_rate * tree.predict(self.X_val)
            return _finite(float(np.sqrt(np.mean((predicted - self.y_val) ** 2))))

        return step


class CNN(Problem):
    name = "cnn"
    metric = "validation cross-entropy"
    space = {
        "lr": Param("float", 1e-5, 0.3, log=True),
        "weight_decay": Param("float", 1e-6, 1.0, log=True),
        "channels": Param("int", 2, 64, log=True),
        "kernel": Param("int", 2, 9),
        "dropout": Param("float", 0.0, 0.8),
    }
    vocab, length, classes, batch = 8, 20, 4, 100

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        rng = np.random.default_rng(0)
        n = 1400
        motifs = rng.integers(0, self.vocab, size=(self.classes, 4))
        X = rng.integers(0, self.vocab, size=(n, self.length))
        y = rng.integers(0, self.classes, size=n)
        for i in range(n):  # the class's motif planted once at a random place
            at = rng.integers(0, self.length - 4)
            X[i, at : at + 4] = motifs[y[i]]
        noisy = rng.random(n) < 0.1  # 10% label noise
        y[noisy] = rng.integers(0, self.classes, size=int(noisy.sum()))
        X_t, y_t = torch.tensor(X), torch.tensor(y)
        self.X_train, self.y_train, self.X_val, self.y_val = X_t[:600], y_t[:600], X_t[600:], y_t[600:]

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        width = int(params["channels"])
        net = nn.Sequential(
            nn.Embedding(self.vocab, 8), _channels_first(), nn.Conv1d(8, width, int(params["kernel"])), nn.ReLU(),
            nn.Dropout(params["dropout"]), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(width, self.classes),
        )  # fmt: skip
        optimizer = torch.optim.AdamW(net.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
        generator = torch.Generator().manual_seed(seed)

        def step() -> float:
            net.train()
            order = torch.randperm(len(self.X_train), generator=generator)
            for start in range(0, len(order), self.batch):
                batch = order[start : start + self.batch]
                loss = nn.functional.cross_entropy(net(self.X_train[batch]), self.y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            net.eval()
            with torch.no_grad():
                return _finite(float(nn.functional.cross_entropy(net(self.X_val), self.y_val)))

        return step


class Seq(Problem):
    """The W&B multi-head sweep (10 of its 11 parameters, the same ranges; widths, depths and batch sizes scaled down to
    a CPU) on a sequence task: a conv net must find two class motifs, one in each half of the sequence."""

    name = "seq"
    metric = "validation cross-entropy"
    space = {
        "learning_rate": Param("float", 1e-4, 1e-2, log=True),
        "batch_size": choice(16, 32, 64, 128),
        "width": choice(8, 16, 32, 48),
        "num_layers": choice(1, 2, 3),
        "dropout": Param("float", 0.1, 0.5),
        "weight_decay": Param("float", 1e-5, 1e-3, log=True),
        "augmentation_prob": choice(0.0, 0.2, 0.3, 0.5),
        "label_smoothing": Param("float", 0.0, 0.2),
        "grad_clip": choice(0.5, 1.0, 2.0, 5.0),
        "optimizer": choice("adam", "adamw", "sgd"),
    }
    vocab, length, classes, n_train = 8, 24, 4, 480

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        rng = np.random.default_rng(0)
        n = 1600
        motifs = rng.integers(0, self.vocab, size=(self.classes, 2, 3))
        X = rng.integers(0, self.vocab, size=(n, self.length))
        y = rng.integers(0, self.classes, size=n)
        half = self.length // 2
        for i in range(n):  # the class's first motif in the first half, its second in the second
            first, second = rng.integers(0, half - 3), rng.integers(half, self.length - 3)
            X[i, first : first + 3], X[i, second : second + 3] = motifs[y[i], 0], motifs[y[i], 1]
        noisy = rng.random(n) < 0.1  # 10% label noise
        y[noisy] = rng.integers(0, self.classes, size=int(noisy.sum()))
        X_t, y_t = torch.tensor(X), torch.tensor(y)
        k = self.n_train
        self.X_train, self.y_train, self.X_val, self.y_val = X_t[:k], y_t[:k], X_t[k:], y_t[k:]

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        width, dropout = int(params["width"]), float(params["dropout"])
        layers: list[nn.Module] = [
            nn.Embedding(self.vocab, 16),
            _channels_first(),
            nn.Conv1d(16, width, 3, padding=1),
            nn.ReLU(),
        ]
        for _ in range(int(params["num_layers"]) - 1):
            layers += [nn.Dropout(dropout), nn.Conv1d(width, width, 3, padding=1), nn.ReLU()]
        layers += [nn.Dropout(dropout), nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(width, self.classes)]
        net = nn.Sequential(*layers)
        lr, decay = float(params["learning_rate"]), float(params["weight_decay"])
        optimizer: torch.optim.Optimizer
        if params["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=decay, momentum=0.9)
        else:
            kind = torch.optim.Adam if params["optimizer"] == "adam" else torch.optim.AdamW
            optimizer = kind(net.parameters(), lr=lr, weight_decay=decay)
        generator = torch.Generator().manual_seed(seed)
        batch, clip = int(params["batch_size"]), float(params["grad_clip"])
        replace = float(params["augmentation_prob"]) / 5  # augmentation: each token replaced at random this often
        smoothing = float(params["label_smoothing"])

        def step() -> float:
            net.train()
            order = torch.randperm(len(self.X_train), generator=generator)
            for start in range(0, len(order), batch):
                rows = order[start : start + batch]
                x = self.X_train[rows]
                if replace:
                    swap = torch.rand(x.shape, generator=generator) < replace
                    x = torch.where(swap, torch.randint(0, self.vocab, x.shape, generator=generator), x)
                loss = nn.functional.cross_entropy(net(x), self.y_train[rows], label_smoothing=smoothing)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), clip)
                optimizer.step()
            net.eval()
            with torch.no_grad():
                return _finite(float(nn.functional.cross_entropy(net(self.X_val), self.y_val)))

        return step


PROBLEMS: dict[str, type[Problem]] = {"mlp": MLP, "gbm": GBM, "cnn": CNN, "seq": Seq}
TORCH_PROBLEMS = ("cnn", "seq")  # the slow ones: left out of --quick, started first
_LOADED: dict[str, Problem] = {}


def problem(name: str) -> Problem:
    """Each worker process builds a problem's data once."""
    if name not in _LOADED:
        _LOADED[name] = PROBLEMS[name]()
    return _LOADED[name]


# -- one run: a strategy on a problem with a seed ---------------------------------------------------------------
@dataclass
class Ledger:
    """What a run spent and found: at the end of each trial, the steps spent so far and its final value (None
    when it was pruned)."""

    budget: int
    steps: int = 0
    ends: list[tuple[int, float | None]] = field(default_factory=list)

    @property
    def spent(self) -> bool:
        return self.steps >= self.budget


def trial_seed(seed: int, number: int) -> int:
    """The training seed of a trial (weights, shuffling): the same for trial k of every strategy."""
    return (seed * 100_003 + number) % 2**31


def train(
    prob: Problem, params: dict[str, Any], seed: int, ledger: Ledger, report: Callable[[float, int], None]
) -> float:
    """Train one trial step by step; `report` raises when the pruner stops it. Returns the final value."""
    step_fn = prob.trainer(params, seed)
    value = math.nan
    for step in range(prob.max_steps):
        value = step_fn()
        ledger.steps += 1
        try:
            report(value, step)
        except BaseException:
            ledger.ends.append((ledger.steps, None))
            raise
    ledger.ends.append((ledger.steps, value))
    return value


def _raw_run(prob: Problem, seed: int, budget: int, sampler: optuna.samplers.BaseSampler,
             pruner: optuna.pruners.BasePruner, trials: int | None = None) -> Ledger:  # fmt: skip
    ledger = Ledger(budget)

    def objective(trial: optuna.Trial) -> float:
        def report(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return train(prob, prob.suggest(trial), trial_seed(seed, trial.number), ledger, report)

    def stop_when_spent(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if ledger.spent:
            study.stop()

    study = optuna.create_study(sampler=sampler, pruner=pruner, study_name=f"{prob.name}-{seed}")
    study.optimize(objective, n_trials=trials, callbacks=[stop_when_spent])
    return ledger


def run_full_tpe(prob: Problem, seed: int, budget: int) -> Ledger:
    sampler = optuna.samplers.TPESampler(seed=seed)
    return _raw_run(prob, seed, budget, sampler, optuna.pruners.NopPruner(), trials=prob.full_trials)


def run_tpe_hyperband(prob: Problem, seed: int, budget: int) -> Ledger:
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=prob.max_steps, reduction_factor=3)
    return _raw_run(prob, seed, budget, optuna.samplers.TPESampler(seed=seed), pruner)


def run_random_asha(prob: Problem, seed: int, budget: int) -> Ledger:
    low, factor = combined_rungs(prob.max_steps)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=low, reduction_factor=factor)
    return _raw_run(prob, seed, budget, optuna.samplers.RandomSampler(seed=seed), pruner)


def run_sweepkit_combined(prob: Problem, seed: int, budget: int) -> Ledger:
    """Through `sweepkit.run`, as users run it: one sweep, stopped as Ctrl+C stops it once the steps are spent.
    (Running it in chunks of trials instead would resume the sweep, and a resumed sampler's seed moves on by the
    trials done: seed 0 after 4 trials would draw seed 4's numbers.)"""
    import sweepkit

    ledger = Ledger(budget)
    spec = {
        "name": f"{prob.name}-{seed}",
        "metric": {"name": "loss", "goal": "minimize"},
        "strategy": {"name": "combined", "seed": seed},
        "budget": {"steps": prob.max_steps},
        "parameters": prob.parameters(),
    }

    def objective(params: dict[str, Any], trial: Any) -> float:
        if ledger.spent:
            raise KeyboardInterrupt  # the budget is spent: stop the sweep (this trial has trained nothing)

        def report(value: float, step: int) -> None:
            trial.report(value, step)  # raises TrialPruned when the pruner says stop

        return train(prob, params, trial_seed(seed, trial.number), ledger, report)

    folder = Path(tempfile.mkdtemp(prefix="sweepkit-multifidelity-"))
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(KeyboardInterrupt):
            sweepkit.run(spec, objective=objective, trials=budget, quiet=True, cwd=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not ledger.spent:
        raise RuntimeError(f"sweepkit stopped after {ledger.steps} of {budget} steps")
    return ledger


RUNNERS: dict[str, Callable[[Problem, int, int], Ledger]] = {
    "full TPE": run_full_tpe,
    "TPE + Hyperband": run_tpe_hyperband,
    "random + ASHA": run_random_asha,
    "sweepkit combined": run_sweepkit_combined,
}


def job(args: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """One (problem, strategy, seed) run in a worker: its trial ends and its wall time."""
    name, strategy, seed, full_trials, steps = args
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prob = problem(name)
    prob.full_trials, prob.max_steps = full_trials, steps
    budget = steps * full_trials
    start = time.perf_counter()
    ledger = RUNNERS[strategy](prob, seed, budget)
    return {
        "problem": name, "strategy": strategy, "seed": seed, "steps": steps, "budget": budget, "ends": ledger.ends,
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


# -- the figure -------------------------------------------------------------------------------------------------
def curve(ends: list[tuple[int, float | None]], budget: int) -> np.ndarray:
    """best[s] = the best final value of the trials that ended within s steps (inf before the first), s = 0..B."""
    best = np.full(budget + 1, np.inf)
    for steps, value in ends:
        if value is not None and steps <= budget:
            best[steps:] = np.minimum(best[steps:], value)
    return best


def hitting(median_curve: np.ndarray, target: float) -> int | None:
    """The first step count at which the curve reaches the target (minimizing), None if it never does."""
    reached = np.flatnonzero(median_curve <= target)
    return int(reached[0]) if reached.size else None


@dataclass
class Figure:
    problem: str
    strategy: str
    target: float
    steps_to_target: int | None  # of the strategy's median curve
    speedup: float | None  # full TPE's steps / the strategy's; None when the target is never reached
    iqr: tuple[float, float]  # bootstrap quartiles of the speed-up (0: not reached in that resample)
    final: float  # median over seeds of the best value at the end of the budget
    trials: float  # median number of trials a run started
    seconds: float  # median wall time of a run


def figures(runs: list[dict[str, Any]], resamples: int = 2000) -> list[Figure]:
    out: list[Figure] = []
    rng = np.random.default_rng(0)
    for name in dict.fromkeys(r["problem"] for r in runs):
        mine = [r for r in runs if r["problem"] == name]
        budget = mine[0]["budget"]
        curves = {
            s: np.array([curve(r["ends"], budget) for r in mine if r["strategy"] == s])
            for s in STRATEGIES
            if any(r["strategy"] == s for r in mine)
        }
        base = curves["full TPE"]
        target = float(np.median(base, axis=0)[-1])
        base_steps = hitting(np.median(base, axis=0), target)
        for strategy, runs_curves in curves.items():
            steps = hitting(np.median(runs_curves, axis=0), target)
            speedup = None if steps is None or base_steps is None else base_steps / steps
            boot = []
            for _ in range(resamples):
                b = base[rng.integers(0, len(base), len(base))]
                c = runs_curves[rng.integers(0, len(runs_curves), len(runs_curves))]
                b_median = np.median(b, axis=0)
                t = float(b_median[-1])
                b_steps, c_steps = hitting(b_median, t), hitting(np.median(c, axis=0), t)
                boot.append(0.0 if c_steps is None or b_steps is None else b_steps / c_steps)
            q1, q3 = np.percentile(boot, [25, 75])
            done = [r for r in mine if r["strategy"] == strategy]
            out.append(
                Figure(
                    problem=name,
                    strategy=strategy,
                    target=target,
                    steps_to_target=steps,
                    speedup=speedup,
                    iqr=(float(q1), float(q3)),
                    final=float(np.median(runs_curves[:, -1])),
                    trials=float(np.median([len(r["ends"]) for r in done])),
                    seconds=float(np.median([r["seconds"] for r in done])),
                )  # fmt: skip
            )
    return out


def _x(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f}x"


def table(rows: list[Figure], runs: list[dict[str, Any]]) -> str:
    seeds = len({r["seed"] for r in runs})
    lines = [
        f"| problem | strategy | steps to target | speed-up vs full TPE (median of {seeds} seeds) | IQR (bootstrap) "
        "| final best (median) | trials per run | seconds per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        steps = "-" if f.steps_to_target is None else str(f.steps_to_target)
        iqr = f"{f.iqr[0]:.2f}–{f.iqr[1]:.2f}"
        lines.append(
            f"| {f.problem} | {f.strategy} | {steps} | {_x(f.speedup)} | {iqr} | {f.final:.4g} | {f.trials:.0f} "
            f"| {f.seconds:.0f} |"
        )
    return "\n".join(lines)


COLORS = {"full TPE": "#444444", "TPE + Hyperband": "#1f77b4", "random + ASHA": "#ff7f0e",
          "sweepkit combined": "#2ca02c"}  # fmt: skip


def plot(runs: list[dict[str, Any]], rows: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["problem"] for r in runs))
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in runs if r["problem"] == name]
        budget = mine[0]["budget"]
        steps = np.arange(budget + 1)
        upper = []
        for strategy in STRATEGIES:
            curves = np.array([curve(r["ends"], budget) for r in mine if r["strategy"] == strategy])
            if not len(curves):
                continue
            with np.errstate(invalid="ignore"):  # inf - inf where fewer than a quarter of the runs have a value
                low, mid, high = np.percentile(curves, [25, 50, 75], axis=0)
            shown = np.isfinite(mid)
            figure = next(f for f in rows if f.problem == name and f.strategy == strategy)
            label = strategy if strategy == "full TPE" else f"{strategy} ({_x(figure.speedup)})"
            ax.step(steps[shown], mid[shown], where="post", color=COLORS[strategy], label=label, lw=1.8)
            band = np.isfinite(low) & np.isfinite(high)
            ax.fill_between(steps[band], low[band], high[band], step="post", color=COLORS[strategy], alpha=0.15)
            if figure.steps_to_target is not None:
                ax.plot([figure.steps_to_target], [figure.target], "o", color=COLORS[strategy], ms=5)
            finite = mid[np.isfinite(mid)]
            if finite.size:
                upper.append(float(finite[min(len(finite) - 1, len(finite) // 8)]))
        target = next(f.target for f in rows if f.problem == name)
        ax.axhline(target, color="black", ls="--", lw=0.9, label="target: full TPE's final (median)")
        finals = [f.final for f in rows if f.problem == name]
        low_y = min(finals + [target])
        high_y = max(upper) if upper else target
        pad = (high_y - low_y) * 0.08 or 0.01
        ax.set_ylim(low_y - pad, high_y + pad)
        ax.set_xlim(0, budget)
        steps_per_trial = mine[0].get("steps", PROBLEMS[name].max_steps)
        ax.set_title(f"{name}: {steps_per_trial} steps per trial, budget {budget} steps")
        ax.set_xlabel("training steps spent (all trials)")
        ax.set_ylabel(f"best final {PROBLEMS[name].metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Best value vs training steps: median and 25–75% band of {len({r['seed'] for r in runs})} seeds; "
                 "speed-up = steps full TPE needs to reach the target ÷ the strategy's", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: mlp and gbm, 3 seeds, half the budget")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: " + ", ".join(PROBLEMS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (full TPE is needed)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--steps", type=int, default=Problem.max_steps, help="steps (epochs, rounds) per trial")
    parser.add_argument("--json", type=Path, help="save every run's trial ends here (an existing file: add to it)")
    parser.add_argument("--from-json", type=Path, help="redo the figures from a saved run instead of running")
    parser.add_argument("--plot", type=Path, default=HERE / "multifidelity.png")
    args = parser.parse_args(argv)

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        runs, meta = saved["runs"], saved["meta"]
    else:
        names = [n.strip() for n in args.problems.split(",") if n.strip()]
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
        seeds = args.seeds
        if args.quick:
            names, seeds = [n for n in names if n not in TORCH_PROBLEMS] or names, min(seeds, 3)
        unknown = [n for n in names if n not in PROBLEMS] + [s for s in strategies if s not in RUNNERS]
        if unknown or "full TPE" not in strategies:
            parser.error(f"unknown: {', '.join(unknown)}" if unknown else "the figure needs full TPE")
        jobs = [
            (n, s, seed, PROBLEMS[n].full_trials // 2 if args.quick else PROBLEMS[n].full_trials, args.steps)
            for n in names
            for seed in range(seeds)
            for s in strategies
        ]
        # seed by seed (a run cut short still has every strategy for its first seeds), long runs first in each
        jobs.sort(key=lambda j: (j[2], j[0] not in TORCH_PROBLEMS, j[1] != "full TPE"))
        start = time.perf_counter()
        runs = []
        if args.json and args.json.exists():  # add to a saved run: only the runs it lacks
            runs = json.loads(args.json.read_text())["runs"]
            have = {(r["problem"], r["strategy"], r["seed"]) for r in runs}
            jobs = [j for j in jobs if j[:3] not in have]
        meta = {
            "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, Optuna {optuna.__version__}", "workers": args.workers,
            "command": " ".join(["python benchmarks/multifidelity.py", *(argv if argv is not None else sys.argv[1:])]),
        }  # fmt: skip
        done_before = len(runs)

        def finished(done: dict[str, Any]) -> None:
            runs.append(done)
            meta["minutes"] = round((time.perf_counter() - start) / 60, 1)
            _progress(done, len(runs) - done_before, len(jobs), start)
            if args.json:  # after every run: a run cut short keeps what it measured (and can be added to)
                args.json.write_text(json.dumps({"meta": meta, "runs": runs}))

        if args.workers > 1:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
                for done in pool.imap_unordered(job, jobs):
                    finished(done)
        else:
            for j in jobs:
                finished(job(j))
        meta["minutes"] = round((time.perf_counter() - start) / 60, 1)
    order = {s: i for i, s in enumerate(STRATEGIES)}
    runs.sort(key=lambda r: (list(PROBLEMS).index(r["problem"]), order[r["strategy"]], r["seed"]))
    rows = figures(runs)
    print(f"\n{meta['command']}  ({meta['date']}, {meta['minutes']} min, {meta['machine']}, {meta['workers']} workers)")
    print(table(rows, runs))
    plot(runs, rows, args.plot)
    print(f"\nanytime plot: {args.plot}")
    return 0


def _progress(done: dict[str, Any], n: int, total: int, start: float) -> None:
    elapsed = time.perf_counter() - start
    print(f"[{n}/{total} {elapsed / 60:.1f} min] {done['problem']} {done['strategy']} seed {done['seed']}: "
          f"{len(done['ends'])} trials, {done['seconds']:.0f}s", file=sys.stderr, flush=True)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

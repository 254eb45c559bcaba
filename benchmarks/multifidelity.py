"""Early stopping against the best multi-fidelity optimizers: steps to full-budget TPE's quality and anytime ranks.

    python benchmarks/multifidelity.py --workers 2 --json benchmarks/multifidelity-suite.json
        # the suite (issue #15): 4 replayed + 2 synthetic problems x 20 seeds x 6 strategies, 81 steps a trial
    python benchmarks/multifidelity.py --quick          # a smoke run (< 1 min): 2 problems x 2 seeds, 27 steps
    python benchmarks/multifidelity.py --problems mlp,gbm,cnn,seq --steps 27 --seeds 10 --json out.json
        # real training, live (the 27-step figures in RESULTS.md; ~45 min on 2 cores for 4 strategies)
    python benchmarks/multifidelity.py --json suite.json --rerun "sweepkit combined"   # redo one strategy's runs
    python benchmarks/multifidelity.py --from-json benchmarks/multifidelity-suite.json  # redo tables and plot

DEHB and SMAC3 are the anchors from other tools: `pip install smac && pip install --no-deps dehb loguru`
(dehb 0.1.2 pins numpy<2, which it runs without; --no-deps keeps numpy 2). The live problems need scikit-learn
and torch; the figure needs matplotlib.

Problems. Live (each step is one unit of real training, validated after it; none saturates within its steps):

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
better model, not a lucky draw of the validation rows.

Replayed (`mlp-replay`, ... `seq-replay`): the same problems' real curves, recorded once for 81 steps by
benchmarks/record_curves.py (`--curves`, default benchmarks/curves/<problem>.json.gz). A trial follows the curve of
the recorded configuration nearest to its parameters in the unit cube (log scale for log parameters; a choice
adds 0 when equal, 1 when not, as far as the two ends of a range). Nearest neighbour, as tabular benchmarks
(NAS-Bench, HPOBench's tabular ones) answer from a table: every curve a strategy sees is one real training ran,
with its real crossings and plateaus, where a surrogate model would smooth them or invent its own; the price
is a landscape that is flat between recorded points. Twenty seeds of six strategies at 81 steps are ~10^5 trials,
which real training on 2 cores cannot do; a replayed step costs microseconds.

Synthetic: Hartmann-6 with the step as fidelity (Kandasamy et al., "Multi-fidelity Bayesian optimisation with
continuous approximations", 2017: alpha shifted by 0.1 (1 - z)), fidelity z = log(step + 1) / log(steps) (learning
curves gain most early), and at z < 1 the whole landscape moved by `shift` (1 - z) along a fixed diagonal, so the
low-fidelity optimum is elsewhere and curves cross. `hartmann6` (shift 0.2): well correlated, Spearman rho
between step 2 and the last of about 0.8 among the better half of random points; `hartmann6-cross` (shift 0.8):
rho about 0.3, like gbm's short-horizon bias (RESULTS.md). The problems table printed first measures both.

Strategies, side by side in one run, each with the same budget of training steps (full-budget TPE's: trials x
steps per trial):

* `full TPE`: raw Optuna, `TPESampler(seed)`, no pruner: every trial trains all its steps.
* `TPE + Hyperband`: raw Optuna, `TPESampler(seed)` + `HyperbandPruner(min_resource=1, max_resource=steps)`.
* `random + ASHA`: raw Optuna, `RandomSampler(seed)` + `SuccessiveHalvingPruner` with the same rungs sweepkit's
  `combined` uses (so the difference is the search, not the rungs).
* `DEHB`: the `dehb` package's DEHB (ask/tell), `SMAC3 Hyperband`: SMAC3's `MultiFidelityFacade` (random forest,
  Hyperband intensifier; ask/tell; `n_trials` 3 x the full trials, about the evaluations the budget buys, which
  sizes its random initial design: a quarter of them); both seeded, eta 3, min fidelity = `combined`'s first rung,
  max = the steps per trial (their rungs: 27 and 81 of 81 steps). They ask for a configuration at a fidelity as
  if trained from scratch; they are charged as the Optuna strategies are, only the steps beyond those the same
  configuration already trained (as if it resumed from a checkpoint: generous to them; neither asks for it).
* `sweepkit combined`: live, `sweepkit.run({... "strategy": {"name": "combined", "seed": seed}, "budget":
  {"steps": steps}})`, as users run it, stopped once the steps are spent. Replayed and synthetic: raw Optuna
  `TPESampler(seed)` + the pruner `sweepkit.pruner.build` gives strategy `combined` (what `sweepkit.run` builds),
  so that sweepkit's journal writes (~0.1 s a trial) do not dominate microsecond steps; the two are the same
  trial by trial (tests/sweep/test_pruning_matrix.py::test_combined_is_optuna_tpe_with_the_forecast_pruner_...).

Steps are counted as Optuna counts them: a trial reports steps 0, 1, 2, ...; one that stops after reporting
step s has spent s + 1 steps. A run stops once its budget is spent. A strategy's best value at a number of steps
is the best value of the trials that reached the last step within those steps (a pruned trial's early value, a
DEHB/SMAC evaluation at a lower fidelity, does not count).

Figures (printed as markdown tables):

* Ranks: for each problem and seed, the strategies ranked by best value at 1/4, 1/2 and all of the budget (ties
  share their average rank; no full-fidelity value yet ranks last); the mean over problems x seeds, with the IQR
  of a bootstrap over seeds; each anchor against `combined` by a Wilcoxon signed-rank test on the paired
  per-seed ranks, pooled over problems ("not separable at N seeds" when p >= 0.05).
* Speed-up: target = full TPE's median final best; steps each strategy's median curve needs to reach it; speed-up
  = full TPE's steps / the strategy's, IQR by bootstrap of the seeds; geometric mean over problems.
* Final quality: `combined`'s median final best against full TPE's, with a bootstrap 95% interval of the difference.
* An anytime plot, one panel per problem (median and 25-75% band over seeds of best value vs steps).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
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

from sweepkit.pruner._build import combined_rungs  # noqa: E402  (private: the rungs `combined` uses)

HERE = Path(__file__).resolve().parent
CURVES = HERE / "curves"
STRATEGIES = ("full TPE", "TPE + Hyperband", "random + ASHA", "DEHB", "SMAC3 Hyperband", "sweepkit combined")
COMBINED = "sweepkit combined"
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
    cheap = False  # replayed or synthetic: a step costs microseconds
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


PROBLEMS: dict[str, type[Problem]] = {"mlp": MLP, "gbm": GBM, "cnn": CNN, "seq": Seq}  # trained live
TORCH_PROBLEMS = ("cnn", "seq")  # the slow ones: left out of --quick, started first


def _unit(p: Param, value: float) -> float:
    """A numeric value's place in [0, 1] of its range, on a log scale for log parameters."""
    if p.log:
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (value - p.low) / (p.high - p.low)


class Replay(Problem):
    """A live problem's recorded curves; a trial follows the nearest recorded configuration's (module docstring)."""

    cheap = True

    def __init__(self, live: str, folder: Path) -> None:
        path = folder / f"{live}.json.gz"
        if not path.exists():
            raise SystemExit(f"no recorded curves for {live} at {path}: record them (benchmarks/record_curves.py) "
                             "or point --curves at them")  # fmt: skip
        data = json.loads(gzip.decompress(path.read_bytes()))
        self.name, self.metric, self.space = f"{live}-replay", data["metric"], PROBLEMS[live].space
        if sorted(data["space"]) != sorted(self.space):
            raise SystemExit(f"{path}: its parameters {sorted(data['space'])} are not {live}'s {sorted(self.space)}")
        self.curves = np.array(data["curves"], dtype=float)
        self.recorded_steps = self.curves.shape[1]
        self.numeric = [n for n, p in self.space.items() if p.kind != "choice"]
        self.choices = [n for n, p in self.space.items() if p.kind == "choice"]
        configs = data["configs"]
        self.unit = np.array([[_unit(self.space[n], c[n]) for n in self.numeric] for c in configs])
        self.codes = np.array([[self.space[n].values.index(c[n]) for n in self.choices] for c in configs], dtype=int)
        self.codes = self.codes.reshape(len(configs), len(self.choices))
        self.proposed: list[int] = []  # the recorded configuration each trial followed, in order (every run's)

    def nearest(self, params: dict[str, Any]) -> int:
        point = np.array([_unit(self.space[n], float(params[n])) for n in self.numeric])
        codes = np.array([self.space[n].values.index(params[n]) for n in self.choices], dtype=int)
        distance = ((self.unit - point) ** 2).sum(axis=1) + (self.codes != codes).sum(axis=1)
        return int(np.argmin(distance))

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        if self.max_steps > self.recorded_steps:
            raise SystemExit(f"{self.name}: {self.max_steps} steps asked, {self.recorded_steps} recorded")
        self.proposed.append(self.nearest(params))
        values = iter(self.curves[self.proposed[-1]].tolist())  # a shorter trial replays the first steps
        return lambda: _finite(next(values))


class Hartmann6(Problem):
    """Hartmann-6 with the step as fidelity; the landscape moves by `shift` (1 - z) at fidelity z (docstring)."""

    cheap = True
    metric = "Hartmann-6 regret"
    space = {f"x{i}": Param("float", 0.0, 1.0) for i in range(1, 7)}
    A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                  [17, 8, 0.05, 10, 0.1, 14]])  # fmt: skip
    P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])  # fmt: skip
    ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
    MINIMUM = -3.32237  # at the last step: values are the regret, >= 0 at every step (positive like a loss)
    DIRECTION = np.array([1, -1, 1, -1, 1, -1]) / math.sqrt(6)

    def __init__(self, name: str, shift: float, noise: float = 0.0) -> None:
        self.name, self.shift, self.noise = name, shift, noise

    def fidelity(self, step: int) -> float:
        return math.log(step + 1) / math.log(self.max_steps)

    def values(self, x: np.ndarray, step: int) -> np.ndarray:
        """The value of each row of x (points in [0, 1]^6) at a step (0-based)."""
        gap = 1.0 - self.fidelity(step)
        alpha = self.ALPHA - 0.1 * gap
        moved = np.atleast_2d(x) + self.shift * gap * self.DIRECTION
        value = -(alpha * np.exp(-(self.A * (moved[:, None, :] - self.P) ** 2).sum(axis=2))).sum(axis=1)
        return value - self.MINIMUM

    def trainer(self, params: dict[str, Any], seed: int) -> Step:
        x = np.array([float(params[n]) for n in self.space])
        rng = np.random.default_rng(seed)
        step = -1

        def next_step() -> float:
            nonlocal step
            step += 1
            return float(self.values(x, step)[0]) + (self.noise * float(rng.normal()) if self.noise else 0.0)

        return next_step


# Every problem by name: the live ones, their replays, the synthetic ones. The suite is all but the live ones.
SUITE = ("mlp-replay", "gbm-replay", "cnn-replay", "seq-replay", "hartmann6", "hartmann6-cross")
SYNTHETIC = {"hartmann6": 0.2, "hartmann6-cross": 0.8}  # name: shift
NAMES = (*PROBLEMS, *SUITE)
_LOADED: dict[str, Problem] = {}


def problem(name: str, curves: Path = CURVES) -> Problem:
    """Each worker process builds a problem's data once."""
    if name not in _LOADED:
        if name in PROBLEMS:
            _LOADED[name] = PROBLEMS[name]()
        elif name in SYNTHETIC:
            _LOADED[name] = Hartmann6(name, SYNTHETIC[name])
        else:
            _LOADED[name] = Replay(name.removesuffix("-replay"), curves)
    return _LOADED[name]


def rung_correlation(prob: Problem, steps: int, points: int = 512) -> tuple[float, float]:
    """Spearman rho between the value at step 2, and at `combined`'s first rung, and the last step's, among the
    better half (by last value) of the recorded configurations (replays) or of random points (synthetic)."""
    from scipy.stats import spearmanr

    if isinstance(prob, Replay):
        curves = prob.curves[:, :steps]
    else:
        assert isinstance(prob, Hartmann6)
        prob = Hartmann6(prob.name, prob.shift, prob.noise)  # a copy: the fidelity depends on the steps
        prob.max_steps = steps
        x = np.random.default_rng(0).random((points, 6))
        curves = np.stack([prob.values(x, s) for s in range(steps)], axis=1)
    better = curves[:, -1] <= np.median(curves[:, -1])
    first = combined_rungs(steps)[0]
    return tuple(float(spearmanr(curves[better, s], curves[better, -1])[0]) for s in (2, first))  # type: ignore[return-value]


# -- one run: a strategy on a problem with a seed ---------------------------------------------------------------
@dataclass
class Ledger:
    """What a run spent and found: at the end of each trial, the steps spent so far and its final value (None
    when it stopped before the last step)."""

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
    """Cheap problems: raw TPE + the pruner sweepkit builds for `combined` (module docstring). Live: through
    `sweepkit.run`, as users run it: one sweep, stopped as Ctrl+C stops it once the steps are spent. (Running it in
    chunks of trials instead would resume the sweep, and a resumed sampler's seed moves on by the trials done.)"""
    import sweepkit
    from sweepkit.pruner import build

    if prob.cheap:
        pruner = build(pruner=None, scheduler=None, early_terminate=None, strategy="combined",
                       max_steps=prob.max_steps, maximize=False, file=None).pruner  # fmt: skip
        return _raw_run(prob, seed, budget, optuna.samplers.TPESampler(seed=seed), pruner)

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


class Resuming:
    """DEHB's and SMAC's evaluations: a configuration at a fidelity, charged only the steps beyond those the same
    configuration already trained (its trainer is kept and continued, as a checkpoint would be)."""

    def __init__(self, prob: Problem, seed: int, ledger: Ledger) -> None:
        self.prob, self.seed, self.ledger = prob, seed, ledger
        self.trained: dict[tuple[Any, ...], tuple[Step, list[float]]] = {}

    def __call__(self, params: dict[str, Any], fidelity: int) -> float:
        key = tuple(params[name] for name in self.prob.space)
        if key not in self.trained:
            self.trained[key] = (self.prob.trainer(params, trial_seed(self.seed, len(self.trained))), [])
        step_fn, values = self.trained[key]
        while len(values) < fidelity:
            values.append(step_fn())
            self.ledger.steps += 1
        value = values[fidelity - 1]
        self.ledger.ends.append((self.ledger.steps, value if fidelity >= self.prob.max_steps else None))
        return value


def config_space(prob: Problem, seed: int) -> Any:
    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer

    space = ConfigurationSpace(seed=seed)
    for name, p in prob.space.items():
        if p.kind == "choice":
            space.add(Categorical(name, list(p.values)))
        elif p.kind == "int":
            space.add(Integer(name, (int(p.low), int(p.high)), log=p.log))
        else:
            space.add(Float(name, (p.low, p.high), log=p.log))
    return space


def _plain(config: Any) -> dict[str, Any]:
    """A ConfigSpace configuration as Python values (numpy scalars → int/float/str)."""
    return {name: value.item() if hasattr(value, "item") else value for name, value in dict(config).items()}


def run_dehb(prob: Problem, seed: int, budget: int) -> Ledger:
    from dehb import DEHB

    ledger = Ledger(budget)
    evaluate = Resuming(prob, seed, ledger)
    folder = Path(tempfile.mkdtemp(prefix="dehb-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            dehb = DEHB(cs=config_space(prob, seed), min_fidelity=combined_rungs(prob.max_steps)[0],
                        max_fidelity=prob.max_steps, eta=3, seed=seed, n_workers=1, output_path=folder,
                        log_level="ERROR", save_freq="end")  # fmt: skip
            while not ledger.spent:
                job = dehb.ask()
                before = ledger.steps
                value = evaluate(_plain(job["config"]), round(job["fidelity"]))
                dehb.tell(job, {"fitness": value, "cost": float(ledger.steps - before)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ledger


def run_smac(prob: Problem, seed: int, budget: int) -> Ledger:
    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    def unused(config: Any, seed: int = 0, budget: float = 0.0) -> float:
        raise AssertionError("ask/tell only")

    ledger = Ledger(budget)
    evaluate = Resuming(prob, seed, ledger)
    folder = Path(tempfile.mkdtemp(prefix="smac-"))
    try:
        scenario = Scenario(config_space(prob, seed), deterministic=True, n_trials=3 * prob.full_trials, seed=seed,
                            min_budget=combined_rungs(prob.max_steps)[0], max_budget=prob.max_steps,
                            output_directory=folder)  # fmt: skip
        model = MultiFidelityFacade.get_model(scenario)
        # Private, speed only: one thread per worker as for the others (its default is every core), and trees grown
        # depth first: its max_leaf_nodes 2**20 never binds but makes sklearn grow them best first, 0.4 s a tree.
        model._rf_opts.update(n_jobs=1, max_leaf_nodes=None)
        smac = MultiFidelityFacade(scenario, unused, model=model, logging_level=40, overwrite=True,
                                   intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=3))  # fmt: skip
        while not ledger.spent:
            info = smac.ask()
            assert info.budget is not None
            smac.tell(info, TrialValue(cost=evaluate(_plain(info.config), round(info.budget))))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ledger


RUNNERS: dict[str, Callable[[Problem, int, int], Ledger]] = {
    "full TPE": run_full_tpe,
    "TPE + Hyperband": run_tpe_hyperband,
    "random + ASHA": run_random_asha,
    "DEHB": run_dehb,
    "SMAC3 Hyperband": run_smac,
    COMBINED: run_sweepkit_combined,
}


def job(args: tuple[str, str, int, int, int, str]) -> dict[str, Any]:
    """One (problem, strategy, seed) run in a worker: its trial ends and its wall time."""
    name, strategy, seed, full_trials, steps, curves = args
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")  # SMAC's and DEHB's own chatter
    prob = problem(name, Path(curves))
    prob.full_trials, prob.max_steps = full_trials, steps
    budget = steps * full_trials
    start = time.perf_counter()
    mark = len(prob.proposed) if isinstance(prob, Replay) else 0
    ledger = RUNNERS[strategy](prob, seed, budget)
    done = {
        "problem": name, "strategy": strategy, "seed": seed, "steps": steps, "budget": budget, "ends": ledger.ends,
        "seconds": time.perf_counter() - start, "metric": prob.metric,
    }  # fmt: skip
    if isinstance(prob, Replay):
        done["proposed"] = prob.proposed[mark:]
    return done


# -- statistics -------------------------------------------------------------------------------------------------
CHECKPOINTS = ((0.25, "1/4"), (0.5, "1/2"), (1.0, "all"))
RESAMPLES = 2000
SPEEDUP_RESAMPLES = 500  # each a median curve of every strategy: the slow part of the figures


def curve(ends: list[tuple[int, float | None]], budget: int) -> np.ndarray:
    """best[s] = the best final value of the trials that ended within s steps (inf before the first), s = 0..B."""
    key = (id(ends), budget)
    if key not in _CURVES:
        best = np.full(budget + 1, np.inf)
        for steps, value in ends:
            if value is not None and steps <= budget:
                best[steps:] = np.minimum(best[steps:], value)
        _CURVES[key] = (ends, best)  # the list is kept so that its id is not reused
    return _CURVES[key][1]


_CURVES: dict[tuple[int, int], tuple[list[tuple[int, float | None]], np.ndarray]] = {}


def median_curve(curves: np.ndarray) -> np.ndarray:
    """np.median(curves, axis=0), several times faster on (seeds, steps) arrays: the bootstrap calls it 10^4 times."""
    ordered = np.sort(curves, axis=0)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def hitting(median_curve: np.ndarray, target: float) -> int | None:
    """The first step count at which the curve reaches the target (minimizing), None if it never does."""
    reached = np.flatnonzero(median_curve <= target)
    return int(reached[0]) if reached.size else None


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks of values, 1 = lowest; ties share their average rank (inf, no value yet, ties for last)."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(values, method="average"), dtype=float)


def bootstrap_iqr(samples: np.ndarray, statistic: Callable[[np.ndarray], float], rng: np.random.Generator,
                  resamples: int = RESAMPLES) -> tuple[float, float]:  # fmt: skip
    """Quartiles of the statistic over resamples (with replacement) of the first axis of samples."""
    draws = [statistic(samples[rng.integers(0, len(samples), len(samples))]) for _ in range(resamples)]
    q1, q3 = np.percentile(draws, [25, 75])
    return float(q1), float(q3)


def _grid(runs: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[str, list[int]]]:
    """Problems, strategies, and per problem the seeds every strategy ran (the paired sets the ranks need)."""
    names = list(dict.fromkeys(r["problem"] for r in runs))
    strategies = [s for s in STRATEGIES if any(r["strategy"] == s for r in runs)]
    seeds = {}
    for name in names:
        have = [{r["seed"] for r in runs if r["problem"] == name and r["strategy"] == s} for s in strategies]
        seeds[name] = sorted(set.intersection(*have))
    return names, strategies, seeds


def rank_matrix(runs: list[dict[str, Any]], fraction: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(strategies, ranks[pair, strategy], problem index of each pair): each (problem, seed) pair ranks the
    strategies by their best value after `fraction` of the budget."""
    names, strategies, seeds = _grid(runs)
    by_key = {(r["problem"], r["strategy"], r["seed"]): r for r in runs}
    rows, where = [], []
    for i, name in enumerate(names):
        for seed in seeds[name]:
            chosen = [by_key[name, s, seed] for s in strategies]
            at = int(chosen[0]["budget"] * fraction)
            rows.append(ranks(np.array([curve(r["ends"], r["budget"])[at] for r in chosen])))
            where.append(i)
    return strategies, np.array(rows), np.array(where)


def mean_rank_iqr(matrix: np.ndarray, where: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap quartiles [strategy, 2] of the mean rank, each problem's seeds resampled."""
    groups = [np.flatnonzero(where == p) for p in np.unique(where)]
    draws = []
    for _ in range(RESAMPLES):
        picked = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        draws.append(matrix[picked].mean(axis=0))
    return np.percentile(np.array(draws), [25, 75], axis=0).T


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Wilcoxon signed-rank p of paired samples; 1 when they never differ."""
    from scipy.stats import wilcoxon

    if not np.any(a != b):
        return 1.0
    return float(wilcoxon(a, b).pvalue)


def rank_tables(runs: list[dict[str, Any]]) -> str:
    rng = np.random.default_rng(0)
    seeds = max(len(s) for s in _grid(runs)[2].values())
    head = ["| strategy |"] + [f" mean rank at {label} (IQR) |" for _, label in CHECKPOINTS]
    lines = ["".join(head), "|---|" + "---|" * len(CHECKPOINTS)]
    separable = ["| anchor vs `combined` |" + "".join(f" {label}: p, verdict |" for _, label in CHECKPOINTS),
                 "|---|" + "---|" * len(CHECKPOINTS)]  # fmt: skip
    cells: dict[str, list[str]] = {}
    tests: dict[str, list[str]] = {}
    for fraction, _ in CHECKPOINTS:
        strategies, matrix, where = rank_matrix(runs, fraction)
        means, iqr = matrix.mean(axis=0), mean_rank_iqr(matrix, where, rng)
        best = means.min()
        for k, s in enumerate(strategies):
            text = f"{means[k]:.2f} ({iqr[k, 0]:.2f}–{iqr[k, 1]:.2f})"
            cells.setdefault(s, []).append(f"**{text}**" if means[k] == best else text)
        if COMBINED in strategies:
            mine = matrix[:, strategies.index(COMBINED)]
            for k, s in enumerate(strategies):
                if s == COMBINED:
                    continue
                p = paired_p(mine, matrix[:, k])
                if p >= 0.05:
                    verdict = f"not separable at {seeds} seeds"
                else:
                    verdict = "`combined` ahead" if mine.mean() < matrix[:, k].mean() else f"{s} ahead"
                tests.setdefault(s, []).append(f"{p:.2g}, {verdict}")
    lines += [f"| {s} | " + " | ".join(c) + " |" for s, c in cells.items()]
    separable += [f"| {s} | " + " | ".join(t) + " |" for s, t in tests.items()]
    pairs = len(rank_matrix(runs, 1.0)[1])
    note = (
        f"Ranks 1 (best) to {len(cells)} over {pairs} problem-seed pairs, ties share their average rank; IQR: "
        "bootstrap of each problem's seeds. Wilcoxon signed-rank on the paired ranks, pooled over problems."
    )
    return "\n".join(lines) + "\n\n" + "\n".join(separable) + "\n\n" + note


@dataclass
class Figure:
    problem: str
    strategy: str
    target: float
    steps_to_target: int | None  # of the strategy's median curve
    speedup: float | None  # full TPE's steps / the strategy's; None when the target is never reached
    iqr: tuple[float, float]  # bootstrap quartiles of the speed-up (0: not reached in that resample)
    final: float  # median over seeds of the best value at the end of the budget
    trials: float  # median number of trials (evaluations, for DEHB and SMAC) a run started
    seconds: float  # median wall time of a run


def figures(runs: list[dict[str, Any]]) -> list[Figure]:
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
        base_steps = hitting(median_curve(base), target)
        for strategy, runs_curves in curves.items():
            steps = hitting(median_curve(runs_curves), target)
            speedup = None if steps is None or base_steps is None else base_steps / steps
            boot = []
            for _ in range(SPEEDUP_RESAMPLES):
                b = base[rng.integers(0, len(base), len(base))]
                c = runs_curves[rng.integers(0, len(runs_curves), len(runs_curves))]
                b_median = median_curve(b)
                t = float(b_median[-1])
                b_steps, c_steps = hitting(b_median, t), hitting(median_curve(c), t)
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
    return "not reached" if value is None else f"{value:.2f}×"


def speedup_table(rows: list[Figure], runs: list[dict[str, Any]]) -> str:
    seeds = len({r["seed"] for r in runs})
    lines = [
        f"| problem | strategy | steps to target | speed-up vs full TPE (median of {seeds} seeds) | IQR (bootstrap) "
        "| final best (median) | trials per run | seconds per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        steps = "-" if f.steps_to_target is None else str(f.steps_to_target)
        lines.append(
            f"| {f.problem} | {f.strategy} | {steps} | {_x(f.speedup)} | {f.iqr[0]:.2f}–{f.iqr[1]:.2f} "
            f"| {f.final:.4g} | {f.trials:.0f} | {f.seconds:.1f} |"
        )
    lines += ["", "| strategy | geometric mean of the speed-ups | reached the target on |", "|---|---|---|"]
    names = list(dict.fromkeys(f.problem for f in rows))
    budgets = {r["problem"]: r["budget"] for r in runs}
    base = {f.problem: f.steps_to_target or budgets[f.problem] for f in rows if f.strategy == "full TPE"}
    for strategy in dict.fromkeys(f.strategy for f in rows):
        mine = [f for f in rows if f.strategy == strategy]
        reached = [f for f in mine if f.speedup is not None]
        # Not reached counts as reached at the budget's end: an upper bound for those problems.
        bound = [f.speedup if f.speedup is not None else base[f.problem] / budgets[f.problem] for f in mine]
        text = f"{_geo(bound):.2f}×" + ("" if len(reached) == len(mine) else " (upper bound)")
        lines.append(f"| {strategy} | {text} | {len(reached)} of {len(names)} |")
    return "\n".join(lines)


def _geo(values: list[float]) -> float:
    positive = [v for v in values if v > 0]
    return float(np.exp(np.mean(np.log(positive)))) if positive else 0.0


def final_check(runs: list[dict[str, Any]]) -> str:
    """Target 3: `combined`'s median final best against full TPE's, per problem, with a bootstrap 95% interval
    of the difference (each side's seeds resampled)."""
    rng = np.random.default_rng(1)
    lines = ["| problem | full TPE final (median) | `combined` final (median) | difference (95% bootstrap) | verdict |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(r["problem"] for r in runs):
        finals = {
            s: np.array(
                [curve(r["ends"], r["budget"])[-1] for r in runs if r["problem"] == name and r["strategy"] == s]
            )
            for s in ("full TPE", COMBINED)
        }
        if not all(len(v) for v in finals.values()):
            continue
        a, b = finals["full TPE"], finals[COMBINED]
        draws = [np.median(b[rng.integers(0, len(b), len(b))]) - np.median(a[rng.integers(0, len(a), len(a))])
                 for _ in range(RESAMPLES)]  # fmt: skip
        low, high = np.percentile(draws, [2.5, 97.5])
        verdict = "better" if high < 0 else "worse" if low > 0 else "within noise"
        diff = float(np.median(b) - np.median(a))
        lines.append(f"| {name} | {np.median(a):.4g} | {np.median(b):.4g} | {diff:+.3g} ({low:+.3g} to {high:+.3g}) "
                     f"| {verdict} |")  # fmt: skip
    return "\n".join(lines)


def search_or_stopping(runs: list[dict[str, Any]], curves: Path) -> str:
    """On the replays, whether a strategy's search or its stopping cost it: the table rank (0 = the recording's
    best final value) of the best configuration it proposed, and of the best one it trained to the end."""
    rows = [r for r in runs if "proposed" in r]
    if not rows:
        return ""
    lines = ["| problem | strategy | configurations (distinct recorded ones) | table rank of the best proposed | "
             "of the best finished |", "|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(r["problem"] for r in rows):
        prob = problem(name, curves)
        assert isinstance(prob, Replay)
        for strategy in STRATEGIES:
            mine = [r for r in rows if r["problem"] == name and r["strategy"] == strategy]
            if not mine:
                continue
            finals = prob.curves[:, mine[0]["steps"] - 1]
            proposed = [int(np.sum(finals < finals[r["proposed"]].min())) for r in mine]
            ends = [[v for _, v in r["ends"] if v is not None] for r in mine]
            finished = [int(np.sum(finals < min(v, default=math.inf))) for v in ends]  # none finished: last place
            lines.append(
                f"| {name} | {strategy} | {np.median([len(r['proposed']) for r in mine]):g} "
                f"({np.median([len(set(r['proposed'])) for r in mine]):g}) | {np.median(proposed):g} | "
                f"{np.median(finished):g} |"
            )
    sizes = ", ".join(f"{len(problem(n, curves).curves)} ({n})" for n in dict.fromkeys(r["problem"] for r in rows))
    return "\n".join(lines) + f"\n\nMedians over seeds; the recordings hold {sizes} configurations."


def problem_table(names: list[str], steps: int, curves: Path) -> str:
    first = combined_rungs(steps)[0]
    lines = [f"| problem | metric | recorded configurations | Spearman ρ, better half: step 2 vs last "
             f"| step {first} (first rung) vs last |", "|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        if name in PROBLEMS:
            continue  # live: benchmarks/rung_correlation.py measures them
        prob = problem(name, curves)
        at_2, at_rung = rung_correlation(prob, steps)
        recorded = f"{len(prob.curves)}" if isinstance(prob, Replay) else "– (a formula)"
        lines.append(f"| {name} | {prob.metric} | {recorded} | {at_2:.2f} | {at_rung:.2f} |")
    return "\n".join(lines)


# -- the figure -------------------------------------------------------------------------------------------------
COLORS = {"full TPE": "#444444", "TPE + Hyperband": "#1f77b4", "random + ASHA": "#ff7f0e", "DEHB": "#9467bd",
          "SMAC3 Hyperband": "#8c564b", COMBINED: "#2ca02c"}  # fmt: skip


def plot(runs: list[dict[str, Any]], rows: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["problem"] for r in runs))
    cols = min(3, len(names))
    grid_rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(grid_rows, cols, figsize=(5.6 * cols, 4.6 * grid_rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
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
            ax.fill_between(steps[band], low[band], high[band], step="post", color=COLORS[strategy], alpha=0.12)
            if figure.steps_to_target is not None:
                ax.plot([figure.steps_to_target], [figure.target], "o", color=COLORS[strategy], ms=5)
            finite = mid[np.isfinite(mid)]
            if finite.size:
                upper.append(float(finite[min(len(finite) - 1, len(finite) // 8)]))
        target = next(f.target for f in rows if f.problem == name)
        ax.axhline(target, color="black", ls="--", lw=0.9, label="target: full TPE's final (median)")
        finals = [f.final for f in rows if f.problem == name and math.isfinite(f.final)]
        low_y = min(finals + [target])
        high_y = max(upper) if upper else target
        pad = (high_y - low_y) * 0.08 or 0.01
        ax.set_ylim(low_y - pad, high_y + pad)
        ax.set_xlim(0, budget)
        for fraction, _ in CHECKPOINTS[:-1]:
            ax.axvline(budget * fraction, color="grey", lw=0.6, ls=":")
        ax.set_title(f"{name}: {mine[0]['steps']} steps per trial, budget {budget} steps", fontsize=10)
        ax.set_xlabel("training steps spent (all trials)")
        ax.set_ylabel(f"best final {mine[0].get('metric') or PROBLEMS[name].metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    seeds = len({r["seed"] for r in runs})
    title = (
        f"Best value vs training steps: median and 25–75% band of {seeds} seeds; dotted: 1/4 and 1/2 of the budget\n"
        "speed-up = steps full TPE needs to reach the target (its median final best) ÷ the strategy's"
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 problems, 2 seeds, 27 steps, 10 trials")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--problems", default=",".join(SUITE), help="comma-separated: " + ", ".join(NAMES))
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (full TPE is needed)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--steps", type=int, default=81, help="steps (epochs, rounds) per trial")
    parser.add_argument("--trials", type=int, default=40, help="full-budget TPE's trials: the budget is trials x steps")
    parser.add_argument("--curves", type=Path, default=CURVES, help="the recorded curves' folder (replays)")
    parser.add_argument("--json", type=Path, help="save every run's trial ends here (an existing file: add to it)")
    parser.add_argument("--rerun", default="", help="comma-separated strategies whose runs in --json are redone")
    parser.add_argument("--from-json", type=Path, help="redo the figures from a saved run instead of running")
    parser.add_argument("--plot", type=Path, help="the anytime plot (default: next to --json, else a temporary file)")
    args = parser.parse_args(argv)
    # Never a committed figure by default: RESULTS.md shows benchmarks/multifidelity*.png, made by saved runs.
    saved_as = args.json or args.from_json
    scratch = Path(tempfile.mkdtemp()) / "multifidelity.png" if not (args.plot or saved_as) else None
    plot_path = args.plot or (saved_as.with_suffix(".png") if saved_as else scratch)

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        runs, meta = saved["runs"], saved["meta"]
    else:
        names = [n.strip() for n in args.problems.split(",") if n.strip()]
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
        rerun = {s.strip() for s in args.rerun.split(",") if s.strip()}
        seeds, steps, trials = args.seeds, args.steps, args.trials
        if args.quick:
            names, seeds, steps, trials = ["hartmann6-cross", "mlp-replay"], min(seeds, 2), 27, 10
            if not (args.curves / "mlp.json.gz").exists():
                names[1] = "hartmann6"
        unknown = [n for n in names if n not in NAMES] + [s for s in [*strategies, *rerun] if s not in RUNNERS]
        if unknown or "full TPE" not in strategies:
            parser.error(f"unknown: {', '.join(unknown)}" if unknown else "the figures need full TPE")
        jobs = [
            (n, s, seed, trials, steps, str(args.curves)) for n in names for seed in range(seeds) for s in strategies
        ]
        # seed by seed (a run cut short still has every strategy for its first seeds), slow runs first in each
        slow = {"SMAC3 Hyperband": 0, COMBINED: 1}
        jobs.sort(key=lambda j: (j[2], j[0] not in TORCH_PROBLEMS, slow.get(j[1], 2)))
        print(problem_table(names, steps, args.curves))
        start = time.perf_counter()
        runs = []
        if args.json and args.json.exists():  # add to a saved run: only the runs it lacks
            runs = [r for r in json.loads(args.json.read_text())["runs"] if r["strategy"] not in rerun]
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
    problems = sorted(dict.fromkeys(r["problem"] for r in runs), key=lambda n: NAMES.index(n) if n in NAMES else 99)
    runs.sort(key=lambda r: (problems.index(r["problem"]), order[r["strategy"]], r["seed"]))
    rows = figures(runs)
    print(f"\n{meta['command']}  ({meta['date']}, {meta['minutes']} min, {meta['machine']}, {meta['workers']} workers)")
    print("\n" + rank_tables(runs))
    print("\n" + speedup_table(rows, runs))
    print("\n" + final_check(runs))
    if table := search_or_stopping(runs, args.curves):
        print("\n" + table)
    plot(runs, rows, plot_path)
    print(f"\nanytime plot: {plot_path}")
    return 0


def _progress(done: dict[str, Any], n: int, total: int, start: float) -> None:
    elapsed = time.perf_counter() - start
    print(f"[{n}/{total} {elapsed / 60:.1f} min] {done['problem']} {done['strategy']} seed {done['seed']}: "
          f"{len(done['ends'])} trials, {done['seconds']:.1f}s", file=sys.stderr, flush=True)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

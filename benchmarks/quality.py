"""Search quality: sweepkit's strategies (`auto` first) against other tools' searchers, on the same problems.

    pip install -e '.[bench]' && pip install --no-deps sweeps   # W&B's engine pins numpy<2; it runs on NumPy 2
    python benchmarks/quality.py --workers 3              # 9 problems x 10 seeds x 100 trials (~70 min, 2 cores)
    python benchmarks/quality.py --seeds 3 --problems branin,svc_digits   # a smoke run
    python benchmarks/quality.py --from-json benchmarks/quality.json       # redo the table and figure, no run

Methods, each run on every (problem, seed) with 100 trials; the best value after 20, 50 and 100 trials is read
from the same run (anytime), because none of these searchers changes its behaviour with the trial budget:

* sweepkit, through its own API (`sweepkit.run(spec, objective=fn, trials=100, quiet=True, cwd=tmp)`, a dict
  spec with `strategy: {name, seed}`, conditions as `when:`): `auto`, `tpe`, `gp` (what `bayes` runs with torch
  installed) and `random` (Optuna's RandomSampler: also the random-search anchor). `auto` picks from the space
  and the trial budget (strategy/__init__.py `choose`); the script asks `choose` at 20, 50 and 100 trials and
  stops if the picks differ (then `auto` would have to run per budget; on these problems they never do).
* raw Optuna 5: `TPESampler(seed=seed)` and `GPSampler(seed=seed)`, defaults, define-by-run with the
  conditional parameters suggested only when active (`optuna.create_study` in memory + `study.optimize`).
* Hyperopt's TPE (`fmin(algo=tpe.suggest, rstate=np.random.default_rng(seed))`), conditional parameters as
  nested `hp.choice` branches, its own way.
* W&B's open-source sweep engine (`sweeps` on PyPI, github.com/wandb/sweeps), `method: bayes`, offline: each
  trial is `sweeps.next_run(config, runs)` over the finished `SweepRun`s (its GP draws from NumPy's global
  generator, seeded per run). It has no conditional parameters: every parameter is drawn, the inactive ones
  ignored by the objective, as W&B users write such spaces.

Runs not repeated: sweepkit's `tpe`/`gp` build Optuna's TPESampler(seed)/GPSampler(seed) on the same
distributions as the raw side (only `tpe` on a conditional space differs: `group=True`), and `auto` builds the
strategy it picks. On the check seeds (`--check-seeds`, default 1: seed 0) every method runs for real, except the
sweepkit strategy `auto` picks (the same code path as `auto`'s run); pairs that gave identical values trial for
trial there (`twins`, `replays`) are run once on the later seeds, the other row replaying that run (marked
`same_as` in the JSON and named under the table). GP runs are most of the run's time, and this halves them.

Problems (all minimized; the ML ones are deterministic given the params: fixed splits and `random_state`):

* synthetic: `branin` (2-d), `hartmann6` (6-d), `rosenbrock` (4-d), `ackley` (5-d), and `mixed` (a log float,
  an int, a categorical with one conditional float per branch: an optimizer-shaped toy with a known optimum 0).
* ML on scikit-learn's shipped datasets, one thread, a fixed split (no CV, to stay cheap):
  `hgb_cancer` (HistGradientBoosting on breast_cancer: log learning rate, log ints, log L2; validation
  log-loss), `svc_digits` (SVC on 800 digits with pixel noise, 200 of them to train: log C and gamma, kernel
  choice, `degree` only for poly, `coef0` for poly and sigmoid; validation error), `mlp_digits`
  (MLPClassifier, 25 epochs: log width, alpha and learning rate, batch size and activation choices;
  validation log-loss), `model_choice` (breast_cancer: logistic regression / k-NN / random forest, each with
  its own conditional parameters; validation log-loss).

Figures, per budget (20, 50, 100 trials):

* average rank: on each (problem, seed) the methods are ranked by their best value so far (1 = best; ties share
  the mean of the ranks they span), then averaged over problems and seeds; first among the 6 searchers (`auto`,
  Optuna TPE and GP, Hyperopt, W&B, random: each searcher once), then over all 8 rows;
* mean normalized regret: (best so far - f*) / (f_ref - f*), where f* is the known optimum (synthetic) or the
  best value any method found in the whole run (ML), and f_ref is the median of all random-search trial values
  (a typical random configuration); 0 = optimum, 1 = no better than a typical random point.

Outputs: the table (printed, and written to `<out>.md`), the raw values of every trial of every run
(`<out>.json`: the table and figure can be re-made with `--from-json`), and the anytime plot (`<out>.png`).
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# One thread per worker: the machine is shared, and BLAS/OpenMP threads fighting over 2 cores only add noise.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import optuna  # noqa: E402

HERE = Path(__file__).resolve().parent
BUDGETS = (20, 50, 100)
# auto against the other tools: each searcher once (sweepkit's tpe and gp are Optuna's samplers, below)
HEADLINE = ("sweepkit auto", "Optuna TPE", "Optuna GP", "Hyperopt TPE", "W&B bayes", "sweepkit random")
METHODS = (
    "sweepkit auto",
    "sweepkit tpe",
    "sweepkit gp",
    "sweepkit random",
    "Optuna TPE",
    "Optuna GP",
    "Hyperopt TPE",
    "W&B bayes",
)


# -- search spaces: one description, written out in each tool's own form -----------------------------------------
@dataclass(frozen=True)
class Param:
    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()
    when: tuple[str, tuple[Any, ...]] | None = None  # active only when this choice parameter has one of these values


def flt(low: float, high: float, log: bool = False, when: tuple[str, tuple[Any, ...]] | None = None) -> Param:
    return Param("float", low, high, log, when=when)


def integer(low: int, high: int, log: bool = False, when: tuple[str, tuple[Any, ...]] | None = None) -> Param:
    return Param("int", low, high, log, when=when)


def choice(*values: Any, when: tuple[str, tuple[Any, ...]] | None = None) -> Param:
    return Param("choice", values=values, when=when)


Space = dict[str, Param]


def active(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """The params whose condition holds (W&B draws all of them; the objective sees only these)."""
    return {k: v for k, v in params.items() if k in space and _on(space[k], params)}


def _on(p: Param, params: dict[str, Any]) -> bool:
    return p.when is None or params.get(p.when[0]) in p.when[1]


def _py(value: Any) -> Any:
    """NumPy scalars (from W&B's and Hyperopt's samplers) as plain Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def sweepkit_parameters(space: Space) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.kind == "choice":
            entry: dict[str, Any] = {"values": list(p.values)}
        else:
            entry = {"type": p.kind, "low": p.low, "high": p.high, "log": p.log}
        if p.when:
            parent, allowed = p.when
            entry["when"] = f"{parent} in {list(allowed)!r}"
        out[name] = entry
    return out


def optuna_suggest(space: Space, trial: optuna.Trial) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, p in space.items():  # parents come before their children in every space below
        if not _on(p, params):
            continue
        if p.kind == "choice":
            params[name] = trial.suggest_categorical(name, list(p.values))
        elif p.kind == "int":
            params[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
    return params


def hyperopt_space(space: Space) -> dict[str, Any]:
    """Hyperopt's own form: a choice with conditional children becomes `hp.choice` over one dict per value."""
    from hyperopt import hp

    def node(label: str, p: Param) -> Any:
        if p.kind == "choice":
            return hp.choice(label, list(p.values))
        if p.kind == "int":
            if p.log:
                return hp.qloguniform(label, math.log(p.low), math.log(p.high), 1)
            return hp.uniformint(label, p.low, p.high)
        if p.log:
            return hp.loguniform(label, math.log(p.low), math.log(p.high))
        return hp.uniform(label, p.low, p.high)

    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.when:
            continue
        children = {c: q for c, q in space.items() if q.when and q.when[0] == name}
        if not children:
            out[name] = node(name, p)
            continue
        branches = []
        for value in p.values:
            branch: dict[str, Any] = {name: value}
            for c, q in children.items():
                if q.when and value in q.when[1]:
                    branch[c] = node(f"{c}|{value}", q)
            branches.append(branch)
        out[name] = hp.choice(name, branches)
    return out


def hyperopt_flatten(space: Space, sample: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for value in sample.values():
        if isinstance(value, dict):
            flat.update(value)
    flat.update({k: v for k, v in sample.items() if not isinstance(v, dict)})
    return {k: (int(round(float(v))) if space[k].kind == "int" else _py(v)) for k, v in flat.items()}


def wandb_parameters(space: Space) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in space.items():
        if p.kind == "choice":
            out[name] = {"values": list(p.values)}
        elif p.kind == "int":
            out[name] = (
                {"distribution": "q_log_uniform_values", "min": p.low, "max": p.high, "q": 1}
                if p.log
                else {"distribution": "int_uniform", "min": int(p.low), "max": int(p.high)}
            )
        else:
            kind = "log_uniform_values" if p.log else "uniform"
            out[name] = {"distribution": kind, "min": p.low, "max": p.high}
    return out


# -- problems --------------------------------------------------------------------------------------------------
class Problem:
    name = ""
    kind = "synthetic"
    metric = "value"
    space: Space = {}
    optimum: float | None = None  # known minimum (synthetic); None: the best value found in the run

    def __call__(self, params: dict[str, Any]) -> float:
        raise NotImplementedError


class Branin(Problem):
    name, optimum = "branin", 0.397887357729739
    space = {"x1": flt(-5, 10), "x2": flt(0, 15)}

    def __call__(self, p: dict[str, Any]) -> float:
        x1, x2 = p["x1"], p["x2"]
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


class Hartmann6(Problem):
    name, optimum = "hartmann6", -3.32236801141551
    space = {f"x{i}": flt(0, 1) for i in range(6)}
    A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                  [17, 8, 0.05, 10, 0.1, 14]])  # fmt: skip
    P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])  # fmt: skip
    alpha = np.array([1.0, 1.2, 3.0, 3.2])

    def __call__(self, p: dict[str, Any]) -> float:
        x = np.array([p[f"x{i}"] for i in range(6)])
        return float(-np.sum(self.alpha * np.exp(-np.sum(self.A * (x - self.P) ** 2, axis=1))))


class Rosenbrock(Problem):
    name, optimum = "rosenbrock", 0.0
    space = {f"x{i}": flt(-2.048, 2.048) for i in range(4)}

    def __call__(self, p: dict[str, Any]) -> float:
        x = [p[f"x{i}"] for i in range(4)]
        return float(sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3)))


class Ackley(Problem):
    name, optimum = "ackley", 0.0
    space = {f"x{i}": flt(-32.768, 32.768) for i in range(5)}

    def __call__(self, p: dict[str, Any]) -> float:
        x = np.array([p[f"x{i}"] for i in range(5)])
        a = -20 * math.exp(-0.2 * math.sqrt(float(np.mean(x**2))))
        return float(a - math.exp(float(np.mean(np.cos(2 * math.pi * x)))) + 20 + math.e)


class Mixed(Problem):
    """An optimizer-shaped toy: a log learning rate, an int, and a choice whose branches each have their own
    conditional float. Optimum 0 at adam, lr 1e-3, beta 0.95, layers 7."""

    name, optimum = "mixed", 0.0
    space = {
        "lr": flt(1e-6, 1.0, log=True),
        "layers": integer(1, 16),
        "optimizer": choice("sgd", "adam", "rmsprop"),
        "momentum": flt(0.0, 0.99, when=("optimizer", ("sgd",))),
        "beta": flt(0.5, 0.999, when=("optimizer", ("adam",))),
    }

    def __call__(self, p: dict[str, Any]) -> float:
        base = (math.log10(p["lr"]) + 3) ** 2 + (p["layers"] - 7) ** 2 / 10
        if p["optimizer"] == "sgd":
            return base + 0.5 + 10 * (p["momentum"] - 0.9) ** 2
        if p["optimizer"] == "adam":
            return base + 20 * (p["beta"] - 0.95) ** 2
        return base + 1.0


def _split(
    X: np.ndarray, y: np.ndarray, test_size: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=test_size, random_state=0, stratify=y)
    return X_train, X_val, y_train, y_val


class HGBCancer(Problem):
    name, kind, metric = "hgb_cancer", "ML", "validation log-loss"
    space = {
        "learning_rate": flt(0.01, 1.0, log=True),
        "max_iter": integer(10, 100, log=True),
        "max_leaf_nodes": integer(2, 64, log=True),
        "min_samples_leaf": integer(2, 64, log=True),
        "l2_regularization": flt(1e-4, 10.0, log=True),
    }

    def __init__(self) -> None:
        from sklearn.datasets import load_breast_cancer

        self.data = _split(*load_breast_cancer(return_X_y=True))

    def __call__(self, p: dict[str, Any]) -> float:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import log_loss

        X_train, X_val, y_train, y_val = self.data
        model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **p).fit(X_train, y_train)
        return float(log_loss(y_val, model.predict_proba(X_val)))


class SVCDigits(Problem):
    name, kind, metric = "svc_digits", "ML", "validation error"
    space = {
        "C": flt(1e-2, 1e3, log=True),
        "gamma": flt(1e-5, 1.0, log=True),
        "kernel": choice("rbf", "poly", "sigmoid"),
        "degree": integer(2, 5, when=("kernel", ("poly",))),
        "coef0": flt(0.0, 1.0, when=("kernel", ("poly", "sigmoid"))),
    }

    def __init__(self) -> None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        # 200 training rows and pixel noise: clean digits are so easy that most methods tie at the best error
        noisy = X[:800] / 16.0 + np.random.default_rng(0).normal(0.0, 0.3, size=X[:800].shape)
        self.data = _split(noisy, y[:800], test_size=0.75)

    def __call__(self, p: dict[str, Any]) -> float:
        from sklearn.svm import SVC

        X_train, X_val, y_train, y_val = self.data
        model = SVC(max_iter=20_000, random_state=0, **p).fit(X_train, y_train)
        return float(np.mean(model.predict(X_val) != y_val))


class MLPDigits(Problem):
    name, kind, metric = "mlp_digits", "ML", "validation log-loss"
    space = {
        "hidden": integer(4, 128, log=True),
        "alpha": flt(1e-6, 1.0, log=True),
        "learning_rate_init": flt(1e-4, 0.3, log=True),
        "batch_size": choice(16, 64, 256),
        "activation": choice("relu", "tanh", "logistic"),
    }

    def __init__(self) -> None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        self.data = _split(X[:800] / 16.0, y[:800])

    def __call__(self, p: dict[str, Any]) -> float:
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        X_train, X_val, y_train, y_val = self.data
        model = MLPClassifier(
            hidden_layer_sizes=(p["hidden"],), alpha=p["alpha"], learning_rate_init=p["learning_rate_init"],
            batch_size=p["batch_size"], activation=p["activation"], max_iter=25, random_state=0,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: 25 epochs is the budget, on purpose
            model.fit(X_train, y_train)
        return float(log_loss(y_val, model.predict_proba(X_val), labels=np.arange(10)))


class ModelChoice(Problem):
    name, kind, metric = "model_choice", "ML", "validation log-loss"
    space = {
        "model": choice("logreg", "knn", "forest"),
        "C": flt(1e-4, 1e2, log=True, when=("model", ("logreg",))),
        "n_neighbors": integer(1, 60, log=True, when=("model", ("knn",))),
        "weights": choice("uniform", "distance", when=("model", ("knn",))),
        "n_estimators": integer(5, 60, log=True, when=("model", ("forest",))),
        "max_depth": integer(1, 12, when=("model", ("forest",))),
        "max_features": flt(0.05, 1.0, when=("model", ("forest",))),
    }

    def __init__(self) -> None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        X_train, X_val, self.y_train, self.y_val = _split(*load_breast_cancer(return_X_y=True))
        scaler = StandardScaler().fit(X_train)
        self.X_train, self.X_val = scaler.transform(X_train), scaler.transform(X_val)

    def __call__(self, p: dict[str, Any]) -> float:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss
        from sklearn.neighbors import KNeighborsClassifier

        model: Any
        if p["model"] == "logreg":
            model = LogisticRegression(C=p["C"], max_iter=500)
        elif p["model"] == "knn":
            model = KNeighborsClassifier(n_neighbors=p["n_neighbors"], weights=p["weights"])
        else:
            model = RandomForestClassifier(
                n_estimators=p["n_estimators"], max_depth=p["max_depth"], max_features=p["max_features"],
                random_state=0, n_jobs=1,
            )  # fmt: skip
        model.fit(self.X_train, self.y_train)
        return float(log_loss(self.y_val, model.predict_proba(self.X_val), labels=[0, 1]))


PROBLEMS: dict[str, type[Problem]] = {
    c.name: c for c in (Branin, Hartmann6, Rosenbrock, Ackley, Mixed, HGBCancer, SVCDigits, MLPDigits, ModelChoice)
}
_LOADED: dict[str, Problem] = {}


def problem(name: str) -> Problem:
    """Each worker process loads a problem's data once."""
    if name not in _LOADED:
        _LOADED[name] = PROBLEMS[name]()
    return _LOADED[name]


# -- the methods: each returns the values of its trials, in order --------------------------------------------------
def sweepkit_spec(prob: Problem, strategy: str, seed: int) -> dict[str, Any]:
    return {
        "name": f"{prob.name}-{strategy}-{seed}",
        "metric": {"name": "value", "goal": "minimize"},
        "strategy": {"name": strategy, "seed": seed},
        "parameters": sweepkit_parameters(prob.space),
    }


def auto_pick(prob: Problem, trials: int) -> tuple[str, str]:
    """What `auto` picks for this problem at this budget, and why (sweepkit's own `choose`)."""
    import sweepkit
    from sweepkit.strategy import choose

    spec = sweepkit.load_spec(sweepkit_spec(prob, "auto", 0))
    return choose(spec.space, trials)


def run_sweepkit(prob: Problem, strategy: str, seed: int, trials: int) -> list[float]:
    import sweepkit

    values: list[float] = []

    def objective(params: dict[str, Any]) -> float:
        values.append(prob(params))
        return values[-1]

    folder = Path(tempfile.mkdtemp(prefix="sweepkit-quality-"))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            result = sweepkit.run(sweepkit_spec(prob, strategy, seed), objective=objective, trials=trials,
                                  quiet=True, cwd=folder)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if len(values) != trials:
        raise RuntimeError(f"sweepkit {strategy} ran {len(values)} of {trials} trials: {result}")
    return values


def run_optuna(prob: Problem, sampler: optuna.samplers.BaseSampler, trials: int) -> list[float]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # (sweepkit.run sets WARNING) GPSampler warns on each
    study = optuna.create_study(sampler=sampler)  # conditional parameter it leaves to random sampling
    study.optimize(lambda t: prob(optuna_suggest(prob.space, t)), n_trials=trials)
    return [float(t.value) for t in study.trials]  # type: ignore[arg-type]


def run_hyperopt(prob: Problem, seed: int, trials: int) -> list[float]:
    from hyperopt import STATUS_OK, Trials, fmin, tpe

    values: list[float] = []

    def objective(sample: dict[str, Any]) -> dict[str, Any]:
        values.append(prob(hyperopt_flatten(prob.space, sample)))
        return {"loss": values[-1], "status": STATUS_OK}

    fmin(objective, hyperopt_space(prob.space), algo=tpe.suggest, max_evals=trials, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)  # fmt: skip
    return values


def run_wandb(prob: Problem, seed: int, trials: int) -> list[float]:
    from sweeps import RunState, SweepRun, next_run

    config = {"method": "bayes", "metric": {"name": "value", "goal": "minimize"},
              "parameters": wandb_parameters(prob.space)}  # fmt: skip
    np.random.seed(seed)  # W&B's bayes search draws from NumPy's global generator
    runs: list[SweepRun] = []
    values: list[float] = []
    for i in range(trials):
        suggested = next_run(config, runs)
        if suggested is None:
            raise RuntimeError("W&B's bayes search suggested no run")
        params = {k: _py(v["value"]) for k, v in suggested.config.items()}
        params = {k: (int(round(v)) if prob.space[k].kind == "int" else v) for k, v in params.items()}
        values.append(prob(active(prob.space, params)))
        runs.append(SweepRun(name=f"run-{i}", state=RunState.finished, config=suggested.config,
                             summary_metrics={"value": values[-1]}))  # fmt: skip
    return values


def run_method(prob: Problem, method: str, seed: int, trials: int) -> list[float]:
    if method.startswith("sweepkit "):
        return run_sweepkit(prob, method.split()[1], seed, trials)
    if method == "Optuna TPE":
        return run_optuna(prob, optuna.samplers.TPESampler(seed=seed), trials)
    if method == "Optuna GP":
        return run_optuna(prob, optuna.samplers.GPSampler(seed=seed), trials)
    if method == "Hyperopt TPE":
        return run_hyperopt(prob, seed, trials)
    if method == "W&B bayes":
        return run_wandb(prob, seed, trials)
    raise ValueError(method)


def job(args: tuple[str, str, int, int]) -> dict[str, Any]:
    """One (problem, method, seed) run in a worker process."""
    name, method, seed, trials = args
    warnings.simplefilter("ignore")  # samplers' ExperimentalWarnings, sklearn's convergence notes
    import logging

    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(1)
    prob = problem(name)
    start = time.perf_counter()
    values = run_method(prob, method, seed, trials)
    return {"problem": name, "method": method, "seed": seed, "values": values,
            "seconds": time.perf_counter() - start}  # fmt: skip


# -- figures ---------------------------------------------------------------------------------------------------
def best_so_far(values: list[float]) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(values, dtype=float))


def curves(runs: list[dict[str, Any]]) -> dict[tuple[str, str, int], np.ndarray]:
    return {(r["problem"], r["method"], r["seed"]): best_so_far(r["values"]) for r in runs}


def references(runs: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Per problem: (f*, f_ref) for the normalized regret."""
    out: dict[str, tuple[float, float]] = {}
    for name in dict.fromkeys(r["problem"] for r in runs):
        mine = [v for r in runs if r["problem"] == name for v in r["values"]]
        known = PROBLEMS[name].optimum
        best = min(mine) if known is None else min(known, min(mine))
        randoms = [v for r in runs if r["problem"] == name and r["method"] == "sweepkit random" for v in r["values"]]
        ref = float(np.median(randoms or mine))
        out[name] = (best, ref if ref > best else best + 1.0)
    return out


def complete_groups(runs: list[dict[str, Any]], methods: list[str]) -> list[tuple[str, int]]:
    """The (problem, seed) pairs every method ran: only those are ranked."""
    have = {(r["problem"], r["seed"], r["method"]) for r in runs}
    pairs = dict.fromkeys((r["problem"], r["seed"]) for r in runs)
    return [p for p in pairs if all((p[0], p[1], m) in have for m in methods)]


def ranks_at(cs: dict[tuple[str, str, int], np.ndarray], groups: list[tuple[str, int]], methods: list[str],
             n: int) -> np.ndarray:  # fmt: skip
    """ranks[g, m]: method m's rank on group g by its best value after n trials (ties share the mean rank)."""
    from scipy.stats import rankdata

    out = np.empty((len(groups), len(methods)))
    for i, (name, seed) in enumerate(groups):
        out[i] = rankdata([cs[(name, m, seed)][n - 1] for m in methods], method="average")
    return out


def regrets_at(cs: dict[tuple[str, str, int], np.ndarray], refs: dict[str, tuple[float, float]],
               groups: list[tuple[str, int]], methods: list[str], n: int) -> np.ndarray:  # fmt: skip
    out = np.empty((len(groups), len(methods)))
    for i, (name, seed) in enumerate(groups):
        best, ref = refs[name]
        out[i] = [max(0.0, (cs[(name, m, seed)][n - 1] - best) / (ref - best)) for m in methods]
    return out


def rank_rows(runs: list[dict[str, Any]], cs: dict[tuple[str, str, int], np.ndarray],
              refs: dict[str, tuple[float, float]], groups: list[tuple[str, int]], methods: list[str],
              budgets: list[int]) -> list[str]:  # fmt: skip
    """One row per method: average rank (± standard error) and mean normalized regret at each budget."""
    head = " | ".join(f"rank @{b}" for b in budgets) + " | " + " | ".join(f"regret @{b}" for b in budgets)
    lines = [f"| method | {head} | s/run (median) |", "|---|" + "---|" * (2 * len(budgets) + 1)]
    ranks = {b: ranks_at(cs, groups, methods, b) for b in budgets}
    regrets = {b: regrets_at(cs, refs, groups, methods, b) for b in budgets}
    best_rank = {b: ranks[b].mean(axis=0).min() for b in budgets}
    for j, m in enumerate(methods):
        cells = []
        for b in budgets:
            mean, se = ranks[b][:, j].mean(), ranks[b][:, j].std(ddof=1) / math.sqrt(len(groups))
            bold = "**" if math.isclose(mean, best_rank[b]) else ""
            cells.append(f"{bold}{mean:.2f}{bold} ± {se:.2f}")
        cells += [f"{regrets[b][:, j].mean():.3f}" for b in budgets]
        secs = float(np.median([r["seconds"] for r in runs if r["method"] == m and not r.get("same_as")] or [0]))
        lines.append(f"| {m} | {' | '.join(cells)} | {secs:.1f} |")
    return lines


def table(runs: list[dict[str, Any]], meta: dict[str, Any], budgets: list[int]) -> str:
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    groups = complete_groups(runs, methods)
    cs, refs = curves(runs), references(runs)
    problems = list(dict.fromkeys(p for p, _ in groups))
    seeds = sorted({s for _, s in groups})
    lines = [f"{len(problems)} problems ({', '.join(problems)}) x {len(seeds)} seeds = {len(groups)} runs per "
             "method; rank 1 = best, ties share the mean rank; regret 0 = optimum, 1 = a typical random point.",
             ""]  # fmt: skip
    replayed = sorted({(r["method"], r["same_as"]) for r in runs if r.get("same_as")})
    if replayed:
        where = {
            pair: ", ".join(sorted({r["problem"] for r in runs if (r["method"], r.get("same_as")) == pair}))
            for pair in replayed
        }
        lines.insert(
            -1,
            "Rows that replay another method's run on the seeds after the check seeds "
            f"{meta.get('check_seeds', [0])} (the same sampler, seed and space; identical value for value on the "
            "check seeds): " + "; ".join(f"{m} = {src} on {where[(m, src)]}" for m, src in replayed) + ".",
        )
    headline = [m for m in HEADLINE if m in methods]
    lines += [f"auto against the other tools ({len(headline)} searchers; random search is Optuna's RandomSampler "
              "through sweepkit):", ""]  # fmt: skip
    lines += rank_rows(runs, cs, refs, groups, headline, budgets)
    lines += [
        "",
        f"All {len(methods)} rows (sweepkit's strategies too; identical runs tie, and share their ranks):",
        "",
    ]
    lines += rank_rows(runs, cs, refs, groups, methods, budgets)
    # per problem: mean regret at the largest budget, and where auto stands
    b = budgets[-1]
    lines += ["", f"Mean normalized regret at {b} trials, per problem (lower is better; auto's average rank among "
              f"the {len(headline)} searchers above in brackets):", ""]  # fmt: skip
    lines += ["| problem | auto picks | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for name in problems:
        g = [(p, s) for p, s in groups if p == name]
        reg = regrets_at(cs, refs, g, methods, b).mean(axis=0)
        rk = ranks_at(cs, g, headline, b).mean(axis=0)[headline.index("sweepkit auto")] if headline else math.nan
        pick = meta.get("auto_picks", {}).get(name, "?")
        cells = [f"{v:.3f}" + (f" ({rk:.1f})" if methods[j] == "sweepkit auto" else "") for j, v in enumerate(reg)]
        lines.append(f"| {name} | {pick} | " + " | ".join(cells) + " |")
    # the searchers' own cost: wall seconds of a 100-trial run (objective included), median of the real runs
    lines += ["", "Seconds per run (median of the runs made, objective included; the machine was shared):", ""]
    lines += ["| problem | " + " | ".join(headline) + " |", "|---|" + "---|" * len(headline)]
    for name in problems:
        secs = [
            np.median([r["seconds"] for r in runs if (r["problem"], r["method"]) == (name, m) and not r.get("same_as")]
                      or [math.nan])
            for m in headline
        ]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in secs) + " |")
    return "\n".join(lines)


COLORS = {"sweepkit auto": "#d62728", "sweepkit tpe": "#ff9896", "sweepkit gp": "#9467bd",
          "sweepkit random": "#7f7f7f", "Optuna TPE": "#1f77b4", "Optuna GP": "#17becf",
          "Hyperopt TPE": "#2ca02c", "W&B bayes": "#ff7f0e"}  # fmt: skip


def plot(runs: list[dict[str, Any]], path: Path, trials: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    groups = complete_groups(runs, methods)
    cs, refs = curves(runs), references(runs)
    problems = list(dict.fromkeys(p for p, _ in groups))
    cols = 4
    rows = math.ceil((len(problems) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    xs = np.arange(1, trials + 1)
    headline = [m for m in HEADLINE if m in methods]
    all_ranks = np.array([ranks_at(cs, groups, headline, n).mean(axis=0) for n in xs])
    ax = axes[0][0]
    for j, m in enumerate(headline):
        auto = m == "sweepkit auto"
        ax.plot(xs, all_ranks[:, j], color=COLORS[m], lw=2.4 if auto else 1.3, ls="--" if auto else "-", label=m)
    for b in BUDGETS:
        ax.axvline(b, color="black", lw=0.5, ls=":")
    ax.set_title(f"all problems: average rank among {len(headline)} searchers")
    ax.set_xlabel("trials")
    ax.set_ylabel("average rank (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    for k, name in enumerate(problems, start=1):
        ax = axes[k // cols][k % cols]
        g = [(p, s) for p, s in groups if p == name]
        for m in [*headline[1:], headline[0]]:  # auto last, on top of the run it may share with Optuna GP
            reg = np.array([regrets_at(cs, refs, g, [m], n)[:, 0].mean() for n in xs])
            auto = m == "sweepkit auto"
            ax.plot(
                xs, reg, color=COLORS[m], lw=2.4 if auto else 1.1, ls="--" if auto else "-", zorder=3 if auto else 2
            )
        ax.set_yscale("symlog", linthresh=1e-3)  # log above 0.001, linear below: a regret of 0 is drawn at 0
        ax.set_ylim(bottom=0)
        ax.set_title(f"{name} ({PROBLEMS[name].metric})", fontsize=9)
        ax.set_xlabel("trials")
        ax.set_ylabel("mean normalized regret")
        ax.grid(alpha=0.3)
    for k in range(len(problems) + 1, rows * cols):
        axes[k // cols][k % cols].axis("off")
    seeds = len({s for _, s in groups})
    fig.suptitle(f"Best so far vs trials: average rank over problems x {seeds} seeds, and mean normalized regret "
                 "per problem (log scale above 0.001, linear below)", fontsize=11)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- main ------------------------------------------------------------------------------------------------------
def auto_picks(names: list[str], budgets: list[int]) -> dict[str, Any]:
    """For each problem what `auto` picks (one pick at every budget, or the script stops: run it per budget)."""
    picks: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for name in names:
        chosen = {b: auto_pick(PROBLEMS[name], b) for b in budgets}
        distinct = {c[0] for c in chosen.values()}
        if len(distinct) > 1:
            raise SystemExit(f"auto picks differently per budget on {name} ({chosen}): run it per budget")
        picks[name], reasons[name] = chosen[budgets[0]]
    return {"auto_picks": picks, "auto_reasons": reasons}


def twins(name: str, pick: str) -> dict[str, str]:
    """Methods that run the very same sampler, seed and space as another: method → the one it replays.

    sweepkit's `tpe`/`gp` build Optuna's TPESampler(seed)/GPSampler(seed) on the same distributions as raw
    Optuna's define-by-run (only TPE on a conditional space differs: sweepkit adds `group=True`), and `auto`
    builds the strategy it picks. Each pair is checked value for value on the check seeds before it is used.
    """
    conditional = any(p.when for p in PROBLEMS[name].space.values())
    out = {f"sweepkit {pick}": "sweepkit auto", "sweepkit gp": "Optuna GP" if pick != "gp" else "sweepkit auto"}
    if pick == "gp":
        out["Optuna GP"] = "sweepkit auto"
    if pick != "tpe" and not conditional:
        out["sweepkit tpe"] = "Optuna TPE"
    return out


def replays(runs: list[dict[str, Any]], meta: dict[str, Any], check: list[int]) -> dict[str, dict[str, str]]:
    """The twins that gave identical values on every check seed (else the method runs for real)."""
    values = {(r["problem"], r["method"], r["seed"]): r["values"] for r in runs if not r.get("same_as")}
    out: dict[str, dict[str, str]] = {}
    for name, pick in meta["auto_picks"].items():
        out[name] = {}
        for method, source in twins(name, pick).items():
            if method == f"sweepkit {pick}" and source == "sweepkit auto":
                out[name][method] = source  # auto builds exactly this strategy: the same code path
                continue
            pairs = [(values.get((name, method, s)), values.get((name, source, s))) for s in check]
            if all(a is not None and a == b for a, b in pairs):
                out[name][method] = source
    return out


def fill_same_as(runs: list[dict[str, Any]], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Add the replayed rows: a copy of the source's run, marked `same_as`, where no real run exists."""
    out = [r for r in runs if not r.get("same_as")]
    have = {(r["problem"], r["method"], r["seed"]) for r in out}
    by = {(r["problem"], r["method"], r["seed"]): r for r in out}
    for name, table_ in meta.get("replays", {}).items():
        for method, source in table_.items():
            if method not in meta["methods"]:
                continue
            for (p, m, seed), r in list(by.items()):
                if p == name and m == source and (name, method, seed) not in have:
                    out.append({**r, "method": method, "same_as": source})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: " + ", ".join(PROBLEMS))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated: " + ", ".join(METHODS))
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="trial budgets, e.g. 20,50,100")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--check-seeds", type=int, default=1, help="seeds on which every method runs for real")
    parser.add_argument("--out", type=Path, default=HERE / "quality", help="writes OUT.json, OUT.md, OUT.png")
    parser.add_argument("--from-json", type=Path, help="redo the table and figure from a saved run")
    args = parser.parse_args(argv)
    budgets = sorted(int(b) for b in args.budgets.split(","))

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        runs, meta = saved["runs"], saved["meta"]
        budgets = meta.get("budgets", budgets)
    else:
        names = [n.strip() for n in args.problems.split(",") if n.strip()]
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [n for n in names if n not in PROBLEMS] + [m for m in methods if m not in METHODS]
        if unknown:
            parser.error(f"unknown: {', '.join(unknown)}")
        meta = auto_picks(names, budgets)
        meta.update({
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, Optuna {optuna.__version__}", "workers": args.workers,
            "budgets": budgets, "methods": methods, "check_seeds": list(range(min(args.check_seeds, args.seeds))),
            "command": " ".join(["python benchmarks/quality.py", *(argv if argv is not None else sys.argv[1:])]),
        })  # fmt: skip
        json_path = args.out.with_suffix(".json")
        runs: list[dict[str, Any]] = []
        if json_path.exists():  # add to a saved run: only the runs it lacks
            runs = [r for r in json.loads(json_path.read_text())["runs"] if not r.get("same_as")]
        start = time.perf_counter()
        trials = max(budgets)

        def execute(jobs: list[tuple[str, str, int, int]]) -> None:
            have = {(r["problem"], r["method"], r["seed"]) for r in runs}
            jobs = [j for j in jobs if j[:3] not in have]

            def finished(done: dict[str, Any], n: int) -> None:
                runs.append(done)
                meta["minutes"] = round((time.perf_counter() - start) / 60, 1)
                print(f"[{n}/{len(jobs)} {meta['minutes']} min] {done['problem']} {done['method']} seed "
                      f"{done['seed']}: best {min(done['values']):.5g}, {done['seconds']:.1f}s", file=sys.stderr,
                      flush=True)  # fmt: skip
                json_path.write_text(json.dumps({"meta": meta, "runs": runs}))  # after each: a cut run keeps it

            if args.workers > 1:
                import multiprocessing

                with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
                    for n, done in enumerate(pool.imap_unordered(job, jobs), start=1):
                        finished(done, n)
            else:
                for n, j in enumerate(jobs, start=1):
                    finished(job(j), n)

        # 1. the check seeds: every method for real (but sweepkit's strategy that auto picks: auto's own run)
        check = meta["check_seeds"]
        meta["replays"] = {n: {f"sweepkit {meta['auto_picks'][n]}": "sweepkit auto"} for n in names}
        execute([(n, m, seed, trials) for seed in check for n in names for m in methods
                 if m not in meta["replays"][n]])  # fmt: skip
        # 2. the other seeds: twins that were identical on the check seeds are not run again
        meta["replays"] = replays(runs, meta, check)
        for name, table_ in meta["replays"].items():
            print(f"{name}: replayed after the check seeds: {table_}", file=sys.stderr)
        cost = {n: sum(r["seconds"] for r in runs if r["problem"] == n) for n in names}
        rest = [(n, m, seed, trials) for n in names for seed in range(len(check), args.seeds) for m in methods
                if m not in meta["replays"][n]]  # fmt: skip
        rest.sort(key=lambda j: (cost[j[0]], j[2]))  # the cheap problems first: a run cut short has all their seeds
        execute(rest)
        meta["minutes"] = round((time.perf_counter() - start) / 60, 1)
        json_path.write_text(json.dumps({"meta": meta, "runs": runs}))
    runs = fill_same_as(runs, meta)
    text = table(runs, meta, budgets)
    header = f"{meta['command']}  ({meta['date']}, {meta.get('minutes')} min, {meta['machine']}, " \
             f"{meta['workers']} workers)\nauto picks: " + \
             "; ".join(f"{k}: {v} ({meta['auto_reasons'][k]})" for k, v in meta["auto_picks"].items())  # fmt: skip
    print(f"\n{header}\n\n{text}")
    args.out.with_suffix(".md").write_text(f"{header}\n\n{text}\n")
    plot(runs, args.out.with_suffix(".png"), max(budgets))
    print(f"\ntable: {args.out.with_suffix('.md')}\nanytime plot: {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

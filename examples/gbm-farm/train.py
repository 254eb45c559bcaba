"""The GPU sweep farm workflow's trial: LightGBM, XGBoost or CatBoost (the trial's `model`), trained round by
round under Hyperband, reproducibly.

Each trial is handed its own seed (`trial.seed`, derived from the sweep's `--seed` and the trial's number, the
same when a trial is retried): `sweepkit.seed_everything` seeds Python, NumPy and PyTorch with it, and
`sweepkit.seeded` adds the model library's own seed parameters. Hyperband's resource is the boosting round: a
step is ROUNDS_PER_STEP rounds, and the validation log loss is reported at every step, so Hyperband stops weak
configurations after a few rounds. With `--gpu-ids`, each worker process sees only its GPU
(`CUDA_VISIBLE_DEVICES`) and the models train there.
"""

from __future__ import annotations

import os
from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

import sweepkit

ROUNDS_PER_STEP = 4
# A fixed split, not the trial's seed: every trial is judged on the same validation rows.
_X, _Y = load_breast_cancer(return_X_y=True)
X_TRAIN, X_VALID, Y_TRAIN, Y_VALID = train_test_split(_X, _Y, test_size=0.25, random_state=0, stratify=_Y)


def on_gpu() -> bool:
    """--gpu-ids gave this worker its GPU(s); without it the trial runs on the CPU."""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "") not in ("", "-1")


class Steps:
    """Turns each library's per-round callback into `trial.report(val_logloss, step)` every ROUNDS_PER_STEP
    rounds; remembers a prune instead of raising through a library that would swallow it (CatBoost)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.pruned: sweepkit.TrialPruned | None = None

    def round(self, done: int, loss: float) -> bool:
        """After `done` rounds: report at each step's end; False means stop training (pruned)."""
        if done % ROUNDS_PER_STEP == 0:
            try:
                self.trial.report(loss, done // ROUNDS_PER_STEP - 1)
            except sweepkit.TrialPruned as exc:
                self.pruned = exc
                return False
        return True


def _lightgbm(params: dict[str, Any], seed: int, rounds: int, steps: Steps) -> Any:
    import lightgbm as lgb

    config = {"objective": "binary", "verbose": -1, "bagging_freq": 1, "num_threads": 1, **params}
    if on_gpu():
        config["device_type"] = "gpu"
    config = sweepkit.seeded(config, "lightgbm", seed, deterministic=not on_gpu())
    valid = lgb.Dataset(X_VALID, Y_VALID)

    def callback(env: Any) -> None:
        loss = env.evaluation_result_list[0][2]
        if not steps.round(env.iteration + 1, loss):
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    booster = lgb.train(config, lgb.Dataset(X_TRAIN, Y_TRAIN), rounds, valid_sets=[valid], callbacks=[callback])
    return booster.predict(X_VALID)


def _xgboost(params: dict[str, Any], seed: int, rounds: int, steps: Steps) -> Any:
    import xgboost as xgb

    config = {"objective": "binary:logistic", "eval_metric": "logloss", "nthread": 1, **params}
    config["device"] = "cuda" if on_gpu() else "cpu"
    config = sweepkit.seeded(config, "xgboost", seed)

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return not steps.round(epoch + 1, evals_log["valid"]["logloss"][-1])  # True stops training

    valid = xgb.DMatrix(X_VALID, Y_VALID)
    booster = xgb.train(
        config,
        xgb.DMatrix(X_TRAIN, Y_TRAIN),
        rounds,
        evals=[(valid, "valid")],
        verbose_eval=False,
        callbacks=[Report()],
    )
    return booster.predict(valid)


def _catboost(params: dict[str, Any], seed: int, rounds: int, steps: Steps) -> Any:
    from catboost import CatBoostClassifier

    config = {"iterations": rounds, "verbose": False, "allow_writing_files": False, "thread_count": 1, **params}
    model = CatBoostClassifier(**sweepkit.seeded(config, "catboost", seed), task_type="GPU" if on_gpu() else "CPU")
    if on_gpu():  # CatBoost takes no Python callbacks on a GPU: train every round, then report them
        model.fit(X_TRAIN, Y_TRAIN, eval_set=(X_VALID, Y_VALID))
        for done, loss in enumerate(model.get_evals_result()["validation"]["Logloss"], start=1):
            if not steps.round(done, loss):
                break
        return model.predict_proba(X_VALID)[:, 1]

    class Report:
        def after_iteration(self, info: Any) -> bool:  # False stops training
            return steps.round(info.iteration, info.metrics["validation"]["Logloss"][-1])

    model.fit(X_TRAIN, Y_TRAIN, eval_set=(X_VALID, Y_VALID), callbacks=[Report()])
    return model.predict_proba(X_VALID)[:, 1]


def objective(params: dict[str, Any], trial: Any) -> dict[str, Any]:
    sweepkit.seed_everything(trial.seed)  # first thing: every library's global generators, deterministic kernels
    rounds = (trial.max_steps or 27) * ROUNDS_PER_STEP  # hyperband.max_iter steps: a trial's full budget
    steps = Steps(trial)
    fit = {"lightgbm": _lightgbm, "xgboost": _xgboost, "catboost": _catboost}[params["model"]]
    predicted = fit(params[params["model"]], trial.seed, rounds, steps)
    if steps.pruned is not None:
        raise steps.pruned
    return {
        "val_logloss": log_loss(Y_VALID, predicted),
        "val_auc": roc_auc_score(Y_VALID, predicted),
        "seed": trial.seed,
    }

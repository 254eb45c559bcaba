"""Gradient-boosted trees on the breast-cancer data, for the native sweep in sweep.yaml.

`objective(params)` cross-validates scikit-learn's HistGradientBoostingClassifier and returns the ROC AUC
of every fold: sweepkit turns the list into the trial's value with `metric.fold_aggregation`. Parameters
that are inactive in a trial (`validation_fraction` and `n_iter_no_change` without early stopping) are
absent from `params`, so the model keeps its defaults for them.
"""

from __future__ import annotations

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_validate
from threadpoolctl import threadpool_limits

MODEL_PARAMS = (
    "learning_rate", "max_iter", "max_depth", "max_leaf_nodes", "l2_regularization", "min_samples_leaf",
    "max_features", "early_stopping", "validation_fraction", "n_iter_no_change",
)  # fmt: skip


def objective(params: dict) -> dict:
    X, y = load_breast_cancer(return_X_y=True)
    model = HistGradientBoostingClassifier(**{k: params[k] for k in MODEL_PARAMS if k in params}, random_state=0)
    folds = StratifiedKFold(n_splits=params["cv_folds"], shuffle=True, random_state=0)
    with threadpool_limits(1):  # on data this small, one thread is faster than many
        scores = cross_validate(model, X, y, cv=folds, scoring=("roc_auc", "accuracy"))
    return {
        "roc_auc": scores["test_roc_auc"].tolist(),
        "accuracy": float(scores["test_accuracy"].mean()),
        "fit_seconds": float(scores["fit_time"].sum()),
    }

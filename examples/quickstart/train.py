"""Quickstart trial: a gradient-boosted tree classifier on scikit-learn's handwritten digits.

sweepkit calls `objective(params)` once per trial; it returns the metrics of that trial.
"""

from __future__ import annotations

from functools import cache

from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score
from threadpoolctl import threadpool_limits  # installed with scikit-learn


@cache
def _data():  # loaded once per process, not once per trial
    return load_digits(return_X_y=True)


def objective(params: dict) -> dict:
    X, y = _data()
    # One thread per trial: the trees' OpenMP threads spin-wait for each other, and on a busy machine a
    # trial took 55 s with a thread per core against 4 s with one. More trials at once: --workers N.
    with threadpool_limits(limits=1):
        return _fit(X, y, params)


def _fit(X, y, params: dict) -> dict:
    model = HistGradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_iter=params["max_iter"],
        max_leaf_nodes=params["max_leaf_nodes"],
        l2_regularization=params["l2_regularization"],
        early_stopping=False,
        random_state=0,
    )
    folds = cross_val_score(model, X, y, cv=3, scoring="accuracy", n_jobs=1)
    return {"val_accuracy": float(folds.mean()), "val_accuracy_std": float(folds.std())}

"""A small MLP on scikit-learn's digits data, for the W&B-style sweep in sweep.yaml.

sweepkit calls `objective(params)` with one trial's parameters and reads `val_accuracy` (the sweep's
metric) from the dict it returns; the other keys are kept as extra metrics of the trial.
"""

from __future__ import annotations

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

DATASETS = {"digits": load_digits}


def objective(params: dict) -> dict:
    X, y = DATASETS[params["dataset"]](return_X_y=True)
    X = X / X.max()
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    model = MLPClassifier(
        hidden_layer_sizes=(int(params["hidden_units"]),),
        activation=params["activation"],
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        batch_size=params["batch_size"],
        max_iter=params["max_iter"],
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs on purpose
        model.fit(X_train, y_train)
    return {
        "val_accuracy": model.score(X_val, y_val),
        "train_accuracy": model.score(X_train, y_train),
        "fit_seconds": time.perf_counter() - start,
    }


if __name__ == "__main__":
    # What runs for `program: train.py`: under `wandb agent`, or under `sweepkit run sweep.yaml` without
    # trial.function (sweepkit runs W&B's library offline and reads wandb.log back; it needs wandb installed).
    import wandb

    with wandb.init() as run:
        run.log(objective(dict(run.config)))

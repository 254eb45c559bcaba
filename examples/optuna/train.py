"""Logistic regression trained with NumPy mini-batch SGD, for the Optuna-style sweep in hpo.yaml.

The search space is the HPO guide's (learning rate, batch size, epochs, warmup, weight decay, weighted
cross-entropy or focal loss) scaled down to scikit-learn's breast-cancer data. `objective(params)` runs a
stratified k-fold cross-validation and returns the macro F1 of every fold: sweepkit aggregates the list
with `metric.fold_aggregation`.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

N_FOLDS = 5


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _loss_gradient(z: np.ndarray, y: np.ndarray, params: dict, class_weight: np.ndarray) -> np.ndarray:
    """d(loss)/d(logit) per example, for weighted cross-entropy or the focal loss."""
    p = _sigmoid(z)
    if params["loss_function"] == "weighted_ce":
        return class_weight[y] * (p - y)
    # Focal loss -a_t (1 - p_t)^g log(p_t), with p_t the probability of the true class.
    gamma, alpha = params["focal_gamma"], params["focal_alpha"]
    sign = np.where(y == 1, 1.0, -1.0)
    p_t = np.clip(np.where(y == 1, p, 1.0 - p), 1e-12, 1.0)
    a_t = np.where(y == 1, alpha, 1.0 - alpha)
    return a_t * sign * (1.0 - p_t) ** gamma * (gamma * p_t * np.log(p_t) - (1.0 - p_t))


def _fit(X: np.ndarray, y: np.ndarray, params: dict, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    class_weight = n / (2.0 * np.bincount(y, minlength=2))
    batch = int(params["per_device_train_batch_size"])
    steps_per_epoch = -(-n // batch)
    total = steps_per_epoch * int(params["num_train_epochs"])
    warmup = max(1, int(total * params["warmup_ratio"]))
    step = 0
    for _ in range(int(params["num_train_epochs"])):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            # Linear warmup, then linear decay, as transformers' default scheduler does.
            if step < warmup:
                lr = params["learning_rate"] * (step + 1) / warmup
            else:
                lr = params["learning_rate"] * max(0.0, (total - step) / max(1, total - warmup))
            g = _loss_gradient(X[idx] @ w + b, y[idx], params, class_weight)
            w -= lr * (X[idx].T @ g / len(idx) + params["weight_decay"] * w)
            b -= lr * g.mean()
            step += 1
    return w, b


def objective(params: dict) -> dict:
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    scores = []
    for train_idx, val_idx in folds.split(X, y):
        scaler = StandardScaler().fit(X[train_idx])
        w, b = _fit(scaler.transform(X[train_idx]), y[train_idx], params, rng)
        predicted = (scaler.transform(X[val_idx]) @ w + b > 0).astype(int)
        scores.append(f1_score(y[val_idx], predicted, average="macro"))
    return {"macro_f1": scores}

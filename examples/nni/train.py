"""A scikit-learn pipeline on the wine data, for the NNI-style sweep in config.yml.

sweepkit hands `objective(params)` the parameters the way NNI does: the nested choice arrives as
`params["classifier"] == {"_name": "svm", "C": ..., "gamma": ...}`. The returned dict's "default" is the
value NNI's `report_final_result` would report, which is the metric NNI configs optimize.
"""

from __future__ import annotations

from sklearn.datasets import load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "none": None}


def _classifier(choice: dict):
    name = choice["_name"]
    if name == "logistic":
        return LogisticRegression(C=choice["C"], max_iter=500)
    if name == "svm":
        return SVC(C=choice["C"], gamma=choice["gamma"])
    if name == "knn":
        return KNeighborsClassifier(n_neighbors=choice["n_neighbors"], weights=choice["weights"])
    if name == "random_forest":
        return RandomForestClassifier(
            n_estimators=int(choice["n_estimators"]), max_depth=choice["max_depth"], random_state=0
        )
    raise ValueError(f"unknown classifier {name!r}")


def objective(params: dict) -> dict:
    X, y = load_wine(return_X_y=True)
    scaler = SCALERS[params["scaler"]]
    steps = [scaler()] if scaler is not None else []
    model = make_pipeline(*steps, PCA(n_components=params["pca_variance"]), _classifier(params["classifier"]))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, cv=folds)
    return {"default": float(scores.mean()), "accuracy_std": float(scores.std())}


if __name__ == "__main__":
    # What NNI runs for `trialCommand: python3 train.py` (it needs nni installed). sweepkit calls
    # objective() directly instead (trial.function=train:objective).
    import nni

    nni.report_final_result(objective(nni.get_next_parameter())["default"])

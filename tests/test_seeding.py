"""`sweepkit.seed_everything`, the trial seed a program reads, and the libraries' seed parameters: each
checked by what it makes reproducible (the same numbers, the same trained model twice), not by its calls."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sweepkit
from sweepkit.seeding import SEED_LIMIT, seed_params, seeded, trial_seed

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in ENV.items() if not k.startswith("SWEEPKIT_") and k != "PYTHONHASHSEED"}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def restore_torch() -> Iterator[None]:
    """seed_everything changes process-wide torch flags: put them back for the tests that follow."""
    torch = pytest.importorskip("torch")
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "TF_DETERMINISTIC_OPS"):
        monkeypatch.delenv(name, raising=False)  # monkeypatch puts back whatever was there


def _draws() -> list[Any]:
    import numpy as np
    import torch

    return [random.random(), float(np.random.rand()), float(torch.rand(1))]


@pytest.mark.slow  # imports torch
@pytest.mark.usefixtures("restore_torch", "clean_env")
def test_seed_everything_repeats_python_numpy_and_torch() -> None:
    import torch

    done = sweepkit.seed_everything(42)
    first = _draws()
    assert sweepkit.seed_everything(42) == done
    assert _draws() == first
    sweepkit.seed_everything(43)
    assert _draws() != first
    assert done["seed"] == 42
    assert done["seeded"][:3] == ["random", "numpy", "torch"]
    assert done["env"] == {"PYTHONHASHSEED": "42", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    assert os.environ["PYTHONHASHSEED"] == "43" and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert "torch.use_deterministic_algorithms" in done["deterministic"]
    assert any("this process's own hash seed" in note for note in done["notes"])


@pytest.mark.slow
@pytest.mark.usefixtures("restore_torch", "clean_env")
def test_seed_everything_keeps_the_users_cublas_setting_and_can_only_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    done = sweepkit.seed_everything(1, deterministic="warn")
    assert done["env"]["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.slow
@pytest.mark.usefixtures("restore_torch", "clean_env")
def test_seed_everything_without_determinism_only_seeds() -> None:
    import torch

    torch.use_deterministic_algorithms(False)
    done = sweepkit.seed_everything(7, deterministic=False)
    assert done["deterministic"] == [] and "CUBLAS_WORKSPACE_CONFIG" not in done["env"]
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


@pytest.mark.parametrize(
    ("seed", "error", "fragment"),
    [
        (None, TypeError, "run.seed or 0"),
        (True, TypeError, "must be an integer"),
        (1.5, TypeError, "must be an integer"),
        (-1, ValueError, "[0, 2**32)"),
        (2**32, ValueError, "[0, 2**32)"),
    ],
)
def test_seed_everything_refuses_what_is_not_a_seed(seed: Any, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        sweepkit.seed_everything(seed)
    assert fragment in str(info.value)
    with pytest.raises(ValueError, match="deterministic must be"):
        sweepkit.seed_everything(1, deterministic="yes")


@pytest.mark.slow
def test_pythonhashseed_fixes_child_processes_hashes() -> None:
    code = (
        "import subprocess, sys, sweepkit; sweepkit.seed_everything({seed}, deterministic=False); "
        "print(subprocess.run([sys.executable, '-c', 'print(hash(\"sweep\"))'], capture_output=True, text=True).stdout)"
    )
    once, twice, other = (_python(code.format(seed=s)) for s in (5, 5, 6))
    assert once == twice != other


def test_the_seeding_helpers_import_nothing_heavy() -> None:
    code = (
        "import sys, sweepkit; sweepkit.seeded({}, 'lightgbm', 1); sweepkit.seed_params('xgboost', 2); "
        "sweepkit.seed_worker; sweepkit.dataloader_seeding; "
        "import sweepkit.seeding; sweepkit.seeding.trial_seed(1, 2); "
        "heavy = ('numpy', 'torch', 'optuna', 'sqlalchemy', 'lightgbm', 'sklearn'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert _python(code) == "[]"


@pytest.mark.parametrize(
    ("env", "seed"),
    [
        ({"SWEEPKIT_SEED": "77"}, 77),
        ({"SWEEPKIT_TRIAL_SEED": "12"}, 12),
        ({"SWEEPKIT_SEED": "5", "SWEEPKIT_TRIAL_SEED": "6"}, 5),
    ],
)
def test_a_program_reads_its_seed_as_run_seed(env: dict[str, str], seed: int) -> None:
    code = "import sys, sweepkit; run = sweepkit.init(); print(run.seed, 'numpy' in sys.modules)"
    assert _python(code, SWEEPKIT_PARAMS="{}", **env) == f"{seed} False"


def test_trial_seeds_are_stable_distinct_and_in_range() -> None:
    seeds = [trial_seed(123, n) for n in range(2000)]
    assert seeds == [trial_seed(123, n) for n in range(2000)]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < SEED_LIMIT for s in seeds)
    assert seeds[:50] != [trial_seed(124, n) for n in range(50)]
    assert trial_seed(0, 0) == 2117948893  # the derivation is part of the record: it must not drift


# -- each library's seed parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("library", "keys"),
    [
        ("lightgbm", {"seed", "bagging_seed", "feature_fraction_seed", "data_random_seed", "drop_seed", "extra_seed"}),
        ("LGBM", {"seed", "bagging_seed", "feature_fraction_seed", "data_random_seed", "drop_seed", "extra_seed"}),
        ("xgboost", {"random_state"}),
        ("catboost", {"random_seed"}),
        ("sklearn", {"random_state"}),
        ("scikit-learn", {"random_state"}),
    ],
)
def test_seed_params_name_each_librarys_keys(library: str, keys: set[str]) -> None:
    params = seed_params(library, 9)
    assert {k for k, v in params.items() if v == 9 and not isinstance(v, bool)} == keys
    if "lightgbm" in library.lower() or library == "LGBM":
        assert params["deterministic"] is True and params["force_row_wise"] is True
        assert "deterministic" not in seed_params(library, 9, deterministic=False)


def test_seeded_adds_the_keys_and_keeps_a_chosen_col_wise() -> None:
    params = {"num_leaves": 31, "seed": 1, "force_col_wise": True}
    out = seeded(params, "lightgbm", 8)
    assert out["num_leaves"] == 31 and out["seed"] == 8 and "force_row_wise" not in out
    assert params == {"num_leaves": 31, "seed": 1, "force_col_wise": True}  # not modified
    with pytest.raises(ValueError, match="expected one of catboost, lightgbm, sklearn, xgboost"):
        seeded({}, "keras", 1)


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.mark.slow
def test_lightgbm_trains_the_same_model_twice_with_seeded_params() -> None:
    lgb = pytest.importorskip("lightgbm")
    pytest.importorskip("sklearn")
    X, y = _data()
    base = {"objective": "binary", "verbose": -1, "bagging_fraction": 0.6, "bagging_freq": 1, "feature_fraction": 0.6}

    def predict(seed: int) -> list[float]:
        return list(lgb.train(seeded(base, "lightgbm", seed), lgb.Dataset(X, y), 15).predict(X))

    assert predict(3) == predict(3) != predict(4)
    estimator = [lgb.LGBMClassifier(n_estimators=15, subsample=0.6, subsample_freq=1, **seed_params("lgb", 3))]
    estimator.append(lgb.LGBMClassifier(n_estimators=15, subsample=0.6, subsample_freq=1, **seed_params("lgb", 3)))
    first, second = (list(e.set_params(verbose=-1).fit(X, y).predict_proba(X)[:, 1]) for e in estimator)
    assert first == second


@pytest.mark.slow
def test_xgboost_trains_the_same_model_twice_with_seeded_params() -> None:
    xgb = pytest.importorskip("xgboost")
    pytest.importorskip("sklearn")
    X, y = _data()
    base = {"objective": "binary:logistic", "subsample": 0.6, "colsample_bytree": 0.6}

    def predict(seed: int) -> list[float]:
        return xgb.train(seeded(base, "xgboost", seed), xgb.DMatrix(X, y), 10).predict(xgb.DMatrix(X)).tolist()

    assert predict(3) == predict(3) != predict(4)  # random_state is the native API's alias of seed
    sk = [xgb.XGBClassifier(n_estimators=10, subsample=0.6, **seed_params("xgb", 3)).fit(X, y) for _ in range(2)]
    assert sk[0].predict_proba(X).tolist() == sk[1].predict_proba(X).tolist()


@pytest.mark.slow
def test_catboost_trains_the_same_model_twice_with_seeded_params() -> None:
    cb = pytest.importorskip("catboost")
    pytest.importorskip("sklearn")
    X, y = _data()
    base = {"iterations": 10, "verbose": False, "allow_writing_files": False, "rsm": 0.5, "thread_count": 1}
    base |= {"bootstrap_type": "Bernoulli", "subsample": 0.6}

    def predict(seed: int) -> list[float]:
        return cb.CatBoostClassifier(**seeded(base, "catboost", seed)).fit(X, y).predict_proba(X)[:, 1].tolist()

    assert predict(3) == predict(3) != predict(4)


@pytest.mark.slow
def test_sklearn_estimators_take_random_state() -> None:
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data()

    def predict(seed: int) -> list[float]:
        model = RandomForestClassifier(n_estimators=5, max_features=3, **seed_params("sklearn", seed))
        return model.fit(X, y).predict_proba(X)[:, 1].tolist()

    assert predict(3) == predict(3) != predict(4)


LOADER = """
import json, random, sys
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
import sweepkit


class Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):  # randomness in the workers: augmentation, say
        return torch.tensor([i, random.random(), float(np.random.rand()), float(torch.rand(1))])


loader = DataLoader(Noisy(), batch_size=4, shuffle=True, num_workers=2, **sweepkit.dataloader_seeding(int(sys.argv[1])))
print(json.dumps([batch.tolist() for batch in loader]))
"""


@pytest.mark.slow
def test_a_seeded_data_loader_repeats_its_order_and_its_workers_randomness(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("numpy")
    script = tmp_path / "loader.py"
    script.write_text(LOADER)

    def batches(seed: int) -> list[Any]:
        done = subprocess.run(
            [sys.executable, str(script), str(seed)], env=ENV, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = batches(11)
    assert first == batches(11)
    assert first != batches(12)
    rows = [row for batch in first for row in batch]
    assert sorted(row[0] for row in rows) == list(range(8))
    assert len({row[2] for row in rows}) == 8  # each worker's NumPy stream is its own, not a copy of another's

"""Reproducible trials: `seed_everything(seed)`, each trial's seed, and the seed keys of each library.

Standard library only at import (a trial program imports it): NumPy, PyTorch and TensorFlow are imported by
`seed_everything` only when installed, and never by the parameter helpers, which return plain dicts. See
docs/reproducibility.md.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a trial program pays every import)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "SEED_LIMIT",
    "dataloader_seeding",
    "seed_everything",
    "seed_params",
    "seed_worker",
    "seeded",
    "trial_seed",
]

# Seeds are kept below 2**31: every library takes them (LightGBM's are C ints, NumPy's legacy seed < 2**32).
SEED_LIMIT = 2**31
# cuBLAS is deterministic only with a fixed workspace (NVIDIA's cuBLAS docs, "Results reproducibility");
# ":4096:8" is the value PyTorch's reproducibility notes give, ":16:8" the smaller, slower one.
CUBLAS_WORKSPACE = ":4096:8"


def _check_seed(seed: object, what: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        hint = " (outside a sweep run.seed is None: give a default, e.g. run.seed or 0)" if seed is None else ""
        raise TypeError(f"{what} must be an integer, got {seed!r}{hint}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"{what} must be in [0, 2**32), got {seed}")
    return seed


def _installed(name: str) -> bool:
    if name in sys.modules:
        return True
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_MASK32 = 0xFFFFFFFF


def _mix32(x: int) -> int:
    """MurmurHash3's 32-bit finalizer: a bijection of 32-bit integers in which every input bit flips about half
    of the output bits."""
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x >> 16)


def trial_seed(sweep_seed: int, number: int) -> int:
    """The seed of trial `number` of a sweep seeded `sweep_seed`, in [0, 2**31).

    A keyed permutation of the trial numbers, not `sweep_seed + number`: two trials of a sweep never get the
    same seed, and neighbouring trials (or sweeps seeded 1 and 2) get unrelated ones. Two rounds of a
    bijective mixer keyed by the sweep's seed, walked until the value is below 2**31 (cycle walking keeps a
    permutation a permutation on the smaller range). A retried trial is given its original trial's seed (the
    engine carries it on the queued trial), never one derived from its own number."""
    folded = int(sweep_seed) ^ (int(sweep_seed) >> 32)
    first = _mix32((folded ^ 0x9E3779B9) & _MASK32)
    second = _mix32(first ^ 0x7F4A7C15)
    value = int(number) % SEED_LIMIT
    while True:
        value = _mix32(_mix32(value ^ first) ^ second)
        if value < SEED_LIMIT:
            return value


def seed_everything(seed: int, deterministic: bool | str = True) -> dict[str, Any]:
    """Seed every random number generator this process may use, and (by default) ask for deterministic kernels.

    Seeds Python's `random`, NumPy's global generator, PyTorch (CPU and every CUDA device) and TensorFlow,
    each only when installed (TensorFlow only when already imported: importing it takes seconds). Sets
    `PYTHONHASHSEED` for the processes this one starts: a running interpreter's own hash seed was fixed when
    it started and cannot change. With `deterministic` (True, or "warn" to only warn about PyTorch operations
    that have no deterministic implementation): `CUBLAS_WORKSPACE_CONFIG` (unless already set), cuDNN's
    deterministic mode without benchmarking, `torch.use_deterministic_algorithms`, and TensorFlow's op
    determinism. Call it first thing in the trial, before building models or data loaders.

    Returns what it did: `{"seed", "seeded": [...], "deterministic": [...], "env": {...}, "notes": [...]}`.
    """
    seed = _check_seed(seed)
    if deterministic not in (True, False, "warn"):
        raise ValueError(f'deterministic must be True, False or "warn", got {deterministic!r}')
    import random

    seeded: list[str] = []
    strict: list[str] = []
    env: dict[str, str] = {}
    notes: list[str] = []

    os.environ["PYTHONHASHSEED"] = env["PYTHONHASHSEED"] = str(seed)
    notes.append(
        "PYTHONHASHSEED is set for child processes (data loader workers, subprocesses); this process's own "
        "hash seed was fixed when it started: launch it with PYTHONHASHSEED set to fix str/set ordering here too"
    )
    if deterministic:
        # Before CUDA starts: cuBLAS reads it when its first handle is made. A value set by the user is kept.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        env["CUBLAS_WORKSPACE_CONFIG"] = os.environ["CUBLAS_WORKSPACE_CONFIG"]

    random.seed(seed)
    seeded.append("random")

    if _installed("numpy"):
        import numpy

        numpy.random.seed(seed)
        seeded.append("numpy")

    if _installed("torch"):
        import torch

        torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
        seeded.append("torch")
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
            seeded.append(f"torch.cuda ({torch.cuda.device_count()} device(s))")
        if deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False  # benchmarking picks kernels by timing: not reproducible
            torch.use_deterministic_algorithms(True, warn_only=deterministic == "warn")
            strict += ["torch.backends.cudnn.deterministic", "torch.use_deterministic_algorithms"]

    if "tensorflow" in sys.modules:
        tf: Any = sys.modules["tensorflow"]
        tf.random.set_seed(seed)
        seeded.append("tensorflow")
        if deterministic:
            os.environ["TF_DETERMINISTIC_OPS"] = env["TF_DETERMINISTIC_OPS"] = "1"
            tf.config.experimental.enable_op_determinism()
            strict.append("tensorflow op determinism")
    elif _installed("tensorflow"):
        notes.append("TensorFlow is installed but not imported: import it before seed_everything to seed it")
    return {"seed": seed, "seeded": seeded, "deterministic": strict, "env": env, "notes": notes}


# -- the seed keys of each library ---------------------------------------------------------------------------

_ALIASES = {
    "lightgbm": "lightgbm",
    "lgb": "lightgbm",
    "lgbm": "lightgbm",
    "xgboost": "xgboost",
    "xgb": "xgboost",
    "catboost": "catboost",
    "cb": "catboost",
    "sklearn": "sklearn",
    "scikit-learn": "sklearn",
}


def seed_params(library: str, seed: int, *, deterministic: bool = True) -> dict[str, Any]:
    """The parameters that make `library`'s training reproducible with `seed`.

    - lightgbm: `seed` and the seeds it would otherwise derive (`bagging_seed`, `feature_fraction_seed`,
      `data_random_seed`, `drop_seed`, `extra_seed`), with `deterministic` and `force_row_wise` (LightGBM's
      docs ask for one of the force_* options for stable results);
    - xgboost: `random_state` (the native `train()` reads it as its alias of `seed`; the sklearn API's name);
    - catboost: `random_seed`;
    - sklearn: `random_state`.

    Each works in the library's native API and its scikit-learn estimators alike (`lgb.train(params)` or
    `LGBMClassifier(**params)`)."""
    seed = _check_seed(seed)
    name = _ALIASES.get(str(library).strip().lower())
    if name is None:
        known = ", ".join(sorted(set(_ALIASES.values())))
        raise ValueError(f"no seed parameters known for library {library!r}: expected one of {known}")
    if name == "lightgbm":
        keys = ("seed", "bagging_seed", "feature_fraction_seed", "data_random_seed", "drop_seed", "extra_seed")
        out: dict[str, Any] = dict.fromkeys(keys, seed)
        if deterministic:
            out.update(deterministic=True, force_row_wise=True)
        return out
    if name == "xgboost":
        return {"random_state": seed}
    if name == "catboost":
        return {"random_seed": seed}
    return {"random_state": seed}


def seeded(params: Mapping[str, Any], library: str, seed: int, *, deterministic: bool = True) -> dict[str, Any]:
    """`params` (a trial's, say) with `library`'s seed parameters added: `seeded(params, "lightgbm", trial.seed)`.

    The seed keys replace any the params had; a LightGBM `force_col_wise: true` the params chose is kept
    (it is as reproducible as `force_row_wise`)."""
    extra = seed_params(library, seed, deterministic=deterministic)
    if "force_row_wise" in extra and params.get("force_col_wise"):
        del extra["force_row_wise"]
    return {**params, **extra}


def seed_worker(worker_id: int) -> None:
    """A PyTorch DataLoader `worker_init_fn`: seeds each worker's `random` and NumPy from its torch seed
    (which the loader's generator fixes), as PyTorch's reproducibility notes do."""
    import random

    import torch

    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    if _installed("numpy"):
        import numpy

        numpy.random.seed(worker_seed)


def dataloader_seeding(seed: int) -> dict[str, Any]:
    """`DataLoader(dataset, shuffle=True, **dataloader_seeding(trial.seed))`: a seeded `torch.Generator`
    (shuffling, random samplers, each worker's base seed) and `seed_worker` as `worker_init_fn`."""
    seed = _check_seed(seed)
    import torch

    generator = torch.Generator()
    generator.manual_seed(seed)
    return {"generator": generator, "worker_init_fn": seed_worker}

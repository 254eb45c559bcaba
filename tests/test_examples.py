"""The examples in examples/<dialect>/ load and run: each folder is copied into tmp_path first, so no sweep
files, stores or results are written into the repository."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sweepkit

pytest.importorskip("sklearn")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TRIALS = 4

# (folder, sweep file, overrides, the sweep's name, its metric). The W&B and NNI files stay as their tools
# take them: the Python function is named by an override, as the READMEs show.
CASES = [
    pytest.param("wandb", "sweep.yaml", ["trial.function=train:objective"], "digits-mlp", "val_accuracy", id="wandb"),
    pytest.param("optuna", "hpo.yaml", [], "breast-cancer-hpo", "macro_f1", id="optuna"),
    pytest.param("nni", "config.yml", ["trial.function=train:objective"], "wine-pipeline", "default", id="nni"),
    # The target could be reached before the 4th trial, which would (rightly) end the sweep early.
    pytest.param("native", "sweep.yaml", ["metric.target=null"], "breast-cancer-hgb", "roc_auc", id="native"),
]


@pytest.fixture
def isolated_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every example's function lives in a module named `train`: let each test import its own."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "train", raising=False)
    yield
    sys.modules.pop("train", None)


def _copy(folder: str, tmp_path: Path) -> Path:
    target = tmp_path / folder
    shutil.copytree(
        EXAMPLES / folder, target, ignore=shutil.ignore_patterns("sweeps", ".sweepkit", "__pycache__", "*.db")
    )
    return target


@pytest.mark.parametrize(("folder", "file", "overrides", "name", "metric"), CASES)
def test_example_loads(folder: str, file: str, overrides: list[str], name: str, metric: str, tmp_path: Path) -> None:
    workdir = _copy(folder, tmp_path)
    assert sweepkit.load_spec(workdir / file, cwd=workdir).dialect == folder  # each folder is one dialect
    spec = sweepkit.load_spec(workdir / file, overrides, cwd=workdir)
    assert spec.name == name
    assert spec.metric.name == metric
    assert spec.metric.goal == "maximize"
    assert spec.trial.function == "train:objective"
    assert spec.space.parameters


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "file", "overrides", "name", "metric"), CASES)
@pytest.mark.usefixtures("isolated_imports")
def test_example_runs(folder: str, file: str, overrides: list[str], name: str, metric: str, tmp_path: Path) -> None:
    workdir = _copy(folder, tmp_path)
    result = sweepkit.run(workdir / file, trials=TRIALS, quiet=True, cwd=workdir, overrides=overrides)
    errors = [t.error for t in result.trials if t.error and t.state != "INFEASIBLE"]
    assert result.counts["COMPLETE"] == TRIALS, errors
    assert result.counts["FAILED"] == 0
    assert result.best_value is not None
    assert 0.5 < result.best_value <= 1.0
    assert result.metric == metric
    assert result.stop_reason == "budget: all trials done"
    out = workdir / "sweeps" / name
    assert result.output == out
    summary = json.loads((out / "tuning_results.json").read_text())
    assert summary["best_value"] == pytest.approx(result.best_value)
    assert (out / "best_config.yaml").exists()
    assert (out / "trials.csv").exists()


def test_wandb_log_uniform_takes_exponents(tmp_path: Path) -> None:
    """`alpha` is W&B's log_uniform (natural-log exponents), learning_rate_init log_uniform_values (values)."""
    workdir = _copy("wandb", tmp_path)
    spec = sweepkit.load_spec(workdir / "sweep.yaml", cwd=workdir)
    params = {p.name: p for p in spec.space.parameters}
    assert params["alpha"].low == pytest.approx(1.013e-5, rel=1e-3)
    assert params["alpha"].high == pytest.approx(1.005e-2, rel=1e-3)
    assert (params["learning_rate_init"].low, params["learning_rate_init"].high) == (0.0001, 0.03)


@pytest.mark.slow
@pytest.mark.usefixtures("isolated_imports")
def test_native_conditions_and_derived_values(tmp_path: Path) -> None:
    workdir = _copy("native", tmp_path)
    result = sweepkit.run(
        workdir / "sweep.yaml", trials=TRIALS, quiet=True, cwd=workdir, overrides=["metric.target=null"]
    )
    for trial in result.trials:
        params = trial.params
        assert params["max_iter"] == min(100, int(5 / params["learning_rate"]))
        assert ("n_iter_no_change" in params) == params["early_stopping"]
        if trial.state == "COMPLETE":
            assert params["max_leaf_nodes"] <= 2 ** params["max_depth"]


@pytest.mark.slow
@pytest.mark.usefixtures("isolated_imports")
def test_nni_bare_search_space(tmp_path: Path) -> None:
    """search_space.json validates on its own and, from Python, sweeps the same space as config.yml."""
    workdir = _copy("nni", tmp_path)
    bare = sweepkit.load_spec(workdir / "search_space.json", cwd=workdir)
    inline = sweepkit.load_spec(workdir / "config.yml", cwd=workdir)
    assert [p.name for p in bare.space.parameters] == [p.name for p in inline.space.parameters]

    module_spec = importlib.util.spec_from_file_location("nni_example_train", workdir / "train.py")
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    space = json.loads((workdir / "search_space.json").read_text())
    result = sweepkit.run(
        {"experimentName": "wine-pipeline-bare", "searchSpace": space},
        objective=module.objective,
        trials=TRIALS,
        quiet=True,
        cwd=workdir,
    )
    assert result.counts["COMPLETE"] == TRIALS
    assert result.goal == "maximize"
    for trial in result.trials:
        assert trial.params["classifier"]["_name"] in ("logistic", "svm", "knn", "random_forest")

    # From the command line, the function and NNI's metric are overrides (as examples/nni/README.md shows).
    overrides = ["trial.function=train:objective", "metric.name=default", "metric.goal=maximize"]
    result = sweepkit.run(workdir / "search_space.json", trials=TRIALS, quiet=True, cwd=workdir, overrides=overrides)
    assert result.counts["COMPLETE"] == TRIALS
    assert result.best_value is not None and result.best_value > 0.5


@pytest.mark.slow
def test_wandb_example_runs_unchanged_as_a_program(tmp_path: Path) -> None:
    """No override: train.py runs as W&B's agent would run it, with W&B's library offline."""
    pytest.importorskip("wandb")
    workdir = _copy("wandb", tmp_path)
    # a few seconds per trial; seeded, so that the one point is the same each time (unseeded, a slow learning rate
    # with 6 epochs once scored 0.41)
    result = sweepkit.run(workdir / "sweep.yaml", trials=1, seed=0, quiet=True, cwd=workdir)
    errors = [t.error for t in result.trials if t.error]
    assert result.counts["COMPLETE"] == 1, errors
    assert result.best_value is not None and result.best_value > 0.5
    assert (workdir / "sweeps" / "digits-mlp" / "trials" / "0" / "stdout.log").exists()


@pytest.mark.slow
def test_wandb_multihead_sweep_config_runs_offline_against_a_wandb_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The W&B multi-head sweep file (only `program:` adapted) and a script using wandb as W&B users do."""
    if importlib.util.find_spec("wandb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs wandb (the dev extra)")
        pytest.skip("wandb is not installed (pip install 'sweepkit[wandb]')")
    workdir = _copy("wandb-offline", tmp_path)
    # no network, no account: any attempt to reach a server would fail at this proxy
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    result = sweepkit.run(workdir / "sweep_config.yaml", trials=3, quiet=True, cwd=workdir)
    errors = [t.error for t in result.trials if t.error]
    # its early_terminate (hyperband, min_iter 10) applies: a trial behind the best 1/3 at epoch 10 is stopped
    assert result.counts["COMPLETE"] + result.counts["PRUNED"] == 3 and result.counts["COMPLETE"] >= 1, errors
    assert all(t.reason and t.reason.startswith("wandb-hyperband: ") for t in result.trials if t.state == "PRUNED")
    assert result.metric == "val/gcode_acc" and result.goal == "maximize"
    for trial in result.trials:
        assert trial.value is not None and 0.0 < trial.value <= 1.0
        assert trial.params["max_epochs"] == 50 and trial.params["optimizer"] in ("adam", "adamw", "sgd")
        folder = workdir / "sweeps" / "sweep_config" / "trials" / str(trial.number) / "wandb"
        assert list(folder.glob("offline-run-*/run-*.wandb"))


def _torch_or_skip() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("examples/gpu trains with PyTorch: pip install torch==2.13.0 (CPU build)")


def test_gpu_example_loads_with_its_gpu_slots(tmp_path: Path) -> None:
    workdir = _copy("gpu", tmp_path)
    spec = sweepkit.load_spec(workdir / "sweep.yaml", cwd=workdir)
    assert spec.extra["resources"]["gpus_per_trial"] == 0.5
    assert spec.trial.program == "train.py" and spec.budget.steps == 8


@pytest.mark.slow
def test_gpu_example_runs_on_cpu_two_at_a_time(tmp_path: Path) -> None:
    """Without a GPU the same program trains on the CPU: the GPU share is dropped by an override."""
    _torch_or_skip()
    workdir = _copy("gpu", tmp_path)
    overrides = ["resources.gpus_per_trial=null", "parameters.epochs.value=2", "budget.steps=2"]
    result = sweepkit.run(workdir / "sweep.yaml", trials=2, workers=2, quiet=True, cwd=workdir, overrides=overrides)
    assert result.counts["FAILED"] == 0, [t.error for t in result.trials]
    assert result.counts["COMPLETE"] + result.counts["PRUNED"] == 2
    assert all(t.metrics.get("device") == "cpu" for t in result.trials if t.state == "COMPLETE")


@pytest.mark.slow
def test_gpu_example_on_a_gpu(tmp_path: Path) -> None:
    from sweepkit.resources import discover

    _torch_or_skip()
    if not discover():
        pytest.skip("no NVIDIA GPU found through NVML on this machine (checked on a lent H100: RESULTS.md)")
    workdir = _copy("gpu", tmp_path)
    result = sweepkit.run(workdir / "sweep.yaml", trials=4, workers=2, quiet=True, cwd=workdir)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert done and all(t.metrics["device"] == "cuda" and t.resources.get("gpus") for t in done)


def test_the_quickstart_budget_is_its_trials_alone(tmp_path: Path) -> None:
    """The README's first command must finish its sweep: no timeout that stops it early on a busy machine
    (a 2-minute one stopped it at 2 of 24 trials on a loaded 2-core machine)."""
    workdir = _copy("quickstart", tmp_path)
    spec = sweepkit.load_spec(workdir / "sweep.yaml", cwd=workdir)
    assert spec.budget.trials == 24 and spec.budget.timeout is None


@pytest.mark.slow
@pytest.mark.usefixtures("isolated_imports")
def test_the_quickstart_trains_on_one_thread_per_trial(tmp_path: Path) -> None:
    """A trial limits the trees' OpenMP threads to one: with a thread per core, threads spin-waiting for each
    other on a busy machine made one trial take 55 s instead of 4 s."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    workdir = _copy("quickstart", tmp_path)
    sys.path.insert(0, str(workdir))
    import train

    seen: list[int] = []
    real = train.cross_val_score

    def spy(*args: object, **kwargs: object) -> object:
        seen.extend(p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "openmp")
        return real(*args, **kwargs)

    train.cross_val_score = spy  # type: ignore[assignment]
    params = {"learning_rate": 0.1, "max_iter": 10, "max_leaf_nodes": 8, "l2_regularization": 0.0}
    assert train.objective(params)["val_accuracy"] > 0.8
    assert seen and set(seen) == {1}

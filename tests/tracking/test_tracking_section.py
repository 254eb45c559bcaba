"""The sweep file's `tracking:` section: the workflow guides' spellings, and precise errors for typos."""

from __future__ import annotations

from typing import Any

import pytest

from sweepkit import tracking
from sweepkit.errors import SpecError
from sweepkit.spec import load_spec

BASE: dict[str, Any] = {"name": "t", "trial": {"function": "m:f"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}


@pytest.mark.parametrize(
    "extra",
    [
        {"tracking": {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "experiment": "hpo"}}},
        {
            "mlflow": {"uri": "http://127.0.0.1:5000", "experiment_name": "hpo"}
        },  # the Hydra + MLflow workflow's Hydra spelling
        {"hpo": {"n_trials": 3, "mlflow": {"tracking_uri": "http://127.0.0.1:5000", "experiment": "hpo"}}},
    ],
)
def test_mlflow_spellings(extra: dict[str, Any]) -> None:
    config = tracking.settings(load_spec({**BASE, **extra}))
    assert config.mlflow.enabled
    assert config.mlflow.tracking_uri == "http://127.0.0.1:5000" and config.mlflow.experiment == "hpo"
    assert not config.wandb.enabled


@pytest.mark.parametrize(
    ("extra", "enabled", "mode"),
    [
        ({"wandb": True}, True, "offline"),
        ({"wandb": {"project": "p", "entity": "me"}}, True, "offline"),  # offline unless said otherwise
        ({"tracking": {"wandb": {"project": "p", "mode": "online"}}}, True, "online"),
        ({"tracking": {"wandb": {"project": "p", "enabled": False}}}, False, "offline"),
        ({}, False, "offline"),
    ],
)
def test_wandb_switches(extra: dict[str, Any], enabled: bool, mode: str) -> None:
    spec = load_spec({**BASE, **extra})
    config = tracking.settings(spec)
    assert (config.wandb.enabled, config.wandb.mode) == (enabled, mode)
    assert [type(t).__name__ for t in tracking.build(spec)] == (["WandbTracker"] if enabled else [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"tracking": {"mlflow": {"tracking_ur": "x"}}},
            'tracking.mlflow.tracking_ur: unknown key "tracking_ur" in tracking.mlflow (did you mean "tracking_uri"?)',
        ),
        ({"mlflow": {"experimnt": "x"}}, 'mlflow.experimnt: unknown key "experimnt" in mlflow (did you mean'),
        ({"tracking": {"wandb": {"mode": "onlin"}}}, "tracking.wandb.mode: Input should be 'offline', 'online'"),
        ({"tracking": {"mlfow": True}}, 'unknown key "mlfow" in tracking (did you mean "mlflow"?)'),
        ({"tracking": {"mlflow": {}}, "mlflow": {"experiment": "x"}}, "both set tracking.mlflow"),
    ],
)
def test_typos_are_precise_errors(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec({**BASE, **extra})
    assert message in str(caught.value)


def test_no_tracking_section_builds_no_tracker() -> None:
    assert tracking.build(load_spec(BASE)) == []


@pytest.mark.slow
def test_the_core_does_not_import_trackers_libraries() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sweepkit.tracking, sweepkit.sweep, sweepkit.export, sweepkit.dashboard; "
        "print(sorted(m for m in ('mlflow', 'wandb', 'optuna_dashboard', 'ruamel.yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Unmodified W&B scripts as trial programs: W&B's own library in offline mode, fed locally, read through its API.

W&B's agent hands a sweep run its params as a YAML file named by `WANDB_SWEEP_PARAM_PATH`
(`{param: {value: v}}`), which `wandb.init()` loads into `wandb.config`, locked against the script's own
defaults. `wandb_env` writes that file where the agent would and sets the environment; offline mode needs
no account, key or server. What the script logs comes back through W&B's public API in its own process:
`with_shim` puts `sweepkit._wandb_shim`'s sitecustomize first on its PYTHONPATH, which wraps `wandb.Run.log`
once the script imports wandb and writes each row, and the run's summary at its end, to `$SWEEPKIT_CHANNEL`
(docs/line-protocol.md). W&B's own files (the offline run, for `wandb sync`) are as W&B writes them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sweepkit._wandb_shim import SITE_DIR

# Inherited W&B variables a trial may keep: labels only. The rest could point its run at another
# service, directory, run or mode (a parent's WANDB_SERVICE, WANDB_RESUME, WANDB_DISABLED, ...).
PASSTHROUGH = frozenset({"WANDB_NAME", "WANDB_NOTES", "WANDB_TAGS", "WANDB_JOB_TYPE", "WANDB_RUN_GROUP"})

_RUN_ID_CHARS = string.ascii_lowercase + string.digits


def _slug(text: str, *, limit: int = 64) -> str:
    """W&B ids and project names refuse `/ \\ # ? % :` and friends; keep them to a safe alphabet."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or "sweep"


def wandb_env(
    trial_dir: Path, params: dict[str, Any], *, sweep: str, trial: int, project: str | None = None
) -> dict[str, str]:
    """Environment that makes `wandb.init()` in the trial program run offline with `params` as its config.

    Writes the param file as W&B's agent does (`<WANDB_DIR>/wandb/sweep-<sweep>/config-<run>.yaml`) with a new
    run id, so each attempt's offline run is a folder of its own.
    """
    trial_dir = Path(trial_dir).resolve()
    wandb_dir = trial_dir / "wandb"
    sweep_id = _slug(sweep)
    run_id = f"{trial}-" + "".join(secrets.choice(_RUN_ID_CHARS) for _ in range(8))
    param_file = wandb_dir / f"sweep-{sweep_id}" / f"config-{run_id}.yaml"
    param_file.parent.mkdir(parents=True, exist_ok=True)
    plain = json.loads(json.dumps(params, default=str))  # numpy scalars, paths, ... as YAML can write them
    body = yaml.safe_dump(
        {name: {"value": value} for name, value in plain.items()},
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
    )
    param_file.write_text("wandb_version: 1\n\n" + body if plain else "wandb_version: 1\n", encoding="utf-8")
    home = wandb_dir / "home"
    return {
        "WANDB_MODE": "offline",  # no account, key, login or server; the run goes to a local file
        "WANDB_SWEEP_PARAM_PATH": str(param_file),  # wandb.init() loads it into wandb.config, as under the agent
        "WANDB_SWEEP_ID": sweep_id,  # run.sweep_id is set, and init(project=, entity=, id=) is ignored, as in a sweep
        "WANDB_RUN_ID": run_id,
        "WANDB_PROJECT": _slug(project or sweep, limit=128),
        "WANDB_DIR": str(trial_dir),  # the run's files: <trial>/wandb/offline-run-*
        "WANDB_CONFIG_DIR": str(home / "config"),  # not ~/.config/wandb: no user settings (base_url, mode) apply
        "WANDB_CACHE_DIR": str(home / "cache"),  # nothing is written under ~
        "WANDB_DATA_DIR": str(home / "data"),
        "WANDB_ARTIFACT_DIR": str(home / "artifacts"),
        "WANDB_SERVICE": "",  # empty = unset: never attach to a parent's wandb-core, start one of its own
        "WANDB_SILENT": "true",  # W&B's banners and messages go to wandb/debug.log; tracebacks still reach stderr
        "WANDB_CONSOLE": "off",  # its output stays in the trial's stdout.log, not copied into the run file
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",  # wandb-core starts with --no-observability: no Sentry reports
        "WANDB_X_DISABLE_STATS": "true",  # no system-monitor process sampling CPU/GPU every 15 s
        "WANDB_X_DISABLE_META": "true",  # no environment probe (GPU, git, OS) at start
    }


def without_wandb(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` minus inherited W&B variables (but labels), so nothing steers the trial's run elsewhere."""
    return {k: v for k, v in environ.items() if not k.startswith("WANDB_") or k in PASSTHROUGH}


def with_shim(pythonpath: str | None) -> str:
    """The trial's PYTHONPATH: the shim's folder first (its sitecustomize reads `wandb.log`), then `pythonpath`."""
    rest = [entry for entry in (pythonpath or "").split(os.pathsep) if entry and entry != SITE_DIR]
    return os.pathsep.join([SITE_DIR, *rest])


__all__ = ["wandb_env", "with_shim", "without_wandb"]

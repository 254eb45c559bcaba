"""W&B tracking (`hyperopt:` and W&B workflows): one W&B run per trial, offline unless the file says `mode: online`.

Offline runs need no account and reach no server: they are folders `<dir>/wandb/offline-run-*` (dir is
`tracking.wandb.dir`, else the sweep's output folder) that `wandb sync` uploads later, if ever. A trial's
run is written after it finishes, from what the store holds: its params as the run's config, the objective
per reported step as history, final metrics, state and duration in the summary. At the end, one more run
(job type `sweep`) holds the best trial and the counts. Run ids derive from the sweep and the trial number,
so a trial logged twice (a resumed sweep) is one run once synced, and a resumed sweep skips trials whose
offline folder is already there.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit.tracking import Note, TrackingError, sweep_key

if TYPE_CHECKING:
    import optuna

    from sweepkit.results import SweepResult, TrialRecord
    from sweepkit.spec import Spec, WandbSpec

INSTALL_HINT = "pip install 'sweepkit[wandb]'"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class WandbTracker:
    """Mirrors each trial into a W&B run (offline by default)."""

    def __init__(self, config: WandbSpec, *, note: Note | None = None) -> None:
        self.config = config
        self.note = note or _stderr
        self.dir: Path = Path.cwd()
        self.sweep = ""
        self.metric = "value"
        self.prefix = ""
        self.logged: set[int] = set()
        self._wandb: Any = None

    def sweep_started(self, spec: Spec, study: optuna.Study) -> None:
        # Set before wandb starts its service: no Sentry reports leave this machine.
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        try:
            import wandb
        except ImportError:
            raise TrackingError(f"tracking.wandb needs W&B's library: {INSTALL_HINT}") from None
        self._wandb = wandb
        self.sweep, self.metric = spec.name, spec.metric.name
        self.dir = Path(self.config.dir).resolve() if self.config.dir else Path(spec.output)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prefix = sweep_key(spec, study)[:12]
        # An offline run's folder ends with its id: the trials a previous run of this sweep logged already.
        self.logged = set()
        for folder in (self.dir / "wandb").glob(f"offline-run-*-{self.prefix}t*"):
            number = folder.name.rpartition(f"{self.prefix}t")[2]
            if number.isdigit():
                self.logged.add(int(number))

    def _init(self, run_id: str, name: str, job_type: str, config: dict[str, Any], tags: list[str]) -> Any:
        wandb = self._wandb
        settings = wandb.Settings(
            silent=True,
            console="off",  # the sweep's own terminal output is not this run's
            disable_git=True,
            disable_code=True,
            x_disable_stats=True,  # the trial ran earlier: this process's CPU use is not its
            x_disable_meta=True,
            x_disable_machine_info=True,
        )
        return wandb.init(
            project=self.config.project or self.sweep,
            entity=self.config.entity,
            group=self.config.group or self.sweep,
            job_type=job_type,
            name=name,
            id=run_id,
            config=config,
            tags=[*self.config.tags, *tags],
            mode=self.config.mode,
            dir=str(self.dir),
            reinit="create_new",
            settings=settings,
        )

    def trial_finished(self, trial: optuna.trial.FrozenTrial, record: TrialRecord) -> None:
        if self._wandb is None:
            raise TrackingError("WandbTracker.trial_finished called before sweep_started")
        if record.number in self.logged or record.state not in ("COMPLETE", "PRUNED", "FAILED"):
            return
        run = self._init(
            f"{self.prefix}t{record.number}",
            f"{self.sweep}-trial-{record.number}",
            "trial",
            record.params,
            [record.state.lower()],
        )
        try:
            for step, value in sorted(trial.intermediate_values.items()):
                run.log({self.metric: value}, step=int(step))
            summary: dict[str, Any] = {k: _plain(v) for k, v in record.metrics.items()}
            if record.value is not None:
                summary[self.metric] = record.value
            summary.update(
                {
                    "trial": record.number,
                    "state": record.state,
                    "duration_seconds": record.duration,
                    **{f"resources.{k}": v for k, v in record.resources.items()},
                }
            )
            if record.reason:
                summary["reason"] = record.reason
            if record.error:
                summary["error"] = record.error
            run.summary.update(summary)
        finally:
            run.finish(exit_code=1 if record.state == "FAILED" else 0)
        self.logged.add(record.number)

    def sweep_finished(self, result: SweepResult) -> None:
        if self._wandb is None:
            raise TrackingError("WandbTracker.sweep_finished called before sweep_started")
        best = result.best_trial
        run = self._init(
            f"{self.prefix}sweep",
            f"{self.sweep}-summary",
            "sweep",
            {"metric": result.metric, "goal": result.goal, "strategy": result.strategy},
            ["sweep"],
        )
        try:
            summary: dict[str, Any] = {f"trials_{state.lower()}": n for state, n in result.counts.items()}
            summary["stop_reason"] = result.stop_reason
            if best is not None:
                summary.update(
                    {"best_trial": best.number, f"best_{result.metric}": best.value, "best_params": best.params}
                )
            run.summary.update(summary)
        finally:
            run.finish()
        self._wandb.teardown()  # stop wandb's service process: the sweep is over


__all__ = ["WandbTracker"]

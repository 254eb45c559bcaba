"""MLflow tracking (the Hydra + MLflow layout): a parent run per sweep, a child run per trial, a grandchild per fold.

```
sweep run (parent)        tags: sweepkit.sweep, best_trial, best_params; metrics: best_<metric>, trial counts;
├── trial 0 (child)             artifacts: trials.csv, report.html, best_config.yaml, sweep.yaml
│   ├── trial 0 fold 0    params, the objective per step (its reported values), final metrics, duration,
│   └── ...               state (tag and run status: FINISHED, KILLED = pruned, FAILED); a fold's metrics
└── trial 1 ...
```

A resumed sweep finds its parent run by the tag `sweepkit.key` (the sweep's name, output folder and study
id, hashed), so every run of it, in any process, logs under one parent. Only `MlflowClient` is used, never
`mlflow.start_run`: the fluent API's active-run stack is global, and a trial running in this process may
use it for its own runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepkit.tracking import Note, TrackingError, sweep_key

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from sweepkit.results import SweepResult, TrialRecord
    from sweepkit.spec import MlflowSpec, Spec

INSTALL_HINT = "pip install 'sweepkit[mlflow]'"
MAX_PARAM_LENGTH = 6000  # MLflow's limit on one param value
MAX_TAG_LENGTH = 5000  # kept under MLflow's 8000 so a long error never rejects a whole batch
BATCH = 100  # log_batch takes at most 100 params and 1000 entities per call
ARTIFACTS = ("trials.csv", "report.html", "best_config.yaml", "sweep.yaml")

# Run statuses: a pruned trial was stopped on purpose (KILLED), a failed one crashed (FAILED).
_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAILED": "FAILED"}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def _ms(when: datetime | None) -> int | None:
    return int(when.timestamp() * 1000) if when is not None else None


def _key_name(name: str) -> str:
    """MLflow keys allow letters, digits, `_ - . / ` and spaces: anything else becomes `_`."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class MlflowTracker:
    """Mirrors a sweep into MLflow. Failures at the start raise `TrackingError`; later ones are the
    engine's to report (it notes them and goes on: the store already holds the trial)."""

    def __init__(self, config: MlflowSpec, *, note: Note | None = None) -> None:
        self.config = config
        self.note = note or _stderr
        self.client: MlflowClient | None = None
        self.experiment_id = ""
        self.parent_id = ""
        self.children: dict[int, str] = {}  # trial number → its child run, logged by any process
        self.metric = "value"
        self.sweep = ""
        self.uri = ""

    # -- sweep ----------------------------------------------------------------------------------------
    def sweep_started(self, spec: Spec, study: optuna.Study) -> None:
        try:
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException
        except ImportError:
            raise TrackingError(f"tracking.mlflow needs MLflow: {INSTALL_HINT}") from None
        # MlflowClient prints "View run ... at: <url>" on stdout for every run it ends on a server: once
        # per trial would bury the sweep's own display. MLflow reads this switch on each call.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.sweep, self.metric = spec.name, spec.metric.name
        uri = self.config.tracking_uri
        self._check_reachable(uri)
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.uri = str(self.client.tracking_uri)
            self.experiment_id = self._experiment(self.config.experiment or spec.name)
            self.parent_id = self._parent(spec, study)
            self.children = self._logged_children()
        except MlflowException as exc:
            raise TrackingError(f"MLflow at {self._where()}: {_first_line(exc)}") from None

    def _where(self) -> str:
        from sweepkit.store import redact

        return redact(self.uri or self.config.tracking_uri or "MLflow's default location")

    def _check_reachable(self, uri: str | None) -> None:
        """A server that is down: say so in seconds, not after MLflow's minutes of retries."""
        if not uri or not uri.startswith(("http://", "https://")):
            return
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10):
                pass
        except urllib.error.HTTPError:
            return  # it answers: a proxy path without /health is still a server
        except (OSError, ValueError) as exc:
            from sweepkit.store import redact

            reason = getattr(exc, "reason", exc)
            raise TrackingError(f"cannot reach the MLflow server at {redact(uri)}: {reason}") from None

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        assert self.client is not None
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return str(self.client.create_experiment(name))
            except MlflowException:  # another process of this sweep created it first
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            raise TrackingError(
                f'MLflow experiment "{name}" at {self._where()} is deleted: restore it in MLflow '
                "or set tracking.mlflow.experiment to another name"
            )
        return str(found.experiment_id)

    def _parent(self, spec: Spec, study: optuna.Study) -> str:
        assert self.client is not None
        key = sweep_key(spec, study)
        found = self._parents(key)
        if found:
            parent = found[0]
            if parent.info.status != "RUNNING":
                self.client.update_run(parent.info.run_id, status="RUNNING")
            return str(parent.info.run_id)
        tags = {
            "sweepkit.key": key,
            "sweepkit.role": "sweep",
            "sweepkit.sweep": spec.name,
            "sweepkit.output": str(spec.output),
            **{str(k): str(v) for k, v in self.config.tags.items()},
        }
        if spec.description:
            tags["mlflow.note.content"] = spec.description
        run = self.client.create_run(self.experiment_id, run_name=self.config.run_name or spec.name, tags=tags)
        from mlflow.entities import Param

        settings = {
            "metric": spec.metric.name,
            "goal": spec.metric.goal,
            "strategy": spec.strategy_name,
            "dialect": spec.dialect,
            "budget.trials": spec.budget.trials,
            "budget.steps": spec.budget.steps,
        }
        params = [Param(k, str(v)) for k, v in settings.items() if v is not None]
        self.client.log_batch(run.info.run_id, params=params)
        # Two processes starting the same sweep at once may both have created one: keep the oldest.
        found = self._parents(key)
        if found and found[0].info.run_id != run.info.run_id:
            self.client.delete_run(run.info.run_id)
            return str(found[0].info.run_id)
        return str(run.info.run_id)

    def _parents(self, key: str) -> list[Any]:
        assert self.client is not None
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`sweepkit.key` = '{key}'",
                order_by=["attributes.start_time ASC"],
                max_results=10,
            )
        )

    def _runs_under(self, parent: str, extra: str = "") -> list[Any]:
        assert self.client is not None
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`mlflow.parentRunId` = '{parent}'{extra}",
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _logged_children(self) -> dict[int, str]:
        children: dict[int, str] = {}
        for run in self._runs_under(self.parent_id, " and tags.`sweepkit.role` = 'trial'"):
            number = run.data.tags.get("sweepkit.trial", "")
            if number.isdigit():
                children[int(number)] = str(run.info.run_id)
        return children

    # -- trials ---------------------------------------------------------------------------------------
    def trial_finished(self, trial: optuna.trial.FrozenTrial, record: TrialRecord) -> None:
        if self.client is None:
            raise TrackingError("MlflowTracker.trial_finished called before sweep_started")
        if record.number in self.children or record.state not in _STATUS:
            return  # logged already (a resumed sweep), or never ran (infeasible)
        from mlflow.exceptions import MlflowException

        try:
            self.children[record.number] = self._log_trial(trial, record)
        except MlflowException as exc:
            raise TrackingError(f"MLflow at {self._where()}: {_first_line(exc)}") from None

    def _log_trial(self, trial: optuna.trial.FrozenTrial, record: TrialRecord) -> str:
        from mlflow.entities import Metric, Param

        from sweepkit.space import flatten

        assert self.client is not None
        start = _ms(record.start) or int(time.time() * 1000)
        end = _ms(record.end) or start
        tags = {
            "mlflow.parentRunId": self.parent_id,
            "sweepkit.role": "trial",
            "sweepkit.sweep": self.sweep,
            "sweepkit.trial": str(record.number),
            "sweepkit.state": record.state,
        }
        for name in ("reason", "error", "retry_of", "worker"):
            value = getattr(record, name)
            if value is not None:
                tags[f"sweepkit.{name}"] = str(value)[:MAX_TAG_LENGTH]
        if not record.feasible:  # it violated a constraint it reported: never the best
            tags["sweepkit.feasible"] = "false"
        run_id = str(
            self.client.create_run(
                self.experiment_id, start_time=start, tags=tags, run_name=f"trial {record.number}"
            ).info.run_id
        )
        params = [Param(_key_name(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in flatten(record.params).items()]
        steps = sorted(trial.intermediate_values.items())
        last_step = steps[-1][0] if steps else 0
        metrics = [Metric(_key_name(self.metric), float(v), end, int(s)) for s, v in steps if math.isfinite(v)]
        final: dict[str, float] = {}
        for name, value in record.metrics.items():
            number = _number(value)
            if number is not None:
                final[name] = number
        if record.value is not None:
            final[self.metric] = record.value
        if record.duration is not None:
            final["duration_seconds"] = record.duration
        for name, value in record.resources.items():
            number = _number(value)
            if number is not None:
                final[f"resources.{name}"] = number
        for name, value in record.constraints.items():  # constraints the trial reported: > 0 violated
            final[f"constraint.{name}"] = value
        # The final values come last at the last step: MLflow's "latest value" (the runs table) is theirs.
        metrics += [Metric(_key_name(k), v, end + 1, last_step) for k, v in final.items() if math.isfinite(v)]
        self._log_batch(run_id, params, metrics)
        self._log_folds(run_id, record, start, end)
        self.client.set_terminated(run_id, status=_STATUS[record.state], end_time=end)
        return run_id

    def _log_batch(self, run_id: str, params: list[Any], metrics: list[Any]) -> None:
        assert self.client is not None
        for i in range(0, len(params), BATCH):
            self.client.log_batch(run_id, params=params[i : i + BATCH])
        for i in range(0, len(metrics), 10 * BATCH):
            self.client.log_batch(run_id, metrics=metrics[i : i + 10 * BATCH])

    def _log_folds(self, run_id: str, record: TrialRecord, start: int, end: int) -> None:
        """A grandchild run per fold, when the trial has per-fold values (`<metric>_folds`, from a returned list
        or `trial.report_fold` / `run.report_fold`, and any other list metric of the same length: the Hydra +
        MLflow workflow's macro_f1, pos_f1, ... per fold, logged under their own names). A pruned trial's
        grandchildren are the folds it ran."""
        from mlflow.entities import Metric

        assert self.client is not None
        folds = record.metrics.get(f"{self.metric}_folds")
        if not isinstance(folds, list) or not folds:
            return
        per_fold = {self.metric: folds}
        for name, values in record.metrics.items():
            if isinstance(values, list) and len(values) == len(folds) and name != f"{self.metric}_folds":
                per_fold[name.removesuffix("_folds")] = values
        for i in range(len(folds)):
            tags = {
                "mlflow.parentRunId": run_id,
                "sweepkit.role": "fold",
                "sweepkit.sweep": self.sweep,
                "sweepkit.trial": str(record.number),
                "sweepkit.fold": str(i),
            }
            fold = self.client.create_run(
                self.experiment_id, start_time=start, tags=tags, run_name=f"trial {record.number} fold {i}"
            )
            metrics = []
            for name, values in per_fold.items():
                number = _number(values[i])
                if number is not None and math.isfinite(number):
                    metrics.append(Metric(_key_name(name), number, end, 0))
            self._log_batch(fold.info.run_id, [], metrics)
            self.client.set_terminated(fold.info.run_id, status="FINISHED", end_time=end)

    # -- the end --------------------------------------------------------------------------------------
    def sweep_finished(self, result: SweepResult) -> None:
        if self.client is None:
            raise TrackingError("MlflowTracker.sweep_finished called before sweep_started")
        from mlflow.exceptions import MlflowException

        try:
            self._finish(result)
        except MlflowException as exc:
            raise TrackingError(f"MLflow at {self._where()}: {_first_line(exc)}") from None

    def _finish(self, result: SweepResult) -> None:
        from mlflow.entities import Metric, RunTag

        assert self.client is not None
        counts = result.counts
        now = int(time.time() * 1000)
        finished = counts["COMPLETE"] + counts["PRUNED"] + counts["FAILED"]
        metrics = [Metric(f"trials_{state.lower()}", float(n), now, finished) for state, n in counts.items()]
        tags = [
            RunTag("sweepkit.strategy", result.strategy),
            RunTag("sweepkit.stop_reason", result.stop_reason[:MAX_TAG_LENGTH]),
        ]
        best = result.best_trial
        if best is not None and best.value is not None:
            metrics.append(Metric(_key_name(f"best_{result.metric}"), best.value, now, finished))
            tags += [
                RunTag("best_trial", str(best.number)),
                RunTag("best_value", repr(best.value)),
                RunTag("best_params", json.dumps(best.params, default=str)[:MAX_TAG_LENGTH]),
            ]
        self.client.log_batch(self.parent_id, metrics=metrics, tags=tags)
        if best is not None:
            self._mark_best(best.number)
        self._log_artifacts(result)
        status = "KILLED" if result.stop_reason.startswith("interrupted") else "FINISHED"
        self.client.set_terminated(self.parent_id, status=status)

    def _mark_best(self, number: int) -> None:
        """`sweepkit.best = true` on the best trial's run only (it moves when a resumed sweep finds a better one)."""
        assert self.client is not None
        best_run = self.children.get(number)
        if best_run is None:  # logged by another process of this sweep
            self.children.update(self._logged_children())
            best_run = self.children.get(number)
        for run in self._runs_under(self.parent_id, " and tags.`sweepkit.best` = 'true'"):
            if run.info.run_id != best_run:
                self.client.delete_tag(run.info.run_id, "sweepkit.best")
        if best_run is not None:
            self.client.set_tag(best_run, "sweepkit.best", "true")

    def _log_artifacts(self, result: SweepResult) -> None:
        assert self.client is not None
        for name in ARTIFACTS:
            path = Path(result.output) / name
            if path.is_file():
                self.client.log_artifact(self.parent_id, str(path))
            elif name == "trials.csv":  # the output folder is elsewhere (another machine): write it here
                from sweepkit.results import trials_csv

                with tempfile.TemporaryDirectory() as tmp:
                    made = Path(tmp) / name
                    made.write_text(trials_csv(result), encoding="utf-8")
                    self.client.log_artifact(self.parent_id, str(made))


__all__ = ["MlflowTracker"]

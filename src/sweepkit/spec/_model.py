"""The native sweep file's sections as pydantic models: one place that says what each key may hold."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from sweepkit._validation import plain as _plain
from sweepkit.errors import did_you_mean
from sweepkit.spec._layout import ALIASES, IGNORED, STRATEGY_ALIASES
from sweepkit.spec._names import label_problem
from sweepkit.spec._units import parse_duration

STRATEGIES = ("auto", "random", "grid", "tpe", "gp", "cmaes", "qmc", "nsga2", "bayes")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _no_bool(value: Any) -> Any:
    """pydantic's lax mode reads `true` as 1 where a number is expected: YAML's `yes` is not a count."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, found {str(value).lower()}")
    return value


class MetricSpec(_Section):
    """What the sweep optimizes: `name` is read from what a trial returns or reports.

    A list of `{name, goal}` (or Optuna's `directions:`, Ray's `mode: [min, max]` beside a list of names)
    is a multi-objective sweep: `objectives` holds each, and `name`/`goal` are the first one's, so code that
    needs one metric (progress, the target) reads the first. `combine`/`expr` derive the metric from
    others the trial gives (a weighted sum, or a sweepkit.expr expression): sweep/_objectives.py."""

    name: str = "value"
    goal: Literal["minimize", "maximize"] = "minimize"
    target: float | None = Field(default=None, allow_inf_nan=False)
    summary: Literal["last", "best", "mean_last_k"] = "last"
    last_k: int = Field(default=3, ge=1)
    fold_aggregation: Literal["mean", "median", "min", "max"] = "mean"
    combine: dict[str, float] | None = None  # {metric: weight}: the metric is their weighted sum
    expr: str | None = None  # the metric computed from others by a sweepkit.expr expression
    objectives: tuple[MetricSpec, ...] = ()  # two or more: a multi-objective sweep

    _numbers = field_validator("target", "last_k", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

    @model_validator(mode="before")
    @classmethod
    def _objective_list(cls, value: Any) -> Any:
        from sweepkit.spec._objectives import objective_list

        return objective_list(value)

    @model_validator(mode="after")
    def _consistent(self) -> MetricSpec:
        from sweepkit.spec._objectives import check_metric

        check_metric(self)
        return self

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"

    @property
    def multi(self) -> bool:
        """Two or more objectives: an Optuna multi-objective study, a Pareto front rather than one best."""
        return len(self.objectives) > 1

    @property
    def each(self) -> tuple[MetricSpec, ...]:
        """The objectives, in order: the metric itself when there is one."""
        return self.objectives or (self,)


class StrategySpec(BaseModel):
    """`name` picks the sampler; any other key is an option passed to it (checked when it is built)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "auto"
    seed: int | None = None

    _numbers = field_validator("seed", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        key = name.lower().replace("-", "").replace("_", "")
        if STRATEGY_ALIASES.get(key, key) not in STRATEGIES:
            raise _plain(
                f'unknown strategy "{name}"{did_you_mean(name, STRATEGIES)}; expected one of {", ".join(STRATEGIES)}'
            )
        return name

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BudgetSpec(_Section):
    trials: int | None = Field(default=None, ge=1)
    timeout: float | None = None
    max_failures: int | None = Field(default=None, ge=1)
    steps: int | None = Field(default=None, ge=1)

    _timeout = field_validator("timeout", mode="before")(classmethod(lambda cls, v: _duration(v)))
    _numbers = field_validator("trials", "max_failures", "steps", mode="before")(
        classmethod(lambda cls, v: _no_bool(v))
    )


class TrialSpec(_Section):
    """How one trial runs: a Python `function` ("module:callable"), or a `program` / `command`."""

    function: str | None = None
    program: str | None = None
    command: list[str] | None = None
    cwd: str | None = None
    timeout: float | None = None
    retries: int = Field(default=1, ge=0)  # a trial whose worker died runs again this many times

    _timeout = field_validator("timeout", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(part) if isinstance(part, int | float) else part for part in value]
        return value


BACKENDS = ("local", "ray")  # where trials run: on this machine, or as tasks on a Ray cluster (docs/ray.md)
_PER_TRIAL_KEYS = ("cpu", "gpu")


class ResourcesSpec(_Section):
    """Where trials run and how many at once. `gpus_per_trial` and `gpu_ids` are checked where the slots are
    planned (resources/gpus.py), which knows the machine's GPUs; an unknown key is a typo."""

    workers: int | None = Field(default=None, ge=1)
    gpus_per_trial: Any = None
    gpu_ids: Any = None
    backend: str | None = None
    ray_address: str | None = None  # `auto`, `host:port` of `ray start --head`, or `ray://host:10001`
    per_trial: dict[str, float] | None = None  # what one trial holds on Ray: {cpu, gpu}, fractions allowed

    _numbers = field_validator("workers", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        word = value.strip().lower() if isinstance(value, str) else value
        if word is not None and word not in BACKENDS:
            raise ValueError(f"expected one of {', '.join(BACKENDS)}, got {value!r}{did_you_mean(word, BACKENDS)}")
        return word

    @field_validator("ray_address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"expected a Ray address such as auto, 10.0.0.5:6379 or ray://head:10001, got {value!r}")
        return value.strip() if isinstance(value, str) else value

    @field_validator("per_trial", mode="before")
    @classmethod
    def _per_trial(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping such as {{cpu: 2, gpu: 1}}, found {type(value).__name__}")
        amounts: dict[str, float] = {}
        for key, amount in value.items():
            name = key.strip().lower() if isinstance(key, str) else key  # Ray itself writes CPU, GPU
            if name not in _PER_TRIAL_KEYS:
                raise ValueError(f'unknown key "{key}"{did_you_mean(name, _PER_TRIAL_KEYS)}; expected cpu, gpu')
            number = amount if isinstance(amount, int | float) and not isinstance(amount, bool) else None
            if number is None or not 0 <= number < float("inf"):
                raise ValueError(f"{key}: expected a number of {name.upper()}s ≥ 0 (fractions allowed), got {amount!r}")
            amounts[name] = float(number)
        return amounts


class MlflowSpec(_Section):
    """`tracking.mlflow` (the Hydra + MLflow workflow's `mlflow:`): a parent run per sweep, a child run per trial."""

    enabled: bool = False
    tracking_uri: str | None = Field(default=None, validation_alias=AliasChoices("tracking_uri", "uri"))
    experiment: str | None = Field(default=None, validation_alias=AliasChoices("experiment", "experiment_name"))
    run_name: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)  # written as text: `version: 2` is the tag "2"


class WandbSpec(_Section):
    """`tracking.wandb` (`hyperopt:` and W&B workflows): a W&B run per trial, offline unless `mode: online`."""

    enabled: bool = False
    project: str | None = None
    entity: str | None = None
    group: str | None = None
    tags: list[str] = Field(default_factory=list)
    mode: Literal["offline", "online", "disabled"] = "offline"
    dir: str | None = None


class TrackingSpec(_Section):
    """Where trials are copied for people to browse (the store stays the record). `mlflow: true` or a
    mapping turns a tracker on; `enabled: false` inside the mapping turns it off again."""

    mlflow: MlflowSpec = MlflowSpec()
    wandb: WandbSpec = WandbSpec()

    @model_validator(mode="before")
    @classmethod
    def _switches(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for key in ("mlflow", "wandb"):
            section = out.get(key)
            if isinstance(section, bool) or section is None:
                out[key] = {"enabled": bool(section)}
            elif isinstance(section, dict):
                out[key] = {"enabled": True, **section}
        return out


KEEP = ("all", "best", "top_k")
DEFAULT_KEEP_K = 3


class CheckpointsSpec(_Section):
    """`checkpoints:` whose checkpoint folders stay as the sweep goes (results/_checkpoints.py): `all` (the
    default), the `best` trial's, or the `top_k` complete trials' (`k`, 3 unless given)."""

    keep: str = "all"
    k: int | None = Field(default=None, ge=1)

    @field_validator("keep", mode="before")
    @classmethod
    def _keep(cls, value: Any) -> Any:
        word = value.strip().lower().replace("-", "_") if isinstance(value, str) else value
        word = "top_k" if word == "topk" else word
        if word not in KEEP:
            shown = value if isinstance(value, str) else repr(value)
            raise ValueError(f'expected one of {", ".join(KEEP)}, got "{shown}"{did_you_mean(str(word), KEEP)}')
        return word

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: Any, info: Any) -> Any:
        value = _no_bool(value)
        keep = info.data.get("keep")
        if value is not None and keep is not None and keep != "top_k":
            kept = "one folder" if keep == "best" else "every folder"
            raise ValueError(f"k goes with keep: top_k (keep: {keep} keeps {kept})")
        return value

    @property
    def count(self) -> int:
        """How many complete trials' folders stay (`all`: not used)."""
        return 1 if self.keep == "best" else self.k or DEFAULT_KEEP_K


NOTIFY_EVENTS = ("finish", "failure", "interrupted")


class NotifySpec(_Section):
    """`notify:` when a sweep ends (`on`), run an argv `command` (no shell) with its summary as JSON on stdin,
    and POST the same JSON to `webhook` (sweep/_notify.py). A failed notification is a warning, never fatal."""

    on: list[str] = Field(default_factory=lambda: ["finish", "failure"])
    command: list[str] | None = None
    webhook: str | None = None
    timeout: float = 30.0

    _timeout = field_validator("timeout", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, value: Any) -> Any:
        words = [value] if isinstance(value, str) else value
        if not isinstance(words, list) or not words:
            raise ValueError(f"expected a list of events from {', '.join(NOTIFY_EVENTS)}, e.g. [finish, failure]")
        out = []
        for word in words:
            event = word.strip().lower() if isinstance(word, str) else word
            if event not in NOTIFY_EVENTS:
                hint = did_you_mean(str(event), NOTIFY_EVENTS)
                raise ValueError(f'unknown event "{word}"{hint}; expected {", ".join(NOTIFY_EVENTS)}')
            out.append(event)
        return out

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                f'expected a list of words (it runs without a shell), e.g. ["notify-send", "sweep done"], got "{value}"'
            )
        if isinstance(value, list):
            if not value:
                raise ValueError("expected a program to run, found an empty list")
            return [str(part) if isinstance(part, int | float) else part for part in value]
        return value

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook(cls, value: Any) -> Any:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip()) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.strip()

    @model_validator(mode="after")
    def _something_to_do(self) -> NotifySpec:
        if not self.command and not self.webhook:
            raise ValueError("notify needs a command (a list of words) or a webhook (a URL), or both")
        return self


class SpecModel(_Section):
    """The sweep file in the native shape (`_layout` lays every dialect out so), every section typed."""

    other_keys: ClassVar[tuple[str, ...]] = (*ALIASES, *sorted(IGNORED))  # an unknown key's did-you-mean

    name: str | None = Field(default=None, min_length=1)  # a label (any text): `_names` makes the store's name
    description: str | None = None
    trial: TrialSpec = TrialSpec()
    metric: MetricSpec = MetricSpec()
    strategy: StrategySpec = StrategySpec()
    budget: BudgetSpec = BudgetSpec()
    storage: str | None = None
    output: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    # Accepted here, used by early stopping and scale-out.
    pruner: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    early_terminate: dict[str, Any] | None = None
    resources: ResourcesSpec | None = None
    tracking: TrackingSpec = TrackingSpec()  # MLflow / W&B copies of each trial (sweepkit.tracking)
    checkpoints: CheckpointsSpec | None = None  # which trials' checkpoint folders are kept
    notify: NotifySpec | None = None  # a command and/or a webhook when the sweep ends

    @field_validator("name")
    @classmethod
    def _label(cls, label: str | None) -> str | None:
        problem = None if label is None else label_problem(label)
        if problem is not None:
            raise _plain(problem)
        return label


SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "": tuple(SpecModel.model_fields),
    "trial": tuple(TrialSpec.model_fields),
    "metric": tuple(MetricSpec.model_fields),
    "budget": tuple(BudgetSpec.model_fields),
}

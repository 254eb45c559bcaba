"""The native sweep file's sections as pydantic models: one place that says what each key may hold."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sweepkit.spec._units import parse_duration


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
    """What the sweep optimizes: `name` is read from what a trial returns or reports."""

    name: str = "value"
    goal: Literal["minimize", "maximize"] = "minimize"
    target: float | None = None
    summary: Literal["last", "best", "mean_last_k"] = "last"
    last_k: int = Field(default=3, ge=1)
    fold_aggregation: Literal["mean", "median", "min", "max"] = "mean"

    _numbers = field_validator("target", "last_k", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


class StrategySpec(BaseModel):
    """`name` picks the sampler; any other key is an option passed to it (checked when it is built)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "auto"
    seed: int | None = None

    _numbers = field_validator("seed", mode="before")(classmethod(lambda cls, v: _no_bool(v)))

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

    _timeout = field_validator("timeout", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(part) if isinstance(part, int | float) else part for part in value]
        return value


class SpecModel(_Section):
    name: str | None = Field(default=None, min_length=1)
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
    resources: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and (value.strip() != value or "/" in value or value.startswith(".")):
            raise ValueError("a sweep name may not start with '.', contain '/', or start/end with spaces")
        return value


SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "": tuple(SpecModel.model_fields),
    "trial": tuple(TrialSpec.model_fields),
    "metric": tuple(MetricSpec.model_fields),
    "budget": tuple(BudgetSpec.model_fields),
}

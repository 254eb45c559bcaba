"""The early-stopping sections as pydantic models, one per kind: a `pruner:` of each Optuna type (its fields are the
Optuna class's arguments, by Optuna's names and defaults), a Ray Tune `scheduler:`, W&B's `early_terminate:`.

Each says which keys it takes, what each may hold, and how they must agree; what needs the sweep itself (its steps
per trial, its goal) comes in pydantic's validation context. `sweepkit._validation` turns the first error into a
SpecError at the key path the user wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sweepkit._validation import plain, validation_error
from sweepkit.errors import did_you_mean
from sweepkit.pruner._common import Where, num, word
from sweepkit.pruner._wandb import bands_from


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return repr(value)
    return f"a {type(value).__name__}"


def _count(value: Any, minimum: int) -> int:
    """A count of at least `minimum`. YAML's `true` is not a count, and `10.0` is 10 (JSON writers emit it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected an integer, found {_found(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected an integer, found {value:g}")
        value = int(value)
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value


def _integer(minimum: int, *, optional: bool = False) -> BeforeValidator:
    return BeforeValidator(lambda value: None if value is None and optional else _count(value, minimum))


def _number(minimum: float | None = None, maximum: float | None = None, *, optional: bool = False) -> BeforeValidator:
    def check(value: Any) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"expected a number, found {_found(value)}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum:g}, got {value:g}")
        return float(value)

    return BeforeValidator(check)


def _steps_or_auto(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        raise ValueError(f'expected a number of steps or "auto", found {value!r}')
    return _count(value, 1)


Count = Annotated[int, _integer(0)]
Positive = Annotated[int, _integer(1)]
Factor = Annotated[int, _integer(2)]
# Optuna's min_resource / max_resource: a number of steps, or "auto" (Optuna measures it from the first trial).
StepsOrAuto = Annotated[int | str, BeforeValidator(_steps_or_auto)]
Probability = Annotated[float, _number(0.0, 1.0)]


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context or {}


class Options(BaseModel):
    """A section's options. Not frozen: a model validator fills a default that comes from the sweep's steps."""

    model_config = ConfigDict(extra="forbid")

    kind: ClassVar[str] = ""  # "pruner median", "scheduler asha": how errors name it

    @classmethod
    def unknown_key(cls, key: str) -> str:
        accepted = list(cls.model_fields)
        hint = did_you_mean(key, accepted) or (f"; {cls.kind} accepts: {', '.join(accepted)}" if accepted else "")
        return f'unknown option "{key}" for {cls.kind}{hint}'

    def given(self) -> dict[str, Any]:
        """The options the file set (and the defaults the sweep's steps set): Optuna's own defaults stand for
        the rest."""
        return {name: getattr(self, name) for name in type(self).model_fields if name in self.model_fields_set}


M = TypeVar("M", bound=BaseModel)


def check(model: type[M], section: Mapping[str, Any], where: Where, prefix: str, **context: Any) -> M:
    """`section` as `model`, or the SpecError naming the key at fault."""
    try:
        return model.model_validate(dict(section), context=context)
    except ValidationError as exc:
        raise validation_error(exc, model, file=where.file, key=where.key, prefix=prefix) from None


def _section(value: Any) -> Any:
    """An empty section asks for nothing; anything but a mapping is a mistake."""
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping such as {{type: ...}}, found {type(value).__name__}")
    return dict(value)


Section = Annotated[dict[str, Any] | None, BeforeValidator(_section)]


class EarlyStopping(BaseModel):
    """The sections that can set early stopping, and the one that does (`source`, None for none).

    `hyperopt:` sections set both `optuna_pruner` (→ pruner) and `asha_*` (→ scheduler), and its strategy word
    (context `strategy`) says which applies: combined and asha stop trials with ASHA, optuna with the Optuna
    pruner. Any other pair is a contradiction the user must settle."""

    model_config = ConfigDict(extra="forbid")

    pruner: Section = None
    scheduler: Section = None
    early_terminate: Section = None
    _source: str | None = PrivateAttr(default=None)

    @property
    def given(self) -> dict[str, dict[str, Any]]:
        return {name: value for name in type(self).model_fields if (value := getattr(self, name)) is not None}

    @property
    def source(self) -> str | None:
        return self._source

    @model_validator(mode="after")
    def _one(self, info: ValidationInfo) -> EarlyStopping:
        names = list(self.given)
        family = word(_context(info).get("strategy", ""))
        if len(names) <= 1:
            self._source = names[0] if names else None
        elif set(names) == {"pruner", "scheduler"} and family in ("combined", "asha", "optuna"):
            self._source = "pruner" if family == "optuna" else "scheduler"
        else:
            hint = (
                ""
                if "early_terminate" in names
                else " (or strategy: combined or asha for the scheduler, optuna for the pruner)"
            )
            raise plain(f"{' and '.join(names)} both set early stopping; keep one{hint}", at=names[1])
        return self


# ---------------------------------------------------------------------------------------------------------------
# Native / Optuna style: pruner: {type: median, n_startup_trials: 5, ...}


class NoneOptions(Options):
    kind: ClassVar[str] = "pruner none"


class MedianOptions(Options):
    kind: ClassVar[str] = "pruner median"

    n_startup_trials: Count = 5
    n_warmup_steps: Count = 0
    interval_steps: Positive = 1
    n_min_trials: Positive = 1


class PercentileOptions(MedianOptions):
    kind: ClassVar[str] = "pruner percentile"

    percentile: Annotated[float | None, _number(0.0, 100.0)] = None  # required (no Optuna default)

    @model_validator(mode="after")
    def _needs(self) -> PercentileOptions:
        if self.percentile is None:
            raise plain("the percentile pruner needs `percentile` (0-100: keep the best that %)")
        return self


class SuccessiveHalvingOptions(Options):
    kind: ClassVar[str] = "pruner successive_halving"

    min_resource: StepsOrAuto = "auto"
    reduction_factor: Factor = 4
    min_early_stopping_rate: Count = 0
    bootstrap_count: Count = 0

    @model_validator(mode="after")
    def _first_rung(self, info: ValidationInfo) -> SuccessiveHalvingOptions:
        """No min_resource: 1% of the sweep's steps per trial when known, else Optuna's `auto` (1% of the first
        finished trial's)."""
        if "min_resource" not in self.model_fields_set:
            steps = _context(info).get("max_steps")
            self.min_resource = max(1, steps // 100) if steps else "auto"
        if self.bootstrap_count > 0 and self.min_resource == "auto":
            raise plain("bootstrap_count needs a min_resource (a number of steps), not auto")
        return self


class HyperbandOptions(Options):
    kind: ClassVar[str] = "pruner hyperband"

    min_resource: Positive = 1
    max_resource: StepsOrAuto = "auto"
    reduction_factor: Factor = 3
    bootstrap_count: Count = 0

    @model_validator(mode="after")
    def _brackets(self, info: ValidationInfo) -> HyperbandOptions:
        """No max_resource: the sweep's steps per trial when known, else Optuna's `auto`."""
        given = "max_resource" in self.model_fields_set
        if not given:
            self.max_resource = _context(info).get("max_steps") or "auto"
        if self.bootstrap_count > 0 and self.max_resource == "auto":
            raise plain("bootstrap_count needs a max_resource (a number of steps), not auto")
        low, high = self.min_resource, self.max_resource
        if isinstance(high, int) and high < low:
            what = f"max_resource {high}" if given else f"the sweep's {high} steps per trial (budget.steps)"
            raise plain(f"min_resource {low} is more than {what}", at="min_resource")
        return self


class ThresholdOptions(Options):
    kind: ClassVar[str] = "pruner threshold"

    lower: Annotated[float | None, _number(optional=True)] = None
    upper: Annotated[float | None, _number(optional=True)] = None
    n_warmup_steps: Count = 0
    interval_steps: Positive = 1

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdOptions:
        low, high = self.lower, self.upper
        if low is None and high is None:
            raise plain("the threshold pruner needs `lower`, `upper` or both")
        if low is not None and high is not None and low > high:
            raise plain(f"lower {num(low)} is above upper {num(high)}", at="lower")
        return self


def _pruner_section(value: Any) -> Any:
    """`wrapped: median` is `wrapped: {type: median}`."""
    if isinstance(value, str):
        return {"type": value}
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"expected a pruner such as {{type: median}}, found {type(value).__name__}")
    return value


class PatientOptions(Options):
    kind: ClassVar[str] = "pruner patient"

    # Checked as a pruner section of its own (`native(..., prefix="pruner.wrapped")`).
    wrapped: Annotated[dict[str, Any] | None, BeforeValidator(_pruner_section)] = Field(
        default=None, validation_alias=AliasChoices("wrapped", "wrapped_pruner")
    )
    patience: Annotated[int | None, _integer(0)] = None  # required (no Optuna default)
    min_delta: Annotated[float, _number(0.0)] = 0.0

    @model_validator(mode="after")
    def _needs(self) -> PatientOptions:
        if self.patience is None:
            raise plain("the patient pruner needs `patience` (steps without improvement)")
        return self


class WilcoxonOptions(Options):
    kind: ClassVar[str] = "pruner wilcoxon"

    p_threshold: Probability = 0.1
    n_startup_steps: Count = 2


PRUNER_OPTIONS: dict[str, type[Options]] = {
    "none": NoneOptions,
    "median": MedianOptions,
    "percentile": PercentileOptions,
    "hyperband": HyperbandOptions,
    "successive_halving": SuccessiveHalvingOptions,
    "threshold": ThresholdOptions,
    "patient": PatientOptions,
    "wilcoxon": WilcoxonOptions,
}


# ---------------------------------------------------------------------------------------------------------------
# Ray Tune style: scheduler: {type: asha, max_t, grace_period, reduction_factor, brackets}

# ray.tune.schedulers.AsyncHyperBandScheduler / ASHAScheduler and HyperBandScheduler defaults (docs.ray.io).
TIME_ATTRS = ("training_iteration", "step", "steps", "epoch", "epochs", "iteration")


class FifoOptions(Options):
    kind: ClassVar[str] = "scheduler fifo"

    type: Any = None  # read before the model is picked
    time_attr: Any = None
    metric: Any = None  # noted: the pruner watches the sweep's metric
    mode: Any = None

    @field_validator("time_attr")
    @classmethod
    def _steps(cls, attr: Any) -> Any:
        if attr is not None and str(attr) not in TIME_ATTRS:
            raise plain(
                f'time_attr "{attr}" is not supported: sweepkit measures progress in reported steps '
                "(time_attr: training_iteration)"
            )
        return attr

    @field_validator("mode")
    @classmethod
    def _goal(cls, mode: Any, info: ValidationInfo) -> Any:
        if mode is None:
            return None
        goal = str(mode).strip().lower()
        if goal not in ("min", "max", "minimize", "maximize"):
            raise plain(f'mode must be min or max, got "{mode}"')
        maximize = bool(_context(info).get("maximize"))
        if goal.startswith("max") != maximize:
            sweep = "maximize" if maximize else "minimize"
            raise plain(f"scheduler.mode {mode} disagrees with the sweep's goal ({sweep})")
        return mode


class RayHyperbandOptions(FifoOptions):
    kind: ClassVar[str] = "scheduler hyperband"
    default_max_t: ClassVar[int] = 81
    # Ray's HyperBand has no rung below max_t once grace_period passes it; ASHA's rungs merely go unreached.
    grace_beyond_top: ClassVar[bool] = False

    max_t: Annotated[int | None, _integer(1, optional=True)] = None
    grace_period: Positive = 1
    reduction_factor: Factor = 3
    stop_last_trials: Any = None  # noted: trials run to their own end

    def top(self, max_steps: int | None) -> int:
        """The last rung: max_t, else the sweep's steps per trial, else Ray's default."""
        return self.max_t if self.max_t is not None else max_steps or self.default_max_t

    @model_validator(mode="after")
    def _grace(self, info: ValidationInfo) -> RayHyperbandOptions:
        steps = _context(info).get("max_steps")
        top = self.top(steps)
        if self.grace_period > top and (self.max_t is not None or not self.grace_beyond_top):
            if self.max_t is not None:
                what = f"max_t {top}"
            else:
                what = f"the sweep's {top} steps per trial" if steps else f"Ray's default max_t {top}"
            raise plain(f"grace_period {self.grace_period} is more than {what}", at="grace_period")
        return self


class RayAshaOptions(RayHyperbandOptions):
    kind: ClassVar[str] = "scheduler asha"
    default_max_t: ClassVar[int] = 100
    grace_beyond_top: ClassVar[bool] = True

    reduction_factor: Factor = 4
    brackets: Positive = 1


SCHEDULER_OPTIONS: dict[str, type[FifoOptions]] = {
    "asha": RayAshaOptions,
    "hyperband": RayHyperbandOptions,
    "fifo": FifoOptions,
}


# ---------------------------------------------------------------------------------------------------------------
# W&B: early_terminate: {type: hyperband, min_iter | max_iter and s, eta, strict}

WANDB_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")


def _strict(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, found {value!r}")
    return value


class EarlyTerminate(BaseModel):
    """W&B's schema for `early_terminate`, plus what W&B would crash or loop on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Any = None
    min_iter: Annotated[int | None, _integer(1, optional=True)] = None
    max_iter: Annotated[int | None, _integer(1, optional=True)] = None
    s: Annotated[int | None, _integer(1, optional=True)] = None
    eta: Annotated[float, _number()] = 3.0
    strict: Annotated[bool, BeforeValidator(_strict)] = True

    @classmethod
    def unknown_key(cls, key: str) -> str:
        return (
            f'unknown key "{key}" in early_terminate{did_you_mean(key, WANDB_KEYS)}; '
            f"W&B's hyperband takes {', '.join(WANDB_KEYS)}"
        )

    @field_validator("type")
    @classmethod
    def _hyperband(cls, kind: Any) -> Any:
        if kind is not None and str(kind).strip().lower() != "hyperband":
            raise plain(
                f'unknown early_terminate type "{kind}"{did_you_mean(str(kind).lower(), ["hyperband"])}; '
                "W&B's only kind is hyperband"
            )
        return kind

    @field_validator("eta")
    @classmethod
    def _keeps_some(cls, eta: float) -> float:
        if eta <= 1:
            raise plain(f"eta must be more than 1 (W&B keeps the best 1/eta), got {eta:g}")
        return eta

    @model_validator(mode="after")
    def _bands(self) -> EarlyTerminate:
        if self.type is None:
            raise plain("early_terminate needs a type: hyperband (W&B's only kind)")
        if self.min_iter is None and self.max_iter is None:
            raise plain("W&B's hyperband needs min_iter, or max_iter and s")
        if self.min_iter is not None and self.max_iter is not None and self.min_iter > self.max_iter:
            raise plain(f"min_iter {self.min_iter} is more than max_iter {self.max_iter}", at="min_iter")
        if self.max_iter is not None and self.s is None:
            raise plain("max_iter needs s, the number of bands below it (W&B's schema)", at="s")
        if not self.bands:
            raise plain(
                f"max_iter {self.max_iter} / eta {self.eta:g} is below 1: no band to stop runs at; raise max_iter, "
                "or lower eta",
                at="max_iter",
            )
        return self

    @property
    def bands(self) -> list[int]:
        return bands_from(self.min_iter, self.max_iter, self.s, self.eta)

    @property
    def from_max_iter(self) -> bool:
        return self.max_iter is not None

    @property
    def notes(self) -> list[str]:
        """Settings W&B reads but ignores with the others given."""
        if self.min_iter is not None and self.max_iter is not None:
            return [f"early_terminate.min_iter {self.min_iter} is ignored: W&B uses max_iter and s when both are given"]
        if self.max_iter is None and self.s is not None:
            return [f"early_terminate.s {self.s} is ignored with min_iter, as W&B does: bands are min_iter·eta^k"]
        return []

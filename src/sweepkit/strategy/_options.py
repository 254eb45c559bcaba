"""A strategy's options as a pydantic model built from its sampler's constructor: one field per argument, typed by
Optuna's own annotation (strict: YAML's `yes` is not a number, `1.5` not a count), so a bad value fails when the
sweep file is read rather than when the sampler's model first runs (after n_startup_trials)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WrapValidator, create_model
from pydantic_core import ErrorDetails

from sweepkit._validation import plain
from sweepkit.errors import did_you_mean

# Optuna's annotations (strings: its modules postpone them) a sweep file can write; any other names a Python object.
_TYPES: dict[str, Any] = {"int": int, "float": float, "bool": bool, "str": str, "dict[str, Any]": dict[str, Any]}
# Options Optuna takes as counts or sizes; it checks none of them until its model first runs (after
# n_startup_trials), so `n_ei_candidates: 0` would fail the sweep's 11th trial. The least each may be.
_BOUNDS: dict[str, dict[str, float]] = {
    "n_ei_candidates": {"ge": 1},
    "n_startup_trials": {"ge": 0},
    "popsize": {"ge": 1},
    "prior_weight": {"ge": 1e-12},  # "must be > 0", in effect
    "sigma0": {"ge": 1e-12},
}
# pydantic's error types, in our words ("expected a whole number, got 1.5").
_EXPECTED = {
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected bool",
    "string_type": "expected str",
    "dict_type": "expected a mapping",
    "finite_number": "expected a finite number",
}


class SamplerOptions(BaseModel):
    """The options of one sampler (`strategy` names it); a subclass per sampler is made by `options_model`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    strategy: ClassVar[str] = ""

    @classmethod
    def unknown_key(cls, key: str) -> str:
        accepted = list(cls.model_fields)
        hint = did_you_mean(key, accepted) or f"; {cls.strategy} accepts: {', '.join(accepted) or 'no options'}"
        return f'unknown option "{key}" for strategy {cls.strategy}{hint}'


def _problem(error: ErrorDetails, value: Any) -> str:
    if value is None:
        return "can't be null"
    bound = error.get("ctx") or {}
    if error["type"] == "greater_than_equal":
        least = bound["ge"]
        return (
            f"must be at least {least:g}, got {value!r}" if least >= 1 or least == 0 else f"must be > 0, got {value!r}"
        )
    return f"{_EXPECTED.get(error['type'], error['msg'])}, got {value!r}"


def _worded(strategy: str, key: str) -> WrapValidator:
    """pydantic's check of the option, its error said as `strategy tpe: n_ei_candidates must be at least 1, ...`."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            raise plain(f"strategy {strategy}: {key} {_problem(exc.errors()[0], value)}") from None

    return WrapValidator(check)


def _python_object(strategy: str, key: str, text: str) -> BeforeValidator:
    """An option only Python can give (a function, a sampler): a file has nothing to write there, not even null."""

    def refuse(value: Any) -> Any:
        raise plain(
            f"strategy {strategy}: {key} takes a Python object ({text}), which a sweep file can't give: "
            "set it from Python, or leave it out"
        )

    return BeforeValidator(refuse)


def _field(strategy: str, key: str, param: inspect.Parameter) -> tuple[Any, Any]:
    default = None if param.default is inspect.Parameter.empty else param.default
    if param.annotation is inspect.Parameter.empty:
        return Any, default
    annotation = param.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [part.strip() for part in text.split(" | ")]
    kinds = [part for part in parts if part != "None"]
    if not kinds or any(kind not in _TYPES for kind in kinds):
        return Annotated[Any, _python_object(strategy, key, text)], default
    types = [_TYPES[kind] for kind in kinds] + ([type(None)] if "None" in parts else [])
    constraints: dict[str, Any] = {**_BOUNDS.get(key, {})}
    if float in types:
        constraints["allow_inf_nan"] = False
    return (
        Annotated[Union[tuple(types)], _worded(strategy, key)],  # noqa: UP007 - built from a list
        Field(default=default, **constraints),
    )


@functools.cache
def options_model(strategy: str, sampler: Callable[..., Any]) -> type[SamplerOptions]:
    """The model of `sampler`'s options: every constructor argument but `seed` (the strategy's own key)."""
    params = {key: p for key, p in inspect.signature(sampler).parameters.items() if key != "seed"}
    fields: dict[str, Any] = {key: _field(strategy, key, param) for key, param in params.items()}
    model = create_model(f"{strategy}_options", __base__=SamplerOptions, **fields)
    model.strategy = strategy
    return model

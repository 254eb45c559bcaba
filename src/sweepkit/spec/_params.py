"""A sweep file's `parameters` entries → `Parameter` objects, whichever dialect wrote them.

Four dialects meet here, and a native file may mix them entry by entry:

* W&B: `distribution:` plus `min`/`max`/`values`/`value`/`mu`/`sigma`/`a`/`b`/`q`/`probabilities`, or no
  `distribution` at all (then it is inferred the way W&B's schema does), and nested `parameters:` sections;
* Optuna / Ray Tune / hyperopt: `type:` plus `low`/`high` (or `min`/`max`, `lower`/`upper`), `log`, `step`,
  `choices`, `q`, `mu`/`mean`, `sigma`/`sd`, `value`;
* NNI: `_type:` plus `_value:` (a list), including nested choices whose options carry `_name`;
* native shorthands: a list is a choice, a scalar a constant, and any mapping may add `when:` (a condition),
  `expr:` (a derived value) and `description:`/`desc:`.

Each form keeps its own tool's sampling semantics exactly (W&B's `log_uniform` bounds are exponents,
Ray's `randint` excludes its upper bound, NNI's `quniform` clips, ...). Every problem is a `SpecError` whose
`key` is the full dotted path of the offending field, so an editor can point at it.

The parse runs in two passes: first the structure is flattened to one leaf per parameter (that fixes every
name, nested ones included), then each leaf is built, so `when`/`expr` may name parameters declared later.
A mapping leaf is read by the pydantic model of its family (`_WANDB`, `_OPTUNA`, `_NNI`, `_Derived`): the
model declares the keys it takes, their types and bounds, as the sweep file's sections do (spec/_model.py).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from sweepkit._validation import error_loc, error_message, plain
from sweepkit.errors import SpecError, did_you_mean
from sweepkit.expr import ExprError, compile_expr
from sweepkit.space import Choice, Constant, Derived, Float, Int, Parameter, Quantile, Quantized

__all__ = ["AllOf", "ChoiceIs", "parse_parameter", "parse_parameters"]

# Keys any parameter mapping may carry, whatever its dialect.
_EXTRAS = ("when", "description", "desc")
# The key that names the distribution, in each dialect (W&B, Optuna/Ray, NNI).
_MARKERS = ("distribution", "type", "_type")
# Probabilities of a weighted choice must sum to 1 within this.
_PROB_TOLERANCE = 1e-6

# Keys that mark a W&B entry when no marker names its distribution.
_WANDB_KEYS = ("distribution", "min", "max", "values", "value", "probabilities", "q", "mu", "sigma", "a", "b")
# Other tools' names for W&B distributions, for a better hint than difflib's.
_WANDB_HINTS = {
    "loguniform": 'W&B spells it "log_uniform_values" (min/max are values; "log_uniform" takes exponents)',
    "log": 'W&B spells it "log_uniform_values" (min/max are values; "log_uniform" takes exponents)',
    "float": 'W&B spells it "uniform"',
    "int": 'W&B spells it "int_uniform"',
    "integer": 'W&B spells it "int_uniform"',
    "randint": 'W&B spells it "int_uniform" (both bounds inclusive)',
    "choice": 'W&B spells it "categorical"',
    "quniform": 'W&B spells it "q_uniform"',
    "qloguniform": 'W&B spells it "q_log_uniform_values"',
    "lognormal": 'W&B spells it "log_normal"',
    "qnormal": 'W&B spells it "q_normal"',
    "qlognormal": 'W&B spells it "q_log_normal"',
}

_OPTUNA_ONLY_KEYS = ("low", "high", "lower", "upper", "choices", "step", "log", "mean", "sd")

_ALL_KEYS = frozenset((*_EXTRAS, "expr", "type", "_type", "_value", "parameters", *_WANDB_KEYS, *_OPTUNA_ONLY_KEYS))


# --------------------------------------------------------------------------------------------------------
# Conditions that are not user expressions


@dataclass(frozen=True)
class ChoiceIs:
    """`<name>._name` is one of `options`: the condition on an NNI nested choice's sub-parameters.

    User expressions may not name anything starting with "_", so this small stand-in has the same duck-typed
    interface as `Expr` (`text`, `names`, `evaluate`). Frozen and plain, so it pickles to worker processes.
    """

    name: str
    options: tuple[str, ...]

    @property
    def text(self) -> str:
        if len(self.options) == 1:
            return f"{self.name} == {self.options[0]!r}"
        return f"{self.name} in {list(self.options)!r}"

    @property
    def names(self) -> frozenset[str]:
        return frozenset({self.name})

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        return self.name in env and env[self.name] in self.options


@dataclass(frozen=True)
class AllOf:
    """Every part holds: a nested section's `when` together with its children's own conditions."""

    parts: tuple[Any, ...]

    @property
    def text(self) -> str:
        return " and ".join(f"({part.text})" for part in self.parts)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(part.names for part in self.parts))

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        return all(bool(part.evaluate(env)) for part in self.parts)


# --------------------------------------------------------------------------------------------------------
# Small helpers


@dataclass(frozen=True)
class _PendingWhen:
    """A nested section's `when`, compiled only once every parameter name is known."""

    text: Any
    key: str


@dataclass(frozen=True)
class _Leaf:
    """One parameter found by the first pass: its full name, where it was written, and what it inherits."""

    name: str
    key: str
    raw: Any
    inherited: tuple[Any, ...] = ()  # _PendingWhen or ChoiceIs, outermost first
    path: tuple[str, ...] = ()  # the keys nesting it in the trial's params; () for a top-level entry
    options: tuple[str, ...] | None = None  # set for the `<name>._name` choice of an NNI nested choice


@dataclass
class _Ctx:
    file: str | None
    names: frozenset[str] | None = None  # what `when`/`expr` may read; None: not checked

    def error(self, message: str, key: str) -> SpecError:
        return SpecError(message, file=self.file, key=key or None)


def _join(key: str, part: str) -> str:
    return f"{key}.{part}" if key and part else key or part


def _what(value: Any) -> str:
    """How a found value is named in messages: its YAML kind and, when short, the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, numbers.Number):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _int_like(value: Any) -> bool:
    """Whether a bound reads as an integer (W&B infers int_uniform when both bounds are)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    if isinstance(value, str):
        try:
            int(value.strip())
        except ValueError:
            return False
        return True
    return False


def _check_name(ctx: _Ctx, name: Any, key: str) -> str:
    """A dotted name (`model.n_layers`) is allowed and is one key, as in W&B (see `Parameter.path`)."""
    if not isinstance(name, str):
        raise ctx.error(f"parameter names must be strings, found {_what(name)}", key)
    if not name:
        raise ctx.error("parameter names cannot be empty", key)
    if any(ch.isspace() for ch in name):
        raise ctx.error(f'parameter name "{name}" contains whitespace', key)
    return name


# --------------------------------------------------------------------------------------------------------
# First pass: structure → leaves


def _is_nni_nested(raw: Mapping[Any, Any]) -> bool:
    options = raw.get("_value")
    return (
        raw.get("_type") == "choice"
        and isinstance(options, list | tuple)
        and any(isinstance(option, Mapping) and "_name" in option for option in options)
    )


def _flatten(
    ctx: _Ctx,
    name: str,
    raw: Any,
    key: str,
    inherited: tuple[Any, ...],
    out: list[_Leaf],
    path: tuple[str, ...] = (),
) -> None:
    if isinstance(raw, Mapping):
        if "parameters" in raw:
            _flatten_section(ctx, name, raw, key, inherited, out, path or (name,))
            return
        if _is_nni_nested(raw):
            _flatten_nni_choice(ctx, name, raw, key, inherited, out, path or (name,))
            return
    out.append(_Leaf(name, key, raw, inherited, path))


def _flatten_section(
    ctx: _Ctx,
    name: str,
    raw: Mapping[Any, Any],
    key: str,
    inherited: tuple[Any, ...],
    out: list[_Leaf],
    path: tuple[str, ...],
) -> None:
    """W&B's nested `parameters:`: children become `outer.inner`, and inherit the section's `when`."""
    for field in raw:
        if field not in ("parameters", *_EXTRAS):
            raise ctx.error(
                f'a nested section (one with "parameters") takes only parameters, when and description; '
                f'found "{field}"',
                _join(key, str(field)),
            )
    children_key = _join(key, "parameters")
    children = raw["parameters"]
    if not isinstance(children, Mapping):
        raise ctx.error(f"expected a mapping of nested parameters, found {_what(children)}", children_key)
    if not children:
        raise ctx.error("the nested parameters section is empty", children_key)
    if "when" in raw:
        inherited = (*inherited, _PendingWhen(raw["when"], _join(key, "when")))
    for child, child_raw in children.items():
        child_key = _join(children_key, str(child))
        _check_name(ctx, child, child_key)
        _flatten(ctx, f"{name}.{child}", child_raw, child_key, inherited, out, (*path, child))


def _flatten_nni_choice(
    ctx: _Ctx,
    name: str,
    raw: Mapping[Any, Any],
    key: str,
    inherited: tuple[Any, ...],
    out: list[_Leaf],
    path: tuple[str, ...],
) -> None:
    """NNI's nested choice: a choice `<name>._name`, and each option's sub-parameters as `<name>.<sub>`,
    active only when their option is chosen (so `nest()` hands the trial NNI's `{"_name": ..., ...}`)."""
    for field in raw:
        if field not in ("_type", "_value", *_EXTRAS):
            hint = did_you_mean(field, ("_type", "_value", *_EXTRAS))
            raise ctx.error(
                f'unknown key "{field}" in an NNI nested choice{hint}',
                _join(key, str(field)),
            )
    values_key = _join(key, "_value")
    labels: list[str] = []
    subs: dict[str, list[tuple[str, Any, str]]] = {}
    for i, option in enumerate(raw["_value"]):
        option_key = f"{values_key}[{i}]"
        if not isinstance(option, Mapping) or "_name" not in option:
            raise ctx.error(
                f'in a nested choice every option must be a mapping with "_name", found {_what(option)}',
                option_key,
            )
        label = option["_name"]
        label_key = _join(option_key, "_name")
        if not isinstance(label, str) or not label:
            raise ctx.error(f'"_name" must be a non-empty string, found {_what(label)}', label_key)
        if label in labels:
            raise ctx.error(f'two options are named "{label}": each "_name" must be unique', label_key)
        labels.append(label)
        for sub, sub_raw in option.items():
            if sub == "_name":
                continue
            sub_key = _join(option_key, str(sub))
            _check_name(ctx, sub, sub_key)
            subs.setdefault(sub, []).append((label, sub_raw, sub_key))
    choice_name = f"{name}._name"
    out.append(_Leaf(choice_name, key, raw, inherited, (*path, "_name"), options=tuple(labels)))
    for sub, definitions in subs.items():
        first_label, first_raw, first_key = definitions[0]
        for label, sub_raw, sub_key in definitions[1:]:
            if sub_raw != first_raw:
                raise ctx.error(
                    f'options "{first_label}" and "{label}" both define "{sub}", differently: a '
                    "sub-parameter shared by several options must be defined identically in each "
                    "(or be renamed)",
                    sub_key,
                )
        condition = ChoiceIs(choice_name, tuple(label for label, _, _ in definitions))
        _flatten(ctx, f"{name}.{sub}", first_raw, first_key, (*inherited, condition), out, (*path, sub))


def _unique(ctx: _Ctx, leaves: list[_Leaf]) -> frozenset[str]:
    seen: set[str] = set()
    for leaf in leaves:
        if leaf.name in seen:
            raise ctx.error(f'parameter "{leaf.name}" is defined twice', leaf.key)
        seen.add(leaf.name)
    return frozenset(seen)


# --------------------------------------------------------------------------------------------------------
# Second pass: leaf → Parameter


def _compile(ctx: _Ctx, text: Any, key: str, self_name: str | None) -> Any:
    if not isinstance(text, str):
        raise ctx.error(f"expected an expression (a string), found {_what(text)}", key)
    try:
        expr = compile_expr(text, allowed_names=ctx.names)
    except ExprError as exc:
        raise ctx.error(str(exc), key) from None
    if self_name is not None and self_name in expr.names:
        raise ctx.error(f'"{text}" refers to the parameter it belongs to ("{self_name}")', key)
    return expr


def _condition(ctx: _Ctx, leaf: _Leaf) -> Any:
    """The leaf's `when`: what it inherits (outermost first) and its own, joined with `and`."""
    parts: list[Any] = []
    for item in leaf.inherited:
        if isinstance(item, _PendingWhen):
            parts.append(_compile(ctx, item.text, item.key, None))
        else:
            parts.append(item)
    if isinstance(leaf.raw, Mapping) and "when" in leaf.raw:
        parts.append(_compile(ctx, leaf.raw["when"], _join(leaf.key, "when"), leaf.name))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _build(ctx: _Ctx, leaf: _Leaf) -> Parameter:
    param = _build_leaf(ctx, leaf)
    problem = param.problem()  # what each field alone can't show: a range too wide, a step too fine, NaN
    if problem:
        raise ctx.error(problem, leaf.key)
    # Parameters are frozen: the builders make them flat, and a nested one gets its path here once.
    return replace(param, path=leaf.path) if leaf.path else param


def _build_leaf(ctx: _Ctx, leaf: _Leaf) -> Parameter:
    raw = leaf.raw
    if leaf.options is not None:
        return Choice(leaf.name, values=leaf.options, when=_condition(ctx, leaf))
    if isinstance(raw, Mapping):
        return _from_mapping(ctx, leaf)
    if isinstance(raw, list | tuple):
        if not raw:
            raise ctx.error("an empty list: a choice needs at least one value", leaf.key)
        return Choice(leaf.name, values=tuple(raw), when=_condition(ctx, leaf))
    if raw is None or isinstance(raw, bool | numbers.Number | str):
        return Constant(leaf.name, value=raw, when=_condition(ctx, leaf))
    raise ctx.error(f"expected a mapping, a list of values or a single value, found {_what(raw)}", leaf.key)


# --------------------------------------------------------------------------------------------------------
# Entry models: what each family of mapping may hold, checked where it is declared


def _to_number(value: Any) -> int | float:
    """A finite number; numeric strings count, since PyYAML reads `1e-5` (no dot) as a string."""
    found = value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise plain(f"expected a number, found {_what(found)}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise plain(f"expected a number, found {_what(found)}")
    value = int(value) if isinstance(value, numbers.Integral) else float(value)
    try:
        as_float = float(value)
    except OverflowError:
        raise plain(f"the number {found!r:.40} is too large") from None
    if not math.isfinite(as_float):
        raise plain(f"expected a finite number, found {_what(found)}")
    return value


def _to_integer(value: Any) -> int:
    number = _to_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise plain(f"expected a whole number, found {_what(value)}")
        return int(number)
    return number


def _to_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise plain(f"expected true or false, found {_what(value)}")
    return value


def _to_values(value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise plain(f"expected a list of values, found {_what(value)}")
    if not value:
        raise plain("the list of values is empty: give at least one")
    return tuple(value)


def _to_probability_list(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise plain(f"expected a list of probabilities, found {_what(value)}")
    return value


def _not_negative(value: int | float) -> float:
    if value < 0:
        raise plain(f"a probability cannot be negative, found {float(value)!r}")
    return float(value)


def _positive(value: int | float, info: ValidationInfo) -> int | float:
    if value <= 0:
        raise plain(f"{info.field_name} must be > 0, found {value!r}")
    return value


Number = Annotated[int | float, PlainValidator(_to_number)]
Integer = Annotated[int, PlainValidator(_to_integer)]
Positive = Annotated[int | float, PlainValidator(_to_number), AfterValidator(_positive)]
PositiveInteger = Annotated[int, PlainValidator(_to_integer), AfterValidator(_positive)]
Flag = Annotated[bool, PlainValidator(_to_flag)]
Values = Annotated[tuple[Any, ...], PlainValidator(_to_values)]
Probabilities = Annotated[
    tuple[Annotated[float, PlainValidator(_to_number), AfterValidator(_not_negative)], ...],
    BeforeValidator(_to_probability_list),
]


def _range(low: float, high: float, low_field: str, high_field: str, *, allow_equal: bool) -> None:
    if low > high:
        raise plain(f"{high_field} ({high!r}) is less than {low_field} ({low!r})", at=high_field)
    if low == high and not allow_equal:
        raise plain(
            f"{low_field} and {high_field} are both {low!r}: the range is empty (for a fixed value, use a constant)",
            at=high_field,
        )


def _log_low(low: float, low_field: str) -> None:
    if low <= 0:
        raise plain(f"a log scale needs {low_field} > 0, found {low!r}", at=low_field)


def _exp(exponent: float, field: str) -> float:
    """W&B's `log_uniform` family takes natural-log exponents: e ** exponent must stay a usable float."""
    try:
        value = math.exp(exponent)
    except OverflowError:
        value = math.inf
    if value == 0.0 or not math.isfinite(value):
        raise plain(
            f"{field} is a natural-log exponent here and exp({exponent!r}) is out of range "
            '(for bounds given as values, use the "_values" form of the distribution)',
            at=field,
        )
    return value


_Spelled = Callable[[str], str]  # a field's name → the spelling the entry wrote it with (`low` → `min`)


class _Entry(BaseModel):
    """One parameter mapping of one family. Its fields (and their aliases) are the keys it takes; `_check`
    holds what no single field can show, in the spellings the user wrote. The validation context carries
    `kind` (the distribution), `what` (how messages name it) and `inferred` (the marker to suggest)."""

    # defer_build: a family's schema is built the first time an entry of it is read (a file uses a few)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    needs: ClassVar[str] = ""  # what a missing key's message says the family needs; "" lists its required keys
    when: Any = None  # compiled once every parameter name is known (`_condition`)
    description: Any = None
    desc: Any = None

    @classmethod
    def spellings(cls, name: str) -> tuple[str, ...]:
        field = cls.model_fields[name]
        if isinstance(field.validation_alias, AliasChoices):
            return tuple(str(choice) for choice in field.validation_alias.choices)
        return (field.alias or name,)

    @classmethod
    def required(cls) -> list[str]:
        return [cls.spellings(name)[0] for name, field in cls.model_fields.items() if field.is_required()]

    @model_validator(mode="wrap")
    @classmethod
    def _whole(cls, raw: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo) -> Self:
        context: Mapping[str, Any] = info.context or {}
        cls._keys(raw, context)
        entry = handler(raw)

        def spelled(name: str) -> str:
            return next((s for s in cls.spellings(name) if s in raw), name)

        entry._check(spelled, context)
        return entry

    @classmethod
    def _keys(cls, raw: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        """Refuse keys the family doesn't take (those no dialect knows with a did-you-mean), and a field
        written in two spellings."""
        allowed = [spelling for name in cls.model_fields for spelling in cls.spellings(name)]
        for field in raw:
            if field in allowed:
                continue
            if field in _ALL_KEYS:
                takes = ", ".join(f for f in allowed if f not in (*_EXTRAS, *_MARKERS))
                inferred = context.get("inferred")
                how = ", inferred from its keys" if inferred else ""
                hint = f"; to use it, name the distribution (e.g. {inferred})" if inferred else ""
                what = context.get("what")
                raise plain(f'key "{field}" does not apply to {what}{how} (it takes: {takes}){hint}', at=field)
            raise plain(f'unknown key "{field}"{did_you_mean(field, allowed)}', at=field)
        for name in cls.model_fields:
            present = [spelling for spelling in cls.spellings(name) if spelling in raw]
            if len(present) > 1:
                raise plain(f'"{present[0]}" and "{present[1]}" mean the same thing here: keep one', at=present[1])

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        """What no single field can show (a bound against the other, a sum): none for a plain family."""


class _Derived(_Entry):
    """`expr:`, computed from other parameters; compiled once every name is known (`_from_mapping`)."""

    expr: Any

    @classmethod
    def _keys(cls, raw: Mapping[str, Any], context: Mapping[str, Any]) -> None:
        for field in raw:
            if field in _ALL_KEYS and field not in ("expr", *_EXTRAS):
                raise plain(
                    f'"expr" makes a derived parameter, computed from others: it cannot be combined with "{field}"',
                    at=field,
                )
        super()._keys(raw, context)


# -- W&B: one model per distribution family (wandb/sweeps `config/schema.json`, its defaults included)


class _Wandb(_Entry):
    distribution: Any = None


class _WandbConstant(_Wandb):
    value: Any


class _WandbCategorical(_Wandb):
    values: Values
    probabilities: Probabilities = ()  # a key written is a list (`null` is no list): read `weights`

    @property
    def weights(self) -> tuple[float, ...] | None:
        return self.probabilities if "probabilities" in self.model_fields_set else None

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        probs = self.weights
        if probs is None:
            return
        if len(probs) != len(self.values):
            raise plain(
                f"{len(probs)} probabilities for {len(self.values)} values: give one per value", at="probabilities"
            )
        total = math.fsum(probs)
        if abs(total - 1.0) > _PROB_TOLERANCE:
            raise plain(f"the probabilities sum to {total:g}, not 1", at="probabilities")


class _WandbWeighted(_WandbCategorical):
    probabilities: Probabilities


class _WandbIntUniform(_Wandb):
    min: Integer
    max: Integer

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        _range(self.min, self.max, "min", "max", allow_equal=True)


class _WandbUniform(_Wandb):
    """`uniform` and the log forms: min < max, whatever the scale."""

    min: Number
    max: Number

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        _range(self.min, self.max, "min", "max", allow_equal=False)


class _WandbQUniform(_WandbUniform):
    q: Positive = 1.0  # W&B's default q is 1.0, a float


class _WandbLogExponents(_WandbUniform):
    """`log_uniform`, `inv_log_uniform`: min and max are natural-log exponents."""

    def bounds(self, kind: str) -> tuple[float, float]:
        low, high = float(self.min), float(self.max)
        if kind.startswith("inv_"):  # value = exp(-U(min, max)): log-uniform on [exp(-max), exp(-min)]
            inv_low = _exp(-high, "max")
            return inv_low, _exp(-low, "min")
        return _exp(low, "min"), _exp(high, "max")  # value = exp(U(min, max))

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        super()._check(spelled, context)
        low, high = self.bounds(context["kind"])
        if not low < high:  # distinct exponents can still meet after exp()
            raise plain(f"the range [{low!r}, {high!r}] is empty", at="max")


class _WandbQLogExponents(_WandbUniform):
    """`q_log_uniform`: exponents too; bounds that meet after exp() still quantize to a value, so no range check
    beyond min < max."""

    q: Positive = 1.0

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        super()._check(spelled, context)
        _exp(float(self.min), "min")
        _exp(float(self.max), "max")


class _WandbLogValues(_WandbUniform):
    """The `_values` forms take the bounds themselves. inv_log_uniform_values is exp(-U(-log max, -log min)),
    which is log-uniform on [min, max]: the same distribution as log_uniform_values."""

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        super()._check(spelled, context)
        _log_low(self.min, "min")


class _WandbQLogValues(_WandbLogValues):
    q: Positive = 1.0


class _WandbNormal(_Wandb):
    mu: Number = 0.0
    sigma: Positive = 1.0


class _WandbQNormal(_WandbNormal):
    q: Positive = 1.0


class _WandbBeta(_Wandb):
    a: Positive = 1
    b: Positive = 1


class _WandbQBeta(_WandbBeta):
    q: Positive = 1.0


_WANDB: dict[str, type[_Wandb]] = {
    "constant": _WandbConstant,
    # W&B itself wants `categorical_w_probabilities` for weights; `categorical` takes them too
    "categorical": _WandbCategorical,
    "categorical_w_probabilities": _WandbWeighted,
    "int_uniform": _WandbIntUniform,
    "uniform": _WandbUniform,
    "q_uniform": _WandbQUniform,
    "log_uniform": _WandbLogExponents,
    "log_uniform_values": _WandbLogValues,
    "q_log_uniform": _WandbQLogExponents,
    "q_log_uniform_values": _WandbQLogValues,
    "inv_log_uniform": _WandbLogExponents,
    "inv_log_uniform_values": _WandbLogValues,
    "normal": _WandbNormal,
    "q_normal": _WandbQNormal,
    "log_normal": _WandbNormal,
    "q_log_normal": _WandbQNormal,
    "beta": _WandbBeta,
    "q_beta": _WandbQBeta,
}


# -- Optuna / Ray Tune / hyperopt: bounds under any of their tools' names


def _low() -> Any:
    return Field(validation_alias=AliasChoices("low", "min", "lower"))


def _high() -> Any:
    return Field(validation_alias=AliasChoices("high", "max", "upper"))


_LOG_TYPES = ("loguniform", "log_uniform", "qloguniform", "logint", "loguniform_int", "lograndint")


class _Optuna(_Entry):
    type: Any = None

    def log(self, kind: str) -> bool:
        """On a log scale: by its type, or by `log: true` where the type takes it."""
        return kind in _LOG_TYPES or bool(getattr(self, "log_", False))


class _OptunaConstant(_Optuna):
    needs = "a value"
    value: Any


class _OptunaChoice(_Optuna):
    needs = "a list of choices"
    choices: Values = Field(validation_alias=AliasChoices("choices", "values"))


class _OptunaNormal(_Optuna):
    mu: Number = Field(0.0, validation_alias=AliasChoices("mu", "mean"))
    sigma: Number = Field(1.0, validation_alias=AliasChoices("sigma", "sd"))

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        if self.sigma <= 0:
            raise plain(f"{spelled('sigma')} must be > 0, found {self.sigma!r}", at=spelled("sigma"))


class _OptunaRange(_Optuna):
    """`uniform`, `loguniform`, `log_uniform`: low < high, low > 0 on a log scale."""

    low: Number = _low()
    high: Number = _high()

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        _range(self.low, self.high, spelled("low"), spelled("high"), allow_equal=False)
        if self.log(context["kind"]):
            _log_low(self.low, spelled("low"))


class _OptunaFloat(_OptunaRange):
    log_: Flag = Field(False, alias="log")
    step: Positive = 0.0  # a key written is a number > 0 (`null` is none): read `step_size`

    @property
    def step_size(self) -> float | None:
        return float(self.step) if "step" in self.model_fields_set else None

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        super()._check(spelled, context)
        if self.log_ and self.step_size is not None:
            raise plain("a log scale cannot have a step", at="step")


class _OptunaQuantized(_OptunaRange):
    """`quniform`, `qloguniform` (hyperopt, Ray): q is required."""

    q: Positive


class _OptunaIntRange(_Optuna):
    """`logint`, `loguniform_int`, `randint`, `lograndint`; Ray's randint and lograndint exclude `high`."""

    low: Integer = _low()
    high: Integer = _high()

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        kind, low_field, high_field = context["kind"], spelled("low"), spelled("high")
        if kind in ("randint", "lograndint"):
            if self.high <= self.low:
                raise plain(
                    f"{high_field} ({self.high}) must be greater than {low_field} ({self.low}): "
                    f"{kind}'s upper bound is exclusive",
                    at=high_field,
                )
        else:
            _range(self.low, self.high, low_field, high_field, allow_equal=True)
        if "step" in self.model_fields_set and self.log(kind):  # even `step: 1`: a log scale takes no step
            raise plain("a log scale cannot have a step", at="step")
        if self.log(kind):
            _log_low(self.low, low_field)


class _OptunaInt(_OptunaIntRange):
    step: PositiveInteger = 1
    log_: Flag = Field(False, alias="log")


_OPTUNA: dict[str, type[_Optuna]] = {
    "uniform": _OptunaRange,
    "float": _OptunaFloat,
    "loguniform": _OptunaRange,
    "log_uniform": _OptunaRange,
    "int": _OptunaInt,
    "logint": _OptunaIntRange,
    "loguniform_int": _OptunaIntRange,
    "randint": _OptunaIntRange,
    "lograndint": _OptunaIntRange,
    "choice": _OptunaChoice,
    "categorical": _OptunaChoice,
    "quniform": _OptunaQuantized,
    "qloguniform": _OptunaQuantized,
    "normal": _OptunaNormal,
    "randn": _OptunaNormal,
    "const": _OptunaConstant,
    "constant": _OptunaConstant,
}


# -- NNI: `_value` is a list whose shape depends on `_type` (`choice` takes the options themselves)


_NNI_SHAPES: dict[str, tuple[str, ...]] = {
    "randint": ("lower", "upper"),
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}


def _shaped(value: Any, info: ValidationInfo) -> Any:
    """`_value` as the list its `_type` takes; randint also takes NNI's older `[upper]` (lower bound 0)."""
    kind = (info.context or {})["kind"]
    shape = _NNI_SHAPES[kind]
    if not isinstance(value, list | tuple):
        raise plain(f"expected a list [{', '.join(shape)}], found {_what(value)}")
    if len(value) != len(shape) and not (kind == "randint" and len(value) == 1):
        plural = "s" if len(value) != 1 else ""
        raise plain(f"NNI {kind} takes [{', '.join(shape)}], found {len(value)} value{plural}")
    return value


class _Nni(_Entry):
    needs = "one"
    type_: Any = Field(None, alias="_type")


class _NniChoice(_Nni):
    value: Values = Field(alias="_value")


class _NniRandint(_Nni):
    value: Annotated[tuple[Integer, ...], BeforeValidator(_shaped)] = Field(alias="_value")

    @property
    def bounds(self) -> tuple[int, int]:
        return (0, self.value[0]) if len(self.value) == 1 else (self.value[0], self.value[1])

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        low, high = self.bounds
        if high <= low:
            raise plain(
                f"upper ({high}) must be greater than lower ({low}): randint's upper bound is exclusive",
                at=f"_value[{len(self.value) - 1}]",
            )


class _NniNumbers(_Nni):
    value: Annotated[tuple[Number, ...], BeforeValidator(_shaped)] = Field(alias="_value")

    def _check(self, spelled: _Spelled, context: Mapping[str, Any]) -> None:
        kind, found = context["kind"], self.value
        for i, (label, number) in enumerate(zip(_NNI_SHAPES[kind], found, strict=True)):
            if label in ("sigma", "q") and number <= 0:
                raise plain(f"{label} must be > 0, found {number!r}", at=f"_value[{i}]")
        if "normal" in kind:
            return
        if found[0] >= found[1]:
            raise plain(
                f"high ({found[1]!r}) must be greater than low ({found[0]!r})"
                if found[0] > found[1]
                else f"low and high are both {found[0]!r}: the range is empty",
                at="_value[1]",
            )
        if "log" in kind and found[0] <= 0:
            raise plain(f"a log scale needs low > 0, found {found[0]!r}", at="_value[0]")


_NNI: dict[str, type[_Nni]] = {"choice": _NniChoice, "randint": _NniRandint} | {
    kind: _NniNumbers for kind in _NNI_SHAPES if kind != "randint"
}

_E = TypeVar("_E", bound=_Entry)


def _validate(ctx: _Ctx, leaf: _Leaf, model: type[_E], kind: str, what: str, inferred: str | None = None) -> _E:
    """The leaf's mapping as `model`, or its first problem as a SpecError at the key the user wrote
    (a missing key first, as it explains the others)."""
    try:
        return model.model_validate(leaf.raw, context={"kind": kind, "what": what, "inferred": inferred})
    except ValidationError as exc:
        errors = exc.errors()
        err = next((e for e in errors if e["type"] == "missing"), errors[0])
        loc = error_loc(err)
        key = leaf.key
        for part in loc:
            key = f"{key}[{part}]" if isinstance(part, int) else _join(key, part)
        if err["type"] == "missing":
            keys = model.required()
            listed = " and ".join(keys) if len(keys) < 3 else f"{', '.join(keys[:-1])} and {keys[-1]}"
            needs = model.needs or listed
            raise ctx.error(f'missing "{loc[-1]}": {what} needs {needs}', key) from None
        raise ctx.error(error_message(err), key) from None


def _from_mapping(ctx: _Ctx, leaf: _Leaf) -> Parameter:
    raw: Mapping[Any, Any] = leaf.raw
    for field in raw:
        if not isinstance(field, str):
            raise ctx.error(f"keys must be strings, found {_what(field)}", _join(leaf.key, str(field)))
    if "expr" in raw:
        derived = _validate(ctx, leaf, _Derived, "expr", 'a derived parameter ("expr")')
        expr = _compile(ctx, derived.expr, _join(leaf.key, "expr"), leaf.name)
        return Derived(leaf.name, expr=expr, when=_condition(ctx, leaf))
    if "_value" in raw and "_type" not in raw:
        raise ctx.error('"_value" without "_type": NNI entries need both', _join(leaf.key, "_type"))
    markers = [marker for marker in _MARKERS if marker in raw]
    if len(markers) > 1:
        raise ctx.error(
            f'"{markers[0]}" and "{markers[1]}" both name the distribution (in different dialects): keep one',
            _join(leaf.key, markers[1]),
        )
    if markers == ["_type"]:
        param = _nni(ctx, leaf, _kind(ctx, leaf, "_type", _NNI, "NNI _type"))
    elif markers == ["type"]:
        param = _optuna(ctx, leaf, _kind(ctx, leaf, "type", _OPTUNA, "type"), inferred=False)
    elif markers == ["distribution"]:
        param = _wandb(ctx, leaf, _kind(ctx, leaf, "distribution", _WANDB, "distribution"), inferred=False)
    elif any(field in raw for field in _OPTUNA_ONLY_KEYS):
        param = _optuna(ctx, leaf, _infer_optuna(raw), inferred=True)
    else:
        dist = _infer_wandb(raw)
        if dist is None:
            for field in raw:
                if field not in _ALL_KEYS:
                    raise ctx.error(f'unknown key "{field}"{did_you_mean(field, _ALL_KEYS)}', _join(leaf.key, field))
            raise ctx.error(
                'cannot tell what kind of parameter this is: give "values", "value", min and max, "expr", '
                'or name a distribution with "distribution" (W&B), "type" (Optuna/Ray) or "_type" (NNI)',
                leaf.key,
            )
        param = _wandb(ctx, leaf, dist, inferred=True)
    when = _condition(ctx, leaf)
    return param if when is None else _with_when(param, when)


def _with_when(param: Parameter, when: Any) -> Parameter:
    # Parameters are frozen: the dialect builders make them without a condition, and it is added here once.
    return replace(param, when=when)


def _kind(ctx: _Ctx, leaf: _Leaf, field: str, table: Mapping[str, Any], what: str) -> str:
    value = leaf.raw[field]
    if not isinstance(value, str):
        raise ctx.error(f"expected the name of a distribution, found {_what(value)}", _join(leaf.key, field))
    if value in table:
        return value
    hint = _WANDB_HINTS.get(value) if table is _WANDB else None
    detail = f": {hint}" if hint else did_you_mean(value, table)
    raise ctx.error(f'unknown {what} "{value}"{detail}; expected one of {", ".join(table)}', _join(leaf.key, field))


def _infer_wandb(raw: Mapping[str, Any]) -> str | None:
    """W&B's inference without `distribution` (the first schema in its anyOf list that fits)."""
    if "value" in raw:
        return "constant"
    if "probabilities" in raw:
        return "categorical_w_probabilities"
    if "values" in raw:
        return "categorical"
    if "min" in raw or "max" in raw:
        both_int = _int_like(raw.get("min")) and _int_like(raw.get("max"))
        return "int_uniform" if both_int else "uniform"
    if "mu" in raw or "sigma" in raw:
        return "normal"  # a leniency: W&B itself requires `distribution: normal` here
    return None


def _infer_optuna(raw: Mapping[str, Any]) -> str:
    """Optuna-style keys without `type`: choices → choice, mean/sd → normal, bounds → int or float."""
    if "choices" in raw:
        return "choice"
    if "mean" in raw or "sd" in raw:
        return "normal"
    bounds = [raw[k] for k in ("low", "min", "lower", "high", "max", "upper") if k in raw]
    step = raw.get("step", 1)
    if bounds and all(_int_like(b) for b in bounds) and _int_like(step):
        return "int"
    return "float"


def _wandb(ctx: _Ctx, leaf: _Leaf, dist: str, *, inferred: bool) -> Parameter:
    """W&B semantics as in wandb/sweeps `params.py` (HyperParameter.ppf) and `config/schema.json`."""
    hint = "distribution: q_uniform" if inferred else None
    e = _validate(ctx, leaf, _WANDB[dist], dist, f'distribution "{dist}"', hint)
    name = leaf.name
    if isinstance(e, _WandbConstant):
        return Constant(name, value=e.value)
    if isinstance(e, _WandbCategorical):
        return Choice(name, values=e.values, probabilities=e.weights)
    if isinstance(e, _WandbNormal):
        family = "normal" if dist.removeprefix("q_") == "normal" else "log_normal"
        q = e.q if isinstance(e, _WandbQNormal) else None
        return Quantile(name, family=family, mu=float(e.mu), sigma=float(e.sigma), q=q)
    if isinstance(e, _WandbBeta):
        q = e.q if isinstance(e, _WandbQBeta) else None
        return Quantile(name, family="beta", a=float(e.a), b=float(e.b), q=q)
    if isinstance(e, _WandbIntUniform):
        return Int(name, low=e.min, high=e.max)
    assert isinstance(e, _WandbUniform)
    low, high = float(e.min), float(e.max)
    if isinstance(e, _WandbLogExponents):
        low, high = e.bounds(dist)
        return Float(name, low=low, high=high, log=True)
    if isinstance(e, _WandbQLogExponents):
        return Quantized(name, low=_exp(low, "min"), high=_exp(high, "max"), q=e.q, log=True, family=dist)
    if isinstance(e, _WandbQLogValues):
        return Quantized(name, low=low, high=high, q=e.q, log=True, family=dist)
    if isinstance(e, _WandbLogValues):
        return Float(name, low=low, high=high, log=True)
    if isinstance(e, _WandbQUniform):
        return Quantized(name, low=low, high=high, q=e.q, family=dist)
    return Float(name, low=low, high=high)


def _optuna(ctx: _Ctx, leaf: _Leaf, kind: str, *, inferred: bool) -> Parameter:
    """Optuna / Ray Tune / hyperopt types; Ray's randint and lograndint exclude their upper bound."""
    hint = "type: quniform" if inferred else None
    e = _validate(ctx, leaf, _OPTUNA[kind], kind, f'type "{kind}"', hint)
    name = leaf.name
    if isinstance(e, _OptunaConstant):
        return Constant(name, value=e.value)
    if isinstance(e, _OptunaChoice):
        return Choice(name, values=e.choices)
    if isinstance(e, _OptunaNormal):
        return Quantile(name, family="normal", mu=float(e.mu), sigma=float(e.sigma))
    if isinstance(e, _OptunaIntRange):
        top = e.high - 1 if kind in ("randint", "lograndint") else e.high  # Ray's randint excludes `high`
        return Int(name, low=e.low, high=top, log=e.log(kind), step=e.step if isinstance(e, _OptunaInt) else 1)
    assert isinstance(e, _OptunaRange)
    low, high = float(e.low), float(e.high)
    if isinstance(e, _OptunaQuantized):
        # hyperopt and Ray return floats from quniform/qloguniform whatever q is (unlike W&B's int q).
        return Quantized(name, low=low, high=high, q=float(e.q), log=e.log(kind), family=kind)
    step_size = e.step_size if isinstance(e, _OptunaFloat) else None
    return Float(name, low=low, high=high, log=e.log(kind), step=step_size)


def _nni(ctx: _Ctx, leaf: _Leaf, kind: str) -> Parameter:
    """NNI's search-space types, each with NNI's own semantics."""
    e = _validate(ctx, leaf, _NNI[kind], kind, f'NNI _type "{kind}"')
    name = leaf.name
    if isinstance(e, _NniChoice):
        return Choice(name, values=e.value)
    if isinstance(e, _NniRandint):
        lower, upper = e.bounds
        return Int(name, low=lower, high=upper - 1)
    assert isinstance(e, _NniNumbers)
    nums = [float(number) for number in e.value]
    if "normal" in kind:
        family = "log_normal" if "log" in kind else "normal"
        return Quantile(name, family=family, mu=nums[0], sigma=nums[1], q=nums[2] if len(nums) == 3 else None)
    low, high, log = nums[0], nums[1], "log" in kind
    if kind in ("quniform", "qloguniform"):  # NNI: clip(round(x / q) * q, low, high), always a float
        return Quantized(name, low=low, high=high, q=nums[2], log=log, family=kind, clip=(low, high))
    return Float(name, low=low, high=high, log=log)


# --------------------------------------------------------------------------------------------------------
# Public API


def parse_parameters(raw: Mapping[str, Any], *, file: str | None, key: str = "parameters") -> list[Parameter]:
    """Every entry of a `parameters` section, in declaration order (nested sections expand in place).

    `when`/`expr` may name any parameter of the section, declared before or after them.
    """
    ctx = _Ctx(file)
    if not isinstance(raw, Mapping):
        raise ctx.error(f"expected a mapping of parameter names to definitions, found {_what(raw)}", key)
    leaves: list[_Leaf] = []
    for name, entry in raw.items():
        entry_key = _join(key, str(name))
        _flatten(ctx, _check_name(ctx, name, entry_key), entry, entry_key, (), leaves)
    ctx.names = _unique(ctx, leaves)
    return [_build(ctx, leaf) for leaf in leaves]


def parse_parameter(
    name: str, raw: Any, *, file: str | None, key: str, known_names: Iterable[str] | None = None
) -> list[Parameter]:
    """One entry (`key` is its own path, e.g. `parameters.lr`); a nested section yields several.

    `known_names` are the other names its `when`/`expr` may read; None leaves those names unchecked.
    """
    ctx = _Ctx(file)
    leaves: list[_Leaf] = []
    _flatten(ctx, _check_name(ctx, name, key), raw, key, (), leaves)
    own = _unique(ctx, leaves)
    ctx.names = None if known_names is None else own | frozenset(known_names)
    return [_build(ctx, leaf) for leaf in leaves]

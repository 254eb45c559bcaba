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
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sweepkit.errors import SpecError, did_you_mean
from sweepkit.expr import ExprError, compile_expr
from sweepkit.space import Choice, Constant, Derived, Float, Int, Parameter, Quantile, Quantized

__all__ = ["AllOf", "ChoiceIs", "parse_parameter", "parse_parameters"]

# Keys any parameter mapping may carry, whatever its dialect.
_EXTRAS = ("when", "description", "desc")
# Probabilities of a weighted choice must sum to 1 within this.
_PROB_TOLERANCE = 1e-6
_MISSING: Any = object()

# -- W&B: distribution → (required keys, optional keys). Defaults (mu 0, sigma 1, a 1, b 1, q 1.0) are the
# ones W&B's schema.json fills in; `categorical` also takes `probabilities` (W&B itself wants
# `categorical_w_probabilities` for that, which we accept too).
_WANDB: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": (("value",), ()),
    "categorical": (("values",), ("probabilities",)),
    "categorical_w_probabilities": (("values", "probabilities"), ()),
    "int_uniform": (("min", "max"), ()),
    "uniform": (("min", "max"), ()),
    "q_uniform": (("min", "max"), ("q",)),
    "log_uniform": (("min", "max"), ()),
    "log_uniform_values": (("min", "max"), ()),
    "q_log_uniform": (("min", "max"), ("q",)),
    "q_log_uniform_values": (("min", "max"), ("q",)),
    "inv_log_uniform": (("min", "max"), ()),
    "inv_log_uniform_values": (("min", "max"), ()),
    "normal": ((), ("mu", "sigma")),
    "q_normal": ((), ("mu", "sigma", "q")),
    "log_normal": ((), ("mu", "sigma")),
    "q_log_normal": ((), ("mu", "sigma", "q")),
    "beta": ((), ("a", "b")),
    "q_beta": ((), ("a", "b", "q")),
}
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

# -- Optuna / Ray Tune / hyperopt: type → canonical keys it takes. Bound aliases are expanded below.
_OPTUNA: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "float": ("low", "high", "log", "step"),
    "loguniform": ("low", "high"),
    "log_uniform": ("low", "high"),
    "int": ("low", "high", "step", "log"),
    "logint": ("low", "high"),
    "loguniform_int": ("low", "high"),
    "randint": ("low", "high"),
    "lograndint": ("low", "high"),
    "choice": ("choices",),
    "categorical": ("choices",),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "randn": ("mu", "sigma"),
    "const": ("value",),
    "constant": ("value",),
}
_ALIASES = {
    "low": ("low", "min", "lower"),
    "high": ("high", "max", "upper"),
    "choices": ("choices", "values"),
    "mu": ("mu", "mean"),
    "sigma": ("sigma", "sd"),
}
_OPTUNA_ONLY_KEYS = ("low", "high", "lower", "upper", "choices", "step", "log", "mean", "sd")
_INT_TYPES = ("int", "logint", "loguniform_int", "randint", "lograndint")

# -- NNI: _type → the shape of its `_value` list (`choice` takes the options themselves).
_NNI: dict[str, tuple[str, ...]] = {
    "choice": (),
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


def _number(ctx: _Ctx, value: Any, key: str) -> int | float:
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
                raise ctx.error(f"expected a number, found {_what(found)}", key) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ctx.error(f"expected a number, found {_what(found)}", key)
    value = int(value) if isinstance(value, numbers.Integral) else float(value)
    try:
        as_float = float(value)
    except OverflowError:
        raise ctx.error(f"the number {found!r:.40} is too large", key) from None
    if not math.isfinite(as_float):
        raise ctx.error(f"expected a finite number, found {_what(found)}", key)
    return value


def _integer(ctx: _Ctx, value: Any, key: str) -> int:
    number = _number(ctx, value, key)
    if isinstance(number, float):
        if not number.is_integer():
            raise ctx.error(f"expected a whole number, found {_what(value)}", key)
        return int(number)
    return number


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


class _Fields:
    """One parameter mapping being read: typed access to its fields, each error at that field's key path."""

    def __init__(self, ctx: _Ctx, leaf: _Leaf) -> None:
        self.ctx = ctx
        self.raw: Mapping[str, Any] = leaf.raw
        self.key = leaf.key
        self.name = leaf.name

    def path(self, field: str) -> str:
        return _join(self.key, field)

    def fail(self, message: str, field: str | None = None) -> SpecError:
        return self.ctx.error(message, self.path(field) if field else self.key)

    def only(self, allowed: Iterable[str], what: str, *, inferred: str | None = None) -> None:
        """Refuse keys outside `allowed`: the ones no dialect knows with a did-you-mean."""
        allowed = (*allowed, *_EXTRAS)
        for field in self.raw:
            if field in allowed:
                continue
            if field in _ALL_KEYS:
                takes = ", ".join(f for f in allowed if f not in (*_EXTRAS, "distribution", "type", "_type"))
                how = ", inferred from its keys" if inferred else ""
                hint = f"; to use it, name the distribution (e.g. {inferred})" if inferred else ""
                raise self.fail(f'key "{field}" does not apply to {what}{how} (it takes: {takes}){hint}', field)
            raise self.fail(f'unknown key "{field}"{did_you_mean(field, allowed)}', str(field))

    def pick(self, canonical: str) -> str | None:
        """Which spelling of a field is present (`low`, `min` or `lower`, ...); two at once is an error."""
        present = [alias for alias in _ALIASES.get(canonical, (canonical,)) if alias in self.raw]
        if len(present) > 1:
            raise self.fail(f'"{present[0]}" and "{present[1]}" mean the same thing here: keep one', present[1])
        return present[0] if present else None

    def require(self, canonical: str, what: str) -> str:
        field = self.pick(canonical)
        if field is None:
            raise self.fail(f'missing "{canonical}": {what}', canonical)
        return field

    def number(self, field: str, default: Any = _MISSING) -> Any:
        if field not in self.raw:
            return default
        return _number(self.ctx, self.raw[field], self.path(field))

    def integer(self, field: str, default: Any = _MISSING) -> Any:
        if field not in self.raw:
            return default
        return _integer(self.ctx, self.raw[field], self.path(field))

    def positive(self, field: str, default: Any, what: str) -> Any:
        value = self.number(field, default)
        if value <= 0:
            raise self.fail(f"{what} must be > 0, found {value!r}", field)
        return value

    def flag(self, field: str) -> bool:
        if field not in self.raw:
            return False
        value = self.raw[field]
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, found {_what(value)}", field)
        return value

    def values(self, field: str) -> tuple[Any, ...]:
        value = self.raw[field]
        if not isinstance(value, list | tuple):
            raise self.fail(f"expected a list of values, found {_what(value)}", field)
        if not value:
            raise self.fail("the list of values is empty: give at least one", field)
        return tuple(value)

    def probabilities(self, field: str, count: int) -> tuple[float, ...]:
        value = self.raw[field]
        if not isinstance(value, list | tuple):
            raise self.fail(f"expected a list of probabilities, found {_what(value)}", field)
        probs: list[float] = []
        for i, item in enumerate(value):
            p = float(_number(self.ctx, item, f"{self.path(field)}[{i}]"))
            if p < 0:
                raise self.ctx.error(f"a probability cannot be negative, found {p!r}", f"{self.path(field)}[{i}]")
            probs.append(p)
        if len(probs) != count:
            raise self.fail(f"{len(probs)} probabilities for {count} values: give one per value", field)
        total = math.fsum(probs)
        if abs(total - 1.0) > _PROB_TOLERANCE:
            raise self.fail(f"the probabilities sum to {total:g}, not 1", field)
        return tuple(probs)

    def range(self, low: float, high: float, low_field: str, high_field: str, *, allow_equal: bool) -> None:
        if low > high:
            raise self.fail(f"{high_field} ({high!r}) is less than {low_field} ({low!r})", high_field)
        if low == high and not allow_equal:
            raise self.fail(
                f"{low_field} and {high_field} are both {low!r}: the range is empty "
                "(for a fixed value, use a constant)",
                high_field,
            )

    def log_low(self, low: float, low_field: str) -> None:
        if low <= 0:
            raise self.fail(f"a log scale needs {low_field} > 0, found {low!r}", low_field)

    def exp(self, exponent: float, field: str) -> float:
        """W&B's `log_uniform` family takes natural-log exponents: e ** exponent must stay a usable float."""
        try:
            value = math.exp(exponent)
        except OverflowError:
            value = math.inf
        if value == 0.0 or not math.isfinite(value):
            raise self.fail(
                f"{field} is a natural-log exponent here and exp({exponent!r}) is out of range "
                '(for bounds given as values, use the "_values" form of the distribution)',
                field,
            )
        return value


def _from_mapping(ctx: _Ctx, leaf: _Leaf) -> Parameter:
    raw: Mapping[Any, Any] = leaf.raw
    for field in raw:
        if not isinstance(field, str):
            raise ctx.error(f"keys must be strings, found {_what(field)}", _join(leaf.key, str(field)))
    f = _Fields(ctx, leaf)
    if "expr" in raw:
        for field in raw:
            if field in _ALL_KEYS and field not in ("expr", *_EXTRAS):
                raise f.fail(
                    f'"expr" makes a derived parameter, computed from others: it cannot be combined with "{field}"',
                    field,
                )
        f.only(("expr",), 'a derived parameter ("expr")')
        expr = _compile(ctx, raw["expr"], f.path("expr"), leaf.name)
        return Derived(leaf.name, expr=expr, when=_condition(ctx, leaf))
    if "_value" in raw and "_type" not in raw:
        raise f.fail('"_value" without "_type": NNI entries need both', "_type")
    markers = [marker for marker in ("distribution", "type", "_type") if marker in raw]
    if len(markers) > 1:
        raise f.fail(
            f'"{markers[0]}" and "{markers[1]}" both name the distribution (in different dialects): keep one',
            markers[1],
        )
    if markers == ["_type"]:
        param = _nni(f, _kind(f, "_type", _NNI, "NNI _type"))
    elif markers == ["type"]:
        param = _optuna(f, _kind(f, "type", _OPTUNA, "type"), inferred=False)
    elif markers == ["distribution"]:
        param = _wandb(f, _kind(f, "distribution", _WANDB, "distribution"), inferred=False)
    elif any(field in raw for field in _OPTUNA_ONLY_KEYS):
        param = _optuna(f, _infer_optuna(raw), inferred=True)
    else:
        dist = _infer_wandb(raw)
        if dist is None:
            for field in raw:
                if field not in _ALL_KEYS:
                    raise f.fail(f'unknown key "{field}"{did_you_mean(field, _ALL_KEYS)}', field)
            raise f.fail(
                'cannot tell what kind of parameter this is: give "values", "value", min and max, "expr", '
                'or name a distribution with "distribution" (W&B), "type" (Optuna/Ray) or "_type" (NNI)'
            )
        param = _wandb(f, dist, inferred=True)
    when = _condition(ctx, leaf)
    return param if when is None else _with_when(param, when)


def _with_when(param: Parameter, when: Any) -> Parameter:
    # Parameters are frozen: the dialect builders make them without a condition, and it is added here once.
    return replace(param, when=when)


def _kind(f: _Fields, field: str, table: Mapping[str, Any], what: str) -> str:
    value = f.raw[field]
    if not isinstance(value, str):
        raise f.fail(f"expected the name of a distribution, found {_what(value)}", field)
    if value in table:
        return value
    hint = _WANDB_HINTS.get(value) if table is _WANDB else None
    detail = f": {hint}" if hint else did_you_mean(value, table)
    raise f.fail(f'unknown {what} "{value}"{detail}; expected one of {", ".join(table)}', field)


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


def _wandb(f: _Fields, dist: str, *, inferred: bool) -> Parameter:
    """W&B semantics as in wandb/sweeps `params.py` (HyperParameter.ppf) and `config/schema.json`."""
    required, optional = _WANDB[dist]
    what = f'distribution "{dist}"'
    f.only(
        (*(("distribution",) if not inferred else ()), *required, *optional),
        what,
        inferred="distribution: q_uniform" if inferred else None,
    )
    for field in required:
        if field not in f.raw:
            raise f.fail(f'missing "{field}": {what} needs {" and ".join(required)}', field)
    name = f.name
    if dist == "constant":
        return Constant(name, value=f.raw["value"])
    if dist.startswith("categorical"):
        values = f.values("values")
        probs = f.probabilities("probabilities", len(values)) if "probabilities" in f.raw else None
        return Choice(name, values=values, probabilities=probs)
    q = f.positive("q", 1.0, "q") if dist.startswith("q_") else None  # W&B's default q is 1.0, a float
    if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        mu = float(f.number("mu", 0.0))
        sigma = float(f.positive("sigma", 1.0, "sigma"))
        family = "normal" if dist.removeprefix("q_") == "normal" else "log_normal"
        return Quantile(name, family=family, mu=mu, sigma=sigma, q=q)
    if dist in ("beta", "q_beta"):
        a = float(f.positive("a", 1, "a"))
        b = float(f.positive("b", 1, "b"))
        return Quantile(name, family="beta", a=a, b=b, q=q)
    if dist == "int_uniform":
        ilow, ihigh = f.integer("min"), f.integer("max")
        f.range(ilow, ihigh, "min", "max", allow_equal=True)
        return Int(name, low=ilow, high=ihigh)
    nlow, nhigh = f.number("min"), f.number("max")
    f.range(nlow, nhigh, "min", "max", allow_equal=False)
    low, high = float(nlow), float(nhigh)
    if dist == "uniform":
        return Float(name, low=low, high=high)
    if dist == "q_uniform":
        assert q is not None
        return Quantized(name, low=low, high=high, q=q, family=dist)
    if dist == "log_uniform":  # value = exp(U(min, max))
        return _log_float(f, f.exp(low, "min"), f.exp(high, "max"))
    if dist == "inv_log_uniform":  # value = exp(-U(min, max)): log-uniform on [exp(-max), exp(-min)]
        return _log_float(f, f.exp(-high, "max"), f.exp(-low, "min"))
    if dist == "q_log_uniform":
        assert q is not None
        return Quantized(name, low=f.exp(low, "min"), high=f.exp(high, "max"), q=q, log=True, family=dist)
    # The `_values` forms take the bounds themselves. inv_log_uniform_values is exp(-U(-log max, -log min)),
    # which is log-uniform on [min, max]: the same distribution as log_uniform_values.
    f.log_low(nlow, "min")
    if dist == "q_log_uniform_values":
        assert q is not None
        return Quantized(name, low=low, high=high, q=q, log=True, family=dist)
    return _log_float(f, low, high)


def _log_float(f: _Fields, low: float, high: float) -> Float:
    if not low < high:  # distinct exponents can still meet after exp()
        raise f.fail(f"the range [{low!r}, {high!r}] is empty", "max")
    return Float(f.name, low=low, high=high, log=True)


def _optuna(f: _Fields, kind: str, *, inferred: bool) -> Parameter:
    """Optuna / Ray Tune / hyperopt types; Ray's randint and lograndint exclude their upper bound."""
    canonical = _OPTUNA[kind]
    allowed = [alias for field in canonical for alias in _ALIASES.get(field, (field,))]
    what = f'type "{kind}"'
    f.only(
        (*(("type",) if not inferred else ()), *allowed),
        what,
        inferred="type: quniform" if inferred else None,
    )
    name = f.name
    if kind in ("const", "constant"):
        return Constant(name, value=f.raw[f.require("value", f"{what} needs a value")])
    if kind in ("choice", "categorical"):
        return Choice(name, values=f.values(f.require("choices", f"{what} needs a list of choices")))
    if kind in ("normal", "randn"):
        mu_field, sigma_field = f.pick("mu"), f.pick("sigma")
        mu = float(f.number(mu_field, 0.0)) if mu_field else 0.0
        sigma = float(f.positive(sigma_field, 1.0, sigma_field)) if sigma_field else 1.0
        return Quantile(name, family="normal", mu=mu, sigma=sigma)
    low_field = f.require("low", f"{what} needs low and high")
    high_field = f.require("high", f"{what} needs low and high")
    if kind in _INT_TYPES:
        ilow, ihigh = f.integer(low_field), f.integer(high_field)
        if kind in ("randint", "lograndint"):
            if ihigh <= ilow:
                raise f.fail(
                    f"{high_field} ({ihigh}) must be greater than {low_field} ({ilow}): "
                    f"{kind}'s upper bound is exclusive",
                    high_field,
                )
            ihigh -= 1
        else:
            f.range(ilow, ihigh, low_field, high_field, allow_equal=True)
        log = kind in ("logint", "loguniform_int", "lograndint") or f.flag("log")
        step = f.integer("step", 1)
        if step <= 0:
            raise f.fail(f"step must be > 0, found {step!r}", "step")
        if log and "step" in f.raw:  # even `step: 1`: the docs say a log scale takes no step
            raise f.fail("a log scale cannot have a step", "step")
        if log:
            f.log_low(ilow, low_field)
        return Int(name, low=ilow, high=ihigh, log=log, step=step)
    nlow, nhigh = f.number(low_field), f.number(high_field)
    f.range(nlow, nhigh, low_field, high_field, allow_equal=False)
    low, high = float(nlow), float(nhigh)
    log = kind in ("loguniform", "log_uniform", "qloguniform") or f.flag("log")
    if log:
        f.log_low(nlow, low_field)
    if kind in ("quniform", "qloguniform"):
        if "q" not in f.raw:
            raise f.fail(f'missing "q": {what} needs low, high and q', "q")
        # hyperopt and Ray return floats from quniform/qloguniform whatever q is (unlike W&B's int q).
        q = float(f.positive("q", None, "q"))
        return Quantized(name, low=low, high=high, q=q, log=log, family=kind)
    step = float(f.positive("step", None, "step")) if "step" in f.raw else None
    if log and step is not None:
        raise f.fail("a log scale cannot have a step", "step")
    return Float(name, low=low, high=high, log=log, step=step)


def _nni(f: _Fields, kind: str) -> Parameter:
    """NNI's search-space types: `_value` is a list whose shape depends on `_type`."""
    f.only(("_type", "_value"), f'NNI _type "{kind}"')
    if "_value" not in f.raw:
        raise f.fail(f'missing "_value": NNI _type "{kind}" needs one', "_value")
    name = f.name
    if kind == "choice":
        return Choice(name, values=f.values("_value"))
    shape = _NNI[kind]
    value = f.raw["_value"]
    if not isinstance(value, list | tuple):
        raise f.fail(f"expected a list [{', '.join(shape)}], found {_what(value)}", "_value")
    if kind == "randint" and len(value) == 1:  # NNI's older form: [upper], lower bound 0
        value = [0, value[0]]
        paths = [f.path("_value"), f.path("_value[0]")]
    else:
        paths = [f.path(f"_value[{i}]") for i in range(len(value))]
    if len(value) != len(shape):
        plural = "s" if len(value) != 1 else ""
        raise f.fail(f"NNI {kind} takes [{', '.join(shape)}], found {len(value)} value{plural}", "_value")
    if kind == "randint":
        ilow, ihigh = (_integer(f.ctx, v, p) for v, p in zip(value, paths, strict=True))
        if ihigh <= ilow:
            raise f.ctx.error(
                f"upper ({ihigh}) must be greater than lower ({ilow}): randint's upper bound is exclusive",
                paths[1],
            )
        return Int(name, low=ilow, high=ihigh - 1)
    found = [_number(f.ctx, v, p) for v, p in zip(value, paths, strict=True)]
    for label, number, path in zip(shape, found, paths, strict=True):
        if label in ("sigma", "q") and number <= 0:
            raise f.ctx.error(f"{label} must be > 0, found {number!r}", path)
    nums = [float(number) for number in found]
    if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        family = "log_normal" if "log" in kind else "normal"
        return Quantile(name, family=family, mu=nums[0], sigma=nums[1], q=nums[2] if len(nums) == 3 else None)
    if found[0] >= found[1]:
        raise f.ctx.error(
            f"high ({found[1]!r}) must be greater than low ({found[0]!r})"
            if found[0] > found[1]
            else f"low and high are both {found[0]!r}: the range is empty",
            paths[1],
        )
    low, high = nums[0], nums[1]
    log = "log" in kind
    if log and low <= 0:
        raise f.ctx.error(f"a log scale needs low > 0, found {found[0]!r}", paths[0])
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

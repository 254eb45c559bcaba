"""Safe evaluation of the small expressions users write in sweep files.

Sweep files are shared, copied and generated, so an expression in one
(``when: "loss_function == 'focal'"``, ``expr: "embedding_dim * 4"``,
``"d_model % num_heads == 0"``) must never be able to run arbitrary code,
touch the file system, or hang the process.  Instead of ``eval`` we parse with
:func:`ast.parse` and interpret a whitelisted subset of the tree ourselves,
with limits on how large the values it builds may get.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Expr", "ExprError", "compile_expr"]

# Resource limits: generous for real sweep files, small enough that a hostile
# or mistyped expression cannot hang the process or exhaust memory.
_MAX_TEXT_LENGTH = 1000
_MAX_DEPTH = 100  # nesting levels of the syntax tree (keeps recursion bounded)
_MAX_EXPONENT = 1000  # largest integer exponent for an integer base
_MAX_INT_BITS = 10_000  # about 3,000 decimal digits for integer powers
_MAX_SEQUENCE = 10_000  # chars/elements a repetition ('a' * n) may produce
_MAX_ROUND_DIGITS = 1000  # |ndigits| for round(); round(1, -10**9) is slow

# YAML users write these spellings; they read as the constants, not as names.
_NAME_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}

_ALLOWED_CONSTANT_TYPES = (bool, int, float, str, type(None))


class ExprError(ValueError):
    """A sweep-file expression is malformed, unsafe, or failed to evaluate.

    The message is user-facing and a single line: it says what is wrong and,
    when it applies, which names are allowed.
    """

    def __init__(self, message: str) -> None:
        # Collapse newlines so the message always fits on one line of a log.
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------
# Guarded operations and functions


def _weight(value: Any, limit: int) -> int:
    """Count characters/elements in *value*, nested ones too, stopping past *limit*.

    Nested containers count because ``[[0] * 10000] * 10000`` is cheap to
    build (shared references) but ``str()`` of it is not.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, (list, tuple)):
            total += len(item)
            if total > limit:
                return total
            stack.extend(item)
        if total > limit:
            return total
    return total


def _check_repeat(seq: Any, times: int) -> None:
    """Refuse ``seq * times`` when the result would be too large."""
    if times <= 0:
        return
    size = _weight(seq, _MAX_SEQUENCE)
    if size * times > _MAX_SEQUENCE:
        unit = "characters" if isinstance(seq, str) else "elements"
        raise ValueError(f"the repetition would produce more than {_MAX_SEQUENCE:,} {unit}")


_SEQUENCE_TYPES = (str, bytes, bytearray, list, tuple)


def _mul(left: Any, right: Any) -> Any:
    """``*`` with a size check on string/list repetition."""
    if isinstance(left, _SEQUENCE_TYPES) and isinstance(right, int):
        _check_repeat(left, right)
    elif isinstance(right, _SEQUENCE_TYPES) and isinstance(left, int):
        _check_repeat(right, left)
    return left * right


def _mod(left: Any, right: Any) -> Any:
    """``%`` without printf-style string formatting ('%099999999d' % 1)."""
    if isinstance(left, (str, bytes, bytearray)):
        raise TypeError("'%' string formatting is not supported")
    return left % right


def _pow(base: Any, exponent: Any) -> Any:
    """``**`` / ``pow`` that refuses integer results too large to compute quickly."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > _MAX_EXPONENT:
            raise ValueError(f"exponent {exponent} is too large (the limit is {_MAX_EXPONENT})")
        if math.log2(abs(base)) * exponent > _MAX_INT_BITS:
            raise ValueError(
                f"the result of ** would have more than about {int(_MAX_INT_BITS * math.log10(2)):,} digits"
            )
    result = base**exponent
    if isinstance(result, complex) and not isinstance(base, complex):
        raise ValueError("a negative number to a fractional power has no real-valued result")
    return result


def _round(number: Any, ndigits: Any = None) -> Any:
    """``round`` with a bounded ``ndigits`` (huge negative ones are slow on ints)."""
    if ndigits is None:
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > _MAX_ROUND_DIGITS:
        raise ValueError(f"round(): ndigits must be between -{_MAX_ROUND_DIGITS} and {_MAX_ROUND_DIGITS}")
    return round(number, ndigits)


def _sum(iterable: Any) -> Any:
    """``sum`` of one iterable; no start value, so no quadratic list building."""
    return sum(iterable)


def _log(x: Any, base: Any = None) -> float:
    """Natural logarithm, or logarithm to *base*."""
    if base is None:
        return math.log(x)
    return math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "bool": bool,
    "ceil": math.ceil,
    "exp": math.exp,
    "float": float,
    "floor": math.floor,
    "int": int,
    "isclose": math.isclose,
    "len": len,
    "log": _log,
    "log10": math.log10,
    "log2": math.log2,
    "max": max,
    "min": min,
    "pow": _pow,
    "round": _round,
    "sqrt": math.sqrt,
    "str": str,
    "sum": _sum,
}

_BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}

_UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
}

_COMPARE_OPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
}

# Friendly descriptions of constructs users are likely to try.
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Subscript: "indexing and slicing (x[...])",
    ast.Slice: "slicing (x[a:b])",
    ast.Lambda: "lambda functions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Starred: "starred expressions (*x)",
    ast.Dict: "dict literals ({...})",
    ast.Set: "set literals ({...})",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


# --------------------------------------------------------------------------
# Parsing and checking


def _show(text: str) -> str:
    """The expression as it appears in messages: one line, quoted, not too long."""
    shown = " ".join(text.split())
    # Escape what a terminal cannot show (control characters, lone surrogates).
    shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in shown)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f'"{shown}"'


def _suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a mistyped *name*, if any is close enough."""
    pool = sorted(set(candidates))
    leaf = name.rsplit(".", 1)[-1]
    # "lr" most likely means "optimizer.lr"; difflib's ratio misses that.
    for candidate in pool:
        if candidate.rsplit(".", 1)[-1] == leaf and candidate != name:
            return candidate
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    suggestion = _suggest(name, candidates)
    return f' (did you mean "{suggestion}"?)' if suggestion else ""


def _list_names(names: Iterable[str], limit: int = 20) -> str:
    ordered = sorted(names)
    if not ordered:
        return "(none)"
    if len(ordered) > limit:
        return ", ".join(ordered[:limit]) + f", ... ({len(ordered) - limit} more)"
    return ", ".join(ordered)


def _dotted_name(node: ast.Attribute) -> tuple[list[str], ast.expr]:
    """Split ``a.b.c`` into ``["a", "b", "c"]`` and the node it is rooted at."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name):
        parts.append(current.id)
    parts.reverse()
    return parts, current


class _Checker:
    """Walks a parsed tree, rejecting anything outside the whitelist.

    Records the parameter names read, in order of first appearance, so that
    error messages list them in the order the user wrote them.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.names: list[str] = []

    def fail(self, problem: str) -> ExprError:
        return ExprError(f"invalid expression {_show(self.text)}: {problem}")

    def add_name(self, parts: list[str]) -> None:
        for part in parts:
            if part.startswith("_"):
                raise self.fail(f'names starting with "_" are not allowed ("{part}")')
        name = ".".join(parts)
        if name not in self.names:
            self.names.append(name)

    def check(self, node: ast.AST, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise self.fail(f"it is nested too deeply (more than {_MAX_DEPTH} levels)")
        inner = depth + 1
        if isinstance(node, ast.Constant):
            self.check_constant(node.value)
        elif isinstance(node, ast.Name):
            if node.id not in _NAME_CONSTANTS:
                self.add_name([node.id])
        elif isinstance(node, ast.Attribute):
            parts, root = _dotted_name(node)
            if not isinstance(root, ast.Name):
                raise self.fail(
                    f'attribute access (".{node.attr}") is only allowed in dotted parameter names such as optimizer.lr'
                )
            self.add_name(parts)
        elif isinstance(node, (ast.List, ast.Tuple)):
            for element in node.elts:
                self.check(element, inner)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPS:
                raise self.fail(self.operator_problem(node.op))
            self.check(node.left, inner)
            self.check(node.right, inner)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARY_OPS:
                raise self.fail(self.operator_problem(node.op))
            self.check(node.operand, inner)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check(value, inner)
        elif isinstance(node, ast.Compare):
            self.check(node.left, inner)
            for comparator in node.comparators:
                self.check(comparator, inner)
        elif isinstance(node, ast.IfExp):
            self.check(node.test, inner)
            self.check(node.body, inner)
            self.check(node.orelse, inner)
        elif isinstance(node, ast.Call):
            self.check_call(node, inner)
        else:
            what = _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions")
            raise self.fail(f"{what} are not allowed in sweep expressions")

    def check_constant(self, value: object) -> None:
        if isinstance(value, _ALLOWED_CONSTANT_TYPES):
            return
        if isinstance(value, complex):
            raise self.fail("complex numbers are not supported")
        if isinstance(value, bytes):
            raise self.fail("bytes literals are not supported")
        raise self.fail(f"the literal {value!r} is not supported")

    def check_call(self, node: ast.Call, depth: int) -> None:
        allowed = _list_names(_FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only these functions can be called, by name: {allowed}")
        name = node.func.id
        if name.startswith("_"):
            raise self.fail(f'names starting with "_" are not allowed ("{name}")')
        if name not in _FUNCTIONS:
            raise self.fail(
                f'"{name}" is not an allowed function{_did_you_mean(name, _FUNCTIONS)}; allowed functions: {allowed}'
            )
        if node.keywords:
            raise self.fail(f"keyword arguments are not supported (in {name}(...))")
        for arg in node.args:
            self.check(arg, depth)

    @staticmethod
    def operator_problem(op: ast.AST) -> str:
        symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
        return f'the operator "{symbol}" is not allowed (allowed: + - * / // % ** and comparisons, and, or, not)'


def _parse_and_check(text: object) -> tuple[ast.expr, list[str]]:
    """Parse *text* and check it against the whitelist; return tree and names."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, not {type(text).__name__} ({text!r:.60})")
    if len(text) > _MAX_TEXT_LENGTH:
        raise ExprError(
            f"invalid expression {_show(text)}: it is too long "
            f"({len(text)} characters; the limit is {_MAX_TEXT_LENGTH})"
        )
    source = text.strip()
    if not source:
        raise ExprError('empty expression: write something like "x * 2"')
    try:
        with warnings.catch_warnings():
            # e.g. invalid escape sequences: not the user's problem here.
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        where = ""
        if exc.lineno == 1 and exc.offset:
            where = f" (at character {exc.offset + len(text) - len(text.lstrip())})"
        raise ExprError(f"invalid expression {_show(text)}: {exc.msg}{where}") from None
    except UnicodeError:  # lone surrogates cannot be encoded for the parser
        raise ExprError(f"invalid expression {_show(text)}: it contains invalid Unicode characters") from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise ExprError(f"invalid expression {_show(text)}: {type(exc).__name__}: {exc}") from None
    checker = _Checker(text)
    try:
        checker.check(tree.body)
    except RecursionError:
        raise checker.fail("it is nested too deeply") from None
    return tree.body, checker.names


# --------------------------------------------------------------------------
# Evaluation


class _Evaluator:
    """Interprets a tree that :class:`_Checker` accepted."""

    def __init__(self, text: str, env: Mapping[str, Any]) -> None:
        self.text = text
        self.env = env

    def lookup(self, name: str) -> Any:
        try:
            return self.env[name]
        except KeyError:
            hint = _did_you_mean(name, (k for k in self.env if isinstance(k, str)))
            raise ExprError(f'{_show(self.text)} uses "{name}", which has no value here{hint}') from None

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in _NAME_CONSTANTS:
                return _NAME_CONSTANTS[node.id]
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self.lookup(".".join(_dotted_name(node)[0]))
        if isinstance(node, ast.List):
            return [self.visit(element) for element in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(element) for element in node.elts)
        if isinstance(node, ast.BinOp):
            left = self.visit(node.left)
            right = self.visit(node.right)
            return _BINARY_OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY_OPS[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.BoolOp):
            # Python semantics: short-circuit, result is the deciding operand.
            is_and = isinstance(node.op, ast.And)
            value: Any = None
            for operand in node.values:
                value = self.visit(operand)
                if bool(value) != is_and:
                    return value
            return value
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            result: Any = True
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.visit(comparator)
                result = _COMPARE_OPS[type(op)](left, right)
                if not result:
                    return result
                left = right
            return result
        if isinstance(node, ast.IfExp):
            if self.visit(node.test):
                return self.visit(node.body)
            return self.visit(node.orelse)
        if isinstance(node, ast.Call):
            function = _FUNCTIONS[node.func.id]  # type: ignore[attr-defined]
            return function(*[self.visit(arg) for arg in node.args])
        # Unreachable for checked trees; refuse rather than guess.
        raise ExprError(f"invalid expression {_show(self.text)}: unsupported syntax")


def _describe(exc: BaseException) -> str:
    """A short, one-line reason for an evaluation failure."""
    if isinstance(exc, OverflowError) and exc.args and isinstance(exc.args[0], int):
        return "numeric result out of range"  # e.g. OverflowError(34, '...')
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Expr:
    """A checked sweep-file expression, ready to evaluate against parameter values.

    Only ``text`` and ``names`` are compared, hashed and pickled; the parsed
    tree is a cache, rebuilt (and re-checked) on first use after unpickling,
    so an ``Expr`` travels cheaply to worker processes.
    """

    text: str
    names: frozenset[str]
    _tree: ast.expr | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"text": self.text, "names": self.names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "text", state["text"])
        object.__setattr__(self, "names", state["names"])
        object.__setattr__(self, "_tree", None)

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Evaluate with *env* mapping parameter names (dotted for nested) to values.

        Any failure, including a missing name, raises :class:`ExprError`, so
        callers have one exception to turn into a user-facing message.
        """
        tree = self._tree
        if tree is None:
            tree, _ = _parse_and_check(self.text)
            object.__setattr__(self, "_tree", tree)
        try:
            return _Evaluator(self.text, env).visit(tree)
        except ExprError:
            raise
        except (
            ArithmeticError,
            TypeError,
            ValueError,
            RecursionError,
            MemoryError,
        ) as exc:
            raise ExprError(f"cannot evaluate {_show(self.text)}: {_describe(exc)}") from exc


def compile_expr(text: str, allowed_names: Iterable[str] | None = None) -> Expr:
    """Parse and check *text* once, so mistakes surface when the sweep file loads.

    Raises :class:`ExprError` for syntax errors, disallowed constructs, or
    (when *allowed_names* is given) names that are not allowed, suggesting the
    closest allowed name.  ``true``/``false``/``null`` read as the constants.
    """
    tree, names = _parse_and_check(text)
    if allowed_names is not None:
        if isinstance(allowed_names, str):
            raise TypeError("allowed_names must be an iterable of names, not a str")
        allowed = set(allowed_names)
        unknown = [name for name in names if name not in allowed]
        if unknown:
            label = "name" if len(unknown) == 1 else "names"
            described = ", ".join(f'"{name}"{_did_you_mean(name, allowed)}' for name in unknown)
            raise ExprError(f"{_show(text)} uses unknown {label} {described}; allowed names: {_list_names(allowed)}")
    expr = Expr(text=text, names=frozenset(names))
    object.__setattr__(expr, "_tree", tree)
    return expr

"""A sweep with no file: `--param`/`--metric` and a command become a spec that loads like a sweep file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepkit.errors import SpecError
from sweepkit.space._params import Choice, Constant, Float, Int, Quantile, Quantized
from sweepkit.spec import load_spec
from sweepkit.spec._inline import FUNCTIONS, inline_spec, parse_metric, parse_param, to_yaml

CMD = ["python", "train.py", "--epochs", "3"]


def space_of(spec: Any) -> dict[str, tuple[Any, ...]]:
    """A comparable summary of each parameter (the Parameter classes compare by identity)."""
    out: dict[str, tuple[Any, ...]] = {}
    for p in spec.space.parameters:
        if isinstance(p, Float):
            out[p.name] = ("float", p.low, p.high, p.log, p.step)
        elif isinstance(p, Int):
            out[p.name] = ("int", p.low, p.high, p.log, p.step)
        elif isinstance(p, Choice):
            out[p.name] = ("choice", p.values)
        elif isinstance(p, Constant):
            out[p.name] = ("const", p.value)
        elif isinstance(p, Quantized):
            out[p.name] = ("quantized", p.low, p.high, p.q, p.log)
        elif isinstance(p, Quantile):
            out[p.name] = ("quantile", p.family, p.mu, p.sigma)
        else:  # pragma: no cover
            out[p.name] = (type(p).__name__,)
    return out


def one(text: str) -> tuple[Any, ...]:
    spec = load_spec(inline_spec([text], None, CMD))
    [(_, summary)] = space_of(spec).items()
    return summary


# -- each form --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entry", "summary"),
    [
        ("lr=uniform(0,1)", {"type": "uniform", "low": 0, "high": 1}, ("float", 0.0, 1.0, False, None)),
        (
            "lr=loguniform(1e-5,1e-1)",
            {"type": "loguniform", "low": 1e-5, "high": 0.1},
            ("float", 1e-5, 0.1, True, None),
        ),
        ("n=int(1,5)", {"type": "int", "low": 1, "high": 5}, ("int", 1, 5, False, 1)),
        ("n=randint(1,5)", {"type": "randint", "low": 1, "high": 5}, ("int", 1, 4, False, 1)),  # Ray: excludes 5
        ("n=logint(1,64)", {"type": "logint", "low": 1, "high": 64}, ("int", 1, 64, True, 1)),
        ("bs=choice(16,32,64)", {"type": "choice", "choices": [16, 32, 64]}, ("choice", (16, 32, 64))),
        ("m=normal(0,0.5)", {"type": "normal", "mu": 0, "sigma": 0.5}, ("quantile", "normal", 0.0, 0.5)),
        (
            "d=quniform(0,1,0.25)",
            {"type": "quniform", "low": 0, "high": 1, "q": 0.25},
            ("quantized", 0.0, 1.0, 0.25, False),
        ),
        ("e=const(3)", {"type": "const", "value": 3}, ("const", 3)),
        ("layers=[1,2,3]", {"type": "choice", "choices": [1, 2, 3]}, ("choice", (1, 2, 3))),
        ("epochs=3", {"type": "const", "value": 3}, ("const", 3)),
        ("opt=adam", {"type": "const", "value": "adam"}, ("const", "adam")),
        # spaces are fine anywhere around the pieces
        (" lr = uniform ( 0 , 1 ) ", {"type": "uniform", "low": 0, "high": 1}, ("float", 0.0, 1.0, False, None)),
    ],
)
def test_each_form(text: str, entry: dict[str, Any], summary: tuple[Any, ...]) -> None:
    name = text.split("=")[0].strip()
    assert parse_param(text) == (name, entry)
    assert one(text) == summary


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-5", 1e-5),  # YAML 1.2: a number (PyYAML's 1.1 would read a string)
        ("-3", -3),
        ("+2.5", 2.5),
        (".5", 0.5),
        ("0x1f", 31),
        ("true", True),
        ("False", False),
        ("null", None),
        ("~", None),
        ("yes", "yes"),  # YAML 1.1 would read true
        ("on", "on"),
        ("1:30", "1:30"),  # YAML 1.1 would read 90
        ("None", "None"),
        ("'quoted, with comma'", "quoted, with comma"),
        ('"double \\"escaped\\""', 'double "escaped"'),
        ("'it''s'", "it's"),
        ('"3"', "3"),
        ("relu", "relu"),
        ("two words", "two words"),
    ],
)
def test_values_are_yaml_scalars(text: str, value: Any) -> None:
    _, entry = parse_param(f"x=choice({text}, other)")
    assert entry["choices"][0] == value
    assert type(entry["choices"][0]) is type(value)


def test_non_finite_choice_is_refused() -> None:
    """`.inf` reads as YAML's infinity, which no store can hold (JSON): refused before a trial runs."""
    with pytest.raises(SpecError, match="not a finite number"):
        parse_param("x=choice(.inf, other)")


def test_choice_values_of_mixed_kinds() -> None:
    assert one("act=choice(relu, 'gelu', true, 1, 2.5, null)") == ("choice", ("relu", "gelu", True, 1, 2.5, None))


def test_the_spec_shape() -> None:
    spec = inline_spec(["lr=loguniform(1e-5,1e-1)", "bs=choice(16,32,64)"], "val_loss:minimize", CMD)
    assert spec == {
        "name": "train",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "trial": {"command": [*CMD, "${args}"]},
        "parameters": {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 0.1},
            "bs": {"type": "choice", "choices": [16, 32, 64]},
        },
    }
    loaded = load_spec(spec)
    assert loaded.name == "train"
    assert (loaded.metric.name, loaded.metric.goal) == ("val_loss", "minimize")
    assert loaded.trial.command == [*CMD, "${args}"]


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["python", "train.py"], "train"),
        (["python", "-u", "src/fit_model.py", "--x"], "fit_model"),
        (["./run.sh"], "run"),
        (["bash", "scripts/go.sh"], "go"),
        (["python", "-m", "pkg.trainer"], "trainer"),
        (["my-trainer", "--fast"], "my-trainer"),
        (["/usr/bin/env", "python3", ".hidden.py"], "hidden"),
    ],
)
def test_the_name_is_the_program_stem(command: list[str], name: str) -> None:
    spec = inline_spec(["x=[1,2]"], None, command)
    assert spec["name"] == name
    assert load_spec(spec).name == name


def test_an_explicit_name_wins() -> None:
    assert inline_spec(["x=[1]"], None, CMD, name="mine")["name"] == "mine"


def test_a_command_that_places_the_params_itself_gets_no_args_appended() -> None:
    for macro in ("${args}", "${args_no_hyphens}", "${args_json}", "${args_json_file}"):
        spec = inline_spec(["x=[1]"], None, ["python", "t.py", macro])
        assert spec["trial"]["command"] == ["python", "t.py", macro]


@pytest.mark.parametrize(
    ("text", "metric"),
    [
        ("val_loss:minimize", {"name": "val_loss", "goal": "minimize"}),
        ("val_loss:min", {"name": "val_loss", "goal": "minimize"}),
        ("acc:maximize", {"name": "acc", "goal": "maximize"}),
        ("acc:MAX", {"name": "acc", "goal": "maximize"}),
        ("val/loss", {"name": "val/loss", "goal": "minimize"}),  # goal defaults to minimize
        ("eval:acc:max", {"name": "eval:acc", "goal": "maximize"}),
    ],
)
def test_metric(text: str, metric: dict[str, str]) -> None:
    assert parse_metric(text) == metric
    assert inline_spec(["x=[1]"], text, CMD)["metric"] == metric


def test_no_metric_leaves_the_default() -> None:
    spec = inline_spec(["x=[1]"], None, CMD)
    assert "metric" not in spec
    assert load_spec(spec).metric.name == "value"


# -- round trips ------------------------------------------------------------------------------------------

ALL_FORMS = [
    "lr=loguniform(1e-5,1e-1)",
    "mom=uniform(0.5, 0.99)",
    "layers=int(1,8)",
    "seed=randint(0,10)",
    "width=logint(16,1024)",
    "act=choice(relu, gelu, 'tanh, scaled', yes, true, null, 1e-3)",
    "noise=normal(0,0.1)",
    "drop=quniform(0,0.5,0.1)",
    "tag=const('1:30')",
    "bs=[16,32,64]",
    "epochs=3",
]


def test_to_yaml_loads_back_to_the_same_space(tmp_path: Path) -> None:
    spec = inline_spec(ALL_FORMS, "val_loss:max", CMD)
    text = to_yaml(spec)
    assert text.startswith("# ")
    path = tmp_path / "saved.yaml"
    path.write_text(text)
    from_file = load_spec(path)
    from_dict = load_spec(spec)
    assert space_of(from_file) == space_of(from_dict)
    assert from_file.trial.command == [*CMD, "${args}"]
    assert (from_file.metric.name, from_file.metric.goal) == ("val_loss", "maximize")
    assert from_file.name == "train"
    assert yaml.safe_load(text) == spec


def test_to_yaml_is_readable() -> None:
    text = to_yaml(inline_spec(["lr=loguniform(1e-5,1e-1)"], "loss", CMD), file="sweep.yaml")
    assert "sweepkit run sweep.yaml" in text
    assert "lr: {type: loguniform, low: 1.0e-05, high: 0.1}" in text


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("lr=loguniform(1e-5)", "--param lr", "loguniform takes (low, high), low > 0; found 1 argument"),
        ("lr=uniform(1,2,3)", "--param lr", "uniform takes (low, high); found 3 arguments"),
        ("q=quniform(0,1)", "--param q", "quniform takes (low, high, q); found 2 arguments"),
        ("n=normal()", "--param n", "normal takes (mu, sigma); found 0 arguments"),
        ("c=const(1,2)", "--param c", "const takes (value); found 2 arguments"),
        ("c=choice()", "--param c", "choice takes (a, b, ...): one or more values; found none"),
        ("n=randint(1)", "--param n", "high excluded as in Ray Tune (int(low, high) includes it)"),
        ("n=int(1)", "--param n", "int takes (low, high), both included"),
        ("lr=logunifrom(1e-5,1e-1)", "--param lr", 'unknown function "logunifrom" (did you mean "loguniform"?)'),
        ("lr=log_uniform(1,2)", "--param lr", '(did you mean "loguniform"?)'),
        ("x=categorical(1,2)", "--param x", '(did you mean "choice"?)'),
        ("x=frobnicate(1)", "--param x", "expected one of uniform, loguniform, int, randint"),
        ("lr=uniform(2,1)", "--param lr", "uniform: high (1) is less than low (2)"),
        ("lr=uniform(1,1)", "--param lr", "the range is empty"),
        ("lr=loguniform(0,1)", "--param lr", "loguniform: a log scale needs low > 0"),
        ("lr=uniform(a,1)", "--param lr", 'uniform: expected a number, found string "a"'),
        ("lr=uniform(true,1)", "--param lr", "expected a number, found boolean true"),
        ("n=int(1.5,3)", "--param n", "expected a whole number"),
        ("n=randint(3,3)", "--param n", "randint's upper bound is exclusive"),
        ("m=normal(0,0)", "--param m", "sigma must be > 0"),
        ("d=quniform(0,1,-1)", "--param d", "q must be > 0"),
        ("lr=uniform(0,1e999)", "--param lr", "expected a finite number"),
        ("lr=uniform", "--param lr", "uniform needs its arguments: uniform(low, high)"),
        ("lr=uniform(0,1", "--param lr", "missing the closing parenthesis: expected uniform(low, high)"),
        ("lr=", "--param lr", 'no value after "="'),
        ("x=[1,2", "--param x", 'a list needs its closing "]"'),
        ("x=[]", "--param x", "an empty list"),
        ("x=[ ]", "--param x", "an empty list"),
        ("x=choice(1,,2)", "--param x", "an empty value"),
        ("x=choice(1,2,)", "--param x", "an empty value"),
        ("x=choice('a,b)", "--param x", "a ' quote is not closed"),
        ('x=choice("a)', "--param x", 'a " quote is not closed'),
        ("x=choice([1,2])", "--param x", "expected a single value"),
        ("x=[[1],[2]]", "--param x", "expected a single value"),
        ("x={a: 1}", "--param x", "expected a single value"),
        ("x=f(1)(2)", "--param x", 'unknown function "f"'),
        ("x=choice(1)x", "--param x", "missing the closing parenthesis"),
        ("x=1" + "0" * 2000, "--param x", "too many digits"),
        ("lr", '--param "lr"', "expected name=value, e.g. lr=loguniform(1e-5,1e-1)"),
        ("=3", '--param "=3"', "expected a parameter name (letters, digits, _ or -, parts joined by dots) before"),
        ("=3", '--param "=3"', 'before "=", found nothing'),
        ("l r=3", '--param "l r=3"', 'found "l r"'),
        ("1lr=3", '--param "1lr=3"', 'found "1lr"'),
        ("opt..lr=3", '--param "opt..lr=3"', 'found "opt..lr"'),
    ],
)
def test_malformed_param(text: str, key: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        inline_spec([text], None, CMD)
    assert info.value.key == key
    assert message in info.value.message
    assert str(info.value) == f"{key}: {info.value.message}"


def test_a_dotted_name_is_one_key() -> None:
    spec = load_spec(inline_spec(["model.n_layers=[2,4]"], None, CMD))
    (param,) = spec.space.parameters
    assert param.name == "model.n_layers" and param.keys == ("model.n_layers",)


def test_duplicate_names() -> None:
    with pytest.raises(SpecError, match='parameter "lr" is given twice') as info:
        inline_spec(["lr=uniform(0,1)", "bs=[1,2]", "lr=[1,2]"], None, CMD)
    assert info.value.key == "--param lr"


def test_no_params() -> None:
    with pytest.raises(SpecError, match="give one or more --param") as info:
        inline_spec([], None, CMD)
    assert info.value.key == "--param"


@pytest.mark.parametrize("command", [[], [""], ["  "]])
def test_empty_command(command: list[str]) -> None:
    with pytest.raises(SpecError, match="no command to run: put it after --"):
        inline_spec(["x=[1]"], None, command)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":min", "expected name[:minimize|maximize]"),
        ("", "expected name[:minimize|maximize]"),
        ("loss:minimise", 'unknown goal "minimise" (did you mean "minimize"?)'),
        ("loss:", 'unknown goal ""'),
        ("loss:up", 'unknown goal "up"'),
    ],
)
def test_malformed_metric(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        inline_spec(["x=[1]"], text, CMD)
    assert info.value.key == "--metric"
    assert message in info.value.message


def test_a_bad_name_is_caught_by_load_spec() -> None:
    with pytest.raises(SpecError, match="sweep name"):
        load_spec(inline_spec(["x=[1]"], None, CMD, name="a\x00b"))


# -- anything typed either parses or is a SpecError -------------------------------------------------------

_PIECES = st.sampled_from(
    [*FUNCTIONS, "lr", "x", "=", "(", ")", "[", "]", ",", "'", '"', "\\", " ", ".", "-", "1", "0", "1e-5", "2.5",
     "true", "null", "~", ":", "{", "}", "#", "&a", "*a", "!!float", "!!binary", "%", "@", "`", "|", ">", "\n"]
)  # fmt: skip


@st.composite
def param_texts(draw: st.DrawFn) -> str:
    shape = draw(st.integers(0, 2))
    if shape == 0:  # well-formed: name=fn(args) with numbers and words as args
        fn = draw(st.sampled_from(list(FUNCTIONS)))
        arg = st.one_of(st.integers(-5, 100), st.floats(allow_nan=True), st.sampled_from(["a", "'b,c'", "true"]))
        args = draw(st.lists(arg, max_size=4))
        return f"x={fn}({', '.join(str(a) for a in args)})"
    if shape == 1:  # near-valid: name=fn(args) with arbitrary args
        fn = draw(st.sampled_from([*FUNCTIONS, "choise", ""]))
        args = draw(st.lists(st.one_of(st.text(max_size=6), _PIECES), max_size=4))
        return f"{draw(st.sampled_from(['lr', 'x', 'a.b', '']))}={fn}({','.join(args)})"
    return "".join(draw(st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=12)))


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(param_texts())
def test_any_text_parses_or_raises_spec_error(text: str) -> None:
    try:
        spec = inline_spec([text], "loss", CMD)
    except SpecError as exc:
        assert exc.key is not None and exc.key.startswith("--param")
        return
    load_spec(spec)  # what parses, loads


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_metric_text_parses_or_raises_spec_error(text: str) -> None:
    try:
        metric = parse_metric(text)
    except SpecError as exc:
        assert exc.key == "--metric"
        return
    assert metric["goal"] in ("minimize", "maximize") and metric["name"]

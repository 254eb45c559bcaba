"""Loading sweep files: overrides, durations, and every kind of user error as one SpecError at a key path."""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sweepkit
from sweepkit import SpecError
from sweepkit.spec import apply_overrides, format_duration, parse_duration

BASE = """
name: base
trial: {function: "train:objective"}
metric: {name: loss, goal: minimize}
strategy: {name: random, seed: 1}
budget: {trials: 3, timeout: 1h}
parameters:
  lr: {type: float, low: 0.001, high: 0.1, log: true}
  opt: [adam, sgd]
  momentum: {min: 0.1, max: 0.9, when: "opt == 'sgd'"}
  layers: {distribution: int_uniform, min: 1, max: 4}
  width: {_type: choice, _value: [32, 64]}
  units: {expr: "layers * width"}
constraints:
  - "units <= 192"
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str, overrides: list[str] | None = None, name: str = "sweep.yaml") -> sweepkit.Spec:
    return sweepkit.load_spec(_write(tmp_path, text, name), overrides or [], cwd=tmp_path)


def _error(
    tmp_path: Path, text: str | bytes, overrides: list[str] | None = None, name: str = "sweep.yaml"
) -> SpecError:
    path = _write(tmp_path, text, name)
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(path, overrides or [], cwd=tmp_path)
    assert info.value.file == str(path)
    return info.value


def test_base_loads(tmp_path: Path) -> None:
    spec = _load(tmp_path, BASE)
    assert spec.dialect == "native"
    assert spec.name == "base"
    assert spec.space.names == ["lr", "opt", "momentum", "layers", "width", "units"]
    assert (spec.budget.trials, spec.budget.timeout) == (3, 3600.0)
    assert spec.strategy_name == "random" and spec.strategy.seed == 1
    assert spec.base_dir == tmp_path
    assert spec.output == tmp_path / "sweeps" / "base"


# -- overrides ---------------------------------------------------------------------------------------------


def test_overrides_change_create_and_parse_values(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        BASE,
        [
            "budget.trials=20",  # an existing key
            "budget.max_failures=4",  # a new key in an existing section
            "metric.target=0.05",
            "+trial.timeout=90s",  # Hydra's "+" for a new key
            "parameters.opt=[adam]",  # a list
            "parameters.extra.values=[1, 2]",  # a new parameter, sections created on the way
            "description=a sweep = of things",  # "=" in the value: only the first one splits
            "name=renamed",
        ],
    )
    assert (spec.budget.trials, spec.budget.max_failures) == (20, 4)
    assert spec.metric.target == 0.05
    assert spec.trial.timeout == 90.0
    params = {p.name: p for p in spec.space.parameters}
    assert params["opt"].values == ("adam",)
    assert params["extra"].values == (1, 2)
    assert spec.description == "a sweep = of things"
    assert spec.name == "renamed"


def test_override_to_null_and_to_a_section(tmp_path: Path) -> None:
    spec = _load(tmp_path, BASE, ["budget.timeout=null", "strategy={name: tpe, seed: 9}"])
    assert spec.budget.timeout is None
    assert (spec.strategy_name, spec.strategy.seed) == ("tpe", 9)


def test_overrides_apply_to_a_copy() -> None:
    raw = {"budget": {"trials": 3}}
    out = apply_overrides(raw, ["budget.trials=5", "a.b.c=[focal]"])
    assert raw == {"budget": {"trials": 3}}
    assert out == {"budget": {"trials": 5}, "a": {"b": {"c": ["focal"]}}}


def test_an_override_reaches_a_dotted_parameter_name() -> None:
    raw = {"parameters": {"model.n_layers": {"values": [2, 4]}, "model": {"parameters": {"width": [8]}}}}
    out = apply_overrides(raw, ["parameters.model.n_layers.values=[6]", "parameters.model.parameters.width=[16]"])
    assert out["parameters"] == {"model.n_layers": {"values": [6]}, "model": {"parameters": {"width": [16]}}}


def test_override_values_that_are_not_yaml_are_kept_as_text() -> None:
    assert apply_overrides({}, ["name=[unclosed"]) == {"name": "[unclosed"}
    assert apply_overrides({}, ["name="]) == {"name": ""}


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("budget.trials", "budget.trials", "not of the form key.path=value"),
        ("=3", None, "not of the form key.path=value"),
        ("budget..trials=3", "budget..trials", "not of the form key.path=value"),
        ("budget.trials.=3", "budget.trials.", "not of the form key.path=value"),
        ("name.first=x", "name.first", '"name" is str, not a mapping'),
        ("parameters.opt.values=[1]", "parameters.opt.values", '"parameters.opt" is list, not a mapping'),
        ("budget.trials=many", "budget.trials", "valid integer"),
        ("parameters.lr.low=1", "parameters.lr.high", "less than low"),
        ("budget.trails=3", "budget.trails", 'did you mean "trials"'),
    ],
)
def test_bad_overrides(tmp_path: Path, override: str, key: str | None, fragment: str) -> None:
    err = _error(tmp_path, BASE, [override])
    assert err.key == key
    assert fragment in err.message


# -- durations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200.0),
        ("30m", 1800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("90s", 90.0),
        ("1.5h", 5400.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("2H", 7200.0),
        ("7200", 7200.0),
        (7200, 7200.0),
        (0.5, 0.5),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "h", "2x", "1 hour", "1h30", "-1h", "0", 0, -5, "nan", "inf", float("inf"), 10**400, True, None, [1]]
)
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 90, 5400)] == ["5.0s", "1m30s", "1h30m"]


@pytest.mark.parametrize(
    ("field", "value", "seconds"), [("budget.timeout", "1h30m", 5400.0), ("trial.timeout", "45s", 45.0)]
)
def test_durations_in_files(tmp_path: Path, field: str, value: str, seconds: float) -> None:
    spec = _load(tmp_path, BASE, [f"{field}={value}"])
    section, name = field.split(".")
    assert getattr(getattr(spec, section), name) == seconds


@pytest.mark.parametrize("value", ["soon", "-5", "0", ".nan", ".inf", "true"])
def test_bad_durations_in_files(tmp_path: Path, value: str) -> None:
    err = _error(tmp_path, BASE.replace("timeout: 1h", f"timeout: {value}"))
    assert err.key == "budget.timeout"
    assert "duration" in err.message
    assert "got" in err.message


# -- every class of user error: one SpecError, at the key path written, saying what was expected -----------


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        # unknown keys, with did-you-mean
        ("budget: {", "budgt: {", "budgt", 'unknown key "budgt" at the top of the file (did you mean "budget"?)'),
        ("trials: 3", "trails: 3", "budget.trails", 'unknown key "trails" in budget (did you mean "trials"?)'),
        ('{function: "train:objective"}', "{fn: x}", "trial.fn", 'unknown key "fn" in trial'),
        ("goal: minimize}", "goal: minimize, nam: x}", "metric.nam", 'did you mean "name"'),
        ("low: 0.001,", "lwo: 0.001,", "parameters.lr.lwo", "unknown key"),
        # wrong types
        ("trials: 3", "trials: many", "budget.trials", "valid integer"),
        ("trials: 3", "trials: 2.5", "budget.trials", "valid integer"),
        ("trials: 3", "trials: yes", "budget.trials", "expected a number, found true"),
        ("seed: 1", "seed: [1]", "strategy.seed", "valid integer"),
        ("name: base", "name: [a]", "name", "valid string"),
        ("name: base", 'name: "a\\0b"', "name", "cannot hold a control character"),
        ("name: base", "study_name: " + "x" * 201, "study_name", "at most 200 characters, found 201"),
        ("goal: minimize", "goal: lower", "metric.goal", "'minimize' or 'maximize'"),
        ("{name: loss, goal: minimize}", "3", "metric", "expected a mapping of keys (got 3)"),
        ("log: true", "log: maybe", "parameters.lr.log", "expected true or false"),
        ("low: 0.001", "low: small", "parameters.lr.low", "expected a number"),
        ('  - "units <= 192"', "  - 3", "constraints.0", "valid string"),
        ("trials: 3", "trials: 0", "budget.trials", "greater than or equal to 1"),
        # min > max, empty ranges and choices
        ("low: 0.001", "low: 0.5", "parameters.lr.high", "high (0.1) is less than low (0.5)"),
        ("min: 1, max: 4", "min: 5, max: 4", "parameters.layers.max", "max (4) is less than min (5)"),
        ("min: 0.1, max: 0.9", "min: 0.9, max: 0.9", "parameters.momentum.max", "the range is empty"),
        ("opt: [adam, sgd]", "opt: []", "parameters.opt", "a choice needs at least one value"),
        ("_value: [32, 64]", "_value: []", "parameters.width._value", "empty"),
        # bad or unsafe expressions
        ("opt == 'sgd'", "opt ==", "parameters.momentum.when", "invalid expression"),
        ("opt == 'sgd'", "__import__('os').system('true')", "parameters.momentum.when", "invalid expression"),
        ("opt == 'sgd'", "opt.__class__", "parameters.momentum.when", "invalid expression"),
        ("opt == 'sgd'", "optt == 'sgd'", "parameters.momentum.when", 'did you mean "opt"'),
        ('"layers * width"', '"layers * widht"', "parameters.units.expr", 'did you mean "width"'),
        ('"layers * width"', "\"open('/etc/passwd').read()\"", "parameters.units.expr", "invalid expression"),
        ('"layers * width"', "3", "parameters.units.expr", "expected an expression"),
        # an unknown distribution
        ("_type: choice", "_type: chioce", "parameters.width._type", 'did you mean "choice"'),
        ("distribution: int_uniform", "distribution: randint", "parameters.layers.distribution", "int_uniform"),
    ],
)
def test_bad_input(tmp_path: Path, old: str, new: str, key: str, fragment: str) -> None:
    assert old in BASE
    err = _error(tmp_path, BASE.replace(old, new, 1))
    assert err.key == key
    assert fragment in err.message
    assert "\n" not in str(err)


def test_unknown_strategy_with_did_you_mean(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE.replace("name: random", "name: randon"))
    assert err.key == "strategy.name"
    assert err.message.startswith('unknown strategy "randon" (did you mean "random"?); expected one of auto,')


@pytest.mark.parametrize("name", ["TPE", "tpe", "TPESampler", "CmaEs", "cma-es", "GridSearch", "Anneal", "bayesian"])
def test_strategy_spellings_of_other_tools(tmp_path: Path, name: str) -> None:
    assert _load(tmp_path, BASE.replace("name: random", f"name: {name}")).strategy_name in (
        "tpe",
        "cmaes",
        "grid",
        "bayes",
    )


# -- conditions, derived values and constraints ------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        "a: {expr: 'b + 1'}\n  b: {expr: 'a + 1'}",
        "a: {values: [1, 2], when: 'b == 1'}\n  b: {values: [1, 2], when: 'a == 1'}",
        "a: {values: [1, 2], when: 'c > 1'}\n  b: {values: [1, 2], when: 'a == 1'}\n  c: {expr: 'b * 2'}",
    ],
    ids=["expr-expr", "when-when", "when-when-expr"],
)
def test_cycles(tmp_path: Path, params: str) -> None:
    err = _error(tmp_path, f"parameters:\n  {params}\n")
    assert err.key == "parameters"
    assert "cycle" in err.message and "a → " in err.message


def test_cycle_reported_at_the_aliased_section(tmp_path: Path) -> None:
    err = _error(tmp_path, "search_space:\n  a: {expr: 'b + 1'}\n  b: {expr: 'a + 1'}\n")
    assert err.key == "search_space"


def test_a_parameter_cannot_read_itself(tmp_path: Path) -> None:
    err = _error(tmp_path, "parameters:\n  a: {values: [1, 2], when: 'a == 1'}\n")
    assert err.key == "parameters.a.when"
    assert "refers to the parameter it belongs to" in err.message


@pytest.mark.parametrize(
    ("constraint", "fragment"),
    [
        ('"unitz <= 192"', 'did you mean "units"'),
        ('"units <="', "invalid expression"),
        ('"units.__class__"', "invalid expression"),
        ("\"__import__('os')\"", "invalid expression"),
        ('""', "empty expression"),
    ],
)
def test_constraint_compile_errors(tmp_path: Path, constraint: str, fragment: str) -> None:
    err = _error(tmp_path, BASE.replace('"units <= 192"', f'"lr < 1"\n  - {constraint}'))
    assert err.key == "constraints.1"
    assert fragment in err.message


def test_empty_sections_are_as_if_absent(tmp_path: Path) -> None:
    """A section whose keys are all commented out is null in YAML: it means the defaults."""
    spec = _load(tmp_path, "name: s\nbudget:\n  # trials: 3\nmetric:\nstrategy:\ntrial:\nparameters: {x: [1]}\n")
    assert (spec.budget.trials, spec.metric.name, spec.strategy_name, spec.trial.function) == (
        None,
        "value",
        "auto",
        None,
    )


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("budget: [1]\nparameters: {x: [1]}\n", "budget", "expected a mapping of keys"),
        ("constraints: {a: 1}\nparameters: {x: [1]}\n", "constraints", "expected a list"),
        ("parameters: lr\n", "parameters", "expected a mapping (got 'lr')"),
        ("parameters: {1: [1, 2]}\n", "parameters.1", "valid string"),
        ("1: 2\nparameters: {x: [1]}\n", "1", "Keys should be strings"),
    ],
)
def test_wrong_shapes(tmp_path: Path, text: str, key: str, message: str) -> None:
    err = _error(tmp_path, text)
    assert err.key == key
    assert message in err.message


def test_no_parameters(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: empty\nbudget: {trials: 2}\n")
    assert err.key == "parameters"
    assert "no parameters to search" in err.message


# -- files: formats and unreadable ones ---------------------------------------------------------------------


def test_yaml_12_numbers_and_dates(tmp_path: Path) -> None:
    """`1e-5` is a number (PyYAML alone reads a string) and `2024-01-01` stays text, as in JSON."""
    spec = _load(tmp_path, "name: 2024-01-01\nparameters:\n  lr: [1e-5, 1E-4, 3.0e-3]\n  day: [2024-01-01]\n")
    assert spec.name == "2024-01-01"
    params = {p.name: p for p in spec.space.parameters}
    assert params["lr"].values == (1e-5, 1e-4, 3e-3)
    assert all(isinstance(v, float) for v in params["lr"].values)
    assert params["day"].values == ("2024-01-01",)


def test_json_file(tmp_path: Path) -> None:
    doc = {"method": "grid", "metric": {"name": "acc", "goal": "maximize"}, "parameters": {"x": {"values": [1, 2]}}}
    spec = _load(tmp_path, json.dumps(doc), name="sweep.json")
    assert (spec.dialect, spec.strategy_name, spec.metric.goal, spec.space.names) == (
        "wandb",
        "grid",
        "maximize",
        ["x"],
    )


def test_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeff" + json.dumps({"parameters": {"x": [1]}}), "bom.json")
    assert sweepkit.load_spec(path).space.names == ["x"]


def test_json_error_reports_line_and_column(tmp_path: Path) -> None:
    err = _error(tmp_path, '{\n  "parameters": {"x": [1, 2]},\n}\n', name="bad.json")
    assert err.key is None
    assert err.message.startswith("invalid JSON at line 3, column 1:")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("parameters:\n  x: [1, 2\n  y: 3\n", "line 3, column 4"),
        ("parameters:\n\tx: [1]\n", "line 2, column 1"),
        ("name: a\n  bad: indent\n", "line 2, column 6"),
        ("parameters: {x: [1]}\nparameters: *nothing\n", "line 2, column 13"),
    ],
)
def test_yaml_syntax_errors_report_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    err = _error(tmp_path, text)
    assert err.key is None
    assert err.message.startswith(f"invalid YAML at {where}:")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- method: grid\n- parameters: {}\n", "expected a mapping of keys at the top, found list"),
        ("just text\n", "expected a mapping of keys at the top, found str"),
        ("42\n", "expected a mapping of keys at the top, found int"),
        (b"\x00\xff\xfe\x80\x81garbage\x00", "not a text file"),
        ("parameters: {x: [1]}\n".encode("utf-16"), "not a text file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
        ("parameters: {x: [1]}\x00\n", "invalid YAML"),
        ("name: !!timestamp 2024-13-45\nparameters: {x: [1]}\n", "invalid YAML: month must be in 1..12"),
        ("budget: {trials: " + "9" * 5000 + "}\n", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
        ("parameters: {x: !!python/object:os.system {}}\n", "invalid YAML"),
        ("parameters: {x: " + "[" * 2000 + "]" * 2000 + "}\n", "nested too deeply"),
    ],
    ids=[
        "empty",
        "comment",
        "list",
        "str",
        "int",
        "binary",
        "utf16",
        "png",
        "nul",
        "bad-date",
        "huge-int",
        "two-docs",
        "python-tag",
        "deep",
    ],  # fmt: skip
)
def test_unreadable_files(tmp_path: Path, text: str | bytes, fragment: str) -> None:
    err = _error(tmp_path, text)
    assert fragment in err.message
    assert "\n" not in str(err)


def test_a_folder_instead_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "sweeps.yaml").mkdir()
    with pytest.raises(SpecError) as info:
        sweepkit.load_spec(tmp_path / "sweeps.yaml")
    assert (info.value.file, info.value.key) == (str(tmp_path / "sweeps.yaml"), None)
    assert "folder" in info.value.message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        sweepkit.load_spec(tmp_path / "nope.yaml")


# -- trial.function: module or callable not found (checked when the sweep runs) -----------------------------


@pytest.fixture
def fresh_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test's trial modules are imported from its own tmp_path, and forgotten afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in ("loadtrain", "broken"):
        sys.modules.pop(name, None)


@pytest.mark.usefixtures("fresh_imports")
@pytest.mark.parametrize(
    ("function", "fragment"),
    [
        ("sweepkit_no_such_module:objective", 'module "sweepkit_no_such_module" not found'),
        ("loadtrain:objectiv", '"loadtrain" has no callable "objectiv" (did you mean "objective"?)'),
        ("loadtrain:CONSTANT", "not a function"),
        ("loadtrain", 'expected "module:callable"'),
        ("broken:objective", "syntax error at line 1"),
    ],
)
def test_trial_function_not_found(tmp_path: Path, function: str, fragment: str) -> None:
    (tmp_path / "loadtrain.py").write_text("CONSTANT = 3\n\ndef objective(params):\n    return params['x']\n")
    (tmp_path / "broken.py").write_text("def objective(params) return 1\n")
    path = _write(tmp_path, f"trial: {{function: '{function}'}}\nparameters: {{x: [1, 2]}}\n")
    with pytest.raises(SpecError) as info:
        sweepkit.run(path, quiet=True, cwd=tmp_path)
    assert (info.value.file, info.value.key) == (str(path), "trial.function")
    assert fragment in info.value.message


# -- property: whatever the file holds, load_spec returns a Spec or raises SpecError ------------------------

_KEYS = [
    "name", "trial", "function", "program", "command", "metric", "goal", "target", "strategy", "budget",
    "trials", "timeout", "parameters", "constraints", "when", "expr", "values", "value", "min", "max", "low",
    "high", "type", "distribution", "_type", "_value", "_name", "choices", "log", "step", "q", "probabilities",
    "mu", "sigma", "hpo", "hyperopt", "search_space", "study", "n_trials", "num_trials", "mode", "method",
    "run_cap", "searchSpace", "tuner", "classArgs", "optimize_mode", "optuna_sampler", "seed", "sampler",
    "early_terminate", "pruner", "resources", "output", "storage", "max_failures", "lr", "opt",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(
        [
            "uniform",
            "choice",
            "int",
            "grid",
            "tpe",
            "combined",
            "x > 1",
            "lr * 2",
            "2h",
            "1e-3",
            "maximize",
            "max",
            "log_uniform_values",
            "opt == 'sgd'",
            "a.b",
            "__import__('os')",
            "",
        ]
    ),  # fmt: skip
)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=6), st.integers(-2, 2)), inner, max_size=5),
    ),
    max_leaves=20,
)
_BASE_DOC = yaml.safe_load(BASE)
_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="sweepkit-fuzz-"))


def _merge(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node: Any = out
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value
    return out


def _dump(doc: Any, as_json: bool) -> str:
    if as_json:
        try:
            return json.dumps(doc)
        except (TypeError, ValueError):
            pass
    return yaml.safe_dump(doc)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["doc", "merged", "text", "overrides"]),
    doc=_DOCS,
    path=st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4),
    text=st.one_of(
        st.text(max_size=80),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.sampled_from(["{", "- [", "a: b: c", "? [1]\n: 2", "*x", "!!int x", "a: !!binary x", "\t-"]),
    ),
    overrides=st.lists(st.text(max_size=16), max_size=3),
    as_json=st.booleans(),
)
def test_any_document_loads_or_raises_spec_error(
    kind: str, doc: Any, path: list[str], text: str, overrides: list[str], as_json: bool
) -> None:
    file = _FUZZ_DIR / ("sweep.json" if as_json else "sweep.yaml")
    if kind == "doc":
        file.write_text(_dump(doc, as_json), encoding="utf-8")
    elif kind == "merged":
        file.write_text(_dump(_merge(_BASE_DOC, path, doc), as_json), encoding="utf-8")
    elif kind == "text":
        file.write_bytes(text.encode("utf-8", "surrogatepass"))
    else:
        file.write_text(_dump(_BASE_DOC, as_json), encoding="utf-8")
        overrides = [*overrides, f"{'.'.join(path)}={_dump(doc, True).strip()}"]
    try:
        spec = sweepkit.load_spec(file, overrides, cwd=_FUZZ_DIR)
    except SpecError as exc:
        assert exc.file is None or exc.file == str(file)
        assert exc.message
    else:
        assert isinstance(spec, sweepkit.Spec)

"""Hostile and broken sweep files: `sweepkit validate` answers every one with exit 0 or a user error (exit 2)
naming the key at fault, never a traceback, an internal error, a hang or gigabytes of memory.

CORPUS holds one file per known way in (issue #14); the hypothesis test below mutates valid files at random.
`validate` and `run` share one preflight, so a file `validate` calls valid does not fail `run` later.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from sweepkit.cli import main

HEAD = """\
name: hostile
metric: {name: loss, goal: minimize}
trial: {function: "htrain:objective"}
"""
LR = "parameters:\n  lr: {min: 0.001, max: 0.1}\n"


def _bomb(levels: int = 9) -> str:
    """Billion laughs: each level is 9 aliases of the one before, 9**levels strings from < 900 bytes."""
    lines = ["name: hostile", "metric: {name: loss, goal: minimize}", "project:"]
    lines.append("  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines += ["parameters:", f"  lr: {{values: *a{levels - 1}}}"]
    return "\n".join(lines) + "\n"


# name → (file text, file suffix, text the error must contain: the key path, or what was expected)
CORPUS: dict[str, tuple[str, str, str]] = {
    "alias bomb": (_bomb(), ".yaml", "alias"),
    "alias bomb at the top": (_bomb().replace("project:", "x:"), ".yaml", "alias"),
    "self-referencing alias": (HEAD + "parameters:\n  lr: {values: &r [1, *r]}\n", ".yaml", "contains it"),
    "self-referencing mapping": (HEAD + "parameters:\n  lr: &m {values: [1, *m]}\n", ".yaml", "contains it"),
    "duplicate YAML key": (HEAD + LR + "  lr: {min: 0.1, max: 0.2}\n", ".yaml", "line 5 and line 6"),
    "duplicate top-level YAML key": (HEAD + "name: again\n" + LR, ".yaml", '"name"'),
    "duplicate JSON key": (
        '{"name": "hostile",\n "metric": {"name": "loss"},\n "name": "again",\n'
        ' "parameters": {"lr": {"min": 0.1, "max": 1}}}\n',
        ".json",
        "line 1 and line 3",
    ),
    "unknown resources key": (HEAD + "resources: {wrokers: 2}\n" + LR, ".yaml", 'did you mean "workers"'),
    "workers 0": (HEAD + "resources: {workers: 0}\n" + LR, ".yaml", "resources.workers"),
    "log with step 1": (
        HEAD + "parameters:\n  n: {min: 1, max: 100, log: true, step: 1}\n",
        ".yaml",
        "parameters.n.step",
    ),
    "log with step, typed": (
        HEAD + "parameters:\n  n: {type: int, low: 1, high: 100, log: true, step: 1}\n",
        ".yaml",
        "parameters.n.step",
    ),
    "unknown command macro": (
        "name: hostile\nmetric: {name: loss}\ntrial:\n  command: [python, '${foo}', '${args}']\n" + LR,
        ".yaml",
        "trial.command",
    ),
    "step 1e-300": (HEAD + "parameters:\n  lr: {min: 0.001, max: 0.1, step: 1e-300}\n", ".yaml", "parameters.lr"),
    "log_normal mu 1000": (
        HEAD + "parameters:\n  lr: {distribution: log_normal, mu: 1000, sigma: 1}\n",
        ".yaml",
        "parameters.lr",
    ),
    "bounds 1e308": (HEAD + "parameters:\n  lr: {min: -1e308, max: 1e308}\n", ".yaml", "parameters.lr"),
    "bounds 1.7e308 with step": (
        HEAD + "parameters:\n  lr: {min: -1.7e308, max: 1.7e308, step: 1e307}\n",
        ".yaml",
        "parameters.lr",
    ),
    "int bounds 1e308": (
        HEAD + "parameters:\n  n: {distribution: int_uniform, min: -1e308, max: 1e308}\n",
        ".yaml",
        "parameters.n",
    ),
    "q_uniform tiny q": (
        HEAD + "parameters:\n  lr: {distribution: q_uniform, min: 0, max: 1e300, q: 1e-300}\n",
        ".yaml",
        "parameters.lr",
    ),
    "function without a module": (
        HEAD.replace('"htrain:objective"', "objective") + LR,
        ".yaml",
        "trial.function",
    ),
    "function module missing": (
        HEAD.replace('"htrain:objective"', '"nosuchmodule:objective"') + LR,
        ".yaml",
        "trial.function",
    ),
    "unknown storage scheme": (HEAD + "storage: 'foo://bar'\n" + LR, ".yaml", "storage"),
    "journal storage is a folder": (HEAD + "storage: 'journal:/tmp'\n" + LR, ".yaml", "storage"),
    "tpe gamma 5": (HEAD + "strategy: {name: tpe, gamma: 5}\n" + LR, ".yaml", "strategy.gamma"),
    "tpe n_ei_candidates 0": (
        HEAD + "strategy: {name: tpe, n_ei_candidates: 0}\n" + LR,
        ".yaml",
        "strategy.n_ei_candidates",
    ),
    "metric target nan": (
        HEAD.replace("goal: minimize}", "goal: minimize, target: .nan}") + LR,
        ".yaml",
        "metric.target",
    ),
    "choice with nan": (HEAD + "parameters:\n  lr: {values: [.nan, 1]}\n", ".yaml", "parameters.lr"),
    "constant inf": (HEAD + "parameters:\n  lr: {value: .inf}\n", ".yaml", "parameters.lr"),
    "derived inf": (HEAD + LR + "  x: {expr: \"float('inf')\"}\n", ".yaml", "parameters.x"),
    "output is a device": (HEAD + "output: /dev/null\n" + LR, ".yaml", "output"),
    "output under a file": (HEAD + "output: htrain.py/results\n" + LR, ".yaml", "output"),
    "program missing": (
        "name: hostile\nmetric: {name: loss}\ntrial: {program: nothere.py}\n" + LR,
        ".yaml",
        "trial.program",
    ),
    "command's program missing": (
        "name: hostile\nmetric: {name: loss}\ntrial:\n  command: [./nothere, '${args}']\n" + LR,
        ".yaml",
        "trial.command",
    ),
    "program in command missing": (
        "name: hostile\nmetric: {name: loss}\ntrial:\n  program: nothere.py\n"
        "  command: ['${env}', '${interpreter}', '${program}', '${args}']\n" + LR,
        ".yaml",
        "trial.program",
    ),
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("htrain", None)
    (tmp_path / "htrain.py").write_text("def objective(params):\n    return {'loss': 1.0}\n")
    return tmp_path


def _validate(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    return code, out.getvalue(), err.getvalue()


def _assert_clean(code: int, out: str, err: str, expected: str | None = None, file: str = "sweep.") -> None:
    assert code in (0, 2), f"exit {code}: {err}"
    assert "Traceback" not in out + err
    assert "internal error" not in err
    if code == 2:
        assert err.startswith("sweepkit: error: "), err
        assert file in err, err  # the file; the key path follows it where the file has one at fault
        assert "valid" not in out, out  # "valid" comes only after every check
        if expected is not None:
            assert expected in err, err


@pytest.mark.parametrize("case", list(CORPUS))
def test_corpus_is_a_user_error_naming_the_key(folder: Path, case: str) -> None:
    text, suffix, expected = CORPUS[case]
    path = folder / f"sweep{suffix}"
    path.write_text(text)
    start = time.process_time()  # CPU time: the machine may be shared; the bombs took minutes and GBs
    code, out, err = _validate(path)
    assert time.process_time() - start < 10
    _assert_clean(code, out, err, expected)
    assert code == 2, out


def test_duplicate_key_names_both_lines(folder: Path) -> None:
    path = folder / "sweep.yaml"
    path.write_text(HEAD + LR + "  lr: {min: 0.1, max: 0.2}\n")
    code, _, err = _validate(path)
    assert code == 2
    assert 'duplicate key "lr" at line 5 and line 6' in err


def test_merge_keys_may_be_overridden(folder: Path) -> None:
    """`<<: *base` then an own key is YAML's way to override: not a duplicate."""
    path = folder / "sweep.yaml"
    path.write_text(HEAD + "parameters:\n  lr: &base {min: 0.001, max: 0.1}\n  wd:\n    <<: *base\n    max: 0.5\n")
    code, out, err = _validate(path)
    assert code == 0, err
    assert "float in [0.001, 0.5]" in out


def test_shared_blocks_through_aliases_stay_valid(folder: Path) -> None:
    path = folder / "sweep.yaml"
    path.write_text(HEAD + "parameters:\n  a: &p {values: [1, 2, 3]}\n  b: *p\n  c: *p\n")
    code, out, err = _validate(path)
    assert code == 0, err


def test_valid_file_still_valid(folder: Path) -> None:
    path = folder / "sweep.yaml"
    path.write_text(HEAD + LR)
    code, out, err = _validate(path)
    _assert_clean(code, out, err)
    assert code == 0 and "valid" in out


def test_valid_program_file_is_valid(folder: Path) -> None:
    (folder / "train.py").write_text("print(1)\n")
    path = folder / "sweep.yaml"
    path.write_text("name: hostile\nmetric: {name: loss}\ntrial: {program: train.py}\n" + LR)
    code, out, err = _validate(path)
    assert code == 0, err


@pytest.mark.slow
def test_twenty_thousand_parameters_finish_quickly(folder: Path) -> None:
    path = folder / "sweep.yaml"
    lines = [f"  p{i}: {{min: 0.0, max: 1.0}}" for i in range(20_000)]
    path.write_text(HEAD + "parameters:\n" + "\n".join(lines) + "\n")
    start = time.process_time()
    code, out, err = _validate(path)
    took = time.process_time() - start
    _assert_clean(code, out, err, "parameters")
    assert took < 10, took
    assert len(out) < 20_000  # the table and the sampled trial are shown shortened


def test_file_larger_than_the_cap_is_refused(folder: Path) -> None:
    path = folder / "sweep.yaml"
    path.write_text(HEAD + LR + "# " + "x" * (2 << 20) + "\n")
    code, out, err = _validate(path)
    _assert_clean(code, out, err, "MiB")
    assert code == 2


def _child_peak(args: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """Run `sweepkit validate` in a child: exit code, stderr, seconds, peak RSS in MB (VmHWM, Linux)."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from sweepkit.cli import main
        start = time.process_time()
        rc = main({args!r})
        took = time.process_time() - start
        # VmHWM, this program's own peak: ru_maxrss would also count the test process's pages at fork time
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
        print(f"RESULT {{rc}} {{took}} {{peak}}", file=sys.stderr)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60, env=env)
    last = [line for line in proc.stderr.splitlines() if line.startswith("RESULT ")][-1].split()
    return int(last[1]), proc.stderr, float(last[2]), float(last[3])


@pytest.mark.slow
@pytest.mark.parametrize("target", ["bomb.yaml", "/dev/zero"])
def test_bombs_stay_small_and_quick(folder: Path, target: str) -> None:
    (folder / "bomb.yaml").write_text(_bomb())
    assert len(_bomb().encode()) < 900
    code, err, took, peak = _child_peak(["validate", target], folder)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert took < 10
    assert peak < 500, peak


@pytest.mark.slow
def test_run_with_a_missing_program_stops_before_any_trial(folder: Path) -> None:
    path = folder / "sweep.yaml"
    path.write_text("name: hostile\nmetric: {name: loss}\ntrial: {program: nothere.py}\nbudget: {trials: 3}\n" + LR)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(path)])
    assert code == 2, err.getvalue()
    assert "trial.program" in err.getvalue()
    assert not (folder / ".sweepkit" / "sweeps.journal").exists()  # no study opened, no trial ran


def test_python_run_checks_like_validate(folder: Path) -> None:
    """`sweepkit.run()` calls the same preflight: a bad storage stops it before a trial."""
    import sweepkit
    from sweepkit.errors import SpecError

    spec = yaml.safe_load(HEAD + "storage: 'journal:/tmp'\n" + LR)
    with pytest.raises(SpecError, match="storage"):
        sweepkit.run(spec, trials=1, quiet=True)


# -- fuzz: valid files, mutated ----------------------------------------------------------------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BASE = {
    "name": "fuzz",
    "metric": {"name": "loss", "goal": "minimize"},
    "trial": {"function": "htrain:objective"},
    "strategy": {"name": "random"},
    "parameters": {
        "lr": {"min": 0.001, "max": 0.1},
        "n": {"values": [1, 2, 3]},
        "wd": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    },
}
_WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${foo}", "journal:/tmp", "foo://bar", "/dev/null", "1e-300", "float('inf')", "-1e308"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_KEYS = st.sampled_from(
    [
        "name", "storage", "output", "metric.target", "metric.goal", "strategy.name", "strategy.gamma",
        "strategy.n_ei_candidates", "strategy.n_startup_trials", "resources.workers", "resources.wrokers",
        "parameters.lr.min", "parameters.lr.max", "parameters.lr.step", "parameters.lr.log", "parameters.n.values",
        "parameters.wd.min", "parameters.wd.distribution", "parameters.x.expr", "parameters.y.value",
        "budget.trials", "trial.function", "trial.program", "trial.command", "constraints",
    ]
)  # fmt: skip


def _put(spec: dict, dotted: str, value: object) -> None:
    node = spec
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(_KEYS, _WEIRD), min_size=1, max_size=3), as_json=st.booleans())
def test_fuzz_validate_never_crashes(tmp_path: Path, edits: list[tuple[str, object]], as_json: bool) -> None:
    spec = json.loads(json.dumps(BASE))
    for key, value in edits:
        _put(spec, key, value)
    path = tmp_path / ("sweep.json" if as_json else "sweep.yaml")
    (tmp_path / "htrain.py").write_text("def objective(params):\n    return {'loss': 1.0}\n")
    text = json.dumps(spec) if as_json else yaml.safe_dump(spec)
    path.write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        start = time.process_time()
        code, out, err = _validate(path)
        assert time.process_time() - start < 10
    finally:
        os.chdir(cwd)
    _assert_clean(code, out, err)


_VALID_TEXT = HEAD + "strategy: {name: random}\nparameters:\n  lr: {min: 0.001, max: 0.1}\n  n: [1, 2, 3]\n"
_SPLICES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["&a ", "*a", "<<: ", "{", "]", ": ", "\n  ", "!!python/object:os.system", "- ", "'", "\t"]),
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(edits=st.lists(st.tuples(st.integers(min_value=0, max_value=len(_VALID_TEXT)), _SPLICES), max_size=4))
def test_fuzz_validate_text_splices(tmp_path: Path, edits: list[tuple[int, str]]) -> None:
    text = _VALID_TEXT
    for at, piece in edits:
        text = text[:at] + piece + text[at:]
    path = tmp_path / "sweep.yaml"
    (tmp_path / "htrain.py").write_text("def objective(params):\n    return {'loss': 1.0}\n")
    path.write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, out, err = _validate(path)
    finally:
        os.chdir(cwd)
    _assert_clean(code, out, err)

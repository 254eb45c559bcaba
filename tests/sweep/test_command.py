"""W&B's command macros, expanded exactly as `wandb agent` expands them, into an argv no value can escape.

Expected outputs are W&B's own, read from wandb/wandb at b6e29505884ea60c79ca12091f1f75bd39d2f955:
`wandb/wandb_agent.py` (Agent._command_run, Agent.DEFAULT_SWEEP_COMMAND), `wandb/sdk/launch/sweeps/utils.py`
(create_sweep_command, create_sweep_command_args) and their tests `tests/system_tests/test_sweep/
test_wandb_agent.py` (test_agent_create_command_args, test_agent_create_sweep_command) and
`tests/unit_tests/test_wandb_agent/test_cli_agent.py` (test_agent_writes_args_json_file_under_wandb_dir).
Nested sections: wandb/sweeps at b1dfc5f95e7fa179519718e92371d1423c116893, `src/sweeps/params.py`
(HyperParameterSet.to_config re-nests them into one `{"value": {...}}` per top-level key).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweepkit.sweep import _command
from sweepkit.sweep._command import DEFAULT_COMMAND, ENV_PROGRAM, MACROS, build_argv, check_command, format_args

# test_agent_create_command_args: {"a": True, "b": False, "c": 1, "d": None}
WANDB_PARAMS: dict[str, Any] = {"a": True, "b": False, "c": 1, "d": None}


def argv(command: list[Any] | None, params: dict[str, Any], tmp_path: Path, **kw: Any) -> list[str]:
    options: dict[str, Any] = {
        "interpreter": "python",
        "params_file": tmp_path / "params.json",
        "base_dir": tmp_path,
        "environ": {},
    }
    options.update(kw)
    program = options.pop("program", "train.py")
    return build_argv(command, program, params, **options)


# -- each macro against W&B's expected output -----------------------------------------------------------


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        # test_wandb_agent.py::test_agent_create_command_args, verbatim
        ("args", ["--a=True", "--b=False", "--c=1", "--d=None"]),
        ("args_no_hyphens", ["a=True", "b=False", "c=1", "d=None"]),
        ("args_no_boolean_flags", ["--a", "--c=1", "--d=None"]),
        ("args_json", ['{"a": true, "b": false, "c": 1, "d": null}']),
        ("args_append_hydra", ["+a=True", "+b=False", "+c=1", "+d=None"]),
        ("args_override_hydra", ["++a=True", "++b=False", "++c=1", "++d=None"]),
        # utils.py::create_sweep_command_args: args_no_equals += [f"--{param}", str(_value)]
        ("args_no_equals", ["--a", "True", "--b", "False", "--c", "1", "--d", "None"]),
    ],
)
def test_params_macros_match_wandb(macro: str, expected: list[str], tmp_path: Path) -> None:
    assert format_args(WANDB_PARAMS, macro) == expected
    assert argv(["prog", f"${{{macro}}}"], WANDB_PARAMS, tmp_path) == ["prog", *expected]


def test_every_macro_is_known() -> None:
    assert set(MACROS) == {
        "env",
        "interpreter",
        "program",
        "args",
        "args_no_hyphens",
        "args_no_boolean_flags",
        "args_no_equals",
        "args_append_hydra",
        "args_override_hydra",
        "args_json",
        "args_json_file",
    }


def test_env_is_usr_bin_env_on_posix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # wandb_agent.py: `if platform.system() != "Windows": sweep_vars["env"] = ["/usr/bin/env"]`
    monkeypatch.setattr(_command.os.path, "exists", lambda path: path == ENV_PROGRAM)
    monkeypatch.setattr(_command.sys, "platform", "linux")
    assert argv(["${env}", "x"], {}, tmp_path) == ["/usr/bin/env", "x"]


def test_env_is_dropped_on_windows_or_where_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_command.sys, "platform", "win32")
    assert argv(["${env}", "x"], {}, tmp_path) == ["x"]
    monkeypatch.setattr(_command.sys, "platform", "linux")
    monkeypatch.setattr(_command.os.path, "exists", lambda path: False)
    assert argv(["${env}", "x"], {}, tmp_path) == ["x"]


def test_interpreter_is_what_the_caller_gives(tmp_path: Path) -> None:
    # W&B puts the bare word "python" (resolved on PATH); sweepkit passes its own interpreter.
    assert argv(["${interpreter}"], {}, tmp_path) == ["python"]
    assert argv(["${interpreter}"], {}, tmp_path, interpreter=sys.executable) == [sys.executable]


def test_program_resolves_against_the_sweep_folder_only_when_there(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "train.py").write_text("")
    base = tmp_path / "cfg"
    assert argv(["${program}"], {}, tmp_path, base_dir=base) == [str(base / "train.py")]
    assert argv(["${program}"], {}, tmp_path, base_dir=base, program="other.py") == ["other.py"]
    assert argv(["${program}"], {}, tmp_path, base_dir=base, program="/opt/x.py") == ["/opt/x.py"]
    # W&B itself passes `program` as written; a folder of that name is not a program.
    (base / "pkg").mkdir()
    assert argv(["${program}"], {}, tmp_path, base_dir=base, program="pkg") == ["pkg"]


def test_args_json_file_writes_the_params_and_passes_the_path(tmp_path: Path) -> None:
    # test_cli_agent.py::test_agent_writes_args_json_file_under_wandb_dir: the file holds args_json's text
    params_file = tmp_path / "trial" / "params.json"
    params = {"param1": 1, "opt": {"lr": 0.1}}
    assert argv(["${args_json_file}"], params, tmp_path, params_file=params_file) == [str(params_file)]
    assert params_file.read_text() == json.dumps(params)
    assert json.loads(params_file.read_text()) == params


def test_args_json_file_is_written_only_when_used(tmp_path: Path) -> None:
    argv(["prog", "${args}"], {"a": 1}, tmp_path)
    assert not (tmp_path / "params.json").exists()


def test_envvar_macros_are_replaced_anywhere_in_an_item(tmp_path: Path) -> None:
    # test_wandb_agent.py::test_agent_create_sweep_command
    environ = {"FOO_DIR": "foo_dir", "FOO_DIR_TWO": "foo_dir_two", "FOO_VAR": "foo_var"}
    command = [
        "prog",
        "--output_dir",
        "fake/path/${envvar:FOO_DIR}/${envvar:FOO_DIR}/${envvar:FOO_DIR_TWO}",
        "--foovar",
        "${envvar:FOO_VAR}",
    ]
    assert argv(command, {}, tmp_path, environ=environ) == [
        "prog",
        "--output_dir",
        "fake/path/foo_dir/foo_dir/foo_dir_two",
        "--foovar",
        "foo_var",
    ]
    # utils.py: `os.environ.get(m.group(1), m.group(1))`: an unset variable leaves its name
    assert argv(["prog", "${envvar:UNSET_X}"], {}, tmp_path) == ["prog", "UNSET_X"]


def test_envvar_defaults_to_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPKIT_TEST_DATA", "/data/x")
    got = build_argv(
        ["prog", "--data=${envvar:SWEEPKIT_TEST_DATA}"],
        None,
        {},
        interpreter="python",
        params_file=tmp_path / "p.json",
        base_dir=tmp_path,
    )
    assert got == ["prog", "--data=/data/x"]


def test_macros_are_whole_items_only(tmp_path: Path) -> None:
    # wandb_agent.py: `if c.startswith("${") and c.endswith("}")` - a macro inside a larger item stays text.
    command = ["prog", "--cfg=${args_json_file}", "${program}.bak", "x${args}"]
    assert argv(command, {"a": 1}, tmp_path) == command
    assert not (tmp_path / "params.json").exists()


def test_non_string_items_become_text(tmp_path: Path) -> None:
    # wandb_agent.py: `c = str(c)`; cf. test_launch_scheduler.py's ["python", "train.py", "--float", 1.99999, ...]
    assert argv(["prog", "--float", 1.99999, 3, True], {}, tmp_path) == ["prog", "--float", "1.99999", "3", "True"]


# -- value formatting: W&B's f"{param}={_value}", i.e. str() ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (True, "--x=True"),
        (False, "--x=False"),
        (None, "--x=None"),
        (3, "--x=3"),
        (10**20, "--x=100000000000000000000"),
        (0.1, "--x=0.1"),
        (1e-05, "--x=1e-05"),
        (1e20, "--x=1e+20"),
        (2.0, "--x=2.0"),
        (float("inf"), "--x=inf"),
        ("adam", "--x=adam"),
        ("", "--x="),
        ("with space", "--x=with space"),
        ([1, "a"], "--x=[1, 'a']"),
        ({"lr": 0.1}, "--x={'lr': 0.1}"),
    ],
)
def test_values_are_formatted_with_str(value: Any, flag: str, tmp_path: Path) -> None:
    assert argv(["p", "${args}"], {"x": value}, tmp_path) == ["p", flag]
    assert argv(["p", "${args_no_hyphens}"], {"x": value}, tmp_path) == ["p", flag[2:]]


def test_args_json_formats_like_json_dumps(tmp_path: Path) -> None:
    params = {"lr": 1e-05, "name": 'é "q"', "layers": [1, 2], "none": None, "inf": float("inf")}
    [item] = format_args(params, "args_json")
    assert item == json.dumps(params)  # default separators, ASCII escapes, NaN/Infinity allowed
    assert item.startswith('{"lr": 1e-05, "name": "\\u00e9 \\"q\\""')


def test_args_json_survives_values_json_lacks(tmp_path: Path) -> None:
    import datetime

    [item] = format_args({"day": datetime.date(2024, 1, 2), "t": (1, 2)}, "args_json")
    assert json.loads(item) == {"day": "2024-01-02", "t": [1, 2]}


def test_nested_params_are_one_flag_per_top_level_key(tmp_path: Path) -> None:
    # wandb/sweeps params.py::to_config: a nested section reaches the agent as {"optimizer": {"value": {...}}},
    # so create_sweep_command_args makes one flag of the whole dict (W&B does not flatten to --optimizer.lr).
    params = {"batch_size": 32, "optimizer": {"lr": 0.001, "nadam": {"beta": 0.9}}}
    assert format_args(params) == ["--batch_size=32", "--optimizer={'lr': 0.001, 'nadam': {'beta': 0.9}}"]
    assert format_args(params, "args_no_boolean_flags") == format_args(params)
    assert format_args(params, "args_json") == [
        '{"batch_size": 32, "optimizer": {"lr": 0.001, "nadam": {"beta": 0.9}}}'
    ]
    # a nested True is not a boolean flag: only top-level booleans are
    assert format_args({"opt": {"fused": True}}, "args_no_boolean_flags") == ["--opt={'fused': True}"]


# -- the default command, and commands that cannot run ----------------------------------------------------


def test_default_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_command.os.path, "exists", lambda path: path == ENV_PROGRAM)
    monkeypatch.setattr(_command.sys, "platform", "linux")
    (tmp_path / "train.py").write_text("")
    expected = ["/usr/bin/env", sys.executable, str(tmp_path / "train.py"), "--lr=0.1", "--deep=True"]
    params = {"lr": 0.1, "deep": True}
    assert argv(None, params, tmp_path, interpreter=sys.executable) == expected
    # wandb_agent.py: `if sweep_command and isinstance(sweep_command, list)`: an empty command is the default
    assert argv([], params, tmp_path, interpreter=sys.executable) == expected
    assert DEFAULT_COMMAND == ["${env}", "${interpreter}", "${program}", "${args}"]


def test_no_program_and_no_command(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to run"):
        argv(None, {}, tmp_path, program=None)
    with pytest.raises(ValueError, match="nothing to run"):
        check_command([], None)


def test_program_macro_without_a_program(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"uses \$\{program\} but no program"):
        argv(["python", "${program}"], {}, tmp_path, program=None)
    # a command that does not use ${program} needs none
    assert argv(["python", "t.py", "${args}"], {"a": 1}, tmp_path, program=None) == ["python", "t.py", "--a=1"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("${arg}", r'unknown macro "\$\{arg\}".*did you mean "\$\{args\}"'),
        ("${args_no_boolean}", r'did you mean "\$\{args_no_boolean_flags\}"'),
        ("${args_dict}", r'unknown macro "\$\{args_dict\}"'),
        ("${HOME}", r'unknown macro "\$\{HOME\}"'),
        ("${envvar:lower}", r"upper-case name"),
        ("${}", r'unknown macro "\$\{\}"'),
    ],
)
def test_unknown_macros_are_errors(item: str, message: str, tmp_path: Path) -> None:
    # W&B silently drops an unknown whole-item macro (`sweep_vars.get(...) or []`): a typo would lose the params.
    with pytest.raises(ValueError, match=message):
        argv(["prog", item], {"a": 1}, tmp_path)
    with pytest.raises(ValueError, match=message):
        check_command(["prog", item], "t.py")


def test_a_command_that_expands_to_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expands to nothing"):
        argv(["${args}"], {}, tmp_path)


def test_no_params_no_flags(tmp_path: Path) -> None:
    assert argv(["p", "${args}", "${args_no_boolean_flags}", "${args_json}"], {}, tmp_path) == ["p", "{}"]


# -- no value can reach a shell ---------------------------------------------------------------------------

NASTY = ["a; touch X", "$(touch X)", "`touch X`", "\"quoted'", "with space", "new\nline", "&& touch X", "|touch X"]

ECHO = """\
import json, sys
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(sys.argv[2:], out)
"""


def test_no_value_can_inject_a_command(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(ECHO)
    out = tmp_path / "argv.json"
    params = {f"p{i}": value for i, value in enumerate(NASTY)}
    command = ["${interpreter}", "${program}", str(out), "${args}", "${args_no_hyphens}", "${args_json}"]
    command += ["${args_json_file}", "${args_no_equals}"]
    got = build_argv(
        command,
        "echo.py",
        params,
        interpreter=sys.executable,
        params_file=tmp_path / "params.json",
        base_dir=tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPKIT")}
    subprocess.run(got, cwd=tmp_path, env=env, check=True, timeout=60)
    received = json.loads(out.read_text(encoding="utf-8"))
    n = len(NASTY)
    assert received[:n] == [f"--p{i}={v}" for i, v in enumerate(NASTY)]
    assert received[n : 2 * n] == [f"p{i}={v}" for i, v in enumerate(NASTY)]
    assert json.loads(received[2 * n]) == params
    assert json.loads(Path(received[2 * n + 1]).read_text()) == params
    assert received[2 * n + 2 :] == [item for i, v in enumerate(NASTY) for item in (f"--p{i}", v)]
    assert not (tmp_path / "X").exists()
    assert not list(tmp_path.rglob("X"))

"""The `sweepkit` command: output, exit codes (0 ok, 1 sweep failed, 2 user error), one-line errors.

Most tests call `sweepkit.cli.main` in-process; a few run `python -m sweepkit` to check what a shell sees.
"""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sweepkit.cli import main
from sweepkit.results._stored import load_result
from sweepkit.store import Store
from tests.cli_run import cli as _cli

TRAIN = """
def objective(params):
    if params.get("crash"):
        raise RuntimeError("boom")
    penalty = 0.0 if params["opt"] == "adam" else 0.1
    return {"loss": (params["x"] - 0.3) ** 2 + penalty + params["model"]["lr"], "other": 1}


def interrupted(params):
    raise KeyboardInterrupt
"""

SWEEP = """
name: tiny
trial: {function: "clitrain:objective"}
metric: {name: loss, goal: minimize}
strategy: {name: random, seed: 1}
budget: {trials: 4}
parameters:
  x: {min: 0.0, max: 1.0}
  opt: [adam, sgd]
  model:
    parameters:
      lr: {distribution: log_uniform_values, min: 0.00001, max: 0.001}
      kind: {values: [mlp, cnn]}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with a sweep file and its Python trial; the embedded store and outputs land here too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("clitrain", None)
    (tmp_path / "clitrain.py").write_text(TRAIN.lstrip())
    (tmp_path / "sweep.yaml").write_text(SWEEP.lstrip())
    yield tmp_path
    sys.modules.pop("clitrain", None)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def ran(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = _cli(capsys, "run", "sweep.yaml")
    assert code == 0, err
    return project


def _best_params(folder: Path, name: str = "tiny") -> dict[str, Any]:
    best = load_result(Store(cwd=folder), name).best_params
    assert best is not None
    return best


# -- validate ------------------------------------------------------------------------------------------


def test_validate_shows_the_space_grid_size_and_a_sampled_trial(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        project,
        "grid.yaml",
        """
        trial: {function: "clitrain:objective"}
        method: grid
        parameters:
          opt: [adam, sgd]
          x: {values: [0.1, 0.2, 0.3]}
          model:
            parameters:
              lr: {value: 0.001}
        """,
    )
    code, out, err = _cli(capsys, "validate", "grid.yaml")
    assert code == 0, err
    assert "grid.yaml: valid" in out
    for name in ("opt", "x", "model.lr"):
        assert name in out
    assert "grid size: 6 points" in out
    line = next(line for line in out.splitlines() if line.startswith("one sampled trial: "))
    sample = json.loads(line.removeprefix("one sampled trial: "))
    assert sample["opt"] in ("adam", "sgd") and sample["x"] in (0.1, 0.2, 0.3)
    assert sample["model"] == {"lr": 0.001}
    assert "warning" not in out


def test_validate_a_continuous_space_with_overrides(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "validate", "sweep.yaml", "budget.trials=7", "metric.goal=maximize")
    assert code == 0, err
    assert "metric: loss (maximize)" in out
    assert "budget: 7 trials" in out
    assert "grid size: continuous" in out
    assert not (project / ".sweepkit").exists()  # validate writes nothing


def test_validate_refuses_a_missing_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`run` would fail every trial: `validate` says so (exit 2) instead of warning and calling it valid."""
    path = _write(
        tmp_path,
        "sweep_config.yaml",
        """
        program: scripts/train_multihead.py
        method: random
        project: gcode
        parameters:
          lr: {distribution: log_uniform_values, min: 0.0001, max: 0.01}
        """,
    )
    code, out, err = _cli(capsys, "validate", str(path))
    assert code == 2
    assert "program: scripts/train_multihead.py not found" in err
    assert "valid" not in out


def test_validate_refuses_a_missing_trial_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "s.yaml", "trial: {function: 'sweepkit_nowhere:objective'}\nparameters: {x: [1]}\n")
    code, out, err = _cli(capsys, "validate", str(path))
    assert code == 2
    assert 'trial.function: module "sweepkit_nowhere" not found' in err
    assert "valid" not in out


# -- user errors: exit 2, one line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("budget: {trails: 3}\nparameters: {x: [1]}\n", 'bad.yaml: budget.trails: unknown key "trails" in budget'),
        ("hyperopt:\n  num_trials: lots\n  search_space: {x: [1]}\n", "bad.yaml: hyperopt.num_trials: "),
        ("parameters:\n  x: {min: 2, max: 1}\n", "bad.yaml: parameters.x.max: max (1) is less than min (2)"),
        ("parameters:\n  x: []\n", "bad.yaml: parameters.x: an empty list"),
        ("strategy: {name: bayesopt}\nparameters: {x: [1]}\n", 'bad.yaml: strategy.name: unknown strategy "bayesopt"'),
        (
            "parameters:\n  x: [1, 2]\n  y: {values: [1], when: 'x =='}\n",
            "bad.yaml: parameters.y.when: invalid expression",
        ),
        ("parameters: {x: [1, 2\n", "bad.yaml: invalid YAML at line 2, column 1: "),
        ("- a\n- b\n", "bad.yaml: expected a mapping of keys at the top, found list"),
        ("", "bad.yaml: the file is empty"),
    ],
)
def test_bad_files_exit_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    for command in ("validate", "run"):
        code, out, err = _cli(capsys, command, "bad.yaml")
        assert code == 2
        assert err.startswith(f"sweepkit: error: {expected}")
        assert err.count("\n") == 1 and "Traceback" not in err
        assert out == ""


def test_missing_file_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.yaml").mkdir()
    assert _cli(capsys, "validate", "nope.yaml")[1:] == ("", "sweepkit: error: nope.yaml: no such file\n")
    assert _cli(capsys, "run", "folder.yaml")[2] == "sweepkit: error: folder.yaml: is a folder, not a sweep file\n"


def test_bad_override_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "validate", "sweep.yaml", "budget.trials")
    assert code == 2
    assert err.startswith("sweepkit: error: sweep.yaml: budget.trials: override ")
    code, _, err = _cli(capsys, "run", "sweep.yaml", "budget.trials=many")
    assert code == 2
    assert err.startswith("sweepkit: error: sweep.yaml: budget.trials: Input should be a valid integer")


def test_trial_function_not_found_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "trial.function=clitrain:objectiv")
    assert code == 2
    assert err == (
        'sweepkit: error: sweep.yaml: trial.function: "clitrain" has no callable "objectiv"'
        ' (did you mean "objective"?)\n'
    )
    assert not (project / "sweeps").exists()


def test_debug_shows_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("budget: {trials: 0}\nparameters: {x: [1]}\n")
    code, _, err = _cli(capsys, "validate", "bad.yaml", "--debug")
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("sweepkit: error: bad.yaml: budget.trials: ")


def test_an_expression_that_cannot_be_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "div.yaml").write_text("parameters:\n  x: {min: 0.0, max: 1.0}\n  d: {expr: '1 / (x - x)'}\n")
    code, out, err = _cli(capsys, "validate", "div.yaml")
    assert code == 2, err  # every trial would fail: a user error, named at the derived parameter
    assert 'parameters.d: cannot be computed at any point drawn: cannot evaluate "1 / (x - x)"' in err


def test_an_expression_that_fails_at_some_points_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "div.yaml").write_text("parameters:\n  x: {min: 0, max: 1000000}\n  d: {expr: '1 / x'}\n")
    code, out, err = _cli(capsys, "validate", "div.yaml")
    assert code == 0, err


# -- run, ls, status, best ------------------------------------------------------------------------------


def test_run_a_python_trial(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "run", "sweep.yaml")
    assert code == 0, err
    assert "sweep tiny stopped: budget: all trials done" in err
    assert "trials: 4 complete" in err
    assert (project / ".sweepkit" / "sweeps.journal").exists()
    summary = json.loads((project / "sweeps" / "tiny" / "tuning_results.json").read_text())
    assert summary["counts"]["COMPLETE"] == 4
    assert summary["best_params"] == _best_params(project)
    # Run again: the sweep resumes, its budget already spent.
    code, _, err = _cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0
    assert "trials: 4 complete" in err


def test_run_flag_spellings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "--num-trials", "2", "--timeout-hours", "0.5", "--seed", "3")
    assert code == 0, err
    resolved = yaml.safe_load((project / "sweeps" / "tiny" / "sweep.yaml").read_text())
    assert resolved["budget"] == {"trials": 2, "timeout": 1800.0}
    assert resolved["strategy"]["seed"] == 1  # the file's; --seed changes the run, not the file
    code, _, err = _cli(capsys, "run", "sweep.yaml", "name=tiny2", "--n-trials", "3", "--timeout", "1h30m", "-q")
    assert code == 0, err
    resolved = yaml.safe_load((project / "sweeps" / "tiny2" / "sweep.yaml").read_text())
    assert resolved["budget"] == {"trials": 3, "timeout": 5400.0}
    assert _cli(capsys, "run", "sweep.yaml", "name=tiny3", "--trials", "1", "-q")[0] == 0


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--timeout", "2h", "--timeout-hours", "1"], "give --timeout or --timeout-hours, not both"),
        (["--timeout-hours", "-1"], "--timeout-hours must be a positive number of hours"),
        (["--timeout-hours", "nan"], "--timeout-hours must be a positive number of hours"),
        (["--timeout", "soon"], '--timeout: expected a duration such as 3600, "30m" or "2h"'),
        (["--trials", "0"], "--trials must be at least 1"),
    ],
)
def test_bad_run_flags(project: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", *flags)
    assert code == 2
    assert err.startswith(f"sweepkit: error: {fragment}")
    assert err.count("\n") == 1
    assert not (project / "sweeps").exists()


def test_flags_argparse_rejects_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for flags in (["--num-trials", "two"], ["--timeout-hours", "soon"]):
        with pytest.raises(SystemExit) as info:
            main(["run", "sweep.yaml", *flags])
        assert info.value.code == 2
        assert "sweepkit: error: argument --" in capsys.readouterr().err


def test_a_failing_sweep_exits_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "parameters.crash=true", "budget.trials=6", "-q")
    assert code == 1
    last = err.splitlines()[-1]
    assert last.startswith("sweepkit: sweep failed: the first 5 trials all failed")
    assert "RuntimeError: boom" in last
    assert "Traceback" not in err


def test_ctrl_c_exits_130(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "trial.function=clitrain:interrupted", "-q")
    assert code == 130
    assert err.splitlines()[-1] == "sweepkit: interrupted"


def test_ls_and_status(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ls")
    assert code == 0
    row = next(line for line in out.splitlines() if "tiny" in line)
    assert "done" in row and "random" in row
    code, out, _ = _cli(capsys, "status", "tiny", "--last", "2")
    assert code == 0
    assert "sweep tiny: 4/4 trials finished" in out
    assert "4 complete" in out
    assert "best: trial " in out


def test_ls_without_sweeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli(capsys, "ls")
    assert code == 0
    assert out.startswith("no sweeps in journal file")


def test_best_yaml_json_and_args_parse_back(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    best = _best_params(ran)
    assert set(best) == {"x", "opt", "model"} and set(best["model"]) == {"lr", "kind"}

    code, out, _ = _cli(capsys, "best", "tiny")  # yaml is the default
    assert code == 0
    assert yaml.safe_load(out) == best
    assert yaml.safe_load(_cli(capsys, "best", "tiny", "--format", "yaml")[1]) == best

    code, out, _ = _cli(capsys, "best", "tiny", "--format", "json")
    assert code == 0
    assert json.loads(out) == best

    code, out, _ = _cli(capsys, "best", "tiny", "--format", "args")
    assert code == 0
    # exactly what a program trial gets for ${args}: W&B's --key=value, a nested section as one value
    from sweepkit.sweep._command import format_args

    assert shlex.split(out) == format_args(best, "args")
    parsed = dict(token[2:].split("=", 1) for token in shlex.split(out))
    assert float(parsed["x"]) == best["x"] and parsed["opt"] == str(best["opt"])
    assert ast.literal_eval(parsed["model"]) == best["model"]


def test_best_of_an_unknown_sweep_lists_the_names(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("best", "status"):
        code, out, err = _cli(capsys, command, "tinny")
        assert code == 2
        assert out == ""
        assert err.startswith('sweepkit: error: no sweep named "tinny"')
        assert "sweeps there: tiny" in err
        assert err.count("\n") == 1


def test_best_without_a_completed_trial(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "run", "sweep.yaml", "parameters.crash=true", "budget.trials=6", "-q")[0] == 1
    code, _, err = _cli(capsys, "best", "tiny")
    assert code == 2
    assert err == 'sweepkit: error: sweep "tiny" has no completed trial yet\n'


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["bogus"], ["best"], ["best", "x", "--format", "toml"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "sweepkit: error: " in capsys.readouterr().err


# -- end to end: what a shell sees ------------------------------------------------------------------------


def _shell(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, "-m", "sweepkit", *argv], cwd=folder, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.slow
def test_end_to_end(project: Path) -> None:
    done = _shell(project, "validate", "sweep.yaml")
    assert done.returncode == 0, done.stderr
    assert "sweep.yaml: valid" in done.stdout

    done = _shell(project, "run", "sweep.yaml", "--num-trials", "3")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "trials: 3 complete" in done.stderr

    done = _shell(project, "best", "tiny", "--format", "json")
    assert done.returncode == 0
    assert json.loads(done.stdout) == _best_params(project)

    done = _shell(project, "best", "nope")
    assert done.returncode == 2
    assert (
        done.stderr
        == 'sweepkit: error: no sweep named "nope" in journal file .sweepkit/sweeps.journal (sweeps there: tiny)\n'
    )


@pytest.mark.slow
def test_end_to_end_errors(project: Path) -> None:
    (project / "bad.yaml").write_text("hyperopt:\n  num_trials: lots\n  search_space: {x: [1]}\n")
    done = _shell(project, "run", "bad.yaml")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("sweepkit: error: bad.yaml: hyperopt.num_trials: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr

    done = _shell(project, "validate", "bad.yaml", "--debug")
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr

    done = _shell(project, "run", "sweep.yaml", "parameters.crash=true", "budget.trials=6", "-q")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("sweepkit: sweep failed: ")


# -- text in square brackets is printed as written (rich markup) ---------------------------------------------


def test_brackets_in_a_trial_error_are_printed_and_status_still_works(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project, "brackets.py", 'def objective(params):\n    raise OSError("cannot open [/data/train]")\n')
    code, _, err = _cli(capsys, "run", "sweep.yaml", "trial.function=brackets:objective", "budget.trials=2")
    assert code == 1, err
    assert "internal error" not in err
    assert "cannot open [/data/train]" in err
    code, out, err = _cli(capsys, "status", "tiny")
    assert code == 0, err
    assert "cannot open [/data/train]" in out.replace("\n", " ") or "[/data/train]" in out


def test_brackets_in_choices_and_names_are_shown_as_written(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(
        project,
        "odd.yaml",
        """
        name: "odd[bold]"
        trial: {function: "clitrain:objective"}
        metric: {name: loss}
        parameters:
          x: {values: ["[/x]", "[red]y"]}
        """,
    )
    code, out, err = _cli(capsys, "validate", "odd.yaml")
    assert code == 0, err
    assert "[/x]" in out and "[red]y" in out and "odd[bold]" in out


# -- running a sweep again -------------------------------------------------------------------------------------


def test_running_again_with_a_changed_space_says_what_changed(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "parameters.x.max=2.0", "parameters.opt=[adam]")
    assert code == 2
    assert err.count("\n") == 1 and "resuming" not in err
    assert err.startswith('sweepkit: error: sweep.yaml: sweep "tiny" in journal file .sweepkit/sweeps.journal')
    assert "parameters.x.max: 1.0 → 2.0" in err and "parameters.opt" in err and "--fresh" in err
    assert len(load_result(Store(cwd=ran), "tiny").trials) == 4  # nothing ran, nothing lost

    code, _, err = _cli(capsys, "run", "sweep.yaml", "--trials", "6")  # more budget, same space: it resumes
    assert code == 0, err
    assert "resuming with 4 done" in err and len(load_result(Store(cwd=ran), "tiny").trials) == 6

    code, _, err = _cli(capsys, "run", "sweep.yaml", "parameters.x.max=2.0", "--fresh")
    assert code == 0, err
    assert Store(cwd=ran).names() == ["tiny", "tiny.1"]


def test_save_spec_keeps_the_budget_flags(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(project, "prog.py", "import sweepkit\n\nsweepkit.init().log({'loss': 1.0})\n")
    flags = ["--param", "x=uniform(0,1)", "--metric", "loss", "--trials", "2", "--save-spec", "saved.yaml"]
    code, _, err = _cli(capsys, "run", *flags, "-q", "--", sys.executable, "prog.py")
    assert code == 0, err
    saved = yaml.safe_load((project / "saved.yaml").read_text())
    assert saved["budget"] == {"trials": 2}
    code, _, err = _cli(capsys, "run", "saved.yaml")  # the saved file is the same sweep, budget and all
    assert code == 0, err
    assert "resuming with 2 done" in err and "budget: all trials done" in err
    assert len(load_result(Store(cwd=project), "prog").trials) == 2


# -- agent --count, rm -----------------------------------------------------------------------------------------


def test_agent_count_runs_at_most_that_many_trials(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As `wandb agent --count N`: the agent runs N trials of a sweep that has more left, then stops."""
    _write(
        project,
        "stoppable.py",
        """
        from pathlib import Path


        def objective(params):
            if Path("stop").exists():
                raise RuntimeError("stopped on purpose")
            return params["x"]
        """,
    )
    (project / "stop").touch()  # the first run stops after one failed trial, its budget of 10 left
    overrides = ["trial.function=stoppable:objective", "budget.trials=10", "budget.max_failures=1"]
    code, _, err = _cli(capsys, "run", "sweep.yaml", *overrides, "-q")
    assert code == 1, err
    (project / "stop").unlink()
    code, _, err = _cli(capsys, "agent", "tiny", "--count", "3")
    assert code == 0, err
    assert "--count 3" in err
    states = [t.state for t in load_result(Store(cwd=project), "tiny").trials]
    assert states == ["FAILED", "COMPLETE", "COMPLETE", "COMPLETE"]
    code, _, err = _cli(capsys, "agent", "tiny", "--count", "0")
    assert code == 2 and "--count" in err


class _Keyboard:
    """A terminal's stdin answering one line."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer


def test_rm_deletes_the_sweep_and_its_folder_after_asking(
    ran: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = ran / "sweeps" / "tiny"
    assert (folder / "tuning_results.json").exists()
    code, _, err = _cli(capsys, "rm", "tiny")  # no terminal to ask on, no --yes: nothing is deleted
    assert code == 2 and "--yes" in err
    monkeypatch.setattr(sys, "stdin", _Keyboard("n\n"))
    code, out, err = _cli(capsys, "rm", "tiny")
    assert code == 0 and "4 trials" in out and "nothing deleted" in err
    assert Store(cwd=ran).names() == ["tiny"] and folder.exists()

    monkeypatch.setattr(sys, "stdin", _Keyboard("y\n"))
    code, out, err = _cli(capsys, "rm", "tiny")
    assert code == 0, err
    assert Store(cwd=ran).names() == [] and not folder.exists()
    assert "deleted" in err

    code, _, err = _cli(capsys, "rm", "tiny", "--yes")
    assert code == 2 and 'no sweep named "tiny"' in err


def test_rm_yes_keeps_an_output_folder_of_the_users_choice(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "output=results", "-q")
    assert code == 0, err
    code, _, err = _cli(capsys, "rm", "tiny", "--yes")
    assert code == 0, err
    assert Store(cwd=project).names() == []
    assert (project / "results" / "tuning_results.json").exists()
    assert "kept" in err and "results" in err


def test_rm_of_a_sweep_kept_by_fresh_deletes_its_moved_folder(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "--fresh", "-q")
    assert code == 0, err
    assert (ran / "sweeps" / "tiny.1").is_dir()
    code, _, err = _cli(capsys, "rm", "tiny.1", "-y")
    assert code == 0, err
    assert Store(cwd=ran).names() == ["tiny"]
    assert not (ran / "sweeps" / "tiny.1").exists() and (ran / "sweeps" / "tiny").is_dir()


def test_agent_from_another_folder_says_where_it_looked(
    ran: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = ran / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = _cli(capsys, "agent", "tiny")
    assert code == 2 and err.count("\n") == 1
    assert f"{elsewhere / '.sweepkit' / 'sweeps.journal'}" in err  # where it looked, in full
    assert "--storage" in err
    assert f"journal:{ran / '.sweepkit' / 'sweeps.journal'}" in err  # the store found in a folder above
    code, _, err = _cli(capsys, "agent", "tiny", "--storage", f"journal:{ran / '.sweepkit' / 'sweeps.journal'}", "-q")
    assert code == 0, err  # pointed at it, the agent finds the sweep (its budget is spent: nothing to run)


def test_running_again_with_another_metric_target_or_strategy_resumes(
    ran: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "run", "sweep.yaml", "metric.target=0.0", "strategy.name=tpe", "--trials", "5")
    assert code == 0, err
    assert "resuming with 4 done" in err
    code, _, err = _cli(capsys, "run", "sweep.yaml", "metric.name=other", "--trials", "6")
    assert code == 2 and 'metric.name: "loss" → "other"' in err

"""Sweep names: W&B's `name:` is a label (any text, `/` included) and the folder, store and CLI name is a safe,
unique form of it; hostile names (`..`, a NUL, 5,000 characters) never write outside `sweeps/`. Through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepkit.cli import main
from sweepkit.spec import load_spec
from sweepkit.store import Store
from tests.cli_run import cli as _cli

TRAIN = "def objective(params):\n    return params['x']\n"
SWEEP = """\
{name}trial: {{function: "nametrain:objective"}}
method: random
run_cap: 2
parameters:
  x: {{min: 0.0, max: 1.0}}
"""


@pytest.fixture
def project(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "nametrain.py").write_text(TRAIN)
    return workdir


def _outside_sweeps(root: Path) -> list[str]:
    """What a run left in the project folder besides its own files, sweeps/ and .sweepkit/."""
    return sorted(p.name for p in root.iterdir() if p.name not in {"sweeps", ".sweepkit", "nametrain.py", "__pycache__"}
                  and not p.name.endswith(".yaml"))  # fmt: skip


def test_a_name_with_a_slash_is_a_label_with_a_safe_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    label = "resnet/lr sweep: v2"
    (project / "sweep.yaml").write_text(SWEEP.format(name=f'name: "{label}"\n'))
    code, out, err = _cli(capsys, "validate", "sweep.yaml")
    assert code == 0, err
    safe = load_spec(project / "sweep.yaml", cwd=project).name
    assert "/" not in safe and safe.startswith("resnet-lr-sweep-v2-") and safe in out and label in out

    code, _, err = _cli(capsys, "run", "sweep.yaml", "-q")
    assert code == 0, err
    assert [p.name for p in (project / "sweeps").iterdir()] == [safe]
    written = json.loads((project / "sweeps" / safe / "tuning_results.json").read_text())
    assert written  # the outputs are there, in one folder
    assert not (project / "sweeps" / "resnet").exists()

    # The CLI takes the safe name and the label alike.
    for name in (safe, label):
        code, out, err = _cli(capsys, "status", name)
        assert code == 0, err
        assert f'sweep {safe} ("{label}")' in out
        code, out, err = _cli(capsys, "best", name, "--format", "json")
        assert code == 0, err and "x" in json.loads(out)
    code, out, _ = _cli(capsys, "ls")
    assert code == 0 and safe in out

    # --fresh keeps the old one beside it, in sweeps/ and in the store.
    code, _, err = _cli(capsys, "run", "sweep.yaml", "-q", "--fresh")
    assert code == 0, err
    assert sorted(p.name for p in (project / "sweeps").iterdir()) == [safe, f"{safe}.1"]
    assert _cli(capsys, "status", f"{safe}.1")[0] == 0

    # An agent joins by the label (nothing is left to run), and rm deletes by it: the sweep and its folder.
    code, _, err = _cli(capsys, "agent", label, "-q")
    assert code == 0, err
    code, _, err = _cli(capsys, "rm", label, "--yes")
    assert code == 0, err
    assert [p.name for p in (project / "sweeps").iterdir()] == [f"{safe}.1"]
    assert Store(cwd=project).names() == [f"{safe}.1"]


def test_two_labels_that_differ_only_in_unsafe_characters_get_two_folders(project: Path) -> None:
    names = {load_spec({"name": n, "parameters": {"x": 1}}, cwd=project).name for n in ("a/b", "a:b", "a b", "a\\b")}
    assert len(names) == 4


def test_a_safe_name_is_kept_as_it_is(project: Path) -> None:
    for name in ("quickstart", "my sweep", "lr_v2.1", "über-sweep"):
        spec = load_spec({"name": name, "parameters": {"x": 1}}, cwd=project)
        assert spec.name == name and spec.output == project / "sweeps" / name


@pytest.mark.parametrize("file_name", ["..yaml", "...yaml", ".hidden.yaml"])
def test_a_name_taken_from_a_hostile_file_name_stays_in_sweeps(
    project: Path, capsys: pytest.CaptureFixture[str], file_name: str
) -> None:
    (project / file_name).write_text(SWEEP.format(name=""))
    for extra in ([], ["--fresh"]):
        code, _, err = _cli(capsys, "run", file_name, "-q", *extra)
        assert code == 0, err
        assert (project / "sweeps").is_dir()  # --fresh moved no more than the sweep's own folder
        assert _outside_sweeps(project) == []
    folders = sorted(p.name for p in (project / "sweeps").iterdir())
    assert len(folders) == 2 and not any(name.startswith(".") for name in folders)
    assert all((project / "sweeps" / name / "tuning_results.json").is_file() for name in folders)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ('"a\\0b"', "control character"),
        ('"a\\nb"', "control character"),
        ("x" * 5000, "at most 200 characters"),
        ('"  "', "empty"),
    ],
)
def test_validate_catches_a_name_no_store_can_take(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, fragment: str
) -> None:
    (project / "sweep.yaml").write_text(SWEEP.format(name=f"name: {name}\n"))
    code, _, err = _cli(capsys, "validate", "sweep.yaml")
    assert code == 2
    assert err.startswith("sweepkit: error: sweep.yaml: name: "), err
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1


def test_an_agent_and_the_dashboard_find_a_sweep_by_its_label(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna_dashboard")
    from sweepkit import dashboard
    from sweepkit.sweep import join

    (project / "sweep.yaml").write_text(SWEEP.format(name='name: "team/exp 1"\n'))
    spec = load_spec(project / "sweep.yaml", cwd=project)
    assert main(["run", "sweep.yaml", "-q"]) == 0
    result = join("team/exp 1", quiet=True)  # nothing left to run, but it found the sweep and its budget
    assert result.name == spec.name and len(result.trials) == 2
    stored = yaml_name(project / "sweeps" / spec.name / "sweep.yaml")
    assert stored == "team/exp 1"  # the label is kept, also after an agent joined

    class Reached(Exception):
        pass

    def bind(*args: object) -> None:
        raise Reached  # the sweep's page was found: no need to serve it

    monkeypatch.setattr(dashboard, "bind", bind)
    with pytest.raises(Reached):
        dashboard.serve("team/exp 1", port=0)


def yaml_name(path: Path) -> object:
    import yaml

    return yaml.safe_load(path.read_text())["name"]

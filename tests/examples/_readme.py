"""Running an example's README as a user would: the commands of its first ```bash block, each line an argv list
(never a shell), `sweepkit` and `python` as this test's Python, from a copy of the example's folder."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# What a run leaves in an example's folder: never copied into the test's.
LEFTOVERS = ("sweeps", ".sweepkit", "__pycache__", "wandb", "mlruns", "*.db", "hyperopt_results*")


def readme_commands(readme: Path) -> list[list[str]]:
    """The first bash block's command lines (comments, blank lines and `cd` into the example left out)."""
    block = re.search(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert block is not None, f"{readme} has no ```bash block"
    commands = []
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "cd ")):
            continue
        argv = shlex.split(line, comments=True)
        if argv[0] == "sweepkit":
            argv = [sys.executable, "-m", "sweepkit", *argv[1:]]
        elif argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        commands.append(argv)
    return commands


def copy_example(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder, ignore=shutil.ignore_patterns(*LEFTOVERS))
    return folder


def run_readme(folder: Path, env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
    """Every README command in `folder`, in order; each must exit 0 (the failure shows its output)."""
    env = dict(os.environ if env is None else env)
    env.pop("SWEEPKIT_NO_REPORT", None)  # the README's runs end with their reports, as a user's do
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    done = []
    for argv in readme_commands(folder / "README.md"):
        run = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        shown = f"{shlex.join(argv)} exited {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        assert run.returncode == 0, shown
        done.append(run)
    return done

"""How sweepkit's packages may import each other: through each package's public surface only.

A name (module or attribute) that starts with one underscore belongs to the package that holds it: modules
inside that package may import it, others go through what its `__init__` exports. Top-level private modules
(`sweepkit._trial`, `_folds`, `_callable`, `_wandb_shim`) belong to `sweepkit` itself, so every subpackage may
use them: they sit at the top so that workers and the trial client can import them without Optuna.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sweepkit

SRC = Path(sweepkit.__file__).parent


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every dotted name the module imports (`from a.b import c` → a.b.c), relative imports resolved."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return out


def owner(target: str, src: Path) -> str | None:
    """The package a private name belongs to: the one holding its first private part (a private module's
    package, or a public module's package for a private name in it); None when nothing in it is private."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            head = parts[:i]
            folder = src.parent.joinpath(*head)
            return ".".join(head if folder.is_dir() else head[:-1])
    return None


def violations(src: Path) -> list[str]:
    found = []
    for path in sorted(src.rglob("*.py")):
        module = module_name(path, src)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in imported(tree, module, path.name == "__init__.py"):
            if target.split(".")[0] != src.name:
                continue
            home = owner(target, src)
            if home is not None and module != home and not module.startswith(f"{home}."):
                found.append(f"{path.relative_to(src.parent)}:{line}: {module} imports {target}, private to {home}")
    return found


def test_no_package_imports_another_packages_private_modules() -> None:
    found = violations(SRC)
    assert not found, "import these through the owning package's public surface:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("files", "bad"),
    [
        ({"a/__init__.py": "", "a/_x.py": "", "b.py": "from pkg.a._x import f\n"}, True),
        ({"a/__init__.py": "", "a/_x.py": "", "b.py": "import pkg.a._x\n"}, True),
        ({"a/__init__.py": "", "a/_x.py": "", "b.py": "from pkg.a import _x\n"}, True),
        ({"a/__init__.py": "_hidden = 1\n", "b.py": "from pkg.a import _hidden\n"}, True),
        (
            {"a/__init__.py": "", "a/_x.py": "", "c/__init__.py": "", "c/d.py": "def f():\n    from ..a._x import g\n"},
            True,
        ),
        ({"a/__init__.py": "", "a/_x.py": "", "a/y.py": "from pkg.a._x import f\n"}, False),
        ({"a/__init__.py": "from ._x import f\n", "a/_x.py": "", "b.py": "from pkg.a import f\n"}, False),
        ({"_top.py": "", "a/__init__.py": "from pkg._top import f\n"}, False),
        ({"m.py": "_h = 1\n", "n.py": "from pkg.m import _h\n"}, False),  # one package: its own business
        ({"b.py": "from other._x import f\n"}, False),
    ],
)
def test_the_rule_itself(tmp_path: Path, files: dict[str, str], bad: bool) -> None:
    src = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    assert bool(violations(src)) is bad

"""Sweep names: what the file's `name:` says is a label; the store, `sweeps/<name>/`, the run locks and the CLI
use a form of it that is safe as one folder name.

W&B's `name` is a free-form label (`resnet/lr sweep: v2`), and a name taken from a file name can be `..`.
A label that is already safe is its own folder name, so every sweep that ran before keeps its folder and its
store entry. Any other becomes its safe characters plus a hash of the whole label: the same label always
gives the same folder (a rerun resumes it), and two labels that differ only in unsafe characters do not
share one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_LABEL", "folder_name", "label_problem"]

MAX_LABEL = 200  # characters: a label is shown in tables and titles
_MAX_FOLDER = 100  # UTF-8 bytes: with `@host@pid.lock` or `.N` added, well under a file system's 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def label_problem(label: str) -> str | None:
    """Why `label` cannot name a sweep at all (None if it can): it is shown in terminals, logs and stores."""
    if not label.strip():
        return "a sweep name cannot be empty"
    bad = next((ch for ch in label if unicodedata.category(ch) == "Cc"), None)
    if bad is not None:
        return f"a sweep name cannot hold a control character (found {bad!r})"
    if len(label) > MAX_LABEL:
        return f"a sweep name is a label of at most {MAX_LABEL} characters, found {len(label):,}"
    return None


def _safe(name: str) -> bool:
    return (
        bool(name)
        and not name.startswith(".")  # `.`, `..` and hidden folders
        and name == name.strip()
        and "/" not in name
        and "\\" not in name
        and name.isprintable()
        and len(name.encode("utf-8", "surrogatepass")) <= _MAX_FOLDER
    )


def folder_name(label: str) -> str:
    """The name the store, `sweeps/` and the CLI use for the sweep labelled `label` (itself when safe)."""
    if _safe(label):
        return label
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem = _UNSAFE.sub("-", label).strip("-.")[:60].rstrip("-.") or "sweep"
    return f"{stem}-{digest}"

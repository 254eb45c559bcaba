"""The terminal display: what users and trials wrote is printed as written, never read as rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from sweepkit.progress import Progress
from sweepkit.results import TrialRecord


def _progress(**kwargs: bool) -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    return Progress(console=Console(file=out, force_terminal=False, width=300), **kwargs), out


def test_install_hints_and_names_keep_their_square_brackets() -> None:
    progress, out = _progress()
    progress.started("odd[bold]", 4, 0, "tpe", "torch is missing (pip install 'sweepkit[gp]'); TPE instead", "minimize")
    progress.note("note: W&B tracking needs pip install 'sweepkit[wandb]'")
    text = out.getvalue()
    assert "sweep odd[bold]:" in text
    assert text.count("'sweepkit[gp]'") == 1 and "'sweepkit[wandb]'" in text


def test_a_trial_error_with_brackets_is_printed() -> None:
    progress, out = _progress()
    progress.started("s", 2, 0, "random", "asked for", "minimize")
    record = TrialRecord(number=0, state="FAILED", value=None, params={"p": "[/x]"}, error="cannot open [/data/train]")
    progress.trial_finished(record, None, {})
    assert "cannot open [/data/train]" in out.getvalue()

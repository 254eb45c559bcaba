"""`sweepkit ...` in the test's process, as the tests run it: exit code, stdout and stderr of that call alone."""

from __future__ import annotations

import pytest

from sweepkit.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what earlier calls printed is theirs
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err

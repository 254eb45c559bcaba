"""Telling someone a sweep ended: the file's `notify:` section, run once when a `run` or `agent` ends.

The summary (JSON) goes on the standard input of an argv command (no shell: a sweep name or a parameter
value can't become shell syntax) and in the body of a POST to a webhook. Both have a timeout. A nightly sweep
must never fail, nor hang, because a chat server is down: any failure is a warning on the terminal and in the
run log, and the sweep's exit code stays what the sweep made it. The webhook uses urllib (standard library):
one POST does not need a new dependency.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from sweepkit.results import SweepResult, to_json
from sweepkit.spec import NotifySpec, Spec

EVENT_STATE = {"finish": "finished", "failure": "failed", "interrupted": "interrupted"}
_TAIL = 300  # characters of a failing command's output shown in the warning


def settings(spec: Spec) -> NotifySpec | None:
    """The file's `notify:` section, validated when the file was loaded; None when it has none."""
    return spec.notify


def summary(result: SweepResult, event: str, *, started: float, ended: float | None = None) -> dict[str, Any]:
    """What the command reads on stdin and the webhook receives: the sweep's state, counts and best trial."""
    ended = time.time() if ended is None else ended
    best = result.best_trial
    checkpoint = result.best_checkpoint
    return {
        "sweep": result.name,
        "event": event,
        "state": EVENT_STATE[event],
        "stop_reason": result.stop_reason,
        "metric": result.metric,
        "goal": result.goal,
        "trials": {state: n for state, n in result.counts.items() if n},
        "total_trials": len(result.trials),
        "best": None
        if best is None
        else {
            "trial": best.number,
            "value": best.value,
            "params": best.params,
            "checkpoint": str(checkpoint) if checkpoint else None,
        },
        "duration_seconds": round(ended - started, 3),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ended)),
        "output": str(result.output),
        "host": socket.gethostname(),
    }


def _tail(data: bytes | str | None) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data or ""
    text = " ".join(text.split())
    return text[-_TAIL:]


def run_command(argv: list[str], body: bytes, timeout: float, cwd: str | None = None) -> str | None:
    """Run the command with `body` on stdin; None when it went well, else why not (for the warning)."""
    try:
        done = subprocess.run(argv, input=body, capture_output=True, timeout=timeout, cwd=cwd, check=False)
    except FileNotFoundError:
        return f'command "{argv[0]}" not found'
    except PermissionError:
        return f'command "{argv[0]}" is not executable'
    except subprocess.TimeoutExpired:
        return f"command {argv[0]} took longer than {timeout:g}s (notify.timeout): stopped"
    except OSError as exc:
        return f"command {argv[0]} could not start: {exc}"
    if done.returncode != 0:
        said = _tail(done.stderr) or _tail(done.stdout)
        return f"command {argv[0]} exited with code {done.returncode}" + (f": {said}" if said else "")
    return None


def post(url: str, body: bytes, timeout: float) -> str | None:
    """POST `body` as JSON; None when the server answered 2xx, else why not."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "sweepkit"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only: checked
            response.read(1 << 16)
            return None
    except urllib.error.HTTPError as exc:
        return f"webhook {url} answered {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"webhook {url} unreachable: {exc.reason}"
    except TimeoutError:
        return f"webhook {url} did not answer within {timeout:g}s (notify.timeout)"
    except (OSError, ValueError) as exc:
        return f"webhook {url} failed: {exc}"


def notify(
    config: NotifySpec | None,
    result: SweepResult,
    event: str,
    *,
    started: float,
    warn: Callable[[str], None],
    cwd: str | None = None,
) -> dict[str, Any] | None:
    """Send the notifications `config` asks for on `event`; each failure goes to `warn`. The summary sent,
    or None when nothing was to be sent."""
    if config is None or event not in config.on:
        return None
    data = summary(result, event, started=started)
    body = to_json(data).encode("utf-8")
    if config.command:
        problem = run_command(config.command, body, config.timeout, cwd)
        if problem:
            warn(f"warning: notify: {problem}")
    if config.webhook:
        problem = post(config.webhook, body, config.timeout)
        if problem:
            warn(f"warning: notify: {problem}")
    return data


__all__ = ["EVENT_STATE", "notify", "post", "run_command", "settings", "summary"]

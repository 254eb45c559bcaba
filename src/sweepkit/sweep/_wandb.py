"""Unmodified W&B scripts as trial programs: W&B's own library in offline mode, fed and read back locally.

W&B's agent hands a sweep run its params as a YAML file named by `WANDB_SWEEP_PARAM_PATH`
(`{param: {value: v}}`), which `wandb.init()` loads into `wandb.config`, locked against the script's own
defaults. `wandb_env` writes that file where the agent would and sets the environment; offline mode needs
no account, key or server. The run's metrics come back from its transaction log,
`wandb/offline-run-<time>-<id>/run-<id>.wandb`: W&B's record format (LevelDB-log blocks holding
`wandb_internal_pb2.Record` protobufs), read while the run writes it. W&B 0.31 ships no Python reader for it
(its `DataStore` is gone; only wandb-core, in Go, reads it), so `_scan` follows the wire format itself.

`wandb` is imported by `WandbReader` only, and only once a run file exists: it is an optional extra, and
importing it costs about a second.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import signal
import string
import struct
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

MISSING_HINT = "reading wandb.log needs W&B's library where sweepkit runs: pip install 'sweepkit[wandb]'"

# Keys W&B adds to every history row and to the summary; the step is returned apart.
INTERNAL_KEYS = frozenset({"_step", "_runtime", "_timestamp", "_wandb"})

# How often wandb-core flushes the run's .wandb file (its default, 15 s, would delay early stopping).
FLUSH_SECONDS = 1.0

# Inherited W&B variables a trial may keep: labels only. The rest could point its run at another
# service, directory, run or mode (a parent's WANDB_SERVICE, WANDB_RESUME, WANDB_DISABLED, ...).
PASSTHROUGH = frozenset({"WANDB_NAME", "WANDB_NOTES", "WANDB_TAGS", "WANDB_JOB_TYPE", "WANDB_RUN_GROUP"})

_BLOCK = 32 * 1024  # LevelDB log: 32 KiB blocks of chunks, each with a 7-byte header
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_FILE_HEADER = struct.Struct("<4sHB")  # ":W&B", magic 0xBEE1, format version; the first 7 bytes of block 0
_FILE_IDENT, _FILE_MAGIC = b":W&B", 0xBEE1
_RUN_ID_CHARS = string.ascii_lowercase + string.digits
RUN_ID_FILE = "sweepkit-run-id"  # in <trial>/wandb: the run id of the latest attempt in that folder


def _slug(text: str, *, limit: int = 64) -> str:
    """W&B ids and project names refuse `/ \\ # ? % :` and friends; keep them to a safe alphabet."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or "sweep"


def wandb_env(
    trial_dir: Path, params: dict[str, Any], *, sweep: str, trial: int, project: str | None = None
) -> dict[str, str]:
    """Environment that makes `wandb.init()` in the trial program run offline with `params` as its config.

    Writes the param file as W&B's agent does (`<WANDB_DIR>/wandb/sweep-<sweep>/config-<run>.yaml`) with a new
    run id, and that id to `wandb/sweepkit-run-id`: `WandbReader` reads this attempt's run, not older ones.
    """
    trial_dir = Path(trial_dir).resolve()
    wandb_dir = trial_dir / "wandb"
    sweep_id = _slug(sweep)
    run_id = f"{trial}-" + "".join(secrets.choice(_RUN_ID_CHARS) for _ in range(8))
    param_file = wandb_dir / f"sweep-{sweep_id}" / f"config-{run_id}.yaml"
    param_file.parent.mkdir(parents=True, exist_ok=True)
    plain = json.loads(json.dumps(params, default=str))  # numpy scalars, paths, ... as YAML can write them
    body = yaml.safe_dump(
        {name: {"value": value} for name, value in plain.items()},
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
    )
    param_file.write_text("wandb_version: 1\n\n" + body if plain else "wandb_version: 1\n", encoding="utf-8")
    (wandb_dir / RUN_ID_FILE).write_text(run_id + "\n", encoding="utf-8")
    home = wandb_dir / "home"
    return {
        "WANDB_MODE": "offline",  # no account, key, login or server; the run goes to a local file
        "WANDB_SWEEP_PARAM_PATH": str(param_file),  # wandb.init() loads it into wandb.config, as under the agent
        "WANDB_SWEEP_ID": sweep_id,  # run.sweep_id is set, and init(project=, entity=, id=) is ignored, as in a sweep
        "WANDB_RUN_ID": run_id,
        "WANDB_PROJECT": _slug(project or sweep, limit=128),
        "WANDB_DIR": str(trial_dir),  # the run's files: <trial>/wandb/offline-run-*
        "WANDB_CONFIG_DIR": str(home / "config"),  # not ~/.config/wandb: no user settings (base_url, mode) apply
        "WANDB_CACHE_DIR": str(home / "cache"),  # nothing is written under ~
        "WANDB_DATA_DIR": str(home / "data"),
        "WANDB_ARTIFACT_DIR": str(home / "artifacts"),
        "WANDB_SERVICE": "",  # empty = unset: never attach to a parent's wandb-core, start one of its own
        "WANDB_SILENT": "true",  # W&B's banners and messages go to wandb/debug.log; tracebacks still reach stderr
        "WANDB_CONSOLE": "off",  # its output stays in the trial's stdout.log, not copied into the run file
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",  # wandb-core starts with --no-observability: no Sentry reports
        "WANDB_X_DISABLE_STATS": "true",  # no system-monitor process sampling CPU/GPU every 15 s
        "WANDB_X_DISABLE_META": "true",  # no environment probe (GPU, git, OS) at start
        "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL": str(FLUSH_SECONDS),  # rows reach the file within ~1 s
    }


def wait_for_service(program_pid: int, timeout: float) -> None:
    """Wait (up to `timeout` s) for the wandb-core that served the program `program_pid` to exit.

    W&B starts wandb-core in a session of its own, out of reach of the trial's process group; when the
    program dies it writes the rows still in its buffer to the run file, then exits (~1 s). Read the file
    before that and a stopped trial's last steps are missed. Found by its command line, which names the
    program (`--pid N`); one that outstays `timeout` is killed, so nothing outlives the trial. /proc is read
    directly: psutil would do it too, but it is an optional extra (`monitor`). Elsewhere than Linux: no wait."""
    wanted = f"--pid\0{program_pid}\0".encode()
    services = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes() if entry.name.isdigit() else b""
            except OSError:
                continue
            if cmdline.split(b"\0", 1)[0].endswith(b"wandb-core") and wanted in cmdline + b"\0":
                services.append(int(entry.name))
    deadline = time.monotonic() + timeout
    for pid in services:
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _running(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's parent may be slow to reap it, or never do)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def without_wandb(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` minus inherited W&B variables (but labels), so nothing steers the trial's run elsewhere."""
    return {k: v for k, v in environ.items() if not k.startswith("WANDB_") or k in PASSTHROUGH}


class _Log:
    """One .wandb file read incrementally: `offset` is always where the next unread record starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.broken = False  # not a W&B record log: never read again


def _scan(data: bytes, base: int, *, final: bool) -> tuple[list[bytes], int]:
    """The complete records in `data` (read from absolute offset `base`, a record boundary), and where to go on.

    A record whose chunks are not all there yet is left for the next call. A bad chunk (checksum, length,
    order) in the block still being written is also retried (it may be a torn write); in a finished block,
    or when `final`, it is skipped to the next block, as LevelDB's reader recovers.
    """
    end = base + len(data)
    growing = (end - 1) // _BLOCK if end else 0  # the block the writer may still be filling
    records: list[bytes] = []
    pos = resume = base
    parts: list[bytes] = []
    while True:
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK_HEADER:  # the writer zero-fills a block's last few bytes
            if pos + left > end:
                return records, resume
            pos += left
            if not parts:
                resume = pos
            continue
        if pos + _CHUNK_HEADER > end:
            return records, resume
        checksum, length, kind = struct.unpack_from("<IHB", data, pos - base)
        stop = pos + _CHUNK_HEADER + length
        bad = (checksum, length, kind) == (0, 0, 0) or kind not in (_FULL, _FIRST, _MIDDLE, _LAST)
        bad = bad or length > left - _CHUNK_HEADER
        if not bad and stop > end:
            return records, resume  # the chunk's payload is still on its way
        if not bad:
            payload = data[pos + _CHUNK_HEADER - base : stop - base]
            bad = zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum
        if bad:
            if pos // _BLOCK == growing and not final:
                return records, resume
            pos = resume = (pos // _BLOCK + 1) * _BLOCK  # skip the rest of a corrupt block
            parts = []
            if pos >= end:
                return records, resume
            continue
        pos = stop
        if kind == _FULL:
            records.append(payload)
            parts, resume = [], pos
        elif kind == _FIRST:
            parts = [payload]
        elif parts:  # MIDDLE or LAST of the record being read
            parts.append(payload)
            if kind == _LAST:
                records.append(b"".join(parts))
                parts, resume = [], pos
        else:  # the tail of a record whose start was lost: skip it
            resume = pos


def _value(item: Any) -> Any:
    """A history or summary item's value: typed fields (newer W&B) or its JSON text."""
    try:
        kind = item.WhichOneof("value")
    except ValueError:  # older W&B: no typed values
        kind = None
    if kind == "none":
        return None
    if kind == "json":
        return json.loads(item.json)
    if kind is not None:
        return getattr(item, kind)
    return json.loads(item.value_json) if item.value_json else None


def _path(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _internal(path: list[str]) -> bool:
    return path[0] in INTERNAL_KEYS


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary → dotted names, as W&B names nested metrics ("val.acc"); W&B media dicts stay whole."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and "_type" not in value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class WandbReader:
    """Reads back what `wandb.log` wrote in a trial's folder: new history rows while it runs, the summary at its end."""

    def __init__(self, trial_dir: Path) -> None:
        self.trial_dir = Path(trial_dir)
        self._logs: dict[Path, _Log] = {}
        self._pending: list[tuple[int | None, dict[str, Any]]] = []
        self._summary: dict[str, Any] = {}
        self._record_type: Any = None
        self._import_failed = False

    @property
    def available(self) -> bool:
        """Whether W&B's library can be used here (checked without importing it)."""
        return not self._import_failed and importlib.util.find_spec("wandb") is not None

    @property
    def started(self) -> bool:
        """Whether the program started a W&B run here (its run file exists)."""
        try:
            return bool(self._run_files())
        except OSError:
            return False

    def poll(self) -> list[tuple[int | None, dict[str, Any]]]:
        """History rows logged since the last poll, as (step, {metric: value}) with W&B's internal keys removed."""
        self._read(final=False)
        rows, self._pending = self._pending, []
        return rows

    def summary(self) -> dict[str, Any]:
        """The run's summary (each metric's last value unless the script set it), {} if there is none yet.

        Reads the file to its end; history rows found on the way are kept for the next `poll`.
        """
        self._read(final=True)
        flat = {k: v for k, v in _flatten(self._summary).items() if not _internal(k.split(".", 1))}
        if flat:
            return flat
        for log in self._logs.values():  # older offline runs may leave only files/wandb-summary.json
            try:
                saved = json.loads((log.path.parent / "files" / "wandb-summary.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(saved, dict):
                flat.update({k: v for k, v in _flatten(saved).items() if not _internal(k.split(".", 1))})
        return flat

    def _run_files(self) -> list[Path]:
        """This attempt's run files: those of the run id `wandb_env` chose last (or all, without one)."""
        wandb_dir = self.trial_dir / "wandb"
        try:
            run_id = (wandb_dir / RUN_ID_FILE).read_text(encoding="utf-8").strip() or "*"
        except FileNotFoundError:
            run_id = "*"
        # offline-run-<time>-<id>[-<n>]/run-<id>.wandb, oldest first (a script may init() more than once)
        return sorted(wandb_dir.glob(f"*run-*/run-{run_id}.wandb"))

    def _records(self) -> Any:
        if self._record_type is None and not self._import_failed:
            try:
                from wandb.proto.wandb_internal_pb2 import Record
            except Exception:  # missing, or broken (protobuf mismatch): the runner gives the hint
                self._import_failed = True
            else:
                self._record_type = Record
        return self._record_type

    def _read(self, *, final: bool) -> None:
        try:
            files = self._run_files()
        except OSError:
            return
        if not files or self._records() is None:
            return
        for path in files:
            log = self._logs.setdefault(path, _Log(path))
            if not log.broken:
                self._read_log(log, final=final)

    def _read_log(self, log: _Log, *, final: bool) -> None:
        try:
            with log.path.open("rb") as handle:
                handle.seek(log.offset)
                data = handle.read()
        except OSError:
            return
        base = log.offset
        if base == 0:
            if len(data) < _FILE_HEADER.size:
                return
            ident, magic, _version = _FILE_HEADER.unpack_from(data)
            if ident != _FILE_IDENT or magic != _FILE_MAGIC:
                log.broken = True
                return
            data, base = data[_FILE_HEADER.size :], _FILE_HEADER.size
        payloads, log.offset = _scan(data, base, final=final)
        for payload in payloads:
            self._take(payload)

    def _take(self, payload: bytes) -> None:
        record = self._record_type()
        try:
            record.ParseFromString(payload)
            kind = record.WhichOneof("record_type")
            if kind == "history":
                self._take_history(record.history)
            elif kind == "summary":
                self._take_summary(record.summary)
        except Exception:  # one undecodable record must not cost the rest
            return

    def _take_history(self, history: Any) -> None:
        row: dict[str, Any] = {}
        step: int | None = history.step.num if history.HasField("step") else None
        for item in history.item:
            path = _path(item)
            try:
                value = _value(item)
            except ValueError:
                continue
            if path == ["_step"] and isinstance(value, int | float):
                step = int(value)
            elif not _internal(path):
                row[".".join(path)] = value
        if row:
            self._pending.append((step, row))

    def _take_summary(self, summary: Any) -> None:
        for item in summary.update:
            try:
                value = _value(item)
            except ValueError:
                continue
            *parents, leaf = _path(item)
            node = self._summary
            for key in parents:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[leaf] = value
        for item in summary.remove:
            *parents, leaf = _path(item)
            node = self._summary
            for key in parents:
                node = node.get(key) if isinstance(node.get(key), dict) else {}
            node.pop(leaf, None)


__all__ = ["MISSING_HINT", "WandbReader", "wait_for_service", "wandb_env", "without_wandb"]

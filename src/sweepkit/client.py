"""The trial side of a program sweep: `run = sweepkit.init(defaults)`, `run.params`, `run.log(...)`.

Every trial process imports this, so it uses the standard library only and loads nothing heavy: a sweep of
short trials must not pay for Optuna at each start. It speaks the line protocol of docs/line-protocol.md: one
JSON object per line, appended to `$SWEEPKIT_CHANNEL` with a single write(). Outside a sweep (the same script
run by hand) `init` returns the defaults and `log` prints, so the script needs no second code path.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import json
import math
import os
import signal
import sys
from collections.abc import Mapping

from sweepkit.errors import TrialPruned

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms on a slow machine)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

__all__ = ["Params", "Run", "checkpoint_dir", "init"]

ATOMIC_LINE_BYTES = 4096  # lines up to this size are appended atomically on Linux filesystems
# Says "this program checks the stop file": the runner then gives it a few seconds to leave when it is
# pruned; a program that never said so is stopped at once (SIGTERM), since waiting for it would be in vain.
STOP_CHECK_EVENT = {"event": "stop_check"}
_ENV_PARAMS_FILE = "SWEEPKIT_PARAMS_FILE"
_ENV_PARAMS = "SWEEPKIT_PARAMS"
_ENV_CHECKPOINT_DIR = "SWEEPKIT_CHECKPOINT_DIR"
_ENV_RESUMED = "SWEEPKIT_RESUMED"
# A function trial's checkpoint folder and retry flag, for the thread running it (slot threads run several
# trials at once in one process, so an environment variable would be shared by all of them).
_trial_local = _thread._local()


class Params(dict):
    """The trial's params as a dict that also reads as attributes: `params.lr`, `params.optimizer.momentum`.

    Keys that clash with dict methods (`items`, `keys`, ...) are read with `params["items"]`. A missing
    attribute raises AttributeError naming the closest key, since a typo there is the usual cause."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, value in self.items():
            dict.__setitem__(self, key, _wrap(value))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            pass
        if name.startswith("__"):  # copy, pickle and friends probe for these: answer fast and plainly
            raise AttributeError(name)
        import difflib

        keys = [str(key) for key in self]
        close = difflib.get_close_matches(name, keys, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        shown = ", ".join(keys[:20]) + (", ..." if len(keys) > 20 else "") if keys else "none"
        raise AttributeError(f'no parameter "{name}"{hint}; the params are: {shown}') from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(key for key in self if isinstance(key, str) and key.isidentifier())})

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists all the way down (for json.dump, or a library that checks `type(x) is dict`)."""
        return {key: _unwrap(value) for key, value in self.items()}


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, Params):
        return Params(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def _merge(defaults: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: a trial's `optimizer: {lr: ...}` replaces only `lr` among the defaults' optimizer keys.

    A dotted name is one key, as W&B hands it (`params["model.n_layers"]`); where the defaults nest that
    path (`model: {n_layers: 2}`), the value there is replaced too, so `params.model.n_layers` is no stale default."""
    merged = dict(defaults)
    for key, value in override.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(base, value)
        else:
            merged[key] = value
        if isinstance(key, str) and "." in key and key not in defaults:
            _set_nested(merged, key.split("."), value)
    return merged


def _set_nested(tree: dict[str, Any], path: list[str], value: Any) -> None:
    """Replace the value at `path` when every level of it already exists as a mapping in `tree`."""
    head, *rest = path
    if not rest:
        if head in tree:
            tree[head] = value
        return
    child = tree.get(head)
    if isinstance(child, Mapping):
        tree[head] = dict(child)  # a copy: the caller's defaults stay as they were
        _set_nested(tree[head], rest, value)


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        raise RuntimeError(f"sweepkit: ${name} is {raw!r}, not an integer") from None


def _read_trial_params() -> dict[str, Any] | None:
    """The trial's params from $SWEEPKIT_PARAMS_FILE (or inline $SWEEPKIT_PARAMS); None outside a sweep."""
    path = os.environ.get(_ENV_PARAMS_FILE)
    text: str | None
    if path:
        where = f"the params file {path} (${_ENV_PARAMS_FILE})"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise RuntimeError(f"sweepkit: cannot read {where}: {exc.strerror or exc}") from exc
    else:
        text = os.environ.get(_ENV_PARAMS)
        if text is None:
            return None
        where = f"${_ENV_PARAMS}"
    try:
        params = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise RuntimeError(f"sweepkit: {where} is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise RuntimeError(f"sweepkit: {where} holds a JSON {type(params).__name__}, expected an object")
    return params


def checkpoint_dir() -> Path:
    """The trial's checkpoint folder, created if need be: the same folder when a trial cut short runs again
    (`sweeps/<name>/checkpoints/trial-<n>/`, n its first attempt), so a script resumes from what it saved.
    Outside a sweep: `checkpoints/` in the current folder."""
    from pathlib import Path

    folder = getattr(_trial_local, "checkpoint_dir", None) or os.environ.get(_ENV_CHECKPOINT_DIR)
    path = Path(folder) if folder else Path.cwd() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _resumed() -> bool:
    bound = getattr(_trial_local, "resumed", None)
    return bool(bound) if bound is not None else os.environ.get(_ENV_RESUMED) == "1"


@contextlib.contextmanager
def _in_trial(checkpoint: str | None, resumed: bool) -> Iterator[None]:
    """Run a function trial with its checkpoint folder and retry flag, for `checkpoint_dir()` and `init()`."""
    before = getattr(_trial_local, "checkpoint_dir", None), getattr(_trial_local, "resumed", None)
    _trial_local.checkpoint_dir, _trial_local.resumed = checkpoint, resumed
    try:
        yield
    finally:
        _trial_local.checkpoint_dir, _trial_local.resumed = before


def _nonfinite(value: float) -> str:
    """JSON has no NaN or infinity: the protocol spells them as strings, which the runner reads back as floats."""
    return "nan" if value != value else ("inf" if value > 0 else "-inf")


def _jsonable(value: Any, key: str) -> Any:
    """A metric value as JSON: numbers stay numbers, numpy/torch scalars become numbers via .item()."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _nonfinite(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, key) for v in value]
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars, 0-d arrays, one-element tensors
        try:
            return _jsonable(item(), key)
        except (TypeError, ValueError, RuntimeError):
            pass  # more than one element: try tolist
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _jsonable(tolist(), key)
    if hasattr(value, "__float__"):  # Decimal, Fraction, ...
        return _jsonable(float(value), key)
    raise TypeError(f'metric "{key}" has type {type(value).__name__}, not a number or a JSON value')


def _as_step(value: Any) -> int:
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, int):
        value = item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"step must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"step must be >= 0, got {value}")
    return value


def _shown(value: Any) -> str:
    return format(value, ".6g") if isinstance(value, float) else str(value)


def _line(row: dict[str, Any]) -> bytes:
    """One protocol line: `row` (values already made JSON by `_jsonable`) as JSON, newline included."""
    return (json.dumps(row, allow_nan=False) + "\n").encode("utf-8")


def _append(fd: int, data: bytes) -> None:
    """Write `data` to the channel's O_APPEND descriptor with one write(), so the line lands whole at the end."""
    view = memoryview(data)
    while view:  # a regular file takes it all at once; loop only for a short write (e.g. a full disk)
        view = view[os.write(fd, view) :]


class Run:
    """One trial seen from inside the program: its params, where to put outputs, and how to report metrics."""

    params: Params
    in_sweep: bool
    trial: int | None
    sweep: str | None
    seed: int | None  # the trial's seed ($SWEEPKIT_SEED): seed_everything(run.seed), seeded(params, lib, run.seed)
    max_steps: int | None  # the sweep's budget.steps (--epochs-per-trial): train for this many steps at most
    resumed: bool  # this trial was cut short before (a crash, a lost worker, a killed run) and runs again

    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        in_sweep: bool = False,
        trial: int | None = None,
        sweep: str | None = None,
        seed: int | None = None,
        max_steps: int | None = None,
        resumed: bool = False,
        trial_dir: str | None = None,
        channel: str | None = None,
        stop_file: str | None = None,
    ) -> None:
        self.params = params if isinstance(params, Params) else Params(params)
        self.in_sweep = in_sweep
        self.trial = trial
        self.sweep = sweep
        self.seed = seed
        self.max_steps = max_steps
        self.resumed = resumed
        self._trial_dir = trial_dir
        self._channel = channel
        self._stop_file = stop_file
        self._fd: int | None = None
        self._finished = False
        self._pid = os.getpid()  # a forked child inherits the atexit hook: only the parent finishes the run
        self._lock = _thread.allocate_lock()  # _thread, not threading: cheaper to import
        self._warned_long = False
        self._said_stop_check = False
        if channel:
            try:
                # One descriptor for the whole run, O_APPEND: every os.write lands at the end, whole.
                self._fd = os.open(channel, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RuntimeError(
                    f"sweepkit: cannot open the metrics channel {channel} ($SWEEPKIT_CHANNEL): {exc.strerror or exc}"
                ) from exc
        atexit.register(self._finish_at_exit)

    @property
    def dir(self) -> Path:
        """The trial's own folder for outputs, one per attempt ($SWEEPKIT_TRIAL_DIR); the cwd outside a sweep.
        Checkpoints go to `checkpoint_dir`, which a retry gets back."""
        from pathlib import Path  # only when asked: pathlib costs a few ms at import

        return Path(self._trial_dir) if self._trial_dir else Path.cwd()

    @property
    def checkpoint_dir(self) -> Path:
        """The trial's checkpoint folder, kept when it runs again after being cut short: `checkpoint_dir()`."""
        return checkpoint_dir()

    def __repr__(self) -> str:
        where = f"sweep={self.sweep!r}, trial={self.trial!r}" if self.in_sweep else "standalone"
        return f"Run({where}, params={dict(self.params)!r})"

    @property
    def number(self) -> int | None:
        """The trial's number, as `sweepkit.Trial` names it (`run.trial`)."""
        return self.trial

    def should_prune(self) -> bool:
        """True once the runner asked this trial to stop (pruned, or the sweep is ending), as
        `trial.should_prune()` says in a function trial (`should_stop` is its first name)."""
        if self._stop_file is None:
            return False
        self._say_stop_check()
        return os.path.exists(self._stop_file)

    def _say_stop_check(self) -> None:
        """Tell the runner, once, that this program checks the stop file (so it may stop it gently)."""
        if not self._said_stop_check and self._fd is not None:
            self._said_stop_check = True
            self._write(dict(STOP_CHECK_EVENT))

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Report metrics (for `step`, when given). Raises TrialPruned once the runner asked the trial to stop."""
        if not isinstance(metrics, Mapping):
            raise TypeError(f"log() takes a mapping of metric names to values, got {type(metrics).__name__}")
        row: dict[str, Any] = {}
        if "step" in metrics:
            if step is not None:
                raise ValueError('give the step either as step= or as metrics["step"], not both')
            step = metrics["step"]
        if step is not None:
            row["step"] = _as_step(step)
        for key, value in metrics.items():
            name = str(key)
            if name == "step":
                continue
            if name == "event":
                raise ValueError('"event" is reserved by the line protocol; rename the metric')
            row[name] = _jsonable(value, name)
        if self._fd is None:
            if row:
                prefix = f"step {row.pop('step')}: " if "step" in row else ""
                print(prefix + " ".join(f"{k}={_shown(v)}" for k, v in row.items()), flush=True)
        elif row:
            self._say_stop_check()  # before the row: the runner knows it by the time it judges this step
            self._write(row)
        if self.should_prune():
            raise TrialPruned(f"trial {self.trial} was asked to stop (the stop file {self._stop_file} exists)")

    def report_fold(self, k: int, metrics: Mapping[str, Any] | float) -> None:
        """Report cross-validation fold `k` (0, 1, ...): a mapping holding the sweep's metric (and any others),
        or the metric's value alone. The runner shows the fold's value to the pruner at step `k`, keeps every
        fold's values with the trial, and makes the objective `metric.fold_aggregation` of the folds (unless the
        program also logs the metric itself with `log`). Raises TrialPruned once the runner asked it to stop."""
        from sweepkit._folds import fold_index

        row: dict[str, Any] = {"event": "fold", "fold": fold_index(k)}
        if isinstance(metrics, Mapping):
            row["metrics"] = {str(name): _jsonable(value, str(name)) for name, value in metrics.items()}
        else:
            row["value"] = _jsonable(metrics, f"fold {k}")
        if self._fd is None:
            values = row.get("metrics", {"value": row.get("value")})
            print(f"fold {row['fold']}: " + " ".join(f"{n}={_shown(v)}" for n, v in values.items()), flush=True)
        else:
            self._say_stop_check()
            self._write(row)
        if self.should_prune():
            raise TrialPruned(f"trial {self.trial} was asked to stop (the stop file {self._stop_file} exists)")

    def set_constraint(self, name: str, value: float) -> None:
        """A constraint the trial measured, as Optuna counts them: ≤ 0 feasible, > 0 violated by that much
        (`run.set_constraint("memory_gb", peak - 8)`). A trial violating one completes with its value but is never
        the sweep's best, and the strategy learns to avoid its region. The last value given for a name counts."""
        from sweepkit._folds import constraint_value

        key, number = constraint_value(name, value)
        row = {"event": "constraint", "name": key, "value": _jsonable(number, key)}
        if self._fd is None:
            print(f"constraint {key}: {_shown(number)} ({'violated' if number > 0 else 'feasible'})", flush=True)
        else:
            self._write(row)

    # The first names of these (kept): `sweepkit.Trial`'s words are the ones above, so a function trial and a
    # program say the same thing; `log`, `config`-like `params` and `finish` keep W&B's words.
    should_stop = should_prune
    log_fold = report_fold
    constraint = set_constraint

    def finish(self) -> None:
        """Mark the end of reporting with {"event": "finish"}. Safe to call twice; atexit calls it too."""
        with self._lock:
            if self._finished or os.getpid() != self._pid:
                return
            self._finished = True
        atexit.unregister(self._finish_at_exit)
        if self._fd is not None:
            self._write({"event": "finish"})

    def _finish_at_exit(self) -> None:
        try:
            self.finish()
        except OSError as exc:  # a full disk at exit must not turn a finished trial into a traceback
            print(f"sweepkit: could not write the finish line: {exc}", file=sys.stderr)

    def _write(self, row: dict[str, Any]) -> None:
        data = _line(row)
        if len(data) > ATOMIC_LINE_BYTES and not self._warned_long:
            self._warned_long = True
            import warnings

            warnings.warn(
                f"sweepkit: a metrics line of {len(data)} bytes is over {ATOMIC_LINE_BYTES}; lines that long may "
                "interleave with other processes' lines. Log fewer or shorter values per call.",
                stacklevel=3,
            )
        assert self._fd is not None
        _append(self._fd, data)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        """Finish, and let any exception (TrialPruned included) propagate: the runner already knows the outcome."""
        self.finish()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM means the runner is stopping the trial: exit through SystemExit so `finally`/`with` blocks run."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise SystemExit(128 + signum)


def _install_sigterm_handler() -> None:
    """Only where nobody else handles SIGTERM (a framework's own handler wins), and only from the main thread."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        with contextlib.suppress(ValueError):  # not the main thread: Python allows handlers only there
            signal.signal(signal.SIGTERM, _exit_on_sigterm)


def init(defaults: Mapping[str, Any] | None = None, *, config: Mapping[str, Any] | None = None) -> Run:
    """Start reporting for this trial: its params are `defaults` deep-merged with the sweep's choice (which wins).

    Outside a sweep ($SWEEPKIT_PARAMS_FILE and $SWEEPKIT_PARAMS unset) the params are the defaults and `log`
    prints, so the same script runs by hand. `config` is W&B's name for `defaults`."""
    if defaults is not None and config is not None:
        raise TypeError("init() takes defaults or config (the same thing under W&B's name), not both")
    base = defaults if defaults is not None else (config or {})
    if not isinstance(base, Mapping):
        raise TypeError(f"init() defaults must be a mapping, got {type(base).__name__}")
    trial_params = _read_trial_params()
    in_sweep = trial_params is not None
    run = Run(
        _merge(base, trial_params) if trial_params is not None else dict(base),
        in_sweep=in_sweep,
        trial=_env_int("SWEEPKIT_TRIAL"),
        sweep=os.environ.get("SWEEPKIT_SWEEP") or None,
        seed=_env_int("SWEEPKIT_SEED") if "SWEEPKIT_SEED" in os.environ else _env_int("SWEEPKIT_TRIAL_SEED"),
        max_steps=_env_int("SWEEPKIT_MAX_STEPS"),
        resumed=_resumed(),
        trial_dir=os.environ.get("SWEEPKIT_TRIAL_DIR") or None,
        channel=os.environ.get("SWEEPKIT_CHANNEL") or None,
        stop_file=os.environ.get("SWEEPKIT_STOP_FILE") or None,
    )
    if in_sweep:
        _install_sigterm_handler()
    return run

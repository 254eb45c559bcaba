"""The `sweepkit` command. Exit codes: 0 ok, 1 the sweep failed, 2 user error, 130 interrupted.

Every user error prints one message (file, key path, what was expected); a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sweepkit.errors import SpecError, SweepkitError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors are user errors too: exit 2
        self.print_usage(sys.stderr)
        print(f"sweepkit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    p.add_argument("--verbose", "-v", action="store_true", help="print every trial")


def _timeout(value: str) -> str:
    return value


def _scale_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-report", action="store_true", help="skip the report at the end (SWEEPKIT_NO_REPORT=1)")
    p.add_argument("--workers", "-j", type=int, help="trials at once (resources.workers, n_jobs, max_concurrent)")
    p.add_argument("--gpu-ids", metavar="IDS", help='GPUs to use, e.g. "0,1" (resources.gpu_ids)')
    p.add_argument(
        "--until", metavar="TIME",
        help='stop at this time ("06:00" = the next 06:00): running trials are stopped and run again next time',
    )  # fmt: skip


def _inline_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--param", action="append", default=[], metavar="NAME=DIST",
        help="a parameter without a sweep file, e.g. 'lr=loguniform(1e-5,1e-1)' or 'bs=choice(16,32)'",
    )  # fmt: skip
    p.add_argument("--metric", metavar="NAME[:GOAL]", help="the metric without a sweep file, e.g. val_loss:minimize")


def _function_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--function", metavar="MODULE:FN",
        help="the trial function, for a sweep file that names none (looked up next to the file, then here); "
        "or give a command after --: sweepkit run FILE -- python train.py",
    )  # fmt: skip


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """`sweepkit run --param ... -- python train.py --epochs 3`: what follows `--` is the program."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def _source(args: argparse.Namespace) -> Any:
    """The sweep file, or a spec made from --param/--metric and the command after `--`."""
    from sweepkit.spec import inline_spec

    if args.file and args.param:
        raise SpecError("give a sweep file or --param flags with a command after --, not both")
    if args.file:
        if args.metric:
            raise SpecError("--metric goes with --param; in a sweep file, set metric.name")
        args.overrides = [*args.overrides, *_what_to_run(args)]
        return args.file
    if args.function:
        raise SpecError("--function goes with a sweep file; with --param flags, give the command after --")
    if not args.param:
        raise SpecError("no sweep file: give one (sweepkit run sweep.yaml) or --param flags and a command after --")
    return inline_spec(args.param, args.metric, args.program_command)


def _what_to_run(args: argparse.Namespace) -> list[str]:
    """`FILE --function module:fn` or `FILE -- python train.py ...`: what to run, from the command line, as
    overrides of the file's trial section, written where the file has it. Like --trials over budget.trials,
    the command line wins over what the file says; a command gets `${args}` unless it places the params."""
    from sweepkit.spec import PARAM_MACROS, load_spec, origin_of

    command = args.program_command
    if not args.function and not command:
        return []
    if args.function and command:
        raise SpecError("give --function or a command after --, not both")
    written = load_spec(args.file, args.overrides)  # as written: where its trial section is, if anywhere
    function_key = origin_of("trial.function", written.origins)
    if args.function:
        here = str(Path.cwd())  # a module beside the file wins; else one where sweepkit runs, as `python -m` finds
        if here not in sys.path:
            sys.path.append(here)
        return [f"{function_key}={json.dumps(args.function)}"]
    if not any(part in PARAM_MACROS for part in command):
        command = [*command, "${args}"]
    overrides = [f"{origin_of('trial.command', written.origins)}={json.dumps(command)}"]
    if written.trial.function:  # a function would run instead of the command: the command was asked for
        overrides.append(f"{function_key}=null")
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sweepkit", description="Self-hosted hyperparameter sweeps.")
    from sweepkit import __version__

    parser.add_argument("--version", action="version", version=f"sweepkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("validate", help="check a sweep file and show what it would search")
    p.add_argument("file", nargs="?")
    p.add_argument("overrides", nargs="*", metavar="key.path=value")
    _inline_flags(p)
    _function_flag(p)
    _common(p)

    p = sub.add_parser(
        "run",
        help="run or resume a sweep",
        epilog="Without a file: sweepkit run --param 'lr=loguniform(1e-5,1e-1)' --metric val_loss:minimize "
        "--trials 20 -- python train.py --epochs 3",
    )
    p.add_argument("file", nargs="?")
    p.add_argument("overrides", nargs="*", metavar="key.path=value")
    _inline_flags(p)
    _function_flag(p)
    p.add_argument("--save-spec", metavar="FILE", help="write the sweep file equivalent to the --param flags")
    p.add_argument("--stream", action="store_true", help="show program trials' output live, prefixed by trial")
    p.add_argument("--trials", "--num-trials", "--n-trials", dest="trials", type=int, help="number of trials")
    p.add_argument(
        "--epochs-per-trial", "--steps", dest="steps", type=int, metavar="N",
        help="the most steps (epochs) a trial trains for: budget.steps, $SWEEPKIT_MAX_STEPS, the pruners' top rung",
    )  # fmt: skip
    p.add_argument("--timeout", type=_timeout, help='stop launching trials after this long ("2h", "30m", seconds)')
    p.add_argument("--timeout-hours", type=float, help="the timeout in hours (the transformer workflow's spelling)")
    p.add_argument("--seed", type=int, help="the sweep's seed: the strategy's, and each trial's (trial.seed) from it")
    p.add_argument("--storage", help="store URL (default: the embedded store in .sweepkit/)")
    p.add_argument("--fresh", action="store_true", help="keep the existing sweep as NAME.N and start over")
    _scale_flags(p)
    p.add_argument(
        "--exclusive", action="store_true",
        help="do nothing (exit 0) if another run of this sweep is alive on this machine: for cron",
    )  # fmt: skip
    _common(p)

    p = sub.add_parser(
        "agent",
        help="join a sweep already in the store (from another terminal or machine) and run its trials",
        epilog="Every agent shares the sweep's strategy and budget through the store: "
        "sweepkit agent NAME --storage postgresql://host/db --workers 4",
    )
    p.add_argument("name")
    p.add_argument("--storage", help="store URL (default: the embedded store in .sweepkit/)")
    p.add_argument("--count", type=int, metavar="N", help="run at most N trials, then stop (as wandb agent --count)")
    p.add_argument("--stream", action="store_true", help="show program trials' output live, prefixed by trial")
    _scale_flags(p)
    _common(p)

    p = sub.add_parser("ls", help="sweeps in the store")
    p.add_argument("--storage")
    _common(p)

    p = sub.add_parser("status", help="one sweep: progress, best so far, recent trials")
    p.add_argument("name")
    p.add_argument("--storage")
    p.add_argument("--last", type=int, default=10, help="how many recent trials to show")
    _common(p)

    p = sub.add_parser("logs", help="a program trial's output (stdout and stderr)")
    p.add_argument("name")
    p.add_argument("trial", type=int)
    p.add_argument("--storage")
    _common(p)

    p = sub.add_parser("best", help="the best params of a sweep (a multi-objective sweep: its Pareto front)")
    p.add_argument("name")
    p.add_argument("--storage")
    p.add_argument("--format", choices=("yaml", "json", "args", "hydra"), help="yaml unless given")
    p.add_argument("--pick", metavar="METRIC", help="a multi-objective sweep: the best trial for this objective")
    p.add_argument("--into", metavar="CONFIG", help="write the best params into your own YAML config (comments kept)")
    p.add_argument(
        "--map", action="append", default=[], metavar="PARAM=KEY",
        help="with --into: the config key a param goes to, e.g. --map warmup_epochs=training.warmup.epochs",
    )  # fmt: skip
    p.add_argument("--output", metavar="FILE", help="write to FILE instead (with --into: a copy of the config)")
    p.add_argument("--checkpoint", action="store_true", help="print only the best trial's checkpoint folder")
    _common(p)

    p = sub.add_parser("retrain", help="run the best params once more at full budget, as sweep NAME-retrain")
    p.add_argument("name")
    p.add_argument("--steps", type=int, help="the full budget of steps (epochs) for the run: budget.steps")
    p.add_argument("--storage")
    _common(p)

    p = sub.add_parser("dashboard", help="a live web dashboard of the store (optuna-dashboard)")
    p.add_argument("name", nargs="?", help="open this sweep's page")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free one; default 8080)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--storage")
    p.add_argument("--allow-edits", action="store_true", help="let the browser delete, rename and tell trials")
    _common(p)

    p = sub.add_parser(
        "rm",
        help="delete a sweep: its trials in the store and its results folder sweeps/NAME (asks first)",
        epilog="A results folder set with `output:` is kept. To keep a sweep but start it over, use run --fresh.",
    )
    p.add_argument("name")
    p.add_argument("--storage")
    p.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    _common(p)

    p = sub.add_parser("report", help="figures, summaries and a self-contained report.html of a sweep")
    p.add_argument("name")
    p.add_argument("--storage")
    p.add_argument("--out", metavar="DIR", help="write here instead of the sweep's output folder")
    p.add_argument(
        "--importance", choices=("ped-anova", "fanova", "mean-decrease-impurity"), default="ped-anova",
        help="Optuna's importance evaluator (default: ped-anova)",
    )  # fmt: skip
    _common(p)
    return parser


def _console() -> Console:
    """A console that prints text as written: sweep names, choices, errors and install hints hold square
    brackets (`[/data/train]`, `sweepkit[gp]`) that rich's markup would eat or fail on."""
    from rich.console import Console

    return Console(markup=False)


def _one_line(text: object) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def main(argv: Sequence[str] | None = None) -> int:
    from sweepkit.expr import ExprError

    parser = build_parser()
    argv, command = _split_command(list(sys.argv[1:] if argv is None else argv))
    args, extra = parser.parse_known_args(argv)
    for item in extra:  # overrides may follow options: `run s.yaml --trials 3 budget.timeout=1h`
        if item.startswith("-") or "=" not in item or not hasattr(args, "overrides"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, "overrides"):
        args.overrides = [*args.overrides, *extra]
    args.program_command = command
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("sweepkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SweepkitError as exc:
        if args.debug:
            traceback.print_exc()
        # "sweep failed" where a sweep ran; `ls`/`status`/... that cannot reach the store merely failed.
        failed = exc.exit_code != EXIT_USAGE and args.command in ("run", "agent")
        label = "sweep failed" if failed else "error"
        print(f"sweepkit: {label}: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except ExprError as exc:  # a `when`/`expr`/constraint of the sweep file that cannot be computed
        if args.debug:
            traceback.print_exc()
        where = f"{args.file}: " if getattr(args, "file", None) else ""
        print(f"sweepkit: error: {where}{_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug in sweepkit or a fault of the machine: say so, keep it short
        if args.debug:
            traceback.print_exc()
        detail = f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"sweepkit: internal error: {detail} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_FAILED


# -- validate ------------------------------------------------------------------------------------------
_SHOWN_PARAMETERS = 200  # a 20,000-parameter space is summed up, not printed (rich takes ~1 ms a row)


def _shorten(text: str, most: int = 2000) -> str:
    return text if len(text) <= most else f"{text[:most]}... ({len(text):,} characters)"


def cmd_validate(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from sweepkit.spec import load_spec
    from sweepkit.sweep import early_stopping, preflight, prepare

    console = _console()
    spec = load_spec(_source(args), args.overrides)
    store, strategy = prepare(spec, cwd=Path.cwd())
    checked = preflight(spec, cwd=Path.cwd(), grid=strategy.grid)  # every check `run` makes before a trial
    pruning = early_stopping(spec)
    label = args.file or "the --param flags"
    console.print(Text.assemble((f"{label}: valid", "green"), f" ({spec.dialect} dialect)"), soft_wrap=True)
    budget = []
    if spec.budget.trials:
        budget.append(f"{spec.budget.trials} trials")
    if spec.budget.steps:
        budget.append(f"{spec.budget.steps} steps per trial")
    if spec.budget.timeout:
        budget.append(f"timeout {spec.budget.timeout:g}s")
    metric = ", ".join(f"{o.name} ({o.goal})" for o in spec.metric.each)  # every objective of a list
    console.print(f"sweep: {spec.name}   metric: {metric}   budget: {', '.join(budget) or 'none'}")
    picked = strategy.name
    if spec.strategy_name != strategy.name:
        picked = f"{spec.strategy_name} → {strategy.name}"
    if spec.family and spec.family not in picked:  # the `hyperopt:` workflow's words: `combined → tpe`, `asha → random`
        picked = f"{spec.family} → {picked}"
    console.print(f"strategy: {picked} ({strategy.reason})")
    table = Table("parameter", "values", "when", box=None, pad_edge=False)
    rows = list(spec.space.describe())
    for name, what, when in rows[:_SHOWN_PARAMETERS]:
        table.add_row(name, what, when)
    console.print(table)
    if len(rows) > _SHOWN_PARAMETERS:
        console.print(f"... and {len(rows) - _SHOWN_PARAMETERS:,} more parameters ({len(rows):,} in all)")
    for constraint in spec.space.constraints:
        console.print(f"constraint: {constraint.text}")
    if spec.space.finite:
        size = spec.space.grid_size()
        bound = spec.space.grid_upper_bound()
        console.print(f"grid size: {size} points" if size is not None else f"grid size: up to {bound} points")
    else:
        console.print("grid size: continuous (infinite)")
    console.print(f"early stopping: {pruning.description}", soft_wrap=True, highlight=False)
    for line in pruning.rungs:
        console.print(f"  {line}", soft_wrap=True, highlight=False)
    for note in pruning.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)
    console.print(f"store: {store.describe()}   output: {spec.output}")
    shown = _shorten(json.dumps(checked.sample, default=str)) if checked.sample is not None else checked.why
    console.print(f"one sampled trial: {shown}", soft_wrap=True, highlight=False)
    if checked.argv:
        console.print(f"its command: {_shorten(shlex.join(checked.argv))}", soft_wrap=True, highlight=False)
    for note in spec.notes:
        console.print(f"note: {note}", soft_wrap=True, highlight=False)
    return EXIT_OK


# -- run -------------------------------------------------------------------------------------------------
def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    import sweepkit

    timeout: Any = args.timeout
    if args.timeout_hours is not None:
        if args.timeout is not None:
            raise SpecError("give --timeout or --timeout-hours, not both")
        if not math.isfinite(args.timeout_hours) or args.timeout_hours <= 0:
            raise SpecError(f"--timeout-hours must be a positive number of hours, got {args.timeout_hours:g}")
        timeout = args.timeout_hours * 3600
    source = _source(args)
    if args.save_spec:
        if not isinstance(source, dict):
            raise SpecError("--save-spec writes the sweep file for --param flags; you already have a sweep file")
        from sweepkit.spec import to_yaml, with_run_flags

        saved = with_run_flags(source, trials=args.trials, steps=args.steps, timeout=timeout, seed=args.seed)
        Path(args.save_spec).write_text(to_yaml(saved, file=args.save_spec), encoding="utf-8")
        print(f"sweepkit: wrote {args.save_spec}", file=sys.stderr)
    _until(args)  # a bad --until is said before anything starts
    if args.exclusive and _another_run_alive(source, args):
        return EXIT_OK
    return _sweep(
        args,
        sweepkit.run,
        source,
        trials=args.trials,
        steps=args.steps,
        timeout=timeout,
        seed=args.seed,
        fresh=args.fresh,
        overrides=args.overrides,
    )


def _sweep(args: argparse.Namespace, call: Any, *source: Any, **options: Any) -> int:
    """`run` and `agent`: SIGTERM (`kill`, cron's timeout) stops the sweep cleanly, like Ctrl+C; the
    report follows a sweep that ended."""
    options.update(
        storage=args.storage,
        quiet=args.quiet,
        verbose=args.verbose,
        stream=args.stream,
        workers=args.workers,
        gpu_ids=_gpu_ids(args),
        until=_until(args),
    )
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        result = call(*source, **options)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _auto_report(result, args)
    return EXIT_OK


def _auto_report(result: Any, args: argparse.Namespace) -> None:
    """The report at the end of every `run` and `agent`: figures and report.html beside the results.
    A report that can't be made is a note, never a failed sweep (its results are already written)."""
    if args.no_report or os.environ.get("SWEEPKIT_NO_REPORT"):
        return
    try:
        from sweepkit.report import write_report
        from sweepkit.store import Store

        paths = write_report(Store(result.storage), result.name, run_files=False)
    except ImportError as exc:
        print(f"sweepkit: note: no report ({exc.name} is missing): pip install 'sweepkit[report]'", file=sys.stderr)
        return
    except Exception as exc:  # noqa: BLE001 - the sweep is done and saved; say why the report isn't
        print(f"sweepkit: note: the report could not be made: {_one_line(exc)}", file=sys.stderr)
        return
    html = next((p for p in paths if p.name == "report.html"), None)
    if html is not None and not args.quiet:
        print(f"report: {html}", file=sys.stderr)


def _gpu_ids(args: argparse.Namespace) -> list[int] | None:
    if args.gpu_ids is None:
        return None
    from sweepkit.resources import parse_gpu_ids

    return parse_gpu_ids(args.gpu_ids, key="--gpu-ids")


def _until(args: argparse.Namespace) -> float | None:
    if args.until is None:
        return None
    from sweepkit.sweep import parse_until

    return parse_until(args.until)


def _another_run_alive(source: Any, args: argparse.Namespace) -> bool:
    """--exclusive: is a run of this sweep alive here? Two cron runs of a long sweep must not pile up."""
    from sweepkit.spec import load_spec
    from sweepkit.store import EMBEDDED_DIR
    from sweepkit.sweep import RunLock

    spec = load_spec(source, args.overrides)
    probe = RunLock(Path.cwd() / EMBEDDED_DIR / "runs", spec.name)
    if probe.earliest_live_start() < probe.started:
        print(f"sweepkit: another run of {spec.name} is running on this machine; nothing to do", file=sys.stderr)
        return True
    return False


def cmd_agent(args: argparse.Namespace) -> int:
    from sweepkit.sweep import join

    _agent_finds(args.name, _store(args))
    here = str(Path.cwd())  # the trial's module where the agent runs, as `run --function` and `python -m` find it
    if here not in sys.path:
        sys.path.append(here)
    return _sweep(args, join, args.name, count=args.count)


def _agent_finds(name: str, store: Any) -> None:
    """An agent started in another folder than the sweep looks in another embedded store: say which file it
    read, the sweeps it holds, any store in a folder above, and how to point at the right one."""
    from sweepkit.errors import UsageError, did_you_mean
    from sweepkit.spec import folder_name
    from sweepkit.store import EMBEDDED_DIR, EMBEDDED_FILE

    path = store.journal_path
    if path is None:
        return  # a database or Redis: the store's own message lists its sweeps
    names = store.names()
    if name in names or folder_name(name) in names:  # by its name or its label
        return
    held = f"sweeps there: {', '.join(names)}" if names else "it holds no sweeps"
    hint = "run the agent in the folder the sweep was started from, or point at its store with --storage"
    above: Iterator[Path] = (
        (f / EMBEDDED_DIR / EMBEDDED_FILE for f in store.cwd.parents) if store.embedded else iter(())
    )
    found = next((candidate for candidate in above if candidate.is_file()), None)
    if found is not None:
        hint += f" journal:{found} (a store found in {found.parent.parent})"
    else:
        hint += " journal:/path/to/.sweepkit/sweeps.journal"
    where = "the embedded store" if store.embedded else "the journal file"
    raise UsageError(f'no sweep named "{name}"{did_you_mean(name, names)} in {where} {path} ({held}): {hint}')


# -- ls / status / best ------------------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Any:
    from sweepkit.store import Store

    return Store(args.storage)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.table import Column, Table

    from sweepkit.results import budget_of, load_result

    store = _store(args)
    names = store.names()
    console = _console()
    if not names:
        console.print(f"no sweeps in {store.describe()}")
        return EXIT_OK
    table = Table("state", "complete", "pruned", "failed", "running", "best", "strategy")
    table.columns.insert(0, Column("sweep", overflow="fold", min_width=max(len(n) for n in names)))
    for name in names:
        result = load_result(store, name)
        counts = result.counts
        budget = budget_of(store, name)
        finished = result.finished
        if counts["RUNNING"]:
            state = "running"
        elif budget is not None and finished >= budget:
            state = "done"
        else:
            state = "stopped"
        table.add_row(
            name, state, str(counts["COMPLETE"]), str(counts["PRUNED"]), str(counts["FAILED"]),
            str(counts["RUNNING"]), _fmt(result.best_value), result.strategy,
        )  # fmt: skip
    console.print(table)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from sweepkit.progress import _params
    from sweepkit.results import budget_of, load_result, steps_line, sweep_label
    from sweepkit.trial_state import sweep_meta

    store = _store(args)
    result = load_result(store, args.name)
    budget = budget_of(store, result.name)
    label = sweep_label(sweep_meta(store.load(result.name)), result.name)
    counts = result.counts
    finished = result.finished  # interrupted trials run again: they don't count, their retries do
    console = _console()
    head = f": {finished}{f'/{budget}' if budget else ''} trials finished"
    named = f' ("{label}")' if label else ""
    console.print(Text.assemble("sweep ", (result.name, "bold"), named, head))
    console.print(", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no trials yet")
    steps = steps_line(result)
    if steps is not None:
        console.print(steps)
    console.print(f"strategy: {result.strategy} ({result.strategy_reason})")
    best = result.best_trial
    if result.objectives:  # a multi-objective sweep: no one best trial, a front of them
        goals = ", ".join(f"{goal} {name}" for name, goal in result.objectives)
        console.print(f"Pareto front: {len(result.pareto_front)} trials ({goals}): sweepkit best {result.name}")
    elif best is not None:
        best_params = _params(best.params, 400)
        console.print(f"best: trial {best.number}, {result.metric} = {_fmt(best.value)}: {best_params}")
    from sweepkit.resources import format_resources
    from sweepkit.results import fold_values, folds_text, violations

    shown = result.trials[-args.last :]
    used = any(t.resources for t in shown)  # CPU, memory and GPU use, where trials were monitored
    folds = {t.number: fold_values(t, result.metric) for t in shown}  # cross-validation: each fold's value
    columns = ["trial", "state", "value", "seconds", *(["resources"] if used else [])]
    table = Table(*columns, *(["folds"] if any(folds.values()) else []), "params / error")
    for t in shown:
        detail = t.error or t.reason or _params(t.params)
        if not t.feasible:
            detail = f"infeasible: {violations(t.constraints)}; {detail}"
        seconds = f"{t.duration:.1f}" if t.duration else "-"
        extra = [format_resources(t.resources) or "-"] if used else []
        extra += [folds_text(folds[t.number] or []) or "-"] if any(folds.values()) else []
        value = ", ".join(map(_fmt, t.values)) if t.values else _fmt(t.value)  # each objective's, in order
        table.add_row(str(t.number), t.state, value, seconds, *extra, detail)
    console.print(table)
    return EXIT_OK


def cmd_best(args: argparse.Namespace) -> int:
    from sweepkit.errors import UsageError
    from sweepkit.export import format_best, write_into
    from sweepkit.results import best_folder, load_result, picked
    from sweepkit.space import flatten

    result = load_result(_store(args), args.name)
    if result.objectives and args.pick is None:
        return _print_front(result, args)
    chosen = result.best_trial if args.pick is None else picked(result, args.pick)
    best = chosen.params if chosen is not None else None
    if best is None:
        raise UsageError(f'sweep "{args.name}" has no completed trial yet')
    if args.map and not args.into:
        raise UsageError("--map goes with --into CONFIG: it says which key of CONFIG a param goes to")
    number = chosen.number if chosen else "?"
    checkpoint = best_folder(result.output, result.trials, chosen.number if chosen else None)
    if args.checkpoint:
        if checkpoint is None:
            raise UsageError(f'the best trial of "{args.name}" (trial {number}) has no checkpoint folder')
        print(checkpoint)
        return EXIT_OK
    if checkpoint is not None:  # on stderr: stdout stays the params, for a pipe or a file
        print(f"sweepkit: trial {number}'s checkpoints: {checkpoint}", file=sys.stderr)
    if args.into:
        into = Path(args.into)
        report = write_into(into, flatten(best), args.map, output=Path(args.output) if args.output else None)
        print(f"sweepkit: best of {args.name} (trial {number}) → {report.path}", file=sys.stderr)
        for change in report.changes:
            print(f"  {change.key}: {change.old!r} → {change.new!r}  ({change.param}, {change.how})")
        for param, why in report.skipped.items():
            print(f"  not written: {param}: {why}", file=sys.stderr)
        return EXIT_OK
    text = format_best(best, args.format or "yaml")
    return _emit(text, args.output)


def _emit(text: str, output: str | None) -> int:
    """`best`'s text: to the file `--output` names, or to stdout."""
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"sweepkit: wrote {output}", file=sys.stderr)
    else:
        print(text, end="")
    return EXIT_OK


def _print_front(result: Any, args: argparse.Namespace) -> int:
    """`best NAME` of a multi-objective sweep: the whole Pareto front (a table, or JSON with --format json)."""
    from rich.table import Table

    from sweepkit.errors import UsageError
    from sweepkit.progress import _params
    from sweepkit.results import front_summary, to_json

    names = [name for name, _ in result.objectives]
    if args.into or args.format not in (None, "json"):
        what = "--into" if args.into else f"--format {args.format}"
        raise UsageError(
            f"{what} needs one trial, and sweep {result.name} has a Pareto front ({', '.join(names)}): "
            f"add --pick METRIC to take the best trial for one objective, e.g. --pick {names[0]}"
        )
    front = result.pareto_front
    if args.format == "json":
        text = to_json(front_summary(result.objectives, front)["pareto_front"])
    else:
        if not front:
            raise UsageError(f'sweep "{result.name}" has no completed trial yet')
        done = result.counts["COMPLETE"]
        goals = ", ".join(f"{goal} {name}" for name, goal in result.objectives)
        table = Table("trial", *names, "params")
        for t in sorted(front, key=lambda t: (t.values or [0.0])[0] * (1 if result.goal == "minimize" else -1)):
            table.add_row(str(t.number), *(_fmt(v) for v in t.values or []), _params(t.params, 120))
        console = _console()
        with console.capture() as captured:
            console.print(f"Pareto front of sweep {result.name}: {len(front)} of {done} complete trials ({goals})")
            console.print(table)
            console.print(f"the best trial for one objective: sweepkit best {result.name} --pick {names[0]}")
        text = captured.get()
    return _emit(text, args.output)


def cmd_retrain(args: argparse.Namespace) -> int:
    from sweepkit.export import retrain

    result = retrain(args.name, steps=args.steps, storage=args.storage, quiet=args.quiet, verbose=args.verbose)
    trial = result.best_trial
    value = f"{result.metric} = {trial.value:.6g}" if trial is not None and trial.value is not None else "no value"
    print(f"sweepkit: retrained {args.name} as sweep {result.name}: {value}; results in {result.output}")
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sweepkit.dashboard import serve

    return serve(args.name, host=args.host, port=args.port, storage=args.storage, allow_edits=args.allow_edits)


def cmd_logs(args: argparse.Namespace) -> int:
    from sweepkit.errors import UsageError
    from sweepkit.results import load_result
    from sweepkit.sweep import TRIAL_LOGS

    result = load_result(_store(args), args.name)
    folder = result.output / "trials" / str(args.trial)
    if not folder.is_dir():
        numbers = sorted(int(p.name) for p in (result.output / "trials").glob("*") if p.name.isdigit())
        shown = ", ".join(map(str, numbers)) if numbers else "none (its trials are Python functions?)"
        raise UsageError(f'sweep "{args.name}" has no logs for trial {args.trial} (trials with logs: {shown})')
    for name in TRIAL_LOGS:
        path = folder / name
        if path.exists() and path.stat().st_size:
            print(f"==> {path} <==")
            print(path.read_text(encoding="utf-8", errors="replace"), end="")
    return EXIT_OK


def cmd_rm(args: argparse.Namespace) -> int:
    """Delete a sweep from the store and its results folder, when that is sweepkit's own `sweeps/NAME`.

    A folder the sweep file chose with `output:` may be the user's own (`output: .`), so it is kept."""
    import shutil

    from sweepkit.errors import UsageError
    from sweepkit.trial_state import sweep_meta

    store = _store(args)
    study = store.load(args.name)  # an unknown name: UsageError listing the sweeps there
    trials = len(study.get_trials(deepcopy=False))
    output = sweep_meta(study).get("output")
    folder = Path(output) if output else None
    ours = folder is not None and folder.parent.name == "sweeps"
    if ours and folder is not None:  # sweeps/NAME, or sweeps/NAME.N where --fresh moved an older one
        folder = folder.parent / study.study_name
        ours = folder.is_dir()
    what = f"sweep {study.study_name} ({trials} trials) in {store.describe()}" + (
        f" and the folder {folder}" if ours else ""
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"sweepkit rm asks before deleting {what}: pass --yes to delete without asking")
        print(f"delete {what}? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("sweepkit: nothing deleted", file=sys.stderr)
            return EXIT_OK
    store.delete(study.study_name)
    if ours and folder is not None:
        shutil.rmtree(folder)
    print(f"sweepkit: deleted {what}", file=sys.stderr)
    if folder is not None and not ours and folder.exists():  # output: chose it, and it may hold more
        print(f"sweepkit: its results folder {folder} is kept (set by output:)", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from sweepkit.report import write_report

    paths = write_report(_store(args), args.name, Path(args.out) if args.out else None, importance=args.importance)
    for path in paths:
        print(path)
    return EXIT_OK


_COMMANDS = {
    "validate": cmd_validate,
    "run": cmd_run,
    "agent": cmd_agent,
    "ls": cmd_ls,
    "status": cmd_status,
    "best": cmd_best,
    "retrain": cmd_retrain,
    "dashboard": cmd_dashboard,
    "logs": cmd_logs,
    "report": cmd_report,
    "rm": cmd_rm,
}

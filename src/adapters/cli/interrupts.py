"""Ctrl-C (SIGINT) and SIGTERM during a one-shot command (`ingest`, `backfill`, `rebuild`).

Under `stopping()` a first signal only asks to stop: the command goes on to its next
`Stop.check()`, called between its atomic steps (a batch or chunk committed), which raises
`KeyboardInterrupt`; a second signal raises it at once (the step under way rolls back), and so
does a first one inside `Stop.anytime()` (a prompt). The command then calls `interrupted()`:
what was committed, what was not, the command that continues, and exit 130. (`sync --follow`
stops on a signal by itself, exit 0.)

Raising only at checks also keeps the interruption out of code that CPython runs through
`eval` (a class being created while a module is imported): a `KeyboardInterrupt` passing there
makes the interpreter end by SIGINT whatever the exit code.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, NoReturn, ParamSpec

import attrs
import typer
from rich.console import Console

from reporting_rollups.adapters.cli.app import DEFAULT_DB, EXIT_INTERRUPTED, State
from reporting_rollups.adapters.cli.output import backfill_progress
from reporting_rollups.adapters.urls import redact
from reporting_rollups.application.ports import Progress

#: The signals that interrupt a one-shot command.
SIGNALS = (signal.SIGINT, signal.SIGTERM)

P = ParamSpec("P")


@attrs.define
class Stop:
    """The signals received while a command runs (see `stopping`)."""

    step: str  #: what a check comes after, for the notice ("batch", "chunk")
    signal: str | None = None  #: the first signal's name (SIGINT, SIGTERM), once one came
    forced: bool = False  #: a second signal stopped the command at once
    _anytime: bool = False

    def check(self) -> None:
        """`KeyboardInterrupt` if a signal came (call after a step has committed)."""
        if self.signal is not None:
            raise KeyboardInterrupt(self.signal)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`; a first signal ends the wait with `KeyboardInterrupt`."""
        with self.anytime():
            time.sleep(seconds)

    @contextlib.contextmanager
    def anytime(self) -> Iterator[None]:
        """A block that a first signal interrupts at once (waiting at a prompt)."""
        self._anytime = True
        try:
            self.check()
            yield
        finally:
            self._anytime = False

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal = name
            if self._anytime:
                raise KeyboardInterrupt(name)
            with contextlib.suppress(OSError):  # no console here: a handler may run mid-print
                os.write(
                    2,
                    f"\n{name}: stopping after the {self.step} under way "
                    "(again to stop at once)\n".encode(),
                )
            return
        self.forced = True
        raise KeyboardInterrupt(name)


@contextlib.contextmanager
def stopping(step: str) -> Iterator[Stop]:
    """SIGINT and SIGTERM stop the block at its next `Stop.check()` (a second one at once);
    the previous handlers are put back after it."""
    stop = Stop(step)
    previous = {sig: signal.signal(sig, stop._handle) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@attrs.define
class CommittedDays:
    """The days a backfill or rebuild has committed (its progress callback's count)."""

    days: int = 0
    total: int | None = None
    last_day: date | None = None


@contextlib.contextmanager
def chunk_progress(
    console: Console, description: str, stop: Stop, counted: CommittedDays, pause_ms: int = 0
) -> Iterator[Progress]:
    """The progress bar's callback, also counting the committed days in `counted`, pausing
    `pause_ms` after each chunk but the last, and raising the interruption a signal asked for
    once the chunk it came in has committed (or during the pause)."""
    with backfill_progress(console, description) as update:

        def committed(done: int, total: int, last_day: date) -> None:
            update(done, total, last_day)
            counted.days, counted.total, counted.last_day = done, total, last_day
            stop.check()
            if pause_ms and done < total:
                stop.sleep(pause_ms / 1000)

        yield committed


@contextlib.contextmanager
def on_interrupt(
    report: Callable[P, NoReturn], *args: P.args, **kwargs: P.kwargs
) -> Iterator[None]:
    """`report(...)` (which prints and exits) when the block is interrupted."""
    try:
        yield
    except KeyboardInterrupt:
        report(*args, **kwargs)


def command_words(ctx: typer.Context, **changed: object) -> list[str]:
    """The running subcommand and its parameters as words (`changed` replacing values by
    parameter name): the options that differ from their default, then the arguments."""
    words, arguments = [ctx.info_name or ""], []
    for param in ctx.command.params:
        name = param.name or ""
        value = changed[name] if name in changed else ctx.params.get(name)
        values = list(value) if isinstance(value, list | tuple) else [value]
        texts = [str(getattr(item, "value", item)) for item in values]
        if param.param_type_name == "argument":
            arguments += texts
        elif value is not None and value != param.default:
            if getattr(param, "is_flag", False):
                words += (param.opts if value else param.secondary_opts)[:1]
            else:
                words += [word for text in texts for word in (param.opts[0], text)]
    if any(argument.startswith("-") and argument != "-" for argument in arguments):
        words.append("--")
    return [*words, *arguments]


def continue_command(state: State, *args: str) -> str:
    """`rollups [--db URL] args...`, quoted for a shell; --db when it is neither the default
    nor ROLLUPS_DATABASE_URL (passwords shown as ***)."""
    words = ["rollups"]
    if state.url not in (DEFAULT_DB, os.environ.get("ROLLUPS_DATABASE_URL")):
        words += ["--db", redact(state.url)]
    return shlex.join([*words, *args])


def interrupted(state: State, stop: Stop, committed: str, left: str, resume: str) -> NoReturn:
    """Say on stderr what an interrupted command committed, what it left, and how to continue;
    exit 130."""
    how = f" by {stop.signal}" if stop.signal else ""
    if stop.forced:
        how += f" (again, at once: a {stop.step} being written is rolled back)"
    for line in (f"interrupted{how}", f"committed: {committed}", f"not done: {left}", resume):
        state.err.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_INTERRUPTED)

"""`rollups sync [--follow [--interval S]]`: apply what change capture logged of the host's own
writes: one pass, or passes every S seconds until SIGINT or SIGTERM (its normal stop: the
batch being applied is finished, the totals printed, exit 0)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from reporting_rollups.adapters.cli.app import CliInputError, command, open_database, state_of
from reporting_rollups.adapters.cli.tables import integer
from reporting_rollups.application.catch_up import CatchUpResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.sync import SyncResult


def _line(result: SyncResult, elapsed: float) -> str:
    rate = f", {integer(round(result.consumed / elapsed))} changes/s" if elapsed > 0 else ""
    lag = "" if result.lag_seconds is None else f", lag {result.lag_seconds:.1f}s"
    return (
        f"applied {integer(result.applied)}, retracted {integer(result.retracted)}, "
        f"consumed {integer(result.consumed)} change(s) in {elapsed:.2f}s{rate}; "
        f"{integer(result.pending)} pending{lag}"
    )


def print_catch_up(console: Console, result: CatchUpResult) -> None:
    """One line: what a catch-up rebuilt."""
    console.print(
        f"caught up: {integer(result.accounts)} account(s) had rows the library never saw; "
        f"rebuilt {integer(result.days)} day(s), {integer(result.events)} events"
    )


@contextmanager
def _stopped_by_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (the previous handlers are put
    back after it)."""
    stop = threading.Event()

    def handle(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow(console: Console, rollups: Rollups, interval: float) -> None:
    applied = retracted = consumed = 0
    with _stopped_by_signals() as stop:
        while not stop.is_set():
            started = time.perf_counter()
            result = rollups.sync(stop.is_set)
            if result.consumed:
                console.print(_line(result, time.perf_counter() - started))
            applied += result.applied
            retracted += result.retracted
            consumed += result.consumed
            stop.wait(interval)
    console.print(
        f"stopped: applied {integer(applied)}, retracted {integer(retracted)}, "
        f"consumed {integer(consumed)} change(s) in all"
    )


@command()
def sync(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep applying, every --interval seconds.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between passes with --follow.")
    ] = 1.0,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="First fold the raw rows the host wrote before capture was installed.",
        ),
    ] = False,
) -> None:
    """Apply the host's captured inserts, updates and deletes to the rollups, exactly once
    (see `rollups capture`). One pass, or with --follow passes until SIGINT or SIGTERM."""
    if not 0 < interval <= 3600:
        raise CliInputError(f"--interval {interval}: expected seconds between 0 and 3600")
    state = state_of(ctx)
    with open_database(state) as rollups:
        if catch_up:
            print_catch_up(state.out, rollups.catch_up())
        if follow:
            _follow(state.out, rollups, interval)
            return
        started = time.perf_counter()
        result = rollups.sync()
        state.out.print(_line(result, time.perf_counter() - started))

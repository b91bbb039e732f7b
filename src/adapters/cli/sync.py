"""`rollups sync [--follow [--interval S]] [--catch-up] [--scan] [--zones-from SOURCE]`: apply
what change capture logged of the host's own writes (and, with `--scan`, what a scan finds
without capture; with `--zones-from`, the host's zones first): one pass, or passes every S
seconds until SIGINT or SIGTERM (its normal stop: the batch being applied is finished, the
totals printed, exit 0). On a terminal, `--follow` keeps a live status line below the
per-batch lines."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import attrs
import typer
from rich.console import Console
from rich.live import Live

from reporting_rollups.adapters import host_zones
from reporting_rollups.adapters.cli.app import CliInputError, command, open_database, state_of
from reporting_rollups.adapters.cli.tables import integer
from reporting_rollups.application.catch_up import CatchUpResult
from reporting_rollups.application.host_zones import HostZones, ZoneSyncResult
from reporting_rollups.application.scan import ScanResult
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


def print_scan(console: Console, result: ScanResult) -> None:
    """One line: what a scan rebuilt (nothing when it found nothing)."""
    if result.accounts:
        console.print(
            f"scan: {integer(result.accounts)} account(s) changed without capture; dropped "
            f"{integer(result.orphans)} mark(s) of deleted rows; rebuilt "
            f"{integer(result.days)} day(s), {integer(result.events)} events"
        )


def print_zones(console: Console, result: ZoneSyncResult) -> None:
    """A line per account whose zone changed or was rejected."""
    for account_id in result.changed:
        console.print(f"zones: account {account_id} takes the host's zone (rebuilt)")
    for rejected in result.rejected:
        console.print(
            f"warning: zones: account {rejected.account_id} keeps its zone and rollups: "
            f"{rejected.reason}"
        )


@attrs.define
class _Pass:
    """What `sync` does each pass, with its options."""

    rollups: Rollups
    zones: HostZones | None
    scan: bool

    def __call__(self, console: Console, stop: Callable[[], bool]) -> SyncResult:
        if self.zones is not None:
            print_zones(console, self.rollups.apply_host_zones(self.zones))
        if self.scan and not stop():
            print_scan(console, self.rollups.scan())
        return self.rollups.sync(stop)


@attrs.define
class _Totals:
    applied: int = 0
    retracted: int = 0
    consumed: int = 0
    passes: int = 0

    def add(self, result: SyncResult) -> None:
        self.applied += result.applied
        self.retracted += result.retracted
        self.consumed += result.consumed
        self.passes += 1

    def status(self, last: SyncResult | None) -> str:
        """The live status line."""
        pending = "" if last is None else f"; {integer(last.pending)} pending"
        lag = "" if last is None or last.lag_seconds is None else f", lag {last.lag_seconds:.1f}s"
        return (
            f"following: {integer(self.passes)} pass(es), applied {integer(self.applied)}, "
            f"retracted {integer(self.retracted)}{pending}{lag} (Ctrl-C stops)"
        )


def _follow(console: Console, one_pass: _Pass, interval: float) -> None:
    totals = _Totals()
    last: SyncResult | None = None
    with _stopped_by_signals() as stop, contextlib.ExitStack() as stack:
        live = None
        if console.is_terminal:
            live = stack.enter_context(
                Live(totals.status(None), console=console, transient=True, auto_refresh=False)
            )
        while not stop.is_set():
            started = time.perf_counter()
            last = one_pass(console, stop.is_set)
            if last.consumed:
                console.print(_line(last, time.perf_counter() - started))
            totals.add(last)
            if live is not None:
                live.update(totals.status(last), refresh=True)
            stop.wait(interval)
    console.print(
        f"stopped: applied {integer(totals.applied)}, retracted {integer(totals.retracted)}, "
        f"consumed {integer(totals.consumed)} change(s) in all"
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
    scan: Annotated[
        bool,
        typer.Option(
            "--scan",
            help="Each pass, also find rows the host inserted or deleted without capture "
            "(for hosts that forbid triggers; slower; blind to in-place updates).",
        ),
    ] = False,
    zones_from: Annotated[
        str | None,
        typer.Option(
            "--zones-from",
            metavar="SOURCE",
            help="Each pass, first apply the host's zones: 'chatwoot' "
            "(accounts.settings->>'reporting_timezone') or 'sql:<query>' returning "
            "(account_id, zone) for ids above :after, ascending, at most :limit.",
        ),
    ] = None,
) -> None:
    """Apply the host's captured inserts, updates and deletes to the rollups, exactly once
    (see `rollups capture`). One pass, or with --follow passes until SIGINT or SIGTERM."""
    if not 0 < interval <= 3600:
        raise CliInputError(f"--interval {interval}: expected seconds between 0 and 3600")
    state = state_of(ctx)
    with open_database(state) as rollups:
        zones = None if zones_from is None else host_zones(rollups, zones_from)
        one_pass = _Pass(rollups, zones, scan)
        if catch_up:
            print_catch_up(state.out, rollups.catch_up())
        if follow:
            _follow(state.out, one_pass, interval)
            return
        started = time.perf_counter()
        result = one_pass(state.out, lambda: False)
        state.out.print(_line(result, time.perf_counter() - started))

"""`rollups set-timezone` and `rollups read-path`: an account's settings."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from reporting_rollups.adapters.cli.app import command, open_database, state_of, warn_if_unknown
from reporting_rollups.adapters.cli.backfill import rebuild_interrupted
from reporting_rollups.adapters.cli.interrupts import (
    CommittedDays,
    Stop,
    chunk_progress,
    command_words,
    continue_command,
    interrupted,
    stopping,
)
from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.output import print_backfill_result
from reporting_rollups.domain.timezones import parse_timezone


def _set_timezone_interrupted(
    ctx: typer.Context, stop: Stop, account: int, zone: str | None, done: CommittedDays
) -> NoReturn:
    """What an interrupted zone change committed: nothing (the same command again), or the
    zone and some days of its rebuild (`rollups rebuild` finishes it)."""
    state = state_of(ctx)
    zone_set = done.last_day is not None
    if not zone_set and stop.forced:  # a second signal may have come after the zone committed
        with open_database(state, migrate=False) as rollups:
            zone_set = rollups.account(account).timezone == zone
    if not zone_set:
        again = continue_command(state, *command_words(ctx))
        interrupted(state, stop, "nothing", "the zone change", f"continue with: {again}")
    if zone is None:
        cleared = f"account {account}: time zone cleared (rollups deleted)"
        interrupted(state, stop, cleared, "nothing", "nothing to continue")
    words = ["rebuild", "--account", str(account)]
    rebuild_interrupted(state, stop, account, done, words, f"time zone {zone} set; ")


@command("set-timezone")
def set_timezone(
    ctx: typer.Context,
    account: Annotated[int, typer.Argument(min=1, help="Account id.")],
    timezone: Annotated[
        str, typer.Argument(metavar="TZ", help="IANA zone such as Asia/Kolkata, or 'none'.")
    ],
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild/--no-rebuild", help="Rebuild the account's rollups in the new zone now."
        ),
    ] = True,
    drop_sealed_history: Annotated[
        bool,
        typer.Option(
            "--drop-sealed-history",
            help="On an account with sealed (purged) days: accept that their rollups are deleted.",
        ),
    ] = False,
) -> None:
    """Set (or with 'none' clear) an account's reporting time zone.

    Ctrl-C or SIGTERM during the rebuild stops after the chunk of days being written (exit 130):
    the zone stays set and `rollups rebuild` finishes the rollups."""
    state = state_of(ctx)
    zone: str | None = None if timezone.strip().lower() == "none" else timezone.strip()
    if zone is not None:
        parse_timezone(zone)
    done = CommittedDays()
    with stopping("chunk") as stop:
        try:
            with open_database(state) as rollups:
                warn_if_unknown(state, rollups, account)
                stop.check()
                with chunk_progress(state.err, "rebuilding", stop, done) as progress:
                    result = rollups.set_timezone(
                        account,
                        zone,
                        rebuild=rebuild,
                        progress=progress,
                        drop_sealed_history=drop_sealed_history,
                    )
                settings = rollups.account(account)
        except KeyboardInterrupt:
            _set_timezone_interrupted(ctx, stop, account, zone, done)
    if zone is None:
        state.out.print(f"account {account}: reporting time zone cleared (rollups deleted)")
        return
    state.out.print(f"account {account}: reporting time zone {zone}")
    if result is not None:
        print_backfill_result(state.out, result)
    elif settings.rollup_timezone != zone:
        state.out.print(
            f"rollups not rebuilt yet: reports come from raw events until "
            f"`rollups rebuild --account {account}`"
        )


@command("read-path")
def read_path(
    ctx: typer.Context,
    account: Annotated[int, typer.Argument(min=1, help="Account id.")],
    switch: Annotated[str, typer.Argument(metavar="on|off", help="on or off.")],
) -> None:
    """Serve an account's reports from rollups when they can answer (on), or from raw events."""
    state = state_of(ctx)
    enabled = choice(switch, ("on", "off"), "read-path") == "on"
    with open_database(state) as rollups:
        warn_if_unknown(state, rollups, account)
        settings = rollups.enable_read_path(account, enabled)
    state.out.print(f"account {account}: read path {'on' if enabled else 'off'}")
    if enabled and (settings.timezone is None or settings.rollup_timezone != settings.timezone):
        state.err.print(
            f"note: account {account}'s rollups are not current "
            f"(zone {settings.timezone or 'not set'}); reports come from raw events until "
            "they are rebuilt"
        )

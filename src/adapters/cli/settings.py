"""`rollups set-timezone` and `rollups read-path`: an account's settings."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import command, open_database, state_of, warn_if_unknown
from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.output import backfill_progress, print_backfill_result
from reporting_rollups.domain.timezones import parse_timezone


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
    """Set (or with 'none' clear) an account's reporting time zone."""
    state = state_of(ctx)
    zone: str | None = None if timezone.strip().lower() == "none" else timezone.strip()
    if zone is not None:
        parse_timezone(zone)
    with open_database(state) as rollups, backfill_progress(state.err, "rebuilding") as progress:
        warn_if_unknown(state, rollups, account)
        result = rollups.set_timezone(
            account,
            zone,
            rebuild=rebuild,
            progress=progress,
            drop_sealed_history=drop_sealed_history,
        )
        settings = rollups.account(account)
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

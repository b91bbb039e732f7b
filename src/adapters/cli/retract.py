"""`rollups retract`: take raw events back out of the database and the rollups."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import command, open_database, state_of
from reporting_rollups.adapters.cli.tables import integer


@command()
def retract(
    ctx: typer.Context,
    event_ids: Annotated[list[int], typer.Argument(metavar="EVENT_ID...", help="Event ids.")],
    account: Annotated[
        int | None,
        typer.Option(
            "--account", "-a", min=1, help="Only this account's events (others are unknown)."
        ),
    ] = None,
) -> None:
    """Remove raw events and take their contributions out of the rollups (exactly once)."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        result = rollups.retract(event_ids, account_id=account)
    state.out.print(
        f"retracted {integer(result.retracted)} event(s), "
        f"{integer(result.rolled_back)} taken out of the rollups, "
        f"{integer(result.unknown)} unknown id(s)"
    )
    if result.unknown:
        where = f" as events of account {account}" if account is not None else ""
        state.err.print(f"note: {result.unknown} id(s) were not stored{where}")

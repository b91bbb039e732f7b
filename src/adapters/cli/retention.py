"""`rollups retention set --days N [--account ID] | clear [--account ID] | show`: the retention
windows of a host that deletes its old raw rows itself (a delete older than the window is a
purge: the history is kept)."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting_rollups.adapters.cli.app import EXIT_CODES, app, command, open_database, state_of
from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.output import write_json
from reporting_rollups.adapters.cli.tables import integer

retention_app = typer.Typer(
    help=(
        "Retention windows: for a host that deletes its old raw rows itself, a delete of an "
        "event older than the window keeps its rollups (a purge, not a retraction)."
    ),
    epilog=EXIT_CODES,
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")

AccountOption = Annotated[
    int | None,
    typer.Option("--account", "-a", min=1, help="One account (default: every account)."),
]


def _whom(account: int | None) -> str:
    return "every account (default)" if account is None else f"account {account}"


@command("set", group=retention_app)
def set_window(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="Window in days (1 to 36525).")],
    account: AccountOption = None,
) -> None:
    """Set the retention window of an account, or the default of every account."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        rollups.set_retention(days, account)
    state.out.print(f"retention window of {_whom(account)}: {integer(days)} day(s)")


@command("clear", group=retention_app)
def clear_window(ctx: typer.Context, account: AccountOption = None) -> None:
    """Remove a retention window (deletes are retractions again)."""
    state = state_of(ctx)
    with open_database(state) as rollups:
        rollups.set_retention(None, account)
    state.out.print(f"retention window of {_whom(account)}: none")


@command("show", group=retention_app)
def show(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--format", "-f", metavar="table|json")] = "table",
) -> None:
    """The retention windows set."""
    chosen = choice(output, ("table", "json"), "--format")
    state = state_of(ctx)
    with open_database(state, migrate=False) as rollups:
        found = rollups.retention()
    if chosen == "json":
        write_json({"default_days": found.default_days, "accounts": found.accounts})
        return
    default = "none" if found.default_days is None else f"{integer(found.default_days)} day(s)"
    state.out.print(f"default: {default}")
    for account, days in found.accounts.items():
        state.out.print(f"account {account}: {integer(days)} day(s)")

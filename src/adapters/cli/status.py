"""`rollups status [--account ID] [--format table|json]`: per account whether its reports can
be trusted (zones, read path, sizes, pending changes and lag, last sync, rebuild pending), and
whether change capture is installed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from reporting_rollups.adapters import host_zones
from reporting_rollups.adapters.cli.app import command, open_database, state_of
from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.output import write_json
from reporting_rollups.adapters.cli.tables import integer
from reporting_rollups.application.ports import CaptureStatus
from reporting_rollups.application.status import AccountStatus

COLUMNS = (
    "account",
    "zone",
    "rollups",
    "reports from",
    "raw events",
    "rollup rows",
    "pending",
    "lag",
    "last sync",
    "sealed before",
)
_NUMBERS = {"raw events", "rollup rows", "pending", "lag"}


def capture_line(found: CaptureStatus | None) -> str:
    """One line: whether change capture is installed."""
    if found is None:
        return "change capture: not available on this backend"
    if found.installed:
        what = "installed"
    elif found.triggers:
        what = f"partly installed (missing: {', '.join(found.missing)})"
    else:
        what = "not installed"
    return f"change capture {what}; {integer(found.pending)} change(s) pending"


def _cells(account: AccountStatus) -> tuple[str, ...]:
    s = account.settings
    if account.rebuild_pending:
        rollups = "rebuild pending"
    elif s.rollup_timezone is None:
        rollups = "-"
    else:
        rollups = f"current (build {s.generation})"
    source = account.source.value + ("" if s.read_path_enabled else " (read path off)")
    return (
        str(s.account_id),
        s.timezone or "-",
        rollups,
        source,
        integer(account.raw_events),
        integer(account.rollup_rows),
        integer(account.pending),
        "-" if account.lag_seconds is None else f"{account.lag_seconds:.1f}s",
        "-" if account.last_sync is None else account.last_sync.strftime("%Y-%m-%d %H:%M:%S"),
        "-" if account.horizon is None else account.horizon.isoformat(),
    )


@command()
def status(
    ctx: typer.Context,
    account: Annotated[
        int | None, typer.Option("--account", "-a", min=1, help="Only this account.")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")
    ] = "table",
    zones_from: Annotated[
        str | None,
        typer.Option(
            "--zones-from",
            metavar="SOURCE",
            help="Also show where the host's zone is not the account's (as `sync --zones-from`).",
        ),
    ] = None,
) -> None:
    """Whether reports can be trusted: each account's zones, read path, sizes, pending
    changes, lag, last sync and rebuild; and change capture."""
    chosen = choice(output, ("table", "json"), "--format")
    state = state_of(ctx)
    with open_database(state, migrate=False) as rollups:
        zones = None if zones_from is None else host_zones(rollups, zones_from)
        report = rollups.status(account, zones)
    if chosen == "json":
        write_json(report.as_dict())
        return
    table = Table(title="Rollups status (last sync in UTC)")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in _NUMBERS else "left", overflow="fold")
    for found in report.accounts:
        table.add_row(*_cells(found))
    state.out.print(table)
    for found in report.accounts:
        if found.zone_conflict is not None:
            state.out.print(f"warning: account {found.account_id}: {found.zone_conflict}")
    state.out.print(capture_line(report.capture))

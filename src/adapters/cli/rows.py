"""`rollups rows` (the stored rollup rows) and `rollups verify` (rollups against raw events)."""

from __future__ import annotations

from typing import Annotated, Final

import typer
from rich.table import Table

from reporting_rollups.adapters.cli.app import (
    EXIT_MISMATCH,
    command,
    open_database,
    require_account,
    state_of,
)
from reporting_rollups.adapters.cli.fleet import (
    AllOption,
    JobsOption,
    OptionalAccount,
    ResumeOption,
    one_or_all,
)
from reporting_rollups.adapters.cli.options import (
    AccountOption,
    SinceOption,
    UntilOption,
    choice,
    parse_range,
)
from reporting_rollups.adapters.cli.output import parse_format, write_csv, write_json
from reporting_rollups.adapters.cli.tables import integer
from reporting_rollups.application.verify import VerifyResult
from reporting_rollups.domain.metrics import RollupKey

#: Columns of `rollups rows`, as in `reporting_events_rollups`.
ROW_COLUMNS: Final = (
    "account_id",
    "date",
    "dimension_type",
    "dimension_id",
    "metric",
    "count",
    "sum_value",
    "sum_value_business_hours",
)
#: The columns that identify a row (a `RollupKey`).
_KEY_COLUMNS: Final = ROW_COLUMNS[:5]


def _key_cells(key: RollupKey) -> tuple[int, str, str, int, str]:
    """A rollup key as the values of `_KEY_COLUMNS`."""
    return (
        key.account_id,
        key.date.isoformat(),
        key.dimension_type.value,
        key.dimension_id,
        key.metric.value,
    )


def _contribution(values: dict[str, float]) -> str:
    return (
        f"count {values['count']:g}, sum {values['sum_value']:g}, "
        f"business {values['sum_value_business_hours']:g}"
    )


@command()
def rows(
    ctx: typer.Context,
    account: AccountOption,
    since: SinceOption = None,
    until: UntilOption = None,
    output: Annotated[
        str, typer.Option("--format", "-f", metavar="json|csv|table", help="Output format.")
    ] = "json",
) -> None:
    """The account's rollup rows as stored (columns of reporting_events_rollups)."""
    state = state_of(ctx)
    output = parse_format(output)
    first, last = parse_range(since, until)
    with open_database(state, migrate=False) as rollups:
        require_account(rollups, account)
        stored = rollups.rows(account, first, last)
    records = [
        (*_key_cells(key), value.count, value.sum_value, value.sum_value_business_hours)
        for key, value in stored
    ]
    if output == "json":
        write_json([dict(zip(ROW_COLUMNS, record, strict=True)) for record in records])
    elif output == "csv":
        write_csv(records, ROW_COLUMNS)
    else:
        table = Table(title=f"Rollup rows of account {account}", caption=f"{len(records)} rows")
        for column in ROW_COLUMNS:
            table.add_column(column, justify="left" if column in {"date", "metric"} else "right")
        for record in records:
            table.add_row(*(str(cell) for cell in record))
        state.out.print(table)


def _pending_line(result: VerifyResult) -> str:
    lag = "" if result.lag_seconds is None else f", the oldest {result.lag_seconds:.1f}s old"
    days = ""
    if result.pending_days is not None:
        first, last = result.pending_days
        days = f"; not compared: {first}" + ("" if first == last else f" to {last}")
    return (
        f"{integer(result.pending)} captured change(s) pending{lag}{days} "
        "(`rollups sync` applies them)"
    )


@command()
def verify(
    ctx: typer.Context,
    account: OptionalAccount = None,
    since: SinceOption = None,
    until: UntilOption = None,
    every: AllOption = False,
    jobs: JobsOption = 1,
    resume: ResumeOption = None,
    output: Annotated[
        str, typer.Option("--format", "-f", metavar="table|json", help="Output format.")
    ] = "table",
) -> None:
    """Compare the rollups with the aggregation of raw events; exit 1 on any mismatch. With
    --all, every account with a zone, as a resumable job (a summary table)."""
    picked = one_or_all(ctx, "verify", account, every, (since, until, jobs, resume, 0, None))
    if picked is None:
        return
    account = picked
    state = state_of(ctx)
    output = choice(output, ("table", "json"), "--format")
    first, last = parse_range(since, until)
    with open_database(state, migrate=False) as rollups:
        require_account(rollups, account)
        result = rollups.verify(account, first, last)
    mismatches = result.mismatches
    if result.rebuild_pending and mismatches and output != "json":
        state.out.print(
            f"account {account}: its rollups are not built in its zone yet (a zone change or a "
            f"rebuild that did not finish): {len(mismatches)} row(s) differ until "
            f"`rollups rebuild --account {account}` completes"
        )
        raise typer.Exit(EXIT_MISMATCH)
    if output == "json":
        write_json(
            {
                "account_id": account,
                "mismatches": [
                    {
                        **dict(zip(_KEY_COLUMNS, _key_cells(m.key), strict=True)),
                        "expected": m.expected.as_dict(),
                        "actual": m.actual.as_dict(),
                    }
                    for m in mismatches
                ],
                "rebuild_pending": result.rebuild_pending,
                "horizon": None if result.horizon is None else result.horizon.isoformat(),
                "pending": result.pending,
                "lag_seconds": result.lag_seconds,
                "pending_days": None
                if result.pending_days is None
                else {
                    "first": result.pending_days.first.isoformat(),
                    "last": result.pending_days.last.isoformat(),
                },
            }
        )
    else:
        if not mismatches:
            state.out.print(f"account {account}: rollups match raw events (0 mismatches)")
        else:
            table = Table(title=f"Account {account}: {len(mismatches)} mismatch(es)")
            for column in ("date", "dimension", "metric", "expected (raw)", "actual (rollups)"):
                table.add_column(column)
            for m in mismatches:
                table.add_row(
                    m.key.date.isoformat(),
                    f"{m.key.dimension_type.value} {m.key.dimension_id}",
                    m.key.metric.value,
                    _contribution(m.expected.as_dict()),
                    _contribution(m.actual.as_dict()),
                )
            state.out.print(table)
        if result.pending:
            state.out.print(_pending_line(result))
        if result.horizon is not None:
            state.out.print(f"days before {result.horizon} are sealed (purged): not compared")
    if mismatches:
        raise typer.Exit(EXIT_MISMATCH)

"""`rollups report summary` and `rollups report timeseries`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer

from reporting_rollups.adapters.cli.app import (
    State,
    command,
    open_database,
    report_app,
    require_account,
    state_of,
)
from reporting_rollups.adapters.cli.options import (
    AccountOption,
    SinceOption,
    UntilOption,
    parse_date,
)
from reporting_rollups.adapters.cli.output import parse_format, write_csv, write_json
from reporting_rollups.adapters.cli.tables import summary_table, timeseries_table
from reporting_rollups.application.report_results import SummaryReport, TimeseriesReport
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.registry import ReportMetric
from reporting_rollups.domain.timezones import local_date, parse_timezone

FormatOption = Annotated[
    str, typer.Option("--format", "-f", metavar="table|json|csv", help="Output format.")
]
TimezoneOption = Annotated[
    str | None,
    typer.Option("--timezone", metavar="TZ", help="Report in this zone (default: the account's)."),
]
BusinessHoursOption = Annotated[
    bool, typer.Option("--business-hours", help="Averages over business-hours values.")
]


def _report_range(
    rollups: Rollups, account: int, since: str | None, until: str | None, timezone: str | None
) -> tuple[date, date]:
    """--since/--until, by default the 30 days ending today in the report's zone."""
    settings = require_account(rollups, account)
    zone_name = timezone or settings.timezone or "UTC"
    today = local_date(datetime.now(UTC), parse_timezone(zone_name))
    last = parse_date(until, "--until") or today
    first = parse_date(since, "--since") or (last - timedelta(days=29))
    return first, last


def _emit_report(state: State, report: SummaryReport | TimeseriesReport, output: str) -> None:
    if report.sealed_before is not None:
        state.err.print(
            f"warning: days before {report.sealed_before} are sealed (their raw events were "
            "purged): this report reads raw events, so it counts nothing there; their rollups "
            "answer daily reports in the account's zone"
        )
    if output == "json":
        write_json(report.as_dict())
        return
    if output == "csv":
        rows: list[dict[str, Any]] = list(report.as_dicts())
        write_csv([[row[column] for column in report.COLUMNS] for row in rows], report.COLUMNS)
        state.err.print(f"source: {report.source.value}")
        return
    table = summary_table(report) if isinstance(report, SummaryReport) else timeseries_table(report)
    state.out.print(table)


@command("summary", group=report_app)
def report_summary(
    ctx: typer.Context,
    account: AccountOption,
    dimension: Annotated[
        str,
        typer.Option("--dimension", "-d", metavar="account|agent|inbox", help="Group rows by."),
    ] = "account",
    since: SinceOption = None,
    until: UntilOption = None,
    business_hours: BusinessHoursOption = False,
    timezone: TimezoneOption = None,
    output: FormatOption = "table",
) -> None:
    """Report metrics per account, agent or inbox over a range (default: the last 30 days)."""
    state = state_of(ctx)
    output = parse_format(output)
    with open_database(state, migrate=False) as rollups:
        first, last = _report_range(rollups, account, since, until, timezone)
        report = rollups.reports.summary(
            account, dimension, first, last, business_hours=business_hours, timezone=timezone
        )
    _emit_report(state, report, output)


@command("timeseries", group=report_app)
def report_timeseries(
    ctx: typer.Context,
    account: AccountOption,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            metavar="METRIC",
            help=", ".join(m.value for m in ReportMetric) + ".",
        ),
    ],
    group_by: Annotated[
        str,
        typer.Option("--group-by", "-g", metavar="PERIOD", help="hour, day, week, month or year."),
    ] = "day",
    dimension: Annotated[
        str,
        typer.Option("--dimension", "-d", metavar="account|agent|inbox", help="Whose series."),
    ] = "account",
    dimension_id: Annotated[
        int | None,
        typer.Option("--dimension-id", min=1, help="Agent or inbox id (with --dimension)."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    business_hours: BusinessHoursOption = False,
    timezone: TimezoneOption = None,
    week_start: Annotated[
        str, typer.Option("--week-start", metavar="DAY", help="First day of a week.")
    ] = "sunday",
    output: FormatOption = "table",
) -> None:
    """One point per period, empty periods included (default range: the last 30 days)."""
    state = state_of(ctx)
    output = parse_format(output)
    with open_database(state, migrate=False) as rollups:
        first, last = _report_range(rollups, account, since, until, timezone)
        report = rollups.reports.timeseries(
            account,
            metric,
            first,
            last,
            group_by=group_by,
            dimension=dimension,
            dimension_id=dimension_id,
            business_hours=business_hours,
            timezone=timezone,
            week_start=week_start,
        )
    _emit_report(state, report, output)

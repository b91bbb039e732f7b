"""Rich rendering shared by the CLI and the demo: consoles, progress bars, report tables."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from reporting_rollups.application.report_results import SummaryReport, TimeseriesReport
from reporting_rollups.domain.registry import AVERAGES

#: Width of consoles that do not write to a terminal (files, pipes, CI logs).
_FILE_WIDTH = 120


def make_console(*, stderr: bool) -> Console:
    """A console on stdout or stderr; not a terminal means no colours and a fixed width."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=_FILE_WIDTH)
    return console


def integer(value: int) -> str:
    """An integer with thousands separators."""
    return f"{value:,}"


def duration(seconds: float | None) -> str:
    """A duration in seconds as '45s', '12m 05s', '3h 20m' or '2d 04h' ('-' for None)."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


class RateColumn(ProgressColumn):
    """Items per second, e.g. '1,234 days/s'."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"- {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


def progress_columns(unit: str) -> list[ProgressColumn]:
    """Description, bar, done/total, rate, elapsed and remaining time."""
    return [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]


def progress_bar(console: Console, unit: str) -> Progress:
    """A progress display on `console`, shown only when it is a terminal."""
    return Progress(*progress_columns(unit), console=console, disable=not console.is_terminal)


def label_table(
    title: str, rows: Iterable[tuple[str, str]], *, justify: Literal["left", "right"] = "left"
) -> Table:
    """A headerless two-column table: bold labels, then their values."""
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify=justify)
    for label, value in rows:
        table.add_row(label, value)
    return table


def _cell(value: Any, average: bool) -> str:
    if average:
        return duration(value)
    if isinstance(value, int):
        return integer(value)
    return "-" if value is None else str(value)


_SUMMARY_HEADERS = {
    "dimension_id": "id",
    "resolutions_count": "resolved",
    "avg_resolution_time": "avg resolution",
    "avg_first_response_time": "avg first response",
    "avg_reply_time": "avg reply",
    "bot_resolutions_count": "bot resolved",
    "bot_handoffs_count": "bot handoffs",
}


def summary_table(report: SummaryReport) -> Table:
    """A summary report as a table, its source (rollups or raw events) in the caption."""
    hours = ", business hours" if report.business_hours else ""
    table = Table(
        title=(
            f"Account {report.account_id} by {report.dimension.value}, "
            f"{report.since} to {report.until} ({report.timezone}{hours})"
        ),
        caption=f"source: {report.source.value}",
    )
    for column in report.COLUMNS:
        table.add_column(
            _SUMMARY_HEADERS.get(column, column),
            justify="right",
            style="bold" if column == "dimension_id" else None,
        )
    averages = {metric.value for metric in AVERAGES}
    for row in report.as_dicts():
        table.add_row(*(_cell(row[column], column in averages) for column in report.COLUMNS))
    return table


def timeseries_table(report: TimeseriesReport) -> Table:
    """A time series as a table, its source in the caption."""
    hours = ", business hours" if report.business_hours else ""
    who = (
        ""
        if report.dimension.value == "account"
        else f", {report.dimension.value} {report.dimension_id}"
    )
    table = Table(
        title=(
            f"Account {report.account_id}{who}: {report.metric.value} per "
            f"{report.group_by.value}, {report.since} to {report.until} "
            f"({report.timezone}{hours})"
        ),
        caption=f"source: {report.source.value}",
    )
    average = report.metric in AVERAGES
    table.add_column(f"{report.group_by.value} starting", justify="left")
    table.add_column(report.metric.value, justify="right")
    if average:
        table.add_column("count", justify="right")
    for point in report.points:
        cells = [point.period_start.isoformat(), _cell(point.value, average)]
        if average:
            cells.append(integer(point.count))
        table.add_row(*cells)
    return table

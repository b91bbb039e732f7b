"""How commands write results: JSON and CSV on stdout, and backfill progress and outcomes."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Final

from rich.console import Console

from reporting_rollups.adapters.cli.options import choice
from reporting_rollups.adapters.cli.tables import integer, progress_bar
from reporting_rollups.application.backfill import BackfillResult
from reporting_rollups.application.ports import Progress

#: Output formats of `--format` (the default table goes through rich).
FORMATS: Final = ("table", "json", "csv")


def parse_format(value: str) -> str:
    """The --format value, one of `FORMATS`."""
    return choice(value, FORMATS, "--format")


def write_csv(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """`rows` as CSV on stdout, under `header`."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def write_json(data: object) -> None:
    """`data` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def backfill_progress(console: Console, description: str) -> Iterator[Progress]:
    """A `Progress` callback drawing a bar of days done (and days/s) on `console`."""
    bar = progress_bar(console, "days")
    task = bar.add_task(description, total=None)

    def update(done: int, total: int, last_day: date) -> None:
        bar.update(task, completed=done, total=total, description=f"{description} {last_day}")

    with bar:
        yield update


def print_backfill_result(console: Console, result: BackfillResult, elapsed: float = 0) -> None:
    """One line: the days rebuilt, events and rows (and the time and rate when `elapsed`)."""
    plan = result.plan
    if plan.since is None:
        console.print(f"account {plan.account_id}: no events to rebuild yet")
        return
    rate = f", {integer(round(result.events / elapsed))} events/s" if elapsed > 0 else ""
    console.print(
        f"account {plan.account_id}: rebuilt {integer(plan.days)} day(s) {plan.since} to "
        f"{plan.until} in {plan.timezone}: {integer(result.events)} events, "
        f"{integer(result.rows)} rollup rows" + (f" in {elapsed:.2f}s{rate}" if elapsed > 0 else "")
    )

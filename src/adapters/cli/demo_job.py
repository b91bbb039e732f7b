"""The `rollups demo` job: a synthetic history (`adapters.demo`) recorded live, backfilled,
reported and verified, shown with rich tables and progress bars."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import attrs
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from reporting_rollups.adapters.cli.tables import (
    duration,
    integer,
    label_table,
    progress_bar,
    summary_table,
)
from reporting_rollups.adapters.demo import DEMO_ACCOUNTS, DemoAccount, synthetic_events
from reporting_rollups.adapters.event_files.streams import batched
from reporting_rollups.application.backfill import BackfillPlan
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import RollupError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.registry import ReportMetric
from reporting_rollups.domain.timezones import local_date, parse_timezone


class DemoDatabaseNotEmptyError(RollupError):
    """The demo's accounts already have data in the database."""


@attrs.frozen
class DemoOutcome:
    """What `run_demo` measured."""

    events: int  #: events generated (redeliveries included)
    stored: int
    duplicates: int
    rolled_up: int  #: folded in by the live path
    skipped: int  #: stored without a rollup (account without a zone at the time)
    record_seconds: float
    backfill_days: int
    backfill_events: int
    backfill_seconds: float
    verify_seconds: float
    rows: int  #: rollup rows stored for the demo accounts
    mismatches: int


def _heading(out: Console, text: str) -> None:
    out.print(Rule(f"[bold]{text}", align="left"))


def _rate(count: float, seconds: float, unit: str) -> str:
    return f"{integer(round(count / seconds))} {unit}/s" if seconds > 0 else "-"


def _check_empty(rollups: Rollups, accounts: Sequence[DemoAccount]) -> None:
    for account in accounts:
        if rollups.known(account.id):
            raise DemoDatabaseNotEmptyError(
                f"the database already has data of account {account.id}; the demo needs a "
                "fresh one (delete the file, or pass --db sqlite:///another.db)"
            )


def _accounts_table(accounts: Sequence[DemoAccount], live: set[int]) -> Table:
    table = Table(title="Synthetic accounts")
    for column in ("id", "name", "time zone", "inboxes", "agents", "bot inboxes", "zone set"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            str(account.id),
            account.name,
            account.timezone,
            str(len(account.inboxes)),
            str(len(account.agents)),
            ", ".join(map(str, account.bot_inboxes)) or "-",
            "before recording (live)" if account.id in live else "after recording (backfill)",
        )
    return table


def _record(
    rollups: Rollups, err: Console, stream: Iterator[Event], total: int, batch_size: int
) -> tuple[dict[str, int], float]:
    totals = dict.fromkeys(("events", "stored", "duplicates", "rolled_up", "skipped"), 0)
    seconds = 0.0
    with progress_bar(err, "events") as bar:
        task = bar.add_task("recording", total=total)
        for batch in batched(stream, batch_size):
            started = time.perf_counter()
            result = rollups.record(batch)
            seconds += time.perf_counter() - started
            totals["events"] += len(batch)
            totals["stored"] += result.stored
            totals["duplicates"] += result.duplicates
            totals["rolled_up"] += result.rolled_up
            totals["skipped"] += result.skipped
            bar.update(task, advance=len(batch))
    return totals, seconds


def _backfill(
    rollups: Rollups, err: Console, accounts: Sequence[DemoAccount], late: set[int]
) -> tuple[list[tuple[BackfillPlan, int, int]], float]:
    """Account zones set late get their zone and a full rebuild; the others a backfill over the
    same days (it replaces what the live path built with the aggregation of raw events)."""
    for account in accounts:
        if account.id in late:
            rollups.set_timezone(account.id, account.timezone, rebuild=False)
    plans = [rollups.backfiller.plan(a.id, through_today=True) for a in accounts]
    done: list[tuple[BackfillPlan, int, int]] = []
    started = time.perf_counter()
    with progress_bar(err, "days") as bar:
        task = bar.add_task("backfilling", total=sum(plan.days for plan in plans))
        offset = 0

        def progress(done: int, total: int, last_day: date) -> None:
            bar.update(task, completed=offset + done)

        for account, plan in zip(accounts, plans, strict=True):
            if account.id in late:
                result = rollups.rebuild(account.id, progress)
            else:
                result = rollups.backfiller.run(plan, progress)
            done.append((result.plan, result.events, result.rows))
            offset += plan.days
    return done, time.perf_counter() - started


def run_demo(
    rollups: Rollups,
    out: Console,
    err: Console,
    *,
    events: int = 50_000,
    days: int = 200,
    seed: int = 7,
    batch_size: int = 1000,
    accounts: Sequence[DemoAccount] = DEMO_ACCOUNTS,
    db_option: str = "",
    today: Callable[[], date] | None = None,
) -> DemoOutcome:
    """The `rollups demo` job: on an empty database, give all accounts but the last a zone and
    the read path, record a synthetic history through the live path in batches, give the last
    account its zone and rebuild it, backfill the others, print a summary and a weekly series,
    verify every account and print throughput figures and the next commands to try."""
    _check_empty(rollups, accounts)
    late = {accounts[-1].id} if len(accounts) > 1 else set()
    for account in accounts:
        if account.id not in late:
            rollups.set_timezone(account.id, account.timezone)
        rollups.enable_read_path(account.id)
    _heading(out, f"1. A synthetic history: {integer(events)} events over {days} days")
    out.print(_accounts_table(accounts, {a.id for a in accounts} - late))

    end = today() if today is not None else datetime.now(UTC).date()
    stream = synthetic_events(events=events, seed=seed, days=days, end=end, accounts=accounts)
    totals, record_seconds = _record(
        rollups, err, stream, events, batch_size
    )  # generation excluded
    _heading(out, "2. Recorded through the live path")
    table = label_table(
        "",
        [
            ("events delivered", integer(totals["events"])),
            ("stored", integer(totals["stored"])),
            ("redeliveries (already stored)", integer(totals["duplicates"])),
            ("rolled up live", integer(totals["rolled_up"])),
            (
                f"stored only (account {', '.join(map(str, sorted(late))) or '-'} has no zone yet)",
                integer(totals["skipped"]),
            ),
            ("time", f"{record_seconds:.2f}s, {_rate(totals['events'], record_seconds, 'events')}"),
        ],
        justify="right",
    )
    out.print(table)

    backfills, backfill_seconds = _backfill(rollups, err, accounts, late)
    _heading(out, "3. Backfill from raw events")
    table = Table()
    for column in ("account", "zone", "days", "range", "events", "rows", "how"):
        table.add_column(
            column, justify="right" if column in {"days", "events", "rows"} else "left"
        )
    for plan, count, rows in backfills:
        table.add_row(
            str(plan.account_id),
            plan.timezone,
            integer(plan.days),
            f"{plan.since} to {plan.until}" if plan.since else "-",
            integer(count),
            integer(rows),
            "zone set, rebuilt" if plan.account_id in late else "backfilled over live rollups",
        )
    out.print(table)
    backfill_days = sum(plan.days for plan, _, _ in backfills)
    backfill_events = sum(count for _, count, _ in backfills)

    main = accounts[0]
    zone = parse_timezone(main.timezone)
    last_day = local_date(datetime.combine(end, datetime.min.time(), UTC), zone)
    first_day = last_day - timedelta(days=days)
    _heading(out, f"4. Reports for account {main.id} ({main.name}, {main.timezone})")
    for dimension in ("inbox", "agent"):
        out.print(summary_table(rollups.reports.summary(main.id, dimension, first_day, last_day)))
    last_sunday = last_day - timedelta(days=(last_day.weekday() + 1) % 7)
    twelve_weeks = last_sunday - timedelta(weeks=12, days=-1)
    out.print(_weekly_table(rollups, main, twelve_weeks, last_sunday))

    _heading(out, "5. Verify: rollups against raw events, every account")
    started = time.perf_counter()
    mismatches = sum(len(rollups.verify(account.id).mismatches) for account in accounts)
    verify_seconds = time.perf_counter() - started
    stored_rows = sum(len(rollups.rows(account.id)) for account in accounts)
    verdict = "[bold green]exact[/]" if mismatches == 0 else "[bold red]MISMATCHES[/]"
    out.print(
        f"{integer(stored_rows)} rollup rows in {len(accounts)} accounts: "
        f"{integer(mismatches)} mismatches, {verdict} ({verify_seconds:.2f}s)"
    )

    _heading(out, "6. Throughput")
    table = Table()
    for column in ("step", "work", "time", "rate"):
        table.add_column(column, justify="left" if column == "step" else "right")
    table.add_row(
        f"record (live, batches of {integer(batch_size)})",
        f"{integer(totals['events'])} events",
        f"{record_seconds:.2f}s",
        _rate(totals["events"], record_seconds, "events"),
    )
    table.add_row(
        "backfill (aggregating raw events)",
        f"{integer(backfill_events)} events, {integer(backfill_days)} days",
        f"{backfill_seconds:.2f}s",
        f"{_rate(backfill_events, backfill_seconds, 'events')}, "
        f"{_rate(backfill_days, backfill_seconds, 'days')}",
    )
    table.add_row(
        "verify (all accounts)",
        f"{integer(stored_rows)} rows",
        f"{verify_seconds:.2f}s",
        _rate(stored_rows, verify_seconds, "rows"),
    )
    out.print(table)

    _heading(out, "Next: explore the database")
    since, until = last_day - timedelta(days=29), last_day
    for line in (
        f"rollups {db_option}report summary --account {main.id} --dimension inbox "
        f"--since {since} --until {until}",
        f"rollups {db_option}report timeseries --account 3 --metric avg_first_response_time "
        f"--group-by month --since {first_day} --until {until} --business-hours",
        f"rollups {db_option}report summary --account {main.id} --timezone UTC   "
        "# another zone: served from raw events",
        f"rollups {db_option}rows --account 2 --since {until} --format csv",
        f"rollups {db_option}retract 1 && rollups {db_option}verify --account "
        f"{_account_of_first_event(rollups)}",
        f"rollups {db_option}set-timezone {main.id} Europe/London   # rebuilds in the new zone",
    ):
        out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if db_option.startswith("--db memory:"):
        out.print("(memory:// keeps nothing after the command ends; use a sqlite:/// URL)")
    return DemoOutcome(
        events=totals["events"],
        stored=totals["stored"],
        duplicates=totals["duplicates"],
        rolled_up=totals["rolled_up"],
        skipped=totals["skipped"],
        record_seconds=record_seconds,
        backfill_days=backfill_days,
        backfill_events=backfill_events,
        backfill_seconds=backfill_seconds,
        verify_seconds=verify_seconds,
        rows=stored_rows,
        mismatches=mismatches,
    )


def _account_of_first_event(rollups: Rollups) -> int:
    found = rollups.events([1])
    return found[0].account_id if found else 1


def _weekly_table(rollups: Rollups, account: DemoAccount, since: date, until: date) -> Table:
    """Resolutions, average first response (all hours and business hours) and bot handoffs per
    week, from four time series."""
    reports = rollups.reports

    def series(metric: ReportMetric, business_hours: bool = False) -> list[object]:
        report = reports.timeseries(
            account.id,
            metric,
            since,
            until,
            group_by="week",
            business_hours=business_hours,
            week_start="monday",
        )
        return [point.value for point in report.points]

    weeks = reports.timeseries(
        account.id, ReportMetric.RESOLUTIONS_COUNT, since, until, "week", week_start="monday"
    )
    first_response = series(ReportMetric.AVG_FIRST_RESPONSE_TIME)
    business = series(ReportMetric.AVG_FIRST_RESPONSE_TIME, business_hours=True)
    handoffs = series(ReportMetric.BOT_HANDOFFS_COUNT)
    table = Table(
        title=f"Account {account.id} per week, {since} to {until}",
        caption=f"source: {weeks.source.value}; weeks start on {weeks.week_start}",
    )
    for column in (
        "week of",
        "resolved",
        "avg first response",
        "(business hours)",
        "bot handoffs",
    ):
        table.add_column(column, justify="left" if column == "week of" else "right")
    for index, point in enumerate(weeks.points):
        table.add_row(
            point.period_start.isoformat(),
            integer(point.count),
            duration(first_response[index]),  # type: ignore[arg-type]
            duration(business[index]),  # type: ignore[arg-type]
            integer(handoffs[index]),  # type: ignore[arg-type]
        )
    return table

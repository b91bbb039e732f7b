"""A realistic synthetic history of reporting events, and the `rollups demo` job that uses it.

`synthetic_events` is seeded and lazy: it yields `domain.Event`s in delivery order (mostly
chronological, with late and redelivered events), holding only the events of conversations still
in flight, so a benchmark can draw millions of events from it with flat memory.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Final
from zoneinfo import ZoneInfo

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
from reporting_rollups.adapters.event_files import batched
from reporting_rollups.application.backfill import BackfillPlan
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import RollupError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.registry import ReportMetric
from reporting_rollups.domain.timezones import local_date, parse_timezone


@attrs.frozen
class DemoAccount:
    """A synthetic account: its zone, inboxes, agents and share of the traffic."""

    id: int
    name: str
    timezone: str
    inboxes: tuple[int, ...]
    agents: tuple[int, ...]
    weight: float  #: share of all conversations
    bot_inboxes: tuple[int, ...] = ()  #: inboxes where a bot answers first
    business_hours: tuple[int, int] = (9, 17)  #: local opening and closing hour, Monday-Friday


#: The demo's accounts: four zones, three of them with daylight saving time (the northern and
#: southern hemispheres change on different dates, so any 200-day history crosses a change).
DEMO_ACCOUNTS: Final[tuple[DemoAccount, ...]] = (
    DemoAccount(
        1,
        "Acme Support",
        "America/New_York",
        inboxes=(11, 12, 13),
        agents=tuple(range(101, 109)),
        weight=0.40,
        bot_inboxes=(11,),
    ),
    DemoAccount(
        2,
        "Globex",
        "Europe/Berlin",
        inboxes=(21, 22),
        agents=tuple(range(201, 206)),
        weight=0.25,
        bot_inboxes=(21,),
    ),
    DemoAccount(
        3,
        "Initech",
        "Asia/Kolkata",
        inboxes=(31, 32, 33),
        agents=tuple(range(301, 311)),
        weight=0.25,
        bot_inboxes=(32,),
    ),
    DemoAccount(
        4,
        "Umbrella",
        "Australia/Sydney",
        inboxes=(41,),
        agents=tuple(range(401, 404)),
        weight=0.10,
    ),
)

#: Relative conversation volume per local hour of the day.
_HOURLY: Final = (0.15,) * 7 + (0.4, 0.8) + (1.0,) * 8 + (0.7, 0.5) + (0.35,) * 4 + (0.2,)
#: Events per conversation, roughly (the daily volume adapts to reach the requested total).
_EVENTS_PER_CONVERSATION: Final = 3.6
_MAX_DELAY: Final = timedelta(days=20)


def _business_window(day: date, zone: ZoneInfo, hours: tuple[int, int]) -> tuple[datetime, ...]:
    if day.weekday() >= 5:
        return ()
    opening = datetime.combine(day, clock_time(hours[0]), zone).astimezone(UTC)
    closing = datetime.combine(day, clock_time(hours[1]), zone).astimezone(UTC)
    return (opening, closing)


def business_seconds(
    start: datetime, end: datetime, zone: ZoneInfo, hours: tuple[int, int] = (9, 17)
) -> float:
    """Seconds of [start, end) that fall in business hours (local `hours`, Monday-Friday)."""
    total = 0.0
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        window = _business_window(day, zone, hours)
        if window:
            overlap = min(end, window[1]) - max(start, window[0])
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


def next_opening(instant: datetime, zone: ZoneInfo, hours: tuple[int, int] = (9, 17)) -> datetime:
    """`instant` if it is in business hours, else the next opening time."""
    day = instant.astimezone(zone).date()
    for _ in range(8):
        window = _business_window(day, zone, hours)
        if window and instant < window[1]:
            return max(instant, window[0])
        day += timedelta(days=1)
    return instant  # pragma: no cover - a week always has an opening


class _Generator:
    """State of one `synthetic_events` run."""

    def __init__(
        self,
        *,
        rng: random.Random,
        end: datetime,
        late_fraction: float,
        redelivery_fraction: float,
        first_id: int,
    ) -> None:
        self.rng = rng
        self.end = end
        self.late_fraction = late_fraction
        self.redelivery_fraction = redelivery_fraction
        self.ids = itertools.count(first_id)
        self.conversations = itertools.count(first_id)
        self.sequence = itertools.count()
        self.pending: list[tuple[datetime, int, Event]] = []  #: (delivery, tiebreak, event)
        self.pushed = 0
        self.started = 0  #: conversations generated

    def events_per_conversation(self) -> float:
        """Observed so far (a prior until there are enough conversations)."""
        if self.started < 200:
            return _EVENTS_PER_CONVERSATION
        return self.pushed / self.started

    def _lognormal(self, median: float, sigma: float = 0.9) -> timedelta:
        seconds = self.rng.lognormvariate(math.log(median), sigma)
        return timedelta(seconds=min(seconds, _MAX_DELAY.total_seconds()))

    def _respond(
        self, after: datetime, median: float, account: DemoAccount, zone: ZoneInfo
    ) -> datetime:
        """When an agent acts after `after`: soon in business hours, else after the next opening
        (one time in five somebody answers out of hours anyway)."""
        start = after
        if self.rng.random() > 0.2:
            start = next_opening(after, zone, account.business_hours)
        return start + self._lognormal(median)

    def _emit(
        self,
        account: DemoAccount,
        zone: ZoneInfo,
        name: str,
        at: datetime,
        since: datetime,
        **fields: int | None,
    ) -> bool:
        """Schedule one event (value = at - since); False once past the end of the history."""
        if at >= self.end:
            return False
        value = round((at - since).total_seconds(), 3)
        business = round(business_seconds(since, at, zone, account.business_hours), 3)
        event = Event(
            id=next(self.ids),
            name=name,
            account_id=account.id,
            created_at=at,
            value=value,
            value_in_business_hours=business,
            **fields,
        )
        delivery = at + timedelta(seconds=self.rng.uniform(0.05, 2.0))
        if self.rng.random() < self.late_fraction:
            delivery = at + timedelta(hours=self.rng.uniform(1.0, 120.0))
        heapq.heappush(self.pending, (delivery, next(self.sequence), event))
        self.pushed += 1
        if self.rng.random() < self.redelivery_fraction:
            again = delivery + timedelta(seconds=self.rng.uniform(1.0, 7200.0))
            heapq.heappush(self.pending, (again, next(self.sequence), event))
            self.pushed += 1
        return True

    def conversation(self, account: DemoAccount, zone: ZoneInfo, start: datetime) -> None:
        """Schedule the events of one conversation that starts at `start`."""
        rng = self.rng
        self.started += 1
        conversation_id = next(self.conversations)
        inbox = rng.choice(account.inboxes)
        agent = rng.choice(account.agents)
        common = {"inbox_id": inbox, "conversation_id": conversation_id}
        handed_off = start
        if inbox in account.bot_inboxes:
            if rng.random() < 0.4:
                resolved = start + self._lognormal(240)
                self._emit(account, zone, "conversation_bot_resolved", resolved, start, **common)
                return
            handed_off = start + self._lognormal(90)
            if not self._emit(
                account, zone, "conversation_bot_handoff", handed_off, start, **common
            ):
                return
            if rng.random() < 0.12:  # back to the bot, handed off again: one distinct handoff
                again = handed_off + self._lognormal(900)
                self._emit(account, zone, "conversation_bot_handoff", again, start, **common)
        first = self._respond(handed_off, 480, account, zone)
        if not self._emit(account, zone, "first_response", first, start, user_id=agent, **common):
            return
        last = first
        for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(30, 30, 20, 12, 8))[0]):
            asked = last + self._lognormal(600)
            last = self._respond(asked, 720, account, zone)
            if not self._emit(account, zone, "reply_time", last, asked, user_id=agent, **common):
                return
        if rng.random() < 0.88:
            resolver = agent if rng.random() < 0.95 else rng.choice(account.agents)
            resolved = self._respond(last + self._lognormal(1800), 1200, account, zone)
            self._emit(
                account, zone, "conversation_resolved", resolved, start, user_id=resolver, **common
            )

    def starts(
        self, day: datetime, accounts: Sequence[tuple[DemoAccount, ZoneInfo]], total: float
    ) -> list[tuple[datetime, int]]:
        """Conversation starts within the UTC day from `day`: (instant, account index), sorted."""
        rng = self.rng
        found: list[tuple[datetime, int]] = []
        for index, (account, zone) in enumerate(accounts):
            local_weekday = (day + timedelta(hours=12)).astimezone(zone).weekday()
            expected = total * account.weight * (0.45 if local_weekday >= 5 else 1.2)
            count = max(0, round(rng.gauss(expected, math.sqrt(expected) + 1e-9)))
            while count:
                instant = day + timedelta(seconds=rng.uniform(0, 86400))
                if rng.random() < _HOURLY[instant.astimezone(zone).hour]:
                    found.append((instant, index))
                    count -= 1
        found.sort()
        return found


def synthetic_events(
    *,
    events: int = 50_000,
    seed: int = 7,
    days: int = 200,
    end: date | None = None,
    accounts: Sequence[DemoAccount] = DEMO_ACCOUNTS,
    late_fraction: float = 0.01,
    redelivery_fraction: float = 0.005,
    first_id: int = 1,
) -> Iterator[Event]:
    """Yield exactly `events` reporting events (fewer only if the history cannot hold them),
    lazily, in delivery order.

    The history covers the `days` UTC days before `end` (default: today in UTC, so the last
    event is from yesterday). Conversations start more often in local business hours and on
    weekdays; a bot answers first in `bot_inboxes` (resolving some conversations, handing the
    others off, a few twice); agents answer quickly in business hours and after the next
    opening otherwise, so business-hours values are realistic. About `late_fraction` of the
    events arrive hours to days late, and `redelivery_fraction` are delivered twice (same id,
    same content). Ids and conversation ids count up from `first_id`. Same arguments, same
    events.
    """
    if events < 0 or days < 1:
        raise ValueError("events must be >= 0 and days >= 1")
    if not accounts:
        raise ValueError("at least one account is needed")
    last = end if end is not None else datetime.now(UTC).date()
    history_end = datetime.combine(last, clock_time(), UTC)
    first_day = history_end - timedelta(days=days)
    zoned = [(account, parse_timezone(account.timezone)) for account in accounts]
    generator = _Generator(
        rng=random.Random(seed),
        end=history_end,
        late_fraction=late_fraction,
        redelivery_fraction=redelivery_fraction,
        first_id=first_id,
    )
    pending = generator.pending
    yielded = 0

    def schedule(day: datetime, total: float) -> Iterator[Event]:
        nonlocal yielded
        for start, index in generator.starts(day, zoned, total):
            while pending and pending[0][0] <= start and yielded < events:
                yield heapq.heappop(pending)[2]
                yielded += 1
            if generator.pushed >= events:
                return
            account, zone = zoned[index]
            generator.conversation(account, zone, start)

    for day_index in range(days):
        if generator.pushed >= events:
            break
        remaining = events - generator.pushed
        total = remaining / generator.events_per_conversation() / (days - day_index)
        yield from schedule(first_day + timedelta(days=day_index), total)
    # Conversations of the last days lose the events that would fall after the end: top up
    # with more conversations over the last week (delivered late, as late events are).
    last_week = min(days, 7)
    for _round in range(100):
        if generator.pushed >= events:
            break
        remaining = events - generator.pushed
        total = 1.5 * remaining / generator.events_per_conversation() / last_week
        for day_index in range(days - last_week, days):
            yield from schedule(first_day + timedelta(days=day_index), total)
    while pending and yielded < events:
        yield heapq.heappop(pending)[2]
        yielded += 1


# -- the demo job -----------------------------------------------------------------------------


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
    mismatches = sum(len(rollups.verify(account.id)) for account in accounts)
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
    with rollups.uow_factory(read_only=True) as uow:
        found = uow.events.get([1])
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

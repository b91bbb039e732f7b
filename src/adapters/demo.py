"""A realistic synthetic history of reporting events (the `rollups demo` job that uses it is
`adapters.cli.demo_job`).

`synthetic_events` is seeded and lazy: it yields `domain.Event`s in delivery order (mostly
chronological, with late and redelivered events), holding only the events of conversations still
in flight, so a benchmark can draw millions of events from it with flat memory.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import parse_timezone


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
        *,
        inbox_id: int,
        conversation_id: int,
        user_id: int | None = None,
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
            user_id=user_id,
            inbox_id=inbox_id,
            conversation_id=conversation_id,
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

"""The benchmarks' synthetic workload: seeded, reproducible reporting events.

10 accounts in different zones, 50 agents (five per account) and 20 inboxes (two per account), as
agents and inboxes belong to an account in the reference application; all five supported event
kinds. Shapes:

- ``spread``: events over the 30 local days ending on `LAST_DAY`, in each account's zone;
- ``live``: every event on the local day `LAST_DAY` (live traffic);
- ``year``: 365 local days ending on `LAST_DAY` (backfills and reports).

Rows are plain tuples (`Row`, naive UTC `created_at`, as the tables store it) so that large
datasets can be streamed into a database without building `Event` objects; `events()` builds
the validated `Event` objects the library takes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import attrs

from reporting_rollups.domain.events import Event
from reporting_rollups.domain.timezones import local_day, parse_timezone

#: One zone per account (index 0 is account 1): offsets of whole, half and quarter hours, DST
#: in both hemispheres, and UTC.
ZONES: Final[tuple[str, ...]] = (
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "UTC",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kathmandu",
    "America/Los_Angeles",
    "Africa/Lagos",
)
ACCOUNTS: Final[tuple[int, ...]] = tuple(range(1, len(ZONES) + 1))
AGENTS: Final = 50
INBOXES: Final = 20
#: The last local day of every shape; the benchmarks' clock reads the day after.
LAST_DAY: Final = date(2026, 11, 22)
NOW: Final = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
#: (event name, weight): the mix of a support team's day.
MIX: Final[tuple[tuple[str, float], ...]] = (
    ("reply_time", 0.40),
    ("first_response", 0.20),
    ("conversation_resolved", 0.20),
    ("conversation_bot_resolved", 0.10),
    ("conversation_bot_handoff", 0.10),
)
SHAPE_DAYS: Final[dict[str, int]] = {"live": 1, "spread": 30, "year": 365}
DEFAULT_SEED: Final = 20261122

#: (id, name, account_id, created_at naive UTC, value, value_in_business_hours, user_id,
#: inbox_id, conversation_id): the columns of `reporting_events` the library reads.
Row = tuple[int, str, int, datetime, float | None, float | None, int | None, int | None, int | None]
COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "name",
    "account_id",
    "created_at",
    "value",
    "value_in_business_hours",
    "user_id",
    "inbox_id",
    "conversation_id",
)


def zone_of(account_id: int) -> str:
    """The reporting zone of a workload account."""
    return ZONES[account_id - 1]


def zones(accounts: Iterable[int] = ACCOUNTS) -> dict[int, ZoneInfo]:
    """Account id -> ZoneInfo, as `domain.projection.project` takes them."""
    return {account: parse_timezone(zone_of(account)) for account in accounts}


def _owned(count: int, account_id: int) -> tuple[int, ...]:
    return tuple(i for i in range(1, count + 1) if (i - 1) % len(ACCOUNTS) + 1 == account_id)


def inboxes_of(account_id: int) -> tuple[int, ...]:
    """The inboxes of an account (inbox i belongs to account (i - 1) % 10 + 1)."""
    return _owned(INBOXES, account_id)


def agents_of(account_id: int) -> tuple[int, ...]:
    """The agents of an account (agent i belongs to account (i - 1) % 10 + 1)."""
    return _owned(AGENTS, account_id)


def day_range(shape: str) -> tuple[date, date]:
    """The first and last local day of a shape."""
    return LAST_DAY - timedelta(days=SHAPE_DAYS[shape] - 1), LAST_DAY


@attrs.frozen
class _AccountDays:
    """Naive-UTC starts and lengths (seconds) of an account's local days of one shape."""

    starts: tuple[datetime, ...]
    lengths: tuple[float, ...]


def _account_days(account_id: int, shape: str) -> _AccountDays:
    zone = parse_timezone(zone_of(account_id))
    first, _last = day_range(shape)
    starts, lengths = [], []
    for n in range(SHAPE_DAYS[shape]):
        day = local_day(first + timedelta(days=n), zone)
        starts.append(day.start.replace(tzinfo=None))
        lengths.append((day.end - day.start).total_seconds())
    return _AccountDays(tuple(starts), tuple(lengths))


def rows(
    count: int,
    shape: str,
    *,
    first_id: int = 1,
    accounts: Sequence[int] = ACCOUNTS,
    seed: int = DEFAULT_SEED,
) -> Iterator[Row]:
    """`count` event rows with ids first_id, first_id + 1, ..., in id order (times are random,
    as late and out-of-order events are). The same arguments give the same rows."""
    rng = random.Random(f"{seed}/{shape}/{first_id}/{count}/{tuple(accounts)}")
    days = {account: _account_days(account, shape) for account in accounts}
    inboxes = {account: inboxes_of(account) or (None,) for account in accounts}
    agents = {account: agents_of(account) or (None,) for account in accounts}
    names = [name for name, _weight in MIX]
    cumulative: list[float] = []
    total = 0.0
    for _name, weight in MIX:
        total += weight
        cumulative.append(total / sum(w for _n, w in MIX))
    n_days = SHAPE_DAYS[shape]
    # About three events per conversation, so bot handoffs repeat within a day now and then.
    conversations = max(10, count // (3 * len(accounts)))
    random_ = rng.random
    randrange = rng.randrange
    for event_id in range(first_id, first_id + count):
        draw = random_()
        kind = 0
        while draw > cumulative[kind]:
            kind += 1
        name = names[kind]
        account = accounts[randrange(len(accounts))]
        account_days = days[account]
        day = randrange(n_days) if n_days > 1 else 0
        created_at = account_days.starts[day] + timedelta(
            seconds=int(random_() * account_days.lengths[day])
        )
        bot = kind >= 3
        value: float | None = None if bot else round(30.0 + random_() * 7200.0, 3)
        business = None if value is None or random_() < 0.1 else round(value * 0.6, 3)
        account_agents = agents[account]
        user_id = (
            None if bot or random_() < 0.05 else account_agents[randrange(len(account_agents))]
        )
        account_inboxes = inboxes[account]
        inbox_id = account_inboxes[randrange(len(account_inboxes))]
        conversation_id = account * 10_000_000 + randrange(1, conversations + 1)
        yield (
            event_id,
            name,
            account,
            created_at,
            value,
            business,
            user_id,
            inbox_id,
            conversation_id,
        )


def to_event(row: Row) -> Event:
    """The validated `Event` of a row."""
    event_id, name, account, created_at, value, business, user_id, inbox_id, conversation = row
    return Event(
        id=event_id,
        name=name,
        account_id=account,
        created_at=created_at.replace(tzinfo=UTC),
        value=value,
        value_in_business_hours=business,
        user_id=user_id,
        inbox_id=inbox_id,
        conversation_id=conversation,
    )


def events(
    count: int,
    shape: str,
    *,
    first_id: int = 1,
    accounts: Sequence[int] = ACCOUNTS,
    seed: int = DEFAULT_SEED,
) -> list[Event]:
    """`count` validated events (see `rows`)."""
    return [
        to_event(row) for row in rows(count, shape, first_id=first_id, accounts=accounts, seed=seed)
    ]


def batches(
    rounds: int, size: int, shape: str, *, first_id: int = 1, seed: int = DEFAULT_SEED
) -> list[list[Event]]:
    """`rounds` consecutive batches of `size` fresh events (disjoint ids)."""
    return [events(size, shape, first_id=first_id + n * size, seed=seed) for n in range(rounds)]


def jsonl_line(row: Row) -> str:
    """A row as one JSON line (ISO 8601 UTC `created_at`), as `rollups ingest` reads files."""
    record = dict(zip(COLUMNS, row, strict=True))
    record["created_at"] = row[3].replace(tzinfo=UTC).isoformat()
    return json.dumps(record, separators=(",", ":"))

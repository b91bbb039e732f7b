"""Helpers of the PostgreSQL concurrency and crash tests.

Child-process entry points (`run_writer`, `run_maintainer`, `run_record`, `run_backfill`) are
started with the `spawn` context, open their own `open_rollups(url)` and report through a queue
as ``(status, who, payload)``; status is "ok" or "error" (payload: the traceback). Events are
generated deterministically from a seed, so parent and children build identical events without
shipping them between processes.

The parent side checks against `reference_rows`: a plain aggregation of the raw rows read back
from `reporting_events` with psycopg, written independently of the library's projection.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import attrs
import psycopg
from sqlalchemy import create_engine, text

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.live import STEP_EVENTS
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey

#: The tests' "now", the same instant as `tests.conftest.FIXED_NOW` (children cannot import
#: conftest without pytest).
FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

HANDOFF = "conversation_bot_handoff"
#: Event names the generator draws from (with weights): the five supported ones and one unknown.
NAMES = (
    ("conversation_resolved", 3),
    ("first_response", 2),
    ("reply_time", 2),
    ("conversation_bot_resolved", 1),
    (HANDOFF, 4),
    ("conversation_opened", 1),
)


def fixed_clock() -> datetime:
    """The tests' clock (picklable, for child processes)."""
    return FIXED_NOW


# --- event generation ------------------------------------------------------------------------


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as aware UTC (the zones used here never skip midnight)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def make_events(
    seed: int,
    first_id: int,
    count: int,
    account_id: int,
    zone_name: str,
    first_day: date,
    days: int,
    *,
    conversations: int = 40,
) -> list[Event]:
    """`count` events with ids first_id.. on local days [first_day, first_day + days) of the zone.

    Handoffs repeat a small pool of conversations (so distinct counting matters); some events sit
    exactly on a local midnight or one microsecond before the next; ids, values and dimensions
    are sometimes None.
    """
    rng = random.Random(seed)
    zone = ZoneInfo(zone_name)
    bounds = [
        (
            local_midnight(first_day + timedelta(days=n), zone),
            local_midnight(first_day + timedelta(days=n + 1), zone),
        )
        for n in range(days)
    ]
    names = [name for name, _ in NAMES]
    weights = [weight for _, weight in NAMES]
    events = []
    for event_id in range(first_id, first_id + count):
        start, end = rng.choice(bounds)
        roll = rng.random()
        if roll < 0.03:
            at = start
        elif roll < 0.06:
            at = end - timedelta(microseconds=1)
        else:
            at = start + timedelta(
                microseconds=rng.randrange((end - start) // timedelta(microseconds=1))
            )
        name = rng.choices(names, weights)[0]
        events.append(
            Event(
                id=event_id,
                name=name,
                account_id=account_id,
                created_at=at,
                value=None if rng.random() < 0.1 else round(rng.uniform(0, 7200), 3),
                value_in_business_hours=None
                if rng.random() < 0.2
                else round(rng.uniform(0, 3600), 3),
                user_id=None if rng.random() < 0.1 else rng.randint(1, 6),
                inbox_id=None if rng.random() < 0.05 else rng.randint(1, 3),
                conversation_id=None if rng.random() < 0.1 else rng.randint(1, conversations),
            )
        )
    return events


@attrs.frozen
class Scenario:
    """The concurrency run: accounts, days, how many events, writers and batches."""

    seed: int = 20261101
    #: (account_id, reporting zone); the second account's zone is switched away and back.
    accounts: tuple[tuple[int, str], ...] = ((11, "America/New_York"), (22, "Asia/Kolkata"))
    first_day: date = date(2026, 10, 30)  # America/New_York falls back on 2026-11-01
    days: int = 5
    events_per_account: int = 3500
    writers: int = 4
    batch_size: int = 250
    retract_every: int = 3  #: a writer retracts some ids after every n-th batch
    detour_zone: str = "Europe/London"  #: the maintainer moves account 2 here and back
    host_events_per_account: int = 1000  #: written straight to the raw table by `run_host`
    host_batch_size: int = 40

    @property
    def last_day(self) -> date:
        """The last local day with events."""
        return self.first_day + timedelta(days=self.days - 1)


def scenario_events(scenario: Scenario) -> dict[int, Event]:
    """Every distinct event of the scenario, by id."""
    events: dict[int, Event] = {}
    for number, (account_id, zone) in enumerate(scenario.accounts):
        for event in make_events(
            scenario.seed + number,
            1 + number * scenario.events_per_account,
            scenario.events_per_account,
            account_id,
            zone,
            scenario.first_day,
            scenario.days,
        ):
            events[event.id] = event
    return events


def host_events(scenario: Scenario) -> list[Event]:
    """Events the host application writes to `reporting_events` itself (ids after the live
    ones), on the same accounts and days; in creation order."""
    events: list[Event] = []
    first_id = 1 + scenario.events_per_account * len(scenario.accounts)
    for number, (account_id, zone) in enumerate(scenario.accounts):
        events += make_events(
            scenario.seed + 100 + number,
            first_id + number * scenario.host_events_per_account,
            scenario.host_events_per_account,
            account_id,
            zone,
            scenario.first_day,
            scenario.days,
        )
    random.Random(scenario.seed).shuffle(events)
    return events


def writer_actions(scenario: Scenario, index: int) -> list[tuple[str, list[int]]]:
    """The ("record", ids) and ("retract", ids) calls writer `index` makes, in order.

    Every id goes to writer id % writers and to each other writer with probability 0.35; batches
    repeat ids within themselves and redeliver ids of earlier batches; retractions take back ids
    already sent (other writers may deliver them again later) plus one id never stored.
    """
    rng = random.Random(scenario.seed * 1000 + index)
    total = scenario.events_per_account * len(scenario.accounts)
    mine = [
        event_id
        for event_id in range(1, total + 1)
        if event_id % scenario.writers == index or rng.random() < 0.35
    ]
    rng.shuffle(mine)
    actions: list[tuple[str, list[int]]] = []
    sent: list[int] = []
    for number, start in enumerate(range(0, len(mine), scenario.batch_size)):
        fresh = mine[start : start + scenario.batch_size]
        batch = fresh + rng.sample(fresh, len(fresh) // 20)
        if sent:
            batch += rng.sample(sent, min(len(sent), len(fresh) // 10))
        rng.shuffle(batch)
        actions.append(("record", batch))
        sent.extend(fresh)
        if number % scenario.retract_every == scenario.retract_every - 1:
            retractable = [event_id for event_id in sent if event_id % 13 == 0]
            chosen = rng.sample(retractable, min(len(retractable), 25))
            actions.append(("retract", [*chosen, 10**9 + index]))
    return actions


# --- child processes -------------------------------------------------------------------------


def _report(results: Any, who: str, work: Any) -> None:
    try:
        payload = work()
    except BaseException:
        results.put(("error", who, traceback.format_exc()))
    else:
        results.put(("ok", who, payload))


def retract_by_account(rollups: Any, events: Mapping[int, Event], ids: list[int]) -> Counter[str]:
    """`retract(ids, account_id=...)` once per account of the ids (the form every backend
    takes, Citus included), its results summed."""
    totals: Counter[str] = Counter()
    by_account: dict[int, list[int]] = {}
    for event_id in ids:
        by_account.setdefault(events[event_id].account_id, []).append(event_id)
    for account_id, group in sorted(by_account.items()):
        totals.update(attrs.asdict(rollups.retract(group, account_id=account_id)))
    return totals


@contextlib.contextmanager
def _host_transactions(url: str, index: int) -> Iterator[Callable[[], Any]]:
    """Host-owned transactions for writer `index` (`run_writer` with `through_host`): a
    function opening one (a context manager yielding the connection), on a SQLAlchemy engine
    of the host's for even writers, on one bare psycopg connection for odd ones."""
    if index % 2 == 0:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            yield engine.begin
        finally:
            engine.dispose()
        return
    with psycopg.connect(url) as connection:

        @contextlib.contextmanager
        def transaction() -> Iterator[Any]:
            with connection.transaction():
                yield connection

        yield transaction


def run_writer(
    url: str, scenario: Scenario, index: int, barrier: Any, results: Any, through_host: bool = False
) -> None:
    """A live writer: after the barrier, make `writer_actions(scenario, index)`. With
    `through_host`, each call runs in a transaction of the host's own (`Rollups.using`), which
    also counts the call in the host's table `host_writer_calls` and commits both together."""

    def work() -> dict[str, int]:
        events = scenario_events(scenario)
        actions = writer_actions(scenario, index)
        totals: Counter[str] = Counter()
        with contextlib.ExitStack() as stack:
            rollups = stack.enter_context(open_rollups(url, migrate=False, clock=fixed_clock))
            host = stack.enter_context(_host_transactions(url, index)) if through_host else None
            barrier.wait(timeout=120)
            for kind, ids in actions:
                with host() if host is not None else contextlib.nullcontext() as connection:
                    target = rollups if connection is None else rollups.using(connection)
                    if kind == "record":
                        recorded = target.record(events[event_id] for event_id in ids)
                        totals.update(attrs.asdict(recorded))
                    else:
                        retracted = target.retract(ids)
                        totals.update(attrs.asdict(retracted))
                    if connection is not None:
                        _count_host_call(connection, index)
                totals["calls"] += 1
        return dict(totals)

    _report(results, f"writer {index}", work)


#: The host's own table of `run_writer(through_host=True)`: one row per call, per writer.
HOST_CALLS_TABLE = "CREATE TABLE IF NOT EXISTS host_writer_calls (writer INTEGER, call_at TEXT)"


def _count_host_call(connection: Any, index: int) -> None:
    statement = f"INSERT INTO host_writer_calls (writer, call_at) VALUES ({int(index)}, 'now')"
    if isinstance(connection, psycopg.Connection):
        connection.execute(statement)
    else:
        connection.execute(text(statement))


def run_maintainer(
    url: str, scenario: Scenario, barrier: Any, stop: Any, results: Any, max_rounds: int = 30
) -> None:
    """Backfills every account's days over and over (chunks of 2 days) while the writers run;
    in its first rounds moves the second account to `detour_zone` and back (each a full
    rebuild). Stops when `stop` is set (after at least 3 rounds) or after `max_rounds`."""

    def work() -> dict[str, int]:
        detour_account, home_zone = scenario.accounts[1]
        done: Counter[str] = Counter()
        with open_rollups(url, migrate=False, clock=fixed_clock, chunk_days=2) as rollups:
            barrier.wait(timeout=120)
            for round_number in range(max_rounds):
                if round_number >= 3 and stop.is_set():
                    break
                for account_id, _zone in scenario.accounts:
                    backfilled = rollups.backfill(account_id, scenario.first_day, scenario.last_day)
                    done["backfills"] += 1
                    done["backfilled_events"] += backfilled.events
                if round_number in (0, 1):
                    zone = scenario.detour_zone if round_number == 0 else home_zone
                    rollups.set_timezone(detour_account, zone)
                    done["timezone_changes"] += 1
                done["rounds"] += 1
        return dict(done)

    _report(results, "maintainer", work)


def run_host(url: str, scenario: Scenario, barrier: Any, results: Any) -> None:
    """The host application: after the barrier, writes `host_events` straight into the raw
    table, a small transaction per batch, without the library."""

    def work() -> dict[str, int]:
        events = host_events(scenario)
        barrier.wait(timeout=120)
        for start in range(0, len(events), scenario.host_batch_size):
            insert_raw(url, events[start : start + scenario.host_batch_size])
        return {"inserted": len(events)}

    _report(results, "host", work)


@attrs.frozen
class CrashSpec:
    """One account's events for the crash tests (see `make_events`)."""

    seed: int
    account_id: int
    zone: str
    first_day: date
    days: int
    count: int
    first_id: int = 1

    def events(self) -> list[Event]:
        """The events, ids first_id.. first_id + count - 1."""
        return make_events(
            self.seed,
            self.first_id,
            self.count,
            self.account_id,
            self.zone,
            self.first_day,
            self.days,
            conversations=400,
        )


def run_record(url: str, spec: CrashSpec, ready: Any, results: Any) -> None:
    """Record all of the spec's events in one call; `ready` is set just before the call."""

    def work() -> dict[str, Any]:
        events = spec.events()
        with open_rollups(url, migrate=False, clock=fixed_clock) as rollups:
            ready.set()
            return attrs.asdict(rollups.record(events))

    _report(results, "record", work)


def run_backfill(
    url: str,
    account_id: int,
    since: date,
    until: date,
    chunk_days: int,
    chunks_done: Any,
    results: Any,
) -> None:
    """Backfill [since, until] in chunks; `chunks_done.value` counts the committed chunks."""

    def work() -> dict[str, int]:
        def progress(done: int, total: int, last_day: date) -> None:
            chunks_done.value += 1

        with open_rollups(url, migrate=False, clock=fixed_clock, chunk_days=chunk_days) as rollups:
            result = rollups.backfill(account_id, since, until, progress)
        return {"events": result.events, "rows": result.rows}

    _report(results, "backfill", work)


# --- parent side: raw rows, the reference aggregation, comparisons ---------------------------


class RawRow(NamedTuple):
    """A `reporting_events` row as the reference needs it (created_at aware UTC)."""

    id: int
    name: str
    account_id: int
    created_at: datetime
    value: float | None
    value_in_business_hours: float | None
    user_id: int | None
    inbox_id: int | None
    conversation_id: int | None


RefKey = tuple[int, date, str, int, str]  #: (account_id, date, dimension_type, id, metric)
RefRow = tuple[int, float, float]  #: (count, sum_value, sum_value_business_hours)

#: The seed spec's registry, restated: event name -> [(metric, payload)].
_REFERENCE_RULES: dict[str, list[tuple[str, str]]] = {
    "conversation_resolved": [("resolutions_count", "count"), ("resolution_time", "duration")],
    "first_response": [("first_response", "duration")],
    "reply_time": [("reply_time", "duration")],
    "conversation_bot_resolved": [("bot_resolutions_count", "count")],
    HANDOFF: [("bot_handoffs_count", "distinct")],
}
#: Names that contribute to some rollup (the others are recorded as `unsupported`).
SUPPORTED_NAMES = frozenset(_REFERENCE_RULES)


def read_raw(url: str, account_id: int) -> list[RawRow]:
    """The account's raw events, read back with psycopg."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT id, name, account_id, created_at, value, value_in_business_hours, user_id,"
            " inbox_id, conversation_id FROM reporting_events WHERE account_id = %s ORDER BY id",
            (account_id,),
        ).fetchall()
    return [RawRow(row[0], row[1], row[2], row[3].replace(tzinfo=UTC), *row[4:]) for row in rows]


def as_raw(events: Iterable[Event]) -> list[RawRow]:
    """Events as raw rows (for a reference of events not read from the database)."""
    return [
        RawRow(
            e.id,
            e.name,
            e.account_id,
            e.created_at,
            e.value,
            e.value_in_business_hours,
            e.user_id,
            e.inbox_id,
            e.conversation_id,
        )
        for e in events
    ]


def reference_rows(raw: Iterable[RawRow], zone_name: str) -> dict[RefKey, RefRow]:
    """Aggregate raw rows by local date in the zone: counts, sums (None as 0), and for handoffs
    the number of distinct conversations per (day, dimension) plus one per handoff without one."""
    zone = ZoneInfo(zone_name)
    counts: Counter[RefKey] = Counter()
    sums: defaultdict[RefKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
    conversations: defaultdict[RefKey, set[int]] = defaultdict(set)
    for row in raw:
        day = row.created_at.astimezone(zone).date()
        for dimension, dimension_id in (
            ("account", row.account_id),
            ("agent", row.user_id),
            ("inbox", row.inbox_id),
        ):
            if dimension_id is None:
                continue
            for metric, payload in _REFERENCE_RULES.get(row.name, []):
                key = (row.account_id, day, dimension, dimension_id, metric)
                if payload == "distinct" and row.conversation_id is not None:
                    conversations[key].add(row.conversation_id)
                    continue
                counts[key] += 1
                if payload == "duration":
                    sums[key][0] += row.value or 0.0
                    sums[key][1] += row.value_in_business_hours or 0.0
    for key, members in conversations.items():
        counts[key] += len(members)
    return {key: (n, *sums.get(key, (0.0, 0.0))) for key, n in counts.items() if n}


def as_reference(rows: Iterable[tuple[RollupKey, MetricContribution]]) -> dict[RefKey, RefRow]:
    """Stored rollup rows in the reference's shape."""
    return {
        (key.account_id, key.date, str(key.dimension_type), key.dimension_id, str(key.metric)): (
            value.count,
            value.sum_value,
            value.sum_value_business_hours,
        )
        for key, value in rows
    }


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def differences(actual: dict[RefKey, RefRow], expected: dict[RefKey, RefRow]) -> list[str]:
    """Readable differences (at most 20): counts exact, sums up to float addition order."""
    found = []
    for key in sorted(actual.keys() | expected.keys()):
        have, want = actual.get(key), expected.get(key)
        same = (
            have is not None
            and want is not None
            and have[0] == want[0]
            and _close(have[1], want[1])
            and _close(have[2], want[2])
        )
        if not same:
            found.append(f"{key}: stored {have}, expected {want}")
    return found[:20]


def on_dates(rows: dict[RefKey, RefRow], dates: Iterable[date]) -> dict[RefKey, RefRow]:
    """The rows whose date is among `dates`."""
    wanted = set(dates)
    return {key: value for key, value in rows.items() if key[1] in wanted}


def raw_values(e: Event) -> tuple[Any, ...]:
    """The values of `RAW_COLUMNS` for an event, as the host writes them (updated_at =
    created_at, naive UTC)."""
    at = e.created_at.replace(tzinfo=None)
    return (
        e.id,
        e.name,
        e.value,
        e.account_id,
        e.inbox_id,
        e.user_id,
        e.conversation_id,
        at,
        at,
        e.value_in_business_hours,
    )


#: The `reporting_events` columns the host writes (`raw_values`).
RAW_COLUMNS = (
    "id",
    "name",
    "value",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "updated_at",
    "value_in_business_hours",
)
_RAW_COLUMN_LIST = ", ".join(RAW_COLUMNS)


def insert_raw_uncommitted(connection: psycopg.Connection[Any], events: Sequence[Event]) -> None:
    """Insert events into `reporting_events` in `connection`'s open transaction (the caller
    commits or rolls back): a held row lock on each id."""
    for e in events:
        connection.execute(
            f"INSERT INTO reporting_events ({_RAW_COLUMN_LIST})"
            f" VALUES ({', '.join(['%s'] * len(RAW_COLUMNS))})",
            raw_values(e),
        )


def insert_raw(url: str, events: Sequence[Event]) -> None:
    """Write events straight into `reporting_events`, as the host application does."""
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY reporting_events ({_RAW_COLUMN_LIST}) FROM STDIN") as copy,
    ):
        for e in events:
            copy.write_row(raw_values(e))


def other_backends(url: str, *, writing: bool = False) -> int:
    """Sessions on the URL's database other than this one (with `writing`, only those inside a
    transaction that has written something)."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    if writing:
        query += " AND backend_xid IS NOT NULL"
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.01) -> None:
    """Poll `condition()` until true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- the stress run: paired record/retract, redelivery, rebuilds and zone flips -------------


@attrs.frozen
class StressScenario:
    """Two accounts; the same ids recorded, redelivered and retracted by racing processes, while
    one account is rebuilt over and over and its zone flipped away and back without rebuilds."""

    seed: int = 20261201
    steady: tuple[int, str] = (31, "America/New_York")  #: recorded, retracted, backfilled
    flipped: tuple[int, str] = (32, "Asia/Kolkata")  #: also rebuilt while its zone flips
    detour_zone: str = "Pacific/Chatham"
    first_day: date = date(2026, 10, 30)
    days: int = 4
    events_per_account: int = 400
    rounds: int = 2  #: passes the recorder makes over the ids

    def events(self) -> dict[int, Event]:
        """Every event of the run, by id (the steady account's first)."""
        found: dict[int, Event] = {}
        for number, (account_id, zone) in enumerate((self.steady, self.flipped)):
            for event in make_events(
                self.seed + number,
                1 + number * self.events_per_account,
                self.events_per_account,
                account_id,
                zone,
                self.first_day,
                self.days,
                conversations=15,
            ):
                found[event.id] = event
        return found


def run_stress_role(
    url: str,
    scenario: StressScenario,
    role: str,
    barrier: Any,
    cursor: Any,
    finished: Any,
    results: Any,
) -> None:
    """One racer of the stress run. The "recorder" walks the ids in order, one event per call
    (with the next id redelivered), publishing the id it is at in `cursor`; the "retracter"
    retracts the ids at the cursor and the "redeliverer" records them again, so that their calls
    collide with the recorder's; the "rebuilder" rebuilds the flipped account and backfills the
    steady one; the "flipper" moves the flipped account's zone away and back with
    rebuild=False. Every role but the recorder runs until `finished` is set."""

    def work() -> dict[str, int]:
        from reporting_rollups.domain.errors import ZoneChangedError

        events = scenario.events()
        ids = sorted(events)
        rng = random.Random(f"{scenario.seed}-{role}")
        done: Counter[str] = Counter()

        def around_cursor(*offsets: int) -> list[int]:
            at = int(cursor.value)
            return [at + offset for offset in offsets if at + offset in events]

        # The redeliverer's batches of three take the steps of a large batch (`step_events`).
        steps = 1 if role == "redeliverer" else STEP_EVENTS
        with open_rollups(
            url, migrate=False, clock=fixed_clock, chunk_days=1, step_events=steps
        ) as rollups:
            barrier.wait(timeout=120)
            if role == "recorder":
                for _ in range(scenario.rounds):
                    for index, event_id in enumerate(ids):
                        cursor.value = event_id
                        batch = [events[i] for i in ids[index : index + 2]]
                        done.update(attrs.asdict(rollups.record(batch)))
                finished.set()
            while role != "recorder" and not finished.is_set():
                if role == "retracter":
                    done.update(retract_by_account(rollups, events, around_cursor(0, 1, -1)))
                elif role == "redeliverer":
                    batch = [events[i] for i in around_cursor(-1, 0, -2)]
                    done.update(attrs.asdict(rollups.record(batch)))
                elif role == "rebuilder":
                    try:
                        rollups.rebuild(scenario.flipped[0])
                        done["rebuilds"] += 1
                    except ZoneChangedError:
                        done["rebuilds_interrupted"] += 1
                    rollups.backfill(
                        scenario.steady[0],
                        scenario.first_day,
                        scenario.first_day + timedelta(days=scenario.days - 1),
                    )
                    done["backfills"] += 1
                elif role == "flipper":
                    account_id, zone = scenario.flipped
                    rollups.set_timezone(account_id, scenario.detour_zone, rebuild=False)
                    rollups.set_timezone(account_id, zone, rebuild=False)
                    done["flips"] += 1
                    time.sleep(rng.uniform(0, 0.05))
        return dict(done)

    _report(results, role, work)

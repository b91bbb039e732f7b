"""SQLite's rebuild and `verify` find a day's raw events by searching the reference index
(account_id, name, created_at) per local day and name. On a host table without that index, or
with more names than one statement can bind, they search per day with no index named. Each
search gives exactly what the in-memory reference gives (issue 9: the generic SQL rebuild that
used to be this fallback ran under no test and is gone)."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.sql.tables import EVENT_COLUMNS
from reporting_rollups.adapters.sqlite import rebuild, sqlite_path
from reporting_rollups.adapters.sqlite.driver import EVENT_INSERT, event_row
from reporting_rollups.domain.events import Event
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock

ZONE = "America/New_York"  # 2026-11-01 is 25 hours long there
NAMES = (
    "conversation_resolved",
    "first_response",
    "reply_time",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "some_unknown_event",
)


def history(count: int = 600, seed: int = 9) -> list[Event]:
    """Events of account 1 over 40 days around the DST change, every name, repeated
    conversations (distinct handoffs), values with and without business hours."""
    rng = random.Random(seed)
    start = utc(2026, 10, 10)
    events = []
    for event_id in range(1, count + 1):
        name = rng.choice(NAMES)
        value = rng.choice([None, rng.randrange(20000) / 4])  # sums exact in any order
        events.append(
            event(
                event_id,
                name,
                at=start + timedelta(seconds=rng.randrange(40 * 86400)),
                value=value,
                business=None if value is None else value / 2,
                user_id=rng.choice([None, 1, 2, 3]),
                inbox_id=rng.choice([None, 7, 8]),
                conversation_id=rng.choice([None, *range(1, 20)]),
            )
        )
    return events


def rolled_up(url: str, events: list[Event]) -> dict[Any, Any]:
    """Record the events before the account has a zone, then set it (a rebuild of every
    day): the rows, after checking that `verify` finds nothing wrong."""
    with open_rollups(url, clock=fixed_clock) as rollups:
        rollups.record(events)
        rollups.set_timezone(1, ZONE)
        assert rollups.verify(1).mismatches == []
        return row_map(rollups.rows(1))


def drop_reference_index(url: str) -> None:
    connection = sqlite3.connect(sqlite_path(url))
    connection.execute("DROP INDEX reporting_events__account_id__name__created_at")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("search", ["indexed", "no reference index", "more names than variables"])
def test_every_search_rebuilds_and_verifies_what_memory_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, search: str
) -> None:
    events = history()
    expected = rolled_up("memory://", events)
    assert len(expected) > 100

    url = f"sqlite:///{tmp_path / 'search.db'}"
    with open_rollups(url):
        pass  # migrated
    if search == "no reference index":
        drop_reference_index(url)
    if search == "more names than variables":
        # 6 names + NULL leave no room for even one day's 3 bound values.
        monkeypatch.setattr(rebuild, "MAX_VARIABLES", 9)
    searched: list[int | None] = []
    ids_sql = rebuild._ids_sql

    def spy(days: int, names: int | None) -> str:
        searched.append(names)
        return ids_sql(days, names)

    monkeypatch.setattr(rebuild, "_ids_sql", spy)

    assert rolled_up(url, events) == expected
    if search == "indexed":
        assert searched
        assert all(names == len(NAMES) + 1 for names in searched)
    else:
        assert searched
        assert all(names is None for names in searched)


def test_verify_without_the_reference_index_still_finds_a_wrong_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wrong.db'}"
    events = history(200)
    rolled_up(url, events)
    drop_reference_index(url)
    connection = sqlite3.connect(sqlite_path(url))
    connection.execute(
        "UPDATE reporting_events_rollups SET count = count + 1 WHERE id = "
        "(SELECT min(id) FROM reporting_events_rollups)"
    )
    connection.commit()
    connection.close()
    with open_rollups(url) as rollups:
        assert len(rollups.verify(1).mismatches) == 1


def test_the_event_insert_binds_each_value_to_its_column(tmp_path: Path) -> None:
    """`event_row` spells out the values in `EVENT_COLUMNS` order: each value lands in its
    column."""
    assert EVENT_INSERT.count("?") == len(EVENT_COLUMNS)
    full = event(
        1,
        "reply_time",
        at=utc(2026, 11, 20, 12, 30),
        value=1.5,
        business=2.5,
        user_id=3,
        inbox_id=4,
        conversation_id=5,
    )
    connection = sqlite3.connect(":memory:")
    connection.execute(f"CREATE TABLE reporting_events ({', '.join(EVENT_COLUMNS)}, UNIQUE (id))")
    connection.execute(EVENT_INSERT, event_row(full, "now"))
    columns = ", ".join(EVENT_COLUMNS)
    values = connection.execute(f"SELECT {columns} FROM reporting_events").fetchone()
    stored = dict(zip(EVENT_COLUMNS, values, strict=True))
    assert stored == {
        "id": 1,
        "name": "reply_time",
        "account_id": 1,
        "created_at": "2026-11-20 12:30:00.000000",
        "value": 1.5,
        "value_in_business_hours": 2.5,
        "user_id": 3,
        "inbox_id": 4,
        "conversation_id": 5,
        "updated_at": "now",
        "event_start_time": None,
        "event_end_time": None,
    }
    timed = attrs.evolve(
        full,
        id=2,
        updated_at=utc(2026, 11, 21, 1),
        event_start_time=utc(2026, 11, 20, 12),
        event_end_time=utc(2026, 11, 20, 12, 30),
    )
    connection.execute(EVENT_INSERT, event_row(timed, "now"))
    times = connection.execute(
        "SELECT updated_at, event_start_time, event_end_time FROM reporting_events WHERE id = 2"
    ).fetchone()
    assert times == (
        "2026-11-21 01:00:00.000000",
        "2026-11-20 12:00:00.000000",
        "2026-11-20 12:30:00.000000",
    )


def test_without_the_index_each_statement_reads_the_table_once(tmp_path: Path) -> None:
    """The table is the outer loop (read once per statement of up to 64 days), the days the
    inner one; with the windows outside, a 31-day chunk read the table 31 times."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    with open_rollups(url):
        pass
    drop_reference_index(url)
    connection = sqlite3.connect(sqlite_path(url))
    connection.execute(rebuild._CREATE_IDS)
    days = 31
    params: dict[str, Any] = {"account": 1}
    for i in range(days):
        params |= {f"day{i}": f"d{i}", f"start{i}": f"s{i}", f"end{i}": f"e{i}"}
    plan = connection.execute("EXPLAIN QUERY PLAN " + rebuild._ids_sql(days, None), params)
    # (The days' VALUES are materialised first: "SCAN n CONSTANT ROWS".)
    scans = [row[3] for row in plan if row[3].startswith("SCAN") and "CONSTANT" not in row[3]]
    connection.close()
    assert scans == ["SCAN reporting_events", "SCAN windows"]

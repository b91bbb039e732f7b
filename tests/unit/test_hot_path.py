"""The live path's hot-path helpers give the same answers as the plain ones.

`local_dates` (cached local days) against `local_date`; the lazy `Deltas` against the projection's
plain deltas; the in-memory rollup store's bulk undo log against a failure halfway through a batch.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from reporting_rollups.adapters.memory import InMemoryDatabase
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import StorageError
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Deltas, project
from reporting_rollups.domain.timezones import local_date, local_dates, local_day, parse_timezone
from tests.builders import event, utc

MICROSECOND = timedelta(microseconds=1)

#: Zones with DST in both hemispheres, odd offsets, a midnight-crossing fold (St. John's 1987,
#: Casey 2010) and a skipped date (Apia 2011-12-30).
ZONES = (
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Antarctica/Casey",
    "Pacific/Apia",
    "UTC",
)
#: Instants around the transitions of `ZONES`, probed at and around local day bounds.
AROUND = (
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 5, 16),
    utc(1987, 10, 25, 3),
    utc(2010, 3, 4, 15, 30),
    utc(2011, 12, 29, 10),
)


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_dates_agree_with_local_date(zone_name: str) -> None:
    zone = parse_timezone(zone_name)
    instants: list[datetime] = []
    for around in AROUND:
        for hours in range(-30, 31):
            instants.append(around + timedelta(hours=hours, minutes=7 * hours % 60))
        first = local_date(around, zone) - timedelta(days=1)
        for n in range(4):
            bounds = local_day(first + timedelta(days=n), zone)
            instants += [bounds.start - MICROSECOND, bounds.start, bounds.end - MICROSECOND]
    random.Random(zone_name).shuffle(instants)
    dates = local_dates(zone)
    assert [dates(instant) for instant in instants] == [local_date(i, zone) for i in instants]
    # A second pass answers from the days learnt in the first.
    assert [dates(instant) for instant in instants] == [local_date(i, zone) for i in instants]


def test_local_dates_never_answer_a_skipped_date() -> None:
    apia = parse_timezone("Pacific/Apia")
    assert local_day(date(2011, 12, 30), apia).start == local_day(date(2011, 12, 31), apia).start
    dates = local_dates(apia)
    instants = [utc(2011, 12, 30, 9) + timedelta(minutes=m) for m in range(0, 48 * 60, 17)]
    assert date(2011, 12, 30) not in {dates(instant) for instant in instants}


def test_deltas_are_the_nonzero_plain_deltas() -> None:
    zone = parse_timezone("America/New_York")
    events = [
        event(1, value=120, business=45, user_id=5, inbox_id=6),
        event(2, "reply_time", value=3, inbox_id=6, at=utc(2026, 11, 21, 3)),
        event(3, "conversation_bot_handoff", conversation_id=9, inbox_id=6),
        event(4, "first_response", value=1, user_id=5),
    ]
    projection = project(events, {1: zone})
    projection.add(events[3], zone, sign=-1)
    deltas = projection.nonzero_deltas()
    expected = {key: delta for key, delta in projection.deltas.items() if delta.count}
    assert isinstance(deltas, Deltas)
    assert dict(deltas) == expected
    assert dict(deltas.items()) == expected
    assert len(deltas) == len(expected) == 8
    assert all(type(key) is RollupKey for key in deltas)
    assert all(type(value) is MetricContribution for value in deltas.values())
    for key, value in expected.items():
        assert key in deltas
        assert deltas[key] == value
    assert RollupKey(1, date(2026, 11, 20), DimensionType.AGENT, 5, Metric.FIRST_RESPONSE) not in (
        deltas
    )
    stranger: object = "not a key"
    assert stranger not in deltas
    plain = dict(deltas.rows())
    assert plain == expected
    assert [hash(key) for key in plain] == [hash(key) for key in deltas]


def test_a_batch_failing_halfway_leaves_the_rollups_as_they_were(
    rollups: Rollups, db: InMemoryDatabase
) -> None:
    rollups.set_timezone(1, "UTC")
    rollups.set_timezone(2, "UTC")
    rollups.record([event(1, "reply_time", value=5, user_id=3)])
    before = {account: dict(rows) for account, rows in db.rollups.items()}
    zone = parse_timezone("UTC")
    # Account 2 has no rows yet (its table is created by the batch); the reply_time retraction
    # of agent 4 (never recorded) makes a negative count after the other rows were written.
    batch = [
        event(2, "reply_time", value=7, user_id=3),
        event(3, "first_response", value=1, account_id=2),
    ]
    taken_back = [event(4, "reply_time", value=1, user_id=4)]
    projection = project(batch, {1: zone, 2: zone})
    projection.add_all(taken_back, {1: zone}, sign=-1)
    deltas = projection.nonzero_deltas()
    assert list(deltas)[-1].dimension_id == 4  # the failing row comes last
    with pytest.raises(StorageError), rollups.uow_factory() as uow:
        uow.rollups.add(deltas)
    assert {account: dict(rows) for account, rows in db.rollups.items() if rows} == before
    assert 2 not in db.rollups


def test_updated_rows_keep_their_rollup_keys(rollups: Rollups, db: InMemoryDatabase) -> None:
    rollups.set_timezone(1, "UTC")
    for n in range(1, 4):
        rollups.record([event(n, "reply_time", value=n, user_id=3, inbox_id=2)])
    rows = db.rollups[1]
    assert len(rows) == 3
    assert all(type(key) is RollupKey for key in rows)
    assert all(value == MetricContribution(3, 6.0, 0.0) for value in rows.values())


def test_events_are_bucketed_like_local_date_across_a_dst_change() -> None:
    zone = parse_timezone("America/New_York")
    start = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    events = [
        event(n, "reply_time", value=1.0, at=start + timedelta(minutes=37 * n))
        for n in range(1, 80)
    ]
    counts: dict[date, int] = {}
    for e in events:
        counts[local_date(e.created_at, zone)] = counts.get(local_date(e.created_at, zone), 0) + 1
    rows = project(events, {1: zone}).totals()
    assert {key.date: value.count for key, value in rows.items()} == counts

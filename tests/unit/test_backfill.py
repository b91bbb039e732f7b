"""Backfill on the in-memory adapter: ranges, atomic days, progress, failures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import InvalidRangeError, RollupError
from reporting_rollups.domain.events import Event
from tests.builders import event, utc
from tests.conftest import fixed_clock
from tests.reference import assert_rollups_match, plain_rows, reference_rows


def host_write(rollups: Rollups, events: Sequence[Event]) -> None:
    """Put events in the raw table the way a host application does (no rollup)."""
    with rollups.uow_factory() as uow:
        uow.events.add(sorted(events, key=lambda e: e.id))
        uow.commit()


def dates(rollups: Rollups, account_id: int = 1) -> list[date]:
    return sorted({key.date for key, _ in rollups.rows(account_id)})


@pytest.fixture
def chunked() -> Iterator[Rollups]:
    """Rollups whose backfills commit one local day at a time."""
    with open_rollups("memory://", clock=fixed_clock, chunk_days=1) as opened:
        yield opened


# The fixed clock says 2026-11-23 12:00 UTC: 07:00 in New York, 02:00 on the 24th in Kiritimati.
NY_EVENTS = [
    event(1, "reply_time", value=1, at=utc(2026, 11, 10, 15)),
    event(2, "reply_time", value=2, at=utc(2026, 11, 1, 4, 30)),  # 00:30 EDT, first midnight
    event(3, "reply_time", value=3, at=utc(2026, 11, 2, 4, 30)),  # 23:30 EST on 11-01
    event(4, "reply_time", value=4, at=utc(2026, 11, 23, 4, 59)),  # 23:59 on 11-22
    event(5, "reply_time", value=5, at=utc(2026, 11, 23, 5, 0)),  # today
    event(6, "reply_time", value=6, at=utc(2026, 12, 1, 5, 0)),  # future
]


def configure_without_rebuild(rollups: Rollups, zone: str, events: Sequence[Event]) -> None:
    rollups.set_timezone(1, zone, rebuild=False)
    host_write(rollups, events)


def test_explicit_since_alone_runs_to_yesterday(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "America/New_York", NY_EVENTS)
    result = rollups.backfill(1, since=date(2026, 11, 5))
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 5), date(2026, 11, 22))
    assert dates(rollups) == [date(2026, 11, 10), date(2026, 11, 22)]


def test_explicit_until_alone_starts_at_the_first_event(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "America/New_York", NY_EVENTS)
    result = rollups.backfill(1, until=date(2026, 11, 5))
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 1), date(2026, 11, 5))
    assert dates(rollups) == [date(2026, 11, 1)]


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-11-01", None),
        (None, datetime(2026, 11, 1)),
        (20261101, None),
    ],
)
def test_range_bounds_must_be_dates(rollups: Rollups, since: object, until: object) -> None:
    rollups.set_timezone(1, "UTC")
    with pytest.raises(InvalidRangeError, match=r"must be a datetime\.date"):
        rollups.backfill(1, since, until)  # type: ignore[arg-type]


def test_backfill_is_idempotent_and_agrees_with_live(rollups: Rollups) -> None:
    rollups.set_timezone(1, "America/New_York")
    events = [
        *NY_EVENTS,
        event(10, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 1, 4, 30)),
        event(11, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 2, 4, 30)),
        event(12, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 2, 5, 30)),
        event(13, "conversation_bot_handoff", at=utc(2026, 11, 2, 5, 30)),
    ]
    rollups.record(events)
    live = rollups.rows(1)
    rollups.backfill(1, date(2026, 10, 30), date(2026, 12, 2))
    assert rollups.rows(1) == live
    rollups.backfill(1, date(2026, 10, 30), date(2026, 12, 2))
    assert rollups.rows(1) == live
    assert_rollups_match(rollups, 1, "America/New_York", events)


def test_progress_with_the_default_chunk_size(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    calls: list[tuple[int, int, date]] = []
    rollups.backfill(1, date(2026, 1, 1), date(2026, 3, 1), progress=lambda *a: calls.append(a))
    assert calls == [(31, 60, date(2026, 1, 31)), (60, 60, date(2026, 3, 1))]


def test_timezone_change_during_a_backfill_stops_it(chunked: Rollups) -> None:
    configure_without_rebuild(chunked, "UTC", [event(1, at=utc(2026, 11, 1, 12))])

    def change_zone(done: int, total: int, last_day: date) -> None:
        if done == 1:
            chunked.set_timezone(1, "Asia/Tokyo", rebuild=False)

    with pytest.raises(RollupError, match="changed"):
        chunked.backfill(1, date(2026, 11, 1), date(2026, 11, 3), progress=change_zone)
    assert chunked.rows(1) == []
    assert chunked.account(1).timezone == "Asia/Tokyo"


def test_backfill_over_dst_days_matches_the_reference(rollups: Rollups) -> None:
    events = [
        event(
            n,
            "first_response",
            value=n,
            at=utc(2026, 10, 31, 20) + (n * (utc(2026, 1, 1, 1) - utc(2026, 1, 1))),
        )
        for n in range(1, 40)
    ]
    configure_without_rebuild(rollups, "America/New_York", events)
    rollups.backfill(1)
    expected = reference_rows(events, "America/New_York")
    assert plain_rows(rollups.rows(1)) == expected
    by_day = {key[1]: value for key, value in expected.items()}
    assert by_day[date(2026, 11, 1)][0] == 25

"""Backfill on the in-memory adapter: ranges, atomic days, progress, failures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

import pytest

from adapters import open_rollups
from adapters.memory import InMemoryDatabase, InMemoryRollupStore
from application.backfill import BackfillPlan
from application.ports import RebuildStats
from application.service import Rollups
from domain.errors import AccountNotConfiguredError, InvalidRangeError, RollupError
from domain.events import Event
from domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from domain.timezones import LocalDay
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock
from tests.reference import assert_rollups_match, plain_rows, reference_rows


def host_write(rollups: Rollups, events: Sequence[Event]) -> None:
    """Put events in the raw table the way a host application does (no rollup)."""
    with rollups.uow_factory() as uow:
        uow.events.add(sorted(events, key=lambda e: e.id))
        uow.commit()


def tamper(rollups: Rollups, key: RollupKey, delta: MetricContribution) -> None:
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: delta})
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


def test_default_range_is_first_local_day_with_events_to_yesterday(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "America/New_York", NY_EVENTS)
    plan = rollups.backfiller.plan(1)
    assert plan == BackfillPlan(
        account_id=1,
        timezone="America/New_York",
        since=date(2026, 11, 1),
        until=date(2026, 11, 22),
        first_event=date(2026, 11, 1),
        last_event=date(2026, 12, 1),
    )
    assert plan.days == 22
    result = rollups.backfill(1)
    assert result.plan == plan
    assert result.events == 4
    assert dates(rollups) == [date(2026, 11, 1), date(2026, 11, 10), date(2026, 11, 22)]
    assert row_map(rollups.rows(1))[(date(2026, 11, 1), "account", 1, "reply_time")] == (
        2,
        5.0,
        0.0,
    )
    assert_rollups_match(rollups, 1, "America/New_York", NY_EVENTS[:4])


def test_yesterday_is_in_the_accounts_zone(rollups: Rollups) -> None:
    events = [
        event(1, "reply_time", at=utc(2026, 11, 23, 9, 59)),  # 23:59 on 11-23 in Kiritimati
        event(2, "reply_time", at=utc(2026, 11, 23, 10, 0)),  # 00:00 on 11-24: today there
    ]
    configure_without_rebuild(rollups, "Pacific/Kiritimati", events)
    assert rollups.backfiller.plan(1).until == date(2026, 11, 23)
    rollups.backfill(1)
    assert dates(rollups) == [date(2026, 11, 23)]
    assert row_map(rollups.rows(1)) == {
        (date(2026, 11, 23), "account", 1, "reply_time"): (1, 0.0, 0.0)
    }


def test_explicit_range_may_include_today_and_the_future(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "America/New_York", NY_EVENTS)
    result = rollups.backfill(1, date(2026, 11, 22), date(2026, 12, 1))
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 22), date(2026, 12, 1))
    assert result.events == 3
    assert dates(rollups) == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 12, 1)]


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


def test_since_after_until_is_an_error(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    with pytest.raises(InvalidRangeError, match=r"2026-11-05.*2026-11-01"):
        rollups.backfill(1, date(2026, 11, 5), date(2026, 11, 1))


def test_explicit_since_after_yesterday_without_until_is_an_error(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    with pytest.raises(InvalidRangeError):
        rollups.backfill(1, since=date(2026, 11, 23))


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


def test_account_without_timezone_raises(rollups: Rollups) -> None:
    rollups.record([event(1)])
    with pytest.raises(AccountNotConfiguredError, match="account 1") as caught:
        rollups.backfill(1)
    assert caught.value.account_id == 1
    assert isinstance(caught.value, RollupError)


def test_account_without_events_has_nothing_to_do(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    result = rollups.backfill(1)
    assert (result.plan.since, result.plan.until, result.events, result.rows) == (
        None,
        None,
        0,
        0,
    )
    assert result.plan.days == 0


def test_backfill_replaces_stale_rows_and_counts_what_it_wrote(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    rollups.record([event(1, "reply_time", value=2, user_id=4)])
    bogus = RollupKey(1, date(2026, 11, 18), DimensionType.INBOX, 9, Metric.FIRST_RESPONSE)
    tamper(rollups, bogus, MetricContribution(3, 1.0, 1.0))
    wrong = RollupKey(1, date(2026, 11, 20), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    tamper(rollups, wrong, MetricContribution(5, 5.0, 0.0))
    outside = RollupKey(1, date(2026, 11, 10), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    tamper(rollups, outside, MetricContribution(1, 0.0, 0.0))
    result = rollups.backfill(1, date(2026, 11, 15), date(2026, 11, 21))
    assert (result.events, result.rows) == (1, 2)
    assert row_map(rollups.rows(1)) == {
        (date(2026, 11, 10), "account", 1, "reply_time"): (1, 0.0, 0.0),
        (date(2026, 11, 20), "account", 1, "reply_time"): (1, 2.0, 0.0),
        (date(2026, 11, 20), "agent", 4, "reply_time"): (1, 2.0, 0.0),
    }


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


def test_events_backfilled_are_not_rolled_up_again_by_record(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "UTC", [event(1, "reply_time", value=3)])
    rollups.backfill(1)
    assert rollups.record([event(1, "reply_time", value=3)]).rolled_up == 0
    assert row_map(rollups.rows(1)) == {
        (date(2026, 11, 20), "account", 1, "reply_time"): (1, 3.0, 0.0)
    }


def test_backfill_then_retract(rollups: Rollups) -> None:
    configure_without_rebuild(rollups, "UTC", [event(1, "reply_time", value=3)])
    rollups.backfill(1)
    assert rollups.retract([1]).rolled_back == 1
    assert rollups.rows(1) == []


def test_progress_is_reported_after_each_chunk(chunked: Rollups) -> None:
    chunked.set_timezone(1, "UTC")
    calls: list[tuple[int, int, date]] = []
    chunked.backfill(
        1, date(2026, 11, 1), date(2026, 11, 3), progress=lambda *args: calls.append(args)
    )
    assert calls == [
        (1, 3, date(2026, 11, 1)),
        (2, 3, date(2026, 11, 2)),
        (3, 3, date(2026, 11, 3)),
    ]


def test_progress_with_the_default_chunk_size(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    calls: list[tuple[int, int, date]] = []
    rollups.backfill(1, date(2026, 1, 1), date(2026, 3, 1), progress=lambda *a: calls.append(a))
    assert calls == [(31, 60, date(2026, 1, 31)), (60, 60, date(2026, 3, 1))]


def test_a_failure_leaves_committed_days_done_and_the_failing_day_as_it_was(
    chunked: Rollups, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [
        event(1, "reply_time", value=1, at=utc(2026, 11, 1, 12)),
        event(2, "reply_time", value=2, at=utc(2026, 11, 2, 12)),
        event(3, "reply_time", value=3, at=utc(2026, 11, 3, 12)),
    ]
    configure_without_rebuild(chunked, "UTC", events)
    stale = RollupKey(1, date(2026, 11, 2), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    tamper(chunked, stale, MetricContribution(7, 7.0, 7.0))
    before = row_map(chunked.rows(1))

    real = InMemoryRollupStore.rebuild_days
    calls: list[date] = []

    def failing(
        self: InMemoryRollupStore, account_id: int, days: Sequence[LocalDay]
    ) -> RebuildStats:
        calls.append(days[0].date)
        stats = real(self, account_id, days)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return stats

    monkeypatch.setattr(InMemoryRollupStore, "rebuild_days", failing)
    progress: list[date] = []
    with pytest.raises(RuntimeError, match="connection lost"):
        chunked.backfill(
            1,
            date(2026, 11, 1),
            date(2026, 11, 3),
            progress=lambda _d, _t, day: progress.append(day),
        )
    assert calls == [date(2026, 11, 1), date(2026, 11, 2)]
    assert progress == [date(2026, 11, 1)]
    rows = row_map(chunked.rows(1))
    assert rows[(date(2026, 11, 1), "account", 1, "reply_time")] == (1, 1.0, 0.0)
    assert (
        rows[(date(2026, 11, 2), "account", 1, "reply_time")]
        == before[(date(2026, 11, 2), "account", 1, "reply_time")]
    )
    assert (date(2026, 11, 3), "account", 1, "reply_time") not in rows
    monkeypatch.undo()
    chunked.backfill(1, date(2026, 11, 1), date(2026, 11, 3))
    assert_rollups_match(chunked, 1, "UTC", events)


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


def test_backfill_of_a_skipped_date(rollups: Rollups, db: InMemoryDatabase) -> None:
    events = [
        event(1, "reply_time", at=utc(2011, 12, 30, 9, 59)),  # 2011-12-29 23:59 in Apia
        event(2, "reply_time", at=utc(2011, 12, 30, 10, 0)),  # 2011-12-31 00:00 in Apia
    ]
    configure_without_rebuild(rollups, "Pacific/Apia", events)
    result = rollups.backfill(1, date(2011, 12, 29), date(2011, 12, 31))
    assert result.events == 2
    assert dates(rollups) == [date(2011, 12, 29), date(2011, 12, 31)]
    assert set(db.applied) == {1, 2}

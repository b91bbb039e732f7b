"""Contract of the backfill on every backend: per local day, the rollups are replaced atomically
with the aggregation of the day's raw events (SQL backends aggregate in SQL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from types import TracebackType
from typing import Any, Self

import pytest

from reporting_rollups.application.backfill import Backfill
from reporting_rollups.application.ports import (
    RebuildStats,
    UnitOfWork,
    UnitOfWorkFactory,
    applied_ref,
)
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    InvalidRangeError,
    RollupError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.timezones import LocalDay, local_days, parse_timezone
from tests.builders import event, row_map, utc
from tests.conftest import fixed_clock
from tests.reference import assert_rollups_match, plain_rows, reference_rows

NY = "America/New_York"
# The fixed clock says 2026-11-23 12:00 UTC: 07:00 in New York.
NY_EVENTS = [
    event(1, "reply_time", value=1, at=utc(2026, 11, 10, 15)),
    event(2, "reply_time", value=2, at=utc(2026, 11, 1, 4, 30)),  # 00:30 EDT
    event(3, "reply_time", value=3, at=utc(2026, 11, 2, 4, 30)),  # 23:30 EST on 11-01
    event(4, "conversation_bot_handoff", conversation_id=1, at=utc(2026, 11, 1, 5, 30)),
    event(5, "conversation_bot_handoff", conversation_id=1, at=utc(2026, 11, 1, 6, 30)),
    event(6, "reply_time", value=4, at=utc(2026, 11, 23, 4, 59)),  # 23:59 on 11-22
    event(7, "reply_time", value=5, at=utc(2026, 11, 23, 5, 0)),  # today
    event(8, "reply_time", value=6, at=utc(2026, 12, 1, 5, 0)),  # future
]


def host_write(rollups: Rollups, events: Sequence[Event]) -> None:
    """Write raw events the way the host application does (no rollup)."""
    with rollups.uow_factory() as uow:
        uow.events.add(sorted(events, key=lambda e: e.id))
        uow.commit()


def tamper(rollups: Rollups, key: RollupKey, delta: MetricContribution) -> None:
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: delta})
        uow.commit()


def dates(rollups: Rollups, account_id: int = 1) -> list[date]:
    return sorted({key.date for key, _ in rollups.rows(account_id)})


def unbuilt(rollups: Rollups, zone: str, events: Sequence[Event]) -> Rollups:
    """Account 1 has a zone but no rollups; its raw events are in the raw table."""
    rollups.set_timezone(1, zone, rebuild=False)
    host_write(rollups, events)
    return rollups


def test_default_range_is_first_local_day_to_yesterday(backend: Rollups) -> None:
    unbuilt(backend, NY, NY_EVENTS)
    result = backend.backfill(1)
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 1), date(2026, 11, 22))
    assert (result.plan.first_event, result.plan.last_event) == (
        date(2026, 11, 1),
        date(2026, 12, 1),
    )
    assert (result.plan.account_id, result.plan.timezone, result.plan.days) == (1, NY, 22)
    assert result.plan == backend.backfiller.plan(1)
    assert result.events == 6
    assert dates(backend) == [date(2026, 11, 1), date(2026, 11, 10), date(2026, 11, 22)]
    assert_rollups_match(backend, 1, NY, NY_EVENTS[:6])
    assert row_map(backend.rows(1))[(date(2026, 11, 1), "account", 1, "bot_handoffs_count")] == (
        1,
        0.0,
        0.0,
    )


def test_yesterday_is_in_the_accounts_zone(backend: Rollups) -> None:
    unbuilt(
        backend,
        "Pacific/Kiritimati",
        [
            event(1, "reply_time", at=utc(2026, 11, 23, 9, 59)),  # 23:59 on 11-23 there
            event(2, "reply_time", at=utc(2026, 11, 23, 10, 0)),  # 00:00 on 11-24: today
        ],
    )
    assert backend.backfill(1).plan.until == date(2026, 11, 23)
    assert row_map(backend.rows(1)) == {
        (date(2026, 11, 23), "account", 1, "reply_time"): (1, 0.0, 0.0)
    }


def test_explicit_range_may_include_today_and_the_future(backend: Rollups) -> None:
    unbuilt(backend, NY, NY_EVENTS)
    result = backend.backfill(1, date(2026, 11, 22), date(2026, 12, 1))
    assert (result.plan.since, result.plan.until) == (date(2026, 11, 22), date(2026, 12, 1))
    assert result.events == 3
    assert dates(backend) == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 12, 1)]


def test_since_after_until_is_an_error(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    with pytest.raises(InvalidRangeError, match=r"2026-11-05.*2026-11-01"):
        backend.backfill(1, date(2026, 11, 5), date(2026, 11, 1))
    with pytest.raises(InvalidRangeError):
        backend.backfill(1, since=date(2026, 11, 23))


def test_account_without_timezone_raises(backend: Rollups) -> None:
    backend.record([event(1)])
    with pytest.raises(AccountNotConfiguredError, match="account 1") as caught:
        backend.backfill(1)
    assert caught.value.account_id == 1
    assert isinstance(caught.value, RollupError)


def test_account_without_events_has_nothing_to_do(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    result = backend.backfill(1)
    assert (result.plan.since, result.plan.until, result.events, result.rows) == (None, None, 0, 0)
    assert result.plan.days == 0


def test_backfill_replaces_stale_rows_inside_the_range_only(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    backend.record([event(1, "reply_time", value=2, user_id=4)])
    bogus = RollupKey(1, date(2026, 11, 18), DimensionType.INBOX, 9, Metric.FIRST_RESPONSE)
    wrong = RollupKey(1, date(2026, 11, 20), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    outside = RollupKey(1, date(2026, 11, 10), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    other_account = RollupKey(2, date(2026, 11, 20), DimensionType.ACCOUNT, 2, Metric.REPLY_TIME)
    tamper(backend, bogus, MetricContribution(3, 1.0, 1.0))
    tamper(backend, wrong, MetricContribution(5, 5.0, 0.0))
    tamper(backend, outside, MetricContribution(1, 0.0, 0.0))
    tamper(backend, other_account, MetricContribution(1, 0.0, 0.0))
    result = backend.backfill(1, date(2026, 11, 15), date(2026, 11, 21))
    assert (result.events, result.rows) == (1, 2)
    assert row_map(backend.rows(1)) == {
        (date(2026, 11, 10), "account", 1, "reply_time"): (1, 0.0, 0.0),
        (date(2026, 11, 20), "account", 1, "reply_time"): (1, 2.0, 0.0),
        (date(2026, 11, 20), "agent", 4, "reply_time"): (1, 2.0, 0.0),
    }
    assert len(backend.rows(2)) == 1


def test_backfill_agrees_with_live_and_is_idempotent(backend: Rollups) -> None:
    backend.set_timezone(1, NY)
    extra = [
        event(10, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 1, 4, 30)),
        event(11, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 2, 4, 30)),
        event(12, "conversation_bot_handoff", conversation_id=3, at=utc(2026, 11, 2, 5, 30)),
        event(13, "conversation_bot_handoff", at=utc(2026, 11, 2, 5, 30)),
        event(14, "conversation_bot_handoff", at=utc(2026, 11, 2, 5, 31)),
        event(15, "conversation_resolved", value=None, business=3.0, user_id=2, inbox_id=2),
        event(16, "conversation_created", value=1.0, user_id=2),
        event(17, "conversation_bot_resolved", inbox_id=3, at=utc(2026, 11, 2, 4, 59, 59)),
    ]
    events = NY_EVENTS + extra
    backend.record(events)
    live = backend.rows(1)
    first = backend.backfill(1, date(2026, 10, 30), date(2026, 12, 2))
    assert first.events == len(events)
    assert plain_rows(backend.rows(1)) == plain_rows(live)
    backend.backfill(1, date(2026, 10, 30), date(2026, 12, 2))
    assert plain_rows(backend.rows(1)) == plain_rows(live)
    assert_rollups_match(backend, 1, NY, events)


def test_backfilled_events_are_not_rolled_up_again(backend: Rollups) -> None:
    unbuilt(backend, "UTC", [event(1, "reply_time", value=3)])
    backend.backfill(1)
    assert backend.record([event(1, "reply_time", value=3)]).rolled_up == 0
    assert row_map(backend.rows(1)) == {
        (date(2026, 11, 20), "account", 1, "reply_time"): (1, 3.0, 0.0)
    }
    assert backend.retract([1], account_id=1).rolled_back == 1
    assert backend.rows(1) == []


def test_live_writes_after_a_backfill_keep_the_invariant(backend: Rollups) -> None:
    unbuilt(backend, NY, NY_EVENTS[:5])
    backend.backfill(1, date(2026, 10, 31), date(2026, 11, 23))
    late = [
        event(20, "conversation_bot_handoff", conversation_id=1, at=utc(2026, 11, 1, 12)),
        event(21, "conversation_bot_handoff", conversation_id=2, at=utc(2026, 11, 1, 12)),
        event(22, "reply_time", value=9, at=utc(2026, 11, 10, 23)),
    ]
    backend.record(late)
    backend.retract([4], account_id=1)
    remaining = [e for e in NY_EVENTS[:5] + late if e.id != 4]
    assert_rollups_match(backend, 1, NY, remaining)


def test_progress_is_reported_after_each_chunk(open_backend: Callable[..., Rollups]) -> None:
    rollups = open_backend(chunk_days=2)
    rollups.set_timezone(1, "UTC")
    calls: list[tuple[int, int, date]] = []
    rollups.backfill(1, date(2026, 11, 1), date(2026, 11, 5), progress=lambda *a: calls.append(a))
    assert calls == [
        (2, 5, date(2026, 11, 2)),
        (4, 5, date(2026, 11, 4)),
        (5, 5, date(2026, 11, 5)),
    ]


class _FailingUnitOfWork:
    """A unit of work whose `rebuild_days` fails on the chosen call, after doing its work."""

    def __init__(self, inner: UnitOfWork, calls: list[date], fail_on: int) -> None:
        self._inner, self._calls, self._fail_on = inner, calls, fail_on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        self._calls.append(days[0].date)
        stats = self._inner.rebuild_days(account_id, days)
        if len(self._calls) == self._fail_on:
            raise RuntimeError("connection lost")
        return stats

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, traceback)

    def commit(self) -> None:
        self._inner.commit()


def test_a_failure_leaves_committed_days_done_and_the_failing_day_as_it_was(
    backend: Rollups,
) -> None:
    events = [
        event(1, "reply_time", value=1, at=utc(2026, 11, 1, 12)),
        event(2, "reply_time", value=2, at=utc(2026, 11, 2, 12)),
        event(3, "reply_time", value=3, at=utc(2026, 11, 3, 12)),
    ]
    unbuilt(backend, "UTC", events)
    stale = RollupKey(1, date(2026, 11, 2), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    tamper(backend, stale, MetricContribution(7, 7.0, 7.0))
    calls: list[date] = []
    inner: UnitOfWorkFactory = backend.uow_factory

    def factory(*, read_only: bool = False) -> UnitOfWork:
        return _FailingUnitOfWork(inner(read_only=read_only), calls, fail_on=2)

    backfill = Backfill(uow_factory=factory, clock=fixed_clock, chunk_days=1)
    progress: list[date] = []
    plan = backfill.plan(1, date(2026, 11, 1), date(2026, 11, 3))
    with pytest.raises(RuntimeError, match="connection lost"):
        backfill.run(plan, progress=lambda _done, _total, day: progress.append(day))
    assert calls == [date(2026, 11, 1), date(2026, 11, 2)]
    assert progress == [date(2026, 11, 1)]
    assert row_map(backend.rows(1)) == {
        (date(2026, 11, 1), "account", 1, "reply_time"): (1, 1.0, 0.0),
        (date(2026, 11, 2), "account", 1, "reply_time"): (7, 7.0, 7.0),
    }
    backend.backfill(1, date(2026, 11, 1), date(2026, 11, 3))
    assert_rollups_match(backend, 1, "UTC", events)


def test_backfill_of_a_skipped_date(backend: Rollups) -> None:
    events = [
        event(1, "reply_time", at=utc(2011, 12, 30, 9, 59)),  # 2011-12-29 23:59 in Apia
        event(2, "reply_time", at=utc(2011, 12, 30, 10, 0)),  # 2011-12-31 00:00 in Apia
    ]
    unbuilt(backend, "Pacific/Apia", events)
    result = backend.backfill(1, date(2011, 12, 29), date(2011, 12, 31))
    assert result.events == 2
    assert dates(backend) == [date(2011, 12, 29), date(2011, 12, 31)]
    assert backend.record(events).rolled_up == 0


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        ("Pacific/Chatham", date(2026, 9, 25), date(2026, 9, 28)),
        ("Australia/Lord_Howe", date(2026, 10, 2), date(2026, 10, 5)),
        ("Asia/Kathmandu", date(2026, 11, 19), date(2026, 11, 21)),
        ("America/Havana", date(2026, 10, 31), date(2026, 11, 2)),
    ],
)
def test_backfill_in_odd_zones_matches_the_reference(
    backend: Rollups, zone: str, first: date, last: date
) -> None:
    day_bounds = local_days(first, last, parse_timezone(zone))
    start, end = day_bounds[0].start - timedelta(hours=2), day_bounds[-1].end + timedelta(hours=2)
    step = (end - start) / 60
    events = [
        event(
            n,
            ("first_response", "conversation_bot_handoff")[n % 2],
            value=n,
            conversation_id=n % 3 or None,
            inbox_id=n % 2 + 1,
            at=start + n * step,
        )
        for n in range(1, 60)
    ]
    unbuilt(backend, zone, events)
    backend.backfill(1, first - timedelta(days=1), last + timedelta(days=1))
    assert plain_rows(backend.rows(1)) == reference_rows(events, zone)
    assert backend.verify(1).mismatches == []


def test_rebuild_days_and_aggregate_ports(backend: Rollups) -> None:
    events = [
        event(1, "reply_time", value=2, at=utc(2026, 11, 1, 3, 59)),
        event(2, "reply_time", value=3, at=utc(2026, 11, 1, 4, 0)),
        event(3, "conversation_bot_handoff", conversation_id=4, at=utc(2026, 11, 1, 12)),
        event(4, "conversation_bot_handoff", conversation_id=4, at=utc(2026, 11, 1, 13)),
        event(5, "reply_time", value=4, at=utc(2026, 11, 1, 3, 0), account_id=2),
    ]
    host_write(backend, events)
    days = local_days(date(2026, 11, 1), date(2026, 11, 1), parse_timezone(NY))
    expected = reference_rows([e for e in events if e.account_id == 1 and e.id > 1], NY)
    with backend.uow_factory() as uow:
        aggregated = uow.events.aggregate(1, days)
        assert plain_rows(sorted(aggregated.items())) == expected
        assert uow.events.aggregate(1, []) == {}
        stats = uow.rebuild_days(1, days)
        assert stats == RebuildStats(events=3, rows=len(expected))
        assert plain_rows(uow.rollups.rows(1)) == expected
        assert uow.ledger.mark([applied_ref(1, event_id) for event_id in (1, 2, 3, 4)]) == {1}
        uow.commit()
    with backend.uow_factory() as uow:
        assert uow.rebuild_days(1, []) == RebuildStats(0, 0)

"""Contract of `verify` on every backend: empty when exact, every kind of drift found."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from reporting_rollups.application.service import Rollups
from reporting_rollups.application.verify import Mismatch
from reporting_rollups.domain.errors import AccountNotConfiguredError, InvalidRangeError
from reporting_rollups.domain.metrics import (
    ZERO,
    DimensionType,
    Metric,
    MetricContribution,
    RollupKey,
)
from tests.builders import event, utc

DAY = date(2026, 11, 20)
ACCOUNT_REPLY = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
HANDOFFS = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT)


def tamper(rollups: Rollups, key: RollupKey, delta: MetricContribution) -> None:
    """Change a stored row through the rollup store (as a bug or a manual edit would)."""
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: delta})
        uow.commit()


@pytest.fixture
def recorded(backend: Rollups) -> Rollups:
    backend.set_timezone(1, "UTC")
    backend.record(
        [
            event(1, "reply_time", value=2.5, business=1.0),
            event(2, "reply_time", value=0.5, at=utc(2026, 11, 3, 9)),
            event(3, "conversation_bot_handoff", conversation_id=8),
            event(4, "conversation_bot_handoff", conversation_id=8),
            event(5, "conversation_bot_handoff"),
        ]
    )
    return backend


def test_exact_rollups_verify_empty(recorded: Rollups) -> None:
    assert recorded.verify(1).mismatches == []
    recorded.retract([1, 3], account_id=1)
    assert recorded.verify(1).mismatches == []
    recorded.backfill(1)
    assert recorded.verify(1).mismatches == []


def test_account_with_zone_but_nothing_stored(backend: Rollups) -> None:
    backend.set_timezone(1, "UTC")
    assert backend.verify(1).mismatches == []


def test_account_without_zone_raises(backend: Rollups) -> None:
    with pytest.raises(AccountNotConfiguredError, match="account 1"):
        backend.verify(1)
    backend.record([event(1)])
    with pytest.raises(AccountNotConfiguredError, match="account 1"):
        backend.verify(1)


def test_tampered_sum_is_found(recorded: Rollups) -> None:
    tamper(recorded, ACCOUNT_REPLY, MetricContribution(0, 0.1, 0.0))
    [mismatch] = recorded.verify(1).mismatches
    assert (mismatch.key, mismatch.expected) == (ACCOUNT_REPLY, MetricContribution(1, 2.5, 1.0))
    assert mismatch.actual.matches(MetricContribution(1, 2.6, 1.0))


def test_tampered_count_is_found(recorded: Rollups) -> None:
    tamper(recorded, HANDOFFS, MetricContribution(1, 0.0, 0.0))
    assert recorded.verify(1).mismatches == [
        Mismatch(HANDOFFS, MetricContribution(2, 0.0, 0.0), MetricContribution(3, 0.0, 0.0))
    ]


def test_missing_and_extra_rows_are_found(recorded: Rollups) -> None:
    tamper(recorded, ACCOUNT_REPLY, MetricContribution(-1, -2.5, -1.0))
    extra = RollupKey(1, date(2026, 11, 25), DimensionType.AGENT, 4, Metric.FIRST_RESPONSE)
    tamper(recorded, extra, MetricContribution(1, 1.0, 0.0))
    assert recorded.verify(1).mismatches == [
        Mismatch(ACCOUNT_REPLY, MetricContribution(1, 2.5, 1.0), ZERO),
        Mismatch(extra, ZERO, MetricContribution(1, 1.0, 0.0)),
    ]


def test_events_never_rolled_up_are_found_and_backfill_repairs(recorded: Rollups) -> None:
    with recorded.uow_factory() as uow:
        uow.events.add([event(9, "first_response", value=4, at=utc(2026, 10, 1))])
        uow.commit()
    key = RollupKey(1, date(2026, 10, 1), DimensionType.ACCOUNT, 1, Metric.FIRST_RESPONSE)
    assert recorded.verify(1).mismatches == [Mismatch(key, MetricContribution(1, 4.0, 0.0), ZERO)]
    recorded.backfill(1)
    assert recorded.verify(1).mismatches == []


def test_sums_within_float_tolerance_are_not_mismatches(recorded: Rollups) -> None:
    tamper(recorded, ACCOUNT_REPLY, MetricContribution(0, 2.5e-12, 0.0))
    assert recorded.verify(1).mismatches == []


def test_range_restricts_what_is_compared(recorded: Rollups) -> None:
    tamper(recorded, ACCOUNT_REPLY, MetricContribution(8, 8.0, 8.0))
    assert recorded.verify(1, date(2026, 11, 1), date(2026, 11, 19)).mismatches == []
    assert recorded.verify(1, since=date(2026, 11, 21)).mismatches == []
    assert [m.key for m in recorded.verify(1, until=DAY).mismatches] == [ACCOUNT_REPLY]
    assert [m.key for m in recorded.verify(1, DAY, DAY).mismatches] == [ACCOUNT_REPLY]


def test_invalid_range(recorded: Rollups) -> None:
    with pytest.raises(InvalidRangeError):
        recorded.verify(1, DAY, date(2026, 11, 1))
    with pytest.raises(InvalidRangeError):
        recorded.verify(1, "2026-11-01")  # type: ignore[arg-type]


def test_verify_does_not_write(recorded: Rollups) -> None:
    tamper(recorded, ACCOUNT_REPLY, MetricContribution(8, 8.0, 8.0))
    before = recorded.rows(1)
    recorded.verify(1)
    assert recorded.rows(1) == before


def test_verify_uses_the_accounts_zone(backend: Rollups) -> None:
    backend.set_timezone(1, "Asia/Kathmandu")
    backend.record([event(1, "reply_time", at=utc(2026, 11, 19, 18, 15))])
    assert [key.date for key, _ in backend.rows(1)] == [DAY]
    assert backend.verify(1).mismatches == []
    backend.set_timezone(1, "America/New_York")
    assert [key.date for key, _ in backend.rows(1)] == [date(2026, 11, 19)]
    assert backend.verify(1).mismatches == []


def test_verify_across_many_days_and_chunks(backend: Rollups) -> None:
    backend.set_timezone(1, "America/New_York")
    backend.record(
        [
            event(n, "reply_time", value=n / 3, at=utc(2026, 1, 1) + timedelta(days=3 * n))
            for n in range(1, 100)
        ]
    )
    assert backend.verify(1).mismatches == []
    key = RollupKey(1, date(2026, 6, 5), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    tamper(backend, key, MetricContribution(1, 0.0, 0.0))
    assert [m.key for m in backend.verify(1).mismatches] == [key]


def test_verify_reports_progress_per_chunk(open_backend: Callable[..., Rollups]) -> None:
    rollups = open_backend(chunk_days=10)
    rollups.set_timezone(1, "UTC")
    rollups.record([event(1, at=utc(2026, 11, 1)), event(2, at=utc(2026, 11, 25))])
    progress: list[tuple[int, int, date]] = []
    assert rollups.verify(1, progress=lambda *step: progress.append(step)).mismatches == []
    assert progress == [
        (10, 25, date(2026, 11, 10)),
        (20, 25, date(2026, 11, 20)),
        (25, 25, date(2026, 11, 25)),
    ]

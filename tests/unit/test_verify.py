"""Verify on the in-memory adapter: empty when exact, every kind of drift found."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.memory import InMemoryDatabase
from application.service import Rollups
from application.verify import Mismatch
from domain.errors import AccountNotConfiguredError, InvalidRangeError
from domain.metrics import ZERO, DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event, utc

DAY = date(2026, 11, 20)
ACCOUNT_REPLY = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)


@pytest.fixture
def recorded(rollups: Rollups) -> Rollups:
    rollups.set_timezone(1, "UTC")
    rollups.record(
        [
            event(1, "reply_time", value=2.5, business=1.0),
            event(2, "reply_time", value=0.5, at=utc(2026, 11, 3, 9)),
            event(3, "conversation_bot_handoff", conversation_id=8),
            event(4, "conversation_bot_handoff", conversation_id=8),
        ]
    )
    return rollups


def test_exact_rollups_verify_empty(recorded: Rollups) -> None:
    assert recorded.verify(1) == []
    recorded.retract([1, 3])
    assert recorded.verify(1) == []
    recorded.backfill(1)
    assert recorded.verify(1) == []


def test_account_without_events_or_rows(rollups: Rollups) -> None:
    rollups.set_timezone(1, "UTC")
    assert rollups.verify(1) == []


def test_account_without_zone_raises(rollups: Rollups) -> None:
    with pytest.raises(AccountNotConfiguredError, match="account 1"):
        rollups.verify(1)


def test_tampered_row_is_found(recorded: Rollups, db: InMemoryDatabase) -> None:
    db.rollups[1][ACCOUNT_REPLY] = MetricContribution(1, 2.6, 1.0)
    assert recorded.verify(1) == [
        Mismatch(ACCOUNT_REPLY, MetricContribution(1, 2.5, 1.0), MetricContribution(1, 2.6, 1.0))
    ]


def test_wrong_count_is_found(recorded: Rollups, db: InMemoryDatabase) -> None:
    handoffs = RollupKey(1, DAY, DimensionType.ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT)
    db.rollups[1][handoffs] = MetricContribution(2, 0.0, 0.0)
    assert recorded.verify(1) == [
        Mismatch(handoffs, MetricContribution(1, 0.0, 0.0), MetricContribution(2, 0.0, 0.0))
    ]


def test_missing_and_extra_rows_are_found(recorded: Rollups, db: InMemoryDatabase) -> None:
    del db.rollups[1][ACCOUNT_REPLY]
    extra = RollupKey(1, date(2026, 11, 25), DimensionType.AGENT, 4, Metric.FIRST_RESPONSE)
    db.rollups[1][extra] = MetricContribution(1, 1.0, 0.0)
    assert recorded.verify(1) == [
        Mismatch(ACCOUNT_REPLY, MetricContribution(1, 2.5, 1.0), ZERO),
        Mismatch(extra, ZERO, MetricContribution(1, 1.0, 0.0)),
    ]


def test_events_never_rolled_up_are_found(recorded: Rollups) -> None:
    with recorded.uow_factory() as uow:
        uow.events.add([event(9, "first_response", value=4, at=utc(2026, 10, 1))])
        uow.commit()
    key = RollupKey(1, date(2026, 10, 1), DimensionType.ACCOUNT, 1, Metric.FIRST_RESPONSE)
    assert recorded.verify(1) == [Mismatch(key, MetricContribution(1, 4.0, 0.0), ZERO)]
    recorded.backfill(1)
    assert recorded.verify(1) == []


def test_sums_within_float_tolerance_are_not_mismatches(
    recorded: Rollups, db: InMemoryDatabase
) -> None:
    db.rollups[1][ACCOUNT_REPLY] = MetricContribution(1, 2.5 * (1 + 1e-12), 1.0)
    assert recorded.verify(1) == []


def test_range_restricts_what_is_compared(recorded: Rollups, db: InMemoryDatabase) -> None:
    db.rollups[1][ACCOUNT_REPLY] = MetricContribution(9, 9.0, 9.0)
    assert recorded.verify(1, date(2026, 11, 1), date(2026, 11, 19)) == []
    assert recorded.verify(1, since=date(2026, 11, 21)) == []
    assert len(recorded.verify(1, until=DAY)) == 1
    assert len(recorded.verify(1, DAY, DAY)) == 1


def test_invalid_range(recorded: Rollups) -> None:
    with pytest.raises(InvalidRangeError):
        recorded.verify(1, DAY, date(2026, 11, 1))
    with pytest.raises(InvalidRangeError):
        recorded.verify(1, "2026-11-01")  # type: ignore[arg-type]


def test_verify_does_not_write(recorded: Rollups, db: InMemoryDatabase) -> None:
    db.rollups[1][ACCOUNT_REPLY] = MetricContribution(9, 9.0, 9.0)
    before = {a: dict(r) for a, r in db.rollups.items()}
    recorded.verify(1)
    assert {a: dict(r) for a, r in db.rollups.items()} == before


def test_verify_uses_the_accounts_zone(rollups: Rollups) -> None:
    rollups.set_timezone(1, "Asia/Kathmandu")
    rollups.record([event(1, "reply_time", at=utc(2026, 11, 19, 18, 15))])
    assert [key.date for key, _ in rollups.rows(1)] == [DAY]
    assert rollups.verify(1) == []

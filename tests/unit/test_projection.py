"""The pure projection of events onto rollup rows."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Projection, aggregate, project
from tests.builders import event, utc
from tests.reference import plain_rows, reference_rows

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
DAY = date(2026, 11, 20)
ACCOUNT, AGENT, INBOX = DimensionType.ACCOUNT, DimensionType.AGENT, DimensionType.INBOX


def key(dimension: DimensionType, dimension_id: int, metric: Metric, day: date = DAY) -> RollupKey:
    return RollupKey(1, day, dimension, dimension_id, metric)


def test_resolved_event_feeds_two_metrics_in_every_dimension() -> None:
    rows = aggregate([event(1, value=120, business=45, user_id=5, inbox_id=6)], {1: UTC_ZONE})
    count, duration = MetricContribution(1, 0.0, 0.0), MetricContribution(1, 120.0, 45.0)
    assert rows == {
        key(ACCOUNT, 1, Metric.RESOLUTIONS_COUNT): count,
        key(ACCOUNT, 1, Metric.RESOLUTION_TIME): duration,
        key(AGENT, 5, Metric.RESOLUTIONS_COUNT): count,
        key(AGENT, 5, Metric.RESOLUTION_TIME): duration,
        key(INBOX, 6, Metric.RESOLUTIONS_COUNT): count,
        key(INBOX, 6, Metric.RESOLUTION_TIME): duration,
    }


def test_dimensions_without_an_id_are_skipped() -> None:
    rows = aggregate([event(1, "first_response", value=10)], {1: UTC_ZONE})
    assert rows == {key(ACCOUNT, 1, Metric.FIRST_RESPONSE): MetricContribution(1, 10.0, 0.0)}
    rows = aggregate([event(2, "reply_time", value=3, inbox_id=9)], {1: UTC_ZONE})
    assert set(rows) == {key(ACCOUNT, 1, Metric.REPLY_TIME), key(INBOX, 9, Metric.REPLY_TIME)}


def test_unknown_names_contribute_nothing() -> None:
    assert aggregate([event(1, "conversation_created", user_id=1)], {1: UTC_ZONE}) == {}
    projection = project([event(1, "conversation_opened", value=5)], {1: UTC_ZONE})
    assert projection.deltas == {}
    assert not projection.members


def test_none_values_count_as_zero() -> None:
    rows = aggregate(
        [event(1, "reply_time", value=None, business=None), event(2, "reply_time", value=4)],
        {1: UTC_ZONE},
    )
    assert rows == {key(ACCOUNT, 1, Metric.REPLY_TIME): MetricContribution(2, 4.0, 0.0)}


def test_events_are_bucketed_by_local_date() -> None:
    late_evening = event(1, "first_response", value=1, at=utc(2026, 11, 21, 3, 30))
    rows = aggregate([late_evening], {1: NEW_YORK})
    assert list(rows) == [key(ACCOUNT, 1, Metric.FIRST_RESPONSE)]
    rows = aggregate([late_evening], {1: UTC_ZONE})
    assert list(rows) == [key(ACCOUNT, 1, Metric.FIRST_RESPONSE, date(2026, 11, 21))]


def test_events_of_accounts_without_a_zone_are_ignored() -> None:
    assert aggregate([event(1, account_id=2)], {1: UTC_ZONE}) == {}


def test_handoffs_count_distinct_conversations_per_day_and_dimension() -> None:
    events = [
        event(1, "conversation_bot_handoff", conversation_id=10, inbox_id=7),
        event(2, "conversation_bot_handoff", conversation_id=10, inbox_id=7),
        event(3, "conversation_bot_handoff", conversation_id=11, inbox_id=8),
        event(4, "conversation_bot_handoff", conversation_id=10, at=utc(2026, 11, 21, 1)),
    ]
    rows = aggregate(events, {1: UTC_ZONE})
    assert rows == {
        key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT): MetricContribution(2, 0.0, 0.0),
        key(INBOX, 7, Metric.BOT_HANDOFFS_COUNT): MetricContribution(1, 0.0, 0.0),
        key(INBOX, 8, Metric.BOT_HANDOFFS_COUNT): MetricContribution(1, 0.0, 0.0),
        key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT, date(2026, 11, 21)): MetricContribution(
            1, 0.0, 0.0
        ),
    }


def test_handoff_members_are_conversations_per_key() -> None:
    projection = project(
        [
            event(1, "conversation_bot_handoff", conversation_id=10),
            event(2, "conversation_bot_handoff", conversation_id=10),
        ],
        {1: UTC_ZONE},
    )
    assert projection.deltas == {}
    assert dict(projection.members) == {(key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT), 10): 2}
    assert projection.nonzero_members() == {(key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT), 10): 2}


def test_handoff_without_conversation_counts_once_each_additively() -> None:
    projection = project(
        [
            event(1, "conversation_bot_handoff"),
            event(2, "conversation_bot_handoff"),
            event(3, "conversation_bot_handoff", conversation_id=10),
        ],
        {1: UTC_ZONE},
    )
    assert projection.deltas == {
        key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT): MetricContribution(2, 0.0, 0.0)
    }
    assert projection.totals() == {
        key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT): MetricContribution(3, 0.0, 0.0)
    }


def test_negative_sign_takes_contributions_back() -> None:
    events = [
        event(1, value=10, business=2, user_id=3),
        event(2, "conversation_bot_handoff", conversation_id=4),
    ]
    projection = Projection()
    for e in events:
        projection.add(e, UTC_ZONE)
    for e in events:
        projection.add(e, UTC_ZONE, sign=-1)
    assert projection.totals() == {}
    assert all(delta.count == 0 for delta in projection.deltas.values())
    assert projection.nonzero_members() == {}


def test_add_distinct_counts_adds_count_only_deltas() -> None:
    projection = Projection()
    k = key(ACCOUNT, 1, Metric.BOT_HANDOFFS_COUNT)
    projection.add_distinct_counts({k: 2, key(INBOX, 1, Metric.BOT_HANDOFFS_COUNT): 0})
    projection.add_distinct_counts({k: -1})
    assert projection.deltas == {k: MetricContribution(1, 0.0, 0.0)}


def test_aggregate_agrees_with_the_plain_reference() -> None:
    events = [
        event(
            n,
            name,
            at=utc(2026, 11, 1, hour),
            value=value,
            business=value and value / 2,
            user_id=(n % 3) or None,
            inbox_id=(n % 2) or None,
            conversation_id=(n % 4) or None,
        )
        for n, (name, hour, value) in enumerate(
            [
                ("conversation_resolved", 3, 100.0),
                ("conversation_resolved", 5, None),
                ("first_response", 4, 7.5),
                ("reply_time", 6, 1.25),
                ("conversation_bot_resolved", 2, None),
                ("conversation_bot_handoff", 3, None),
                ("conversation_bot_handoff", 5, None),
                ("conversation_bot_handoff", 7, None),
                ("conversation_bot_handoff", 9, None),
                ("conversation_created", 1, 3.0),
            ],
            start=1,
        )
    ]
    rows = aggregate(events, {1: NEW_YORK})
    expected = reference_rows(events, "America/New_York")
    assert plain_rows(sorted(rows.items())) == expected


def test_groups_of_events_project_like_the_events() -> None:
    """`add_group` (a backfill's partial sums) gives what projecting the events one by one does."""
    events = [
        event(1, "reply_time", value=4, business=1, user_id=7, inbox_id=3),
        event(2, "reply_time", value=6, user_id=7, inbox_id=3),
        event(3, "conversation_resolved", value=10, user_id=8, inbox_id=3),
        event(4, "conversation_bot_handoff", conversation_id=9, inbox_id=3),
        event(5, "conversation_bot_handoff", conversation_id=9, inbox_id=3),
        event(6, "conversation_bot_handoff", inbox_id=3),
        event(7, "unknown_event", user_id=7),
    ]
    grouped = Projection()
    for account_id, name, ids, member, count, total, business in [
        (1, "reply_time", {"user_id": 7, "inbox_id": 3}, None, 2, 10.0, 1.0),
        (1, "conversation_resolved", {"user_id": 8, "inbox_id": 3}, None, 1, 10.0, 0.0),
        (1, "conversation_bot_handoff", {"inbox_id": 3}, 9, 2, 0.0, 0.0),
        (1, "conversation_bot_handoff", {"inbox_id": 3}, None, 1, 0.0, 0.0),
        (1, "unknown_event", {"user_id": 7}, None, 1, 0.0, 0.0),
        (1, None, {"user_id": 7}, None, 1, 0.0, 0.0),
    ]:
        grouped.add_group(
            account_id, DAY, name, {"account_id": 1, **ids}, member, count, total, business
        )
    by_event = project(events, {1: UTC_ZONE})
    assert grouped.totals() == by_event.totals()
    assert grouped.members == by_event.members

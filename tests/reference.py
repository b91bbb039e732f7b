"""A plain reference aggregation of reporting events, written without `domain.projection`.

It states the rules of the design once more, as directly as possible, so that property tests can
compare what the library stores with what the raw events say: loop over the events, bucket each by
its local (wall-clock) date in the account's zone, and count. Bot handoffs count distinct
conversations per (day, dimension); a handoff without a conversation counts once.

The wall-clock date is the library's local day everywhere except inside the rare folds that set
clocks back across midnight (St. John's 1987-2010, Casey 2010; see tests/unit/test_timezones.py);
the scenarios in `tests.scenarios` use no such dates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

#: (account_id, date, dimension_type, dimension_id, metric)
Key = tuple[int, date, str, int, str]
#: (count, sum_value, sum_value_business_hours)
Totals = tuple[int, float, float]

#: event name -> [(metric, kind)]; kind is "count", "duration" or "distinct".
METRICS: dict[str, list[tuple[str, str]]] = {
    "conversation_resolved": [("resolutions_count", "count"), ("resolution_time", "duration")],
    "first_response": [("first_response", "duration")],
    "reply_time": [("reply_time", "duration")],
    "conversation_bot_resolved": [("bot_resolutions_count", "count")],
    "conversation_bot_handoff": [("bot_handoffs_count", "distinct")],
}

#: dimension type -> the event attribute holding its id.
DIMENSIONS: dict[str, str] = {"account": "account_id", "agent": "user_id", "inbox": "inbox_id"}

REL_TOL = 1e-9
ABS_TOL = 1e-6


def reference_rows(events: Iterable[Any], timezone: str) -> dict[Key, Totals]:
    """Rollup rows of `events` (all of one account) bucketed by local date in `timezone`."""
    zone = ZoneInfo(timezone)
    counts: dict[Key, int] = {}
    sums: dict[Key, float] = {}
    sums_business: dict[Key, float] = {}
    conversations: dict[Key, set[int]] = {}
    for event in events:
        rules = METRICS.get(event.name, [])
        day = event.created_at.astimezone(zone).date()
        for dimension, attribute in DIMENSIONS.items():
            dimension_id = getattr(event, attribute)
            if dimension_id is None:
                continue
            for metric, kind in rules:
                key = (event.account_id, day, dimension, dimension_id, metric)
                if kind == "distinct" and event.conversation_id is not None:
                    conversations.setdefault(key, set()).add(event.conversation_id)
                    continue
                counts[key] = counts.get(key, 0) + 1
                if kind == "duration":
                    sums[key] = sums.get(key, 0.0) + (event.value or 0.0)
                    sums_business[key] = sums_business.get(key, 0.0) + (
                        event.value_in_business_hours or 0.0
                    )
    for key, members in conversations.items():
        counts[key] = counts.get(key, 0) + len(members)
    return {
        key: (count, sums.get(key, 0.0), sums_business.get(key, 0.0))
        for key, count in counts.items()
        if count
    }


def plain_rows(rows: Iterable[tuple[Any, Any]]) -> dict[Key, Totals]:
    """`Rollups.rows()` output as reference-shaped plain tuples."""
    return {
        (
            key.account_id,
            key.date,
            str(key.dimension_type),
            key.dimension_id,
            str(key.metric),
        ): (value.count, value.sum_value, value.sum_value_business_hours)
        for key, value in rows
    }


def differences(actual: dict[Key, Totals], expected: dict[Key, Totals]) -> list[str]:
    """Human-readable differences: counts exactly, sums with relative tolerance 1e-9."""
    problems = []
    for key in sorted(actual.keys() | expected.keys()):
        have, want = actual.get(key), expected.get(key)
        if have is None:
            problems.append(f"missing row {key}: expected {want}")
        elif want is None:
            problems.append(f"unexpected row {key}: {have}")
        elif have[0] != want[0] or not all(
            math.isclose(h, w, rel_tol=REL_TOL, abs_tol=ABS_TOL)
            for h, w in zip(have[1:], want[1:], strict=True)
        ):
            problems.append(f"row {key}: stored {have}, expected {want}")
    return problems


def assert_same_rows(actual: dict[Key, Totals], expected: dict[Key, Totals]) -> None:
    """Fail listing every difference between stored and expected rows."""
    problems = differences(actual, expected)
    assert not problems, "\n".join(problems)


def assert_rollups_match(
    rollups: Any, account_id: int, timezone: str, events: Iterable[Any]
) -> None:
    """Fail unless the account's stored rows equal the reference aggregation of `events`."""
    expected = reference_rows(
        [event for event in events if event.account_id == account_id], timezone
    )
    assert_same_rows(plain_rows(rollups.rows(account_id)), expected)

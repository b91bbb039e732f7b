"""The synthetic history: seeded, lazy, exact in size, realistic enough to exercise every path."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli.demo_job import DemoDatabaseNotEmptyError, run_demo
from reporting_rollups.adapters.demo import (
    DEMO_ACCOUNTS,
    business_seconds,
    next_opening,
    synthetic_events,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.registry import event_names
from reporting_rollups.domain.timezones import local_date, parse_timezone
from tests.conftest import fixed_clock

END = date(2026, 11, 23)


def history(events: int = 6000, *, seed: int = 7, days: int = 200) -> list[Event]:
    return list(synthetic_events(events=events, seed=seed, days=days, end=END))


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    assert history(1500) == history(1500)
    assert history(1500, seed=8) != history(1500)


@pytest.mark.parametrize("count", [0, 1, 7, 2500])
def test_exactly_the_requested_number_of_events_is_yielded(count: int) -> None:
    assert len(history(count)) == count


def test_the_generator_is_lazy() -> None:
    stream = synthetic_events(events=10_000_000, end=END)
    first = list(itertools.islice(stream, 100))
    assert len(first) == 100


def test_the_history_covers_every_event_kind_account_and_the_requested_days() -> None:
    events = history(8000, days=60)
    assert set(Counter(event.name for event in events)) == set(event_names())
    assert {event.account_id for event in events} == {a.id for a in DEMO_ACCOUNTS}
    end = datetime.combine(END, datetime.min.time(), UTC)
    assert all(end - timedelta(days=60) <= event.created_at < end for event in events)
    agents = {agent for account in DEMO_ACCOUNTS for agent in account.agents}
    assert {event.user_id for event in events if event.user_id} <= agents


def test_some_events_are_redelivered_and_some_arrive_late() -> None:
    events = history(8000)
    by_id = Counter(event.id for event in events)
    repeats = [event_id for event_id, seen in by_id.items() if seen > 1]
    assert repeats
    first = {event.id: event for event in events}
    assert all(event == first[event.id] for event in events)  # same content when redelivered
    late = sum(
        1
        for earlier, later in itertools.pairwise(events)
        if later.created_at < earlier.created_at - timedelta(hours=1)
    )
    assert late > 0


def test_some_conversations_are_handed_off_twice_on_one_day() -> None:
    handoffs = [event for event in history(8000) if event.name == "conversation_bot_handoff"]
    zones = {account.id: parse_timezone(account.timezone) for account in DEMO_ACCOUNTS}
    per_day = Counter(
        (e.conversation_id, local_date(e.created_at, zones[e.account_id])) for e in handoffs
    )
    assert max(per_day.values()) >= 2


def test_durations_are_plausible_and_business_hours_never_exceed_them() -> None:
    for event in history(4000):
        assert event.value is not None
        assert event.value_in_business_hours is not None
        assert 0 < event.value <= 25 * 86400
        assert 0 <= event.value_in_business_hours <= event.value + 1e-6


def test_a_history_crosses_a_dst_change_in_some_account() -> None:
    events = history(3000, days=200)
    crossed = set()
    for account in DEMO_ACCOUNTS:
        zone = ZoneInfo(account.timezone)
        offsets = {
            e.created_at.astimezone(zone).utcoffset() for e in events if e.account_id == account.id
        }
        if len(offsets) > 1:
            crossed.add(account.id)
    assert crossed


def test_business_seconds_count_local_office_hours_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    # Friday 28 March 2025 16:00 to Monday 31 March 10:00 (DST began on Sunday the 30th).
    start = datetime(2025, 3, 28, 16, tzinfo=paris)
    end = datetime(2025, 3, 31, 10, tzinfo=paris)
    assert business_seconds(start, end, paris) == 2 * 3600
    assert next_opening(start, paris) == start
    saturday = datetime(2025, 3, 29, 12, tzinfo=paris)
    assert next_opening(saturday, paris) == datetime(2025, 3, 31, 9, tzinfo=paris)


def test_run_demo_refuses_a_database_with_data_of_its_accounts() -> None:
    quiet = Console(quiet=True)
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        rollups.enable_read_path(DEMO_ACCOUNTS[0].id)
        with pytest.raises(DemoDatabaseNotEmptyError, match="already has data of account 1"):
            run_demo(rollups, quiet, quiet, events=10)


def test_run_demo_on_memory_is_exact() -> None:
    quiet = Console(quiet=True)
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        outcome = run_demo(rollups, quiet, quiet, events=3000, days=30, today=lambda: END)
    assert outcome.events == 3000
    assert outcome.stored + outcome.duplicates == 3000
    assert outcome.rolled_up + outcome.skipped == outcome.stored
    assert outcome.skipped > 0  # the last account gets its zone after recording
    assert outcome.backfill_events == outcome.stored
    assert outcome.mismatches == 0

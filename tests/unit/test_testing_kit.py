"""The testing kit for hosts (`reporting_rollups.testing`): its clock, its event builder, and the
pytest plugin that installing the library registers (run here on a host's test file through
pytester, the way a host's suite loads it). The contract suite runs its memory backend through
`memory_rollups`, which is what verifies the fake itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from reporting_rollups.domain.errors import InvalidEventError
from reporting_rollups.testing import DEFAULT_NOW, EventFactory, FixedClock, memory_rollups
from tests.readme import readme_block

pytest_plugins = ["pytester"]

HOST_TESTS = """
from datetime import date, timedelta

def test_a_host_records_and_reads(rollups, rollup_events):
    rollups.set_timezone(1, "Europe/Berlin")
    result = rollups.record([rollup_events("conversation_resolved", value=90), rollup_events()])
    assert (result.stored, result.rolled_up) == (2, 2)
    assert {row.key.metric for row in rollups.rows(1)} == {"resolutions_count", "resolution_time"}

def test_each_test_has_its_own_database(rollups):
    assert rollups.rows(1) == []
    assert rollups.account(1).timezone is None

def test_the_clock_decides_yesterday(rollups, rollups_clock, rollup_events):
    rollups.record([rollup_events(at=rollups_clock() - timedelta(days=3))])
    rollups_clock.advance(days=1)
    rollups.set_timezone(1, "UTC", rebuild=False)
    assert rollups.backfill(1).plan.until == date(2026, 1, 15)
"""


def test_the_plugin_gives_a_host_fresh_rollups_a_settable_clock_and_events(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_host=HOST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)


def test_the_readme_example_passes_as_a_host_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme_example=readme_block("tests/unit/test_testing_kit.py"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_the_plugin_is_registered_by_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from reporting_rollups.testing.plugin*",
            "rollups_clock -- *",
            "rollups -- *",
            "rollup_events -- *",
        ]
    )


def test_the_fixed_clock_reads_what_it_was_set_to() -> None:
    clock = FixedClock()
    assert clock() == DEFAULT_NOW
    assert clock.advance(hours=2) == DEFAULT_NOW + timedelta(hours=2)
    assert clock.advance(timedelta(days=1)) == DEFAULT_NOW + timedelta(days=1, hours=2)
    clock.set(datetime(2030, 5, 1, tzinfo=UTC))
    assert clock() == datetime(2030, 5, 1, tzinfo=UTC)
    with pytest.raises(InvalidEventError, match="now"):
        clock.set(datetime(2030, 5, 1))  # naive
    with pytest.raises(InvalidEventError, match="now"):
        FixedClock("2030-05-01")  # type: ignore[arg-type]


def test_the_event_factory_builds_valid_events_with_consecutive_ids() -> None:
    events = EventFactory(account_id=7, first_id=100)
    first, second = events("reply_time", value=30, user_id=4), events(id=5, account_id=8)
    assert (first.id, first.account_id, first.name, first.value, first.user_id) == (
        100,
        7,
        "reply_time",
        30,
        4,
    )
    assert (second.id, second.account_id, second.created_at) == (5, 8, DEFAULT_NOW)
    assert [event.id for event in events.many(3, inbox_id=2)] == [101, 102, 103]
    with pytest.raises(InvalidEventError, match="value"):
        events("reply_time", value=float("nan"))
    with pytest.raises(InvalidEventError, match="created_at"):
        events(at=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidEventError, match="at"):
        EventFactory(at=datetime(2026, 1, 1))


def test_memory_rollups_are_separate_databases_reading_the_clock() -> None:
    clock = FixedClock(datetime(2026, 3, 10, 9, tzinfo=UTC))
    with memory_rollups(clock=clock) as one, memory_rollups() as other:
        one.set_timezone(1, "UTC", rebuild=False)
        one.record(EventFactory(at=clock() - timedelta(days=2)).many(2))
        assert one.backfill(1).plan.until == date(2026, 3, 9)
        assert len(one.rows(1)) > 0
        assert other.rows(1) == []

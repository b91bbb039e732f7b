"""Reports (the read path) on the in-memory adapter: every rule, source selection and errors.

Uses `rollups` and `db` from tests/unit/conftest.py.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from reporting_rollups.adapters.memory import InMemoryDatabase
from reporting_rollups.application.periods import (
    MAX_PERIODS,
    WEEKDAYS,
    bucket_start,
    check_period_count,
    period_count,
)
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.application.read_path import GroupBy, Source, choose_source
from reporting_rollups.application.report_results import (
    SummaryReport,
    SummaryRow,
    TimeseriesReport,
    report_value,
)
from reporting_rollups.application.reports import Reports
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    InvalidRangeError,
    InvalidTimezoneError,
    RollupError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, MetricContribution
from reporting_rollups.domain.registry import ReportMetric
from tests.conftest import fixed_clock

NY = "America/New_York"
ACCOUNT = 1


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Events:
    """Makes events with fresh ids."""

    def __init__(self) -> None:
        self.next_id = 1

    def __call__(self, name: str, created_at: datetime, **fields: Any) -> Event:
        fields.setdefault("account_id", ACCOUNT)
        event = Event(self.next_id, name, created_at=created_at, **fields)
        self.next_id += 1
        return event


@pytest.fixture
def make() -> Events:
    return Events()


def configure(rollups: Rollups, timezone: str = NY, read_path: bool = True) -> None:
    rollups.set_timezone(ACCOUNT, timezone)
    rollups.enable_read_path(ACCOUNT, read_path)


def both_sources(rollups: Rollups, call: Any) -> Any:
    """Run a report from rollups and from raw events; check they agree; return the raw one."""
    rollups.enable_read_path(ACCOUNT, True)
    from_rollups = call()
    rollups.enable_read_path(ACCOUNT, False)
    from_raw = call()
    assert from_rollups.source is Source.ROLLUPS
    assert from_raw.source is Source.RAW
    assert _plain(from_rollups) == _plain(from_raw)
    return from_raw


def _plain(report: SummaryReport | TimeseriesReport) -> Any:
    data = report.as_dict()
    data.pop("source")
    rows = data.pop("rows" if "rows" in data else "points")
    return data, [
        {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()} for row in rows
    ]


# --- summary ----------------------------------------------------------------------------------


def test_summary_counts_and_averages_per_dimension(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make(
                "conversation_resolved",
                at(2026, 3, 2),
                value=100,
                value_in_business_hours=10,
                user_id=7,
                inbox_id=3,
                conversation_id=1,
            ),
            make(
                "conversation_resolved",
                at(2026, 3, 3),
                value=300,
                value_in_business_hours=50,
                user_id=8,
                inbox_id=3,
                conversation_id=2,
            ),
            make(
                "first_response",
                at(2026, 3, 3),
                value=40,
                value_in_business_hours=4,
                user_id=7,
                inbox_id=3,
                conversation_id=1,
            ),
            make("reply_time", at(2026, 3, 4), value=None, user_id=7, conversation_id=1),
            make("reply_time", at(2026, 3, 4), value=20, user_id=7, conversation_id=1),
            make("conversation_bot_resolved", at(2026, 3, 4), inbox_id=4, conversation_id=5),
            make("conversation_created", at(2026, 3, 4), user_id=9, conversation_id=5),
        ]
    )
    report = both_sources(
        rollups,
        lambda: rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 31)),
    )
    assert report.rows == (
        SummaryRow(7, 1, 100.0, 40.0, 10.0, 0, 0),
        SummaryRow(8, 1, 300.0, None, None, 0, 0),
    )
    account = both_sources(
        rollups,
        lambda: rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 31)),
    )
    assert account.rows == (SummaryRow(ACCOUNT, 2, 200.0, 40.0, 10.0, 1, 0),)
    inbox = rollups.reports.summary(
        ACCOUNT, DimensionType.INBOX, date(2026, 3, 1), date(2026, 3, 31)
    )
    assert [row.dimension_id for row in inbox.rows] == [3, 4]
    assert inbox.rows[1] == SummaryRow(4, 0, None, None, None, 1, 0)


def test_summary_business_hours_uses_business_sums(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("conversation_resolved", at(2026, 3, 2), value=100, value_in_business_hours=10),
            make("conversation_resolved", at(2026, 3, 3), value=300, value_in_business_hours=None),
            make("first_response", at(2026, 3, 3), value=40, value_in_business_hours=4),
        ]
    )
    report = both_sources(
        rollups,
        lambda: rollups.reports.summary(
            ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 31), business_hours=True
        ),
    )
    assert report.business_hours is True
    assert report.rows[0].avg_resolution_time == pytest.approx(5.0)
    assert report.rows[0].avg_first_response_time == pytest.approx(4.0)
    assert report.rows[0].resolutions_count == 2


def test_summary_without_data_has_the_account_row_only(rollups: Rollups) -> None:
    configure(rollups)
    account = rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 2))
    assert account.rows == (SummaryRow(ACCOUNT, 0, None, None, None, 0, 0),)
    assert rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 2)).rows == ()


def test_summary_range_is_inclusive_local_dates(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("conversation_resolved", at(2026, 3, 2, 4, 59)),  # 23:59 on 1 March in New York
            make("conversation_resolved", at(2026, 3, 2, 5, 0)),  # 00:00 on 2 March
            make("conversation_resolved", at(2026, 3, 4, 4, 59)),  # 23:59 on 3 March
            make("conversation_resolved", at(2026, 3, 4, 5, 0)),  # 00:00 on 4 March
        ]
    )
    report = both_sources(
        rollups,
        lambda: rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 2), date(2026, 3, 3)),
    )
    assert report.rows[0].resolutions_count == 2


def test_bot_handoffs_are_distinct_per_day_then_summed(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            # conversation 1: twice on 2 March (one handoff), again on 3 March (another one)
            make("conversation_bot_handoff", at(2026, 3, 2, 14), conversation_id=1, user_id=7),
            make("conversation_bot_handoff", at(2026, 3, 2, 20), conversation_id=1, user_id=7),
            make("conversation_bot_handoff", at(2026, 3, 3, 14), conversation_id=1, user_id=8),
            # without a conversation: each counts once
            make("conversation_bot_handoff", at(2026, 3, 3, 15)),
            make("conversation_bot_handoff", at(2026, 3, 3, 16)),
        ]
    )
    account = both_sources(
        rollups,
        lambda: rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 7)),
    )
    assert account.rows[0].bot_handoffs_count == 4
    agents = both_sources(
        rollups,
        lambda: rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 7)),
    )
    assert [(row.dimension_id, row.bot_handoffs_count) for row in agents.rows] == [(7, 1), (8, 1)]
    weekly = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "bot_handoffs_count", date(2026, 3, 1), date(2026, 3, 7), "week"
        ),
    )
    assert [(p.value, p.count) for p in weekly.points] == [(4, 4)]


# --- time series ------------------------------------------------------------------------------


def test_daily_series_is_zero_filled(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("first_response", at(2026, 3, 2), value=10),
            make("first_response", at(2026, 3, 2), value=30),
            make("first_response", at(2026, 3, 4), value=5),
        ]
    )
    report = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "avg_first_response_time", date(2026, 3, 1), date(2026, 3, 5)
        ),
    )
    assert [(p.period_start, p.value, p.count) for p in report.points] == [
        (date(2026, 3, 1), None, 0),
        (date(2026, 3, 2), 20.0, 2),
        (date(2026, 3, 3), None, 0),
        (date(2026, 3, 4), 5.0, 1),
        (date(2026, 3, 5), None, 0),
    ]
    counts = rollups.reports.timeseries(
        ACCOUNT, "resolutions_count", date(2026, 3, 1), date(2026, 3, 3)
    )
    assert [(p.value, p.count) for p in counts.points] == [(0, 0), (0, 0), (0, 0)]


def test_weeks_start_on_sunday_by_default_or_as_configured(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    # 2026-03-01 is a Sunday.
    rollups.record(
        [
            make("conversation_resolved", at(2026, 3, 1)),  # Sun
            make("conversation_resolved", at(2026, 3, 2)),  # Mon
            make("conversation_resolved", at(2026, 3, 8)),  # Sun
            make("conversation_resolved", at(2026, 3, 10)),  # Tue
        ]
    )
    sundays = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "resolutions_count", date(2026, 3, 1), date(2026, 3, 14), "week"
        ),
    )
    assert sundays.week_start == "sunday"
    assert [(p.period_start, p.value) for p in sundays.points] == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 8), 2),
    ]
    mondays = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT,
            "resolutions_count",
            date(2026, 3, 1),
            date(2026, 3, 14),
            "week",
            week_start="Monday",
        ),
    )
    assert mondays.week_start == "monday"
    # The first week started before `since`; only days in the range count.
    assert [(p.period_start, p.value) for p in mondays.points] == [
        (date(2026, 2, 23), 1),
        (date(2026, 3, 2), 2),
        (date(2026, 3, 9), 1),
    ]


def test_month_and_year_periods(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("reply_time", at(2025, 12, 31, 23), value=10),  # 31 Dec 2025 in New York
            make("reply_time", at(2026, 1, 1, 4, 59), value=20),  # still 31 Dec in New York
            make("reply_time", at(2026, 1, 1, 5, 0), value=60),  # 1 Jan 2026
            make("reply_time", at(2026, 3, 15), value=30),
        ]
    )
    months = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "avg_reply_time", date(2025, 12, 15), date(2026, 3, 20), "month"
        ),
    )
    assert [(p.period_start, p.value, p.count) for p in months.points] == [
        (date(2025, 12, 1), 15.0, 2),
        (date(2026, 1, 1), 60.0, 1),
        (date(2026, 2, 1), None, 0),
        (date(2026, 3, 1), 30.0, 1),
    ]
    years = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "avg_reply_time", date(2025, 12, 15), date(2026, 3, 20), "year"
        ),
    )
    assert [(p.period_start, p.value, p.count) for p in years.points] == [
        (date(2025, 1, 1), 15.0, 2),
        (date(2026, 1, 1), 45.0, 2),
    ]


def test_days_across_dst_have_their_local_length(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            # 8 March 2026 (spring forward, 23 hours): 05:00 UTC .. 04:00 UTC next day
            make("conversation_resolved", at(2026, 3, 8, 5, 0)),
            make("conversation_resolved", at(2026, 3, 9, 3, 59)),
            make("conversation_resolved", at(2026, 3, 9, 4, 0)),  # 9 March
            # 1 November 2026 (fall back, 25 hours): 04:00 UTC .. 05:00 UTC next day
            make("conversation_resolved", at(2026, 11, 1, 4, 0)),
            make("conversation_resolved", at(2026, 11, 2, 4, 59)),
            make("conversation_resolved", at(2026, 11, 2, 5, 0)),  # 2 November
        ]
    )
    spring = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "resolutions_count", date(2026, 3, 8), date(2026, 3, 9)
        ),
    )
    assert [p.value for p in spring.points] == [2, 1]
    autumn = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT, "resolutions_count", date(2026, 10, 31), date(2026, 11, 2), "week"
        ),
    )
    assert [(p.period_start, p.value) for p in autumn.points] == [
        (date(2026, 10, 25), 0),
        (date(2026, 11, 1), 3),
    ]


def test_hour_grouping_is_served_from_raw_events(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("conversation_bot_handoff", at(2026, 3, 8, 6, 10), conversation_id=1),
            make("conversation_bot_handoff", at(2026, 3, 8, 6, 50), conversation_id=1),
            make("conversation_bot_handoff", at(2026, 3, 8, 7, 10), conversation_id=1),
            make("conversation_bot_handoff", at(2026, 11, 1, 5, 30), conversation_id=2),
            make("conversation_bot_handoff", at(2026, 11, 1, 6, 30), conversation_id=2),
        ]
    )
    spring = rollups.reports.timeseries(
        ACCOUNT, "bot_handoffs_count", date(2026, 3, 8), date(2026, 3, 8), "hour"
    )
    assert spring.source is Source.RAW
    assert len(spring.points) == 23
    starts = [p.period_start for p in spring.points]
    assert isinstance(starts[0], datetime)
    assert starts[0].isoformat() == "2026-03-08T00:00:00-05:00"
    assert starts[2].isoformat() == "2026-03-08T03:00:00-04:00"
    assert [(s.hour, p.value) for s, p in zip(starts, spring.points, strict=True) if p.count] == [
        (1, 1),  # two handoffs of conversation 1 in the hour count once
        (3, 1),
    ]
    autumn = rollups.reports.timeseries(
        ACCOUNT, "bot_handoffs_count", date(2026, 11, 1), date(2026, 11, 1), "hour"
    )
    assert len(autumn.points) == 25
    busy = [p.period_start.isoformat() for p in autumn.points if p.count]
    assert busy == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]


def test_series_for_one_agent_or_inbox(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record(
        [
            make("conversation_resolved", at(2026, 3, 2), user_id=7, inbox_id=3),
            make("conversation_resolved", at(2026, 3, 2), user_id=8, inbox_id=3),
            make("conversation_resolved", at(2026, 3, 3), user_id=7),
        ]
    )
    agent = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT,
            "resolutions_count",
            date(2026, 3, 2),
            date(2026, 3, 3),
            dimension="agent",
            dimension_id=7,
        ),
    )
    assert (agent.dimension, agent.dimension_id) == (DimensionType.AGENT, 7)
    assert [p.value for p in agent.points] == [1, 1]
    inbox = both_sources(
        rollups,
        lambda: rollups.reports.timeseries(
            ACCOUNT,
            "resolutions_count",
            date(2026, 3, 2),
            date(2026, 3, 3),
            dimension="inbox",
            dimension_id=3,
        ),
    )
    assert [p.value for p in inbox.points] == [2, 0]
    account = rollups.reports.timeseries(
        ACCOUNT,
        "resolutions_count",
        date(2026, 3, 2),
        date(2026, 3, 3),
        dimension="account",
        dimension_id=ACCOUNT,
    )
    assert [p.value for p in account.points] == [2, 1]


def test_request_timezone_shifts_the_local_days(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record([make("conversation_resolved", at(2026, 3, 10, 3, 0))])  # 9 March in New York
    in_ny = rollups.reports.timeseries(
        ACCOUNT, "resolutions_count", date(2026, 3, 9), date(2026, 3, 10)
    )
    assert (in_ny.source, in_ny.timezone) == (Source.ROLLUPS, NY)
    assert [p.value for p in in_ny.points] == [1, 0]
    in_utc = rollups.reports.timeseries(
        ACCOUNT, "resolutions_count", date(2026, 3, 9), date(2026, 3, 10), timezone="UTC"
    )
    assert (in_utc.source, in_utc.timezone) == (Source.RAW, "UTC")
    assert [p.value for p in in_utc.points] == [0, 1]


# --- source selection -------------------------------------------------------------------------


def _source(rollups: Rollups, timezone: str | None = None, group_by: str = "day") -> Source:
    return rollups.reports.timeseries(
        ACCOUNT,
        "resolutions_count",
        date(2026, 3, 1),
        date(2026, 3, 2),
        group_by,
        timezone=timezone,
    ).source


def test_raw_by_default_until_the_read_path_is_enabled(rollups: Rollups) -> None:
    rollups.set_timezone(ACCOUNT, NY)
    assert _source(rollups) is Source.RAW
    assert (
        rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 1)).source
        is Source.RAW
    )
    rollups.enable_read_path(ACCOUNT)
    assert _source(rollups) is Source.ROLLUPS
    assert (
        rollups.reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 1)).source
        is Source.ROLLUPS
    )
    rollups.enable_read_path(ACCOUNT, False)
    assert _source(rollups) is Source.RAW


def test_rollups_only_in_the_zone_they_were_built_in(rollups: Rollups, make: Events) -> None:
    rollups.record([make("conversation_resolved", at(2026, 3, 1))])
    rollups.enable_read_path(ACCOUNT)
    assert _source(rollups, timezone=NY) is Source.RAW  # no zone on the account
    rollups.set_timezone(ACCOUNT, NY, rebuild=False)
    assert rollups.account(ACCOUNT).rollup_timezone is None
    assert _source(rollups) is Source.RAW  # not rebuilt yet
    rollups.rebuild(ACCOUNT)
    assert _source(rollups) is Source.ROLLUPS
    assert _source(rollups, timezone=NY) is Source.ROLLUPS
    assert _source(rollups, timezone="Europe/Paris") is Source.RAW
    assert _source(rollups, group_by="hour") is Source.RAW
    for group_by in ("day", "week", "month", "year"):
        assert _source(rollups, group_by=group_by) is Source.ROLLUPS
    rollups.set_timezone(ACCOUNT, "Asia/Kolkata", rebuild=False)
    assert _source(rollups) is Source.RAW
    assert _source(rollups, timezone=NY) is Source.RAW


@pytest.mark.parametrize(
    ("settings", "timezone", "group_by", "expected"),
    [
        (AccountSettings(1, NY, NY, True), NY, GroupBy.DAY, Source.ROLLUPS),
        (AccountSettings(1, NY, NY, True), NY, GroupBy.YEAR, Source.ROLLUPS),
        (AccountSettings(1, NY, NY, True), NY, GroupBy.HOUR, Source.RAW),
        (AccountSettings(1, NY, NY, False), NY, GroupBy.DAY, Source.RAW),
        (AccountSettings(1, NY, None, True), NY, GroupBy.DAY, Source.RAW),
        (AccountSettings(1, NY, "UTC", True), NY, GroupBy.DAY, Source.RAW),
        (AccountSettings(1, NY, NY, True), "UTC", GroupBy.DAY, Source.RAW),
        (AccountSettings(1, None, None, True), NY, GroupBy.DAY, Source.RAW),
    ],
)
def test_choose_source(
    settings: AccountSettings, timezone: str, group_by: GroupBy, expected: Source
) -> None:
    assert choose_source(settings, timezone, group_by) is expected


def test_account_without_zone_reports_raw_in_the_given_zone(rollups: Rollups, make: Events) -> None:
    rollups.record([make("conversation_resolved", at(2026, 3, 1), user_id=7)])
    report = rollups.reports.summary(
        ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 1), timezone="UTC"
    )
    assert (report.source, report.timezone) == (Source.RAW, "UTC")
    assert report.rows == (SummaryRow(7, 1, 0.0, None, None, 0, 0),)


# --- helpers and rendering --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "group_by", "week_start", "expected"),
    [
        (date(2026, 3, 4), GroupBy.DAY, 6, date(2026, 3, 4)),
        (date(2026, 3, 4), GroupBy.WEEK, 6, date(2026, 3, 1)),  # Wednesday -> Sunday
        (date(2026, 3, 1), GroupBy.WEEK, 6, date(2026, 3, 1)),
        (date(2026, 3, 1), GroupBy.WEEK, 0, date(2026, 2, 23)),  # Sunday -> Monday before
        (date(2026, 3, 4), GroupBy.WEEK, 2, date(2026, 3, 4)),
        (date(2026, 3, 4), GroupBy.MONTH, 6, date(2026, 3, 1)),
        (date(2026, 3, 4), GroupBy.YEAR, 6, date(2026, 1, 1)),
    ],
)
def test_bucket_start(day: date, group_by: GroupBy, week_start: int, expected: date) -> None:
    assert bucket_start(day, group_by, week_start) == expected


def test_report_value() -> None:
    total = MetricContribution(4, 100.0, 20.0)
    assert report_value(ReportMetric.AVG_REPLY_TIME, total) == 25.0
    assert report_value(ReportMetric.AVG_REPLY_TIME, total, business_hours=True) == 5.0
    assert report_value(ReportMetric.AVG_REPLY_TIME, MetricContribution()) is None
    assert report_value(ReportMetric.RESOLUTIONS_COUNT, total) == 4
    assert report_value(ReportMetric.RESOLUTIONS_COUNT, MetricContribution()) == 0


def test_results_render_as_plain_json_ready_dicts(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    rollups.record([make("reply_time", at(2026, 3, 2), value=8, user_id=7)])
    summary = rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 2))
    assert summary.as_dicts() == [
        {
            "dimension_id": 7,
            "resolutions_count": 0,
            "avg_resolution_time": None,
            "avg_first_response_time": None,
            "avg_reply_time": 8.0,
            "bot_resolutions_count": 0,
            "bot_handoffs_count": 0,
        }
    ]
    assert tuple(summary.as_dicts()[0]) == SummaryReport.COLUMNS
    assert json.loads(json.dumps(summary.as_dict()))["source"] == "rollups"
    series = rollups.reports.timeseries(
        ACCOUNT, "avg_reply_time", date(2026, 3, 1), date(2026, 3, 2), "hour"
    )
    first = series.as_dicts()[0]
    assert tuple(first) == TimeseriesReport.COLUMNS
    assert first == {"period_start": "2026-03-01T00:00:00-05:00", "value": None, "count": 0}
    data = json.loads(json.dumps(series.as_dict()))
    assert (data["group_by"], data["source"], data["timezone"]) == ("hour", "raw", NY)
    assert len(data["points"]) == 48


def test_reports_is_usable_on_its_own(rollups: Rollups) -> None:
    configure(rollups)
    reports = Reports(rollups.uow_factory, fixed_clock)
    report = reports.summary(ACCOUNT, "account", date(2026, 3, 1), date(2026, 3, 1))
    assert report.rows[0].dimension_id == ACCOUNT


# --- errors -----------------------------------------------------------------------------------

SINCE, UNTIL = date(2026, 3, 1), date(2026, 3, 2)


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda r: r.summary(ACCOUNT, "team", SINCE, UNTIL), InvalidRangeError, "'team'"),
        (lambda r: r.summary(ACCOUNT, "agent", UNTIL, SINCE), InvalidRangeError, "2026-03-02"),
        (
            lambda r: r.summary(ACCOUNT, "agent", datetime(2026, 3, 1), UNTIL),
            InvalidRangeError,
            "since",
        ),
        (lambda r: r.summary(ACCOUNT, "agent", SINCE, None), InvalidRangeError, "until"),
        (lambda r: r.summary(0, "agent", SINCE, UNTIL), InvalidRangeError, "account_id"),
        (
            lambda r: r.summary(ACCOUNT, "agent", SINCE, UNTIL, business_hours="yes"),
            InvalidRangeError,
            "'yes'",
        ),
        (
            lambda r: r.summary(ACCOUNT, "agent", SINCE, UNTIL, timezone="Mars/Olympus"),
            InvalidTimezoneError,
            "'Mars/Olympus'",
        ),
        (
            lambda r: r.summary(ACCOUNT, "agent", SINCE, UNTIL, timezone=5),
            InvalidTimezoneError,
            "5",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "avg_speed", SINCE, UNTIL),
            InvalidRangeError,
            "'avg_speed'",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolution_time", SINCE, UNTIL),
            InvalidRangeError,
            "'resolution_time'",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolutions_count", SINCE, UNTIL, "quarter"),
            InvalidRangeError,
            "'quarter'",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolutions_count", SINCE, UNTIL, week_start="sun"),
            InvalidRangeError,
            "'sun'",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolutions_count", SINCE, UNTIL, dimension="agent"),
            InvalidRangeError,
            "dimension_id",
        ),
        (
            lambda r: r.timeseries(
                ACCOUNT, "resolutions_count", SINCE, UNTIL, dimension="inbox", dimension_id=-3
            ),
            InvalidRangeError,
            "-3",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolutions_count", SINCE, UNTIL, dimension_id=2),
            InvalidRangeError,
            "dimension_id 2",
        ),
        (
            lambda r: r.timeseries(ACCOUNT, "resolutions_count", UNTIL, SINCE),
            InvalidRangeError,
            "after",
        ),
    ],
)
def test_bad_input_raises_a_library_error_naming_it(
    rollups: Rollups, call: Any, error: type[RollupError], named: str
) -> None:
    configure(rollups)
    with pytest.raises(error) as raised:
        call(rollups.reports)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_account_without_zone_needs_a_timezone(rollups: Rollups) -> None:
    with pytest.raises(AccountNotConfiguredError, match="account 1 has no reporting_timezone"):
        rollups.reports.summary(ACCOUNT, "account", SINCE, UNTIL)
    with pytest.raises(AccountNotConfiguredError, match="pass a timezone"):
        rollups.reports.timeseries(ACCOUNT, "resolutions_count", SINCE, UNTIL)


def test_a_long_hourly_range_stays_exact(rollups: Rollups, make: Events) -> None:
    configure(rollups)
    start = at(2026, 1, 1, 5)
    rollups.record(
        [make("conversation_resolved", start + timedelta(hours=7 * n)) for n in range(200)]
    )
    series = rollups.reports.timeseries(
        ACCOUNT, "resolutions_count", date(2026, 1, 1), date(2026, 3, 31), "hour"
    )
    assert sum(p.count for p in series.points) == 200
    days = rollups.reports.timeseries(
        ACCOUNT, "resolutions_count", date(2026, 1, 1), date(2026, 3, 31)
    )
    assert sum(p.count for p in days.points) == 200


def test_rollup_reports_do_not_read_raw_events(
    rollups: Rollups, db: InMemoryDatabase, make: Events
) -> None:
    configure(rollups)
    rollups.record([make("conversation_resolved", at(2026, 3, 2), user_id=7)])
    db.events.clear()  # behind the library's back: only the rollups still know the event
    summary = rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 3))
    assert (summary.source, [row.resolutions_count for row in summary.rows]) == (
        Source.ROLLUPS,
        [1],
    )
    rollups.enable_read_path(ACCOUNT, False)
    assert rollups.reports.summary(ACCOUNT, "agent", date(2026, 3, 1), date(2026, 3, 3)).rows == ()


def test_hours_restart_at_each_local_midnight(rollups: Rollups) -> None:
    # Lord Howe Island leaves DST on 5 April 2026 at 02:00 (+11:00 -> +10:30): a 24.5-hour day.
    series = rollups.reports.timeseries(
        ACCOUNT,
        "resolutions_count",
        date(2026, 4, 4),
        date(2026, 4, 6),
        "hour",
        timezone="Australia/Lord_Howe",
    )
    starts = [p.period_start.isoformat() for p in series.points]
    assert len(starts) == 24 + 25 + 24
    assert starts[24:28] == [
        "2026-04-05T00:00:00+11:00",
        "2026-04-05T01:00:00+11:00",
        "2026-04-05T01:30:00+10:30",
        "2026-04-05T02:30:00+10:30",
    ]
    assert starts[48] == "2026-04-05T23:30:00+10:30"  # the half hour left of the day
    assert starts[49] == "2026-04-06T00:00:00+10:30"
    kolkata = rollups.reports.timeseries(
        ACCOUNT,
        "resolutions_count",
        date(2026, 4, 4),
        date(2026, 4, 5),
        "hour",
        timezone="Asia/Kolkata",
    )
    assert len(kolkata.points) == 48
    assert {p.period_start.minute for p in kolkata.points} == {0}  # type: ignore[union-attr]


# --- the number of periods of a time series is capped (issue 8, item 15) -----------------------


def test_an_hourly_series_over_centuries_is_refused_before_anything_is_built(
    rollups: Rollups,
) -> None:
    configure(rollups)
    opened: list[bool] = []

    def no_unit_of_work(**_options: Any) -> Any:
        opened.append(True)
        raise AssertionError("the series was being built")

    reports = Reports(no_unit_of_work, fixed_clock)
    with pytest.raises(InvalidRangeError, match=f"at most {MAX_PERIODS:,}") as raised:
        reports.timeseries(
            ACCOUNT, "resolutions_count", date(1900, 1, 1), date(2200, 12, 31), "hour"
        )
    assert f"{24 * ((date(2200, 12, 31) - date(1900, 1, 1)).days + 1):,} periods" in str(
        raised.value
    )
    assert "narrow the range or group by a longer period" in str(raised.value)
    assert opened == []


def test_the_cap_counts_periods_of_each_grouping() -> None:
    since = date(2000, 1, 1)
    last = since + timedelta(days=MAX_PERIODS - 1)
    check_period_count(since, last, GroupBy.DAY)  # exactly the cap: allowed
    with pytest.raises(InvalidRangeError, match="100,001 periods"):
        check_period_count(since, last + timedelta(days=1), GroupBy.DAY)
    check_period_count(date(1, 1, 1), date(9999, 12, 31), GroupBy.YEAR)
    with pytest.raises(InvalidRangeError, match="119,988 periods"):
        check_period_count(date(1, 1, 1), date(9999, 12, 31), GroupBy.MONTH)


@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize(
    ("since", "until"),
    [
        (date(2026, 1, 1), date(2026, 1, 1)),
        (date(2025, 12, 27), date(2026, 3, 4)),  # a Saturday to a Wednesday, across a year
        (date(2024, 2, 29), date(2026, 11, 22)),
    ],
)
def test_period_count_is_the_number_of_points(
    rollups: Rollups, group_by: GroupBy, since: date, until: date
) -> None:
    configure(rollups, "UTC")
    for week_start in ("sunday", "wednesday"):
        series = rollups.reports.timeseries(
            ACCOUNT, "resolutions_count", since, until, group_by, week_start=week_start
        )
        weekday = WEEKDAYS.index(week_start)
        assert period_count(since, until, group_by, weekday) == len(series.points)

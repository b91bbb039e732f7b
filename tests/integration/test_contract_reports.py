"""Contract of the read path on every backend: rollup answers == raw answers == the reference.

Uses the `backend` fixture (an opened `Rollups` per backend: memory, SQLite, PostgreSQL, with a
fixed clock). Every test works on accounts and event ids of its own, so the backends' data may be
shared between tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.event import listen

from reporting_rollups.adapters.sql.database import SqlDatabase
from reporting_rollups.adapters.sql.errors import ErrorTranslator
from reporting_rollups.adapters.sql.reports import SqlReportStore
from reporting_rollups.adapters.sql.tables import metadata
from reporting_rollups.adapters.sql.unit_of_work import SqlTransaction
from reporting_rollups.application.periods import bucket_start
from reporting_rollups.application.read_path import GroupBy, Source
from reporting_rollups.application.report_results import SummaryReport, TimeseriesReport
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, Metric
from reporting_rollups.domain.registry import AVERAGES, REPORT_METRICS, ReportMetric, event_names
from reporting_rollups.domain.timezones import parse_timezone
from tests.reference import reference_rows

#: Account and event ids unique in this module's run, whatever the backend keeps between tests.
_accounts = itertools.count(9_100)
_event_ids = itertools.count(91_000_000)

NY = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def event(account_id: int, name: str, created_at: datetime, **fields: Any) -> Event:
    return Event(next(_event_ids), name, account_id, created_at, **fields)


def close(a: object, b: object) -> bool:
    """Equal, floats up to addition order."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return a == b


def assert_same(
    left: SummaryReport | TimeseriesReport, right: SummaryReport | TimeseriesReport
) -> None:
    """Same report (up to float addition order) apart from its source."""
    a, b = left.as_dict(), right.as_dict()
    rows_a = a.pop("rows" if "rows" in a else "points")
    rows_b = b.pop("rows" if "rows" in b else "points")
    a.pop("source"), b.pop("source")
    assert a == b
    assert [tuple(row) for row in rows_a] == [tuple(row) for row in rows_b]
    assert len(rows_a) == len(rows_b)
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        for key in row_a:
            assert close(row_a[key], row_b[key]), (key, row_a, row_b)


def from_both(rollups: Rollups, account_id: int, call: Any) -> Any:
    """The report from rollups and from raw events, checked equal; returns the rollup one."""
    rollups.enable_read_path(account_id, True)
    from_rollups = call()
    rollups.enable_read_path(account_id, False)
    from_raw = call()
    assert (from_rollups.source, from_raw.source) == (Source.ROLLUPS, Source.RAW)
    assert_same(from_rollups, from_raw)
    return from_rollups


def test_known_answers_from_both_sources(backend: Rollups) -> None:
    account = next(_accounts)
    backend.record(
        [  # before the zone is set: stored only, rolled up by the rebuild
            event(
                account,
                "conversation_resolved",
                utc(2026, 3, 2),
                value=100,
                value_in_business_hours=10,
                user_id=7,
                inbox_id=3,
                conversation_id=1,
            ),
        ]
    )
    backend.set_timezone(account, NY)
    backend.record(
        [
            event(
                account,
                "conversation_resolved",
                utc(2026, 3, 8, 5, 30),
                value=300,
                value_in_business_hours=None,
                user_id=8,
                inbox_id=3,
                conversation_id=2,
            ),
            event(
                account,
                "first_response",
                utc(2026, 3, 8, 7),
                value=40,
                value_in_business_hours=4,
                user_id=7,
                conversation_id=2,
            ),
            event(
                account,
                "conversation_bot_handoff",
                utc(2026, 3, 8, 6, 10),
                conversation_id=2,
                inbox_id=3,
            ),
            event(
                account,
                "conversation_bot_handoff",
                utc(2026, 3, 8, 6, 40),
                conversation_id=2,
                inbox_id=3,
            ),
            event(
                account,
                "conversation_bot_handoff",
                utc(2026, 3, 9, 6, 0),
                conversation_id=2,
                inbox_id=3,
            ),
            event(account, "conversation_bot_handoff", utc(2026, 3, 9, 6, 0), inbox_id=3),
            event(account, "conversation_bot_resolved", utc(2026, 3, 9, 6, 0), inbox_id=4),
        ]
    )
    summary = from_both(
        backend,
        account,
        lambda: backend.reports.summary(
            account, "inbox", date(2026, 3, 1), date(2026, 3, 31), business_hours=True
        ),
    )
    assert summary.as_dicts() == [
        {
            "dimension_id": 3,
            "resolutions_count": 2,
            "avg_resolution_time": 5.0,
            "avg_first_response_time": None,
            "avg_reply_time": None,
            "bot_resolutions_count": 0,
            "bot_handoffs_count": 3,
        },
        {
            "dimension_id": 4,
            "resolutions_count": 0,
            "avg_resolution_time": None,
            "avg_first_response_time": None,
            "avg_reply_time": None,
            "bot_resolutions_count": 1,
            "bot_handoffs_count": 0,
        },
    ]
    weekly = from_both(
        backend,
        account,
        lambda: backend.reports.timeseries(
            account, "avg_resolution_time", date(2026, 3, 1), date(2026, 3, 21), "week"
        ),
    )
    assert [(p.period_start, p.value, p.count) for p in weekly.points] == [
        (date(2026, 3, 1), 100.0, 1),
        (date(2026, 3, 8), 300.0, 1),
        (date(2026, 3, 15), None, 0),
    ]
    hourly = backend.reports.timeseries(
        account,
        "bot_handoffs_count",
        date(2026, 3, 8),
        date(2026, 3, 8),
        "hour",
        dimension="inbox",
        dimension_id=3,
    )
    assert hourly.source is Source.RAW
    assert len(hourly.points) == 23
    assert [(p.period_start.isoformat(), p.value) for p in hourly.points if p.count] == [
        ("2026-03-08T01:00:00-05:00", 1),
    ]


ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
START = datetime(2026, 3, 25, tzinfo=UTC)
SPAN_MINUTES = 16 * 24 * 60
FIRST_DAY, LAST_DAY = date(2026, 3, 24), date(2026, 4, 11)
#: Handoffs weigh more: their per-day distinct counting is the subtle rule.
NAMES = [*event_names(), "conversation_created", *["conversation_bot_handoff"] * 3]

values = st.one_of(st.none(), st.floats(0, 10_000, allow_nan=False, allow_infinity=False))
raw_events = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(NAMES),
            "minute": st.integers(0, SPAN_MINUTES),
            "value": values,
            "value_in_business_hours": values,
            "user_id": st.sampled_from([None, 1, 2]),
            "inbox_id": st.sampled_from([None, 1]),
            "conversation_id": st.sampled_from([None, 1, 2]),
            "first_batch": st.booleans(),
        }
    ),
    min_size=3,
    max_size=40,
)
MIDDLE = date(2026, 4, 2)


def expected_summary(
    account_id: int,
    events: Sequence[Event],
    zone: str,
    dimension: str,
    since: date,
    until: date,
    business_hours: bool,
) -> list[dict[str, Any]]:
    """Summary rows computed from the plain reference aggregation."""
    totals: dict[tuple[int, str], list[float]] = {}
    for (_a, day, dim, dim_id, metric), (count, total, business) in reference_rows(
        events, zone
    ).items():
        if dim == dimension and since <= day <= until:
            sums = totals.setdefault((dim_id, metric), [0, 0.0, 0.0])
            sums[0] += count
            sums[1] += total
            sums[2] += business
    ids = [account_id] if dimension == "account" else sorted({i for i, _metric in totals})
    rows = []
    for dim_id in ids:
        row: dict[str, Any] = {"dimension_id": dim_id}
        for report_metric, metric in REPORT_METRICS.items():
            count, total, business = totals.get((dim_id, str(metric)), [0, 0.0, 0.0])
            if report_metric in AVERAGES:
                row[report_metric.value] = (
                    (business if business_hours else total) / count if count else None
                )
            else:
                row[report_metric.value] = count
        rows.append(row)
    return rows


def _handoff(minute: int, conversation_id: int | None, first: bool = False) -> dict[str, Any]:
    return {
        "name": "conversation_bot_handoff",
        "minute": minute,
        "value": None,
        "value_in_business_hours": None,
        "user_id": 1,
        "inbox_id": 1,
        "conversation_id": conversation_id,
        "first_batch": first,
    }


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=raw_events,
    zone=st.sampled_from(ZONES),
    first=st.dates(FIRST_DAY, MIDDLE),
    last=st.dates(MIDDLE, LAST_DAY),
    business_hours=st.booleans(),
    metric=st.sampled_from(list(ReportMetric)),
    group_by=st.sampled_from([GroupBy.DAY, GroupBy.WEEK, GroupBy.MONTH]),
    week_start=st.sampled_from(["sunday", "monday", "thursday"]),
    series_dimension=st.sampled_from([(None, None), ("agent", 1), ("inbox", 1)]),
    backfilled=st.booleans(),
)
@example(  # one conversation handed off on two local days (twice on the first), one without
    raw=[_handoff(600, 1, True), _handoff(700, 1), _handoff(3 * 1440, 1), _handoff(800, None)],
    zone="Asia/Kolkata",
    first=date(2026, 3, 24),
    last=date(2026, 4, 11),
    business_hours=False,
    metric=ReportMetric.BOT_HANDOFFS_COUNT,
    group_by=GroupBy.WEEK,
    week_start="sunday",
    series_dimension=("agent", 1),
    backfilled=False,
)
def test_rollup_and_raw_reports_agree_with_the_reference(
    backend: Rollups,
    raw: list[dict[str, Any]],
    zone: str,
    first: date,
    last: date,
    business_hours: bool,
    metric: ReportMetric,
    group_by: GroupBy,
    week_start: str,
    series_dimension: tuple[str | None, int | None],
    backfilled: bool,
) -> None:
    account = next(_accounts)
    since, until = first, last
    events = [
        event(
            account,
            item["name"],
            START + timedelta(minutes=item["minute"]),
            value=item["value"],
            value_in_business_hours=item["value_in_business_hours"],
            user_id=item["user_id"],
            inbox_id=item["inbox_id"],
            conversation_id=item["conversation_id"],
        )
        for item in raw
    ]
    # The zone first (nothing to rebuild: quick), then two live batches; the rollups of the range
    # are rebuilt from raw events by a backfill in some examples.
    backend.set_timezone(account, zone)
    backend.record([e for e, item in zip(events, raw, strict=True) if item["first_batch"]])
    backend.record([e for e, item in zip(events, raw, strict=True) if not item["first_batch"]])
    if backfilled:
        backend.backfill(account, FIRST_DAY - timedelta(days=1), LAST_DAY + timedelta(days=1))

    for dimension in DimensionType:
        summary = from_both(
            backend,
            account,
            lambda d=dimension: backend.reports.summary(account, d, since, until, business_hours),
        )
        want = expected_summary(account, events, zone, str(dimension), since, until, business_hours)
        have = summary.as_dicts()
        assert [row["dimension_id"] for row in have] == [row["dimension_id"] for row in want]
        for got, expected in zip(have, want, strict=True):
            assert all(close(got[key], expected[key]) for key in expected), (got, expected)

    dimension, dimension_id = series_dimension
    series = from_both(
        backend,
        account,
        lambda: backend.reports.timeseries(
            account,
            metric,
            since,
            until,
            group_by,
            dimension,
            dimension_id,
            business_hours,
            week_start=week_start,
        ),
    )
    first_weekday = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ].index(week_start)
    starts = list(
        dict.fromkeys(
            bucket_start(since + timedelta(days=n), group_by, first_weekday)
            for n in range((until - since).days + 1)
        )
    )
    assert [p.period_start for p in series.points] == starts
    # Periods add up to the summary of the same range (sums of per-day counts).
    summary_dimension = dimension or "account"
    summary_id = dimension_id or account
    rows = {
        row["dimension_id"]: row
        for row in expected_summary(
            account, events, zone, summary_dimension, since, until, business_hours
        )
    }
    total_count = sum(p.count for p in series.points)
    if metric not in AVERAGES:
        assert total_count == rows.get(summary_id, {}).get(metric.value, 0)
    zone_info = parse_timezone(zone)
    in_range = [e for e in events if since <= e.created_at.astimezone(zone_info).date() <= until]
    if metric is ReportMetric.AVG_REPLY_TIME:
        field = {"agent": "user_id", "inbox": "inbox_id"}.get(summary_dimension, "account_id")
        assert total_count == sum(
            1 for e in in_range if e.name == "reply_time" and getattr(e, field) == summary_id
        )


# --- the shape of the rollup queries (SQLite; the query text is shared with PostgreSQL) -------


def test_rollup_reports_are_one_indexed_aggregate_over_the_rollup_table() -> None:
    statements: list[tuple[str, Any]] = []
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    listen(engine, "before_cursor_execute", lambda *args: statements.append((args[2], args[3])))
    database = SqlDatabase(engine, ErrorTranslator("SQLite database :memory:"))
    with SqlTransaction(database) as transaction:
        connection = transaction.session.connection
        store = SqlReportStore(transaction.session)
        store.rollup_summary(
            4242, list(Metric), DimensionType.AGENT, date(2026, 1, 1), date(2026, 12, 31)
        )
        store.rollup_totals(
            4242, [Metric.REPLY_TIME], DimensionType.AGENT, date(2026, 1, 1), date(2026, 12, 31), 7
        )
        assert len(statements) == 2
        for text, parameters in statements:
            assert "reporting_events_rollups" in text
            assert "reporting_events " not in text
            assert "GROUP BY" in text
            assert "4242" not in text  # bound, not inlined
            assert 4242 in parameters
        summary_text, summary_parameters = statements[0]
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + summary_text, summary_parameters
        ).fetchall()
        # An index search, never a scan of the table. Without statistics SQLite's planner ties
        # between the summary index (account, dimension, date range) and the time-series one
        # (account, metric IN ..., date range) and breaks the tie by index creation order.
        searches = [str(row) for row in plan if "SEARCH reporting_events_rollups" in str(row)]
        assert searches, plan
        assert all(
            "index_rollup_summary" in row or "index_rollup_timeseries" in row for row in searches
        ), plan
        assert not any("SCAN reporting_events_rollups" in str(row) for row in plan), plan

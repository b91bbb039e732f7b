"""The hot path of `sync` reads change-log rows on the DB-API cursor (`adapters.sql.change_rows`):
its shortcuts read every value exactly as SQLAlchemy and the SQL guard `readable_created_at`
would."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from reporting_rollups.adapters.sql.change_rows import SQLiteTimestamps, _utc
from reporting_rollups.adapters.sql.rows import aware
from reporting_rollups.adapters.sqlite.engine import decode_text

TEXTS = [
    "2026-01-01 10:00:00.000000",
    "2026-01-01 10:00:00",
    "2026-01-01 10:00",
    "2026-01-01T10:00:00.5",
    "2026-02-30 10:00:00",
    "2026-13-01 10:00:00",
    "2026-01-01 24:00:00",
    "2026-01-01 23:59:60",
    "2026-01-01",
    "20260101",
    "2026-01-01 10:00:00Z",
    "2026-01-01 10:00:00+02:00",
    "2026-01-01 10:00:00.1234567",
    "2026-01-01 10:00:00 ",
    "1900-01-01 00:00:00",
    "2199-12-31 23:59:59.999999",
    "2026-01-01 10:00:00.",
    "2026-1-01 10:00:00",
    "2026-01-01 \u0661\u0660:00:00",
    "2026-01-01 10:00:00\udcff",
    "2026-01-01x",
    "2100-06-15 12:00:00.000001",
]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 3, 4, 5, 6, 7, 8),
        datetime(1, 1, 2),
        datetime(9999, 12, 31, 23, 59),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_utc_is_aware(value: datetime) -> None:
    assert _utc(value) == aware(value)
    assert _utc(value).tzinfo is UTC


@pytest.mark.parametrize("stored", TEXTS)
def test_sqlite_created_at_reads_as_the_full_guard_does(stored: str) -> None:
    """The DELETE keeps only the range check of `readable_created_at` (SQLite's `datetime()` is
    slow there); `SQLiteTimestamps.created` decides the rest as `datetime()` would."""
    connection = sqlite3.connect(":memory:")
    connection.text_factory = decode_text
    connection.execute("CREATE TABLE t (x TEXT)")
    connection.execute(
        "INSERT INTO t VALUES (CAST(? AS TEXT))", (stored.encode("utf-8", "surrogateescape"),)
    )
    in_range = "x >= '1900-01-01 00:00:00' AND x < '2200-01-01 00:00:00'"
    (full,) = connection.execute(
        f"SELECT CASE WHEN {in_range} AND datetime(x) IS NOT NULL THEN x END FROM t"
    ).fetchone()
    (ranged,) = connection.execute(f"SELECT CASE WHEN {in_range} THEN x END FROM t").fetchone()
    times = SQLiteTimestamps(sqlite_dialect.dialect(), connection.cursor())

    def outcome(read: object) -> object:
        try:
            return read()  # type: ignore[operator]
        except ValueError:
            return "ValueError"

    expected = outcome(lambda: None if full is None else aware(times.parse(full)))
    found = outcome(lambda: None if ranged is None else times.created(ranged))
    assert found == expected

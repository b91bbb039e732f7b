"""`rollups ingest --assume-utc`: a host's export loaded as it is, on SQLite and PostgreSQL.

Chatwoot stores `created_at` as `timestamp without time zone` in UTC, so its exports and dumps
(`\\copy reporting_events TO ... CSV HEADER`, `row_to_json`) have naive times and every column of
the table. Account 7 reports in Europe/Paris and the events sit around midnight, so that a
naive time read in any other zone than UTC would land on another day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_OK, EXIT_USAGE, app
from reporting_rollups.domain.events import TIME_FIELDS, Event
from tests.conftest import reset_postgres

ACCOUNT = 7
#: The reference table's columns, in its order.
COLUMNS = (
    "id",
    "name",
    "value",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "updated_at",
    "value_in_business_hours",
    "event_start_time",
    "event_end_time",
)
#: (id, name, value, inbox, user, conversation, created_at in UTC, value in business hours)
EVENTS = (
    (1, "conversation_resolved", 100.0, 4, 3, 10, "2025-03-29 22:30:00.123456", 50.0),
    (2, "first_response", 40.0, 4, 3, 10, "2025-03-29 23:30:00", None),  # 00:30 on the 30th
    (3, "reply_time", 20.5, 4, 3, 10, "2025-03-30 21:59:59.5", 10.0),  # 23:59 CEST
    (4, "conversation_bot_handoff", None, 4, None, 11, "2025-03-30 22:00:00", None),  # 31st
    (5, "conversation_bot_resolved", None, 4, None, 12, "2025-03-31 10:00:00", None),
)
IDS = [event[0] for event in EVENTS]


def host_rows(*, zone: str) -> list[dict[str, Any]]:
    """The events as rows of the host's table, every time followed by `zone` ('' for naive)."""
    rows = []
    for event_id, name, value, inbox, user, conversation, created_at, business in EVENTS:
        rows.append(
            {
                "id": event_id,
                "name": name,
                "value": value,
                "account_id": ACCOUNT,
                "inbox_id": inbox,
                "user_id": user,
                "conversation_id": conversation,
                "created_at": created_at + zone,
                "updated_at": "2025-04-01 08:00:00" + zone,
                "value_in_business_hours": business,
                "event_start_time": created_at + zone if business is not None else None,
                "event_end_time": None,
            }
        )
    return rows


def write_export(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV export as `\\copy ... CSV HEADER` writes it (NULL: an empty cell), or JSON Lines."""
    if path.suffix == ".csv":
        lines = [",".join(COLUMNS)]
        lines += [",".join("" if row[c] is None else str(row[c]) for c in COLUMNS) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one backend: for the explicit UTC times and for the export."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'explicit.db'}", f"sqlite:///{tmp_path / 'export.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    yield url, request.getfixturevalue("database_url")
    reset_postgres(url)


def run(db: str, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--db", db, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def ok(db: str, *args: str) -> Result:
    result = run(db, *args)
    assert result.exit_code == EXIT_OK, result.output
    return result


def times(event: Event) -> tuple[datetime | None, ...]:
    return tuple(getattr(event, name) for name in TIME_FIELDS)


def stored(db: str) -> list[Event]:
    with open_rollups(db, migrate=False) as rollups, rollups.uow_factory() as uow:
        return sorted(uow.events.get(IDS), key=lambda event: event.id)


def rollup_rows(db: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ok(db, "rows", "--account", str(ACCOUNT)).stdout)
    return rows


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_export_with_naive_utc_times_gives_what_explicit_utc_times_give(
    databases: tuple[str, str], tmp_path: Path, suffix: str
) -> None:
    explicit_db, export_db = databases
    explicit = write_export(tmp_path / f"explicit{suffix}", host_rows(zone="+00:00"))
    export = write_export(tmp_path / f"export{suffix}", host_rows(zone=""))
    for db in databases:
        ok(db, "set-timezone", str(ACCOUNT), "Europe/Paris")
    ok(explicit_db, "ingest", str(explicit))
    summary = ok(export_db, "ingest", "--assume-utc", str(export)).stdout
    assert any("stored" in line and f" {len(EVENTS)} " in line for line in summary.splitlines())

    expected = stored(explicit_db)
    assert [event.id for event in expected] == IDS
    assert stored(export_db) == expected
    # the other times too (equality does not compare them)
    assert [times(event) for event in stored(export_db)] == [times(event) for event in expected]
    assert times(expected[0]) == (
        datetime(2025, 4, 1, 8, tzinfo=UTC),
        datetime(2025, 3, 29, 22, 30, 0, 123456, tzinfo=UTC),
        None,
    )
    assert expected[1].created_at.isoformat() == "2025-03-29T23:30:00+00:00"
    rows = rollup_rows(export_db)
    assert rows == rollup_rows(explicit_db)
    assert {row["date"] for row in rows} == {"2025-03-29", "2025-03-30", "2025-03-31"}
    first_responses = [row for row in rows if row["metric"] == "first_response"]
    assert {row["date"] for row in first_responses} == {"2025-03-30"}  # Paris, not UTC


def test_assume_utc_keeps_the_times_that_have_an_offset(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    explicit_db, mixed_db = databases
    rows = host_rows(zone="")
    rows[2]["created_at"] = "2025-03-30 23:59:59.5+02:00"  # the same instant in Paris
    mixed = write_export(tmp_path / "mixed.csv", rows)
    ok(explicit_db, "ingest", str(write_export(tmp_path / "z.csv", host_rows(zone="Z"))))
    ok(mixed_db, "ingest", "--assume-utc", str(mixed))
    assert stored(mixed_db) == stored(explicit_db)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_without_the_flag_a_naive_export_is_refused_naming_the_flag(
    databases: tuple[str, str], tmp_path: Path, suffix: str
) -> None:
    db = databases[1]
    ok(db, "set-timezone", str(ACCOUNT), "Europe/Paris")
    export = write_export(tmp_path / f"export{suffix}", host_rows(zone=""))
    result = run(db, "ingest", str(export))
    assert result.exit_code == EXIT_USAGE, result.output
    assert "Traceback" not in result.output
    first_line = 2 if suffix == ".csv" else 1  # the CSV header is line 1
    bad_lines = [line for line in result.stderr.splitlines() if "has no time zone" in line]
    assert len(bad_lines) == len(EVENTS), result.stderr
    assert bad_lines[0].strip().startswith(f"{export}:{first_line}: field 'created_at': ")
    assert all("--assume-utc" in line for line in bad_lines)
    assert f"error: {len(EVENTS)} of {len(EVENTS)} lines are bad; nothing was written" in (
        result.stderr
    )
    assert stored(db) == []
    assert rollup_rows(db) == []

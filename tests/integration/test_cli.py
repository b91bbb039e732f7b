"""The `rollups` command line end to end, on SQLite (a file per test) and PostgreSQL.

Commands run in-process through typer's `CliRunner` (stdout and stderr apart); a few run as a
real process (standard input, the console script). Events are dated in 2025, around Europe/Paris's
DST change of 30 March, so that no test depends on today's date.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import typer
from sqlalchemy import text
from typer.testing import CliRunner, Result

from reporting_rollups.adapters import cli, open_rollups
from reporting_rollups.adapters.cli import (
    EXIT_DATABASE,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_USAGE,
    ROW_COLUMNS,
    app,
)
from reporting_rollups.adapters.cli import ingest as ingest_command
from reporting_rollups.adapters.event_files import EventFormat, parse_events
from reporting_rollups.adapters.sql.backends import engine_for_url
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event

PARIS = "Europe/Paris"
ACCOUNT = 7

#: Six events of account 7 over three Paris days (29, 30, 31 March 2025; DST starts on the 30th).
EVENTS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "conversation_resolved",
        "account_id": ACCOUNT,
        "created_at": "2025-03-29T22:30:00Z",  # 23:30 CET, 29 March
        "value": 100.0,
        "value_in_business_hours": 50.0,
        "user_id": 3,
        "inbox_id": 4,
        "conversation_id": 10,
    },
    {
        "id": 2,
        "name": "first_response",
        "account_id": ACCOUNT,
        "created_at": "2025-03-30T00:30:00+01:00",  # 00:30 CET, 30 March
        "value": 40.0,
        "user_id": 3,
        "inbox_id": 4,
        "conversation_id": 10,
    },
    {
        "id": 3,
        "name": "reply_time",
        "account_id": ACCOUNT,
        "created_at": "2025-03-30T21:59:00Z",  # 23:59 CEST, 30 March
        "value": 20.0,
        "user_id": 3,
        "inbox_id": 4,
        "conversation_id": 10,
        "updated_at": "2025-03-30T21:59:00Z",
    },
    {
        "id": 4,
        "name": "conversation_bot_handoff",
        "account_id": ACCOUNT,
        "created_at": "2025-03-31T08:00:00Z",
        "inbox_id": 4,
        "conversation_id": 11,
    },
    {
        "id": 5,
        "name": "conversation_bot_handoff",
        "account_id": ACCOUNT,
        "created_at": "2025-03-31T09:00:00Z",  # same conversation, same day: one handoff
        "inbox_id": 4,
        "conversation_id": 11,
    },
    {
        "id": 6,
        "name": "conversation_bot_resolved",
        "account_id": ACCOUNT,
        "created_at": "2025-03-31T10:00:00Z",
        "inbox_id": 4,
        "conversation_id": 12,
    },
]
CSV_COLUMNS = (
    "id",
    "name",
    "value",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "value_in_business_hours",
)
#: The account-dimension rows the events give in Paris: (date, metric) -> (count, sum, sum_bh).
ACCOUNT_ROWS = {
    ("2025-03-29", "resolutions_count"): (1, 0.0, 0.0),
    ("2025-03-29", "resolution_time"): (1, 100.0, 50.0),
    ("2025-03-30", "first_response"): (1, 40.0, 0.0),
    ("2025-03-30", "reply_time"): (1, 20.0, 0.0),
    ("2025-03-31", "bot_handoffs_count"): (1, 0.0, 0.0),
    ("2025-03-31", "bot_resolutions_count"): (1, 0.0, 0.0),
}
RANGE = ("--since", "2025-03-29", "--until", "2025-03-31")


def run(db: str, *args: str, stdin: str | None = None) -> Result:
    """Invoke the CLI in-process; any exception other than an exit is a test failure."""
    result = CliRunner().invoke(app, ["--db", db, *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def ok(db: str, *args: str, stdin: str | None = None) -> Result:
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == EXIT_OK, result.output
    return result


def fails(db: str, code: int, *args: str, stdin: str | None = None) -> str:
    """Run a command expected to fail with `code`; return its one-line error message."""
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def write_csv(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    lines = [",".join(CSV_COLUMNS)]
    for record in records:
        cells = ["" if record.get(c) is None else str(record[c]) for c in CSV_COLUMNS]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_json(db: str, account: int = ACCOUNT, *extra: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        ok(db, "rows", "--account", str(account), *extra).stdout
    )
    return rows


def account_rows(db: str) -> dict[tuple[str, str], tuple[int, float, float]]:
    return {
        (row["date"], row["metric"]): (
            row["count"],
            row["sum_value"],
            row["sum_value_business_hours"],
        )
        for row in rows_json(db)
        if row["dimension_type"] == "account"
    }


def stored_ids(db: str, ids: Sequence[int]) -> list[int]:
    with open_rollups(db, migrate=False) as rollups, rollups.uow_factory() as uow:
        return [event.id for event in uow.events.get(ids)]


def parse_records(records: Sequence[dict[str, Any]]) -> list[Event]:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    parsed = list(parse_events(io.BytesIO(data), EventFormat.JSONL, "test"))
    return [line.event for line in parsed if line.event is not None]


def ingest_sample(db: str, tmp_path: Path) -> None:
    """Account 7 in Paris, then the sample events (three from JSON Lines, three from CSV)."""
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    jsonl = write_jsonl(tmp_path / "a.jsonl", EVENTS[:3])
    csv_file = write_csv(tmp_path / "b.csv", EVENTS[3:])
    ok(db, "ingest", str(jsonl), str(csv_file))


# -- migrate, settings ----------------------------------------------------------------------------


def test_migrate_creates_the_schema_then_finds_it_current(
    db: str, request: pytest.FixtureRequest
) -> None:
    if db.startswith("postgresql"):  # the session's database keeps its schema: use a new one
        db = request.getfixturevalue("database_url")
    first = ok(db, "migrate").stdout
    assert "migrated from nothing to revision" in first
    assert "reporting_events_rollups" in first
    assert "schema up to date" in ok(db, "migrate").stdout


def test_the_database_url_may_come_from_the_environment(db: str) -> None:
    result = CliRunner().invoke(app, ["migrate"], env={"ROLLUPS_DATABASE_URL": db})
    assert result.exit_code == EXIT_OK, result.output
    assert "revision" in result.stdout


def test_set_timezone_rebuilds_the_rollups_and_none_clears_them(db: str, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "e.jsonl", EVENTS)
    result = ok(db, "ingest", str(tmp_path / "e.jsonl"))
    assert "skipped (account has no time zone)" in result.stdout
    assert rows_json(db) == []
    result = ok(db, "set-timezone", str(ACCOUNT), PARIS)
    assert f"reporting time zone {PARIS}" in result.stdout
    assert "rebuilt" in result.stdout
    assert account_rows(db) == ACCOUNT_ROWS
    assert "cleared" in ok(db, "set-timezone", str(ACCOUNT), "none").stdout
    assert rows_json(db) == []


def test_set_timezone_without_rebuild_serves_reports_from_raw_until_rebuilt(
    db: str, tmp_path: Path
) -> None:
    ok(db, "ingest", str(write_jsonl(tmp_path / "e.jsonl", EVENTS)))
    ok(db, "read-path", str(ACCOUNT), "on")
    result = ok(db, "set-timezone", str(ACCOUNT), PARIS, "--no-rebuild")
    assert "rebuild --account 7" in result.stdout
    report = json.loads(ok(db, "report", "summary", "-a", "7", *RANGE, "-f", "json").stdout)
    assert report["source"] == "raw"
    assert ": 6 events" in ok(db, "rebuild", "--account", str(ACCOUNT)).stdout
    report = json.loads(ok(db, "report", "summary", "-a", "7", *RANGE, "-f", "json").stdout)
    assert report["source"] == "rollups"
    assert account_rows(db) == ACCOUNT_ROWS


def test_read_path_switches_where_reports_come_from(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    summary = ("report", "summary", "--account", "7", *RANGE, "--format", "json")
    assert json.loads(ok(db, *summary).stdout)["source"] == "raw"
    assert "read path on" in ok(db, "read-path", "7", "on").stdout
    on = json.loads(ok(db, *summary).stdout)
    assert on["source"] == "rollups"
    assert "read path off" in ok(db, "read-path", "7", "OFF").stdout
    off = json.loads(ok(db, *summary).stdout)
    assert off["source"] == "raw"
    assert on["rows"] == off["rows"]


def test_read_path_on_without_a_zone_notes_that_reports_stay_raw(db: str) -> None:
    result = ok(db, "read-path", "8", "on")
    assert "come from raw events" in result.stderr


# -- ingest ----------------------------------------------------------------------------------------


def test_ingest_records_json_lines_and_csv_and_rolls_them_up(db: str, tmp_path: Path) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    jsonl = write_jsonl(tmp_path / "a.ndjson", [*EVENTS[:3], EVENTS[0]])  # one redelivery
    csv_file = write_csv(tmp_path / "b.csv", EVENTS[3:])
    result = ok(db, "ingest", str(jsonl), str(csv_file), "--batch-size", "2")
    summary = result.stdout
    for label, value in (
        ("events read", 7),
        ("stored", 6),
        ("duplicates", 1),
        ("rolled up", 6),
        ("invalid lines", 0),
    ):
        assert any(label in line and f" {value} " in line for line in summary.splitlines()), (
            label,
            summary,
        )
    assert account_rows(db) == ACCOUNT_ROWS
    assert "0 mismatches" in ok(db, "verify", "--account", str(ACCOUNT)).stdout


def test_ingesting_the_same_file_again_stores_nothing_new(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    again = ok(db, "ingest", str(tmp_path / "a.jsonl")).stdout
    assert any("duplicates" in line and " 3 " in line for line in again.splitlines()), again
    assert account_rows(db) == ACCOUNT_ROWS


def test_a_bad_line_fails_the_whole_ingest_and_nothing_is_written(db: str, tmp_path: Path) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    good = write_jsonl(tmp_path / "good.jsonl", EVENTS[:3])
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,name,account_id,created_at\n"
        "4,reply_time,7,2025-03-30T10:00:00Z\n"
        "5,reply_time,7,2025-03-30T10:00:00\n"
        "6,reply_time,seven,2025-03-30T10:00:00Z\n"
    )
    result = run(db, "ingest", str(good), str(bad))
    assert result.exit_code == EXIT_USAGE
    assert f"{bad}:3: field 'created_at'" in result.stderr
    assert "has no time zone" in result.stderr
    assert f"{bad}:4: field 'account_id'" in result.stderr
    assert "error: 2 of 6 lines are bad; nothing was written" in result.stderr
    assert "Traceback" not in result.output
    assert stored_ids(db, range(1, 7)) == []


def test_skip_invalid_records_the_good_lines_and_lists_the_bad_ones(
    db: str, tmp_path: Path
) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(EVENTS[0])
        + "\n{not json\n"
        + json.dumps({**EVENTS[1], "id": -2})
        + "\n"
        + json.dumps(EVENTS[2])
        + "\n"
    )
    result = run(db, "ingest", str(path), "--skip-invalid")
    assert result.exit_code == EXIT_OK, result.output
    assert f"skipped {path}:2: invalid JSON" in result.stderr
    assert f"skipped {path}:3: field 'id'" in result.stderr
    assert any("invalid lines" in line and " 2 " in line for line in result.stdout.splitlines())
    assert stored_ids(db, range(1, 7)) == [1, 3]


def test_max_errors_limits_the_listing_not_the_count(db: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(f'{{"id": {n}}}\n' for n in range(1, 8)))
    result = run(db, "ingest", str(path), "--max-errors", "2")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.count("field 'name': missing") == 2
    assert "... and 5 more" in result.stderr
    assert "7 of 7 lines are bad" in result.stderr


def test_an_id_stored_with_other_content_is_a_bad_line(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    changed = write_jsonl(tmp_path / "changed.jsonl", [{**EVENTS[0], "value": 101.0}])
    message = fails(db, EXIT_USAGE, "ingest", str(changed))
    assert "1 of 1 lines are bad" in message
    result = run(db, "ingest", str(changed))
    assert "already stored with other content (value)" in result.stderr
    twice = write_jsonl(tmp_path / "twice.jsonl", [EVENTS[3], {**EVENTS[3], "inbox_id": 9}])
    assert "1 of 2 lines are bad" in fails(db, EXIT_USAGE, "ingest", str(twice))
    assert account_rows(db) == ACCOUNT_ROWS


def test_a_conflict_between_batches_or_files_is_found_before_anything_is_written(
    db: str, tmp_path: Path
) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    path = write_jsonl(tmp_path / "e.jsonl", [*EVENTS[:3], {**EVENTS[0], "value": 1.0}])
    other = write_jsonl(tmp_path / "f.jsonl", [EVENTS[3], {**EVENTS[1], "inbox_id": 9}])
    result = run(db, "ingest", str(path), str(other), "--batch-size", "2")
    assert result.exit_code == EXIT_USAGE
    assert f"{path}:4: field 'id': event 1 is on {path}:1 with other content" in result.stderr
    assert f"{other}:2: field 'id': event 2 is on {path}:2 with other content" in result.stderr
    assert "error: 2 of 6 lines are bad; nothing was written" in result.stderr
    assert stored_ids(db, range(1, 7)) == []


def test_a_conflicting_write_between_the_two_passes_stops_the_second_where_it_is_found(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process storing an id with other content after the check is still caught."""
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    path = write_jsonl(tmp_path / "e.jsonl", EVENTS[:4])
    validate = ingest_command._validate

    def validate_then_race(*args: Any, **kwargs: Any) -> int:
        lines = validate(*args, **kwargs)
        with open_rollups(db, migrate=False) as other_writer:
            [changed] = parse_records([{**EVENTS[2], "value": 1.0}])
            other_writer.record([changed])
        return lines

    monkeypatch.setattr(ingest_command, "_validate", validate_then_race)
    message = fails(db, EXIT_USAGE, "ingest", str(path), "--batch-size", "2")
    assert f"{path}:3; 2 events were recorded, nothing from {path}:3 on" in message
    assert stored_ids(db, range(1, 7)) == [1, 2, 3]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("events.txt", "unknown extension '.txt'"),
        ("missing.jsonl", "missing.jsonl: no such file"),
    ],
)
def test_unreadable_inputs_are_input_errors(
    db: str, tmp_path: Path, name: str, message: str
) -> None:
    (tmp_path / "events.txt").write_text("")
    assert message in fails(db, EXIT_USAGE, "ingest", str(tmp_path / name))


def test_ingest_reads_json_lines_from_stdin_in_process(db: str) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    data = "".join(json.dumps(record) + "\n" for record in EVENTS)
    ok(db, "ingest", "-", stdin=data)
    assert account_rows(db) == ACCOUNT_ROWS
    bad = data + '{"id": 99, "name": "reply_time"}\n'
    message = fails(db, EXIT_USAGE, "ingest", "-", stdin=bad)
    assert "1 of 7 lines are bad" in message


# -- retract ---------------------------------------------------------------------------------------


def test_retract_takes_events_out_of_the_rollups(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    result = ok(db, "retract", "1", "4", "999")
    assert "retracted 2 event(s), 2 taken out of the rollups, 1 unknown id(s)" in result.stdout
    assert "1 id(s) were not stored" in result.stderr
    rows = account_rows(db)
    assert ("2025-03-29", "resolutions_count") not in rows
    assert rows[("2025-03-31", "bot_handoffs_count")] == (1, 0.0, 0.0)  # event 5 still there
    assert "0 mismatches" in ok(db, "verify", "-a", str(ACCOUNT)).stdout


def test_retract_of_one_account(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    other = ok(db, "retract", "--account", str(ACCOUNT + 1), "1", "4")
    assert "retracted 0 event(s), 0 taken out of the rollups, 2 unknown id(s)" in other.stdout
    assert f"2 id(s) were not stored as events of account {ACCOUNT + 1}" in other.stderr
    mine = ok(db, "retract", "-a", str(ACCOUNT), "1", "4")
    assert "retracted 2 event(s), 2 taken out of the rollups, 0 unknown id(s)" in mine.stdout
    assert "0 mismatches" in ok(db, "verify", "-a", str(ACCOUNT)).stdout
    assert run(db, "retract", "--account", "0", "5").exit_code == EXIT_USAGE


def test_retract_needs_integer_ids(db: str) -> None:
    result = run(db, "retract", "one")
    assert result.exit_code == EXIT_USAGE


# -- backfill and rebuild --------------------------------------------------------------------------


def _events_without_rollups(db: str, tmp_path: Path) -> None:
    ok(db, "ingest", str(write_jsonl(tmp_path / "e.jsonl", EVENTS)))
    ok(db, "set-timezone", str(ACCOUNT), PARIS, "--no-rebuild")


def test_backfill_dry_run_shows_the_plan_and_writes_nothing(db: str, tmp_path: Path) -> None:
    _events_without_rollups(db, tmp_path)
    result = ok(db, "backfill", "--account", "7", "--dry-run")
    plan = result.stderr
    assert "Europe/Paris" in plan
    assert "2025-03-29" in plan  # first event (and start of the range)
    assert "2025-03-31" in plan  # last event
    assert "dry run: nothing written" in plan
    assert result.stdout == ""
    assert rows_json(db) == []


def test_backfill_rebuilds_the_range_and_prints_a_summary(db: str, tmp_path: Path) -> None:
    _events_without_rollups(db, tmp_path)
    result = ok(db, "backfill", "--account", "7", "--since", "2025-03-30", "--until", "2025-03-31")
    assert "rebuilt 2 day(s) 2025-03-30 to 2025-03-31" in result.stdout
    assert ": 5 events, 10 rollup rows" in result.stdout
    assert {day for day, _metric in account_rows(db)} == {"2025-03-30", "2025-03-31"}
    ok(db, "backfill", "--account", "7", "--yes", *RANGE)
    assert account_rows(db) == ACCOUNT_ROWS


def test_backfill_asks_first_on_a_terminal(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _events_without_rollups(db, tmp_path)
    monkeypatch.setattr(cli.backfill, "_stdin_is_terminal", lambda: True)
    result = ok(db, "backfill", "--account", "7", *RANGE, stdin="n\n")
    assert "Rebuild 3 day(s) of account 7?" in result.stderr
    assert "cancelled: nothing written" in result.stderr
    assert rows_json(db) == []
    ok(db, "backfill", "--account", "7", *RANGE, stdin="y\n")
    assert account_rows(db) == ACCOUNT_ROWS


def test_backfill_warns_about_ranges_over_two_years(db: str, tmp_path: Path) -> None:
    _events_without_rollups(db, tmp_path)
    result = ok(db, "backfill", "-a", "7", "--since", "2022-01-01", "--until", "2025-03-31",
                "--dry-run")  # fmt: skip
    assert "warning: 1,186 days is more than 730" in result.stderr


def test_backfill_errors(db: str, tmp_path: Path) -> None:
    ok(db, "ingest", str(write_jsonl(tmp_path / "e.jsonl", EVENTS)))
    assert "has no reporting_timezone" in fails(db, EXIT_USAGE, "backfill", "-a", "7")
    ok(db, "set-timezone", str(ACCOUNT), PARIS, "--no-rebuild")
    assert "not a date" in fails(db, EXIT_USAGE, "backfill", "-a", "7", "--since", "29/03/2025")
    assert "is after until" in fails(
        db, EXIT_USAGE, "backfill", "-a", "7", "--since", "2025-04-01", "--until", "2025-03-01"
    )
    assert "account 42: unknown" in fails(db, EXIT_USAGE, "backfill", "-a", "42")
    assert "account 42: unknown" in fails(db, EXIT_USAGE, "rebuild", "-a", "42")


def test_rebuild_rebuilds_everything_through_today(db: str, tmp_path: Path) -> None:
    _events_without_rollups(db, tmp_path)
    result = ok(db, "rebuild", "--account", "7")
    assert "rebuilt" in result.stdout
    assert "2025-03-29 to" in result.stdout
    assert account_rows(db) == ACCOUNT_ROWS


# -- reports ---------------------------------------------------------------------------------------


def test_report_summary_in_three_formats(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    ok(db, "read-path", "7", "on")
    base = ("report", "summary", "--account", "7", "--dimension", "agent", *RANGE)
    data = json.loads(ok(db, *base, "--format", "json").stdout)
    assert data["source"] == "rollups"
    assert data["timezone"] == PARIS
    assert data["rows"] == [
        {
            "dimension_id": 3,
            "resolutions_count": 1,
            "avg_resolution_time": 100.0,
            "avg_first_response_time": 40.0,
            "avg_reply_time": 20.0,
            "bot_resolutions_count": 0,
            "bot_handoffs_count": 0,
        }
    ]
    result = ok(db, *base, "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0].split(",") == list(data["rows"][0])
    assert lines[1].split(",") == ["3", "1", "100.0", "40.0", "20.0", "0", "0"]
    assert "source: rollups" in result.stderr
    table = ok(db, *base).stdout
    assert "source: rollups" in table
    assert "1m 40s" in table  # average resolution time, 100 s
    hours = json.loads(ok(db, *base, "--business-hours", "-f", "json").stdout)
    assert hours["rows"][0]["avg_resolution_time"] == 50.0


def test_report_summary_in_another_zone_comes_from_raw_events(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    ok(db, "read-path", "7", "on")
    args = ("report", "summary", "-a", "7", "-d", "inbox", *RANGE, "--timezone", "UTC")
    data = json.loads(ok(db, *args, "-f", "json").stdout)
    assert (data["source"], data["timezone"]) == ("raw", "UTC")
    assert data["rows"][0]["dimension_id"] == 4
    assert data["rows"][0]["bot_handoffs_count"] == 1


def test_report_timeseries_zero_fills_and_groups_by_week(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    ok(db, "read-path", "7", "on")
    args = ("report", "timeseries", "--account", "7", "--metric", "resolutions_count")
    daily = json.loads(ok(db, *args, *RANGE, "-f", "json").stdout)
    assert daily["source"] == "rollups"
    assert [(p["period_start"], p["value"]) for p in daily["points"]] == [
        ("2025-03-29", 1),
        ("2025-03-30", 0),
        ("2025-03-31", 0),
    ]
    weekly = json.loads(
        ok(db, *args, *RANGE, "--group-by", "week", "--week-start", "monday", "-f", "json").stdout
    )
    assert [(p["period_start"], p["value"]) for p in weekly["points"]] == [
        ("2025-03-24", 1),
        ("2025-03-31", 0),
    ]
    agent = (
        "report", "timeseries", "-a", "7", "-m", "avg_first_response_time",
        "--dimension", "agent", "--dimension-id", "3", *RANGE, "-f", "csv",
    )  # fmt: skip
    result = ok(db, *agent)
    assert result.stdout.splitlines() == [
        "period_start,value,count",
        "2025-03-29,,0",
        "2025-03-30,40.0,1",
        "2025-03-31,,0",
    ]
    hourly = ok(db, *args, *RANGE, "--group-by", "hour")
    assert "source: raw" in hourly.stdout  # hours never come from rollups


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("timeseries", "-a", "7", "-m", "speed"), "metric 'speed': unknown metric"),
        (("timeseries", "-a", "7", "-m", "resolutions_count", "-g", "fortnight"), "group_by"),
        (("timeseries", "-a", "7", "-m", "reply_time"), "unknown metric"),
        (("summary", "-a", "7", "--dimension", "team"), "dimension 'team'"),
        (("summary", "-a", "7", "--timezone", "Mars/Base"), "unknown IANA time zone"),
        (("summary", "-a", "7", "--since", "2025-02-30"), "--since '2025-02-30': not a date"),
        (("summary", "-a", "7", "--format", "xml"), "--format 'xml'"),
        (("summary", "-a", "7", "--since", "2025-04-01", "--until", "2025-03-01"), "after"),
        (("summary", "-a", "99"), "account 99: unknown"),
    ],
)
def test_report_input_errors_are_one_line(
    db: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ingest_sample(db, tmp_path)
    assert message in fails(db, EXIT_USAGE, "report", *args)


# -- rows and verify -------------------------------------------------------------------------------


def test_rows_as_json_and_csv_use_the_table_columns(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    rows = rows_json(db, ACCOUNT, "--since", "2025-03-30", "--until", "2025-03-30")
    assert all(list(row) == list(ROW_COLUMNS) for row in rows)
    assert {row["date"] for row in rows} == {"2025-03-30"}
    assert {(row["dimension_type"], row["dimension_id"], row["metric"]) for row in rows} == {
        (dimension, dimension_id, metric)
        for dimension, dimension_id in (("account", 7), ("agent", 3), ("inbox", 4))
        for metric in ("first_response", "reply_time")
    }
    csv_lines = ok(db, "rows", "-a", "7", "--format", "csv").stdout.splitlines()
    assert csv_lines[0] == ",".join(ROW_COLUMNS)
    assert "7,2025-03-29,account,7,resolution_time,1,100.0,50.0" in csv_lines
    assert len(csv_lines) == 1 + len(rows_json(db))
    assert "Rollup rows of account 7" in ok(db, "rows", "-a", "7", "-f", "table").stdout


def test_verify_lists_mismatches_and_exits_1(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    assert "0 mismatches" in ok(db, "verify", "--account", "7", *RANGE).stdout
    engine = engine_for_url(db)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE reporting_events_rollups SET count = count + 2 "
                    "WHERE account_id = 7 AND metric = 'reply_time' AND dimension_type = 'agent'"
                )
            )
    finally:
        engine.dispose()
    result = run(db, "verify", "--account", "7")
    assert result.exit_code == EXIT_MISMATCH
    assert "1 mismatch(es)" in result.stdout
    assert "agent 3" in result.stdout
    verified = json.loads(run(db, "verify", "-a", "7", "--format", "json").stdout)
    assert verified["pending"] == 0
    assert verified["pending_days"] is None
    assert verified["mismatches"] == [
        {
            "account_id": 7,
            "date": "2025-03-30",
            "dimension_type": "agent",
            "dimension_id": 3,
            "metric": "reply_time",
            "expected": {"count": 1, "sum_value": 20.0, "sum_value_business_hours": 0.0},
            "actual": {"count": 3, "sum_value": 20.0, "sum_value_business_hours": 0.0},
        }
    ]
    ok(db, "backfill", "-a", "7", *RANGE, "--yes")
    assert "0 mismatches" in ok(db, "verify", "-a", "7").stdout


def test_verify_and_rows_errors(db: str, tmp_path: Path) -> None:
    ingest_sample(db, tmp_path)
    assert "account 8: unknown" in fails(db, EXIT_USAGE, "verify", "-a", "8")
    assert "account 8: unknown" in fails(db, EXIT_USAGE, "rows", "-a", "8")
    assert "--until" in fails(db, EXIT_USAGE, "rows", "-a", "7", "--until", "soon")
    ok(db, "ingest", "-", stdin=json.dumps({**EVENTS[0], "id": 50, "account_id": 8}) + "\n")
    assert "has no reporting_timezone" in fails(db, EXIT_USAGE, "verify", "-a", "8")


# -- demo ------------------------------------------------------------------------------------------


def test_demo_records_backfills_reports_and_verifies(db: str) -> None:
    result = ok(db, "demo", "--events", "2000", "--days", "40")
    out = result.stdout
    assert "events delivered" in out
    assert "2,000" in out
    assert "source: rollups" in out
    assert "0 mismatches, exact" in out
    assert "events/s" in out
    assert "rollups " in out
    assert "report summary --account 1" in out
    for account in (1, 2, 3, 4):
        assert "0 mismatches" in ok(db, "verify", "--account", str(account)).stdout
    message = fails(db, EXIT_USAGE, "demo", "--events", "10")
    assert "already has data of account 1" in message


# -- errors and exit codes -------------------------------------------------------------------------


def test_help_lists_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == EXIT_OK
    flat = " ".join(result.stdout.split())
    assert "Exit codes: 0 ok; 1 verify found mismatches; 2 usage or input error" in flat
    assert "3 database error" in flat
    for command in ("migrate", "ingest", "backfill", "report", "rows", "verify", "demo"):
        assert command in result.stdout


def test_an_unknown_zone_is_a_usage_error(db: str) -> None:
    assert "unknown IANA time zone" in fails(db, EXIT_USAGE, "set-timezone", "7", "Mars/Base")


def test_a_bad_url_is_a_usage_error() -> None:
    assert "unsupported scheme 'mysql'" in fails("mysql://x/y", EXIT_USAGE, "migrate")


def test_an_unreachable_database_is_a_database_error() -> None:
    url = "postgresql://nobody@127.0.0.1:9/nothing"
    assert fails(url, EXIT_DATABASE, "migrate").startswith("error: ")


def test_read_commands_do_not_create_a_missing_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    message = fails(url, EXIT_DATABASE, "report", "summary", "-a", "1")
    assert "no database at" in message
    assert "rollups migrate" in message
    assert not (tmp_path / "none.db").exists()


def test_an_unmigrated_database_is_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    message = fails(f"sqlite:///{tmp_path / 'empty.db'}", EXIT_DATABASE, "verify", "-a", "1")
    assert "rollups migrate" in message


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(app, ["rows", "--account", "abc"]).exit_code == EXIT_USAGE
    assert CliRunner().invoke(app, ["frobnicate"]).exit_code == EXIT_USAGE


def test_the_console_script_is_main() -> None:
    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "rollups"]
    assert script.value == "reporting_rollups.adapters.cli:main"
    assert script.load() is cli.main


# -- as a real process -----------------------------------------------------------------------------


def _process(db: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reporting_rollups.adapters.cli", "--db", db, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_process_ingests_stdin_validating_it_first(db: str) -> None:
    assert _process(db, "set-timezone", "7", PARIS).returncode == EXIT_OK
    data = "".join(json.dumps(record) + "\n" for record in EVENTS)
    bad = _process(db, "ingest", "-", stdin=data + "{oops\n")
    assert bad.returncode == EXIT_USAGE
    assert "<stdin>:7: invalid JSON" in bad.stderr
    assert "nothing was written" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert stored_ids(db, range(1, 7)) == []
    good = _process(db, "ingest", "-", stdin=data)
    assert good.returncode == EXIT_OK, good.stderr
    assert "stored" in good.stdout
    assert account_rows(db) == ACCOUNT_ROWS


def test_a_process_reports_mismatches_with_exit_1_and_errors_with_3(
    db: str, tmp_path: Path
) -> None:
    ingest_sample(db, tmp_path)
    engine = engine_for_url(db)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM reporting_events_rollups WHERE account_id = 7"))
    finally:
        engine.dispose()
    verify = _process(db, "verify", "--account", "7")
    assert verify.returncode == EXIT_MISMATCH
    assert "mismatch" in verify.stdout
    missing = _process(f"sqlite:///{tmp_path / 'nope.db'}", "rows", "--account", "7")
    assert missing.returncode == EXIT_DATABASE
    assert missing.stderr.startswith("error: ")


# -- hostile input, every error one line, closed pipes ---------------------------------------------


def test_hostile_lines_are_all_listed_and_nothing_is_written(db: str, tmp_path: Path) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    good = json.dumps(EVENTS[0])[1:-1]  # the fields of a good event, to override
    lines = [
        f'{{{good}, "id": {"9" * 5000}}}',  # Python's int() refuses over 4300 digits
        f'{{{good}, "value": {"9" * 400}}}',  # too large for a float
        f'{{{good}, "value": 1e12}}',  # out of range
        f'{{{good}, "name": "reply\\ud800"}}',  # lone surrogate
        f'{{{good}, "name": "reply\\u0000time"}}',  # NUL
        f'{{{good}, "name": "{"n" * 300}"}}',  # longer than an index holds
        f'{{{good}, "created_at": "0001-01-01T00:00:00+05:00"}}',  # no UTC instant
        f'{{{good}, "id": "1_000"}}',
        f'{{{good}, "id": "\\u0661\\u0662\\u0663"}}',
        f'{{{good}, "id": 2}}',  # a field twice: an error, not "last wins"
        "[" * 100_000 + "]" * 100_000,
        json.dumps(EVENTS[1]),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(db, "ingest", str(path), "--max-errors", "0")
    assert result.exit_code == EXIT_USAGE
    assert "Traceback" not in result.output
    for number, field in enumerate(
        ["id", "value", "value", "name", "name", "name", "created_at", "id", "id", "id"], start=1
    ):
        assert f"{path}:{number}: field '{field}': " in result.stderr
    assert f"{path}:11: JSON nested too deeply" in result.stderr
    assert "error: 11 of 12 lines are bad; nothing was written" in result.stderr
    assert stored_ids(db, range(1, 7)) == []


def test_csv_ids_in_other_notations_are_errors_not_numbers(db: str, tmp_path: Path) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS)
    path = tmp_path / "ids.csv"
    path.write_text(
        "id,name,account_id,created_at\n"
        "1_000,reply_time,7,2025-03-30T10:00:00Z\n"
        "\u0661\u0662\u0663,reply_time,7,2025-03-30T10:00:00Z\n"
        "5,reply_time,\uff17,2025-03-30T10:00:00Z\n",
        encoding="utf-8",
    )
    result = run(db, "ingest", str(path))
    assert result.exit_code == EXIT_USAGE
    assert f"{path}:2: field 'id': '1_000' is not an integer" in result.stderr
    assert f"{path}:3: field 'id': " in result.stderr
    assert f"{path}:4: field 'account_id': " in result.stderr
    assert stored_ids(db, [5, 123, 1000]) == []


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (RuntimeError("boom"), EXIT_DATABASE, "error: internal error: RuntimeError: boom"),
        (AttributeError(), EXIT_DATABASE, "error: internal error: AttributeError"),
        (typer.Abort(), EXIT_INTERRUPTED, "error: interrupted"),
        # A driver error no adapter translated is a bug too (adapters translate their own):
        # shown as one line, its first.
        (
            sqlalchemy.exc.OperationalError("SELECT 1\nFROM x", {}, Exception("gone\nfor good")),
            EXIT_DATABASE,
            "error: internal error: OperationalError: (builtins.Exception) gone",
        ),
    ],
)
def test_an_unexpected_exception_is_one_error_line_not_a_traceback(
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
    code: int,
    message: str,
) -> None:
    ingest_sample(db, tmp_path)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(Rollups, "rows", broken)
    assert fails(db, code, "rows", "--account", str(ACCOUNT)).startswith(message)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("rows", "--account", "x"), "Invalid value for '--account'"),
        (("rows",), "Missing option '--account'"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("--db",), "Option '--db' requires an argument"),
    ],
)
def test_usage_errors_are_one_error_line(args: tuple[str, ...], reason: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith(f"error: {reason}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_setter_on_an_account_the_database_does_not_know_warns(db: str, tmp_path: Path) -> None:
    first = ok(db, "read-path", "999", "on")
    assert "warning: account 999 has no events and no settings" in first.stderr
    assert "warning" not in ok(db, "read-path", "999", "off").stderr  # known since the first
    assert "warning: account 998" in ok(db, "set-timezone", "998", "UTC").stderr
    assert "warning" not in ok(db, "set-timezone", "998", PARIS).stderr
    ingest_sample(db, tmp_path)  # account 7: events, and a zone
    assert "warning" not in ok(db, "read-path", str(ACCOUNT), "on").stderr
    for account in ("998", str(ACCOUNT)):  # settings only, or events: known to every reader
        assert rows_json(db, int(account)) is not None
        ok(db, "verify", "--account", account)
        ok(db, "report", "summary", "--account", account, *RANGE)


def test_backfill_says_that_reports_stay_raw_until_a_rebuild(db: str, tmp_path: Path) -> None:
    ok(db, "set-timezone", str(ACCOUNT), PARIS, "--no-rebuild")
    ok(db, "ingest", str(write_jsonl(tmp_path / "a.jsonl", EVENTS)))
    result = ok(db, "backfill", "--account", str(ACCOUNT), *RANGE, "--yes")
    assert "reports come from raw events until `rollups rebuild --account 7`" in result.stderr
    ok(db, "rebuild", "--account", str(ACCOUNT))
    again = ok(db, "backfill", "--account", str(ACCOUNT), *RANGE, "--yes")
    assert "rebuild" not in again.stderr


def _closed_pipe(db: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the console entry point with standard output a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "from reporting_rollups.adapters.cli import main; main()",
                "--db",
                db,
                *args,
            ],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ("rows", "--account", "7", "--format", "csv"),
        ("rows", "--account", "7"),
        ("report", "summary", "--account", "7", *RANGE),
        ("--help",),
        ("rows", "--help"),
    ],
)
def test_a_closed_output_pipe_exits_quietly_with_0(
    db: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    ingest_sample(db, tmp_path)
    result = _closed_pipe(db, *args)
    assert (result.returncode, result.stderr.decode()) == (EXIT_OK, "")

"""Event files: JSON Lines and CSV parsed lazily, bad lines named by file, line and field."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.event_files import (
    CountingReader,
    EventFileError,
    EventFormat,
    ParsedLine,
    batched,
    event_from_record,
    format_for,
    parse_events,
    spool,
)
from domain.errors import RollupError
from domain.events import Event

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def parse(text: str | bytes, event_format: EventFormat, source: str = "f") -> list[ParsedLine]:
    data = text.encode() if isinstance(text, str) else text
    return list(parse_events(io.BytesIO(data), event_format, source))


def jsonl(*records: object) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def record(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 1,
        "name": "first_response",
        "account_id": 2,
        "created_at": "2026-11-20T12:00:00Z",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def only_error(lines: list[ParsedLine]) -> EventFileError:
    errors = [line.error for line in lines if line.error is not None]
    assert len(errors) == 1, lines
    return errors[0]


# -- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("events.jsonl", EventFormat.JSONL),
        ("events.NDJSON", EventFormat.JSONL),
        ("dir/events.json", EventFormat.JSONL),
        ("events.csv", EventFormat.CSV),
        ("-", EventFormat.JSONL),
    ],
)
def test_the_format_comes_from_the_extension(path: str, expected: EventFormat) -> None:
    assert format_for(path) is expected


@pytest.mark.parametrize("path", ["events.txt", "events", "events.csv.gz"])
def test_an_unknown_extension_is_an_input_error(path: str) -> None:
    with pytest.raises(EventFileError, match="unknown extension") as caught:
        format_for(path)
    assert isinstance(caught.value, RollupError)
    assert caught.value.source == path


# -- JSON Lines ---------------------------------------------------------------------------------


def test_a_json_line_becomes_an_event_with_every_field() -> None:
    lines = parse(
        jsonl(
            {
                "id": 10,
                "name": "conversation_resolved",
                "value": 120.5,
                "account_id": 1,
                "inbox_id": 3,
                "user_id": 4,
                "conversation_id": 5,
                "created_at": "2026-11-20T17:30:00+05:30",
                "value_in_business_hours": 60,
                "updated_at": "whatever",
                "event_start_time": None,
                "event_end_time": "2026-11-20T12:00:00Z",
            }
        ),
        EventFormat.JSONL,
    )
    assert lines == [
        ParsedLine(
            1,
            Event(
                id=10,
                name="conversation_resolved",
                account_id=1,
                created_at=AT,
                value=120.5,
                value_in_business_hours=60.0,
                user_id=4,
                inbox_id=3,
                conversation_id=5,
            ),
        )
    ]
    assert lines[0].event is not None
    assert lines[0].event.created_at.tzinfo is UTC
    assert lines[0].error is None


def test_optional_fields_may_be_missing_or_null() -> None:
    [line] = parse(jsonl(record(value=None, user_id=None)), EventFormat.JSONL)
    assert line.event == Event(id=1, name="first_response", account_id=2, created_at=AT)


def test_numbers_may_be_strings_and_blank_lines_are_skipped() -> None:
    text = "\n" + jsonl(record(id="7", account_id=" 2 ", value="1.5")) + "   \n"
    [line] = parse(text, EventFormat.JSONL)
    assert line.line == 2
    assert line.event is not None
    assert (line.event.id, line.event.account_id, line.event.value) == (7, 2, 1.5)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"created_at": "2026-11-20T12:00:00"}, "created_at", "has no time zone"),
        ({"created_at": "20 Nov 2026"}, "created_at", "is not an ISO 8601 time"),
        ({"created_at": 1763640000}, "created_at", "is not an ISO 8601 time string"),
        ({"created_at": ...}, "created_at", "missing"),
        ({"id": ...}, "id", "missing"),
        ({"name": ""}, "name", "missing"),
        ({"name": 5}, "name", "is not a string"),
        ({"account_id": "two"}, "account_id", "is not an integer"),
        ({"account_id": 2.5}, "account_id", "is not an integer"),
        ({"account_id": True}, "account_id", "is not an integer"),
        ({"id": 0}, "id", "must be a positive integer"),
        ({"user_id": -3}, "user_id", "must be a positive integer"),
        ({"value": "fast"}, "value", "is not a number"),
        ({"value": "NaN"}, "value", "is not a finite number"),
        ({"value_in_business_hours": [1]}, "value_in_business_hours", "is not a number"),
        ({"acount_id": 2}, "acount_id", "unknown field"),
    ],
)
def test_a_bad_field_is_named_with_the_file_and_line(
    overrides: dict[str, object], field: str, reason: str
) -> None:
    text = jsonl(record(id=1), record(**{"id": 2, **overrides}), record(id=3))
    lines = parse(text, EventFormat.JSONL, "in.jsonl")
    error = only_error(lines)
    assert (error.source, error.line, error.field) == ("in.jsonl", 2, field)
    assert reason in error.reason
    assert str(error).startswith(f"in.jsonl:2: field {field!r}: ")
    assert [line.event.id for line in lines if line.event is not None] == [1, 3]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"id": 1,', "invalid JSON at column"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"just a string"', "expected a JSON object, got str"),
    ],
)
def test_a_line_that_is_not_a_json_object_is_an_error(text: str, reason: str) -> None:
    lines = parse(jsonl(record(id=1)) + text + "\n" + jsonl(record(id=3)), EventFormat.JSONL)
    error = only_error(lines)
    assert (error.line, error.field) == (2, None)
    assert reason in error.reason
    assert len(lines) == 3


def test_bad_utf8_is_reported_for_its_line_only() -> None:
    data = jsonl(record(id=1)).encode() + b'{"name": "\xff"}\n' + jsonl(record(id=3)).encode()
    lines = parse(data, EventFormat.JSONL)
    error = only_error(lines)
    assert error.line == 2
    assert "not valid UTF-8" in error.reason
    assert [line.line for line in lines] == [1, 2, 3]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    [line] = parse(b"\xef\xbb\xbf" + jsonl(record()).encode(), EventFormat.JSONL)
    assert line.event is not None


def test_windows_line_endings_are_accepted() -> None:
    lines = parse(jsonl(record(id=1), record(id=2)).replace("\n", "\r\n"), EventFormat.JSONL)
    assert [line.event.id for line in lines if line.event is not None] == [1, 2]


# -- CSV ------------------------------------------------------------------------------------------

CSV_HEADER = (
    "id,name,value,account_id,inbox_id,user_id,conversation_id,created_at,updated_at,"
    "value_in_business_hours,event_start_time,event_end_time\n"
)


def test_csv_rows_become_events_and_empty_cells_are_none() -> None:
    text = (
        CSV_HEADER
        + "1,first_response,30.5,2,3,4,5,2026-11-20 12:00:00+00,2026-11-20 12:00:01+00,10,,\n"
        + "2,conversation_bot_handoff,,2,,,,2026-11-20T13:00:00Z,,,,\n"
    )
    lines = parse(text, EventFormat.CSV)
    assert [line.line for line in lines] == [2, 3]
    assert lines[0].event == Event(
        id=1,
        name="first_response",
        account_id=2,
        created_at=AT,
        value=30.5,
        value_in_business_hours=10.0,
        user_id=4,
        inbox_id=3,
        conversation_id=5,
    )
    assert lines[1].event == Event(
        id=2,
        name="conversation_bot_handoff",
        account_id=2,
        created_at=AT + timedelta(hours=1),
    )


def test_csv_columns_may_come_in_any_order_and_optional_ones_may_be_absent() -> None:
    text = "created_at,account_id,name,id\n2026-11-20T12:00:00Z,2,reply_time,9\n"
    [line] = parse(text, EventFormat.CSV)
    assert line.event == Event(id=9, name="reply_time", account_id=2, created_at=AT)


def test_a_quoted_csv_cell_may_span_lines_and_keeps_the_first_line_number() -> None:
    text = 'id,name,account_id,created_at\n1,"multi\nline",2,2026-11-20T12:00:00Z\n'
    text += "2,reply_time,x,2026-11-20T12:00:00Z\n"
    lines = parse(text, EventFormat.CSV)
    assert lines[0].event is not None
    assert lines[0].event.name == "multi\nline"
    error = only_error(lines)
    assert (error.line, error.field) == (4, "account_id")


@pytest.mark.parametrize(
    ("header", "field", "reason"),
    [
        ("id,name,account_id,created_at,colour", "colour", "unknown column"),
        ("id,name,account_id", "created_at", "required column missing"),
        ("id,name,account_id,created_at,id", "id", "appears twice"),
    ],
)
def test_a_bad_csv_header_is_one_error_at_line_1(header: str, field: str, reason: str) -> None:
    text = header + "\n1,first_response,2,2026-11-20T12:00:00Z\n"
    lines = parse(text, EventFormat.CSV, "h.csv")
    assert len(lines) == 1
    error = only_error(lines)
    assert (error.source, error.line, error.field) == ("h.csv", 1, field)
    assert reason in error.reason


def test_a_csv_row_with_the_wrong_number_of_cells_is_an_error() -> None:
    text = "id,name,account_id,created_at\n1,first_response,2\n2,reply_time,2,2026-11-20T12:00Z\n"
    lines = parse(text, EventFormat.CSV)
    error = only_error(lines)
    assert error.line == 2
    assert "row has 3 cells, the header has 4" in error.reason
    assert lines[1].event is not None


def test_csv_naive_times_are_errors_naming_the_row() -> None:
    text = "id,name,account_id,created_at\n1,first_response,2,2026-11-20 12:00:00\n"
    error = only_error(parse(text, EventFormat.CSV, "t.csv"))
    assert str(error).startswith("t.csv:2: field 'created_at': ")


def test_an_unterminated_quote_stops_the_file_with_an_error() -> None:
    text = 'id,name,account_id,created_at\n1,"first_response,2,2026-11-20T12:00:00Z\n'
    lines = parse(text, EventFormat.CSV)
    error = only_error(lines)
    assert error.reason.startswith("CSV:")


def test_an_empty_csv_file_has_no_lines() -> None:
    assert parse("", EventFormat.CSV) == []
    assert parse("id,name,account_id,created_at\n", EventFormat.CSV) == []


# -- records, streaming, helpers ------------------------------------------------------------------


def test_event_from_record_accepts_aware_times_in_any_offset() -> None:
    event = event_from_record(record(created_at="2026-11-20T07:00:00-05:00"), source="x", line=1)
    assert event.created_at == AT
    offset = timezone(timedelta(hours=-5))
    assert event.created_at == datetime(2026, 11, 20, 7, tzinfo=offset)


def test_parsing_is_lazy_and_memory_stays_flat(tmp_path: Path) -> None:
    """30k lines parse one at a time: peak memory stays far below the file's events."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        for number in range(1, 30_001):
            handle.write(json.dumps(record(id=number, conversation_id=number)) + "\n")
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            reader = CountingReader(stream)
            count = 0
            for batch in batched(parse_events(reader, EventFormat.JSONL, str(path)), 1000):
                count += sum(1 for line in batch if line.event is not None)
            _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    assert reader.bytes_read == path.stat().st_size
    assert peak < 3_000_000  # holding all 30k parsed lines takes about 11 MB


def test_batched_yields_lists_of_at_most_the_size() -> None:
    def numbers() -> Iterator[int]:
        yield from range(7)

    assert list(batched(numbers(), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([1], 0))


def test_spool_makes_a_stream_readable_twice() -> None:
    copy = spool(io.BytesIO(b"a\nb\n"), max_memory=1)
    assert copy.read() == b"a\nb\n"
    copy.seek(0)
    assert list(copy) == [b"a\n", b"b\n"]

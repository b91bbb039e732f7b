"""Event files: JSON Lines and CSV parsed lazily, bad lines named by file, line and field."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting_rollups.adapters.event_files import EventFormat, format_for, parse_events
from reporting_rollups.adapters.event_files.fields import REQUIRED_FIELDS, event_from_record
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.adapters.event_files.streams import CountingReader, batched, spool
from reporting_rollups.domain.errors import RollupError
from reporting_rollups.domain.events import Event

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
                "updated_at": "2026-11-20T12:00:01.5+00:00",
                "event_start_time": None,
                "event_end_time": "2026-11-20T17:30:00+05:30",
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
    # the other times are kept, in UTC (not content: equality ignores them)
    made = lines[0].event
    assert made.updated_at == AT + timedelta(seconds=1.5)
    assert made.updated_at.tzinfo is UTC
    assert made.event_start_time is None
    assert made.event_end_time == AT
    assert made.event_end_time.tzinfo is UTC


def test_a_bad_time_of_the_optional_columns_is_an_error_naming_it() -> None:
    base = {"id": 1, "name": "first_response", "account_id": 1, "created_at": "2026-11-20T12:00Z"}
    for field, value, reason in [
        ("updated_at", "whatever", "'whatever' is not an ISO 8601 time"),
        ("event_start_time", "2026-11-20T12:00:00", "has no time zone; add 'Z'"),
        ("event_end_time", 12, "12 is not an ISO 8601 time string"),
        ("event_end_time", "1850-01-01T00:00Z", "must be from 1900-01-01"),
    ]:
        (line,) = parse(jsonl({**base, field: value}), EventFormat.JSONL)
        assert line.error is not None, (field, value)
        assert f"field '{field}'" in str(line.error), str(line.error)
        assert reason in str(line.error), str(line.error)
    (blank,) = parse(jsonl({**base, "updated_at": " "}), EventFormat.JSONL)
    assert blank.event is not None
    assert blank.event.updated_at is None


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
        ({"value": "NaN"}, "value", "is not a number"),
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


# -- hostile input: every line is an event or a line error, never an exception ---------------------


def _json_line(**fields: object) -> str:
    """A JSON Lines line with `fields` over a valid record, values written verbatim."""
    base = {"id": "1", "name": '"first_response"', "account_id": "2"}
    base["created_at"] = '"2026-11-20T12:00:00Z"'
    base.update({key: str(value) for key, value in fields.items()})
    return "{" + ", ".join(f'"{key}": {value}' for key, value in base.items()) + "}\n"


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (_json_line(id="9" * 5000), "id", "a number of 5,000 characters has too many digits"),
        (_json_line(id=f'"{"9" * 5000}"'), "id", "has too many digits"),
        (_json_line(value="9" * 400), "value", "at most 1e+09 seconds"),
        (_json_line(value="1" + "0" * 40), "value", "at most 1e+09 seconds"),
        (_json_line(value="-2e9"), "value", "at most 1e+09 seconds"),
        (_json_line(value="1e400"), "value", "must be finite"),
        (_json_line(name='"reply\\ud800"'), "name", "lone surrogate"),
        (_json_line(name='"reply\\u0000time"'), "name", "NUL"),
        (_json_line(name=f'"{"n" * 256}"'), "name", "at most 255 characters"),
        (_json_line(id='"1_000"'), "id", "is not an integer"),
        (_json_line(id='"\u0661\u0662\u0663"'), "id", "is not an integer"),
        (_json_line(account_id='"\uff12"'), "account_id", "is not an integer"),
        (_json_line(value='"1_5"'), "value", "is not a number"),
        (_json_line(value='"infinity"'), "value", "is not a number"),
        (_json_line(created_at='"0001-01-01T00:00:00+05:00"'), "created_at", "must be from"),
        (_json_line(created_at='"9999-12-31T23:00:00-05:00"'), "created_at", "must be from"),
    ],
)
def test_hostile_json_values_are_errors_naming_the_field(
    line: str, field: str, reason: str
) -> None:
    error = only_error(parse(line, EventFormat.JSONL, "in.jsonl"))
    assert (error.source, error.line, error.field) == ("in.jsonl", 1, field)
    assert reason in error.reason
    assert len(str(error)) < 400  # a megabyte value is not copied into the message


def test_a_field_given_twice_in_one_object_is_an_error_not_last_wins() -> None:
    line = _json_line(id='1, "id": 2')
    error = only_error(parse(line, EventFormat.JSONL))
    assert error.field == "id"
    assert "appears twice" in error.reason


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_too_deeply_is_a_line_error(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    lines = parse(f"{_json_line(value=nested)}{nested}\n", EventFormat.JSONL)
    assert [line.line for line in lines if line.error is not None] == [1, 2]


@pytest.mark.parametrize(
    ("cell", "field", "reason"),
    [
        ("id=1_000", "id", "is not an integer"),
        ("id=\u0661\u0662\u0663", "id", "is not an integer"),
        ("id=" + "9" * 5000, "id", "has too many digits"),
        ("account_id=+\u0662", "account_id", "is not an integer"),
        ("value=\u0661\u0662", "value", "is not a number"),
        ("value=1_0", "value", "is not a number"),
        ("value=nan", "value", "is not a number"),
        ("value=" + "9" * 400, "value", "has too many digits"),
        ("value=2e9", "value", "at most 1e+09 seconds"),
        ("name=reply\x00time", "name", "NUL"),
        ("name=" + "n" * 256, "name", "at most 255 characters"),
    ],
)
def test_hostile_csv_cells_are_errors_naming_the_field(cell: str, field: str, reason: str) -> None:
    values = {"id": "1", "name": "reply_time", "account_id": "2", "value": "5"}
    values["created_at"] = "2026-11-20T12:00:00Z"
    column, value = cell.split("=", 1)
    values[column] = value
    text = ",".join(values) + "\n" + ",".join(values.values()) + "\n"
    error = only_error(parse(text, EventFormat.CSV, "in.csv"))
    assert (error.line, error.field) == (2, field)
    assert reason in error.reason


def test_plain_ascii_numbers_in_strings_are_still_numbers() -> None:
    text = "id,name,account_id,created_at,value\n+7, reply_time ,2,2026-11-20T12:00:00Z, -1.5e3 \n"
    [line] = parse(text, EventFormat.CSV)
    assert line.event is not None
    assert (line.event.id, line.event.value) == (7, -1500.0)


@dataclass(frozen=True)
class _Literal:
    text: str


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=1, max_value=6000).map(lambda digits: _Literal("9" * digits))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
    | st.sampled_from(
        ["1_000", "\u0661\u0662", "2026-11-20T12:00:00Z", "0001-01-01T00:00:00+14:00", "1e400"]
    )
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_VALID = {"id": 1, "name": "reply_time", "account_id": 2, "created_at": "2026-11-20T12:00:00Z"}
#: A valid record with up to two fields replaced or added, so that some lines are accepted.
_RECORDS = st.dictionaries(
    st.sampled_from([*REQUIRED_FIELDS, "value", "user_id", "inbox_id", "updated_at", "other"]),
    _JSON_VALUES,
    max_size=2,
).map(lambda changes: {**_VALID, **changes})


def _dump(value: object) -> str:
    """JSON text of `value`; `_Literal` numbers are written as they are (`json.dumps` refuses
    integers of more than 4300 digits)."""
    if isinstance(value, _Literal):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    return json.dumps(value)


def _check_outcome(lines: list[ParsedLine]) -> None:
    for parsed in lines:
        assert isinstance(parsed.result, Event | EventFileError)
        if parsed.error is not None:
            assert parsed.error.line == parsed.line
            str(parsed.error)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_RECORDS.map(_dump), st.text(max_size=200)), max_size=5))
def test_any_json_line_is_an_event_or_a_line_error(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    _check_outcome(parse(data, EventFormat.JSONL))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500), st.sampled_from(list(EventFormat)))
def test_any_bytes_are_events_or_line_errors(data: bytes, event_format: EventFormat) -> None:
    _check_outcome(parse(data, event_format))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=30), min_size=4, max_size=4), max_size=5))
def test_any_csv_cells_are_events_or_line_errors(rows: list[list[str]]) -> None:
    header = "id,name,account_id,created_at\n"
    body = "".join(",".join(json.dumps(cell) for cell in row) + "\n" for row in rows)
    _check_outcome(parse((header + body).encode("utf-8", "surrogatepass"), EventFormat.CSV))

"""The fast path of the event files (`event_files.fast`): wherever it gives an event, the general
path (the stdlib parser and `event_from_record`) gives the same one, and wherever the check pass
takes a line's content without building its event, it is that event's content; anything else is
read by the general path, so every line has the outcome it had without the fast path."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting_rollups.adapters.event_files import (
    EventFormat,
    csv_rows,
    json_lines,
    parse_contents,
    parse_events,
)
from reporting_rollups.adapters.event_files.fast import (
    content_of,
    csv_row_event,
    json_line_content,
    json_line_event,
)
from reporting_rollups.adapters.event_files.fields import KNOWN_FIELDS, event_from_record
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.domain.events import TIME_FIELDS, Event

COMMON = {
    "id": 7,
    "name": "reply_time",
    "account_id": 2,
    "created_at": "2026-11-20T12:00:00+00:00",
    "value": 12.5,
    "value_in_business_hours": None,
    "user_id": 3,
    "inbox_id": 4,
    "conversation_id": 5,
}


def outcome(parsed: ParsedLine) -> tuple[object, ...]:
    """What a line gave: the event with its times (not content: equality ignores them), or the
    error's message."""
    if isinstance(parsed.result, EventFileError):
        return ("error", str(parsed.result))
    event = parsed.result
    return ("event", event, *(getattr(event, field) for field in TIME_FIELDS))


def general_json(text: str, *, assume_utc: bool) -> list[tuple[object, ...]]:
    """The lines of `text` as the general path alone reads them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_lines, "json_line_event", lambda _text, *, assume_utc: None)
        return [
            outcome(parsed)
            for parsed in parse_events(
                io.BytesIO(text.encode("utf-8", "surrogatepass")),
                EventFormat.JSONL,
                "f",
                assume_utc=assume_utc,
            )
        ]


def both_json(text: str, *, assume_utc: bool) -> list[tuple[object, ...]]:
    data = io.BytesIO(text.encode("utf-8", "surrogatepass"))
    return [
        outcome(parsed)
        for parsed in parse_events(data, EventFormat.JSONL, "f", assume_utc=assume_utc)
    ]


# -- the common shape takes the fast path -------------------------------------------------------


def test_a_common_line_takes_the_fast_path_and_gives_the_general_paths_event() -> None:
    line = json.dumps(COMMON, separators=(",", ":"))
    event = json_line_event(line + "\n")
    assert event == Event(
        id=7,
        name="reply_time",
        account_id=2,
        created_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
        value=12.5,
        user_id=3,
        inbox_id=4,
        conversation_id=5,
    )
    assert [("event", event, None, None, None)] == general_json(line, assume_utc=False)


def test_the_other_times_and_offsets_are_read_as_the_general_path_reads_them() -> None:
    record = {
        **COMMON,
        "created_at": "2026-11-20T17:30:00+05:30",
        "updated_at": "2026-11-20T12:00:01.5Z",
        "event_start_time": "",
        "event_end_time": None,
    }
    line = json.dumps(record)
    event = json_line_event(line)
    assert event is not None
    assert event.created_at == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert event.created_at.tzinfo is UTC
    assert event.updated_at == datetime(2026, 11, 20, 12, 0, 1, 500_000, tzinfo=UTC)
    assert both_json(line, assume_utc=False) == general_json(line, assume_utc=False)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"id": 1, "id": 2, "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "a key twice"),
        ('{"id": 1, "name": "x", "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "a string key twice"),
        ('{"id": 1, "name": "x\\u0041", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "an escape"),
        ('{"id": 1, "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00:00"}',
         "a naive time"),
        ('{"id": "1", "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "a number as a string"),
        ('{"id": 1, "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z", "o": 1}',
         "an unknown field"),
        ('{"id": 1, "name": " ", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "a blank name"),
        ('{"id": 0, "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z"}',
         "an id Event refuses"),
        ('{"id": 1, "name": "x", "account_id": 2, "created_at": "2026-11-20T12:00Z", '
         '"value": [1]}', "a nested value"),
    ],
)  # fmt: skip
def test_anything_else_goes_the_general_way(line: str, why: str) -> None:
    assert json_line_event(line) is None, why


def test_a_naive_time_takes_the_fast_path_with_assume_utc() -> None:
    line = json.dumps({**COMMON, "created_at": "2026-11-20T12:00:00"})
    event = json_line_event(line, assume_utc=True)
    assert event is not None
    assert event.created_at == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert both_json(line, assume_utc=True) == general_json(line, assume_utc=True)


def test_a_common_csv_row_takes_the_fast_path() -> None:
    row = {key: "" if value is None else str(value) for key, value in COMMON.items()}
    event = csv_row_event(row)
    assert event is not None
    assert event == event_from_record(row, "f", 2)
    assert csv_row_event({**row, "id": "+7"}) is None  # read by the general path
    assert csv_row_event({**row, "value": "1_5"}) is None


# -- properties ---------------------------------------------------------------------------------

_ZONES: st.SearchStrategy[tzinfo | None] = (
    st.none()
    | st.just(UTC)
    | st.builds(
        timezone, st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: timedelta(minutes=m))
    )
)
_TIMES = st.one_of(
    st.tuples(st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30)), _ZONES)
    .map(lambda instant_zone: instant_zone[0].replace(tzinfo=instant_zone[1]))
    .flatmap(
        lambda instant: st.sampled_from(
            [
                instant.isoformat(),
                instant.isoformat(sep=" "),
                instant.isoformat(timespec="minutes"),
                instant.isoformat().replace("+00:00", "Z"),
                f" {instant.isoformat()} ",
            ]
        )
    ),
    st.sampled_from(
        [
            "2026-11-20T12:00:00.1234567Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T23:59:60Z",
            "2026-11-20t12:00:00z",
            "2026-11-20T12:00:00+05:30:15",
            "2026-11-20",
            "20261120T120000Z",
            "1899-12-31T23:59:59Z",
            "2200-01-01T00:00:00Z",
            "",
            " ",
        ]
    ),
)
_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e9, max_value=1e9),
    st.booleans(),
    st.none(),
)
_IDS = st.one_of(
    st.integers(min_value=1, max_value=2**31 - 1),
    st.integers(),
    st.integers(min_value=2**63 - 10, max_value=2**64 + 10),
    st.floats(),
    st.booleans(),
    st.none(),
    st.integers(min_value=0, max_value=99).map(str),
)
_NAMES = st.one_of(
    st.sampled_from(["reply_time", "first_response", "conversation_resolved", "", " x "]),
    st.text(max_size=300),
    st.integers(),
    st.none(),
)
_VALUES = {
    "id": _IDS,
    "account_id": _IDS,
    "user_id": _IDS,
    "inbox_id": _IDS,
    "conversation_id": _IDS,
    "name": _NAMES,
    "value": _NUMBERS,
    "value_in_business_hours": _NUMBERS,
    "created_at": _TIMES | _NUMBERS,
    "updated_at": _TIMES | st.none(),
    "event_start_time": _TIMES | st.none(),
    "event_end_time": _TIMES | st.none(),
    "other": st.integers(),
}


@st.composite
def _lines(draw: st.DrawFn) -> str:
    """A JSON object of the common shape with some fields changed, dropped, given twice or
    added, written in a few ways (spacing, escapes, key order)."""
    record: list[tuple[str, object]] = list(COMMON.items())
    for _change in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(sorted(_VALUES)))
        value = draw(_VALUES[key])
        how = draw(st.sampled_from(["replace", "append", "drop"]))
        if how == "replace":
            record = [(k, value if k == key else v) for k, v in record] or [(key, value)]
        elif how == "append":
            record.append((key, value))
        else:
            record = [(k, v) for k, v in record if k != key]
    if draw(st.booleans()):
        record = draw(st.permutations(record))
    spacing = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    ascii_only = draw(st.booleans())
    items = [
        json.dumps(key, ensure_ascii=ascii_only)
        + spacing[1]
        + json.dumps(value, ensure_ascii=ascii_only)
        for key, value in record
    ]
    return "{" + spacing[0].join(items) + "}" + draw(st.sampled_from(["", " ", "\r", "\t "]))


@settings(max_examples=1500, deadline=None)
@given(st.lists(_lines(), min_size=1, max_size=4), st.booleans())
def test_the_fast_path_gives_what_the_general_path_gives(
    lines: list[str], assume_utc: bool
) -> None:
    text = "".join(line + "\n" for line in lines)
    assert both_json(text, assume_utc=assume_utc) == general_json(text, assume_utc=assume_utc)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=120), min_size=1, max_size=4), st.booleans())
def test_any_text_has_the_general_paths_outcome(lines: list[str], assume_utc: bool) -> None:
    text = "\n".join(lines)
    assert both_json(text, assume_utc=assume_utc) == general_json(text, assume_utc=assume_utc)


def contents(text: str, *, assume_utc: bool) -> list[tuple[int, object]]:
    data = io.BytesIO(text.encode("utf-8", "surrogatepass"))
    return [
        (line, str(result) if isinstance(result, EventFileError) else result)
        for line, result in parse_contents(data, EventFormat.JSONL, "f", assume_utc=assume_utc)
    ]


def general_contents(text: str, *, assume_utc: bool) -> list[tuple[int, object]]:
    """The general path's events (as contents) and errors (as messages), line by line."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_lines, "json_line_event", lambda _text, *, assume_utc: None)
        data = io.BytesIO(text.encode("utf-8", "surrogatepass"))
        return [
            (parsed.line, str(parsed.error) if parsed.event is None else content_of(parsed.event))
            for parsed in parse_events(data, EventFormat.JSONL, "f", assume_utc=assume_utc)
        ]


def test_the_check_pass_reads_a_common_line_without_building_its_event() -> None:
    line = json.dumps(COMMON)
    content = json_line_content(line)
    assert content == (7, "reply_time", 2, datetime(2026, 11, 20, 12, tzinfo=UTC), 12.5, None,
                       3, 4, 5)  # fmt: skip
    assert json_line_content(json.dumps({**COMMON, "value": 2})) == (
        *content[:4],
        2.0,
        *content[5:],
    )
    # an offset other than UTC: the event is built (`Event` converts it)
    assert json_line_content(json.dumps({**COMMON, "created_at": "2026-11-20T13:00+01:00"})) is None
    assert contents(line, assume_utc=False) == general_contents(line, assume_utc=False)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_lines(), min_size=1, max_size=4), st.booleans())
def test_the_check_pass_reads_what_the_general_path_reads(
    lines: list[str], assume_utc: bool
) -> None:
    """Every line has the outcome the general path gives it: the content of the same event (the
    check pass compares contents), or the same error."""
    text = "".join(line + "\n" for line in lines)
    assert contents(text, assume_utc=assume_utc) == general_contents(text, assume_utc=assume_utc)


def _cells() -> Iterator[st.SearchStrategy[str]]:
    yield st.text(max_size=12)
    yield st.integers().map(str)
    yield st.floats().map(str)
    yield _TIMES
    yield st.sampled_from(["", " ", "+1", "1_0", "0" * 120 + "1", "\u0661", "1e3", ".5"])


_CELL = st.one_of(*_cells())


@settings(max_examples=800, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            key: st.just("" if value is None else str(value)) | _CELL
            for key, value in COMMON.items()
        },
        optional=dict.fromkeys(sorted(KNOWN_FIELDS - COMMON.keys()), _CELL),
    ),
    st.booleans(),
)
def test_a_csv_row_has_the_general_paths_event(row: dict[str, str], assume_utc: bool) -> None:
    fast = csv_row_event(row, assume_utc=assume_utc)
    if fast is None:
        return
    general = event_from_record(row, "f", 2, assume_utc=assume_utc)
    assert fast == general
    assert [getattr(fast, f) for f in TIME_FIELDS] == [getattr(general, f) for f in TIME_FIELDS]


def test_csv_files_read_the_same_with_and_without_the_fast_path() -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COMMON, "updated_at"])
    writer.writerow([*("" if v is None else v for v in COMMON.values()), "2026-11-20 12:00:01+00"])
    writer.writerow([8, "reply_time", "", 2, "", "", "", "2026-11-20T12:00:00", "", ""])
    writer.writerow([9, "reply_time", "x", 2, "", "", "", "2026-11-20T12:00:00Z", "", ""])
    data = out.getvalue().encode()
    fast = [outcome(p) for p in parse_events(io.BytesIO(data), EventFormat.CSV, "c.csv")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_rows, "csv_row_event", lambda _row, *, assume_utc: None)
        general = [outcome(p) for p in parse_events(io.BytesIO(data), EventFormat.CSV, "c.csv")]
    assert fast == general
    assert [kind for kind, *_rest in fast] == ["event", "error", "error"]

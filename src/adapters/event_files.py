"""Reading reporting events from JSON Lines and CSV files, one line at a time.

Field names are the reference `reporting_events` columns: id, name, value, account_id, inbox_id,
user_id, conversation_id, created_at, value_in_business_hours (updated_at, event_start_time and
event_end_time are accepted and ignored). `created_at` is ISO 8601 with a zone; a naive time is an
error. Numbers may also be given as strings (CSV has nothing else), in plain ASCII notation only:
`1_000`, `١٢٣`, `nan` or `infinity` are errors, not numbers. A JSON object that names a field
twice is an error (no "last one wins"). Nothing here holds more than one line in memory: parsing
yields `ParsedLine`s lazily, and a bad line becomes an `EventFileError` naming the file, the line
and the field instead of stopping the stream, so that callers can choose to validate a whole file or
to skip bad lines. Whatever a line holds, parsing it never raises. The values accepted are those
`domain.events.Event` accepts: every event is built through it.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Final, TypeVar

import attrs

from reporting_rollups.domain.errors import InvalidEventError, RollupError
from reporting_rollups.domain.events import Event

#: Columns that become `Event` fields, in the reference table's order.
FIELDS: Final = (
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
#: Reference columns that are accepted and ignored.
IGNORED_FIELDS: Final = ("updated_at", "event_start_time", "event_end_time")
#: Columns every event must have.
REQUIRED_FIELDS: Final = ("id", "name", "account_id", "created_at")
_KNOWN: Final = frozenset(FIELDS) | frozenset(IGNORED_FIELDS)
_INT_FIELDS: Final = ("id", "account_id", "inbox_id", "user_id", "conversation_id")
_FLOAT_FIELDS: Final = ("value", "value_in_business_hours")

#: Integers and decimals as strings: ASCII digits only (`int()` and `float()` also take `1_000`,
#: other scripts' digits, `nan` and `infinity`, which are not numbers in an event file).
_INTEGER: Final = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
#: Longer digit strings are refused before conversion: no accepted id or value comes near, and
#: Python's `int()` refuses more than 4300 digits with a bare ValueError.
_MAX_DIGITS: Final = 100
#: Values are shown in messages up to this many characters.
_SHOWN: Final = 60

#: The name used for standard input in messages.
STDIN_NAME: Final = "<stdin>"

T = TypeVar("T")


class EventFormat(StrEnum):
    """How an event file is encoded."""

    JSONL = "jsonl"  #: one JSON object per line
    CSV = "csv"  #: a header row of column names, then one event per row


_EXTENSIONS: Final[dict[str, EventFormat]] = {
    ".jsonl": EventFormat.JSONL,
    ".ndjson": EventFormat.JSONL,
    ".json": EventFormat.JSONL,
    ".csv": EventFormat.CSV,
}


def _show(value: object) -> str:
    """`repr(value)`, cut short: a line may hold megabytes."""
    shown = repr(value)
    if len(shown) <= _SHOWN:
        return shown
    return f"{shown[: _SHOWN - 15]}... ({len(shown):,} characters)"


class EventFileError(RollupError, ValueError):
    """A line of an event file (or the file itself) that cannot be read as an event."""

    def __init__(self, source: str, line: int | None, field: str | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
        where = source if line is None else f"{source}:{line}"
        what = f"field {_show(field)}: " if field else ""
        super().__init__(f"{where}: {what}{reason}")


def format_for(path: str) -> EventFormat:
    """The format of a file, from its extension (`-`, standard input, is JSON Lines)."""
    if path == "-":
        return EventFormat.JSONL
    suffix = Path(path).suffix.lower()
    found = _EXTENSIONS.get(suffix)
    if found is None:
        raise EventFileError(
            path,
            None,
            None,
            f"unknown extension {suffix or '(none)'!r}; use .jsonl, .ndjson or .json for JSON "
            "Lines, .csv for CSV, or - for JSON Lines on standard input",
        )
    return found


@attrs.frozen(slots=True)
class ParsedLine:
    """One data line of a file: its 1-based line number and the event or what is wrong."""

    line: int
    result: Event | EventFileError

    @property
    def event(self) -> Event | None:
        """The event, or None when the line is bad."""
        return self.result if isinstance(self.result, Event) else None

    @property
    def error(self) -> EventFileError | None:
        """What is wrong with the line, or None when it holds an event."""
        return self.result if isinstance(self.result, EventFileError) else None


class CountingReader:
    """A binary stream's lines, counting the bytes read (for progress bars)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.stream:
            self.bytes_read += len(raw)
            yield raw


class _Lines:
    """A file's binary lines as UTF-8 text (a leading BOM dropped), remembering which lines were
    not valid UTF-8 (they are decoded with replacement characters and reported by the parser)."""

    def __init__(self, raw_lines: Iterable[bytes]) -> None:
        self.raw_lines = raw_lines
        self.number = 0  #: the line last read, 1-based
        self.undecodable: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.raw_lines, start=1):
            self.number = number
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.undecodable[number] = error.reason
                yield raw.decode("utf-8", errors="replace")

    def check(self, source: str, first: int, last: int) -> None:
        """`EventFileError` if a line in [first, last] was not valid UTF-8."""
        for number in range(first, last + 1):
            reason = self.undecodable.pop(number, None)
            if reason is not None:
                raise EventFileError(source, number, None, f"not valid UTF-8 ({reason})")


@attrs.frozen(slots=True, repr=False)
class _LongNumber:
    """A JSON integer literal with more than `_MAX_DIGITS` digits, left unconverted."""

    text: str

    def __repr__(self) -> str:
        return f"a number of {len(self.text):,} characters"


def _json_int(text: str) -> int | _LongNumber:
    return _LongNumber(text) if len(text) > _MAX_DIGITS else int(text)


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _json_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return record


#: Decoders made once (`json.loads` with options builds one per call, half the cost of a line).
_DECODER: Final = json.JSONDecoder(object_pairs_hook=_json_object)
_LONG_NUMBER_DECODER: Final = json.JSONDecoder(object_pairs_hook=_json_object, parse_int=_json_int)


def _number_text(field: str, value: str, pattern: re.Pattern[str], source: str, line: int) -> str:
    """The stripped text of a number given as a string ('' when blank); an error unless it is
    plain ASCII notation of reasonable length."""
    text = value.strip()
    kind = "an integer (ASCII digits)" if pattern is _INTEGER else "a number (ASCII, as 1.5 or 2e3)"
    if len(text) > _MAX_DIGITS:
        raise EventFileError(source, line, field, f"{_show(value)} has too many digits")
    if text and not pattern.fullmatch(text):
        raise EventFileError(source, line, field, f"{_show(value)} is not {kind}")
    return text


def _too_long(field: str, value: _LongNumber, source: str, line: int) -> EventFileError:
    return EventFileError(source, line, field, f"{value!r} has too many digits")


def _parse_int(field: str, value: object, source: str, line: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, _LongNumber):
        raise _too_long(field, value, source, line)
    if isinstance(value, str):
        text = _number_text(field, value, _INTEGER, source, line)
        return int(text) if text else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise EventFileError(source, line, field, f"{_show(value)} is not an integer")


def _parse_float(field: str, value: object, source: str, line: int) -> float | int | None:
    """A value field: a JSON number (passed on: `Event` checks its range, exactly for an int),
    or a number string converted to a float."""
    if value is None:
        return None
    if isinstance(value, _LongNumber):
        raise _too_long(field, value, source, line)
    if isinstance(value, str):
        text = _number_text(field, value, _DECIMAL, source, line)
        return float(text) if text else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise EventFileError(source, line, field, f"{_show(value)} is not a number")


def _parse_time(value: object, source: str, line: int) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise EventFileError(
            source, line, "created_at", f"{_show(value)} is not an ISO 8601 time string"
        )
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise EventFileError(
            source, line, "created_at", f"{_show(value)} is not an ISO 8601 time"
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise EventFileError(
            source,
            line,
            "created_at",
            f"{_show(value)} has no time zone; add 'Z' or an offset such as '+00:00'",
        )
    return instant


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def event_from_record(record: Mapping[str, object], source: str, line: int) -> Event:
    """The event a JSON object or CSV row describes; `EventFileError` naming the field otherwise.

    Strings are accepted for numbers (CSV has nothing else); empty strings and nulls are None.
    """
    unknown = sorted(key for key in record if key not in _KNOWN)
    if unknown:
        raise EventFileError(
            source,
            line,
            unknown[0],
            f"unknown field; expected {', '.join(FIELDS)} (and optionally "
            f"{', '.join(IGNORED_FIELDS)})",
        )
    for field in REQUIRED_FIELDS:
        if _blank(record.get(field)):
            raise EventFileError(source, line, field, "missing")
    name = record["name"]
    if not isinstance(name, str):
        raise EventFileError(source, line, "name", f"{_show(name)} is not a string")
    ints = {field: _parse_int(field, record.get(field), source, line) for field in _INT_FIELDS}
    floats = {
        field: _parse_float(field, record.get(field), source, line) for field in _FLOAT_FIELDS
    }
    created_at = _parse_time(record["created_at"], source, line)
    event_id, account_id = ints["id"], ints["account_id"]
    if event_id is None or account_id is None:  # pragma: no cover - required, checked above
        raise EventFileError(source, line, "id" if event_id is None else "account_id", "missing")
    try:
        return Event(
            id=event_id,
            name=name,
            account_id=account_id,
            created_at=created_at,
            value=floats["value"],
            value_in_business_hours=floats["value_in_business_hours"],
            user_id=ints["user_id"],
            inbox_id=ints["inbox_id"],
            conversation_id=ints["conversation_id"],
        )
    except InvalidEventError as error:
        given = record.get(error.field, error.value)  # the file's text, not the parsed value
        reason = f"{error.reason} (got {_show(given)})"
        raise EventFileError(source, line, error.field, reason) from None


def _parse_json_line(text: str, source: str, line: int) -> Event:
    try:
        try:
            record = _DECODER.decode(text)
        except ValueError as error:
            if isinstance(error, json.JSONDecodeError):
                raise
            # An integer of more than 4300 digits: parse again, keeping long ones as text so
            # that the error names the field (kept off the fast path: a hook costs per number).
            record = _LONG_NUMBER_DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise EventFileError(
            source, line, None, f"invalid JSON at column {error.colno}: {error.msg}"
        ) from None
    except _DuplicateKeyError as error:
        raise EventFileError(
            source, line, error.key, "appears twice in the object (say each field once)"
        ) from None
    except RecursionError:
        raise EventFileError(source, line, None, "JSON nested too deeply") from None
    if not isinstance(record, dict):
        kind = "an array" if isinstance(record, list) else type(record).__name__
        raise EventFileError(
            source,
            line,
            None,
            f"expected a JSON object, got {kind} (JSON Lines: one object per line)",
        )
    return event_from_record(record, source, line)


def _parsed(line: int, source: str, parse: Callable[[T, str, int], Event], data: T) -> ParsedLine:
    """The line's event, `parse(data, source, line)`, or what is wrong with it: `parse` raising
    anything else than `EventFileError` (a value the checks above let through and Python or
    `Event` refuses in its own way) is still an error of this line, never an exception out of
    the stream."""
    try:
        return ParsedLine(line, parse(data, source, line))
    except EventFileError as error:
        return ParsedLine(line, error)
    except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
        reason = f"cannot be read as an event ({type(error).__name__}: {_show(str(error))})"
        return ParsedLine(line, EventFileError(source, line, None, reason))


def _jsonl(lines: _Lines, source: str) -> Iterator[ParsedLine]:
    for text in lines:
        line = lines.number
        if not text.strip() and line not in lines.undecodable:
            continue
        try:
            lines.check(source, line, line)
        except EventFileError as error:
            yield ParsedLine(line, error)
            continue
        yield _parsed(line, source, _parse_json_line, text)


def _csv_header(row: list[str], source: str) -> list[str]:
    header = [column.strip() for column in row]
    for column in header:
        if column not in _KNOWN:
            raise EventFileError(
                source,
                1,
                column or "(empty)",
                f"unknown column in the header; expected {', '.join(FIELDS)} (and optionally "
                f"{', '.join(IGNORED_FIELDS)})",
            )
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise EventFileError(source, 1, duplicates[0], "column appears twice in the header")
    missing = [field for field in REQUIRED_FIELDS if field not in header]
    if missing:
        raise EventFileError(source, 1, missing[0], "required column missing from the header")
    return header


def _csv(lines: _Lines, source: str) -> Iterator[ParsedLine]:
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    previous_end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. an unterminated quote: the reader cannot go on
            problem = EventFileError(source, lines.number, None, f"CSV: {error}")
            yield ParsedLine(lines.number, problem)
            return
        start, previous_end = previous_end + 1, reader.line_num
        try:
            lines.check(source, start, previous_end)
        except EventFileError as error:
            yield ParsedLine(start, error)
            if header is None:
                return
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            try:
                header = _csv_header(row, source)
            except EventFileError as error:
                yield ParsedLine(start, error)
                return
            continue
        if len(row) != len(header):
            problem = EventFileError(
                source, start, None, f"row has {len(row)} cells, the header has {len(header)}"
            )
            yield ParsedLine(start, problem)
            continue
        yield _parsed(start, source, event_from_record, dict(zip(header, row, strict=True)))


def parse_events(
    raw_lines: Iterable[bytes], event_format: EventFormat, source: str
) -> Iterator[ParsedLine]:
    """Parse a file's binary lines lazily into `ParsedLine`s (blank lines are skipped).

    A CSV file without a header row yields nothing; a bad header yields one error at line 1.
    """
    lines = _Lines(raw_lines)
    if event_format is EventFormat.CSV:
        return _csv(lines, source)
    return _jsonl(lines, source)


def spool(stream: IO[bytes], max_memory: int = 8 * 1024 * 1024) -> IO[bytes]:
    """A rewound temporary copy of a stream (kept in memory up to `max_memory` bytes, then on
    disk), so that standard input can be read twice."""
    copy: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=max_memory)  # noqa: SIM115
    shutil.copyfileobj(stream, copy)
    copy.seek(0)
    return copy


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items, read lazily."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch

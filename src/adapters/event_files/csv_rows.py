"""CSV event files: a header row of column names, then one event per row (a quoted cell may span
lines; a row is numbered by its first line). A row of the common shape takes the fast path
(`fast.csv_row_event`); any other, `event_from_record`, which says what is wrong."""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator

from reporting_rollups.adapters.event_files.fast import csv_row_event
from reporting_rollups.adapters.event_files.fields import (
    FIELDS,
    KNOWN_FIELDS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    event_from_record,
)
from reporting_rollups.adapters.event_files.lines import (
    EventFileError,
    ParsedLine,
    Utf8Lines,
    parsed_line,
)


def _csv_header(row: list[str], source: str, line: int) -> list[str]:
    """The header's columns (`line`: where it is, after any blank lines), or what is wrong."""
    header = [column.strip() for column in row]
    for column in header:
        if column not in KNOWN_FIELDS:
            raise EventFileError(
                source,
                line,
                column or "(empty)",
                f"unknown column in the header; expected {', '.join(FIELDS)} (and optionally "
                f"{', '.join(OPTIONAL_FIELDS)})",
            )
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise EventFileError(source, line, duplicates[0], "column appears twice in the header")
    missing = [field for field in REQUIRED_FIELDS if field not in header]
    if missing:
        raise EventFileError(source, line, missing[0], "required column missing from the header")
    return header


def parse_csv(lines: Utf8Lines, source: str, *, assume_utc: bool = False) -> Iterator[ParsedLine]:
    """The events of a CSV file, or what is wrong with each row (blank rows skipped): nothing
    without a header row, one error for a bad header (at its line). `assume_utc`: naive times
    are UTC."""
    parse = functools.partial(event_from_record, assume_utc=assume_utc)
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
                header = _csv_header(row, source, start)
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
        record = dict(zip(header, row, strict=True))
        event = csv_row_event(record, assume_utc=assume_utc)
        if event is not None:  # the common shape (`fast`)
            yield ParsedLine(start, event)
        else:
            yield parsed_line(start, source, parse, record)


__all__ = ["parse_csv"]

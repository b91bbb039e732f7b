"""The file formats (`EventFormat`, by extension: `format_for`), `parse_events` and
`parse_contents`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Final

from reporting_rollups.adapters.event_files.csv_rows import parse_csv
from reporting_rollups.adapters.event_files.fast import Content, line_content
from reporting_rollups.adapters.event_files.json_lines import json_lines_content, parse_json_lines
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine, Utf8Lines

#: The name used for standard input in messages.
STDIN_NAME: Final = "<stdin>"


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


def _content(parsed: ParsedLine) -> tuple[int, Content | EventFileError]:
    return line_content(parsed.line, parsed.result)


def parse_contents(
    raw_lines: Iterable[bytes], event_format: EventFormat, source: str, *, assume_utc: bool = False
) -> Iterator[tuple[int, Content | EventFileError]]:
    """What checking a file needs of each of its lines, as `parse_events` reads them: the line's
    number and its event's content (`fast.content_of`), or what is wrong with it. JSON Lines of
    the common shape are checked without building their events."""
    lines = Utf8Lines(raw_lines)
    if event_format is EventFormat.CSV:
        return map(_content, parse_csv(lines, source, assume_utc=assume_utc))
    return json_lines_content(lines, source, assume_utc=assume_utc)


def parse_events(
    raw_lines: Iterable[bytes], event_format: EventFormat, source: str, *, assume_utc: bool = False
) -> Iterator[ParsedLine]:
    """Parse a file's binary lines lazily into `ParsedLine`s (blank lines are skipped).

    A CSV file without a header row yields nothing; a bad header yields one error at line 1.
    `assume_utc`: a naive `created_at` is UTC (else the line is an error).
    """
    lines = Utf8Lines(raw_lines)
    if event_format is EventFormat.CSV:
        return parse_csv(lines, source, assume_utc=assume_utc)
    return parse_json_lines(lines, source, assume_utc=assume_utc)


__all__ = ["STDIN_NAME", "EventFormat", "format_for", "parse_contents", "parse_events"]

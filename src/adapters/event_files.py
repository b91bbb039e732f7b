"""Reading reporting events from JSON Lines and CSV files, one line at a time.

The format comes from the file's extension (`format_for`); `parse_events` reads a file in it.
Nothing here holds more than one line in memory: parsing yields `ParsedLine`s lazily, and a bad
line becomes an `EventFileError` naming the file, the line and the field instead of stopping the
stream, so that callers can choose to validate a whole file or to skip bad lines. Whatever a line
holds, parsing it never raises. The fields and their checks are in `event_fields`, the two formats
in `event_json` and `event_csv`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Final

from reporting_rollups.adapters.event_csv import parse_csv
from reporting_rollups.adapters.event_json import parse_json_lines
from reporting_rollups.adapters.event_lines import EventFileError, ParsedLine, Utf8Lines

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


def parse_events(
    raw_lines: Iterable[bytes], event_format: EventFormat, source: str
) -> Iterator[ParsedLine]:
    """Parse a file's binary lines lazily into `ParsedLine`s (blank lines are skipped).

    A CSV file without a header row yields nothing; a bad header yields one error at line 1.
    """
    lines = Utf8Lines(raw_lines)
    if event_format is EventFormat.CSV:
        return parse_csv(lines, source)
    return parse_json_lines(lines, source)


__all__ = ["STDIN_NAME", "EventFormat", "format_for", "parse_events"]

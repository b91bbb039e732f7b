"""Reading reporting events from JSON Lines and CSV files, one line at a time (`rollups ingest`).

The format comes from the file's extension (`format_for`); `parse_events` reads a file in it.
Nothing here holds more than one line in memory: parsing yields `ParsedLine`s lazily, and a bad
line becomes an `EventFileError` naming the file, the line and the field instead of stopping the
stream, so that callers can choose to validate a whole file or to skip bad lines. Whatever a line
holds, parsing it never raises.

- `formats`: the formats and `parse_events`; `lines`: lines, their decoding and their errors;
- `fields`: the columns and their checks; `json_lines`, `csv_rows`: the two parsers; `fast`: the
  fast path of the common shape (msgspec), which gives what the general path gives;
- `streams`: counting, spooling and batching the input.
"""

from reporting_rollups.adapters.event_files.formats import (
    STDIN_NAME,
    EventFormat,
    format_for,
    parse_contents,
    parse_events,
)

__all__ = ["STDIN_NAME", "EventFormat", "format_for", "parse_contents", "parse_events"]

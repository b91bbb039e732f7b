"""JSON Lines event files: one JSON object per line. An object that names a field twice is an
error (no "last one wins"); an integer too long to convert is an error naming its field. A line
of the common shape takes the fast path (`fast.json_line_event`); any other, the stdlib parser
and `event_from_record`, which say what is wrong."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Final

from reporting_rollups.adapters.event_files.fast import (
    Content,
    json_line_content,
    json_line_event,
    line_content,
)
from reporting_rollups.adapters.event_files.fields import MAX_DIGITS, LongNumber, event_from_record
from reporting_rollups.adapters.event_files.lines import (
    EventFileError,
    ParsedLine,
    Utf8Lines,
    parsed_line,
)
from reporting_rollups.domain.events import Event


def _json_int(text: str) -> int | LongNumber:
    return LongNumber(text) if len(text) > MAX_DIGITS else int(text)


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


def _parse_json_line(text: str, source: str, line: int, *, assume_utc: bool) -> Event:
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
    return event_from_record(record, source, line, assume_utc=assume_utc)


def _numbered(lines: Utf8Lines, source: str) -> Iterator[tuple[int, str | EventFileError]]:
    """Each line's number and text, or the error of a line that was not valid UTF-8."""
    undecodable = lines.undecodable
    for text in lines:
        line = lines.number
        if line in undecodable:
            try:
                lines.check(source, line, line)
            except EventFileError as error:
                yield line, error
                continue
        yield line, text


def _read(
    text: str, line: int, source: str, parse: Callable[[str, str, int], Event], assume_utc: bool
) -> Event | EventFileError | None:
    """A line's event (the fast path first) or what is wrong with it; None when it is blank."""
    event = json_line_event(text, assume_utc=assume_utc)
    if event is not None:  # the common shape (`fast`)
        return event
    if not text.strip():
        return None
    return parsed_line(line, source, parse, text).result


def parse_json_lines(
    lines: Utf8Lines, source: str, *, assume_utc: bool = False
) -> Iterator[ParsedLine]:
    """The events of a JSON Lines file, or what is wrong with each line (blank lines skipped).
    `assume_utc`: naive times are UTC."""
    parse = functools.partial(_parse_json_line, assume_utc=assume_utc)
    for line, text in _numbered(lines, source):
        result = (
            text
            if isinstance(text, EventFileError)
            else _read(text, line, source, parse, assume_utc)
        )
        if result is not None:
            yield ParsedLine(line, result)


def json_lines_content(
    lines: Utf8Lines, source: str, *, assume_utc: bool = False
) -> Iterator[tuple[int, Content | EventFileError]]:
    """What checking a JSON Lines file needs of each line (blank lines skipped): its number and
    its event's content, or what is wrong with it; as `parse_json_lines` reads it, without
    building the events whose values are plainly valid (`fast.json_line_content`)."""
    parse = functools.partial(_parse_json_line, assume_utc=assume_utc)
    for line, text in _numbered(lines, source):
        if isinstance(text, EventFileError):
            yield line, text
            continue
        content = json_line_content(text, assume_utc=assume_utc)
        if content is not None:
            yield line, content
            continue
        result = _read(text, line, source, parse, assume_utc)
        if result is not None:
            yield line_content(line, result)


__all__ = ["json_lines_content", "parse_json_lines"]

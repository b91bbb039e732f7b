"""One line of an event file: what parsing it gives (`ParsedLine`: an event or an
`EventFileError` naming the file, line and field), and a file's bytes read as UTF-8 lines."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Iterator
from typing import Final, TypeVar

import attrs

from reporting_rollups.domain.errors import RollupError
from reporting_rollups.domain.events import Event

#: Values are shown in messages up to this many characters.
_SHOWN: Final = 60

T = TypeVar("T")


def show(value: object) -> str:
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
        what = f"field {show(field)}: " if field else ""
        super().__init__(f"{where}: {what}{reason}")


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


def parsed_line(
    line: int, source: str, parse: Callable[[T, str, int], Event], data: T
) -> ParsedLine:
    """The line's event, `parse(data, source, line)`, or what is wrong with it: `parse` raising
    anything else than `EventFileError` (a value the field checks let through and Python or
    `Event` refuses in its own way) is still an error of this line, never an exception out of
    the stream."""
    try:
        return ParsedLine(line, parse(data, source, line))
    except EventFileError as error:
        return ParsedLine(line, error)
    except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
        reason = f"cannot be read as an event ({type(error).__name__}: {show(str(error))})"
        return ParsedLine(line, EventFileError(source, line, None, reason))


class Utf8Lines:
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


__all__ = ["EventFileError", "ParsedLine", "Utf8Lines", "parsed_line", "show"]

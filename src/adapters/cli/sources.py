"""The inputs of `rollups ingest`: event files, or standard input (spooled to be read twice)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs

from reporting_rollups.adapters.cli.app import CliInputError
from reporting_rollups.adapters.event_files import (
    STDIN_NAME,
    EventFormat,
    format_for,
    parse_contents,
    parse_events,
)
from reporting_rollups.adapters.event_files.fast import Content
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.adapters.event_files.streams import CountingReader, spool


@attrs.define
class EventSource:
    """One input of `ingest`: a file, or standard input (spooled when it is read twice)."""

    name: str
    format: EventFormat
    path: Path | None
    stream: IO[bytes] | None = None
    owned: bool = False  #: the stream is a spooled copy to close
    assume_utc: bool = False  #: naive times are UTC (`--assume-utc`)

    @classmethod
    def of(cls, argument: str, *, spool_stdin: bool, assume_utc: bool = False) -> EventSource:
        """The source named on the command line (`-` is standard input)."""
        event_format = format_for(argument)
        if argument == "-":
            stdin = sys.stdin.buffer
            if spool_stdin:
                return cls(
                    STDIN_NAME, event_format, None, spool(stdin), owned=True, assume_utc=assume_utc
                )
            return cls(STDIN_NAME, event_format, None, stdin, assume_utc=assume_utc)
        path = Path(argument)
        if not path.is_file():
            raise CliInputError(f"{argument}: no such file")
        return cls(argument, event_format, path, assume_utc=assume_utc)

    def close(self) -> None:
        """Drop the spooled copy of standard input, if any."""
        if self.owned and self.stream is not None:
            self.stream.close()

    @property
    def size(self) -> int | None:
        """Bytes to read, when known."""
        if self.path is not None:
            return self.path.stat().st_size
        if self.stream is not None and self.stream.seekable():
            position = self.stream.tell()
            end = self.stream.seek(0, os.SEEK_END)
            self.stream.seek(position)
            return end
        return None

    @contextlib.contextmanager
    def _reader(self) -> Iterator[CountingReader]:
        """The byte counter over the input, read from the start."""
        if self.path is not None:
            with self.path.open("rb") as stream:
                yield CountingReader(stream)
            return
        assert self.stream is not None
        if self.stream.seekable():
            self.stream.seek(0)
        yield CountingReader(self.stream)

    @contextlib.contextmanager
    def lines(self) -> Iterator[tuple[CountingReader, Iterator[ParsedLine]]]:
        """The parsed lines (and the byte counter), read from the start."""
        with self._reader() as reader:
            yield reader, parse_events(reader, self.format, self.name, assume_utc=self.assume_utc)

    @contextlib.contextmanager
    def contents(
        self,
    ) -> Iterator[tuple[CountingReader, Iterator[tuple[int, Content | EventFileError]]]]:
        """What checking needs of each line (`parse_contents`), and the byte counter."""
        with self._reader() as reader:
            yield reader, parse_contents(reader, self.format, self.name, assume_utc=self.assume_utc)

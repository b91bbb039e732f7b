"""Checking batches of parsed lines before `rollups ingest` records them: by their events'
contents (`event_files.fast.Content`), so that the check pass need not build the events."""

from __future__ import annotations

import array
import sqlite3
import tempfile
from collections.abc import Sequence
from typing import IO, Final

import attrs

from reporting_rollups.adapters.event_files.fast import Content, content_of, line_content
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event


@attrs.define
class ErrorList:
    """Bad lines: all counted, the first `limit` kept for display (0 keeps all)."""

    limit: int
    shown: list[EventFileError] = attrs.field(factory=list)
    count: int = 0

    def add(self, errors: Sequence[EventFileError]) -> list[EventFileError]:
        """Count errors; return those to show now."""
        self.count += len(errors)
        room = len(errors) if self.limit == 0 else max(self.limit - len(self.shown), 0)
        fresh = list(errors[:room])
        self.shown.extend(fresh)
        return fresh


#: Ids looked up per query in `SeenIds` (SQLite's oldest builds allow 999 parameters).
_LOOKUP: Final = 500
#: Bytes of appended ids loaded into `SeenIds`'s database at a time (a multiple of 4 int64).
_LOAD_BYTES: Final = 32 * 65_536


class SeenIds:
    """The event ids of earlier batches (all files of one ingest), each with a digest of its
    event and where it first appeared, so that validation finds an id repeated with other content
    anywhere in the input. Kept on disk, in a private temporary SQLite database: memory stays flat
    whatever the input's size. While every batch's ids exceed all earlier ones (an export in id
    order) nothing is looked up, and the ids are only appended to a temporary file; the first
    batch that goes back loads them into the database."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": a temporary file, deleted on close
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE seen (id INTEGER PRIMARY KEY, digest INTEGER, source INTEGER, "
            "line INTEGER)"
        )
        self._sources: dict[str, int] = {}
        self._highest = 0  #: the largest id remembered
        #: (id, digest, source, line) of the batches not yet in the database, or None once loaded
        self._log: IO[bytes] | None = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()

    def _load(self) -> None:
        """Move the appended ids into the database (from now on, batches are inserted)."""
        if self._log is None:
            return
        self._log.seek(0)
        while chunk := self._log.read(_LOAD_BYTES):
            values = array.array("q")
            values.frombytes(chunk)
            rows = zip(values[0::4], values[1::4], values[2::4], values[3::4], strict=True)
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)", rows)
        self._log.close()
        self._log = None

    def conflicts(
        self, events: Sequence[tuple[Content, int]], source: str
    ) -> tuple[list[tuple[Content, int]], list[EventFileError]]:
        """`events` (contents, with their lines) split into those that agree with every earlier
        batch, and errors for those whose id an earlier batch holds with other content; then
        remembered."""
        if not events:
            return [], []
        ids = list({content[0] for content, _line in events})
        names = list(self._sources)
        earlier: dict[int, tuple[int, str, int]] = {}
        if min(ids) <= self._highest:
            self._load()
            for start in range(0, len(ids), _LOOKUP):
                chunk = ids[start : start + _LOOKUP]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT id, digest, source, line FROM seen WHERE id IN ({marks})"
                for event_id, digest, first_source, first_line in self._db.execute(query, chunk):
                    earlier[event_id] = (digest, names[first_source], first_line)
        kept: list[tuple[Content, int]] = []
        errors: list[EventFileError] = []
        rows: list[tuple[int, int, int]] = []
        number = self._sources.setdefault(source, len(self._sources))
        for content, line in events:
            digest = hash(content)
            seen = earlier.get(content[0])
            if seen is not None and seen[0] != digest:
                errors.append(
                    EventFileError(
                        source,
                        line,
                        "id",
                        f"event {content[0]} is on {seen[1]}:{seen[2]} with other content",
                    )
                )
            else:
                kept.append((content, line))
                rows.append((content[0], digest, line))
        if self._log is None:
            self._db.executemany(f"INSERT OR IGNORE INTO seen VALUES (?, ?, {number}, ?)", rows)
        else:
            self._log.write(
                array.array(
                    "q", (value for row in rows for value in (row[0], row[1], number, row[2]))
                ).tobytes()
            )
        self._highest = max(self._highest, max(ids))
        return kept, errors

    def close(self) -> None:
        """Drop the temporary database and file."""
        self._db.close()
        if self._log is not None:
            self._log.close()


def _differences(first: Content, then: Content) -> str:
    return ", ".join(Event(*first).differences(Event(*then)))


def check_contents(
    rollups: Rollups,
    batch: Sequence[tuple[int, Content | EventFileError]],
    source: str,
    earlier: SeenIds | None = None,
) -> tuple[list[tuple[Content, int]], list[EventFileError]]:
    """The batch's good lines (their events' contents and line numbers), and its bad lines:
    unparsable, an id repeated in the batch (or, given `earlier`, in an earlier batch) with
    other content, or an id already stored with other content."""
    errors: list[EventFileError] = []
    first_seen: dict[int, tuple[Content, int]] = {}
    good: list[tuple[Content, int]] = []
    for line, result in batch:
        if isinstance(result, EventFileError):
            errors.append(result)
            continue
        seen = first_seen.get(result[0])
        if seen is None:
            first_seen[result[0]] = (result, line)
        elif seen[0] != result:
            errors.append(
                EventFileError(
                    source,
                    line,
                    "id",
                    f"event {result[0]} is on line {seen[1]} with other content "
                    f"({_differences(seen[0], result)})",
                )
            )
            continue
        good.append((result, line))
    if earlier is not None:
        good, repeated = earlier.conflicts(good, source)
        errors.extend(repeated)
    if good:
        stored = {event.id: event for event in rollups.events(first_seen)}
        if stored:
            kept: list[tuple[Content, int]] = []
            for content, line in good:
                existing = stored.get(content[0])
                if existing is not None and content_of(existing) != content:
                    errors.append(
                        EventFileError(
                            source,
                            line,
                            "id",
                            f"event {content[0]} is already stored with other content "
                            f"({_differences(content_of(existing), content)}); events are "
                            "immutable, retract it first",
                        )
                    )
                else:
                    kept.append((content, line))
            good = kept
    errors.sort(key=lambda error: error.line or 0)
    return good, errors


def check_batch(
    rollups: Rollups, batch: Sequence[ParsedLine], source: str
) -> tuple[list[Event], list[EventFileError]]:
    """`check_contents` of parsed lines: the batch's good events, and its bad lines."""
    events = {parsed.line: parsed.result for parsed in batch if isinstance(parsed.result, Event)}
    good, errors = check_contents(
        rollups,
        [line_content(parsed.line, parsed.result) for parsed in batch],
        source,
    )
    return [events[line] for _content, line in good], errors

"""Checking batches of parsed lines before `rollups ingest` records them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

import attrs

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


class SeenIds:
    """The event ids of earlier batches (all files of one ingest), each with a digest of its
    event and where it first appeared, so that validation finds an id repeated with other content
    anywhere in the input. Kept in a private temporary SQLite database on disk: memory stays
    flat whatever the input's size."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": a temporary file, deleted on close
        self._db.execute(
            "CREATE TABLE seen (id INTEGER PRIMARY KEY, digest INTEGER, source TEXT, line INTEGER)"
        )

    def conflicts(
        self, events: Sequence[tuple[Event, int]], source: str
    ) -> tuple[list[tuple[Event, int]], list[EventFileError]]:
        """`events` (with their lines) split into those that agree with every earlier batch, and
        errors for those whose id an earlier batch holds with other content; then remembered."""
        ids = list({event.id for event, _line in events})
        earlier: dict[int, tuple[int, str, int]] = {}
        for start in range(0, len(ids), _LOOKUP):
            chunk = ids[start : start + _LOOKUP]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, digest, source, line FROM seen WHERE id IN ({marks})"
            for event_id, digest, first_source, first_line in self._db.execute(query, chunk):
                earlier[event_id] = (digest, first_source, first_line)
        kept: list[tuple[Event, int]] = []
        errors: list[EventFileError] = []
        for event, line in events:
            seen = earlier.get(event.id)
            if seen is not None and seen[0] != hash(event):
                errors.append(
                    EventFileError(
                        source,
                        line,
                        "id",
                        f"event {event.id} is on {seen[1]}:{seen[2]} with other content",
                    )
                )
            else:
                kept.append((event, line))
        self._db.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)",
            ((event.id, hash(event), source, line) for event, line in kept),
        )
        return kept, errors

    def close(self) -> None:
        """Drop the temporary database."""
        self._db.close()


def check_batch(
    rollups: Rollups,
    batch: Sequence[ParsedLine],
    source: str,
    earlier: SeenIds | None = None,
) -> tuple[list[Event], list[EventFileError]]:
    """The batch's good events, and its bad lines: unparsable, an id repeated in the batch (or,
    given `earlier`, in an earlier batch) with other content, or an id already stored with other
    content."""
    errors = [line.error for line in batch if line.error is not None]
    first_seen: dict[int, tuple[Event, int]] = {}
    good: list[tuple[Event, int]] = []
    for parsed in batch:
        event = parsed.event
        if event is None:
            continue
        seen = first_seen.get(event.id)
        if seen is not None and seen[0] != event:
            errors.append(
                EventFileError(
                    source,
                    parsed.line,
                    "id",
                    f"event {event.id} is on line {seen[1]} with other content "
                    f"({', '.join(seen[0].differences(event))})",
                )
            )
            continue
        first_seen.setdefault(event.id, (event, parsed.line))
        good.append((event, parsed.line))
    if earlier is not None:
        good, repeated = earlier.conflicts(good, source)
        errors.extend(repeated)
    if good:
        stored = {event.id: event for event in rollups.events(first_seen)}
        kept: list[tuple[Event, int]] = []
        for event, line in good:
            existing = stored.get(event.id)
            if existing is not None and existing != event:
                errors.append(
                    EventFileError(
                        source,
                        line,
                        "id",
                        f"event {event.id} is already stored with other content "
                        f"({', '.join(existing.differences(event))}); events are immutable, "
                        "retract it first",
                    )
                )
            else:
                kept.append((event, line))
        good = kept
    errors.sort(key=lambda error: error.line or 0)
    return [event for event, _line in good], errors

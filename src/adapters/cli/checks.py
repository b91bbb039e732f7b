"""Checking batches of parsed lines before `rollups ingest` records them."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from adapters.event_files import EventFileError, ParsedLine
from application.service import Rollups
from domain.events import Event


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


def check_batch(
    rollups: Rollups, batch: Sequence[ParsedLine], source: str
) -> tuple[list[Event], list[EventFileError]]:
    """The batch's good events, and its bad lines: unparsable, an id repeated in the batch with
    other content, or an id already stored with other content."""
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
    if good:
        with rollups.uow_factory() as uow:
            stored = {event.id: event for event in uow.events.get(list(first_seen))}
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

"""The checks of `rollups ingest`'s first pass (`adapters.cli.checks`): ids repeated with other
content in a batch, in an earlier batch or file (`SeenIds`, on disk), or already stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli.checks import SeenIds, check_batch, check_contents
from reporting_rollups.adapters.event_files.fast import Content, content_of
from reporting_rollups.adapters.event_files.lines import EventFileError, ParsedLine
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.events import Event

AT = datetime(2026, 11, 20, 12, tzinfo=UTC)


def content(event_id: int, value: float | None = None) -> Content:
    return content_of(
        Event(id=event_id, name="reply_time", account_id=2, created_at=AT, value=value)
    )


@pytest.fixture
def seen() -> Iterator[SeenIds]:
    ids = SeenIds()
    yield ids
    ids.close()


@pytest.fixture
def rollups() -> Iterator[Rollups]:
    with open_rollups("memory://") as opened:
        yield opened


def messages(errors: list[EventFileError]) -> list[str]:
    return [str(error) for error in errors]


def test_ids_in_order_are_remembered_without_a_lookup_and_found_when_a_batch_goes_back(
    seen: SeenIds,
) -> None:
    for first in range(1, 5001, 1000):  # in id order: appended, not looked up
        kept, errors = seen.conflicts([(content(n), n) for n in range(first, first + 1000)], "a")
        assert (len(kept), errors) == (1000, [])
    kept, errors = seen.conflicts([(content(5001), 1), (content(17), 2)], "b")  # the same: kept
    assert (len(kept), errors) == (2, [])
    kept, errors = seen.conflicts([(content(4999, 1.0), 3), (content(6000), 4)], "b")
    assert [line for _content, line in kept] == [4]
    assert messages(errors) == ["b:3: field 'id': event 4999 is on a:4999 with other content"]
    # remembered once loaded, in the other file too
    _kept, errors = seen.conflicts([(content(6000, 2.0), 5), (content(5001, 2.0), 6)], "c")
    assert messages(errors) == [
        "c:5: field 'id': event 6000 is on b:4 with other content",
        "c:6: field 'id': event 5001 is on b:1 with other content",
    ]


def test_a_batch_names_an_id_repeated_in_it_with_the_fields_that_differ(
    rollups: Rollups,
) -> None:
    batch: list[tuple[int, Content | EventFileError]] = [
        (1, content(1)),
        (2, EventFileError("f", 2, "id", "missing")),
        (3, content(1)),  # the same again: a duplicate, kept
        (4, content(1, 5.0)),
    ]
    good, errors = check_contents(rollups, batch, "f")
    assert [line for _content, line in good] == [1, 3]
    assert messages(errors) == [
        "f:2: field 'id': missing",
        "f:4: field 'id': event 1 is on line 1 with other content (value)",
    ]


def test_an_id_stored_with_other_content_is_an_error_and_the_same_content_is_kept(
    rollups: Rollups,
) -> None:
    rollups.record([Event(*content(1)), Event(*content(2, 3.0))])
    good, errors = check_contents(rollups, [(1, content(1)), (2, content(2, 4.0))], "f")
    assert [line for _content, line in good] == [1]
    assert messages(errors) == [
        "f:2: field 'id': event 2 is already stored with other content (value); events are "
        "immutable, retract it first"
    ]


def test_check_batch_gives_the_good_events_of_parsed_lines(rollups: Rollups) -> None:
    first, other = Event(*content(1)), Event(*content(1, 2.0))
    events, errors = check_batch(rollups, [ParsedLine(1, first), ParsedLine(2, other)], "f")
    assert events == [first]
    assert [error.line for error in errors] == [2]

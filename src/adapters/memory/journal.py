"""The undo journal of an in-memory unit of work, and the base of the stores that write
through it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from functools import partial
from typing import Any

import attrs

from reporting_rollups.adapters.memory.database import InMemoryDatabase

#: The previous value of a key that was absent.
MISSING: Any = object()


class Journal:
    """Undo log of a unit of work: functions that take its writes back, run newest first.

    Bulk writes log one function for all their keys, so that a 10,000-event batch costs a few
    entries, not one per row.
    """

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] = []

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run `undo` on rollback (after the undo functions logged later than it)."""
        self.undo.append(undo)

    def log(self, table: MutableMapping[Any, Any]) -> dict[Any, Any]:
        """A dict in which the caller puts each key's previous value in `table` (`MISSING`
        when absent) before writing the key, at most once per key; restored on rollback."""
        previous: dict[Any, Any] = {}
        self.on_rollback(partial(_restore, table, previous))
        return previous

    def set_many(self, table: MutableMapping[Any, Any], values: Mapping[Any, Any]) -> None:
        """table.update(values)."""
        self.log(table).update({key: table.get(key, MISSING) for key in values})
        table.update(values)

    def insert_many(self, table: MutableMapping[Any, Any], values: Mapping[Any, Any]) -> None:
        """table.update(values), for keys known to be absent from `table`; `values` is kept
        (its keys are the undo), so the caller must not change it afterwards."""
        self.on_rollback(partial(_pop_keys, table, values))
        table.update(values)

    def delete_many(self, table: MutableMapping[Any, Any], keys: Iterable[Any]) -> None:
        """Delete the keys that are in `table`."""
        self.log(table).update({key: table.pop(key) for key in keys if key in table})

    def set(self, table: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self.set_many(table, {key: value})

    def delete(self, table: MutableMapping[Any, Any], key: Any) -> None:
        self.delete_many(table, (key,))

    def child(self, table: MutableMapping[Any, Any], key: Any) -> Any:
        """table[key], created as an empty dict (journalled) when missing."""
        found = table.get(key)
        if found is None:
            found = {}
            self.set(table, key, found)
        return found

    def rollback(self) -> None:
        """Undo every logged write, newest first."""
        while self.undo:
            self.undo.pop()()

    def forget(self) -> None:
        """Keep every write (commit): drop the undo functions."""
        self.undo.clear()


def _pop_keys(table: MutableMapping[Any, Any], keys: Iterable[Any]) -> None:
    for key in keys:
        table.pop(key, None)


def _restore(table: MutableMapping[Any, Any], previous: Mapping[Any, Any]) -> None:
    for key, old in previous.items():
        if old is MISSING:
            table.pop(key, None)
        else:
            table[key] = old


@attrs.define
class JournalledStore:
    """A store over an `InMemoryDatabase` whose writes go through a unit of work's journal."""

    db: InMemoryDatabase
    journal: Journal

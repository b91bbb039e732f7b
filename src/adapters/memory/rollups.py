"""In-memory `RollupStore`: the rollup rows and their distinct members."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date
from functools import partial
from typing import Any

from reporting_rollups.adapters.memory.journal import MISSING, JournalledStore
from reporting_rollups.application.ports import DateSpan, RollupRow, Sums
from reporting_rollups.domain.errors import StorageError
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Deltas, Member, PlainKey, contribution_of


def _plain_items(
    deltas: Mapping[RollupKey, MetricContribution],
) -> Iterable[tuple[PlainKey, tuple[int, float, float]]]:
    """`deltas.items()`, as plain tuples when `deltas` is a `Deltas` (see `Deltas.rows`)."""
    return deltas.rows() if isinstance(deltas, Deltas) else deltas.items()


class InMemoryRollupStore(JournalledStore):
    """Rollup rows and distinct members in memory."""

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        # Undo: the previous value of each row, in the order `deltas` iterates; rollback walks
        # `deltas` again. Keeping no key alive lets the keys of a `Deltas` die at once (see
        # `domain.projection.Deltas`); a `RollupKey` is made only for a new row.
        previous: list[MetricContribution | None] = []
        self.journal.on_rollback(partial(self._restore_rows, deltas, previous))
        # Rows are looked up with the plain keys of `Deltas.rows` (equal to the stored keys).
        tables: dict[int, dict[Any, MetricContribution]] = self.db.rollups
        for key, (count, sum_value, sum_business) in _plain_items(deltas):
            rows = tables.get(key[0])
            if rows is None:
                rows = self.journal.child(tables, key[0])
            row = rows.get(key)
            if row is not None:
                count, sum_value, sum_business = (
                    row[0] + count,
                    row[1] + sum_value,
                    row[2] + sum_business,
                )
            if count < 0:
                raise StorageError(f"rollup row {RollupKey._make(key)} would have a negative count")
            previous.append(row)
            if not count:
                if row is not None:
                    del rows[key]
            elif row is None:
                rows[RollupKey._make(key)] = contribution_of((count, sum_value, sum_business))
            else:
                # `key` equals the stored `RollupKey`: the dict keeps its own key object.
                rows[key] = contribution_of((count, sum_value, sum_business))

    def set_sums(self, sums: Mapping[RollupKey, Sums]) -> None:
        for key, (sum_value, sum_business) in sums.items():
            rows = self.db.rollups.get(key.account_id)
            row = rows.get(key) if rows is not None else None
            if rows is not None and row is not None:
                self.journal.set(rows, key, MetricContribution(row.count, sum_value, sum_business))

    def _restore_rows(
        self,
        deltas: Mapping[RollupKey, MetricContribution],
        previous: list[MetricContribution | None],
    ) -> None:
        # zip stops after the rows written before a failure. An account table created by `add`
        # is already gone: its own undo, logged later, ran first.
        for key, row in zip(deltas, previous, strict=False):
            rows = self.db.rollups.get(key.account_id)
            if rows is None:
                continue
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        changes: dict[RollupKey, int] = {}
        tables: dict[int, tuple[dict[Member, int], dict[Any, Any]]] = {}
        for member, delta in deltas.items():
            key = member[0]
            found = tables.get(key.account_id)
            if found is None:
                members = self.journal.child(self.db.members, key.account_id)
                found = tables[key.account_id] = (members, self.journal.log(members))
            members, previous = found
            before = members.get(member, 0)
            after = before + delta
            if after < 0:
                raise StorageError(f"member {member} would have a negative count")
            previous[member] = before or MISSING
            if after:
                members[member] = after
            elif before:
                del members[member]
            change = (after > 0) - (before > 0)
            if change:
                changes[key] = changes.get(key, 0) + change
        return changes

    def clear_days(self, account_id: int, dates: Collection[date]) -> None:
        """Delete the account's rows and members of `dates` (the first step of a rebuild)."""
        rows = self.db.rollups.get(account_id, {})
        self.journal.delete_many(rows, [key for key in rows if key.date in dates])
        members = self.db.members.get(account_id, {})
        self.journal.delete_many(members, [member for member in members if member[0].date in dates])

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        return sorted(
            RollupRow(key, value)
            for key, value in self.db.rollups.get(account_id, {}).items()
            if (since is None or key.date >= since) and (until is None or key.date <= until)
        )

    def date_span(self, account_id: int) -> DateSpan | None:
        dates = [key.date for key in self.db.rollups.get(account_id, {})]
        return DateSpan(min(dates), max(dates)) if dates else None

    def clear_account(self, account_id: int) -> None:
        self.journal.delete(self.db.rollups, account_id)
        self.journal.delete(self.db.members, account_id)

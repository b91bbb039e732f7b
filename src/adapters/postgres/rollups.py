"""PostgreSQL `RollupStore`: rollup rows and distinct members, each written with one `unnest`
upsert per batch in key order (the one order of every writer: no deadlocks)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from operator import attrgetter
from typing import Any

from reporting_rollups.adapters.postgres.arrays import (
    Float8Array,
    Int8Array,
    TypedArray,
    key_arrays,
)
from reporting_rollups.adapters.postgres.citus_functions import MEMBERS, UPSERT
from reporting_rollups.adapters.postgres.driver import fetch, fetch_dicts
from reporting_rollups.adapters.postgres.statements import (
    DELETE_EMPTY_ACCOUNT_MEMBERS,
    DELETE_EMPTY_ACCOUNT_ROLLUPS,
    DELETE_EMPTY_MEMBERS,
    DELETE_EMPTY_ROLLUPS,
    UPSERT_MEMBERS,
    UPSERT_ROLLUPS,
)
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.rows import check_counts, member_transitions
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import DateSpan, RollupRow, Sums
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member


class PostgresRollupStore:
    """`reporting_events_rollups` and `reporting_rollup_members` on PostgreSQL."""

    def __init__(self, session: SqlSession, *, distributed: bool = False) -> None:
        self.session = session
        #: a distributed database: each account's rows through its routed function
        #: (`citus_functions`)
        self.distributed = distributed

    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        if not deltas:
            return
        keys = sorted(deltas)  # the one key order of every writer; sorting keys alone is cheaper
        count, sum_value, sum_business = zip(*(deltas[key] for key in keys), strict=True)
        params: dict[str, Any] = {
            **key_arrays(keys),
            "count": Int8Array(count),
            "sum_value": Float8Array(sum_value),
            "sum_value_business_hours": Float8Array(sum_business),
            "now": self.session.now(),
        }
        self._run(UPSERT_ROLLUPS, UPSERT.call, keys, params, "adding to rollup rows")
        # Only rows that received a negative count can have reached 0 (stored counts are > 0).
        shrinking = [key for key, n in zip(keys, count, strict=True) if n < 0]
        if shrinking:
            emptied = self._run(
                DELETE_EMPTY_ROLLUPS,
                DELETE_EMPTY_ACCOUNT_ROLLUPS,
                shrinking,
                key_arrays(shrinking),
                "adding to rollup rows",
                read=fetch_dicts,
            )
            check_counts(emptied)

    def _run(
        self,
        statement: str,
        routed: str,
        keys: Sequence[RollupKey],
        params: Mapping[str, Any],
        doing: str,
        read: Callable[..., list[Any]] = fetch,
    ) -> list[Any]:
        """`statement` with `params` (arrays in the order of `keys`, sorted), its rows read by
        `read`; on a distributed database `routed` instead, once per account of `keys`, with
        the slices of the arrays that hold its rows and `account`."""
        if not self.distributed:
            return read(self.session, statement, params, doing=doing)
        rows: list[Any] = []
        start = 0
        for account_id, group in itertools.groupby(keys, key=attrgetter("account_id")):
            end = start + len(list(group))
            sliced = {
                name: type(value)(value[start:end]) if isinstance(value, TypedArray) else value
                for name, value in params.items()
            }
            rows += read(self.session, routed, {**sliced, "account": account_id}, doing=doing)
            start = end
        return rows

    def set_sums(self, sums: Mapping[RollupKey, Sums]) -> None:
        queries.set_sums(self.session, sums)

    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        members = sorted(wanted)
        keys, member_ids = zip(*members, strict=True)
        params: dict[str, Any] = {
            **key_arrays(keys),
            "member_id": Int8Array(member_ids),
            "occurrences": Int8Array([wanted[member] for member in members]),
        }
        rows = self._run(UPSERT_MEMBERS, MEMBERS.call, keys, params, "updating distinct members")
        changes, emptied = member_transitions(wanted, rows)
        if emptied:
            ordered = sorted(emptied)
            keys_of = [key for key, _ in ordered]
            params = {
                **key_arrays(keys_of),
                "member_id": Int8Array([member_id for _, member_id in ordered]),
            }
            self._run(
                DELETE_EMPTY_MEMBERS,
                DELETE_EMPTY_ACCOUNT_MEMBERS,
                keys_of,
                params,
                "updating distinct members",
            )
        return changes

    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[RollupRow]:
        return queries.rollup_rows(self.session, account_id, since, until)

    def date_span(self, account_id: int) -> DateSpan | None:
        return queries.date_span(self.session, account_id)

    def clear_account(self, account_id: int) -> None:
        queries.clear_rollups(self.session, account_id)

"""PostgreSQL `EventStore`: raw events stored with one `unnest` INSERT per batch, re-sent ids
checked and held in one statement, aggregations (`verify`) with the rebuild's own statement."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from reporting_rollups.adapters.postgres.aggregation import postgres_aggregate_statement
from reporting_rollups.adapters.postgres.arrays import (
    Int8Array,
    TimestampArray,
    event_arrays,
    have_times,
)
from reporting_rollups.adapters.postgres.citus_functions import STORE
from reporting_rollups.adapters.postgres.driver import fetch, fetch_one
from reporting_rollups.adapters.postgres.statements import (
    HOLD_ACCOUNT_EVENTS,
    HOLD_EVENTS,
    INSERT_ACCOUNT_EVENTS,
    INSERT_EVENTS,
    STORE_BATCH,
)
from reporting_rollups.adapters.sql import queries
from reporting_rollups.adapters.sql.aggregation import naive_utc
from reporting_rollups.adapters.sql.rows import aggregated_rows, conflict
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.application.ports import AccountSettings, StoredBatch, TimeSpan
from reporting_rollups.domain.errors import ConfigurationError
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.timezones import LocalDay


def _event_id(event: Event) -> int:
    return event.id


#: Why a distributed database refuses a retraction by ids alone.
ACCOUNT_NEEDED: Final = (
    "on a distributed database (Citus) an event is identified by its account and id: give the "
    "account (retract(ids, account_id=...), rollups retract --account ID)"
)


def by_account(events: Sequence[Event]) -> dict[int, list[Event]]:
    """The events grouped by account, accounts in order."""
    groups: dict[int, list[Event]] = {}
    for event in events:
        groups.setdefault(event.account_id, []).append(event)
    return dict(sorted(groups.items()))


class PostgresEventStore:
    """The raw `reporting_events` table on PostgreSQL."""

    def __init__(self, session: SqlSession, *, distributed: bool = False) -> None:
        self.session = session
        #: a distributed database (Citus): an event is identified by (account_id, id), and
        #: every statement works on one account (`adapters.postgres.citus`)
        self.distributed = distributed

    def add(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        if self.distributed:
            return sorted(
                event_id
                for group in by_account(events).values()
                for event_id in self._add_of_account(group)
            )
        return self._insert(events, INSERT_EVENTS)

    def _add_of_account(self, events: Sequence[Event]) -> list[int]:
        """`add` of one account's events (distributed: keyed by (account_id, id))."""
        return self._insert(events, INSERT_ACCOUNT_EVENTS)

    def _insert(self, events: Sequence[Event], statements: Mapping[bool, str]) -> list[int]:
        """Insert with `statements` (by whether the events have times); hold and check the
        events stored before; the ids inserted."""
        ordered = sorted(events, key=_event_id)
        times = have_times(ordered)
        params: dict[str, Any] = {**event_arrays(ordered, times=times), "now": self.session.now()}
        (existing,) = fetch_one(self.session, statements[times], params, doing="storing raw events")
        before = set(existing)
        self.hold([event for event in ordered if event.id in before])
        return [event.id for event in ordered if event.id not in before]

    def store_new(self, events: Sequence[Event]) -> tuple[StoredBatch, list[Event]] | None:
        """Lock the accounts, insert the new events and mark those of zoned accounts, in one
        statement (`STORE_BATCH`); also return the events that were stored before (usually
        none: the caller holds them, `hold`, before marking them). None (nothing
        written, the present account rows locked) when an account row is missing: the caller
        then goes step by step. On a distributed database: one call of the routed function
        `citus_functions.STORE` per account (never None)."""
        if self.distributed:
            return self._store_by_account(events)
        ordered = sorted(events, key=_event_id)
        accounts = sorted({event.account_id for event in ordered})
        times = have_times(ordered)
        params: dict[str, Any] = {
            **event_arrays(ordered, times=times),
            "accounts": Int8Array(accounts),
            "now": self.session.now(),
        }
        rows = fetch(self.session, STORE_BATCH[times], params, doing="storing raw events")
        if not rows or not rows[0][5]:
            return None
        *_, stored, fresh, existing = rows[0]
        settings = {
            account_id: AccountSettings(account_id, zone, rollup_zone, read_path, generation)
            for account_id, zone, rollup_zone, read_path, generation, *_ in rows
        }
        before = set(existing or ())
        return (
            StoredBatch(settings, stored, set(fresh)),
            [event for event in ordered if event.id in before],
        )

    def _store_by_account(self, events: Sequence[Event]) -> tuple[StoredBatch, list[Event]]:
        settings: dict[int, AccountSettings] = {}
        stored, fresh, before = 0, set[int](), list[Event]()
        now = self.session.now()
        for account_id, group in by_account(events).items():
            ordered = sorted(group, key=_event_id)
            params = {**event_arrays(ordered, times=True), "account": account_id, "now": now}
            zone, rollup_zone, read_path, generation, inserted, marked, existing = fetch_one(
                self.session, STORE.call, params, doing="storing raw events"
            )
            settings[account_id] = AccountSettings(
                account_id, zone, rollup_zone, bool(read_path), int(generation)
            )
            stored += int(inserted)
            fresh.update(int(event_id) for event_id in marked)
            kept = set(existing)
            before += [event for event in ordered if event.id in kept]
        return StoredBatch(settings, stored, fresh), before

    def hold(self, events: Sequence[Event]) -> set[int]:
        """In one statement that also checks their content (`EventConflictError` for the first
        that differs); on a distributed database, one per account."""
        if not events:
            return set()
        if self.distributed:
            held: set[int] = set()
            for account_id, group in by_account(events).items():
                params = {**event_arrays(group), "account": account_id}
                rows = fetch(self.session, HOLD_ACCOUNT_EVENTS, params, doing="holding raw events")
                held |= self._checked(group, rows, account_id)
            return held
        rows = fetch(self.session, HOLD_EVENTS, event_arrays(events), doing="holding raw events")
        return self._checked(events, rows, None)

    def _checked(
        self, events: Sequence[Event], rows: Sequence[Any], account_id: int | None
    ) -> set[int]:
        """The held ids of rows (id, differs); `EventConflictError` for the first that
        differs from its event."""
        differing = [int(event_id) for event_id, differs in rows if differs]
        if differing:
            event_id = min(differing)
            event = next(event for event in events if event.id == event_id)
            stored = queries.event_rows(self.session, [event_id], account_id=account_id)
            error = conflict(stored[0], event)
            if error is not None:
                raise error
        return {int(event_id) for event_id, _ in rows}

    def get(self, ids: Collection[int]) -> list[Event]:
        return queries.get_events(self.session, ids)

    def owners(self, ids: Collection[int]) -> set[int]:
        if self.distributed:
            raise ConfigurationError(ACCOUNT_NEEDED)
        return queries.owners(self.session, ids)

    def remove(
        self, ids: Collection[int], account_ids: Collection[int], *, unowned: bool = True
    ) -> list[Event]:
        if not self.distributed:
            return queries.remove(self.session, ids, account_ids, unowned=unowned)
        removed = [
            event
            for account_id in sorted(set(account_ids))
            for event in queries.remove(self.session, ids, [account_id], unowned=False)
        ]
        return sorted(removed, key=_event_id)

    def span(self, account_id: int) -> TimeSpan | None:
        return queries.span(self.session, account_id)

    def applied_in_days(
        self, account_id: int, days: Sequence[LocalDay], names: Collection[str]
    ) -> list[Event]:
        return queries.applied_in_days(self.session, account_id, days, names)

    def has_events(self, account_id: int) -> bool:
        return queries.has_events(self.session, account_id)

    def unapplied_span(self, account_id: int) -> TimeSpan | None:
        return queries.unapplied_span(self.session, account_id)

    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}
        params = {
            "account": account_id,
            "start": naive_utc(days[0].start),
            "end": naive_utc(days[-1].end),
            "starts": TimestampArray([day.start for day in days]),
        }
        statement = postgres_aggregate_statement(self.session.dialect)
        rows = fetch(self.session, statement, params, doing="aggregating raw events")
        return aggregated_rows(account_id, days, rows, first=1)

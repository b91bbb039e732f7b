"""Generic SQL adapter (SQLAlchemy Core): every storage port over one connection per unit of work.

Same semantics as `adapters.memory` (the reference behaviour). SQLite uses these classes as they
are; `adapters.postgres` overrides the hot-path statements with bulk `unnest` forms and adds row
locks. Statements use bound parameters only. Timestamps are stored as naive UTC.

Raw rows the host wrote that cannot be an `Event` (NULL or empty name, NULL account, non-positive
ids, non-finite values) are skipped by `EventStore.get`, can still be removed, and contribute
nothing to any aggregation (see `adapters.sql_aggregation.valid_event_row`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, ClassVar, Concatenate, Final, ParamSpec, Self, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    Row,
    Table,
    and_,
    any_,
    bindparam,
    case,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from reporting_rollups.adapters import migrate as migrations
from reporting_rollups.adapters.clock import system_clock
from reporting_rollups.adapters.sql_aggregation import (
    aggregate_select,
    members_select,
    naive_utc,
    readable_created_at,
    valid_event_row,
    valid_name,
)
from reporting_rollups.adapters.sql_errors import ErrorTranslator
from reporting_rollups.adapters.sql_reports import SqlReportStore
from reporting_rollups.adapters.tables import (
    reporting_events,
    reporting_events_rollups,
    rollup_accounts,
    rollup_applied_events,
    rollup_members,
)
from reporting_rollups.application.ports import (
    AccountSettings,
    RebuildStats,
    StoredBatch,
    store_stepwise,
)
from reporting_rollups.domain.errors import (
    EventConflictError,
    InvalidEventError,
    RollupError,
    StorageError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member
from reporting_rollups.domain.timezones import LocalDay

#: Most values bound in one `IN (...)` list (SQLite allows 32766 variables per statement).
IN_CHUNK: Final = 10_000
#: Columns of `reporting_events` compared to detect an id re-sent with different content.
EVENT_FIELDS: Final = (
    "id",
    "name",
    "account_id",
    "created_at",
    "value",
    "value_in_business_hours",
    "user_id",
    "inbox_id",
    "conversation_id",
)
ROLLUP_KEY_COLUMNS: Final = ("account_id", "date", "dimension_type", "dimension_id", "metric")
MEMBER_KEY_COLUMNS: Final = (*ROLLUP_KEY_COLUMNS, "member_id")

_DIMENSIONS: Final = {str(d): d for d in DimensionType}
_METRICS: Final = {str(m): m for m in Metric}


# --- shared plumbing -----------------------------------------------------------------------------


class SqlContext:
    """What the stores of one unit of work share: its connection, the dialect, the translator
    and the unit of work's timestamp."""

    def __init__(self, connection: Connection, errors: ErrorTranslator) -> None:
        self.connection = connection
        self.errors = errors
        self.dialect: str = connection.dialect.name
        self._now: datetime | None = None

    def now(self) -> datetime:
        """The naive UTC time written to created_at/updated_at by this unit of work."""
        if self._now is None:
            self._now = naive_utc(system_clock())
        return self._now

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT (with ON CONFLICT support)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        raise StorageError(f"{self.errors.where}: unsupported SQL dialect {self.dialect!r}")

    def upsert_nothing(self, table: Table, keys: Sequence[str]) -> Insert:
        """INSERT ... ON CONFLICT (keys) DO NOTHING."""
        return self.insert(table).on_conflict_do_nothing(index_elements=list(keys))

    def upsert_add(self, table: Table, keys: Sequence[str], added: Sequence[str]) -> Insert:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET c = table.c + excluded.c for `added`."""
        statement = self.insert(table)
        changes: dict[str, Any] = {name: table.c[name] + statement.excluded[name] for name in added}
        if "updated_at" in table.c:
            changes["updated_at"] = statement.excluded.updated_at
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)

    def id_filters(self, target: Any, ids: Collection[int]) -> Iterator[ColumnElement[bool]]:
        """Conditions `target IN ids`, chunked to respect the driver's limit on bound values."""
        ordered = sorted(set(ids))
        if self.dialect == "postgresql":
            if ordered:
                yield target == any_(bindparam(None, ordered, type_=postgresql.ARRAY(BigInteger)))
            return
        for start in range(0, len(ordered), IN_CHUNK):
            yield target.in_(ordered[start : start + IN_CHUNK])


StoreT = TypeVar("StoreT", bound="SqlStore")
P = ParamSpec("P")
R = TypeVar("R")


def operation(
    action: str,
) -> Callable[[Callable[Concatenate[StoreT, P], R]], Callable[Concatenate[StoreT, P], R]]:
    """Decorate a store method: driver errors become library errors naming `action`."""

    def decorate(
        method: Callable[Concatenate[StoreT, P], R],
    ) -> Callable[Concatenate[StoreT, P], R]:
        @functools.wraps(method)
        def run(self: StoreT, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self.ctx.errors(action):
                return method(self, *args, **kwargs)

        return run

    return decorate


class SqlStore:
    """Base of the stores: one `SqlContext`."""

    def __init__(self, ctx: SqlContext) -> None:
        self.ctx = ctx

    @property
    def connection(self) -> Connection:
        """The unit of work's connection."""
        return self.ctx.connection


def aware(value: datetime) -> datetime:
    """A naive UTC datetime read from a table, as an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def event_row(event: Event, now: datetime) -> dict[str, Any]:
    """The `reporting_events` columns of an event."""
    return {
        "id": event.id,
        "name": event.name,
        "value": event.value,
        "account_id": event.account_id,
        "inbox_id": event.inbox_id,
        "user_id": event.user_id,
        "conversation_id": event.conversation_id,
        "created_at": naive_utc(event.created_at),
        "updated_at": now,
        "value_in_business_hours": event.value_in_business_hours,
    }


def event_columns() -> list[ColumnElement[Any]]:
    """The `reporting_events` columns to read rows for `event_from_row` and `conflict` with
    (`EVENT_FIELDS` only: the host's other columns may hold anything): a `created_at` outside
    the accepted range (or, on SQLite, text that is no timestamp) reads as NULL, so that a
    timestamp Python cannot hold (PostgreSQL: year 10000 on, BC, +-infinity), which the driver
    fails to load, makes the row "not an event" instead of failing the read."""
    e = reporting_events
    guarded = type_coerce(case((and_(*readable_created_at()), e.c.created_at)), DateTime())
    return [guarded.label(name) if name == "created_at" else e.c[name] for name in EVENT_FIELDS]


def stored_fields(row: Any) -> dict[str, Any]:
    """A raw row's compared fields, with created_at aware (None when it is NULL or, read
    through `event_columns`, outside the accepted range)."""
    fields = {name: getattr(row, name) for name in EVENT_FIELDS}
    if fields["created_at"] is not None:
        fields["created_at"] = aware(fields["created_at"])
    return fields


def event_from_row(row: Any) -> Event | None:
    """The `Event` a raw row holds, or None when the row cannot be one: `Event` applies the
    accepted ranges of `domain.limits` (the rule `valid_event_row` states in SQL), so a row
    outside them (NULL name, year 1, a value of 1e308...) is not an event and contributes
    nothing."""
    fields = stored_fields(row)
    if fields["created_at"] is None:
        return None
    try:
        return Event(**fields)
    except (InvalidEventError, TypeError):
        return None


def conflict(row: Any, event: Event) -> EventConflictError | None:
    """The conflict between a stored raw row and an event with its id, if their contents differ."""
    stored = stored_fields(row)
    differences = [name for name in EVENT_FIELDS if stored[name] != getattr(event, name)]
    return EventConflictError(event.id, differences) if differences else None


def rollup_key(row: Mapping[Any, Any]) -> RollupKey | None:
    """The key of a rollup or member row (None for a dimension or metric the library does not
    know, e.g. written by another program)."""
    dimension = _DIMENSIONS.get(row["dimension_type"])
    metric = _METRICS.get(row["metric"])
    if dimension is None or metric is None:
        return None
    return RollupKey(
        int(row["account_id"]), row["date"], dimension, int(row["dimension_id"]), metric
    )


def key_values(key: RollupKey) -> dict[str, Any]:
    """The key columns of a rollup row."""
    return {
        "account_id": key.account_id,
        "date": key.date,
        "dimension_type": str(key.dimension_type),
        "dimension_id": key.dimension_id,
        "metric": str(key.metric),
    }


def key_matches(table: Table, names: Sequence[str]) -> list[ColumnElement[bool]]:
    """`column = :column` for each key column (bound per execution)."""
    return [table.c[name] == bindparam(name, type_=table.c[name].type) for name in names]


def key_identity(key: RollupKey) -> tuple[int, date, str, int, str]:
    """A key as plain values (enum members hash unlike their str values), to match the key
    columns read back from a row."""
    return (key.account_id, key.date, str(key.dimension_type), key.dimension_id, str(key.metric))


def negative_count(what: str, key: object) -> StorageError:
    """The error of a row whose count would drop below zero (the invariant is broken)."""
    return StorageError(
        f"{what} {key} would have a negative count; the rollups are inconsistent with the raw "
        "events: run `rollups verify` and rebuild the account"
    )


def aggregated_rows(
    account_id: int, days: Sequence[LocalDay], rows: Iterable[Sequence[Any]], first: int = 0
) -> dict[RollupKey, MetricContribution]:
    """Rows (day index, dimension_type, dimension_id, metric, count, sum_value,
    sum_value_business_hours) of an aggregation as rollup rows; day indexes count from `first`,
    rows with count 0 are left out."""
    found: dict[RollupKey, MetricContribution] = {}
    for index, dimension, dimension_id, metric, count, total, business in rows:
        if int(count) == 0:
            continue
        key = RollupKey(
            account_id,
            days[int(index) - first].date,
            DimensionType(dimension),
            int(dimension_id),
            Metric(metric),
        )
        found[key] = MetricContribution(int(count), float(total or 0), float(business or 0))
    return found


# --- stores --------------------------------------------------------------------------------------


class SqlEventStore(SqlStore):
    """The raw `reporting_events` table."""

    @operation("storing raw events")
    def add(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        ordered = sorted(events, key=lambda event: event.id)
        stored = self._insert_new(ordered)
        fresh = set(stored)
        self._check_duplicates([event for event in ordered if event.id not in fresh])
        return sorted(stored)

    def _insert_new(self, events: Sequence[Event]) -> list[int]:
        """Insert the events whose id is not stored yet; return their ids."""
        e = reporting_events
        now = self.ctx.now()
        statement = self.ctx.upsert_nothing(e, ["id"]).returning(e.c.id)
        result = self.connection.execute(statement, [event_row(event, now) for event in events])
        return [int(row[0]) for row in result]

    def _check_duplicates(self, events: Sequence[Event]) -> None:
        """Raise `EventConflictError` for the first event whose stored row differs."""
        if not events:
            return
        stored = {int(row.id): row for row in self._rows([event.id for event in events])}
        for event in events:
            row = stored.get(event.id)
            found = conflict(row, event) if row is not None else None
            if found is not None:
                raise found

    def _rows(self, ids: Collection[int]) -> list[Row[Any]]:
        e = reporting_events
        rows: list[Row[Any]] = []
        for condition in self.ctx.id_filters(e.c.id, ids):
            rows.extend(self.connection.execute(select(*event_columns()).where(condition)))
        rows.sort(key=lambda row: int(row.id))
        return rows

    @operation("holding raw events")
    def hold(self, ids: Collection[int]) -> set[int]:
        e = reporting_events
        held: set[int] = set()
        for condition in self.ctx.id_filters(e.c.id, ids):
            # FOR SHARE in id order (a plain read on SQLite, whose writers are serialised).
            query = select(e.c.id).where(condition).order_by(e.c.id).with_for_update(read=True)
            held.update(int(row[0]) for row in self.connection.execute(query))
        return held

    @operation("reading the accounts of raw events")
    def owners(self, ids: Collection[int]) -> set[int]:
        e = reporting_events
        found: set[int] = set()
        for condition in self.ctx.id_filters(e.c.id, ids):
            query = select(e.c.account_id).where(condition, e.c.account_id.is_not(None))
            found.update(int(row[0]) for row in self.connection.execute(query.distinct()))
        return found

    @operation("reading raw events")
    def get(self, ids: Collection[int]) -> list[Event]:
        events = (event_from_row(row) for row in self._rows(ids))
        return [event for event in events if event is not None]

    @operation("removing raw events")
    def remove(self, ids: Collection[int], account_ids: Collection[int]) -> list[Event]:
        e = reporting_events
        removed: list[Row[Any]] = []
        of_locked_accounts = or_(
            e.c.account_id.is_(None), e.c.account_id.in_(sorted(set(account_ids)))
        )
        for condition in self.ctx.id_filters(e.c.id, ids):
            # Lock the rows in id order before deleting them, so that removers cannot deadlock.
            locked = (
                select(e.c.id)
                .where(condition, of_locked_accounts)
                .order_by(e.c.id)
                .with_for_update()
            )
            removed.extend(
                self.connection.execute(
                    delete(e).where(e.c.id.in_(locked)).returning(*event_columns())
                )
            )
        removed.sort(key=lambda row: int(row.id))
        events: list[Event] = []
        unconvertible: list[Row[Any]] = []
        for row in removed:
            event = event_from_row(row)
            if event is None:
                unconvertible.append(row)
            else:
                events.append(event)
        self._forget_marks(unconvertible)
        return events

    def _forget_marks(self, rows: Sequence[Row[Any]]) -> None:
        """Drop the applied marks of removed rows that were not events (they contributed
        nothing, so there is nothing to take back)."""
        by_account: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            if row.account_id is not None:
                by_account[int(row.account_id)].append(int(row.id))
        applied = rollup_applied_events
        for account_id, event_ids in sorted(by_account.items()):
            for condition in self.ctx.id_filters(applied.c.event_id, event_ids):
                self.connection.execute(
                    delete(applied).where(applied.c.account_id == account_id, condition)
                )

    @operation("reading the span of raw events")
    def span(self, account_id: int) -> tuple[datetime, datetime] | None:
        """The account's distinct names (a loose scan of the (account_id, name, created_at)
        index), and per valid name the first and last valid row's `created_at`: ordered
        searches of the same index that stop at the first valid row. Rows outside the accepted
        ranges contribute nothing, so they widen no range."""
        e, later = reporting_events, reporting_events.alias("later")
        names = (
            select(func.min(e.c.name).label("name"))
            .where(e.c.account_id == account_id)
            .cte("names", recursive=True)
        )
        following = (
            select(func.min(later.c.name))
            .where(later.c.account_id == account_id, later.c.name > names.c.name)
            .scalar_subquery()
        )
        names = names.union_all(select(following).where(names.c.name.is_not(None)))
        rows = select(e.c.created_at).where(
            e.c.account_id == account_id, e.c.name == names.c.name, *valid_event_row()
        )
        ends = (
            select(
                rows.order_by(e.c.created_at.asc()).limit(1).scalar_subquery().label("first"),
                rows.order_by(e.c.created_at.desc()).limit(1).scalar_subquery().label("last"),
            )
            .where(*valid_name(names.c.name))
            .subquery("ends")
        )
        first, last = self.connection.execute(
            select(func.min(ends.c.first), func.max(ends.c.last))
        ).one()
        if first is None or last is None:
            return None
        return aware(first), aware(last)

    @operation("reading applied raw events")
    def applied_in_days(
        self, account_id: int, days: Sequence[LocalDay], names: Collection[str]
    ) -> list[Event]:
        if not days or not names:
            return []
        e, a = reporting_events, rollup_applied_events
        # Searches (account_id, name, created_at) per name, not the account's every row.
        query = select(*event_columns()).where(
            e.c.account_id == account_id,
            e.c.name.in_(sorted(names)),
            e.c.created_at >= naive_utc(days[0].start),
            e.c.created_at < naive_utc(days[-1].end),
            select(a.c.event_id)
            .where(a.c.account_id == account_id, a.c.event_id == e.c.id)
            .exists(),
        )
        events = (event_from_row(row) for row in self.connection.execute(query))
        return [event for event in events if event is not None]

    @operation("looking for raw events")
    def has_events(self, account_id: int) -> bool:
        e = reporting_events
        query = select(e.c.id).where(e.c.account_id == account_id).limit(1)
        return self.connection.execute(query).first() is not None

    @operation("aggregating raw events")
    def aggregate(
        self, account_id: int, days: Sequence[LocalDay]
    ) -> dict[RollupKey, MetricContribution]:
        if not days:
            return {}
        query = aggregate_select(account_id, [(day.start, day.end) for day in days])
        return aggregated_rows(account_id, days, self.connection.execute(query))


class SqlAppliedLedger(SqlStore):
    """`reporting_rollup_applied_events`: one row per raw event folded into the rollups."""

    @operation("marking events applied")
    def mark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        if not refs:
            return set()
        a = rollup_applied_events
        statement = self.ctx.upsert_nothing(a, ["account_id", "event_id"]).returning(a.c.event_id)
        params = [
            {"account_id": account_id, "event_id": event_id}
            for account_id, event_id in sorted(set(refs))
        ]
        return {int(row[0]) for row in self.connection.execute(statement, params)}

    @operation("unmarking applied events")
    def unmark(self, refs: Sequence[tuple[int, int]]) -> set[int]:
        a = rollup_applied_events
        by_account: dict[int, list[int]] = defaultdict(list)
        for account_id, event_id in refs:
            by_account[account_id].append(event_id)
        removed: set[int] = set()
        for account_id, event_ids in sorted(by_account.items()):
            for condition in self.ctx.id_filters(a.c.event_id, event_ids):
                locked = (
                    select(a.c.event_id)
                    .where(a.c.account_id == account_id, condition)
                    .order_by(a.c.event_id)
                    .with_for_update()
                )
                statement = (
                    delete(a)
                    .where(a.c.account_id == account_id, a.c.event_id.in_(locked))
                    .returning(a.c.event_id)
                )
                removed.update(int(row[0]) for row in self.connection.execute(statement))
        return removed

    @operation("clearing applied marks")
    def clear_account(self, account_id: int) -> None:
        a = rollup_applied_events
        self.connection.execute(delete(a).where(a.c.account_id == account_id))


class SqlRollupStore(SqlStore):
    """`reporting_events_rollups` and the distinct members `reporting_rollup_members`."""

    @operation("adding to rollup rows")
    def add(self, deltas: Mapping[RollupKey, MetricContribution]) -> None:
        if not deltas:
            return
        # The one key order of every writer (no deadlocks); sorting keys alone is cheaper.
        items = [(key, deltas[key]) for key in sorted(deltas)]
        self._upsert(items)
        # Only rows that received a negative count can have reached 0 (stored counts are > 0).
        shrinking = [key for key, delta in items if delta.count < 0]
        if shrinking:
            self._settle_keys(shrinking)

    def _upsert(self, items: Sequence[tuple[RollupKey, MetricContribution]]) -> None:
        """Additive upsert of (key, delta) pairs sorted by key."""
        r = reporting_events_rollups
        now = self.ctx.now()
        params = [
            {
                **key_values(key),
                "count": delta.count,
                "sum_value": delta.sum_value,
                "sum_value_business_hours": delta.sum_value_business_hours,
                "created_at": now,
                "updated_at": now,
            }
            for key, delta in items
        ]
        statement = self.ctx.upsert_add(
            r, ROLLUP_KEY_COLUMNS, ["count", "sum_value", "sum_value_business_hours"]
        )
        self.connection.execute(statement, params)

    def _settle_keys(self, keys: Sequence[RollupKey]) -> None:
        """Delete the rows of `keys` whose count reached 0; raise if one went negative."""
        r = reporting_events_rollups
        statement = (
            delete(r)
            .where(
                *(
                    r.c[name] == bindparam(name, type_=r.c[name].type)
                    for name in ROLLUP_KEY_COLUMNS
                ),
                r.c.count <= 0,
            )
            .returning(r.c.id, *(r.c[name] for name in ROLLUP_KEY_COLUMNS), r.c.count)
        )
        emptied: list[Mapping[Any, Any]] = []
        for key in keys:
            emptied.extend(self.connection.execute(statement, key_values(key)).mappings())
        self._check_counts(emptied)

    @staticmethod
    def _check_counts(rows: Sequence[Mapping[Any, Any]]) -> None:
        """Raise if a deleted row had a negative count (the transaction then rolls back)."""
        for row in rows:
            if row["count"] < 0:
                raise negative_count("rollup row", rollup_key(row) or dict(row))

    @operation("setting rollup sums")
    def set_sums(self, sums: Mapping[RollupKey, tuple[float, float]]) -> None:
        if not sums:
            return
        r = reporting_events_rollups
        statement = (
            r.update()
            .where(
                *(
                    r.c[name] == bindparam(f"key_{name}", type_=r.c[name].type)
                    for name in ROLLUP_KEY_COLUMNS
                )
            )
            .values(
                sum_value=bindparam("new_sum_value"),
                sum_value_business_hours=bindparam("new_sum_business"),
            )
        )
        params = [
            {
                **{f"key_{name}": v for name, v in key_values(key).items()},
                "new_sum_value": value,
                "new_sum_business": business,
            }
            for key, (value, business) in sorted(sums.items())
        ]
        self.connection.execute(statement, params)

    @operation("updating distinct members")
    def add_members(self, deltas: Mapping[Member, int]) -> dict[RollupKey, int]:
        wanted = {member: delta for member, delta in deltas.items() if delta}
        if not wanted:
            return {}
        m = rollup_members
        params = [
            {**key_values(key), "member_id": member_id, "occurrences": delta}
            for (key, member_id), delta in sorted(wanted.items())
        ]
        statement = self.ctx.upsert_add(m, MEMBER_KEY_COLUMNS, ["occurrences"]).returning(
            *(m.c[name] for name in MEMBER_KEY_COLUMNS), m.c.occurrences
        )
        return self._transitions(wanted, self.connection.execute(statement, params))

    def _transitions(
        self, wanted: Mapping[Member, int], rows: Iterable[Sequence[Any]]
    ) -> dict[RollupKey, int]:
        """Per key, members that appeared minus members that disappeared; delete the members
        that reached 0. `rows`: the upserted members as (account_id, date, dimension_type,
        dimension_id, metric, member_id, occurrences after the upsert)."""
        deltas = {
            (*key_identity(key), member_id): (key, delta)
            for (key, member_id), delta in wanted.items()
        }
        changes: dict[RollupKey, int] = {}
        emptied: list[dict[str, Any]] = []
        for account_id, day, dimension_type, dimension_id, metric, member_id, occurrences in rows:
            identity = (
                int(account_id),
                day,
                dimension_type,
                int(dimension_id),
                metric,
                int(member_id),
            )
            key, delta = deltas[identity]
            after = int(occurrences)
            if after < 0:
                raise negative_count("distinct member", (key, identity[-1]))
            before = after - delta
            change = (after > 0) - (before > 0)
            if change:
                changes[key] = changes.get(key, 0) + change
            if after == 0:
                emptied.append({**key_values(key), "member_id": identity[-1]})
        if emptied:
            self._delete_members(emptied)
        return changes

    def _delete_members(self, keys: Sequence[Mapping[str, Any]]) -> None:
        m = rollup_members
        statement = delete(m).where(
            *key_matches(m, MEMBER_KEY_COLUMNS),
            m.c.occurrences == 0,
        )
        self.connection.execute(statement, [dict(key) for key in keys])

    @operation("rebuilding rollup days")
    def rebuild_days(self, account_id: int, days: Sequence[LocalDay]) -> RebuildStats:
        if not days:
            return RebuildStats(0, 0)
        r, m, e = reporting_events_rollups, rollup_members, reporting_events
        dates = sorted({day.date for day in days})
        bounds = [(day.start, day.end) for day in days]
        start, end = naive_utc(days[0].start), naive_utc(days[-1].end)
        connection = self.connection
        connection.execute(delete(r).where(r.c.account_id == account_id, r.c.date.in_(dates)))
        connection.execute(delete(m).where(m.c.account_id == account_id, m.c.date.in_(dates)))
        in_range = (e.c.account_id == account_id, e.c.created_at >= start, e.c.created_at < end)
        marked = select(e.c.account_id, e.c.id).where(*in_range)
        connection.execute(
            self.ctx.upsert_nothing(rollup_applied_events, ["account_id", "event_id"]).from_select(
                ["account_id", "event_id"], marked
            )
        )
        counted = select(func.count()).select_from(e).where(*in_range)
        events = int(connection.execute(counted).scalar_one())
        day_dates = (
            values(column("idx", Integer), column("day", Date()), name="day_dates")
            .data([(index, day.date) for index, day in enumerate(days)])
            .cte("day_dates")
        )
        now = literal(self.ctx.now(), DateTime())
        aggregated = aggregate_select(account_id, bounds).subquery("aggregated")
        rows_source = select(
            literal(account_id, Integer()),
            day_dates.c.day,
            aggregated.c.dimension_type,
            aggregated.c.dimension_id,
            aggregated.c.metric,
            aggregated.c.count,
            aggregated.c.sum_value,
            aggregated.c.sum_value_business_hours,
            now,
            now,
        ).select_from(aggregated.join(day_dates, day_dates.c.idx == aggregated.c.idx))
        connection.execute(
            r.insert().from_select(
                [
                    *ROLLUP_KEY_COLUMNS,
                    "count",
                    "sum_value",
                    "sum_value_business_hours",
                    "created_at",
                    "updated_at",
                ],
                rows_source,
            )
        )
        # The days' rows were deleted above, so the rows now on them are the ones inserted
        # (the driver's rowcount is unreliable for INSERT ... WITH ... SELECT on SQLite).
        rows = connection.execute(
            select(func.count())
            .select_from(r)
            .where(r.c.account_id == account_id, r.c.date.in_(dates))
        ).scalar_one()
        members = members_select(account_id, bounds).subquery("members")
        members_source = select(
            literal(account_id, Integer()),
            day_dates.c.day,
            members.c.dimension_type,
            members.c.dimension_id,
            members.c.metric,
            members.c.member_id,
            members.c.occurrences,
        ).select_from(members.join(day_dates, day_dates.c.idx == members.c.idx))
        connection.execute(
            m.insert().from_select([*MEMBER_KEY_COLUMNS, "occurrences"], members_source)
        )
        return RebuildStats(events, int(rows))

    @operation("reading rollup rows")
    def rows(
        self, account_id: int, since: date | None = None, until: date | None = None
    ) -> list[tuple[RollupKey, MetricContribution]]:
        r = reporting_events_rollups
        query = select(r).where(r.c.account_id == account_id)
        if since is not None:
            query = query.where(r.c.date >= since)
        if until is not None:
            query = query.where(r.c.date <= until)
        found: list[tuple[RollupKey, MetricContribution]] = []
        for row in self.connection.execute(query).mappings():
            key = rollup_key(row)
            if key is not None:
                value = MetricContribution(
                    int(row["count"]),
                    float(row["sum_value"]),
                    float(row["sum_value_business_hours"]),
                )
                found.append((key, value))
        found.sort(key=lambda item: item[0])
        return found

    @operation("reading the span of rollup rows")
    def date_span(self, account_id: int) -> tuple[date, date] | None:
        r = reporting_events_rollups
        first, last = self.connection.execute(
            select(func.min(r.c.date), func.max(r.c.date)).where(r.c.account_id == account_id)
        ).one()
        if first is None or last is None:
            return None
        return first, last

    @operation("clearing rollup rows")
    def clear_account(self, account_id: int) -> None:
        r, m = reporting_events_rollups, rollup_members
        self.connection.execute(delete(r).where(r.c.account_id == account_id))
        self.connection.execute(delete(m).where(m.c.account_id == account_id))


class SqlAccountStore(SqlStore):
    """`reporting_rollup_accounts`. Generic locks are plain reads: SQLite's `BEGIN IMMEDIATE`
    already serialises writers; `adapters.postgres` takes row locks."""

    @staticmethod
    def settings(row: Any) -> AccountSettings:
        """The settings a row holds."""
        return AccountSettings(
            int(row.account_id),
            row.reporting_timezone,
            row.rollup_timezone,
            bool(row.read_path_enabled),
            int(row.timezone_generation),
        )

    def _read(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        t = rollup_accounts
        found: dict[int, AccountSettings] = {}
        for condition in self.ctx.id_filters(t.c.account_id, account_ids):
            for row in self.connection.execute(select(t).where(condition)):
                found[int(row.account_id)] = self.settings(row)
        return {
            account_id: found.get(account_id) or AccountSettings(account_id)
            for account_id in sorted(set(account_ids))
        }

    @operation("reading account settings")
    def get(self, account_id: int) -> AccountSettings:
        return self._read([account_id])[account_id]

    @operation("locking accounts")
    def lock_shared(self, account_ids: Collection[int]) -> dict[int, AccountSettings]:
        return self._read(account_ids)

    @operation("locking an account")
    def lock_exclusive(self, account_id: int) -> AccountSettings:
        return self._read([account_id])[account_id]

    @operation("saving account settings")
    def save(self, settings: AccountSettings) -> None:
        t = rollup_accounts
        statement = self.ctx.insert(t)
        statement = statement.values(
            account_id=settings.account_id,
            reporting_timezone=settings.timezone,
            rollup_timezone=settings.rollup_timezone,
            read_path_enabled=settings.read_path_enabled,
            timezone_generation=settings.generation,
            updated_at=self.ctx.now(),
        )
        excluded = statement.excluded
        self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id"],
                set_={
                    "reporting_timezone": excluded.reporting_timezone,
                    "rollup_timezone": excluded.rollup_timezone,
                    "read_path_enabled": excluded.read_path_enabled,
                    "timezone_generation": excluded.timezone_generation,
                    "updated_at": excluded.updated_at,
                },
            )
        )


# --- unit of work --------------------------------------------------------------------------------


#: Execution option of a read-only unit of work's connection; the SQLite engine's begin hook
#: reads it to open a read transaction instead of taking the write lock.
READ_ONLY_OPTION: Final = "reporting_rollups_read_only"


class SqlUnitOfWork:
    """One database transaction over every store; rolled back unless `commit()` was called.

    A read-only one (`read_only=True`) opens its connection with `READ_ONLY_OPTION`, runs
    `read_only_begin` (if any) first in its transaction, and cannot commit.
    """

    #: The statement that makes a read-only transaction one read-only snapshot (the backend's).
    read_only_begin: ClassVar[str | None] = None

    events: SqlEventStore
    ledger: SqlAppliedLedger
    rollups: SqlRollupStore
    accounts: SqlAccountStore
    reports: SqlReportStore

    def __init__(self, factory: SqlUnitOfWorkFactory, *, read_only: bool = False) -> None:
        self._factory = factory
        self._read_only = read_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        factory = self._factory
        with factory.errors("opening a transaction"):
            connection = factory.engine.connect()
            try:
                if self._read_only:
                    connection.execution_options(**{READ_ONLY_OPTION: True})
                connection.begin()
                if self._read_only and self.read_only_begin is not None:
                    connection.exec_driver_sql(self.read_only_begin)
            except BaseException:
                connection.close()
                raise
        self._connection = connection
        ctx = SqlContext(connection, factory.errors)
        self.events = factory.event_store_class(ctx)
        self.ledger = factory.ledger_class(ctx)
        self.rollups = factory.rollup_store_class(ctx)
        self.accounts = factory.account_store_class(ctx)
        self.reports = SqlReportStore(connection, factory.errors)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with self._factory.errors("rolling back"):
                try:
                    if connection.in_transaction():
                        connection.rollback()
                finally:
                    connection.close()
        except RollupError:
            if exc is None:
                raise
            # The original error is more useful than a failed rollback on a broken connection.

    def store_batch(self, events: Sequence[Event]) -> StoredBatch:
        """Lock the accounts, store the events, mark the rollable ones (one step each)."""
        return store_stepwise(events, self.accounts, self.events, self.ledger)

    def commit(self) -> None:
        """Commit the transaction."""
        if self._connection is None:
            raise StorageError("commit() outside the unit of work's `with` block")
        if self._read_only:
            raise StorageError("commit() of a read-only unit of work: it must not write")
        with self._factory.errors("committing"):
            self._connection.commit()


class SqlUnitOfWorkFactory:
    """Opens units of work on one SQL database (an engine with its pool).

    Subclasses choose the store classes and how the engine is made (`from_url`).
    """

    unit_of_work_class: ClassVar[type[SqlUnitOfWork]] = SqlUnitOfWork
    event_store_class: ClassVar[type[SqlEventStore]] = SqlEventStore
    ledger_class: ClassVar[type[SqlAppliedLedger]] = SqlAppliedLedger
    rollup_store_class: ClassVar[type[SqlRollupStore]] = SqlRollupStore
    account_store_class: ClassVar[type[SqlAccountStore]] = SqlAccountStore

    def __init__(self, engine: Engine, errors: ErrorTranslator) -> None:
        self.engine = engine
        self.errors = errors

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return self.unit_of_work_class(self, read_only=read_only)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.errors.where})"

    def migrate(self) -> None:
        """Create or upgrade the library's schema (idempotent)."""
        with self.errors("migrating the schema"):
            migrations.upgrade(self.engine)

    def check_schema(self) -> None:
        """`StorageError` unless the schema is current ("run `rollups migrate`")."""
        with self.errors("checking the schema"):
            migrations.require_current(self.engine)

    def prepare(self, *, migrate: bool) -> None:
        """Migrate, or check the schema; on failure release the engine and raise."""
        try:
            if migrate:
                self.migrate()
            else:
                self.check_schema()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the pool's connections."""
        self.engine.dispose()

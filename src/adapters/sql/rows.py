"""Rows of the SQL tables as domain values and back, shared by the SQLite and PostgreSQL stores.

Raw rows the host wrote that cannot be an `Event` (NULL or empty name, NULL account, values
outside the accepted ranges) read as None (`event_from_row`): they contribute nothing, exactly
as the SQL aggregation's `valid_event_row` has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, DateTime, Table, and_, case, type_coerce

from reporting_rollups.adapters.sql.aggregation import readable_created_at
from reporting_rollups.adapters.sql.tables import EVENT_FIELDS, reporting_events
from reporting_rollups.application.ports import AccountSettings
from reporting_rollups.domain.errors import EventConflictError, InvalidEventError, StorageError
from reporting_rollups.domain.events import TIME_FIELDS, Event
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member
from reporting_rollups.domain.timezones import LocalDay

_DIMENSIONS: Final = {str(d): d for d in DimensionType}
_METRICS: Final = {str(m): m for m in Metric}


def aware(value: datetime) -> datetime:
    """A naive UTC datetime read from a table, as an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _readable(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A time column that reads as NULL outside the accepted range (or, on SQLite, for text
    that is no timestamp)."""
    return type_coerce(case((and_(*readable_created_at(column)), column)), DateTime())


def event_columns(
    table: Table = reporting_events, *, times: bool = False
) -> list[ColumnElement[Any]]:
    """The `reporting_events` columns to read rows for `event_from_row` and `conflict` with
    (`EVENT_FIELDS`, and with `times` the `TIME_FIELDS`: the host's other columns may hold
    anything): a time outside the accepted range (or, on SQLite, text that is no timestamp)
    reads as NULL, so that a timestamp Python cannot hold (PostgreSQL: year 10000 on, BC,
    +-infinity), which the driver fails to load, makes the row "not an event" (a time other
    than `created_at`: unknown) instead of failing the read. `table` may also be the change
    log, whose event images name the event's id `event_id` (and have no times)."""
    columns: list[ColumnElement[Any]] = []
    for name in EVENT_FIELDS:
        if name == "created_at":
            columns.append(_readable(table.c.created_at).label(name))
        elif name == "id" and table is not reporting_events:
            columns.append(table.c.event_id.label("id"))
        else:
            columns.append(table.c[name])
    if times:
        columns += [_readable(table.c[name]).label(name) for name in TIME_FIELDS]
    return columns


def stored_fields(row: Any) -> dict[str, Any]:
    """A raw row's compared fields, with created_at aware (None when it is NULL or, read
    through `event_columns`, outside the accepted range)."""
    fields = {name: getattr(row, name) for name in EVENT_FIELDS}
    if fields["created_at"] is not None:
        fields["created_at"] = aware(fields["created_at"])
    return fields


def event_or_none(*values: Any) -> Event | None:
    """The `Event` of `EVENT_FIELDS` values (created_at aware, None when unreadable), optionally
    followed by its `TIME_FIELDS` values (aware or None), or None when they cannot be one:
    `Event` applies the accepted ranges of `domain.limits` (the rule `valid_event_row` states
    in SQL)."""
    if values[_CREATED_AT] is None:
        return None
    try:
        return Event(*values)
    except (InvalidEventError, TypeError):
        return None


_CREATED_AT = EVENT_FIELDS.index("created_at")


def event_from_row(row: Any, *, times: bool = False) -> Event | None:
    """The `Event` a raw row holds, or None when the row cannot be one (`event_or_none`); with
    `times`, also its `TIME_FIELDS` (a row read with `event_columns(times=True)`)."""
    fields = stored_fields(row)
    values = [fields[name] for name in EVENT_FIELDS]
    if times:
        for name in TIME_FIELDS:
            value = getattr(row, name)
            values.append(None if value is None else aware(value))
    return event_or_none(*values)


def events_of(rows: Iterable[Any], *, times: bool = False) -> list[Event]:
    """The events among raw rows (rows that cannot be one left out), in the rows' order; with
    `times`, their `TIME_FIELDS` too."""
    events = (event_from_row(row, times=times) for row in rows)
    return [event for event in events if event is not None]


def conflict(row: Any, event: Event) -> EventConflictError | None:
    """The conflict between a stored raw row and an event with its id, if their contents differ."""
    stored = stored_fields(row)
    differences = [name for name in EVENT_FIELDS if stored[name] != getattr(event, name)]
    return EventConflictError(event.id, differences) if differences else None


def settings_of(row: Any) -> AccountSettings:
    """The settings a `reporting_rollup_accounts` row holds."""
    return AccountSettings(
        int(row.account_id),
        row.reporting_timezone,
        row.rollup_timezone,
        bool(row.read_path_enabled),
        int(row.timezone_generation),
    )


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


def negative_count(what: str, key: object) -> StorageError:
    """The error of a row whose count would drop below zero (the invariant is broken)."""
    return StorageError(
        f"{what} {key} would have a negative count; the rollups are inconsistent with the raw "
        "events: run `rollups verify` and rebuild the account"
    )


def check_counts(rows: Iterable[Mapping[Any, Any]]) -> None:
    """Raise if a rollup row deleted for reaching count 0 had a negative count (the caller's
    transaction then rolls back)."""
    for row in rows:
        if row["count"] < 0:
            raise negative_count("rollup row", rollup_key(row) or dict(row))


def member_transitions(
    wanted: Mapping[Member, int], rows: Iterable[Sequence[Any]]
) -> tuple[dict[RollupKey, int], list[Member]]:
    """After an additive upsert of members' occurrences (`wanted`, nonzero deltas), from the
    upserted rows (account_id, date, dimension_type, dimension_id, metric, member_id,
    occurrences after): per key, members that appeared minus members that disappeared, and
    the members that reached 0 (the caller deletes them)."""
    deltas = {
        (key.account_id, key.date, str(key.dimension_type), key.dimension_id, str(key.metric), m): (
            key,
            delta,
        )
        for (key, m), delta in wanted.items()
    }
    changes: dict[RollupKey, int] = {}
    emptied: list[Member] = []
    for account_id, day, dimension_type, dimension_id, metric, member_id, occurrences in rows:
        identity = (int(account_id), day, dimension_type, int(dimension_id), metric, int(member_id))
        key, delta = deltas[identity]
        after = int(occurrences)
        if after < 0:
            raise negative_count("distinct member", (key, identity[-1]))
        change = (after > 0) - (after - delta > 0)
        if change:
            changes[key] = changes.get(key, 0) + change
        if after == 0:
            emptied.append((key, identity[-1]))
    return changes, emptied


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

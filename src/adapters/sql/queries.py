"""Store operations that read or write the same on SQLite and PostgreSQL (SQLAlchemy Core, bound
parameters only), as functions over a `SqlSession`. Each backend's stores implement every port
method and call these where the SQL is the same; the hot paths are the backends' own.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from reporting_rollups.adapters.sql.aggregation import (
    naive_utc,
    readable_created_at,
    valid_event_row,
    valid_name,
)
from reporting_rollups.adapters.sql.rows import (
    aware,
    check_counts,
    conflict,
    event_columns,
    events_of,
    key_values,
    rollup_key,
    settings_of,
)
from reporting_rollups.adapters.sql.session import SqlSession
from reporting_rollups.adapters.sql.tables import (
    MEMBER_KEY_COLUMNS,
    ROLLUP_KEY_COLUMNS,
    reporting_events,
    reporting_events_rollups,
    rollup_accounts,
    rollup_applied_events,
    rollup_changes,
    rollup_members,
    rollup_retention,
    rollup_retention_windows,
    rollup_sync_state,
)
from reporting_rollups.application.ports import (
    AccountSettings,
    AppliedRef,
    DateSpan,
    RollupRow,
    Sums,
    TimeSpan,
    applied_ref,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution, RollupKey
from reporting_rollups.domain.projection import Member
from reporting_rollups.domain.timezones import LocalDay

#: Most values bound in one `IN (...)` list (SQLite allows 32766 variables per statement).
IN_CHUNK: Final = 10_000


def _sqlite_has_json() -> bool:
    try:
        sqlite3.connect(":memory:").execute("SELECT value FROM json_each('[1]')").close()
    except sqlite3.OperationalError:  # pragma: no cover - SQLite built without JSON
        return False
    return True


#: Whether this process's SQLite has `json_each` (built in since 3.38, an option before).
SQLITE_JSON: Final = _sqlite_has_json()

#: The dialect's INSERT with ON CONFLICT (`sqlalchemy.dialects.sqlite.insert` or `.postgresql.`).
InsertOf = Callable[[Table], postgresql.Insert | sqlite.Insert]


def id_filters(
    session: SqlSession, target: Any, ids: Collection[int]
) -> Iterator[ColumnElement[bool]]:
    """Conditions `target IN ids` (sorted): one `= ANY(array)` on PostgreSQL (one id: `=`); on
    SQLite one `IN (SELECT value FROM json_each(?))` of a JSON array, bound as one value (an
    expanding list costs SQLAlchemy about 3 µs per id, this 0.3), or lists chunked to the
    driver's limit on bound values where SQLite lacks JSON."""
    ordered = sorted(set(ids))
    if session.dialect.name == "postgresql":
        if len(ordered) == 1:  # an equality: what Citus routes to one shard
            yield target == ordered[0]
        elif ordered:
            yield target == any_(bindparam(None, ordered, type_=postgresql.ARRAY(BigInteger)))
        return
    if len(ordered) > 1 and SQLITE_JSON:
        array = bindparam(None, json.dumps(ordered), type_=String)
        yield target.in_(select(func.json_each(array).table_valued("value").c.value))
        return
    for start in range(0, len(ordered), IN_CHUNK):
        yield target.in_(ordered[start : start + IN_CHUNK])


# --- raw events ----------------------------------------------------------------------------------


def event_rows(
    session: SqlSession, ids: Collection[int], *, times: bool = False, account_id: int | None = None
) -> list[Row[Any]]:
    """The stored raw rows among `ids` (`event_columns`, with `times` or not; of `account_id`
    only when given), sorted by id."""
    e = reporting_events
    rows: list[Row[Any]] = []
    of_account = [] if account_id is None else [e.c.account_id == account_id]
    for condition in id_filters(session, e.c.id, ids):
        query = select(*event_columns(times=times)).where(condition, *of_account)
        rows.extend(session.rows(query, doing="reading raw events"))
    rows.sort(key=lambda row: int(row.id))
    return rows


def get_events(session: SqlSession, ids: Collection[int]) -> list[Event]:
    """`EventStore.get`: the events with their times."""
    return events_of(event_rows(session, ids, times=True), times=True)


def check_conflicts(session: SqlSession, events: Sequence[Event]) -> None:
    """`EventConflictError` for the first of `events` (already stored) whose row differs."""
    if not events:
        return
    stored = {int(row.id): row for row in event_rows(session, [event.id for event in events])}
    for event in events:
        row = stored.get(event.id)
        found = conflict(row, event) if row is not None else None
        if found is not None:
            raise found


def hold(session: SqlSession, ids: Collection[int]) -> set[int]:
    """`EventStore.hold`: FOR SHARE in id order (a plain read on SQLite, whose writers are
    serialised)."""
    e = reporting_events
    held: set[int] = set()
    for condition in id_filters(session, e.c.id, ids):
        query = select(e.c.id).where(condition).order_by(e.c.id).with_for_update(read=True)
        held.update(int(row[0]) for row in session.rows(query, doing="holding raw events"))
    return held


def owners(session: SqlSession, ids: Collection[int]) -> set[int]:
    """`EventStore.owners`."""
    e = reporting_events
    found: set[int] = set()
    for condition in id_filters(session, e.c.id, ids):
        query = select(e.c.account_id).where(condition, e.c.account_id.is_not(None)).distinct()
        rows = session.rows(query, doing="reading the accounts of raw events")
        found.update(int(row[0]) for row in rows)
    return found


def remove(
    session: SqlSession, ids: Collection[int], account_ids: Collection[int], *, unowned: bool = True
) -> list[Event]:
    """`EventStore.remove`: rows locked in id order, then deleted (removers cannot deadlock);
    the marks of removed rows that were not events are dropped (they contributed nothing)."""
    e = reporting_events
    removed: list[Row[Any]] = []
    accounts = sorted(set(account_ids))
    of_locked_accounts: ColumnElement[bool] = (
        e.c.account_id == accounts[0] if len(accounts) == 1 else e.c.account_id.in_(accounts)
    )
    if unowned:
        of_locked_accounts = or_(e.c.account_id.is_(None), of_locked_accounts)
    for condition in id_filters(session, e.c.id, ids):
        locked = (
            select(e.c.id).where(condition, of_locked_accounts).order_by(e.c.id).with_for_update()
        )
        statement = (
            delete(e).where(e.c.id.in_(locked), of_locked_accounts).returning(*event_columns())
        )
        removed.extend(session.rows(statement, doing="removing raw events"))
    removed.sort(key=lambda row: int(row.id))
    events = events_of(removed)
    kept = {event.id for event in events}
    not_events = [
        applied_ref(int(row.account_id), int(row.id))
        for row in removed
        if row.account_id is not None and int(row.id) not in kept
    ]
    if not_events:
        unmark(session, not_events)
    return events


def span(session: SqlSession, account_id: int) -> TimeSpan | None:
    """`EventStore.span`: the account's distinct names (a loose scan of the (account_id, name,
    created_at) index), and per valid name the first and last valid row's `created_at`:
    ordered searches of the same index that stop at the first valid row. Rows outside the
    accepted ranges contribute nothing, so they widen no range."""
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
    query = select(func.min(ends.c.first), func.max(ends.c.last))
    first, last = session.one(query, doing="reading the span of raw events")
    if first is None or last is None:
        return None
    return TimeSpan(aware(first), aware(last))


def applied_in_days(
    session: SqlSession, account_id: int, days: Sequence[LocalDay], names: Collection[str]
) -> list[Event]:
    """`EventStore.applied_in_days`: searches (account_id, name, created_at) per name, not the
    account's every row."""
    if not days or not names:
        return []
    e, a = reporting_events, rollup_applied_events
    query = select(*event_columns()).where(
        e.c.account_id == account_id,
        e.c.name.in_(sorted(names)),
        e.c.created_at >= naive_utc(days[0].start),
        e.c.created_at < naive_utc(days[-1].end),
        select(a.c.event_id).where(a.c.account_id == account_id, a.c.event_id == e.c.id).exists(),
    )
    return events_of(session.rows(query, doing="reading applied raw events"))


def has_events(session: SqlSession, account_id: int) -> bool:
    """`EventStore.has_events`."""
    e = reporting_events
    query = select(e.c.id).where(e.c.account_id == account_id).limit(1)
    return bool(session.rows(query, doing="looking for raw events"))


def unapplied_span(session: SqlSession, account_id: int) -> TimeSpan | None:
    """`EventStore.unapplied_span`: an anti-join of the account's raw rows and its marks."""
    e, a = reporting_events, rollup_applied_events
    marked = select(a.c.event_id).where(a.c.account_id == account_id, a.c.event_id == e.c.id)
    query = select(func.min(e.c.created_at), func.max(e.c.created_at)).where(
        e.c.account_id == account_id, ~marked.exists(), *readable_created_at()
    )
    first, last = session.one(query, doing="looking for raw events without applied marks")
    if first is None or last is None:
        return None
    return TimeSpan(aware(first), aware(last))


# --- applied marks -------------------------------------------------------------------------------


def unmark(session: SqlSession, refs: Sequence[AppliedRef]) -> set[int]:
    """`AppliedLedger.unmark`: marks locked in key order, then deleted."""
    a = rollup_applied_events
    by_account: dict[int, list[int]] = defaultdict(list)
    for account_id, event_id in refs:
        by_account[account_id].append(event_id)
    removed: set[int] = set()
    for account_id, event_ids in sorted(by_account.items()):
        for condition in id_filters(session, a.c.event_id, event_ids):
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
            rows = session.rows(statement, doing="unmarking applied events")
            removed.update(int(row[0]) for row in rows)
    return removed


def clear_marks(session: SqlSession, account_id: int) -> None:
    """`AppliedLedger.clear_account`."""
    a = rollup_applied_events
    session.execute(delete(a).where(a.c.account_id == account_id), doing="clearing applied marks")


def _without_raw_row(account_id: int) -> ColumnElement[bool]:
    """The account's marks with no raw row of that id and account."""
    e, a = reporting_events, rollup_applied_events
    raw = select(e.c.id).where(e.c.id == a.c.event_id, e.c.account_id == account_id)
    return and_(a.c.account_id == account_id, ~raw.exists())


def orphan_marks(session: SqlSession, account_id: int) -> int:
    """`AppliedLedger.orphans`: an anti-join of the account's marks and the raw rows (one
    primary-key probe of the raw table per mark)."""
    query = select(func.count()).select_from(rollup_applied_events)
    (count,) = session.one(
        query.where(_without_raw_row(account_id)),
        doing="looking for applied marks without a raw row",
    )
    return int(count)


def drop_orphan_marks(session: SqlSession, account_id: int) -> int:
    """`AppliedLedger.drop_orphans`."""
    statement = delete(rollup_applied_events).where(_without_raw_row(account_id))
    with session.errors("removing applied marks without a raw row"):
        return int(session.connection.execute(statement).rowcount)


# --- rollup rows and members ---------------------------------------------------------------------


def _key_matches(table: Table, names: Sequence[str], prefix: str = "") -> list[Any]:
    """`column = :{prefix}column` for each key column (bound per execution)."""
    return [table.c[name] == bindparam(prefix + name, type_=table.c[name].type) for name in names]


def delete_emptied(session: SqlSession, keys: Sequence[RollupKey]) -> None:
    """After an upsert of negative deltas: delete the rows of `keys` whose count reached 0;
    raise if one went negative."""
    r = reporting_events_rollups
    statement = (
        delete(r)
        .where(*_key_matches(r, ROLLUP_KEY_COLUMNS), r.c.count <= 0)
        .returning(r.c.id, *(r.c[name] for name in ROLLUP_KEY_COLUMNS), r.c.count)
    )
    emptied: list[Mapping[Any, Any]] = []
    for key in keys:
        rows = session.rows(statement, key_values(key), doing="adding to rollup rows")
        emptied.extend(row._mapping for row in rows)
    check_counts(emptied)


def delete_members(session: SqlSession, members: Sequence[Member]) -> None:
    """Delete the members (reached 0 occurrences) that still have 0."""
    m = rollup_members
    statement = delete(m).where(*_key_matches(m, MEMBER_KEY_COLUMNS), m.c.occurrences == 0)
    params = [{**key_values(key), "member_id": member_id} for key, member_id in members]
    session.execute(statement, params, doing="updating distinct members")


def set_sums(session: SqlSession, sums: Mapping[RollupKey, Sums]) -> None:
    """`RollupStore.set_sums`."""
    if not sums:
        return
    r = reporting_events_rollups
    statement = (
        r.update()
        .where(*_key_matches(r, ROLLUP_KEY_COLUMNS, "key_"))
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
    session.execute(statement, params, doing="setting rollup sums")


def rollup_rows(
    session: SqlSession, account_id: int, since: date | None, until: date | None
) -> list[RollupRow]:
    """`RollupStore.rows`."""
    r = reporting_events_rollups
    query = select(r).where(r.c.account_id == account_id)
    if since is not None:
        query = query.where(r.c.date >= since)
    if until is not None:
        query = query.where(r.c.date <= until)
    found: list[RollupRow] = []
    for row in session.rows(query, doing="reading rollup rows"):
        fields = row._mapping
        key = rollup_key(fields)
        if key is not None:
            value = MetricContribution(
                int(fields["count"]),
                float(fields["sum_value"]),
                float(fields["sum_value_business_hours"]),
            )
            found.append(RollupRow(key, value))
    found.sort(key=lambda item: item.key)
    return found


def date_span(session: SqlSession, account_id: int) -> DateSpan | None:
    """`RollupStore.date_span`."""
    r = reporting_events_rollups
    query = select(func.min(r.c.date), func.max(r.c.date)).where(r.c.account_id == account_id)
    first, last = session.one(query, doing="reading the span of rollup rows")
    if first is None or last is None:
        return None
    return DateSpan(first, last)


def clear_rollups(session: SqlSession, account_id: int) -> None:
    """`RollupStore.clear_account`: every row and member of the account."""
    for table in (reporting_events_rollups, rollup_members):
        statement = delete(table).where(table.c.account_id == account_id)
        session.execute(statement, doing="clearing rollup rows")


# --- accounts ------------------------------------------------------------------------------------


def read_accounts(session: SqlSession, account_ids: Collection[int]) -> dict[int, AccountSettings]:
    """The settings of the accounts (defaults for accounts never configured), by id. No lock."""
    t = rollup_accounts
    found: dict[int, AccountSettings] = {}
    for condition in id_filters(session, t.c.account_id, account_ids):
        for row in session.rows(select(t).where(condition), doing="reading account settings"):
            found[int(row.account_id)] = settings_of(row)
    return {
        account_id: found.get(account_id) or AccountSettings(account_id)
        for account_id in sorted(set(account_ids))
    }


def zoned_accounts(session: SqlSession, after: int, limit: int) -> list[int]:
    """`AccountStore.zoned`."""
    t = rollup_accounts
    query = (
        select(t.c.account_id)
        .where(t.c.reporting_timezone.is_not(None), t.c.account_id > after)
        .order_by(t.c.account_id)
        .limit(limit)
    )
    return [int(row[0]) for row in session.rows(query, doing="reading account settings")]


def save_account(session: SqlSession, settings: AccountSettings, insert: InsertOf) -> None:
    """`AccountStore.save`: an upsert with the dialect's `insert`."""
    t = rollup_accounts
    statement = insert(t).values(
        account_id=settings.account_id,
        reporting_timezone=settings.timezone,
        rollup_timezone=settings.rollup_timezone,
        read_path_enabled=settings.read_path_enabled,
        timezone_generation=settings.generation,
        updated_at=session.now(),
    )
    excluded = statement.excluded
    changes = {
        name: excluded[name]
        for name in (
            "reporting_timezone",
            "rollup_timezone",
            "read_path_enabled",
            "timezone_generation",
            "updated_at",
        )
    }
    upsert = statement.on_conflict_do_update(index_elements=["account_id"], set_=changes)
    session.execute(upsert, doing="saving account settings")


def forget_account(session: SqlSession, account_id: int) -> int:
    """`AccountStore.forget`: one DELETE per table holding the account's rows; the change log
    last (on SQLite the capture triggers log the raw deletes: those go with it)."""
    e = reporting_events
    with session.errors("forgetting an account"):
        removed = int(
            session.connection.execute(delete(e).where(e.c.account_id == account_id)).rowcount
        )
    for table in (
        reporting_events_rollups,
        rollup_applied_events,
        rollup_members,
        rollup_sync_state,
        rollup_retention,
        rollup_retention_windows,
        rollup_accounts,
        rollup_changes,
    ):
        session.execute(
            delete(table).where(table.c.account_id == account_id), doing="forgetting an account"
        )
    return removed

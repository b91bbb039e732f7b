"""The `reporting_events` index set: a new database gets only the indexes the library's own queries
use, and each use is shown by the plans of the statements the library really runs.

Each use case runs on a database with some data (20 accounts, 60k events over 14 months) and
fresh statistics (ANALYZE) while every statement is captured (SQLite: the connection's trace
callback; PostgreSQL: psycopg's cursor). Every captured statement that touches `reporting_events`
is explained: none may scan the whole table, and the indexes they use must be the intended one
and nothing outside the default set. The reference's full set of eight is an option.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_OK, app
from reporting_rollups.adapters.postgres import postgres_engine
from reporting_rollups.adapters.sql.tables import LIBRARY_EVENT_INDEXES, REFERENCE_EVENT_INDEXES
from reporting_rollups.adapters.sqlite import sqlite_engine
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import StorageError
from tests.builders import event
from tests.conftest import create_database, drop_database
from tests.reference_schema import reference_index_names, reference_statements

COMPOSITE = "reporting_events__account_id__name__created_at"
PRIMARY_KEY = "reporting_events_pkey"  # SQLite: the INTEGER PRIMARY KEY (rowid)
ACCOUNTS = 20
EVENTS = 60_000
NAMES = (
    "conversation_resolved",
    "first_response",
    "reply_time",
    "conversation_bot_handoff",
    "conversation_bot_resolved",
    "conversation_opened",  # no rule: contributes nothing
)
START = datetime(2025, 1, 1)
ZONE = "Asia/Kolkata"
COLUMNS = (
    "id, name, value, account_id, inbox_id, user_id, conversation_id, created_at, updated_at, "
    "value_in_business_hours"
)


def raw_rows() -> Iterator[tuple[Any, ...]]:
    for n in range(1, EVENTS + 1):
        at = START + timedelta(minutes=10 * n)
        yield (n, NAMES[n % 6], float(n % 1000), 1 + n % ACCOUNTS, 1 + n % 7, 1 + n % 13, n // 3,
               at, at, None)  # fmt: skip


def load(rollups: Rollups, kind: str) -> None:
    """Write the raw rows as a host would, then refresh the planner's statistics."""
    engine = rollups.uow_factory.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        if kind == "postgres":
            with raw.cursor().copy(f"COPY reporting_events ({COLUMNS}) FROM STDIN") as copy:
                for row in raw_rows():
                    copy.write_row(row)
        else:
            raw.executemany(
                f"INSERT INTO reporting_events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    tuple(
                        v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v
                        for v in row
                    )
                    for row in raw_rows()
                ],
            )
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Rollups, str]]:
    """A database of each SQL backend with the default index set, data and statistics."""
    kind: str = request.param
    name = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('indexes') / 'indexes.db'}"
    else:
        server: str = request.getfixturevalue("postgres_server_url")
        name, url = create_database(server)
    try:
        with open_rollups(url) as rollups:
            for account in range(1, ACCOUNTS + 1):
                rollups.set_timezone(account, ZONE)
            load(rollups, kind)
            yield rollups, kind
    finally:
        if name is not None:
            drop_database(request.getfixturevalue("postgres_server_url"), name)


# --- capturing and explaining the statements a use case runs ------------------------------------

_TOUCHES_EVENTS = re.compile(r"\breporting_events\b(?!_)")
_EXPLAINABLE = re.compile(r"\s*(SELECT|WITH|INSERT|DELETE|UPDATE)\b", re.IGNORECASE)


@contextmanager
def captured(
    rollups: Rollups, kind: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) the library runs inside the block."""
    statements: list[tuple[str, Any]] = []
    engine = rollups.uow_factory.engine  # type: ignore[attr-defined]
    if kind == "sqlite":

        def trace(dbapi_connection: Any, _record: object, _proxy: object) -> None:
            dbapi_connection.set_trace_callback(lambda sql: statements.append((sql, None)))

        engine.dispose()
        sa_event.listen(engine, "checkout", trace)
        try:
            yield statements
        finally:
            sa_event.remove(engine, "checkout", trace)
            engine.dispose()
        return
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def traced_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        statements.append((query, params))
        return execute(self, query, params, **kwargs)

    def traced_executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        params_seq = list(params_seq)
        statements.append((query, params_seq[0] if params_seq else None))
        return executemany(self, query, params_seq, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", traced_execute)
        patch.setattr(psycopg.Cursor, "executemany", traced_executemany)
        yield statements


def _sqlite_accesses(raw: Any, sql: str) -> set[str]:
    """How an SQLite plan reads `reporting_events`: index names, PRIMARY_KEY, or "full scan"."""
    aliases = {"reporting_events"} | set(
        re.findall(r"\breporting_events(?:\s+INDEXED BY \w+)?\s+AS\s+(\w+)", sql, re.IGNORECASE)
    )
    found: set[str] = set()
    # SQLite plans show nothing for an INSERT ... VALUES: its conflict target is the key.
    if re.match(r"\s*INSERT INTO reporting_events\b.*ON CONFLICT \(id\)", sql, re.DOTALL):
        found.add(PRIMARY_KEY)
    for *_ids, detail in raw.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
        match = re.match(r"(SCAN|SEARCH) (\w+)\b(.*)", detail)
        if match is None or match[2] not in aliases:
            continue
        index = re.search(r"USING (?:COVERING )?INDEX (\w+)", match[3])
        if index:
            found.add(index[1])
        elif "INTEGER PRIMARY KEY" in match[3]:
            found.add(PRIMARY_KEY)
        else:
            found.add("full scan")
    return found


def _postgres_accesses(raw: Any, sql: str, params: Any) -> set[str]:
    """How a PostgreSQL plan reads `reporting_events` (and which index arbitrates conflicts)."""
    try:
        ((plan,),) = raw.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchall()
    finally:
        raw.rollback()
    found: set[str] = set()

    def walk(node: dict[str, Any], parent_is_events_bitmap: bool = False) -> None:
        on_events = node.get("Relation Name") == "reporting_events"
        kind = node["Node Type"]
        if on_events and kind == "Seq Scan":
            found.add("full scan")
        if (on_events and kind in ("Index Scan", "Index Only Scan")) or (
            parent_is_events_bitmap and kind == "Bitmap Index Scan"
        ):
            found.add(node["Index Name"])
        if on_events:
            found.update(node.get("Conflict Arbiter Indexes", []))
        bitmap = on_events and kind == "Bitmap Heap Scan"
        for child in node.get("Plans", []):
            walk(child, bitmap or (parent_is_events_bitmap and kind.startswith("Bitmap")))

    walk(plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"])
    return found


def accesses(rollups: Rollups, kind: str, statements: list[tuple[str, Any]]) -> dict[str, set[str]]:
    """statement -> how its plan reads `reporting_events`, for each one that touches it."""
    engine = rollups.uow_factory.engine  # type: ignore[attr-defined]
    plans: dict[str, set[str]] = {}
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        for query, params in statements:
            sql = query if isinstance(query, str) else bytes(query).decode()
            if kind == "sqlite" and re.match(r"\s*CREATE TEMP TABLE", sql, re.IGNORECASE):
                raw.execute(sql)  # the library's scratch tables, for the statements that use them
            if sql in plans or not _TOUCHES_EVENTS.search(sql) or not _EXPLAINABLE.match(sql):
                continue
            plans[sql] = (
                _sqlite_accesses(raw, sql)
                if kind == "sqlite"
                else _postgres_accesses(raw, sql, params)
            )
    return plans


MARCH = (date(2025, 3, 1), date(2025, 4, 15))
USE_CASES: dict[str, tuple[Callable[[Rollups], object], str]] = {
    "backfill": (lambda r: r.backfill(3, *MARCH), COMPOSITE),
    "backfill plan and whole history": (lambda r: r.backfill(4), COMPOSITE),
    "rebuild (catch-up marks)": (lambda r: r.rebuild(5), COMPOSITE),
    "verify": (lambda r: r.verify(3, *MARCH).mismatches, COMPOSITE),
    "report from raw: summary": (
        lambda r: r.reports.summary(6, "agent", date(2025, 3, 1), date(2025, 3, 31)),
        COMPOSITE,
    ),
    "report from raw: time series": (
        lambda r: r.reports.timeseries(
            6, "resolutions_count", date(2025, 3, 1), date(2025, 5, 31), group_by="week"
        ),
        COMPOSITE,
    ),
    "record": (lambda r: r.record([event(10**7, account_id=7)]), PRIMARY_KEY),
    "retract by id": (lambda r: r.retract([10**7, 8]), PRIMARY_KEY),
    "retract of an applied duration event (its rows summed again)": (
        lambda r: (
            r.record([event(10**7 + 1, "reply_time", value=5.0, account_id=7)]),
            r.retract([10**7 + 1]),
        ),
        COMPOSITE,
    ),
}


@pytest.mark.parametrize("use_case", list(USE_CASES))
def test_each_library_query_uses_the_default_index_set(
    use_case: str, loaded: tuple[Rollups, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rollups, kind = loaded
    call, intended = USE_CASES[use_case]
    with captured(rollups, kind, monkeypatch) as statements:
        call(rollups)
    plans = accesses(rollups, kind, statements)
    assert plans, f"{use_case}: no statement touched reporting_events"
    used = set().union(*plans.values())
    for sql, how in plans.items():
        assert "full scan" not in how, f"{use_case} scans reporting_events: {sql[:300]}"
    assert intended in used, (use_case, used)
    assert used <= {PRIMARY_KEY, *LIBRARY_EVENT_INDEXES}, (use_case, used)


def test_the_default_set_is_the_one_index_every_use_case_needs(
    loaded: tuple[Rollups, str],
) -> None:
    rollups, _kind = loaded
    engine = rollups.uow_factory.engine  # type: ignore[attr-defined]
    names = {index["name"] for index in inspect(engine).get_indexes("reporting_events")}
    assert names == set(LIBRARY_EVENT_INDEXES) == {COMPOSITE}
    assert {intended for _call, intended in USE_CASES.values()} == {COMPOSITE, PRIMARY_KEY}


# --- the reference's full set, as an option -----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url: str = request.getfixturevalue("database_url")
    yield url


def event_indexes(rollups_or_url: Rollups | str) -> set[str]:
    if isinstance(rollups_or_url, str):
        with open_rollups(rollups_or_url, migrate=False) as rollups:
            return event_indexes(rollups)
    engine = rollups_or_url.uow_factory.engine  # type: ignore[attr-defined]
    return {index["name"] for index in inspect(engine).get_indexes("reporting_events")}


def test_the_reference_set_is_the_reference_schemas_eight() -> None:
    assert set(REFERENCE_EVENT_INDEXES) == reference_index_names()
    assert len(REFERENCE_EVENT_INDEXES) == 8
    statements = reference_statements("postgresql", ("reporting_events",))
    for name, columns in REFERENCE_EVENT_INDEXES.items():
        assert any(
            f"INDEX {name} ON reporting_events USING btree ({', '.join(columns)})" in s
            for s in statements
        ), name


def test_reference_indexes_are_an_option_of_open_rollups(fresh_url: str) -> None:
    with open_rollups(fresh_url) as rollups:
        assert event_indexes(rollups) == {COMPOSITE}
    with pytest.raises(StorageError, match="--reference-indexes"):
        open_rollups(fresh_url, migrate=False, reference_indexes=True)
    with open_rollups(fresh_url, reference_indexes=True) as rollups:
        assert event_indexes(rollups) == set(REFERENCE_EVENT_INDEXES)
        rollups.record([event(1)])
    with open_rollups(fresh_url, migrate=False, reference_indexes=True) as rollups:
        assert rollups.retract([1]).retracted == 1


def test_rollups_migrate_reference_indexes(fresh_url: str) -> None:
    result = CliRunner().invoke(app, ["--db", fresh_url, "migrate", "--reference-indexes"])
    assert result.exit_code == EXIT_OK, result.output
    assert "reference application's indexes" in result.stdout
    assert event_indexes(fresh_url) == set(REFERENCE_EVENT_INDEXES)
    again = CliRunner().invoke(app, ["--db", fresh_url, "migrate", "--reference-indexes"])
    assert "schema up to date" in again.stdout


def test_the_option_adds_the_missing_reference_indexes_to_an_existing_database(
    fresh_url: str,
) -> None:
    with open_rollups(fresh_url):
        pass
    result = CliRunner().invoke(app, ["--db", fresh_url, "migrate", "--reference-indexes"])
    assert result.exit_code == EXIT_OK, result.output
    assert "index_reporting_events_for_response_distribution" in result.stdout
    assert event_indexes(fresh_url) == set(REFERENCE_EVENT_INDEXES)


def test_existing_tables_keep_their_indexes(fresh_url: str) -> None:
    """A host's table (or one an earlier version created with seven indexes) is left as it is."""
    dialect = "sqlite" if fresh_url.startswith("sqlite") else "postgresql"
    earlier = [
        s
        for s in reference_statements(dialect)
        if "index_reporting_events_for_response_distribution" not in s
    ]
    engine = sqlite_engine(fresh_url) if dialect == "sqlite" else postgres_engine(fresh_url)
    try:
        with engine.begin() as connection:
            for statement in earlier:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
    with open_rollups(fresh_url) as rollups:
        assert event_indexes(rollups) == set(REFERENCE_EVENT_INDEXES) - {
            "index_reporting_events_for_response_distribution"
        }

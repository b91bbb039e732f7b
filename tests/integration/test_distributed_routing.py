"""The distributed mode's hot paths send only statements Citus routes to one shard: checked on
plain PostgreSQL (CI has no Citus), by capturing every statement the PostgreSQL adapter sends
in distributed mode for `record`, `backfill` and `retract(ids, account_id=...)` of one account.

A statement is routable when it is a call of a routed function (`citus_functions`: distributed
by its account argument), touches no library table (transaction control, advisory locks), or
filters every table it names on `account_id = <one value>` and is neither a writing CTE nor an
`INSERT ... SELECT` from `unnest` (which Citus plans as separate distributed subplans and
pulls through the coordinator).

The database is made to look distributed enough for the adapter: the key (account_id, id) on
`reporting_events` and the routed functions created (not distributed: no Citus here).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import event as sqlalchemy_event

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.postgres.citus import REFERENCE_TABLES
from reporting_rollups.adapters.postgres.citus_functions import FUNCTIONS, RECORD
from reporting_rollups.adapters.postgres.one_call import PostgresOneCall
from reporting_rollups.adapters.postgres.unit_of_work import PostgresUnitOfWork
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.metrics import DimensionType
from tests.builders import event, utc
from tests.conftest import fixed_clock

pytestmark = pytest.mark.postgres

_ROUTED_CALL = re.compile(r"^SELECT \* FROM reporting_rollup_\w+_[0-9a-f]{10}\(%\(account\)s")
_TABLE = re.compile(r"\b(reporting_events(?:_rollups)?|reporting_rollup_\w+)\b")
_ACCOUNT_EQUALS = re.compile(r"account_id\s*=\s*(%\(\w+\)s|\d+|p_account)")
_WRITING_CTE = re.compile(r"\bAS\s*(MATERIALIZED\s*)?\(\s*(INSERT|UPDATE|DELETE)\b", re.I)
_UNNEST_INSERT = re.compile(r"\bINSERT\b.*\bSELECT\b.*\bunnest\(", re.I | re.S)
#: ``INSERT INTO t (account_id, ...) VALUES (<one row>) ...``: routed by its account value.
_ONE_ROW_INSERT = re.compile(
    r"^INSERT INTO \w+ \(account_id[\w, ]*\) VALUES \((?:[^()]|%\(\w+\)s)*\)(?!\s*,)"
)


def problem(statement: str) -> str | None:
    """Why `statement` would not be routed to one shard (None: it would)."""
    text = " ".join(statement.split())
    if _ROUTED_CALL.match(text):
        return None
    tables = set(_TABLE.findall(text)) - {"reporting_rollup_alembic_version", *REFERENCE_TABLES}
    if not tables:
        return None  # no table, or reference tables only (a copy on every node)
    if _WRITING_CTE.search(text):
        return "a writing CTE"
    if _UNNEST_INSERT.search(text):
        return "INSERT ... SELECT FROM unnest"
    if _ONE_ROW_INSERT.match(text):
        return None
    if not _ACCOUNT_EQUALS.search(text):
        return f"no account_id equality on {sorted(tables)}"
    return None


def open_as_distributed(database_url: str) -> Rollups:
    """`Rollups` whose PostgreSQL adapter runs in distributed mode on a plain database (its
    one-call recorder included); the database is made to look distributed enough (again)."""
    open_rollups(database_url, clock=fixed_clock).close()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS reporting_events_account_id "
            "ON reporting_events (account_id, id)"
        )
        for function in FUNCTIONS:
            definition = function.definition.replace("CREATE", "CREATE OR REPLACE", 1)
            connection.execute(definition)  # type: ignore[arg-type]
    rollups = open_rollups(database_url, clock=fixed_clock)
    factory: Any = rollups.uow_factory
    factory._unit_of_work = functools.partial(PostgresUnitOfWork, distributed=True)
    factory.distributed = True
    # The container wired the live path when the factory was not distributed yet.
    object.__setattr__(rollups.live, "one_call", PostgresOneCall(factory.database, RECORD))
    return rollups


@pytest.fixture
def distributed(database_url: str) -> Iterator[Rollups]:
    """`open_as_distributed`, account 1 in UTC."""
    rollups = open_as_distributed(database_url)
    rollups.set_timezone(1, "UTC", rebuild=False)
    yield rollups
    rollups.close()


@pytest.fixture
def sent(distributed: Rollups, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent from now on: through SQLAlchemy and on the DB-API connection."""
    statements: list[str] = []
    engine = distributed.uow_factory.engine  # type: ignore[attr-defined]

    def before(*args: Any) -> None:
        statements.append(args[2])

    sqlalchemy_event.listen(engine, "before_cursor_execute", before)
    execute = psycopg.Cursor.execute

    def recorded(cursor: Any, query: Any, params: Any = None, **options: Any) -> Any:
        if not statements or statements[-1] != str(query):
            statements.append(str(query))
        return execute(cursor, query, params, **options)

    monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    return statements


def assert_routable(statements: list[str]) -> None:
    found = {statement: problem(statement) for statement in statements}
    bad = {" ".join(s.split())[:400]: why for s, why in found.items() if why}
    assert not bad, bad
    assert any(_ROUTED_CALL.match(" ".join(s.split())) for s in statements)


def test_a_batch_of_one_account_is_routed(distributed: Rollups, sent: list[str]) -> None:
    distributed.record([event(1, "reply_time", value=3.0, user_id=2, inbox_id=3)])
    many = [
        event(10 + n, "conversation_bot_handoff", conversation_id=n % 7 + 1, at=utc(2026, 11, 19))
        for n in range(100)
    ]
    distributed.record(many)
    assert_routable(sent)
    handoffs = [
        row
        for row in distributed.rows(1)
        if row.key.dimension_type is DimensionType.ACCOUNT and row.key.date.day == 19
    ]
    assert handoffs[0].value.count == 7


def test_one_event_per_call_is_one_routed_call(distributed: Rollups, sent: list[str]) -> None:
    """Once the account's zone is known, a one-event `record()` is one call of the routed
    `RECORD`, autocommitted: no BEGIN, no COMMIT, no other statement."""
    distributed.record([event(1, "reply_time", value=3.0, user_id=2, inbox_id=3)])
    sent.clear()
    result = distributed.record([event(2, "conversation_bot_handoff", conversation_id=4)])
    assert result.rolled_up == 1
    assert [" ".join(s.split())[:40] for s in sent] == [RECORD.call[:40]]
    assert_routable(sent)
    assert distributed.verify(1).clean


def test_events_sent_again_are_held_and_marked_on_one_shard(
    distributed: Rollups, sent: list[str]
) -> None:
    """Redelivery, and a raw row the host stored that nobody recorded: held and checked, then
    marked, per account."""
    distributed.record([event(1, "reply_time", value=1.0)])
    with distributed.uow_factory() as uow:
        uow.events.add([event(2, "reply_time", value=2.0)])  # stored, not marked
        uow.commit()
    sent.clear()
    result = distributed.record(
        [event(1, "reply_time", value=1.0), event(2, "reply_time", value=2.0)]
    )
    assert (result.stored, result.duplicates, result.rolled_up) == (0, 2, 1)
    assert_routable(sent)
    assert distributed.verify(1).clean


def test_a_backfill_chunk_is_routed(distributed: Rollups, sent: list[str]) -> None:
    distributed.record([event(n, "first_response", value=float(n)) for n in range(1, 40)])
    sent.clear()
    distributed.backfill(1)
    assert_routable(sent)
    assert distributed.verify(1).clean


def test_a_retraction_of_one_account_is_routed(distributed: Rollups, sent: list[str]) -> None:
    distributed.record([event(n, "first_response", value=float(n)) for n in range(1, 5)])
    sent.clear()
    assert distributed.retract([1, 2], account_id=1).retracted == 2
    assert_routable(sent)


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        ("WITH u AS (SELECT 1), i AS (INSERT INTO reporting_events SELECT ...) SELECT", "CTE"),
        ("INSERT INTO reporting_events_rollups SELECT * FROM unnest(%(a)b::int[])", "unnest"),
        ("SELECT * FROM reporting_rollup_accounts WHERE account_id = ANY(%(ids)b)", "equality"),
        ("INSERT INTO reporting_rollup_accounts (account_id) VALUES (1), (2)", "equality"),
    ],
)
def test_the_check_finds_what_citus_does_not_route(statement: str, why: str) -> None:
    found = problem(statement)
    assert found is not None
    assert why in found

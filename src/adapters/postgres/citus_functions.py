"""The live path on a distributed database: server-side functions distributed by their account
argument (Citus `create_distributed_function(..., force_delegation => true)`), so that each call
is one command to the worker holding the account's shard, whose statements run there on the
local shard, inside the caller's transaction. A batch of one account then touches one worker and
commits without two-phase commit; a batch spanning accounts calls once per account (one
distributed transaction).

The functions (PL/pgSQL: Citus cannot plan a parameterised SQL function) are generated from the
statements of `adapters.postgres.statements` and the rebuild statement: each array parameter
``%(name)b::type[]`` becomes an argument ``p_name type[]``, each other ``%(name)s`` (the times)
``p_name timestamp``, and ``%(account)s`` the distribution argument ``p_account``; the store of a
batch is written out. Their names carry a hash of their definition: a definition changed by a
new version of the library is a new function, created when the schema is prepared
(`ensure_functions`, under the migration lock), never one replaced under running callers. The
plain-PostgreSQL check that every hot statement is routable: `tests/integration/
test_distributed_routing.py`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Final

import attrs
from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql

from reporting_rollups.adapters.postgres.aggregation import postgres_rebuild_statement
from reporting_rollups.adapters.postgres.arrays import EVENT_ARRAYS
from reporting_rollups.adapters.postgres.statements import (
    DELETE_DAYS,
    MARK,
    UPSERT_MEMBERS,
    UPSERT_ROLLUPS,
)
from reporting_rollups.adapters.sql.capture import MARK_LIBRARY_ORIGIN
from reporting_rollups.adapters.sql.tables import EVENT_COLUMNS
from reporting_rollups.domain.errors import StorageError

#: ``%(name)b::type[]`` in a statement.
_ARRAY_PARAMETER: Final = re.compile(r"%\((\w+)\)b::([\w ]+\[\])")
#: ``%(name)s``, a scalar parameter.
_SCALAR_PARAMETER: Final = re.compile(r"%\((\w+)\)s")
#: The dialect the generated statements are rendered in (the row checks' literals).
_DIALECT: Final = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]  # the engine's


@attrs.frozen
class RoutedFunction:
    """A function distributed by its first argument, `p_account`."""

    base: str  #: the name without the hash
    arguments: tuple[tuple[str, str], ...]  #: (name, type) after p_account, in call order
    returns: str
    language: str
    body: str

    @property
    def definition(self) -> str:
        """`CREATE FUNCTION` of it (its name included)."""
        arguments = ", ".join(
            ["p_account integer", *(f"p_{name} {kind}" for name, kind in self.arguments)]
        )
        return (
            f"CREATE FUNCTION {self.name}({arguments}) RETURNS {self.returns} "
            f"LANGUAGE {self.language} AS $rollups$\n{self.body}\n$rollups$"
        )

    @property
    def name(self) -> str:
        """The base name and the hash of the rest of the definition."""
        digest = hashlib.sha256(
            repr((self.arguments, self.returns, self.language, self.body)).encode()
        ).hexdigest()[:10]
        return f"{self.base}_{digest}"

    @property
    def signature(self) -> str:
        """``name(type, ...)``, as `create_distributed_function` takes it."""
        kinds = ", ".join(["integer", *(kind for _, kind in self.arguments)])
        return f"{self.name}({kinds})"

    @property
    def call(self) -> str:
        """``SELECT * FROM name(%(account)s, %(arg)b, ...)`` with psycopg parameters."""
        values = ", ".join(
            [
                "%(account)s",
                *(
                    f"%({name})s::{kind}" if not kind.endswith("[]") else f"%({name})b::{kind}"
                    for name, kind in self.arguments
                ),
            ]
        )
        return f"SELECT * FROM {self.name}({values})"


def _wrapped(base: str, statement: str, returns: str = "void") -> RoutedFunction:
    """`statement` (one account's rows) as a PL/pgSQL function of its parameters (Citus cannot
    plan a parameterised SQL function): run for `void`, else its rows returned (`returns`: a
    TABLE of columns named apart from the statement's)."""
    arguments: list[tuple[str, str]] = []
    for name, kind in _ARRAY_PARAMETER.findall(statement):
        if (name, kind) not in arguments:
            arguments.append((name, kind))
    body = _ARRAY_PARAMETER.sub(lambda match: f"p_{match[1]}", statement).strip()
    for name in dict.fromkeys(_SCALAR_PARAMETER.findall(body)):
        if name != "account":  # the function's own first argument
            arguments.append((name, "timestamp"))  # the scalars of these statements are times
    body = _SCALAR_PARAMETER.sub(lambda match: f"p_{match[1]}", body)
    if returns == "void":
        body = f"BEGIN\n{body};\nEND"
    elif body.startswith("WITH"):  # a query already (its writing CTEs must stay top-level)
        body = f"BEGIN\nRETURN QUERY {body};\nEND"
    else:  # INSERT ... RETURNING
        body = f"BEGIN\nRETURN QUERY WITH written AS (\n{body}\n) SELECT * FROM written;\nEND"
    return RoutedFunction(base, tuple(arguments), returns, "plpgsql", body)


#: The arrays of one account's events, in `EVENT_COLUMNS` order without account_id (the
#: function's own argument).
_EVENT_ARGUMENTS: Final = tuple(
    (name, f"{EVENT_ARRAYS[name].element}[]") for name in EVENT_COLUMNS if name != "account_id"
)


#: Up to this many rows a function writes row by row: one-row statements, which Citus plans on
#: its fast path, cost less than one `INSERT ... SELECT FROM unnest`, which it runs through an
#: intermediate result; above, PL/pgSQL's array subscripts (each a pass over the array) make the
#: rows cost more than that statement.
ROW_BY_ROW: Final = 32


def _event_row() -> tuple[str, str]:
    """(columns, values) of the INSERT of the function's `i`-th event (`p_<field>[i]`)."""
    names = [name for name, _ in _EVENT_ARGUMENTS]
    row = ", ".join(
        [
            "p_account",
            *(
                "coalesce(p_updated_at[i], p_now)" if name == "updated_at" else f"p_{name}[i]"
                for name in names
            ),
        ]
    )
    return ", ".join(["account_id", *names]), row


def _store_body() -> str:
    names = [name for name, _ in _EVENT_ARGUMENTS]
    arrays = ", ".join(f"p_{name}" for name in names)
    columns, row = _event_row()
    values = ", ".join(
        [
            "p_account",
            *(
                "coalesce(u.updated_at, p_now)" if name == "updated_at" else f"u.{name}"
                for name in names
            ),
        ]
    )
    return f"""DECLARE
    s record;
    i integer;
    v_id bigint;
    v_inserted bigint[] := '{{}}';
    v_fresh bigint[] := '{{}}';
BEGIN
    SELECT a.reporting_timezone, a.rollup_timezone, a.read_path_enabled, a.timezone_generation
    INTO s FROM reporting_rollup_accounts a WHERE a.account_id = p_account FOR SHARE;
    IF NOT FOUND THEN  -- the account's first event: create its row (or wait for who does)
        INSERT INTO reporting_rollup_accounts (account_id) VALUES (p_account)
        ON CONFLICT (account_id) DO NOTHING;
        SELECT a.reporting_timezone, a.rollup_timezone, a.read_path_enabled,
               a.timezone_generation
        INTO s FROM reporting_rollup_accounts a WHERE a.account_id = p_account FOR SHARE;
    END IF;
    IF cardinality(p_id) <= {ROW_BY_ROW} THEN
        FOR i IN 1 .. coalesce(cardinality(p_id), 0) LOOP
            v_id := NULL;
            INSERT INTO reporting_events ({columns}) VALUES ({row})
            ON CONFLICT (account_id, id) DO NOTHING
            RETURNING reporting_events.id INTO v_id;
            IF v_id IS NOT NULL THEN
                v_inserted := v_inserted || v_id;
            END IF;
        END LOOP;
        IF s.reporting_timezone IS NOT NULL THEN
            FOREACH v_id IN ARRAY v_inserted LOOP
                INSERT INTO reporting_rollup_applied_events (account_id, event_id)
                VALUES (p_account, v_id)
                ON CONFLICT (account_id, event_id) DO NOTHING;
                IF FOUND THEN
                    v_fresh := v_fresh || v_id;
                END IF;
            END LOOP;
        END IF;
    ELSE
        WITH ins AS (
            INSERT INTO reporting_events ({columns})
            SELECT {values}
            FROM unnest({arrays}) AS u({", ".join(names)})
            ON CONFLICT (account_id, id) DO NOTHING
            RETURNING reporting_events.id
        )
        SELECT coalesce(array_agg(ins.id ORDER BY ins.id), '{{}}') INTO v_inserted FROM ins;
        IF s.reporting_timezone IS NOT NULL THEN
            WITH m AS (
                INSERT INTO reporting_rollup_applied_events (account_id, event_id)
                SELECT p_account, x FROM unnest(v_inserted) AS x ORDER BY x
                ON CONFLICT (account_id, event_id) DO NOTHING
                RETURNING reporting_rollup_applied_events.event_id
            )
            SELECT coalesce(array_agg(m.event_id), '{{}}') INTO v_fresh FROM m;
        END IF;
    END IF;
    RETURN QUERY SELECT s.reporting_timezone::text, s.rollup_timezone::text,
        s.read_path_enabled, s.timezone_generation, cardinality(v_inserted)::bigint, v_fresh,
        ARRAY(SELECT x FROM unnest(p_id) AS x WHERE x <> ALL (v_inserted) ORDER BY x);
END"""


#: Store one account's events: lock (create) its row FOR SHARE, insert the new events, mark
#: those of a zoned account applied. One row: its settings, how many were inserted, the ids
#: marked, the ids stored before (to hold and check, `HOLD_ACCOUNT_EVENTS`).
STORE: Final = RoutedFunction(
    "reporting_rollup_store",
    (*_EVENT_ARGUMENTS, ("now", "timestamp")),
    "TABLE (o_zone text, o_rollup_zone text, o_read_path boolean, o_generation bigint, "
    "o_stored bigint, o_fresh bigint[], o_existing bigint[])",
    "plpgsql",
    _store_body(),
)


def _row_by_row(function: RoutedFunction, statement: str) -> RoutedFunction:
    """`function` (a wrapped `INSERT ... SELECT FROM unnest(...) ... ON CONFLICT`) that writes
    up to `ROW_BY_ROW` rows one `INSERT ... VALUES` each (`statement`, over `p_<name>[i]`)."""
    first = function.arguments[0][0]
    body = function.body.removeprefix("BEGIN\n").removesuffix("\nEND")
    loop = f"""DECLARE
    i integer;
BEGIN
    IF cardinality(p_{first}) <= {ROW_BY_ROW} THEN
        FOR i IN 1 .. coalesce(cardinality(p_{first}), 0) LOOP
            {statement.strip()};
        END LOOP;
    ELSE
        {body}
    END IF;
END"""
    return attrs.evolve(function, body=loop)


def _rollup_row(i: str, count: str) -> str:
    """The additive upsert of rollup row `i` of the function's key and delta arrays, adding
    `count` (an expression) to its count."""
    key = f"p_date[{i}], p_dimension_type[{i}], p_dimension_id[{i}], p_metric[{i}]"
    return f"""INSERT INTO reporting_events_rollups AS r
                (account_id, "date", dimension_type, dimension_id, metric, "count", sum_value,
                 sum_value_business_hours, created_at, updated_at)
            VALUES (p_account, {key},
                    {count}, p_sum_value[{i}], p_sum_value_business_hours[{i}], p_now, p_now)
            ON CONFLICT (account_id, "date", dimension_type, dimension_id, metric) DO UPDATE SET
                "count" = r."count" + EXCLUDED."count",
                sum_value = r.sum_value + EXCLUDED.sum_value,
                sum_value_business_hours =
                    r.sum_value_business_hours + EXCLUDED.sum_value_business_hours,
                updated_at = EXCLUDED.updated_at"""


#: `UPSERT_ROLLUPS` of one account's rows.
UPSERT: Final = _row_by_row(
    _wrapped("reporting_rollup_upsert", UPSERT_ROLLUPS), _rollup_row("i", "p_count[i]")
)
#: `UPSERT_MEMBERS` of one account's members (the rows it wrote).
MEMBERS: Final = _wrapped(
    "reporting_rollup_members_upsert",
    UPSERT_MEMBERS,
    "TABLE (o_account_id integer, o_date date, o_dimension_type varchar, o_dimension_id bigint, "
    "o_metric varchar, o_member_id bigint, o_occurrences integer)",
)
#: Rebuild days of one account (`DELETE_DAYS`, then the rebuild statement without the
#: change-log check: a distributed database has no change capture). One row: the raw events in
#: the range, the rollup rows written, false.
REBUILD: Final = attrs.evolve(
    _wrapped(
        "reporting_rollup_rebuild",
        f"{DELETE_DAYS.strip()};\n"
        f"RETURN QUERY {postgres_rebuild_statement(_DIALECT, changes=False).strip()}",
    ),
    returns="TABLE (o_events bigint, o_rows bigint, o_arrived boolean)",
)
#: `MARK` of one account's events: the ids that were marked before.
MARKS: Final = _wrapped("reporting_rollup_mark", MARK, "TABLE (o_before bigint[])")

#: The SQLSTATE `RECORD` raises when the events cannot all be recorded as new (one was stored
#: or marked before, or a member's count is not what a new event can leave): it wrote nothing,
#: and the caller records them the usual way, which tells what happened.
NOT_ALL_NEW: Final = "RR001"


def _record_body(identity: str) -> str:
    columns, row = _event_row()
    key = "p_date[k], p_dimension_type[k], p_dimension_id[k], p_metric[k]"
    return f"""DECLARE
    v_zone text;
    i integer;
    k integer;
    v_id bigint;
    v_after integer;
    v_distinct integer[];
BEGIN
    SELECT a.reporting_timezone INTO v_zone
    FROM reporting_rollup_accounts a WHERE a.account_id = p_account FOR SHARE;
    IF NOT FOUND OR v_zone IS DISTINCT FROM p_zone THEN
        RETURN QUERY SELECT false, v_zone;
        RETURN;
    END IF;
    PERFORM {MARK_LIBRARY_ORIGIN};
    FOR i IN 1 .. coalesce(cardinality(p_id), 0) LOOP
        v_id := NULL;
        INSERT INTO reporting_events ({columns}) VALUES ({row})
        ON CONFLICT ({identity}) DO NOTHING
        RETURNING reporting_events.id INTO v_id;
        IF v_id IS NULL THEN
            RAISE EXCEPTION 'event % was stored before', p_id[i] USING ERRCODE = '{NOT_ALL_NEW}';
        END IF;
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(p_id), 0) LOOP
        INSERT INTO reporting_rollup_applied_events (account_id, event_id)
        VALUES (p_account, p_id[i])
        ON CONFLICT (account_id, event_id) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'event % was applied before', p_id[i] USING ERRCODE = '{NOT_ALL_NEW}';
        END IF;
    END LOOP;
    v_distinct := array_fill(0, ARRAY[coalesce(cardinality(p_date), 0)]);
    FOR i IN 1 .. coalesce(cardinality(p_member_id), 0) LOOP
        k := p_member_row[i];
        INSERT INTO reporting_rollup_members AS m
            (account_id, "date", dimension_type, dimension_id, metric, member_id, occurrences)
        VALUES (p_account, {key}, p_member_id[i], p_occurrences[i])
        ON CONFLICT (account_id, "date", dimension_type, dimension_id, metric, member_id)
        DO UPDATE SET occurrences = m.occurrences + EXCLUDED.occurrences
        RETURNING m.occurrences INTO v_after;
        IF v_after <= 0 THEN
            RAISE EXCEPTION 'member % has % occurrences', p_member_id[i], v_after
                USING ERRCODE = '{NOT_ALL_NEW}';
        END IF;
        IF v_after - p_occurrences[i] <= 0 THEN  -- it appeared: one more distinct member
            v_distinct[k] := v_distinct[k] + 1;
        END IF;
    END LOOP;
    FOR k IN 1 .. coalesce(cardinality(p_date), 0) LOOP
        IF p_count[k] + v_distinct[k] <> 0 THEN
            {_rollup_row("k", "p_count[k] + v_distinct[k]")};
        END IF;
    END LOOP;
    RETURN QUERY SELECT true, v_zone;
END"""


#: Record a few new events of one account in one call, as `record()` would: lock the account
#: row FOR SHARE; unless its zone is `p_zone` (the zone the caller folded in), return (false,
#: the zone) having written nothing. Else insert the events and mark them applied (raising
#: `NOT_ALL_NEW` for any stored or marked before), add the members' occurrences (each member
#: that appears adds one to the count of its row, `p_member_row`: an index into the rollup
#: arrays, which hold every member's key) and the rollup deltas; return (true, the zone). The
#: locks are taken in `LOCK_ORDER`: the caller sorts events by id and keys and members by key.
#: An event is (account_id, id) here, as on a distributed database; `PLAIN_RECORD` is the same
#: for plain PostgreSQL (an id alone), created there undistributed.
_RECORD_ARGUMENTS: Final = (
    *_EVENT_ARGUMENTS,
    ("now", "timestamp"),
    ("zone", "text"),
    ("date", "date[]"),
    ("dimension_type", "text[]"),
    ("dimension_id", "bigint[]"),
    ("metric", "text[]"),
    ("count", "bigint[]"),
    ("sum_value", "float8[]"),
    ("sum_value_business_hours", "float8[]"),
    ("member_row", "integer[]"),
    ("member_id", "bigint[]"),
    ("occurrences", "integer[]"),
)
_RECORD_RETURNS: Final = "TABLE (o_recorded boolean, o_zone text)"
RECORD: Final = RoutedFunction(
    "reporting_rollup_record",
    _RECORD_ARGUMENTS,
    _RECORD_RETURNS,
    "plpgsql",
    _record_body("account_id, id"),
)
PLAIN_RECORD: Final = RoutedFunction(
    "reporting_rollup_record_plain",
    _RECORD_ARGUMENTS,
    _RECORD_RETURNS,
    "plpgsql",
    _record_body("id"),
)
FUNCTIONS: Final[Sequence[RoutedFunction]] = (STORE, UPSERT, MEMBERS, REBUILD, MARKS, RECORD)


def _names(connection: Connection, query: str) -> set[str]:
    return {str(row[0]) for row in connection.execute(text(query))}


_DEFINED: Final = "SELECT proname FROM pg_proc WHERE proname LIKE 'reporting\\_rollup\\_%'"
#: The functions distributed beside `reporting_events` (its colocation group): a schema
#: dropped and created again leaves a function distributed with a group that is gone.
_ROUTED: Final = """
SELECT p.proname FROM pg_proc p
JOIN pg_dist_object o ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
WHERE p.proname LIKE 'reporting\\_rollup\\_%' AND o.distribution_argument_index = 0
  AND o.colocationid = (
      SELECT colocationid FROM pg_dist_partition
      WHERE logicalrelid = 'reporting_events'::regclass)
"""


def missing_functions(connection: Connection) -> list[RoutedFunction]:
    """The functions of this version that the database lacks or has not routed by account
    beside `reporting_events`."""
    routed = _names(connection, _ROUTED)
    return [function for function in FUNCTIONS if function.name not in routed]


def is_defined(connection: Connection, function: RoutedFunction) -> bool:
    """Whether the database has `function` (this version's: its name holds the hash)."""
    return function.name in _names(connection, _DEFINED)


def ensure_defined(connection: Connection, function: RoutedFunction) -> None:
    """Create `function`, undistributed, unless the database has it (in the caller's
    transaction, which holds the migration lock)."""
    if not is_defined(connection, function):
        connection.execute(text(function.definition))


def ensure_functions(connection: Connection) -> None:
    """Create and distribute the functions this version lacks (in the caller's transaction,
    which holds the migration lock)."""
    missing = missing_functions(connection)
    if not missing:
        return
    defined = _names(connection, _DEFINED)
    for function in missing:
        if function.name not in defined:
            connection.execute(text(function.definition))
        connection.execute(
            text(
                "SELECT create_distributed_function(:signature, 'p_account', "
                "colocate_with => 'reporting_events', force_delegation => true)"
            ),
            {"signature": function.signature},
        )


def require_functions(connection: Connection) -> None:
    """`StorageError` unless every function of this version exists (open without migrate)."""
    missing = missing_functions(connection)
    if missing:
        raise StorageError(
            f"the distributed functions {', '.join(f.name for f in missing)} are missing "
            "(a newer version of reporting-rollups); run `rollups migrate`"
        )


__all__ = [
    "FUNCTIONS",
    "MARKS",
    "MEMBERS",
    "NOT_ALL_NEW",
    "PLAIN_RECORD",
    "REBUILD",
    "RECORD",
    "STORE",
    "UPSERT",
    "RoutedFunction",
    "ensure_defined",
    "ensure_functions",
    "is_defined",
    "missing_functions",
    "require_functions",
]

"""Citus (marker `citus`, ROLLUPS_TEST_CITUS_URL): the schema the library creates there, the
host tables it accepts, and what it refuses. Each test starts from an empty database.

The contract suites run on Citus too (the `citus` backend of `tests/integration/conftest.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_OK, EXIT_USAGE, app
from reporting_rollups.adapters.postgres.citus import COLOCATED_TABLES, REFERENCE_TABLES
from reporting_rollups.adapters.postgres.citus_functions import FUNCTIONS
from reporting_rollups.domain.errors import ConfigurationError, EventConflictError, StorageError
from tests.builders import event
from tests.conftest import empty_database, fixed_clock
from tests.integration.test_postgres_stress import run_stress

pytestmark = pytest.mark.citus


@pytest.fixture
def citus(citus_url: str) -> Iterator[str]:
    """The Citus database, emptied before and after the test."""
    empty_database(citus_url)
    yield citus_url
    empty_database(citus_url)


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(query, params)
        return list(cursor.fetchall()) if cursor.description else []


def placement(url: str) -> dict[str, tuple[str, int]]:
    """table -> (partition method, colocation id) of the distributed and reference tables."""
    found = rows(url, "SELECT logicalrelid::text, partmethod, colocationid FROM pg_dist_partition")
    return {table: (method, colocation) for table, method, colocation in found}


def primary_key(url: str, table: str) -> list[str]:
    found = rows(
        url,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)",
        table,
    )
    return [name for (name,) in found]


def test_a_fresh_schema_is_distributed_by_account_and_colocated(citus: str) -> None:
    done = CliRunner().invoke(app, ["--db", citus, "migrate"])
    assert done.exit_code == EXIT_OK, done.output
    assert "the tables distributed by account (Citus)" in done.stdout
    placed = placement(citus)
    events_method, colocation = placed["reporting_events"]
    assert events_method == "h"
    for table in COLOCATED_TABLES:
        assert placed[table] == ("h", colocation), table
    for table in REFERENCE_TABLES:
        assert placed[table][0] == "n", table
    for table in ("reporting_events", "reporting_events_rollups", "reporting_rollup_changes"):
        assert primary_key(citus, table) == ["account_id", "id"], table
    default = rows(
        citus,
        "SELECT column_default, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'reporting_events' AND column_name IN ('id', 'account_id') "
        "ORDER BY column_name",
    )
    assert default == [(None, "NO"), (None, "NO")]  # account_id NOT NULL; id without sequence
    with open_rollups(citus, clock=fixed_clock) as rollups:
        assert rollups.uow_factory.distributed  # type: ignore[attr-defined]
        again = CliRunner().invoke(app, ["--db", citus, "migrate"])
        assert "schema up to date" in again.stdout


def test_local_tables_keeps_a_fresh_schema_local(citus: str) -> None:
    with open_rollups(citus, clock=fixed_clock, local_tables=True) as rollups:
        assert not rollups.uow_factory.distributed  # type: ignore[attr-defined]
        rollups.set_timezone(1, "UTC")
        rollups.record([event(1)])
        with pytest.raises(EventConflictError):  # plain PostgreSQL identity: ids are global
            rollups.record([event(1, account_id=2)])
        assert rollups.retract([1]).retracted == 1
    assert placement(citus) == {}
    with open_rollups(citus, clock=fixed_clock) as rollups:  # later opens keep the layout
        assert not rollups.uow_factory.distributed  # type: ignore[attr-defined]
    assert placement(citus) == {}


def test_capture_is_refused_and_scan_follows_the_host(citus: str) -> None:
    with open_rollups(citus, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        with pytest.raises(ConfigurationError, match="sync --scan"):
            rollups.capture.install()
        rows(
            citus,
            "INSERT INTO reporting_events (id, name, value, account_id, created_at, updated_at) "
            "VALUES (7, 'reply_time', 4.0, 1, '2026-11-20 12:00', '2026-11-20 12:00')",
        )
        assert rollups.scan().events >= 1
        assert rollups.verify(1).clean
        assert len(rollups.rows(1)) == 1
    refused = CliRunner().invoke(app, ["--db", citus, "capture", "install"])
    assert refused.exit_code == EXIT_USAGE, refused.output
    assert "not supported on a distributed database" in refused.stderr
    retract = CliRunner().invoke(app, ["--db", citus, "retract", "7"])
    assert retract.exit_code == EXIT_USAGE
    assert "give the account" in retract.stderr
    assert CliRunner().invoke(app, ["--db", citus, "retract", "-a", "1", "7"]).exit_code == 0


def host_events(
    url: str, *, key: str = "PRIMARY KEY (account_id, id)", by: str = "account_id"
) -> None:
    """A host's own reporting_events (the reference columns), distributed by `by`."""
    rows(
        url,
        "CREATE TABLE reporting_events (id bigint NOT NULL, name varchar, value float8, "
        f"account_id int NOT NULL, inbox_id int {'NOT NULL' if by == 'inbox_id' else ''}, "
        "user_id int, conversation_id int, "
        "created_at timestamp NOT NULL, updated_at timestamp NOT NULL, "
        "value_in_business_hours float8, event_start_time timestamp, event_end_time timestamp"
        + (f", {key}" if key else "")
        + ")",
    )
    rows(url, f"SELECT create_distributed_table('reporting_events', '{by}')")


def test_a_hosts_distributed_tables_are_joined(citus: str) -> None:
    host_events(citus)
    rows(
        citus,
        "CREATE TABLE reporting_events_rollups (id bigserial, account_id int NOT NULL, "
        "date date NOT NULL, dimension_type varchar NOT NULL, dimension_id bigint NOT NULL, "
        "metric varchar NOT NULL, count bigint NOT NULL DEFAULT 0, "
        "sum_value float8 NOT NULL DEFAULT 0, sum_value_business_hours float8 NOT NULL DEFAULT 0, "
        "created_at timestamp NOT NULL, updated_at timestamp NOT NULL, "
        "PRIMARY KEY (account_id, id))",
    )
    rows(
        citus,
        "CREATE UNIQUE INDEX index_rollup_unique_key ON reporting_events_rollups "
        "(account_id, date, dimension_type, dimension_id, metric)",
    )
    rows(
        citus,
        "SELECT create_distributed_table('reporting_events_rollups', 'account_id', "
        "colocate_with => 'reporting_events')",
    )
    with open_rollups(citus, clock=fixed_clock) as rollups:
        assert rollups.uow_factory.distributed  # type: ignore[attr-defined]
        rollups.set_timezone(1, "UTC")
        assert rollups.record([event(1, "reply_time", value=2.0)]).rolled_up == 1
        assert rollups.verify(1).clean
    placed = placement(citus)
    assert {placed[table][1] for table in COLOCATED_TABLES} == {placed["reporting_events"][1]}


def test_a_hosts_distributed_table_without_the_key_is_refused(citus: str) -> None:
    host_events(citus, key="")
    with pytest.raises(StorageError, match=r"no unique key on \(account_id, id\)"):
        open_rollups(citus, clock=fixed_clock)
    assert "reporting_rollup_accounts" not in placement(citus)  # nothing was created


def test_a_hosts_table_distributed_by_another_column_is_refused(citus: str) -> None:
    host_events(citus, key="PRIMARY KEY (inbox_id, id)", by="inbox_id")
    with pytest.raises(StorageError, match="distributed by inbox_id"):
        open_rollups(citus, clock=fixed_clock)
    assert "reporting_rollup_accounts" not in placement(citus)


def test_the_routed_functions_are_created_by_migrate_and_required_without_it(citus: str) -> None:
    with open_rollups(citus, clock=fixed_clock):
        pass
    names = [function.name for function in FUNCTIONS]
    delegated = rows(
        citus,
        "SELECT p.proname FROM pg_proc p JOIN pg_dist_object o ON o.objid = p.oid "
        "WHERE o.classid = 'pg_proc'::regclass AND o.distribution_argument_index = 0 "
        "AND o.force_delegation",
    )
    assert set(names) <= {name for (name,) in delegated}
    rows(citus, f"DROP FUNCTION {FUNCTIONS[0].name}")
    with pytest.raises(StorageError, match="run `rollups migrate`"):
        open_rollups(citus, clock=fixed_clock, migrate=False)
    with open_rollups(citus, clock=fixed_clock) as rollups:  # migrate creates it again
        rollups.set_timezone(1, "UTC")
        assert rollups.record([event(1)]).rolled_up == 1


@pytest.mark.slow
def test_racing_writers_stay_exact_on_a_distributed_database(citus: str) -> None:
    """The stochastic stress run of `test_postgres_stress.py` (racing recorders, redelivery,
    retractions, rebuilds and zone flips in separate processes), in distributed mode."""
    run_stress(citus)

"""Change capture (issue 10, part 1): triggers on a host's `reporting_events`, laid out exactly
as the reference schema has it, that log every row image the host writes into the library's
change log. Installed explicitly (never by `migrate`), idempotent, in one transaction, and
leaving the host table's definition as it was apart from the triggers.

The in-memory backend has no host application writing to it: capture is refused there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import app
from reporting_rollups.adapters.postgres import capture as postgres_capture
from reporting_rollups.adapters.sql.capture import TRIGGERS
from reporting_rollups.adapters.sqlite import capture as sqlite_capture
from reporting_rollups.domain.errors import ConfigurationError, StorageError
from tests.builders import event
from tests.conftest import fresh_database
from tests.host_db import host_sql

AT = "2026-11-20 10:00:00.000000"


def logged(url: str) -> list[tuple[Any, ...]]:
    """The change log as (op, event_id, account_id, name, value), in log order."""
    return [
        tuple(row)
        for row in host_sql(
            url,
            "SELECT op, event_id, account_id, name, value FROM reporting_rollup_changes "
            "ORDER BY id",
        )
    ]


def host_table_definition(url: str) -> list[str]:
    """The host table's definition: its DDL, indexes, constraints and triggers."""
    if url.startswith("sqlite"):
        rows = host_sql(
            url,
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'reporting_events' "
            "ORDER BY type, name",
        )
        return [f"{kind} {name}: {sql}" for kind, name, sql in rows]
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--table=reporting_events", "--no-owner", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # (comments, and psql meta-commands such as `\restrict KEY` with a random key, left out)
    text = "\n".join(line for line in dump.splitlines() if not line.startswith(("--", "\\")))
    statements = [part.strip() for part in text.split(";")]
    return [s for s in statements if s and not s.startswith(("SET ", "SELECT "))]


def capture_triggers(definition: list[str]) -> list[str]:
    return [line for line in definition if "reporting_rollup_capture_" in line]


def test_install_and_remove_are_idempotent_and_leave_the_host_table_as_it_was(
    host_url: str,
) -> None:
    with open_rollups(host_url) as rollups:
        before = host_table_definition(host_url)
        assert capture_triggers(before) == []
        assert not rollups.capture.status().installed  # migrate installed nothing

        first = rollups.capture.install()
        again = rollups.capture.install()
        assert first.installed
        assert again == first
        assert first.triggers == TRIGGERS
        installed = host_table_definition(host_url)
        assert len(capture_triggers(installed)) == 3
        assert [line for line in installed if line not in capture_triggers(installed)] == before

        removed = rollups.capture.remove()
        assert rollups.capture.remove() == removed
        assert removed.triggers == ()
        assert removed.missing == TRIGGERS
        assert host_table_definition(host_url) == before


def test_every_row_image_the_host_writes_is_logged_in_order(host_url: str) -> None:
    with open_rollups(host_url) as rollups:
        rollups.capture.install()
        host_sql(
            host_url,
            "INSERT INTO reporting_events (id, name, value, account_id, created_at, updated_at) "
            f"VALUES (1, 'reply_time', 10, 7, '{AT}', '{AT}'), "
            f"(2, 'first_response', 20, 7, '{AT}', '{AT}'), "
            f"(3, 'reply_time', 30, NULL, '{AT}', '{AT}')",
        )
        host_sql(
            host_url,
            "UPDATE reporting_events SET value = value + 1 WHERE id IN (1, 3)",
            # a write that changes no captured column logs nothing
            "UPDATE reporting_events SET updated_at = '2026-11-21 00:00:00.000000' WHERE id = 2",
            "UPDATE reporting_events SET account_id = 8 WHERE id = 2",
        )
        host_sql(host_url, "DELETE FROM reporting_events WHERE id IN (1, 2, 3)")
        assert logged(host_url) == [
            ("I", 1, 7, "reply_time", 10.0),
            ("I", 2, 7, "first_response", 20.0),
            # row 3 has no account: it contributes nothing and is never logged
            ("D", 1, 7, "reply_time", 10.0),
            ("I", 1, 7, "reply_time", 11.0),
            ("D", 2, 7, "first_response", 20.0),  # moved to another account
            ("I", 2, 8, "first_response", 20.0),
            ("D", 1, 7, "reply_time", 11.0),
            ("D", 2, 8, "first_response", 20.0),
        ]
        assert rollups.capture.status().pending == 8
        rollups.capture.remove()
        host_sql(
            host_url,
            f"INSERT INTO reporting_events VALUES (4, 'x', 1, 7, NULL, NULL, "
            f"NULL, '{AT}', '{AT}', NULL, NULL, NULL)",
        )
        assert len(logged(host_url)) == 8  # removed: nothing more is logged


def test_the_library_s_own_writes_are_not_logged(host_url: str) -> None:
    """`record()` and `retract()` fold and take back in their own transaction: the change log
    gets nothing of them (a sync would have nothing to do), while host writes around them, and
    a host write after a library transaction on the same pooled connection, are logged."""
    with open_rollups(host_url) as rollups:
        rollups.set_timezone(9, "UTC")
        rollups.capture.install()
        rollups.record([event(5, "reply_time", account_id=9, value=2.0)])
        rollups.record([event(6, "reply_time", account_id=9, value=3.0), event(7, account_id=10)])
        rollups.record([event(5, "reply_time", account_id=9, value=2.0)])  # re-sent
        rollups.retract([6])
        assert logged(host_url) == []
        host_sql(
            host_url,
            "INSERT INTO reporting_events (id, name, value, account_id, created_at, updated_at) "
            f"VALUES (8, 'reply_time', 4, 9, '{AT}', '{AT}')",
        )
        rollups.record([event(9, "reply_time", account_id=9, value=1.0)])
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 5")
        assert logged(host_url) == [("I", 8, 9, "reply_time", 4.0), ("D", 5, 9, "reply_time", 2.0)]
        with rollups.uow_factory.engine.connect() as connection:  # type: ignore[attr-defined]
            # the pool's connection the library just used: its setting ended with its transaction
            connection.exec_driver_sql("UPDATE reporting_events SET value = 5 WHERE id = 9")
            connection.commit()
        assert logged(host_url)[2:] == [
            ("D", 9, 9, "reply_time", 1.0),
            ("I", 9, 9, "reply_time", 5.0),
        ]
        assert rollups.sync().applied == 2
        assert rollups.verify(9).clean


def test_install_is_one_transaction(host_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the first trigger was created leaves none behind."""
    if host_url.startswith("sqlite"):
        broken = (*sqlite_capture._CREATE[:2], "CREATE TRIGGER broken AFTER NONSENSE")
        monkeypatch.setattr(sqlite_capture, "_CREATE", broken)
    else:
        name, _body, event_name, referencing = postgres_capture._TRIGGERS[2]
        broken_trigger = (name, "THIS IS NOT SQL", event_name, referencing)
        monkeypatch.setattr(
            postgres_capture, "_TRIGGERS", (*postgres_capture._TRIGGERS[:2], broken_trigger)
        )
    with open_rollups(host_url) as rollups:
        with pytest.raises(StorageError, match="installing change capture failed"):
            rollups.capture.install()
        assert rollups.capture.status().triggers == ()
    assert capture_triggers(host_table_definition(host_url)) == []


def test_a_partly_removed_capture_reports_what_is_missing(host_url: str) -> None:
    with open_rollups(host_url) as rollups:
        rollups.capture.install()
        drop = "DROP TRIGGER reporting_rollup_capture_delete"
        host_sql(host_url, drop if host_url.startswith("sqlite") else drop + " ON reporting_events")
        status = rollups.capture.status()
        assert not status.installed
        assert status.missing == ("reporting_rollup_capture_delete",)
        assert rollups.capture.install().installed  # install repairs it


@pytest.mark.postgres
def test_a_bulk_insert_costs_one_trigger_call_on_postgres(postgres_server_url: str) -> None:
    with fresh_database(postgres_server_url) as url:
        with open_rollups(url) as rollups:
            rollups.capture.install()
        with psycopg.connect(url) as connection:
            connection.execute("SET track_functions = 'pl'")
            connection.execute(
                "INSERT INTO reporting_events (id, name, value, account_id, created_at, "
                "updated_at) SELECT g, 'reply_time', g, 1 + g % 3, now(), now() "
                "FROM generate_series(1, 1000) g"
            )
            calls = connection.execute(
                "SELECT calls FROM pg_stat_xact_user_functions "
                "WHERE funcname = 'reporting_rollup_capture_insert'"
            ).fetchone()
            logged_rows = connection.execute(
                "SELECT count(*), count(DISTINCT txid) FROM reporting_rollup_changes"
            ).fetchone()
        assert calls == (1,)
        assert logged_rows == (1000, 1)  # one writing transaction


def test_memory_refuses_capture() -> None:
    with open_rollups("memory://") as rollups, pytest.raises(ConfigurationError, match="SQLite"):
        rollups.capture.install()


def test_capture_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    with open_rollups(db):
        pass
    result = runner.invoke(app, ["--db", db, "capture", "install"])
    assert result.exit_code == 0, result.output
    assert "change capture installed; 0 change(s) pending" in result.stdout
    result = runner.invoke(app, ["--db", db, "capture", "status", "--format", "json"])
    assert result.exit_code == 0
    assert '"installed": true' in result.stdout
    result = runner.invoke(app, ["--db", db, "capture", "remove"])
    assert "change capture not installed" in result.stdout
    result = runner.invoke(app, ["--db", "memory://", "capture", "install"])
    assert result.exit_code == 2
    assert "change capture needs an SQLite or PostgreSQL database" in result.stderr
    assert "Traceback" not in result.output

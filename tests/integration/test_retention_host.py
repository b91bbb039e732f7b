"""Retention windows next to a host (issue 11): a host's own retention job deletes old raw rows;
with a window, such deletes reach the library (change capture, `sync --scan`) as purges that
keep the history, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from reporting_rollups.adapters import open_rollups
from tests.builders import row_map
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.integration.test_sync import AT, ZONE, host_insert, opened

OLD = "2026-10-01 12:00:00.000000"  # outside a 30-day window (today: 2026-11-23)


def test_captured_deletes_older_than_the_window_keep_the_history(host_url: str) -> None:
    with opened(host_url) as rollups:
        rollups.set_retention(30)
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, OLD), (2, "reply_time", 4, 1, 5, None, AT)
        )
        rollups.sync()
        before = row_map(rollups.rows(1))
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")  # the host's retention job
        result = rollups.sync()
        assert (result.consumed, result.retracted) == (1, 0)
        assert row_map(rollups.rows(1)) == before
        assert rollups.verify(1).horizon == date(2026, 10, 24)
        assert rollups.verify(1).clean
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 2")  # a recent one: retracted
        assert rollups.sync().retracted == 1
        assert {key[0] for key in row_map(rollups.rows(1))} == {date(2026, 10, 1)}


def test_scanned_deletes_older_than_the_window_keep_the_history(host_url: str) -> None:
    with open_rollups(host_url, clock=fixed_clock) as rollups:  # no capture: scan
        rollups.set_timezone(1, ZONE)
        rollups.set_retention(30, account_id=1)
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, OLD), (2, "reply_time", 4, 1, 5, None, AT)
        )
        rollups.scan()
        before = row_map(rollups.rows(1))
        host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")
        assert rollups.scan().orphans == 1
        assert row_map(rollups.rows(1)) == before
        assert rollups.verify(1).horizon == date(2026, 10, 24)
        assert rollups.verify(1).clean
        assert rollups.account(1).rollup_timezone == ZONE


def test_a_host_zone_change_on_sealed_days_is_refused_and_status_shows_it(host_url: str) -> None:
    """`sync --zones-from chatwoot` does not apply a zone change to an account with sealed
    days (one warning line, exit 0); `status --zones-from` shows the conflict."""
    import json

    from typer.testing import CliRunner

    from reporting_rollups.adapters import host_zones
    from reporting_rollups.adapters.cli import app
    from tests.reference_schema import reference_statements

    dialect = "sqlite" if host_url.startswith("sqlite") else "postgresql"
    host_sql(host_url, *reference_statements(dialect, ("accounts",)))
    settings = '{"reporting_timezone": "Tokyo"}'
    host_sql(
        host_url,
        "INSERT INTO accounts (id, name, created_at, updated_at, settings) VALUES "
        f"(1, 'a', '2026-01-01', '2026-01-01', '{settings}'), "
        "(2, 'b', '2026-01-01', '2026-01-01', '{\"reporting_timezone\": \"Nowhere\"}')",
    )
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.set_timezone(2, ZONE)
        host_insert(host_url, (1, "reply_time", 10, 1, 5, None, OLD))
        rollups.catch_up()
        rollups.purge(date(2026, 11, 1), 1)
        before = row_map(rollups.rows(1))
        found = {
            a.account_id: a for a in rollups.status(None, host_zones(rollups, "chatwoot")).accounts
        }
        assert "sealed days before 2026-11-01" in (found[1].zone_conflict or "")
        assert "'Nowhere' names no zone" in (found[2].zone_conflict or "")
    runner = CliRunner()
    synced = runner.invoke(app, ["--db", host_url, "sync", "--zones-from", "chatwoot"])
    assert synced.exit_code == 0, synced.output
    warnings = [line for line in synced.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any("account 1 keeps its zone and rollups" in line for line in warnings)
    assert any("sealed" in line for line in warnings)
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        assert rollups.account(1).timezone == ZONE
        assert row_map(rollups.rows(1)) == before
    shown = runner.invoke(
        app, ["--db", host_url, "status", "--zones-from", "chatwoot", "-f", "json"]
    )
    assert shown.exit_code == 0, shown.output
    conflicts = {a["account_id"]: a["zone_conflict"] for a in json.loads(shown.stdout)["accounts"]}
    assert "sealed days" in conflicts[1]
    table = runner.invoke(app, ["--db", host_url, "status", "--zones-from", "chatwoot"])
    assert "warning: account 1: the host's zone 'Tokyo' is not applied" in table.stdout


def test_a_purge_leaves_nothing_in_the_change_log(host_url: str) -> None:
    """The library's own deletes are not captured: after a purge, sync has nothing to do."""
    with opened(host_url) as rollups:
        host_insert(
            host_url, (1, "reply_time", 10, 1, 5, None, OLD), (2, "reply_time", 4, 1, 5, None, AT)
        )
        rollups.sync()
        before = row_map(rollups.rows(1))
        (result,) = rollups.purge(date(2026, 11, 1), 1)
        assert result.events == 1
        assert rollups.capture.status().pending == 0
        assert rollups.sync().consumed == 0
        assert row_map(rollups.rows(1)) == before

"""`Rollups.status()` / `rollups status`, and what `verify` and reports say while captured host
changes are pending (issue 10, part 5): never silently stale. On SQLite and PostgreSQL (the
in-memory backend has no change log: its status says capture is unavailable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import app
from reporting_rollups.application.ports import DateSpan
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.metrics import DimensionType, Metric, MetricContribution, RollupKey
from tests.builders import event
from tests.conftest import FIXED_NOW
from tests.host_db import host_sql
from tests.integration.test_sync import AT, ZONE, host_insert

DAY = date(2026, 11, 20)  # the local day of AT in ZONE


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rollups(host_url: str, clock: Clock) -> Iterator[Rollups]:
    with open_rollups(host_url, clock=clock) as opened:
        opened.set_timezone(1, ZONE)
        opened.enable_read_path(1)
        opened.capture.install()
        yield opened


def logged_at(url: str) -> datetime:
    """When the oldest pending change was logged (aware UTC)."""
    (value,) = host_sql(url, "SELECT min(logged_at) FROM reporting_rollup_changes")[0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def test_status_follows_pending_changes_and_the_last_sync(
    rollups: Rollups, host_url: str, clock: Clock
) -> None:
    rollups.record([event(1, at=datetime(2026, 11, 19, 15, tzinfo=UTC), value=5)])
    (account,) = rollups.status().accounts
    assert account.account_id == 1
    assert account.settings.timezone == ZONE
    assert account.settings.rollup_timezone == ZONE
    assert account.settings.read_path_enabled
    assert (account.raw_events, account.pending) == (1, 0)
    assert account.rollup_rows == len(rollups.rows(1)) > 0
    assert account.lag_seconds is None
    assert account.last_sync is None
    assert not account.rebuild_pending
    assert account.source.value == "rollups"
    assert rollups.status().capture is not None
    assert rollups.status().capture.installed  # type: ignore[union-attr]

    host_insert(
        host_url, (2, "reply_time", 10, 1, 5, None, AT), (3, "reply_time", 4, 1, 5, None, AT)
    )
    clock.now = logged_at(host_url) + timedelta(seconds=7)
    (account,) = rollups.status(1).accounts
    assert (account.raw_events, account.pending) == (3, 2)
    assert account.lag_seconds == pytest.approx(7.0, abs=0.01)
    assert account.last_sync is None

    clock.now += timedelta(seconds=1)
    result = rollups.sync()
    assert (result.applied, result.pending, result.lag_seconds) == (2, 0, None)
    (account,) = rollups.status(1).accounts
    assert (account.pending, account.lag_seconds) == (0, None)
    assert account.last_sync == clock.now
    assert account.rollup_rows == len(rollups.rows(1)) > 2


def test_verify_reports_pending_changes_instead_of_mismatches(
    rollups: Rollups, host_url: str, clock: Clock
) -> None:
    rollups.record([event(1, at=datetime(2026, 11, 18, 15, tzinfo=UTC), value=5)])
    host_insert(host_url, (2, "reply_time", 10, 1, 5, None, AT))
    host_sql(host_url, "DELETE FROM reporting_events WHERE id = 1")  # day 18: pending too
    clock.now = logged_at(host_url) + timedelta(seconds=3)
    found = rollups.verify(1)
    assert found.mismatches == []
    assert found.pending == 2
    assert found.lag_seconds == pytest.approx(3.0, abs=0.01)
    assert found.pending_days == DateSpan(date(2026, 11, 18), DAY)
    assert not found.clean

    # A real difference on a day no pending change touches is still a mismatch.
    key = RollupKey(1, date(2026, 11, 10), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME)
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: MetricContribution(1, 1.0, 1.0)})
        uow.commit()
    assert [m.key for m in rollups.verify(1).mismatches] == [key]
    with rollups.uow_factory() as uow:
        uow.rollups.add({key: MetricContribution(-1, -1.0, -1.0)})
        uow.commit()

    rollups.sync()
    found = rollups.verify(1)
    assert found.clean
    assert (found.pending, found.lag_seconds, found.pending_days) == (0, None, None)


def test_a_report_from_rollups_says_how_stale_it_may_be(
    rollups: Rollups, host_url: str, clock: Clock
) -> None:
    def summary() -> Any:
        return rollups.reports.summary(1, "account", DAY, DAY)

    rollups.record([event(1, "reply_time", at=datetime(2026, 11, 20, 15, tzinfo=UTC), value=3)])
    fresh = summary()
    assert fresh.source.value == "rollups"
    assert fresh.stale_seconds is None
    assert "stale_seconds" not in fresh.as_dict()

    host_insert(host_url, (2, "reply_time", 10, 1, 5, None, AT))
    clock.now = logged_at(host_url) + timedelta(seconds=12)
    stale = summary()
    assert stale.source.value == "rollups"
    assert stale.stale_seconds == pytest.approx(12.0, abs=0.01)
    assert stale.as_dict()["stale_seconds"] == pytest.approx(12.0, abs=0.01)
    assert stale.rows[0].avg_reply_time == 3.0  # the host's row is not folded yet
    series = rollups.reports.timeseries(1, "avg_reply_time", DAY, DAY)
    assert series.stale_seconds == pytest.approx(12.0, abs=0.01)
    # Raw events are never stale: another zone (or hourly) reads them, with the host's row.
    raw = rollups.reports.summary(1, "account", DAY, DAY, timezone="UTC")
    assert raw.source.value == "raw"
    assert raw.stale_seconds is None

    rollups.sync()
    synced = summary()
    assert synced.stale_seconds is None
    assert synced.rows[0].avg_reply_time == 6.5


def test_status_of_every_account(host_url: str, clock: Clock) -> None:
    with open_rollups(host_url, clock=clock) as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.set_timezone(2, ZONE, rebuild=False)
        host_insert(host_url, (5, "reply_time", 1, 4, 5, None, AT))  # account 4: no settings
        found = {a.account_id: a for a in rollups.status().accounts}
        assert sorted(found) == [1, 2, 4]
        assert not found[1].rebuild_pending
        assert found[2].rebuild_pending
        assert found[2].source.value == "raw"
        assert found[4].settings.timezone is None
        assert found[4].raw_events == 1
        assert not found[4].rebuild_pending
        assert rollups.status().capture is not None
        assert not rollups.status().capture.installed  # type: ignore[union-attr]
        (unknown,) = rollups.status(99).accounts
        assert (unknown.raw_events, unknown.rollup_rows, unknown.pending) == (0, 0, 0)


def test_status_in_memory_has_no_capture() -> None:
    with open_rollups("memory://") as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.record([event(1)])
        report = rollups.status()
        assert report.capture is None
        (account,) = report.accounts
        assert (account.raw_events, account.pending, account.last_sync) == (1, 0, None)
        assert account.rollup_rows > 0


def test_status_command(tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'status.db'}"
    with open_rollups(db) as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.capture.install()
    host_insert(db, (1, "reply_time", 10, 1, 5, None, AT))
    runner = CliRunner()
    table = runner.invoke(app, ["--db", db, "status"])
    assert table.exit_code == 0, table.output
    assert "change capture installed; 1 change(s) pending" in table.stdout
    assert ZONE[:8] in table.stdout
    data = json.loads(runner.invoke(app, ["--db", db, "status", "-a", "1", "-f", "json"]).stdout)
    assert data["capture"]["installed"] is True
    (account,) = data["accounts"]
    assert account["account_id"] == 1
    assert account["pending"] == 1
    assert account["lag_seconds"] >= 0
    assert account["last_sync"] is None
    assert account["rebuild_pending"] is False
    verified = runner.invoke(app, ["--db", db, "verify", "-a", "1"])
    assert verified.exit_code == 0, verified.output
    assert "1 captured change(s) pending" in verified.stdout
    assert "not compared: 2026-11-20" in verified.stdout
    assert runner.invoke(app, ["--db", db, "sync"]).exit_code == 0
    data = json.loads(runner.invoke(app, ["--db", db, "status", "-f", "json"]).stdout)
    assert data["accounts"][0]["pending"] == 0
    assert data["accounts"][0]["last_sync"] is not None
    bad = runner.invoke(app, ["--db", db, "status", "-f", "yaml"])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output

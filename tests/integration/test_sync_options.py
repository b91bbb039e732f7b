"""`rollups sync` with its host options (issue 10): `--scan` for a host that forbids triggers,
`--zones-from` for the zones a host keeps, and the live status line of `--follow` on a
terminal. The use cases themselves are tested in test_scan.py and test_zones_from.py."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting_rollups.adapters import host_zones, open_rollups
from reporting_rollups.adapters.cli import app
from reporting_rollups.domain.errors import ConfigurationError
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.integration.test_sync import AT, ZONE, expected, host_insert, rows
from tests.reference_schema import reference_statements

CLI = (sys.executable, "-m", "reporting_rollups.adapters.cli")


def cli(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--db", db, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_sync_scan_folds_inserts_and_deletes_without_capture(host_url: str) -> None:
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE)
        host_insert(host_url, *[(i, "reply_time", i, 1, 5, None, AT) for i in range(1, 6)])
        code, out = cli(host_url, "sync", "--scan")
        assert code == 0, out
        assert "scan: 1 account(s) changed without capture" in out
        assert rows(rollups) == expected(rollups)
        host_sql(host_url, "DELETE FROM reporting_events WHERE id IN (2, 3)")
        code, out = cli(host_url, "sync", "--scan")
        assert code == 0, out
        assert "dropped 2 mark(s) of deleted rows" in out
        assert rows(rollups) == expected(rollups)
        assert rollups.verify(1).clean
        code, out = cli(host_url, "sync", "--scan")
        assert "scan:" not in out  # nothing more to find


def test_sync_zones_from_chatwoot(host_url: str) -> None:
    dialect = "sqlite" if host_url.startswith("sqlite") else "postgresql"
    host_sql(host_url, *reference_statements(dialect, ("accounts",)))
    host_sql(
        host_url,
        "INSERT INTO accounts (id, name, created_at, updated_at, settings) VALUES "
        "(1, 'a', '2026-01-01', '2026-01-01', '{\"reporting_timezone\": "
        '"Eastern Time (US & Canada)"}\'), '
        "(2, 'b', '2026-01-01', '2026-01-01', '{\"reporting_timezone\": \"Mars/Olympus\"}')",
    )
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.set_timezone(2, "UTC")
        host_insert(host_url, (1, "reply_time", 4, 1, 5, None, AT))
        code, out = cli(host_url, "sync", "--zones-from", "chatwoot", "--catch-up")
        assert code == 0, out
        assert "zones: account 1 takes the host's zone" in out
        assert "warning: zones: account 2 keeps its zone and rollups" in out
        assert "Mars/Olympus" in out
        assert rollups.account(1).timezone == ZONE
        assert rollups.account(1).rollup_timezone == ZONE
        assert rollups.account(2).timezone == "UTC"
        assert rows(rollups) == expected(rollups)
        code, out = cli(host_url, "sync", "--zones-from", "chatwoot")
        assert "takes the host's zone" not in out  # unchanged: nothing to do
        code, out = cli(host_url, "sync", "--zones-from", "bogus")
        assert code == 2
        assert "unknown zone source 'bogus'" in out


def test_host_zones_refuses_memory() -> None:
    with open_rollups("memory://") as rollups, pytest.raises(ConfigurationError, match="SQL"):
        host_zones(rollups, "chatwoot")


def test_sync_follow_shows_a_live_status_line_on_a_terminal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    with open_rollups(db, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, ZONE)
        rollups.capture.install()
    host_insert(db, (1, "reply_time", 4, 1, 5, None, AT))
    leader, follower = pty.openpty()
    daemon = subprocess.Popen(
        [*CLI, "--db", db, "sync", "--follow", "--interval", "0.1"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"pass(es), applied 1" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                seen += os.read(leader, 4096)
        daemon.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while daemon.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:
                    break
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert "applied 1, retracted 0, consumed 1 change(s)" in text
    assert "following:" in text
    assert "applied 1" in text.split("following:")[-1]
    assert "stopped: applied 1, retracted 0, consumed 1 change(s) in all" in text
    assert "Traceback" not in text

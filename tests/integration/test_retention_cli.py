"""`rollups purge` and the sealed-days refusals on the command line (issue 11, part 1)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.cli import EXIT_USAGE, app
from tests.builders import event, utc
from tests.conftest import fixed_clock


def run(db: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--db", db, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_purge_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'purge.db'}"
    with open_rollups(db, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        rollups.record([event(n, at=utc(2026, 11, n, 12)) for n in range(1, 9)])
        rollups.record([event(100, at=utc(2026, 11, 1, 12), account_id=2)])  # no zone
        rows = rollups.rows(1)

    code, _out, err = run(db, "purge", "--all", "--before", "2026-11-05", "--dry-run")
    assert code == 0, err
    assert "account 2: skipped (no reporting zone" in err
    assert "account 1 (UTC): purge 4 raw event(s) of 4 local day(s) before 2026-11-05" in err
    code, out, err = run(db, "purge", "--account", "1", "--before", "2026-11-05", "--yes")
    assert code == 0, err
    assert "account 1: purged 4 raw event(s); days before 2026-11-05 are sealed" in out
    with open_rollups(db, clock=fixed_clock) as rollups:
        assert rollups.rows(1) == rows
        assert [e.id for e in rollups.events(range(200))] == [5, 6, 7, 8, 100]
        assert rollups.verify(1).horizon is not None
        (status,) = rollups.status(1).accounts
        assert str(status.horizon) == "2026-11-05"
        assert status.as_dict()["horizon"] == "2026-11-05"

    code, out, err = run(db, "verify", "-a", "1")
    assert code == 0, err
    code, _out, err = run(db, "backfill", "-a", "1", "--since", "2026-11-01", "--yes")
    assert code == EXIT_USAGE
    assert "days before 2026-11-05 are sealed" in err
    code, _out, err = run(db, "set-timezone", "1", "Asia/Tokyo")
    assert code == EXIT_USAGE
    assert "--drop-sealed-history" in err
    code, out, err = run(db, "set-timezone", "1", "Asia/Tokyo", "--drop-sealed-history")
    assert code == 0, err
    code, _out, err = run(
        db,
        "report",
        "summary",
        "-a",
        "1",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-08",
        "--timezone",
        "UTC",
    )
    assert code == 0, err
    assert "sealed" not in err  # the history was dropped with the zone change

    for args in (
        ("purge", "--before", "2026-11-05"),
        ("purge", "-a", "1", "--all", "--before", "2026-11-05"),
    ):
        code, _out, err = run(db, *args)
        assert code == EXIT_USAGE
        assert "give --account ID or --all" in err
    code, _out, err = run(db, "purge", "-a", "2", "--before", "2026-11-05", "--yes")
    assert code == EXIT_USAGE
    assert "account 2 has no reporting_timezone" in err
    code, _out, err = run(db, "purge", "-a", "1", "--before", "2026-13-05")
    assert code == EXIT_USAGE


def test_a_raw_report_over_sealed_days_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'sealed.db'}"
    with open_rollups(db, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        rollups.record([event(n, at=utc(2026, 11, n, 12)) for n in range(1, 9)])
        rollups.purge(utc(2026, 11, 5).date(), 1)
    code, _out, err = run(
        db,
        "report",
        "summary",
        "-a",
        "1",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-08",
        "--timezone",
        "Asia/Tokyo",
    )
    assert code == 0, err
    assert "warning: days before 2026-11-05 are sealed" in err


def test_verify_of_an_account_whose_rebuild_is_pending_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pending.db'}"
    with open_rollups(db, clock=fixed_clock) as rollups:
        rollups.set_timezone(1, "UTC")
        rollups.record([event(n, at=utc(2026, 11, n, 12)) for n in range(1, 9)])
        rollups.set_timezone(1, "Asia/Tokyo", rebuild=False)
        assert rollups.verify(1).rebuild_pending
    code, out, _err = run(db, "verify", "-a", "1")
    assert code == 1
    assert len(out.strip().splitlines()) == 1
    assert "not built in its zone yet" in out
    assert "rollups rebuild --account 1" in out
    assert run(db, "rebuild", "-a", "1")[0] == 0
    code, out, _err = run(db, "verify", "-a", "1")
    assert code == 0
    assert "0 mismatches" in out


def test_retention_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'windows.db'}"
    code, out, err = run(db, "retention", "set", "--days", "90")
    assert code == 0, err
    assert "every account (default): 90 day(s)" in out
    assert run(db, "retention", "set", "--days", "7", "-a", "3")[0] == 0
    code, out, _err = run(db, "retention", "show")
    assert out.splitlines() == ["default: 90 day(s)", "account 3: 7 day(s)"]
    code, out, _err = run(db, "retention", "show", "-f", "json")
    assert '"default_days": 90' in out
    assert run(db, "retention", "clear", "-a", "3")[0] == 0
    assert run(db, "retention", "clear")[0] == 0
    assert run(db, "retention", "show")[1].splitlines() == ["default: none"]
    code, _out, err = run(db, "retention", "set", "--days", "0")
    assert code == EXIT_USAGE
    assert "retention days = 0" in err

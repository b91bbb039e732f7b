"""Zones from the host (issue 10, item 4): `ZoneSync` over `host_zones(...)` applies the zones a
host keeps in Chatwoot's `accounts.settings->>'reporting_timezone'` (the reference schema's
`accounts` table, beside the library's tables) with the rules of `set_timezone`, on SQLite and
PostgreSQL; Rails names map to IANA zones; other values are rejected per account, which keeps
its zone and rollups."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from reporting_rollups.adapters import open_rollups
from reporting_rollups.adapters.sql.host_zones import host_zones
from reporting_rollups.application import host_zones as host_zones_module
from reporting_rollups.application.backfill import BackfillResult
from reporting_rollups.application.host_zones import ZoneRejection, ZoneSync, ZoneSyncResult
from reporting_rollups.application.ports import AccountSettings, Progress
from reporting_rollups.application.service import Rollups
from reporting_rollups.application.settings import AccountSettingsService
from reporting_rollups.domain.errors import ConfigurationError, ZoneChangedError
from tests.builders import event, utc
from tests.conftest import fixed_clock
from tests.host_db import host_sql
from tests.reference import assert_rollups_match
from tests.reference_schema import reference_statements

# 03:30 UTC on the 20th: the 19th in New York, the 20th in UTC and Tokyo.
EVENTS = [
    event(n, "reply_time", value=n, at=utc(2026, 11, 20, 3, 30), account_id=account, user_id=1)
    for account in range(1, 6)
    for n in (account * 10, account * 10 + 1)
] + [
    event(100 + a, "first_response", value=1, at=utc(2026, 11, 21, 20), account_id=a)
    for a in (1, 2)
]


def dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def quoted(value: Any) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def settings_of(zone: object) -> str:
    return json.dumps({} if zone is None else {"reporting_timezone": zone})


def host_accounts(url: str, zones: dict[int, object]) -> None:
    """Insert host accounts whose settings hold these zones (None: no setting)."""
    values = ", ".join(
        f"({account}, 'Account {account}', '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
        f"{quoted(settings_of(zone))})"
        for account, zone in zones.items()
    )
    host_sql(
        url, f"INSERT INTO accounts (id, name, created_at, updated_at, settings) VALUES {values}"
    )


def host_zone(url: str, account: int, zone: object) -> None:
    """The host changes an account's zone (through its settings, as Rails does)."""
    host_sql(
        url, f"UPDATE accounts SET settings = {quoted(settings_of(zone))} WHERE id = {account}"
    )


@pytest.fixture
def host(host_url: str) -> Iterator[tuple[str, Rollups]]:
    """The host's database with its `accounts` table, the library's tables and events of
    accounts 1 to 5 (recorded before any zone: stored, not rolled up)."""
    host_sql(host_url, *reference_statements(dialect(host_url), ("accounts",)))
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        rollups.record(EVENTS)
        yield host_url, rollups


def zone_sync(rollups: Rollups, source: str = "chatwoot") -> ZoneSync:
    return ZoneSync(host_zones(rollups.uow_factory, source), rollups.settings, rollups.uow_factory)


def assert_current(rollups: Rollups, account: int, zone: str) -> None:
    settings = rollups.account(account)
    assert (settings.timezone, settings.rollup_timezone) == (zone, zone)
    assert_rollups_match(rollups, account, zone, EVENTS)


def test_the_hosts_zones_are_set_and_rebuilt(host: tuple[str, Rollups]) -> None:
    url, rollups = host
    host_accounts(url, {1: "Asia/Tokyo", 2: "Eastern Time (US & Canada)"})
    result = zone_sync(rollups).run()
    assert result == ZoneSyncResult([1, 2], 2, [])
    assert_current(rollups, 1, "Asia/Tokyo")
    assert_current(rollups, 2, "America/New_York")
    assert rollups.account(3) == AccountSettings(3)  # not a host account

    assert zone_sync(rollups).run() == ZoneSyncResult([], 0, [])  # nothing changed
    assert rollups.account(1).generation == 1

    host_zone(url, 1, "America/New_York")
    host_zone(url, 2, "Tokyo")  # Rails' name of Asia/Tokyo
    assert zone_sync(rollups).run() == ZoneSyncResult([1, 2], 2, [])
    assert_current(rollups, 1, "America/New_York")
    assert_current(rollups, 2, "Asia/Tokyo")
    assert rollups.account(1).generation == 2


def test_a_value_naming_no_zone_leaves_the_account_alone(
    host: tuple[str, Rollups], caplog: pytest.LogCaptureFixture
) -> None:
    url, rollups = host
    rollups.set_timezone(1, "Europe/Berlin")
    rollups.set_timezone(2, "Asia/Kolkata")
    before = {account: (rollups.account(account), rollups.rows(account)) for account in (1, 2)}
    host_accounts(url, {1: "Mars/Olympus_Mons", 2: 5, 3: "UTC"})
    with caplog.at_level(logging.WARNING, logger=host_zones_module.__name__):
        result = zone_sync(rollups).run()
    assert result.changed == [3]
    assert [(r.account_id, r.value) for r in result.rejected] == [
        (1, "Mars/Olympus_Mons"),
        (2, "5"),
    ]
    assert "Mars/Olympus_Mons" in result.rejected[0].reason
    assert {
        account: (rollups.account(account), rollups.rows(account)) for account in (1, 2)
    } == before
    assert_current(rollups, 3, "UTC")
    warnings = [
        record.getMessage() for record in caplog.records if record.levelno == logging.WARNING
    ]
    assert len(warnings) == 2
    assert "account 1 keeps its zone and rollups" in warnings[0]
    assert "Mars/Olympus_Mons" in warnings[0]


@pytest.mark.parametrize(
    "settings",
    [
        "{}",
        '{"reporting_timezone": null}',
        '{"reporting_timezone": ""}',
        '{"reporting_timezone": "  "}',
        "[]",
        None,
    ],
)
def test_no_zone_on_the_host_leaves_the_operators_zone(
    host: tuple[str, Rollups], settings: str | None
) -> None:
    url, rollups = host
    rollups.set_timezone(1, "Europe/Berlin")
    before = rollups.account(1), rollups.rows(1)
    host_accounts(url, {1: None})
    host_sql(url, f"UPDATE accounts SET settings = {quoted(settings)} WHERE id = 1")
    assert zone_sync(rollups).run() == ZoneSyncResult([], 0, [])
    assert (rollups.account(1), rollups.rows(1)) == before


def test_the_hosts_accounts_are_read_page_by_page(
    host: tuple[str, Rollups], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, rollups = host
    monkeypatch.setattr(host_zones_module, "ZONES_PER_PAGE", 2)
    host_accounts(url, {1: "UTC", 2: "Asia/Tokyo", 3: "Bogus", 4: None, 5: "Hawaii"})
    result = zone_sync(rollups).run()
    assert (result.changed, result.rebuilt) == ([1, 2, 5], 3)
    assert [rejection.account_id for rejection in result.rejected] == [3]
    assert_current(rollups, 5, "Pacific/Honolulu")


def test_a_custom_sql_source(host: tuple[str, Rollups]) -> None:
    url, rollups = host
    host_sql(
        url,
        "CREATE TABLE account_zones (account integer PRIMARY KEY, zone character varying)",
        "INSERT INTO account_zones VALUES (4, 'Sydney'), (5, 'Europe/Paris')",
    )
    query = "sql:SELECT account, zone FROM account_zones WHERE account > :after"
    query += " ORDER BY account LIMIT :limit"
    assert zone_sync(rollups, query).run() == ZoneSyncResult([4, 5], 2, [])
    assert_current(rollups, 4, "Australia/Sydney")
    assert_current(rollups, 5, "Europe/Paris")


def test_a_missing_accounts_table_is_a_clear_error(host_url: str) -> None:
    with open_rollups(host_url, clock=fixed_clock) as rollups:
        sync = zone_sync(rollups)
        with pytest.raises(ConfigurationError, match="accounts") as raised:
            sync.run()
    message = str(raised.value)
    assert "source 'chatwoot'" in message
    assert "host's database" in message
    assert "rollups migrate" not in message  # not the library's schema


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rails", "unknown zone source 'rails'"),
        ("sql:", "unknown zone source"),
        ("sql:SELECT id, 'UTC' FROM accounts", ":after and :limit"),
        ("sql:SELECT id FROM accounts WHERE id > :after AND id < :upto LIMIT :limit", "no other"),
    ],
)
def test_bad_sources(host: tuple[str, Rollups], source: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        host_zones(host[1].uow_factory, source)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT id FROM accounts WHERE id > :after LIMIT :limit", "not \\(account_id, zone\\)"),
        (
            "SELECT 'x', 'UTC' FROM accounts WHERE id > :after LIMIT :limit",
            "not \\(account_id, zone\\)",
        ),
        ("SELECT id, zone FROM accounts WHERE id > :after LIMIT :limit", "check the zone query"),
        ("SELEC id FROM accounts WHERE id > :after LIMIT :limit", "check the zone query"),
        ("SELECT 1, 'UTC' WHERE :after >= 0 LIMIT :limit", "ids above it, ascending"),
    ],
)
def test_bad_queries_are_configuration_errors(
    host: tuple[str, Rollups], query: str, expected: str
) -> None:
    url, rollups = host
    host_accounts(url, {1: "UTC", 2: "UTC"})
    with pytest.raises(ConfigurationError, match=expected):
        zone_sync(rollups, f"sql:{query}").run()


def test_zones_from_the_host_need_a_sql_database() -> None:
    with (
        open_rollups("memory://") as rollups,
        pytest.raises(ConfigurationError, match="need a SQL database"),
    ):
        host_zones(rollups.uow_factory, "chatwoot")


# --- the use case on its own (memory backend, a listed source) ---------------------------------


@attrs.frozen
class ListedZones:
    """A `HostZones` from a list, paged as the port says (or not, with `ignore_after`)."""

    rows: list[tuple[int, str | None]]
    ignore_after: bool = False

    def zones(self, after: int, limit: int) -> list[tuple[int, str | None]]:
        return [row for row in self.rows if self.ignore_after or row[0] > after][:limit]


def test_ids_no_account_can_have_are_rejected() -> None:
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        source = ListedZones([(7, "UTC"), (2**31 - 1, "UTC"), (2**31, "UTC"), (2**63, "UTC")])
        result = ZoneSync(source, rollups.settings, rollups.uow_factory).run()
        assert result.changed == [7, 2**31 - 1]
        assert [r.account_id for r in result.rejected] == [2**31, 2**63]
        assert result.rejected[0] == ZoneRejection(2**31, "UTC", result.rejected[0].reason)
        assert "outside 1 to 2147483647" in result.rejected[0].reason


def test_a_source_that_does_not_page_is_refused() -> None:
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        source = ListedZones([(1, "UTC")], ignore_after=True)  # would repeat itself forever
        with pytest.raises(ConfigurationError, match="ascending"):
            ZoneSync(source, rollups.settings, rollups.uow_factory).run()
        unsorted = ListedZones([(2, "UTC"), (1, "UTC")], ignore_after=True)
        with pytest.raises(ConfigurationError, match="ascending"):
            ZoneSync(unsorted, rollups.settings, rollups.uow_factory).run()


@attrs.frozen
class RacedSettings(AccountSettingsService):
    """Sets the zone, then fails as a rebuild does when the zone changed again meanwhile."""

    def set_timezone(
        self,
        account_id: int,
        timezone: str | None,
        *,
        rebuild: bool = True,
        progress: Progress | None = None,
    ) -> BackfillResult | None:
        super().set_timezone(account_id, timezone, rebuild=False)
        raise ZoneChangedError(account_id, "Asia/Tokyo")


def test_a_zone_changed_during_the_rebuild_is_left_to_that_change() -> None:
    with open_rollups("memory://", clock=fixed_clock) as rollups:
        settings = RacedSettings(rollups.uow_factory, rollups.backfiller)
        source = ListedZones([(1, "UTC"), (2, "Asia/Tokyo")])
        result = ZoneSync(source, settings, rollups.uow_factory).run()
        assert (result.changed, result.rebuilt) == ([1, 2], 0)
        assert rollups.account(2).timezone == "Asia/Tokyo"

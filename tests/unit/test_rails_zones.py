"""Rails' time zone names (`domain.rails_zones`): the table, and resolving a host's zone value."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from reporting_rollups.domain.errors import InvalidTimezoneError
from reporting_rollups.domain.rails_zones import RAILS_ZONES, resolve_zone
from reporting_rollups.domain.timezones import iana_names


def test_every_mapped_zone_is_an_accepted_iana_zone() -> None:
    for name, zone in RAILS_ZONES.items():
        assert zone in iana_names(), name
        assert ZoneInfo(zone).key == zone
        assert resolve_zone(name) == (name if name in iana_names() else zone)


def test_the_table_is_activesupports() -> None:
    assert 150 <= len(RAILS_ZONES) <= 160  # ActiveSupport::TimeZone.all: 151 in Rails 7.1
    assert RAILS_ZONES["Eastern Time (US & Canada)"] == "America/New_York"
    assert RAILS_ZONES["International Date Line West"] == "Etc/GMT+12"
    assert RAILS_ZONES["Nuku'alofa"] == "Pacific/Tongatapu"
    assert RAILS_ZONES["Chennai"] == RAILS_ZONES["New Delhi"] == "Asia/Kolkata"
    assert RAILS_ZONES["Quito"] == "America/Lima"  # Rails' own choice, kept as it is


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("Mumbai", "Asia/Kolkata"),
        ("Berlin", "Europe/Berlin"),
        ("Kyiv", "Europe/Kyiv"),
        ("Asia/Kolkata", "Asia/Kolkata"),  # IANA names pass through
        ("Asia/Calcutta", "Asia/Calcutta"),  # links too, unchanged
        ("US/Eastern", "US/Eastern"),
        ("UTC", "UTC"),  # an IANA name first, although Rails maps it to Etc/UTC
        ("Singapore", "Singapore"),
    ],
)
def test_resolve_zone(value: str, zone: str) -> None:
    assert resolve_zone(value) == zone


@pytest.mark.parametrize(
    "value",
    [
        "eastern time (us & canada)",  # Rails matches names exactly
        "Eastern Time",
        " Berlin",
        "Mars/Olympus_Mons",
        "localtime",
        "posix/Europe/Berlin",
        "",
        "garbage",
        None,
        5,
    ],
)
def test_anything_else_is_an_invalid_zone_naming_the_value(value: object) -> None:
    with pytest.raises(InvalidTimezoneError) as raised:
        resolve_zone(value)  # type: ignore[arg-type]
    assert raised.value.value == value
    assert repr(value) in str(raised.value)


def test_a_rails_name_whose_zone_the_system_lacks_is_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(RAILS_ZONES, "Atlantis", "Atlantic/Atlantis")
    with pytest.raises(InvalidTimezoneError, match="Atlantic/Atlantis"):
        resolve_zone("Atlantis")

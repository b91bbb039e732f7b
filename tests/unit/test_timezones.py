"""Reporting time zones: validation, local dates and the UTC bounds of local days."""

from __future__ import annotations

import itertools
import random
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from reporting_rollups.domain.errors import InvalidRangeError, InvalidTimezoneError, RollupError
from reporting_rollups.domain.limits import (
    MAX_CREATED_AT,
    MAX_LOCAL_DATE,
    MIN_CREATED_AT,
    MIN_LOCAL_DATE,
)
from reporting_rollups.domain.timezones import (
    NOT_ZONES,
    LocalDay,
    iana_names,
    local_date,
    local_day,
    local_days,
    parse_timezone,
)

MICROSECOND = timedelta(microseconds=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- parse_timezone ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["UTC", "Asia/Kolkata", "America/New_York", "America/Argentina/Buenos_Aires", "Etc/GMT+5"],
)
def test_parse_timezone_accepts_iana_names(name: str) -> None:
    zone = parse_timezone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        "EST5EDT ",
        " EST5EDT",
        "Asia/ Kolkata",
        "Invalid/Zone",
        "Mars/Olympus_Mons",
        "../etc/passwd",
        "/etc/localtime",
        "Asia/Kolkata/",
        "Asia//Kolkata",
        "asia\\kolkata",
        "UTC\x00",
    ],
)
def test_parse_timezone_rejects_bad_names(name: str) -> None:
    with pytest.raises(InvalidTimezoneError) as caught:
        parse_timezone(name)
    assert isinstance(caught.value, RollupError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.value == name
    assert repr(name) in str(caught.value)
    assert "reporting_timezone" in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "localtime",
        "posixrules",
        "Factory",
        "posix/UTC",
        "posix/Europe/Berlin",
        "right/UTC",
        "right/America/New_York",
        "utc",
        "us/eastern",
    ],
)
def test_zoneinfo_files_that_are_not_iana_zone_names_are_rejected(name: str) -> None:
    # `localtime`, `Factory` and the `posix/` and `right/` trees load as ZoneInfo on this
    # system (`right/` days include leap seconds); none of them is an IANA zone name.
    with pytest.raises(InvalidTimezoneError) as caught:
        parse_timezone(name)
    assert caught.value.value == name
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize(
    "name", ["UTC", "Etc/UTC", "GMT", "Asia/Calcutta", "US/Eastern", "Europe/Kiev", "EST5EDT"]
)
def test_iana_links_stay_valid(name: str) -> None:
    assert parse_timezone(name).key == name


def test_the_accepted_names_are_the_iana_zones_and_links_zoneinfo_knows() -> None:
    names = iana_names()
    assert names <= zoneinfo.available_timezones()
    assert not names & NOT_ZONES
    assert not any(name.startswith(("posix/", "right/")) for name in names)
    assert {"UTC", "Asia/Calcutta", "Asia/Kolkata", "US/Eastern", "America/New_York"} <= names
    # Everything else zoneinfo lists is accepted (every name parses).
    assert all(parse_timezone(name).key == name for name in sorted(names))


@pytest.mark.parametrize("value", [None, 5, 3.5, b"UTC", ["UTC"]])
def test_parse_timezone_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidTimezoneError) as caught:
        parse_timezone(value)  # type: ignore[arg-type]
    assert repr(value) in str(caught.value)


# --- local_date ----------------------------------------------------------------------------


def test_local_date_converts_the_instant() -> None:
    new_york = ZoneInfo("America/New_York")
    assert local_date(utc(2026, 11, 1, 3, 59, 59), new_york) == date(2026, 10, 31)
    assert local_date(utc(2026, 11, 1, 4, 0), new_york) == date(2026, 11, 1)
    kolkata = ZoneInfo("Asia/Kolkata")
    assert local_date(utc(2026, 11, 20, 18, 29, 59), kolkata) == date(2026, 11, 20)
    assert local_date(utc(2026, 11, 20, 18, 30), kolkata) == date(2026, 11, 21)


# --- local_day: exact bounds ---------------------------------------------------------------

BOUNDS = [
    # DST gap: 23 hours.
    ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
    # DST fold: 25 hours; the day starts at the first midnight.
    ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),
    ("America/New_York", date(2026, 11, 2), utc(2026, 11, 2, 5), utc(2026, 11, 3, 5)),
    # +05:45 all year.
    ("Asia/Kathmandu", date(2026, 1, 15), utc(2026, 1, 14, 18, 15), utc(2026, 1, 15, 18, 15)),
    # +12:45 / +13:45, switching at 02:45 local.
    ("Pacific/Chatham", date(2026, 9, 27), utc(2026, 9, 26, 11, 15), utc(2026, 9, 27, 10, 15)),
    ("Pacific/Chatham", date(2026, 4, 5), utc(2026, 4, 4, 10, 15), utc(2026, 4, 5, 11, 15)),
    ("Pacific/Chatham", date(2026, 7, 1), utc(2026, 6, 30, 11, 15), utc(2026, 7, 1, 11, 15)),
    # Lord Howe: +10:30 / +11, a 30-minute DST.
    ("Australia/Lord_Howe", date(2026, 10, 4), utc(2026, 10, 3, 13, 30), utc(2026, 10, 4, 13)),
    ("Australia/Lord_Howe", date(2026, 4, 5), utc(2026, 4, 4, 13), utc(2026, 4, 5, 13, 30)),
    # Samoa skipped 2011-12-30 entirely.
    ("Pacific/Apia", date(2011, 12, 29), utc(2011, 12, 29, 10), utc(2011, 12, 30, 10)),
    ("Pacific/Apia", date(2011, 12, 30), utc(2011, 12, 30, 10), utc(2011, 12, 30, 10)),
    ("Pacific/Apia", date(2011, 12, 31), utc(2011, 12, 30, 10), utc(2011, 12, 31, 10)),
    # São Paulo sprang forward at midnight (00:00 -> 01:00): the day starts at 01:00.
    ("America/Sao_Paulo", date(2018, 11, 3), utc(2018, 11, 3, 3), utc(2018, 11, 4, 3)),
    ("America/Sao_Paulo", date(2018, 11, 4), utc(2018, 11, 4, 3), utc(2018, 11, 5, 2)),
    # ... and fell back at midnight (00:00 -> 23:00 the day before): 25-hour Saturday.
    ("America/Sao_Paulo", date(2019, 2, 16), utc(2019, 2, 16, 2), utc(2019, 2, 17, 3)),
    ("America/Sao_Paulo", date(2019, 2, 17), utc(2019, 2, 17, 3), utc(2019, 2, 18, 3)),
    # Havana springs forward at midnight and repeats the midnight hour in November.
    ("America/Havana", date(2026, 3, 8), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
    ("America/Havana", date(2026, 11, 1), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),
    # Santiago falls back at 24:00 on Saturday and springs forward at 24:00.
    ("America/Santiago", date(2026, 4, 4), utc(2026, 4, 4, 3), utc(2026, 4, 5, 4)),
    ("America/Santiago", date(2026, 9, 6), utc(2026, 9, 6, 4), utc(2026, 9, 7, 3)),
    # Plain cases.
    ("UTC", date(2026, 11, 23), utc(2026, 11, 23), utc(2026, 11, 24)),
    ("Pacific/Kiritimati", date(2026, 1, 1), utc(2025, 12, 31, 10), utc(2026, 1, 1, 10)),
    ("Pacific/Pago_Pago", date(2026, 1, 1), utc(2026, 1, 1, 11), utc(2026, 1, 2, 11)),
]


@pytest.mark.parametrize(
    ("zone_name", "day", "start", "end"),
    BOUNDS,
    ids=[f"{zone}-{day}" for zone, day, _, _ in BOUNDS],
)
def test_local_day_bounds(zone_name: str, day: date, start: datetime, end: datetime) -> None:
    zone = ZoneInfo(zone_name)
    bounds = local_day(day, zone)
    assert isinstance(bounds, LocalDay)
    assert (bounds.zone, bounds.date) == (zone, day)
    assert (bounds.start, bounds.end) == (start, end)
    assert bounds.start.utcoffset() == timedelta(0)
    assert bounds.end.utcoffset() == timedelta(0)
    if start < end:
        assert local_date(bounds.start, zone) == day
        assert local_date(bounds.end - MICROSECOND, zone) == day
    assert local_date(bounds.start - MICROSECOND, zone) < day
    assert local_date(bounds.end, zone) > day


def test_day_lengths_across_dst() -> None:
    def hours(zone: str, day: date) -> float:
        bounds = local_day(day, ZoneInfo(zone))
        return (bounds.end - bounds.start) / timedelta(hours=1)

    assert hours("America/New_York", date(2026, 3, 8)) == 23
    assert hours("America/New_York", date(2026, 11, 1)) == 25
    assert hours("Australia/Lord_Howe", date(2026, 10, 4)) == 23.5
    assert hours("Australia/Lord_Howe", date(2026, 4, 5)) == 24.5
    assert hours("Pacific/Chatham", date(2026, 9, 27)) == 23
    assert hours("Pacific/Apia", date(2011, 12, 30)) == 0


def test_local_days_are_consecutive_and_inclusive() -> None:
    zone = ZoneInfo("America/New_York")
    days = local_days(date(2026, 10, 30), date(2026, 11, 3), zone)
    assert [d.date for d in days] == [date(2026, 10, 30) + timedelta(n) for n in range(5)]
    assert all(a.end == b.start for a, b in itertools.pairwise(days))
    assert local_days(date(2026, 11, 3), date(2026, 11, 3), zone) == [
        local_day(date(2026, 11, 3), zone)
    ]
    assert local_days(date(2026, 11, 4), date(2026, 11, 3), zone) == []


def test_local_days_over_a_skipped_date() -> None:
    zone = ZoneInfo("Pacific/Apia")
    days = local_days(date(2011, 12, 29), date(2011, 12, 31), zone)
    assert [(d.end - d.start) / timedelta(hours=1) for d in days] == [24, 0, 24]
    assert days[0].end == days[1].start == days[1].end == days[2].start


# --- every zone, every offset change 1970-2037 ---------------------------------------------

_START = int(datetime(1970, 1, 2, tzinfo=UTC).timestamp())
_END = int(datetime(2037, 12, 31, tzinfo=UTC).timestamp())
_WEEK = 7 * 86400


def offset_changes(zone: ZoneInfo) -> Iterator[datetime]:
    """The instants (to the second) where the zone's UTC offset changes, found by a weekly scan
    refined by bisection (two changes within one week would be missed; none is needed here)."""

    def offset(ts: int) -> timedelta | None:
        return datetime.fromtimestamp(ts, zone).utcoffset()

    ts, previous = _START, offset(_START)
    while ts < _END:
        following = ts + _WEEK
        current = offset(following)
        if current != previous:
            low, high = ts, following
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == previous:
                    low = middle
                else:
                    high = middle
            yield datetime.fromtimestamp(high, UTC)
            previous = current
        ts = following


@attrs.frozen
class Sample:
    """One local day of one zone, with its bounds and the offset changes inside them."""

    names: str  #: the zone and every other zone with the same offsets 1970-2037
    zone: ZoneInfo
    day: date
    bounds: LocalDay
    following: LocalDay
    changes: tuple[datetime, ...]


def sample_dates(zone: ZoneInfo, changes: list[datetime], seed: str) -> set[date]:
    """Dates around every offset change, plus random dates across 1970-2037."""
    dates: set[date] = set()
    for change in changes:
        for instant in (change - MICROSECOND, change):
            around = instant.astimezone(zone).date()
            dates.update(around + timedelta(days=n) for n in (-1, 0, 1))
    rng = random.Random(seed)
    first, last = date(1970, 1, 2).toordinal(), date(2037, 12, 30).toordinal()
    dates.update(date.fromordinal(rng.randint(first, last)) for _ in range(12))
    return dates


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    """For every zone: the days around each offset change 1970-2037 and a few random days.

    Zones whose offsets are the same over the whole period (aliases such as US/Eastern and
    America/New_York) have the same local days there, so each group is checked once.
    """
    groups: dict[tuple[object, ...], list[str]] = {}
    found_changes: dict[str, list[datetime]] = {}
    for name in sorted(iana_names()):
        zone = parse_timezone(name)
        changes = list(offset_changes(zone))
        signature = (
            datetime.fromtimestamp(_START, zone).utcoffset(),
            *((change, change.astimezone(zone).utcoffset()) for change in changes),
        )
        groups.setdefault(signature, []).append(name)
        found_changes[name] = changes
    found = []
    for names in groups.values():
        zone, changes = parse_timezone(names[0]), found_changes[names[0]]
        for day in sorted(sample_dates(zone, changes, names[0])):
            bounds = local_day(day, zone)
            inside = tuple(c for c in changes if bounds.start < c < bounds.end)
            following = local_day(day + timedelta(days=1), zone)
            found.append(Sample(", ".join(names), zone, day, bounds, following, inside))
    return found


def test_day_bounds_are_consistent_in_every_zone(samples: list[Sample]) -> None:
    """For every zone and date D: local_date(start) >= D > local_date(start - 1µs), and the end
    is the next day's start."""
    problems = [
        f"{s.names} {s.day}: [{s.bounds.start}, {s.bounds.end})"
        for s in samples
        if not (
            local_date(s.bounds.start, s.zone)
            >= s.day
            > local_date(s.bounds.start - MICROSECOND, s.zone)
            and s.bounds.start <= s.bounds.end == s.following.start
        )
    ]
    assert len(samples) > 25_000
    assert not problems, "\n".join(problems)


def test_every_instant_of_a_local_day_has_that_local_date(samples: list[Sample]) -> None:
    """`local_date` agrees with the day bounds: every instant in [start(D), start(D+1)) has
    local date D (checked at the first and last instant and around every offset change inside
    the day). The live path buckets with `local_date`, the backfill with the bounds, so this is
    what makes the two agree, even where the wall clock is set back across midnight."""
    problems = []
    for s in samples:
        if s.bounds.start == s.bounds.end:
            continue
        probes = [s.bounds.start, s.bounds.end - MICROSECOND]
        probes += [instant for change in s.changes for instant in (change - MICROSECOND, change)]
        wrong = sorted({local_date(p, s.zone) for p in probes} - {s.day})
        if wrong:
            problems.append(
                f"{s.names} {s.day}: [{s.bounds.start}, {s.bounds.end}) also holds local "
                f"dates {', '.join(map(str, wrong))}"
            )
    assert not problems, f"{len(problems)} non-contiguous local days:\n" + "\n".join(problems)


#: Wall clocks set back across midnight: day D begins, then the previous date shows again.
MIDNIGHT_CROSSING_FOLDS = [
    # St. John's 1987-2010: 00:01 NDT -> 23:01 NST.
    ("America/St_Johns", utc(1987, 10, 25, 3, 0), date(1987, 10, 25)),
    ("America/Goose_Bay", utc(2010, 11, 7, 3, 30), date(2010, 11, 7)),
    ("America/Moncton", utc(2006, 10, 29, 3, 30), date(2006, 10, 29)),
    # Casey 2010-03-05: 02:00 +11 -> 23:00 +08 on the 4th.
    ("Antarctica/Casey", utc(2010, 3, 4, 15, 30), date(2010, 3, 5)),
]


@pytest.mark.parametrize(("zone_name", "instant", "day"), MIDNIGHT_CROSSING_FOLDS)
def test_local_date_follows_the_bounds_inside_midnight_crossing_folds(
    zone_name: str, instant: datetime, day: date
) -> None:
    zone = ZoneInfo(zone_name)
    assert instant.astimezone(zone).date() == day - timedelta(days=1)  # the wall clock
    bounds = local_day(day, zone)
    assert bounds.start <= instant < bounds.end
    assert local_date(instant, zone) == day
    assert local_date(bounds.start - MICROSECOND, zone) == day - timedelta(days=1)


# --- the dates events can have (domain.limits) ----------------------------------------------


@pytest.mark.parametrize(
    "day", [date(1, 1, 1), date(1899, 12, 30), date(2200, 1, 2), date(9999, 12, 31)]
)
@pytest.mark.parametrize("name", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo", "UTC"])
def test_dates_that_hold_no_accepted_instant_are_an_invalid_range(day: date, name: str) -> None:
    # Near year 1 or 9999 the bounds of such a day overflow (OverflowError before).
    zone = parse_timezone(name)
    with pytest.raises(InvalidRangeError, match=str(day)):
        local_day(day, zone)
    with pytest.raises(InvalidRangeError):
        local_days(min(day, MIN_LOCAL_DATE), max(day, MIN_LOCAL_DATE), zone)


@pytest.mark.parametrize("name", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Manila", "UTC"])
def test_the_first_and_last_dates_events_can_have_have_bounds(name: str) -> None:
    zone = parse_timezone(name)
    first, last = local_day(MIN_LOCAL_DATE, zone), local_day(MAX_LOCAL_DATE, zone)
    assert first.start < MIN_CREATED_AT + timedelta(days=1)
    assert last.end > MAX_CREATED_AT - timedelta(days=1)
    days = local_days(MIN_LOCAL_DATE, date(1900, 1, 2), zone)
    assert [day.date for day in days] == [MIN_LOCAL_DATE + timedelta(days=n) for n in range(3)]
    # Every accepted instant's local day is inside the range, in the zones furthest apart.
    for instant in (MIN_CREATED_AT, MAX_CREATED_AT - MICROSECOND):
        assert MIN_LOCAL_DATE <= local_date(instant, zone) <= MAX_LOCAL_DATE

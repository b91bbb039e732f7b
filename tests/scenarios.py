"""Random scenarios for the invariant (design.md section 2), shared by the unit and contract
property tests.

A scenario is a pool of events (each id with a usual and a conflicting version) and a list of
operations: record batches (with redeliveries, conflicts and late events), retractions,
backfills, time zone changes and rebuilds. `run_scenario` applies them to a `Rollups` and, after
every step, compares each account's rows with `tests.reference` over the events a plain model
says are stored, checks every result the library returns, and at the end runs `verify()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from reporting_rollups.application.live import RetractResult
from reporting_rollups.application.service import Rollups
from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    EventConflictError,
    InvalidRangeError,
    InvalidTimezoneError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.registry import event_names
from tests.builders import utc
from tests.conftest import FIXED_NOW
from tests.reference import Key, Totals, assert_same_rows, plain_rows, reference_rows

settings.register_profile(
    "invariant-memory",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "invariant-sql",
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

ACCOUNTS = (1, 2, 3)
#: DST zones, odd offsets, a 30-minute DST, midnight transitions, +14.
ZONES = (
    "UTC",
    "America/New_York",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/Havana",
    "Pacific/Kiritimati",
    "America/St_Johns",
)
NAMES = (
    "conversation_resolved",
    "first_response",
    "reply_time",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "conversation_bot_handoff",
    "conversation_created",
)
POOL_SIZE = 8
#: Instants near DST changes of the zones above and around the fixed clock's "today".
ANCHORS = (
    utc(2026, 9, 26, 0),  # Chatham: +12:45 -> +13:45 at 14:00 UTC
    utc(2026, 10, 3, 6),  # Lord Howe: +10:30 -> +11 at 15:30 UTC
    utc(2026, 10, 31, 18),  # New York, Havana, St John's fall back on 11-01
    utc(2026, 11, 21, 12),  # yesterday, today (2026-11-23) and tomorrow
)
DAYS = tuple(
    sorted(
        {(anchor + timedelta(days=n)).date() for anchor in ANCHORS for n in (-2, -1, 0, 1, 2, 3)}
    )
)

_offsets = st.one_of(
    st.integers(0, 47).map(lambda h: timedelta(hours=h)),
    st.integers(0, 48 * 4 - 1).map(lambda q: timedelta(minutes=15 * q)),
    st.integers(1, 48 * 4 - 1).map(lambda q: timedelta(minutes=15 * q, microseconds=-1)),
    st.integers(0, 48 * 3600 - 1).map(lambda s: timedelta(seconds=s)),
)
_values = st.one_of(
    st.none(),
    st.integers(0, 100_000).map(float),
    st.floats(-1000.0, 1_000_000.0, allow_nan=False, allow_infinity=False),
)
_small_ids = st.one_of(st.none(), st.integers(1, 3))


@st.composite
def _event_versions(draw: st.DrawFn, event_id: int, anchors: list[datetime]) -> tuple[Event, Event]:
    """An event and a different version of it under the same id (for conflicts)."""
    usual = Event(
        id=event_id,
        name=draw(st.sampled_from(NAMES)),
        account_id=draw(st.sampled_from(ACCOUNTS)),
        created_at=draw(st.sampled_from(anchors)) + draw(_offsets),
        value=draw(_values),
        value_in_business_hours=draw(_values),
        user_id=draw(_small_ids),
        inbox_id=draw(st.one_of(st.none(), st.integers(1, 2))),
        conversation_id=draw(st.one_of(st.none(), st.integers(1, 2))),
    )
    other = attrs.evolve(usual, value=(usual.value or 0.0) + 1.0)
    return usual, other


_pool_ids = st.integers(1, POOL_SIZE)
_record = st.tuples(
    st.just("record"),
    st.lists(
        st.tuples(_pool_ids, st.sampled_from((0, 0, 0, 0, 0, 0, 0, 1))), min_size=1, max_size=5
    ),
)
#: Retractions pick stored events by position (resolved when run), sometimes an unknown id.
_retract = st.tuples(
    st.just("retract"), st.lists(st.integers(0, 9), max_size=3), st.sampled_from((0, 0, 0, 1))
)
_set_timezone = st.tuples(
    st.just("set_timezone"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from((*ZONES, None, "Invalid/Zone")),
    st.booleans(),
)
_rebuild = st.tuples(st.just("rebuild"), st.sampled_from(ACCOUNTS))
_backfill_operation = st.tuples(
    st.just("backfill"),
    st.sampled_from(ACCOUNTS),
    st.one_of(st.none(), st.sampled_from(DAYS)),
    st.one_of(st.none(), st.sampled_from(DAYS)),
)
_operation = st.one_of(
    _record,
    _record,
    _record,
    _record,
    _retract,
    _retract,
    _set_timezone,
    _set_timezone,
    _rebuild,
    _backfill_operation,
    _backfill_operation,
)


@attrs.frozen
class Scenario:
    """Initial zones, the event pool and the operations."""

    zones: tuple[str | None, ...]
    pool: dict[int, tuple[Event, Event]]
    operations: tuple[tuple[Any, ...], ...]

    def __repr__(self) -> str:
        def short(e: Event) -> str:
            return (
                f"{e.id}: {e.name} acct={e.account_id} at={e.created_at.isoformat()} "
                f"value={e.value} bh={e.value_in_business_hours} user={e.user_id} "
                f"inbox={e.inbox_id} conv={e.conversation_id}"
            )

        used = sorted({i for op in self.operations if op[0] == "record" for i, _ in op[1]})
        lines = [f"zones={self.zones}", "events (version 1 has value + 1):"]
        lines += [f"  {short(self.pool[i][0])}" for i in used]
        lines += ["operations:"] + [f"  {op}" for op in self.operations]
        return "\n".join(lines)


@st.composite
def scenarios(draw: st.DrawFn, max_operations: int = 10) -> Scenario:
    """A random scenario."""
    zones = tuple(
        draw(st.sampled_from((*ZONES, None) if index == 0 else (*ZONES, None, None)))
        for index, _ in enumerate(ACCOUNTS)
    )
    # Events of one scenario cluster around one or two anchors, so that days, conversations and
    # dimensions collide often.
    anchors = draw(st.lists(st.sampled_from(ANCHORS), min_size=1, max_size=2, unique=True))
    pool = {
        event_id: draw(_event_versions(event_id, anchors)) for event_id in range(1, POOL_SIZE + 1)
    }
    operations = tuple(draw(st.lists(_operation, min_size=3, max_size=max_operations)))
    return Scenario(zones, pool, operations)


def local(instant: datetime, zone: str) -> date:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(zone)).date()


@attrs.define
class Model:
    """What should be true: stored events, zones, applied ids, and which days are exact."""

    stored: dict[int, Event] = attrs.field(factory=dict)
    timezone: dict[int, str | None] = attrs.field(factory=lambda: dict.fromkeys(ACCOUNTS))
    rollup_timezone: dict[int, str | None] = attrs.field(factory=lambda: dict.fromkeys(ACCOUNTS))
    applied: set[int] = attrs.field(factory=set)
    #: None: every day of the account is exact; a set: only those days are (after a zone change
    #: without rebuild, until backfilled).
    exact: dict[int, set[date] | None] = attrs.field(factory=lambda: {a: set() for a in ACCOUNTS})

    def events_of(self, account_id: int) -> list[Event]:
        return [e for e in self.stored.values() if e.account_id == account_id]

    def rebuilt(self, account_id: int) -> None:
        self.applied |= {e.id for e in self.events_of(account_id)}
        self.rollup_timezone[account_id] = self.timezone[account_id]
        self.exact[account_id] = None


def _today(zone: str) -> date:
    return local(FIXED_NOW, zone)


def _retract(rollups: Rollups, model: Model, ids: list[int], *, whole: bool) -> RetractResult:
    """`retract(ids)` in one call (`whole`, where ids are global), or one call per account of
    the ids (ids not stored with account 1): a distributed database needs the account."""
    if whole and not getattr(rollups.uow_factory, "distributed", False):
        return rollups.retract(ids)
    groups: dict[int, list[int]] = {}
    for event_id in ids:
        stored = model.stored.get(event_id)
        groups.setdefault(1 if stored is None else stored.account_id, []).append(event_id)
    results = [rollups.retract(group, account_id=account) for account, group in groups.items()]
    return RetractResult(
        sum(r.retracted for r in results),
        sum(r.rolled_back for r in results),
        sum(r.unknown for r in results),
    )


def apply(rollups: Rollups, model: Model, scenario: Scenario, operation: tuple[Any, ...]) -> None:
    """Apply one operation to the library and the model; check what the library returned."""
    kind = operation[0]
    if kind == "record":
        batch = [scenario.pool[event_id][version] for event_id, version in operation[1]]
        by_id: dict[int, Event] = {}
        conflict = False
        for item in batch:
            known = by_id.setdefault(item.id, item)
            stored = model.stored.get(item.id)
            conflict = conflict or known != item or (stored is not None and stored != item)
        if conflict:
            event("record conflict")
            try:
                rollups.record(batch)
            except EventConflictError:
                return
            raise AssertionError(f"record({batch}) did not raise EventConflictError")
        new = [e for e in by_id.values() if e.id not in model.stored]
        rollable = {e.id for e in by_id.values() if model.timezone[e.account_id] is not None}
        fresh = rollable - model.applied
        unsupported = {e.id for e in by_id.values() if e.name not in event_names()}
        result = rollups.record(batch)
        assert (
            result.stored,
            result.duplicates,
            result.rolled_up,
            result.skipped,
            result.unsupported,
        ) == (
            len(new),
            len(batch) - len(new),
            len(fresh - unsupported),
            len(by_id) - len(rollable),
            len(fresh & unsupported),
        ), f"record({batch})"
        model.stored.update((e.id, e) for e in new)
        model.applied |= rollable
    elif kind == "retract":
        present = sorted(model.stored)
        ids = [present[k % len(present)] for k in operation[1]] if present else []
        ids += [POOL_SIZE + 1] * operation[2]
        removed = {i for i in ids if i in model.stored}
        rolled_back = {
            i
            for i in removed
            if i in model.applied and model.timezone[model.stored[i].account_id] is not None
        }
        if any(
            model.timezone[model.stored[i].account_id] is not None for i in removed - model.applied
        ):
            event("retract of a stored event not applied, account with a zone")
        if rolled_back:
            event("retract of applied events")
        retracted = _retract(rollups, model, ids, whole=operation[2] % 2 == 0)
        assert (retracted.retracted, retracted.rolled_back, retracted.unknown) == (
            len(removed),
            len(rolled_back),
            len(set(ids)) - len(removed),
        ), f"retract({ids})"
        for i in removed:
            del model.stored[i]
        model.applied -= removed
    elif kind == "set_timezone":
        _, account_id, zone, rebuild = operation
        if zone == "Invalid/Zone":
            try:
                rollups.set_timezone(account_id, zone, rebuild=rebuild)
            except InvalidTimezoneError:
                return
            raise AssertionError("set_timezone accepted 'Invalid/Zone'")
        event(f"set_timezone rebuild={rebuild} change={model.timezone[account_id] != zone}")
        rebuilt = rollups.set_timezone(account_id, zone, rebuild=rebuild)
        if model.timezone[account_id] != zone:
            model.timezone[account_id] = zone
            model.rollup_timezone[account_id] = None
            model.applied -= {e.id for e in model.events_of(account_id)}
            model.exact[account_id] = set()
        should_rebuild = zone is not None and rebuild and model.rollup_timezone[account_id] != zone
        assert (rebuilt is not None) == should_rebuild, f"set_timezone{operation[1:]}"
        if should_rebuild:
            assert rebuilt is not None
            assert rebuilt.events == len(model.events_of(account_id))
            model.rebuilt(account_id)
    elif kind == "rebuild":
        account_id = operation[1]
        if model.timezone[account_id] is None:
            try:
                rollups.rebuild(account_id)
            except AccountNotConfiguredError:
                return
            raise AssertionError("rebuild of an account without zone did not raise")
        assert rollups.rebuild(account_id).events == len(model.events_of(account_id))
        model.rebuilt(account_id)
    elif kind == "backfill":
        _, account_id, since, until = operation
        _backfill(rollups, model, account_id, since, until)
    else:  # pragma: no cover - the strategies make no other kind
        raise AssertionError(kind)


def _backfill(
    rollups: Rollups, model: Model, account_id: int, since: date | None, until: date | None
) -> None:
    zone = model.timezone[account_id]
    if since is not None and until is not None and since > until:
        try:
            rollups.backfill(account_id, since, until)
        except InvalidRangeError:
            return
        raise AssertionError(f"backfill({account_id}, {since}, {until}) did not raise")
    if zone is None:
        try:
            rollups.backfill(account_id, since, until)
        except AccountNotConfiguredError:
            return
        raise AssertionError("backfill of an account without zone did not raise")
    events = model.events_of(account_id)
    first = min((local(e.created_at, zone) for e in events), default=None)
    last_day = until if until is not None else _today(zone) - timedelta(days=1)
    first_day = since if since is not None else first
    if first_day is not None and first_day > last_day and since is not None:
        try:
            rollups.backfill(account_id, since, until)
        except InvalidRangeError:
            return
        raise AssertionError(f"backfill({account_id}, {since}, {until}) did not raise")
    result = rollups.backfill(account_id, since, until)
    if first_day is None or first_day > last_day:
        assert (result.plan.since, result.events) == (None, 0)
        return
    assert (result.plan.since, result.plan.until) == (first_day, last_day)
    covered = {e.id for e in events if first_day <= local(e.created_at, zone) <= last_day}
    assert result.events == len(covered)
    model.applied |= covered
    exact = model.exact[account_id]
    if exact is not None:
        exact.update(first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))


def check(rollups: Rollups, model: Model, *, verify: bool) -> None:
    """The invariant, account by account."""
    for account_id in ACCOUNTS:
        settings_now = rollups.account(account_id)
        zone = model.timezone[account_id]
        assert (settings_now.timezone, settings_now.rollup_timezone) == (
            zone,
            model.rollup_timezone[account_id],
        ), f"settings of account {account_id}"
        actual = plain_rows(rollups.rows(account_id))
        if zone is None:
            assert actual == {}, f"account {account_id} has no zone but has rows"
            continue
        expected = reference_rows(model.events_of(account_id), zone)
        exact = model.exact[account_id]
        if exact is not None:
            actual = _on_days(actual, exact)
            expected = _on_days(expected, exact)
        assert_same_rows(actual, expected)
        if verify and exact is None:
            assert rollups.verify(account_id).mismatches == [], f"verify({account_id})"


def _on_days(rows: dict[Key, Totals], days: set[date]) -> dict[Key, Totals]:
    return {key: value for key, value in rows.items() if key[1] in days}


def run_scenario(rollups: Rollups, scenario: Scenario) -> None:
    """Apply the scenario to an empty `Rollups`, checking the invariant after every step."""
    model = Model()
    for account_id, zone in zip(ACCOUNTS, scenario.zones, strict=True):
        if zone is not None:
            apply(rollups, model, scenario, ("set_timezone", account_id, zone, True))
    for operation in scenario.operations:
        apply(rollups, model, scenario, operation)
        check(rollups, model, verify=False)
    check(rollups, model, verify=True)


OpenEmpty = Callable[[], Rollups]

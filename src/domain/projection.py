"""The pure projection of events onto rollup rows.

An event contributes, per dimension it has an id for and per metric its name feeds:
- an additive `MetricContribution` to a `RollupKey`, or
- for distinct-conversation metrics (bot handoffs), a *member*: the conversation id under that key.
  The row's count is the number of distinct members; storage keeps the members so the live path,
  retractions and the backfill agree exactly. A handoff without a conversation counts once,
  additively.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping
from datetime import date
from functools import partial
from itertools import product
from zoneinfo import ZoneInfo

from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import (
    DIMENSION_FIELDS,
    DimensionType,
    Metric,
    MetricContribution,
    RollupKey,
)
from reporting_rollups.domain.registry import Payload, event_names, rules_for
from reporting_rollups.domain.timezones import local_dates

#: A distinct-count member: (the rollup row it counts in, the conversation id).
Member = tuple[RollupKey, int]
#: A `RollupKey`'s fields as a plain tuple (equal to the `RollupKey`, same hash).
PlainKey = tuple[int, date, DimensionType, int, Metric]

# Hot-path shapes. While merging, a row's key is a plain tuple (account_id, date, slot,
# dimension_id), where a slot numbers a (dimension, metric) pair, and its count and sums sit at
# the row's position in three plain lists (updated in place: no object per update). No enum
# member sits in a key (enum members are tracked by the garbage collector), so the collector
# stops tracking keys at its first pass: a 10,000-event batch makes ~10k rows, and tracked ones
# made `record()` spend more time in full collections than in merging. `RollupKey` and
# `MetricContribution` are made once per merged row, when storage reads it (`Deltas`).
_Key = tuple[int, date, int, int]
_Row = tuple[int, float, float]
_SLOTS: tuple[tuple[DimensionType, Metric], ...] = tuple(product(DIMENSION_FIELDS, Metric))
_DIMENSION_OF = tuple(dimension for dimension, _metric in _SLOTS)
_METRIC_OF = tuple(metric for _dimension, metric in _SLOTS)
_SLOT_OF = {pair: slot for slot, pair in enumerate(_SLOTS)}
#: Per event name, its (event field of the dimension id, slot, is_duration, is_distinct) for
#: each dimension and each rule of the name: one flat loop per event.
_PLANS: dict[str, tuple[tuple[str, int, bool, bool], ...]] = {
    name: tuple(
        (
            field,
            _SLOT_OF[dimension, rule.metric],
            rule.payload is Payload.DURATION,
            rule.payload is Payload.DISTINCT_CONVERSATIONS,
        )
        for dimension, field in DIMENSION_FIELDS.items()
        for rule in rules_for(name)
    )
    for name in event_names()
}

#: `RollupKey._make` without its Python-level wrapper (a length check our 5-long tuples always
#: pass): half the cost, once per merged row.
_new_key = partial(tuple.__new__, RollupKey)
#: The `MetricContribution` of a (count, sum_value, sum_value_business_hours) tuple: the
#: constructor without its Python-level wrapper, for hot loops (half the cost).
contribution_of: Callable[[tuple[int, float, float]], MetricContribution] = partial(
    tuple.__new__, MetricContribution
)


class Projection:
    """Merged contributions of a batch of events: additive deltas and member occurrence deltas."""

    def __init__(self) -> None:
        self._positions: dict[_Key, int] = {}  #: row key -> its position in the three columns
        self._counts: list[int] = []
        self._values: list[float] = []
        self._business: list[float] = []
        self._members: dict[tuple[_Key, int], int] = {}

    def add(self, event: Event, zone: ZoneInfo, sign: int = 1) -> None:
        """Fold one event (sign=-1 takes it back) into the projection."""
        self.add_all((event,), {event.account_id: zone}, sign)

    def add_all(
        self, events: Iterable[Event], zones: Mapping[int, ZoneInfo], sign: int = 1
    ) -> None:
        """Fold events of accounts in `zones` (sign=-1 takes them back); others are ignored.

        The hot loop of `record()`: locals only, and one `local_dates` finder per zone.
        """
        by_zone = {zone: local_dates(zone) for zone in set(zones.values())}
        dates_of = {account: by_zone[zone] for account, zone in zones.items()}
        plans = _PLANS
        positions, members = self._positions, self._members
        counts, values, businesses = self._counts, self._values, self._business
        get_position, get_member = positions.get, members.get
        for event in events:
            plan = plans.get(event.name)
            if plan is None:
                continue
            account_id = event.account_id
            local_date = dates_of.get(account_id)
            if local_date is None:
                continue
            day = local_date(event.created_at)
            conversation_id = event.conversation_id
            value = event.value or 0.0
            business = event.value_in_business_hours or 0.0
            if sign != 1:
                value, business = value * sign, business * sign
            for field, slot, is_duration, is_distinct in plan:
                dimension_id = getattr(event, field)
                if dimension_id is None:
                    continue
                key = (account_id, day, slot, dimension_id)
                if is_distinct and conversation_id is not None:
                    member = (key, conversation_id)
                    members[member] = get_member(member, 0) + sign
                    continue
                position = get_position(key)
                if position is None:
                    positions[key] = len(counts)
                    counts.append(sign)
                    values.append(value if is_duration else 0.0)
                    businesses.append(business if is_duration else 0.0)
                else:
                    counts[position] += sign
                    if is_duration:
                        values[position] += value
                        businesses[position] += business

    def add_group(
        self,
        account_id: int,
        day: date,
        name: str | None,
        dimension_ids: Mapping[str, int | None],
        member: int | None,
        count: int,
        sum_value: float,
        sum_business: float,
    ) -> None:
        """Fold `count` events of one name, local day and dimension ids (`dimension_ids`, keyed
        by the events' fields) with the given sums: a backfill's partial aggregate. `member` is
        their conversation when the name feeds a distinct-count metric (None: counted
        additively, like a handoff without a conversation)."""
        for field, slot, is_duration, is_distinct in _PLANS.get(name or "", ()):
            dimension_id = dimension_ids.get(field)
            if dimension_id is None:
                continue
            key = (account_id, day, slot, dimension_id)
            if is_distinct and member is not None:
                self._members[key, member] = self._members.get((key, member), 0) + count
            elif is_duration:
                self._add_row(key, count, sum_value, sum_business)
            else:
                self._add_row(key, count, 0.0, 0.0)

    def add_distinct_counts(self, counts: Mapping[RollupKey, int]) -> None:
        """Add count-only deltas (members that appeared or disappeared in storage)."""
        for key, count in counts.items():
            if count:
                self._add_row(_raw_key(key), count, 0.0, 0.0)

    def _add_row(self, key: _Key, count: int, sum_value: float, sum_business: float) -> None:
        position = self._positions.get(key)
        if position is None:
            self._positions[key] = len(self._counts)
            self._counts.append(count)
            self._values.append(sum_value)
            self._business.append(sum_business)
        else:
            self._counts[position] += count
            self._values[position] += sum_value
            self._business[position] += sum_business

    @property
    def deltas(self) -> dict[RollupKey, MetricContribution]:
        """Additive deltas per rollup row (rows whose net count is 0 included)."""
        return {_rollup_key(key): contribution_of((c, v, b)) for key, c, v, b in self._rows()}

    def nonzero_deltas(self) -> Deltas:
        """Additive deltas of the rows whose net count is not 0 (what storage must add)."""
        return Deltas(dict(self._positions), self._counts[:], self._values[:], self._business[:])

    def _rows(self) -> Iterator[tuple[_Key, int, float, float]]:
        # Positions are 0, 1, 2... in insertion order, which is the dict's order.
        return zip(self._positions, self._counts, self._values, self._business, strict=True)

    @property
    def members(self) -> dict[Member, int]:
        """Member occurrence deltas (zeros included)."""
        return {(_rollup_key(key), member): n for (key, member), n in self._members.items()}

    def nonzero_members(self) -> dict[Member, int]:
        """Member occurrence deltas that are not zero."""
        return {(_rollup_key(key), m): n for (key, m), n in self._members.items() if n}

    def totals(self) -> dict[RollupKey, MetricContribution]:
        """Rows of a from-scratch aggregation: deltas plus one count per present member."""
        rows = {key: (c, v, b) for key, c, v, b in self._rows()}
        for (key, _conversation), occurrences in self._members.items():
            if occurrences > 0:
                row = rows.get(key)
                rows[key] = (1, 0.0, 0.0) if row is None else (row[0] + 1, row[1], row[2])
        return {_rollup_key(key): contribution_of(row) for key, row in rows.items() if row[0]}


class Deltas(Mapping[RollupKey, MetricContribution]):
    """The additive deltas of the rows whose net count is not 0: a read-only mapping over a copy
    of a projection's columns, that makes each `RollupKey` and `MetricContribution` when read.

    Why not a dict: a 10,000-event batch has ~10k rows, most of which already exist in storage.
    Made up front, their keys and values (named tuples, which the garbage collector tracks for
    life) all live long enough to reach its oldest generation, and `record()` then spent more
    time in full collections than in merging. Made while storage reads them, those of existing
    rows die at once.
    """

    def __init__(
        self,
        positions: dict[_Key, int],
        counts: list[int],
        values: list[float],
        business: list[float],
    ) -> None:
        self._positions = positions
        self._columns = (counts, values, business)

    def __getitem__(self, key: RollupKey) -> MetricContribution:
        try:
            position = self._positions[_raw_key(key)]
        except (TypeError, IndexError, KeyError):
            raise KeyError(key) from None
        counts, values, business = self._columns
        if not counts[position]:
            raise KeyError(key)
        return contribution_of((counts[position], values[position], business[position]))

    def __iter__(self) -> Iterator[RollupKey]:
        counts = self._columns[0]
        return (
            _rollup_key(key) for key, count in zip(self._positions, counts, strict=True) if count
        )

    def __len__(self) -> int:
        counts = self._columns[0]
        return len(counts) - counts.count(0)

    def items(self) -> ItemsView[RollupKey, MetricContribution]:
        return _DeltaItems(self)

    def rows(self) -> Iterator[tuple[PlainKey, _Row]]:
        """Like `items()`, with plain tuples: the key equal to its `RollupKey` (same fields, same
        hash), the delta as (count, sum_value, sum_value_business_hours). For storage that looks
        rows up without keeping the key: less work than a `RollupKey` and a `MetricContribution`
        per row."""
        dimension_of, metric_of = _DIMENSION_OF, _METRIC_OF
        for (account_id, day, slot, dimension_id), count, value, business in self._zipped():
            if count:
                key = (account_id, day, dimension_of[slot], dimension_id, metric_of[slot])
                yield key, (count, value, business)

    def _pairs(self) -> Iterator[tuple[RollupKey, MetricContribution]]:
        for key, count, value, business in self._zipped():
            if count:
                yield _rollup_key(key), contribution_of((count, value, business))

    def _zipped(self) -> Iterator[tuple[_Key, int, float, float]]:
        # Positions are 0, 1, 2... in insertion order, which is the dict's order.
        return zip(self._positions, *self._columns, strict=True)


class _DeltaItems(ItemsView[RollupKey, MetricContribution]):
    """`Deltas.items()`: iterates the rows directly instead of looking each key up again."""

    _mapping: Deltas

    def __iter__(self) -> Iterator[tuple[RollupKey, MetricContribution]]:
        return self._mapping._pairs()


def _rollup_key(key: _Key) -> RollupKey:
    account_id, day, slot, dimension_id = key
    return _new_key((account_id, day, _DIMENSION_OF[slot], dimension_id, _METRIC_OF[slot]))


def _raw_key(key: RollupKey) -> _Key:
    return (key[0], key[1], _SLOT_OF[key[2], key[4]], key[3])


def project(events: Iterable[Event], zones: Mapping[int, ZoneInfo], sign: int = 1) -> Projection:
    """Project events of accounts in `zones` (events of other accounts are ignored)."""
    projection = Projection()
    projection.add_all(events, zones, sign)
    return projection


def aggregate(
    events: Iterable[Event], zones: Mapping[int, ZoneInfo]
) -> dict[RollupKey, MetricContribution]:
    """The rollup rows that aggregating `events` from scratch gives (distinct members counted)."""
    return project(events, zones).totals()

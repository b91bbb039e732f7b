"""The pure projection of events onto rollup rows.

An event contributes, per dimension it has an id for and per metric its name feeds:
- an additive `MetricContribution` to a `RollupKey`, or
- for distinct-conversation metrics (bot handoffs), a *member*: the conversation id under that key.
  The row's count is the number of distinct members; storage keeps the members so the live path,
  retractions and the backfill agree exactly. A handoff without a conversation counts once,
  additively.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from zoneinfo import ZoneInfo

from domain.events import Event
from domain.metrics import DIMENSION_FIELDS, DimensionType, Metric, MetricContribution, RollupKey
from domain.registry import Payload, event_names, rules_for
from domain.timezones import local_date

#: A distinct-count member: (the rollup row it counts in, the conversation id).
Member = tuple[RollupKey, int]

#: Hot-path shapes: a key as a plain tuple (account_id, date, dimension, dimension_id, metric), and
#: per event name its rules as (metric, is_duration, is_distinct).
_Key = tuple[int, date, DimensionType, int, Metric]
_COMPILED: dict[str, tuple[tuple[Metric, bool, bool], ...]] = {
    name: tuple(
        (
            rule.metric,
            rule.payload is Payload.DURATION,
            rule.payload is Payload.DISTINCT_CONVERSATIONS,
        )
        for rule in rules_for(name)
    )
    for name in event_names()
}
_DIMENSIONS = tuple(DIMENSION_FIELDS.items())


class Projection:
    """Merged contributions of a batch of events: additive deltas and member occurrence deltas.

    Accumulates on plain tuples and lists (the live path's hot loop); `deltas` and `members`
    materialise `RollupKey`/`MetricContribution` once per merged row.
    """

    def __init__(self) -> None:
        self._sums: dict[_Key, list[float]] = {}
        self._members: dict[tuple[_Key, int], int] = {}

    def add(self, event: Event, zone: ZoneInfo, sign: int = 1) -> None:
        """Fold one event (sign=-1 takes it back) into the projection."""
        rules = _COMPILED.get(event.name)
        if not rules:
            return
        day = local_date(event.created_at, zone)
        account_id = event.account_id
        conversation_id = event.conversation_id
        value = event.value
        business = event.value_in_business_hours
        if sign != 1:
            value = (value or 0.0) * sign
            business = (business or 0.0) * sign
        sums = self._sums
        for dimension, field in _DIMENSIONS:
            dimension_id = getattr(event, field)
            if dimension_id is None:
                continue
            for metric, is_duration, is_distinct in rules:
                key = (account_id, day, dimension, dimension_id, metric)
                if is_distinct and conversation_id is not None:
                    member = (key, conversation_id)
                    self._members[member] = self._members.get(member, 0) + sign
                    continue
                row = sums.get(key)
                if row is None:
                    sums[key] = (
                        [sign, value or 0.0, business or 0.0] if is_duration else [sign, 0.0, 0.0]
                    )
                elif is_duration:
                    row[0] += sign
                    if value:
                        row[1] += value
                    if business:
                        row[2] += business
                else:
                    row[0] += sign

    def add_distinct_counts(self, counts: Mapping[RollupKey, int]) -> None:
        """Add count-only deltas (members that appeared or disappeared in storage)."""
        for key, count in counts.items():
            if count:
                raw = _raw_key(key)
                row = self._sums.get(raw)
                if row is None:
                    row = self._sums[raw] = [0, 0.0, 0.0]
                row[0] += count

    @property
    def deltas(self) -> dict[RollupKey, MetricContribution]:
        """Additive deltas per rollup row (rows whose net count is 0 included)."""
        make_key, make_value = RollupKey._make, MetricContribution._make
        return {make_key(key): make_value(row) for key, row in self._sums.items()}

    @property
    def members(self) -> dict[Member, int]:
        """Member occurrence deltas (zeros included)."""
        make_key = RollupKey._make
        return {(make_key(key), member): n for (key, member), n in self._members.items()}

    def nonzero_members(self) -> dict[Member, int]:
        """Member occurrence deltas that are not zero."""
        make_key = RollupKey._make
        return {(make_key(key), m): n for (key, m), n in self._members.items() if n}

    def totals(self) -> dict[RollupKey, MetricContribution]:
        """Rows of a from-scratch aggregation: deltas plus one count per present member."""
        distinct: Counter[RollupKey] = Counter()
        for (key, _conversation), occurrences in self._members.items():
            if occurrences > 0:
                distinct[RollupKey._make(key)] += 1
        rows = self.deltas
        for key, count in distinct.items():
            part = MetricContribution(count, 0.0, 0.0)
            previous = rows.get(key)
            rows[key] = part if previous is None else previous + part
        return {key: value for key, value in rows.items() if value.count != 0}


def _raw_key(key: RollupKey) -> _Key:
    return (key.account_id, key.date, key.dimension_type, key.dimension_id, key.metric)


def project(events: Iterable[Event], zones: Mapping[int, ZoneInfo], sign: int = 1) -> Projection:
    """Project events of accounts in `zones` (events of other accounts are ignored)."""
    projection = Projection()
    for event in events:
        zone = zones.get(event.account_id)
        if zone is not None:
            projection.add(event, zone, sign)
    return projection


def aggregate(
    events: Iterable[Event], zones: Mapping[int, ZoneInfo]
) -> dict[RollupKey, MetricContribution]:
    """The rollup rows that aggregating `events` from scratch gives (distinct members counted)."""
    return project(events, zones).totals()

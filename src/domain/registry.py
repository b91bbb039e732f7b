"""The metric registry: the one place that maps raw event names to rollup metrics.

Every path reads it: the live path (`metrics_for`), the backfill and raw reports (adapters build
their SQL from `RULES`), and the read path (`REPORT_METRICS`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Protocol

import attrs

from reporting_rollups.domain.metrics import Metric, MetricContribution


class Payload(StrEnum):
    """What an event carries into its metric."""

    COUNT = "count"  #: count only; the sums stay 0
    DURATION = "duration"  #: count, sum of value, sum of business-hours value
    DISTINCT_CONVERSATIONS = "distinct_conversations"  #: count of distinct conversations per day


@attrs.frozen
class MetricRule:
    """One event name feeding one metric with one payload."""

    event_name: str
    metric: Metric
    payload: Payload


RULES: Final[tuple[MetricRule, ...]] = (
    MetricRule("conversation_resolved", Metric.RESOLUTIONS_COUNT, Payload.COUNT),
    MetricRule("conversation_resolved", Metric.RESOLUTION_TIME, Payload.DURATION),
    MetricRule("first_response", Metric.FIRST_RESPONSE, Payload.DURATION),
    MetricRule("reply_time", Metric.REPLY_TIME, Payload.DURATION),
    MetricRule("conversation_bot_resolved", Metric.BOT_RESOLUTIONS_COUNT, Payload.COUNT),
    MetricRule(
        "conversation_bot_handoff", Metric.BOT_HANDOFFS_COUNT, Payload.DISTINCT_CONVERSATIONS
    ),
)

_RULES_BY_EVENT: Final[dict[str, tuple[MetricRule, ...]]] = {
    name: tuple(rule for rule in RULES if rule.event_name == name)
    for name in dict.fromkeys(rule.event_name for rule in RULES)
}

#: The payload of each metric (each metric is fed by exactly one rule).
PAYLOADS: Final[dict[Metric, Payload]] = {rule.metric: rule.payload for rule in RULES}


class HasMetricFields(Protocol):
    """Anything shaped like a reporting event (an `Event`, a host's row object...)."""

    @property
    def name(self) -> str: ...


def event_names() -> list[str]:
    """The supported raw event names, in registry order."""
    return list(_RULES_BY_EVENT)


def rules_for(event_name: str | None) -> tuple[MetricRule, ...]:
    """The rules an event name feeds; empty for unsupported names."""
    if event_name is None:
        return ()
    return _RULES_BY_EVENT.get(event_name, ())


def contribution(
    payload: Payload, count: int, sum_value: float | None, sum_value_business_hours: float | None
) -> MetricContribution:
    """The contribution of `count` events (or distinct conversations) with the given sums."""
    if payload is Payload.DURATION:
        return MetricContribution(
            count, float(sum_value or 0.0), float(sum_value_business_hours or 0.0)
        )
    return MetricContribution(count, 0.0, 0.0)


def metrics_for(event: HasMetricFields) -> dict[str, MetricContribution]:
    """The metrics one event emits, keyed by metric name (empty for unsupported events)."""
    value = getattr(event, "value", None)
    business = getattr(event, "value_in_business_hours", None)
    return {
        rule.metric: contribution(rule.payload, 1, value, business)
        for rule in rules_for(event.name)
    }


def metrics_for_aggregate(
    event_name: str, *, count: int, sum_value: float | None, sum_value_business_hours: float | None
) -> dict[str, MetricContribution]:
    """The metrics a group of `count` events with the given sums emits, keyed by metric name."""
    return {
        rule.metric: contribution(rule.payload, count, sum_value, sum_value_business_hours)
        for rule in rules_for(event_name)
    }


# --- the read path: report metrics and the rollup metric each comes from ---


class ReportMetric(StrEnum):
    """A metric as reports show it: a count, or an average (sum / count) of a duration."""

    RESOLUTIONS_COUNT = "resolutions_count"
    AVG_RESOLUTION_TIME = "avg_resolution_time"
    AVG_FIRST_RESPONSE_TIME = "avg_first_response_time"
    AVG_REPLY_TIME = "avg_reply_time"
    BOT_RESOLUTIONS_COUNT = "bot_resolutions_count"
    BOT_HANDOFFS_COUNT = "bot_handoffs_count"


#: The rollup metric each report metric is computed from.
REPORT_METRICS: Final[dict[ReportMetric, Metric]] = {
    ReportMetric.RESOLUTIONS_COUNT: Metric.RESOLUTIONS_COUNT,
    ReportMetric.AVG_RESOLUTION_TIME: Metric.RESOLUTION_TIME,
    ReportMetric.AVG_FIRST_RESPONSE_TIME: Metric.FIRST_RESPONSE,
    ReportMetric.AVG_REPLY_TIME: Metric.REPLY_TIME,
    ReportMetric.BOT_RESOLUTIONS_COUNT: Metric.BOT_RESOLUTIONS_COUNT,
    ReportMetric.BOT_HANDOFFS_COUNT: Metric.BOT_HANDOFFS_COUNT,
}

#: Report metrics whose value is sum / count (None when the count is 0); the others are counts.
AVERAGES: Final[frozenset[ReportMetric]] = frozenset(
    {
        ReportMetric.AVG_RESOLUTION_TIME,
        ReportMetric.AVG_FIRST_RESPONSE_TIME,
        ReportMetric.AVG_REPLY_TIME,
    }
)

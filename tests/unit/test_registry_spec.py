"""The seed spec `event_metric_registry_spec.rb`, ported case by case.

The spec's `instance_double(ReportingEvent, ...)` becomes a `SimpleNamespace` with the same
attributes; each case also runs on a real `Event`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import MetricContribution
from reporting_rollups.domain.registry import event_names, metrics_for, metrics_for_aggregate
from tests.builders import DEFAULT_AT


def as_dicts(metrics: dict[str, MetricContribution]) -> dict[str, dict[str, float]]:
    return {name: contribution.as_dict() for name, contribution in metrics.items()}


def double(name: str, value: float | None = None, business: float | None = None) -> Any:
    """The spec's instance_double: only the attributes the registry reads."""
    if value is None and business is None:
        return SimpleNamespace(name=name)
    return SimpleNamespace(name=name, value=value, value_in_business_hours=business)


def real(name: str, value: float | None = None, business: float | None = None) -> Event:
    return Event(
        id=1,
        name=name,
        account_id=1,
        created_at=DEFAULT_AT,
        value=value,
        value_in_business_hours=business,
    )


def test_event_names_returns_the_supported_raw_event_names() -> None:
    assert event_names() == [
        "conversation_resolved",
        "first_response",
        "reply_time",
        "conversation_bot_resolved",
        "conversation_bot_handoff",
    ]


METRICS_FOR_CASES = [
    pytest.param(
        ("conversation_resolved", 120, 45),
        {
            "resolutions_count": {"count": 1, "sum_value": 0, "sum_value_business_hours": 0},
            "resolution_time": {
                "count": 1,
                "sum_value": 120.0,
                "sum_value_business_hours": 45.0,
            },
        },
        id="conversation_resolved",
    ),
    pytest.param(
        ("first_response", 80, 20),
        {"first_response": {"count": 1, "sum_value": 80.0, "sum_value_business_hours": 20.0}},
        id="first_response",
    ),
    pytest.param(
        ("reply_time", 40, 15),
        {"reply_time": {"count": 1, "sum_value": 40.0, "sum_value_business_hours": 15.0}},
        id="reply_time",
    ),
    pytest.param(
        ("conversation_bot_resolved", None, None),
        {"bot_resolutions_count": {"count": 1, "sum_value": 0, "sum_value_business_hours": 0}},
        id="conversation_bot_resolved",
    ),
    pytest.param(
        ("conversation_bot_handoff", None, None),
        {"bot_handoffs_count": {"count": 1, "sum_value": 0, "sum_value_business_hours": 0}},
        id="conversation_bot_handoff",
    ),
    pytest.param(("conversation_created", None, None), {}, id="unsupported"),
]


@pytest.mark.parametrize(("event", "expected"), METRICS_FOR_CASES)
def test_metrics_for_on_an_instance_double(
    event: tuple[str, float | None, float | None], expected: dict[str, dict[str, float]]
) -> None:
    assert as_dicts(metrics_for(double(*event))) == expected


@pytest.mark.parametrize(("event", "expected"), METRICS_FOR_CASES)
def test_metrics_for_on_a_real_event(
    event: tuple[str, float | None, float | None], expected: dict[str, dict[str, float]]
) -> None:
    assert as_dicts(metrics_for(real(*event))) == expected


def test_metrics_for_returns_an_empty_hash_for_unsupported_events() -> None:
    assert metrics_for(double("conversation_created")) == {}
    assert metrics_for(real("conversation_created")) == {}


def test_metrics_for_keys_are_plain_metric_names() -> None:
    metrics = metrics_for(double("conversation_resolved", 120, 45))
    assert list(metrics) == ["resolutions_count", "resolution_time"]
    assert all(type(value) is MetricContribution for value in metrics.values())


def test_metrics_for_sums_are_floats() -> None:
    metrics = metrics_for(double("first_response", 80, 20))
    assert type(metrics["first_response"].sum_value) is float
    assert type(metrics["first_response"].sum_value_business_hours) is float


def test_metrics_for_aggregate_returns_aggregated_metrics_for_conversation_resolved() -> None:
    metrics = metrics_for_aggregate(
        "conversation_resolved", count=3, sum_value=420, sum_value_business_hours=210
    )
    assert as_dicts(metrics) == {
        "resolutions_count": {"count": 3, "sum_value": 0, "sum_value_business_hours": 0},
        "resolution_time": {"count": 3, "sum_value": 420.0, "sum_value_business_hours": 210.0},
    }


def test_metrics_for_aggregate_returns_an_empty_hash_for_unsupported_grouped_events() -> None:
    metrics = metrics_for_aggregate(
        "conversation_created", count=2, sum_value=100, sum_value_business_hours=50
    )
    assert metrics == {}


def test_metrics_for_aggregate_treats_missing_sums_as_zero() -> None:
    metrics = metrics_for_aggregate(
        "reply_time", count=2, sum_value=None, sum_value_business_hours=None
    )
    assert as_dicts(metrics) == {
        "reply_time": {"count": 2, "sum_value": 0.0, "sum_value_business_hours": 0.0}
    }


def test_metrics_for_treats_none_values_as_zero() -> None:
    metrics = metrics_for(real("conversation_resolved", None, None))
    assert metrics["resolution_time"].as_dict() == {
        "count": 1,
        "sum_value": 0.0,
        "sum_value_business_hours": 0.0,
    }

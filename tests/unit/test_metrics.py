"""Keys and additive contributions."""

from __future__ import annotations

from datetime import date

import pytest

from reporting_rollups.domain.metrics import (
    DIMENSION_FIELDS,
    ZERO,
    DimensionType,
    Metric,
    MetricContribution,
    RollupKey,
)


def test_contributions_add_fieldwise() -> None:
    total = MetricContribution(1, 120.0, 45.0) + MetricContribution(2, 30.5, 0.5)
    assert total == MetricContribution(3, 150.5, 45.5)


def test_zero_is_the_identity() -> None:
    part = MetricContribution(2, 3.0, 4.0)
    assert part + ZERO == part
    assert ZERO + part == part
    assert MetricContribution() == ZERO
    assert ZERO.as_dict() == {"count": 0, "sum_value": 0.0, "sum_value_business_hours": 0.0}


def test_negation_and_subtraction() -> None:
    part = MetricContribution(2, 3.0, 4.0)
    assert -part == MetricContribution(-2, -3.0, -4.0)
    assert part - part == ZERO
    assert MetricContribution(5, 10.0, 1.0) - part == MetricContribution(3, 7.0, -3.0)


def test_addition_is_commutative_and_associative_on_counts() -> None:
    a, b, c = MetricContribution(1, 1.0, 2.0), MetricContribution(2, 0.5, 0.0), ZERO
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)


def test_contributions_are_immutable_values() -> None:
    part = MetricContribution(1, 2.0, 3.0)
    with pytest.raises(AttributeError):
        part.count = 5  # type: ignore[misc]
    assert hash(part) == hash(MetricContribution(1, 2.0, 3.0))


def test_as_dict_spells_the_reference_fields() -> None:
    assert MetricContribution(3, 420.0, 210.0).as_dict() == {
        "count": 3,
        "sum_value": 420.0,
        "sum_value_business_hours": 210.0,
    }


def test_matches_counts_exactly_and_sums_up_to_addition_order() -> None:
    values = [0.1] * 10 + [1e6, 3.3, 7e-3]
    forward = sum(values, 0.0)
    backward = sum(reversed(values), 0.0)
    a = MetricContribution(len(values), forward, backward)
    b = MetricContribution(len(values), backward, forward)
    assert a.matches(b)
    assert not a.matches(MetricContribution(len(values) + 1, forward, backward))
    assert not a.matches(MetricContribution(len(values), forward * (1 + 1e-6), backward))
    assert not a.matches(MetricContribution(len(values), forward, backward + 1.0))


def test_matches_tolerates_float_residue_around_zero() -> None:
    residue = (0.1 + 0.2) - 0.3
    assert residue != 0.0
    assert MetricContribution(1, residue, 0.0).matches(MetricContribution(1, 0.0, 0.0))


def test_rollup_keys_order_by_account_date_dimension_id_metric() -> None:
    keys = [
        RollupKey(2, date(2026, 1, 1), DimensionType.ACCOUNT, 2, Metric.REPLY_TIME),
        RollupKey(1, date(2026, 1, 2), DimensionType.ACCOUNT, 1, Metric.REPLY_TIME),
        RollupKey(1, date(2026, 1, 1), DimensionType.INBOX, 1, Metric.REPLY_TIME),
        RollupKey(1, date(2026, 1, 1), DimensionType.AGENT, 9, Metric.FIRST_RESPONSE),
        RollupKey(1, date(2026, 1, 1), DimensionType.AGENT, 3, Metric.REPLY_TIME),
        RollupKey(1, date(2026, 1, 1), DimensionType.AGENT, 3, Metric.FIRST_RESPONSE),
    ]
    assert sorted(keys) == [keys[5], keys[4], keys[3], keys[2], keys[1], keys[0]]


def test_stored_names_of_metrics_and_dimensions() -> None:
    assert [str(m) for m in Metric] == [
        "resolutions_count",
        "resolution_time",
        "first_response",
        "reply_time",
        "bot_resolutions_count",
        "bot_handoffs_count",
    ]
    assert [str(d) for d in DimensionType] == ["account", "agent", "inbox"]
    assert DIMENSION_FIELDS == {
        DimensionType.ACCOUNT: "account_id",
        DimensionType.AGENT: "user_id",
        DimensionType.INBOX: "inbox_id",
    }

"""Pure model of reporting rollups: events, the metric registry, keys, time zones, errors."""

from domain.errors import (
    AccountNotConfiguredError,
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
    InvalidRangeError,
    InvalidTimezoneError,
    RollupError,
    StorageError,
    ZoneChangedError,
)
from domain.events import Event
from domain.metrics import DIMENSION_FIELDS, DimensionType, Metric, MetricContribution, RollupKey
from domain.projection import Projection, aggregate, project
from domain.registry import event_names, metrics_for, metrics_for_aggregate
from domain.timezones import LocalDay, local_date, local_day, local_days, parse_timezone

__all__ = [
    "DIMENSION_FIELDS",
    "AccountNotConfiguredError",
    "ConfigurationError",
    "DimensionType",
    "Event",
    "EventConflictError",
    "InvalidEventError",
    "InvalidRangeError",
    "InvalidTimezoneError",
    "LocalDay",
    "Metric",
    "MetricContribution",
    "Projection",
    "RollupError",
    "RollupKey",
    "StorageError",
    "ZoneChangedError",
    "aggregate",
    "event_names",
    "local_date",
    "local_day",
    "local_days",
    "metrics_for",
    "metrics_for_aggregate",
    "parse_timezone",
    "project",
]

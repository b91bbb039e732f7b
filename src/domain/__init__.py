"""Pure model of reporting rollups: events, the metric registry, keys, time zones, errors."""

from reporting_rollups.domain.errors import (
    AccountNotConfiguredError,
    ConfigurationError,
    EventConflictError,
    InvalidEventError,
    InvalidRangeError,
    InvalidTimezoneError,
    JobRunningError,
    RollupError,
    SealedDaysError,
    StorageError,
    ZoneChangedError,
)
from reporting_rollups.domain.events import Event
from reporting_rollups.domain.metrics import (
    DIMENSION_FIELDS,
    DimensionType,
    Metric,
    MetricContribution,
    RollupKey,
)
from reporting_rollups.domain.projection import Projection, aggregate, project
from reporting_rollups.domain.registry import event_names, metrics_for, metrics_for_aggregate
from reporting_rollups.domain.timezones import (
    LocalDay,
    local_date,
    local_day,
    local_days,
    parse_timezone,
)

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
    "JobRunningError",
    "LocalDay",
    "Metric",
    "MetricContribution",
    "Projection",
    "RollupError",
    "RollupKey",
    "SealedDaysError",
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

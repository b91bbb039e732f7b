"""reporting-rollups: exact, fast, crash-safe daily rollups of reporting events.

The public API, importable from here: ``from reporting_rollups import open_rollups, Event``.
The layers stay importable as `reporting_rollups.domain`, `reporting_rollups.application` and
`reporting_rollups.adapters`. Names are loaded lazily (PEP 562), so that importing the package,
or `reporting_rollups.domain` alone, loads no database driver, SQLAlchemy or rich.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

# The library logs under "reporting_rollups..." and never configures logging: the host does.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from reporting_rollups.adapters import open_rollups
    from reporting_rollups.adapters.asynchronous import open_rollups_async
    from reporting_rollups.application.async_service import AsyncRollups
    from reporting_rollups.application.backfill import BackfillPlan, BackfillResult
    from reporting_rollups.application.live import RecordResult, RetractResult
    from reporting_rollups.application.ports import AccountSettings, CaptureStatus, RollupRow
    from reporting_rollups.application.read_path import GroupBy, Source
    from reporting_rollups.application.report_results import (
        SummaryReport,
        SummaryRow,
        TimeseriesReport,
    )
    from reporting_rollups.application.service import Rollups
    from reporting_rollups.application.status import AccountStatus, StatusReport
    from reporting_rollups.application.sync import SyncResult
    from reporting_rollups.application.verify import Mismatch, VerifyResult
    from reporting_rollups.domain import (
        AccountNotConfiguredError,
        ConfigurationError,
        DimensionType,
        Event,
        EventConflictError,
        InvalidEventError,
        InvalidRangeError,
        InvalidTimezoneError,
        JobRunningError,
        Metric,
        MetricContribution,
        RollupError,
        RollupKey,
        SealedDaysError,
        StorageError,
        ZoneChangedError,
    )

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "open_rollups": "reporting_rollups.adapters",
    "open_rollups_async": "reporting_rollups.adapters.asynchronous",
    "AsyncRollups": "reporting_rollups.application.async_service",
    "Rollups": "reporting_rollups.application.service",
    "RecordResult": "reporting_rollups.application.live",
    "RetractResult": "reporting_rollups.application.live",
    "BackfillPlan": "reporting_rollups.application.backfill",
    "BackfillResult": "reporting_rollups.application.backfill",
    "Mismatch": "reporting_rollups.application.verify",
    "VerifyResult": "reporting_rollups.application.verify",
    "AccountStatus": "reporting_rollups.application.status",
    "StatusReport": "reporting_rollups.application.status",
    "AccountSettings": "reporting_rollups.application.ports",
    "RollupRow": "reporting_rollups.application.ports",
    "CaptureStatus": "reporting_rollups.application.ports",
    "SyncResult": "reporting_rollups.application.sync",
    "GroupBy": "reporting_rollups.application.read_path",
    "Source": "reporting_rollups.application.read_path",
    "SummaryReport": "reporting_rollups.application.report_results",
    "SummaryRow": "reporting_rollups.application.report_results",
    "TimeseriesReport": "reporting_rollups.application.report_results",
    "event_from_mapping": "reporting_rollups.domain.event_mapping",
    **dict.fromkeys(
        (
            "AccountNotConfiguredError",
            "ConfigurationError",
            "DimensionType",
            "Event",
            "EventConflictError",
            "InvalidEventError",
            "InvalidRangeError",
            "InvalidTimezoneError",
            "Metric",
            "MetricContribution",
            "RollupError",
            "RollupKey",
            "JobRunningError",
            "SealedDaysError",
            "StorageError",
            "ZoneChangedError",
        ),
        "reporting_rollups.domain",
    ),
}

__all__ = [
    "AccountNotConfiguredError",
    "AccountSettings",
    "AccountStatus",
    "AsyncRollups",
    "BackfillPlan",
    "BackfillResult",
    "CaptureStatus",
    "ConfigurationError",
    "DimensionType",
    "Event",
    "EventConflictError",
    "GroupBy",
    "InvalidEventError",
    "InvalidRangeError",
    "InvalidTimezoneError",
    "JobRunningError",
    "Metric",
    "MetricContribution",
    "Mismatch",
    "RecordResult",
    "RetractResult",
    "RollupError",
    "RollupKey",
    "RollupRow",
    "Rollups",
    "SealedDaysError",
    "Source",
    "StatusReport",
    "StorageError",
    "SummaryReport",
    "SummaryRow",
    "SyncResult",
    "TimeseriesReport",
    "VerifyResult",
    "ZoneChangedError",
    "event_from_mapping",
    "open_rollups",
    "open_rollups_async",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reporting_rollups' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

"""The live path's metrics through the OpenTelemetry API (no SDK dependency): without an SDK
configured by the host, every instrument is a no-op.

Instruments (meter ``reporting_rollups``): counters ``reporting_rollups.events.recorded``
(events given to `record()`), ``reporting_rollups.events.stored``,
``reporting_rollups.events.rolled_up``, ``reporting_rollups.events.retracted``,
``reporting_rollups.events.rolled_back``, and the histogram
``reporting_rollups.record.duration`` (seconds per `record()` call). Each measurement carries
the attribute ``db.system`` (``memory``, ``sqlite`` or ``postgresql``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from opentelemetry import metrics

#: The `db.system` attribute of each backend.
_SYSTEMS = {"memory": "memory", "sqlite": "sqlite", "postgres": "postgresql"}


def _version() -> str:
    try:
        return version("reporting-rollups")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return ""


class OpenTelemetryMetrics:
    """`application.ports.Telemetry` on OpenTelemetry instruments, from `meter_provider` (the
    global one, set by the host's SDK, when None)."""

    def __init__(self, backend: str, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter("reporting_rollups", _version(), meter_provider)
        self._attributes = {"db.system": _SYSTEMS.get(backend, backend)}
        event = "{event}"
        self._recorded = meter.create_counter(
            "reporting_rollups.events.recorded", event, "Events given to record()"
        )
        self._stored = meter.create_counter(
            "reporting_rollups.events.stored", event, "Raw events newly stored by record()"
        )
        self._rolled_up = meter.create_counter(
            "reporting_rollups.events.rolled_up", event, "Events folded into the rollups"
        )
        self._retracted = meter.create_counter(
            "reporting_rollups.events.retracted", event, "Raw events removed by retract()"
        )
        self._rolled_back = meter.create_counter(
            "reporting_rollups.events.rolled_back",
            event,
            "Retracted events taken back out of the rollups",
        )
        self._duration = meter.create_histogram(
            "reporting_rollups.record.duration", "s", "Duration of a record() call"
        )

    def recorded(self, events: int, stored: int, rolled_up: int, seconds: float) -> None:
        attributes = self._attributes
        self._recorded.add(events, attributes)
        self._stored.add(stored, attributes)
        self._rolled_up.add(rolled_up, attributes)
        self._duration.record(seconds, attributes)

    def retracted(self, retracted: int, rolled_back: int) -> None:
        self._retracted.add(retracted, self._attributes)
        self._rolled_back.add(rolled_back, self._attributes)


__all__ = ["OpenTelemetryMetrics"]

"""One small window API over whichever meters a device has (in the spirit of Zeus's
begin_window/end_window), labelled and honest about what it could not measure, and the registry of
monitors per device (``MONITORS``), whose factories live beside their meters in
``greenbench.measure.energy.meters`` (by device class, then vendor)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from greenbench.core.registry import Registry
from greenbench.measure.energy.meters.base import Reading


@dataclass
class Window:
    seconds: float
    primary: Reading
    cross_check: Reading | None
    readings: dict[str, Reading] = field(default_factory=dict)

    @property
    def disagreement(self) -> float | None:
        """|primary - cross-check| / primary, when both are numbers."""
        a = self.primary.joules
        b = self.cross_check.joules if self.cross_check else None
        if a is None or b is None or a <= 0:
            return None
        return abs(a - b) / a

    @property
    def state_during(self) -> dict[str, Any] | None:
        """Device state summarised from snapshots taken during the window (by the power sampler), if any."""
        state = self.cross_check.extra.get("state") if self.cross_check else None
        return state if state and state.get("state_samples") else None

    @property
    def valid(self) -> bool:
        return all(r.valid for r in self.readings.values())

    @property
    def reasons(self) -> list[str]:
        return [f"{r.source}: {r.reason}" for r in self.readings.values() if r.reason]


class EnergyMonitor:
    """Measures energy over windows on one device.

    cuda: NVML energy counter (primary) + NVML power sampler (cross-check).
    cpu: RAPL package+DRAM (primary, measured) when readable, else codecarbon (estimated);
         codecarbon also supplies a CO2e estimate.
    """

    def __init__(self, primary, cross_check=None, extras=(), state=None, identity=None):
        self.primary, self.cross_check, self.extras = primary, cross_check, list(extras)
        self._state = state or (lambda: {})
        self.identity = identity or {}
        self._t0 = 0.0

    @classmethod
    def for_device(
        cls,
        device: str,
        sampler_hz: float = 50.0,
        sampler: bool = True,
        backend=None,
        codecarbon_country: str = "DEU",
        estimate_interval_s: float = 1.0,
    ) -> "EnergyMonitor":
        """The monitor registered for ``device`` (``MONITORS``; add one with ``@MONITORS.named(device)``).
        ``estimate_interval_s``: how often an estimating meter (codecarbon) samples the load."""
        if device not in MONITORS:
            raise ValueError(f"no energy monitor for device '{device}' (registered: {', '.join(MONITORS)})")
        return MONITORS[device](
            sampler_hz=sampler_hz,
            sampler=sampler,
            backend=backend,
            codecarbon_country=codecarbon_country,
            estimate_interval_s=estimate_interval_s,
        )

    def without_sampler(self) -> "EnergyMonitor":
        """The same meters minus the power sampler (to measure the harness's own overhead)."""
        return EnergyMonitor(self.primary, None, self.extras, self._state, self.identity)

    def _meters(self):
        return [m for m in (self.primary, self.cross_check, *self.extras) if m is not None]

    def begin_window(self) -> None:
        for meter in self._meters():
            meter.begin()
        self._t0 = time.perf_counter()

    def end_window(self) -> Window:
        seconds = time.perf_counter() - self._t0
        readings = {}
        for meter in self._meters():
            reading = meter.end()
            readings[reading.source] = reading
        primary = readings[self.primary.source]
        cross = readings.get(self.cross_check.source) if self.cross_check else None
        return Window(seconds, primary, cross, readings)

    @property
    def can_lap(self) -> bool:
        """Whether the primary meter is a counter that can be read mid-window (RAPL), so energy can be
        attributed iteration by iteration; an estimator (codecarbon) cannot."""
        return callable(getattr(self.primary, "lap", None))

    def lap(self) -> float:
        """Joules the primary counter counted since the window began or since the last lap."""
        return self.primary.lap()

    def idle_power(self, seconds: float, settle_s: float = 0.0) -> tuple[float | None, str, dict[str, Any]]:
        """Power with nothing running (W) from the primary meter: (watts, "", info), or (None, why, info).

        ``settle_s`` passes first (the tail of the last load is not idle). A primary meter with
        ``aligned_power`` (the NVML counter) reads over about ``seconds`` between two of its own updates,
        so a counter that advances every 20-100 ms does not put a step's error into a short window;
        any other meter reads one window (``begin_window`` .. ``end_window``) of ``seconds``.
        ``info``: seconds, aligned, source, label, plus the aligned reading's note where an edge fell back.
        An unavailable or invalid reading gives None and its reason, never a zero."""
        if settle_s > 0:
            time.sleep(settle_s)
        aligned_power = getattr(self.primary, "aligned_power", None)
        if callable(aligned_power):
            reading = aligned_power(seconds)
            elapsed = reading.extra.get("seconds")
            info: dict[str, Any] = {
                "seconds": elapsed,
                "aligned": bool(reading.extra.get("aligned", False)),
                "source": reading.source,
                "label": reading.label,
            }
            if reading.extra.get("note"):
                info["note"] = reading.extra["note"]
        else:
            self.begin_window()
            time.sleep(seconds)
            window = self.end_window()
            reading, elapsed = window.primary, window.seconds
            info = {"seconds": elapsed, "aligned": False, "source": reading.source, "label": reading.label}
        if reading.joules is None or not reading.valid:
            return None, reading.reason or reading.label, info
        if not elapsed or elapsed <= 0:
            return None, "idle window of no duration", info
        return reading.joules / elapsed, "", info

    def state(self) -> dict[str, Any]:
        try:
            return self._state()
        except Exception:
            return {}


# --------------------------------------------------------------------------- the registry of monitors per device
# device -> factory(sampler_hz, sampler, backend, codecarbon_country, estimate_interval_s) -> EnergyMonitor, registered
# by the vendor module of the device's primary meter (``meters/gpu/nvidia.py``: cuda, ``meters/cpu/rapl.py``: cpu)
MONITORS: Registry[Callable[..., EnergyMonitor]] = Registry(
    "energy monitor", "greenbench.measure.energy.meters", support=("base",)
)


def register_monitor(device: str) -> Callable[[Callable[..., EnergyMonitor]], Callable[..., EnergyMonitor]]:
    """A decorator registering ``factory(sampler_hz, sampler, backend, codecarbon_country, ...) ->
    EnergyMonitor`` for a device: ``MONITORS.named(device)``, under its older name."""
    return MONITORS.named(device)


def no_meter_reason(device: str) -> str | None:
    """Why no energy value can be taken on ``device`` here (so a run can say so before it starts), or None:
    the device's monitor factory says so itself (its ``no_meter_reason()``; a factory without one: None)."""
    check = getattr(MONITORS[device], "no_meter_reason", None)
    return check() if check is not None else None

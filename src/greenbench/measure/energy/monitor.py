"""One small window API over whichever meters a device has (in the spirit of Zeus's
begin_window/end_window), labelled and honest about what it could not measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from greenbench.measure.energy.meters import UNAVAILABLE, CodecarbonEstimate, NvmlBackend, NvmlCounter, PowerSampler, RaplMeter, Reading


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
    def for_device(cls, device: str, sampler_hz: float = 50.0, sampler: bool = True, backend=None,
                   codecarbon_country: str = "DEU", estimate_interval_s: float = 1.0) -> "EnergyMonitor":
        """The monitor registered for ``device`` (``MONITORS``; add one with ``register_monitor``).
        ``estimate_interval_s``: how often an estimating meter (codecarbon) samples the load."""
        if device not in MONITORS:
            raise ValueError(f"no energy monitor for device '{device}' (registered: {', '.join(MONITORS)})")
        return MONITORS[device](sampler_hz=sampler_hz, sampler=sampler, backend=backend,
                                codecarbon_country=codecarbon_country, estimate_interval_s=estimate_interval_s)

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
            info: dict[str, Any] = {"seconds": elapsed, "aligned": bool(reading.extra.get("aligned", False)),
                                    "source": reading.source, "label": reading.label}
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


class _Unavailable:
    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason

    def begin(self) -> None:
        pass

    def end(self) -> Reading:
        return Reading(self.source, UNAVAILABLE, None, self.reason)


# --------------------------------------------------------------------------- the registry of meters per device
MONITORS: dict[str, Callable[..., EnergyMonitor]] = {}


def register_monitor(device: str):
    """Register ``factory(sampler_hz, sampler, backend, codecarbon_country) -> EnergyMonitor`` for a device."""
    def decorate(factory):
        if device in MONITORS:
            raise ValueError(f"an energy monitor for '{device}' is registered twice")
        MONITORS[device] = factory
        return factory

    return decorate


@register_monitor("cuda")
def nvml_monitor(sampler_hz: float = 50.0, sampler: bool = True, backend=None, **_) -> EnergyMonitor:
    """NVML energy counter (primary) + NVML power sampler (cross-check, and device state during windows)."""
    if backend is None:
        try:
            backend = NvmlBackend.for_torch_device()
        except Exception as exc:  # no pynvml, no driver
            return EnergyMonitor(_Unavailable("nvml_counter", f"NVML unavailable: {type(exc).__name__}: {exc}"))
    cross = PowerSampler(backend, sampler_hz) if sampler else None
    return EnergyMonitor(NvmlCounter(backend), cross, state=backend.state, identity=backend.identity())


@register_monitor("cpu")
def cpu_monitor(codecarbon_country: str = "DEU", estimate_interval_s: float = 1.0, **_) -> EnergyMonitor:
    """RAPL package + DRAM (measured) when readable, else codecarbon (estimated); codecarbon's CO2e
    estimate rides along either way."""
    rapl = RaplMeter()
    estimate = CodecarbonEstimate(codecarbon_country, measure_power_secs=estimate_interval_s)
    if rapl.zones:
        return EnergyMonitor(rapl, None, extras=[estimate])
    return EnergyMonitor(estimate, None, extras=[_Unavailable("rapl", rapl.reason)])


def rapl_access_note() -> str | None:
    """Where RAPL exists but cannot be read: what to run for measured CPU energy (else None)."""
    rapl = RaplMeter()
    if rapl.zones or not rapl.denied:
        return None
    return (f"{rapl.reason}. Until then CPU energy is codecarbon's estimate (labelled estimated), not a "
            "measurement")


def no_meter_reason(device: str) -> str | None:
    """Why no energy value can be taken on ``device`` here (so a run can say so before it starts), or None."""
    import importlib.util

    if device == "cuda":
        return None if importlib.util.find_spec("pynvml") else "nvidia-ml-py is not installed (pip install greenbench[gpu])"
    rapl = RaplMeter()
    if rapl.zones:
        return None
    if importlib.util.find_spec("codecarbon") is None:
        return f"{rapl.reason}, and codecarbon is not installed (pip install greenbench[energy])"
    try:
        import codecarbon  # noqa: F401  (importable in name only, e.g. broken)
    except Exception as exc:
        return f"{rapl.reason}, and codecarbon cannot be imported: {type(exc).__name__}: {exc}"
    return None

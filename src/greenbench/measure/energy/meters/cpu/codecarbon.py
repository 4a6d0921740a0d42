"""codecarbon's OfflineEmissionsTracker: CPU and RAM energy *estimated* from the load (labelled
``estimated``), and a CO2e estimate."""

from __future__ import annotations

from greenbench.measure.energy.meters.base import ESTIMATED, Reading


class CodecarbonEstimate:
    """codecarbon's OfflineEmissionsTracker: CPU/RAM energy *estimates* and CO2e."""

    source = "codecarbon"

    def __init__(self, country_iso_code: str = "DEU", measure_power_secs: float = 1.0):
        self.country, self.measure_power_secs = country_iso_code, float(measure_power_secs)
        self.tracker = None
        self.reason = ""

    def begin(self) -> None:
        try:
            import logging

            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            self.tracker = OfflineEmissionsTracker(
                country_iso_code=self.country,
                log_level="error",
                save_to_file=False,
                measure_power_secs=self.measure_power_secs,
            )
            self.tracker.start()
        except ImportError:
            self.tracker, self.reason = None, "codecarbon is not installed (pip install greenbench[energy])"
        except Exception as exc:
            self.tracker, self.reason = None, f"codecarbon failed to start: {type(exc).__name__}: {exc}"

    def end(self) -> Reading:
        if self.tracker is None:
            return Reading.unavailable(self.source, self.reason)
        try:
            emissions_kg = self.tracker.stop()
            d = self.tracker.final_emissions_data
        except Exception as exc:
            return Reading(self.source, ESTIMATED, None, f"codecarbon failed: {type(exc).__name__}: {exc}", valid=False)
        kwh_to_j = 3.6e6
        return Reading(
            self.source,
            ESTIMATED,
            float(d.cpu_energy + d.ram_energy) * kwh_to_j,
            extra={
                "cpu_j": float(d.cpu_energy) * kwh_to_j,
                "ram_j": float(d.ram_energy) * kwh_to_j,
                "co2e_g": float(emissions_kg) * 1000.0,
                "cpu_power_w": float(d.cpu_power),
                "tracking_mode": str(getattr(d, "tracking_mode", "")),
                "country": self.country,
            },
        )

"""Energy measurement: meters (NVML counter, NVML power sampler, RAPL, codecarbon estimate),
one window API over them, and the measurement protocol.

    monitor = EnergyMonitor.for_device("cuda")
    monitor.begin_window()
    ...                       # the workload, synchronised at both edges
    window = monitor.end_window()
    window.primary.joules, window.primary.label   # label: measured | estimated | unavailable
"""

from greenbench.measure.energy.meters import Reading, MEASURED, ESTIMATED, UNAVAILABLE
from greenbench.measure.energy.monitor import EnergyMonitor, Window

__all__ = ["EnergyMonitor", "Window", "Reading", "MEASURED", "ESTIMATED", "UNAVAILABLE"]

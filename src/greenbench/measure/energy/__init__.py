"""Energy measurement: meters (``meters``: NVML counter and power sampler, RAPL, codecarbon estimate),
one window API over them (``monitor``), and the measurement protocol: the cells of a trial (``cells``),
their batches (``batches``), one measured window (``window``), interleaved windows (``interleaved``), one
trial and its collection (``trial``), and the trials beyond the first stage (``plan``, ``stopping``).

    monitor = EnergyMonitor.for_device("cuda")
    monitor.begin_window()
    ...                       # the workload, synchronised at both edges
    window = monitor.end_window()
    window.primary.joules, window.primary.label   # label: measured | estimated | unavailable
"""

from greenbench.measure.energy.meters.base import Reading, MEASURED, ESTIMATED, UNAVAILABLE
from greenbench.measure.energy.monitor import EnergyMonitor, Window

__all__ = ["EnergyMonitor", "Window", "Reading", "MEASURED", "ESTIMATED", "UNAVAILABLE"]

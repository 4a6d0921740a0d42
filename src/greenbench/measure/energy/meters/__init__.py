"""Energy meters, one module per meter, grouped by device class then vendor (as Zeus does):

- ``base``: what every meter shares: ``Reading`` (joules, labelled ``measured``, ``estimated`` or
  ``unavailable`` with the reason, and its source), the ``Meter`` protocol (``begin()``, ``end() ->
  Reading``) and ``Unavailable``, the meter that says why there is none;
- ``gpu/nvidia.py``: NVML (backend, energy counter, power sampler) and the ``cuda`` monitor;
- ``cpu/rapl.py``: RAPL package + DRAM counters and the ``cpu`` monitor (RAPL, else codecarbon);
- ``cpu/codecarbon.py``: codecarbon's CPU/RAM energy estimate and CO2e.

Each device's monitor factory registers itself in ``greenbench.measure.energy.monitor.MONITORS`` from its
vendor module; the registry imports every module of this package and its subpackages on its first lookup,
so a new meter is a new module here and nothing else (docs/extending.md)."""

"""CPU meters: RAPL counters (``rapl``, with the ``cpu`` monitor) and codecarbon's estimate (``codecarbon``)."""

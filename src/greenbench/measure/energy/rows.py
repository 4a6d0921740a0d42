"""Which rows of the energy measurements count, and what a cell is judged on: shared by the stopping plan
(which the trials import) and the statistics, so that editing the statistics does not re-measure energy."""

from __future__ import annotations

import pandas as pd

from greenbench.core.names import with_runtime


def usable(measurements: pd.DataFrame) -> pd.DataFrame:
    """Valid, measured cells with the sampler on (the overhead check's 'off' cells are separate)."""
    m = with_runtime(measurements)
    return m[(m.status == "ok") & m.valid.astype(bool) & m.sampler.astype(bool)]


def metric_of(group: pd.DataFrame) -> str:
    """What a cell's stopping is decided and reported on: its energy, or its throughput where energy
    is unavailable."""
    return "j_per_inf_gross" if group["j_per_inf_gross"].notna().any() else "throughput_per_s"

"""The paper's accuracy table: the difference to fp32 with its paired interval, McNemar p and the
discordant sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenbench.analysis.summaries import ACCURACY_SCHEMA
from greenbench.report.tables import accuracy_table


def test_the_accuracy_table_shows_the_paired_difference_mcnemar_and_discordant_counts():
    rows = [
        dict(
            variant="fp32",
            status="ok",
            accuracy=0.8807,
            ci_low=0.859,
            ci_high=0.902,
            delta_vs_fp32=0.0,
            delta_ci_low=0.0,
            delta_ci_high=0.0,
            mcnemar_p=1.0,
            n_fp32_only=0,
            n_variant_only=0,
        ),
        dict(
            variant="int8_dynamic",
            status="ok",
            accuracy=0.8601,
            ci_low=0.837,
            ci_high=0.883,
            delta_vs_fp32=-0.0206,
            delta_ci_low=-0.0333,
            delta_ci_high=-0.0092,
            mcnemar_p=0.0012,
            n_fp32_only=30,
            n_variant_only=12,
        ),
        dict(variant="tf32", status="not_applicable"),
    ]
    acc = pd.DataFrame([dict(device="cpu", model="m", **r) for r in rows], columns=ACCURACY_SCHEMA.names)
    table = accuracy_table(acc).set_index("variant")
    delta = "Δ vs fp32, pts (paired 95% CI)"
    assert table.loc["int8_dynamic", delta] == "-2.06 [-3.33, -0.92]"
    assert table.loc["fp32", delta] == "+0.00 [+0.00, +0.00]"
    assert table.loc["int8_dynamic", "McNemar p"] == "0.0012" and table.loc["fp32", "McNemar p"] == "1"
    assert table.loc["int8_dynamic", "fp32 only / variant only right"] == "30 / 12"
    assert table.loc["tf32", "accuracy (95% CI)"] == "not applicable" and table.loc["tf32", delta] == ""
    # an accuracy table from before the paired columns: the point difference alone
    old = acc.drop(columns=["delta_ci_low", "delta_ci_high", "mcnemar_p", "n_fp32_only", "n_variant_only"])
    assert accuracy_table(old).set_index("variant").loc["int8_dynamic", delta] == "-2.06"
    assert np.isnan(acc.loc[2, "delta_vs_fp32"])

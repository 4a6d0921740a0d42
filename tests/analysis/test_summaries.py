"""The statistics tables (greenbench.analysis.summaries): rows without a net J/inference value are counted
and said, in the energy table and in tables.md; the carbon table is its own step, bit for bit the table the
aggregate step wrote."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenbench.analysis import summaries
from greenbench.core import io

IDLE_ABOVE = "net energy not resolvable: idle 0.05 J/inf >= gross 0.04 J/inf"


def _measurements() -> pd.DataFrame:
    """Three trials of three cells: fp32 b1 with a net value every time; int8 b1 whose meter cannot resolve
    load above idle in two trials; int8 b8 with no idle reading in one trial and no gross value in another."""
    rows = []
    for trial in range(3):
        for variant, batch in (("fp32", 1), ("int8_dynamic", 1), ("int8_dynamic", 8)):
            gross = {"fp32": 0.10, "int8_dynamic": 0.05}[variant] / batch * (1 + 0.01 * trial)
            row = dict(
                trial=trial,
                device="cpu",
                model="m",
                variant=variant,
                batch_size=batch,
                padding="dynamic",
                mode="eager",
                sampler=True,
                status="ok",
                valid=True,
                reason="",
                flags="",
                energy_label="estimated",
                latency_p50_ms=10.0 * batch,
                latency_p95_ms=12.0 * batch,
                throughput_per_s=100.0,
                j_per_inf_gross=gross,
                j_per_inf_net=0.8 * gross,
            )
            if variant == "int8_dynamic" and batch == 1 and trial < 2:
                row.update(j_per_inf_net=np.nan, flags=IDLE_ABOVE)
            if variant == "int8_dynamic" and batch == 8 and trial == 0:
                row.update(j_per_inf_net=np.nan, flags="idle power unavailable: no idle window")
            if variant == "int8_dynamic" and batch == 8 and trial == 1:
                row.update(j_per_inf_gross=np.nan, j_per_inf_net=np.nan, energy_label="unavailable")
            rows.append(row)
    # a row the statistics leave out (sampler off): never counted
    rows.append({**rows[1], "sampler": False, "trial": 0})
    return pd.DataFrame(rows)


def test_the_energy_table_counts_each_cells_rows_without_a_net_value_and_says_why():
    energy = summaries.energy_stats(_measurements(), n_boot=200, level=0.95, seed=0)
    assert list(energy.columns) == summaries.ENERGY_STATS_SCHEMA.names
    per_cell = energy.drop_duplicates(["variant", "batch_size"]).set_index(["variant", "batch_size"])
    assert (
        per_cell.loc[("fp32", 1)].net_unavailable_rows == 0 and per_cell.loc[("fp32", 1)].net_unavailable_reason == ""
    )
    assert per_cell.loc[("int8_dynamic", 1)].net_unavailable_rows == 2
    assert per_cell.loc[("int8_dynamic", 1)].net_unavailable_reason == "idle ≥ gross"
    assert per_cell.loc[("int8_dynamic", 8)].net_unavailable_rows == 2
    assert (
        per_cell.loc[("int8_dynamic", 8)].net_unavailable_reason
        == "idle power unavailable (1); no gross energy value (1)"
    )
    # the same on every metric row of a cell, and the net rows' trials + the rows without add up to the cell's rows
    assert energy.groupby(["variant", "batch_size"]).net_unavailable_rows.nunique().eq(1).all()
    net = energy[energy.metric == "j_per_inf_net"]
    assert (net.n_trials + net.net_unavailable_rows).tolist() == [3, 3, 3]
    assert summaries.net_reason_counts(2, "idle power unavailable (1); no gross energy value (1)") == {
        "idle power unavailable": 1,
        "no gross energy value": 1,
    }
    assert summaries.net_reason_counts(2, "idle ≥ gross") == {"idle ≥ gross": 2}
    assert summaries.net_reason_counts(0, "") == {}


def test_tables_md_states_how_many_rows_have_no_net_value_and_why_never_nan(tmp_path):
    from greenbench.report import tables

    energy = summaries.energy_stats(_measurements(), n_boot=200, level=0.95, seed=0)
    note = tables.net_note(energy)
    assert note.startswith("4 of 9 measured rows have no net value: idle ≥ gross (2), idle power unavailable (1), ")
    assert "no gross energy value (1)" in note and "nan" not in note.lower()
    # one reason only: said as the reason alone
    only_idle = energy[(energy.variant == "int8_dynamic") & (energy.batch_size == 1)]
    assert tables.net_note(only_idle).startswith("2 of 3 measured rows have no net value: idle ≥ gross (J/inf net")
    wide = tables.energy_table(energy).set_index(["variant", "batch_size"])["J/inf net"]
    assert wide[("int8_dynamic", 1)].endswith("(2 of 3 rows n/a: idle ≥ gross)")
    assert "n/a" not in wide[("fp32", 1)] and not wide.str.contains("nan").any()
    # a cell none of whose rows has a net value: n/a with the reason, not nan
    none = summaries.energy_stats(
        _measurements().assign(j_per_inf_net=np.nan, flags=IDLE_ABOVE), n_boot=200, level=0.95, seed=0
    )
    cells = tables.energy_table(none)["J/inf net"]
    assert (
        cells[cells.str.startswith("n/a")].isin(
            ["n/a (idle ≥ gross)", "n/a (idle ≥ gross (2); no gross energy value (1))"]
        )
    ).all()
    assert tables.net_note(none).startswith("9 of 9 measured rows have no net value: idle ≥ gross (8), ")
    # every row with a net value; a table written before the count: no note
    full = summaries.energy_stats(_measurements().assign(j_per_inf_net=0.01), n_boot=200, level=0.95, seed=0)
    assert tables.net_note(full) == "Every one of the 9 measured rows has a net J/inference value (gross less idle)."
    assert tables.net_note(energy.drop(columns=["net_unavailable_rows", "net_unavailable_reason"])) == ""
    # written and read back (nullable ints), as the paper reads it
    io.write_parquet(energy, tmp_path / "energy.parquet", summaries.ENERGY_STATS_SCHEMA)
    assert tables.net_note(io.read_parquet(tmp_path / "energy.parquet")) == note


def test_the_carbon_table_is_its_own_step_and_the_same_table(tmp_path):
    """``aggregate`` writes every table but the carbon one; ``write_carbon_table`` writes it with the same
    function, bootstrap, level and seed as before (a grid edit reruns only it)."""
    measurements = tmp_path / "measurements.parquet"
    _measurements().to_parquet(measurements)
    cfg = {"bootstrap": 300, "confidence": 0.95, "first_stage": 3, "targets": {}}
    written = summaries.aggregate(measurements, [], tmp_path / "stats", cfg, seed=7)
    assert "carbon" not in written and not (tmp_path / "stats" / "carbon.parquet").exists()
    assert sorted(written) == sorted(
        t for t in ("energy", "accuracy", "ratios", "overhead", "energy_by_length", "stopping")
    )
    grids = {"DE": 406, "FR": 61}
    out = tmp_path / "stats" / "carbon.parquet"
    table = summaries.write_carbon_table(measurements, out, {**cfg, "grid_intensities": grids}, seed=7)
    same = summaries.carbon_table(io.read_parquet(measurements), grids, 300, 0.95, 7)
    pd.testing.assert_frame_equal(table, same)
    back = io.read_parquet(out)
    assert list(back.columns) == summaries.CARBON_SCHEMA.names and len(back) == 2 * 3
    de = back[(back.grid == "DE") & (back.variant == "fp32")].iloc[0]
    assert de.g_per_1000_inf == pytest.approx(np.mean([0.10, 0.101, 0.102]) * 406 / 3.6e3)
    assert io.read_metadata(out) == {"bootstrap": 300, "confidence": 0.95, "seed": 7, "source": str(measurements)}


def test_the_stages_write_the_tables_the_rules_declare(tmp_path):
    from greenbench.pipeline import paths, stages
    from greenbench.pipeline.stages import aggregate, carbon_table

    measurements = tmp_path / "measurements.parquet"
    _measurements().to_parquet(measurements)
    settings = {"stats": {"bootstrap": 200, "confidence": 0.95, "first_stage": 3, "targets": {}}, "seed": 0}
    outputs = [str(tmp_path / f"{t}.parquet") for t in paths.AGGREGATE_TABLES]
    aggregate.run(stages.job({"measurements": measurements, "predictions": []}, stages.Output(outputs), settings))
    assert all((tmp_path / f"{t}.parquet").exists() for t in paths.AGGREGATE_TABLES)
    assert not (tmp_path / "carbon.parquet").exists() and "carbon" not in paths.AGGREGATE_TABLES
    assert set(paths.STATS_TABLES) == {*paths.AGGREGATE_TABLES, "carbon"}
    grid = {"stats": {"bootstrap": 200, "confidence": 0.95, "grid_intensities": {"DE": 406}}, "seed": 0}
    carbon_table.run(
        stages.job({"measurements": measurements}, stages.Output([str(tmp_path / "carbon.parquet")]), grid)
    )
    assert set(io.read_parquet(tmp_path / "carbon.parquet").grid) == {"DE"}

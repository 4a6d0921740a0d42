"""Issue 18, item 2: a user's own traces (carbon.sources): formats, gaps, zone ids, flags."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from greenbench.carbon import traces
from greenbench.config.load import ConfigError, load_config, validate_config


def hours(n, start="2022-01-01 00:00:00"):
    return [str(t) for t in pd.date_range(start, periods=n, freq="h")]


def wide_file(tmp_path, values, name="ciso.csv", column="co2_intensity_avg"):
    """EIA-930-derived shape: a timestamp, generation by fuel, an average intensity."""
    lines = [f"period,coal_mwh,gas_mwh,solar_mwh,wind_mwh,{column}"]
    lines += [
        f"{t},0,{900 + i},{100 * (i % 24 > 8)},50,{'' if v is None else v}"
        for i, (t, v) in enumerate(zip(hours(len(values)), values))
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_wide_csv_is_read_by_its_intensity_column_and_empty_values_are_flagged_gaps(tmp_path):
    path = wide_file(tmp_path, [200, 210, None, None, 240, 250])
    spec = {
        "path": str(path),
        "format": "wide",
        "zone": "US-CAL-CISO",
        "timestamp_column": "period",
        "intensity_column": "co2_intensity_avg",
    }
    out = traces.prepare_traces([], tmp_path / "t.parquet", "direct", 2, sources=traces.resolve_sources([spec]))
    assert out.zone.unique().tolist() == ["US-CAL-CISO"]
    assert out.ci.tolist() == pytest.approx([200, 210, 220, 230, 240, 250])
    assert out.interpolated.tolist() == [False, False, True, True, False, False]


def test_empty_values_in_a_long_csv_are_gaps_and_too_long_a_gap_names_its_line(tmp_path):
    path = tmp_path / "long.csv"
    rows = [f"{t}Z,CISO,{'' if i in (1, 2) else 100 + i}" for i, t in enumerate(hours(5))]
    path.write_text("timestamp,zone,carbon_intensity_gco2_per_kwh\n" + "\n".join(rows) + "\n")
    spec = [{"path": str(path), "format": "long"}]
    out = traces.prepare_traces([], tmp_path / "t.parquet", "direct", 2, sources=traces.resolve_sources(spec))
    assert out.interpolated.sum() == 2 and out.ci.tolist() == pytest.approx([100, 101, 102, 103, 104])
    with pytest.raises(traces.TraceError, match=rf"{path}:5: gap of 2 missing hours"):
        traces.prepare_traces([], tmp_path / "t.parquet", "direct", 1, sources=traces.resolve_sources(spec))


def test_an_electricity_maps_export_under_any_name_and_a_glob_of_files(tmp_path):
    (tmp_path / "exports").mkdir()
    header = "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct)\n"
    for part, start in (("a", "2022-01-01"), ("b", "2022-01-01 03:00")):
        (tmp_path / "exports" / f"us_{part}.csv").write_text(
            header + "".join(f"{t},US-CAL-CISO,{300 + i}\n" for i, t in enumerate(hours(3, start)))
        )
    spec = [{"path": str(tmp_path / "exports" / "*.csv"), "format": "electricitymaps"}]
    out = traces.prepare_traces(
        [], tmp_path / "t.parquet", "direct", 0, sources=traces.resolve_sources(spec), zones=["US-CAL-CISO"]
    )
    assert len(out) == 6 and out.zone.unique().tolist() == ["US-CAL-CISO"]


@pytest.mark.parametrize(
    "spec, words",
    [
        (
            {"format": "wide", "intensity_column": "nope", "zone": "CISO", "timestamp_column": "period"},
            "needs its zone and the columns ['nope']",
        ),
        ({"format": "wide", "intensity_column": "co2_intensity_avg", "timestamp_column": "period"}, "needs its zone"),
        ({"format": "long"}, "a long trace starts with the header"),
    ],
)
def test_a_source_that_does_not_fit_its_format_names_the_file(tmp_path, spec, words):
    path = wide_file(tmp_path, [1, 2, 3])
    with pytest.raises(traces.TraceError, match=re.escape(words)):
        traces.read_sources(traces.resolve_sources([{"path": str(path), **spec}]), "direct")


def test_a_configured_zone_missing_from_the_sources_is_named(tmp_path):
    path = wide_file(tmp_path, [1, 2, 3])
    spec = [
        {
            "path": str(path),
            "format": "wide",
            "zone": "CISO",
            "timestamp_column": "period",
            "intensity_column": "co2_intensity_avg",
        }
    ]
    with pytest.raises(traces.TraceError, match="config key 'carbon.zones': ERCO not found in carbon.sources"):
        traces.prepare_traces(
            [], tmp_path / "t.parquet", "direct", 0, sources=traces.resolve_sources(spec), zones=["CISO", "ERCO"]
        )
    assert not (tmp_path / "t.parquet").exists()


def test_plateaus_and_collapses_are_kept_but_flagged():
    rng = np.random.default_rng(0)
    day = 300 + 80 * np.sin(np.arange(24 * 14) * 2 * np.pi / 24) + rng.normal(0, 5, 24 * 14)
    ci = pd.Series(day.copy())
    assert not traces.suspicious(ci).any()  # a normal diurnal grid: nothing flagged
    stuck = ci.copy()
    stuck[200:230] = 123.0
    flags = traces.suspicious(stuck)
    assert flags[200:230].all() and flags.sum() == 30
    collapsed = ci.copy()
    collapsed[250] = 5.0
    assert traces.suspicious(collapsed).tolist()[250] and traces.suspicious(collapsed).sum() == 1


def _merged(**carbon):
    cfg = load_config(["config/config.yaml"])
    cfg["carbon"].update(carbon)
    return cfg


@pytest.mark.parametrize(
    "carbon, key",
    [
        ({"sources": [{"path": "no/such/*.csv", "format": "long"}]}, "carbon.sources[0].path"),
        (
            {"sources": [{"path": "config/config.yaml", "format": "wide", "intensity_column": "x"}]},
            "carbon.sources[0].zone",
        ),
        (
            {"sources": [{"path": "config/config.yaml", "format": "wide", "zone": "CISO"}]},
            "carbon.sources[0].intensity_column",
        ),
        ({"sources": [{"path": "config/config.yaml", "format": "csv"}]}, "carbon.sources.0.format"),
        ({"zones": ["de/x"]}, "carbon.zones.0"),
    ],
)
def test_bad_sources_stop_before_any_job_naming_the_key(carbon, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_merged(**carbon))
    assert f"'{key}'" in str(err.value), str(err.value)


def test_zone_ids_as_electricity_maps_and_balancing_authorities_write_them_pass_the_schema():
    import jsonschema
    import yaml

    schema = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))
    zone = schema["$defs"]["zone"]
    for good in ("DE", "US-CAL-CISO", "CISO", "IN-WE", "BR-CS"):
        jsonschema.validate(good, zone)
    for bad in ("de/x", "US_CAL", "", "-DE"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, zone)


def test_the_years_asked_for_must_be_covered_whole(tmp_path):
    path = wide_file(tmp_path, [200, 210, 220])
    spec = [
        {
            "path": str(path),
            "format": "wide",
            "zone": "CISO",
            "timestamp_column": "period",
            "intensity_column": "co2_intensity_avg",
        }
    ]
    with pytest.raises(traces.TraceError, match=rf"{re.escape(str(path))}:4: zone CISO stops at 2022-01-01 02:00"):
        traces.prepare_traces(
            [], tmp_path / "t.parquet", "direct", 0, sources=traces.resolve_sources(spec), zones=["CISO"], years=[2022]
        )
    with pytest.raises(traces.TraceError, match="config key 'carbon.years': zone CISO has no hour in 2023"):
        traces.prepare_traces(
            [],
            tmp_path / "t.parquet",
            "direct",
            10_000,
            sources=traces.resolve_sources(spec),
            zones=["CISO"],
            years=[2022, 2023],
        )

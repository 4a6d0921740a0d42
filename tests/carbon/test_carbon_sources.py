"""Issue 18, item 2: a user's own traces (carbon.sources): formats, gaps, zone ids, flags."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest

from greenbench.carbon import traces
from greenbench.core import io
from greenbench.config.load import ConfigError, load_config, validate_config
from conftest import Said


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


# ---- every reader handles the same bad input the same way (encodings, duplicates, zones, local time, zeros) ----

LONG_HEADER = "timestamp,zone,carbon_intensity_gco2_per_kwh"


def long_file(tmp_path, rows, name="long.csv", suffix="Z"):
    """A long trace: ``rows`` of (timestamp, zone, value); ``suffix`` the UTC offset written ('' for none)."""
    path = tmp_path / name
    path.write_text(LONG_HEADER + "\n" + "".join(f"{t}{suffix},{z},{v}\n" for t, z, v in rows), encoding="utf-8")
    return path


def prepare(tmp_path, specs, max_gap_hours=2, **kwargs):
    return traces.prepare_traces(
        [], tmp_path / "t.parquet", "direct", max_gap_hours, sources=traces.resolve_sources(specs), **kwargs
    )


def test_a_byte_order_mark_is_accepted_and_said_once(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{LONG_HEADER}\n2022-01-01T00:00Z,CISO,100\n".encode())
    with Said() as said:
        out = traces.read_trace(path)
    assert out.ci.tolist() == [100.0]
    assert [m for m in said.messages if "BOM" in m] == [f"{path}: UTF-8 byte order mark (BOM) ignored"]
    assert traces.header_errors([{"files": [str(path)], "format": "long"}], "direct") == []


@pytest.mark.parametrize(
    "encode, where, words",
    [
        (lambda t: gzip.compress(t.encode()), ": ", "gzip-compressed, not text: gunzip it first"),
        (lambda t: t.encode("utf-16"), ": ", "looks like UTF-16 text (little-endian, byte order mark ff fe)"),
        (lambda t: t.encode("utf-16-le"), ": ", "a NUL byte every other byte"),
        (lambda t: t.encode("cp1252"), ":3: ", "looks like Latin-1/Windows-1252 text, where it is 'é'"),
    ],
)
def test_a_trace_in_another_encoding_is_one_line_naming_it(tmp_path, encode, where, words):
    text = f"{LONG_HEADER}\n" + "".join(f"2022-01-01T0{i}:00Z,{'Montréal' if i else 'QC'},1\n" for i in range(9))
    path = tmp_path / "long.csv"
    path.write_bytes(encode(text))
    with pytest.raises(traces.TraceError) as err:
        traces.read_trace(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}{where}") and words in msg and "\n" not in msg
    # the check before any job says the same for a file whose header it cannot read
    before = traces.header_errors([{"files": [str(path)], "format": "long"}], "direct")
    assert before == ([msg] if where == ": " else [])  # Latin-1 past the header: the reader finds line 3


def test_a_duplicate_hour_across_two_files_blames_the_later_row_and_names_the_earlier(tmp_path):
    (tmp_path / "exports").mkdir()
    hrs = hours(6)
    first = long_file(tmp_path / "exports", [(t, "CISO", 100 + i) for i, t in enumerate(hrs[:4])], "a.csv")
    later = long_file(tmp_path / "exports", [(t, "CISO", 200 + i) for i, t in enumerate(hrs[3:])], "b.csv")
    spec = [{"path": str(tmp_path / "exports" / "*.csv"), "format": "long"}]
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, spec)
    msg = str(err.value)
    assert msg.startswith(f"{later}:2: duplicate timestamp 2022-01-01 03:00:00+00:00 for zone CISO"), msg
    assert f"given before at {first}:5" in msg and "hint" not in msg  # January, and given in UTC


def test_a_duplicate_hour_within_one_file_names_both_lines(tmp_path):
    hrs = hours(5)
    path = long_file(tmp_path, [(t, "CISO", 100) for t in hrs[:3] + hrs[1:2] + hrs[3:]])
    with pytest.raises(traces.TraceError, match=rf"{re.escape(str(path))}:5: duplicate .* before at .*long.csv:3;"):
        prepare(tmp_path, [{"path": str(path), "format": "long"}])


def test_rows_of_a_zone_outside_carbon_zones_are_refused_naming_them_or_dropped_and_counted(tmp_path):
    hrs = hours(4)
    rows = [(t, z, 100 + i) for i, t in enumerate(hrs) for z in ("CISO", "ERCO")] + [(hrs[0], "PACW", 1)]
    path = long_file(tmp_path, rows)
    spec = {"path": str(path), "format": "long"}
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, [spec], zones=["CISO"])
    msg = str(err.value)
    assert msg.startswith(f"{path}:3: zone 'ERCO' is not in carbon.zones (CISO): 5 rows of zones outside it")
    assert "ERCO (4 rows), PACW (1 row)" in msg and "carbon.sources[0].unknown_zones: drop" in msg
    assert not (tmp_path / "t.parquet").exists()
    with Said() as said:
        out = prepare(tmp_path, [{**spec, "unknown_zones": "drop"}], zones=["CISO"])
    assert out.zone.unique().tolist() == ["CISO"] and len(out) == 4
    assert io.read_metadata(tmp_path / "t.parquet")["unknown_zone_rows_dropped"] == {"ERCO": 4, "PACW": 1}
    assert any("dropped 5 rows of zones not in carbon.zones" in m and "ERCO (4 rows)" in m for m in said.messages)
    assert any("5 rows of zones outside carbon.zones dropped" in m for m in said.messages)  # the summary line


def test_unknown_zones_is_a_source_key_the_schema_knows():
    cfg = _merged(sources=[{"path": "config/config.yaml", "format": "long", "unknown_zones": "ignore"}])
    with pytest.raises(ConfigError, match=r"carbon\.sources\.0\.unknown_zones"):
        validate_config(cfg)
    readme = open("config/README.md", encoding="utf-8").read()
    assert "`unknown_zones: drop`" in readme and "`timestamp_column`, default `timestamp`" in readme


LOCAL = "timestamps without a UTC offset look like local time"


def test_local_time_without_an_offset_gets_a_hint_at_its_first_symptom(tmp_path):
    autumn = hours(4, "2022-10-30 00:00")  # Europe: 02:00-03:00 local time happens twice
    rows = [(t, "DE", 300) for t in autumn[:3] + autumn[2:]]
    naive = long_file(tmp_path, rows, "naive.csv", suffix="")
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, [{"path": str(naive), "format": "long"}])
    assert f"{naive}:5: duplicate timestamp" in str(err.value) and LOCAL in str(err.value)
    assert "repeats an hour" in str(err.value) and "give UTC" in str(err.value)
    utc = long_file(tmp_path, rows, "utc.csv")  # the same rows given in UTC: a plain duplicate
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, [{"path": str(utc), "format": "long"}])
    assert "duplicate timestamp" in str(err.value) and LOCAL not in str(err.value)

    spring = hours(5, "2022-03-27 00:00")  # 02:00 local time does not exist
    skipped = long_file(tmp_path, [(t, "DE", 300) for t in spring[:2] + spring[3:]], "spring.csv", suffix="")
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, [{"path": str(skipped), "format": "long"}], max_gap_hours=0)
    assert f"{skipped}:4: gap of 1 missing hours" in str(err.value) and "skips an hour" in str(err.value)

    named = tmp_path / "DE_2022_hourly.csv"  # the last UTC hour of 2022 written as local time (CET, +01:00)
    named.write_text(f"{LONG_HEADER}\n2022-12-31 23:00,DE,300\n2023-01-01 00:00,DE,300\n")
    with pytest.raises(traces.TraceError) as err:
        traces.read_trace(named)
    assert f"{named}:3: timestamp 2023-01-01 00:00:00+00:00 (UTC) is outside 2022" in str(err.value)
    assert LOCAL in str(err.value) and "New Year" in str(err.value)


def diurnal(n, start="2022-01-01 00:00:00", level=300.0):
    return [level + 0.2 * level * np.sin(i * 2 * np.pi / 24) for i in range(n)]


def test_a_zero_reading_in_a_grid_that_is_not_near_zero_is_replaced_like_a_gap_and_counted(tmp_path):
    values = diurnal(72)
    values[40] = values[41] = 0.0  # a feed dropout
    values[60] = 0.4  # near zero too
    path = long_file(tmp_path, [(t, "DE", f"{v:.2f}") for t, v in zip(hours(72), values)])
    with Said() as said:
        out = prepare(tmp_path, [{"path": str(path), "format": "long"}])
    assert out.interpolated.sum() == 3 and out.interpolated[[40, 41, 60]].all()
    assert out.ci[40] == pytest.approx(values[39] + (values[42] - values[39]) / 3, abs=0.01) and out.ci.min() > 200
    assert not out.suspicious.any()  # replaced, not flagged
    meta = io.read_metadata(tmp_path / "t.parquet")
    assert meta["near_zero_replaced_hours"] == {"DE": 3} and meta["interpolated_hours"] == {"DE": 3}
    assert any("3 zero or near-zero readings" in m and f"{path}:42" in m for m in said.messages)
    # more of them in a row than carbon.max_gap_hours fills: refused like a long gap, naming the first
    values[40:45] = [0.0] * 5
    path = long_file(tmp_path, [(t, "DE", f"{v:.2f}") for t, v in zip(hours(72), values)])
    with pytest.raises(traces.TraceError) as err:
        prepare(tmp_path, [{"path": str(path), "format": "long"}])
    assert str(err.value).startswith(f"{path}:42: carbon intensity 0 gCO2e/kWh for zone DE")
    assert "5 hours in a row" in str(err.value) and "carbon.max_gap_hours=2" in str(err.value)


def test_a_near_zero_grid_keeps_its_zeros_unflagged(tmp_path):
    values = [0.0 if 30 <= i < 60 else 0.4 for i in range(96)]  # Québec's direct intensity: hours of 0.0
    path = long_file(tmp_path, [(t, "CA-QC", v) for t, v in zip(hours(96), values)])
    out = prepare(tmp_path, [{"path": str(path), "format": "long"}])
    assert out.ci.tolist() == values and not out.interpolated.any() and not out.suspicious.any()
    assert io.read_metadata(tmp_path / "t.parquet")["near_zero_replaced_hours"] == {"CA-QC": 0}

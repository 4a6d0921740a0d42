"""Read and validate hourly carbon-intensity traces (Electricity Maps export, or a generic long CSV)."""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from greenbench import io, provenance
from greenbench.log import get_logger

log = get_logger(__name__)

EM_TIME = "Datetime (UTC)"
EM_ZONE = "Zone Id"
EM_COLUMNS = {"direct": "Carbon Intensity gCO₂eq/kWh (direct)", "lca": "Carbon Intensity gCO₂eq/kWh (LCA)"}
EM_ESTIMATED = "Data Estimated"
LONG_COLUMNS = ("timestamp", "zone", "carbon_intensity_gco2_per_kwh")
MIRROR_SUBDIR = "electricitymaps_eco4cast"

TRACE_SCHEMA = pa.schema([
    pa.field("zone", pa.string(), nullable=False),
    pa.field("timestamp", pa.timestamp("s", tz="UTC"), nullable=False),
    pa.field("ci", pa.float64(), nullable=False),            # gCO2e/kWh
    pa.field("estimated", pa.bool_(), nullable=False),       # flagged estimated by the data provider
    pa.field("interpolated", pa.bool_(), nullable=False),    # filled by greenbench (short gap)
])


class TraceError(ValueError):
    """A trace file is malformed; the message names the file and line."""


def em_filename(zone: str, year: int) -> str:
    return f"{zone}_{year}_hourly.csv"


def retrieve_trace(zone: str, year: int, dest: str | Path) -> Path:
    """Keep an existing file, else copy from $GREENBENCH_DATA/carbon/electricitymaps_eco4cast/."""
    dest = Path(dest)
    if dest.exists():
        return dest
    root = os.environ.get("GREENBENCH_DATA")
    mirror = Path(root) / "carbon" / MIRROR_SUBDIR / em_filename(zone, year) if root else None
    if mirror is not None and mirror.exists():
        return io.copy_file(mirror, dest)
    raise FileNotFoundError(
        f"carbon trace {em_filename(zone, year)} not found at {dest}"
        + (f" nor at {mirror}" if mirror else " ($GREENBENCH_DATA is not set)")
        + ". Fix: put the Electricity Maps hourly export there, or set GREENBENCH_DATA to a folder containing "
        f"carbon/{MIRROR_SUBDIR}/{em_filename(zone, year)}."
    )


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    reader = csv.reader(text.splitlines())
    rows = [(i, r) for i, r in enumerate(reader, start=1) if r]
    if not rows:
        raise TraceError(f"{path}: empty file")
    return rows[0][1], rows[1:]


DEFAULT_MAX_CI = 2000.0  # gCO2e/kWh: above the dirtiest real grid-hours (lignite plants run ~1,100)


def zone_of_file(path: str | Path) -> str | None:
    """The zone a ``{zone}_{year}_hourly.csv`` file is named for (None for other names)."""
    match = re.fullmatch(r"(.+)_(\d{4})_hourly", Path(path).stem)
    return match.group(1) if match else None


def read_trace(path: str | Path, column: str = "direct", max_ci: float = DEFAULT_MAX_CI) -> pd.DataFrame:
    """Parse either format into zone, timestamp, ci, estimated, line (source line numbers kept).

    Every value must be a finite number in [0, ``max_ci``] gCO2e/kWh, and every row's zone the zone
    the file is named for (``{zone}_{year}_hourly.csv``): errors name the file and line."""
    path = Path(path)
    expected_zone = zone_of_file(path)
    header, rows = _read_rows(path)
    if EM_TIME in header:
        want = EM_COLUMNS[column]
        missing = [c for c in (EM_TIME, EM_ZONE, want) if c not in header]
        if missing:
            raise TraceError(f"{path}:1: Electricity Maps header lacks {missing}")
        it, iz, ic = header.index(EM_TIME), header.index(EM_ZONE), header.index(want)
        ie = header.index(EM_ESTIMATED) if EM_ESTIMATED in header else None
    elif tuple(h.strip() for h in header[:3]) == LONG_COLUMNS:
        it, iz, ic, ie = 0, 1, 2, None
    else:
        raise TraceError(f"{path}:1: unknown header; expected the Electricity Maps export or "
                         f"'{','.join(LONG_COLUMNS)}'")
    records = []
    for line, r in rows:
        try:
            ts = pd.Timestamp(r[it])
            value = float(r[ic])
        except (IndexError, ValueError) as exc:
            raise TraceError(f"{path}:{line}: cannot parse timestamp/value ({exc})") from None
        if not math.isfinite(value):
            raise TraceError(f"{path}:{line}: carbon intensity {r[ic]!r} is not a finite number")
        if value > max_ci:
            raise TraceError(f"{path}:{line}: carbon intensity {value:g} gCO2e/kWh is above the plausible ceiling "
                             f"{max_ci:g} (carbon.max_ci_g_per_kwh)")
        zone = r[iz].strip()
        if expected_zone is not None and zone != expected_zone:
            raise TraceError(f"{path}:{line}: zone '{zone}' in a file named for zone '{expected_zone}'")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        estimated = ie is not None and r[ie].strip().lower() == "true"
        records.append((zone, ts, value, estimated, line))
    return pd.DataFrame(records, columns=["zone", "timestamp", "ci", "estimated", "line"]).assign(source=str(path))


def validate_and_fill(df: pd.DataFrame, max_gap_hours: int) -> pd.DataFrame:
    """Hourly UTC, strictly increasing, no duplicates, non-negative; fill gaps up to
    ``max_gap_hours`` missing hours by linear interpolation (flagged); longer gaps are errors."""
    out = []
    for zone, g in df.groupby("zone", sort=True):
        src = g["source"].iloc[0]
        bad = g[g.ci < 0]
        if len(bad):
            r = bad.iloc[0]
            raise TraceError(f"{r.source}:{r.line}: negative carbon intensity {r.ci} for zone {zone}")
        ts = g["timestamp"]
        off_hour = g[(ts.dt.minute != 0) | (ts.dt.second != 0)]
        if len(off_hour):
            r = off_hour.iloc[0]
            raise TraceError(f"{r.source}:{r.line}: timestamp {r.timestamp} is not on the hour")
        dup = g[ts.duplicated(keep="first")]
        if len(dup):
            r = dup.iloc[0]
            raise TraceError(f"{r.source}:{r.line}: duplicate timestamp {r.timestamp} for zone {zone}")
        step = ts.diff().dt.total_seconds().iloc[1:] / 3600.0
        back = step[step <= 0]
        if len(back):
            r = g.loc[back.index[0]]
            raise TraceError(f"{r.source}:{r.line}: timestamps not increasing at {r.timestamp} for zone {zone}")
        gaps = step[step > 1]
        for idx, hours in gaps.items():
            if hours - 1 > max_gap_hours:
                r = g.loc[idx]
                raise TraceError(f"{r.source}:{r.line}: gap of {int(hours - 1)} missing hours before {r.timestamp} "
                                 f"for zone {zone} exceeds carbon.max_gap_hours={max_gap_hours}")
        full = pd.date_range(ts.iloc[0], ts.iloc[-1], freq="h")
        s = g.set_index("timestamp")
        filled = pd.DataFrame(index=full)
        filled["ci"] = s["ci"].reindex(full).interpolate(method="time")
        filled["estimated"] = s["estimated"].reindex(full).fillna(False).astype(bool)
        filled["interpolated"] = s["ci"].reindex(full).isna()
        filled["zone"] = zone
        out.append(filled.rename_axis("timestamp").reset_index())
        if gaps.size:
            log.warning("%s: zone %s: interpolated %d missing hours", src, zone, int(filled.interpolated.sum()))
    return pd.concat(out, ignore_index=True)[TRACE_SCHEMA.names]


def prepare_traces(files: list[str | Path], out: str | Path, column: str, max_gap_hours: int,
                   max_ci: float = DEFAULT_MAX_CI) -> pd.DataFrame:
    frames = [read_trace(f, column, max_ci) for f in files]
    # stable sort by zone only: within a zone, rows keep file order, so an unordered file is caught
    merged = pd.concat(frames, ignore_index=True).sort_values("zone", kind="stable")
    # duplicates across files (overlapping exports) are errors too: validate on the merged series
    table = validate_and_fill(merged, max_gap_hours)
    meta = provenance.collect(files=[str(f) for f in files], sha256={str(f): provenance.file_sha256(f) for f in files},
                              column=column, max_gap_hours=max_gap_hours, max_ci=max_ci,
                              attribution="Electricity Maps (electricitymaps.com), ODbL")
    io.write_parquet(table, out, TRACE_SCHEMA, meta)
    log.info("traces: %d zones, %d hours, %d interpolated -> %s", table.zone.nunique(), len(table),
             int(table.interpolated.sum()), out)
    return table


def series(traces: pd.DataFrame, zone: str) -> pd.Series:
    g = traces[traces.zone == zone]
    return pd.Series(g["ci"].to_numpy(float), index=pd.DatetimeIndex(g["timestamp"]))


__all__ = ["TraceError", "read_trace", "validate_and_fill", "prepare_traces", "retrieve_trace", "series"]

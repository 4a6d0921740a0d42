"""Read and validate hourly carbon-intensity traces (Electricity Maps export, a generic long CSV, or a wide CSV
with one intensity column among others)."""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa

from greenbench.core import io, provenance
from greenbench.core.log import InputError, get_logger

log = get_logger(__name__)

EM_TIME = "Datetime (UTC)"
EM_ZONE = "Zone Id"
EM_COLUMNS = {"direct": "Carbon Intensity gCO₂eq/kWh (direct)", "lca": "Carbon Intensity gCO₂eq/kWh (LCA)"}
EM_ESTIMATED = "Data Estimated"
LONG_COLUMNS = ("timestamp", "zone", "carbon_intensity_gco2_per_kwh")
MIRROR_SUBDIR = "electricitymaps_eco4cast"

TRACE_SCHEMA = pa.schema(
    [
        pa.field("zone", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("ci", pa.float64(), nullable=False),  # gCO2e/kWh
        pa.field("estimated", pa.bool_(), nullable=False),  # flagged estimated by the data provider
        pa.field("interpolated", pa.bool_(), nullable=False),  # filled by greenbench (short gap or empty value)
        pa.field(
            "suspicious", pa.bool_(), nullable=False
        ),  # kept but flagged: a plateau or a collapse (see suspicious)
    ]
)


class TraceError(InputError):
    """A trace file is malformed; the message names the file and line."""


DEFAULT_MAX_CI = 2000.0  # gCO2e/kWh: above the dirtiest real grid-hours (lignite plants run ~1,100)


def em_filename(zone: str, year: int) -> str:
    return f"{zone}_{year}_hourly.csv"


def retrieve_trace(
    zone: str,
    year: int,
    dest: str | Path,
    column: str = "direct",
    max_ci: float = DEFAULT_MAX_CI,
    max_gap_hours: int | None = None,
) -> Path:
    """Keep an existing file, else copy from $GREENBENCH_DATA/carbon/electricitymaps_eco4cast/ once
    the mirror's file validates (rows, zone, year; with ``max_gap_hours``, gaps and the whole year):
    a bad mirror file is never kept, so fixing the mirror is enough."""
    dest = Path(dest)
    if dest.exists():
        return dest
    root = os.environ.get("GREENBENCH_DATA")
    mirror = Path(root) / "carbon" / MIRROR_SUBDIR / em_filename(zone, year) if root else None
    if mirror is not None and mirror.exists():
        rows = read_trace(mirror, column, max_ci)
        if max_gap_hours is not None:
            validate_and_fill(rows, max_gap_hours)
            check_coverage(rows, [year], max_gap_hours)
        return io.copy_file(mirror, dest)
    raise FileNotFoundError(
        f"carbon trace {em_filename(zone, year)} not found at {dest}"
        + (f" nor at {mirror}" if mirror else " ($GREENBENCH_DATA is not set)")
        + ". Fix: put the Electricity Maps hourly export there, or set GREENBENCH_DATA to a folder containing "
        f"carbon/{MIRROR_SUBDIR}/{em_filename(zone, year)}."
    )


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Excel) is not part of the header
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    reader = csv.reader(text.splitlines())
    rows = [(i, r) for i, r in enumerate(reader, start=1) if r]
    if not rows:
        raise TraceError(f"{path}: empty file")
    if len(rows) == 1:
        raise TraceError(f"{path}:{rows[0][0]}: a header and no data rows")
    width = len(rows[0][1])
    for line, r in rows[1:]:
        if len(r) != width:
            raise TraceError(
                f"{path}:{line}: {len(r)} fields where the header has {width} (a decimal comma, or a "
                "value with a comma and no quotes?)"
            )
    return rows[0][1], rows[1:]


# ISO 8601 date-times as the exports write them: 2022-01-01 00:00:00, 2022-01-01T00:00Z, ...+01:00
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?")


def parse_time(text: str, where: str) -> pd.Timestamp:
    """An ISO 8601 time as UTC (a time without offset is UTC); anything else (``today``, empty, a
    local format pandas would guess at) names ``where`` (file:line)."""
    text = text.strip()
    try:
        if not ISO_TIME.fullmatch(text):
            raise ValueError("not an ISO 8601 date-time")
        ts = pd.Timestamp(text)
        if ts is pd.NaT:
            raise ValueError("empty")
    except ValueError as exc:
        raise TraceError(f"{where}: timestamp {text!r} is not a date-time like 2022-01-01 00:00:00 ({exc})") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def zone_of_file(path: str | Path) -> str | None:
    """The zone a ``{zone}_{year}_hourly.csv`` file is named for (None for other names)."""
    match = re.fullmatch(r"(.+)_(\d{4})_hourly", Path(path).stem)
    return match.group(1) if match else None


def year_of_file(path: str | Path) -> int | None:
    """The year a ``{zone}_{year}_hourly.csv`` file is named for (None for other names)."""
    match = re.fullmatch(r"(.+)_(\d{4})_hourly", Path(path).stem)
    return int(match.group(2)) if match else None


FORMATS = ("electricitymaps", "long", "wide")


def _header_format(header: list[str]) -> str | None:
    if EM_TIME in header:
        return "electricitymaps"
    if tuple(h.strip() for h in header[:3]) == LONG_COLUMNS:
        return "long"
    return None


def _columns(
    path: Path,
    header: list[str],
    column: str,
    fmt: str,
    zone: str | None,
    timestamp_column: str,
    intensity_column: str | None,
) -> tuple[int, int | None, int, int | None]:
    """Indices of the timestamp, zone, intensity and estimated columns for a file's format."""
    found = _header_format(header)
    fmt = found if fmt == "auto" else fmt
    if fmt is None:
        raise TraceError(
            f"{path}:1: unknown header; expected the Electricity Maps export or "
            f"'{','.join(LONG_COLUMNS)}' (or give carbon.sources[].format: wide with its columns)"
        )
    ie = iz = None
    if fmt == "electricitymaps":
        want = EM_COLUMNS[column]
        missing = [c for c in (EM_TIME, EM_ZONE, want) if c not in header]
        if missing:
            raise TraceError(f"{path}:1: Electricity Maps header lacks {missing}")
        it, iz, ic = header.index(EM_TIME), header.index(EM_ZONE), header.index(want)
        ie = header.index(EM_ESTIMATED) if EM_ESTIMATED in header else None
    elif fmt == "long":
        if found != "long":
            raise TraceError(f"{path}:1: a long trace starts with the header '{','.join(LONG_COLUMNS)}'")
        it, iz, ic = 0, 1, 2
    elif fmt == "wide":
        names = [h.strip() for h in header]
        missing = [c for c in (timestamp_column, intensity_column) if c not in names]
        if missing or not zone:
            raise TraceError(
                f"{path}:1: a wide trace needs its zone and the columns {missing or [timestamp_column]} "
                f"(header: {', '.join(names[:12])}{' …' if len(names) > 12 else ''})"
            )
        it, ic = names.index(timestamp_column), names.index(intensity_column)
    else:
        raise TraceError(f"{path}: unknown trace format '{fmt}' (one of {', '.join(FORMATS)})")
    return it, iz, ic, ie


def read_trace(
    path: str | Path,
    column: str = "direct",
    max_ci: float = DEFAULT_MAX_CI,
    fmt: str = "auto",
    zone: str | None = None,
    timestamp_column: str = "timestamp",
    intensity_column: str | None = None,
) -> pd.DataFrame:
    """Parse one file into zone, timestamp, ci, estimated, line (source line numbers kept).

    Formats: ``electricitymaps`` (the export: Datetime (UTC), Zone Id, the intensity columns),
    ``long`` (timestamp, zone, carbon_intensity_gco2_per_kwh), ``wide`` (one zone per file, given as
    ``zone``: a timestamp column and any number of others, e.g. EIA-930-derived generation by fuel,
    of which ``intensity_column`` is read); ``auto`` tells the first two apart by their header.
    An empty value is a gap (filled later up to ``carbon.max_gap_hours`` hours, flagged). Every value
    must be a finite number in [0, ``max_ci``] gCO2e/kWh, and every row's zone the zone the file is
    named for (``{zone}_{year}_hourly.csv``) or given: errors name the file and line."""
    path = Path(path)
    expected_zone, expected_year = zone or zone_of_file(path), year_of_file(path)
    header, rows = _read_rows(path)
    it, iz, ic, ie = _columns(path, header, column, fmt, zone, timestamp_column, intensity_column)
    records, gaps = [], 0
    for line, r in rows:
        ts = parse_time(r[it], f"{path}:{line}")
        if expected_year is not None and ts.year != expected_year:
            raise TraceError(
                f"{path}:{line}: timestamp {ts} (UTC) is outside {expected_year}, the year the file is named for"
            )
        raw = r[ic].strip()
        if not raw:
            gaps += 1
            continue
        try:
            value = float(raw)
        except ValueError:
            raise TraceError(f"{path}:{line}: carbon intensity {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise TraceError(f"{path}:{line}: carbon intensity {r[ic]!r} is not a finite number")
        if value > max_ci:
            raise TraceError(
                f"{path}:{line}: carbon intensity {value:g} gCO2e/kWh is above the plausible ceiling "
                f"{max_ci:g} (carbon.max_ci_g_per_kwh)"
            )
        row_zone = r[iz].strip() if iz is not None else str(zone)
        if expected_zone is not None and row_zone != expected_zone:
            raise TraceError(
                f"{path}:{line}: zone '{row_zone}' in a file {'given' if zone else 'named'} for zone '{expected_zone}'"
            )
        estimated = ie is not None and r[ie].strip().lower() == "true"
        records.append((row_zone, ts, value, estimated, line))
    if gaps:
        log.warning("%s: %d empty values: treated as gaps (filled up to carbon.max_gap_hours, flagged)", path, gaps)
    return pd.DataFrame(records, columns=["zone", "timestamp", "ci", "estimated", "line"]).assign(source=str(path))


PLATEAU_HOURS = 24  # this many identical consecutive hourly values: a stuck feed, not a grid
COLLAPSE_FRACTION = 0.1  # below this share of the trailing week's median: a collapse, not a cleaner grid


def suspicious(ci: pd.Series) -> pd.Series:
    """Hours to distrust (flagged, kept): inside a plateau of ``PLATEAU_HOURS`` identical consecutive
    values, or below ``COLLAPSE_FRACTION`` of the trailing 7-day median."""
    values = ci.to_numpy(float)
    runs = (pd.Series(values).diff().ne(0)).cumsum()
    plateau = pd.Series(values).groupby(runs).transform("size").to_numpy() >= PLATEAU_HOURS
    median = pd.Series(values).rolling(24 * 7, min_periods=24).median().shift(1).to_numpy()
    collapse = values < COLLAPSE_FRACTION * median
    return pd.Series(plateau | collapse, index=ci.index)


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
                raise TraceError(
                    f"{r.source}:{r.line}: gap of {int(hours - 1)} missing hours before {r.timestamp} "
                    f"for zone {zone} exceeds carbon.max_gap_hours={max_gap_hours}"
                )
        full = pd.date_range(ts.iloc[0], ts.iloc[-1], freq="h")
        s = g.set_index("timestamp")
        filled = pd.DataFrame(index=full)
        filled["ci"] = s["ci"].reindex(full).interpolate(method="time")
        filled["estimated"] = s["estimated"].reindex(full).fillna(False).astype(bool)
        filled["interpolated"] = s["ci"].reindex(full).isna()
        filled["zone"] = zone
        filled["suspicious"] = suspicious(filled["ci"])
        out.append(filled.rename_axis("timestamp").reset_index())
        if gaps.size:
            log.warning("%s: zone %s: interpolated %d missing hours", src, zone, int(filled.interpolated.sum()))
        if filled.suspicious.any():
            first = filled.index[filled.suspicious.to_numpy()][0]
            log.warning(
                "%s: zone %s: %d suspicious hours flagged (plateau of >= %d identical values, or below %.0f%% "
                "of the trailing week's median), first at %s",
                src,
                zone,
                int(filled.suspicious.sum()),
                PLATEAU_HOURS,
                100 * COLLAPSE_FRACTION,
                first,
            )
    return pd.concat(out, ignore_index=True)[TRACE_SCHEMA.names]


def check_coverage(raw: pd.DataFrame, years, max_gap_hours: int) -> None:
    """Every zone runs through every year of ``carbon.years`` (the config's forecast and schedule
    windows are checked against whole years): a missing year or a truncated start or end, beyond
    ``max_gap_hours``, names the file and line where the trace stops."""
    slack = pd.Timedelta(hours=max_gap_hours)
    for zone, g in raw.groupby("zone", sort=True):
        for year in sorted(years):
            first = pd.Timestamp(f"{year}-01-01", tz="UTC")
            last = pd.Timestamp(f"{year}-12-31 23:00", tz="UTC")
            inside = g[(g.timestamp >= first) & (g.timestamp <= last)].sort_values("timestamp")
            if inside.empty:
                raise TraceError(
                    f"config key 'carbon.years': zone {zone} has no hour in {year} "
                    f"(files: {', '.join(sorted(set(g.source)))})"
                )
            head, tail = inside.iloc[0], inside.iloc[-1]
            if head.timestamp - first > slack:
                raise TraceError(
                    f"{head.source}:{head.line}: zone {zone} starts at {head.timestamp}; carbon.years "
                    f"asks for all of {year} (carbon.max_gap_hours={max_gap_hours})"
                )
            if last - tail.timestamp > slack:
                raise TraceError(
                    f"{tail.source}:{tail.line}: zone {zone} stops at {tail.timestamp}; carbon.years "
                    f"asks for all of {year} (carbon.max_gap_hours={max_gap_hours})"
                )


def trace_file(zone: str, year: int, dest: str | Path) -> Path | None:
    """The export ``retrieve_trace`` would use: ``dest`` when present, else the mirror's copy."""
    if Path(dest).exists():
        return Path(dest)
    root = os.environ.get("GREENBENCH_DATA")
    mirror = Path(root) / "carbon" / MIRROR_SUBDIR / em_filename(zone, year) if root else None
    return mirror if mirror is not None and mirror.exists() else None


def resolve_sources(sources: list[dict] | None) -> list[dict]:
    """``carbon.sources`` with each entry's ``files``: its ``path`` as a glob (relative to the working
    directory), sorted; an entry that matches nothing keeps an empty list (the config check names it)."""
    import glob

    return [{**spec, "files": sorted(glob.glob(str(spec["path"]), recursive=True))} for spec in sources or []]


def header_errors(sources: list[dict], column: str) -> list[str]:
    """Each ``carbon.sources`` file's header against its format, reading one line (before any job)."""
    out = []
    for spec in sources:
        for f in spec.get("files") or []:
            try:
                with open(f, encoding="utf-8-sig", newline="") as fh:
                    header = next(csv.reader([fh.readline()]), [])
                if not header:
                    raise TraceError(f"{f}:1: empty first line (a header is expected)")
                _columns(
                    Path(f),
                    header,
                    column,
                    spec.get("format", "auto"),
                    spec.get("zone"),
                    spec.get("timestamp_column", "timestamp"),
                    spec.get("intensity_column"),
                )
            except TraceError as exc:
                out.append(str(exc))
            except (OSError, UnicodeDecodeError) as exc:
                out.append(f"{f}: cannot be read as UTF-8 text ({exc})")
    return out


def read_sources(sources: list[dict], column: str, max_ci: float = DEFAULT_MAX_CI) -> pd.DataFrame:
    """Every file of every ``carbon.sources`` entry (``files``: the entry's path or glob, resolved)."""
    frames = []
    for i, spec in enumerate(sources):
        files = spec.get("files") or []
        if not files:
            raise TraceError(f"config key 'carbon.sources[{i}].path': {spec.get('path')!r} matches no file")
        for f in files:
            frames.append(
                read_trace(
                    f,
                    column,
                    max_ci,
                    fmt=spec.get("format", "auto"),
                    zone=spec.get("zone"),
                    timestamp_column=spec.get("timestamp_column", "timestamp"),
                    intensity_column=spec.get("intensity_column"),
                )
            )
    return pd.concat(frames, ignore_index=True)


def prepare_traces(
    files: list[str | Path],
    out: str | Path,
    column: str,
    max_gap_hours: int,
    max_ci: float = DEFAULT_MAX_CI,
    sources: list[dict] | None = None,
    zones: list[str] | None = None,
    years: list[int] | None = None,
) -> pd.DataFrame:
    """Validate and merge the traces: ``files`` (Electricity Maps exports named by zone and year) or,
    when given, ``sources`` (``carbon.sources``, each with its format); only ``zones`` and ``years``
    are kept when given, and each zone must have rows."""
    raw = (
        read_sources(sources, column, max_ci)
        if sources
        else pd.concat([read_trace(f, column, max_ci) for f in files], ignore_index=True)
    )
    if zones is not None:
        raw = raw[raw.zone.isin(zones)]
        missing = sorted(set(zones) - set(raw.zone))
        if missing:
            where = "carbon.sources" if sources else "the trace files"
            raise TraceError(
                f"config key 'carbon.zones': {', '.join(missing)} not found in {where} "
                f"(zones there: {', '.join(sorted(set(raw.zone))) or 'none'})"
            )
    if years is not None:
        raw = raw[raw.timestamp.dt.year.isin(years)]
    # stable sort by zone only: within a zone, rows keep file order, so an unordered file is caught
    merged = raw.sort_values("zone", kind="stable")
    # duplicates across files (overlapping exports) are errors too: validate on the merged series
    table = validate_and_fill(merged, max_gap_hours)
    if years is not None:
        check_coverage(merged, years, max_gap_hours)
    used = sorted(set(merged.source))
    meta = provenance.collect(
        files=used,
        sha256={f: provenance.file_sha256(f) for f in used},
        column=column,
        max_gap_hours=max_gap_hours,
        max_ci=max_ci,
        sources=sources or [],
        attribution="Electricity Maps (electricitymaps.com), ODbL"
        if not sources
        else "the files of carbon.sources (see their licences)",
    )
    io.write_parquet(table, out, TRACE_SCHEMA, meta)
    log.info(
        "traces: %d zones, %d hours, %d interpolated, %d suspicious -> %s",
        table.zone.nunique(),
        len(table),
        int(table.interpolated.sum()),
        int(table.suspicious.sum()),
        out,
    )
    return table


def content_hash(path: str | Path) -> str:
    """A hash of a prepared traces table's values (not of the file, whose metadata changes per write)."""
    import hashlib

    table = io.read_parquet(path)
    return hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()).hexdigest()


def series(traces: pd.DataFrame, zone: str) -> pd.Series:
    g = traces[traces.zone == zone]
    return pd.Series(g["ci"].to_numpy(float), index=pd.DatetimeIndex(g["timestamp"]))


__all__ = [
    "TraceError",
    "read_trace",
    "read_sources",
    "suspicious",
    "validate_and_fill",
    "check_coverage",
    "prepare_traces",
    "retrieve_trace",
    "trace_file",
    "series",
]

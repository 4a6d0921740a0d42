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

from greenbench.core import io, provenance, textfiles
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
UNKNOWN_ZONES = ("error", "drop")  # carbon.sources[].unknown_zones: rows of a zone outside carbon.zones


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
    try:  # a BOM (Excel) is not part of the header; gzip, UTF-16, Latin-1 are named in one line
        decoded = textfiles.decode(path.read_bytes())
    except textfiles.NotUTF8Text as exc:
        raise TraceError(exc.at(path)) from None
    if decoded.bom:
        log.info("%s: %s", path, textfiles.BOM_NOTE)
    reader = csv.reader(decoded.text.splitlines())
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
    return _parse_time(text, where)[0]


def _parse_time(text: str, where: str) -> tuple[pd.Timestamp, bool]:
    """``parse_time`` and whether the text gave no UTC offset (read as UTC: local time would show as a
    repeated or skipped hour at a daylight-saving change, see ``local_time_hint``)."""
    text = text.strip()
    try:
        if not ISO_TIME.fullmatch(text):
            raise ValueError("not an ISO 8601 date-time")
        ts = pd.Timestamp(text)
        if ts is pd.NaT:
            raise ValueError("empty")
    except ValueError as exc:
        raise TraceError(f"{where}: timestamp {text!r} is not a date-time like 2022-01-01 00:00:00 ({exc})") from None
    return (ts.tz_localize("UTC"), True) if ts.tzinfo is None else (ts.tz_convert("UTC"), False)


DST_MONTHS = (3, 4, 9, 10, 11)  # daylight-saving changes, both hemispheres
NEW_YEAR_SLACK = pd.Timedelta(hours=14)  # the largest UTC offset: local time moves New Year this far at most


def local_time_hint(symptom: str) -> str:
    """The hint an error adds when its row's timestamp had no UTC offset and the symptom is local time's."""
    return (
        f" (hint: timestamps without a UTC offset look like local time: {symptom}; give UTC, each "
        "timestamp ending in Z or +00:00, e.g. 2022-10-30T01:00Z)"
    )


def _hint_if_local(row, symptom: str) -> str:
    if not bool(getattr(row, "naive", False)):
        return ""
    if "daylight-saving" in symptom and row.timestamp.month not in DST_MONTHS:
        return ""
    return local_time_hint(symptom)


def _near_new_year(ts: pd.Timestamp, year: int) -> bool:
    return any(abs(ts - pd.Timestamp(f"{y}-01-01", tz="UTC")) <= NEW_YEAR_SLACK for y in (year, year + 1))


NEW_YEAR_SYMPTOM = "local time moves the first or last hours of a year across New Year"


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
    named for (``{zone}_{year}_hourly.csv``) or given: errors name the file and line. A UTF-8 BOM is
    dropped (logged); a file that is not UTF-8 text is named with its probable encoding. ``naive``: the
    row's timestamp had no UTC offset (read as UTC)."""
    path = Path(path)
    expected_zone, expected_year = zone or zone_of_file(path), year_of_file(path)
    header, rows = _read_rows(path)
    it, iz, ic, ie = _columns(path, header, column, fmt, zone, timestamp_column, intensity_column)
    records, gaps = [], 0
    for line, r in rows:
        ts, naive = _parse_time(r[it], f"{path}:{line}")
        if expected_year is not None and ts.year != expected_year:
            hint = local_time_hint(NEW_YEAR_SYMPTOM) if naive and _near_new_year(ts, expected_year) else ""
            raise TraceError(
                f"{path}:{line}: timestamp {ts} (UTC) is outside {expected_year}, the year the file is named for{hint}"
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
        records.append((row_zone, ts, value, estimated, line, naive))
    if gaps:
        log.warning("%s: %d empty values: treated as gaps (filled up to carbon.max_gap_hours, flagged)", path, gaps)
    columns = ["zone", "timestamp", "ci", "estimated", "line", "naive"]
    return pd.DataFrame(records, columns=columns).assign(source=str(path))


PLATEAU_HOURS = 24  # this many identical consecutive hourly values: a stuck feed, not a grid
COLLAPSE_FRACTION = 0.1  # below this share of the trailing week's median: a collapse, not a cleaner grid
NEAR_ZERO_G = 1.0  # gCO2e/kWh: a reading below this is zero or near zero ...
NEAR_ZERO_GRID_G = 20.0  # ... and a feed dropout where the trailing week's median is at least this; below it
# the grid itself is near zero (Québec's hydro, direct: median 0-15 g), and its zeros are its real values


def _trailing_median(ci: pd.Series) -> pd.Series:
    return ci.rolling(24 * 7, min_periods=24).median().shift(1)


def near_zero_dropouts(ci: pd.Series) -> pd.Series:
    """Hours whose reading is zero or near zero (below ``NEAR_ZERO_G``) in a grid that is not (trailing 7-day
    median at least ``NEAR_ZERO_GRID_G``): a feed dropout, replaced like a gap by ``validate_and_fill``."""
    values = pd.Series(ci.to_numpy(float), index=ci.index)
    return (values < NEAR_ZERO_G) & (_trailing_median(values) >= NEAR_ZERO_GRID_G)


def suspicious(ci: pd.Series) -> pd.Series:
    """Hours to distrust (flagged, kept, counted in the trace report): inside a plateau of ``PLATEAU_HOURS``
    identical consecutive values, or below ``COLLAPSE_FRACTION`` of the trailing 7-day median where that
    median is at least ``NEAR_ZERO_GRID_G``. Zero and near-zero readings are never flagged: in a grid that is
    not near zero they are replaced (``near_zero_dropouts``), in one that is (hours of 0.0) they are its values."""
    values = ci.to_numpy(float)
    runs = (pd.Series(values).diff().ne(0)).cumsum()
    plateau = pd.Series(values).groupby(runs).transform("size").to_numpy() >= PLATEAU_HOURS
    plateau &= values >= NEAR_ZERO_G
    median = _trailing_median(pd.Series(values)).to_numpy()
    collapse = (values < COLLAPSE_FRACTION * median) & (median >= NEAR_ZERO_GRID_G)
    return pd.Series(plateau | collapse, index=ci.index)


def validate_and_fill(df: pd.DataFrame, max_gap_hours: int, counts: dict | None = None) -> pd.DataFrame:
    """Hourly UTC, strictly increasing, no duplicates, non-negative; fill gaps up to
    ``max_gap_hours`` missing hours by linear interpolation (flagged); longer gaps are errors.
    A duplicate hour blames the later row (reading order) and names the earlier one. Zero and near-zero
    readings in a grid that is not near zero (``near_zero_dropouts``) are replaced like gaps (flagged
    ``interpolated``, the same ``max_gap_hours`` limit) and counted. ``counts``, when given, receives
    per zone ``near_zero_replaced``, ``interpolated`` and ``suspicious`` hours (the trace report)."""
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
            r = dup.iloc[0]  # the first row that repeats an hour: the later of the two, in reading order
            first = g[ts == r.timestamp].iloc[0]
            raise TraceError(
                f"{r.source}:{r.line}: duplicate timestamp {r.timestamp} for zone {zone}: that hour was given "
                f"before at {first.source}:{first.line}; keep one of the two rows"
                + _hint_if_local(r, "a daylight-saving change in autumn repeats an hour")
            )
        step = ts.diff().dt.total_seconds().iloc[1:] / 3600.0
        back = step[step <= 0]
        if len(back):
            r = g.loc[back.index[0]]
            raise TraceError(f"{r.source}:{r.line}: timestamps not increasing at {r.timestamp} for zone {zone}")
        gaps = step[step > 1]
        for idx, hours in gaps.items():
            if hours - 1 > max_gap_hours:
                r = g.loc[idx]
                hint = _hint_if_local(r, "a daylight-saving change in spring skips an hour") if hours == 2 else ""
                raise TraceError(
                    f"{r.source}:{r.line}: gap of {int(hours - 1)} missing hours before {r.timestamp} "
                    f"for zone {zone} exceeds carbon.max_gap_hours={max_gap_hours}{hint}"
                )
        full = pd.date_range(ts.iloc[0], ts.iloc[-1], freq="h")
        s = g.set_index("timestamp")
        values = s["ci"].reindex(full)
        dropout = near_zero_dropouts(values)
        _check_dropout_runs(zone, s, values, dropout, max_gap_hours)
        filled = pd.DataFrame(index=full)
        filled["ci"] = values.mask(dropout).interpolate(method="time")
        filled["estimated"] = s["estimated"].reindex(full).fillna(False).astype(bool)
        filled["interpolated"] = values.isna() | dropout
        filled["zone"] = zone
        filled["suspicious"] = suspicious(filled["ci"])
        out.append(filled.rename_axis("timestamp").reset_index())
        if gaps.size:
            log.warning("%s: zone %s: interpolated %d missing hours", src, zone, int(values.isna().sum()))
        if dropout.any():
            first = s.loc[dropout.index[dropout.to_numpy()][0]]
            log.warning(
                "%s: zone %s: %d zero or near-zero readings (below %g gCO2e/kWh where the trailing week's median "
                "is at least %g) replaced by interpolation like gaps (flagged interpolated), first at %s:%d",
                src,
                zone,
                int(dropout.sum()),
                NEAR_ZERO_G,
                NEAR_ZERO_GRID_G,
                first.source,
                first.line,
            )
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
        if counts is not None:
            for key, n in (
                ("near_zero_replaced", dropout.sum()),
                ("interpolated", filled.interpolated.sum()),
                ("suspicious", filled.suspicious.sum()),
            ):
                counts.setdefault(key, {})[str(zone)] = int(n)
    return pd.concat(out, ignore_index=True)[TRACE_SCHEMA.names]


def _check_dropout_runs(zone, rows: pd.DataFrame, values: pd.Series, dropout: pd.Series, max_gap_hours: int) -> None:
    """Near-zero readings count as missing: a run of them (with any gap beside them) longer than
    ``max_gap_hours`` is refused like a long gap, naming its first near-zero row."""
    missing = values.isna() | dropout
    run_length = missing.groupby((~missing).cumsum()).transform("sum")
    too_long = dropout & (run_length > max_gap_hours)
    if too_long.any():
        at = too_long.index[too_long.to_numpy()][0]
        r = rows.loc[at]
        raise TraceError(
            f"{r.source}:{r.line}: carbon intensity {r.ci:g} gCO2e/kWh for zone {zone} at {at}, where the trailing "
            f"week's median is {_trailing_median(values)[at]:.0f}: a feed dropout of zero or near-zero readings "
            f"(below {NEAR_ZERO_G:g}), {int(run_length[at])} hours in a row counting gaps beside it, more than "
            f"carbon.max_gap_hours={max_gap_hours} can fill; fix or empty those values, or raise carbon.max_gap_hours"
        )


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
                hint = _hint_if_local(head, NEW_YEAR_SYMPTOM) if _near_new_year(head.timestamp, year) else ""
                raise TraceError(
                    f"{head.source}:{head.line}: zone {zone} starts at {head.timestamp}; carbon.years "
                    f"asks for all of {year} (carbon.max_gap_hours={max_gap_hours}){hint}"
                )
            if last - tail.timestamp > slack:
                hint = _hint_if_local(tail, NEW_YEAR_SYMPTOM) if _near_new_year(tail.timestamp, year) else ""
                raise TraceError(
                    f"{tail.source}:{tail.line}: zone {zone} stops at {tail.timestamp}; carbon.years "
                    f"asks for all of {year} (carbon.max_gap_hours={max_gap_hours}){hint}"
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


HEADER_BYTES = 65536  # what ``header_errors`` reads of each file: the header line, and enough to tell UTF-16


def header_errors(sources: list[dict], column: str) -> list[str]:
    """Each ``carbon.sources`` file's header against its format, reading one line (before any job)."""
    out = []
    for spec in sources:
        for f in spec.get("files") or []:
            try:
                with open(f, "rb") as fh:
                    head = fh.read(HEADER_BYTES)
                first_line = head.split(b"\n", 1)[0] if b"\n" in head else head
                what = textfiles.not_text(head)  # gzip, UTF-16: said as the reader will say it
                if what:
                    raise textfiles.NotUTF8Text(what)
                header = next(csv.reader([textfiles.decode(first_line).text]), [])
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
            except textfiles.NotUTF8Text as exc:
                out.append(exc.at(f))
            except OSError as exc:
                out.append(f"{f}: cannot be read ({exc})")
    return out


def read_sources(
    sources: list[dict],
    column: str,
    max_ci: float = DEFAULT_MAX_CI,
    zones: list[str] | None = None,
    dropped: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Every file of every ``carbon.sources`` entry (``files``: the entry's path or glob, resolved). With
    ``zones``, rows of another zone are refused (``unknown_zones``), or with ``unknown_zones: drop``
    dropped and counted per zone into ``dropped``."""
    frames = []
    for i, spec in enumerate(sources):
        files = spec.get("files") or []
        if not files:
            raise TraceError(f"config key 'carbon.sources[{i}].path': {spec.get('path')!r} matches no file")
        read = [
            read_trace(
                f,
                column,
                max_ci,
                fmt=spec.get("format", "auto"),
                zone=spec.get("zone"),
                timestamp_column=spec.get("timestamp_column", "timestamp"),
                intensity_column=spec.get("intensity_column"),
            )
            for f in files
        ]
        frame = pd.concat(read, ignore_index=True)
        if zones is not None:
            frame = _unknown_zones(frame, zones, spec.get("unknown_zones", "error"), f"carbon.sources[{i}]", dropped)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _unknown_zones(
    frame: pd.DataFrame, zones: list[str], policy: str, key: str | None, dropped: dict[str, int] | None
) -> pd.DataFrame:
    """``frame`` without rows of zones outside ``zones``: an error naming them (zone ids, row counts, the first
    file:line), or with ``policy`` ``drop`` dropped, logged and counted into ``dropped``."""
    other = frame[~frame.zone.isin(zones)]
    if other.empty:
        return frame
    if policy not in UNKNOWN_ZONES:
        raise TraceError(f"config key '{key}.unknown_zones': {policy!r} is not one of {', '.join(UNKNOWN_ZONES)}")
    per_zone = other.zone.value_counts().sort_index()
    listed = ", ".join(f"{z} ({n} row{'s' if n != 1 else ''})" for z, n in per_zone.items())
    first = other.iloc[0]
    if policy == "error":
        fix = f"or set {key}.unknown_zones: drop" if key else "or leave those files out"
        raise TraceError(
            f"{first.source}:{first.line}: zone '{first.zone}' is not in carbon.zones ({', '.join(zones)}): "
            f"{len(other)} rows of zones outside it: {listed}; add them to carbon.zones, {fix}"
        )
    log.warning(
        "%s: dropped %d rows of zones not in carbon.zones (%s, unknown_zones: drop): %s; first at %s:%d",
        key,
        len(other),
        ", ".join(zones),
        listed,
        first.source,
        first.line,
    )
    if dropped is not None:
        for z, n in per_zone.items():
            dropped[str(z)] = dropped.get(str(z), 0) + int(n)
    return frame[frame.zone.isin(zones)]


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
    are kept when given, and each zone must have rows. A row of a zone outside ``zones`` is an error
    unless its source says ``unknown_zones: drop``. The trace report (the table's metadata and the log)
    counts per zone the rows dropped so, the near-zero readings replaced, the interpolated and the
    suspicious hours."""
    dropped: dict[str, int] = {}
    if sources:
        raw = read_sources(sources, column, max_ci, zones=zones, dropped=dropped)
    else:
        raw = pd.concat([read_trace(f, column, max_ci) for f in files], ignore_index=True)
        if zones is not None:
            raw = _unknown_zones(raw, zones, "error", None, None)
    if zones is not None:
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
    counts: dict[str, dict[str, int]] = {}
    table = validate_and_fill(merged, max_gap_hours, counts)
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
        unknown_zone_rows_dropped=dropped,
        near_zero_replaced_hours=counts.get("near_zero_replaced", {}),
        interpolated_hours=counts.get("interpolated", {}),
        suspicious_hours=counts.get("suspicious", {}),
    )
    io.write_parquet(table, out, TRACE_SCHEMA, meta)
    log.info(
        "traces: %d zones, %d hours, %d interpolated (%d of them near-zero readings replaced), %d suspicious, "
        "%d rows of zones outside carbon.zones dropped -> %s",
        table.zone.nunique(),
        len(table),
        int(table.interpolated.sum()),
        sum(counts.get("near_zero_replaced", {}).values()),
        int(table.suspicious.sum()),
        sum(dropped.values()),
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
    "near_zero_dropouts",
    "local_time_hint",
    "validate_and_fill",
    "check_coverage",
    "prepare_traces",
    "retrieve_trace",
    "trace_file",
    "series",
]

"""SST-2: locate a copy, validate the TSV line by line, write Parquet."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from greenbench.core import io, provenance, textfiles
from greenbench.core.log import InputError, get_logger

log = get_logger(__name__)

SPLITS = ("train", "dev")
HEADER = ("sentence", "label")
MIRROR_ENV = "GREENBENCH_DATA"
MAX_REPORTED_ERRORS = 10

DATASET_SCHEMA = pa.schema(
    [
        pa.field("idx", pa.int32(), nullable=False),
        pa.field("sentence", pa.string(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
    ]
)


class DataValidationError(InputError):
    """A data file is malformed; the message names the file and line(s)."""


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set could be found; the message says what to put where."""


def mirror_path(split: str, env: dict | None = None) -> Path | None:
    root = (env if env is not None else os.environ).get(MIRROR_ENV)
    return Path(root) / "sst2" / f"{split}.tsv" if root else None


def retrieve_sst2(split: str, dest: str | Path, hub_fallback: bool = True) -> Path:
    """Put ``split`` of SST-2 at ``dest``: keep an existing file, else copy the mirror, else the Hub."""
    if split not in SPLITS:
        raise ValueError(f"unknown SST-2 split '{split}' (expected one of {SPLITS})")
    dest = Path(dest)
    if dest.exists():
        log.info("using existing %s", dest)
        return dest
    mirror = mirror_path(split)
    if mirror is not None and mirror.exists():
        read_sst2_tsv(mirror)  # a malformed mirror fails here, naming its file and line, and nothing is kept
        log.info("copying %s from the %s mirror %s", split, MIRROR_ENV, mirror)
        return io.copy_file(mirror, dest)
    if hub_fallback:
        try:
            return _download_from_hub(split, dest)
        except Exception as exc:  # offline, datasets missing, hub error: all end in the same advice
            hub_error = f"Hugging Face Hub download failed: {type(exc).__name__}: {exc}"
    else:
        hub_error = "Hub download disabled (config key 'data.hub_fallback' is false)"
    looked = [str(dest)]
    looked.append(str(mirror) if mirror else f"${MIRROR_ENV}/sst2/{split}.tsv (${MIRROR_ENV} is not set)")
    raise DataNotFoundError(
        f"SST-2 split '{split}' not found. Looked in: {'; '.join(looked)}. {hub_error}.\n"
        f"Fix: put the GLUE SST-2 file {split}.tsv (header 'sentence<TAB>label') at {dest}, "
        f"or set {MIRROR_ENV} to a folder containing sst2/{split}.tsv."
    )


def _download_from_hub(split: str, dest: Path) -> Path:
    from datasets import load_dataset  # optional dependency (extra 'hub')

    hub_split = {"train": "train", "dev": "validation"}[split]
    ds = load_dataset("glue", "sst2", split=hub_split)
    lines = ["sentence\tlabel"] + [f"{row['sentence']}\t{row['label']}" for row in ds]
    log.info("downloaded %d rows of %s from the Hugging Face Hub", len(lines) - 1, split)
    with io.atomic_file(dest) as tmp:  # kept only once it validates
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        read_sst2_tsv(tmp)
    return dest


def read_sst2_tsv(path: str | Path) -> pd.DataFrame:
    """Parse and validate an SST-2 TSV. Every problem is reported as ``file:line: message``; a UTF-8 BOM is
    dropped (logged), a file that is not UTF-8 text is one line naming its encoding (``core.textfiles``)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: file not found")
    try:  # one line for a file that is not UTF-8 text (gzip, UTF-16, Latin-1), not one per bad line
        decoded = textfiles.decode(path.read_bytes())
    except textfiles.NotUTF8Text as exc:
        raise DataValidationError(exc.at(path)) from None
    if decoded.bom:
        log.info("%s: %s", path, textfiles.BOM_NOTE)
    errors: list[str] = []
    sentences: list[str] = []
    labels: list[int] = []
    lines = decoded.text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataValidationError(f"{path}: file is empty (expected header 'sentence<TAB>label')")
    for lineno, line in enumerate(lines, start=1):
        if len(errors) >= MAX_REPORTED_ERRORS:
            errors.append(f"{path}: ... further errors not shown")
            break
        line = line.removesuffix("\r")
        fields = line.split("\t")
        if lineno == 1:
            if tuple(fields) != HEADER:
                shown = f"{line[:60]!r}{' …' if len(line) > 60 else ''}"
                why = " (lines end in a lone CR, old Mac style: convert them to LF)" if "\r" in line else ""
                errors.append(f"{path}:1: header must be 'sentence<TAB>label', found {shown}{why}")
                break
            continue
        if len(fields) != 2:
            errors.append(f"{path}:{lineno}: expected 2 tab-separated fields, found {len(fields)}")
            continue
        sentence, label = fields
        if not sentence.strip():
            errors.append(f"{path}:{lineno}: empty sentence")
            continue
        control = next((ch for ch in sentence if ord(ch) < 32 and ch != "\t" or ord(ch) == 127), None)
        if control is not None:
            errors.append(f"{path}:{lineno}: control character {control!r} in the sentence (a corrupted file?)")
            continue
        if label not in ("0", "1"):
            errors.append(f"{path}:{lineno}: label must be 0 or 1, found {label!r}")
            continue
        sentences.append(sentence.strip())
        labels.append(int(label))
    if errors:
        raise DataValidationError("malformed SST-2 file:\n  " + "\n  ".join(errors))
    if not sentences:
        raise DataValidationError(f"{path}: header only, no data rows")
    return pd.DataFrame({"idx": range(len(sentences)), "sentence": sentences, "label": labels})


def prepare_dataset(tsv: str | Path, out: str | Path, split: str) -> pd.DataFrame:
    df = read_sst2_tsv(tsv)
    meta = provenance.collect(
        split=split,
        source=str(tsv),
        source_sha256=provenance.file_sha256(tsv),
        rows=len(df),
        label_counts={str(k): int(v) for k, v in df.label.value_counts().sort_index().items()},
    )
    io.write_parquet(df, out, DATASET_SCHEMA, meta)
    log.info("%s: %d rows validated -> %s", split, len(df), out)
    return df


def subset(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A seeded random subset of ``n`` rows (all rows when ``n`` is 0 or too large), in idx order."""
    if n <= 0 or n >= len(df):
        return df
    return df.sample(n=n, random_state=seed).sort_values("idx").reset_index(drop=True)

"""The recorded runs under ``benchmarks/results/``: one ``run.json`` per folder, the index generated from them,
and the README's "current answer, per host class" block generated from the index.

``run.json`` is the structured record of a folder (``FIELDS``: date, commit, config hash, host class, wall time,
what it measured, who produced it, its answer line(s), current or superseded and by which). ``index_text`` turns
every record into ``index.md``; ``readme_block`` picks the current study of each host class for the README, between
``BEGIN`` and ``END``. ``python -m greenbench results-index [--readme README.md] [--check]`` writes (or checks) both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from greenbench.core import io

RUN_JSON = "run.json"
INDEX = "index.md"
BEGIN, END = "<!-- answer:begin -->", "<!-- answer:end -->"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
STATUSES = ("current", "superseded")
KINDS = {  # kind -> what a folder of that kind holds (said in index.md)
    "study": "a whole study run (`make run` / `snakemake`): its answer is the answer for its host class",
    "probe": "a targeted measurement answering one question (protocol, noise, runtimes)",
    "forecast": "a carbon-forecasting run (forecasters against seasonal-naive on given zones)",
    "smoke": "the smoke study (CI scale) or what it drew",
    "kit": "a tool's artefact (the offline GPU kit)",
}
# field -> (types allowed, required non-empty); the order is the order run.json is written in
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "folder": ((str,), True),
    "date": ((str,), True),
    "kind": ((str,), True),
    "status": ((str,), True),
    "superseded_by": ((str, type(None)), False),
    "host_class": ((str,), True),
    "host_class_source": ((str,), True),  # "fingerprint", "folder", "docs/lab-notes.md", "given"
    "host": ((str, type(None)), False),  # greenbench.core.host.describe of the recorded fingerprint
    "machine": ((str, type(None)), False),  # the machine in words, as the folder's README gives it
    "commit": ((str, type(None)), False),
    "config_hash": ((str, type(None)), False),
    "wall_time_s": ((int, float, type(None)), False),
    "wall_time_source": ((str, type(None)), False),
    "what": ((str,), True),
    "produced_by": ((str,), True),
    "answer": ((str, type(None)), False),  # the answer.md device line(s) without "- ", one per line
    "note": ((str, type(None)), False),
}


class RunRecordError(ValueError):
    """A run.json that is missing, malformed or inconsistent with the other records."""


def validate(record: Mapping[str, Any], folder: str | None = None) -> dict[str, Any]:
    """The record with every field checked (types, date, kind, status, superseded_by iff superseded); raises
    ``RunRecordError`` naming the folder and the field."""
    where = f"{folder or record.get('folder')}/{RUN_JSON}"
    missing, extra = set(FIELDS) - set(record), set(record) - set(FIELDS)
    if missing or extra:
        raise RunRecordError(f"{where}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
    for name, (types, required) in FIELDS.items():
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, types) or (required and not value):
            raise RunRecordError(f"{where}: {name} = {value!r} ({'required, ' if required else ''}{types})")
    if folder is not None and record["folder"] != folder:
        raise RunRecordError(f"{where}: folder = {record['folder']!r}, not the folder it is in")
    if not DATE.fullmatch(record["date"]):
        raise RunRecordError(f"{where}: date {record['date']!r} is not YYYY-MM-DD")
    if record["kind"] not in KINDS:
        raise RunRecordError(f"{where}: kind {record['kind']!r} is not one of {sorted(KINDS)}")
    if record["status"] not in STATUSES:
        raise RunRecordError(f"{where}: status {record['status']!r} is not one of {STATUSES}")
    if (record["status"] == "superseded") != (record["superseded_by"] is not None):
        raise RunRecordError(f"{where}: superseded_by is set exactly when the status is superseded")
    if record["wall_time_s"] is not None and (record["wall_time_s"] <= 0 or not record["wall_time_source"]):
        raise RunRecordError(f"{where}: a wall time is positive and says where it comes from (wall_time_source)")
    if record["answer"] is not None and any(not line.strip() for line in record["answer"].split("\n")):
        raise RunRecordError(f"{where}: answer has an empty line")
    return {name: record[name] for name in FIELDS}


def read_run(folder: Path) -> dict[str, Any]:
    path = Path(folder) / RUN_JSON
    if not path.is_file():
        raise RunRecordError(f"{path}: missing (every recorded run has one; see docs/reproducibility.md)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunRecordError(f"{path}: not JSON ({exc})") from exc
    return validate(record, Path(folder).name)


def write_run(record: Mapping[str, Any], folder: Path) -> Path:
    """Write a validated run.json into ``folder`` (fields in ``FIELDS`` order)."""
    record = validate(record, Path(folder).name)
    return io.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", Path(folder) / RUN_JSON)


def run_folders(root: Path) -> list[Path]:
    """The run folders under ``root``: every directory that holds a file (at any depth)."""
    return sorted(d for d in Path(root).iterdir() if d.is_dir() and any(p.is_file() for p in d.rglob("*")))


def load_runs(root: Path) -> list[dict[str, Any]]:
    """Every folder's record, newest first (then by folder name), checked across folders: superseded_by names
    an existing folder other than itself, and each host class has at most one current study."""
    runs = [read_run(d) for d in run_folders(root)]
    check_runs(runs)
    return sorted(runs, key=lambda r: (r["date"], r["folder"]), reverse=True)


def check_runs(runs: Iterable[Mapping[str, Any]]) -> None:
    runs = list(runs)
    folders = {r["folder"] for r in runs}
    for r in runs:
        if r["superseded_by"] is not None and (r["superseded_by"] not in folders or r["superseded_by"] == r["folder"]):
            raise RunRecordError(f"{r['folder']}: superseded_by {r['superseded_by']!r} is no other recorded run")
    current: dict[str, str] = {}
    for r in runs:
        if r["kind"] == "study" and r["status"] == "current":
            if r["host_class"] in current:
                raise RunRecordError(
                    f"two current studies for host class {r['host_class']!r}: {current[r['host_class']]} and "
                    f"{r['folder']} (mark the older one superseded: export_run.py --supersedes)"
                )
            current[r["host_class"]] = r["folder"]


def supersede(root: Path, old: str, new: str) -> dict[str, Any]:
    """Mark run ``old`` superseded by ``new`` in its run.json (both must be recorded folders)."""
    record = read_run(Path(root) / old)
    if not (Path(root) / new).is_dir():
        raise RunRecordError(f"{new}: no such folder under {root}")
    record.update(status="superseded", superseded_by=new)
    write_run(record, Path(root) / old)
    if record["kind"] == "study":
        drop_figures(Path(root) / old, shown_in_docs(Path(root).resolve().parents[1]))
    return record


DOC_PATH = re.compile(r"benchmarks/results/[\w.+-]+/[\w./+-]+\.png")


def shown_in_docs(repo: Path) -> set[Path]:
    """The run figures the README and docs/ show (they stay where a run is superseded)."""
    texts = [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]
    return {(repo / m).resolve() for t in texts if t.exists() for m in DOC_PATH.findall(t.read_text(encoding="utf-8"))}


def drop_figures(folder: Path, keep: Iterable[Path] = ()) -> list[str]:
    """A superseded study keeps its tables and text (the history) but not its PNG figures: the current run of
    its host class has its own, and every run's figures together would crowd the checkout out of a GPU
    allocation (``greenbench.tools.gpukit``). Figures a doc shows stay. Its RO-Crate, if any, forgets the removed
    files. Returns the removed paths, relative to ``folder``."""
    folder, keep = Path(folder), {Path(k).resolve() for k in keep}
    removed = [p for p in sorted(folder.rglob("*.png")) if p.resolve() not in keep]
    names = [p.relative_to(folder).as_posix() for p in removed]
    for path in removed:
        path.unlink()
    crate = folder / "ro-crate-metadata.json"
    if names and crate.exists():
        graph = json.loads(crate.read_text(encoding="utf-8"))
        gone = set(names)

        def prune(value):
            if isinstance(value, list):
                return [prune(v) for v in value if not (isinstance(v, dict) and v.get("@id") in gone)]
            if isinstance(value, dict):
                return {k: prune(v) for k, v in value.items() if not (isinstance(v, dict) and v.get("@id") in gone)}
            return value

        graph["@graph"] = [prune(e) for e in graph["@graph"] if e.get("@id") not in gone]
        io.write_text(json.dumps(graph, indent=4) + "\n", crate)
    return names


def wall_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:g} s"


def _cell(text: str | None) -> str:
    return "–" if not text else text.replace("|", "\\|").replace("\n", " ")


def _status(r: Mapping[str, Any], note: bool = True) -> str:
    text = "current" if r["status"] == "current" else f"superseded by `{r['superseded_by']}`"
    return text + (f" ({r['note']})" if r["note"] and note else "")


def index_text(runs: list[Mapping[str, Any]]) -> str:
    """index.md: one row per run (newest first), then the answer line(s) of every run that has one."""
    head = [
        "# Index of recorded runs",
        "",
        "<!-- generated by `python -m greenbench results-index` from each folder's run.json: edit those, "
        "not this file -->",
        "",
        "One row per folder under `benchmarks/results/` (the folder's `run.json` holds the same fields). Host "
        "class † : the folder does not name its host; the class is the one docs/lab-notes.md gives. Commits and "
        "config hashes are the runs' own provenance where recorded. Kinds: "
        + "; ".join(f"*{k}*: {v}" for k, v in KINDS.items())
        + ".",
        "",
        "| folder | date | kind | host class | commit | config hash | wall time | status | what it measured | "
        "produced by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for r in runs:
        dagger = " †" if r["host_class_source"] == "docs/lab-notes.md" else ""
        commit = f"`{r['commit'][:7]}{'+dirty' if r['commit'].endswith('+dirty') else ''}`" if r["commit"] else "–"
        config = f"`{r['config_hash']}`" if r["config_hash"] else "–"
        rows.append(
            f"| `{r['folder']}/` | {r['date']} | {r['kind']} | {_cell(r['host_class'])}{dagger} | {commit} | "
            f"{config} | {wall_time(r['wall_time_s'])} | {_cell(_status(r))} | {_cell(r['what'])} | "
            f"{_cell(r['produced_by'])} |"
        )
    answers = ["", "## Answers", "", "The answer line(s) of each run's `answer.md` (the study's answer, per device)."]
    for r in runs:
        if r["answer"]:
            answers += ["", f"`{r['folder']}/` ({r['host_class']}, {_status(r, note=False)}):", ""]
            answers += [f"- {line}" for line in r["answer"].split("\n")]
    return "\n".join(head + rows + answers) + "\n"


def current_studies(runs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The current study of each host class, newest first (then by host class)."""
    studies = [r for r in runs if r["kind"] == "study" and r["status"] == "current"]
    return sorted(studies, key=lambda r: (r["date"], _reverse(r["host_class"])), reverse=True)


def _reverse(text: str) -> tuple[int, ...]:  # sorts a string descending inside a reverse=True sort
    return tuple(-ord(c) for c in text) + (1,)


def readme_block(
    runs: Iterable[Mapping[str, Any]], results: str = "benchmarks/results", root: Path | None = None
) -> str:
    """The README's answer block (markers included): per host class, its current study's answer line(s), the
    folder they come from, what the answer assumed where it predates the traffic model, and (with ``root``,
    the results folder) the routing lines of the folder's answer.md."""
    lines = [
        BEGIN,
        "<!-- generated by `python -m greenbench results-index --readme README.md` from the current study of each "
        "host class (benchmarks/results/*/run.json) -->",
    ]
    for r in current_studies(runs):
        machine = f"{r['machine']}; " if r["machine"] else ""
        if r["answer"]:
            lines += ["", f"**{r['host_class']}** ({machine}`{results}/{r['folder']}/answer.md`):", ""]
            lines += [f"- {line}" for line in r["answer"].split("\n")]
            if "requests/s" not in r["answer"]:  # answers before the traffic model: batch latency, full batches
                lines += ["", BEFORE_TRAFFIC]
                continue
            answer_md = Path(root) / r["folder"] / "answer.md" if root is not None else None
            text = answer_md.read_text(encoding="utf-8") if answer_md and answer_md.is_file() else ""
            where = where_lines(text)
            by_runtime = runtime_lines(text)
            if by_runtime:
                lines += ["", "Every runtime's greenest qualifying cell, from the same answer.md:", "", *by_runtime]
            if where:
                lines += ["", "Where and when to run it (the routing simulation, from the same answer.md):", ""]
                lines += [f"- {line}" for line in where]
        else:
            lines += [
                "",
                f"**{r['host_class']}** ({machine}`{results}/{r['folder']}/`): this run has no generated answer "
                "(it predates `answer.md`); its tables are in the folder and in [docs/lab-notes.md](docs/lab-notes.md).",
            ]
    return "\n".join([*lines, "", END])


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between the markers (inclusive) replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise RunRecordError(f"the README needs exactly one {BEGIN} … {END} block")
    return text[:start] + block + text[end + len(END) :]


def regenerate(root: Path, readme: Path | None = None, check: bool = False) -> list[str]:
    """Write ``root/index.md`` (and the README block) from the run.json files; with ``check``, write nothing and
    return the paths that are out of date."""
    runs = load_runs(root)
    targets = {Path(root) / INDEX: index_text(runs)}
    if readme is not None:
        results = Path(root).resolve().relative_to(Path(readme).resolve().parent).as_posix()
        block = readme_block(runs, results, root)
        targets[Path(readme)] = replace_block(Path(readme).read_text(encoding="utf-8"), block)
    stale = [str(p) for p, text in targets.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if not check:
        for path, text in targets.items():
            if str(path) in stale:
                io.write_text(text, path)
    return stale


BEFORE_TRAFFIC = (
    "*(An answer from before the traffic-aware answer: it bounds the p95 latency of a batch call and assumes "
    "full batches, whatever the traffic; its answer.md's routing lines serve another cell and compare with the "
    "nearest region only.)*"
)


def where_lines(answer_md: str) -> list[str]:
    """The routing bullets of an answer.md (after its "Where and when" line), without "- "."""
    lines, inside = [], False
    for line in answer_md.splitlines():
        if line.startswith("Where and when"):
            inside = True
        elif inside and line.startswith("- "):
            lines.append(line[2:])
        elif inside and lines and not line.strip():
            break
    return lines


RUNTIMES_HEAD = "Every runtime's greenest qualifying cell"


def runtime_lines(answer_md: str) -> list[str]:
    """The runtime section of an answer.md, verbatim: every runtime's greenest qualifying cell (a table) and the
    composed-vs-single line(s); empty when the answer predates it."""
    lines, inside = [], False
    for line in answer_md.splitlines():
        if line.startswith(RUNTIMES_HEAD):
            inside = True
            continue
        if inside and (line.startswith("Where and when") or line.startswith("#")):
            break
        if inside:
            lines.append(line)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def answer_lines(answer_md: str) -> list[str]:
    """The device lines of an answer.md (its "- **" bullets before the routing section), without "- "."""
    lines = []
    for line in answer_md.splitlines():
        if line.startswith("Where and when"):
            break
        if line.startswith("- **"):
            lines.append(line[2:])
    return lines

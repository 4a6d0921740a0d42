"""The README is short and every number it quotes comes from a committed run: its answer block is what the
runs' records generate (the current study of each host class), each answer line is a line of the run's
answer.md, each routing line a set of that file's lines, each path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from greenbench.tools import results_index

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RUN = re.compile(r"benchmarks/results/([\w.-]+)/")


def test_the_readme_is_short():
    assert len(README.splitlines()) <= 250


def test_every_path_the_readme_names_exists():
    for path in re.findall(
        r"`((?:benchmarks|docs|config|experiments|workflow|src|tests)/[^`\s]*)`", README
    ) + re.findall(r"\]\(((?:benchmarks|docs)/[^)\s]+)\)", README):
        if "<" not in path:  # placeholders such as benchmarks/results/<gpu>-<date>/
            assert (ROOT / path.rstrip("/")).exists(), path


def _answer_sections(text: str = README):
    """(run folder, bullet lines) for each run whose answer.md the text names, with the "- **" lines that
    follow it (up to the next run named)."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        named = re.findall(r"benchmarks/results/([\w.-]+)/answer\.md", line)
        if named:
            out.append((named[0], []))
        elif line.startswith("- **") and out:
            out[-1][1].append(line)
    return out


def test_the_answer_block_is_what_the_current_studies_generate():
    """Regenerate with ``python -m greenbench results-index --readme README.md``."""
    runs = results_index.load_runs(ROOT / "benchmarks" / "results")
    block = results_index.readme_block(runs, root=ROOT / "benchmarks" / "results")
    assert results_index.replace_block(README, block) == README, "README.md's answer block is out of date"
    for run in results_index.current_studies(runs):
        assert f"benchmarks/results/{run['folder']}/" in block, run["folder"]


def test_a_number_the_block_quotes_is_its_runs():
    """Every number in a quoted answer line is one of the cited answer.md's lines' numbers (a hand edit fails)."""
    start, end = README.index(results_index.BEGIN), README.index(results_index.END)
    for run, bullets in _answer_sections(README[start:end]):
        answer = (ROOT / "benchmarks" / "results" / run / "answer.md").read_text(encoding="utf-8")
        quoted, recorded = (
            re.findall(r"[-+]?\d[\d,]*\.?\d*", " ".join(bullets)),
            re.findall(r"[-+]?\d[\d,]*\.?\d*", answer),
        )
        assert set(quoted) <= set(recorded), f"{run}: {sorted(set(quoted) - set(recorded))} are not in its answer.md"


def test_each_quoted_answer_is_a_line_of_its_runs_answer_md():
    sections = _answer_sections()
    assert sections, "the README quotes no run's answer"
    for run, bullets in sections:
        answer = (ROOT / "benchmarks" / "results" / run / "answer.md").read_text(encoding="utf-8")
        assert bullets, run
        for bullet in bullets:
            assert bullet in answer.splitlines(), f"{run}: {bullet[:80]}… is not in its answer.md"


def test_each_quoted_routing_line_is_in_its_runs_answer_md():
    """The block's routing bullets are the cited answer.md's own lines, verbatim."""
    start, end = README.index(results_index.BEGIN), README.index(results_index.END)
    for run, bullets in _answer_sections(README[start:end]):
        answer = (ROOT / "benchmarks" / "results" / run / "answer.md").read_text(encoding="utf-8").splitlines()
        for line in bullets:
            assert line in answer, f"{run}: {line}"


def test_the_quoted_wall_time_is_the_runs():
    for time_, run in re.findall(
        r"\*\*(\d+ min \d+ s)\*\* including the install[^`]*`benchmarks/results/([\w.-]+)/`", README
    ):
        assert f"Wall time {time_}" in (ROOT / "benchmarks" / "results" / run / "README.md").read_text(), run


def test_the_quoted_rerun_shifts_are_the_rerun_reports():
    """The rerun-variance sentence quotes its report: every percentage it gives is in the cited rerun.md."""
    cited = re.findall(r"`benchmarks/results/([\w.-]+)/rerun/rerun.md`\)(.*?)Earlier answers", README, re.S)
    assert cited, "the README cites no rerun report"
    for run, text in cited:
        report = (ROOT / "benchmarks" / "results" / run / "rerun" / "rerun.md").read_text()
        for pct in re.findall(r"(\d+\.\d+)%", text):
            assert f"{pct}%" in report, (run, pct)

"""``greenbench results-index``: regenerate (or check) ``benchmarks/results/index.md`` from the run folders'
``run.json`` files, and the README's answer block (``greenbench.tools.results_index``)."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("results-index", help="regenerate benchmarks/results/index.md (and the README's answer block)")
    p.add_argument("--root", type=Path, default=Path("benchmarks/results"), help="the recorded runs")
    p.add_argument("--readme", type=Path, help="also regenerate this README's <!-- answer:begin/end --> block")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    p.set_defaults(func=cmd_results_index)


def cmd_results_index(args) -> int:
    from greenbench.tools import results_index

    try:
        stale = results_index.regenerate(args.root, args.readme, check=args.check)
    except results_index.RunRecordError as exc:
        print(f"greenbench: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{path}: {'out of date' if args.check else 'written'}")
    return 1 if args.check and stale else 0

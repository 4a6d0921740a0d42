"""How much does a rerun move the answer? Two runs of the same config on the same host, cell by cell.

    python benchmarks/rerun_variance.py results.run1 results --out benchmarks/results/<run>/rerun

FIRST and SECOND are finished runs' ``results/`` folders (or their ``stats/`` folders). Writes ``rerun.md``
(summary, whether the answer moves, whether the ratios to fp32 move, per-cell table), ``rerun_cells.csv``,
``rerun_answer.csv`` and ``rerun_ratios.csv`` into
--out. The logic is ``greenbench.analysis.rerun``; docs/reproducibility.md says how to repeat a finished
run's energy trials.
"""

from __future__ import annotations

import argparse

from greenbench.analysis.rerun import METRIC, write_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", help="the first run's results folder")
    parser.add_argument("second", help="the second run's results folder (same config, same host)")
    parser.add_argument("--out", required=True, help="folder for rerun.md, rerun_cells.csv, rerun_answer.csv")
    parser.add_argument("--metric", default=METRIC, help=f"energy metric to compare (default {METRIC})")
    args = parser.parse_args(argv)
    stats = write_report(args.first, args.second, args.out, args.metric)
    if not stats.get("cells"):
        print("no cell measured by both runs")
        return 1
    print(
        f"{stats['cells']} cells: median |shift| {stats['median_abs_shift_pct']:.2f}%, max "
        f"{stats['max_abs_shift_pct']:.2f}%; second mean outside the first interval in "
        f"{100 * stats['outside_share']:.0f}% of cells; written to {args.out}/rerun.md"
    )
    if "ratios" in stats:
        r = stats["ratios"]
        print(
            f"ratios to fp32: median |shift| {r['median_abs_shift_pct']:.2f}%, max {r['max_abs_shift_pct']:.2f}%; "
            f"second outside the first interval in {100 * r['outside_share']:.0f}% of cells"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Record a finished run as a folder of benchmarks/results/ (outputs, run.json, RO-Crate) and regenerate the index.

    python benchmarks/export_run.py --results results --out benchmarks/results/cpu-epyc-YYYY-MM-DD \
        [--supersedes cpu-default-2026-11-22-remeasured] [--wall-time-s 2328] [--readme README.md]

The CSVs are the Parquet tables as they are (no rounding), answer.csv included when the run has
stats/answer.parquet; provenance.json is the first energy trial's metadata (commit, versions, config hash,
host fingerprint and class). run.json takes the commit, config hash and host class from it, the wall time
from --wall-time-s or the Snakemake benchmark files, the answer from answer.md (or answer.parquet). The folder
is also a Workflow Run RO-Crate (ro-crate-metadata.json). Logic: greenbench.tools.run_export.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from greenbench.tools import results_index, run_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the run's results/ tree")
    parser.add_argument("--out", type=Path, required=True, help="benchmarks/results/<name>")
    parser.add_argument("--supersedes", action="append", default=[], help="a recorded folder this run replaces")
    parser.add_argument("--wall-time-s", dest="wall_time_s", type=float, help="default: the Snakemake job time")
    parser.add_argument("--config", action="append", type=Path, help="config file(s) the run read (into the crate)")
    parser.add_argument("--what", help="what the run measured (index column)")
    parser.add_argument("--produced-by", dest="produced_by", help="the command(s) and commit (index column)")
    parser.add_argument("--kind", default="study", choices=sorted(results_index.KINDS))
    parser.add_argument("--host-class", dest="host_class", help="default: from the trials' host fingerprint")
    parser.add_argument("--machine", help="the machine in words (default: the fingerprint's CPU model)")
    parser.add_argument("--note")
    parser.add_argument("--date", help="YYYY-MM-DD (default: the one in the folder's name, else today)")
    parser.add_argument("--readme", type=Path, help="also regenerate this README's answer block")
    parser.add_argument("--data", type=Path, help="data mirror for unrecorded input checksums ($GREENBENCH_DATA)")
    parser.add_argument("--no-crate", dest="crate", action="store_false", help="skip ro-crate-metadata.json")
    args = parser.parse_args()
    run = run_export.export_run(
        args.results,
        args.out,
        configs=args.config or [Path("config/config.yaml")],
        supersedes=args.supersedes,
        what=args.what,
        produced_by=args.produced_by,
        data_dir=args.data or (Path(os.environ["GREENBENCH_DATA"]) if os.environ.get("GREENBENCH_DATA") else None),
        readme=args.readme,
        crate=args.crate,
        kind=args.kind,
        date=args.date,
        wall_time_s=args.wall_time_s,
        host_class=args.host_class,
        machine=args.machine,
        note=args.note,
    )
    print(f"{args.out}: {run['host_class']}, commit {run['commit']}, answer: {run['answer'] or 'none'}")


if __name__ == "__main__":
    main()

"""``python -m greenbench <stage>``: every stage without Snakemake (also how stages run on a GPU host).

Paths default to the workflow's layout (greenbench.paths) relative to the current directory,
and settings come from the same config files Snakemake reads (validated first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from greenbench import paths
from greenbench.config import ConfigError, load_config, validate_config
from greenbench.log import configure, get_logger

log = get_logger("cli")
DEFAULT_CONFIG = "config/config.yaml"


def _config(args) -> dict[str, Any]:
    files = args.config or [DEFAULT_CONFIG]
    if DEFAULT_CONFIG not in files and Path(DEFAULT_CONFIG).exists():
        files = [DEFAULT_CONFIG, *files]  # like Snakemake: overrides merge over the default
    return validate_config(load_config(files))


def cmd_validate_config(args) -> int:
    cfg = _config(args)
    print(f"config OK: models={cfg['study']['models']} variants={cfg['study']['variants']} devices={cfg['study']['devices']}")
    return 0


def cmd_retrieve_sst2(args) -> int:
    from greenbench.data import retrieve_sst2

    cfg = _config(args)
    for split in args.split:
        retrieve_sst2(split, paths.SST2_TSV.format(split=split), hub_fallback=cfg["data"]["hub_fallback"])
    return 0


def cmd_prepare_dataset(args) -> int:
    from greenbench.data import prepare_dataset

    for split in args.split:
        prepare_dataset(args.tsv or paths.SST2_TSV.format(split=split), paths.DATASET.format(split=split), split)
    return 0


def cmd_tokenize(args) -> int:
    from greenbench.models import tokenize_split

    cfg = _config(args)
    spec = cfg["models"][args.model]
    for split in args.split:
        tokenize_split(paths.DATASET.format(split=split), spec["source"], spec["max_length"],
                       paths.TOKENS.format(model=args.model, split=split))
    return 0


def cmd_finetune(args) -> int:
    from greenbench.training import finetune_baseline

    cfg = _config(args)
    spec = cfg["models"][args.model]
    finetune_baseline(paths.TOKENS.format(model=args.model, split="train"), spec["source"],
                      paths.BASELINE.format(model=args.model), cfg["finetune"], cfg["seed"],
                      finetune=spec["finetune"], threads=cfg["compute"]["threads"], model_name=args.model)
    return 0


def cmd_evaluate(args) -> int:
    from greenbench.evaluate import evaluate

    cfg = _config(args)
    for variant in args.variant or cfg["study"]["variants"]:
        result = evaluate(paths.BASELINE.format(model=args.model), paths.TOKENS.format(model=args.model, split="dev"),
                          variant, args.device, paths.EVAL.format(device=args.device, model=args.model, variant=variant),
                          batch_size=cfg["evaluate"]["batch_size"], dev_subset=cfg["evaluate"]["dev_subset"],
                          seed=cfg["seed"], threads=cfg["compute"]["threads"], model_name=args.model)
        print(f"{args.model}/{variant}/{args.device}: {result['status']} accuracy={result['accuracy']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", action="append", help=f"config file(s), merged in order over {DEFAULT_CONFIG}")
        p.set_defaults(func=func)
        return p

    add("validate-config", cmd_validate_config, "validate the config against the schema")
    p = add("retrieve-sst2", cmd_retrieve_sst2, "fetch SST-2 into resources/sst2/")
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p = add("prepare-dataset", cmd_prepare_dataset, "validate SST-2 TSV and write Parquet")
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p.add_argument("--tsv", help="explicit TSV path (one split only)")
    p = add("tokenize", cmd_tokenize, "tokenize SST-2 for a model")
    p.add_argument("--model", required=True)
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p = add("finetune", cmd_finetune, "fine-tune (or package) a baseline")
    p.add_argument("--model", required=True)
    p = add("evaluate", cmd_evaluate, "accuracy of variants on SST-2 dev")
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--variant", action="append")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"greenbench: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"greenbench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

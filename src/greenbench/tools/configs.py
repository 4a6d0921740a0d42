"""The config a CLI command runs with: the files Snakemake would read, merged and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenbench.config.load import ConfigError, load_config, validate_config

DEFAULT_CONFIG = "config/config.yaml"


def _config(args, files_checked: bool = True) -> dict[str, Any]:
    """The merged, validated config; ``files_checked`` False: input files (traces, checkpoints) are not looked for."""
    files = args.config or [DEFAULT_CONFIG]
    if DEFAULT_CONFIG not in files and Path(DEFAULT_CONFIG).exists():
        files = [DEFAULT_CONFIG, *files]  # like Snakemake: overrides merge over the default
    cfg = validate_config(load_config(files), files=files_checked)
    model = getattr(args, "model", None)
    if model and model not in cfg["models"]:
        raise ConfigError(
            f"--model {model}: not defined under 'models' in {', '.join(map(str, files))} "
            f"(defined: {', '.join(sorted(cfg['models']))})"
        )
    return cfg

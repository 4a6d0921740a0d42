"""The GPU kit: validate every GPU path with one command on an offline GPU node.

Two halves:

- ``make_kit`` (on a machine that ran the study): the fine-tuned baseline as half-precision
  safetensors with only the word-embedding rows its tokens use (MiniLM: ~30 MB), the train/dev tokens, the
  wheels the node lacks (torchao) and a manifest saying what was rounded and how much that changed
  the CPU predictions. Small enough to copy into a short, offline GPU allocation.
- ``run_check`` (on the node, no Snakemake, no network): accuracy of every GPU variant on the full
  SST-2 dev set, then energy trials with the real protocol and meters over a cell set sized to the
  allocation (``PIECES``: piece 0 is the quick check, pieces 1.. the rest of the paper grid), the
  same Parquet tables the pipeline writes, and a one-page ``summary.md`` with the acceptance
  criteria. ``--device cpu --tiny`` is the rehearsal CI runs, so the kit cannot rot.
"""

from greenbench.tools.gpukit.check import ARCHIVE, _isolated, default_out, run_check, write_archive
from greenbench.tools.gpukit.kit import (
    REFERENCE_VARIANT,
    COMMAND_LIMIT_S,
    EMBEDDING_ROWS,
    KIT_MAX_MB,
    KIT_VARIANTS,
    QUICK_LIMIT_S,
    RUNTIME_CELLS,
    WHEEL_ALLOWANCE_MB,
    estimate_kit_bytes,
    load_kit_model,
    make_kit,
    node_environment,
    read_kit,
    safe_name,
    tree_bytes,
    upcast_model,
    used_token_ids,
)
from greenbench.tools.gpukit.pieces import Piece, energy_settings, estimate_check_seconds, plan_pieces
from greenbench.tools.gpukit.summary import (
    cell_table,
    criteria,
    graph_vs_eager,
    int4_layouts,
    overhead_ratios,
    write_summary,
)

__all__ = [
    "ARCHIVE",
    "REFERENCE_VARIANT",
    "COMMAND_LIMIT_S",
    "KIT_MAX_MB",
    "KIT_VARIANTS",
    "Piece",
    "QUICK_LIMIT_S",
    "RUNTIME_CELLS",
    "WHEEL_ALLOWANCE_MB",
    "_isolated",
    "cell_table",
    "criteria",
    "default_out",
    "energy_settings",
    "estimate_check_seconds",
    "EMBEDDING_ROWS",
    "estimate_kit_bytes",
    "load_kit_model",
    "graph_vs_eager",
    "int4_layouts",
    "make_kit",
    "node_environment",
    "overhead_ratios",
    "plan_pieces",
    "read_kit",
    "run_check",
    "safe_name",
    "tree_bytes",
    "upcast_model",
    "used_token_ids",
    "write_archive",
    "write_summary",
]

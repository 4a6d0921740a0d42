"""One style for every paper figure: a fixed variant order, a colour and a marker per variant family
(colour-blind safe Okabe-Ito colours; markers and line styles keep them apart in grayscale), human
labels for variants and bins, and print sizes for a two-column paper.

Pure (no torch, no Snakemake): the families mirror the variant registry (``greenbench.cells.variants``),
which ``tests/test_figures.py`` checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from greenbench.core.names import EAGER, split_name

# print sizes (inches): IEEE/ACM two-column layouts
SINGLE = 3.5    # one column (89 mm)
DOUBLE = 7.16   # both columns (182 mm)
DPI = 300       # the PNGs

BASELINE = "fp32"
BASELINE_COLOR = "#000000"
MUTED = "#c8c8c8"

# family -> (label, colour, marker); the order is the figures' variant order
FAMILIES: dict[str, tuple[str, str, str]] = {
    "precision": ("precision", "#0072B2", "o"),
    "quantization": ("quantization", "#D55E00", "s"),
    "adaptive": ("adaptive precision", "#56B4E9", "v"),
    "pruning": ("pruning", "#009E73", "^"),
    "sparse_attention": ("sparse attention", "#CC79A7", "D"),
    "spiking": ("spiking", "#E69F00", "P"),
    "onnxruntime": ("ONNX Runtime", "#332288", "X"),
    "torch_compile": ("torch.compile", "#999933", "p"),
    "torch_compile_cudagraphs": ("torch.compile + CUDA graphs", "#44AA99", "*"),
    "aot_inductor": ("AOTInductor", "#882255", "h"),
    "other": ("other", "#666666", "d"),
}
RUNTIME_LABELS = {"onnxruntime": "ONNX RT", "torch_compile": "torch.compile",
                  "torch_compile_cudagraphs": "compile+graphs", "aot_inductor": "AOTInductor"}

# recipes in their figure order within a family (names not listed sort after, alphabetically)
RECIPE_ORDER = ["fp32", "tf32", "bf16", "fp16", "autocast_fp16",
                "int8_dynamic", "int8_dynamic_ao", "int8_weight_only", "int4_weight_only",
                "adaptive",
                "prune_heads25", "prune_heads50", "prune_ffn25", "magnitude50", "magnitude_2to4",
                "dense_eager", "topk8", "topk16", "topk32", "threshold05", "topk8_ft", "topk16_ft", "topk32_ft",
                "threshold05_ft",
                "spiking"]
RECIPE_LABELS = {
    "fp32": "FP32", "tf32": "TF32", "bf16": "BF16", "fp16": "FP16", "autocast_fp16": "FP16 autocast",
    "int8_dynamic": "INT8 dynamic", "int8_dynamic_ao": "INT8 dyn. torchao", "int8_weight_only": "INT8 weight-only",
    "int4_weight_only": "INT4 weight-only", "adaptive": "adaptive precision",
    "prune_heads25": "heads pruned 25%", "prune_heads50": "heads pruned 50%", "prune_ffn25": "FFN pruned 25%",
    "magnitude50": "magnitude 50%", "magnitude_2to4": "magnitude 2:4", "dense_eager": "dense attn. (eager)",
    "spiking": "spiking attention",
}


def recipe_family(recipe: str) -> str:
    """The registry family of an eager recipe, from its name (mirrors ``greenbench.cells.variants``)."""
    if recipe in ("fp32", "tf32", "fp16", "bf16") or recipe.startswith("autocast"):
        return "precision"
    if re.match(r"int\d", recipe):
        return "quantization"
    if recipe == "adaptive":
        return "adaptive"
    if recipe.startswith(("prune_", "magnitude")):
        return "pruning"
    if recipe == "dense_eager" or recipe.startswith(("topk", "threshold")):
        return "sparse_attention"
    if recipe.startswith("spiking"):
        return "spiking"
    return "other"


def family(variant: str) -> str:
    """A cell's figure family: its runtime when not eager, else its recipe's family."""
    recipe, runtime = split_name(str(variant))
    if runtime != EAGER:
        return runtime if runtime in FAMILIES else "other"
    return recipe_family(recipe)


def _recipe_label(recipe: str) -> str:
    if recipe in RECIPE_LABELS:
        return RECIPE_LABELS[recipe]
    m = re.fullmatch(r"topk(\d+)(_ft)?", recipe)
    if m:
        return f"top-{m.group(1)} attn.{' + FT' if m.group(2) else ''}"
    m = re.fullmatch(r"threshold(\d+)(_ft)?", recipe)
    if m:
        return f"threshold 0.{m.group(1)} attn.{' + FT' if m.group(2) else ''}"
    return recipe.replace("_", " ")


def label(variant: str) -> str:
    """Human label: ``int8_dynamic@onnxruntime`` -> ``INT8 dynamic · ONNX RT``."""
    recipe, runtime = split_name(str(variant))
    text = _recipe_label(recipe)
    if runtime != EAGER:
        text += f" · {RUNTIME_LABELS.get(runtime, runtime)}"
    return text


def order_key(variant: str) -> tuple:
    recipe, runtime = split_name(str(variant))
    fam = family(variant)
    fams = list(FAMILIES)
    rank = RECIPE_ORDER.index(recipe) if recipe in RECIPE_ORDER else len(RECIPE_ORDER)
    return (0 if variant == BASELINE else 1, fams.index(fam), rank, recipe, runtime)


def ordered(variants) -> list[str]:
    """Distinct variants in the figures' fixed order: the baseline, then family by family."""
    return sorted(set(map(str, variants)), key=order_key)


@dataclass(frozen=True)
class Look:
    color: str
    marker: str
    linestyle: str
    fillstyle: str
    label: str


LINESTYLES = ["-", "--", ":", "-."]


def looks(variants) -> dict[str, Look]:
    """Per variant: its family's colour and marker, a line style and fill that tell the family's
    members apart (the baseline: black, solid, filled)."""
    out, seen = {}, {}
    for v in ordered(variants):
        fam = family(v)
        _, color, marker = FAMILIES[fam]
        if v == BASELINE:
            out[v] = Look(BASELINE_COLOR, "o", "-", "full", label(v))
            continue
        i = seen[fam] = seen.get(fam, -1) + 1
        out[v] = Look(color, marker, LINESTYLES[i % 4], "full" if (i // 4) % 2 == 0 else "none", label(v))
    return out


# small multiples: one panel per group of families (the runtimes share one panel)
GROUPS = {"precision": "precision", "adaptive": "precision", "quantization": "quantization", "pruning": "pruning",
          "sparse_attention": "sparse attention", "spiking": "spiking", "other": "other"}


def group(variant: str) -> str:
    """The small-multiple panel of a variant: its family's group, or ``runtimes``."""
    return GROUPS.get(family(variant), "runtimes")


def family_label(fam: str) -> str:
    return FAMILIES.get(fam, FAMILIES["other"])[0]


# ---- bins -------------------------------------------------------------------------------------

def length_bin_label(lo: float, hi: float, unit: bool = False) -> str:
    """A right-closed bin of integer lengths ``(lo, hi]`` as the integers it holds: ``4–17``."""
    first, last = math.floor(lo) + 1, math.floor(hi)
    text = f"{first}" if first == last else f"{first}–{last}"
    return f"{text} tokens" if unit else text


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def interval_label(lo: float, hi: float, short: bool = False) -> str:
    """A probability bin: ``0.5–0.7`` (short: ``.5–.7``)."""
    a, b = _num(lo), _num(hi)
    if short:
        a, b = (x[1:] if x.startswith("0.") else x for x in (a, b))
    return f"{a}–{b}"


_INTERVAL = re.compile(r"^[\(\[]\s*(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+)\s*[\)\]]$")


def parse_interval(text: str) -> tuple[float, float] | None:
    """``"(3.999, 17.0]"`` -> ``(3.999, 17.0)``; None when it is no pandas interval string."""
    m = _INTERVAL.match(str(text).strip())
    return (float(m.group(1)), float(m.group(2))) if m else None


# ---- matplotlib -------------------------------------------------------------------------------

RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5, "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5, "legend.title_fontsize": 6.5, "figure.titlesize": 8,
    "axes.linewidth": 0.6, "grid.linewidth": 0.4, "grid.color": "#e3e3e3", "lines.linewidth": 1.0,
    "lines.markersize": 4, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "axes.axisbelow": True, "legend.frameon": False, "errorbar.capsize": 1.5,
    "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": DPI, "figure.dpi": 100,
    "font.family": "DejaVu Sans",
}


def apply() -> None:
    """Headless backend and the paper style (idempotent)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(RC)

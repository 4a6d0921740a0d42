"""One style for every paper figure: a fixed variant order, a colour and a marker per variant family
(colour-blind safe Okabe-Ito colours; markers and line styles keep them apart in grayscale), human
labels for variants and bins, and print sizes for a two-column paper.

No Snakemake, no torch: the families, labels and orders come from the recipe and runtime modules that
declare them (``greenbench.cells.family``, ``Variant.label``/``order``, ``Runtime.label``)."""

from __future__ import annotations

from greenbench.core.names import REFERENCE_VARIANT
import math
import re
from dataclasses import dataclass

from greenbench.cells.family import Family
from greenbench.cells.family import families as declared_families
from greenbench.core.names import CHAIN_SEP, EAGER, chain_parts, split_name

# print sizes (inches): IEEE/ACM two-column layouts
SINGLE = 3.5  # one column (89 mm)
DOUBLE = 7.16  # both columns (182 mm)
DPI = 300  # the PNGs

BASELINE_COLOR = "#000000"
MUTED = "#c8c8c8"

# Each recipe family and runtime declares its label, colour, marker, order and panel beside its code
# (``greenbench.cells.family``); each recipe its label and its order within the family. A cell whose
# family is unknown is drawn as ``other``.
OTHER = Family("other", "other", "#666666", "d", order=10_000, group="other")
# plugin packages whose modules this module reads (greenbench.pipeline.dag: the figures job depends on them)
READS_PLUGINS = ("greenbench.cells.variants", "greenbench.cells.runtimes")


def families() -> dict[str, Family]:
    """Every family, in figure order, ``other`` last."""
    return {**declared_families(), "other": OTHER}


def _recipe(recipe: str):
    from greenbench.cells.variants import REGISTRY

    return REGISTRY[recipe] if recipe in REGISTRY else None


def recipe_family(recipe: str) -> str:
    """The family of an eager recipe (``other`` when it is not registered)."""
    found = _recipe(recipe)
    return found.family if found is not None and found.family in families() else "other"


def family(variant: str) -> str:
    """A cell's figure family: its runtime when not eager, else its recipe's family."""
    recipe, runtime = split_name(str(variant))
    if runtime != EAGER:
        return runtime if runtime in families() else "other"
    return recipe_family(recipe)


def _recipe_label(recipe: str) -> str:
    """A recipe's label; a chain's steps' labels joined by " + "."""
    if CHAIN_SEP in recipe:
        return " + ".join(_recipe_label(step) for step in chain_parts(recipe))
    found = _recipe(recipe)
    return found.label if found is not None and found.label else recipe.replace("_", " ")


def label(variant: str) -> str:
    """Human label: ``int8_dynamic@onnxruntime`` -> ``INT8 dynamic · ONNX RT``."""
    from greenbench.cells.runtimes import RUNTIMES

    recipe, runtime = split_name(str(variant))
    text = _recipe_label(recipe)
    if runtime != EAGER:
        text += f" · {(RUNTIMES[runtime].label or runtime) if runtime in RUNTIMES else runtime}"
    return text


def order_key(variant: str) -> tuple:
    recipe, runtime = split_name(str(variant))
    fams = list(families())
    found = _recipe(recipe)
    # within a runtime's family: the recipes in their own families' order
    rank = (fams.index(recipe_family(recipe)), found.order) if found is not None else (len(fams), 0)
    return (0 if variant == REFERENCE_VARIANT else 1, fams.index(family(variant)), rank, recipe, runtime)


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
        color, marker = families()[fam].colour, families()[fam].marker
        if v == REFERENCE_VARIANT:
            out[v] = Look(BASELINE_COLOR, "o", "-", "full", label(v))
            continue
        i = seen[fam] = seen.get(fam, -1) + 1
        out[v] = Look(color, marker, LINESTYLES[i % 4], "full" if (i // 4) % 2 == 0 else "none", label(v))
    return out


def group(variant: str) -> str:
    """The small-multiple panel of a variant: its family's group (the runtimes share one panel)."""
    return families()[family(variant)].group


def family_label(fam: str) -> str:
    return families().get(fam, OTHER).label


def family_look(fam: str) -> tuple[str, str]:
    """(colour, marker) of a family (``other``'s when unknown)."""
    found = families().get(fam, OTHER)
    return found.colour, found.marker


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
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 6.5,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.4,
    "grid.color": "#e3e3e3",
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "errorbar.capsize": 1.5,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": DPI,
    "figure.dpi": 100,
    "font.family": "DejaVu Sans",
}


def apply() -> None:
    """Headless backend and the paper style (idempotent)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(RC)

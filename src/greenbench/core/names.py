"""Study cell names: ``<recipe>`` (PyTorch eager) or ``<recipe>@<runtime>``, where a recipe may be a chain
``<structural>+<numeric>`` (``prune_heads25+int8_static@openvino``). Pure, importable by the statistics
without pulling in the variant and runtime registries."""

from __future__ import annotations

RUNTIME_SEP = "@"
CHAIN_SEP = "+"
EAGER = "eager"
# the variant every ratio, accuracy difference and figure reference line is taken against
REFERENCE_VARIANT = "fp32"


def split_name(name: str) -> tuple[str, str]:
    """``"int8_dynamic@onnxruntime"`` -> ``("int8_dynamic", "onnxruntime")``; a plain name is eager."""
    recipe, sep, runtime = name.partition(RUNTIME_SEP)
    return recipe, (runtime if sep else EAGER)


def chain_parts(recipe: str) -> list[str]:
    """``"prune_heads25+int8_static"`` -> ``["prune_heads25", "int8_static"]``; a plain recipe is one step."""
    return recipe.split(CHAIN_SEP)


def numeric_step(recipe: str) -> str:
    """The step a runtime realizes: a chain's last, a plain recipe itself."""
    return chain_parts(recipe)[-1]


def cell_name(recipe: str, runtime: str) -> str:
    return recipe if runtime == EAGER else f"{recipe}{RUNTIME_SEP}{runtime}"


def with_runtime(df):
    """``recipe`` and ``runtime`` columns split from a DataFrame's ``variant`` (kept when present:
    tables written before the runtime axis lack them)."""
    if "recipe" in df.columns and "runtime" in df.columns:
        return df
    split = [split_name(str(v)) for v in df["variant"]]
    return df.assign(recipe=[r for r, _ in split], runtime=[t for _, t in split])

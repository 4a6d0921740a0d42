"""Accuracy on SST-2 dev: per-example predictions for one (model, variant, device)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import pyarrow as pa

from greenbench.data import sst2 as data, models
from greenbench.core import io, provenance
from greenbench.cells import variants
from greenbench.core.names import split_name
from greenbench.cells.inference import predict  # noqa: F401  (re-exported: evaluate.predict)
from greenbench.core.log import get_logger

log = get_logger(__name__)

PREDICTIONS_SCHEMA = pa.schema(
    [
        pa.field("idx", pa.int32(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("prediction", pa.int8(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("length", pa.int32(), nullable=False),
        pa.field("route", pa.int8(), nullable=False),  # adaptive router's tier (0 cheap, 1 precise); -1 = no router
    ]
)

SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("model", pa.string()),
        pa.field("variant", pa.string()),  # the cell: <recipe> (PyTorch eager) or <recipe>@<runtime>
        pa.field("recipe", pa.string()),
        pa.field("runtime", pa.string()),
        pa.field("device", pa.string()),
        pa.field("status", pa.string()),  # ok | not_applicable
        pa.field("reason", pa.string()),
        pa.field("examples", pa.int64()),
        pa.field("accuracy", pa.float64()),  # NaN when not applicable
        pa.field("eval_seconds", pa.float64()),
        pa.field("size_bytes", pa.int64()),  # serialized state dict (all tiers for adaptive)
        pa.field("parameters", pa.int64()),
        pa.field("linear_weight_bytes", pa.int64()),
        pa.field("variant_info", pa.string()),  # JSON: e.g. the adaptive router's tier counts
        # a runtime's build cost: export + fusion + quantization, or compilation (NaN for eager cells)
        pa.field("runtime_build_s", pa.float64()),
        pa.field("runtime_artifact_bytes", pa.int64()),
        # per dev sentence, from greenbench.measure.macs (matrix products only)
        pa.field("macs_dense", pa.float64()),  # dense-equivalent MACs at this architecture
        pa.field("macs_effective", pa.float64()),  # MACs an ideal kernel skipping removed work would do
        pa.field("acs", pa.float64()),  # spike-driven accumulates (spiking attention)
        pa.field("theoretical_energy_uj", pa.float64()),  # 4.6 pJ/MAC + 0.9 pJ/AC at 45 nm: a model, not measured
    ]
)


def evaluate(
    model_dir: str | Path,
    dev_tokens: str | Path,
    variant: str,
    device: str,
    out: str | Path,
    batch_size: int = 64,
    dev_subset: int = 0,
    seed: int = 0,
    threads: int | None = None,
    model_name: str = "model",
    artifact: str | Path | None = None,
    variant_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write per-example predictions; a variant that does not apply writes an empty, labelled file."""
    models.prepare_runtime(seed, threads)
    recipe = variants.get(variant)
    reason = recipe.applicability(device)
    meta: dict[str, Any] = {
        "model": model_name,
        "variant": variant,
        "device": device,
        "family": recipe.family,
        "recipe": recipe.recipe_name,
        "runtime": recipe.runtime,
    }
    prepared = None
    if reason is None:
        try:
            prepared = recipe.prepare(models.load_classifier(str(model_dir)), device, artifact, variant_params or {})
        except variants.NotApplicable as exc:  # decided when the runtime artifact was built
            reason = str(exc)
    if reason is not None:
        log.warning("%s/%s on %s: not applicable: %s", model_name, variant, device, reason)
        meta.update(status="not_applicable", reason=reason, accuracy=None, examples=0, eval_seconds=None)
        io.write_parquet(
            pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype()) for f in PREDICTIONS_SCHEMA}),
            out,
            PREDICTIONS_SCHEMA,
            meta | {"provenance": provenance.collect()},
        )
        return meta
    tokens = data.subset(io.read_parquet(dev_tokens), dev_subset, seed)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    precision_note = models.reset_matmul_precision()  # a library that flipped fp32 matmuls to TF32 is undone, and said
    if precision_note:
        log.warning("%s/%s on %s: %s", model_name, variant, device, precision_note)
        meta["precision_note"] = precision_note
    if prepared.caveat:
        meta["caveat"] = prepared.caveat
    size = prepared_footprint(prepared)
    started = time.perf_counter()
    with variants.recording_stats():  # firing rates, kept attention: read by the compute count below
        preds = predict(prepared, tokens, batch_size, pad_id)
    elapsed = time.perf_counter() - started
    accuracy = float((preds["prediction"] == preds["label"]).mean())
    info, compute = dict(prepared.info), compute_counts(prepared, preds["length"])
    if "firing_rates" in compute:
        info["firing_rates"] = compute.pop("firing_rates")
    meta.update(
        status="ok",
        reason="",
        accuracy=accuracy,
        examples=len(preds),
        eval_seconds=round(elapsed, 3),
        variant_info=info,
        compute=compute,
        **size,
    )
    io.write_parquet(preds, out, PREDICTIONS_SCHEMA, meta | {"provenance": provenance.collect()})
    log.info(
        "%s/%s on %s: accuracy %.4f on %d examples (%.1f s)", model_name, variant, device, accuracy, len(preds), elapsed
    )
    return meta


def compute_counts(prepared: variants.Prepared, lengths) -> dict[str, Any]:
    """MACs/ACs per sentence over ``lengths`` (``flops``); spiking layers add their firing rates."""
    from greenbench.measure import macs as flops

    try:
        specs = flops.describe(prepared.model)
    except Exception as exc:  # an architecture or tensor type the MAC counter does not know: say so, do not guess
        exc = f"{type(exc).__name__}: {exc}"
        log.warning("no MAC count: %s", exc)
        return {
            "macs_dense": None,
            "macs_effective": None,
            "acs": None,
            "theoretical_energy_uj": None,
            "unavailable": str(exc),
        }
    out: dict[str, Any] = flops.per_sentence(specs, lengths)
    out["energy_model"] = flops.ENERGY_MODEL
    rates = [s.attention.get("firing_rates") for s in specs if s.attention.get("kind") == "spiking"]
    if rates:
        out["firing_rates"] = rates
    return out


def prepared_footprint(prepared: variants.Prepared) -> dict[str, int]:
    """Footprint of everything the variant keeps resident (every tier of a router)."""
    if prepared.resident is not None:  # an ONNX graph: what the session holds, not the torch module
        return dict(prepared.resident)
    parts = [variants.footprint(m) for m in getattr(prepared, "components", [prepared.model])]
    return {key: sum(p[key] for p in parts) for key in parts[0]}


COMPUTE_COLUMNS = ("macs_dense", "macs_effective", "acs", "theoretical_energy_uj")


def _float_or_nan(value) -> float:
    return float("nan") if value is None else float(value)


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def summarize(prediction_files: list[str | Path], out: str | Path) -> pd.DataFrame:
    """One row per (model, variant, device), not-applicable variants included."""
    rows = []
    for path in prediction_files:
        meta = io.read_metadata(path)
        rows.append(
            {
                "model": meta["model"],
                "variant": meta["variant"],
                "device": meta["device"],
                **dict(zip(("recipe", "runtime"), split_name(meta["variant"]))),
                "status": meta["status"],
                "reason": meta.get("reason") or "",
                "examples": int(meta.get("examples") or 0),
                "accuracy": _float_or_nan(meta.get("accuracy")),
                "eval_seconds": _float_or_nan(meta.get("eval_seconds")),
                "size_bytes": _int_or_none(meta.get("size_bytes")),
                "parameters": _int_or_none(meta.get("parameters")),
                "linear_weight_bytes": _int_or_none(meta.get("linear_weight_bytes")),
                "variant_info": json.dumps(meta.get("variant_info") or {}, sort_keys=True),
                "runtime_build_s": _float_or_nan(
                    ((meta.get("variant_info") or {}).get("runtime_build") or {}).get("build_s")
                ),
                "runtime_artifact_bytes": _int_or_none(
                    ((meta.get("variant_info") or {}).get("runtime_build") or {}).get("artifact_bytes")
                ),
                **{key: _float_or_nan((meta.get("compute") or {}).get(key)) for key in COMPUTE_COLUMNS},
            }
        )
    df = (
        pd.DataFrame(rows, columns=SUMMARY_SCHEMA.names)
        .astype(
            {
                "size_bytes": "Int64",
                "parameters": "Int64",
                "linear_weight_bytes": "Int64",
                "runtime_artifact_bytes": "Int64",
            }
        )
        .sort_values(["model", "variant", "device"])
        .reset_index(drop=True)
    )
    io.write_parquet(df, out, SUMMARY_SCHEMA, {"files": [str(p) for p in prediction_files]})
    return df

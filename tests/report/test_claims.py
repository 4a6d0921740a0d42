"""Claim checks on synthetic evidence: the verdict follows the numbers."""

import numpy as np
import pandas as pd

from greenbench.report import claims


def _evidence(
    energy_ratio: dict[str, float],
    accuracy: dict[str, float],
    parameters: dict[str, float],
    theory: dict[str, float] | None = None,
) -> claims.Evidence:
    rng = np.random.default_rng(0)
    rows = []
    for trial in range(5):
        base = 1.0 + 0.01 * rng.standard_normal()
        for variant, ratio in {"fp32": 1.0, **energy_ratio}.items():
            rows.append(
                {
                    "device": "cpu",
                    "model": "m",
                    "variant": variant,
                    "batch_size": 8,
                    "mode": "eager",
                    "padding": "dynamic",
                    "trial": trial,
                    "j_per_inf_gross": base * ratio * (1 + 0.002 * rng.standard_normal()),
                    "latency_p50_ms": base * ratio,
                    "energy_label": "measured",
                }
            )
    acc = pd.DataFrame(
        [
            {
                "device": "cpu",
                "model": "m",
                "variant": v,
                "status": "ok",
                "accuracy": a,
                "parameters": parameters.get(v, 100.0),
                "macs_dense": 1000.0,
                "macs_effective": 1000.0 if v != "topk16_ft" else 950.0,
                "theoretical_energy_uj": (theory or {}).get(v, 1.0),
            }
            for v, a in accuracy.items()
        ]
    )
    return claims.Evidence(pd.DataFrame(rows), acc, n_boot=300, seed=0)


def test_pruning_claim_picks_the_variant_closest_to_twenty_percent():
    ev = _evidence(
        {"prune_ffn25": 0.85, "prune_heads50": 0.5},
        {"fp32": 0.9, "prune_ffn25": 0.8, "prune_heads50": 0.85},
        {"fp32": 100.0, "prune_ffn25": 79.0, "prune_heads50": 60.0},
    )
    measured, verdict = claims._pruning_energy(ev)
    assert verdict == claims.SUPPORTED and "prune_ffn25 (closest to 20%)" in measured
    ev = _evidence({"prune_ffn25": 1.02}, {"fp32": 0.9, "prune_ffn25": 0.89}, {"fp32": 100.0, "prune_ffn25": 80.0})
    assert claims._pruning_energy(ev)[1] == claims.CONTRADICTED


def test_topk_claim_is_contradicted_when_computation_barely_drops():
    ev = _evidence({"topk16_ft": 1.1}, {"fp32": 0.9, "topk16_ft": 0.9}, {})
    measured, verdict = claims._topk_attention(ev)
    assert verdict == claims.CONTRADICTED and "0.950" in measured


def test_spiking_claim_needs_a_hardware_measurement_and_reports_theory_apart():
    ev = _evidence({"spiking": 0.7}, {"fp32": 0.9, "spiking": 0.89}, {}, theory={"fp32": 1.0, "spiking": 0.6})
    measured, verdict = claims._spiking_attention(ev)
    assert verdict == claims.SUPPORTED and "0.600 (a model, not a measurement)" in measured
    ev = _evidence({"spiking": 1.5}, {"fp32": 0.9, "spiking": 0.89}, {}, theory={"fp32": 1.0, "spiking": 0.6})
    assert claims._spiking_attention(ev)[1] == claims.CONTRADICTED
    ev = _evidence({}, {"fp32": 0.9, "spiking": 0.89}, {}, theory={"fp32": 1.0, "spiking": 0.6})
    assert claims._spiking_attention(ev)[1] == claims.UNTESTABLE

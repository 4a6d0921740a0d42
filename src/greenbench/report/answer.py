"""The study's answer, generated from its tables: per device, the greenest configuration (variant x
runtime x batch) that loses at most ``max_accuracy_loss_pts`` points against fp32 and meets a p95
latency bound, its J/inference and gCO2e per 1,000 inferences with their intervals, the runner-up and
how sure the ordering is (their paired ratio's 95% interval), and where and when to run it (the
routing policies' saving over serving from the nearest region), stated for the host class its trials ran on
(``greenbench.core.host``, read back from the measurements' provenance)."""

from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd

from greenbench.core import host
from greenbench.measure.energy import stopping

METRIC = "j_per_inf_gross"
CELL = ["device", "model", "variant", "batch_size", "padding", "mode"]


def candidates(energy: pd.DataFrame, accuracy: pd.DataFrame, max_loss_pts: float, max_p95_ms: float) -> pd.DataFrame:
    """Every measured cell with its J/inference, p95 latency and accuracy loss, and whether it qualifies."""
    j = energy[(energy["metric"] == METRIC) & energy["mean"].notna()][
        CELL + ["mean", "ci_low", "ci_high", "energy_label"]
    ]
    p95 = energy[energy["metric"] == "latency_p95_ms"][CELL + ["mean"]].rename(columns={"mean": "p95_ms"})
    acc = accuracy[accuracy["status"] == "ok"][["device", "model", "variant", "accuracy", "delta_vs_fp32"]]
    out = j.merge(p95, on=CELL, how="left").merge(acc, on=["device", "model", "variant"], how="left")
    out["loss_pts"] = -100 * out["delta_vs_fp32"]
    out["qualifies"] = (out["loss_pts"] <= max_loss_pts + 1e-9) & (out["p95_ms"] <= max_p95_ms)
    return out.sort_values(["device", "model", "mean"]).reset_index(drop=True)


def ordering(
    measurements: pd.DataFrame,
    best: Mapping[str, Any],
    runner: Mapping[str, Any],
    first_stage: int,
    level: float = 0.95,
):
    """The best cell's J/inference over the runner-up's, paired by trial (Stein's interval)."""

    def cells(c):
        m = measurements
        for key in CELL:
            m = m[m[key] == c[key]]
        return m[["trial", METRIC]]

    pairs = cells(best).merge(cells(runner), on="trial", suffixes=("_a", "_b")).dropna()
    pairs = pairs[(pairs[f"{METRIC}_a"] > 0) & (pairs[f"{METRIC}_b"] > 0)]
    if len(pairs) < 2:
        return None
    return stopping.paired_log_ratio_by_trial(
        pairs[f"{METRIC}_a"], pairs[f"{METRIC}_b"], pairs["trial"], first_stage or int(pairs["trial"].max()) + 1, level
    )


def where_and_when(schedule: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Per scenario: the forecast policy's and the oracle's saving over serving from the nearest region."""
    if schedule is None or schedule.empty:
        return []
    rows = []
    for scenario, s in schedule.groupby("scenario", sort=False):
        g = s.drop_duplicates("policy").set_index("policy")["g_per_1000_requests"]
        if "nearest" not in g or not g["nearest"] > 0:
            continue
        for policy in ("forecast_greedy", "temporal_shift", "oracle"):
            if policy in g:
                rows.append(
                    {
                        "scenario": scenario,
                        "policy": policy,
                        "g_per_1000_requests": float(g[policy]),
                        "nearest_g_per_1000_requests": float(g["nearest"]),
                        "saving_vs_nearest_pct": 100 * (1 - float(g[policy]) / float(g["nearest"])),
                    }
                )
    return rows


def answer(
    energy: pd.DataFrame,
    accuracy: pd.DataFrame,
    carbon: pd.DataFrame,
    measurements: pd.DataFrame,
    settings: Mapping[str, Any],
    first_stage: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per device and model: the greenest qualifying cell and the runner-up."""
    cand = candidates(energy, accuracy, float(settings["max_accuracy_loss_pts"]), float(settings["max_latency_p95_ms"]))
    grid = settings["grid"]
    rows = []
    for (device, model), group in cand.groupby(["device", "model"], sort=True):
        ok = group[group["qualifies"]]
        if ok.empty:
            rows.append({"device": device, "model": model, "best": None, "reason": "no measured cell qualifies"})
            continue
        best = ok.iloc[0]
        runner = ok.iloc[1] if len(ok) > 1 else None
        co2 = carbon[(carbon["grid"] == grid)]
        for key in CELL:
            co2 = co2[co2[key] == best[key]]
        ratio = ordering(measurements, best, runner, first_stage, level) if runner is not None else None
        rows.append(
            {
                "device": device,
                "model": model,
                "best": best["variant"],
                "batch_size": int(best["batch_size"]),
                "padding": best["padding"],
                "mode": best["mode"],
                "accuracy": best["accuracy"],
                "loss_pts": best["loss_pts"],
                "p95_ms": best["p95_ms"],
                "j_per_inf": best["mean"],
                "j_low": best["ci_low"],
                "j_high": best["ci_high"],
                "energy_label": best["energy_label"],
                "grid": grid,
                "g_per_1000": float(co2["g_per_1000_inf"].iloc[0]) if len(co2) else math.nan,
                "g_low": float(co2["ci_low"].iloc[0]) if len(co2) else math.nan,
                "g_high": float(co2["ci_high"].iloc[0]) if len(co2) else math.nan,
                "runner_up": None if runner is None else runner["variant"],
                "runner_batch_size": None if runner is None else int(runner["batch_size"]),
                "runner_j_per_inf": math.nan if runner is None else runner["mean"],
                "ratio_vs_runner": math.nan if ratio is None else ratio.estimate,
                "ratio_low": math.nan if ratio is None else ratio.low,
                "ratio_high": math.nan if ratio is None else ratio.high,
                "qualifying": int(len(ok)),
                "reason": "",
            }
        )
    return pd.DataFrame(rows)


def host_lines(records: list[Mapping[str, Any]] | None, table: pd.DataFrame | None = None) -> list[str]:
    """ "Host class: …; N threads; RAPL …" for the trials' provenance records (``host.recorded``): one line,
    or one per device where the devices' hosts differ. Where RAPL was not readable, the CPU answer's energy
    label says what CPU energy was instead (estimated, or unavailable)."""
    by_device: dict[Any, list[str]] = {}
    for record in records or []:
        described = by_device.setdefault(record.get("device"), [])
        text = host.describe(record["host_fingerprint"])
        if text not in described:
            described.append(text)
    if not by_device:
        return ["Host class: not recorded (the measurements' provenance has no host fingerprint)."]
    cpu_note = ""
    if (
        table is not None
        and "energy_label" in table
        and any(not r["host_fingerprint"].get("rapl_readable") for r in records or [] if r.get("device") == "cpu")
    ):
        labels = sorted({str(v) for v in table.loc[table["device"] == "cpu", "energy_label"].dropna()} - {"measured"})
        cpu_note = f" (CPU energy {' or '.join(labels)})" if labels else ""
    same = len({tuple(d) for d in by_device.values()}) == 1
    groups = [(None, next(iter(by_device.values())))] if same else sorted(by_device.items(), key=lambda kv: str(kv[0]))
    out = []
    for device, texts in groups:
        note = cpu_note if device in (None, "cpu") and "cpu" in by_device else ""
        label = "Host class" if device is None else f"Host class ({device})"
        out.append(f"{label}: {' | '.join(texts)}{note}.")
    return out


def to_markdown(
    table: pd.DataFrame,
    where: list[dict[str, Any]],
    settings: Mapping[str, Any],
    hosts: list[Mapping[str, Any]] | None = None,
) -> str:
    """The answer's Markdown; ``hosts``: the trials' provenance records with a host fingerprint."""
    lines = [
        "# The study's answer",
        "",
        *host_lines(hosts, table),
        "",
        f"The greenest configuration per device that loses at most {settings['max_accuracy_loss_pts']:g} accuracy "
        f"point(s) against fp32 and keeps p95 latency within {settings['max_latency_p95_ms']:g} ms (energy per "
        f"inference at that cell; gCO2e at grid {settings['grid']}). Generated from results/stats; 95% intervals.",
        "",
    ]
    for r in table.itertuples():
        if r.best is None:
            lines += [f"- **{r.device} / {r.model}**: {r.reason}.", ""]
            continue
        sure = (
            ("not distinguishable from it" if r.ratio_low <= 1 <= r.ratio_high else "lower, with 95% confidence")
            if r.ratio_low == r.ratio_low
            else "no paired trials to compare"
        )
        lines += [
            f"- **{r.device} / {r.model}: `{r.best}` at batch {r.batch_size}** ({r.padding} padding, {r.mode}): "
            f"accuracy {r.accuracy:.4f} ({-r.loss_pts:+.2f} pts vs fp32), p95 {r.p95_ms:.1f} ms, "
            f"**{r.j_per_inf:.4f} J/inference** [{r.j_low:.4f}, {r.j_high:.4f}] ({r.energy_label}), "
            f"**{r.g_per_1000:.4f} gCO2e per 1,000 inferences** [{r.g_low:.4f}, {r.g_high:.4f}] at {r.grid}. "
            + (
                f"Runner-up: `{r.runner_up}` at batch {r.runner_batch_size} ({r.runner_j_per_inf:.4f} J/inference); "
                f"best/runner-up = {r.ratio_vs_runner:.3f} [{r.ratio_low:.3f}, {r.ratio_high:.3f}]: {sure}. "
                if r.runner_up is not None
                else "No runner-up qualifies. "
            )
            + f"{r.qualifying} cells qualify.",
            "",
        ]
    if where:
        lines += ["Where and when to run it (routing simulation, gCO2e per 1,000 requests):", ""]
        for w in where:
            lines.append(
                f"- {w['scenario']}: `{w['policy']}` {w['g_per_1000_requests']:.4g} vs nearest region "
                f"{w['nearest_g_per_1000_requests']:.4g}: {w['saving_vs_nearest_pct']:.1f}% less"
            )
        lines.append("")
    return "\n".join(lines)
